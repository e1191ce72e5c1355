/* buf: a growable byte buffer with a hard maximum (curl's dynbuf habit).
 *
 * Every buffer that outside bytes flow into is a struct buf with a max; appending past it fails
 * with -1 and leaves the buffer as it was, so the caller can report "too large" instead of
 * growing without bound. The data is always NUL-terminated (not counted in len), so text can be
 * used as a C string. Allocation failure aborts (alloc.h). */
#ifndef NOVA_BUF_H
#define NOVA_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;   /* NULL until the first append; else len bytes plus a NUL */
    size_t len;
    size_t cap;   /* allocated bytes */
    size_t max;   /* hard cap on len */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Empties the buffer and keeps its memory. */
void buf_reset(struct buf *b);
/* Returns 0, or -1 when the result would exceed b->max (the buffer is unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* The contents as a C string; "" for an empty buffer. */
const char *buf_cstr(const struct buf *b);
/* Appends the whole file at path (close-on-exec, EINTR retried). Returns 0, or -1 with errstr
 * naming the path ("larger than <max> bytes" when it passes b->max; b keeps what was read). */
int buf_read_file(struct buf *b, const char *path, char *errstr, size_t errlen);
/* Hands the heap block to the caller (NUL-terminated, may be NULL if empty) and resets b. */
char *buf_steal(struct buf *b, size_t *len);

#endif
