/* errstr: an error's words into the caller's buffer (see errstr.h). */
#include "core/errstr.h"

#include <stdarg.h>
#include <stdio.h>

void errstr_set(char *errstr, size_t errlen, const char *fmt, ...)
{
    if (!errstr || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errlen, fmt, ap);
    va_end(ap);
}
