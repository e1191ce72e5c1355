/* chatreq: the chat routes' input validators (see chatreq.h). */
#include "product/chatreq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "core/errstr.h"
#include "core/json.h"
#include "core/utf8.h"

/* Deeper nesting than any real chat body; json-c stops there instead of recursing on. */
#define CHATREQ_JSON_DEPTH 16

static bool ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The value of an optional string field: 1 with *s and *n set, 0 when absent or null, -1 when
 * present with another type. */
static int optional_string(json_object *root, const char *key, const char **s, size_t *n)
{
    json_object *v = json_get(root, key);
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *s = json_object_get_string(v);
    *n = (size_t)json_object_get_string_len(v);
    return 1;
}

/* A required text field ("message", "text"): valid UTF-8 without NUL, 1..4000 characters
 * after trimming ASCII blanks. Returns 0 with *out a heap copy, or -1 with errstr. */
static int check_text(json_object *root, const char *key, char **out, size_t *len,
                      size_t *nchars, char *errstr, size_t errlen)
{
    json_object *v = json_get(root, key);
    if (v == NULL) {
        errstr_set(errstr, errlen, "\"%s\" is required", key);
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        errstr_set(errstr, errlen, "\"%s\" must be a string", key);
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    /* json-c turns \u0000 into a NUL and a lone surrogate escape into bytes that are not
     * UTF-8; neither may reach a prompt. */
    if (!utf8_valid(s, n)) {
        errstr_set(errstr, errlen, "\"%s\" is not valid UTF-8", key);
        return -1;
    }
    if (memchr(s, '\0', n)) {
        errstr_set(errstr, errlen, "\"%s\" contains a NUL character", key);
        return -1;
    }
    while (n > 0 && ascii_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && ascii_space(s[n - 1]))
        n--;
    size_t chars = utf8_count(s, n);
    if (chars == 0) {
        errstr_set(errstr, errlen, "\"%s\" is empty", key);
        return -1;
    }
    if (chars > CHATREQ_MESSAGE_MAX_CHARS) {
        errstr_set(errstr, errlen, "\"%s\" is longer than %d characters", key,
                   CHATREQ_MESSAGE_MAX_CHARS);
        return -1;
    }
    *out = xstrndup(s, n);
    *len = n;
    *nchars = chars;
    return 0;
}

static int check_options(json_object *root, struct chatreq *r, char *errstr, size_t errlen)
{
    const char *s;
    size_t n;
    int rc = optional_string(root, "ui_lang", &s, &n);
    if (rc < 0 || (rc == 1 && !(n == 2 && (memcmp(s, "ko", 2) == 0 || memcmp(s, "en", 2) == 0)))) {
        errstr_set(errstr, errlen, "\"ui_lang\" must be \"ko\" or \"en\"");
        return -1;
    }
    memcpy(r->ui_lang, rc == 1 ? s : "ko", 3);
    r->ui_lang[2] = '\0';
    rc = optional_string(root, "session_id", &s, &n);
    if (rc < 0 || (rc == 1 && !chatreq_session_id_valid(s, n))) {
        errstr_set(errstr, errlen, "\"session_id\" must be 8 to 64 characters of A-Z a-z 0-9 _ -");
        return -1;
    }
    if (rc == 1) {
        memcpy(r->session_id, s, n);
        r->session_id[n] = '\0';
    }
    return 0;
}

static bool hex4(const char *s, unsigned *v)
{
    long x = hex4_value(s);
    *v = x < 0 ? 0 : (unsigned)x;
    return x >= 0;
}

/* json-c reads an escaped lone surrogate ("\ud800", "\udc00", a high one not followed by a
 * low one) as U+FFFD. Such an escape is no character at all, so the body is refused as not
 * UTF-8 before it gets that far; a pair ("\ud83d\ude00") is one character and fine. Escapes
 * are only looked at, not checked: the parser refuses a broken one. */
static bool has_lone_surrogate(const char *s, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        unsigned v, w;
        if (s[i + 1] != 'u' || i + 6 > len || !hex4(s + i + 2, &v)) {
            i++; /* "\\" and the like: the escaped character is not an escape */
            continue;
        }
        size_t j = i + 6;
        if (v >= 0xDC00 && v <= 0xDFFF)
            return true;
        if (v >= 0xD800 && v <= 0xDBFF) {
            if (j + 6 > len || s[j] != '\\' || s[j + 1] != 'u' || !hex4(s + j + 2, &w) ||
                w < 0xDC00 || w > 0xDFFF)
                return true;
            j += 6;
        }
        i = j - 1;
    }
    return false;
}

/* The body as a JSON object: *root set (release it), or -1 with errstr. */
static int parse_object(const char *body, size_t len, json_object **root, char *errstr,
                        size_t errlen)
{
    *root = NULL;
    if (len > CHATREQ_BODY_MAX) {
        errstr_set(errstr, errlen, "the body is larger than %u bytes", CHATREQ_BODY_MAX);
        return -1;
    }
    if (has_lone_surrogate(body, len)) {
        errstr_set(errstr, errlen, "the body is not valid UTF-8");
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex(CHATREQ_JSON_DEPTH);
    /* Strict: RFC 8259 JSON only (no single quotes, comments or trailing commas), and every
     * string checked to be UTF-8 as it is read. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue && end == len) {
        /* A bare literal ("null", "1") waits for a terminator: the NUL says the input ended. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    while (end < len && ascii_space(body[end]))
        end++;
    if (jerr == json_tokener_error_parse_utf8_string) {
        errstr_set(errstr, errlen, "the body is not valid UTF-8");
    } else if (jerr != json_tokener_success || end != len || len == 0) {
        errstr_set(errstr, errlen, "the body is not a JSON document");
    } else if (!o || !json_object_is_type(o, json_type_object)) { /* null is a NULL root */
        errstr_set(errstr, errlen, "the body must be a JSON object");
    } else {
        *root = o;
        return 0;
    }
    json_object_put(o);
    return -1;
}

int chatreq_parse(const char *body, size_t len, struct chatreq *r, char *errstr, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_object *root;
    if (parse_object(body, len, &root, errstr, errlen) < 0)
        return -1;
    int rc = check_text(root, "message", &r->message, &r->message_len, &r->message_chars,
                        errstr, errlen);
    if (rc == 0 && (rc = check_options(root, r, errstr, errlen)) < 0)
        chatreq_free(r);
    json_object_put(root);
    return rc;
}

int translatereq_parse(const char *body, size_t len, struct translatereq *t, char *errstr,
                       size_t errlen)
{
    memset(t, 0, sizeof *t);
    json_object *root;
    if (parse_object(body, len, &root, errstr, errlen) < 0)
        return -1;
    int rc = check_text(root, "text", &t->text, &t->text_len, &t->text_chars, errstr, errlen);
    const char *s;
    size_t n;
    int has = rc == 0 ? optional_string(root, "target", &s, &n) : 0;
    if (rc == 0 && (has < 0 || (has == 1 && !((n == 2 && (memcmp(s, "ko", 2) == 0 ||
                                                          memcmp(s, "en", 2) == 0)) ||
                                              (n == 4 && memcmp(s, "auto", 4) == 0))))) {
        errstr_set(errstr, errlen, "\"target\" must be \"ko\", \"en\" or \"auto\"");
        translatereq_free(t);
        rc = -1;
    }
    if (rc == 0)
        snprintf(t->target, sizeof t->target, "%.*s", has == 1 ? (int)n : 4,
                 has == 1 ? s : "auto");
    json_object_put(root);
    return rc;
}

void translatereq_free(struct translatereq *t)
{
    free(t->text);
    t->text = NULL;
}

void chatreq_free(struct chatreq *r)
{
    free(r->message);
    r->message = NULL;
    r->message_len = r->message_chars = 0;
}

bool chatreq_session_id_valid(const char *s, size_t len)
{
    if (len < CHATREQ_SESSION_MIN || len > CHATREQ_SESSION_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool chatreq_request_id_valid(const char *s, size_t len)
{
    if (len != CHATREQ_REQUEST_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool chatreq_content_type_is_json(const char *ct)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    char c = ct[16];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

int chatreq_query_param(const char *query, const char *name, const char **v, size_t *n)
{
    size_t nl = strlen(name);
    for (const char *p = query; *p;) {
        size_t len = strcspn(p, "&");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *v = p + nl + 1;
            *n = len - nl - 1;
            return 1;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}
