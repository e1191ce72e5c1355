/* config: the NOVA_* settings every program shares, read once from the environment into one
 * struct, validated, and printable with secrets masked: a bad value stops the start naming
 * the variable, instead of surfacing later in a request. Programs call config_from_env() at
 * start and pass the struct (or parts of it) down; apart from the AWS side's own reading (the
 * same once-at-start rule) nothing else reads the environment. The AWS side's settings (region, endpoints, credentials, retries) live with the AWS
 * code, in struct aws_config (aws/aws_config.h): a program that never calls AWS never reads
 * them. */
#ifndef NOVA_CONFIG_H
#define NOVA_CONFIG_H

#include <stdio.h>

#include "core/env.h"
#include "core/log.h"

/* Where model calls go (NOVA_BACKEND) and where passages come from (NOVA_KB_BACKEND). */
enum backend { BACKEND_SIM, BACKEND_BEDROCK };
enum kb_backend { KB_LOCAL, KB_BEDROCK };

struct nova_config {
    enum backend backend;      /* NOVA_BACKEND: "sim" or "bedrock" */
    char micro_model[256];     /* NOVA_MICRO_MODEL */
    char pro_model[256];       /* NOVA_PRO_MODEL */
    enum kb_backend kb_backend; /* NOVA_KB_BACKEND: "local" or "bedrock" */
    char kb_id[128];           /* NOVA_KB_ID */
    enum log_level log_level;  /* NOVA_LOG_LEVEL */
    char run_dir[512];         /* NOVA_RUN_DIR: sockets, pids, logs, Redis data ("./run") */
    char redis_url[600];       /* NOVA_REDIS_URL: redis://[[user:]password@]host:port[/db],
                                  rediss://... (TLS) or unix://[[user:]password@]/path
                                  (default unix://<run_dir>/redis.sock); printed masked */
    char redis_tls_ca_file[512];   /* NOVA_REDIS_TLS_CA_FILE: CAs for rediss:// ("" : the
                                      system's store) */
    char redis_tls_cert_file[512]; /* NOVA_REDIS_TLS_CERT_FILE: a client certificate ("") */
    char redis_tls_key_file[512];  /* NOVA_REDIS_TLS_KEY_FILE: its key (with the cert) */
    char fcgi_socket[600];     /* NOVA_FCGI_SOCKET: unix socket path (<run_dir>/nova-fcgi.sock) */
    unsigned fcgi_socket_mode; /* NOVA_FCGI_SOCKET_MODE: octal, owner rw required, no x bits
                                  (0660: the owner and the group nginx shares, nobody else) */
    char fcgi_socket_group[64]; /* NOVA_FCGI_SOCKET_GROUP: the socket's group, a name or a
                                  number; "" leaves it the creator's */
    long fcgi_socket_gid;      /* its resolved gid, -1 when unset */
    long fcgi_children;        /* NOVA_FCGI_CHILDREN: prefork children (2) */
    long fcgi_threads;         /* NOVA_FCGI_THREADS: FCGX_Accept_r threads per child; with
                                  streams on the loop only the pre-stream pool (16), in the
                                  thread mode one per open stream (256) */
    bool fcgi_streams_loop;    /* NOVA_FCGI_STREAMS=loop: open streams are relayed by the
                                  child's event loop, holding no thread (issue 15 phase B);
                                  thread (the default): each holds its request thread */
    long max_streams;          /* NOVA_MAX_STREAMS: chats and resumes one child holds open at
                                  once; one more is 503 unavailable, Retry-After 1 (10000) */
    long drain_s;              /* NOVA_DRAIN_SECONDS: SIGTERM grace for open streams (20) */
    long keepalive_s;          /* NOVA_KEEPALIVE_SECONDS: SSE ": ping" interval (15) */
    long log_ttl_s;            /* NOVA_LOG_TTL_SECONDS: expiry of nova:log:<request> (3600) */
    long job_deadline_s;       /* NOVA_JOB_DEADLINE_SECONDS: a job nobody waits for after (300) */
    long worker_max_jobs;      /* NOVA_WORKER_MAX_JOBS: jobs in flight per worker (256) */
    long max_queue_depth;      /* NOVA_MAX_QUEUE_DEPTH: above it, 429 overloaded (10000) */
    long max_resumes;          /* NOVA_MAX_RESUMES_PER_REQUEST: live resumes of one request;
                                  one more is 429 rate_limited (4) */
    long feedback_max;         /* NOVA_FEEDBACK_MAX: entries nova:feedback keeps, the oldest
                                  trimmed (100000) */
    char api_key[257];         /* NOVA_API_KEY: when set, what every /api/ request but
                                  /api/health must carry (nova-fcgi); "" when unset */
    /* The product (paths relative to the working directory; make run starts in the repo): */
    char glossary_file[600];   /* NOVA_GLOSSARY_FILE (config/game_glossary.json) */
    char synonyms_file[600];   /* NOVA_SYNONYMS_FILE: the search's synonyms
                                  (config/synonyms.tsv); "" for none */
    char prompts_dir[600];     /* NOVA_PROMPTS_DIR (config/prompts) */
    char prices_file[600];     /* NOVA_PRICES_FILE (config/prices.json) */
    char kb_db[600];           /* NOVA_KB_DB: the local index (<run_dir>/kb.sqlite) */
    char kb_dir[600];          /* NOVA_KB_DIR: what make run imports when the index is
                                  missing or older (kb/sample) */
    double kb_min_score;       /* NOVA_KB_MIN_SCORE: passages below are not context (0.2) */
    long session_ttl_s;        /* NOVA_SESSION_TTL_SECONDS: expiry of nova:session:<id> (86400) */
    /* The questions it could not answer (nova:gaps, fcgi-app/gaps.h): */
    double gap_weak_score;     /* NOVA_GAP_WEAK_SCORE: an answered question whose best passage
                                  scored under this is recorded as weak (0.3; 0: none is) */
    long gaps_max;             /* NOVA_GAPS_MAX: entries nova:gaps keeps, the oldest trimmed
                                  (10000; 0: nothing is recorded) */
    /* Failure semantics (workers): */
    long visibility_timeout_s; /* NOVA_VISIBILITY_TIMEOUT_S: a pending job idle this long is
                                  reclaimed by another worker (30) */
    long max_deliveries;       /* NOVA_MAX_DELIVERIES: deliveries of one job before it is a
                                  dead letter (3) */
    long worker_outbox_kb;     /* NOVA_WORKER_OUTBOX_KB: event data a worker holds while Redis
                                  is away; past it the jobs give up (65536) */
    /* A handoff to a person (fcgi-app/handoff.c queues it, workers/handoff.c delivers it): */
    char handoff_url[600];     /* NOVA_HANDOFF_URL: where it is POSTed (http or https); ""
                                  when unset: POST .../handoff answers 503 unavailable */
    char handoff_secret[257];  /* NOVA_HANDOFF_SECRET: HMAC-SHA256 key of X-Nova-Signature;
                                  "" leaves the body unsigned */
    long handoff_timeout_ms;   /* NOVA_HANDOFF_TIMEOUT_MS: one delivery's whole time (10000) */
    long handoff_max_attempts; /* NOVA_HANDOFF_MAX_ATTEMPTS: deliveries tried before the
                                  handoff is a dead letter (8) */
    long handoff_retry_base_ms; /* NOVA_HANDOFF_RETRY_BASE_MS: first wait between two (1000) */
    long handoff_retry_cap_ms; /* NOVA_HANDOFF_RETRY_CAP_MS: longest wait (60000) */
    long keep_jobs;            /* NOVA_KEEP_JOBS: 1 keeps a finished job's entry in its stream
                                  (until trimmed) instead of deleting it with its XACK (0) */
};

/* "sim", "bedrock"; "local", "bedrock" (meta.backend, --print-config). */
const char *config_backend_name(enum backend b);
const char *config_kb_backend_name(enum kb_backend k);

/* Reads the environment. Returns 0, or -1 with errstr naming the variable that is wrong. */
int config_from_env(struct nova_config *c, char *errstr, size_t errlen);

/* url with the password of its userinfo replaced by three asterisks: "rediss:" "//nova:***@h"
 * keeps the user name; a lone password ("redis:" "//secret@h") is all replaced; a query (a
 * webhook's "?token=...") becomes "?***". Other URLs are copied unchanged. */
void config_mask_url(const char *url, char *out, size_t n);

/* Shows every setting, secrets masked, to fn (env.h). */
void config_visit(const struct nova_config *c, setting_fn fn, void *arg);
/* Writes "key: value" lines, secrets masked, for `--print-config`. */
void config_print(const struct nova_config *c, FILE *out);
/* Adds the same settings, secrets masked, as fields of a log line (numbers as numbers): the
 * "config" line every program logs at start. */
void config_log_fields(const struct nova_config *c, struct log_line *l);

#endif
