/* contract: the names the programs agree on (see contract.h). */
#include "redis/contract.h"

#include <stdio.h>
#include <string.h>

static const char *const queue_names[QUEUE_COUNT] = {"micro", "pro", "kb", "handoff"};
static const char *const model_names[MODEL_COUNT] = {"micro", "pro"};
static const char *const event_names[EV_COUNT] = {
    "meta", "delta", "model_done", "translation", "notice", "error", "done", "passages",
};

/* The index of s[0..n) in names[0..count), or -1. */
static int name_index(const char *const *names, int count, const char *s, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return i;
    return -1;
}

const char *queue_name(enum queue q)
{
    return (unsigned)q < QUEUE_COUNT ? queue_names[q] : "?";
}

int queue_parse(const char *s, size_t n, enum queue *q)
{
    int i = name_index(queue_names, QUEUE_COUNT, s, n);
    if (i < 0)
        return -1;
    *q = (enum queue)i;
    return 0;
}

const char *model_name(enum model m)
{
    return (unsigned)m < MODEL_COUNT ? model_names[m] : "?";
}

int model_parse(const char *s, size_t n, enum model *m)
{
    int i = name_index(model_names, MODEL_COUNT, s, n);
    if (i < 0)
        return -1;
    *m = (enum model)i;
    return 0;
}

enum queue model_queue(enum model m)
{
    return m == MODEL_MICRO ? QUEUE_MICRO : QUEUE_PRO;
}

const char *phase_translation_target(const char *phase)
{
    if (!phase)
        return NULL;
    if (strcmp(phase, PHASE_TRANSLATE_KO) == 0)
        return "ko";
    if (strcmp(phase, PHASE_TRANSLATE_EN) == 0)
        return "en";
    return NULL;
}

const char *event_type_name(enum event_type t)
{
    return (unsigned)t < EV_COUNT ? event_names[t] : "other";
}

enum event_type event_type_parse(const char *s, size_t n)
{
    int i = name_index(event_names, EV_COUNT, s, n);
    return i < 0 ? EV_OTHER : (enum event_type)i;
}

static int key_fmt(char *out, size_t n, const char *fmt, const char *arg)
{
    int k = snprintf(out, n, fmt, arg);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int key_jobs(char *out, size_t n, enum queue q) { return key_fmt(out, n, "nova:jobs:{%s}", queue_name(q)); }
int key_out(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:out:%s", job); }
int key_log(char *out, size_t n, const char *req) { return key_fmt(out, n, "nova:log:%s", req); }
int key_dead(char *out, size_t n, enum queue q) { return key_fmt(out, n, "nova:dead:{%s}", queue_name(q)); }
int key_worker(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:worker:%s", id); }
int key_workers(char *out, size_t n, enum queue q) { return key_fmt(out, n, "nova:workers:{%s}", queue_name(q)); }
int key_cancel(char *out, size_t n, enum queue q) { return key_fmt(out, n, "nova:cancel:{%s}", queue_name(q)); }
int key_canceled(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:canceled:%s", job); }
int key_session(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:session:%s", id); }
int key_readers(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:readers:%s", id); }
int key_turn(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:turn:%s", id); }
int key_progress(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:progress:%s", job); }
int key_seq(char *out, size_t n, const char *req) { return key_fmt(out, n, "nova:seq:%s", req); }
int key_prompt(char *out, size_t n, const char *sha) { return key_fmt(out, n, "nova:prompt:%s", sha); }
int key_done(char *out, size_t n, enum queue q) { return key_fmt(out, n, "nova:done:{%s}", queue_name(q)); }
int key_handoff(char *out, size_t n, const char *req) { return key_fmt(out, n, "nova:handoff:%s", req); }
