/* env: the primitives every program's settings are made of — a variable read once from the
 * environment into a fixed field (a value that does not fit, or a number out of its range,
 * is an error naming the variable, never a silent cut) — and the one way settings are shown:
 * a visitor that sees each setting as key, value and whether it is a plain number, rendered
 * as "key: value" lines (--print-config) or as the fields of a log line. Secrets are masked
 * by the caller before they reach the visitor. */
#ifndef NOVA_ENV_H
#define NOVA_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* The variable's value, or dflt when it is unset or empty. */
const char *env_or(const char *name, const char *dflt);
/* Copies the variable (or dflt) into dst of n bytes. Returns 0, or -1 with errstr. dflt may
 * be dst itself (a default already in place). */
int env_copy(char *dst, size_t n, const char *name, const char *dflt, char *errstr,
             size_t errlen);
/* A whole number in lo..hi (dflt when unset). Returns 0, or -1 with errstr. */
int env_long(long *dst, const char *name, long dflt, long lo, long hi, char *errstr,
             size_t errlen);
/* A number in lo..hi (dflt when unset). Returns 0, or -1 with errstr. */
int env_double(double *dst, const char *name, double dflt, double lo, double hi, char *errstr,
               size_t errlen);

/* One setting as it is shown. */
typedef void (*setting_fn)(void *arg, const char *key, const char *value, bool number);
/* A number-valued setting. */
void setting_long(setting_fn fn, void *arg, const char *key, long v);
/* The two renderings: arg is a FILE * ("key: value\n") or a struct log_line * (a field,
 * numbers as JSON numbers). */
void setting_print(void *file, const char *key, const char *value, bool number);
void setting_log(void *log_line, const char *key, const char *value, bool number);

#endif
