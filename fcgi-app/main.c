/* nova-fcgi: the FastCGI application nginx forwards /api/ to (see README.md).
 *
 *   nova-fcgi                  read the settings, print them (secrets masked), serve
 *   nova-fcgi --print-config   print the settings and exit */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/config.h"
#include "core/log.h"
#include "master.h"
#include "metrics.h"
#include "product.h"
#include "redis/rconn.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: nova-fcgi [--print-config]\n"
                 "Settings come from NOVA_* variables; see fcgi-app/README.md.\n");
}

/* Descriptors (fcgi-app/DESIGN-loop.md §4): an open stream holds one (its FastCGI
 * connection), a thread of the thread mode one more (its inbox's eventfd), and a child has
 * Redis connections and files besides. The soft limit is raised to the hard one, always: what
 * the streams need is only known under load. Below what the configuration may need it says so
 * once, at start, rather than as accept failures under load. */
static void raise_fd_limit(const struct nova_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)rl.rlim_max,
                     strerror(errno));
        else
            log_info("open-file limit raised from %llu to the hard limit %llu",
                     (unsigned long long)was, (unsigned long long)rl.rlim_max);
    }
    rlim_t want = (rlim_t)cfg->fcgi_children * ((rlim_t)cfg->max_streams + 256);
    rlim_t per_thread = (rlim_t)cfg->fcgi_threads * 3 + 128;
    if (!cfg->fcgi_streams_loop && want < per_thread)
        want = per_thread;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("open-file limit %llu is below the %llu that NOVA_FCGI_CHILDREN=%ld x "
                 "(NOVA_MAX_STREAMS=%ld + 256) may need: raise the hard limit (ulimit -Hn, "
                 "LimitNOFILE=, compose ulimits) or lower NOVA_MAX_STREAMS",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)want, cfg->fcgi_children,
                 cfg->max_streams);
}

int main(int argc, char **argv)
{
    bool print_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0) {
            print_only = true;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "nova-fcgi: unknown argument %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    /* Every line on stderr is JSON from here on, the refusals of a bad setting included. */
    log_init("nova-fcgi", LOG_INFO);
    struct nova_config cfg;
    char err[512];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        log_error("bad configuration, not starting: %s", err);
        return 2;
    }
    if (print_only) {
        config_print(&cfg, stdout);
        return 0;
    }
    struct rconn_addr addr; /* checked here so a bad URL stops the start, not each child */
    if (rconn_addr_from_config(&cfg, &addr, err, sizeof err) < 0) {
        log_error("bad configuration, not starting: %s", err);
        return 2;
    }
    /* A password or certificate Redis refuses stops the start here, said once, instead of
     * every child failing every request; a Redis that is only away is waited for. */
    if (rconn_check(&addr, 2000, err, sizeof err) == RCONN_REFUSED) {
        log_error("Redis refused us, not starting: %s", err);
        return 2;
    }
    /* The glossary, prompts, prices and index are loaded by each child; a mistake in them
     * stops the start here, with the file named, instead of a respawn loop. */
    struct product prod;
    if (product_load(&prod, &cfg, true, err, sizeof err) < 0) {
        log_error("bad configuration, not starting: %s", err);
        return 2;
    }
    product_free(&prod);
    log_init("nova-fcgi", cfg.log_level);
    raise_fd_limit(&cfg);
    metrics_set_max_streams(cfg.max_streams); /* before the fork: the children's /status */
    struct log_line line; /* the settings in one line, secrets masked */
    log_line_begin(&line, LOG_INFO, NULL, "config");
    config_log_fields(&cfg, &line);
    log_line_write(&line);
    return master_run(&cfg);
}
