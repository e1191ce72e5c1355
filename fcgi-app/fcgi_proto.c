/* fcgi_proto: the FastCGI record codec (see fcgi_proto.h).
 *
 * The parser reads a record header, decides at once what the record's content goes to (an
 * action), moves the content there as it arrives, skips the padding, and acts on the record
 * when its content is complete. The PARAMS stream is gathered whole (it is capped) and
 * decoded in place when its empty record arrives: every pair has at least two length bytes,
 * so "name NUL value NUL" always fits where the pair was. */
#include "fcgi_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum action {
    ACT_SKIP,   /* content and padding dropped */
    ACT_BEGIN,  /* BEGIN_REQUEST's 8 bytes into rec_small */
    ACT_PARAMS, /* onto params */
    ACT_STDIN,  /* onto body, up to its cap */
    ACT_VALUES, /* FCGI_GET_VALUES's content into mgmt */
};

static const unsigned char zeros[8];

/* ---- the encoder ------------------------------------------------------------------------ */

size_t fcgi_record_size(size_t n)
{
    return FCGI_HEADER_LEN + ((n + 7) & ~(size_t)7);
}

size_t fcgi_header(unsigned char hdr[FCGI_HEADER_LEN], unsigned type, unsigned id, size_t n)
{
    size_t pad = ((n + 7) & ~(size_t)7) - n;
    hdr[0] = FCGI_VERSION_1;
    hdr[1] = (unsigned char)type;
    hdr[2] = (unsigned char)(id >> 8);
    hdr[3] = (unsigned char)id;
    hdr[4] = (unsigned char)(n >> 8);
    hdr[5] = (unsigned char)n;
    hdr[6] = (unsigned char)pad;
    hdr[7] = 0;
    return pad;
}

/* Appends one record; the caller checked that it fits. */
static void put_record(struct buf *out, unsigned type, unsigned id, const void *data, size_t n)
{
    unsigned char hdr[FCGI_HEADER_LEN];
    size_t pad = fcgi_header(hdr, type, id, n);
    buf_append(out, hdr, sizeof hdr);
    if (n)
        buf_append(out, data, n);
    if (pad)
        buf_append(out, zeros, pad);
}

static bool fits(const struct buf *out, size_t n)
{
    return n <= out->max && out->len <= out->max - n;
}

int fcgi_encode_record(struct buf *out, unsigned type, unsigned id, const void *data, size_t n)
{
    if (n > FCGI_MAX_LENGTH || !fits(out, fcgi_record_size(n)))
        return -1;
    put_record(out, type, id, data, n);
    return 0;
}

int fcgi_encode_stream(struct buf *out, unsigned type, unsigned id, const void *data,
                       size_t len, size_t max_record)
{
    if (max_record == 0 || max_record > FCGI_MAX_LENGTH)
        max_record = FCGI_MAX_LENGTH;
    size_t whole = len / max_record, rest = len % max_record;
    if (whole > (SIZE_MAX - fcgi_record_size(rest)) / fcgi_record_size(max_record))
        return -1;
    size_t total = whole * fcgi_record_size(max_record) + (rest ? fcgi_record_size(rest) : 0);
    if (!fits(out, total))
        return -1;
    const char *p = data;
    for (size_t off = 0; off < len; off += max_record)
        put_record(out, type, id, p + off, len - off < max_record ? len - off : max_record);
    return 0;
}

int fcgi_encode_end_request(struct buf *out, unsigned id, uint32_t app_status,
                            unsigned protocol_status)
{
    unsigned char body[8] = {(unsigned char)(app_status >> 24), (unsigned char)(app_status >> 16),
                             (unsigned char)(app_status >> 8), (unsigned char)app_status,
                             (unsigned char)protocol_status, 0, 0, 0};
    return fcgi_encode_record(out, FCGI_END_REQUEST, id, body, sizeof body);
}

static size_t len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

static void put_len(struct buf *out, size_t n)
{
    if (n < 128) {
        buf_putc(out, (char)n);
        return;
    }
    unsigned char b[4] = {(unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    buf_append(out, b, 4);
}

int fcgi_encode_pair(struct buf *out, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    if (name_len > 0x7fffffff || value_len > 0x7fffffff)
        return -1;
    size_t total = len_size(name_len) + len_size(value_len) + name_len + value_len;
    if (!fits(out, total))
        return -1;
    put_len(out, name_len);
    put_len(out, value_len);
    buf_append(out, name, name_len);
    buf_append(out, value, value_len);
    return 0;
}

/* ---- names ------------------------------------------------------------------------------ */

const char *fcgi_state_name(enum fcgi_state s)
{
    switch (s) {
    case FCGI_ST_BEGIN: return "begin";
    case FCGI_ST_PARAMS: return "params";
    case FCGI_ST_STDIN: return "stdin";
    case FCGI_ST_DONE: return "done";
    case FCGI_ST_ERROR: return "error";
    }
    return "?";
}

const char *fcgi_type_name(unsigned type, char *tmp, size_t n)
{
    static const char *const names[] = {
        NULL, "FCGI_BEGIN_REQUEST", "FCGI_ABORT_REQUEST", "FCGI_END_REQUEST", "FCGI_PARAMS",
        "FCGI_STDIN", "FCGI_STDOUT", "FCGI_STDERR", "FCGI_DATA", "FCGI_GET_VALUES",
        "FCGI_GET_VALUES_RESULT", "FCGI_UNKNOWN_TYPE"};
    if (type >= 1 && type <= FCGI_MAXTYPE)
        return names[type];
    snprintf(tmp, n, "type %u", type);
    return tmp;
}

/* ---- the parser ------------------------------------------------------------------------- */

void fcgi_parser_init(struct fcgi_parser *p, const struct fcgi_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = *lim;
    p->state = FCGI_ST_BEGIN;
    buf_init(&p->params, FCGI_PROTO_PARAMS_MAX);
    buf_init(&p->body, lim->body_max);
    buf_init(&p->reply, FCGI_PROTO_REPLY_MAX);
    buf_init(&p->mgmt, FCGI_MAX_LENGTH);
}

void fcgi_parser_forget(struct fcgi_parser *p)
{
    buf_free(&p->params);
    buf_free(&p->body);
    free(p->pv);
    p->pv = NULL;
    p->params_n = 0;
}

void fcgi_parser_free(struct fcgi_parser *p)
{
    fcgi_parser_forget(p);
    buf_free(&p->reply);
    buf_free(&p->mgmt);
}

static int fail(struct fcgi_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct fcgi_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errstr, sizeof p->errstr, fmt, ap);
    va_end(ap);
    p->state = FCGI_ST_ERROR;
    return -1;
}

static int reply_end(struct fcgi_parser *p, unsigned id, unsigned protocol_status)
{
    if (fcgi_encode_end_request(&p->reply, id, 0, protocol_status) < 0)
        return fail(p, "the peer leaves %u bytes of replies unread", FCGI_PROTO_REPLY_MAX);
    return 0;
}

/* Reads a pair length at *off of b (len bytes). Returns 0, or -1 when truncated. */
static int get_len(const unsigned char *b, size_t len, size_t *off, size_t *n)
{
    if (*off >= len)
        return -1;
    if (!(b[*off] & 0x80)) {
        *n = b[(*off)++];
        return 0;
    }
    if (len - *off < 4)
        return -1;
    const unsigned char *q = b + *off;
    *n = (size_t)(q[0] & 0x7f) << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    *off += 4;
    return 0;
}

/* Decodes the name-value stream in b in place into "name NUL value NUL" entries; fills pv
 * (grown, at most max entries) when it is not NULL. Returns the number of pairs, or -1 (what
 * went wrong in why). */
static long decode_pairs(struct buf *b, struct fcgi_param **pv, size_t max, const char **why)
{
    unsigned char *d = (unsigned char *)b->data;
    size_t len = b->len, in = 0, out = 0, n = 0, cap = 0;
    while (in < len) {
        size_t nl, vl;
        if (get_len(d, len, &in, &nl) < 0 || get_len(d, len, &in, &vl) < 0) {
            *why = "a name-value pair's length is cut off";
            return -1;
        }
        if (nl > len - in || vl > len - in - nl) {
            *why = "a name-value pair runs past the end of its stream";
            return -1;
        }
        if (n == max) {
            *why = "too many name-value pairs";
            return -1;
        }
        size_t name_at = out;
        memmove(d + out, d + in, nl);
        d[out + nl] = '\0';
        out += nl + 1;
        in += nl;
        size_t value_at = out;
        memmove(d + out, d + in, vl);
        d[out + vl] = '\0';
        out += vl + 1;
        in += vl;
        if (pv) {
            if (n == cap) {
                cap = cap ? 2 * cap : 32;
                *pv = xrealloc(*pv, cap * sizeof **pv);
            }
            (*pv)[n] = (struct fcgi_param){(char *)d + name_at, nl, (char *)d + value_at, vl};
        }
        n++;
    }
    b->len = out; /* the NULs after each entry are the terminators; no more appends */
    return (long)n;
}

static int end_params(struct fcgi_parser *p)
{
    const char *why = "";
    long n = decode_pairs(&p->params, &p->pv, FCGI_PROTO_PARAMS_COUNT, &why);
    if (n < 0)
        return fail(p, "malformed FCGI_PARAMS: %s", why);
    p->params_n = (size_t)n;
    p->state = FCGI_ST_STDIN;
    return 0;
}

static bool is_name(const struct fcgi_param *pv, const char *name)
{
    return pv->name_len == strlen(name) && memcmp(pv->name, name, pv->name_len) == 0;
}

/* FCGI_GET_VALUES answered as libfcgi answers it: the names it knows, in the asked order. */
static int answer_values(struct fcgi_parser *p)
{
    const char *why = "";
    struct fcgi_param *pv = NULL;
    long n = decode_pairs(&p->mgmt, &pv, FCGI_PROTO_PARAMS_COUNT, &why);
    if (n < 0) {
        free(pv);
        buf_reset(&p->mgmt);
        return fail(p, "malformed FCGI_GET_VALUES: %s", why);
    }
    struct buf res;
    buf_init(&res, FCGI_MAX_LENGTH);
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        char v[16];
        if (is_name(&pv[i], FCGI_MAX_CONNS))
            snprintf(v, sizeof v, "%u", p->lim.max_conns);
        else if (is_name(&pv[i], FCGI_MAX_REQS))
            snprintf(v, sizeof v, "%u", p->lim.max_reqs);
        else if (is_name(&pv[i], FCGI_MPXS_CONNS))
            snprintf(v, sizeof v, "0");
        else
            continue;
        rc = fcgi_encode_pair(&res, pv[i].name, pv[i].name_len, v, strlen(v));
    }
    free(pv);
    buf_reset(&p->mgmt);
    if (rc == 0 && fcgi_encode_record(&p->reply, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID,
                                      res.data, res.len) < 0)
        rc = -1;
    buf_free(&res);
    if (rc < 0)
        return fail(p, "the peer leaves %u bytes of replies unread", FCGI_PROTO_REPLY_MAX);
    return 0;
}

static int answer_unknown(struct fcgi_parser *p, unsigned type)
{
    unsigned char body[8] = {(unsigned char)type, 0, 0, 0, 0, 0, 0, 0};
    if (fcgi_encode_record(&p->reply, FCGI_UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, body,
                           sizeof body) < 0)
        return fail(p, "the peer leaves %u bytes of replies unread", FCGI_PROTO_REPLY_MAX);
    return 0;
}

/* A whole header is in: decide where the record's content goes. */
static int on_header(struct fcgi_parser *p)
{
    const unsigned char *h = p->hdr;
    char t[16];
    if (h[0] != FCGI_VERSION_1)
        return fail(p, "FastCGI version %u (only 1 is spoken)", h[0]);
    p->rec_type = h[1];
    p->rec_id = (unsigned)h[2] << 8 | h[3];
    p->content_left = (size_t)h[4] << 8 | h[5];
    p->padding_left = h[6];
    p->rec_action = ACT_SKIP;
    p->records++;
    unsigned type = p->rec_type, id = p->rec_id;
    if (type == FCGI_BEGIN_REQUEST) {
        if (id == FCGI_NULL_REQUEST_ID)
            return fail(p, "FCGI_BEGIN_REQUEST with request id 0");
        if (p->content_left != sizeof(FCGI_BeginRequestBody))
            return fail(p, "FCGI_BEGIN_REQUEST of %zu bytes", p->content_left);
        if (p->state == FCGI_ST_BEGIN) {
            p->rec_action = ACT_BEGIN;
            p->rec_small_have = 0;
            return 0;
        }
        if (id == p->request_id)
            return fail(p, "FCGI_BEGIN_REQUEST again for open request %u", id);
        return reply_end(p, id, FCGI_CANT_MPX_CONN); /* one request per connection */
    }
    if (id == FCGI_NULL_REQUEST_ID) {
        if (type == FCGI_GET_VALUES) {
            p->rec_action = ACT_VALUES;
            return 0;
        }
        return answer_unknown(p, type);
    }
    if (p->state == FCGI_ST_BEGIN || id != p->request_id)
        return 0; /* a request that is not open here: skipped, as libfcgi does */
    if (type == FCGI_ABORT_REQUEST) {
        p->aborted = true;
        return 0;
    }
    if (p->state == FCGI_ST_PARAMS && type == FCGI_PARAMS) {
        p->rec_action = ACT_PARAMS;
        return 0;
    }
    if (p->state == FCGI_ST_STDIN && type == FCGI_STDIN) {
        p->rec_action = ACT_STDIN;
        return 0;
    }
    return fail(p, "%s for request %u while in state %s", fcgi_type_name(type, t, sizeof t), id,
                fcgi_state_name(p->state));
}

/* The record's content is all in. */
static int on_content_end(struct fcgi_parser *p, bool empty)
{
    switch ((enum action)p->rec_action) {
    case ACT_BEGIN: {
        const unsigned char *b = p->rec_small;
        unsigned role = (unsigned)b[0] << 8 | b[1];
        if (role != FCGI_RESPONDER)
            return reply_end(p, p->rec_id, FCGI_UNKNOWN_ROLE);
        p->request_id = p->rec_id;
        p->role = role;
        p->keep_conn = (b[2] & FCGI_KEEP_CONN) != 0;
        p->state = FCGI_ST_PARAMS;
        return 0;
    }
    case ACT_PARAMS:
        return empty ? end_params(p) : 0;
    case ACT_STDIN:
        if (empty)
            p->state = FCGI_ST_DONE;
        return 0;
    case ACT_VALUES:
        return answer_values(p);
    case ACT_SKIP:
        return 0;
    }
    return 0;
}

/* Moves up to n content bytes of the current record; returns how many it took or -1. */
static long take_content(struct fcgi_parser *p, const unsigned char *d, size_t n)
{
    if (n > p->content_left)
        n = p->content_left;
    switch ((enum action)p->rec_action) {
    case ACT_BEGIN:
        memcpy(p->rec_small + p->rec_small_have, d, n);
        p->rec_small_have += n;
        break;
    case ACT_PARAMS:
        if (buf_append(&p->params, d, n) < 0)
            return fail(p, "FCGI_PARAMS larger than %u bytes", FCGI_PROTO_PARAMS_MAX);
        break;
    case ACT_STDIN: {
        p->body_seen += n;
        size_t room = p->body.max - p->body.len, keep = n < room ? n : room;
        if (keep)
            buf_append(&p->body, d, keep);
        if (keep < n)
            p->body_over = true;
        break;
    }
    case ACT_VALUES:
        buf_append(&p->mgmt, d, n); /* a record is at most FCGI_MAX_LENGTH: it fits */
        break;
    case ACT_SKIP:
        break;
    }
    p->content_left -= n;
    return (long)n;
}

int fcgi_parser_feed(struct fcgi_parser *p, const void *data, size_t len)
{
    const unsigned char *d = data;
    size_t off = 0;
    if (p->state == FCGI_ST_ERROR)
        return -1;
    while (off < len) {
        if (p->hdr_have < FCGI_HEADER_LEN) {
            size_t n = FCGI_HEADER_LEN - p->hdr_have;
            if (n > len - off)
                n = len - off;
            memcpy(p->hdr + p->hdr_have, d + off, n);
            p->hdr_have += n;
            off += n;
            if (p->hdr_have < FCGI_HEADER_LEN)
                break;
            if (on_header(p) < 0)
                return -1;
            if (p->content_left == 0 && on_content_end(p, true) < 0)
                return -1;
        } else if (p->content_left > 0) {
            long n = take_content(p, d + off, len - off);
            if (n < 0)
                return -1;
            off += (size_t)n;
            if (p->content_left == 0 && on_content_end(p, false) < 0)
                return -1;
        } else {
            size_t n = p->padding_left < len - off ? p->padding_left : len - off;
            p->padding_left -= n;
            off += n;
        }
        if (p->hdr_have == FCGI_HEADER_LEN && p->content_left == 0 && p->padding_left == 0)
            p->hdr_have = 0; /* the record is over: the next byte starts a header */
    }
    return 0;
}

const char *fcgi_parser_param(const struct fcgi_parser *p, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < p->params_n; i++)
        if (p->pv[i].name_len == n && memcmp(p->pv[i].name, name, n) == 0) {
            if (len)
                *len = p->pv[i].value_len;
            return p->pv[i].value;
        }
    return NULL;
}

int fcgi_parser_next(struct fcgi_parser *p)
{
    if (p->state != FCGI_ST_DONE)
        return -1;
    fcgi_parser_forget(p);
    buf_init(&p->params, FCGI_PROTO_PARAMS_MAX);
    buf_init(&p->body, p->lim.body_max);
    p->request_id = 0;
    p->role = 0;
    p->keep_conn = false;
    p->aborted = false;
    p->body_seen = 0;
    p->body_over = false;
    p->state = FCGI_ST_BEGIN;
    return 0;
}
