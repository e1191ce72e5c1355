/* eventstream: the AWS event stream codec (see eventstream.h for the frame layout).
 *
 * Owns the incremental decoder (prelude -> length checks -> whole frame -> message CRC ->
 * headers decoded in place -> callback) and the encoder. Bytes are copied exactly once, into
 * d->frame, which is sized to the verified total_length; everything the callback sees points
 * into it. Does no I/O and never logs: errors go to d->err / d->errstr and are sticky. */
#include "aws/eventstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"

#define ES_MAX_MESSAGE_LEN (ES_MIN_MESSAGE_LEN + ES_MAX_HEADERS_LEN + ES_MAX_PAYLOAD_LEN)
/* Buffers at most this big survive between messages: Bedrock sends thousands of small frames
 * a second and we do not want a malloc/free pair for each; one big frame is not kept. */
#define ES_KEEP_BYTES (64u * 1024u)
/* Up to this many headers the pairwise duplicate check is cheapest; beyond it we hash, so a
 * hostile 128 KiB header block (~40k three-byte headers) cannot cost O(n^2). */
#define ES_DUP_LINEAR_MAX 8

/* Value size per type; -1: a u16 length prefix follows. */
static const int es_value_len[] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

static uint32_t es_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void es_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t es_crc(const void *p, size_t n)
{
    return (uint32_t)crc32(0L, (const Bytef *)p, (uInt)n);
}

/* Big-endian two's complement of len (1, 2, 4 or 8) bytes, sign-extended. */
static int64_t es_get_signed(const uint8_t *p, size_t len)
{
    uint64_t u = 0;
    for (size_t i = 0; i < len; i++)
        u = u << 8 | p[i];
    if (len < 8 && (u >> (8 * len - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * len);
    return (int64_t)u;
}

static int es_fail(struct es_decoder *d, enum es_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int es_fail(struct es_decoder *d, enum es_error e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errstr, sizeof d->errstr, fmt, ap);
    va_end(ap);
    d->err = e;
    return -1;
}

/* Copies a header name into out for an error message: printable ASCII only, so a hostile
 * name cannot put newlines or escapes into the log line that will carry errstr. */
static const char *es_printable(const char *name, size_t len, char *out, size_t outsz)
{
    size_t i;
    for (i = 0; i < len && i + 1 < outsz; i++)
        out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    out[i] = '\0';
    return out;
}

void es_decoder_init(struct es_decoder *d)
{
    memset(d, 0, sizeof *d);
    buf_init(&d->frame, ES_MAX_MESSAGE_LEN);
    d->need = ES_PRELUDE_LEN;
}

void es_decoder_free(struct es_decoder *d)
{
    buf_free(&d->frame);
    free(d->hdrs);
    d->hdrs = NULL;
    d->hdrs_cap = 0;
}

/* struct buf grows by doubling, which would copy a big frame several times and could reach
 * twice its size; we size the block ourselves, once, to exactly n bytes (+1 for buf's NUL). */
static void es_frame_reserve(struct es_decoder *d, size_t n)
{
    if (d->frame.cap >= n + 1)
        return;
    d->frame.data = xrealloc(d->frame.data, n + 1);
    d->frame.cap = n + 1;
}

/* The prelude is complete: trust its lengths only once its CRC matches, then check them
 * against each other and the caps before any body byte is buffered. */
static int es_check_prelude(struct es_decoder *d)
{
    const uint8_t *p = (const uint8_t *)d->frame.data;
    uint32_t total = es_get32(p), hlen = es_get32(p + 4), got = es_get32(p + 8);
    uint32_t want = es_crc(p, 8);

    if (got != want)
        return es_fail(d, ES_ERR_PRELUDE_CRC, "prelude CRC mismatch: got 0x%08x want 0x%08x",
                       got, want);
    if (total < ES_MIN_MESSAGE_LEN)
        return es_fail(d, ES_ERR_LENGTH, "total_length %u below the %u-byte minimum", total,
                       ES_MIN_MESSAGE_LEN);
    if (hlen > ES_MAX_HEADERS_LEN)
        return es_fail(d, ES_ERR_LENGTH, "headers_length %u over the %u-byte cap", hlen,
                       ES_MAX_HEADERS_LEN);
    if (hlen > total - ES_MIN_MESSAGE_LEN)
        return es_fail(d, ES_ERR_LENGTH, "headers_length %u does not fit in total_length %u",
                       hlen, total);
    if (total - ES_MIN_MESSAGE_LEN - hlen > ES_MAX_PAYLOAD_LEN)
        return es_fail(d, ES_ERR_LENGTH, "payload length %u over the %u-byte cap",
                       total - ES_MIN_MESSAGE_LEN - hlen, ES_MAX_PAYLOAD_LEN);
    d->need = total;
    return 0;
}

/* Room for at least n headers. The block holds hdrs_cap headers followed by a 2*hdrs_cap
 * slot hash table for the duplicate check, so both are one allocation that is reused. */
static void es_hdrs_reserve(struct es_decoder *d, size_t n)
{
    if (n <= d->hdrs_cap)
        return;
    size_t cap = d->hdrs_cap ? d->hdrs_cap : ES_DUP_LINEAR_MAX;
    while (cap < n)
        cap *= 2;
    d->hdrs = xrealloc(d->hdrs, cap * (sizeof *d->hdrs + 2 * sizeof(uint32_t)));
    d->hdrs_cap = cap;
}

static uint32_t es_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static bool es_same_name(const struct es_header *a, const struct es_header *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

static int es_fail_duplicate(struct es_decoder *d, const struct es_header *h)
{
    char name[48];
    return es_fail(d, ES_ERR_DUPLICATE, "duplicate header name \"%s\"",
                   es_printable(h->name, h->name_len, name, sizeof name));
}

static int es_check_duplicates(struct es_decoder *d, size_t n)
{
    const struct es_header *h = d->hdrs;
    if (n <= ES_DUP_LINEAR_MAX) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (es_same_name(&h[i], &h[j]))
                    return es_fail_duplicate(d, &h[i]);
        return 0;
    }
    /* Open addressing over indices+1 (0 = empty); slots <= 2*hdrs_cap as hdrs_cap is a power
     * of two >= n. Only the slots used are cleared, so a big old table costs nothing here. */
    size_t slots = 2 * ES_DUP_LINEAR_MAX;
    while (slots < 2 * n)
        slots *= 2;
    uint32_t *tab = (uint32_t *)(d->hdrs + d->hdrs_cap);
    memset(tab, 0, slots * sizeof *tab);
    for (size_t i = 0; i < n; i++) {
        size_t s = es_hash(h[i].name, h[i].name_len) & (slots - 1);
        for (; tab[s]; s = (s + 1) & (slots - 1))
            if (es_same_name(&h[i], &h[tab[s] - 1]))
                return es_fail_duplicate(d, &h[i]);
        tab[s] = (uint32_t)i + 1;
    }
    return 0;
}

/* Decodes the header block p[0..hlen) in place into d->hdrs; *n_out = count. */
static int es_decode_headers(struct es_decoder *d, const uint8_t *p, size_t hlen, size_t *n_out)
{
    size_t off = 0, n = 0;
    while (off < hlen) {
        size_t name_len = p[off];
        if (name_len == 0)
            return es_fail(d, ES_ERR_HEADER, "header %zu: name length 0", n);
        if (hlen - off < 2 + name_len)
            return es_fail(d, ES_ERR_HEADER, "header %zu: name or type truncated", n);
        const char *name = (const char *)p + off + 1;
        unsigned type = p[off + 1 + name_len];
        off += 2 + name_len;
        if (type > ES_TYPE_UUID)
            return es_fail(d, ES_ERR_HEADER, "header %zu: unknown type %u", n, type);

        size_t vlen;
        if (es_value_len[type] >= 0) {
            vlen = (size_t)es_value_len[type];
        } else {
            if (hlen - off < 2)
                return es_fail(d, ES_ERR_HEADER, "header %zu: value length truncated", n);
            vlen = (size_t)p[off] << 8 | p[off + 1];
            off += 2;
        }
        if (hlen - off < vlen)
            return es_fail(d, ES_ERR_HEADER, "header %zu: value truncated (%zu of %zu bytes)",
                           n, hlen - off, vlen);

        es_hdrs_reserve(d, n + 1);
        struct es_header *h = &d->hdrs[n++];
        h->name = name;
        h->name_len = name_len;
        h->type = (enum es_header_type)type;
        switch (h->type) {
        case ES_TYPE_BOOL_TRUE:
        case ES_TYPE_BOOL_FALSE:
            h->v.b = h->type == ES_TYPE_BOOL_TRUE;
            break;
        case ES_TYPE_BYTES:
        case ES_TYPE_STRING:
        case ES_TYPE_UUID:
            h->v.bytes.p = p + off;
            h->v.bytes.len = vlen;
            break;
        default:
            h->v.i = es_get_signed(p + off, vlen);
            break;
        }
        off += vlen;
    }
    *n_out = n;
    return es_check_duplicates(d, n);
}

/* The whole frame is buffered: check it, hand it to fn, and make ready for the next one. */
static int es_deliver(struct es_decoder *d, es_message_fn fn, void *user)
{
    const uint8_t *p = (const uint8_t *)d->frame.data;
    struct es_message m = {
        .total_len = es_get32(p),
        .headers_len = es_get32(p + 4),
        .prelude_crc = es_get32(p + 8),
        .message_crc = es_get32(p + d->need - 4),
    };
    uint32_t want = es_crc(p, d->need - 4);
    if (m.message_crc != want)
        return es_fail(d, ES_ERR_MESSAGE_CRC, "message CRC mismatch: got 0x%08x want 0x%08x",
                       m.message_crc, want);
    if (es_decode_headers(d, p + ES_PRELUDE_LEN, m.headers_len, &m.n_headers) < 0)
        return -1;
    m.headers = d->hdrs;
    m.payload = p + ES_PRELUDE_LEN + m.headers_len;
    m.payload_len = m.total_len - ES_MIN_MESSAGE_LEN - m.headers_len;

    d->messages++;
    int rc = fn ? fn(user, &m) : 0;

    if (d->frame.cap > ES_KEEP_BYTES + 1)
        buf_free(&d->frame);
    else
        buf_reset(&d->frame);
    if (d->hdrs_cap * (sizeof *d->hdrs + 2 * sizeof(uint32_t)) > ES_KEEP_BYTES) {
        free(d->hdrs);
        d->hdrs = NULL;
        d->hdrs_cap = 0;
    }
    d->need = ES_PRELUDE_LEN;
    if (rc != 0)
        return es_fail(d, ES_ERR_CALLBACK, "message callback asked to stop (returned %d)", rc);
    return 0;
}

/* fn must not feed or free d: the message it is reading lives in d->frame. */
int es_decoder_feed(struct es_decoder *d, const void *data, size_t len, es_message_fn fn,
                    void *user)
{
    const uint8_t *p = data;
    if (d->err)
        return -1;
    while (len > 0) {
        /* frame.len < need holds here, so every pass consumes at least one byte. */
        size_t n = d->need - d->frame.len;
        if (n > len)
            n = len;
        es_frame_reserve(d, d->need);
        if (buf_append(&d->frame, p, n) < 0) /* cannot happen: need <= frame.max */
            return es_fail(d, ES_ERR_LENGTH, "frame buffer over its cap");
        p += n;
        len -= n;
        if (d->frame.len < d->need)
            break;
        if (d->need == ES_PRELUDE_LEN) {
            if (es_check_prelude(d) < 0)
                return -1;
        } else if (es_deliver(d, fn, user) < 0) {
            return -1;
        }
    }
    return 0;
}

int es_decoder_finish(struct es_decoder *d)
{
    if (d->err)
        return -1;
    if (d->frame.len > 0)
        return es_fail(d, ES_ERR_TRUNCATED,
                       "stream ended inside a message: %zu of %u bytes buffered",
                       d->frame.len, d->need);
    return 0;
}

const char *es_error_name(enum es_error e)
{
    switch (e) {
    case ES_OK: return "ok";
    case ES_ERR_PRELUDE_CRC: return "prelude_crc";
    case ES_ERR_MESSAGE_CRC: return "message_crc";
    case ES_ERR_LENGTH: return "length";
    case ES_ERR_HEADER: return "header";
    case ES_ERR_DUPLICATE: return "duplicate";
    case ES_ERR_CALLBACK: return "callback";
    case ES_ERR_TRUNCATED: return "truncated";
    }
    return "unknown";
}

const struct es_header *es_message_header(const struct es_message *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < m->n_headers; i++)
        if (m->headers[i].name_len == len && memcmp(m->headers[i].name, name, len) == 0)
            return &m->headers[i];
    return NULL;
}

int es_message_string(const struct es_message *m, const char *name, const char **s, size_t *len)
{
    const struct es_header *h = es_message_header(m, name);
    if (!h || h->type != ES_TYPE_STRING)
        return -1;
    *s = (const char *)h->v.bytes.p;
    *len = h->v.bytes.len;
    return 0;
}

/* Wire size of one header, or 0 when it cannot be encoded (bad name length or type, a value
 * out of range for its type, a string/bytes value over 64 KiB, a uuid not 16 bytes). */
static size_t es_header_size(const struct es_header *h)
{
    if (h->name_len == 0 || h->name_len > 255 || (unsigned)h->type > ES_TYPE_UUID)
        return 0;
    int vlen = es_value_len[h->type];
    switch (h->type) {
    case ES_TYPE_BYTES:
    case ES_TYPE_STRING:
        if (h->v.bytes.len > 0xffff || (h->v.bytes.len && !h->v.bytes.p))
            return 0;
        return 2 + h->name_len + 2 + h->v.bytes.len;
    case ES_TYPE_UUID:
        if (h->v.bytes.len != 16 || !h->v.bytes.p)
            return 0;
        break;
    case ES_TYPE_BYTE:
    case ES_TYPE_INT16:
    case ES_TYPE_INT32:
        if (h->v.i < -((int64_t)1 << (8 * vlen - 1)) || h->v.i >= ((int64_t)1 << (8 * vlen - 1)))
            return 0;
        break;
    default:
        break;
    }
    return 2 + h->name_len + (size_t)vlen;
}

static void es_put_header(struct buf *out, const struct es_header *h)
{
    uint8_t tmp[8];
    uint8_t nl = (uint8_t)h->name_len, type = (uint8_t)h->type;
    buf_append(out, &nl, 1);
    buf_append(out, h->name, h->name_len);
    buf_append(out, &type, 1);
    switch (h->type) {
    case ES_TYPE_BOOL_TRUE:
    case ES_TYPE_BOOL_FALSE:
        break;
    case ES_TYPE_BYTES:
    case ES_TYPE_STRING:
        tmp[0] = (uint8_t)(h->v.bytes.len >> 8);
        tmp[1] = (uint8_t)h->v.bytes.len;
        buf_append(out, tmp, 2);
        /* fallthrough */
    case ES_TYPE_UUID:
        buf_append(out, h->v.bytes.p, h->v.bytes.len);
        break;
    default: {
        int vlen = es_value_len[h->type];
        uint64_t u = (uint64_t)h->v.i;
        for (int i = vlen - 1; i >= 0; i--, u >>= 8)
            tmp[i] = (uint8_t)u;
        buf_append(out, tmp, (size_t)vlen);
        break;
    }
    }
}

int es_encode(struct buf *out, const struct es_header *headers, size_t n_headers,
              const void *payload, size_t payload_len)
{
    size_t hlen = 0;
    for (size_t i = 0; i < n_headers; i++) {
        size_t sz = es_header_size(&headers[i]);
        if (sz == 0)
            return -1;
        hlen += sz;
        if (hlen > ES_MAX_HEADERS_LEN)
            return -1;
    }
    if (payload_len > ES_MAX_PAYLOAD_LEN || (payload_len && !payload))
        return -1;
    size_t total = ES_MIN_MESSAGE_LEN + hlen + payload_len;
    /* Checked up front so the appends below cannot fail half-way and leave a partial frame. */
    if (out->len > out->max || total > out->max - out->len)
        return -1;

    size_t start = out->len;
    uint8_t pre[ES_PRELUDE_LEN];
    es_put32(pre, (uint32_t)total);
    es_put32(pre + 4, (uint32_t)hlen);
    es_put32(pre + 8, es_crc(pre, 8));
    buf_append(out, pre, sizeof pre);
    for (size_t i = 0; i < n_headers; i++)
        es_put_header(out, &headers[i]);
    buf_append(out, payload, payload_len);
    uint8_t crc[4];
    es_put32(crc, es_crc(out->data + start, total - 4));
    buf_append(out, crc, sizeof crc);
    return 0;
}

int es_encode_strings(struct buf *out, const char *const *names, const char *const *values,
                      size_t n, const void *payload, size_t payload_len)
{
    /* Event frames carry three or four string headers; the heap is for unusual callers. */
    struct es_header local[8] = { 0 };
    struct es_header *h = n <= 8 ? local : xcalloc(n, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i] = (struct es_header){ .name = names[i], .name_len = strlen(names[i]),
                                   .type = ES_TYPE_STRING };
        h[i].v.bytes.p = (const uint8_t *)values[i];
        h[i].v.bytes.len = strlen(values[i]);
    }
    int rc = es_encode(out, h, n, payload, payload_len);
    if (h != local)
        free(h);
    return rc;
}
