/* handoff: the handoff worker's loop and each handoff's delivery (see handoff.h).
 *
 * One thread. Each turn it reads new entries (XREADGROUP, blocking up to 1 s only when no
 * delivery is in flight or waiting), starts the tries that are due, lets libcurl move the
 * transfers forward, ends the ones that finished, and waits in curl_multi_poll on libcurl's
 * sockets and the signalfd with a timeout computed from its timers (the next try, the
 * heartbeat, the claim refresh, the reclaim). A handoff's lifecycle is one state, changed only
 * by hj_set_state (logged at debug). */
#include "handoff.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "claims.h"
#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "dead_letter.h"
#include "handoff_send.h"
#include "heartbeat.h"
#include "redis/jobretire.h"

#define HANDOFF_ID_MAX 64
#define HANDOFF_READ_TIMEOUT_MS (WORKER_READ_BLOCK_MS + 2000) /* the reading connection's */
#define HANDOFF_REPLY_MAX 4096 /* bytes of a receiver's answer kept for the log */

enum hj_state {
    HJ_WAITING, /* read, or failed a try: the next try starts at next_ms */
    HJ_SENDING, /* a transfer is on the multi handle */
    HJ_DONE,    /* delivered or a dead letter, acknowledged: freed this turn */
};

static const char *const hj_state_names[] = {"waiting", "sending", "done"};

struct hj {
    enum hj_state state;
    char entry[EVENT_ID_MAX];
    char handoff_id[HANDOFF_ID_MAX + 1];
    char rid[JOB_ID_MAX];       /* the page's request id, for the log lines */
    char *body;                 /* the entry's "job" field: the bytes POSTed */
    size_t len;
    int attempts;               /* tries started */
    long long next_ms;          /* monotonic: when the next try may start */
    CURL *easy;
    struct curl_slist *headers;
    char reply[HANDOFF_REPLY_MAX];
    size_t reply_len;
    char curl_err[CURL_ERROR_SIZE];
};

struct handoff_loop {
    struct worker *w;
    CURLM *multi;
    struct hj *jobs[HANDOFF_MAX_JOBS];
    size_t n;
    redisContext *c;            /* reads, acknowledgements, dead letters */
    struct backoff redis_backoff;
    long long redis_retry_ms;   /* monotonic: no Redis before this, after a failure */
    long long beat_ms, refresh_ms, reclaim_ms; /* monotonic: when each timer is due */
    bool stopping;
};

static void hj_set_state(struct hj *j, enum hj_state s)
{
    if (j->state != s)
        log_rid(LOG_DEBUG, j->rid, "handoff %s: %s -> %s", j->handoff_id,
                hj_state_names[j->state], hj_state_names[s]);
    j->state = s;
}

static void hj_free(struct handoff_loop *L, struct hj *j)
{
    if (j->easy) {
        curl_multi_remove_handle(L->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
    curl_slist_free_all(j->headers);
    free(j->body);
    free(j);
}

/* ---- Redis ------------------------------------------------------------------------------ */

/* The reading connection, made again (after the backoff) when it broke. */
static redisContext *loop_redis(struct handoff_loop *L)
{
    if (L->c && L->c->err) {
        redisFree(L->c);
        L->c = NULL;
    }
    if (L->c)
        return L->c;
    if (clock_mono_ms() < L->redis_retry_ms)
        return NULL;
    char err[256];
    L->c = rconn_connect(&L->w->addr, HANDOFF_READ_TIMEOUT_MS, err, sizeof err);
    if (!L->c) {
        L->redis_retry_ms = clock_mono_ms() + backoff_next(&L->redis_backoff);
        log_warn("redis: %s", err);
        return NULL;
    }
    redisReply *r = redisCommand(L->c, "XGROUP CREATE %s %s 0 MKSTREAM", L->w->jobs_key,
                                 KEYS_GROUP);
    bool ok = r && (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0);
    if (!ok)
        log_warn("XGROUP CREATE %s: %s", L->w->jobs_key, r ? r->str : L->c->errstr);
    if (r)
        freeReplyObject(r);
    if (!ok) {
        redisFree(L->c);
        L->c = NULL;
        L->redis_retry_ms = clock_mono_ms() + backoff_next(&L->redis_backoff);
        return NULL;
    }
    backoff_reset(&L->redis_backoff);
    return L->c;
}

/* XACK, XDEL (unless NOVA_KEEP_JOBS) and a receipt in nova:done:{handoff}: the fenced script
 * of redis/jobretire.h, so a handoff another worker reclaimed meanwhile stays its. A failure
 * leaves the entry pending: it is delivered again later (at least once). */
static void hj_retire(struct handoff_loop *L, struct hj *j, const char *outcome)
{
    struct worker *w = L->w;
    redisContext *c = loop_redis(L);
    if (c) {
        char done[KEY_MAX], trim[24], receipt[HANDOFF_ID_MAX + JOB_ID_MAX + 128];
        key_done(done, sizeof done, w->queue);
        snprintf(trim, sizeof trim, "%ld", w->cfg->max_queue_depth * 2 + 1000);
        int rn = snprintf(receipt, sizeof receipt,
                          "{\"handoff_id\":\"%s\",\"request_id\":\"%s\",\"outcome\":\"%s\","
                          "\"attempts\":%d}", j->handoff_id, j->rid, outcome, j->attempts);
        struct job_retire_args a;
        job_retire_args_fill(&a, w->jobs_key, done, j->entry, w->id, !w->cfg->keep_jobs, trim,
                             receipt, (size_t)rn);
        redisReply *r = redisCommandArgv(c, a.argc, a.argv, a.argvlen);
        if (!r)
            log_rid(LOG_WARN, j->rid, "handoff %s: XACK: %s", j->handoff_id, c->errstr);
        else if (r->type == REDIS_REPLY_ERROR)
            log_rid(LOG_WARN, j->rid, "handoff %s: %s", j->handoff_id, r->str);
        if (r)
            freeReplyObject(r);
    }
    claims_remove(w, j->entry);
    hj_set_state(j, HJ_DONE);
}

/* A dead letter (the body as it was), then the retire. */
static void hj_dead(struct handoff_loop *L, struct hj *j, const char *reason, const char *code)
{
    redisContext *c = loop_redis(L);
    if (c)
        dead_letter_write(L->w, c, j->body, j->len, reason, code, j->entry);
    else
        log_rid(LOG_ERROR, j->rid, "handoff %s: dead letter not written (no Redis): %s",
                j->handoff_id, reason);
    atomic_fetch_add(&L->w->jobs_failed, 1);
    log_event(LOG_WARN, j->rid, "handoff_dead", "handoff=%s attempts=%d code=%s", j->handoff_id,
              j->attempts, code);
    hj_retire(L, j, "dead");
}

/* ---- entries ---------------------------------------------------------------------------- */

/* Takes one entry ([id, [field, value, ...]]) of a read or a reclaim; deliveries is its
 * delivery count (0 for a fresh read). */
static void take_entry(struct handoff_loop *L, const redisReply *e, long deliveries)
{
    struct worker *w = L->w;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        (size_t)e->element[0]->len >= EVENT_ID_MAX)
        return;
    struct hj *j = xcalloc(1, sizeof *j);
    snprintf(j->entry, sizeof j->entry, "%s", e->element[0]->str);
    snprintf(j->handoff_id, sizeof j->handoff_id, "?");
    const redisReply *f = e->element[1];
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, "job") == 0 &&
            f->element[i + 1]->type == REDIS_REPLY_STRING) {
            j->body = xstrndup(f->element[i + 1]->str, f->element[i + 1]->len);
            j->len = f->element[i + 1]->len;
        }
    pthread_mutex_lock(&w->mu);
    claims_add_locked(w, j->entry);
    pthread_mutex_unlock(&w->mu);
    /* What the log and the headers need; the rest is the receiver's to read. */
    json_object *root = j->body && j->len <= HANDOFF_DOC_MAX_BYTES ? json_tokener_parse(j->body) : NULL;
    json_object *hid = NULL, *rid = NULL;
    bool ok = root && json_object_is_type(root, json_type_object) &&
              json_object_object_get_ex(root, "handoff_id", &hid) &&
              json_object_is_type(hid, json_type_string) &&
              json_object_get_string_len(hid) > 0 &&
              json_object_get_string_len(hid) <= HANDOFF_ID_MAX &&
              job_id_valid(json_object_get_string(hid), json_object_get_string_len(hid));
    if (ok) {
        snprintf(j->handoff_id, sizeof j->handoff_id, "%s", json_object_get_string(hid));
        if (json_object_object_get_ex(root, "request_id", &rid) &&
            json_object_is_type(rid, json_type_string) &&
            job_id_valid(json_object_get_string(rid), json_object_get_string_len(rid)) &&
            (size_t)json_object_get_string_len(rid) < sizeof j->rid)
            snprintf(j->rid, sizeof j->rid, "%s", json_object_get_string(rid));
    }
    json_object_put(root);
    L->jobs[L->n++] = j;
    pthread_mutex_lock(&w->mu);
    w->in_flight = L->n;
    pthread_mutex_unlock(&w->mu);
    if (!j->body) {
        j->body = xstrdup("");
        hj_dead(L, j, "the entry has no job field", "internal");
    } else if (!ok) {
        hj_dead(L, j, "not a handoff: want a JSON object with a handoff_id", "internal");
    } else if (deliveries > w->cfg->max_deliveries) {
        char why[128];
        snprintf(why, sizeof why, "delivered %ld times to workers that stopped", deliveries);
        hj_dead(L, j, why, "worker_lost");
    } else {
        if (deliveries > 1)
            log_rid(LOG_INFO, j->rid, "handoff %s: taken over from a worker that stopped",
                    j->handoff_id);
        j->next_ms = clock_mono_ms();
        hj_set_state(j, HJ_WAITING);
    }
}

/* XREADGROUP for as many entries as there is room; blocks up to block_ms (0: not at all). */
static void read_new(struct handoff_loop *L, long block_ms)
{
    struct worker *w = L->w;
    redisContext *c = L->n < HANDOFF_MAX_JOBS && !L->stopping ? loop_redis(L) : NULL;
    if (!c)
        return;
    char count[16], block[24];
    snprintf(count, sizeof count, "%zu", HANDOFF_MAX_JOBS - L->n);
    snprintf(block, sizeof block, "%ld", block_ms);
    const char *argv[] = {"XREADGROUP", "GROUP", KEYS_GROUP, w->id, "COUNT", count,
                          "BLOCK",      block,   "STREAMS",  w->jobs_key, ">"};
    /* Without BLOCK when something is in flight: the poll below is the loop's wait. */
    const char *noblock[] = {"XREADGROUP", "GROUP",   KEYS_GROUP,  w->id, "COUNT",
                             count,        "STREAMS", w->jobs_key, ">"};
    redisReply *r = block_ms > 0 ? redisCommandArgv(c, 11, argv, NULL)
                                 : redisCommandArgv(c, 9, noblock, NULL);
    if (!r) {
        log_warn("XREADGROUP %s: %s", w->jobs_key, c->errstr);
        L->redis_retry_ms = clock_mono_ms() + backoff_next(&L->redis_backoff);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        log_warn("XREADGROUP %s: %s", w->jobs_key, r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) { /* Redis restarted empty: make it again */
            redisFree(L->c);
            L->c = NULL;
        }
        L->redis_retry_ms = clock_mono_ms() + backoff_next(&L->redis_backoff);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
               r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        const redisReply *list = r->element[0]->element[1];
        for (size_t i = 0; i < list->elements && L->n < HANDOFF_MAX_JOBS; i++)
            take_entry(L, list->element[i], 0);
    }
    freeReplyObject(r);
}

/* XAUTOCLAIM of entries a dead worker left (claims.c). */
static void reclaim(struct handoff_loop *L)
{
    if (L->stopping || L->n >= HANDOFF_MAX_JOBS)
        return;
    size_t room = HANDOFF_MAX_JOBS - L->n;
    long deliveries[HANDOFF_MAX_JOBS];
    const redisReply *list = NULL;
    size_t n = 0;
    redisReply *r = claims_reclaim(L->w, room, &list, &n, deliveries);
    for (size_t i = 0; r && i < n && L->n < HANDOFF_MAX_JOBS; i++)
        take_entry(L, list->element[i], deliveries[i]);
    if (r)
        freeReplyObject(r);
}

/* ---- deliveries ------------------------------------------------------------------------- */

static size_t reply_write(char *p, size_t size, size_t n, void *arg)
{
    struct hj *j = arg;
    size_t len = size * n, room = sizeof j->reply - 1 - j->reply_len;
    memcpy(j->reply + j->reply_len, p, len < room ? len : room);
    j->reply_len += len < room ? len : room;
    j->reply[j->reply_len] = '\0';
    return len; /* the rest is read and dropped: the receiver's answer is only for the log */
}

static void hj_start(struct handoff_loop *L, struct hj *j)
{
    const struct nova_config *cfg = L->w->cfg;
    char line[HANDOFF_SIG_LEN + 64];
    j->easy = curl_easy_init();
    if (!j->easy) {
        j->next_ms = clock_mono_ms() + 1000;
        return;
    }
    j->headers = curl_slist_append(NULL, "Content-Type: application/json");
    j->headers = curl_slist_append(j->headers, "Expect:");
    snprintf(line, sizeof line, "X-Nova-Handoff-Id: %s", j->handoff_id);
    j->headers = curl_slist_append(j->headers, line);
    if (cfg->handoff_secret[0]) {
        char sig[HANDOFF_SIG_LEN + 1];
        if (handoff_sign(cfg->handoff_secret, j->body, j->len, sig) == 0) {
            snprintf(line, sizeof line, "%s: %s", HANDOFF_SIG_HEADER, sig);
            j->headers = curl_slist_append(j->headers, line);
        }
    }
    j->reply_len = 0;
    j->reply[0] = j->curl_err[0] = '\0';
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, cfg->handoff_url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->handoff_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->handoff_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would drop the POST body */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "nova-worker-handoff");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, reply_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->curl_err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    j->attempts++;
    curl_multi_add_handle(L->multi, e);
    hj_set_state(j, HJ_SENDING);
    log_event(LOG_INFO, j->rid, "handoff_try", "handoff=%s attempt=%d", j->handoff_id,
              j->attempts);
}

/* A transfer ended: delivered, tried again later, or a dead letter. */
static void hj_finish(struct handoff_loop *L, struct hj *j, CURLcode rc)
{
    struct worker *w = L->w;
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(L->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    enum handoff_outcome o = handoff_classify(rc, status);
    char why[320];
    if (rc != CURLE_OK)
        snprintf(why, sizeof why, "%s", j->curl_err[0] ? j->curl_err : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof why, "HTTP %ld", status);
    if (o == HANDOFF_DELIVERED) {
        atomic_fetch_add(&w->jobs_done, 1);
        log_event(LOG_INFO, j->rid, "handoff_delivered", "handoff=%s attempts=%d status=%ld",
                  j->handoff_id, j->attempts, status);
        hj_retire(L, j, "delivered");
        return;
    }
    if (o == HANDOFF_RETRY && j->attempts < w->cfg->handoff_max_attempts && !L->stopping) {
        uint32_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
            rnd = (uint32_t)clock_mono_ms();
        long wait = handoff_retry_wait_ms(w->cfg->handoff_retry_base_ms,
                                          w->cfg->handoff_retry_cap_ms, j->attempts, rnd);
        j->next_ms = clock_mono_ms() + wait;
        atomic_fetch_add(&w->jobs_retried, 1);
        log_event(LOG_WARN, j->rid, "handoff_retry", "handoff=%s attempt=%d wait_ms=%ld why=%s",
                  j->handoff_id, j->attempts, wait, why);
        hj_set_state(j, HJ_WAITING);
        return;
    }
    if (o == HANDOFF_RETRY && L->stopping) { /* left pending for another worker */
        hj_set_state(j, HJ_WAITING);
        return;
    }
    char reason[512];
    if (o == HANDOFF_RETRY)
        snprintf(reason, sizeof reason, "not delivered after %d tries: %s", j->attempts, why);
    else
        snprintf(reason, sizeof reason, "the receiver refused it: %s%s%.160s", why,
                 j->reply_len ? ": " : "", j->reply);
    hj_dead(L, j, reason, o == HANDOFF_RETRY ? "unavailable" : "rejected");
}

/* Jobs another worker took over meanwhile (claims.c found them pending to it): dropped here
 * without a word, their new owner delivers them. */
static void drop_stolen(struct handoff_loop *L)
{
    struct worker *w = L->w;
    pthread_mutex_lock(&w->mu);
    for (size_t s = 0; s < w->n_stolen; s++)
        for (size_t i = 0; i < L->n; i++)
            if (L->jobs[i]->state != HJ_DONE && strcmp(L->jobs[i]->entry, w->stolen[s]) == 0)
                hj_set_state(L->jobs[i], HJ_DONE);
    w->n_stolen = 0;
    pthread_mutex_unlock(&w->mu);
}

/* Frees the jobs that are done, keeping the others in order. */
static void sweep(struct handoff_loop *L)
{
    size_t k = 0;
    for (size_t i = 0; i < L->n; i++)
        if (L->jobs[i]->state == HJ_DONE)
            hj_free(L, L->jobs[i]);
        else
            L->jobs[k++] = L->jobs[i];
    L->n = k;
    pthread_mutex_lock(&L->w->mu);
    L->w->in_flight = k;
    pthread_mutex_unlock(&L->w->mu);
}

static long long min_ll(long long a, long long b) { return a < b ? a : b; }

/* The timers, run when due. */
static void run_timers(struct handoff_loop *L, long long now)
{
    struct worker *w = L->w;
    if (now >= L->beat_ms) {
        heartbeat_write(w);
        L->beat_ms = now + WORKER_BEAT_MS;
    }
    if (now >= L->refresh_ms) {
        claims_refresh(w);
        L->refresh_ms = now + claims_refresh_ms(w);
    }
    if (now >= L->reclaim_ms) {
        reclaim(L);
        L->reclaim_ms = now + w->cfg->visibility_timeout_s * 1000 / 2;
    }
}

/* true when a signal arrived (read from the non-blocking signalfd). */
static bool signal_seen(int sigfd)
{
    struct signalfd_siginfo si;
    bool seen = false;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        seen = true;
    return seen;
}

int handoff_run(struct worker *w, int sigfd)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        return 1;
    }
    static struct handoff_loop L;
    L.w = w;
    L.multi = curl_multi_init();
    if (!L.multi) {
        log_error("curl_multi_init failed");
        return 1;
    }
    backoff_init(&L.redis_backoff, WORKER_BACKOFF_MIN_MS, WORKER_BACKOFF_MAX_MS);
    long long now = clock_mono_ms(), drain_until = 0;
    L.beat_ms = L.refresh_ms = now;
    L.reclaim_ms = now + w->cfg->visibility_timeout_s * 1000 / 2;
    if (!w->cfg->handoff_url[0])
        log_warn("NOVA_HANDOFF_URL is unset: this worker is idle (it reads and sends nothing; "
                 "nova-fcgi answers handoffs 503 unavailable). Set it on nova-fcgi and here "
                 "to hand conversations to a person");
    if (loop_redis(&L))
        log_info("ready");
    heartbeat_write(w);
    L.beat_ms = now + WORKER_BEAT_MS;
    for (;;) {
        now = clock_mono_ms();
        if (!L.stopping && signal_seen(sigfd)) {
            L.stopping = true;
            drain_until = now + w->cfg->drain_s * 1000;
            log_info("stopping: %zu handoff(s) in flight", L.n);
        } else if (L.stopping && signal_seen(sigfd)) {
            drain_until = now; /* a second signal ends the drain at once */
        }
        bool sending = false;
        for (size_t i = 0; i < L.n; i++)
            sending |= L.jobs[i]->state == HJ_SENDING;
        if (L.stopping && (!sending || now >= drain_until))
            break;
        run_timers(&L, now);
        drop_stolen(&L);
        /* No URL: nothing is read (the entries wait, pending to nobody) and nothing sent. */
        bool can_send = w->cfg->handoff_url[0] != '\0';
        if (can_send)
            read_new(&L, L.n == 0 ? WORKER_READ_BLOCK_MS : 0);
        now = clock_mono_ms();
        long long wake = min_ll(min_ll(L.beat_ms, L.refresh_ms), L.reclaim_ms);
        for (size_t i = 0; i < L.n; i++) {
            struct hj *j = L.jobs[i];
            if (j->state == HJ_WAITING && !L.stopping && can_send && j->next_ms <= now)
                hj_start(&L, j);
            if (j->state == HJ_WAITING)
                wake = min_ll(wake, j->next_ms);
        }
        int running = 0;
        curl_multi_perform(L.multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(L.multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                struct hj *j = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
                if (j)
                    hj_finish(&L, j, m->data.result);
            }
        sweep(&L);
        if (L.n == 0 && can_send && !L.stopping && L.c)
            continue; /* the next read blocks: that is the wait */
        now = clock_mono_ms();
        if (L.stopping)
            wake = min_ll(wake, drain_until);
        if (!L.c)
            wake = min_ll(wake, L.redis_retry_ms > now ? L.redis_retry_ms : now + 100);
        long timeout = wake <= now ? 0 : (long)min_ll(wake - now, WORKER_READ_BLOCK_MS);
        long curl_timeout = -1;
        curl_multi_timeout(L.multi, &curl_timeout);
        if (curl_timeout >= 0 && curl_timeout < timeout)
            timeout = curl_timeout;
        struct curl_waitfd wfd = {.fd = sigfd, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(L.multi, &wfd, 1, (int)timeout, NULL);
    }
    /* What is left stays pending in the group: another worker (or this one started again)
     * takes it over after the visibility timeout. */
    for (size_t i = 0; i < L.n; i++)
        hj_free(&L, L.jobs[i]);
    L.n = 0;
    curl_multi_cleanup(L.multi);
    if (L.c)
        redisFree(L.c);
    curl_global_cleanup();
    return 0;
}
