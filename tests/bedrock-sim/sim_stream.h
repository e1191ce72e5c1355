/* sim_stream: a paced answer on one connection: ConverseStream's event frames (messageStart,
 * one contentBlockDelta per token, contentBlockStop, messageStop, metadata), or Converse's whole
 * JSON reply after the time to first token. Token i is due at
 *     t0 + ttft + i * 1000 / tps   (+ stall after half the tokens),
 * all on one timer: each tick sends every token already due and re-arms for the next (never
 * sooner than 1 ms), so high rates send several tokens per tick. The directives
 * #sim:stream-error and #sim:drop end the stream early. The stream holds its connection and
 * frees itself when done or when the connection dies. */
#ifndef SIM_STREAM_H
#define SIM_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_model.h"
#include "sim_net.h"
#include "sim_server.h"

struct sim_stream_params {
    bool events;             /* ConverseStream (true) or Converse (false) */
    int ttft_ms;
    int tps;
    unsigned input_tokens;   /* as reported: without the cached prefix */
    unsigned cache_read;
    unsigned cache_write;
    const char *model_id;    /* decoded, for the log */
    const char *path;        /* as received, for the log */
    const char *request_id;
    uint64_t started_ms;     /* when the request arrived */
};

/* Starts answering on c: takes over *reply (which is left empty) and holds c until done. */
void sim_stream_start(struct sim_server *s, struct sim_conn *c, struct sim_reply *reply,
                      const struct sim_stream_params *p);

/* The message Bedrock puts in an exception event / error of the given type. */
const char *sim_stream_error_message(const char *type);

#endif
