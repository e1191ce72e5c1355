/* json: what every JSON reader and writer here needs from json-c, done one way.
 *
 * Writing: compact serialisation onto a capped buf; doubles printed as a person would write
 * them; strings from text that should be UTF-8 but is not trusted to be (invalid bytes become
 * U+FFFD, so the document is always valid JSON), whole or cut between characters.
 * Reading: the member of an object by key, as a string or an integer, absent or mistyped
 * members reading as NULL or 0 (the caller decides whether that is an error). */
#ifndef NOVA_JSON_H
#define NOVA_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "core/buf.h"

/* Serialises root compactly (no slash escaping) onto out and releases root. 0, or -1 when out
 * is full (out unchanged). */
int json_append_put(json_object *root, struct buf *out);

/* A double printed in the shortest decimal form that reads back as the same value (0.3, not
 * json-c's 0.29999999999999999). */
json_object *json_new_short_double(double v);

/* A string of s[0..n) (NULL: ""), invalid UTF-8 replaced. */
json_object *json_new_text(const char *s, size_t n);
/* The same of NUL-terminated s, cut after max_chars characters. */
json_object *json_new_text_cut(const char *s, size_t max_chars);

/* Parses s[0..n) as one JSON text; NULL when it is not one (or n does not fit an int). */
json_object *json_parse(const char *s, size_t n);
/* Parses s[0..n) as one RFC 8259 object of valid UTF-8 (json-c's strict mode, nesting at most
 * depth, nothing after it, no NUL); NULL when it is anything else. For bodies from outside. */
json_object *json_parse_object_strict(const char *s, size_t n, int depth);

/* The member key of object o; NULL when o is not an object or has no such member. */
json_object *json_get(json_object *o, const char *key);
/* The member as a string (its length in *len when len is not NULL); NULL when absent or not
 * a string. Valid while o is. */
const char *json_get_str(json_object *o, const char *key, size_t *len);
/* The member as an integer (a double is truncated); 0 when absent or not a number. */
long long json_get_int(json_object *o, const char *key);

#endif
