/* libFuzzer target: Bedrock's response parsers (common/aws/bedrock_proto.c) on hostile bytes.
 *
 * The input is read three ways: as an event stream whose every message goes through
 * bedrock_event_parse (a delta's text must lie inside the parsed payload and be readable), and
 * whole as a Converse response, a Retrieve response and an error body. Whatever the parsers
 * accept must come out as valid UTF-8 where they promise it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/bedrock_proto.h"
#include "aws/eventstream.h"
#include "core/utf8.h"

static json_tokener *tok;
static volatile unsigned sink; /* reading every text byte lets ASan check its bounds */

static int on_message(void *user, const struct es_message *m)
{
    (void)user;
    struct bedrock_event ev;
    bedrock_event_parse(tok, m, 200, &ev);
    for (size_t i = 0; i < ev.text_len; i++)
        sink += (unsigned char)ev.text[i];
    if (ev.kind == BR_EVENT_ERROR && strlen(ev.err.message) >= sizeof ev.err.message)
        abort();
    bedrock_event_release(&ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok)
        tok = json_tokener_new();
    struct es_decoder d;
    es_decoder_init(&d);
    es_decoder_feed(&d, data, size, on_message, NULL);
    es_decoder_free(&d);

    struct bedrock_result res;
    memset(&res, 0, sizeof res);
    struct buf text;
    buf_init(&text, 1u << 20);
    if (bedrock_converse_parse(tok, (const char *)data, size, &text, &res) == 0 &&
        !utf8_valid(text.data ? text.data : "", text.len))
        abort();
    buf_free(&text);

    struct bedrock_passage *ps;
    size_t n;
    json_object *owner;
    char err[128];
    if (bedrock_retrieve_parse(tok, (const char *)data, size, &ps, &n, &owner, err,
                               sizeof err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!ps[i].text || !ps[i].title || !ps[i].url)
                abort();
        bedrock_passages_free(ps, owner);
    }

    char msg[512];
    bedrock_error_message_parse(tok, (const char *)data, size, msg, sizeof msg);
    if (!utf8_valid(msg, strlen(msg)))
        abort();
    return 0;
}
