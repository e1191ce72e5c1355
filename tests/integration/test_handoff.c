/* Handoff to a person, end to end (tests/integration/handoff.sh): POST
 * /api/chat/<request>/handoff on a real stack whose handoff worker delivers to a real HTTP
 * receiver on loopback — this same program, started first in receiver mode:
 *
 *   test_handoff receive DIR    serves 127.0.0.1:<ephemeral> (tests/lib/testhttpd), writes the
 *                               port to DIR/port, and for every request writes DIR/<n>.req (a
 *                               JSON object: handoff_id, signature, the status it answered,
 *                               the body) once it has answered; until SIGTERM.
 *   test_handoff                the checks (NOVA_URL, NOVA_URL2, NOVA_RUN_DIR, RECV_DIR,
 *                               HANDOFF_SECRET, NOVACTL).
 *
 * The receiver's answer is steered by the player's note, as the simulator is by #sim: words:
 * "#fail=N" answers 500 to the first N deliveries of that handoff, "#always" answers 503 to
 * every one, "#hold=MS" holds the first delivery MS ms before its 200 (a worker is killed
 * meanwhile). Stack 1 has NOVA_HANDOFF_URL, a secret, fast retries (50 ms doubling to 200 ms,
 * 4 tries) and a 2 s visibility timeout; stack 2 has no NOVA_HANDOFF_URL; stack 3's
 * NOVA_HANDOFF_URL is a loopback port nothing listens on (HANDOFF_PORT3) until the test starts
 * tools/handoff-echo there (ECHO): receiver down → dead letter → receiver up → novactl dead
 * retry → delivered once, signed. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sse_client.h"
#include "stack_util.h"
#include "../unit/test.h"
#include "testhttpd.h"

static const char *base_url, *base_url2, *run_dir, *recv_dir, *secret, *novactl;
static const char *base_url3, *run_dir3, *echo_bin, *port3;

/* ---- receiver mode ---------------------------------------------------------------------- */

struct receiver {
    const char *dir;
    unsigned long seq;
    /* deliveries seen per handoff id (a small table: a test's handoffs) */
    char ids[64][80];
    int seen[64];
    size_t n;
};

static int *seen_of(struct receiver *rv, const char *id)
{
    for (size_t i = 0; i < rv->n; i++)
        if (strcmp(rv->ids[i], id) == 0)
            return &rv->seen[i];
    if (rv->n == 64)
        return &rv->seen[63];
    snprintf(rv->ids[rv->n], sizeof rv->ids[0], "%s", id);
    rv->seen[rv->n] = 0;
    return &rv->seen[rv->n++];
}

static long directive(const char *note, const char *name)
{
    const char *p = note ? strstr(note, name) : NULL;
    if (!p)
        return -1;
    p += strlen(name);
    return *p == '=' ? strtol(p + 1, NULL, 10) : 0;
}

static void span_str(const struct http_span *s, char *out, size_t n)
{
    size_t k = s && s->len < n ? s->len : 0;
    if (k)
        memcpy(out, s->p, k);
    out[k] = '\0';
}

static void receive(void *user, const struct http_request *req, struct testhttpd_response *r)
{
    struct receiver *rv = user;
    char sig[128], hid[80], path[600], tmp[620];
    span_str(http_request_header(req, "X-Nova-Signature"), sig, sizeof sig);
    span_str(http_request_header(req, "X-Nova-Handoff-Id"), hid, sizeof hid);
    json_object *body = NULL;
    {
        json_tokener *tok = json_tokener_new();
        body = json_tokener_parse_ex(tok, req->body.p, (int)req->body.len);
        json_tokener_free(tok);
    }
    json_object *note = NULL;
    const char *note_s = body && json_object_object_get_ex(body, "note", &note)
                             ? json_object_get_string(note)
                             : NULL;
    int *seen = seen_of(rv, hid);
    int nth = ++*seen;
    long fail = directive(note_s, "#fail"), hold = directive(note_s, "#hold");
    unsigned long n = ++rv->seq;
    if (hold > 0 && nth == 1) {
        /* tell the test it is here, then hold (the worker is killed meanwhile) */
        snprintf(path, sizeof path, "%s/%lu.held", rv->dir, n);
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
        sleep_ms(hold);
    }
    if (directive(note_s, "#always") >= 0)
        r->status = 503;
    else if (fail > 0 && nth <= fail)
        r->status = 500;
    else
        r->status = 200;
    buf_puts(&r->body, r->status == 200 ? "{\"ok\":true}" : "{\"ok\":false}");
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    json_object *rec = json_object_new_object();
    json_object_object_add(rec, "handoff_id", json_object_new_string(hid));
    json_object_object_add(rec, "signature", json_object_new_string(sig));
    json_object_object_add(rec, "status", json_object_new_int(r->status));
    json_object_object_add(rec, "nth", json_object_new_int(nth));
    json_object_object_add(rec, "body", json_object_new_string_len(req->body.p,
                                                                   (int)req->body.len));
    char method[16];
    span_str(&req->method, method, sizeof method);
    json_object_object_add(rec, "method", json_object_new_string(method));
    json_object_object_add(rec, "content_type", json_object_new_string(""));
    const struct http_span *ct = http_request_header(req, "Content-Type");
    if (ct)
        json_object_object_add(rec, "content_type", json_object_new_string_len(ct->p,
                                                                               (int)ct->len));
    /* Written whole, then renamed: the test never reads half a record. */
    snprintf(tmp, sizeof tmp, "%s/.%lu.tmp", rv->dir, n);
    snprintf(path, sizeof path, "%s/%lu.req", rv->dir, n);
    FILE *f = fopen(tmp, "w");
    if (f) {
        fputs(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN), f);
        fclose(f);
        rename(tmp, path);
    }
    json_object_put(rec);
    json_object_put(body);
}

static int receiver_main(const char *dir)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* before the server thread: it inherits it */
    static struct receiver rv;
    rv.dir = dir;
    struct testhttpd *s = testhttpd_start(receive, &rv);
    if (!s)
        return 1;
    char path[600], tmp[620];
    snprintf(tmp, sizeof tmp, "%s/.port", dir);
    snprintf(path, sizeof path, "%s/port", dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return 1;
    fprintf(f, "%d\n", testhttpd_port(s));
    fclose(f);
    rename(tmp, path);
    int sig;
    sigwait(&sigs, &sig);
    testhttpd_stop(s);
    return 0;
}

/* ---- the checks' helpers ---------------------------------------------------------------- */

/* The receiver's records of handoff id, in arrival order: a JSON array (caller frees). */
static json_object *records_of(const char *hid)
{
    json_object *all = json_object_new_array();
    DIR *d = opendir(recv_dir);
    if (!d)
        return all;
    struct dirent *e;
    /* numbered 1..N: read them in order */
    unsigned long max = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".req") && e->d_name[0] != '.') {
            unsigned long n = strtoul(e->d_name, NULL, 10);
            if (n > max)
                max = n;
        }
    closedir(d);
    for (unsigned long n = 1; n <= max; n++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%lu.req", recv_dir, n);
        json_object *r = json_object_from_file(path);
        if (!r)
            continue;
        if (jstr_is(r, "handoff_id", hid))
            json_object_array_add(all, r);
        else
            json_object_put(r);
    }
    return all;
}

/* Waits (bounded) until the receiver answered 200 to delivery min_nth (or a later one) of hid
 * and has recorded at least min_nth deliveries of it; its records then. */
static json_object *await_delivery_nth(const char *hid, int min_nth, long timeout_ms)
{
    double until = now_ms() + timeout_ms;
    for (;;) {
        json_object *a = records_of(hid);
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
            json_object *rec = json_object_array_get_idx(a, i);
            if (json_object_get_int(jget(rec, "status")) == 200 &&
                json_object_get_int(jget(rec, "nth")) >= min_nth && n >= (size_t)min_nth)
                return a;
        }
        if (now_ms() > until)
            return a;
        json_object_put(a);
        sleep_ms(20);
    }
}

static json_object *await_delivered(const char *hid, long timeout_ms)
{
    return await_delivery_nth(hid, 1, timeout_ms);
}

static redisContext *redis_of(const char *dir)
{
    char sock[600];
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    return redis_at(sock);
}

static redisContext *redis(void)
{
    return redis_of(run_dir);
}

/* A file's text (caller frees), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 4u << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_puts(&b, "");
    return b.data;
}

/* Lines of text that hold every one of the words (NULL-terminated). */
static int lines_with(const char *text, const char *const *words)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        bool all = true;
        for (size_t i = 0; words[i] && all; i++)
            all = memmem(p, len, words[i], strlen(words[i])) != NULL;
        n += all;
        p = eol ? eol + 1 : p + len;
    }
    return n;
}

/* A finished chat on base: its request and session ids. 0 or -1. */
static int chat_done(const char *base, const char *message, char *rid, char *sid)
{
    struct stream *s = chat_new_on(base, message, "ko");
    drive_one(s, 20000);
    struct chat c;
    chat_read(s, &c);
    int rc = s->status == 200 && c.done_last && c.request_id[0] ? 0 : -1;
    snprintf(rid, 80, "%s", c.request_id);
    const char *ses = c.meta ? jstr(c.meta, "session_id") : NULL;
    snprintf(sid, 80, "%s", ses ? ses : "");
    if (rc < 0)
        stream_dump("chat", s);
    chat_free(&c);
    stream_free(s);
    if (rc < 0 || !base_url || base != base_url)
        return rc;
    /* The session turn is saved just after done: wait (bounded) until it is there. */
    redisContext *r = redis();
    for (int i = 0; r && i < 250; i++) {
        redisReply *x = redisCommand(r, "LRANGE nova:session:%s 0 -1", sid);
        bool found = false;
        for (size_t k = 0; x && x->type == REDIS_REPLY_ARRAY && k < x->elements; k++)
            found |= strstr(x->element[k]->str, rid) != NULL;
        if (x)
            freeReplyObject(x);
        if (found)
            break;
        sleep_ms(20);
    }
    if (r)
        redisFree(r);
    return 0;
}

/* POST .../handoff with body on base; the reply (caller frees). */
static void handoff(const char *base, const char *rid, const char *body, struct http_reply *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/chat/%s/handoff", base, rid);
    const char *h[] = {"Content-Type: application/json", NULL};
    http_do("POST", url, h, body, strlen(body), r);
}

/* {"note","contact","session_id"} as JSON text into out. */
static void body_of(char *out, size_t n, const char *note, const char *contact, const char *sid)
{
    json_object *o = json_object_new_object();
    if (note)
        json_object_object_add(o, "note", json_object_new_string(note));
    if (contact)
        json_object_object_add(o, "contact", json_object_new_string(contact));
    if (sid && *sid)
        json_object_object_add(o, "session_id", json_object_new_string(sid));
    snprintf(out, n, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
}

/* A chat and its handoff with note: the handoff id (out, 64 bytes), or "" */
static void chat_and_handoff(const char *message, const char *note, char *hid, char *rid)
{
    char sid[80], body[4096];
    hid[0] = '\0';
    if (chat_done(base_url, message, rid, sid) < 0)
        return;
    body_of(body, sizeof body, note, "player@example.com", sid);
    struct http_reply r;
    handoff(base_url, rid, body, &r);
    json_object *o = r.status == 202 ? json_tokener_parse(r.body.data) : NULL;
    if (jstr(o, "handoff_id"))
        snprintf(hid, 64, "%s", jstr(o, "handoff_id"));
    else
        fprintf(stderr, "handoff: %ld %.*s\n", r.status, (int)r.body.len,
                r.body.data ? r.body.data : "");
    json_object_put(o);
    http_reply_free(&r);
}

static long long pending_handoffs(void)
{
    redisContext *r = redis();
    redisReply *x = r ? redisCommand(r, "XPENDING nova:jobs:{handoff} workers") : NULL;
    long long n = x && x->type == REDIS_REPLY_ARRAY && x->elements >= 1 &&
                          x->element[0]->type == REDIS_REPLY_INTEGER
                      ? x->element[0]->integer
                      : -1;
    if (x)
        freeReplyObject(x);
    if (r)
        redisFree(r);
    return n;
}

/* ---- the checks ------------------------------------------------------------------------- */

static char first_hid[64], first_rid[80];

/* The document arrives once, complete, signed with the secret. */
static void test_payload_complete_and_signed(void)
{
    char sid[80], body[4096];
    const char *question = "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=20";
    CHECK(chat_done(base_url, question, first_rid, sid) == 0 && sid[0]);
    body_of(body, sizeof body, "환불이 안 돼요, 사람과 이야기하고 싶어요", "player@example.com",
            sid);
    struct http_reply r;
    handoff(base_url, first_rid, body, &r);
    CHECK(r.status == 202);
    json_object *o = r.status == 202 ? json_tokener_parse(r.body.data) : NULL;
    CHECK(jstr(o, "handoff_id") && strlen(jstr(o, "handoff_id")) == 32);
    CHECK(jstr_is(o, "request_id", first_rid));
    snprintf(first_hid, sizeof first_hid, "%s", jstr(o, "handoff_id") ? jstr(o, "handoff_id") : "");
    json_object_put(o);
    http_reply_free(&r);

    json_object *recs = await_delivered(first_hid, 10000);
    CHECK(json_object_array_length(recs) == 1);
    json_object *rec = json_object_array_get_idx(recs, 0);
    CHECK(rec && json_object_get_int(jget(rec, "status")) == 200);
    CHECK(jstr_is(rec, "method", "POST") && jstr_is(rec, "content_type", "application/json"));
    const char *raw = jstr(rec, "body");
    json_object *d = raw ? json_tokener_parse(raw) : NULL;
    CHECK(d != NULL);
    /* the signature, computed here with OpenSSL over the bytes that arrived */
    unsigned char mac[32];
    unsigned int mlen = 0;
    char want[80] = "sha256=";
    if (raw)
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)raw, strlen(raw),
             mac, &mlen);
    for (unsigned i = 0; i < mlen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    CHECK(mlen == 32 && jstr_is(rec, "signature", want));
    /* and not with another key */
    if (raw)
        HMAC(EVP_sha256(), "not-the-secret", 14, (const unsigned char *)raw, strlen(raw), mac,
             &mlen);
    char other[80] = "sha256=";
    for (unsigned i = 0; i < mlen; i++)
        snprintf(other + 7 + 2 * i, 3, "%02x", mac[i]);
    CHECK(!jstr_is(rec, "signature", other));
    /* the document */
    CHECK(jstr_is(d, "handoff_id", first_hid) && jstr_is(d, "request_id", first_rid));
    CHECK(jstr_is(d, "note", "환불이 안 돼요, 사람과 이야기하고 싶어요"));
    CHECK(jstr_is(d, "contact", "player@example.com"));
    CHECK(jstr_is(d, "question", question));
    CHECK(jstr_is(d, "ui_lang", "ko"));
    CHECK(jstr(d, "time") && strlen(jstr(d, "time")) == 24);
    CHECK(json_object_get_int64(jget(d, "created_ms")) > 1700000000000LL);
    json_object *src = jget(d, "sources");
    CHECK(src && json_object_array_length(src) >= 1 &&
          jstr(json_object_array_get_idx(src, 0), "url"));
    json_object *ans = jget(d, "answers");
    CHECK(ans && json_object_array_length(ans) == 2);
    for (size_t i = 0; ans && i < json_object_array_length(ans); i++) {
        json_object *a = json_object_array_get_idx(ans, i);
        CHECK(jstr_is(a, "phase", "answer"));
        CHECK(jstr_is(a, "model", "micro") || jstr_is(a, "model", "pro"));
        CHECK(jstr(a, "text") && strlen(jstr(a, "text")) > 10);
        CHECK(jstr(a, "stop_reason") != NULL);
        CHECK(jstr(a, "model_id") && strstr(jstr(a, "model_id"), "amazon.nova-"));
    }
    /* the prompt version and the cost, from the request's record (record.h) */
    CHECK(jstr(d, "prompt_sha256") && strlen(jstr(d, "prompt_sha256")) == 64);
    CHECK(jget(d, "cost_usd") != NULL && jget(d, "usage") != NULL);
    json_object *turns = jget(d, "session");
    bool mine = false;
    for (size_t i = 0; turns && i < json_object_array_length(turns); i++)
        mine |= jstr_is(json_object_array_get_idx(turns, i), "request_id", first_rid);
    CHECK(mine);
    json_object *fb = NULL;
    CHECK(json_object_object_get_ex(d, "feedback", &fb) && fb == NULL); /* none given: null */
    json_object_put(d);
    json_object_put(recs);
}

/* POST .../feedback with body on stack 1; its status. */
static long feedback(const char *rid, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s/api/chat/%s/feedback", base_url, rid);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct http_reply r;
    http_do("POST", url, h, body, strlen(body), &r);
    long st = r.status;
    if (st != 202)
        fprintf(stderr, "feedback: %ld %.*s\n", st, (int)r.body.len, r.body.data ? r.body.data : "");
    http_reply_free(&r);
    return st;
}

/* The player rated the answer (twice: the last one counts): the document carries that rating,
 * its reason, comment and time. */
static void test_feedback_in_document(void)
{
    char rid[80], sid[80], body[1024];
    CHECK(chat_done(base_url, "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=10", rid, sid) == 0);
    CHECK(feedback(rid, "{\"rating\":\"up\"}") == 202);
    CHECK(feedback(rid, "{\"rating\":\"down\",\"reason\":\"wrong\","
                        "\"comment\":\"레벨업 방법이 틀렸어요\"}") == 202);
    body_of(body, sizeof body, "사람과 이야기하고 싶어요", NULL, sid);
    struct http_reply r;
    handoff(base_url, rid, body, &r);
    json_object *o = r.status == 202 ? json_tokener_parse(r.body.data) : NULL;
    char hid[64];
    snprintf(hid, sizeof hid, "%s", jstr(o, "handoff_id") ? jstr(o, "handoff_id") : "");
    CHECK(r.status == 202 && hid[0]);
    json_object_put(o);
    http_reply_free(&r);
    json_object *recs = await_delivered(hid, 10000);
    CHECK(json_object_array_length(recs) == 1);
    const char *raw = jstr(json_object_array_get_idx(recs, 0), "body");
    json_object *d = raw ? json_tokener_parse(raw) : NULL;
    json_object *fb = jget(d, "feedback");
    CHECK(fb && json_object_is_type(fb, json_type_object));
    CHECK(jstr_is(fb, "rating", "down") && jstr_is(fb, "reason", "wrong"));
    CHECK(jstr_is(fb, "comment", "레벨업 방법이 틀렸어요"));
    CHECK(jstr(fb, "time") && strlen(jstr(fb, "time")) >= 20);
    /* the request's record is in the document once, not again inside the feedback */
    CHECK(fb && !jget(fb, "answers") && !jget(fb, "question"));
    if (test_cur_failures)
        fprintf(stderr, "document: %s\n", raw ? raw : "(none)");
    json_object_put(d);
    json_object_put(recs);
}

/* A second POST for the same request answers the same handoff id and queues nothing. */
static void test_second_post_same_handoff(void)
{
    char body[256];
    body_of(body, sizeof body, "again", NULL, NULL);
    struct http_reply r;
    handoff(base_url, first_rid, body, &r);
    json_object *o = r.status == 202 ? json_tokener_parse(r.body.data) : NULL;
    CHECK(r.status == 202 && jstr_is(o, "handoff_id", first_hid));
    json_object_put(o);
    http_reply_free(&r);
    redisContext *x = redis();
    redisReply *len = x ? redisCommand(x, "XLEN nova:jobs:{handoff}") : NULL;
    redisReply *done = x ? redisCommand(x, "XLEN nova:done:{handoff}") : NULL;
    /* the first one was delivered and deleted; the second never queued */
    CHECK(len && len->type == REDIS_REPLY_INTEGER && len->integer == 0);
    CHECK(done && done->type == REDIS_REPLY_INTEGER && done->integer == 1);
    if (len)
        freeReplyObject(len);
    if (done)
        freeReplyObject(done);
    if (x)
        redisFree(x);
}

/* 500 twice, then 200: delivered on the third try, once. */
static void test_retried_then_delivered(void)
{
    char hid[64], rid[80];
    chat_and_handoff("계정을 잃어버렸어요 #sim:tps=400 #sim:len=10", "#fail=2 도와주세요", hid, rid);
    CHECK(hid[0]);
    json_object *recs = await_delivered(hid, 10000);
    size_t n = json_object_array_length(recs);
    CHECK(n == 3);
    for (size_t i = 0; i < n; i++)
        CHECK(json_object_get_int(jget(json_object_array_get_idx(recs, i), "status")) ==
              (i < 2 ? 500 : 200));
    /* the same bytes each time (the signature covers the queued document) */
    if (n == 3)
        CHECK(strcmp(jstr(json_object_array_get_idx(recs, 0), "body"),
                     jstr(json_object_array_get_idx(recs, 2), "body")) == 0);
    json_object_put(recs);
    double until = now_ms() + 5000;
    while (pending_handoffs() != 0 && now_ms() < until)
        sleep_ms(20);
    CHECK(pending_handoffs() == 0); /* XACKed once delivered */
}

/* Always failing: 4 tries, then a dead letter that novactl dead shows. */
static void test_dead_letter_shown(void)
{
    char hid[64], rid[80];
    chat_and_handoff("아이템이 사라졌어요 #sim:tps=400 #sim:len=10", "#always", hid, rid);
    CHECK(hid[0]);
    redisContext *x = redis();
    bool dead = false;
    double until = now_ms() + 10000;
    while (x && !dead && now_ms() < until) {
        redisReply *d = redisCommand(x, "XRANGE nova:dead:{handoff} - +");
        for (size_t i = 0; d && d->type == REDIS_REPLY_ARRAY && i < d->elements; i++) {
            const redisReply *f = d->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "job") == 0 && strstr(f->element[k + 1]->str, hid))
                    dead = true;
        }
        if (d)
            freeReplyObject(d);
        if (!dead)
            sleep_ms(20);
    }
    CHECK(dead);
    json_object *recs = records_of(hid);
    CHECK(json_object_array_length(recs) == 4); /* NOVA_HANDOFF_MAX_ATTEMPTS */
    json_object_put(recs);
    CHECK(pending_handoffs() == 0);
    if (x)
        redisFree(x);
    /* novactl dead list handoff, with the stack's Redis */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead list handoff 2>&1",
             run_dir, novactl);
    struct buf out;
    buf_init(&out, 1u << 20);
    CHECK(run_command(cmd, &out) == 0);
    CHECK(out.data && strstr(out.data, "unavailable") && strstr(out.data, "not delivered after 4"));
    if (test_cur_failures)
        fprintf(stderr, "novactl dead list handoff:\n%s\n", out.data ? out.data : "");
    buf_free(&out);
}

/* A worker killed while its delivery is held: the restarted one reclaims and delivers. */
static void test_killed_worker_reclaimed(void)
{
    char hid[64], rid[80];
    chat_and_handoff("비밀번호를 잊었어요 #sim:tps=400 #sim:len=10", "#hold=3000", hid, rid);
    CHECK(hid[0]);
    /* wait (bounded) until the receiver holds the first delivery */
    bool held = false;
    double until = now_ms() + 10000;
    while (!held && now_ms() < until) {
        DIR *d = opendir(recv_dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            held |= strstr(e->d_name, ".held") != NULL;
        if (d)
            closedir(d);
        if (!held)
            sleep_ms(20);
    }
    CHECK(held);
    pid_t pid = read_pid_file(run_dir, "nova-worker-handoff");
    CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
    /* the held one is recorded 200 too when its hold ends, and may be first: wait for the
     * takeover's delivery (nth 2) and both records */
    json_object *recs = await_delivery_nth(hid, 2, 20000);
    size_t n = json_object_array_length(recs);
    CHECK(n >= 2);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += json_object_get_int(jget(json_object_array_get_idx(recs, i), "status")) == 200 &&
              json_object_get_int(jget(json_object_array_get_idx(recs, i), "nth")) >= 2;
    CHECK(ok == 1); /* delivered by the worker that took it over */
    json_object_put(recs);
    until = now_ms() + 5000;
    while (pending_handoffs() != 0 && now_ms() < until)
        sleep_ms(20);
    CHECK(pending_handoffs() == 0);
}

/* Stack 3's receiver is down: the handoff becomes a dead letter; novactl dead lists it by its
 * handoff id; the receiver comes up (tools/handoff-echo); novactl dead retry re-queues it and
 * it arrives once, with a signature that verifies; a second retry finds no letter. */
static void test_dead_retry_delivers_once(void)
{
    char rid[80], sid[80], body[1024], hid[64] = "";
    CHECK(chat_done(base_url3, "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=10", rid, sid) == 0);
    body_of(body, sizeof body, "받은 아이템이 없어요", "player3@example.com", sid);
    struct http_reply r;
    handoff(base_url3, rid, body, &r);
    json_object *o = r.status == 202 ? json_tokener_parse(r.body.data) : NULL;
    CHECK(r.status == 202 && jstr(o, "handoff_id"));
    snprintf(hid, sizeof hid, "%s", jstr(o, "handoff_id") ? jstr(o, "handoff_id") : "");
    json_object_put(o);
    http_reply_free(&r);
    /* receiver down: 3 refused tries, then a dead letter */
    redisContext *x = redis_of(run_dir3);
    char letter[64] = "";
    double until = now_ms() + 15000;
    while (x && hid[0] && !letter[0] && now_ms() < until) {
        redisReply *d = redisCommand(x, "XRANGE nova:dead:{handoff} - +");
        for (size_t i = 0; d && d->type == REDIS_REPLY_ARRAY && i < d->elements; i++) {
            const redisReply *f = d->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (strcmp(f->element[k]->str, "job") == 0 && strstr(f->element[k + 1]->str, hid))
                    snprintf(letter, sizeof letter, "%s", d->element[i]->element[0]->str);
        }
        if (d)
            freeReplyObject(d);
        if (!letter[0])
            sleep_ms(20);
    }
    CHECK(letter[0]);
    char cmd[2400];
    struct buf out;
    buf_init(&out, 1u << 20);
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead list handoff 2>&1",
             run_dir3, novactl);
    CHECK(run_command(cmd, &out) == 0);
    char want[128];
    snprintf(want, sizeof want, "handoff=%s", hid);
    const char *w1[] = {letter, want, "code=unavailable", "not delivered after 3 tries", NULL};
    CHECK(lines_with(out.data, w1) == 1);
    if (test_cur_failures)
        fprintf(stderr, "novactl dead list handoff:\n%s\n", out.data ? out.data : "");
    buf_free(&out);
    snprintf(cmd, sizeof cmd,
             "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead list handoff --json 2>&1", run_dir3,
             novactl);
    CHECK(run_command(cmd, &out) == 0);
    json_object *j = out.data ? json_tokener_parse(out.data) : NULL;
    json_object *first = json_object_array_get_idx(jget(j, "dead"), 0);
    CHECK(jstr_is(first, "job", hid) && jstr_is(first, "request", rid) &&
          jstr_is(first, "queue", "handoff"));
    json_object_put(j);
    buf_free(&out);
    /* a letter's document is not a model job: --deadline does not apply */
    snprintf(cmd, sizeof cmd,
             "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead retry handoff %s --deadline 60 2>&1",
             run_dir3, novactl, letter);
    CHECK(run_command(cmd, &out) != 0 && out.data && strstr(out.data, "do not apply"));
    buf_free(&out);

    /* the receiver comes up: handoff-echo on the stack's port, with the secret */
    char echo_out[700], port_file[700], pid_file[700];
    snprintf(echo_out, sizeof echo_out, "%s/echo.out", run_dir3);
    snprintf(port_file, sizeof port_file, "%s/echo.port", run_dir3);
    snprintf(pid_file, sizeof pid_file, "%s/handoff-echo.pid", run_dir3);
    char *argv[] = {(char *)echo_bin, "--secret", (char *)secret, "--port-file", port_file,
                    (char *)port3, NULL};
    pid_t echo = spawn_logged(argv, NULL, echo_out, pid_file);
    CHECK(echo > 0);
    struct stat st;
    until = now_ms() + 5000;
    while (stat(port_file, &st) != 0 && now_ms() < until)
        sleep_ms(20);
    CHECK(stat(port_file, &st) == 0);

    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead retry handoff --all 2>&1",
             run_dir3, novactl);
    CHECK(run_command(cmd, &out) == 0);
    const char *w2[] = {"retried", letter, want, NULL};
    CHECK(lines_with(out.data, w2) == 1);
    if (test_cur_failures)
        fprintf(stderr, "novactl dead retry handoff --all:\n%s\n", out.data ? out.data : "");
    buf_free(&out);
    /* it arrives: one delivery line, signature valid, answered 200; the document printed */
    snprintf(want, sizeof want, "handoff=%s", hid);
    const char *w3[] = {"delivery ", want, "signature=valid", "status=200", NULL};
    char *text = NULL;
    until = now_ms() + 10000;
    for (;;) {
        free(text);
        text = slurp(echo_out);
        if (lines_with(text, w3) >= 1 || now_ms() > until)
            break;
        sleep_ms(20);
    }
    CHECK(lines_with(text, w3) == 1);
    CHECK(text && strstr(text, "받은 아이템이 없어요") && strstr(text, "player3@example.com"));
    free(text);
    /* retired once: a delivered receipt, no letter, nothing pending */
    long long receipts = -1, dead = -1, pend = -1;
    until = now_ms() + 5000;
    while (x && now_ms() < until) {
        redisReply *a = redisCommand(x, "XRANGE nova:done:{handoff} - +");
        receipts = 0;
        for (size_t i = 0; a && a->type == REDIS_REPLY_ARRAY && i < a->elements; i++) {
            const redisReply *f = a->element[i]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                receipts += strcmp(f->element[k]->str, "job") == 0 &&
                            strstr(f->element[k + 1]->str, hid) &&
                            strstr(f->element[k + 1]->str, "\"delivered\"");
        }
        if (a)
            freeReplyObject(a);
        redisReply *b = redisCommand(x, "XLEN nova:dead:{handoff}");
        dead = b && b->type == REDIS_REPLY_INTEGER ? b->integer : -1;
        if (b)
            freeReplyObject(b);
        redisReply *c = redisCommand(x, "XPENDING nova:jobs:{handoff} workers");
        pend = c && c->type == REDIS_REPLY_ARRAY && c->elements >= 1 &&
                       c->element[0]->type == REDIS_REPLY_INTEGER ? c->element[0]->integer : -1;
        if (c)
            freeReplyObject(c);
        if (receipts == 1 && dead == 0 && pend == 0)
            break;
        sleep_ms(20);
    }
    CHECK(receipts == 1 && dead == 0 && pend == 0);
    /* the same letter again: gone, nothing re-queued */
    snprintf(cmd, sizeof cmd, "NOVA_REDIS_URL=unix://%s/redis.sock '%s' dead retry handoff %s 2>&1",
             run_dir3, novactl, letter);
    CHECK(run_command(cmd, &out) != 0 && out.data && strstr(out.data, "no such dead letter"));
    buf_free(&out);
    /* the tool says so when a signature does not verify (and answers 400) */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%s/hook", port3);
    const char *h[] = {"Content-Type: application/json", "X-Nova-Handoff-Id: forged",
                       "X-Nova-Signature: sha256=0000", NULL};
    const char *forged = "{\"handoff_id\":\"forged\",\"request_id\":\"x\"}";
    http_do("POST", url, h, forged, strlen(forged), &r);
    CHECK(r.status == 400);
    http_reply_free(&r);
    const char *w4[] = {"delivery ", "handoff=forged", "signature=invalid", "status=400", NULL};
    text = NULL;
    until = now_ms() + 5000;
    for (;;) {
        free(text);
        text = slurp(echo_out);
        if (lines_with(text, w4) >= 1 || now_ms() > until)
            break;
        sleep_ms(20);
    }
    CHECK(lines_with(text, w4) == 1);
    CHECK(lines_with(text, w3) == 1); /* still once */
    if (test_cur_failures)
        fprintf(stderr, "handoff-echo said:\n%s\n", text ? text : "");
    free(text);
    if (echo > 0) {
        kill(echo, SIGTERM);
        CHECK(reap_within(echo, 5000) == 0);
    }
    if (x)
        redisFree(x);
}

/* 404, 400, 503. */
static void test_refusals(void)
{
    struct http_reply r;
    handoff(base_url, "0123456789abcdef0123456789abcdef", "{}", &r);
    CHECK(r.status == 404 && r.body.data && strstr(r.body.data, "\"not_found\""));
    http_reply_free(&r);
    handoff(base_url, "not-a-request-id", "{}", &r);
    CHECK(r.status == 400);
    http_reply_free(&r);
    char long_note[4200];
    memset(long_note, 'x', 2001);
    long_note[2001] = '\0';
    char body[4400];
    snprintf(body, sizeof body, "{\"note\":\"%s\"}", long_note);
    const char *bad[] = {"not json", "[1,2]", "{\"note\":5}", "{\"contact\":\"a\\u0001b\"}",
                         "{\"session_id\":\"short\"}", body, "{\"note\":\"ok\"} trailing"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        handoff(base_url, first_rid, bad[i], &r);
        CHECK(r.status == 400 && r.body.data && strstr(r.body.data, "\"bad_request\""));
        if (r.status != 400)
            fprintf(stderr, "body %zu: %ld\n", i, r.status);
        http_reply_free(&r);
    }
    /* stack 2 has no NOVA_HANDOFF_URL: 503 unavailable, and its health does not need a
     * handoff worker */
    char rid[80], sid[80];
    CHECK(chat_done(base_url2, "폴이 레벨업을 못 해요 #sim:tps=400 #sim:len=5", rid, sid) == 0);
    handoff(base_url2, rid, "{}", &r);
    CHECK(r.status == 503 && r.body.data && strstr(r.body.data, "\"unavailable\"") &&
          strstr(r.body.data, "NOVA_HANDOFF_URL"));
    http_reply_free(&r);
    char url[512];
    snprintf(url, sizeof url, "%s/api/health", base_url2);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"handoff\":0"));
    http_reply_free(&r);
    snprintf(url, sizeof url, "%s/api/health", base_url);
    http_do("GET", url, NULL, NULL, 0, &r);
    CHECK(r.status == 200 && strstr(r.body.data, "\"handoff\":1"));
    http_reply_free(&r);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "receive") == 0)
        return receiver_main(argv[2]);
    base_url = getenv("NOVA_URL");
    base_url2 = getenv("NOVA_URL2");
    run_dir = getenv("NOVA_RUN_DIR");
    recv_dir = getenv("RECV_DIR");
    secret = getenv("HANDOFF_SECRET");
    novactl = getenv("NOVACTL");
    base_url3 = getenv("NOVA_URL3");
    run_dir3 = getenv("NOVA_RUN_DIR3");
    echo_bin = getenv("ECHO");
    port3 = getenv("HANDOFF_PORT3");
    if (!base_url || !base_url2 || !run_dir || !recv_dir || !secret || !novactl || !base_url3 ||
        !run_dir3 || !echo_bin || !port3) {
        fprintf(stderr, "test_handoff: run it through tests/integration/handoff.sh\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_payload_complete_and_signed);
    RUN(test_second_post_same_handoff);
    RUN(test_feedback_in_document);
    RUN(test_retried_then_delivered);
    RUN(test_dead_letter_shown);
    RUN(test_refusals);
    RUN(test_dead_retry_delivers_once);
    RUN(test_killed_worker_reclaimed); /* last: it kills the stack's handoff worker */
    curl_global_cleanup();
    return test_summary();
}
