/* simstats: GET /_sim/stats and pick one counter (see simstats.h). */
#include "simstats.h"

#include <stdio.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "core/buf.h"

static size_t collect(char *p, size_t size, size_t n, void *user)
{
    return buf_append(user, p, size * n) == 0 ? size * n : 0;
}

long simstats_get(const char *sim_url, const char *name)
{
    struct buf b;
    buf_init(&b, 65536);
    char url[512];
    snprintf(url, sizeof url, "%s/_sim/stats", sim_url);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    long v = -1;
    json_object *o = rc == CURLE_OK && status == 200 ? json_tokener_parse(buf_cstr(&b)) : NULL;
    json_object *x;
    if (o && json_object_object_get_ex(o, name, &x))
        v = (long)json_object_get_int64(x);
    if (o)
        json_object_put(o);
    buf_free(&b);
    return v;
}
