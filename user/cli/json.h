/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BPFMESH_JSON_H
#define BPFMESH_JSON_H
/* A streaming JSON writer: values are written as they come, nothing is
 * built in memory. Commas and (with pretty) indentation are its business. */
#include <stdbool.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	bool pretty;
	int depth;
	bool after_key;
	bool has_items[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *out, bool pretty);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);
void json_uint(struct json *j, unsigned long long v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Shorthands for "key": value. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, unsigned long long v);
/* End the document with a newline. */
void json_finish(struct json *j);

#endif /* BPFMESH_JSON_H */
