/* json: compact serialisation, short doubles, safe strings and a small reader (see json.h). */
#include "core/json.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

int json_append_put(json_object *root, struct buf *out)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = buf_append(out, s, len);
    json_object_put(root);
    return rc;
}

json_object *json_new_short_double(double v)
{
    char s[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    return json_object_new_double_s(v, s);
}

json_object *json_new_text(const char *s, size_t n)
{
    if (!s)
        return json_object_new_string("");
    if (utf8_valid(s, n))
        return json_object_new_string_len(s, (int)n);
    struct buf b;
    buf_init(&b, 3 * n + 1);
    utf8_append_sanitized(&b, s, n);
    json_object *o = json_object_new_string_len(buf_cstr(&b), (int)b.len);
    buf_free(&b);
    return o;
}

json_object *json_new_text_cut(const char *s, size_t max_chars)
{
    if (!s)
        return json_object_new_string("");
    size_t n = strlen(s);
    struct buf b;
    buf_init(&b, 3 * n + 1);
    utf8_append_sanitized(&b, s, n); /* after this, every byte is part of a whole character */
    json_object *o = json_object_new_string_len(
        buf_cstr(&b), (int)utf8_prefix_chars(buf_cstr(&b), b.len, max_chars));
    buf_free(&b);
    return o;
}

json_object *json_parse(const char *s, size_t n)
{
    if (n > INT_MAX)
        return NULL;
    json_tokener *t = json_tokener_new();
    json_object *o = json_tokener_parse_ex(t, s, (int)n);
    json_tokener_free(t);
    return o;
}

json_object *json_parse_object_strict(const char *s, size_t n, int depth)
{
    if (n == 0 || n > INT_MAX || memchr(s, '\0', n))
        return NULL;
    json_tokener *t = json_tokener_new_ex(depth);
    if (!t)
        return NULL;
    json_tokener_set_flags(t, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(t, s, (int)n);
    bool whole = json_tokener_get_error(t) == json_tokener_success &&
                 json_tokener_get_parse_end(t) == n;
    json_tokener_free(t);
    if (o && whole && json_object_is_type(o, json_type_object))
        return o;
    json_object_put(o);
    return NULL;
}

json_object *json_get(json_object *o, const char *key)
{
    json_object *x = NULL;
    return o && json_object_is_type(o, json_type_object) &&
                   json_object_object_get_ex(o, key, &x)
               ? x
               : NULL;
}

const char *json_get_str(json_object *o, const char *key, size_t *len)
{
    json_object *v = json_get(o, key);
    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    if (len)
        *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

long long json_get_int(json_object *o, const char *key)
{
    json_object *v = json_get(o, key);
    return v && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
               ? (long long)json_object_get_int64(v)
               : 0;
}
