/* eventstream: the AWS event stream codec (application/vnd.amazon.eventstream).
 *
 * Frame: total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload |
 * message_crc u32, big-endian, CRC-32 (zlib crc32) over the prelude and over everything before
 * the message CRC. The decoder is incremental: bytes may arrive in any pieces, one byte at a time
 * included; it checks both CRCs, decodes the ten header types, caps headers at 128 KiB and the
 * payload at 24 MiB (botocore's limits: what AWS's own client accepts, and no more, so a
 * misbehaving peer cannot make us hold more), rejects duplicate header names, and reports a
 * corrupt stream as a sticky error: it never resynchronises silently. No I/O. */
#ifndef NOVA_EVENTSTREAM_H
#define NOVA_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define ES_PRELUDE_LEN 12
#define ES_MIN_MESSAGE_LEN 16
#define ES_MAX_HEADERS_LEN (128u * 1024u)
#define ES_MAX_PAYLOAD_LEN (24u * 1024u * 1024u)

enum es_header_type {
    ES_TYPE_BOOL_TRUE = 0,
    ES_TYPE_BOOL_FALSE = 1,
    ES_TYPE_BYTE = 2,
    ES_TYPE_INT16 = 3,
    ES_TYPE_INT32 = 4,
    ES_TYPE_INT64 = 5,
    ES_TYPE_BYTES = 6,
    ES_TYPE_STRING = 7,
    ES_TYPE_TIMESTAMP = 8, /* int64 milliseconds since the epoch */
    ES_TYPE_UUID = 9,
};

struct es_header {
    const char *name;   /* not NUL-terminated; points into the message */
    size_t name_len;    /* 1..255 */
    enum es_header_type type;
    union {
        bool b;                 /* BOOL_TRUE / BOOL_FALSE */
        int64_t i;              /* BYTE, INT16, INT32, INT64, TIMESTAMP (sign-extended) */
        struct {
            const uint8_t *p;   /* BYTES, STRING (not NUL-terminated), UUID (16 bytes) */
            size_t len;
        } bytes;
    } v;
};

/* A decoded message. Pointers are valid only during the callback that receives it. */
struct es_message {
    const struct es_header *headers;
    size_t n_headers;
    const uint8_t *payload;
    size_t payload_len;
    uint32_t total_len;
    uint32_t headers_len;
    uint32_t prelude_crc;
    uint32_t message_crc;
};

/* Finds a header by name (exact, case-sensitive as AWS sends them); NULL when absent. */
const struct es_header *es_message_header(const struct es_message *m, const char *name);
/* The value of a STRING header as (ptr, len); returns 0, or -1 when absent or not a string. */
int es_message_string(const struct es_message *m, const char *name, const char **s, size_t *len);

/* Called once per whole, valid message. Return 0 to go on, non-zero to stop feeding: the
 * decoder then fails with ES_ERR_CALLBACK. */
typedef int (*es_message_fn)(void *user, const struct es_message *m);

enum es_error {
    ES_OK = 0,
    ES_ERR_PRELUDE_CRC,    /* prelude CRC mismatch */
    ES_ERR_MESSAGE_CRC,    /* message CRC mismatch */
    ES_ERR_LENGTH,         /* total/headers length impossible or over the caps */
    ES_ERR_HEADER,         /* truncated or invalid header (bad type, name length 0, overrun) */
    ES_ERR_DUPLICATE,      /* the same header name twice */
    ES_ERR_CALLBACK,       /* the callback asked to stop */
    ES_ERR_TRUNCATED,      /* es_decoder_finish with a partial message buffered */
};

struct es_decoder {
    struct buf frame;        /* the message being assembled */
    uint32_t need;           /* bytes wanted for the current step (prelude, then whole message) */
    struct es_header *hdrs;  /* scratch for decoded headers, grown as needed */
    size_t hdrs_cap;
    enum es_error err;       /* sticky: once set every feed returns -1 */
    char errstr[128];
    uint64_t messages;       /* messages decoded so far */
};

void es_decoder_init(struct es_decoder *d);
void es_decoder_free(struct es_decoder *d);
/* Consumes all len bytes, calling fn for each message completed. Returns 0, or -1 with
 * d->err / d->errstr set; after an error the decoder refuses further input. */
int es_decoder_feed(struct es_decoder *d, const void *data, size_t len, es_message_fn fn,
                    void *user);
/* At end of stream: 0 when no partial message is buffered, else -1 (ES_ERR_TRUNCATED). */
int es_decoder_finish(struct es_decoder *d);
const char *es_error_name(enum es_error e);

/* Encoder: appends one whole frame (headers in the given order) to out. Header values use the
 * same struct es_header (name/name_len, type, v). Returns 0, or -1 when the headers or payload
 * exceed the caps or out is full, or a header cannot be encoded (name length not 1..255,
 * unknown type, integer out of its type's range, bytes/string over 65535, uuid not 16 bytes);
 * on -1 out is unchanged. */
int es_encode(struct buf *out, const struct es_header *headers, size_t n_headers,
              const void *payload, size_t payload_len);

/* Convenience for the common shape: STRING headers only, given as name/value pairs. */
int es_encode_strings(struct buf *out, const char *const *names, const char *const *values,
                      size_t n, const void *payload, size_t payload_len);

#endif
