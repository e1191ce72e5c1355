/* fuzz_fcgi_proto: libFuzzer target for nova-fcgi's FastCGI codec (fcgi-app/fcgi_proto.c).
 *
 * Input: byte 0 picks the piece size (low 7 bits; 0: all at once, else 1..127 bytes per
 * feed); with its top bit the rest is a list of records to frame first — type, request id
 * (one byte), content length (one byte), content — so mutations reach the params decoder and
 * the state machine behind well-formed headers; without it the rest is the raw stream.
 *
 * Properties (abort() on a breach): the result does not depend on how the bytes were cut
 * (state, error, params, body and reply bytes equal to a feed in one piece); an error is
 * sticky and explained; the caps hold; every reply is a well-formed record of a type the
 * application may send; and a request that parsed re-encodes (our encoder) and parses again
 * to the same params and body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../fcgi-app/fcgi_proto.h"

static const struct fcgi_limits lim = {10000, 10000, 4096};
static volatile uint8_t sink;

static void touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    sink ^= x;
}

static void feed(struct fcgi_parser *p, const uint8_t *d, size_t n, size_t piece)
{
    int rc = 0;
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        int r = fcgi_parser_feed(p, d + at, k);
        if (rc < 0 && r == 0)
            abort(); /* errors are sticky */
        rc = r;
    }
    if ((rc < 0) != (p->state == FCGI_ST_ERROR) || (rc < 0 && !p->errstr[0]))
        abort();
}

static void check_replies(const struct buf *r)
{
    const uint8_t *d = (const uint8_t *)r->data;
    size_t off = 0;
    while (off < r->len) {
        if (r->len - off < 8)
            abort();
        const uint8_t *h = d + off;
        size_t clen = (size_t)h[4] << 8 | h[5];
        unsigned id = (unsigned)h[2] << 8 | h[3];
        if (h[0] != 1 || h[7] != 0 || (clen + h[6]) % 8 != 0 || h[6] > 7 ||
            r->len - off < 8 + clen + h[6])
            abort();
        if (h[1] == FCGI_END_REQUEST) {
            if (clen != 8 || id == 0 ||
                (h[12] != FCGI_CANT_MPX_CONN && h[12] != FCGI_UNKNOWN_ROLE))
                abort();
        } else if (h[1] == FCGI_UNKNOWN_TYPE || h[1] == FCGI_GET_VALUES_RESULT) {
            if (id != 0 || (h[1] == FCGI_UNKNOWN_TYPE && clen != 8))
                abort();
        } else {
            abort();
        }
        off += 8 + clen + h[6];
    }
}

static bool same_request(const struct fcgi_parser *a, const struct fcgi_parser *b)
{
    if (a->params_n != b->params_n || a->body.len != b->body.len ||
        (a->body.len && memcmp(a->body.data, b->body.data, a->body.len) != 0))
        return false;
    for (size_t i = 0; i < a->params_n; i++) {
        const struct fcgi_param *x = &a->pv[i], *y = &b->pv[i];
        if (x->name_len != y->name_len || x->value_len != y->value_len ||
            memcmp(x->name, y->name, x->name_len) != 0 ||
            memcmp(x->value, y->value, x->value_len) != 0 || x->name[x->name_len] != '\0' ||
            x->value[x->value_len] != '\0')
            return false;
    }
    return true;
}

/* The request of p, encoded again and parsed again, is the same request. */
static void round_trip(const struct fcgi_parser *p, size_t max_record)
{
    struct buf in, s;
    buf_init(&in, 1u << 22);
    buf_init(&s, 1u << 21);
    unsigned char begin[8] = {0, FCGI_RESPONDER, 0, 0, 0, 0, 0, 0};
    if (fcgi_encode_record(&in, FCGI_BEGIN_REQUEST, 1, begin, 8) < 0)
        abort();
    for (size_t i = 0; i < p->params_n; i++)
        if (fcgi_encode_pair(&s, p->pv[i].name, p->pv[i].name_len, p->pv[i].value,
                             p->pv[i].value_len) < 0)
            abort();
    if (fcgi_encode_stream(&in, FCGI_PARAMS, 1, s.data, s.len, max_record) < 0 ||
        fcgi_encode_record(&in, FCGI_PARAMS, 1, NULL, 0) < 0 ||
        fcgi_encode_stream(&in, FCGI_STDIN, 1, p->body.data, p->body.len, max_record) < 0 ||
        fcgi_encode_record(&in, FCGI_STDIN, 1, NULL, 0) < 0)
        abort();
    struct fcgi_parser q;
    fcgi_parser_init(&q, &lim);
    if (fcgi_parser_feed(&q, in.data, in.len) < 0 || q.state != FCGI_ST_DONE || q.reply.len ||
        !same_request(p, &q))
        abort();
    fcgi_parser_free(&q);
    buf_free(&s);
    buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t piece = data[0] & 0x7f ? data[0] & 0x7f : size;
    const uint8_t *stream = data + 1;
    size_t n = size - 1;
    struct buf framed;
    buf_init(&framed, 1u << 22);
    if (data[0] & 0x80) {
        size_t at = 0;
        while (n - at >= 3) {
            unsigned type = stream[at], id = stream[at + 1];
            size_t len = stream[at + 2];
            at += 3;
            if (len > n - at)
                len = n - at;
            fcgi_encode_record(&framed, type, id, stream + at, len);
            at += len;
        }
        stream = (const uint8_t *)framed.data;
        n = framed.len;
    }
    struct fcgi_parser whole, cut;
    fcgi_parser_init(&whole, &lim);
    fcgi_parser_init(&cut, &lim);
    feed(&whole, stream, n, n ? n : 1);
    feed(&cut, stream, n, piece);
    if (whole.state != cut.state || whole.reply.len != cut.reply.len ||
        (whole.reply.len && memcmp(whole.reply.data, cut.reply.data, whole.reply.len) != 0) ||
        whole.request_id != cut.request_id || whole.aborted != cut.aborted ||
        whole.body_seen != cut.body_seen || strcmp(whole.errstr, cut.errstr) != 0)
        abort();
    check_replies(&whole.reply);
    if (whole.reply.len > FCGI_PROTO_REPLY_MAX || whole.body.len > lim.body_max ||
        whole.body_over != (whole.body_seen > lim.body_max) ||
        whole.params_n > FCGI_PROTO_PARAMS_COUNT)
        abort();
    if (whole.state == FCGI_ST_STDIN || whole.state == FCGI_ST_DONE ||
        (whole.state == FCGI_ST_ERROR && whole.params_n)) {
        if (!same_request(&whole, &cut))
            abort();
        for (size_t i = 0; i < whole.params_n; i++) {
            touch(whole.pv[i].name, whole.pv[i].name_len + 1);
            touch(whole.pv[i].value, whole.pv[i].value_len + 1);
            /* Lookup is by C string: a name with a NUL inside cannot be asked for. */
            if (memchr(whole.pv[i].name, '\0', whole.pv[i].name_len))
                continue;
            size_t len = 0, j = 0;
            const char *v = fcgi_parser_param(&whole, whole.pv[i].name, &len);
            while (whole.pv[j].name_len != whole.pv[i].name_len ||
                   memcmp(whole.pv[j].name, whole.pv[i].name, whole.pv[i].name_len) != 0)
                j++; /* the first of that name: what libfcgi's lookup finds too */
            if (v != whole.pv[j].value || len != whole.pv[j].value_len)
                abort();
        }
        if (!whole.body_over)
            round_trip(&whole, piece * 509 % FCGI_MAX_LENGTH + 1);
    }
    fcgi_parser_free(&whole);
    fcgi_parser_free(&cut);
    buf_free(&framed);
    return 0;
}
