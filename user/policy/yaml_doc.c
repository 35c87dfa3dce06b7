// SPDX-License-Identifier: Apache-2.0
/* Typed access to libyaml documents with diagnostics (see yaml_doc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "yaml_doc.h"

yaml_node_t *ykey(struct ydoc *d, yaml_node_t *n)
{
	return d->key ? d->key : n;
}

unsigned int ynode_line(const yaml_node_t *n)
{
	return n ? (unsigned int)n->start_mark.line + 1 : 0;
}

unsigned int ynode_col(const yaml_node_t *n)
{
	return n ? (unsigned int)n->start_mark.column + 1 : 0;
}

void ydiag(struct ydoc *d, const yaml_node_t *n, enum diag_level level,
	   const char *path, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag_add(d->dl, level, d->file, ynode_line(n), ynode_col(n), path, "%s", buf);
}

/* parent + sep + name into buf (YPATH_MAX), cut as snprintf would: paths
 * are built for every field walked, so without snprintf's formatting. */
static void ypath_join(char *buf, const char *parent, char sep, const char *name, size_t nlen)
{
	size_t plen = parent ? strlen(parent) : 0, at;

	if (plen >= YPATH_MAX)
		plen = YPATH_MAX - 1;
	memmove(buf, parent ? parent : "", plen); /* buf may be parent */
	at = plen;
	if (sep && at < YPATH_MAX - 1)
		buf[at++] = sep;
	if (nlen > YPATH_MAX - 1 - at)
		nlen = YPATH_MAX - 1 - at;
	memcpy(buf + at, name, nlen);
	buf[at + nlen] = '\0';
}

void ypath_key(char *buf, const char *parent, const char *key)
{
	ypath_join(buf, parent, parent && parent[0] ? '.' : 0, key, strlen(key));
}

/* "[i]" written by hand: snprintf cost more than the rest of the walk of
 * a list item. */
void ypath_idx(char *buf, const char *parent, size_t i)
{
	char idx[24];
	char *p = idx + sizeof(idx);

	*--p = ']';
	do {
		*--p = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	*--p = '[';
	ypath_join(buf, parent, 0, p, (size_t)(idx + sizeof(idx) - p));
}

static const char *yscalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool yscalar_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* The first characters first: every plain scalar walked is compared with
 * a few word tables, and most differ at once. */
static bool str_in(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if ((*set)[0] == s[0] && strcmp(s, *set) == 0)
			return true;
	}
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
					  "on", "On", "ON", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", "no", "No", "NO",
					   "off", "Off", "OFF", NULL };

/* Can a plain scalar starting with c be a null or boolean word? Checked
 * first: the word tables are compared for every scalar walked. */
static bool may_be_word(char c)
{
	return !c || strchr("~nNyYtTfFoO", c);
}

bool ynode_is_null(const yaml_node_t *n)
{
	return !n || (yscalar_plain(n) && may_be_word(yscalar(n)[0]) &&
		      str_in(yscalar(n), null_words));
}

static bool looks_int(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

static const char *skip_digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

/* A YAML float word, or what strtod reads whole out of the characters
 * "+-.0123456789eE": [+-](digits[.digits?]|.digits)([eE][+-]digits)?.
 * Matched by hand: strtod cost a tenth of the parse at 10,000 services,
 * called for every address ("127.1.0.11" is made of those characters). */
static bool looks_float(const char *s)
{
	const char *int_end, *frac_end;

	if (str_in(s, (const char *const[]){ ".inf", "-.inf", "+.inf", ".Inf", ".INF",
					     ".nan", ".NaN", ".NAN", NULL }))
		return true;
	if (*s == '+' || *s == '-')
		s++;
	int_end = skip_digits(s);
	frac_end = *int_end == '.' ? skip_digits(int_end + 1) : int_end;
	if (int_end == s && frac_end <= int_end + 1)
		return false; /* no digit before or after the point */
	s = frac_end;
	if (*s == 'e' || *s == 'E') {
		const char *exp = s + 1 + (s[1] == '+' || s[1] == '-');

		if (skip_digits(exp) == exp)
			return false;
		s = skip_digits(exp);
	}
	return *s == '\0';
}

/* Can a plain scalar starting with c be anything but a string? null, bool,
 * int and float words start with one of these (or are empty). */
static bool may_not_be_string(char c)
{
	return !c || strchr("~nNyYtTfFoO+-.0123456789", c);
}

/* What a plain scalar resolves to, in words for messages. */
static const char *yscalar_kind(const yaml_node_t *n)
{
	const char *s = yscalar(n);

	if (!yscalar_plain(n) || !may_not_be_string(s[0]))
		return "a string";
	if (may_be_word(s[0]) && str_in(s, null_words))
		return "null";
	if (may_be_word(s[0]) && (str_in(s, true_words) || str_in(s, false_words)))
		return "a boolean";
	if (looks_int(s))
		return "an integer";
	if (looks_float(s))
		return "a number";
	return "a string";
}

const char *ynode_kind(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return yscalar_kind(n);
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

yaml_node_t *ynode(struct ydoc *d, yaml_node_item_t i)
{
	return yaml_document_get_node(d->doc, i);
}

bool yvisit(struct ydoc *d, const yaml_node_t *n)
{
	if (d->visits->spent)
		return false;
	if (d->visits_low && d->visits->left < *d->visits_low)
		*d->visits_low = d->visits->left;
	if (d->visits->left == 0) {
		d->visits->spent = true;
		ydiag(d, n, DIAG_ERROR, "",
		      "policy too complex: YAML aliases expand to more than %lu extra nodes",
		      MODEL_ALIAS_VISITS);
		return false;
	}
	d->visits->left--;
	return true;
}

yaml_node_t *ymap_get(struct ydoc *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		k = ynode(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && strcmp(yscalar(k), key) == 0)
			return ynode(d, p->value);
	}
	return NULL;
}

bool yexpect_map(struct ydoc *d, yaml_node_t *n, const char *path)
{
	if (n && n->type == YAML_MAPPING_NODE)
		return true;
	ydiag(d, n, DIAG_ERROR, path, "expected a mapping, got %s", ynode_kind(n));
	return false;
}

/* A scalar key of a mapping and the index of its pair. */
struct ykey_ref {
	const yaml_node_t *key;
	size_t idx;
};

static int key_cmp(const void *a, const void *b)
{
	const struct ykey_ref *ka = a, *kb = b;
	int c = strcmp(yscalar(ka->key), yscalar(kb->key));

	if (c)
		return c;
	return ka->idx < kb->idx ? -1 : ka->idx > kb->idx; /* equal keys: document order */
}

void yfail_alloc(struct ydoc *d, const yaml_node_t *n, const char *path)
{
	d->a->oom = true;
	ydiag(d, n, DIAG_ERROR, path, "out of memory");
}

/* Any two scalar keys of the n pairs alike? Most mappings have a handful
 * of keys: comparing each pair costs less than sorting them. */
static bool ymap_may_have_dups(struct ydoc *d, const yaml_node_pair_t *pairs, size_t n)
{
	const char *key[YSKIP_SMALL];
	size_t i, j;

	if (n > YSKIP_SMALL)
		return true;
	for (i = 0; i < n; i++) {
		yaml_node_t *k = ynode(d, pairs[i].key);

		key[i] = k && k->type == YAML_SCALAR_NODE ? yscalar(k) : NULL;
		for (j = 0; key[i] && j < i; j++) {
			if (key[j] && key[j][0] == key[i][0] && strcmp(key[j], key[i]) == 0)
				return true;
		}
	}
	return false;
}

/*
 * Duplicate keys are a YAML error that libyaml does not check; Kubernetes
 * rejects them. Every later copy is reported and marked in skip[] (indexed
 * like the pairs), so that no field parser runs twice on one object: the
 * list parsers size their arrays for the one copy they are given. Sorting
 * keeps it O(n log n) for a mapping of n keys.
 */
static bool ymap_find_dups(struct ydoc *d, yaml_node_t *map, const char *path, bool *skip)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	size_t n = (size_t)(map->data.mapping.pairs.top - start), i, m = 0;
	struct ykey_ref *keys;
	char sub[YPATH_MAX];

	if (!ymap_may_have_dups(d, start, n))
		return true;
	keys = calloc(n, sizeof(*keys));
	if (!keys) {
		yfail_alloc(d, map, path);
		return false;
	}
	for (i = 0; i < n; i++) {
		yaml_node_t *k = ynode(d, start[i].key);

		if (k && k->type == YAML_SCALAR_NODE)
			keys[m++] = (struct ykey_ref){ k, i };
	}
	qsort(keys, m, sizeof(*keys), key_cmp);
	for (i = 1; i < m; i++) {
		if (strcmp(yscalar(keys[i].key), yscalar(keys[i - 1].key)) != 0)
			continue;
		skip[keys[i].idx] = true;
		ypath_key(sub, path, yscalar(keys[i].key));
		ydiag(d, keys[i].key, DIAG_ERROR, sub, "duplicate key (first at line %u)",
		      ynode_line(keys[i - 1].key));
		keys[i].key = keys[i - 1].key; /* later copies point at the first too */
	}
	free(keys);
	return true;
}

bool ymap_dup_skips(struct ydoc *d, yaml_node_t *map, const char *path, struct yskips *s)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);

	memset(s->small, 0, sizeof(s->small));
	s->v = n <= YSKIP_SMALL ? s->small : calloc(n, sizeof(*s->v));
	if (!s->v) {
		yfail_alloc(d, map, path);
		return false;
	}
	if (n > 1 && !ymap_find_dups(d, map, path, s->v)) {
		yskips_free(s);
		return false;
	}
	return true;
}

void yskips_free(struct yskips *s)
{
	if (s->v != s->small)
		free(s->v);
	s->v = NULL;
}

static const struct yfield *yfield_find(const struct yfield *fields, const char *name)
{
	for (; fields->name; fields++) {
		if (fields->name[0] == name[0] && strcmp(fields->name, name) == 0)
			return fields;
	}
	return NULL;
}

void ywalk_map(struct ydoc *d, yaml_node_t *map, const char *path,
	       const struct yfield *fields, void *obj)
{
	const struct yfield *f;
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	char sub[YPATH_MAX];
	struct yskips skip;

	if (!yexpect_map(d, map, path) || !ymap_dup_skips(d, map, path, &skip))
		return;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		k = ynode(d, p->key);
		v = ynode(d, p->value);
		if (!k || !v || !yvisit(d, v))
			break;
		if (skip.v[p - map->data.mapping.pairs.start])
			continue; /* a duplicate key: reported, the first copy is used */
		if (k->type != YAML_SCALAR_NODE) {
			ydiag(d, k, DIAG_ERROR, path, "mapping key must be a string, got %s",
			      ynode_kind(k));
			continue;
		}
		ypath_key(sub, path, yscalar(k));
		f = yfield_find(fields, yscalar(k));
		if (!f)
			ydiag(d, k, DIAG_UNENFORCED, sub, Y_UNKNOWN);
		else if (ynode_is_null(v))
			continue; /* null is unset, as in Kubernetes */
		else {
			yaml_node_t *saved = d->key;

			d->key = k;
			f->fn(d, v, sub, obj);
			d->key = saved;
		}
	}
	yskips_free(&skip);
}

void yreport_fields(struct ydoc *d, yaml_node_t *map, const char *path,
		    enum diag_level level, const char *msg)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;
	char sub[YPATH_MAX];

	if (!yexpect_map(d, map, path))
		return;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		k = ynode(d, p->key);
		if (!k || k->type != YAML_SCALAR_NODE)
			continue;
		ypath_key(sub, path, yscalar(k));
		ydiag(d, k, level, sub, "%s", msg);
	}
}

size_t yseq_len(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

long yseq_each(struct ydoc *d, yaml_node_t *n, const char *path, yitem_fn fn, void *obj)
{
	size_t i, len;
	yaml_node_t *item;
	char sub[YPATH_MAX];

	if (!n || n->type != YAML_SEQUENCE_NODE) {
		ydiag(d, n, DIAG_ERROR, path, "expected a list, got %s", ynode_kind(n));
		return -1;
	}
	len = yseq_len(n);
	for (i = 0; i < len; i++) {
		item = ynode(d, n->data.sequence.items.start[i]);
		if (!item || !yvisit(d, item))
			break;
		ypath_idx(sub, path, i);
		if (ynode_is_null(item)) {
			ydiag(d, item, DIAG_ERROR, sub, "must not be null");
			continue;
		}
		{
			yaml_node_t *saved = d->key;

			d->key = NULL;
			fn(d, item, sub, i, obj);
			d->key = saved;
		}
	}
	return (long)len;
}

bool yget_str(struct ydoc *d, yaml_node_t *n, const char *path, const char **out)
{
	/* Most strings are known at their first character (yscalar_kind). */
	const char *kind = n && n->type == YAML_SCALAR_NODE &&
			   (!yscalar_plain(n) || !may_not_be_string(yscalar(n)[0])) ?
				   "a string" : ynode_kind(n);

	if (!n || n->type != YAML_SCALAR_NODE || strcmp(kind, "a string") != 0) {
		if (n && n->type == YAML_SCALAR_NODE)
			ydiag(d, n, DIAG_ERROR, path, "expected a string, got %s (quote it)", kind);
		else
			ydiag(d, n, DIAG_ERROR, path, "expected a string, got %s", kind);
		return false;
	}
	if (memchr(yscalar(n), '\0', n->data.scalar.length)) {
		ydiag(d, n, DIAG_ERROR, path, "string contains a NUL character");
		return false;
	}
	*out = arena_strndup(d->a, yscalar(n), n->data.scalar.length);
	return *out != NULL;
}

bool yget_int(struct ydoc *d, yaml_node_t *n, const char *path, int64_t *out)
{
	const char *kind = ynode_kind(n);
	long long v;
	char *end;

	if (!n || n->type != YAML_SCALAR_NODE || strcmp(kind, "an integer") != 0) {
		ydiag(d, n, DIAG_ERROR, path, "expected an integer, got %s", kind);
		return false;
	}
	errno = 0;
	v = strtoll(yscalar(n), &end, 10);
	if (errno == ERANGE || *end) {
		ydiag(d, n, DIAG_ERROR, path, "integer %s out of range", yscalar(n));
		return false;
	}
	*out = v;
	return true;
}

bool yget_uint_range(struct ydoc *d, yaml_node_t *n, const char *path, int64_t min,
		     int64_t max, uint32_t *out)
{
	int64_t v;

	if (!yget_int(d, n, path, &v))
		return false;
	if (v < min || v > max) {
		ydiag(d, n, DIAG_ERROR, path, "%lld is out of range %lld..%lld", (long long)v,
		      (long long)min, (long long)max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

bool yget_bool(struct ydoc *d, yaml_node_t *n, const char *path, bool *out)
{
	if (n && yscalar_plain(n) && str_in(yscalar(n), true_words)) {
		*out = true;
		return true;
	}
	if (n && yscalar_plain(n) && str_in(yscalar(n), false_words)) {
		*out = false;
		return true;
	}
	ydiag(d, n, DIAG_ERROR, path, "expected a boolean, got %s", ynode_kind(n));
	return false;
}

bool yget_double(struct ydoc *d, yaml_node_t *n, const char *path, double *out)
{
	const char *kind = ynode_kind(n);

	if (!n || n->type != YAML_SCALAR_NODE ||
	    (strcmp(kind, "an integer") != 0 && strcmp(kind, "a number") != 0) ||
	    yscalar(n)[strspn(yscalar(n), "+-")] == '.') {
		ydiag(d, n, DIAG_ERROR, path, "expected a number, got %s", kind);
		return false;
	}
	*out = strtod(yscalar(n), NULL);
	return true;
}

bool yget_duration(struct ydoc *d, yaml_node_t *n, const char *path, int64_t min_ns,
		   int64_t *out)
{
	const char *s, *err;

	if (!yget_str(d, n, path, &s))
		return false;
	err = check_parse_duration(s, out);
	if (err) {
		ydiag(d, n, DIAG_ERROR, path, "invalid duration \"%s\": %s", s, err);
		return false;
	}
	if (*out < 0) {
		ydiag(d, n, DIAG_ERROR, path, "duration \"%s\" must not be negative", s);
		return false;
	}
	if (min_ns > 0 && *out < min_ns) {
		ydiag(d, n, DIAG_ERROR, path, "duration \"%s\" must be at least 1ms", s);
		return false;
	}
	return true;
}

bool yget_enum(struct ydoc *d, yaml_node_t *n, const char *path,
	       const char *const *values, int *out)
{
	char list[256] = "";
	const char *s;
	int i;

	if (!yget_str(d, n, path, &s))
		return false;
	for (i = 0; values[i]; i++) {
		if (strcmp(s, values[i]) == 0) {
			*out = i;
			return true;
		}
	}
	for (i = 0; values[i]; i++) {
		if (strlen(list) + strlen(values[i]) + 3 < sizeof(list)) {
			strcat(list, i ? ", " : "");
			strcat(list, values[i]);
		}
	}
	ydiag(d, n, DIAG_ERROR, path, "unknown value \"%s\" (expected one of %s)", s, list);
	return false;
}
