/* Unit tests for common/core/sse.c: the writer's exact bytes, and the parser fed at every split
 * point, with every line-end style, comments, sticky ids and its caps. */
#include "core/sse.h"

#include <stdlib.h>

#include "test.h"

/* ---- writer -------------------------------------------------------------------------------- */

static void test_write_event_exact(void)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *d = "{\"text\":\"안녕\"}";
    CHECK(sse_write_event(&b, "1700000000000-0", "delta", d, strlen(d)) == 0);
    CHECK_STR_EQ(buf_cstr(&b),
                 "id: 1700000000000-0\nevent: delta\ndata: {\"text\":\"안녕\"}\n\n");
    buf_reset(&b);
    CHECK(sse_write_event(&b, NULL, NULL, "x", 1) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "data: x\n\n");
    buf_reset(&b);
    CHECK(sse_write_event(&b, NULL, "done", "", 0) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "event: done\ndata: \n\n");
    buf_free(&b);
}

static void test_write_event_multiline(void)
{
    struct buf b;
    buf_init(&b, 4096);
    const char *d = "a\nb\r\nc\rd";
    CHECK(sse_write_event(&b, "7", "m", d, strlen(d)) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "id: 7\nevent: m\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    buf_reset(&b);
    CHECK(sse_write_event(&b, NULL, NULL, "a\n", 2) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "data: a\ndata: \n\n");
    buf_reset(&b);
    CHECK(sse_write_event(&b, NULL, NULL, "\r\n\n", 3) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "data: \ndata: \ndata: \n\n");
    buf_reset(&b);
    CHECK(sse_write_event(&b, NULL, NULL, " lead", 5) == 0); /* the reader strips one space */
    CHECK_STR_EQ(buf_cstr(&b), "data:  lead\n\n");
    buf_free(&b);
}

static void test_write_event_binary_data(void)
{
    struct buf b;
    buf_init(&b, 4096);
    const char d[] = {'a', '\0', 'b'};
    CHECK(sse_write_event(&b, NULL, NULL, d, 3) == 0);
    CHECK(b.len == 11 && memcmp(b.data, "data: a\0b\n\n", 11) == 0);
    buf_free(&b);
}

static void test_write_event_rejects_newline_in_id_or_type(void)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK(sse_write_event(&b, "x", "t", "ok", 2) == 0);
    size_t len = b.len;
    CHECK(sse_write_event(&b, "1\n", "t", "x", 1) == -1);
    CHECK(sse_write_event(&b, "1", "t\rdata: evil", "x", 1) == -1);
    CHECK(b.len == len);
    CHECK_STR_EQ(buf_cstr(&b), "id: x\nevent: t\ndata: ok\n\n");
    buf_free(&b);
}

static void test_write_is_all_or_nothing_at_the_cap(void)
{
    struct buf b;
    buf_init(&b, 24);
    CHECK(sse_write_event(&b, NULL, NULL, "0123456", 7) == 0); /* 15 bytes */
    CHECK(sse_write_event(&b, "1", "t", "x", 1) == -1);         /* would need 23 more */
    CHECK(b.len == 15);
    CHECK_STR_EQ(buf_cstr(&b), "data: 0123456\n\n");
    CHECK(sse_write_comment(&b, "pingping") == -1);
    CHECK(b.len == 15);
    CHECK(sse_write_comment(&b, "p") == 0);
    CHECK_STR_EQ(buf_cstr(&b), "data: 0123456\n\n: p\n\n");
    buf_free(&b);
}

static void test_write_comment(void)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK(sse_write_comment(&b, "ping") == 0);
    CHECK_STR_EQ(buf_cstr(&b), ": ping\n\n");
    buf_reset(&b);
    CHECK(sse_write_comment(&b, "a\nevent: x") == 0);
    CHECK_STR_EQ(buf_cstr(&b), ": a\n: event: x\n\n");
    buf_free(&b);
}

/* ---- parser -------------------------------------------------------------------------------- */

#define MAX_EVENTS 16

struct got {
    int n;
    char id[MAX_EVENTS][64];
    char type[MAX_EVENTS][64];
    char data[MAX_EVENTS][256];
    size_t data_len[MAX_EVENTS];
    int stop_after; /* stop (non-zero) after this many events; 0 = never */
};

static int got_event(void *user, const struct sse_event *ev)
{
    struct got *g = user;
    if (g->n < MAX_EVENTS) {
        snprintf(g->id[g->n], sizeof g->id[0], "%s", ev->id);
        snprintf(g->type[g->n], sizeof g->type[0], "%s", ev->type);
        size_t n = ev->data_len < sizeof g->data[0] - 1 ? ev->data_len : sizeof g->data[0] - 1;
        memcpy(g->data[g->n], ev->data, n);
        g->data[g->n][n] = '\0';
        g->data_len[g->n] = ev->data_len;
    }
    g->n++;
    return g->stop_after && g->n >= g->stop_after;
}

/* Parses s in the given pieces (cuts: sorted offsets) and returns the feed results' OR. */
static int parse_cut(const char *s, size_t len, const size_t *cuts, size_t ncuts,
                     size_t max_event, struct got *g, unsigned long *comments)
{
    struct sse_parser p;
    sse_parser_init(&p, max_event);
    memset(g, 0, sizeof *g);
    int rc = 0;
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (sse_parser_feed(&p, s + at, end - at, got_event, g) < 0)
            rc = -1;
        at = end;
    }
    if (comments)
        *comments = p.comments;
    sse_parser_free(&p);
    return rc;
}

/* Replaces every "\n" of a template with the given line end. */
static char *with_line_end(const char *tmpl, const char *eol)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    for (const char *c = tmpl; *c; c++)
        if (*c == '\n')
            buf_puts(&b, eol);
        else
            buf_putc(&b, *c);
    size_t n;
    char *s = buf_steal(&b, &n);
    return s;
}

static const char *STREAM =
    ": hello\n"
    "retry: 3000\n"
    "id: 1-0\n"
    "event: meta\n"
    "data: {\"a\":1}\n"
    "\n"
    "data: first\n"
    "data:second\n"
    "data\n"
    "unknown: x\n"
    "\n"
    ": ping\n"
    "\n"
    "id: 2-5\n"
    "event: delta\n"
    "data: 폴이\n"
    "\n";

static void check_stream_events(const struct got *g)
{
    CHECK(g->n == 3);
    CHECK_STR_EQ(g->id[0], "1-0");
    CHECK_STR_EQ(g->type[0], "meta");
    CHECK_STR_EQ(g->data[0], "{\"a\":1}");
    CHECK_STR_EQ(g->id[1], "1-0"); /* sticky */
    CHECK_STR_EQ(g->type[1], "message");
    CHECK_STR_EQ(g->data[1], "first\nsecond\n");
    CHECK_STR_EQ(g->id[2], "2-5");
    CHECK_STR_EQ(g->type[2], "delta");
    CHECK_STR_EQ(g->data[2], "폴이");
}

static void test_parse_every_split_every_line_end(void)
{
    const char *eols[] = {"\n", "\r\n", "\r"};
    for (size_t e = 0; e < 3; e++) {
        char *s = with_line_end(STREAM, eols[e]);
        size_t len = strlen(s);
        struct got g;
        unsigned long comments;
        CHECK(parse_cut(s, len, NULL, 0, 1024, &g, &comments) == 0);
        check_stream_events(&g);
        CHECK(comments == 2);
        for (size_t cut = 0; cut <= len; cut++) { /* two pieces */
            CHECK(parse_cut(s, len, &cut, 1, 1024, &g, NULL) == 0);
            check_stream_events(&g);
        }
        for (size_t a = 1; a < len; a += 7) /* three pieces */
            for (size_t b = a; b <= len; b += 3) {
                size_t cuts[2] = {a, b};
                CHECK(parse_cut(s, len, cuts, 2, 1024, &g, NULL) == 0);
                check_stream_events(&g);
            }
        size_t *every = malloc(len * sizeof *every); /* byte by byte */
        for (size_t i = 0; i < len; i++)
            every[i] = i;
        CHECK(parse_cut(s, len, every, len, 1024, &g, &comments) == 0);
        check_stream_events(&g);
        CHECK(comments == 2);
        free(every);
        free(s);
    }
}

static void test_parse_crlf_split_is_one_line_end(void)
{
    /* "data: x\r" | "\n" | "\r\n": one line end after x, then the blank line: one event. */
    const char *s = "data: x\r\n\r\n";
    size_t cuts[2] = {8, 9};
    struct got g;
    CHECK(parse_cut(s, strlen(s), cuts, 2, 64, &g, NULL) == 0);
    CHECK(g.n == 1);
    CHECK_STR_EQ(g.data[0], "x");
    /* Mixed line ends in one stream. */
    const char *m = "data: a\rdata: b\r\n\ndata: c\n\r";
    CHECK(parse_cut(m, strlen(m), NULL, 0, 64, &g, NULL) == 0);
    CHECK(g.n == 2);
    CHECK_STR_EQ(g.data[0], "a\nb");
    CHECK_STR_EQ(g.data[1], "c");
}

static void test_parse_fields(void)
{
    struct got g;
    /* One leading space is stripped, not two; no colon means an empty value. */
    const char *s = "data:  two\n\ndata\n\nevent: x\n\ndata: after-type-reset\n\n";
    CHECK(parse_cut(s, strlen(s), NULL, 0, 64, &g, NULL) == 0);
    CHECK(g.n == 3);
    CHECK_STR_EQ(g.data[0], " two");
    CHECK(g.data_len[1] == 0);
    CHECK_STR_EQ(g.type[1], "message");
    /* "event: x" with no data is not dispatched and does not leak into the next event. */
    CHECK_STR_EQ(g.type[2], "message");
    CHECK_STR_EQ(g.data[2], "after-type-reset");
}

static void test_parse_ids(void)
{
    struct got g;
    const char *s = "id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\n\ndata: d\n\n";
    CHECK(parse_cut(s, strlen(s), NULL, 0, 64, &g, NULL) == 0);
    CHECK(g.n == 4);
    CHECK_STR_EQ(g.id[0], "5");
    CHECK_STR_EQ(g.id[1], "5");
    CHECK_STR_EQ(g.id[2], "");  /* an empty id resets */
    CHECK_STR_EQ(g.id[3], "9"); /* set by an event that was not dispatched */
    /* An id containing NUL is ignored. */
    const char n[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";
    CHECK(parse_cut(n, sizeof n - 1, NULL, 0, 64, &g, NULL) == 0);
    CHECK(g.n == 2);
    CHECK_STR_EQ(g.id[1], "1");
}

static void test_parse_data_with_nul(void)
{
    struct got g;
    const char s[] = "data: a\0b\n\n";
    CHECK(parse_cut(s, sizeof s - 1, NULL, 0, 64, &g, NULL) == 0);
    CHECK(g.n == 1 && g.data_len[0] == 3 && memcmp(g.data[0], "a\0b", 3) == 0);
}

static void test_parse_caps(void)
{
    struct got g;
    struct sse_parser p;
    /* Exactly max_event bytes of data, in one line and in two joined lines, are fine. */
    const char *ok = "data: 0123456789\n\ndata: 0123\ndata: 45678\n\n";
    CHECK(parse_cut(ok, strlen(ok), NULL, 0, 10, &g, NULL) == 0);
    CHECK(g.n == 2);
    CHECK_STR_EQ(g.data[1], "0123\n45678");
    /* One more byte of joined data is over the cap. */
    const char *big = "data: 0123\ndata: 456789\n\n";
    CHECK(parse_cut(big, strlen(big), NULL, 0, 10, &g, NULL) == -1);
    CHECK(g.n == 0);
    /* A line over the cap, whole in one feed or growing across feeds; the error is sticky. */
    char line[64];
    memset(line, 'x', sizeof line);
    sse_parser_init(&p, 10);
    memset(&g, 0, sizeof g);
    CHECK(sse_parser_feed(&p, line, sizeof line, got_event, &g) == -1);
    CHECK(p.err == 1);
    CHECK(sse_parser_feed(&p, "data: a\n\n", 9, got_event, &g) == -1);
    CHECK(g.n == 0);
    sse_parser_free(&p);
    sse_parser_init(&p, 10);
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++)
        rc = sse_parser_feed(&p, "y", 1, got_event, &g);
    CHECK(rc == -1 && p.err == 1);
    sse_parser_free(&p);
    memset(line, 'z', sizeof line);
    memcpy(line, "id: ", 4);
    line[40] = '\n';
    CHECK(parse_cut(line, 41, NULL, 0, 1024, &g, NULL) == 0); /* 36-byte id: fits 256 */
    char longid[300];
    memset(longid, '1', sizeof longid);
    memcpy(longid, "id: ", 4);
    longid[299] = '\n';
    CHECK(parse_cut(longid, sizeof longid, NULL, 0, 1024, &g, NULL) == -1);
    char longtype[80];
    memset(longtype, 'e', sizeof longtype);
    memcpy(longtype, "event: ", 7);
    longtype[79] = '\n';
    CHECK(parse_cut(longtype, sizeof longtype, NULL, 0, 1024, &g, NULL) == -1);
}

static void test_parse_stop(void)
{
    struct sse_parser p;
    struct got g;
    memset(&g, 0, sizeof g);
    g.stop_after = 1;
    sse_parser_init(&p, 64);
    const char *s = "data: a\n\ndata: b\n\n";
    CHECK(sse_parser_feed(&p, s, strlen(s), got_event, &g) == -1);
    CHECK(p.err == 2);
    CHECK(g.n == 1);
    CHECK(sse_parser_feed(&p, s, strlen(s), got_event, &g) == -1);
    CHECK(g.n == 1);
    sse_parser_free(&p);
}

/* ---- both ---------------------------------------------------------------------------------- */

static void test_round_trip(void)
{
    const char *datas[] = {"", "x", "{\"text\":\"줄\\n바꿈\"}", "a\nb", "a\r\nb\rc\n", "\n\n",
                           " spaced", ":colon", "data: inner"};
    const char *norm[] = {"", "x", "{\"text\":\"줄\\n바꿈\"}", "a\nb", "a\nb\nc\n", "\n\n",
                          " spaced", ":colon", "data: inner"};
    for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++) {
        struct buf b;
        buf_init(&b, 4096);
        CHECK(sse_write_event(&b, "42-1", "delta", datas[i], strlen(datas[i])) == 0);
        CHECK(sse_write_comment(&b, "ping") == 0);
        CHECK(sse_write_event(&b, NULL, NULL, datas[i], strlen(datas[i])) == 0);
        struct got g;
        for (size_t cut = 0; cut <= b.len; cut++) {
            CHECK(parse_cut(b.data, b.len, &cut, 1, 1024, &g, NULL) == 0);
            CHECK(g.n == 2);
            CHECK_STR_EQ(g.id[0], "42-1");
            CHECK_STR_EQ(g.type[0], "delta");
            CHECK_STR_EQ(g.data[0], norm[i]);
            CHECK_STR_EQ(g.id[1], "42-1");
            CHECK_STR_EQ(g.type[1], "message");
            CHECK_STR_EQ(g.data[1], norm[i]);
        }
        buf_free(&b);
    }
}

int main(void)
{
    RUN(test_write_event_exact);
    RUN(test_write_event_multiline);
    RUN(test_write_event_binary_data);
    RUN(test_write_event_rejects_newline_in_id_or_type);
    RUN(test_write_is_all_or_nothing_at_the_cap);
    RUN(test_write_comment);
    RUN(test_parse_every_split_every_line_end);
    RUN(test_parse_crlf_split_is_one_line_end);
    RUN(test_parse_fields);
    RUN(test_parse_ids);
    RUN(test_parse_data_with_nul);
    RUN(test_parse_caps);
    RUN(test_parse_stop);
    RUN(test_round_trip);
    return test_summary();
}
