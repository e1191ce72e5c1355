/* keys: the Redis key map (see keys.h). */
#include "keys.h"

#include <stdio.h>

static int key_fmt(char *out, size_t n, const char *fmt, const char *arg)
{
    int k = snprintf(out, n, fmt, arg);
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

int key_jobs(char *out, size_t n, const char *queue) { return key_fmt(out, n, "nova:jobs:{%s}", queue); }
int key_out(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:out:%s", job); }
int key_log(char *out, size_t n, const char *req) { return key_fmt(out, n, "nova:log:%s", req); }
int key_dead(char *out, size_t n, const char *queue) { return key_fmt(out, n, "nova:dead:{%s}", queue); }
int key_worker(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:worker:%s", id); }
int key_workers(char *out, size_t n, const char *queue) { return key_fmt(out, n, "nova:workers:{%s}", queue); }
int key_cancel(char *out, size_t n, const char *queue) { return key_fmt(out, n, "nova:cancel:{%s}", queue); }
int key_canceled(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:canceled:%s", job); }
int key_session(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:session:%s", id); }
int key_readers(char *out, size_t n, const char *id) { return key_fmt(out, n, "nova:readers:%s", id); }
int key_progress(char *out, size_t n, const char *job) { return key_fmt(out, n, "nova:progress:%s", job); }
