/* direct: the baseline — the converse requests the workers would send for the same chats, sent
 * straight to bedrock-sim's ConverseStream with common/bedrock.h (our SigV4, the example key
 * pair from the environment), one micro and one pro call per chat, starts spread over the same
 * ramp. Records time to first delta per model, gaps and completion. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bedrock.h"
#include "bench.h"
#include "config.h"
#include "log.h"

/* Copied from fcgi-app/plan.c (SYSTEM_PROMPT, plan_prompt(), the settings table): the bench may
 * not link nova-fcgi's objects, and the simulator's answer depends only on this text. */
const char bench_system_prompt[] =
    "You are a customer-support agent for an online game. Players write in Korean or English "
    "about their accounts, payments, characters and game play. Answer politely and precisely, "
    "from what you know about the game; when you are not sure, say so and tell the player how "
    "to reach the support team. Never invent policies, prices or dates.";

void bench_user_text(char *out, size_t n, const char *message, bool micro)
{
    snprintf(out, n, "Question:\n%s\n\n%s\nAnswer in Korean.", message,
             micro ? "Give a concise overview in one or two short paragraphs, "
                     "ending with one line that says a detailed answer follows."
                   : "Give a detailed answer that continues a short overview: "
                     "numbered steps, examples and caveats.");
}

struct dcall {
    struct drun *run;
    int model;
    double t0, t_first, t_last;
    unsigned long deltas;
    bool finished;
};

struct drun {
    struct samples first[2], gap, completion;
    struct timeline tl;
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

int bench_direct(const struct bench_opts *o)
{
    static struct nova_config cfg;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "nova-load: %s\n", err);
        return 2;
    }
    log_init("nova-load", LOG_WARN);
    cfg.bedrock.max_host_connections = 0; /* HTTP/1.1: one connection per open stream */
    struct creds_provider *cp = creds_provider_new(&cfg.creds, err, sizeof err);
    if (!cp) {
        fprintf(stderr, "nova-load: no credentials: %s\n", err);
        return 2;
    }
    struct bedrock_client *bc = bedrock_client_new(&cfg.bedrock, cp, err, sizeof err);
    if (!bc) {
        fprintf(stderr, "nova-load: %s\n", err);
        creds_provider_free(cp);
        return 2;
    }
    static struct drun run;
    struct drun *r = &run;
    timeline_init(&r->tl, (double)o->timeout_s * 1e3 + 1000);
    char msg[1024], user[2][2048];
    if (o->len > 0)
        snprintf(msg, sizeof msg, "%s #sim:len=%d", o->message, o->len);
    else
        snprintf(msg, sizeof msg, "%s", o->message);
    bench_user_text(user[0], sizeof user[0], msg, true);
    bench_user_text(user[1], sizeof user[1], msg, false);
    struct bedrock_message m[2] = {{"user", user[0]}, {"user", user[1]}};
    struct bedrock_converse_req req[2] = {
        {.model_id = cfg.micro_model, .system = bench_system_prompt, .cache_point = true,
         .messages = &m[0], .n_messages = 1, .max_tokens = 1024, .temperature = 0.3,
         .top_p = 0.9},
        {.model_id = cfg.pro_model, .system = bench_system_prompt, .cache_point = true,
         .messages = &m[1], .n_messages = 1, .max_tokens = 2048, .temperature = 0.5,
         .top_p = 0.9}};
    struct bedrock_callbacks cb = {on_delta, on_done};
    int total = 2 * o->n, started = 0;
    struct dcall *calls = xcalloc((size_t)total, sizeof *calls);

    double cpu0 = bench_cpu_s();
    r->t_start = bench_now_ms();
    double deadline = r->t_start + o->timeout_s * 1e3;
    int rc = 0;
    while (r->finished < total) {
        double now = bench_now_ms();
        while (started < total) {
            /* Chat k's two calls start together, at the chat's slot of the ramp. */
            double due = r->t_start + (double)o->ramp_ms * (started / 2) / o->n;
            if (due > now)
                break;
            struct dcall *c = &calls[started];
            c->run = r;
            c->model = started % 2;
            c->t0 = bench_now_ms();
            c->t_first = -1;
            r->open++;
            if (r->open > r->peak_open)
                r->peak_open = r->open;
            bedrock_converse_stream(bc, &req[c->model], &cb, c);
            started++;
        }
        if (now >= deadline)
            break;
        int wait = 100;
        if (started < total) {
            double due = r->t_start + (double)o->ramp_ms * (started / 2) / o->n;
            wait = due - now < 1 ? 0 : (int)ceil(due - now);
        }
        if (bedrock_client_poll(bc, wait, NULL, 0, err, sizeof err) < 0) {
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
                   "\"ramp_ms\": %d, \"ok\": %d, \"errors\": %d, \"peak_open\": %d, "
                   "\"first_error\": \"",
                o->n, total, o->len, o->ramp_ms, r->ok, r->errors, r->peak_open);
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
    free(calls);
    return rc ? rc : r->errors ? 3 : 0;
}
