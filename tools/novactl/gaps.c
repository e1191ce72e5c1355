/* novactl kb gaps: the content editor's to-write list — the questions nova-fcgi recorded in
 * nova:gaps (fcgi-app/gaps.h: answered with the apology, only weak passages, or stopped by a
 * guardrail), near-identical ones grouped (common/product/gapgroup.h), counted, with when
 * each group was first and last seen, newest first.
 *
 *   novactl kb gaps [--since DURATION] [--json]
 *
 * DURATION is a number with a unit: s, m, h, d or w ("30m", "24h", "7d"); without --since
 * everything the stream holds (NOVA_GAPS_MAX entries at most). Times are Redis's (the entry
 * ids). The text form is one line per group (count, last and first seen, reasons, languages,
 * the newest wording), then its best match when it had one; --json one object on one line:
 * {"since_ms", "records", "groups": [{"question", "normalised", "count", "first_seen",
 * "last_seen", "first_seen_ms", "last_seen_ms", "reasons": {"no_documents", "weak",
 * "guardrail"}, "input_lang", "ui_lang", "best": {"title", "url", "score"} | null}]}. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "ctl.h"
#include "novactl.h"
#include "product/gapgroup.h"

#define GAPS_PAGE 1000

static const char synopsis[] = "usage: novactl kb gaps [--since DURATION] [--json]\n";

int novactl_gaps_duration(const char *s, long long *ms)
{
    char *end;
    if (!s || !(*s >= '0' && *s <= '9'))
        return -1;
    long long n = strtoll(s, &end, 10);
    long long unit = *end == 's' ? 1000LL
                     : *end == 'm' ? 60000LL
                     : *end == 'h' ? 3600000LL
                     : *end == 'd' ? 86400000LL
                     : *end == 'w' ? 604800000LL
                                   : 0;
    if (!unit || end[1] != '\0' || n <= 0 || n > 100LL * 365 * 86400000LL / unit)
        return -1;
    *ms = n * unit;
    return 0;
}

static void iso_time(long long ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *field_str(const redisReply *fields, const char *name, size_t *len)
{
    const redisReply *v = ctl_field(fields, name);
    bool ok = v && v->type == REDIS_REPLY_STRING;
    if (len)
        *len = ok ? v->len : 0;
    return ok ? v->str : NULL;
}

struct gaps_read {
    struct gapgroup *gg;
    size_t records;
};

/* One entry into the groups; a malformed one is skipped. */
static bool take_entry(void *user, const redisReply *e)
{
    struct gaps_read *g_read = user;
    const char *id;
    const redisReply *f;
    long long ms;
    if (!ctl_entry(e, &id, &f) || !ctl_entry_id_parse(id, &ms))
        return true;
    struct gap_entry g = {0};
    g.question = field_str(f, "question", &g.question_len);
    int reason = gap_reason_parse(field_str(f, "reason", NULL));
    if (!g.question || reason < 0)
        return true;
    g.ms = ms;
    g.reason = (enum gap_reason)reason;
    g.input_lang = field_str(f, "input_lang", NULL);
    g.ui_lang = field_str(f, "ui_lang", NULL);
    g.best_title = field_str(f, "best_title", NULL);
    g.best_url = field_str(f, "best_url", NULL);
    const char *score = field_str(f, "best_score", NULL);
    g.best_score = score ? strtod(score, NULL) : 0;
    if (gapgroup_add(g_read->gg, &g) == 0)
        g_read->records++;
    return true;
}

static void print_text(const struct gapgroup *gg, size_t records, long long since_ms)
{
    char first[32], last[32];
    if (since_ms > 0) {
        iso_time(since_ms, first);
        printf("gaps since %s: %zu question%s, %zu record%s\n", first, gg->n,
               gg->n == 1 ? "" : "s", records, records == 1 ? "" : "s");
    } else {
        printf("gaps: %zu question%s, %zu record%s\n", gg->n, gg->n == 1 ? "" : "s", records,
               records == 1 ? "" : "s");
    }
    if (gg->n)
        printf("%5s  %-20s  %-20s  %-28s  %-5s  %s\n", "count", "last seen", "first seen",
               "reasons", "lang", "question");
    for (size_t i = 0; i < gg->n; i++) {
        const struct gap_group *g = &gg->g[i];
        char reasons[64] = "";
        size_t len = 0;
        for (int k = 0; k < GAP_REASONS; k++)
            if (g->reasons[k]) {
                int w = snprintf(reasons + len, sizeof reasons - len, "%s%s:%zu",
                                 len ? " " : "", gap_reason_name((enum gap_reason)k),
                                 g->reasons[k]);
                if (w > 0 && (size_t)w < sizeof reasons - len)
                    len += (size_t)w;
            }
        iso_time(g->first_ms, first);
        iso_time(g->last_ms, last);
        char lang[20];
        snprintf(lang, sizeof lang, "%s/%s", g->input_lang[0] ? g->input_lang : "?",
                 g->ui_lang[0] ? g->ui_lang : "?");
        /* The question on one line: its line breaks as blanks. */
        printf("%5zu  %-20s  %-20s  %-28s  %-5s  ", g->count, last, first, reasons, lang);
        for (const char *p = g->question; *p; p++)
            putchar(*p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p);
        putchar('\n');
        if (g->best_title)
            printf("%5s  best: %.3f  %s  %s\n", "", g->best_score, g->best_title,
                   g->best_url && g->best_url[0] ? g->best_url : "(no url)");
    }
}

static void print_json(const struct gapgroup *gg, size_t records, long long since_ms)
{
    char when[32];
    json_object *root = json_object_new_object(), *arr = json_object_new_array();
    json_object_object_add(root, "since_ms",
                           since_ms > 0 ? json_object_new_int64(since_ms) : NULL);
    json_object_object_add(root, "records", json_object_new_int64((int64_t)records));
    for (size_t i = 0; i < gg->n; i++) {
        const struct gap_group *g = &gg->g[i];
        json_object *o = json_object_new_object(), *rs = json_object_new_object();
        json_object_object_add(o, "question", ctl_json_string(g->question, strlen(g->question)));
        json_object_object_add(o, "normalised", ctl_json_string(g->key, strlen(g->key)));
        json_object_object_add(o, "count", json_object_new_int64((int64_t)g->count));
        iso_time(g->first_ms, when);
        json_object_object_add(o, "first_seen", json_object_new_string(when));
        iso_time(g->last_ms, when);
        json_object_object_add(o, "last_seen", json_object_new_string(when));
        json_object_object_add(o, "first_seen_ms", json_object_new_int64(g->first_ms));
        json_object_object_add(o, "last_seen_ms", json_object_new_int64(g->last_ms));
        for (int k = 0; k < GAP_REASONS; k++)
            json_object_object_add(rs, gap_reason_name((enum gap_reason)k),
                                   json_object_new_int64((int64_t)g->reasons[k]));
        json_object_object_add(o, "reasons", rs);
        json_object_object_add(o, "input_lang", json_object_new_string(g->input_lang));
        json_object_object_add(o, "ui_lang", json_object_new_string(g->ui_lang));
        json_object *best = NULL;
        if (g->best_title) {
            best = json_object_new_object();
            json_object_object_add(best, "title",
                                   ctl_json_string(g->best_title, strlen(g->best_title)));
            json_object_object_add(best, "url", ctl_json_string(g->best_url, strlen(g->best_url)));
            json_object_object_add(best, "score", json_new_short_double(g->best_score));
        }
        json_object_object_add(o, "best", best);
        json_object_array_add(arr, o);
    }
    json_object_object_add(root, "groups", arr);
    ctl_json_print(root);
}

int novactl_kb_gaps(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct option longs[] = {{"since", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool json = false;
    long long since = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (ch == 'h') {
            printf("%s\n  the questions answered with the apology, only weak passages or a "
                   "guardrail's\n  intervention (nova:gaps), near-identical ones grouped, "
                   "newest first\n  --since DURATION  only those recorded in the last "
                   "DURATION (30m, 24h, 7d, 2w)\n  --json            one JSON object\n",
                   synopsis);
            return NOVACTL_OK;
        }
        if (ch == 'j') {
            json = true;
        } else if (ch == 's') {
            if (novactl_gaps_duration(optarg, &since) < 0)
                return ctl_usage_error("kb", "gaps", synopsis,
                                       "--since wants a duration such as 30m, 24h or 7d, not "
                                       "'%s'",
                                       optarg);
        } else {
            return ctl_usage_error("kb", "gaps", synopsis, "unknown option or missing value: %s",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error("kb", "gaps", synopsis, "takes no operands (got '%s')",
                               argv[optind]);
    redisContext *c = ctl_connect(cfg, "kb gaps");
    if (!c)
        return NOVACTL_FAIL;
    long long start = 0;
    if (since > 0) {
        long long now = ctl_time_ms(c, "kb gaps");
        if (now < 0) {
            redisFree(c);
            return NOVACTL_FAIL;
        }
        start = now > since ? now - since : 1;
    }
    struct gapgroup gg;
    gapgroup_init(&gg);
    struct gaps_read g_read = {&gg, 0};
    char from[24];
    snprintf(from, sizeof from, "%lld", start);
    int rc = ctl_stream_walk(c, "kb gaps", KEY_GAPS, false, from, GAPS_PAGE, take_entry, &g_read);
    size_t records = g_read.records;
    redisFree(c);
    if (rc == 0) {
        gapgroup_sort(&gg);
        if (json)
            print_json(&gg, records, start);
        else
            print_text(&gg, records, start);
    }
    gapgroup_free(&gg);
    return rc == 0 ? NOVACTL_OK : NOVACTL_FAIL;
}
