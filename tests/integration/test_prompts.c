/* test_prompts: jobs that name their system prompt, and what finished jobs leave in Redis.
 *
 * tests/integration/prompts.sh starts one whole stack (scripts/nova-run) with its glossary in a
 * temp copy (GLOSSARY_FILE) and passes NOVA_URL, NOVA_RUN_DIR, SIM_URL, WORKER_BIN, NOVACTL.
 * Everything goes through nginx and real workers; Redis is read directly to see what is there.
 *
 * Checked, in this order: a chat's jobs name one prompt, stored once as nova:prompt:<sha256>
 * whose SHA-256 it is, with the glossary in it and an expiry; the finished jobs are gone from
 * their streams and their receipts name the prompt (novactl jobs show reads them: done, the
 * prompt stored); a second chat reads Bedrock's prompt cache; the worker fetched the prompt
 * once for all the chats; a job naming a prompt Redis does not have fails typed (unavailable,
 * retryable) without reaching Bedrock, is a dead letter, and runs once the prompt is back and
 * the letter retried; a prompt whose text is not what its name says fails internal; a prompt
 * Redis lost is stored again once nova-fcgi's pub/sub connection comes back, and a worker with
 * an empty cache fetches it (a miss); a reload (SIGHUP) with a changed glossary names a new
 * prompt; 30 chats leave at most 8 KiB each of kept jobs (their receipts) in Redis. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "redis/contract.h"
#include "redis/job.h"
#include "simstats.h"
#include "sse_client.h"
#include "stack_util.h"

#define FAST " #sim:tps=400 #sim:len=12"

static const char *base_url, *run_dir, *sim_url, *glossary_file, *worker_bin, *novactl;
static redisContext *R;
static char first_sha[JOB_SHA256_HEX + 1];

static struct stream *ask(const char *message)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "message", json_object_new_string(message));
    json_object_object_add(o, "ui_lang", json_object_new_string("ko"));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE);
    struct stream *s = stream_new(base_url, NULL, "/api/chat", "application/json", js,
                                  strlen(js), NULL);
    json_object_put(o);
    drive_one(s, 30000);
    return s;
}

/* A chat answered whole: both models' model_done, done last, no error. */
static bool answered(struct stream *s, struct chat *c)
{
    chat_read(s, c);
    struct model_stream *mi = chat_ms(c, "answer", "micro"), *pr = chat_ms(c, "answer", "pro");
    bool ok = s->status == 200 && c->done_last && c->n_errors == 0 && mi && mi->done && pr &&
              pr->done && c->request_id[0];
    if (!ok)
        stream_dump("chat not answered", s);
    return ok;
}

static redisReply *cmd(const char *fmt, const char *a)
{
    redisReply *r = redisCommand(R, fmt, a);
    if (!r)
        fprintf(stderr, "  redis: %s\n", R->errstr);
    return r;
}

static long long cmd_int(const char *fmt, const char *a)
{
    redisReply *r = cmd(fmt, a);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return v;
}

/* The newest receipt (nova:done:{queue}) of job_id: its job JSON parsed, entry and worker
 * copied. NULL when there is none. */
static json_object *receipt_of(const char *queue, const char *job_id, char *entry, size_t en)
{
    char key[64];
    snprintf(key, sizeof key, "nova:done:{%s}", queue);
    redisReply *r = redisCommand(R, "XREVRANGE %s + - COUNT 500", key);
    json_object *found = NULL;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && !found; i++) {
        redisReply *f = r->element[i]->element[1];
        const char *job = NULL, *ent = "";
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "job") == 0)
                job = f->element[k + 1]->str;
            if (strcmp(f->element[k]->str, "entry") == 0)
                ent = f->element[k + 1]->str;
        }
        json_object *o = job ? json_tokener_parse(job) : NULL;
        if (o && jstr_is(o, "id", job_id)) {
            found = o;
            snprintf(entry, en, "%s", ent);
        } else {
            json_object_put(o);
        }
    }
    if (r)
        freeReplyObject(r);
    return found;
}

/* The prompt the answer jobs of request named, from their receipts; "" when none. */
static void named_prompt(const char *request, char out[JOB_SHA256_HEX + 1])
{
    char id[200], entry[64];
    snprintf(id, sizeof id, "%s-answer-micro", request);
    json_object *o = receipt_of("micro", id, entry, sizeof entry);
    snprintf(out, JOB_SHA256_HEX + 1, "%s", o && jstr(o, "system_sha256") ? jstr(o, "system_sha256") : "");
    json_object_put(o);
}

/* A worker's heartbeat counter (the first live worker of queue). -1 when unreadable. */
static long long worker_counter(const char *queue, const char *field)
{
    char key[64];
    snprintf(key, sizeof key, "nova:workers:{%s}", queue);
    redisReply *r = redisCommand(R, "ZRANGE %s 0 -1", key);
    long long v = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && v < 0; i++) {
        redisReply *h = redisCommand(R, "HGET nova:worker:%s %s", r->element[i]->str, field);
        if (h && h->type == REDIS_REPLY_STRING)
            v = atoll(h->str);
        if (h)
            freeReplyObject(h);
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* Waits (bounded) until the counter of the first micro worker reaches at least want: the
 * heartbeat is written every 5 s. Returns the value seen last. */
static long long counter_at_least(const char *field, long long want, long ms)
{
    long long v = -1;
    for (long t = 0; t <= ms; t += 200) {
        v = worker_counter("micro", field);
        if (v >= want)
            return v;
        sleep_ms(200);
    }
    return v;
}

/* ---- a chat names its prompt ------------------------------------------------------------- */

static void test_chat_names_one_stored_prompt(void)
{
    struct stream *s = ask("폴이 레벨업을 못 해요" FAST);
    struct chat c;
    CHECK(answered(s, &c));
    named_prompt(c.request_id, first_sha);
    CHECK(job_sha256_valid(first_sha, strlen(first_sha)));
    /* The pro job names the same prompt: one cache prefix for both models. */
    char id[200], entry[64], pro_sha[JOB_SHA256_HEX + 1] = "";
    snprintf(id, sizeof id, "%s-answer-pro", c.request_id);
    json_object *rp = receipt_of("pro", id, entry, sizeof entry);
    CHECK(rp && jstr_is(rp, "system_sha256", first_sha) && entry[0]);
    if (rp && jstr(rp, "system_sha256"))
        snprintf(pro_sha, sizeof pro_sha, "%s", jstr(rp, "system_sha256"));
    json_object_put(rp);
    /* Stored once, under its name, with the glossary, and it is what it is named. */
    char key[KEY_MAX];
    key_prompt(key, sizeof key, first_sha);
    redisReply *r = cmd("GET %s", key);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r && r->type == REDIS_REPLY_STRING) {
        char got[JOB_SHA256_HEX + 1];
        job_prompt_name(r->str, r->len, got);
        CHECK_STR_EQ(got, first_sha);
        CHECK(strstr(r->str, "Paul") && strstr(r->str, "폴"));
    }
    if (r)
        freeReplyObject(r);
    long long ttl = cmd_int("TTL %s", key);
    CHECK(ttl > PROMPT_TTL_S - 600 && ttl <= PROMPT_TTL_S);
    /* The finished jobs left their streams; receipts are what remains. */
    CHECK(cmd_int("XLEN %s", "nova:jobs:{micro}") == 0);
    CHECK(cmd_int("XLEN %s", "nova:jobs:{pro}") == 0);
    CHECK(cmd_int("XLEN %s", "nova:done:{micro}") >= 1);
    /* novactl reads the receipt: done, the entry it was, the prompt stored. */
    char line[512], command[800];
    snprintf(command, sizeof command, "%s jobs show %s-answer-micro 2>&1", novactl, c.request_id);
    FILE *p = popen(command, "r");
    bool done = false, stored = false, named = false;
    while (p && fgets(line, sizeof line, p)) {
        done = done || strcmp(line, "state: done\n") == 0;
        stored = stored || strcmp(line, "system_prompt: stored\n") == 0;
        named = named || (strncmp(line, "system_sha256: ", 15) == 0 &&
                          strncmp(line + 15, first_sha, JOB_SHA256_HEX) == 0);
    }
    CHECK(p && pclose(p) == 0);
    CHECK(done && stored && named);
    chat_free(&c);
    stream_free(s);
}

static void test_second_chat_reads_bedrocks_cache(void)
{
    struct stream *s = ask("결제 취소는 어떻게 하나요?" FAST);
    struct chat c;
    CHECK(answered(s, &c));
    long cache_read = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->evs[i].type, "model_done") == 0) {
            json_object *u = jget(ev_json(&s->evs[i]), "usage");
            cache_read += u && jget(u, "cache_read_tokens")
                              ? (long)json_object_get_int64(jget(u, "cache_read_tokens")) : 0;
        }
    CHECK(cache_read > 0); /* the system bytes and their cachePoint are what they were */
    char sha[JOB_SHA256_HEX + 1];
    named_prompt(c.request_id, sha);
    CHECK_STR_EQ(sha, first_sha);
    chat_free(&c);
    stream_free(s);
}

static void test_worker_fetches_the_prompt_once(void)
{
    for (int i = 0; i < 3; i++) {
        struct stream *s = ask("환불은 어떻게 신청하나요?" FAST);
        struct chat c;
        CHECK(answered(s, &c));
        chat_free(&c);
        stream_free(s);
    }
    /* Five chats by now, one prompt: one fetch (the next heartbeat says so). */
    sleep_ms(5500);
    CHECK(counter_at_least("prompts_fetched", 1, 6000) == 1);
    CHECK(worker_counter("micro", "jobs_no_prompt") == 0);
}

/* ---- a prompt Redis does not have -------------------------------------------------------- */

/* Queues a micro job naming the prompt called sha; its request id into request. */
static void queue_named(const char *sha, const char *tag, char *request, size_t rn)
{
    snprintf(request, rn, "prompts%s%d", tag, (int)getpid());
    struct job j;
    memset(&j, 0, sizeof j);
    snprintf(j.id, sizeof j.id, "%s-answer-micro", request);
    snprintf(j.request, sizeof j.request, "%s", request);
    j.queue = QUEUE_MICRO;
    j.model = MODEL_MICRO;
    snprintf(j.phase, sizeof j.phase, "answer");
    snprintf(j.model_id, sizeof j.model_id, "amazon.nova-micro-v1:0");
    snprintf(j.system_sha256, sizeof j.system_sha256, "%s", sha);
    j.cache_point = true;
    j.messages[0].role = "user";
    j.messages[0].text = "How do I level up? #sim:len=5";
    j.n_messages = 1;
    j.max_tokens = 100;
    j.temperature = j.top_p = -1;
    j.created_ms = (long long)time(NULL) * 1000;
    j.deadline_ms = j.created_ms + 120000;
    struct buf b;
    buf_init(&b, 1 << 16);
    CHECK(job_to_json(&j, &b) == 0);
    redisReply *r = redisCommand(R, "XADD nova:jobs:{micro} * job %b", b.data, b.len);
    CHECK(r && r->type == REDIS_REPLY_STRING);
    if (r)
        freeReplyObject(r);
    buf_free(&b);
}

/* The last event of type in request's transcript, parsed; NULL after ms without one. */
static json_object *wait_event(const char *request, const char *type, long ms)
{
    for (long t = 0; t <= ms; t += 100) {
        redisReply *r = redisCommand(R, "XRANGE nova:log:%s - +", request);
        json_object *found = NULL;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            redisReply *f = r->element[i]->element[1];
            if (f->elements == 4 && strcmp(f->element[1]->str, type) == 0) {
                json_object_put(found);
                found = json_tokener_parse(f->element[3]->str);
            }
        }
        if (r)
            freeReplyObject(r);
        if (found)
            return found;
        sleep_ms(100);
    }
    return NULL;
}

/* The id of the newest dead letter of micro whose job names request, into id. */
static bool dead_letter_of(const char *request, char *id, size_t n, char *code, size_t cn)
{
    redisReply *r = redisCommand(R, "XREVRANGE nova:dead:{micro} + - COUNT 50");
    bool found = false;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && !found; i++) {
        redisReply *e = r->element[i], *f = e->element[1];
        const char *job = "", *c = "";
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "job") == 0)
                job = f->element[k + 1]->str;
            if (strcmp(f->element[k]->str, "code") == 0)
                c = f->element[k + 1]->str;
        }
        if (strstr(job, request) && strstr(job, "\"system_sha256\"")) {
            snprintf(id, n, "%s", e->element[0]->str);
            snprintf(code, cn, "%s", c);
            found = true;
        }
    }
    if (r)
        freeReplyObject(r);
    return found;
}

static void test_missing_prompt_fails_typed_then_retries(void)
{
    char text[200], sha[JOB_SHA256_HEX + 1], request[80];
    snprintf(text, sizeof text, "You answer players' questions. (a prompt nobody stored, %d)",
             (int)getpid());
    job_prompt_name(text, strlen(text), sha);
    long before = simstats_get(sim_url, "converse_stream");
    queue_named(sha, "miss", request, sizeof request);
    json_object *e = wait_event(request, "error", 10000);
    CHECK(e && jstr_is(e, "code", "unavailable") && jstr_is(e, "model", "micro"));
    CHECK(e && jget(e, "retryable") && json_object_get_boolean(jget(e, "retryable")));
    json_object_put(e);
    CHECK(simstats_get(sim_url, "converse_stream") == before); /* never sent to Bedrock */
    char dead[64] = "", code[32] = "";
    CHECK(dead_letter_of(request, dead, sizeof dead, code, sizeof code));
    CHECK_STR_EQ(code, "unavailable");
    CHECK(counter_at_least("jobs_no_prompt", 1, 7000) >= 1);
    /* The prompt back, the letter retried: the same job, named the same, now runs. */
    redisReply *r = redisCommand(R, "SET nova:prompt:%s %s EX 600", sha, text);
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r)
        freeReplyObject(r);
    char command[800];
    snprintf(command, sizeof command, "%s dead retry micro %s >/dev/null 2>&1", novactl, dead);
    CHECK(dead[0] && system(command) == 0);
    json_object *d = wait_event(request, "model_done", 10000);
    CHECK(d != NULL);
    json_object_put(d);
}

static void test_corrupt_prompt_fails_internal(void)
{
    char text[200], sha[JOB_SHA256_HEX + 1], request[80];
    snprintf(text, sizeof text, "The prompt this job names (%d)", (int)getpid());
    job_prompt_name(text, strlen(text), sha);
    redisReply *r = redisCommand(R, "SET nova:prompt:%s %s EX 600", sha, "some other text");
    if (r)
        freeReplyObject(r);
    long before = simstats_get(sim_url, "converse_stream");
    queue_named(sha, "bad", request, sizeof request);
    json_object *e = wait_event(request, "error", 10000);
    CHECK(e && jstr_is(e, "code", "internal"));
    CHECK(e && jget(e, "retryable") && !json_object_get_boolean(jget(e, "retryable")));
    json_object_put(e);
    CHECK(simstats_get(sim_url, "converse_stream") == before);
}

/* ---- a prompt lost, a worker that never had it ------------------------------------------- */

static pid_t start_worker(const char *id)
{
    static struct su_env env;
    char *const *envp = su_worker_env(&env, NULL, sim_url, run_dir, NULL);
    char log[700], idarg[64];
    snprintf(log, sizeof log, "%s/nova-worker-%s.log", run_dir, id);
    snprintf(idarg, sizeof idarg, "%s", id);
    char *argv[] = {(char *)worker_bin, "--queue", "micro", "--id", idarg, NULL};
    return spawn_logged(argv, envp, log, NULL);
}

static void test_lost_prompt_is_stored_again_and_fetched(void)
{
    char key[KEY_MAX];
    key_prompt(key, sizeof key, first_sha);
    /* Redis loses the prompt and drops every connection but this one (as a restart would:
     * an idle dispatcher with no channel is a "normal" client, not a pub/sub one). */
    CHECK(cmd_int("DEL %s", key) == 1);
    redisReply *r = redisCommand(R, "CLIENT KILL TYPE pubsub");
    if (r)
        freeReplyObject(r);
    r = redisCommand(R, "CLIENT KILL TYPE normal SKIPME yes");
    if (r)
        freeReplyObject(r);
    /* The stack's micro worker steps aside (its cache has the prompt); a new one, empty, takes
     * the next chat: a miss, fetched from Redis. */
    pid_t old = read_pid_file(run_dir, "nova-worker-micro");
    CHECK(old > 0 && kill(old, SIGSTOP) == 0);
    pid_t fresh = start_worker("prompts-fresh");
    CHECK(fresh > 0);
    bool live = false;
    for (int i = 0; i < 100 && !live; i++) {
        live = cmd_int("EXISTS %s", "nova:worker:prompts-fresh") == 1;
        sleep_ms(100);
    }
    CHECK(live);
    struct stream *s = NULL;
    struct chat c;
    bool ok = false;
    /* Until nova-fcgi's dispatcher is back (a chat waits for its SUBSCRIBE anyway). */
    for (int i = 0; i < 20 && !ok; i++) {
        if (s) {
            chat_free(&c);
            stream_free(s);
        }
        s = ask("레벨업이 안 돼요" FAST);
        chat_read(s, &c);
        ok = s->status == 200 && c.done_last && c.n_errors == 0;
        if (!ok)
            sleep_ms(250);
    }
    CHECK(ok);
    CHECK(cmd_int("EXISTS %s", key) == 1); /* stored again with the chat's jobs */
    redisReply *h = redisCommand(R, "HGET nova:worker:prompts-fresh prompts_fetched");
    bool fetched = false;
    for (int i = 0; i < 70 && !fetched; i++) { /* the next heartbeat */
        if (h)
            freeReplyObject(h);
        h = redisCommand(R, "HGET nova:worker:prompts-fresh prompts_fetched");
        fetched = h && h->type == REDIS_REPLY_STRING && atoi(h->str) == 1;
        if (!fetched)
            sleep_ms(100);
    }
    CHECK(fetched);
    if (h)
        freeReplyObject(h);
    if (s) {
        chat_free(&c);
        stream_free(s);
    }
    kill(fresh, SIGTERM);
    CHECK(reap_within(fresh, 10000) >= 0);
    kill(old, SIGCONT);
}

/* ---- a reload with another glossary ------------------------------------------------------ */

static void test_reload_names_a_new_prompt(void)
{
    FILE *f = fopen(glossary_file, "r+");
    CHECK(f != NULL);
    if (!f)
        return;
    /* Another character, Zelda-like and new: the rendered prompt changes. */
    char *all = NULL;
    size_t n = 0;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        all = xrealloc(all, n + k + 1);
        memcpy(all + n, buf, k);
        n += k;
    }
    fclose(f);
    all = xrealloc(all, n + 1);
    all[n] = '\0';
    const char *at = strstr(all, "\"characters\": {");
    CHECK(at != NULL);
    if (!at) {
        free(all);
        return;
    }
    size_t off = (size_t)(at - all) + strlen("\"characters\": {");
    f = fopen(glossary_file, "w");
    fprintf(f, "%.*s\n    \"Reloadia\": {\"description\": \"a character added by a reload\", "
               "\"aliases\": [\"리로디아\"], \"type\": \"supporting\"},%s",
            (int)off, all, all + off);
    fclose(f);
    free(all);
    pid_t master = read_pid_file(run_dir, "nova-fcgi");
    CHECK(master > 0 && kill(master, SIGHUP) == 0);
    char sha[JOB_SHA256_HEX + 1] = "";
    bool renamed = false;
    for (int i = 0; i < 40 && !renamed; i++) {
        struct stream *s = ask("폴이 레벨업을 못 해요" FAST);
        struct chat c;
        if (answered(s, &c)) {
            named_prompt(c.request_id, sha);
            renamed = sha[0] && strcmp(sha, first_sha) != 0;
        }
        chat_free(&c);
        stream_free(s);
        if (!renamed)
            sleep_ms(250);
    }
    CHECK(renamed);
    redisReply *r = redisCommand(R, "GET nova:prompt:%s", sha);
    CHECK(r && r->type == REDIS_REPLY_STRING && strstr(r->str, "Reloadia"));
    if (r)
        freeReplyObject(r);
}

/* ---- what finished jobs leave ------------------------------------------------------------ */

static long long mem(const char *key)
{
    redisReply *r = redisCommand(R, "MEMORY USAGE %s SAMPLES 0", key);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    if (r)
        freeReplyObject(r);
    return v;
}

static long long kept(void)
{
    return mem("nova:jobs:{micro}") + mem("nova:jobs:{pro}") + mem("nova:done:{micro}") +
           mem("nova:done:{pro}");
}

static void test_kept_jobs_per_chat(void)
{
    enum { N = 30 };
    long long before = kept();
    struct stream *s[N];
    for (int i = 0; i < N; i++) {
        char msg[200];
        snprintf(msg, sizeof msg, "폴이 레벨업을 못 해요 (%d)" FAST, i);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "message", json_object_new_string(msg));
        const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        s[i] = stream_new(base_url, NULL, "/api/chat", "application/json", js, strlen(js), NULL);
        json_object_put(o);
    }
    drive(s, N, 60000, NULL, NULL);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        struct chat c;
        ok += answered(s[i], &c);
        chat_free(&c);
        stream_free(s[i]);
    }
    CHECK(ok == N);
    sleep_ms(300); /* the last XDELs and receipts after the last done */
    long long per_chat = (kept() - before) / N;
    printf("  kept jobs: %lld bytes per chat (receipts; the jobs' entries are gone)\n", per_chat);
    CHECK(per_chat <= 8192);
    CHECK(cmd_int("XLEN %s", "nova:jobs:{micro}") == 0 && cmd_int("XLEN %s", "nova:jobs:{pro}") == 0);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    sim_url = getenv("SIM_URL");
    glossary_file = getenv("GLOSSARY_FILE");
    worker_bin = getenv("WORKER_BIN");
    novactl = getenv("NOVACTL");
    if (!base_url || !run_dir || !sim_url || !glossary_file || !worker_bin || !novactl) {
        fprintf(stderr, "NOVA_URL, NOVA_RUN_DIR, SIM_URL, GLOSSARY_FILE, WORKER_BIN, NOVACTL\n");
        return 2;
    }
    char sock[700];
    snprintf(sock, sizeof sock, "%s/redis.sock", run_dir);
    R = redis_at(sock);
    if (!R)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_chat_names_one_stored_prompt);
    RUN(test_second_chat_reads_bedrocks_cache);
    RUN(test_worker_fetches_the_prompt_once);
    RUN(test_missing_prompt_fails_typed_then_retries);
    RUN(test_corrupt_prompt_fails_internal);
    RUN(test_lost_prompt_is_stored_again_and_fetched);
    RUN(test_reload_names_a_new_prompt);
    RUN(test_kept_jobs_per_chat);
    redisFree(R);
    curl_global_cleanup();
    return test_summary();
}
