/* delta_scan: a contentBlockDelta's text without building a JSON tree (see bedrock_proto.h).
 *
 * One pass over the payload, no allocation: the whole payload is checked as JSON (strictly, so
 * that whatever passes is JSON json-c reads the same way) and root.delta.text is found. Where
 * it is not sure it would agree with json-c — a key that is escaped or seen twice where it
 * matters, \u0000 or a surrogate escape in the text, raw control bytes, a number of more than
 * 15 characters, nesting deeper than SCAN_DEPTH, bytes after the object, a text longer than
 * the caller's room once unescaped — it answers "not sure" and the caller asks json-c. */
#include "aws/bedrock_proto.h"

#include <string.h>

#include "core/utf8.h"

#define SCAN_DEPTH 8
#define SCAN_NUMBER_MAX 15

struct scan {
    const char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A string at s->p: *raw and *rawlen are the bytes between the quotes, *escaped whether any
 * backslash is among them. Escapes are checked, not decoded. */
static int scan_string(struct scan *s, const char **raw, size_t *rawlen, bool *escaped)
{
    if (s->p >= s->end || *s->p != '"')
        return -1;
    const char *start = ++s->p;
    *escaped = false;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *raw = start;
            *rawlen = (size_t)(s->p - start);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            s->p++;
            continue;
        }
        *escaped = true;
        if (s->end - s->p < 2)
            return -1;
        char e = s->p[1];
        if (e == 'u') {
            if (s->end - s->p < 6 || hex4_value(s->p + 2) < 0)
                return -1;
            s->p += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
            s->p += 2;
        } else {
            return -1;
        }
    }
    return -1;
}

static int put_utf8(char *out, size_t room, size_t *n, unsigned long cp)
{
    unsigned char b[3];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else { /* the Basic Multilingual Plane: surrogates never get here */
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    }
    if (room - *n < k)
        return -1;
    memcpy(out + *n, b, k);
    *n += k;
    return 0;
}

/* Decodes a checked string's escapes into out (room bytes). -1 when it does not fit, or for
 * \u0000 and surrogates (json-c's own handling of those is left to json-c). */
static int unescape(const char *p, size_t len, char *out, size_t room, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] != '\\') {
            size_t run = i;
            while (run < len && p[run] != '\\')
                run++;
            if (room - *n < run - i)
                return -1;
            memcpy(out + *n, p + i, run - i);
            *n += run - i;
            i = run;
            continue;
        }
        char e = p[i + 1];
        if (e != 'u') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            if (room - *n < 1)
                return -1;
            out[(*n)++] = to[strchr(from, e) - from];
            i += 2;
            continue;
        }
        unsigned long cp = (unsigned long)hex4_value(p + i + 2);
        i += 6;
        /* Surrogates, even in pairs, are json-c's: 0.16 turns some valid pairs (\ud837\ude0a)
         * into U+FFFD, and agreeing with it matters more here than being right. */
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        if (put_utf8(out, room, n, cp) < 0)
            return -1;
    }
    return 0;
}

static int scan_number(struct scan *s)
{
    const char *b = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end || !is_digit(*s->p))
        return -1;
    if (*s->p == '0')
        s->p++;
    else
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return -1;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
            return -1;
        while (s->p < s->end && is_digit(*s->p))
            s->p++;
    }
    return s->p - b <= SCAN_NUMBER_MAX ? 0 : -1;
}

static int scan_literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* What an object scan looks for: the value of one key, which must then appear once and
 * unescaped (want NULL: nothing). */
struct lookup {
    const char *want;
    const char *at; /* the value's first byte */
    int seen;
};

static int scan_value(struct scan *s, int depth);

/* An object or (array) an array at s->p; in an object, lk (may be NULL) notes its key. */
static int scan_container(struct scan *s, int depth, bool array, struct lookup *lk)
{
    if (depth > SCAN_DEPTH)
        return -1;
    s->p++; /* '{' or '[' */
    skip_ws(s);
    char close = array ? ']' : '}';
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (!array) {
            const char *key;
            size_t klen;
            bool escaped;
            skip_ws(s);
            if (scan_string(s, &key, &klen, &escaped) < 0)
                return -1;
            if (lk && lk->want && escaped)
                return -1; /* "delt\u0061" is "delta" to json-c */
            bool match = lk && lk->want && klen == strlen(lk->want) &&
                         memcmp(key, lk->want, klen) == 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return -1;
            s->p++;
            skip_ws(s);
            if (match) {
                lk->at = s->p;
                lk->seen++;
            }
        }
        if (scan_value(s, depth) < 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
        skip_ws(s);
    }
}

static int scan_value(struct scan *s, int depth)
{
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    const char *raw;
    size_t len;
    bool escaped;
    switch (*s->p) {
    case '"': return scan_string(s, &raw, &len, &escaped);
    case '{': return scan_container(s, depth + 1, false, NULL);
    case '[': return scan_container(s, depth + 1, true, NULL);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default: return scan_number(s);
    }
}

int bedrock_delta_scan(const char *payload, size_t len, const char **text, size_t *text_len,
                       char *room, size_t room_len)
{
    struct scan s = {payload, payload + len};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return 0;
    struct lookup root = {"delta", NULL, 0};
    if (scan_container(&s, 1, false, &root) < 0)
        return 0;
    skip_ws(&s);
    if (s.p != s.end || root.seen != 1 || *root.at != '{')
        return 0;
    struct scan d = {root.at, payload + len};
    struct lookup delta = {"text", NULL, 0};
    if (scan_container(&d, 2, false, &delta) < 0 || delta.seen != 1 || *delta.at != '"')
        return 0;
    struct scan t = {delta.at, payload + len};
    const char *raw;
    size_t rawlen;
    bool escaped;
    if (scan_string(&t, &raw, &rawlen, &escaped) < 0)
        return 0;
    if (!escaped) {
        *text = raw;
        *text_len = rawlen;
        return 1;
    }
    if (unescape(raw, rawlen, room, room_len, text_len) < 0)
        return 0;
    *text = room;
    return 1;
}
