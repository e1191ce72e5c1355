/* Unit tests for fcgi-app/metrics.c: the scoreboard shared by forked processes (counts from
 * several children and their threads add up exactly), slots freed and claimed again without
 * losing the totals, histograms, label sets (the endpoints' from the route table, routes.c),
 * and both renderings (Prometheus text, /status in text and JSON, with and without ?full). */
#include "../../fcgi-app/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "test.h"

/* The value of the sample whose line starts with series (name{labels}), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static char *prometheus(void)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    metrics_render_prometheus(&b);
    return buf_steal(&b, NULL);
}

static json_object *status_json(bool full)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    metrics_render_status(&b, true, full);
    json_object *o = json_tokener_parse(buf_cstr(&b));
    buf_free(&b);
    return o;
}

static long long jint(json_object *o, const char *k)
{
    json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

/* A request as the router labels it. */
static void count(const char *method, const char *path, int status)
{
    metrics_request(routes_match(method, path, NULL), status);
}

#define THREADS 4
#define PER_THREAD 5000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_busy(+1);
        metrics_request(ROUTE_CHAT, 200);
        metrics_busy(-1);
    }
    return NULL;
}

/* A forked "child" on slot: its threads count requests, then it exits. */
static pid_t fork_child(int slot)
{
    pid_t pid = fork();
    if (pid == 0) {
        metrics_child_attach(slot);
        metrics_child_state(METRICS_CHILD_RUNNING, THREADS);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, hammer, NULL);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        metrics_stream(+1); /* left open: a gauge of this child's slot */
        metrics_stream_refused(); /* a server total, like the requests */
        _exit(0);
    }
    metrics_slot_forked(slot, pid);
    return pid;
}

static void test_children_add_up(void)
{
    metrics_set_max_streams(3);
    CHECK(metrics_init(8, 2, THREADS) == 0);
    int a = metrics_slot_claim(1), b = metrics_slot_claim(1);
    CHECK(a == 0 && b == 1);
    pid_t pa = fork_child(a), pb = fork_child(b);
    int st;
    CHECK(waitpid(pa, &st, 0) == pa && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(waitpid(pb, &st, 0) == pb && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = prometheus();
    CHECK(sample(text, "nova_http_requests_total{endpoint=\"chat\",status=\"200\"}") ==
          2.0 * THREADS * PER_THREAD);
    CHECK(sample(text, "nova_streams_open") == 2);
    CHECK(sample(text, "nova_streams_refused_total") == 2);
    CHECK(sample(text, "nova_fcgi_children") == 2);
    CHECK(sample(text, "nova_fcgi_threads{state=\"active\"}") == 0);
    CHECK(sample(text, "nova_fcgi_threads{state=\"idle\"}") == 2 * THREADS);
    free(text);
    json_object *s = status_json(true);
    CHECK(s != NULL);
    CHECK(jint(s, "accepted_conn") == 2LL * THREADS * PER_THREAD);
    CHECK(jint(s, "max_streams_per_child") == 3 && jint(s, "streams_refused") == 2);
    json_object *procs;
    CHECK(json_object_object_get_ex(s, "processes", &procs) &&
          json_object_array_length(procs) == 2);
    for (size_t i = 0; s && i < 2; i++) {
        json_object *p = json_object_array_get_idx(procs, i);
        CHECK(jint(p, "requests") == (long long)THREADS * PER_THREAD);
        CHECK(jint(p, "pid") == (i == 0 ? pa : pb));
        CHECK(jint(p, "open_streams") == 1);
    }
    json_object_put(s);

    /* The master reaps one and respawns it on a fresh slot: the totals stay, its gauges go. */
    metrics_slot_release(a);
    metrics_respawned();
    int c = metrics_slot_claim(1);
    CHECK(c == a);
    pid_t pc = fork_child(c);
    CHECK(waitpid(pc, &st, 0) == pc && WIFEXITED(st));
    s = status_json(true);
    CHECK(jint(s, "accepted_conn") == 3LL * THREADS * PER_THREAD);
    CHECK(jint(s, "children_respawned") == 1);
    CHECK(jint(s, "open_streams") == 2);
    if (s && json_object_object_get_ex(s, "processes", &procs))
        CHECK(jint(json_object_array_get_idx(procs, 0), "pid") == pc);
    json_object_put(s);
}

static void test_slots_run_out_and_totals_still_count(void)
{
    CHECK(metrics_init(2, 2, 1) == 0);
    CHECK(metrics_slot_claim(1) == 0 && metrics_slot_claim(1) == 1);
    CHECK(metrics_slot_claim(2) == -1);
    metrics_child_attach(-1); /* a child without a slot */
    metrics_request(ROUTE_HEALTH, 200);
    metrics_busy(+1);
    char *text = prometheus();
    CHECK(sample(text, "nova_http_requests_total{endpoint=\"health\",status=\"200\"}") == 1);
    CHECK(sample(text, "nova_fcgi_threads{state=\"active\"}") == 0);
    free(text);
}

static void test_labels(void)
{
    CHECK(metrics_init(4, 1, 1) == 0);
    count("GET", "/api/chat/0123456789abcdef0123456789abcdef/events", 200);
    count("POST", "/api/chat/0123456789abcdef0123456789abcdef/cancel", 202);
    count("POST", "/api/chat/x/y", 404);
    count("DELETE", "/api/session/abcdefgh", 200);
    count("GET", "/status", 200);
    count("GET", "/api/metrics", 200);
    count("GET", "/nope", 418);
    metrics_error(METRICS_BEFORE_STREAM, "bad_request");
    metrics_error(METRICS_IN_STREAM, "throttled");
    metrics_error(METRICS_IN_STREAM, "something_new");
    metrics_notice("no_documents");
    metrics_translation(true);
    metrics_translation(false);
    struct token_usage u = {100, 20, 30, 0};
    metrics_model_done(MODEL_PRO, 1500, &u);
    metrics_tokens(MODEL_PRO, &u);
    metrics_tokens((enum model)7, &u); /* not ours: ignored */
    char *t = prometheus();
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"resume\",status=\"200\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"cancel\",status=\"202\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"other\",status=\"404\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"session\",status=\"200\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"status\",status=\"200\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"metrics\",status=\"200\"}") == 1);
    CHECK(sample(t, "nova_http_requests_total{endpoint=\"other\",status=\"other\"}") == 1);
    CHECK(sample(t, "nova_errors_total{code=\"bad_request\",stage=\"request\"}") == 1);
    CHECK(sample(t, "nova_errors_total{code=\"throttled\",stage=\"stream\"}") == 1);
    CHECK(sample(t, "nova_errors_total{code=\"other\",stage=\"stream\"}") == 1);
    CHECK(sample(t, "nova_notices_total{code=\"no_documents\"}") == 1);
    CHECK(sample(t, "nova_translations_total{result=\"ok\"}") == 1);
    CHECK(sample(t, "nova_translations_total{result=\"failed\"}") == 1);
    CHECK(sample(t, "nova_tokens_total{model=\"pro\",kind=\"input\"}") == 200);
    CHECK(sample(t, "nova_tokens_total{model=\"pro\",kind=\"output\"}") == 40);
    CHECK(sample(t, "nova_tokens_total{model=\"pro\",kind=\"cache_read\"}") == 60);
    CHECK(sample(t, "nova_tokens_total{model=\"pro\",kind=\"cache_write\"}") == 0);
    CHECK(sample(t, "nova_tokens_total{model=\"micro\",kind=\"input\"}") == 0);
    /* every family announced once, before its samples */
    CHECK(strstr(t, "# TYPE nova_http_requests_total counter\n") != NULL);
    CHECK(strstr(t, "# TYPE nova_time_to_first_token_seconds histogram\n") != NULL);
    CHECK(strstr(t, "# TYPE nova_stream_duration_seconds histogram\n") != NULL);
    free(t);
}

static void test_histograms(void)
{
    CHECK(metrics_init(4, 1, 1) == 0);
    const long long ms[] = {50, 300, 1200, 40000, -5};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        metrics_first_token(MODEL_MICRO, ms[i]);
    char *t = prometheus();
    const char *h = "nova_time_to_first_token_seconds";
    char series[160];
    struct {
        const char *le;
        double want;
    } want[] = {{"0.1", 2}, {"0.25", 2}, {"0.5", 3}, {"1", 3}, {"1.5", 4}, {"30", 4},
                {"+Inf", 5}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        snprintf(series, sizeof series, "%s_bucket{model=\"micro\",le=\"%s\"}", h, want[i].le);
        CHECK(sample(t, series) == want[i].want);
    }
    snprintf(series, sizeof series, "%s_count{model=\"micro\"}", h);
    CHECK(sample(t, series) == 5);
    snprintf(series, sizeof series, "%s_sum{model=\"micro\"}", h);
    CHECK(sample(t, series) > 41.549 && sample(t, series) < 41.551);
    snprintf(series, sizeof series, "%s_count{model=\"pro\"}", h);
    CHECK(sample(t, series) == 0);
    /* buckets never decrease */
    double last = 0;
    for (const char *p = strstr(t, "nova_stream_duration_seconds_bucket{model=\"micro\"");
         p && strncmp(p, "nova_stream_duration_seconds_bucket{model=\"micro\"", 49) == 0;
         p = strchr(p, '\n') + 1) {
        double v = strtod(strchr(p, ' ') + 1, NULL);
        CHECK(v >= last);
        last = v;
    }
    free(t);
}

static void test_status_text(void)
{
    CHECK(metrics_init(4, 2, 8) == 0);
    metrics_master_state(METRICS_RELOADING, 2);
    int s = metrics_slot_claim(2);
    metrics_slot_forked(s, 4242);
    struct buf b;
    buf_init(&b, 1u << 16);
    metrics_render_status(&b, false, false);
    const char *t = buf_cstr(&b);
    CHECK(strncmp(t, "pool: nova-fcgi\n", 16) == 0);
    CHECK(strstr(t, "\nstate: reloading\n") && strstr(t, "\ngeneration: 2\n"));
    CHECK(strstr(t, "\nmax_children: 2\n") && strstr(t, "\nchildren: 1\n"));
    CHECK(strstr(t, "\naccepted_conn: 0\n") && !strstr(t, "****"));
    /* every line is "key: value" */
    for (const char *p = t; *p; p = strchr(p, '\n') + 1)
        CHECK(strcspn(p, ":\n") < strcspn(p, "\n") && p[strcspn(p, ":")+ 1] == ' ');
    buf_reset(&b);
    metrics_render_status(&b, false, true);
    t = buf_cstr(&b);
    CHECK(strstr(t, "\n************************\npid: 4242\nslot: 0\ngeneration: 2\n"
                    "state: starting\n") != NULL);
    buf_free(&b);
    json_object *o = status_json(false);
    CHECK(o && jint(o, "master_pid") == getpid() && !json_object_object_get_ex(o, "processes",
                                                                               NULL));
    json_object_put(o);
}

int main(void)
{
    RUN(test_children_add_up);
    RUN(test_slots_run_out_and_totals_still_count);
    RUN(test_labels);
    RUN(test_histograms);
    RUN(test_status_text);
    return test_summary();
}
