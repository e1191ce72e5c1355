/* chatreq: the chat routes' input validators (see chatreq.h). */
#include "chatreq.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "alloc.h"
#include "log.h"
#include "utf8.h"

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
    json_object *v;
    if (!json_object_object_get_ex(root, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    *s = json_object_get_string(v);
    *n = (size_t)json_object_get_string_len(v);
    return 1;
}

static int check_message(json_object *root, struct chatreq *r, char *errstr, size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(root, "message", &v) || v == NULL) {
        errstr_set(errstr, errlen, "\"message\" is required");
        return -1;
    }
    if (!json_object_is_type(v, json_type_string)) {
        errstr_set(errstr, errlen, "\"message\" must be a string");
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    /* json-c turns \u0000 into a NUL and a lone surrogate escape into bytes that are not
     * UTF-8; neither may reach a prompt. */
    if (!utf8_valid(s, n)) {
        errstr_set(errstr, errlen, "\"message\" is not valid UTF-8");
        return -1;
    }
    if (memchr(s, '\0', n)) {
        errstr_set(errstr, errlen, "\"message\" contains a NUL character");
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
        errstr_set(errstr, errlen, "\"message\" is empty");
        return -1;
    }
    if (chars > CHATREQ_MESSAGE_MAX_CHARS) {
        errstr_set(errstr, errlen, "\"message\" is longer than %d characters",
                   CHATREQ_MESSAGE_MAX_CHARS);
        return -1;
    }
    r->message = xstrndup(s, n);
    r->message_len = n;
    r->message_chars = chars;
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

int chatreq_parse(const char *body, size_t len, struct chatreq *r, char *errstr, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (len > CHATREQ_BODY_MAX) {
        errstr_set(errstr, errlen, "the body is larger than %u bytes", CHATREQ_BODY_MAX);
        return -1;
    }
    json_tokener *tok = json_tokener_new_ex(CHATREQ_JSON_DEPTH);
    /* Strict: RFC 8259 JSON only (no single quotes, comments or trailing commas), and every
     * string checked to be UTF-8 as it is read. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue && end == len) {
        /* A bare literal ("null", "1") waits for a terminator: the NUL says the input ended. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    while (end < len && ascii_space(body[end]))
        end++;
    int rc = -1;
    if (jerr == json_tokener_error_parse_utf8_string) {
        errstr_set(errstr, errlen, "the body is not valid UTF-8");
    } else if (jerr != json_tokener_success || end != len || len == 0) {
        errstr_set(errstr, errlen, "the body is not a JSON document");
    } else if (!root || !json_object_is_type(root, json_type_object)) { /* null is a NULL root */
        errstr_set(errstr, errlen, "the body must be a JSON object");
    } else if (check_message(root, r, errstr, errlen) == 0) {
        rc = check_options(root, r, errstr, errlen);
        if (rc < 0)
            chatreq_free(r);
    }
    json_object_put(root);
    return rc;
}

void chatreq_free(struct chatreq *r)
{
    free(r->message);
    r->message = NULL;
    r->message_len = r->message_chars = 0;
}

const char *chatreq_detect_lang(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i + 2 < len; i++) {
        if ((s[i] & 0xF0) != 0xE0)
            continue;
        uint32_t cp = (uint32_t)(s[i] & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 |
                      (uint32_t)(s[i + 2] & 0x3F);
        if (cp >= 0xAC00 && cp <= 0xD7A3)
            return "ko";
    }
    return "en";
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

/* Reads 1-20 digits as a 64-bit number; returns the digits used, 0 on error. */
static size_t parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (i >= 20 || v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int stream_id_parse(const char *s, size_t len, struct stream_id *id)
{
    size_t a = parse_u64(s, len, &id->ms);
    if (a == 0)
        return -1;
    if (a == len) {
        id->seq = 0;
        return 0;
    }
    if (s[a] != '-')
        return -1;
    size_t b = parse_u64(s + a + 1, len - a - 1, &id->seq);
    return b != 0 && a + 1 + b == len ? 0 : -1;
}

int stream_id_cmp(const struct stream_id *a, const struct stream_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

void stream_id_format(const struct stream_id *id, char *out, size_t n)
{
    snprintf(out, n, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}
