/* fuzz_sse: the SSE parser on hostile bytes, and the writer/parser round trip.
 *
 * Input: byte 0 picks the event cap, byte 1 the piece sizes, the rest is the stream. The
 * parser must keep its caps (every event's data within max_event, ids and types within their
 * fields, no line end inside them), every byte it hands out must be readable, and the events
 * and final error must not depend on how the bytes were cut. Then the same bytes, used as an
 * event's id, type and data, are written with sse_write_event and parsed back: the event must
 * come out as it went in (with CR and CRLF in data read back as LF). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sse.h"

struct tally {
    size_t max_event;
    unsigned long n;
    uint64_t hash;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static int tally_event(void *user, const struct sse_event *ev)
{
    struct tally *t = user;
    size_t idn = strlen(ev->id), tn = strlen(ev->type);
    if (ev->data_len > t->max_event || idn >= 256 || tn >= 64 || tn == 0 ||
        strpbrk(ev->id, "\r\n") || strpbrk(ev->type, "\r\n") || ev->data[ev->data_len] != '\0')
        abort();
    t->n++;
    t->hash = fnv(t->hash, ev->id, idn + 1);
    t->hash = fnv(t->hash, ev->type, tn + 1);
    t->hash = fnv(t->hash, &ev->data_len, sizeof ev->data_len);
    t->hash = fnv(t->hash, ev->data, ev->data_len); /* reads every byte (ASan checks them) */
    return 0;
}

/* Parses s in pieces of the given sizes (cycled); returns the final error state. */
static int parse_pieces(const char *s, size_t n, size_t max_event, const size_t *sizes,
                        size_t nsizes, struct tally *t)
{
    struct sse_parser p;
    sse_parser_init(&p, max_event);
    memset(t, 0, sizeof *t);
    t->max_event = max_event;
    t->hash = 14695981039346656037ull;
    size_t at = 0, k = 0;
    int rc = 0, failed = 0;
    while (at < n) {
        size_t len = sizes[k++ % nsizes];
        if (len > n - at)
            len = n - at;
        rc = sse_parser_feed(&p, s + at, len, tally_event, t);
        if (failed && rc == 0)
            abort(); /* errors are sticky */
        failed = failed || rc < 0;
        at += len;
    }
    if (failed != (p.err != 0) || p.err > 1)
        abort();
    if (p.data.len > max_event + 1 || p.line.len > max_event + 16)
        abort();
    int err = p.err;
    sse_parser_free(&p);
    return err;
}

struct want {
    const char *id, *type;
    const char *data;
    size_t data_len;
    int seen;
};

static int check_round_trip(void *user, const struct sse_event *ev)
{
    struct want *w = user;
    if (w->seen++ || strcmp(ev->id, w->id) != 0 || strcmp(ev->type, w->type) != 0 ||
        ev->data_len != w->data_len || memcmp(ev->data, w->data, w->data_len) != 0)
        abort();
    return 0;
}

/* Writes one event from the input's bytes (s[0], s[1] give the id and type lengths; NUL
 * bytes inside them just end those C strings) and reads it back. n >= 2. */
static void round_trip(const char *s, size_t n)
{
    size_t id_n = (unsigned char)s[0] % 40, type_n = (unsigned char)s[1] % 20;
    const char *rest = s + 2;
    size_t rest_n = n - 2;
    if (id_n + type_n > rest_n)
        id_n = type_n = 0;
    char id[64], type[32];
    memcpy(id, rest, id_n);
    id[id_n] = '\0';
    memcpy(type, rest + id_n, type_n);
    type[type_n] = '\0';
    const char *data = rest + id_n + type_n;
    size_t data_n = rest_n - id_n - type_n;

    struct buf out;
    buf_init(&out, 8 * n + 256); /* worst case: every data byte a line end, 7 bytes out */
    int rc = sse_write_event(&out, id, type, data, data_n);
    if (strpbrk(id, "\r\n") || strpbrk(type, "\r\n")) {
        if (rc != -1 || out.len != 0)
            abort();
        buf_free(&out);
        return;
    }
    if (rc != 0)
        abort();
    /* The data as a reader sees it: CR and CRLF become LF. */
    char *norm = malloc(data_n + 1);
    size_t nn = 0;
    for (size_t i = 0; i < data_n; i++) {
        if (data[i] == '\r') {
            norm[nn++] = '\n';
            if (i + 1 < data_n && data[i + 1] == '\n')
                i++;
        } else {
            norm[nn++] = data[i];
        }
    }
    struct want w = {id, type[0] ? type : "message", norm, nn, 0};
    struct sse_parser p;
    sse_parser_init(&p, data_n + 64); /* room for the id and event lines too */
    if (sse_parser_feed(&p, out.data, out.len, check_round_trip, &w) != 0 || w.seen != 1)
        abort();
    sse_parser_free(&p);
    free(norm);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_event = 1 + (size_t)data[0] * 4;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    static const size_t whole[] = {(size_t)-1};
    const size_t bytewise[] = {1};
    const size_t mixed[] = {1 + data[1] % 7, 1 + data[1] / 37, 3};
    struct tally a, b, c;
    int ea = parse_pieces(s, n, max_event, whole, 1, &a);
    int eb = parse_pieces(s, n, max_event, bytewise, 1, &b);
    int ec = parse_pieces(s, n, max_event, mixed, 3, &c);
    if (ea != eb || ea != ec || a.n != b.n || a.n != c.n || a.hash != b.hash || a.hash != c.hash)
        abort();
    round_trip((const char *)data, size);
    return 0;
}
