/* env: settings read once from the environment, and shown one way (see env.h). */
#include "core/env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int env_copy(char *dst, size_t n, const char *name, const char *dflt, char *errstr,
             size_t errlen)
{
    const char *v = env_or(name, dflt);
    if (strlen(v) >= n) {
        snprintf(errstr, errlen, "%s is longer than %zu bytes", name, n - 1);
        return -1;
    }
    memmove(dst, v, strlen(v) + 1); /* v may be dst itself (the default already in place) */
    return 0;
}

int env_double(double *dst, const char *name, double dflt, double lo, double hi, char *errstr,
               size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *dst = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !(x >= lo && x <= hi)) {
        snprintf(errstr, errlen, "%s=\"%s\": want a number in %g..%g", name, v, lo, hi);
        return -1;
    }
    *dst = x;
    return 0;
}

int env_long(long *dst, const char *name, long dflt, long lo, long hi, char *errstr,
             size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *dst = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        snprintf(errstr, errlen, "%s=\"%s\": want an integer in %ld..%ld", name, v, lo, hi);
        return -1;
    }
    *dst = x;
    return 0;
}

void setting_long(setting_fn fn, void *arg, const char *key, long v)
{
    char num[24];
    snprintf(num, sizeof num, "%ld", v);
    fn(arg, key, num, true);
}

void setting_print(void *file, const char *key, const char *value, bool number)
{
    (void)number;
    fprintf(file, "%s: %s\n", key, value);
}

void setting_log(void *log_line, const char *key, const char *value, bool number)
{
    if (number)
        log_line_raw(log_line, key, value);
    else
        log_line_str(log_line, key, value);
}
