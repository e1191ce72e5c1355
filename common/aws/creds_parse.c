/* creds_parse: the parts of the credential chain that do no I/O (see creds_parse.h): the INI
 * credentials file, the metadata JSON, ISO 8601 times, value checks and masking. Doing no I/O
 * is what makes them testable and fuzzable: creds_chain.c feeds them bytes it read; the unit
 * tests and tests/fuzz/fuzz_creds.c feed them anything. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/creds_parse.h"
#include "core/errstr.h"

#define CREDS_JSON_MAX (64 * 1024) /* the metadata responses are capped at this too */

static bool creds_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f' || ch == '\v';
}

static void creds_trim(const char **p, size_t *n)
{
    while (*n && creds_is_space(**p))
        (*p)++, (*n)--;
    while (*n && creds_is_space((*p)[*n - 1]))
        (*n)--;
}

int creds_copy_value(char *dst, size_t size, const char *src, size_t n, const char *what,
                     char *errstr, size_t errlen)
{
    creds_trim(&src, &n);
    if (n == 0) {
        errstr_set(errstr, errlen, "%s is empty", what);
        return -1;
    }
    if (n >= size) {
        errstr_set(errstr, errlen, "%s too long (%zu bytes, max %zu)", what, n, size - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] <= ' ' || (unsigned char)src[i] >= 0x7f) {
            errstr_set(errstr, errlen, "%s contains a blank or non-printable byte", what);
            return -1;
        }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

const char *creds_mask(const char *secret, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return "";
    if (!secret || !*secret)
        snprintf(out, outlen, "(unset)");
    else if (strlen(secret) < 8) /* four characters of a short secret would be most of it */
        snprintf(out, outlen, "****");
    else
        snprintf(out, outlen, "%.4s****", secret);
    return out;
}

/* ---- the credentials file ---- */

int creds_parse_shared_file(const char *text, size_t len, const char *profile,
                            struct aws_creds *out, char *errstr, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->source = "shared-file";
    size_t plen = strlen(profile);
    /* Where each key's value sits; a later line wins, as in the SDKs' merged sections. */
    static const char *const keys[3] = {"aws_access_key_id", "aws_secret_access_key",
                                        "aws_session_token"};
    const char *val[3] = {NULL, NULL, NULL};
    size_t vlen[3] = {0, 0, 0};
    bool found = false, in_profile = false;

    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        creds_trim(&line, &n);
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *end = memchr(line, ']', n);
            if (!end) {
                in_profile = false;
                continue;
            }
            const char *name = line + 1;
            size_t nlen = (size_t)(end - name);
            creds_trim(&name, &nlen);
            in_profile = nlen == plen && memcmp(name, profile, plen) == 0;
            found |= in_profile;
            continue;
        }
        const char *eq = memchr(line, '=', n);
        if (!in_profile || !eq)
            continue;
        const char *k = line, *v = eq + 1;
        size_t klen = (size_t)(eq - line), vl = n - klen - 1;
        creds_trim(&k, &klen);
        /* An inline comment needs a blank before it (AWS SDK profile rule). */
        for (size_t i = 1; i < vl; i++)
            if ((v[i] == '#' || v[i] == ';') && creds_is_space(v[i - 1])) {
                vl = i;
                break;
            }
        creds_trim(&v, &vl);
        for (int i = 0; i < 3; i++)
            if (klen == strlen(keys[i]) && strncasecmp(k, keys[i], klen) == 0) {
                val[i] = v;
                vlen[i] = vl;
            }
    }
    if (!found) {
        errstr_set(errstr, errlen, "no profile \"%s\"", profile);
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (!val[i] || vlen[i] == 0) {
            errstr_set(errstr, errlen, "profile \"%s\" has no %s", profile, keys[i]);
            return -1;
        }
    char *dst[3] = {out->access_key_id, out->secret_access_key, out->session_token};
    size_t size[3] = {sizeof out->access_key_id, sizeof out->secret_access_key,
                      sizeof out->session_token};
    for (int i = 0; i < 3; i++) {
        if (!val[i] || vlen[i] == 0)
            continue;
        char e[160];
        if (creds_copy_value(dst[i], size[i], val[i], vlen[i], keys[i], e, sizeof e) < 0) {
            errstr_set(errstr, errlen, "profile \"%s\": %s", profile, e);
            explicit_bzero(out, sizeof *out);
            return -1;
        }
    }
    return 0;
}

/* Reads exactly `width` digits. */
static bool creds_digits(const char *s, size_t n, size_t *i, int width, int *v)
{
    *v = 0;
    for (int k = 0; k < width; k++, (*i)++) {
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        *v = *v * 10 + (s[*i] - '0');
    }
    return true;
}

/* ISO 8601 as AWS writes it: 2026-11-26T12:00:00Z, with optional fractional seconds and a
 * numeric offset instead of Z. */
static int creds_parse_time(const char *s, size_t n, time_t *out)
{
    static const char seps[6] = {'-', '-', 'T', ':', ':', '\0'};
    static const int widths[6] = {4, 2, 2, 2, 2, 2};
    int v[6];
    size_t i = 0;
    for (int k = 0; k < 6; k++) {
        if (!creds_digits(s, n, &i, widths[k], &v[k]))
            return -1;
        if (seps[k]) {
            if (i >= n || (s[i] != seps[k] && !(seps[k] == 'T' && s[i] == 't')))
                return -1;
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return -1;
    }
    long offset = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1, hh, mm;
        if (!creds_digits(s, n, &i, 2, &hh) || i >= n || s[i++] != ':' ||
            !creds_digits(s, n, &i, 2, &mm) || hh > 23 || mm > 59)
            return -1;
        offset = sign * (hh * 3600L + mm * 60L);
    } else {
        return -1;
    }
    if (i != n || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 ||
        v[5] > 59)
        return -1;
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
                    .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5]};
    time_t t = timegm(&tm);
    /* timegm normalises Feb 30 into March; the round trip catches impossible dates. */
    if (t == (time_t)-1 || tm.tm_mday != v[2] || tm.tm_mon != v[1] - 1)
        return -1;
    *out = t - offset;
    return 0;
}

/* A string member, or NULL when absent; *bad when present but not a string. */
static const char *creds_json_str(struct json_object *o, const char *key, size_t *len,
                                  bool *bad)
{
    struct json_object *v;
    *bad = false;
    if (!json_object_object_get_ex(o, key, &v))
        return NULL;
    if (!json_object_is_type(v, json_type_string)) {
        *bad = true;
        return NULL;
    }
    *len = (size_t)json_object_get_string_len(v);
    return json_object_get_string(v);
}

int creds_parse_json(const char *text, size_t len, struct aws_creds *out, char *errstr,
                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > CREDS_JSON_MAX || memchr(text, '\0', len)) {
        errstr_set(errstr, errlen, "credentials JSON too large or contains a NUL byte");
        return -1;
    }
    struct json_tokener *tok = json_tokener_new();
    if (!tok) /* the project's allocation-failure policy (alloc.h) */
        abort();
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = -1;
    if (!o) {
        errstr_set(errstr, errlen, "credentials JSON: %s",
                  jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
        return -1;
    }
    while (end < len && creds_is_space(text[end]))
        end++;
    if (end != len) {
        errstr_set(errstr, errlen, "credentials JSON: trailing bytes");
        goto out;
    }
    if (!json_object_is_type(o, json_type_object)) {
        errstr_set(errstr, errlen, "credentials JSON: not an object");
        goto out;
    }
    size_t n = 0;
    bool bad;
    const char *code = creds_json_str(o, "Code", &n, &bad);
    if (bad || (code && strcmp(code, "Success") != 0)) {
        size_t mn = 0;
        const char *msg = creds_json_str(o, "Message", &mn, &bad);
        errstr_set(errstr, errlen, "credentials JSON: Code \"%.64s\": %.200s",
                  code ? code : "?", msg ? msg : "");
        goto out;
    }
    static const char *const names[3] = {"AccessKeyId", "SecretAccessKey", "Token"};
    char *dst[3] = {out->access_key_id, out->secret_access_key, out->session_token};
    size_t size[3] = {sizeof out->access_key_id, sizeof out->secret_access_key,
                      sizeof out->session_token};
    for (int i = 0; i < 3; i++) {
        const char *s = creds_json_str(o, names[i], &n, &bad);
        if (bad || (!s && i < 2)) {
            errstr_set(errstr, errlen, "credentials JSON: %s %s", names[i],
                      bad ? "is not a string" : "missing");
            goto out;
        }
        char e[160];
        if (s && creds_copy_value(dst[i], size[i], s, n, names[i], e, sizeof e) < 0) {
            errstr_set(errstr, errlen, "credentials JSON: %s", e);
            goto out;
        }
    }
    const char *exp = creds_json_str(o, "Expiration", &n, &bad);
    if (bad || (exp && creds_parse_time(exp, n, &out->expiration) < 0)) {
        errstr_set(errstr, errlen, "credentials JSON: Expiration is not an ISO 8601 time");
        goto out;
    }
    rc = 0;
out:
    json_object_put(o);
    if (rc < 0)
        explicit_bzero(out, sizeof *out);
    return rc;
}

