/* fuzz_eventstream: libFuzzer target for the event stream decoder and encoder.
 *
 * Input: byte 0 picks the piece size (low 7 bits; 0: the whole rest at once, else 1..127 bytes
 * per feed); its top bit asks for the CRCs to be repaired first, since a mutated header almost
 * never survives the message CRC and the header decoder would otherwise see little but the
 * seeds. The rest is the stream. Every header and payload byte of each message is read (so ASan sees
 * any pointer outside the frame), then the property: re-encoding a decoded message with
 * es_encode gives back exactly the bytes it was decoded from, and decoding that gives the same
 * message. The encoding is canonical, so any difference is a codec bug: abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "aws/eventstream.h"

struct ctx {
    const uint8_t *stream; /* the input after the selector byte */
    size_t size;
    size_t off;            /* where the next message starts in stream */
    const struct es_message *want; /* for the nested decode */
    int matched;
};

static volatile uint8_t sink;

static void touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    sink ^= x;
}

static int same_header(const struct es_header *a, const struct es_header *b)
{
    if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0 ||
        a->type != b->type)
        return 0;
    switch (a->type) {
    case ES_TYPE_BOOL_TRUE:
    case ES_TYPE_BOOL_FALSE:
        return a->v.b == b->v.b && a->v.b == (a->type == ES_TYPE_BOOL_TRUE);
    case ES_TYPE_BYTES:
    case ES_TYPE_STRING:
    case ES_TYPE_UUID:
        return a->v.bytes.len == b->v.bytes.len &&
               memcmp(a->v.bytes.p, b->v.bytes.p, a->v.bytes.len) == 0;
    default:
        return a->v.i == b->v.i;
    }
}

static int same_message(const struct es_message *a, const struct es_message *b)
{
    if (a->total_len != b->total_len || a->headers_len != b->headers_len ||
        a->prelude_crc != b->prelude_crc || a->message_crc != b->message_crc ||
        a->n_headers != b->n_headers || a->payload_len != b->payload_len ||
        memcmp(a->payload, b->payload, a->payload_len) != 0)
        return 0;
    for (size_t i = 0; i < a->n_headers; i++)
        if (!same_header(&a->headers[i], &b->headers[i]))
            return 0;
    return 1;
}

static int on_redecoded(void *user, const struct es_message *m)
{
    struct ctx *c = user;
    if (c->matched || !same_message(c->want, m))
        abort();
    c->matched = 1;
    return 0;
}

static int on_message(void *user, const struct es_message *m)
{
    struct ctx *c = user;
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct es_header *h = &m->headers[i];
        touch(h->name, h->name_len);
        if (h->type == ES_TYPE_BYTES || h->type == ES_TYPE_STRING || h->type == ES_TYPE_UUID)
            touch(h->v.bytes.p, h->v.bytes.len);
    }
    const char *s;
    size_t n;
    if (es_message_string(m, ":event-type", &s, &n) == 0)
        touch(s, n);
    touch(m->payload, m->payload_len);
    if (m->payload_len != m->total_len - 16u - m->headers_len)
        abort();

    /* The decoder consumes the stream in order, so this message is stream[off..off+total). */
    if (c->off + m->total_len > c->size)
        abort();
    struct buf out;
    buf_init(&out, (size_t)m->total_len);
    if (es_encode(&out, m->headers, m->n_headers, m->payload, m->payload_len) != 0 ||
        out.len != m->total_len || memcmp(out.data, c->stream + c->off, out.len) != 0)
        abort();
    c->off += m->total_len;

    struct es_decoder d;
    struct ctx nested = { .want = m };
    es_decoder_init(&d);
    if (es_decoder_feed(&d, out.data, out.len, on_redecoded, &nested) != 0 || !nested.matched ||
        es_decoder_finish(&d) != 0)
        abort();
    es_decoder_free(&d);
    buf_free(&out);
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Rewrites the prelude and message CRCs of each frame the lengths delimit, so mutations of
 * lengths and headers reach the checks behind the CRCs. */
static void repair_crcs(uint8_t *p, size_t size)
{
    size_t off = 0;
    while (size - off >= ES_PRELUDE_LEN) {
        uint8_t *f = p + off;
        uint32_t total = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
        put32(f + 8, (uint32_t)crc32(0L, f, 8));
        if (total < ES_MIN_MESSAGE_LEN || total > size - off)
            return;
        put32(f + total - 4, (uint32_t)crc32(0L, f, total - 4));
        off += total;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = data[0] & 0x7f ? data[0] & 0x7f : size;
    uint8_t *copy = NULL;
    struct ctx c = { .stream = data + 1, .size = size - 1 };
    if (data[0] & 0x80) {
        copy = malloc(c.size + 1);
        if (!copy)
            abort();
        memcpy(copy, c.stream, c.size);
        repair_crcs(copy, c.size);
        c.stream = copy;
    }
    struct es_decoder d;
    es_decoder_init(&d);
    int rc = 0;
    for (size_t at = 0; at < c.size && rc == 0; at += piece) {
        size_t n = c.size - at < piece ? c.size - at : piece;
        rc = es_decoder_feed(&d, c.stream + at, n, on_message, &c);
    }
    int frc = es_decoder_finish(&d);
    /* Errors are sticky and always explained; a clean finish means every byte was a message. */
    if (rc != 0 && (d.err == ES_OK || d.errstr[0] == '\0' || frc == 0))
        abort();
    if (rc == 0 && frc == 0 && c.off != c.size)
        abort();
    if (d.messages * ES_MIN_MESSAGE_LEN > c.size)
        abort();
    es_decoder_free(&d);
    free(copy);
    return 0;
}
