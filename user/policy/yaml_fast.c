// SPDX-License-Identifier: Apache-2.0
/* One YAML document of a small subset, without libyaml (see yaml_fast.h).
 * The rules of libyaml 0.2 it follows are named where they are applied. */
#include <string.h>

#include "yaml_doc.h"
#include "yaml_fast.h"

#define GO_ON (-1)
/* Deeper documents go to libyaml, which reports YDOC_MAX_DEPTH itself. */
#define FAST_MAX_DEPTH 64

struct fscan {
	const char *buf;
	size_t len;
	size_t at, eol; /* the current line: its start and its '\n' (or len) */
	size_t line;
	int indent;     /* its first character's column; -1: the document ended */
	yfast_emit emit;
	void *ctx;
	int depth;
	size_t nodes;
};

static yaml_mark_t mark(const struct fscan *f, size_t col)
{
	/* Past a last line without '\n': libyaml's stream end is at len. */
	size_t at = f->at < f->len ? f->at + col : f->len;

	return (yaml_mark_t){ .index = at, .line = f->line, .column = col };
}

static char ch(const struct fscan *f, size_t col)
{
	return f->at + col < f->eol ? f->buf[f->at + col] : '\n';
}

static bool is_doc_marker(const struct fscan *f)
{
	return f->eol - f->at == 3 && memcmp(f->buf + f->at, "---", 3) == 0;
}

static void to_line(struct fscan *f, size_t at)
{
	const char *nl;

	f->at = at;
	nl = at < f->len ? memchr(f->buf + at, '\n', f->len - at) : NULL;
	f->eol = nl ? (size_t)(nl - f->buf) : f->len;
}

/* From the current line on, the next one with content: f->indent is its
 * column, or -1 at a "---" line or the end (f->at there). */
static void next_content(struct fscan *f)
{
	for (;;) {
		size_t col = 0;

		if (f->at >= f->len || is_doc_marker(f)) {
			f->indent = -1;
			return;
		}
		while (ch(f, col) == ' ')
			col++;
		if (ch(f, col) != '\n' && ch(f, col) != '#') {
			f->indent = (int)col;
			return;
		}
		to_line(f, f->eol + 1);
		f->line++;
	}
}

static void next_line(struct fscan *f)
{
	to_line(f, f->eol + 1);
	f->line++;
	next_content(f);
}

static int emit(struct fscan *f, yaml_event_t *ev)
{
	return f->emit(f->ctx, ev);
}

static int emit_scalar(struct fscan *f, size_t col, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t ev = { .type = YAML_SCALAR_EVENT };

	if (++f->nodes >= YDOC_MAX_NODES)
		return YFAST_NOT; /* libyaml's parse reports it */
	ev.start_mark = ev.end_mark = mark(f, col);
	ev.end_mark.column += len;
	ev.end_mark.index += len;
	ev.data.scalar.value = (yaml_char_t *)(f->buf + f->at + col +
					       (style == YAML_PLAIN_SCALAR_STYLE ? 0 : 1));
	ev.data.scalar.length = len;
	ev.data.scalar.style = style;
	return emit(f, &ev);
}

static int emit_start(struct fscan *f, yaml_event_type_t type, size_t col)
{
	yaml_event_t ev = { .type = type };

	if (++f->nodes >= YDOC_MAX_NODES || ++f->depth > FAST_MAX_DEPTH)
		return YFAST_NOT;
	ev.start_mark = ev.end_mark = mark(f, col);
	if (type == YAML_MAPPING_START_EVENT)
		ev.data.mapping_start.style = YAML_BLOCK_MAPPING_STYLE;
	else
		ev.data.sequence_start.style = YAML_BLOCK_SEQUENCE_STYLE;
	return emit(f, &ev);
}

static int emit_end(struct fscan *f, yaml_event_type_t type)
{
	yaml_event_t ev = { .type = type };

	f->depth--;
	ev.start_mark = ev.end_mark = mark(f, 0);
	return emit(f, &ev);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Characters of the keys taken ("bpfmesh.io/cgroup", "app_id", "x-y"). */
static bool is_key_char(char c)
{
	return is_alnum(c) || c == '.' || c == '/' || c == '_' || c == '-';
}

/* A "- " (or "-" at the end of the line) at col: a block sequence entry. */
static bool is_entry(const struct fscan *f, size_t col)
{
	return ch(f, col) == '-' && (ch(f, col + 1) == ' ' || ch(f, col + 1) == '\n');
}

/* A key at col ("name:" then a space or the line's end): its length, or 0. */
static size_t key_len(const struct fscan *f, size_t col)
{
	size_t n = 0;

	if (!is_alnum(ch(f, col)) && ch(f, col) != '_' && ch(f, col) != '.' && ch(f, col) != '/')
		return 0;
	while (is_key_char(ch(f, col + n)))
		n++;
	/* libyaml takes a simple key of at most 1024 characters. */
	if (n > 1000 || ch(f, col + n) != ':' || (ch(f, col + n + 1) != ' ' && ch(f, col + n + 1) != '\n'))
		return 0;
	return n;
}

/* After a value ending before col: only spaces, then the line's end or a
 * comment (a '#' after a space). */
static bool rest_is_empty(const struct fscan *f, size_t col)
{
	size_t c = col;

	while (ch(f, c) == ' ')
		c++;
	return ch(f, c) == '\n' || (ch(f, c) == '#' && c > col);
}

/* Can a plain scalar start with c (then d)? Not an indicator (libyaml,
 * scan_plain_scalar's start: "-?:,[]{}#&*!|>'\"%@`"), or "-" before a
 * non-space. A short list of the characters values start with. */
static bool plain_start(char c, char d)
{
	return is_alnum(c) || c == '.' || c == '/' || c == '_' || c == '~' || c == '+' ||
	       (c == '-' && d != ' ' && d != '\n');
}

/*
 * The scalar at col, to the line's end: *len its text's length, its style.
 * Plain: libyaml ends it at " #" and drops the spaces before; ": " (or ':'
 * at the end) in it is a YAML error, and is left to libyaml. Quoted: on
 * one line, without escapes (no '\\' in double quotes, no '' in single).
 */
static bool scalar_at(const struct fscan *f, size_t col, size_t *len,
		      yaml_scalar_style_t *style)
{
	char q = ch(f, col);
	size_t c, last = col;

	if (q == '"' || q == '\'') {
		for (c = col + 1; ch(f, c) != q; c++) {
			if (ch(f, c) == '\n' || (q == '"' && ch(f, c) == '\\'))
				return false;
		}
		*len = c - col - 1;
		*style = q == '"' ? YAML_DOUBLE_QUOTED_SCALAR_STYLE :
				    YAML_SINGLE_QUOTED_SCALAR_STYLE;
		return rest_is_empty(f, c + 1);
	}
	if (!plain_start(q, ch(f, col + 1)))
		return false;
	for (c = col; ch(f, c) != '\n'; c++) {
		if (ch(f, c) == ' ' && ch(f, c + 1) == '#')
			break;
		if (ch(f, c) == ':' && (ch(f, c + 1) == ' ' || ch(f, c + 1) == '\n'))
			return false;
		if (ch(f, c) != ' ')
			last = c;
	}
	*len = last - col + 1;
	*style = YAML_PLAIN_SCALAR_STYLE;
	return true;
}

/* A one-line scalar at col, the value of a key or entry at owner's column:
 * the next line must not be deeper (it would continue a plain scalar). */
static int line_scalar(struct fscan *f, size_t col, int owner)
{
	yaml_scalar_style_t style;
	size_t len;
	int r;

	if (!scalar_at(f, col, &len, &style))
		return YFAST_NOT;
	r = emit_scalar(f, col, len, style);
	if (r != GO_ON)
		return r;
	next_line(f);
	return f->indent > owner ? YFAST_NOT : GO_ON;
}

static int block_mapping(struct fscan *f, size_t col);
static int block_sequence(struct fscan *f, size_t col, bool indentless);

/*
 * The value of a key or entry at owner's column that has nothing after it
 * on its line (empty_at: where libyaml puts the empty scalar then, the end
 * of the ':' or '-' token). A deeper block, an indentless sequence (a
 * key's "- " at the key's own column), or the empty scalar.
 */
static int block_value(struct fscan *f, int owner, yaml_mark_t empty_at, bool indentless_ok)
{
	yaml_event_t ev = { .type = YAML_SCALAR_EVENT };

	next_line(f);
	if (f->indent > owner)
		return is_entry(f, (size_t)f->indent) ?
			       block_sequence(f, (size_t)f->indent, false) :
			       block_mapping(f, (size_t)f->indent);
	if (f->indent == owner && indentless_ok && is_entry(f, (size_t)owner))
		return block_sequence(f, (size_t)owner, true);
	if (++f->nodes >= YDOC_MAX_NODES)
		return YFAST_NOT;
	ev.start_mark = ev.end_mark = empty_at;
	ev.data.scalar.value = (yaml_char_t *)"";
	ev.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
	return emit(f, &ev);
}

/* A key at col (of the current line) and its value. */
static int mapping_pair(struct fscan *f, size_t col)
{
	size_t n = key_len(f, col), v;
	int r;

	if (!n)
		return YFAST_NOT;
	r = emit_scalar(f, col, n, YAML_PLAIN_SCALAR_STYLE);
	if (r != GO_ON)
		return r;
	v = col + n + 1;
	if (rest_is_empty(f, v))
		return block_value(f, (int)col, mark(f, col + n + 1), true);
	while (ch(f, v) == ' ')
		v++;
	return line_scalar(f, v, (int)col);
}

/* A block mapping whose first key is at col of the current line (its
 * indentation, or after a "- " on it); its keys are all at col. */
static int block_mapping(struct fscan *f, size_t col)
{
	int r = emit_start(f, YAML_MAPPING_START_EVENT, col);

	while (r == GO_ON) {
		r = mapping_pair(f, col);
		if (r != GO_ON || f->indent < (int)col)
			break;
		if (f->indent > (int)col || is_entry(f, col))
			return YFAST_NOT; /* misaligned: a YAML error, libyaml's to report */
	}
	return r == GO_ON ? emit_end(f, YAML_MAPPING_END_EVENT) : r;
}

/* The value after "- " at col: a compact mapping ("- name: x"), a
 * scalar, or on the next lines. */
static int sequence_entry(struct fscan *f, size_t col)
{
	size_t v = col + 1;

	if (rest_is_empty(f, v))
		return block_value(f, (int)col, mark(f, col + 1), false);
	while (ch(f, v) == ' ')
		v++;
	if (is_entry(f, v))
		return YFAST_NOT; /* "- - x": not taken */
	if (key_len(f, v))
		return block_mapping(f, v);
	return line_scalar(f, v, (int)col);
}

/* Block sequence with its "- " at col; indentless: the value of a key at
 * the same column, ended by the next key there. */
static int block_sequence(struct fscan *f, size_t col, bool indentless)
{
	int r = emit_start(f, YAML_SEQUENCE_START_EVENT, col);

	while (r == GO_ON) {
		r = sequence_entry(f, col);
		if (r != GO_ON || f->indent < (int)col)
			break;
		if (f->indent > (int)col)
			return YFAST_NOT;
		if (!is_entry(f, col)) {
			if (indentless)
				break; /* the key's mapping goes on */
			return YFAST_NOT;
		}
	}
	return r == GO_ON ? emit_end(f, YAML_SEQUENCE_END_EVENT) : r;
}

static unsigned char bad_byte(unsigned char c)
{
	return (unsigned char)((c < 0x20 && c != '\n') | (c > 0x7e));
}

bool yfast_eligible(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	unsigned char bad = 0;
	size_t i = 0, j;

	/* Blocks of a fixed size, branch-free: gcc -O2 vectorises those
	 * (17.6 MB in a few ms; byte by byte it was 6% of the parse). */
	for (; i + 64 <= len && !bad; i += 64) {
		for (j = 0; j < 64; j++)
			bad |= bad_byte(p[i + j]);
	}
	for (; i < len; i++)
		bad |= bad_byte(p[i]);
	return !bad;
}

/* The document's root: a block mapping at column 0, then its end. */
static int root(struct fscan *f)
{
	yaml_event_t ev = { .type = YAML_DOCUMENT_END_EVENT };
	int r;

	next_content(f);
	if (f->indent != 0 || is_entry(f, 0))
		return YFAST_NOT;
	r = block_mapping(f, 0);
	if (r != GO_ON)
		return r;
	if (f->indent != -1)
		return YFAST_NOT;
	/* libyaml: an implicit document end is at the next token, the
	 * "---" or the stream's end. */
	ev.start_mark = ev.end_mark = mark(f, 0);
	ev.data.document_end.implicit = 1;
	return emit(f, &ev);
}

int yfast_doc(const char *buf, size_t len, size_t *pos, size_t *line, yfast_emit emit_fn,
	      void *ctx)
{
	struct fscan f = { .buf = buf, .len = len, .line = *line, .emit = emit_fn, .ctx = ctx };
	yaml_event_t ev = { .type = YAML_DOCUMENT_START_EVENT };
	int r;

	to_line(&f, *pos);
	ev.start_mark = ev.end_mark = mark(&f, 0);
	ev.data.document_start.implicit = !is_doc_marker(&f);
	if (!ev.data.document_start.implicit) {
		ev.end_mark.column = ev.end_mark.index = 3;
		ev.end_mark.index += f.at;
		to_line(&f, f.eol + 1);
		f.line++;
	}
	r = emit(&f, &ev);
	if (r == GO_ON)
		r = root(&f);
	if (r == YFAST_NOT)
		return r;
	*pos = f.at < len ? f.at : len;
	*line = f.line;
	return r;
}
