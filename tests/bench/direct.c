/* direct: the baseline — the converse requests the workers send for the same chats, sent
 * straight to bedrock-sim's ConverseStream with common/aws/bedrock.h (our SigV4, the example key
 * pair from the environment), one micro and one pro call per chat, starts spread over the same
 * ramp and bounded by the same --concurrency (hsched, hloop.c). The requests are not rebuilt here: they are the Micro and Pro jobs nova-fcgi queued for
 * a warm-up chat with the same question (--request, read back from the stack's Redis), so both
 * paths send the same bytes; bench_jobs_load reads them for the peer mode too. Records time to
 * first delta per model, gaps and completion. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/redis_jobs.h"
#include "aws/aws_config.h"
#include "aws/bedrock.h"
#include "bench.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/log.h"
#include "workers/call.h"

struct dcall {
    struct drun *run;
    int model;
    int chat;
    double t0, t_first, t_last;
    unsigned long deltas;
    bool finished;
};

struct drun {
    struct samples first[2], gap, completion;
    struct timeline tl;
    struct hsched sched;    /* units are chats: a Micro and a Pro call started together */
    unsigned char *left;    /* per chat: calls not yet done */
    double t_start;
    unsigned long deltas_total;
    int finished, ok, errors, open, peak_open;
    char first_error[256];
};

static void on_delta(void *user, const char *text, size_t len)
{
    (void)text;
    (void)len;
    struct dcall *c = user;
    double now = bench_now_ms(), t = now - c->t0;
    if (!c->deltas) {
        c->t_first = t;
        samples_add(&c->run->first[c->model], t);
    } else {
        samples_add(&c->run->gap, t - c->t_last);
    }
    c->t_last = t;
    c->deltas++;
    c->run->deltas_total++;
    timeline_add(&c->run->tl, now - c->run->t_start);
}

static void on_done(void *user, const struct bedrock_result *res)
{
    struct dcall *c = user;
    struct drun *r = c->run;
    c->finished = true;
    r->finished++;
    r->open--;
    if (--r->left[c->chat] == 0)
        hsched_finished(&r->sched);
    if (res->err.code != BR_OK || !c->deltas) {
        r->errors++;
        if (!r->first_error[0])
            snprintf(r->first_error, sizeof r->first_error, "%s (%d): %.200s",
                     bedrock_error_name(res->err.code), res->err.http_status, res->err.message);
    } else {
        r->ok++;
        samples_add(&r->completion, bench_now_ms() - c->t0);
    }
}

struct bench_jobs {
    struct jobset js;
    struct bedrock_converse_req req[2];
    struct bedrock_message msgs[2][JOB_MAX_MESSAGES];
};

struct bench_jobs *bench_jobs_load(const char *request)
{
    static struct nova_config cfg;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "nova-load: %s\n", err);
        return NULL;
    }
    redisContext *rc = request ? redis_open(cfg.run_dir) : NULL;
    if (!rc) {
        fprintf(stderr, "nova-load: %s: no Redis of the run dir %s\n",
                request ? "--request" : "no --request", cfg.run_dir);
        return NULL;
    }
    struct bench_jobs *j = xcalloc(1, sizeof *j);
    /* The copies `nova-load keep` made of the warm-up chat's jobs while they were pending: a
     * worker deletes a job once it has answered it. */
    jobset_load_key(rc, BENCH_KEPT_MICRO, &j->js);
    jobset_load_key(rc, BENCH_KEPT_PRO, &j->js);
    redisFree(rc);
    const struct job *jm = jobset_find(&j->js, request, "answer", "micro");
    const struct job *jp = jobset_find(&j->js, request, "answer", "pro");
    if (!jm || !jp) {
        fprintf(stderr, "nova-load: no answer jobs of request %s in %s's Redis (--request)\n",
                request, cfg.run_dir);
        bench_jobs_free(j);
        return NULL;
    }
    call_request(jm, j->msgs[BENCH_MICRO], &j->req[BENCH_MICRO]);
    call_request(jp, j->msgs[BENCH_PRO], &j->req[BENCH_PRO]);
    return j;
}

int bench_keep(const struct bench_opts *o)
{
    static struct nova_config cfg;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "nova-load: %s\n", err);
        return 2;
    }
    redisContext *rc = redis_open(cfg.run_dir);
    if (!rc) {
        fprintf(stderr, "nova-load keep: no Redis of the run dir %s\n", cfg.run_dir);
        return 1;
    }
    /* The request's answer jobs, as queued (raw), copied once both are there (<= 10 s). */
    static const char *const from[] = {"nova:jobs:{micro}", "nova:jobs:{pro}"};
    static const char *const to[] = {BENCH_KEPT_MICRO, BENCH_KEPT_PRO};
    char want[2][200];
    snprintf(want[0], sizeof want[0], "\"id\":\"%s-answer-micro\"", o->request);
    snprintf(want[1], sizeof want[1], "\"id\":\"%s-answer-pro\"", o->request);
    int kept = 0;
    for (int tries = 0; tries < 200 && kept < 2; tries++) {
        kept = 0;
        for (int q = 0; q < 2; q++) {
            redisReply *r = redisCommand(rc, "XRANGE %s - +", from[q]);
            for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
                redisReply *f = r->element[i]->elements == 2 ? r->element[i]->element[1] : NULL;
                for (size_t k = 0; f && k + 1 < f->elements; k += 2)
                    if (strcmp(f->element[k]->str, "job") == 0 &&
                        strstr(f->element[k + 1]->str, want[q])) {
                        redisReply *a = redisCommand(rc, "DEL %s", to[q]);
                        if (a)
                            freeReplyObject(a);
                        a = redisCommand(rc, "XADD %s * job %b", to[q], f->element[k + 1]->str,
                                         (size_t)f->element[k + 1]->len);
                        kept += a && a->type == REDIS_REPLY_STRING;
                        if (a)
                            freeReplyObject(a);
                    }
            }
            if (r)
                freeReplyObject(r);
        }
        if (kept < 2)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL); /* polling a test fixture */
    }
    redisFree(rc);
    if (kept < 2)
        fprintf(stderr, "nova-load keep: the jobs of request %s did not appear\n", o->request);
    return kept == 2 ? 0 : 1;
}

void bench_jobs_free(struct bench_jobs *j)
{
    if (!j)
        return;
    jobset_free(&j->js);
    free(j);
}

const struct bedrock_converse_req *bench_jobs_req(const struct bench_jobs *j, int m)
{
    return &j->req[m == BENCH_PRO ? BENCH_PRO : BENCH_MICRO];
}

int bench_direct(const struct bench_opts *o)
{
    static struct aws_config aws;
    char err[1024];
    if (aws_config_from_env(&aws, err, sizeof err) < 0) {
        fprintf(stderr, "nova-load: %s\n", err);
        return 2;
    }
    log_init("nova-load", LOG_WARN);
    aws.bedrock.max_host_connections = 0; /* HTTP/1.1: one connection per open stream */
    struct creds_provider *cp = creds_provider_new(&aws.creds, err, sizeof err);
    if (!cp) {
        fprintf(stderr, "nova-load: no credentials: %s\n", err);
        return 2;
    }
    struct bedrock_client *bc = bedrock_client_new(&aws.bedrock, cp, err, sizeof err);
    if (!bc) {
        fprintf(stderr, "nova-load: %s\n", err);
        creds_provider_free(cp);
        return 2;
    }
    static struct drun run;
    struct drun *r = &run;
    timeline_init(&r->tl, (double)o->timeout_s * 1e3 + 1000);
    /* The warm-up chat's jobs, as the workers read them. */
    struct bench_jobs *jobs = bench_jobs_load(o->request);
    if (!jobs) {
        bedrock_client_free(bc);
        creds_provider_free(cp);
        return 2;
    }
    struct bedrock_callbacks cb = {on_delta, on_done};
    int total = 2 * o->n;
    struct dcall *calls = xcalloc((size_t)total, sizeof *calls);
    r->left = xcalloc((size_t)o->n, 1);

    double cpu0 = bench_cpu_s();
    hsched_init(&r->sched, o->n, o->ramp_ms, o->concurrency);
    r->t_start = r->sched.t_start;
    double deadline = r->t_start + o->timeout_s * 1e3;
    int rc = 0;
    while (r->finished < total) {
        double now = bench_now_ms();
        /* Chat k's two calls start together, at the chat's slot of the ramp. */
        for (double due; (due = hsched_due(&r->sched)) >= 0 && due <= now;) {
            int k = r->sched.started;
            hsched_started(&r->sched);
            r->left[k] = 2;
            for (int m = 0; m < 2; m++) {
                struct dcall *c = &calls[2 * k + m];
                c->run = r;
                c->model = m;
                c->chat = k;
                c->t0 = bench_now_ms();
                c->t_first = -1;
                r->open++;
                if (r->open > r->peak_open)
                    r->peak_open = r->open;
                bedrock_converse_stream(bc, bench_jobs_req(jobs, m), &cb, c);
            }
        }
        if (now >= deadline)
            break;
        int wait = 100;
        double due = hsched_due(&r->sched);
        if (due >= 0)
            wait = due - now < 1 ? 0 : (int)ceil(due - now);
        if (bedrock_client_wait(bc, wait, err, sizeof err) < 0) {
            fprintf(stderr, "nova-load: %s\n", err);
            rc = 1;
            break;
        }
    }
    double wall = bench_now_ms() - r->t_start, cpu = bench_cpu_s() - cpu0;
    int timed_out = total - r->finished;
    r->errors += timed_out;
    if (timed_out && !r->first_error[0])
        snprintf(r->first_error, sizeof r->first_error, "%d calls open at the timeout",
                 timed_out);
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (f) {
        fprintf(f, "{\"mode\": \"direct\", \"n\": %d, \"calls\": %d, \"len\": %d, "
                   "\"ramp_ms\": %d, \"concurrency\": %d, \"ok\": %d, \"errors\": %d, "
                   "\"peak_open\": %d, \"first_error\": \"",
                o->n, total, o->len, o->ramp_ms, o->concurrency, r->ok, r->errors,
                r->peak_open);
        for (const char *p = r->first_error; *p; p++)
            fprintf(f, *p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 32 ? " " : "%c",
                    *p);
        fprintf(f, "\",\n ");
        samples_json(f, "ttft_micro_ms", &r->first[0]);
        fprintf(f, ",\n ");
        samples_json(f, "ttft_pro_ms", &r->first[1]);
        fprintf(f, ",\n ");
        samples_json(f, "gap_ms", &r->gap);
        fprintf(f, ",\n ");
        samples_json(f, "completion_ms", &r->completion);
        fprintf(f, ",\n \"deltas\": %lu, \"wall_ms\": %.1f, \"deltas_per_s_peak\": %.1f, "
                   "\"load_cpu_s\": %.3f, \"load_maxrss_kib\": %ld}\n",
                r->deltas_total, wall, timeline_peak_per_s(&r->tl), cpu, bench_maxrss_kib());
        if (f != stdout)
            fclose(f);
    } else {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
    }
    fprintf(stderr, "nova-load direct n=%d: ok %d/%d, errors %d (%s), micro ttft p50 %.1f ms, "
                    "pro p50 %.1f ms\n",
            o->n, r->ok, total, r->errors, r->first_error[0] ? r->first_error : "none",
            samples_q(&r->first[0], 0.5), samples_q(&r->first[1], 0.5));
    bedrock_client_free(bc);
    creds_provider_free(cp);
    bench_jobs_free(jobs);
    free(calls);
    free(r->left);
    return rc ? rc : r->errors ? 3 : 0;
}
