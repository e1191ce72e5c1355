/* Unit tests for common/core/log.c: every line one JSON object (parsed back with json-c), escaping
 * and UTF-8 repair, typed fields of log_event, cutting long lines, levels, context, tags. The
 * lines are caught by pointing stderr at a temporary file. */
#include "core/log.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>

#include "test.h"
#include "core/utf8.h"

static FILE *cap;
static int saved_fd = -1;

static void capture_begin(void)
{
    cap = tmpfile();
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    dup2(fileno(cap), STDERR_FILENO);
}

/* Stops capturing; returns what was written (malloc'd). */
static char *capture_end(size_t *len)
{
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    long n = ftell(cap);
    char *s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(cap);
    *len = fread(s, 1, (size_t)(n > 0 ? n : 0), cap);
    fclose(cap);
    return s;
}

/* The lines of out, each parsed; returns how many (at most max), NULL for a line that is not
 * a JSON object. */
static size_t parse_lines(char *out, json_object **objs, size_t max)
{
    size_t n = 0;
    for (char *line = out, *nl; *line && n < max; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        json_object *o = json_tokener_parse(line);
        objs[n++] = o && json_object_is_type(o, json_type_object) ? o : NULL;
        if (o && !objs[n - 1])
            json_object_put(o);
    }
    return n;
}

static json_object *field(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *sfield(json_object *o, const char *k)
{
    json_object *v = field(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void free_all(json_object **objs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_put(objs[i]);
}

static void test_head_and_message(void)
{
    log_init("/usr/bin/nova-test", LOG_INFO);
    capture_begin();
    log_info("hello %s %d", "world", 42);
    log_rid(LOG_WARN, "0123456789abcdef0123456789abcdef", "about %s", "a request");
    size_t len;
    char *out = capture_end(&len);
    json_object *o[4];
    size_t n = parse_lines(out, o, 4);
    CHECK(n == 2 && o[0] && o[1]);
    if (n == 2 && o[0] && o[1]) {
        CHECK_STR_EQ(sfield(o[0], "level"), "info");
        CHECK_STR_EQ(sfield(o[0], "proc"), "nova-test");
        CHECK(json_object_get_int64(field(o[0], "pid")) == (int64_t)getpid());
        CHECK_STR_EQ(sfield(o[0], "msg"), "hello world 42");
        const char *ts = sfield(o[0], "ts");
        /* 2026-01-02T03:04:05.678Z */
        CHECK(ts && strlen(ts) == 24 && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
        CHECK(field(o[0], "rid") == NULL);
        CHECK_STR_EQ(sfield(o[1], "level"), "warn");
        CHECK_STR_EQ(sfield(o[1], "rid"), "0123456789abcdef0123456789abcdef");
        CHECK_STR_EQ(sfield(o[1], "msg"), "about a request");
        /* ts, level, proc, pid come first, in that order */
        CHECK(strncmp(out, "{\"ts\":\"", 7) == 0);
    }
    free_all(o, n);
    free(out);
}

static void test_escaping_and_utf8_repair(void)
{
    log_init("t", LOG_INFO);
    capture_begin();
    log_info("q\" b\\ n\n t\t c\x01 del\x7f bad\xff\xfe ko폴 emoji😀 cut\xed\x8f end");
    size_t len;
    char *out = capture_end(&len);
    /* one line: the newline inside the message is escaped */
    CHECK(len > 0 && out[len - 1] == '\n' && memchr(out, '\n', len - 1) == NULL);
    CHECK(utf8_valid(out, len));
    json_object *o[2];
    size_t n = parse_lines(out, o, 2);
    CHECK(n == 1 && o[0]);
    if (n == 1 && o[0])
        CHECK_STR_EQ(sfield(o[0], "msg"),
                     "q\" b\\ n\n t\t c\x01 del\x7f bad\xEF\xBF\xBD\xEF\xBF\xBD ko폴 emoji😀 "
                     "cut\xEF\xBF\xBD\xEF\xBF\xBD end");
    free_all(o, n);
    free(out);
}

static void test_event_fields_are_typed(void)
{
    log_init("t", LOG_INFO);
    capture_begin();
    size_t z = 12;
    long long big = 1234567890123LL;
    unsigned long ul = 7;
    const char *volatile none = NULL; /* not a literal: GCC would refuse it */
    log_event(LOG_INFO, "abc", "request",
              "method=%s status=%d bytes=%zu elapsed_ms=%lld n=%lu ratio=%.2f whole=%.0f "
              "name=%s nan=%f end=done mixed=%dms pct=100%% hex=%x gone",
              "GET", 200, z, big, ul, 0.25, 12.7, none, NAN, 5, 255);
    size_t len;
    char *out = capture_end(&len);
    json_object *o[2];
    size_t n = parse_lines(out, o, 2);
    CHECK(n == 1 && o[0]);
    if (n == 1 && o[0]) {
        json_object *e = o[0];
        CHECK_STR_EQ(sfield(e, "rid"), "abc");
        CHECK_STR_EQ(sfield(e, "event"), "request");
        CHECK_STR_EQ(sfield(e, "method"), "GET");
        CHECK(json_object_is_type(field(e, "status"), json_type_int) &&
              json_object_get_int(field(e, "status")) == 200);
        CHECK(json_object_get_int64(field(e, "bytes")) == 12);
        CHECK(json_object_get_int64(field(e, "elapsed_ms")) == big);
        CHECK(json_object_get_int64(field(e, "n")) == 7);
        CHECK(json_object_is_type(field(e, "ratio"), json_type_double) &&
              fabs(json_object_get_double(field(e, "ratio")) - 0.25) < 1e-9);
        CHECK(json_object_get_int64(field(e, "whole")) == 13);
        CHECK(json_object_object_get_ex(e, "name", NULL) && field(e, "name") == NULL); /* null */
        CHECK(json_object_object_get_ex(e, "nan", NULL) && field(e, "nan") == NULL);
        CHECK_STR_EQ(sfield(e, "end"), "done");
        CHECK_STR_EQ(sfield(e, "mixed"), "5ms");
        CHECK_STR_EQ(sfield(e, "pct"), "100%");
        CHECK_STR_EQ(sfield(e, "hex"), "ff");
        CHECK(json_object_get_boolean(field(e, "gone")));
    }
    free_all(o, n);
    free(out);
}

static void test_long_lines_are_cut_but_valid(void)
{
    log_init("t", LOG_INFO);
    size_t big = 3 * LOG_LINE_MAX;
    char *ascii = malloc(big + 1), *quotes = malloc(big + 1), *korean = malloc(big + 1);
    memset(ascii, 'a', big);
    memset(quotes, '"', big);
    ascii[big] = quotes[big] = '\0';
    size_t k = 0;
    while (k + 3 <= big) { /* 폴 폴 폴 ... */
        memcpy(korean + k, "\xED\x8F\xB4", 3);
        k += 3;
    }
    korean[k] = '\0';
    capture_begin();
    log_info("%s", ascii);
    log_info("%s", quotes);
    log_event(LOG_INFO, NULL, "x", "text=%s after=%d", korean, 1);
    size_t len;
    char *out = capture_end(&len);
    CHECK(utf8_valid(out, len));
    json_object *o[4];
    char *copy = strdup(out);
    size_t n = parse_lines(copy, o, 4);
    CHECK(n == 3);
    for (size_t i = 0; i < n; i++) {
        CHECK(o[i] != NULL);
        CHECK(json_object_get_boolean(field(o[i], "cut")));
    }
    if (n == 3 && o[2]) {
        CHECK(field(o[2], "after") == NULL); /* dropped after the cut */
        const char *t = sfield(o[2], "text");
        CHECK(t && strlen(t) > 1000 && strlen(t) % 3 == 0);
    }
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1)
        CHECK((size_t)(nl - line + 1) <= LOG_LINE_MAX);
    free_all(o, n);
    free(copy);
    free(out);
    free(ascii);
    free(quotes);
    free(korean);
}

/* A string that ends exactly at the limit puts its closing quote into the reserve: the next
 * field must then be dropped (cut), not written past the buffer (found by fuzz_log). */
static void test_field_after_a_full_string(void)
{
    for (size_t fill = 0; fill < 64; fill++) {
        struct log_line l;
        log_line_begin(&l, LOG_INFO, NULL, NULL);
        size_t n = LOG_LINE_MAX - 16 - l.len - 9 + fill - 32; /* around ,"msg":"...| */
        char *s = malloc(n + 1);
        memset(s, 'x', n);
        s[n] = '\0';
        log_line_strn(&l, "msg", s, n);
        log_line_strn(&l, "again", s, n);
        log_line_int(&l, "n", 1);
        log_line_end(&l);
        CHECK(l.len < LOG_LINE_MAX && l.buf[l.len - 1] == '\n');
        json_object *o = json_tokener_parse(l.buf);
        CHECK(o && json_object_is_type(o, json_type_object));
        json_object_put(o);
        free(s);
    }
}

static void test_levels_filter(void)
{
    log_init("t", LOG_WARN);
    capture_begin();
    log_info("not shown");
    log_debug("not shown");
    log_event(LOG_INFO, NULL, "e", "n=%d", 1);
    log_warn("shown");
    size_t len;
    char *out = capture_end(&len);
    CHECK(strstr(out, "not shown") == NULL && strstr(out, "\"e\"") == NULL);
    CHECK(strstr(out, "shown") != NULL);
    CHECK(log_enabled(LOG_ERROR) && !log_enabled(LOG_INFO));
    enum log_level lv;
    CHECK(log_level_parse("debug", &lv) == 0 && lv == LOG_DEBUG);
    CHECK(log_level_parse("loud", &lv) < 0);
    free(out);
    log_init("t", LOG_INFO);
}

static void test_context_and_tags(void)
{
    log_init("nova-worker", LOG_INFO);
    log_context("worker", "micro-host-1");
    log_context("queue", "micro");
    capture_begin();
    log_info("x");
    size_t len;
    char *out = capture_end(&len);
    json_object *o[2];
    size_t n = parse_lines(out, o, 2);
    CHECK(n == 1 && o[0]);
    if (n == 1 && o[0]) {
        CHECK_STR_EQ(sfield(o[0], "worker"), "micro-host-1");
        CHECK_STR_EQ(sfield(o[0], "queue"), "micro");
    }
    free_all(o, n);
    free(out);
    char a[LOG_TAG_LEN + 1], b[LOG_TAG_LEN + 1], c[LOG_TAG_LEN + 1];
    log_tag("session-secret-1", a);
    log_tag("session-secret-1", b);
    log_tag("session-secret-2", c);
    CHECK(strlen(a) == LOG_TAG_LEN && strcmp(a, b) == 0 && strcmp(a, c) != 0);
    CHECK(strstr(a, "session") == NULL);
}

int main(void)
{
    RUN(test_head_and_message);
    RUN(test_escaping_and_utf8_repair);
    RUN(test_event_fields_are_typed);
    RUN(test_long_lines_are_cut_but_valid);
    RUN(test_field_after_a_full_string);
    RUN(test_levels_filter);
    RUN(test_context_and_tags); /* last: the context stays for the rest of the process */
    return test_summary();
}
