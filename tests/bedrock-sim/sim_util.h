/* sim_util: the small helpers every file of the simulator shares: the monotonic clock, a
 * seedable PRNG (the model seeds its own from the request body; the server seeds one from the
 * kernel), hashing, UTF-8 decoding and JSON string escaping. No I/O beyond the clock. */
#ifndef SIM_UTIL_H
#define SIM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define sim_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t sim_now_ms(void);

/* splitmix64: tiny, fast, and good enough for padding, split points and word choice. */
struct sim_rng {
    uint64_t s;
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in 0..n-1 (n > 0). */
uint32_t sim_rng_below(struct sim_rng *r, uint32_t n);
/* Appends n random ASCII letters (the "p" padding field Bedrock adds to every event). */
void sim_rng_letters(struct sim_rng *r, char *out, size_t n);
/* A random (version 4) UUID, lower-case, NUL-terminated. */
void sim_uuid4(struct sim_rng *r, char out[37]);

/* FNV-1a 64 with a final avalanche; stable across runs and platforms. */
uint64_t sim_hash64(const void *p, size_t n);

/* Decodes one UTF-8 character at s[0..n) (n > 0). Returns the bytes it spans (1..4) and the
 * code point; an invalid or truncated sequence spans 1 byte and yields SIM_UTF8_INVALID. */
#define SIM_UTF8_INVALID 0xFFFFFFFFu
size_t sim_utf8_next(const char *s, size_t n, uint32_t *cp);
/* Appends the UTF-8 encoding of cp. Returns 0 or -1 (out full). */
int sim_utf8_put(struct buf *out, uint32_t cp);
/* True when s[0..n) holds at least one Hangul syllable. */
bool sim_has_hangul(const char *s, size_t n);
/* The largest length <= max that does not cut a UTF-8 character of s[0..n). */
size_t sim_utf8_floor(const char *s, size_t n, size_t max);

/* Appends s[0..n) as a JSON string literal with its quotes. Invalid UTF-8 becomes U+FFFD, so
 * the output is always valid JSON. Returns 0 or -1 (out full). */
int sim_json_str(struct buf *out, const char *s, size_t n);

/* Parses a decimal integer in 0..max from s[0..n) (digits only). Returns 0 or -1. */
int sim_parse_uint(const char *s, size_t n, long max, long *out);

#endif
