/* log: one line per event on stderr, "time level prog[pid]: message".
 *
 * Logging happens once, where the thing happens (STYLE.md habit 4). Secrets never go through
 * here: callers mask them (creds_mask). Thread-safe: each line is one write(2). */
#ifndef NOVA_LOG_H
#define NOVA_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* prog is kept by pointer (pass a string literal or argv[0]). */
void log_init(const char *prog, enum log_level level);
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats an error into the caller's errstr (habit 4: details in a buffer the caller owns);
 * a NULL or empty buffer is left alone. */
void errstr_set(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
