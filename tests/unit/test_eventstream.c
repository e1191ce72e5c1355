/* test_eventstream: the event stream codec (common/aws/eventstream.c) against the published test
 * vectors, fed whole, one byte at a time, in every two-piece split and as one concatenated
 * stream in random pieces; the negative vectors and the caps; the encoder. Every decoded message
 * is deep-copied out of the callback, so a pointer kept past it would show under ASan/valgrind. */
#include "aws/eventstream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "test.h"

/* ---- the vectors ----------------------------------------------------------------------------
 * Vectors 1-9 and N1-N5: boto/botocore tests/unit/test_eventstream.py (commit
 * 0e6e2404b85dc336dd2889814e089bde7d1a4c55); 1, 6 and 7 also in awslabs/aws-c-event-stream
 * tests/message_deserializer_test.c (commit d47b14c6ef0cc51701671f99e7e3ff504f730381).
 * Vector 10: smithy-lang/smithy-typescript packages/eventstream-codec/src/TestVectors.fixture.ts
 * (commit 67ade41ace395f90e67d2069900554fd38e15af4), the same data as aws/aws-sdk-go
 * private/protocol/eventstream/testdata/.../all_headers. Copied from
 * /work/shared/vectors/eventstream/vectors.txt; test_vectors_file_matches proves the copy. */

struct exp_header {
    const char *name;
    enum es_header_type type;
    int64_t i;      /* BYTE, INT16, INT32, INT64, TIMESTAMP */
    const char *s;  /* BYTES, STRING, UUID */
    size_t slen;
};

#define XS(lit) .s = (lit), .slen = sizeof(lit) - 1

struct vector {
    const char *name;
    const char *hex;
    uint32_t total_len, headers_len, prelude_crc, message_crc;
    size_t n_headers;
    struct exp_header h[10];
    const char *payload;
};

static const struct vector vectors[] = {
    { "v01_empty_message", "000000100000000005c248eb7d98c8ff", 16, 0, 0x05C248EB, 0x7D98C8FF, 0,
      { { 0 } }, "" },
    { "v02_int8_header", "000000170000000729860158046279746502ffc2f869dc", 0x17, 7, 0x29860158,
      0xC2F869DC, 1, { { "byte", ES_TYPE_BYTE, -1 } }, "" },
    { "v03_int16_header", "0000001900000009710e923e0573686f727403ffffb27cb6cc", 0x19, 9,
      0x710E923E, 0xB27CB6CC, 1, { { "short", ES_TYPE_INT16, -1 } }, "" },
    { "v04_int32_header", "0000001d0000000d83e3f0e707696e746567657204ffffffff8b8e12eb", 0x1D, 0xD,
      0x83E3F0E7, 0x8B8E12EB, 1, { { "integer", ES_TYPE_INT32, -1 } }, "" },
    { "v05_int64_header", "0000001e0000000e5d4adb8d046c6f6e6705ffffffffffffffff4bc232da", 0x1E,
      0xE, 0x5D4ADB8D, 0x4BC232DA, 1, { { "long", ES_TYPE_INT64, -1 } }, "" },
    { "v06_payload_no_headers", "0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936", 0x1D,
      0, 0xFD528C5A, 0xC3653936, 0, { { 0 } }, "{'foo':'bar'}" },
    { "v07_payload_one_str_header",
      "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c"
      "69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1",
      0x3D, 0x20, 0x07FD8396, 0x8D9C08B1, 1,
      { { "content-type", ES_TYPE_STRING, 0, XS("application/json") } }, "{'foo':'bar'}" },
    { "v08_all_headers_types",
      "000000620000005203b5cb9c0130000131010132020201330300030134040000"
      "0004013505000000000000000501360600056279746573013707000475746638"
      "0138080000000000000008013909303132333435363738396162636465666335"
      "3671",
      0x62, 0x52, 0x03B5CB9C, 0x63353671, 10,
      { { "0", ES_TYPE_BOOL_TRUE },
        { "1", ES_TYPE_BOOL_FALSE },
        { "2", ES_TYPE_BYTE, 2 },
        { "3", ES_TYPE_INT16, 3 },
        { "4", ES_TYPE_INT32, 4 },
        { "5", ES_TYPE_INT64, 5 },
        { "6", ES_TYPE_BYTES, 0, XS("bytes") },
        { "7", ES_TYPE_STRING, 0, XS("utf8") },
        { "8", ES_TYPE_TIMESTAMP, 8 },
        { "9", ES_TYPE_UUID, 0, XS("0123456789abcdef") } },
      "" },
    { "v09_error_event_message",
      "0000005200000042bf23637e0d3a6d6573736167652d74797065070005657272"
      "6f720b3a6572726f722d636f6465070004636f64650e3a6572726f722d6d6573"
      "736167650700076d6573736167656b6cea3d",
      0x52, 0x42, 0xBF23637E, 0x6B6CEA3D, 3,
      { { ":message-type", ES_TYPE_STRING, 0, XS("error") },
        { ":error-code", ES_TYPE_STRING, 0, XS("code") },
        { ":error-message", ES_TYPE_STRING, 0, XS("message") } },
      "" },
    /* vectors.txt gives this message CRC as "0xABA5F10C (3758045736)": the hex is right (it is
     * what the wire bytes end with and what zlib computes), the decimal is not; 2879779084. */
    { "v10_all_headers",
      "000000cc000000af0fae64ca0a6576656e742d74797065040000a00c0c636f6e"
      "74656e742d747970650700106170706c69636174696f6e2f6a736f6e0a626f6f"
      "6c2066616c73650109626f6f6c207472756500046279746502cf086279746520"
      "62756606001449276d2061206c6974746c6520746561706f74210974696d6573"
      "74616d70080000000000845fed05696e74313603002a05696e74363405000000"
      "00028757b20475756964090102030405060708090a0b0c0d0e0f107b27666f6f"
      "273a27626172277daba5f10c",
      204, 175, 0x0FAE64CA, 0xABA5F10C, 10,
      { { "event-type", ES_TYPE_INT32, 40972 },
        { "content-type", ES_TYPE_STRING, 0, XS("application/json") },
        { "bool false", ES_TYPE_BOOL_FALSE },
        { "bool true", ES_TYPE_BOOL_TRUE },
        { "byte", ES_TYPE_BYTE, -49 },
        { "byte buf", ES_TYPE_BYTES, 0, XS("I'm a little teapot!") },
        { "timestamp", ES_TYPE_TIMESTAMP, 8675309 },
        { "int16", ES_TYPE_INT16, 42 },
        { "int64", ES_TYPE_INT64, 42424242 },
        { "uuid", ES_TYPE_UUID, 0,
          XS("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10") } },
      "{'foo':'bar'}" },
};
#define N_VECTORS (sizeof vectors / sizeof vectors[0])

struct neg_vector {
    const char *name;
    const char *hex;
    enum es_error err;
    size_t fail_at;      /* byte count at which the decoder must fail when fed bytewise */
    const char *errstr;  /* expected start of d->errstr */
};

static const struct neg_vector neg_vectors[] = {
    { "n1_corrupted_length", "0100001d00000000fd528c5a7b27666f6f273a27626172277dc3653936",
      ES_ERR_PRELUDE_CRC, 12, "prelude CRC mismatch: got 0xfd528c5a want 0x" },
    { "n2_corrupted_payload", "0000001d00000000fd528c5a7b27666f6f273a27626172278dc3653936",
      ES_ERR_MESSAGE_CRC, 29, "message CRC mismatch: got 0xc3653936 want 0x" },
    { "n3_corrupted_headers",
      "0000003d0000002007fd83960c636f6e74656e742b747970650700106170706c"
      "69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1",
      ES_ERR_MESSAGE_CRC, 61, "message CRC mismatch: got 0x8d9c08b1 want 0x" },
    { "n4_duplicate_header",
      "00000024000000144bb982d00474657374046173646604746573740461736466"
      "f3f47563",
      ES_ERR_DUPLICATE, 36, "duplicate header name \"test\"" },
    { "n5_invalid_headers_length",
      "0000003dff000102 1583f5c2 0c636f6e74656e742d74797065070010 6170706c69636174696f6e2f6a736f6e "
      "7b27666f6f273a27626172277d 2f377f5d",
      ES_ERR_LENGTH, 12, "headers_length 4278190338 over the" },
};
#define N_NEG (sizeof neg_vectors / sizeof neg_vectors[0])

/* ---- helpers -------------------------------------------------------------------------------- */

static char test_name_buf[128];

static void begin(const char *prefix, const char *name)
{
    snprintf(test_name_buf, sizeof test_name_buf, "%s%s", prefix, name);
    test_begin(test_name_buf);
}

/* Hex (whitespace ignored) to bytes; *len set. The caller frees. */
static uint8_t *unhex(const char *hex, size_t *len)
{
    uint8_t *out = xmalloc(strlen(hex) / 2 + 1);
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *len = n;
    return out;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc(const void *p, size_t n)
{
    return (uint32_t)crc32(0L, p, (uInt)n);
}

/* A frame around raw header bytes with correct CRCs, so the header decoder itself is tested. */
static uint8_t *raw_frame(const void *hdrs, size_t hlen, const void *payload, size_t plen,
                          size_t *len)
{
    size_t total = 16 + hlen + plen;
    uint8_t *f = xmalloc(total);
    put32(f, (uint32_t)total);
    put32(f + 4, (uint32_t)hlen);
    put32(f + 8, crc(f, 8));
    memcpy(f + 12, hdrs, hlen);
    if (plen)
        memcpy(f + 12 + hlen, payload, plen);
    put32(f + total - 4, crc(f, total - 4));
    *len = total;
    return f;
}

/* A deep copy of one decoded message, owned by the test. */
struct got_header {
    char *name;
    size_t name_len;
    enum es_header_type type;
    bool b;
    int64_t i;
    uint8_t *bytes;
    size_t len;
};

struct got_msg {
    uint32_t total_len, headers_len, prelude_crc, message_crc;
    size_t n_headers;
    struct got_header *h;
    uint8_t *payload;
    size_t payload_len;
};

struct sink {
    struct got_msg *msgs;
    size_t n, cap;
    size_t stop_at; /* the callback returns 1 once this many messages arrived (0: never) */
};

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *q = xmalloc(n + 1);
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    return q;
}

static int sink_fn(void *user, const struct es_message *m)
{
    struct sink *s = user;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->msgs = xrealloc(s->msgs, s->cap * sizeof *s->msgs);
    }
    struct got_msg *g = &s->msgs[s->n++];
    g->total_len = m->total_len;
    g->headers_len = m->headers_len;
    g->prelude_crc = m->prelude_crc;
    g->message_crc = m->message_crc;
    g->n_headers = m->n_headers;
    g->h = xcalloc(m->n_headers + 1, sizeof *g->h);
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct es_header *h = &m->headers[i];
        struct got_header *gh = &g->h[i];
        gh->name = (char *)dup_bytes(h->name, h->name_len);
        gh->name_len = h->name_len;
        gh->type = h->type;
        if (h->type == ES_TYPE_BOOL_TRUE || h->type == ES_TYPE_BOOL_FALSE) {
            gh->b = h->v.b;
        } else if (h->type == ES_TYPE_BYTES || h->type == ES_TYPE_STRING ||
                   h->type == ES_TYPE_UUID) {
            gh->bytes = dup_bytes(h->v.bytes.p, h->v.bytes.len);
            gh->len = h->v.bytes.len;
        } else {
            gh->i = h->v.i;
        }
    }
    g->payload = dup_bytes(m->payload, m->payload_len);
    g->payload_len = m->payload_len;
    return s->stop_at && s->n >= s->stop_at;
}

static int ignore_fn(void *user, const struct es_message *m)
{
    (void)user;
    (void)m;
    return 0;
}

static void sink_free(struct sink *s)
{
    for (size_t k = 0; k < s->n; k++) {
        for (size_t i = 0; i < s->msgs[k].n_headers; i++) {
            free(s->msgs[k].h[i].name);
            free(s->msgs[k].h[i].bytes);
        }
        free(s->msgs[k].h);
        free(s->msgs[k].payload);
    }
    free(s->msgs);
    memset(s, 0, sizeof *s);
}

static void check_msg(const struct got_msg *g, const struct vector *v)
{
    CHECK(g->total_len == v->total_len);
    CHECK(g->headers_len == v->headers_len);
    CHECK(g->prelude_crc == v->prelude_crc);
    CHECK(g->message_crc == v->message_crc);
    CHECK(g->n_headers == v->n_headers);
    for (size_t i = 0; i < g->n_headers && i < v->n_headers; i++) {
        const struct got_header *gh = &g->h[i];
        const struct exp_header *e = &v->h[i];
        CHECK(gh->name_len == strlen(e->name) && memcmp(gh->name, e->name, gh->name_len) == 0);
        CHECK(gh->type == e->type);
        switch (e->type) {
        case ES_TYPE_BOOL_TRUE:
            CHECK(gh->b);
            break;
        case ES_TYPE_BOOL_FALSE:
            CHECK(!gh->b);
            break;
        case ES_TYPE_BYTES:
        case ES_TYPE_STRING:
        case ES_TYPE_UUID:
            CHECK(gh->len == e->slen && memcmp(gh->bytes, e->s, e->slen) == 0);
            break;
        default:
            CHECK(gh->i == e->i);
            break;
        }
    }
    CHECK(g->payload_len == strlen(v->payload));
    CHECK(memcmp(g->payload, v->payload, g->payload_len) == 0);
}

/* Feeds p[0..len) cut at the offsets in cuts[] (ascending), then finishes. Returns the first
 * non-zero return of feed or finish. */
static int feed_cuts(struct es_decoder *d, struct sink *s, const uint8_t *p, size_t len,
                     const size_t *cuts, size_t n_cuts)
{
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        if (es_decoder_feed(d, p + at, end - at, sink_fn, s) < 0)
            return -1;
        at = end;
    }
    return es_decoder_finish(d);
}

static int decode_whole(const uint8_t *p, size_t len, struct sink *s, struct es_decoder *d)
{
    es_decoder_init(d);
    return feed_cuts(d, s, p, len, NULL, 0);
}

static uint32_t rng_state = 0x9e3779b9u;

static uint32_t rng(void) /* xorshift32: a fixed, portable sequence */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* ---- positive vectors ----------------------------------------------------------------------- */

static void test_vector_whole(const struct vector *v)
{
    size_t len;
    uint8_t *b = unhex(v->hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(len == v->total_len);
    CHECK(decode_whole(b, len, &s, &d) == 0);
    CHECK(d.err == ES_OK && d.messages == 1);
    CHECK(s.n == 1);
    if (s.n == 1)
        check_msg(&s.msgs[0], v);
    es_decoder_free(&d);
    sink_free(&s);
    free(b);
}

static void test_vector_bytewise(const struct vector *v)
{
    size_t len;
    uint8_t *b = unhex(v->hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    es_decoder_init(&d);
    for (size_t i = 0; i < len; i++) {
        CHECK(s.n == 0); /* nothing before the last byte */
        CHECK(es_decoder_feed(&d, b + i, 1, sink_fn, &s) == 0);
    }
    CHECK(es_decoder_finish(&d) == 0);
    CHECK(s.n == 1);
    if (s.n == 1)
        check_msg(&s.msgs[0], v);
    es_decoder_free(&d);
    sink_free(&s);
    free(b);
}

static void test_vector_splits(const struct vector *v)
{
    size_t len;
    uint8_t *b = unhex(v->hex, &len);
    for (size_t cut = 0; cut <= len; cut++) {
        struct es_decoder d;
        struct sink s = { 0 };
        es_decoder_init(&d);
        CHECK(feed_cuts(&d, &s, b, len, &cut, 1) == 0);
        CHECK(s.n == 1);
        if (s.n == 1)
            check_msg(&s.msgs[0], v);
        es_decoder_free(&d);
        sink_free(&s);
    }
    free(b);
}

/* All positive vectors back to back, three times over, as one stream. */
static uint8_t *concat_stream(size_t *len, size_t rounds)
{
    struct buf all;
    buf_init(&all, 1 << 20);
    for (size_t r = 0; r < rounds; r++)
        for (size_t k = 0; k < N_VECTORS; k++) {
            size_t n;
            uint8_t *b = unhex(vectors[k].hex, &n);
            buf_append(&all, b, n);
            free(b);
        }
    return (uint8_t *)buf_steal(&all, len);
}

static void test_concatenated_one_feed(void)
{
    size_t len;
    uint8_t *all = concat_stream(&len, 3);
    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(decode_whole(all, len, &s, &d) == 0);
    CHECK(s.n == 3 * N_VECTORS && d.messages == 3 * N_VECTORS);
    for (size_t k = 0; k < s.n; k++)
        check_msg(&s.msgs[k], &vectors[k % N_VECTORS]);
    es_decoder_free(&d);
    sink_free(&s);
    free(all);
}

static void test_concatenated_random_pieces(void)
{
    size_t len;
    uint8_t *all = concat_stream(&len, 3);
    static const size_t max_piece[] = { 2, 7, 13, 64, 300, 1000 };
    rng_state = 0x9e3779b9u;
    for (size_t m = 0; m < sizeof max_piece / sizeof max_piece[0]; m++) {
        for (int round = 0; round < 20; round++) {
            size_t cuts[2048], n = 0, at = 0;
            for (;;) {
                at += 1 + rng() % max_piece[m];
                if (at >= len || n == 2048)
                    break;
                cuts[n++] = at;
            }
            struct es_decoder d;
            struct sink s = { 0 };
            es_decoder_init(&d);
            CHECK(feed_cuts(&d, &s, all, len, cuts, n) == 0);
            CHECK(s.n == 3 * N_VECTORS);
            for (size_t k = 0; k < s.n; k++)
                check_msg(&s.msgs[k], &vectors[k % N_VECTORS]);
            es_decoder_free(&d);
            sink_free(&s);
        }
    }
    free(all);
}

/* ---- negative vectors ----------------------------------------------------------------------- */

static void test_negative(const struct neg_vector *v)
{
    size_t len;
    uint8_t *b = unhex(v->hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };

    CHECK(decode_whole(b, len, &s, &d) == -1);
    CHECK(d.err == v->err);
    CHECK(s.n == 0 && d.messages == 0);
    if (strncmp(d.errstr, v->errstr, strlen(v->errstr)) != 0) {
        fprintf(stderr, "  errstr [%s] does not start with [%s]\n", d.errstr, v->errstr);
        CHECK(!"errstr as expected");
    }
    es_decoder_free(&d);

    /* Fed one byte at a time it must fail at exactly the byte that completes the evidence. */
    es_decoder_init(&d);
    size_t i;
    for (i = 0; i < len; i++)
        if (es_decoder_feed(&d, b + i, 1, sink_fn, &s) < 0)
            break;
    CHECK(i + 1 == v->fail_at);
    CHECK(d.err == v->err);
    CHECK(s.n == 0);
    es_decoder_free(&d);
    sink_free(&s);
    free(b);
}

/* botocore's INVALID_PAYLOAD_LENGTH: total_length 0x01800021, headers_length 0, so the payload
 * is 24 MiB + 17. It must be refused on the prelude alone, with nothing of the body buffered. */
static void test_invalid_payload_length(void)
{
    uint8_t pre[12 + 4096];
    put32(pre, 0x01800021u);
    put32(pre + 4, 0);
    put32(pre + 8, crc(pre, 8));
    memset(pre + 12, '0', sizeof pre - 12);

    struct es_decoder d;
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, pre, 11, ignore_fn, NULL) == 0);
    CHECK(es_decoder_feed(&d, pre + 11, 1, ignore_fn, NULL) == -1);
    CHECK(d.err == ES_ERR_LENGTH);
    CHECK(strstr(d.errstr, "payload length 25165841 over the 25165824-byte cap") != NULL);
    CHECK(d.frame.len == 12 && d.frame.cap < 64);
    es_decoder_free(&d);

    /* Prelude and the start of the body in one call: still refused, body not copied. */
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, pre, sizeof pre, ignore_fn, NULL) == -1);
    CHECK(d.err == ES_ERR_LENGTH && d.frame.len == 12 && d.frame.cap < 64);
    es_decoder_free(&d);
}

/* Length checks the vectors do not reach, each with a correct prelude CRC. */
static void test_prelude_lengths(void)
{
    static const struct {
        uint32_t total, hlen;
        const char *err; /* expected errstr start; NULL: accepted */
    } cases[] = {
        { 15, 0, "total_length 15 below the 16-byte minimum" },
        { 0, 0, "total_length 0 below" },
        { 16, 1, "headers_length 1 does not fit in total_length 16" },
        { 100, 85, "headers_length 85 does not fit" },
        { 100, 84, NULL },
        { 16 + 128 * 1024 + 1, 128 * 1024 + 1, "headers_length 131073 over the 131072-byte cap" },
        { 16 + 128 * 1024, 128 * 1024, NULL },
        { 16 + 24 * 1024 * 1024, 0, NULL }, /* payload exactly at the cap */
        { 16 + 24 * 1024 * 1024 + 1, 0, "payload length 25165825 over the 25165824-byte cap" },
        { 16 + 128 * 1024 + 24 * 1024 * 1024, 128 * 1024, NULL }, /* both at their caps */
        { 0xffffffffu, 0, "payload length" },
        { 0xffffffffu, 0xffffffefu, "headers_length 4294967279 over" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t pre[12];
        put32(pre, cases[i].total);
        put32(pre + 4, cases[i].hlen);
        put32(pre + 8, crc(pre, 8));
        struct es_decoder d;
        es_decoder_init(&d);
        int rc = es_decoder_feed(&d, pre, sizeof pre, ignore_fn, NULL);
        if (!cases[i].err) {
            CHECK(rc == 0);
            CHECK(es_decoder_finish(&d) == -1 && d.err == ES_ERR_TRUNCATED);
        } else {
            CHECK(rc == -1 && d.err == ES_ERR_LENGTH);
            if (strncmp(d.errstr, cases[i].err, strlen(cases[i].err)) != 0) {
                fprintf(stderr, "  case %zu: errstr [%s] does not start with [%s]\n", i,
                        d.errstr, cases[i].err);
                CHECK(!"errstr as expected");
            }
        }
        es_decoder_free(&d);
    }
}

/* botocore test_partial_message: EMPTY_MESSAGE[:15] gives nothing, the last byte gives it. */
static void test_partial_message(void)
{
    size_t len;
    uint8_t *b = unhex(vectors[0].hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, b, 15, sink_fn, &s) == 0);
    CHECK(s.n == 0);
    CHECK(es_decoder_feed(&d, b + 15, 1, sink_fn, &s) == 0);
    CHECK(s.n == 1);
    if (s.n == 1)
        check_msg(&s.msgs[0], &vectors[0]);
    CHECK(es_decoder_finish(&d) == 0);
    es_decoder_free(&d);
    sink_free(&s);
    free(b);
}

static void test_finish_truncated(void)
{
    size_t len;
    uint8_t *b = unhex(vectors[6].hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };

    es_decoder_init(&d); /* nothing fed: a clean end */
    CHECK(es_decoder_finish(&d) == 0);
    es_decoder_free(&d);

    static const size_t cut_at[] = { 1, 11, 12, 13, 60 };
    for (size_t i = 0; i < sizeof cut_at / sizeof cut_at[0]; i++) {
        es_decoder_init(&d);
        CHECK(es_decoder_feed(&d, b, len, sink_fn, &s) == 0); /* one whole message, then... */
        CHECK(es_decoder_feed(&d, b, cut_at[i], sink_fn, &s) == 0); /* ...part of another */
        CHECK(es_decoder_finish(&d) == -1);
        CHECK(d.err == ES_ERR_TRUNCATED);
        CHECK(strstr(d.errstr, "stream ended inside a message") != NULL);
        CHECK(es_decoder_feed(&d, b, len, sink_fn, &s) == -1); /* sticky */
        es_decoder_free(&d);
    }
    CHECK(s.n == 5);
    sink_free(&s);
    free(b);
}

static void test_sticky_error(void)
{
    size_t n1len, len;
    uint8_t *n1 = unhex(neg_vectors[0].hex, &n1len);
    uint8_t *good = unhex(vectors[5].hex, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, n1, n1len, sink_fn, &s) == -1);
    char saved[sizeof d.errstr];
    memcpy(saved, d.errstr, sizeof saved);
    CHECK(es_decoder_feed(&d, good, len, sink_fn, &s) == -1);
    CHECK(es_decoder_feed(&d, good, 0, sink_fn, &s) == -1);
    CHECK(es_decoder_finish(&d) == -1);
    CHECK(s.n == 0);
    CHECK(d.err == ES_ERR_PRELUDE_CRC);
    CHECK(strcmp(saved, d.errstr) == 0);
    es_decoder_free(&d);
    sink_free(&s);
    free(n1);
    free(good);
}

static void test_callback_stop(void)
{
    size_t len;
    uint8_t *all = concat_stream(&len, 1);
    struct es_decoder d;
    struct sink s = { .stop_at = 2 };
    CHECK(decode_whole(all, len, &s, &d) == -1);
    CHECK(d.err == ES_ERR_CALLBACK);
    CHECK(s.n == 2);
    CHECK(es_decoder_feed(&d, all, len, sink_fn, &s) == -1);
    CHECK(s.n == 2);
    es_decoder_free(&d);
    sink_free(&s);
    free(all);
}

/* Bad header blocks inside frames whose CRCs are right. */
static void test_bad_headers(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        enum es_error err;
        const char *msg;
    } cases[] = {
#define HB(lit) lit, sizeof(lit) - 1
        { HB("\x01" "a" "\x0a"), ES_ERR_HEADER, "unknown type 10" },
        { HB("\x01" "a" "\xff"), ES_ERR_HEADER, "unknown type 255" },
        { HB("\x00" "\x00"), ES_ERR_HEADER, "name length 0" },
        { HB("\x05" "ab"), ES_ERR_HEADER, "name or type truncated" },
        { HB("\x01" "a"), ES_ERR_HEADER, "name or type truncated" },
        { HB("\x01" "a" "\x07" "\x00"), ES_ERR_HEADER, "value length truncated" },
        { HB("\x01" "a" "\x06" "\x00\x05" "abc"), ES_ERR_HEADER, "value truncated" },
        { HB("\x01" "a" "\x09" "0123456789abcde"), ES_ERR_HEADER, "value truncated" },
        { HB("\x01" "a" "\x05" "\x00\x00\x00"), ES_ERR_HEADER, "value truncated" },
        { HB("\x01" "a" "\x02"), ES_ERR_HEADER, "value truncated" },
        { HB("\x01" "a" "\x00" "\x01" "b" "\x01" "\x00"), ES_ERR_HEADER, "header 2: name length 0" },
        { HB("\x01" "a" "\x00" "\x01" "a" "\x01"), ES_ERR_DUPLICATE, "duplicate header name \"a\"" },
        { HB("\x02" "a\n" "\x00" "\x02" "a\n" "\x00"), ES_ERR_DUPLICATE, "duplicate header name \"a?\"" },
#undef HB
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *f = raw_frame(cases[i].bytes, cases[i].len, "pl", 2, &len);
        struct es_decoder d;
        struct sink s = { 0 };
        CHECK(decode_whole(f, len, &s, &d) == -1);
        CHECK(d.err == cases[i].err);
        CHECK(s.n == 0);
        if (!strstr(d.errstr, cases[i].msg)) {
            fprintf(stderr, "  case %zu: errstr [%s] lacks [%s]\n", i, d.errstr, cases[i].msg);
            CHECK(!"errstr as expected");
        }
        es_decoder_free(&d);
        free(f);
    }
}

/* Names that are prefixes of each other, or differ only in case, are different names. */
static void test_similar_names_not_duplicate(void)
{
    static const char h[] = "\x01" "a" "\x00" "\x02" "ab" "\x00" "\x01" "A" "\x00"
                            "\x03" "abc" "\x01";
    size_t len;
    uint8_t *f = raw_frame(h, sizeof h - 1, NULL, 0, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(decode_whole(f, len, &s, &d) == 0);
    CHECK(s.n == 1 && s.msgs[0].n_headers == 4);
    es_decoder_free(&d);
    sink_free(&s);
    free(f);
}

/* Many headers take the hashed duplicate check: 32768 distinct two-byte names (a 128 KiB
 * header block) decode, and one repeated name among 2000 is caught wherever it is. */
static void test_many_headers(void)
{
    size_t hlen = 32768 * 4;
    uint8_t *h = xmalloc(hlen);
    for (size_t i = 0; i < 32768; i++) {
        h[4 * i] = 2;
        h[4 * i + 1] = (uint8_t)(i >> 8);
        h[4 * i + 2] = (uint8_t)i;
        h[4 * i + 3] = ES_TYPE_BOOL_TRUE;
    }
    size_t len;
    uint8_t *f = raw_frame(h, hlen, NULL, 0, &len);
    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(decode_whole(f, len, &s, &d) == 0);
    CHECK(s.n == 1 && s.msgs[0].n_headers == 32768);
    if (s.n == 1)
        CHECK(s.msgs[0].h[32767].name[0] == 0x7f && (uint8_t)s.msgs[0].h[32767].name[1] == 0xff);
    es_decoder_free(&d);
    sink_free(&s);
    free(f);

    static const size_t dup_at[] = { 9, 1000, 1999 };
    for (size_t k = 0; k < 3; k++) {
        memcpy(h + 4 * dup_at[k], h + 4 * 3, 4); /* header dup_at[k] repeats header 3 */
        f = raw_frame(h, 2000 * 4, NULL, 0, &len);
        CHECK(decode_whole(f, len, &s, &d) == -1);
        CHECK(d.err == ES_ERR_DUPLICATE && s.n == 0);
        es_decoder_free(&d);
        free(f);
        h[4 * dup_at[k] + 1] = (uint8_t)(dup_at[k] >> 8); /* restore */
        h[4 * dup_at[k] + 2] = (uint8_t)dup_at[k];
    }
    free(h);
}

/* The frame buffer is sized exactly to the message, kept across small messages (no malloc
 * per frame) and freed after a big one. */
static void test_frame_buffer_policy(void)
{
    size_t big_len = 100000;
    uint8_t *payload = xcalloc(1, big_len);
    struct buf big;
    buf_init(&big, 1 << 20);
    CHECK(es_encode(&big, NULL, 0, payload, big_len) == 0);

    struct es_decoder d;
    struct sink s = { 0 };
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, big.data, 13, sink_fn, &s) == 0);
    CHECK(d.frame.cap == big.len + 1); /* exactly total_length (+ buf's NUL) */
    CHECK(es_decoder_feed(&d, big.data + 13, big.len - 13, sink_fn, &s) == 0);
    CHECK(s.n == 1 && s.msgs[0].payload_len == big_len);
    CHECK(d.frame.data == NULL && d.frame.cap == 0); /* over 64 KiB: released */

    size_t len;
    uint8_t *v10 = unhex(vectors[9].hex, &len);
    CHECK(es_decoder_feed(&d, v10, len, sink_fn, &s) == 0);
    const char *kept = d.frame.data;
    CHECK(kept != NULL && d.frame.cap == len + 1);
    for (int r = 0; r < 100; r++)
        for (size_t k = 0; k < N_VECTORS; k++) {
            size_t n;
            uint8_t *b = unhex(vectors[k].hex, &n);
            CHECK(es_decoder_feed(&d, b, n, ignore_fn, NULL) == 0);
            free(b);
        }
    CHECK(d.frame.data == kept); /* no reallocation for frames that fit */
    CHECK(d.messages == 2 + 100 * N_VECTORS);
    es_decoder_free(&d);
    sink_free(&s);
    buf_free(&big);
    free(payload);
    free(v10);
}

/* ---- encoder -------------------------------------------------------------------------------- */

static void test_encode_roundtrip(void)
{
    static const uint8_t uuid[16] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff };
    static const uint8_t bin[] = { 0, 1, 0xff, 0, 0x80 };
    struct es_header h[] = {
        { .name = "t", .name_len = 1, .type = ES_TYPE_BOOL_TRUE, .v.b = true },
        { .name = "f", .name_len = 1, .type = ES_TYPE_BOOL_FALSE },
        { .name = "i8min", .name_len = 5, .type = ES_TYPE_BYTE, .v.i = INT8_MIN },
        { .name = "i8max", .name_len = 5, .type = ES_TYPE_BYTE, .v.i = INT8_MAX },
        { .name = "i16min", .name_len = 6, .type = ES_TYPE_INT16, .v.i = INT16_MIN },
        { .name = "i16max", .name_len = 6, .type = ES_TYPE_INT16, .v.i = INT16_MAX },
        { .name = "i32min", .name_len = 6, .type = ES_TYPE_INT32, .v.i = INT32_MIN },
        { .name = "i32max", .name_len = 6, .type = ES_TYPE_INT32, .v.i = INT32_MAX },
        { .name = "i64min", .name_len = 6, .type = ES_TYPE_INT64, .v.i = INT64_MIN },
        { .name = "i64max", .name_len = 6, .type = ES_TYPE_INT64, .v.i = INT64_MAX },
        { .name = "bytes", .name_len = 5, .type = ES_TYPE_BYTES, .v.bytes = { bin, sizeof bin } },
        { .name = "empty", .name_len = 5, .type = ES_TYPE_BYTES, .v.bytes = { NULL, 0 } },
        { .name = "str", .name_len = 3, .type = ES_TYPE_STRING,
          .v.bytes = { (const uint8_t *)"\xec\x95\x88\xeb\x85\x95", 6 } }, /* 안녕 */
        { .name = "ts", .name_len = 2, .type = ES_TYPE_TIMESTAMP, .v.i = 1700000000123LL },
        { .name = "tsneg", .name_len = 5, .type = ES_TYPE_TIMESTAMP, .v.i = -1 },
        { .name = "uuid", .name_len = 4, .type = ES_TYPE_UUID, .v.bytes = { uuid, 16 } },
    };
    static const char payload[] = "binary\0payload\xff";
    size_t nh = sizeof h / sizeof h[0];
    struct buf out;
    buf_init(&out, 4096);
    CHECK(buf_append(&out, "xyz", 3) == 0); /* es_encode appends after what is there */
    CHECK(es_encode(&out, h, nh, payload, sizeof payload) == 0);
    CHECK(memcmp(out.data, "xyz", 3) == 0);

    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(decode_whole((const uint8_t *)out.data + 3, out.len - 3, &s, &d) == 0);
    CHECK(s.n == 1);
    if (s.n == 1) {
        struct got_msg *g = &s.msgs[0];
        CHECK(g->total_len == out.len - 3);
        CHECK(g->n_headers == nh);
        for (size_t i = 0; i < nh && i < g->n_headers; i++) {
            CHECK(g->h[i].name_len == h[i].name_len &&
                  memcmp(g->h[i].name, h[i].name, h[i].name_len) == 0);
            CHECK(g->h[i].type == h[i].type);
            switch (h[i].type) {
            case ES_TYPE_BOOL_TRUE:
            case ES_TYPE_BOOL_FALSE:
                CHECK(g->h[i].b == (h[i].type == ES_TYPE_BOOL_TRUE));
                break;
            case ES_TYPE_BYTES:
            case ES_TYPE_STRING:
            case ES_TYPE_UUID:
                CHECK(g->h[i].len == h[i].v.bytes.len);
                CHECK(h[i].v.bytes.len == 0 ||
                      memcmp(g->h[i].bytes, h[i].v.bytes.p, h[i].v.bytes.len) == 0);
                break;
            default:
                CHECK(g->h[i].i == h[i].v.i);
                break;
            }
        }
        CHECK(g->payload_len == sizeof payload &&
              memcmp(g->payload, payload, sizeof payload) == 0);
    }
    es_decoder_free(&d);
    sink_free(&s);
    buf_free(&out);
}

/* Vector 7 from es_encode_strings and vector 10 from es_encode, byte for byte. */
static void test_encode_vector7(void)
{
    size_t len;
    uint8_t *want = unhex(vectors[6].hex, &len);
    const char *names[] = { "content-type" }, *values[] = { "application/json" };
    struct buf out;
    buf_init(&out, 1024);
    CHECK(es_encode_strings(&out, names, values, 1, "{'foo':'bar'}", 13) == 0);
    CHECK(out.len == len && memcmp(out.data, want, len) == 0);
    buf_free(&out);
    free(want);
}

static void test_encode_vector10(void)
{
    static const uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
#define NM(s) .name = s, .name_len = sizeof(s) - 1
    const struct es_header h[] = {
        { NM("event-type"), .type = ES_TYPE_INT32, .v.i = 40972 },
        { NM("content-type"), .type = ES_TYPE_STRING,
          .v.bytes = { (const uint8_t *)"application/json", 16 } },
        { NM("bool false"), .type = ES_TYPE_BOOL_FALSE },
        { NM("bool true"), .type = ES_TYPE_BOOL_TRUE, .v.b = true },
        { NM("byte"), .type = ES_TYPE_BYTE, .v.i = -49 },
        { NM("byte buf"), .type = ES_TYPE_BYTES,
          .v.bytes = { (const uint8_t *)"I'm a little teapot!", 20 } },
        { NM("timestamp"), .type = ES_TYPE_TIMESTAMP, .v.i = 8675309 },
        { NM("int16"), .type = ES_TYPE_INT16, .v.i = 42 },
        { NM("int64"), .type = ES_TYPE_INT64, .v.i = 42424242 },
        { NM("uuid"), .type = ES_TYPE_UUID, .v.bytes = { uuid, 16 } },
    };
#undef NM
    size_t len;
    uint8_t *want = unhex(vectors[9].hex, &len);
    struct buf out;
    buf_init(&out, 1024);
    CHECK(es_encode(&out, h, 10, "{'foo':'bar'}", 13) == 0);
    CHECK(out.len == len && memcmp(out.data, want, len) == 0);
    buf_free(&out);
    free(want);
}

/* Decoding then re-encoding every positive vector reproduces it exactly. */
static int reencode_fn(void *user, const struct es_message *m)
{
    return es_encode(user, m->headers, m->n_headers, m->payload, m->payload_len) == 0 ? 0 : 1;
}

static void test_reencode_every_vector(void)
{
    for (size_t k = 0; k < N_VECTORS; k++) {
        size_t len;
        uint8_t *b = unhex(vectors[k].hex, &len);
        struct buf out;
        buf_init(&out, 1024);
        struct es_decoder d;
        es_decoder_init(&d);
        CHECK(es_decoder_feed(&d, b, len, reencode_fn, &out) == 0);
        CHECK(out.len == len && memcmp(out.data, b, len) == 0);
        es_decoder_free(&d);
        buf_free(&out);
        free(b);
    }
}

static void test_encode_rejects(void)
{
    static char longname[257];
    memset(longname, 'n', 256);
    static uint8_t big[65536];
    const struct es_header bad[] = {
        { .name = "", .name_len = 0, .type = ES_TYPE_BOOL_TRUE },
        { .name = longname, .name_len = 256, .type = ES_TYPE_BOOL_TRUE },
        { .name = "x", .name_len = 1, .type = (enum es_header_type)10 },
        { .name = "x", .name_len = 1, .type = ES_TYPE_STRING, .v.bytes = { big, 65536 } },
        { .name = "x", .name_len = 1, .type = ES_TYPE_BYTES, .v.bytes = { NULL, 3 } },
        { .name = "x", .name_len = 1, .type = ES_TYPE_UUID, .v.bytes = { big, 15 } },
        { .name = "x", .name_len = 1, .type = ES_TYPE_BYTE, .v.i = 128 },
        { .name = "x", .name_len = 1, .type = ES_TYPE_BYTE, .v.i = -129 },
        { .name = "x", .name_len = 1, .type = ES_TYPE_INT16, .v.i = 40000 },
        { .name = "x", .name_len = 1, .type = ES_TYPE_INT32, .v.i = (int64_t)INT32_MAX + 1 },
    };
    struct buf out;
    buf_init(&out, 1 << 20);
    buf_append(&out, "keep", 4);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(es_encode(&out, &bad[i], 1, NULL, 0) == -1);
        CHECK(out.len == 4 && strcmp(out.data, "keep") == 0);
    }
    /* the longest legal name and value are fine */
    const struct es_header ok[] = {
        { .name = longname, .name_len = 255, .type = ES_TYPE_STRING, .v.bytes = { big, 65535 } },
    };
    CHECK(es_encode(&out, ok, 1, NULL, 0) == 0);
    CHECK(out.len == 4 + 16 + 2 + 255 + 2 + 65535);
    buf_free(&out);

    /* out too small for the frame: -1 and out untouched */
    struct buf small;
    buf_init(&small, 40);
    buf_append(&small, "0123456789", 10);
    CHECK(es_encode(&small, NULL, 0, "0123456789abcd", 14) == 0); /* 10 + 30 = 40: fits */
    CHECK(es_encode(&small, NULL, 0, "", 0) == -1);
    CHECK(small.len == 40);
    buf_free(&small);
}

/* At exactly the caps a message round-trips; one byte over, the encoder refuses. */
static void test_encode_caps(void)
{
    uint8_t *payload = xcalloc(1, ES_MAX_PAYLOAD_LEN + 1);
    uint8_t *val = xcalloc(1, 65535);
    /* two BYTES headers: (1+1+1+2+65535) + (1+1+1+2+65527) = 131072 = 128 KiB */
    struct es_header h[2] = {
        { .name = "a", .name_len = 1, .type = ES_TYPE_BYTES, .v.bytes = { val, 65535 } },
        { .name = "b", .name_len = 1, .type = ES_TYPE_BYTES, .v.bytes = { val, 65527 } },
    };
    struct buf out;
    buf_init(&out, (size_t)64 << 20);
    CHECK(es_encode(&out, h, 2, payload, ES_MAX_PAYLOAD_LEN) == 0);
    CHECK(out.len == ES_MIN_MESSAGE_LEN + ES_MAX_HEADERS_LEN + ES_MAX_PAYLOAD_LEN);
    struct es_decoder d;
    struct sink s = { 0 };
    CHECK(decode_whole((const uint8_t *)out.data, out.len, &s, &d) == 0);
    CHECK(s.n == 1 && s.msgs[0].headers_len == ES_MAX_HEADERS_LEN &&
          s.msgs[0].payload_len == ES_MAX_PAYLOAD_LEN);
    CHECK(d.frame.data == NULL); /* a 24 MiB frame is not kept */
    es_decoder_free(&d);
    sink_free(&s);

    size_t before = out.len;
    CHECK(es_encode(&out, NULL, 0, payload, ES_MAX_PAYLOAD_LEN + 1) == -1);
    h[1].v.bytes.len = 65528;
    CHECK(es_encode(&out, h, 2, NULL, 0) == -1);
    CHECK(out.len == before);
    buf_free(&out);
    free(payload);
    free(val);
}

struct lookup {
    int found, str_ok, int_rejected, absent;
};

static int lookup_fn(void *user, const struct es_message *m)
{
    struct lookup *r = user;
    const struct es_header *h = es_message_header(m, "int16");
    r->found = h && h->type == ES_TYPE_INT16 && h->v.i == 42;
    const char *s;
    size_t n;
    r->str_ok = es_message_string(m, "content-type", &s, &n) == 0 && n == 16 &&
                memcmp(s, "application/json", 16) == 0;
    r->int_rejected = es_message_string(m, "event-type", &s, &n) == -1;
    r->absent = !es_message_header(m, "content") && !es_message_header(m, "content-type ") &&
                es_message_string(m, "nope", &s, &n) == -1;
    return 0;
}

static void test_message_lookup(void)
{
    size_t len;
    uint8_t *b = unhex(vectors[9].hex, &len); /* v10: string, int and bool headers */
    struct lookup r = { 0 };
    struct es_decoder d;
    es_decoder_init(&d);
    CHECK(es_decoder_feed(&d, b, len, lookup_fn, &r) == 0);
    CHECK(r.found && r.str_ok && r.int_rejected && r.absent);
    es_decoder_free(&d);
    free(b);
}

static void test_error_names(void)
{
    CHECK_STR_EQ(es_error_name(ES_OK), "ok");
    CHECK_STR_EQ(es_error_name(ES_ERR_PRELUDE_CRC), "prelude_crc");
    CHECK_STR_EQ(es_error_name(ES_ERR_MESSAGE_CRC), "message_crc");
    CHECK_STR_EQ(es_error_name(ES_ERR_LENGTH), "length");
    CHECK_STR_EQ(es_error_name(ES_ERR_HEADER), "header");
    CHECK_STR_EQ(es_error_name(ES_ERR_DUPLICATE), "duplicate");
    CHECK_STR_EQ(es_error_name(ES_ERR_CALLBACK), "callback");
    CHECK_STR_EQ(es_error_name(ES_ERR_TRUNCATED), "truncated");
    CHECK_STR_EQ(es_error_name((enum es_error)99), "unknown");
}

/* ---- the published file --------------------------------------------------------------------- */

/* Collects the hex blocks of vectors.txt: "--- Vector K ..." then "hex:" then indented hex
 * lines for K = 1..10; "NK NAME ..." then indented hex lines for the negatives (slots 11..15). */
static void parse_vectors_file(FILE *f, struct buf *blocks)
{
    char line[512];
    int cur = 0, in_hex = 0;
    while (fgets(line, sizeof line, f)) {
        int k;
        if (sscanf(line, "--- Vector %d", &k) == 1) {
            cur = k >= 1 && k <= 10 ? k : 0;
            in_hex = 0;
            continue;
        }
        if (line[0] == 'N' && sscanf(line, "N%d ", &k) == 1 && k >= 1 && k <= 5) {
            cur = 10 + k;
            in_hex = 1;
            continue;
        }
        if (cur && strncmp(line, "hex:", 4) == 0) {
            in_hex = 1;
            continue;
        }
        size_t n = strlen(line);
        int hex_line = line[0] == ' ' && n > 1;
        for (size_t i = 0; i < n && hex_line; i++)
            if (!strchr("0123456789abcdefABCDEF \t\r\n", line[i]))
                hex_line = 0;
        if (in_hex && cur && hex_line)
            buf_append(&blocks[cur], line, n);
        else
            in_hex = 0;
    }
}

static void test_vectors_file_matches(void)
{
    char path[1024];
    const char *dir = getenv("NOVA_VECTORS_DIR");
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/eventstream/vectors.txt", dir);
    else
        snprintf(path, sizeof path, "../shared/vectors/eventstream/vectors.txt");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr,
                "  cannot open the published vectors %s: %s\n"
                "  (run from the repo root, or set NOVA_VECTORS_DIR to the directory holding "
                "eventstream/vectors.txt)\n",
                path, strerror(errno));
        CHECK(!"vectors.txt readable");
        return;
    }
    struct buf blocks[16];
    for (int i = 0; i < 16; i++)
        buf_init(&blocks[i], 1 << 16);
    parse_vectors_file(f, blocks);
    fclose(f);

    for (int k = 1; k <= 15; k++) {
        const char *mine = k <= 10 ? vectors[k - 1].hex : neg_vectors[k - 11].hex;
        size_t a_len, b_len;
        uint8_t *a = unhex(mine, &a_len);
        uint8_t *b = unhex(buf_cstr(&blocks[k]), &b_len);
        if (b_len == 0 || a_len != b_len || memcmp(a, b, a_len) != 0) {
            fprintf(stderr, "  %s: vector %s%d in %s differs from the embedded copy (%zu vs %zu "
                    "bytes)\n", test_cur_name, k <= 10 ? "" : "N", k <= 10 ? k : k - 10, path,
                    b_len, a_len);
            CHECK(!"embedded vector equals the published one");
        }
        free(a);
        free(b);
    }
    for (int i = 0; i < 16; i++)
        buf_free(&blocks[i]);
}

int main(void)
{
    for (size_t k = 0; k < N_VECTORS; k++) {
        begin("decode_whole_", vectors[k].name);
        test_vector_whole(&vectors[k]);
        test_end();
        begin("decode_bytewise_", vectors[k].name);
        test_vector_bytewise(&vectors[k]);
        test_end();
        begin("decode_every_split_", vectors[k].name);
        test_vector_splits(&vectors[k]);
        test_end();
    }
    RUN(test_concatenated_one_feed);
    RUN(test_concatenated_random_pieces);
    for (size_t k = 0; k < N_NEG; k++) {
        begin("reject_", neg_vectors[k].name);
        test_negative(&neg_vectors[k]);
        test_end();
    }
    RUN(test_invalid_payload_length);
    RUN(test_prelude_lengths);
    RUN(test_partial_message);
    RUN(test_finish_truncated);
    RUN(test_sticky_error);
    RUN(test_callback_stop);
    RUN(test_bad_headers);
    RUN(test_similar_names_not_duplicate);
    RUN(test_many_headers);
    RUN(test_frame_buffer_policy);
    RUN(test_encode_roundtrip);
    RUN(test_encode_vector7);
    RUN(test_encode_vector10);
    RUN(test_reencode_every_vector);
    RUN(test_encode_rejects);
    RUN(test_encode_caps);
    RUN(test_message_lookup);
    RUN(test_error_names);
    RUN(test_vectors_file_matches);
    return test_summary();
}
