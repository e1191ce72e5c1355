/* sim_server: the simulator process's state and its routes: configuration, counters, the
 * prompt-cache and throttle tables, SigV4 checks, and the handlers of ConverseStream, Converse,
 * Retrieve and the /_sim/ pages. main.c only reads the configuration and calls sim_server_run. */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "sim_kb.h"
#include "sim_loop.h"
#include "sim_model.h"
#include "sim_net.h"
#include "sim_util.h"

#define SIM_STR_MAX 256
#define SIM_PATH_MAX 4096
#define SIM_SEEN_SLOTS 4096

struct sim_config {
    char bind[SIM_STR_MAX];                 /* --bind / SIM_BIND: IPv4 address (127.0.0.1);
                                               0.0.0.0 only where other hosts or containers
                                               must reach it (docker-compose) */
    int port;                               /* --port / SIM_PORT; 0 = a free port */
    char region[SIM_STR_MAX];               /* --region / SIM_REGION */
    char access_key_id[SIM_STR_MAX];        /* SIM_ACCESS_KEY_ID */
    char secret_access_key[SIM_STR_MAX];    /* SIM_SECRET_ACCESS_KEY */
    char kb_dir[SIM_PATH_MAX];              /* --kb-dir / SIM_KB_DIR; "" = none */
    bool kb_dir_required;                   /* given explicitly: failing to read it is fatal */
    int ttft_ms;                            /* --ttft-ms / SIM_TTFT_MS; -1 = per model */
    int tps;                                /* --tps / SIM_TPS; -1 = per model */
    bool split_writes;                      /* --split-writes / SIM_SPLIT_WRITES=1 */
    bool quiet;                             /* --quiet / SIM_QUIET=1: errors only */
    size_t out_cap;                         /* --out-cap / SIM_OUT_CAP bytes per connection */
};

/* Monotonic counters and the streams_open gauge, served by GET /_sim/stats. */
struct sim_stats {
    unsigned long requests;           /* every request but the /_sim/ pages */
    unsigned long converse_stream;    /* requests routed to each operation, any outcome */
    unsigned long converse;
    unsigned long retrieve;
    unsigned long streams_open;       /* gauge: ConverseStream bodies in progress */
    unsigned long streams_completed;  /* ended by the server with the terminating chunk */
    unsigned long streams_aborted;    /* the client went away (or was cut off) before the end */
    unsigned long streams_dropped;    /* cut on purpose by #sim:drop */
    unsigned long stream_exceptions;  /* exception frames sent (#sim:stream-error) */
    unsigned long throttled;          /* 429 ThrottlingException from #sim:throttle */
    unsigned long auth_failures;      /* 403 from SigV4 verification */
    unsigned long validation_errors;  /* 400 ValidationException for bad requests */
    unsigned long injected_errors;    /* errors asked for by #sim:error */
    unsigned long not_found;          /* 404 for unknown paths or operations */
    unsigned long output_tokens;      /* tokens sent in deltas and Converse replies */
    unsigned long guardrail_calls;    /* Converse / ConverseStream calls with a guardrailConfig */
    unsigned long guardrail_interventions; /* of those, answered as an intervention */
};

/* A bounded count-per-key table (prompt-cache prefixes, throttle keys). When three quarters of
 * its slots are used it forgets everything: the simulator's memory stays bounded and the only
 * effect is a cache write, or a fresh throttle budget, after many distinct keys. */
struct sim_seen {
    uint64_t key[SIM_SEEN_SLOTS]; /* 0 = empty */
    uint32_t count[SIM_SEEN_SLOTS];
    size_t used;
};

struct sim_server {
    struct sim_config cfg;
    struct sim_loop *loop;
    struct sim_net *net;
    struct sim_kb kb;
    struct sim_stats stats;
    struct sim_seen cache;
    struct sim_reply_cache replies; /* composed answers by (model, body) */
    struct sim_seen throttle;
    struct sim_rng rng;       /* request ids and event padding (not the model's) */
    struct buf frame;         /* scratch: one encoded event frame */
    struct buf payload;       /* scratch: one event payload */
    struct sim_io sig;        /* signalfd for SIGINT / SIGTERM */
    sigset_t old_mask;        /* restored at free */
    bool mask_set;
    volatile sig_atomic_t stop;
};

void sim_config_defaults(struct sim_config *c);

/* Loads the knowledge base, binds the port, installs the signal handling. Returns 0, or -1
 * with errstr (the server is then already cleaned up). */
int sim_server_init(struct sim_server *s, const struct sim_config *cfg, char *errstr,
                    size_t errlen);
int sim_server_port(const struct sim_server *s);
/* Serves until SIGINT or SIGTERM. Returns 0, or -1 when the loop failed. */
int sim_server_run(struct sim_server *s);
/* Closes every connection (aborting streams) and frees everything. */
void sim_server_free(struct sim_server *s);

/* Increments key's count and returns it (1 the first time). */
uint32_t sim_seen_bump(struct sim_seen *t, uint64_t key);

/* Writes one request's log line at info level. */
void sim_server_log(const struct sim_server *s, const char *method, const char *path,
                    int status, const char *model, unsigned in_tokens, size_t out_tokens,
                    uint64_t started_ms, const char *note, const char *request_id);

#endif
