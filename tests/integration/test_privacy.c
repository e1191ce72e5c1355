/* test_privacy: privacy and bounds of resumes (issue 16, items 6 and 7), on one whole stack
 * (privacy.sh: NOVA_MAX_RESUMES_PER_REQUEST=3).
 *   - A resume replays no session id: the transcript keeps meta without it, only the client
 *     that asked gets it; resumed with no resume point, with Last-Event-ID and with ?after=,
 *     and read from Redis, the session id is nowhere.
 *   - No log holds it: after a chat in that session and DELETE /api/session/<id>, nova-fcgi's
 *     log and the other programs' logs do not contain it (nor nginx's access log once its
 *     log_format no longer writes the raw request line; see the check below).
 *   - An answer that finishes on a resumed stream is saved to the session, once: the first
 *     stream's client leaves early, a resume reads to done, and nova:session:<id> holds that
 *     exchange exactly once; with both the first stream and a resume reading to done, once.
 *   - At most NOVA_MAX_RESUMES_PER_REQUEST live resumes of one request: one more is 429
 *     rate_limited with Retry-After; when one ends, a new one is taken.
 *   - A resume whose client reads nothing, started while a long answer is being written,
 *     holds a bounded buffer: nova-fcgi cuts it (for a later resume) with at most
 *     UNREAD_BOUND bytes unwritten, instead of buffering the whole transcript. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/test.h"
#include "core/clock.h"
#include "redis/append.h"
#include "sse_client.h"
#include "stack_util.h"

#define CAP 3                        /* privacy.sh's NOVA_MAX_RESUMES_PER_REQUEST */
#define UNREAD_BOUND (256u * 1024u)  /* bytes an unread resume may hold at its cut */

static const char *base_url, *run_dir;
static redisContext *R;
static char session_a[40]; /* the session of the privacy checks */

static void random_session(char *out, size_t n, const char *prefix)
{
    unsigned char b[8];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    for (size_t i = got; i < sizeof b; i++)
        b[i] = (unsigned char)(clock_mono_ms() >> (i * 3));
    snprintf(out, n, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, b[0], b[1], b[2], b[3], b[4],
             b[5], b[6], b[7]);
}

/* POST /api/chat with a session id. */
static struct stream *chat_in_session(const char *message, const char *ui_lang,
                                      const char *session)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "ui_lang", json_object_new_string(ui_lang));
    json_object_object_add(o, "session_id", json_object_new_string(session));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct stream *s = stream_new(base_url, NULL, "/api/chat", "application/json", js,
                                  strlen(js), NULL);
    json_object_put(o);
    return s;
}

static const char *request_id_of(struct stream *s, char *out, size_t n)
{
    out[0] = '\0';
    if (s->n && strcmp(s->evs[0].type, "meta") == 0) {
        const char *id = jstr(ev_json(&s->evs[0]), "request_id");
        snprintf(out, n, "%s", id ? id : "");
    }
    return out;
}

static bool ends_with_done(const struct stream *s)
{
    return s->n && strcmp(s->evs[s->n - 1].type, "done") == 0;
}

/* Whether any event of s (id, type, data) holds needle. */
static bool stream_holds(const struct stream *s, const char *needle)
{
    for (size_t i = 0; i < s->n; i++)
        if (strstr(s->evs[i].id, needle) || strstr(s->evs[i].type, needle) ||
            strstr(s->evs[i].data, needle))
            return true;
    return false;
}

/* The whole raw body of a resume of a finished request (plain GET). */
static long resume_raw(const char *rid, const char *query, const char *last_event_id,
                       struct http_reply *out)
{
    char url[512], h[128];
    snprintf(url, sizeof url, "%s/api/chat/%s/events%s", base_url, rid, query ? query : "");
    const char *headers[] = {h, NULL};
    snprintf(h, sizeof h, "Last-Event-ID: %s", last_event_id ? last_event_id : "");
    http_do("GET", url, last_event_id ? headers : NULL, NULL, 0, out);
    return out->status;
}

/* ---- the session id is not replayed --------------------------------------------------- */

static void test_resume_replays_no_session_id(void)
{
    random_session(session_a, sizeof session_a, "privA-");
    struct stream *s = chat_in_session("폴이 레벨업을 못 해요", "ko", session_a);
    drive_one(s, 30000);
    char rid[64];
    request_id_of(s, rid, sizeof rid);
    CHECK(rid[0] && ends_with_done(s) && s->n > 3);
    /* The client that asked still gets its session id (a client that sent none learns it). */
    CHECK(s->n && jstr_is(ev_json(&s->evs[0]), "session_id", session_a));
    const char *meta_id = s->n ? s->evs[0].id : "";
    const char *mid_id = s->n > 2 ? s->evs[2].id : "";

    struct {
        const char *what, *query, *last_event_id;
    } resumes[] = {
        {"no resume point", NULL, NULL},
        {"Last-Event-ID before meta", NULL, "1-0"},
        {"Last-Event-ID = meta", NULL, meta_id},
        {"Last-Event-ID mid-stream", NULL, mid_id},
        {"?after= before meta", "?after=1-0", NULL},
    };
    for (size_t i = 0; i < sizeof resumes / sizeof resumes[0]; i++) {
        struct http_reply r;
        long st = resume_raw(rid, resumes[i].query, resumes[i].last_event_id, &r);
        bool leaked = strstr(buf_cstr(&r.body), session_a) != NULL;
        bool has_meta = strstr(buf_cstr(&r.body), "event: meta") != NULL;
        printf("  resume (%s): %ld, %zu bytes%s, session id %s\n", resumes[i].what, st,
               r.body.len, has_meta ? " with meta" : "", leaked ? "REPLAYED" : "absent");
        CHECK(st == 200 && r.body.len > 0 && !leaked);
        if (!resumes[i].last_event_id || strcmp(resumes[i].last_event_id, "1-0") == 0)
            CHECK(has_meta); /* meta itself was replayed, without the id */
        http_reply_free(&r);
    }
    /* A live resume, while the answer is written. */
    struct stream *live = chat_in_session("길드에 가입하는 방법 #sim:tps=60", "ko", session_a);
    struct loop l;
    loop_init(&l);
    loop_add(&l, live);
    double t0 = now_ms();
    while (live->n < 2 && !live->finished && now_ms() - t0 < 10000)
        loop_run(&l, 50, NULL, NULL);
    char rid2[64], path[128];
    request_id_of(live, rid2, sizeof rid2);
    snprintf(path, sizeof path, "/api/chat/%s/events", rid2);
    struct stream *res = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
    loop_add(&l, res);
    loop_run(&l, 30000, NULL, NULL);
    loop_free(&l);
    printf("  live resume: %zu events, done %d, session id %s\n", res->n, ends_with_done(res),
           stream_holds(res, session_a) ? "REPLAYED" : "absent");
    CHECK(rid2[0] && ends_with_done(res) && !stream_holds(res, session_a));
    CHECK(live->n && jstr_is(ev_json(&live->evs[0]), "session_id", session_a));
    /* Nor is it in the transcript. */
    redisReply *x = redisCommand(R, "XRANGE nova:log:%s - +", rid);
    bool in_log = false;
    for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
        const redisReply *e = x->element[i];
        for (size_t k = 0; e->type == REDIS_REPLY_ARRAY && k < e->elements; k++) {
            const redisReply *f = e->element[k];
            for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j < f->elements; j++)
                if (f->element[j]->type == REDIS_REPLY_STRING &&
                    strstr(f->element[j]->str, session_a))
                    in_log = true;
        }
    }
    CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements > 3 && !in_log);
    if (x)
        freeReplyObject(x);
    stream_free(s);
    stream_free(live);
    stream_free(res);
}

/* ---- no log holds it ------------------------------------------------------------------ */

/* Lines of path holding needle. */
static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[16384];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static void test_logs_hold_no_session_id(void)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/session/%s", base_url, session_a);
    struct http_reply r;
    http_do("DELETE", url, NULL, NULL, 0, &r);
    CHECK(r.status == 200 && strstr(buf_cstr(&r.body), "\"deleted\":true"));
    http_reply_free(&r);
    /* A bad one and a wrong method are logged too. */
    snprintf(url, sizeof url, "%s/api/session/%s.x", base_url, session_a);
    http_do("DELETE", url, NULL, NULL, 0, &r);
    CHECK(r.status == 400);
    http_reply_free(&r);
    snprintf(url, sizeof url, "%s/api/session/%s", base_url, session_a);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 405);
    http_reply_free(&r);
    /* The request lines are written when each request ends: the last one's is awaited. */
    char path[700];
    snprintf(path, sizeof path, "%s/nova-fcgi.log", run_dir);
    long long until = clock_mono_ms() + 5000;
    while (count_in_file(path, "/api/session/:id") < 3 && clock_mono_ms() < until)
        sleep_ms(20);
    int redacted = count_in_file(path, "/api/session/:id");
    printf("  nova-fcgi.log: %d request lines name /api/session/:id\n", redacted);
    CHECK(redacted >= 3);
    static const char *const logs[] = {"nova-fcgi.log",       "nova-worker-micro.log",
                                       "nova-worker-pro.log", "nova-worker-kb.log",
                                       "nginx.log",           "bedrock-sim.log"};
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", run_dir, logs[i]);
        int n = count_in_file(path, session_a);
        printf("  %s: %d lines hold the session id\n", logs[i], n);
        CHECK(n <= 0);
    }
    snprintf(path, sizeof path, "%s/nginx-access.log", run_dir);
    int n = count_in_file(path, session_a);
    printf("  nginx-access.log: %d lines hold the session id\n", n);
    CHECK(n == 0);
}

/* ---- saved on resume -------------------------------------------------------------------- */

/* The turns of nova:session:<session> that name rid; *answer_len: the last one's answer. */
static int turns_of(const char *session, const char *rid, size_t *answer_len)
{
    redisReply *x = redisCommand(R, "LRANGE nova:session:%s 0 -1", session);
    int n = 0;
    *answer_len = 0;
    for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
        json_object *t = json_tokener_parse(x->element[i]->str);
        if (t && jstr_is(t, "request_id", rid)) {
            n++;
            const char *a = jstr(t, "answer");
            *answer_len = a ? strlen(a) : 0;
        }
        json_object_put(t);
    }
    if (x)
        freeReplyObject(x);
    return n;
}

static void test_answer_finished_on_a_resume_is_saved_once(void)
{
    char session[40], rid[64], path[128];
    random_session(session, sizeof session, "privB-");
    /* The first stream's client leaves after a few events. */
    struct stream *s = chat_in_session("길드에 가입하는 방법 #sim:tps=80", "ko", session);
    s->stop_after = 4;
    drive_one(s, 20000);
    request_id_of(s, rid, sizeof rid);
    CHECK(rid[0] && s->dropped);
    /* Its resume (within the 400 ms a dropped client's jobs wait) reads to done. */
    snprintf(path, sizeof path, "/api/chat/%s/events", rid);
    struct stream *res = stream_new(base_url, NULL, path, NULL, NULL, 0,
                                    s->n ? s->evs[s->n - 1].id : NULL);
    drive_one(res, 30000);
    size_t alen = 0;
    /* The turn is saved as the resume ends, before its response is complete. */
    long long until = clock_mono_ms() + 3000;
    int turns;
    while ((turns = turns_of(session, rid, &alen)) == 0 && clock_mono_ms() < until)
        sleep_ms(20);
    printf("  first client gone, resume read %zu events (done %d): %d turn(s) saved, answer "
           "%zu bytes\n", res->n, ends_with_done(res), turns, alen);
    CHECK(ends_with_done(res));
    CHECK(turns == 1 && alen > 0);
    redisReply *x = redisCommand(R, "EXISTS nova:turn:%s", rid);
    CHECK(x && x->type == REDIS_REPLY_INTEGER && x->integer == 0);
    if (x)
        freeReplyObject(x);
    /* A follow-up in the session is asked with that exchange as its history. */
    struct stream *f = chat_in_session("그럼 길드 탈퇴는요?", "ko", session);
    drive_one(f, 30000);
    CHECK(ends_with_done(f));
    redisReply *len = redisCommand(R, "LLEN nova:session:%s", session);
    CHECK(len && len->type == REDIS_REPLY_INTEGER && len->integer == 2);
    if (len)
        freeReplyObject(len);
    stream_free(s);
    stream_free(res);
    stream_free(f);

    /* Both the first stream and a resume read to done: one turn. */
    random_session(session, sizeof session, "privC-");
    struct stream *o = chat_in_session("길드에 가입하는 방법 #sim:tps=200", "ko", session);
    struct loop l;
    loop_init(&l);
    loop_add(&l, o);
    double t0 = now_ms();
    while (o->n < 2 && !o->finished && now_ms() - t0 < 10000)
        loop_run(&l, 50, NULL, NULL);
    request_id_of(o, rid, sizeof rid);
    snprintf(path, sizeof path, "/api/chat/%s/events", rid);
    struct stream *both = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
    loop_add(&l, both);
    loop_run(&l, 30000, NULL, NULL);
    loop_free(&l);
    until = clock_mono_ms() + 3000;
    while ((turns = turns_of(session, rid, &alen)) == 0 && clock_mono_ms() < until)
        sleep_ms(20);
    sleep_ms(300); /* a second save, if there were one, would follow the first at once */
    turns = turns_of(session, rid, &alen);
    printf("  first stream and a resume both read to done: %d turn(s)\n", turns);
    CHECK(ends_with_done(o) && ends_with_done(both));
    CHECK(turns == 1);
    stream_free(o);
    stream_free(both);
}

/* ---- the cap on resumes ----------------------------------------------------------------- */

static long long live_resumes(const char *rid)
{
    redisReply *x = redisCommand(R, "ZRANGE nova:readers:%s 0 -1", rid);
    long long n = 0;
    for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++)
        if (x->element[i]->str[0] == 'r')
            n++;
    if (x)
        freeReplyObject(x);
    return n;
}

static int all_started(void *user)
{
    struct stream **v = user;
    for (size_t i = 0; i < CAP; i++)
        if (v[i]->n == 0 && !v[i]->finished)
            return 0;
    return 1;
}

/* A ko chat on a fresh loop l, run until its first event (10 s at most); its request id in
 * rid (empty when none came). */
static struct stream *chat_first_event(const char *q, struct loop *l, char *rid, size_t n)
{
    struct stream *o = chat_new_on(base_url, q, "ko");
    loop_init(l);
    loop_add(l, o);
    double t0 = now_ms();
    while (o->n < 1 && !o->finished && now_ms() - t0 < 10000)
        loop_run(l, 50, NULL, NULL);
    request_id_of(o, rid, n);
    return o;
}

static void test_resumes_of_one_request_are_capped(void)
{
    struct loop l;
    char rid[64], path[128];
    struct stream *o = chat_first_event("길드에 가입하는 방법 #sim:tps=15", &l, rid, sizeof rid);
    CHECK(rid[0]);
    snprintf(path, sizeof path, "/api/chat/%s/events", rid);
    struct stream *v[CAP];
    for (size_t i = 0; i < CAP; i++) {
        v[i] = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
        loop_add(&l, v[i]);
    }
    loop_run(&l, 10000, all_started, v);
    size_t open = 0;
    for (size_t i = 0; i < CAP; i++)
        open += v[i]->status == 200 && !v[i]->finished;
    printf("  %d resumes open (%zu streaming), %lld in nova:readers\n", CAP, open,
           live_resumes(rid));
    CHECK(open == CAP);
    /* One more. */
    char url[512], retry[32] = "";
    snprintf(url, sizeof url, "%s%s", base_url, path);
    struct http_reply r;
    long long t = clock_mono_ms();
    http_do("GET", url, NULL, NULL, 0, &r);
    long long ms = clock_mono_ms() - t;
    bool limited = strstr(buf_cstr(&r.body), "\"code\":\"rate_limited\"") != NULL;
    printf("  resume %d: %ld in %lld ms, Retry-After %s: %s", CAP + 1, r.status, ms,
           http_header(&r, "Retry-After", retry, sizeof retry) ? retry : "(none)",
           buf_cstr(&r.body));
    CHECK(r.status == 429 && limited && retry[0] && ms < 2000);
    http_reply_free(&r);
    /* One leaves: its place is free again. */
    v[0]->drop = true;
    loop_run(&l, 100, NULL, NULL);
    long long until = clock_mono_ms() + 5000;
    while (live_resumes(rid) >= CAP && clock_mono_ms() < until)
        sleep_ms(20);
    struct stream *again = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
    loop_add(&l, again);
    double t0 = now_ms();
    while (again->n < 1 && !again->finished && now_ms() - t0 < 10000)
        loop_run(&l, 50, NULL, NULL);
    printf("  after one left: a new resume is %ld\n", again->status);
    CHECK(again->status == 200);
    /* The request is canceled: its streams end. */
    snprintf(url, sizeof url, "%s/api/chat/%s/cancel", base_url, rid);
    http_do("POST", url, NULL, NULL, 0, &r);
    CHECK(r.status == 202);
    http_reply_free(&r);
    loop_run(&l, 15000, NULL, NULL);
    loop_free(&l);
    CHECK(ends_with_done(o));
    stream_free(o);
    stream_free(again);
    for (size_t i = 0; i < CAP; i++)
        stream_free(v[i]);
}

/* ---- an unread resume stays bounded ------------------------------------------------------- */

/* A TCP connection to the stack's nginx that sends a resume and never reads (a small receive
 * buffer, so the network holds little of what is written). Returns the fd or -1. */
static int unread_resume(const char *rid)
{
    const char *p = strrchr(base_url, ':');
    int port = p ? atoi(p + 1) : 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /api/chat/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", rid);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The number in the last "(N bytes unwritten)" of nova-fcgi.log after offset, or -1. */
static long cut_bytes_after(long offset, long *end)
{
    char path[700];
    snprintf(path, sizeof path, "%s/nova-fcgi.log", run_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    fseek(f, offset, SEEK_SET);
    char line[16384];
    long bytes = -1;
    while (fgets(line, sizeof line, f)) {
        const char *u = strstr(line, " bytes unwritten)");
        if (!u)
            continue;
        const char *b = u;
        while (b > line && b[-1] >= '0' && b[-1] <= '9')
            b--;
        bytes = atol(b);
    }
    if (end)
        *end = ftell(f);
    fclose(f);
    return bytes;
}

static long vm_rss_kb(void)
{
    /* The nova-fcgi children: the master's children. */
    pid_t master = read_pid_file(run_dir, "nova-fcgi"), kids[16];
    size_t n = master > 0 ? proc_children(master, kids, 16) : 0;
    long total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", (int)kids[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                total += atol(line + 6);
        if (f)
            fclose(f);
    }
    return total;
}

/* A long answer, written into the request's transcript the way a worker writes one (the
 * append script, published on the job's channel): the simulator's answers stop at the jobs'
 * maxTokens (about 150 KB of events for four answers), which the sockets between nova-fcgi
 * and a client absorb whole; a transcript far longer than the bound shows what the replay
 * itself buffers. Returns the bytes appended, or 0. */
static size_t write_long_answer(const char *rid, size_t events)
{
    char key[128], chan[160], id[64], err[256], text[201];
    snprintf(key, sizeof key, "nova:log:%s", rid);
    snprintf(chan, sizeof chan, "nova:out:%s-answer-micro", rid);
    memset(text, 'x', 200);
    text[200] = '\0';
    size_t bytes = 0;
    for (size_t i = 0; i < events; i++) {
        char data[320];
        int n = snprintf(data, sizeof data,
                         "{\"phase\":\"answer\",\"model\":\"micro\",\"text\":\"%04zu %s\"}",
                         i % 10000, text);
        if (event_append(R, key, chan, "delta", data, (size_t)n, 600000, id, sizeof id, err,
                         sizeof err) < 0) {
            printf("  appending: %s\n", err);
            return 0;
        }
        bytes += (size_t)n + 40;
    }
    return bytes;
}

static void test_unread_resume_stays_bounded(void)
{
    long offset = 0;
    cut_bytes_after(0, &offset);
    long rss0 = vm_rss_kb();
    /* The models start late (ttft): the long answer is in the transcript before theirs. */
    struct loop l;
    char rid[64], path[128];
    struct stream *o = chat_first_event("길드에 가입하는 방법 #sim:ttft=3000", &l, rid, sizeof rid);
    size_t written = rid[0] ? write_long_answer(rid, 6000) : 0;
    /* The resume whose client reads nothing, then one that reads. */
    int fd = unread_resume(rid);
    snprintf(path, sizeof path, "/api/chat/%s/events", rid);
    struct stream *reader = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
    loop_add(&l, reader);
    long rss_peak = vm_rss_kb();
    double t0 = now_ms();
    while (!reader->finished && now_ms() - t0 < 30000) {
        loop_run(&l, 100, NULL, NULL);
        long rss = vm_rss_kb();
        if (rss > rss_peak)
            rss_peak = rss;
    }
    printf("  transcript: about %zu bytes written into it; a reading resume got %zu events "
           "(done %d)\n", written, reader->n, ends_with_done(reader));
    CHECK(fd >= 0 && written > 4 * UNREAD_BOUND);
    CHECK(ends_with_done(reader) && reader->n > 6000);
    /* The unread one is cut: two keep-alive intervals without progress, or its inbox full. */
    long bytes = -1, end = 0;
    long long until = clock_mono_ms() + 20000;
    while ((bytes = cut_bytes_after(offset, &end)) < 0 && clock_mono_ms() < until) {
        long rss = vm_rss_kb();
        if (rss > rss_peak)
            rss_peak = rss;
        sleep_ms(50);
    }
    printf("  the unread resume was cut with %ld bytes unwritten (bound %u); nova-fcgi "
           "children's RSS %ld KiB before, %ld KiB at most while it was open\n", bytes,
           UNREAD_BOUND, rss0, rss_peak);
    CHECK(bytes >= 0 && bytes <= (long)UNREAD_BOUND);
    if (fd >= 0)
        close(fd);
    /* And a later resume still gets the whole answer. */
    struct stream *later = stream_new(base_url, NULL, path, NULL, NULL, 0, NULL);
    loop_add(&l, later);
    loop_run(&l, 30000, NULL, NULL);
    loop_free(&l);
    printf("  a later resume: %zu events, done %d\n", later->n, ends_with_done(later));
    CHECK(ends_with_done(later) && later->n == reader->n);
    stream_free(later);
    stream_free(reader);
    stream_free(o);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    char sock[700];
    snprintf(sock, sizeof sock, "%s/redis.sock", run_dir ? run_dir : ".");
    if (!base_url || !run_dir || !(R = redis_at(sock))) {
        fprintf(stderr, "test_privacy: NOVA_URL, NOVA_RUN_DIR and the stack's Redis needed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_resume_replays_no_session_id);
    RUN(test_logs_hold_no_session_id);
    RUN(test_answer_finished_on_a_resume_is_saved_once);
    RUN(test_resumes_of_one_request_are_capped);
    RUN(test_unread_resume_stays_bounded);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
