/* resume: the resume and kill modes of nova-load (bench.h): N chats through nginx that
 * reconnect as the page does (static/js/stream.js), and — kill mode — the nova-fcgi child
 * holding the most open streams killed with SIGKILL while they are open.
 *
 * A chat whose connection ends before `done` is resumed with GET /api/chat/<id>/events and
 * Last-Event-ID (the last id it saw) after a capped exponential backoff with jitter (300 ms
 * base, 5 s cap); 429 and 5xx answers are retried, 404 gives up ("gone"), and so do 6 attempts
 * in a row without progress. Only events newer than the last one seen are passed on (the ones
 * skipped are counted: a resume that repeats nothing skips none). The kill comes once every
 * chat has its meta — every stream is open on a child — (or KILL_BY_MS after the last start,
 * whatever they have): the busiest child is read from /status?full ("pid: P" ...
 * "open_streams: S" per child).
 *
 * Each chat ends as one of: done (whole; "resumed" when it took a resume, "typed" when an
 * `error` event with a code came before `done`), lost (the page would give up: gone, refused,
 * attempts exhausted, broken before meta) or hung (still open, or waiting to resume, at the
 * run's --timeout-s). Everything runs on one thread, on hloop's multi handle and epoll. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "bench.h"
#include "core/alloc.h"
#include "core/sse.h"

#define RESUME_ATTEMPTS 6
#define BACKOFF_BASE_MS 300
#define BACKOFF_CAP_MS 5000
#define KILL_BY_MS 30000 /* after the last start: kill even if some chat has no delta yet */

enum rstate { R_NEW, R_OPEN, R_WAIT, R_DONE, R_LOST };

struct rrun;

struct rchat {
    struct rrun *run;
    enum rstate state;
    CURL *h;
    struct curl_slist *hdrs;
    struct sse_parser parser;
    long status;
    bool typed_resp, sse;
    char request_id[80];
    char last_id[64];
    int attempt;           /* resumes in a row without progress */
    int connections;
    unsigned long progress; /* events passed on by the current connection */
    double t0, t_break, next_try;
    bool broken, got_meta, got_delta, error_ev, done, gap_open;
    const char *lost_why;
};

struct rrun {
    const struct bench_opts *o;
    bool kill;
    struct hloop loop;
    struct hsched sched;
    const char *body;
    char chat_url[1024];
    struct rchat *c;
    uint64_t rnd;
    int with_meta, with_delta;
    /* the kill */
    double t_kill;
    int victim;
    long victim_streams, open_streams, with_meta_at_kill, with_delta_at_kill;
    char kill_error[160];
    /* outcomes */
    int broken, resumes, done, resumed, typed, lost, hung, lost_gone, lost_refused,
        lost_attempts, lost_no_meta;
    unsigned long skipped, events;
    double last_done_ms; /* after the kill */
    struct samples resume_gap, completion;
};

static uint32_t rrand(struct rrun *r)
{
    r->rnd ^= r->rnd << 13;
    r->rnd ^= r->rnd >> 7;
    r->rnd ^= r->rnd << 17;
    return (uint32_t)(r->rnd >> 16);
}

/* Redis stream ids "ms-seq" in numeric order (the server's SSE ids; API.md calls them opaque,
 * the page compares them the same way, sse.js compareEventIds). */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    if (am != bm)
        return am < bm ? -1 : 1;
    return as < bs ? -1 : as > bs ? 1 : 0;
}

static int on_event(void *user, const struct sse_event *e)
{
    struct rchat *c = user;
    struct rrun *r = c->run;
    if (e->id && e->id[0]) {
        if (c->last_id[0] && id_cmp(e->id, c->last_id) <= 0) {
            r->skipped++; /* already passed on before the break */
            return 0;
        }
        snprintf(c->last_id, sizeof c->last_id, "%s", e->id);
    }
    c->progress++;
    r->events++;
    if (c->gap_open) {
        samples_add(&r->resume_gap, bench_now_ms() - c->t_break);
        c->gap_open = false;
    }
    if (strcmp(e->type, "delta") == 0) {
        if (!c->got_delta)
            r->with_delta++;
        c->got_delta = true;
    } else if (strcmp(e->type, "meta") == 0 && !c->request_id[0]) {
        c->got_meta = true;
        r->with_meta++;
        json_object *j = json_tokener_parse(e->data);
        json_object *v = NULL;
        if (j && json_object_object_get_ex(j, "request_id", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(c->request_id, sizeof c->request_id, "%s", json_object_get_string(v));
        json_object_put(j);
    } else if (strcmp(e->type, "error") == 0) {
        if (memmem(e->data, e->data_len, "\"code\"", 6))
            c->error_ev = true;
    } else if (strcmp(e->type, "done") == 0) {
        c->done = true;
        return 1; /* the end: nothing follows done */
    }
    return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user)
{
    struct rchat *c = user;
    size_t n = size * nmemb;
    if (!c->typed_resp) {
        c->sse = bench_response_sse(c->h, &c->status);
        c->typed_resp = true;
    }
    if (!c->sse)
        return n;
    if (c->done)
        return 0;
    int rc = sse_parser_feed(&c->parser, p, n, on_event, c);
    return rc == 0 || c->done ? n : 0;
}

static void conn_release(struct rchat *c)
{
    if (c->h)
        curl_easy_cleanup(c->h);
    c->h = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
    sse_parser_free(&c->parser);
}

/* One connection of chat c: the POST (path NULL) or a resume. */
static void conn_start(struct rrun *r, struct rchat *c, bool resume)
{
    char url[1200], hdr[128];
    c->status = 0;
    c->typed_resp = c->sse = false;
    c->progress = 0;
    sse_parser_init(&c->parser, 1u << 20);
    c->h = curl_easy_init();
    if (resume)
        snprintf(url, sizeof url, "%s/api/chat/%s/events", r->o->url, c->request_id);
    curl_easy_setopt(c->h, CURLOPT_URL, resume ? url : r->chat_url);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    c->hdrs = curl_slist_append(NULL, "Accept: text/event-stream");
    c->hdrs = curl_slist_append(c->hdrs, "Expect:");
    if (resume) {
        if (c->last_id[0]) {
            snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", c->last_id);
            c->hdrs = curl_slist_append(c->hdrs, hdr);
        }
    } else {
        c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, r->body); /* outlives the run */
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    c->connections++;
    c->state = R_OPEN;
    curl_multi_add_handle(r->loop.m, c->h);
}

static void chat_start(void *user, int i)
{
    struct rrun *r = user;
    struct rchat *c = &r->c[i];
    c->run = r;
    c->t0 = bench_now_ms();
    conn_start(r, c, false);
}

static void chat_end(struct rrun *r, struct rchat *c, enum rstate s, const char *why)
{
    c->state = s;
    c->lost_why = why;
    hsched_finished(&r->sched);
    double now = bench_now_ms();
    if (s == R_DONE) {
        r->done++;
        r->resumed += c->connections > 1;
        r->typed += c->error_ev;
        samples_add(&r->completion, now - c->t0);
        if (r->t_kill > 0 && now - r->t_kill > r->last_done_ms)
            r->last_done_ms = now - r->t_kill;
    } else {
        r->lost++;
    }
}

/* A connection ended (removed from the multi handle): done, a resume later, or lost. */
static void conn_done(void *user, CURL *h, CURLcode rc)
{
    (void)rc;
    struct rrun *r = user;
    struct rchat *c = NULL;
    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
    if (!c->typed_resp)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    conn_release(c);
    if (c->done)
        return chat_end(r, c, R_DONE, NULL);
    if (!c->broken) {
        c->broken = true;
        r->broken++;
    }
    if (!c->gap_open) {
        c->gap_open = true;
        c->t_break = bench_now_ms();
    }
    if (!c->request_id[0]) {
        r->lost_no_meta++;
        return chat_end(r, c, R_LOST, "broken before meta");
    }
    if (c->status == 404) {
        r->lost_gone++;
        return chat_end(r, c, R_LOST, "gone");
    }
    if (c->status && c->status != 200 && c->status != 429 && c->status < 500) {
        r->lost_refused++;
        return chat_end(r, c, R_LOST, "refused");
    }
    if (c->progress)
        c->attempt = 0;
    if (c->attempt >= RESUME_ATTEMPTS) {
        r->lost_attempts++;
        return chat_end(r, c, R_LOST, "attempts");
    }
    int wait = BACKOFF_BASE_MS << c->attempt;
    if (wait > BACKOFF_CAP_MS)
        wait = BACKOFF_CAP_MS;
    c->next_try = bench_now_ms() + wait / 2 + rrand(r) % (unsigned)(wait / 2);
    c->state = R_WAIT;
}

struct body {
    char b[16384];
    size_t n;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *user)
{
    struct body *b = user;
    size_t n = size * nmemb, room = sizeof b->b - 1 - b->n;
    memcpy(b->b + b->n, p, n < room ? n : room);
    b->n += n < room ? n : room;
    b->b[b->n] = '\0';
    return n;
}

/* Kills the child holding the most open streams (/status?full), records which and when. */
static void kill_busiest(struct rrun *r)
{
    char url[1100];
    snprintf(url, sizeof url, "%s/status?full", r->o->url);
    struct body b = {.n = 0};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    r->t_kill = bench_now_ms();
    r->with_meta_at_kill = r->with_meta;
    r->with_delta_at_kill = r->with_delta;
    long best = -1, cur = 0;
    r->open_streams = 0;
    for (char *p = status == 200 ? b.b : NULL, *eol; p && *p; p = eol ? eol + 1 : NULL) {
        eol = strchr(p, '\n');
        if (strncmp(p, "pid: ", 5) == 0) {
            cur = atol(p + 5);
        } else if (cur && strncmp(p, "open_streams: ", 14) == 0) {
            long v = atol(p + 14);
            r->open_streams += v;
            if (v > best) {
                best = v;
                r->victim = (int)cur;
            }
            cur = 0;
        }
    }
    r->victim_streams = best;
    if (status != 200 || r->victim <= 0)
        snprintf(r->kill_error, sizeof r->kill_error, "/status?full: HTTP %ld, no child", status);
    else if (kill((pid_t)r->victim, SIGKILL) < 0)
        snprintf(r->kill_error, sizeof r->kill_error, "kill(%d): %s", r->victim,
                 strerror(errno));
}

static void socket_turn(struct rrun *r, int fd, uint32_t events)
{
    int running, flags = 0;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(r->loop.m, fd, flags, &running);
}

static void read_done(struct rrun *r)
{
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(r->loop.m, &q))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *h = msg->easy_handle;
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(r->loop.m, h);
        conn_done(r, h, rc);
    }
}

/* hloop_run's loop with the resume timers and the kill: the wait is computed from libcurl's
 * timer, the next due start, the next due resume and the deadline. */
static void run_loop(struct rrun *r, double deadline)
{
    static struct epoll_event evs[512];
    struct hloop *l = &r->loop;
    struct hsched *s = &r->sched;
    int running;
    while (s->finished < s->n) {
        double now = bench_now_ms();
        for (double due; (due = hsched_due(s)) >= 0 && due <= now;) {
            int i = s->started;
            hsched_started(s);
            chat_start(r, i);
        }
        double next = -1;
        for (int i = 0; i < s->started; i++) {
            struct rchat *c = &r->c[i];
            if (c->state != R_WAIT)
                continue;
            if (c->next_try <= now) {
                c->attempt++;
                r->resumes++;
                conn_start(r, c, true);
            } else if (next < 0 || c->next_try < next) {
                next = c->next_try;
            }
        }
        if (r->kill && r->t_kill == 0 && s->started == s->n &&
            (r->with_meta >= s->n - r->lost ||
             now - (s->t_start + s->ramp_ms) > KILL_BY_MS))
            kill_busiest(r);
        if (s->started > 0 && l->timer_ms >= 0 && l->timer_at <= bench_now_ms()) {
            l->timer_ms = -1;
            curl_multi_socket_action(l->m, CURL_SOCKET_TIMEOUT, 0, &running);
            read_done(r);
        }
        if (s->finished >= s->n)
            break;
        now = bench_now_ms();
        if (now >= deadline)
            return;
        double wait = 100;
        if (l->timer_ms >= 0 && l->timer_at - now < wait)
            wait = l->timer_at - now;
        double due = hsched_due(s);
        if (due >= 0 && due - now < wait)
            wait = due - now;
        if (next >= 0 && next - now < wait)
            wait = next - now;
        if (deadline - now < wait)
            wait = deadline - now;
        int k = epoll_wait(l->ep, evs, 512, wait <= 0 ? 0 : (int)ceil(wait));
        for (int i = 0; i < k; i++)
            socket_turn(r, evs[i].data.fd, evs[i].events);
        if (k > 0)
            read_done(r);
    }
}

static void write_report(struct rrun *r, double wall_ms, double cpu_s)
{
    const struct bench_opts *o = r->o;
    FILE *f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w");
    if (!f) {
        fprintf(stderr, "nova-load: fopen(%s): %s\n", o->out, strerror(errno));
        return;
    }
    fprintf(f, "{\"mode\": \"%s\", \"n\": %d, \"len\": %d, \"ramp_ms\": %d, \"started\": %d, "
               "\"peak_open\": %d,\n",
            o->mode, o->n, o->len, o->ramp_ms, r->sched.started, r->sched.peak_open);
    fprintf(f, " \"kill\": {\"sent\": %s, \"at_ms\": %.1f, \"pid\": %d, \"victim_streams\": %ld, "
               "\"open_streams\": %ld, \"with_meta\": %ld, \"with_delta\": %ld, "
               "\"error\": \"%s\"},\n",
            r->t_kill > 0 && !r->kill_error[0] ? "true" : "false",
            r->t_kill > 0 ? r->t_kill - r->sched.t_start : -1.0, r->victim, r->victim_streams,
            r->open_streams, r->with_meta_at_kill, r->with_delta_at_kill, r->kill_error);
    fprintf(f, " \"broken\": %d, \"resumes\": %d, \"done\": %d, \"resumed\": %d, \"typed\": %d, "
               "\"lost\": %d, \"hung\": %d, \"lost_kinds\": {\"gone\": %d, \"refused\": %d, "
               "\"attempts\": %d, \"no_meta\": %d}, \"events\": %lu, \"skipped_repeats\": %lu, "
               "\"last_done_after_kill_ms\": %.1f,\n ",
            r->broken, r->resumes, r->done, r->resumed, r->typed, r->lost, r->hung,
            r->lost_gone, r->lost_refused, r->lost_attempts, r->lost_no_meta, r->events,
            r->skipped, r->last_done_ms);
    samples_json(f, "resume_gap_ms", &r->resume_gap);
    fprintf(f, ",\n ");
    samples_json(f, "completion_ms", &r->completion);
    fprintf(f, ",\n \"wall_ms\": %.1f, \"load_cpu_s\": %.3f, \"load_maxrss_kib\": %ld}\n", wall_ms,
            cpu_s, bench_maxrss_kib());
    if (f != stdout)
        fclose(f);
    fprintf(stderr, "nova-load %s n=%d: killed %d holding %ld of %ld streams%s%s; %d broke, "
                    "%d resumes; done %d (resumed %d, typed %d), lost %d, hung %d; resume gap "
                    "p50 %.0f ms p99 %.0f ms; last done %.0f ms after the kill\n",
            o->mode, o->n, r->victim, r->victim_streams, r->open_streams,
            r->kill_error[0] ? ": " : "", r->kill_error, r->broken, r->resumes, r->done,
            r->resumed, r->typed, r->lost, r->hung, samples_q(&r->resume_gap, 0.5),
            samples_q(&r->resume_gap, 0.99), r->last_done_ms);
}

int bench_resume(const struct bench_opts *o, bool kill_child)
{
    static struct rrun run;
    struct rrun *r = &run;
    r->o = o;
    r->kill = kill_child;
    r->rnd = 0x9E3779B97F4A7C15ULL;
    r->c = xcalloc((size_t)o->n, sizeof *r->c);
    snprintf(r->chat_url, sizeof r->chat_url, "%s/api/chat", o->url);
    char text[2048], *body = NULL;
    if (o->len > 0)
        snprintf(text, sizeof text, "%s #sim:len=%d", o->message, o->len);
    else
        snprintf(text, sizeof text, "%s", o->message);
    if (asprintf(&body, "{\"message\":\"%s\",\"ui_lang\":\"%s\"}", text, o->lang) < 0)
        return 1;
    r->body = body;
    if (hloop_init(&r->loop, (long)o->n + 16, conn_done, r) < 0) {
        fprintf(stderr, "nova-load: epoll_create1 or curl_multi_init failed\n");
        return 1;
    }
    double cpu0 = bench_cpu_s();
    hsched_init(&r->sched, o->n, o->ramp_ms, 0);
    run_loop(r, r->sched.t_start + o->timeout_s * 1e3);
    double wall = bench_now_ms() - r->sched.t_start;
    for (int i = 0; i < o->n; i++) {
        struct rchat *c = &r->c[i];
        if (c->state == R_OPEN || c->state == R_WAIT || c->state == R_NEW)
            r->hung++;
        if (c->state == R_OPEN) {
            curl_multi_remove_handle(r->loop.m, c->h);
            conn_release(c);
        }
    }
    write_report(r, wall, bench_cpu_s() - cpu0);
    hloop_free(&r->loop);
    samples_free(&r->resume_gap);
    samples_free(&r->completion);
    free(body);
    free(r->c);
    bool ok = r->hung == 0 && r->lost == 0 && (!kill_child || (r->t_kill > 0 && !r->kill_error[0]));
    return ok ? 0 : 3;
}
