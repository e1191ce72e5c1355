/* test_observe: what an operator sees of a whole stack — GET /api/metrics (every line valid
 * Prometheus text, the documented families, counters that add up across nova-fcgi's children
 * and across the two sources: the scoreboard and the workers' heartbeats), GET /status in
 * key: value, ?json and ?full, totals kept when a child is killed and respawned, both
 * endpoints refused to a client that is not 127.0.0.1, and the JSON logs: every line of
 * nova-fcgi.log and nova-worker-*.log parses, one request id runs from nginx through
 * nova-fcgi into both workers, and neither the question nor a credential nor a session id is
 * logged.
 *
 * tests/integration/observe.sh starts one stack (tests/lib/stack.sh) with 3 children of 2
 * threads each, so concurrent chats must spread over the children, and passes NOVA_URL and
 * NOVA_RUN_DIR. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "../unit/test.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "sse_client.h"

#define CHILDREN 3        /* observe.sh's NOVA_FCGI_CHILDREN */
#define N_CHATS 12        /* more than the children's 6 threads: they must all take some */
#define FAST " #sim:tps=200 #sim:len=16 #sim:ttft=150"

static const char *base_url, *run_dir;

/* ---- HTTP ------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *user)
{
    return buf_append(user, p, size * nmemb) == 0 ? size * nmemb : 0;
}

/* GET path (from source address from, or any); returns the status (0: transport error). */
static long http_get(const char *path, const char *from, struct buf *body, char *ctype,
                     size_t ctlen)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base_url, path);
    buf_init(body, 16u << 20);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (from)
        curl_easy_setopt(e, CURLOPT_INTERFACE, from);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        char *ct = NULL;
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
        if (ctype)
            snprintf(ctype, ctlen, "%s", ct ? ct : "");
    }
    curl_easy_cleanup(e);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- Prometheus text -------------------------------------------------------------------- */

struct prom {
    char **series; /* "name{labels}" */
    double *value;
    size_t n, cap;
    char **fam;    /* declared families */
    char **type;
    size_t n_fam, cap_fam;
    char error[256]; /* the first line that is not valid, "" when all are */
};

static void prom_free(struct prom *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->series[i]);
    for (size_t i = 0; i < p->n_fam; i++) {
        free(p->fam[i]);
        free(p->type[i]);
    }
    free(p->series);
    free(p->value);
    free(p->fam);
    free(p->type);
    memset(p, 0, sizeof *p);
}

static const char *prom_type(const struct prom *p, const char *fam)
{
    for (size_t i = 0; i < p->n_fam; i++)
        if (strcmp(p->fam[i], fam) == 0)
            return p->type[i];
    return NULL;
}

static bool name_char(char c, bool first)
{
    return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

/* The family a sample name belongs to (a histogram's _bucket, _sum, _count). */
static const char *family_of(const struct prom *p, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    if (prom_type(p, out))
        return out;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; k < 3; k++) {
        size_t l = strlen(name), sl = strlen(suffixes[k]);
        if (l > sl && strcmp(name + l - sl, suffixes[k]) == 0) {
            snprintf(out, n, "%.*s", (int)(l - sl), name);
            const char *t = prom_type(p, out);
            if (t && strcmp(t, "histogram") == 0)
                return out;
        }
    }
    return NULL;
}

static void prom_fail(struct prom *p, const char *why, const char *line, size_t len)
{
    if (!p->error[0])
        snprintf(p->error, sizeof p->error, "%s: %.*s", why, (int)(len > 150 ? 150 : len),
                 line);
}

/* Parses and checks the exposition: comments are HELP or TYPE of a nova_ family, declared
 * once, before its samples; samples are name{k="v",...} value with a declared family, no
 * series twice; counters end in _total. */
static void prom_parse(const char *text, struct prom *p)
{
    memset(p, 0, sizeof *p);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char l[2048];
        snprintf(l, sizeof l, "%.*s", (int)(len < sizeof l ? len : sizeof l - 1), line);
        line += len + (line[len] == '\n');
        if (!l[0]) {
            prom_fail(p, "empty line", l, len);
            continue;
        }
        if (l[0] == '#') {
            char kw[8], name[200], rest[1024] = "";
            if (sscanf(l, "# %7s %199s %1023[^\n]", kw, name, rest) < 2 ||
                (strcmp(kw, "HELP") && strcmp(kw, "TYPE")) || strncmp(name, "nova_", 5)) {
                prom_fail(p, "bad comment", l, len);
                continue;
            }
            if (strcmp(kw, "TYPE") == 0) {
                if (prom_type(p, name))
                    prom_fail(p, "family declared twice", l, len);
                if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram"))
                    prom_fail(p, "bad type", l, len);
                if (strcmp(rest, "counter") == 0 &&
                    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
                    prom_fail(p, "counter not named _total", l, len);
                if (p->n_fam == p->cap_fam) {
                    p->cap_fam = p->cap_fam ? 2 * p->cap_fam : 64;
                    p->fam = xrealloc(p->fam, p->cap_fam * sizeof *p->fam);
                    p->type = xrealloc(p->type, p->cap_fam * sizeof *p->type);
                }
                p->fam[p->n_fam] = xstrdup(name);
                p->type[p->n_fam++] = xstrdup(rest);
            }
            continue;
        }
        size_t i = 0;
        while (name_char(l[i], i == 0))
            i++;
        char name[200];
        snprintf(name, sizeof name, "%.*s", (int)i, l);
        if (i == 0 || strncmp(name, "nova_", 5)) {
            prom_fail(p, "bad metric name", l, len);
            continue;
        }
        if (l[i] == '{') { /* k="v" pairs; values may hold escaped quotes */
            i++;
            while (l[i] && l[i] != '}') {
                size_t k = i;
                while (name_char(l[i], i == k))
                    i++;
                if (i == k || l[i] != '=' || l[i + 1] != '"')
                    break;
                i += 2;
                while (l[i] && l[i] != '"')
                    i += l[i] == '\\' && l[i + 1] ? 2 : 1;
                if (l[i] != '"')
                    break;
                i++;
                if (l[i] == ',')
                    i++;
            }
            if (l[i] != '}') {
                prom_fail(p, "bad labels", l, len);
                continue;
            }
            i++;
        }
        char *end;
        double v = l[i] == ' ' ? strtod(l + i + 1, &end) : 0;
        if (l[i] != ' ' || *end) {
            prom_fail(p, "bad value", l, len);
            continue;
        }
        char fam[200];
        if (!family_of(p, name, fam, sizeof fam)) {
            prom_fail(p, "sample of an undeclared family", l, len);
            continue;
        }
        l[i] = '\0';
        for (size_t k = 0; k < p->n; k++)
            if (strcmp(p->series[k], l) == 0)
                prom_fail(p, "series twice", l, len);
        if (p->n == p->cap) {
            p->cap = p->cap ? 2 * p->cap : 256;
            p->series = xrealloc(p->series, p->cap * sizeof *p->series);
            p->value = xrealloc(p->value, p->cap * sizeof *p->value);
        }
        p->series[p->n] = xstrdup(l);
        p->value[p->n++] = v;
    }
}

/* The sum of the samples named name that carry every label of the NULL-terminated list
 * ("queue=\"micro\"", ...); -1 when there is none. */
static double prom_sum(const struct prom *p, const char *name, ...)
{
    const char *want[8];
    size_t n_want = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *w; n_want < 8 && (w = va_arg(ap, const char *));)
        want[n_want++] = w;
    va_end(ap);
    double sum = 0;
    bool any = false;
    size_t nl = strlen(name);
    for (size_t i = 0; i < p->n; i++) {
        const char *s = p->series[i];
        if (strncmp(s, name, nl) || (s[nl] != '{' && s[nl] != '\0'))
            continue;
        bool ok = true;
        for (size_t k = 0; k < n_want && ok; k++)
            ok = strstr(s + nl, want[k]) != NULL;
        if (ok) {
            sum += p->value[i];
            any = true;
        }
    }
    return any ? sum : -1;
}

/* Scrapes /api/metrics into p; true when it answered 200 with valid text. */
static bool scrape(struct prom *p)
{
    struct buf body;
    char ctype[128] = "";
    long st = http_get("/api/metrics", NULL, &body, ctype, sizeof ctype);
    prom_parse(buf_cstr(&body), p);
    bool ok = st == 200 && !p->error[0] &&
              strncmp(ctype, "text/plain; version=0.0.4", 25) == 0;
    if (!ok)
        fprintf(stderr, "  /api/metrics: status %ld, type %s, %s\n", st, ctype,
                p->error[0] ? p->error : "valid");
    buf_free(&body);
    return ok;
}

static json_object *status_json(const char *query)
{
    struct buf body;
    char path[64];
    snprintf(path, sizeof path, "/status?%s", query);
    long st = http_get(path, NULL, &body, NULL, 0);
    json_object *o = st == 200 ? json_tokener_parse(buf_cstr(&body)) : NULL;
    buf_free(&body);
    return o;
}

static long long jnum(json_object *o, const char *k)
{
    json_object *v = jget(o, k);
    return v ? json_object_get_int64(v) : -1;
}

/* ---- the metrics ------------------------------------------------------------------------ */

static void test_metric_names(void)
{
    struct prom p;
    CHECK(scrape(&p));
    static const struct {
        const char *name, *type;
    } want[] = {
        {"nova_http_requests_total", "counter"},
        {"nova_time_to_first_token_seconds", "histogram"},
        {"nova_stream_duration_seconds", "histogram"},
        {"nova_tokens_total", "counter"},
        {"nova_errors_total", "counter"},
        {"nova_notices_total", "counter"},
        {"nova_translations_total", "counter"},
        {"nova_streams_open", "gauge"},
        {"nova_streams_refused_total", "counter"},
        {"nova_fcgi_threads", "gauge"},
        {"nova_fcgi_children", "gauge"},
        {"nova_fcgi_children_respawned_total", "counter"},
        {"nova_fcgi_start_time_seconds", "gauge"},
        {"nova_redis_up", "gauge"},
        {"nova_queue_depth", "gauge"},
        {"nova_queue_pending", "gauge"},
        {"nova_queue_dead_letters", "gauge"},
        {"nova_queue_workers", "gauge"},
        {"nova_worker_jobs_total", "counter"},
        {"nova_worker_dead_letters_total", "counter"},
        {"nova_worker_retries_total", "counter"},
        {"nova_worker_jobs_reclaimed_total", "counter"},
        {"nova_worker_jobs_lost_total", "counter"},
        {"nova_worker_events_total", "counter"},
        {"nova_worker_events_dropped_total", "counter"},
        {"nova_worker_writes_refused_total", "counter"},
        {"nova_worker_tokens_total", "counter"},
        {"nova_worker_jobs_in_flight", "gauge"},
        {"nova_worker_start_time_seconds", "gauge"},
        {"nova_worker_heartbeat_time_seconds", "gauge"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *t = prom_type(&p, want[i].name);
        CHECK(t && strcmp(t, want[i].type) == 0);
        if (!t || strcmp(t, want[i].type) != 0)
            fprintf(stderr, "  family %s: type %s, want %s\n", want[i].name, t ? t : "(none)",
                    want[i].type);
    }
    CHECK(prom_sum(&p, "nova_redis_up", NULL) == 1);
    CHECK(prom_sum(&p, "nova_fcgi_children", NULL) == CHILDREN);
    CHECK(prom_sum(&p, "nova_fcgi_threads", "state=\"idle\"", NULL) +
              prom_sum(&p, "nova_fcgi_threads", "state=\"active\"", NULL) ==
          CHILDREN * 2);
    const char *queues[] = {"queue=\"micro\"", "queue=\"pro\"", "queue=\"kb\""};
    for (size_t i = 0; i < 3; i++) {
        CHECK(prom_sum(&p, "nova_queue_workers", queues[i], NULL) == 1);
        CHECK(prom_sum(&p, "nova_queue_depth", queues[i], NULL) == 0);
        CHECK(prom_sum(&p, "nova_worker_jobs_in_flight", queues[i], NULL) == 0);
    }
    /* the histograms: every model, cumulative buckets ending in +Inf == _count */
    const char *hists[] = {"nova_time_to_first_token_seconds", "nova_stream_duration_seconds"};
    for (size_t h = 0; h < 2; h++)
        for (int m = 0; m < 2; m++) {
            char prefix[160], inf[200], count[200];
            const char *model = m ? "pro" : "micro";
            snprintf(prefix, sizeof prefix, "%s_bucket{model=\"%s\",le=", hists[h], model);
            snprintf(inf, sizeof inf, "%s\"+Inf\"}", prefix);
            snprintf(count, sizeof count, "%s_count{model=\"%s\"}", hists[h], model);
            double last = 0, v_inf = -1, v_count = -1;
            size_t buckets = 0;
            for (size_t i = 0; i < p.n; i++) {
                if (strncmp(p.series[i], prefix, strlen(prefix)) == 0) {
                    CHECK(p.value[i] >= last);
                    last = p.value[i];
                    buckets++;
                }
                if (strcmp(p.series[i], inf) == 0)
                    v_inf = p.value[i];
                if (strcmp(p.series[i], count) == 0)
                    v_count = p.value[i];
            }
            CHECK(buckets >= 5 && v_inf >= 0 && v_inf == v_count);
        }
    prom_free(&p);
}

/* ---- /status ---------------------------------------------------------------------------- */

static void test_status_formats(void)
{
    struct buf body;
    char ctype[128] = "";
    CHECK(http_get("/status", NULL, &body, ctype, sizeof ctype) == 200);
    CHECK(strncmp(ctype, "text/plain", 10) == 0);
    const char *t = buf_cstr(&body);
    static const char *const keys[] = {
        "pool", "process_manager", "master_pid", "state", "generation", "start_time",
        "start_since", "accepted_conn", "active_threads", "idle_threads", "total_threads",
        "open_streams", "max_streams_per_child", "streams_refused", "children", "max_children",
        "threads_per_child", "children_respawned"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s%s: ", i ? "\n" : "", keys[i]);
        CHECK(strstr(t, k) != NULL);
    }
    size_t lines = 0;
    for (const char *l = t; *l; l = strchr(l, '\n') + 1, lines++) { /* every line key: value */
        size_t len = strcspn(l, "\n"), colon = strcspn(l, ":");
        CHECK(colon < len && l[colon + 1] == ' ' && colon + 2 < len);
        if (!l[len])
            break;
    }
    CHECK(lines == sizeof keys / sizeof keys[0]);
    CHECK(strstr(t, "pool: nova-fcgi\n") && strstr(t, "\nstate: running\n"));
    char want[64];
    snprintf(want, sizeof want, "\nchildren: %d\n", CHILDREN);
    CHECK(strstr(t, want) != NULL);
    buf_free(&body);

    /* ?full: one block per child, after a line of stars */
    CHECK(http_get("/status?full", NULL, &body, NULL, 0) == 200);
    size_t blocks = 0;
    for (const char *s = buf_cstr(&body); (s = strstr(s, "\n************************\npid: "));
         s++)
        blocks++;
    CHECK(blocks == CHILDREN);
    buf_free(&body);

    json_object *o = status_json("json");
    CHECK(o && jstr_is(o, "pool", "nova-fcgi") && jnum(o, "children") == CHILDREN);
    CHECK(o && jnum(o, "total_threads") == CHILDREN * 2 && !jget(o, "processes"));
    json_object_put(o);
    o = status_json("json&full");
    json_object *procs = jget(o, "processes");
    CHECK(procs && json_object_array_length(procs) == CHILDREN);
    for (size_t i = 0; procs && i < json_object_array_length(procs); i++) {
        json_object *c = json_object_array_get_idx(procs, i);
        CHECK(jnum(c, "pid") > 0 && jstr_is(c, "state", "running") &&
              jnum(c, "total_threads") == 2 && jnum(c, "requests") >= 0);
    }
    json_object_put(o);
    o = status_json("full&json"); /* either order, as php-fpm */
    CHECK(o && jget(o, "processes"));
    json_object_put(o);
}

/* ---- counts add up ---------------------------------------------------------------------- */

struct usage_sum {
    double v[2][4]; /* micro, pro × input, output, cache_read, cache_write */
};

static void add_usage(struct usage_sum *u, struct stream *s)
{
    static const char *const kinds[] = {"input_tokens", "output_tokens", "cache_read_tokens",
                                        "cache_write_tokens"};
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->evs[i].type, "model_done") != 0)
            continue;
        json_object *j = ev_json(&s->evs[i]), *usage = jget(j, "usage");
        int m = jstr_is(j, "model", "pro");
        for (int k = 0; k < 4; k++)
            u->v[m][k] += (double)jnum(usage, kinds[k]);
    }
}

/* requests per child pid, from /status?json&full */
static size_t child_requests(long long *pids, long long *reqs, size_t max)
{
    json_object *o = status_json("json&full"), *procs = jget(o, "processes");
    size_t n = 0;
    for (size_t i = 0; procs && i < json_object_array_length(procs) && n < max; i++, n++) {
        pids[n] = jnum(json_object_array_get_idx(procs, i), "pid");
        reqs[n] = jnum(json_object_array_get_idx(procs, i), "requests");
    }
    json_object_put(o);
    return n;
}

static void test_counts_add_up_across_children(void)
{
    long long pid0[8], req0[8], pid1[8], req1[8];
    struct prom m0, m1;
    CHECK(scrape(&m0));
    size_t n0 = child_requests(pid0, req0, 8);
    struct stream *s[N_CHATS];
    for (int i = 0; i < N_CHATS; i++) {
        char msg[160];
        snprintf(msg, sizeof msg, "폴이 레벨업을 못 해요 (%d)" FAST, i);
        s[i] = chat_new_on(base_url, msg, "ko");
    }
    drive(s, N_CHATS, 60000, NULL, NULL);
    struct usage_sum u = {0};
    int ok = 0;
    for (int i = 0; i < N_CHATS; i++) {
        struct chat c;
        chat_read(s[i], &c);
        if (s[i]->status == 200 && c.done_last && c.n_errors == 0 && c.n_ms == 2)
            ok++;
        else
            stream_dump("chat", s[i]);
        add_usage(&u, s[i]);
        chat_free(&c);
        stream_free(s[i]);
    }
    CHECK(ok == N_CHATS);
    size_t n1 = child_requests(pid1, req1, 8);
    CHECK(scrape(&m1));

    /* Per child (/status?full): more than one child served them, and the children's
     * requests since the first snapshot are the chats plus that snapshot's own request. */
    CHECK(n0 == CHILDREN && n1 == CHILDREN);
    long long delta = 0;
    int served = 0;
    for (size_t i = 0; i < n1; i++)
        for (size_t k = 0; k < n0; k++)
            if (pid1[i] == pid0[k]) {
                delta += req1[i] - req0[k];
                served += req1[i] - req0[k] > 0;
            }
    CHECK(delta == N_CHATS + 1);
    CHECK(served >= 2);
    printf("  %d chats served by %d of %d children\n", N_CHATS, served, CHILDREN);

    /* The scoreboard's totals: exactly the chats, plus the requests made around them */
    double chats = prom_sum(&m1, "nova_http_requests_total", "endpoint=\"chat\"", NULL) -
                   (prom_sum(&m0, "nova_http_requests_total", "endpoint=\"chat\"", NULL) > 0
                        ? prom_sum(&m0, "nova_http_requests_total", "endpoint=\"chat\"", NULL)
                        : 0);
    CHECK(chats == N_CHATS);
    double all = prom_sum(&m1, "nova_http_requests_total", NULL) -
                 prom_sum(&m0, "nova_http_requests_total", NULL);
    CHECK(all == N_CHATS + 3); /* + scrape m0 and the two /status snapshots */
    const char *models[] = {"model=\"micro\"", "model=\"pro\""};
    const char *kinds[] = {"kind=\"input\"", "kind=\"output\"", "kind=\"cache_read\"",
                           "kind=\"cache_write\""};
    for (int m = 0; m < 2; m++) {
        CHECK(prom_sum(&m1, "nova_time_to_first_token_seconds_count", models[m], NULL) -
                  prom_sum(&m0, "nova_time_to_first_token_seconds_count", models[m], NULL) ==
              N_CHATS);
        CHECK(prom_sum(&m1, "nova_stream_duration_seconds_count", models[m], NULL) -
                  prom_sum(&m0, "nova_stream_duration_seconds_count", models[m], NULL) ==
              N_CHATS);
        for (int k = 0; k < 4; k++) {
            double got = prom_sum(&m1, "nova_tokens_total", models[m], kinds[k], NULL) -
                         prom_sum(&m0, "nova_tokens_total", models[m], kinds[k], NULL);
            CHECK(got == u.v[m][k]);
            if (got != u.v[m][k])
                fprintf(stderr, "  tokens %s %s: %.0f counted, %.0f in model_done\n",
                        models[m], kinds[k], got, u.v[m][k]);
        }
    }
    CHECK(u.v[0][1] > 0 && u.v[1][1] > 0);
    CHECK(prom_sum(&m1, "nova_streams_open", NULL) == 0);

    /* The workers' side (heartbeats, every 5 s): the same jobs and the same tokens. */
    const char *queues[] = {"queue=\"micro\"", "queue=\"pro\""};
    bool agreed = false;
    for (int tries = 0; tries < 80 && !agreed; tries++) {
        struct prom w;
        if (scrape(&w)) {
            agreed = true;
            for (int q = 0; q < 2; q++) {
                agreed &= prom_sum(&w, "nova_worker_jobs_total", queues[q],
                                   "outcome=\"done\"", NULL) == N_CHATS;
                for (int k = 0; k < 4; k++)
                    agreed &= prom_sum(&w, "nova_worker_tokens_total", queues[q], kinds[k],
                                       NULL) == u.v[q][k];
                agreed &= prom_sum(&w, "nova_queue_pending", queues[q], NULL) == 0;
                agreed &= prom_sum(&w, "nova_worker_events_total", queues[q], NULL) > 0;
            }
        }
        prom_free(&w);
        if (!agreed)
            sleep_ms(150);
    }
    CHECK(agreed);
    prom_free(&m0);
    prom_free(&m1);
}

static void test_errors_counted_by_code(void)
{
    struct prom m0, m1;
    CHECK(scrape(&m0));
    struct stream *bad = stream_new(base_url, NULL, "/api/chat", "application/json", "not json",
                                    8, NULL);
    struct stream *missing = stream_new(base_url, NULL, "/api/nothing-here", NULL, NULL, 0, NULL);
    struct stream *broken = chat_new_on(base_url, "환불 규정이 궁금해요 #sim:stream-error=2" FAST,
                                        "ko");
    struct stream *v[] = {bad, missing, broken};
    drive(v, 3, 30000, NULL, NULL);
    CHECK(bad->status == 400 && missing->status == 404 && broken->status == 200);
    struct chat c;
    chat_read(broken, &c);
    CHECK(c.n_errors >= 1 && c.done_last);
    CHECK(scrape(&m1));
    CHECK(prom_sum(&m1, "nova_errors_total", "code=\"bad_request\"", "stage=\"request\"", NULL) -
              (prom_sum(&m0, "nova_errors_total", "code=\"bad_request\"", NULL) > 0
                   ? prom_sum(&m0, "nova_errors_total", "code=\"bad_request\"", NULL)
                   : 0) ==
          1);
    CHECK(prom_sum(&m1, "nova_errors_total", "code=\"not_found\"", "stage=\"request\"", NULL) >=
          1);
    char code[64];
    snprintf(code, sizeof code, "code=\"%s\"", c.first_error_code);
    double before = prom_sum(&m0, "nova_errors_total", code, "stage=\"stream\"", NULL);
    CHECK(prom_sum(&m1, "nova_errors_total", code, "stage=\"stream\"", NULL) -
              (before > 0 ? before : 0) ==
          (double)c.n_errors);
    printf("  stream error %s counted %zu time(s)\n", c.first_error_code, c.n_errors);
    chat_free(&c);
    stream_free(bad);
    stream_free(missing);
    stream_free(broken);
    prom_free(&m0);
    prom_free(&m1);
}

/* A child killed by SIGKILL: the master starts another on a free slot, and the server's
 * totals neither drop nor restart. */
static void test_respawned_child_keeps_totals(void)
{
    json_object *o = status_json("json&full");
    long long accepted = jnum(o, "accepted_conn"), respawned = jnum(o, "children_respawned");
    json_object *procs = jget(o, "processes");
    pid_t victim = -1;
    long long victim_reqs = 0;
    for (size_t i = 0; procs && i < json_object_array_length(procs); i++) /* the busiest */
        if (jnum(json_object_array_get_idx(procs, i), "requests") > victim_reqs) {
            victim_reqs = jnum(json_object_array_get_idx(procs, i), "requests");
            victim = (pid_t)jnum(json_object_array_get_idx(procs, i), "pid");
        }
    json_object_put(o);
    CHECK(victim > 0 && victim_reqs > 0 && kill(victim, SIGKILL) == 0);
    bool back = false;
    for (int tries = 0; tries < 100 && !back; tries++) {
        sleep_ms(50);
        o = status_json("json&full");
        procs = jget(o, "processes");
        bool gone = true;
        for (size_t i = 0; procs && i < json_object_array_length(procs); i++)
            gone &= jnum(json_object_array_get_idx(procs, i), "pid") != victim;
        back = o && gone && jnum(o, "children") == CHILDREN &&
               jnum(o, "children_respawned") == respawned + 1;
        if (back) {
            CHECK(jnum(o, "accepted_conn") >= accepted); /* its requests are still counted */
            long long per_child = 0;
            for (size_t i = 0; i < json_object_array_length(procs); i++)
                per_child += jnum(json_object_array_get_idx(procs, i), "requests");
            CHECK(per_child + victim_reqs <= jnum(o, "accepted_conn"));
        }
        json_object_put(o);
    }
    CHECK(back);
    struct prom p;
    CHECK(scrape(&p));
    CHECK(prom_sum(&p, "nova_fcgi_children_respawned_total", NULL) == respawned + 1);
    CHECK(prom_sum(&p, "nova_http_requests_total", NULL) >= accepted);
    prom_free(&p);
}

/* nginx answers the operator's endpoints for 127.0.0.1 only: a client on another loopback
 * address stands in for one from outside. */
static void test_loopback_only(void)
{
    struct buf body;
    CHECK(http_get("/api/metrics", "host!127.0.0.2", &body, NULL, 0) == 403);
    json_object *o = json_tokener_parse(buf_cstr(&body));
    CHECK(jstr_is(jget(o, "error"), "code", "forbidden"));
    json_object_put(o);
    buf_free(&body);
    CHECK(http_get("/status", "host!127.0.0.2", &body, NULL, 0) == 403);
    buf_free(&body);
    CHECK(http_get("/status?json", "host!127.0.0.2", &body, NULL, 0) == 403);
    buf_free(&body);
    CHECK(http_get("/api/health", "host!127.0.0.2", &body, NULL, 0) == 200); /* not these */
    buf_free(&body);
    CHECK(http_get("/status", "host!127.0.0.1", &body, NULL, 0) == 200);
    buf_free(&body);
}

/* ---- logs ------------------------------------------------------------------------------- */

struct logfile {
    const char *name;
    size_t lines, bad, with_rid;
    bool events[8];
};

/* Reads run_dir/name: every line must be a JSON object with ts, level, proc and pid; counts
 * the lines with rid and which of the wanted events they are. raw gets the whole text. */
static void read_log(struct logfile *lf, const char *rid, const char *const *events,
                     size_t n_events, struct buf *raw)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", run_dir, lf->name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    buf_init(raw, 64u << 20);
    while ((len = getline(&line, &cap, f)) > 0) {
        buf_append(raw, line, (size_t)len);
        lf->lines++;
        json_object *o = json_tokener_parse(line);
        const char *level = jstr(o, "level");
        bool ok = o && json_object_is_type(o, json_type_object) && jstr(o, "ts") &&
                  strlen(jstr(o, "ts")) == 24 && level && jstr(o, "proc") &&
                  jget(o, "pid") && json_object_is_type(jget(o, "pid"), json_type_int) &&
                  (!strcmp(level, "error") || !strcmp(level, "warn") ||
                   !strcmp(level, "info") || !strcmp(level, "debug")) &&
                  line[len - 1] == '\n';
        if (!ok) {
            if (!lf->bad)
                fprintf(stderr, "  %s: not a log object: %.200s", lf->name, line);
            lf->bad++;
        }
        if (ok && jstr_is(o, "rid", rid)) {
            lf->with_rid++;
            for (size_t i = 0; i < n_events; i++)
                if (jstr_is(o, "event", events[i]))
                    lf->events[i] = true;
        }
        json_object_put(o);
    }
    free(line);
    fclose(f);
}

static void test_logs_carry_one_request_id(void)
{
    const char *session = "obs-session-8f3a2c71e9";
    const char *marker = "zebra-quartz-7731";
    json_object *body = json_object_new_object();
    json_object_object_add(body, "message", json_object_new_string(
                                                "폴이 레벨업을 못 해요 zebra-quartz-7731" FAST));
    json_object_object_add(body, "ui_lang", json_object_new_string("ko"));
    json_object_object_add(body, "session_id", json_object_new_string(session));
    const char *js = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    struct stream *s = stream_new(base_url, NULL, "/api/chat", "application/json", js,
                                  strlen(js), NULL);
    json_object_put(body);
    drive_one(s, 30000);
    struct chat c;
    chat_read(s, &c);
    CHECK(s->status == 200 && c.done_last && c.request_id[0]);
    char rid[80];
    snprintf(rid, sizeof rid, "%s", c.request_id);
    chat_free(&c);
    stream_free(s);

    /* nova-fcgi logs the request's line once the handler returned, just after done */
    static const char *const fcgi_events[] = {"request", "chat_start", "chat_done"};
    static const char *const job_events[] = {"job_start", "job_done"};
    struct logfile fcgi;
    struct buf fraw;
    for (int tries = 0; tries < 40; tries++) {
        memset(&fcgi, 0, sizeof fcgi);
        fcgi.name = "nova-fcgi.log";
        read_log(&fcgi, rid, fcgi_events, 3, &fraw);
        if (fcgi.events[0])
            break;
        buf_free(&fraw);
        sleep_ms(50);
    }
    CHECK(fcgi.lines > 10 && fcgi.bad == 0);
    CHECK(fcgi.events[0] && fcgi.events[1] && fcgi.events[2]);
    printf("  nova-fcgi.log: %zu lines, all JSON; %zu about request %s\n", fcgi.lines,
           fcgi.with_rid, rid);
    char tag[LOG_TAG_LEN + 1], tagged[64];
    log_tag(session, tag);
    snprintf(tagged, sizeof tagged, "\"session\":\"%s\"", tag);
    CHECK(strstr(buf_cstr(&fraw), tagged) != NULL);
    const char *never[] = {marker, session, "wJalrXUtnFEMI", "EXAMPLEKEY"};
    for (size_t k = 0; k < 4; k++)
        CHECK(strstr(buf_cstr(&fraw), never[k]) == NULL);
    buf_free(&fraw);

    const char *workers[] = {"nova-worker-micro.log", "nova-worker-pro.log",
                             "nova-worker-kb.log"};
    for (size_t i = 0; i < 3; i++) {
        struct logfile w = {.name = workers[i]};
        struct buf raw;
        read_log(&w, rid, job_events, 2, &raw);
        CHECK(w.lines >= 2 && w.bad == 0);
        if (i < 2) /* the answer's jobs; the kb queue has none with the local index */
            CHECK(w.events[0] && w.events[1]);
        for (size_t k = 0; k < 4; k++)
            CHECK(strstr(buf_cstr(&raw), never[k]) == NULL);
        printf("  %s: %zu lines, all JSON; %zu about request %s\n", w.name, w.lines,
               w.with_rid, rid);
        buf_free(&raw);
    }

    /* nginx's $request_id is the id everything above carries. nginx writes the access line
     * when it finalises the request, which can be just after the client read done: the log
     * is read again for a while, as nova-fcgi's is above. */
    char path[1024];
    snprintf(path, sizeof path, "%s/nginx-access.log", run_dir);
    bool in_access = false;
    for (int tries = 0; tries < 40 && !in_access; tries++) {
        if (tries)
            sleep_ms(50);
        FILE *f = fopen(path, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f))
            in_access |= strstr(line, rid) != NULL && strstr(line, "POST /api/chat") != NULL;
        if (f)
            fclose(f);
    }
    CHECK(in_access);
}

int main(void)
{
    base_url = getenv("NOVA_URL");
    run_dir = getenv("NOVA_RUN_DIR");
    if (!base_url || !run_dir) {
        fprintf(stderr, "NOVA_URL and NOVA_RUN_DIR are required (observe.sh)\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(test_metric_names);
    RUN(test_status_formats);
    RUN(test_counts_add_up_across_children);
    RUN(test_errors_counted_by_code);
    RUN(test_respawned_child_keeps_totals);
    RUN(test_loopback_only);
    RUN(test_logs_carry_one_request_id);
    curl_global_cleanup();
    return test_summary();
}
