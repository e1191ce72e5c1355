/* log: one JSON object per line on stderr, for people and for log pipelines alike.
 *
 *   {"ts":"2026-01-02T03:04:05.678Z","level":"info","proc":"nova-fcgi","pid":123,"msg":"..."}
 *   {"ts":...,"pid":123,"rid":"<request id>","msg":"..."}                      log_rid
 *   {"ts":...,"pid":123,"rid":"<request id>","event":"request","status":200,...}  log_event
 *
 * The fixed head is ts (UTC, milliseconds), level (error, warn, info, debug), proc (the program)
 * and pid, then the context fields a program set once at start (log_context: a worker's id and
 * queue), then rid (the request id: nginx's $request_id, carried into jobs) and event when the
 * line is about one. Every string is JSON-escaped and made valid UTF-8 (a byte that is not part
 * of a well-formed character becomes U+FFFD), so each line parses whatever a message carries.
 * A line is at most LOG_LINE_MAX bytes: a longer one is cut between characters and ends with
 * "cut":true, still one valid object. Each line is one write(2): thread-safe, and lines of
 * processes sharing a file do not interleave.
 *
 * Logging happens once, where the thing happens, so one failure is one line with the context
 * only that place has (the request id, the call). Credentials and prompts
 * never go through here at info: callers mask secrets (creds_mask), log sizes instead of texts,
 * and identifiers that grant access (session ids) as a log_tag. */
#ifndef NOVA_LOG_H
#define NOVA_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

#define LOG_LINE_MAX 8192
#define LOG_TAG_LEN 16

/* prog is kept by pointer (pass a string literal or argv[0]; its directory part is dropped).
 * Call before any thread starts, as log_context. */
void log_init(const char *prog, enum log_level level);
/* Adds "key":"value" to the head of every later line (at most a few hundred bytes in all). */
void log_context(const char *key, const char *value);
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
bool log_enabled(enum log_level level);

/* A line with "msg": the formatted text. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same about one request: "rid" (NULL or "": none), then "msg". */
void log_rid(enum log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A structured line: "rid" (NULL or "": none), "event", then one field per "key=value" word
 * of fields, a printf format the compiler checks against the arguments. A value that is a
 * single numeric conversion (%d %i %u %ld %lld %zu %lu %llu %f %g %.0f ...) is a JSON number
 * (NaN and infinities are null), a single %s a string (NULL: null), anything else (a literal,
 * or literal text around conversions) a string. Words are separated by one space; keys are
 * [a-z0-9_]; '*' widths and precisions are not supported.
 *   log_event(LOG_INFO, rq->id, "request", "method=%s status=%d elapsed_ms=%lld", m, s, ms); */
void log_event(enum log_level level, const char *rid, const char *event, const char *fields,
               ...) __attribute__((format(printf, 4, 5)));

/* A line built field by field (what the functions above use; also for callers with a list of
 * fields, like the configuration printed at start). Stack-sized: LOG_LINE_MAX bytes. */
struct log_line {
    size_t len;
    bool cut;      /* something did not fit: later fields are dropped */
    char buf[LOG_LINE_MAX];
};

/* The head: ts, level, proc, pid, the context, then rid and event when not NULL or "". */
void log_line_begin(struct log_line *l, enum log_level level, const char *rid,
                    const char *event);
void log_line_str(struct log_line *l, const char *key, const char *s); /* NULL: null */
void log_line_strn(struct log_line *l, const char *key, const char *s, size_t n);
void log_line_int(struct log_line *l, const char *key, long long v);
void log_line_bool(struct log_line *l, const char *key, bool v);
/* A value that is JSON text already: a number as printf wrote it ("0.2", "42"). */
void log_line_raw(struct log_line *l, const char *key, const char *json);
/* The "key=value" words of log_event. */
void log_line_fields(struct log_line *l, const char *fields, va_list ap);
/* Closes the object and the line: buf then holds len bytes ending in "}\n" (and a NUL). */
void log_line_end(struct log_line *l);
/* log_line_end, then one write(2) to stderr. */
void log_line_write(struct log_line *l);

/* A stable, non-reversible tag of an identifier that must not be logged as such (a session id
 * lets whoever holds it continue the conversation): 16 hex digits of its FNV-1a 64 hash. out
 * has LOG_TAG_LEN + 1 bytes. The same id always gives the same tag, so lines still correlate. */
void log_tag(const char *s, char *out);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
