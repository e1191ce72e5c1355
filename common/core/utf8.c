/* utf8: validation and whole-character boundaries (see utf8.h). */
#include "core/utf8.h"

#include <stdint.h>

/* Length of the sequence a lead byte announces, or 0 for a byte that cannot start one. */
static size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* Checks the continuation bytes of the sequence at s (len bytes, all present). */
static bool utf8_seq_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return false;
    if (len == 3) {
        if (s[0] == 0xE0 && s[1] < 0xA0)
            return false; /* overlong */
        if (s[0] == 0xED && s[1] >= 0xA0)
            return false; /* surrogate */
    } else if (len == 4) {
        if (s[0] == 0xF0 && s[1] < 0x90)
            return false; /* overlong */
        if (s[0] == 0xF4 && s[1] >= 0x90)
            return false; /* above U+10FFFF */
    }
    return true;
}

bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_seq_len(s[i]);
        if (len == 0 || len > n - i || !utf8_seq_ok(s + i, len))
            return false;
        i += len;
    }
    return true;
}

size_t utf8_whole_prefix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Walk back over at most 3 continuation bytes to the last lead byte. */
    size_t back = 0;
    while (back < n && back < 4 && (s[n - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == n || back == 4)
        return n; /* no lead byte in reach: nothing is waiting to be completed */
    size_t lead = n - 1 - back;
    size_t len = utf8_seq_len(s[lead]);
    if (len > back + 1)
        return lead; /* the character starting at lead is still incomplete */
    return n;
}

size_t utf8_char_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return 0;
    size_t len = utf8_seq_len(s[0]);
    return len != 0 && len <= n && utf8_seq_ok(s, len) ? len : 0;
}

size_t utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = utf8_char_len(str, n);
    if (len == 0)
        return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++)
        c = c << 6 | (s[i] & 0x3F);
    *cp = c;
    return len;
}

size_t utf8_count(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

int utf8_append_sanitized(struct buf *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0; /* run: start of the current stretch of good bytes */
    while (i < n) {
        size_t len = s[i] < 0x80 ? 1 : utf8_seq_len(s[i]);
        if (len != 0 && len <= n - i && (len == 1 || utf8_seq_ok(s + i, len))) {
            i += len;
            continue;
        }
        if (buf_append(out, s + run, i - run) < 0 || buf_append(out, "\xEF\xBF\xBD", 3) < 0)
            return -1;
        run = ++i;
    }
    return buf_append(out, s + run, n - run);
}

size_t utf8_prefix_chars(const char *s, size_t n, size_t max_chars)
{
    size_t i = 0;
    for (size_t chars = 0; i < n && chars < max_chars; chars++) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

uint32_t utf8_decode(const char *str, size_t n, size_t *used)
{
    uint32_t cp;
    size_t len = utf8_next(str, n, &cp);
    *used = len ? len : 1;
    return len ? cp : 0xFFFD;
}

int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long hex4_value(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit_value((unsigned char)p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}
