/* utf8: the few UTF-8 facts the wire needs: is this valid, where does the last whole character
 * end. Streams must never hand a split character to the page, and outside text must be valid
 * before it goes into JSON. No allocation. */
#ifndef NOVA_UTF8_H
#define NOVA_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* True when s[0..n) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF). */
bool utf8_valid(const char *s, size_t n);

/* Length of the longest prefix of s[0..n) that does not end inside a character: the bytes
 * after it (at most 3) are the start of a character whose remaining bytes have not arrived. */
size_t utf8_whole_prefix(const char *s, size_t n);

/* Bytes of the well-formed character at the start of s[0..n), or 0 when the bytes there are not
 * one (n == 0, a stray continuation, an overlong, a surrogate, a cut sequence). */
size_t utf8_char_len(const char *s, size_t n);

/* The well-formed character at the start of s[0..n): its code point in *cp and its length,
 * or 0 (and *cp untouched) when the bytes there are not one (as utf8_char_len). The one
 * decoder: text from outside is read with it byte by byte, an ill-formed byte standing for
 * itself. */
size_t utf8_next(const char *s, size_t n, uint32_t *cp);

/* A Hangul syllable (U+AC00..U+D7A3): what Korean words are made of (jamo are not word
 * letters). */
static inline bool utf8_is_hangul(uint32_t cp)
{
    return cp >= 0xAC00 && cp <= 0xD7A3;
}

/* Number of code points in valid UTF-8 text (s must be valid). */
size_t utf8_count(const char *s, size_t n);

/* The code point at s[0..n) (n > 0) and its length in *used: utf8_next for text that is valid
 * UTF-8 by contract, where a byte that does not start a well-formed character counts as one
 * character U+FFFD, so nothing is read past n. */
uint32_t utf8_decode(const char *s, size_t n, size_t *used);
/* Bytes of the first max_chars characters of valid UTF-8 s[0..n) (all n when it has fewer). */
size_t utf8_prefix_chars(const char *s, size_t n, size_t max_chars);
/* Appends s[0..n) to out with every byte that is not part of a well-formed character replaced
 * by U+FFFD, so text from outside can always be put into JSON. Returns 0 or -1 (out full). */
int utf8_append_sanitized(struct buf *out, const char *s, size_t n);

/* The value of an ASCII hex digit (either case), or -1. */
int hex_digit_value(int c);
/* The value of the four hex digits at p (those of a JSON \u escape; p has 4 bytes), or -1. */
long hex4_value(const char *p);

#endif
