/* fcgi_proto: the FastCGI wire format both ways, as libfcgi-dev's <fastcgi.h> lays it out,
 * with no I/O — bytes in, a request and reply bytes out.
 *
 * The parser takes what nginx sends on one connection, in pieces of any size: a
 * BEGIN_REQUEST (role RESPONDER, its FCGI_KEEP_CONN flag), the PARAMS stream (name-value
 * pairs with 1- or 4-byte lengths, over any number of records, ended by an empty one), the
 * STDIN stream (ended by an empty one). Hard caps hold the params (bytes and count) and the
 * body; a body over its cap is dropped past the cap and flagged (the caller answers 413), not
 * an error. Management records (request id 0) are answered as libfcgi answers them:
 * FCGI_GET_VALUES with FCGI_GET_VALUES_RESULT for the names it knows, any other type with
 * FCGI_UNKNOWN_TYPE. A BEGIN_REQUEST while a request is open is refused with END_REQUEST
 * FCGI_CANT_MPX_CONN, another role with FCGI_UNKNOWN_ROLE; records of other request ids are
 * skipped. What must go back to the peer is appended to p->reply (capped); the caller writes
 * it. Anything else malformed — a version other than 1, a record the state does not allow, a
 * params stream that does not decode, a cap passed — is a sticky error with p->errstr.
 *
 * The encoder writes records: a stream (STDOUT, PARAMS, STDIN) cut into records of at most
 * FCGI_MAX_LENGTH content bytes, each padded with zeros to a multiple of 8 as libfcgi pads,
 * END_REQUEST with app and protocol status, and name-value pairs (1-byte lengths below 128,
 * else 4). Each encoder appends whole records or nothing (a full buffer leaves it unchanged). */
#ifndef NOVA_FCGI_PROTO_H
#define NOVA_FCGI_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <fastcgi.h>

#include "core/buf.h"

#define FCGI_PROTO_PARAMS_MAX (64u * 1024u) /* bytes of the PARAMS stream of one request */
#define FCGI_PROTO_PARAMS_COUNT 512         /* name-value pairs of one request */
#define FCGI_PROTO_REPLY_MAX (64u * 1024u)  /* reply bytes not yet taken by the caller */

enum fcgi_state {
    FCGI_ST_BEGIN,  /* waiting for BEGIN_REQUEST */
    FCGI_ST_PARAMS, /* reading the PARAMS stream */
    FCGI_ST_STDIN,  /* params complete; reading the STDIN stream */
    FCGI_ST_DONE,   /* STDIN ended: the whole request is here */
    FCGI_ST_ERROR,  /* sticky: errstr says why */
};

struct fcgi_param {
    const char *name;  /* NUL-terminated (a NUL inside is possible: use the lengths) */
    size_t name_len;
    const char *value; /* NUL-terminated likewise */
    size_t value_len;
};

/* What the parser answers FCGI_GET_VALUES with, and the body cap. */
struct fcgi_limits {
    unsigned max_conns; /* FCGI_MAX_CONNS */
    unsigned max_reqs;  /* FCGI_MAX_REQS */
    size_t body_max;    /* STDIN bytes kept; past it the rest is dropped (body_over) */
};

struct fcgi_parser {
    enum fcgi_state state;
    struct fcgi_limits lim;
    /* The request. */
    unsigned request_id;     /* of the open request (0 in FCGI_ST_BEGIN) */
    unsigned role;           /* FCGI_RESPONDER once accepted */
    bool keep_conn;          /* FCGI_KEEP_CONN was set */
    bool aborted;            /* FCGI_ABORT_REQUEST came for it */
    struct buf params;       /* the PARAMS stream, decoded in place when it ends */
    struct fcgi_param *pv;   /* params_n decoded pairs, pointing into params */
    size_t params_n;
    struct buf body;         /* STDIN, at most lim.body_max bytes */
    unsigned long long body_seen; /* STDIN bytes received, kept or not */
    bool body_over;          /* body_seen passed lim.body_max */
    /* Reply records for the peer (management answers, refusals); the caller takes them. */
    struct buf reply;
    /* The record being read. */
    unsigned char hdr[FCGI_HEADER_LEN];
    size_t hdr_have;
    unsigned rec_type, rec_id;
    size_t content_left, padding_left;
    int rec_action;          /* what its content goes to (fcgi_proto.c) */
    unsigned char rec_small[FCGI_HEADER_LEN]; /* BEGIN_REQUEST's body */
    size_t rec_small_have;
    struct buf mgmt;         /* a GET_VALUES record's content */
    unsigned long long records;
    char errstr[128];
};

void fcgi_parser_init(struct fcgi_parser *p, const struct fcgi_limits *lim);
void fcgi_parser_free(struct fcgi_parser *p);
/* Consumes all len bytes. Returns 0, or -1 with p->state FCGI_ST_ERROR and p->errstr (then and
 * ever after). Check p->state and p->reply after each call. */
int fcgi_parser_feed(struct fcgi_parser *p, const void *data, size_t len);
/* The first parameter called name (as libfcgi's FCGX_GetParam finds it), or NULL; *len (may
 * be NULL) gets its length. Valid from FCGI_ST_STDIN on, until fcgi_parser_forget or _next. */
const char *fcgi_parser_param(const struct fcgi_parser *p, const char *name, size_t *len);
/* Frees the params and the body once the caller has copied what it needs; the parser goes
 * on (it still answers management records and refuses a second request). */
void fcgi_parser_forget(struct fcgi_parser *p);
/* After the response to a FCGI_KEEP_CONN request ended: ready for the next request on the
 * connection (FCGI_ST_BEGIN). Returns 0, or -1 when the state is not FCGI_ST_DONE. */
int fcgi_parser_next(struct fcgi_parser *p);
const char *fcgi_state_name(enum fcgi_state s);
/* "FCGI_STDOUT" and so on; "type N" for an unknown one (buf of at least 16 bytes). */
const char *fcgi_type_name(unsigned type, char *tmp, size_t n);

/* ---- the encoder ---------------------------------------------------------------------- */

/* Bytes one record of n content bytes takes on the wire (header, content, padding). */
size_t fcgi_record_size(size_t n);
/* Fills hdr with the header of a record of type, id and n <= FCGI_MAX_LENGTH content bytes,
 * padded to 8; returns the padding length. */
size_t fcgi_header(unsigned char hdr[FCGI_HEADER_LEN], unsigned type, unsigned id, size_t n);
/* One record (n <= FCGI_MAX_LENGTH; n == 0 is a stream's end). Returns 0, or -1 (full). */
int fcgi_encode_record(struct buf *out, unsigned type, unsigned id, const void *data,
                       size_t n);
/* A stream's data as records of at most max_record content bytes each (0 or more than
 * FCGI_MAX_LENGTH: FCGI_MAX_LENGTH); nothing for len == 0 (the end is fcgi_encode_record
 * with n == 0). Returns 0, or -1 (full: out unchanged). */
int fcgi_encode_stream(struct buf *out, unsigned type, unsigned id, const void *data,
                       size_t len, size_t max_record);
/* END_REQUEST (protocol status FCGI_REQUEST_COMPLETE, FCGI_CANT_MPX_CONN, ...). */
int fcgi_encode_end_request(struct buf *out, unsigned id, uint32_t app_status,
                            unsigned protocol_status);
/* One name-value pair onto a params stream being built (not a record). Lengths up to
 * 0x7fffffff. Returns 0, or -1 (too long or full: out unchanged). */
int fcgi_encode_pair(struct buf *out, const char *name, size_t name_len, const char *value,
                     size_t value_len);

#endif
