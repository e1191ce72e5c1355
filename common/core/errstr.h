/* errstr: the one way an error's details reach the caller: a function returns -1 and puts the
 * words in a buffer the caller owns, so a library never logs or exits on its caller's behalf
 * and the caller decides what the failure means (a 503, a retry, a line with its request id). */
#ifndef NOVA_ERRSTR_H
#define NOVA_ERRSTR_H

#include <stddef.h>

/* Formats into errstr (errlen bytes); a NULL or empty buffer is left alone. */
void errstr_set(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
