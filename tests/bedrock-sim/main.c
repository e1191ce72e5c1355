/* bedrock-sim: a local server speaking the real Amazon Bedrock wire protocol (ConverseStream,
 * Converse, Knowledge Base Retrieve, SigV4, AWS errors) so dual-nova runs offline.
 *
 * This file reads the configuration once (flags over SIM_* environment variables over
 * defaults), validates and prints it with secrets masked, raises the descriptor limit, and runs
 * the server (sim_server.c) until SIGINT or SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "aws/creds.h"
#include "core/log.h"
#include "sim_server.h"
#include "sim_util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bedrock-sim [--bind ADDR] [--port N] [--region R] [--kb-dir DIR] [--ttft-ms MS] [--tps N]\n"
            "                   [--split-writes] [--out-cap BYTES] [--quiet]\n"
            "\n"
            "  --bind ADDR      IPv4 address to listen on (127.0.0.1)       SIM_BIND\n"
            "  --port N         listen on ADDR:N (0 = a free port)          SIM_PORT\n"
            "  --region R       SigV4 region expected                       SIM_REGION\n"
            "  --kb-dir DIR     Markdown documents for Retrieve             SIM_KB_DIR\n"
            "  --ttft-ms MS     time to first token for every model         SIM_TTFT_MS\n"
            "  --tps N          tokens per second for every model           SIM_TPS\n"
            "  --split-writes   send each frame in 2-3 pieces ~1 ms apart   SIM_SPLIT_WRITES=1\n"
            "  --out-cap BYTES  output a slow client may have queued        SIM_OUT_CAP\n"
            "  --quiet          log errors only                             SIM_QUIET=1\n"
            "keys: SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY (default: AWS's documented example)\n");
}

static int parse_num(const char *what, const char *s, long max, long *out)
{
    if (sim_parse_uint(s, strlen(s), max, out) < 0) {
        fprintf(stderr, "bedrock-sim: %s: expected an integer 0..%ld, got \"%s\"\n", what, max,
                s);
        return -1;
    }
    return 0;
}

static int set_str(char *dst, size_t cap, const char *what, const char *s)
{
    if (strlen(s) >= cap || (cap > 1 && s[0] == '\0' && strcmp(what, "SIM_KB_DIR") != 0)) {
        fprintf(stderr, "bedrock-sim: %s: empty or too long\n", what);
        return -1;
    }
    snprintf(dst, cap, "%s", s);
    return 0;
}

static bool env_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

/* Settings of one kind from the environment then the flags; -1 on a bad value. */
struct raw {
    const char *bind, *port, *region, *kb_dir, *ttft, *tps, *out_cap;
};

static int apply(struct sim_config *c, const struct raw *r)
{
    long v;
    if (r->bind && set_str(c->bind, sizeof c->bind, "bind", r->bind) < 0)
        return -1;
    if (r->port) {
        if (parse_num("port", r->port, 65535, &v) < 0)
            return -1;
        c->port = (int)v;
    }
    if (r->region && set_str(c->region, sizeof c->region, "region", r->region) < 0)
        return -1;
    if (r->kb_dir) {
        if (set_str(c->kb_dir, sizeof c->kb_dir, "SIM_KB_DIR", r->kb_dir) < 0)
            return -1;
        c->kb_dir_required = r->kb_dir[0] != '\0';
    }
    if (r->ttft) {
        if (parse_num("ttft-ms", r->ttft, 600000, &v) < 0)
            return -1;
        c->ttft_ms = (int)v;
    }
    if (r->tps) {
        if (parse_num("tps", r->tps, 10000000, &v) < 0 || v < 1) {
            fprintf(stderr, "bedrock-sim: tps must be at least 1\n");
            return -1;
        }
        c->tps = (int)v;
    }
    if (r->out_cap) {
        if (parse_num("out-cap", r->out_cap, 1L << 30, &v) < 0 || v < 4096) {
            fprintf(stderr, "bedrock-sim: out-cap must be 4096..1073741824\n");
            return -1;
        }
        c->out_cap = (size_t)v;
    }
    return 0;
}

static int read_config(int argc, char **argv, struct sim_config *c)
{
    sim_config_defaults(c);
    struct stat st;
    if (stat("kb/sample", &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(c->kb_dir, sizeof c->kb_dir, "kb/sample");

    struct raw env = {getenv("SIM_BIND"), getenv("SIM_PORT"), getenv("SIM_REGION"),
                      getenv("SIM_KB_DIR"),
                      getenv("SIM_TTFT_MS"), getenv("SIM_TPS"), getenv("SIM_OUT_CAP")};
    if (apply(c, &env) < 0)
        return -1;
    const char *key = getenv("SIM_ACCESS_KEY_ID"), *secret = getenv("SIM_SECRET_ACCESS_KEY");
    if ((key && set_str(c->access_key_id, sizeof c->access_key_id, "SIM_ACCESS_KEY_ID", key) < 0) ||
        (secret && set_str(c->secret_access_key, sizeof c->secret_access_key,
                           "SIM_SECRET_ACCESS_KEY", secret) < 0))
        return -1;
    c->split_writes = env_true(getenv("SIM_SPLIT_WRITES"));
    c->quiet = env_true(getenv("SIM_QUIET"));

    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},    {"region", required_argument, NULL, 'r'},
        {"bind", required_argument, NULL, 'b'},
        {"kb-dir", required_argument, NULL, 'k'},  {"ttft-ms", required_argument, NULL, 't'},
        {"tps", required_argument, NULL, 's'},     {"out-cap", required_argument, NULL, 'o'},
        {"split-writes", no_argument, NULL, 'w'},  {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct raw flags = {0};
    int ch;
    while ((ch = getopt_long(argc, argv, "b:p:r:k:t:s:o:wqh", opts, NULL)) != -1) {
        switch (ch) {
        case 'b': flags.bind = optarg; break;
        case 'p': flags.port = optarg; break;
        case 'r': flags.region = optarg; break;
        case 'k': flags.kb_dir = optarg; break;
        case 't': flags.ttft = optarg; break;
        case 's': flags.tps = optarg; break;
        case 'o': flags.out_cap = optarg; break;
        case 'w': c->split_writes = true; break;
        case 'q': c->quiet = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bedrock-sim: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    return apply(c, &flags);
}

static void print_config(const struct sim_config *c)
{
    char key[64], secret[64];
    creds_mask(c->access_key_id, key, sizeof key);
    creds_mask(c->secret_access_key, secret, sizeof secret);
    char ttft[32] = "per-model", tps[32] = "per-model";
    if (c->ttft_ms >= 0)
        snprintf(ttft, sizeof ttft, "%d", c->ttft_ms);
    if (c->tps > 0)
        snprintf(tps, sizeof tps, "%d", c->tps);
    log_info("config: bind=%s port=%d region=%s access_key_id=%s secret_access_key=%s kb_dir=%s "
             "ttft_ms=%s tps=%s split_writes=%d out_cap=%zu quiet=%d", c->bind, c->port, c->region, key,
             secret, c->kb_dir[0] ? c->kb_dir : "(none)", ttft, tps, c->split_writes,
             c->out_cap, c->quiet);
}

/* Thousands of concurrent streams need thousands of descriptors: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_info("descriptor limit: %llu", (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    struct sim_config cfg;
    log_init("bedrock-sim", LOG_INFO);
    if (read_config(argc, argv, &cfg) < 0)
        return 2;
    if (cfg.quiet)
        log_init("bedrock-sim", LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    print_config(&cfg);
    raise_nofile();

    static struct sim_server server; /* large (the seen tables): not on the stack */
    char err[512];
    if (sim_server_init(&server, &cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    printf("bedrock-sim listening on %s:%d\n", cfg.bind, sim_server_port(&server));
    fflush(stdout);
    int rc = sim_server_run(&server);
    sim_server_free(&server);
    log_info("stopped");
    return rc < 0 ? 1 : 0;
}
