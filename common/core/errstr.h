/* errstr: the one way an error's details reach the caller (STYLE.md habit 4: return -1, the
 * words in a buffer the caller owns). */
#ifndef NOVA_ERRSTR_H
#define NOVA_ERRSTR_H

#include <stddef.h>

/* Formats into errstr (errlen bytes); a NULL or empty buffer is left alone. */
void errstr_set(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
