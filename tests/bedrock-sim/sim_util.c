/* sim_util: clock, PRNG, hashing, UTF-8 and JSON helpers (see sim_util.h). */
#include "sim_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"

uint64_t sim_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t sim_rng_below(struct sim_rng *r, uint32_t n)
{
    return (uint32_t)(((sim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

void sim_rng_letters(struct sim_rng *r, char *out, size_t n)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (size_t i = 0; i < n; i++)
        out[i] = letters[sim_rng_below(r, 52)];
}

void sim_uuid4(struct sim_rng *r, char out[37])
{
    uint8_t b[16];
    uint64_t a = sim_rng_next(r), c = sim_rng_next(r);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

uint64_t sim_hash64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

size_t sim_utf8_next(const char *str, size_t n, uint32_t *cp)
{
    size_t len = utf8_next(str, n, cp);
    if (len == 0)
        *cp = SIM_UTF8_INVALID;
    return len ? len : 1;
}

int sim_utf8_put(struct buf *out, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    return buf_append(out, b, n);
}

bool sim_has_hangul(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += sim_utf8_next(s + i, n - i, &cp);
        if (utf8_is_hangul(cp))
            return true;
    }
    return false;
}

size_t sim_utf8_floor(const char *s, size_t n, size_t max)
{
    if (max >= n)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

int sim_json_str(struct buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_putc(out, '"') < 0)
        return -1;
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t elen = 0, adv = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, elen = 2;
        } else if (c == '\n') {
            esc[0] = '\\', esc[1] = 'n', elen = 2;
        } else if (c == '\r') {
            esc[0] = '\\', esc[1] = 'r', elen = 2;
        } else if (c == '\t') {
            esc[0] = '\\', esc[1] = 't', elen = 2;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], elen = 6;
        } else if (c >= 0x80) {
            uint32_t cp;
            adv = sim_utf8_next(s + i, n - i, &cp);
            if (cp == SIM_UTF8_INVALID)
                memcpy(esc, "\xEF\xBF\xBD", 3), elen = 3;
        }
        if (elen) {
            if (buf_append(out, s + run, i - run) < 0 || buf_append(out, esc, elen) < 0)
                return -1;
            run = i + adv;
        }
        i += adv;
    }
    if (buf_append(out, s + run, n - run) < 0)
        return -1;
    return buf_putc(out, '"');
}

int sim_parse_uint(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 18)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}
