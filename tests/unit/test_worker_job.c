/* test_worker_job: workers/worker_job.c — a job made from a stream entry (checked, its prompt
 * shared, its keys derived) and the states of its lifecycle: the transitions allowed, the one
 * function that changes them. */
#include "workers/worker_job.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "test.h"
#include "workers/worker.h"

static const char JOB[] =
    "{\"v\":1,\"id\":\"req-0123456789abcdef-answer-micro\",\"request\":\"req-0123456789abcdef."
    "translate\",\"queue\":\"micro\",\"phase\":\"answer\",\"model\":\"micro\","
    "\"model_id\":\"amazon.nova-micro-v1:0\",\"system\":\"rules\",\"messages\":[{\"role\":"
    "\"user\",\"text\":\"hi\"}],\"created_ms\":1,\"deadline_ms\":2}";

static void worker_of(struct worker *w, enum queue q)
{
    memset(w, 0, sizeof *w);
    w->queue = q;
    text_table_init(&w->texts);
}

static void test_new_job_from_an_entry(void)
{
    static struct worker w;
    worker_of(&w, QUEUE_MICRO);
    char err[256] = "";
    struct worker_job *a = worker_job_new(&w, JOB, strlen(JOB), "1-0", err, sizeof err);
    struct worker_job *b = worker_job_new(&w, JOB, strlen(JOB), "2-0", err, sizeof err);
    CHECK(a && b);
    if (a && b) {
        CHECK(a->state == JOB_NEW && a->w == &w && !a->call);
        CHECK(strcmp(a->entry_id, "1-0") == 0);
        CHECK(strcmp(a->rid, "req-0123456789abcdef") == 0); /* up to the '.' */
        CHECK(strcmp(a->channel, "nova:out:req-0123456789abcdef-answer-micro") == 0);
        CHECK(strstr(a->log_key, "req-0123456789abcdef.translate") != NULL);
        CHECK(a->job.system == b->job.system && a->system_text); /* one copy of the prompt */
        worker_job_free(&w, a);
        worker_job_free(&w, b);
    }
    text_table_free(&w.texts);
}

static void test_not_a_job_for_this_worker(void)
{
    static struct worker w;
    worker_of(&w, QUEUE_PRO);
    char err[256] = "";
    CHECK(!worker_job_new(&w, JOB, strlen(JOB), "1-0", err, sizeof err));
    CHECK(strcmp(err, "job for queue \"micro\" on queue \"pro\"") == 0);
    CHECK(!worker_job_new(&w, "{\"v\":1", 6, "1-0", err, sizeof err));
    CHECK(strncmp(err, "bad job: ", 9) == 0);
    text_table_free(&w.texts);
}

static void test_state_names(void)
{
    for (int s = 0; s < JOB_STATES; s++) {
        CHECK(strcmp(job_state_name(s), "?") != 0);
        for (int t = 0; t < s; t++)
            CHECK(strcmp(job_state_name(s), job_state_name(t)) != 0);
    }
    CHECK(strcmp(job_state_name(JOB_TAKEN_OVER), "taken_over") == 0); /* job_left's how= */
    CHECK(strcmp(job_state_name(JOB_HANDED_BACK), "handed_back") == 0);
    CHECK(strcmp(job_state_name(JOB_STATES), "?") == 0);
}

static void test_transitions(void)
{
    /* DONE is the end, and every other state can reach it, directly or through a stop. */
    for (int s = 0; s < JOB_STATES; s++) {
        CHECK(!job_state_allowed(JOB_DONE, s));
        CHECK(!job_state_allowed(s, JOB_NEW));
        CHECK(!job_state_allowed(s, s));
        if (s != JOB_DONE)
            CHECK(job_state_allowed(s, JOB_DONE) || job_state_allowed(s, JOB_HANDED_BACK));
    }
    /* Only a job between calls runs again: nothing stopped is ever retried. */
    for (int s = 0; s < JOB_STATES; s++)
        CHECK(job_state_allowed(s, JOB_RUNNING) == (s == JOB_NEW || s == JOB_WAITING));
    CHECK(job_state_allowed(JOB_RUNNING, JOB_WAITING));
    CHECK(!job_state_allowed(JOB_CANCELING, JOB_WAITING));
    /* The stopping states are ordered: a later one wins, never the other way round. */
    const enum job_state order[] = {JOB_CANCELING, JOB_LOST, JOB_HANDED_BACK, JOB_TAKEN_OVER};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            CHECK(job_state_allowed(order[i], order[j]) == (i < j));
    CHECK(!job_state_allowed(JOB_WAITING, JOB_LOST)); /* no call, no events: nothing to lose */
}

static void test_set_state(void)
{
    struct worker_job wj;
    memset(&wj, 0, sizeof wj);
    snprintf(wj.job.id, sizeof wj.job.id, "j1");
    worker_job_set_state(&wj, JOB_RUNNING);
    CHECK(wj.state == JOB_RUNNING);
    worker_job_set_state(&wj, JOB_RUNNING); /* no change */
    CHECK(wj.state == JOB_RUNNING);
    worker_job_set_state(&wj, JOB_CANCELING); /* no call to tell: nothing else happens */
    CHECK(wj.state == JOB_CANCELING);
    worker_job_set_state(&wj, JOB_DONE);
    CHECK(wj.state == JOB_DONE);
}

int main(void)
{
    log_init("test_worker_job", LOG_WARN);
    RUN(test_new_job_from_an_entry);
    RUN(test_not_a_job_for_this_worker);
    RUN(test_state_names);
    RUN(test_transitions);
    RUN(test_set_state);
    return test_summary();
}
