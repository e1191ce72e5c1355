/* sse: server-sent events framing, writer and incremental parser (see sse.h).
 *
 * The parser follows the WHATWG "event stream interpretation" rules: lines end at CR, LF or
 * CRLF (a CRLF split across two feeds is still one line end); a line starting with ':' is a
 * comment; "field: value" loses one leading space of the value; data lines are joined with
 * '\n'; a blank line dispatches; an event with no data line is not dispatched; the id is
 * sticky across events; an id containing NUL is ignored; unknown fields and "retry" are
 * ignored. It does not strip a leading byte-order mark: nova-fcgi never sends one. */
#include "core/sse.h"

#include <string.h>

/* Extra room a line may take over max_event: the longest field name with its ": ". */
#define SSE_LINE_SLACK 16

/* Rolls out back to len after a failed multi-part append, so a writer call is all or nothing. */
static int sse_rollback(struct buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
    return -1;
}

/* Index of the first CR or LF in p[0..n), or n. */
static size_t sse_line_end(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r')
            return i;
    return n;
}

/* An id or event name is one line: a CR or LF in it would start a field of its own. */
static int sse_is_one_line(const char *s)
{
    return s[strcspn(s, "\r\n")] == '\0';
}

int sse_write_event(struct buf *out, const char *id, const char *type, const char *data,
                    size_t data_len)
{
    size_t start = out->len;
    if ((id && !sse_is_one_line(id)) || (type && !sse_is_one_line(type)))
        return -1;
    if (id && (buf_puts(out, "id: ") < 0 || buf_puts(out, id) < 0 || buf_putc(out, '\n') < 0))
        return sse_rollback(out, start);
    if (type &&
        (buf_puts(out, "event: ") < 0 || buf_puts(out, type) < 0 || buf_putc(out, '\n') < 0))
        return sse_rollback(out, start);
    /* Every CR, LF or CRLF in data starts a new data: line; the reader joins them with LF. */
    size_t i = 0;
    for (;;) {
        size_t n = sse_line_end(data + i, data_len - i);
        if (buf_puts(out, "data: ") < 0 || buf_append(out, data + i, n) < 0 ||
            buf_putc(out, '\n') < 0)
            return sse_rollback(out, start);
        i += n;
        if (i == data_len)
            break;
        if (data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n')
            i++;
        i++;
    }
    if (buf_putc(out, '\n') < 0)
        return sse_rollback(out, start);
    return 0;
}

int sse_write_comment(struct buf *out, const char *text)
{
    size_t start = out->len, len = strlen(text), i = 0;
    /* A multi-line text becomes one comment line per line, so none of it can be read as a
     * field. */
    for (;;) {
        size_t n = sse_line_end(text + i, len - i);
        if (buf_puts(out, ": ") < 0 || buf_append(out, text + i, n) < 0 ||
            buf_putc(out, '\n') < 0)
            return sse_rollback(out, start);
        i += n;
        if (i == len)
            break;
        if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
            i++;
        i++;
    }
    if (buf_putc(out, '\n') < 0)
        return sse_rollback(out, start);
    return 0;
}

void sse_parser_init(struct sse_parser *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->line, max_event + SSE_LINE_SLACK);
    /* The data buffer keeps a '\n' after every data line; the last one is dropped at dispatch,
     * so max_event bytes of joined data need one more. */
    buf_init(&p->data, max_event + 1);
}

void sse_parser_free(struct sse_parser *p)
{
    buf_free(&p->line);
    buf_free(&p->data);
}

static int sse_dispatch(struct sse_parser *p, sse_event_fn fn, void *user)
{
    if (p->data.len == 0) {
        p->type[0] = '\0';
        return 0;
    }
    p->data.len--; /* the '\n' after the last data line */
    p->data.data[p->data.len] = '\0';
    struct sse_event ev = {
        .id = p->id,
        .type = p->type[0] ? p->type : "message",
        .data = p->data.data,
        .data_len = p->data.len,
    };
    int stop = fn(user, &ev);
    buf_reset(&p->data);
    p->type[0] = '\0';
    if (stop) {
        p->err = 2;
        return -1;
    }
    return 0;
}

/* Copies a field value into a fixed buffer; a value that does not fit is over the caps. */
static int sse_set_field(struct sse_parser *p, char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap) {
        p->err = 1;
        return -1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Interprets one complete line (without its line end). */
static int sse_process_line(struct sse_parser *p, const char *s, size_t n, sse_event_fn fn,
                            void *user)
{
    if (n == 0)
        return sse_dispatch(p, fn, user);
    if (s[0] == ':') {
        p->comments++;
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (name_len == 4 && memcmp(s, "data", 4) == 0) {
        if (buf_append(&p->data, v, vlen) < 0 || buf_putc(&p->data, '\n') < 0) {
            p->err = 1;
            return -1;
        }
    } else if (name_len == 5 && memcmp(s, "event", 5) == 0) {
        return sse_set_field(p, p->type, sizeof p->type, v, vlen);
    } else if (name_len == 2 && memcmp(s, "id", 2) == 0) {
        if (memchr(v, '\0', vlen) == NULL)
            return sse_set_field(p, p->id, sizeof p->id, v, vlen);
    }
    /* "retry" and unknown fields are ignored, as the spec says. */
    return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len, sse_event_fn fn,
                    void *user)
{
    if (p->err)
        return -1;
    size_t i = 0;
    while (i < len) {
        if (p->last_was_cr) {
            p->last_was_cr = 0;
            if (bytes[i] == '\n') { /* the LF of a CRLF whose CR ended the previous line */
                i++;
                continue;
            }
        }
        size_t n = sse_line_end(bytes + i, len - i);
        if (i + n == len) { /* no line end yet: keep the piece */
            if (buf_append(&p->line, bytes + i, n) < 0) {
                p->err = 1;
                return -1;
            }
            return 0;
        }
        int rc;
        if (p->line.len == 0) { /* the whole line is in this feed: no copy */
            if (n > p->line.max) {
                p->err = 1;
                return -1;
            }
            rc = sse_process_line(p, bytes + i, n, fn, user);
        } else {
            if (buf_append(&p->line, bytes + i, n) < 0) {
                p->err = 1;
                return -1;
            }
            rc = sse_process_line(p, p->line.data, p->line.len, fn, user);
            buf_reset(&p->line);
        }
        p->last_was_cr = bytes[i + n] == '\r';
        i += n + 1;
        if (rc < 0)
            return -1;
    }
    return 0;
}
