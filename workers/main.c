/* nova-worker: pulls jobs of one queue from Redis and drives their Bedrock calls.
 *
 *   nova-worker --queue micro|pro|kb [--id ID] [--print-config]
 *
 * Configuration comes from the environment, once (common/core/config.h), and is logged at start
 * with secrets masked. The threads (worker.h): the reader takes jobs, the subscriber hears
 * cancels, and this thread becomes the engine. SIGTERM and SIGINT are blocked in every thread
 * and read from a signalfd by the engine's poll, so no code runs in a signal handler.
 * Exit status: 0 after a signal and the drain, 1 when it cannot run (no credentials, a Bedrock
 * client failure), 2 for bad arguments or configuration. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/wake.h"
#include "engine.h"
#include "heartbeat.h"
#include "reader.h"
#include "subscriber.h"
#include "worker.h"
#include "worker_job.h"

/* ---- start-up --------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: nova-worker --queue micro|pro|kb [--id ID] [--print-config]\n"
                 "  --queue Q        the job queue to serve (nova:jobs:{Q})\n"
                 "  --id ID          consumer name and heartbeat key, [A-Za-z0-9_.:-]{1,64}\n"
                 "                   (default Q-HOST-PID)\n"
                 "  --print-config   print the configuration (secrets masked) and exit\n");
}

/* The default id: queue, host and pid, with the host reduced to the characters an id allows. */
static void default_id(struct worker *w)
{
    char host[64];
    size_t n = 0;
    for (const char *p = w->host; *p && n < sizeof host - 1; p++)
        host[n++] = job_id_valid(p, 1) ? *p : '_';
    host[n] = '\0';
    snprintf(w->id, sizeof w->id, "%s-%.40s-%d", queue_name(w->queue), host, (int)w->pid);
}

/* Logs the configuration in one "config" line (config_log_fields masks the secrets). */
static void log_config(const struct worker *w)
{
    struct log_line l;
    log_line_begin(&l, LOG_INFO, NULL, "config");
    log_line_str(&l, "worker_id", w->id);
    log_line_str(&l, "host", w->host);
    config_log_fields(w->cfg, &l);
    aws_config_log_fields(w->aws, &l);
    log_line_write(&l);
}

/* A Bedrock call must never leave the machine by accident: under NOVA_BACKEND=sim the
 * endpoint has to be set to the simulator, not left at AWS's default. */
static int check_endpoints(const struct worker *w, bool kb, char *err, size_t errlen)
{
    if (w->cfg->backend != BACKEND_SIM)
        return 0;
    const char *ep = kb ? w->aws->bedrock.agent_endpoint : w->aws->bedrock.runtime_endpoint;
    if (strstr(ep, ".amazonaws.com")) {
        snprintf(err, errlen, "NOVA_BACKEND=sim but %s is AWS's (%s): point it at bedrock-sim, "
                 "or set NOVA_BACKEND=bedrock", kb ? "NOVA_KB_ENDPOINT" : "NOVA_BEDROCK_ENDPOINT",
                 ep);
        return -1;
    }
    return 0;
}

/* Each running job holds a socket; let the process have as many as the hard limit allows. */
static void raise_nofile(long max_jobs)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_jobs + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
    }
}

static int worker_init(struct worker *w, const struct nova_config *cfg, char *err,
                       size_t errlen)
{
    if (rconn_addr_from_config(cfg, &w->addr, err, errlen) < 0)
        return -1;
    key_jobs(w->jobs_key, sizeof w->jobs_key, w->queue);
    key_dead(w->dead_key, sizeof w->dead_key, w->queue);
    key_worker(w->worker_key, sizeof w->worker_key, w->id);
    key_workers(w->workers_key, sizeof w->workers_key, w->queue);
    key_cancel(w->cancel_channel, sizeof w->cancel_channel, w->queue);
    w->started_ms = clock_epoch_ms();
    w->reader_fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    text_table_init(&w->texts);
    clock_cond_init(&w->cv);
    w->stop_efd = wake_open();
    if (w->stop_efd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    w->pool = rpool_new(&w->addr, 2, WORKER_REDIS_TIMEOUT_MS); /* the reader and the engine */
    return 0;
}

/* Stops the reader and the subscriber and waits for them. */
static void threads_stop(struct worker *w, pthread_t reader, pthread_t subscriber)
{
    pthread_mutex_lock(&w->mu);
    w->exiting = w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    /* The reader may sit in XREADGROUP ... BLOCK: end that read now instead of up to 1 s
     * later. Done under mu so the descriptor cannot be closed and reused meanwhile. */
    if (w->reader_fd >= 0)
        shutdown(w->reader_fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->mu);
    wake_signal(w->stop_efd);
    pthread_join(reader, NULL);
    pthread_join(subscriber, NULL);
}

int main(int argc, char **argv)
{
    /* Before any thread exists (the credential refresher, libcurl's resolver, ours): the
     * signals are blocked everywhere and only the signalfd sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN); /* a Redis that went away is an error return, not a death */

    static struct worker w; /* big (the cancel ring), and shared by every thread */
    bool print_config = false;
    const char *queue = NULL;
    static const struct option opts[] = {{"queue", required_argument, NULL, 'q'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"print-config", no_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'q': queue = optarg; break;
        case 'i':
            if (strlen(optarg) > WORKER_ID_MAX || !job_id_valid(optarg, strlen(optarg))) {
                fprintf(stderr, "nova-worker: --id: want [A-Za-z0-9_.:-]{1,%d}\n",
                        WORKER_ID_MAX);
                return 2;
            }
            snprintf(w.id, sizeof w.id, "%s", optarg);
            break;
        case 'P': print_config = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !queue || queue_parse(queue, strlen(queue), &w.queue) < 0) {
        usage(stderr);
        return 2;
    }
    static struct nova_config cfg;
    static struct aws_config aws;
    char err[1024];
    log_init("nova-worker", LOG_INFO); /* JSON lines from the first one on */
    if (config_from_env(&cfg, err, sizeof err) < 0 ||
        aws_config_from_env(&aws, err, sizeof err) < 0) {
        log_error("bad configuration, not starting: %s", err);
        return 2;
    }
    w.cfg = &cfg;
    w.aws = &aws;
    w.pid = getpid();
    if (gethostname(w.host, sizeof w.host - 1) < 0)
        snprintf(w.host, sizeof w.host, "unknown");
    if (!w.id[0])
        default_id(&w);
    if (print_config) {
        printf("worker_id: %s\nqueue: %s\nhost: %s\n", w.id, queue_name(w.queue), w.host);
        config_print(&cfg, stdout);
        aws_config_print(&aws, stdout);
        return 0;
    }
    log_init("nova-worker", cfg.log_level);
    log_context("worker", w.id);
    log_context("queue", queue_name(w.queue));
    log_config(&w);
    if (check_endpoints(&w, w.queue == QUEUE_KB, err, sizeof err) < 0 ||
        worker_init(&w, &cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return 2;
    }
    /* A password or certificate Redis refuses is a configuration error: said once, no start
     * (a Redis that is only away is waited for by the reader's backoff). */
    if (rconn_check(&w.addr, 2000, err, sizeof err) == RCONN_REFUSED) {
        log_error("Redis refused us, not starting: %s", err);
        return 2;
    }
    raise_nofile(cfg.worker_max_jobs);
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    struct creds_provider *cp = creds_provider_new(&aws.creds, err, sizeof err);
    if (!cp) {
        log_error("no AWS credentials: %s", err);
        return 1;
    }
    w.client = bedrock_client_new(&aws.bedrock, cp, err, sizeof err);
    if (!w.client) {
        log_error("%s", err);
        creds_provider_free(cp);
        return 1;
    }

    pthread_t reader, subscriber;
    if (pthread_create(&subscriber, NULL, subscriber_main, &w) != 0 ||
        pthread_create(&reader, NULL, reader_main, &w) != 0) {
        log_error("pthread_create failed");
        return 1;
    }
    int status = engine_run(&w, sigfd);
    threads_stop(&w, reader, subscriber);
    heartbeat_remove(&w);

    /* Jobs the reader handed over after the engine's last look: never started, still pending
     * in Redis for another worker. */
    for (struct worker_job *wj = w.inbox; wj;) {
        struct worker_job *next = wj->next;
        worker_job_free(&w, wj);
        wj = next;
    }
    free(w.claims);
    bedrock_client_free(w.client);
    creds_provider_free(cp);
    rpool_free(w.pool);
    close(w.stop_efd);
    close(sigfd);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    text_table_free(&w.texts);
    log_info("stopped");
    return status;
}
