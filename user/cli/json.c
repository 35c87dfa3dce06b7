// SPDX-License-Identifier: Apache-2.0
#include "json.h"

void json_init(struct json *j, FILE *out, bool pretty)
{
	*j = (struct json){ .out = out, .pretty = pretty };
}

static void newline_indent(struct json *j)
{
	int i;

	if (!j->pretty)
		return;
	fputc('\n', j->out);
	for (i = 0; i < j->depth; i++)
		fputs("  ", j->out);
}

/* Separator before a value or a key. */
static void before_item(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->depth > 0) {
		if (j->has_items[j->depth])
			fputc(',', j->out);
		j->has_items[j->depth] = true;
		newline_indent(j);
	}
}

static void open_container(struct json *j, char c)
{
	before_item(j);
	fputc(c, j->out);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->has_items[j->depth] = false;
}

static void close_container(struct json *j, char c)
{
	bool had = j->has_items[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had)
		newline_indent(j);
	fputc(c, j->out);
}

void json_obj_begin(struct json *j) { open_container(j, '{'); }
void json_obj_end(struct json *j) { close_container(j, '}'); }
void json_arr_begin(struct json *j) { open_container(j, '['); }
void json_arr_end(struct json *j) { close_container(j, ']'); }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), 0 if it is not one. */
static int utf8_seq_len(const unsigned char *s)
{
	int n, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	for (i = 1; i < n; i++, lo = 0x80, hi = 0xbf) {
		if (s[i] < lo || s[i] > hi)
			return 0; /* also stops at the NUL */
	}
	return n;
}

/* JSON text must be Unicode (RFC 8259 section 8.1): names such as file
 * names are bytes, so a byte that is not part of well-formed UTF-8 is
 * written as U+FFFD, never raw. */
static void write_escaped(FILE *out, const char *s)
{
	int n;

	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else if (c < 0x80)
			fputc(c, out);
		else if ((n = utf8_seq_len((const unsigned char *)s)) > 0) {
			fwrite(s, 1, (size_t)n, out);
			s += n - 1;
		} else
			fputs("\\ufffd", out);
	}
	fputc('"', out);
}

void json_key(struct json *j, const char *key)
{
	before_item(j);
	write_escaped(j->out, key);
	fputs(j->pretty ? ": " : ":", j->out);
	j->after_key = true;
}

void json_str(struct json *j, const char *s)
{
	before_item(j);
	write_escaped(j->out, s ? s : "");
}

void json_uint(struct json *j, unsigned long long v)
{
	before_item(j);
	fprintf(j->out, "%llu", v);
}

void json_double(struct json *j, double v)
{
	before_item(j);
	fprintf(j->out, "%.6g", v);
}

void json_bool(struct json *j, bool v)
{
	before_item(j);
	fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j)
{
	before_item(j);
	fputs("null", j->out);
}

void json_kv_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_kv_uint(struct json *j, const char *key, unsigned long long v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_finish(struct json *j)
{
	fputc('\n', j->out);
	fflush(j->out);
}
