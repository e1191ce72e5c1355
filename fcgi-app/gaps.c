/* gaps: the unanswered questions into nova:gaps (see gaps.h). */
#include "gaps.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"
#include "redis/contract.h"

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = utf8_whole_prefix(src, cap - 1);
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void gaps_classify(struct gap_note *n, const struct knowledge *k, double weak_score)
{
    memset(n, 0, sizeof *n);
    if (k->n == 0) {
        n->due = true;
        n->reason = GAP_NO_DOCUMENTS;
        return;
    }
    n->has_best = true;
    copy_text(n->best_title, sizeof n->best_title, k->p[0].title);
    copy_text(n->best_url, sizeof n->best_url, k->p[0].url);
    n->best_score = k->p[0].score;
    if (k->p[0].score < weak_score) {
        n->due = true;
        n->reason = GAP_WEAK;
    }
}

int gaps_argv(const struct gap_note *n, enum gap_reason reason, const struct gap_question *q,
              long max_entries, char num[32], char max[24], const char **argv, size_t *lens)
{
    int c = 0;
#define ARG(s, l) (argv[c] = (s), lens[c] = (l), c++)
#define LIT(s) ARG(s, strlen(s))
    snprintf(max, 24, "%ld", max_entries);
    LIT("XADD");
    LIT(KEY_GAPS);
    LIT("MAXLEN");
    LIT(max);
    LIT("*");
    LIT("reason");
    LIT(gap_reason_name(reason));
    LIT("request_id");
    LIT(q->request_id);
    LIT("question");
    ARG(q->text, q->len > GAPGROUP_QUESTION_MAX ? utf8_whole_prefix(q->text, GAPGROUP_QUESTION_MAX)
                                                : q->len);
    LIT("input_lang");
    LIT(q->input_lang);
    LIT("ui_lang");
    LIT(q->ui_lang);
    if (q->translation && q->translation_len) {
        LIT("translation");
        ARG(q->translation, q->translation_len > GAPGROUP_QUESTION_MAX
                                ? utf8_whole_prefix(q->translation, GAPGROUP_QUESTION_MAX)
                                : q->translation_len);
    }
    if (n->has_best) {
        snprintf(num, 32, "%.4f", n->best_score);
        LIT("best_title");
        LIT(n->best_title);
        LIT("best_url");
        LIT(n->best_url);
        LIT("best_score");
        LIT(num);
    }
#undef LIT
#undef ARG
    return c;
}

void gaps_record(struct app *app, const struct gap_note *n, bool guardrail,
                 const struct gap_question *q)
{
    if ((!n->due && !guardrail) || app->cfg->gaps_max <= 0)
        return;
    enum gap_reason reason = guardrail ? GAP_GUARDRAIL : n->reason;
    const char *argv[GAPS_ARGV_MAX];
    size_t lens[GAPS_ARGV_MAX];
    char num[32], max[24], err[256];
    int argc = gaps_argv(n, reason, q, app->cfg->gaps_max, num, max, argv, lens);
    redisContext *c = app_redis(app, err, sizeof err);
    if (!c) {
        log_rid(LOG_WARN, q->request_id, "the gap was not recorded: %s", err);
        return;
    }
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r || r->type == REDIS_REPLY_ERROR)
        log_rid(LOG_WARN, q->request_id, "the gap was not recorded: XADD %s: %s", KEY_GAPS,
                r ? r->str : c->errstr);
    else
        log_event(LOG_INFO, q->request_id, "gap", "reason=%s", gap_reason_name(reason));
    if (r)
        freeReplyObject(r);
    app_redis_put(app, c);
}
