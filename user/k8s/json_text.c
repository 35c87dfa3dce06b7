// SPDX-License-Identifier: Apache-2.0
/* JSON text as json-c prints it, without json-c objects (json_text.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "k8s/json_text.h"

static bool reserve(struct jtext *t, size_t more)
{
	size_t cap = t->cap ? t->cap : 1024;
	char *b;

	if (t->oom)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	while (cap < t->len + more + 1)
		cap *= 2;
	b = realloc(t->buf, cap);
	if (!b) {
		t->oom = true;
		return false;
	}
	t->buf = b;
	t->cap = cap;
	return true;
}

void jtext_raw(struct jtext *t, const char *s, size_t len)
{
	if (!reserve(t, len))
		return;
	memcpy(t->buf + t->len, s, len);
	t->len += len;
	t->buf[t->len] = '\0';
}

static void put(struct jtext *t, const char *s)
{
	jtext_raw(t, s, strlen(s));
}

/* json-c's escaping (json_escape_str): the two-character escapes for
 * \b \n \r \t \f " and \, other bytes below 0x20 as \u00xx (lower case
 * hex); '/' as it is (NOSLASHESCAPE); every other byte as it is. */
void jtext_str(struct jtext *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;
	char esc[7];

	put(t, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *two = NULL;

		switch (c) {
		case '\b': two = "\\b"; break;
		case '\n': two = "\\n"; break;
		case '\r': two = "\\r"; break;
		case '\t': two = "\\t"; break;
		case '\f': two = "\\f"; break;
		case '"': two = "\\\""; break;
		case '\\': two = "\\\\"; break;
		default:
			if (c >= 0x20)
				continue;
		}
		jtext_raw(t, run, (size_t)(s - run));
		run = s + 1;
		if (two) {
			put(t, two);
			continue;
		}
		snprintf(esc, sizeof(esc), "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
		put(t, esc);
	}
	jtext_raw(t, run, (size_t)(s - run));
	put(t, "\"");
}

void jtext_int(struct jtext *t, long long v)
{
	char num[24];

	jtext_raw(t, num, (size_t)snprintf(num, sizeof(num), "%lld", v));
}

/* The separator before a collection's next member: ", " after the first. */
static void separate(struct jtext *t)
{
	if (!t->depth)
		return;
	put(t, t->has[t->depth - 1] ? ", " : " ");
	t->has[t->depth - 1] = true;
}

void jtext_open(struct jtext *t, char c)
{
	char s[2] = { c, '\0' };

	if (t->depth == JTEXT_MAX_DEPTH) {
		t->oom = true; /* deeper than anything rendered: a bug, never silent */
		return;
	}
	put(t, s);
	t->has[t->depth++] = false;
}

void jtext_close(struct jtext *t, char c)
{
	char s[3] = { ' ', c, '\0' };

	if (t->depth)
		t->depth--;
	put(t, s);
}

void jtext_key(struct jtext *t, const char *key)
{
	separate(t);
	jtext_str(t, key);
	put(t, ": ");
}

void jtext_item(struct jtext *t)
{
	separate(t);
}

void jtext_json(struct jtext *t, struct json_object *v)
{
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_null:
		put(t, "null");
		return;
	case json_type_string:
		jtext_str(t, json_object_get_string(v));
		return;
	case json_type_object:
		jtext_open(t, '{');
		json_object_object_foreach(v, key, val) {
			jtext_key(t, key);
			jtext_json(t, val);
		}
		jtext_close(t, '}');
		return;
	case json_type_array:
		jtext_open(t, '[');
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			jtext_item(t);
			jtext_json(t, json_object_array_get_idx(v, i));
		}
		jtext_close(t, ']');
		return;
	default: {
		/* Numbers and booleans: json-c's own printing (a double's
		 * format is its business). Its text is kept in v. */
		const char *s = json_object_to_json_string_ext(
			v, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (!s)
			t->oom = true;
		else
			put(t, s);
	}
	}
}

char *jtext_take(struct jtext *t, size_t *len)
{
	char *s = t->oom ? NULL : t->buf;

	if (len)
		*len = t->len;
	if (!s)
		free(t->buf);
	memset(t, 0, sizeof(*t));
	return s;
}

void jtext_free(struct jtext *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
