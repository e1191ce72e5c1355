/* plan: phases, jobs and prompts of a chat request (see plan.h). */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errstr.h"

static const char *const phases_ko[] = {"answer"};
static const char *const phases_en[] = {"staff_ko", "customer_en"};

/* Per-model inference settings. Micro writes the quick overview the page shows first, so it
 * is short and steady; Pro writes the detailed answer, so it may run longer and freer. */
static const struct {
    int max_tokens;
    double temperature, top_p;
} settings[MODEL_COUNT] = {
    [MODEL_MICRO] = {1024, 0.3, 0.9},
    [MODEL_PRO] = {2048, 0.5, 0.9},
};

size_t plan_phases(const char *ui_lang, const char **out)
{
    const char *const *v;
    size_t n;
    if (strcmp(ui_lang, "ko") == 0) {
        v = phases_ko;
        n = 1;
    } else if (strcmp(ui_lang, "en") == 0) {
        v = phases_en;
        n = 2;
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = v[i];
    return n;
}

const char *plan_phase_name(const char *s, size_t n)
{
    static const char *const all[] = {"answer", "staff_ko", "customer_en"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strlen(all[i]) == n && memcmp(all[i], s, n) == 0)
            return all[i];
    return NULL;
}

int plan_job_id(char *out, size_t n, const char *request_id, const char *phase,
                enum model model)
{
    int k = snprintf(out, n, "%s-%s-%s", request_id, phase, model_name(model));
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* Who reads a phase's answer, and in which language. */
static void phase_reader(const char *phase, const char **language, const char **audience)
{
    if (strcmp(phase, "customer_en") == 0) {
        *language = "English";
        *audience = "the player (a customer writing in English)";
    } else if (strcmp(phase, "staff_ko") == 0) {
        *language = "Korean";
        *audience = "the support staff (an internal note in Korean, not sent to the player)";
    } else {
        *language = "Korean";
        *audience = "the player";
    }
}

int plan_prompt(const struct plan_input *in, const char *phase, enum model model,
                struct buf *user)
{
    const char *language, *audience;
    phase_reader(phase, &language, &audience);
    const struct prompt_var vars[] = {
        {"language", language},
        {"audience", audience},
        {"passages", in->passages},
        {"history", in->history && in->history[0] ? in->history : "(none: a new conversation)"},
        {"question", in->question},
    };
    return prompt_render(in->product->prompts,
                         model == MODEL_MICRO ? PROMPT_MICRO : PROMPT_PRO, vars,
                         sizeof vars / sizeof vars[0], user);
}

static int plan_job(struct job *j, const struct nova_config *cfg, const char *request_id,
                    const struct plan_input *in, const char *phase, enum model m,
                    long long now_ms)
{
    if (plan_job_id(j->id, sizeof j->id, request_id, phase, m) < 0 ||
        strlen(request_id) >= sizeof j->request)
        return -1;
    memcpy(j->request, request_id, strlen(request_id) + 1);
    j->queue = model_queue(m);
    j->model = m;
    snprintf(j->phase, sizeof j->phase, "%s", phase);
    snprintf(j->model_id, sizeof j->model_id, "%s",
             m == MODEL_MICRO ? cfg->micro_model : cfg->pro_model);
    struct buf user;
    buf_init(&user, JOB_MAX_BYTES);
    if (plan_prompt(in, phase, m, &user) < 0) {
        buf_free(&user);
        return -1;
    }
    /* Named, not carried: the worker gives Bedrock the same bytes from nova:prompt:<name>
     * (chat.c stores it), so the cachePoint after them still hits Bedrock's prompt cache. */
    if (in->product->system_prompt[0])
        memcpy(j->system_sha256, in->product->system_sha256, sizeof j->system_sha256);
    j->cache_point = true;
    j->messages[0].role = xstrdup("user");
    j->messages[0].text = buf_steal(&user, NULL);
    j->n_messages = 1;
    j->max_tokens = settings[m].max_tokens;
    j->temperature = settings[m].temperature;
    j->top_p = settings[m].top_p;
    j->created_ms = now_ms;
    j->deadline_ms = now_ms + cfg->job_deadline_s * 1000;
    return 0;
}

int plan_build(struct plan *p, const struct nova_config *cfg, const char *request_id,
               const struct plan_input *in, long long now_ms, char *errstr, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->n_phases = plan_phases(in->ui_lang, p->phases);
    if (p->n_phases == 0) {
        errstr_set(errstr, errlen, "unknown ui_lang \"%s\"", in->ui_lang);
        return -1;
    }
    for (size_t ph = 0; ph < p->n_phases; ph++)
        for (enum model m = 0; m < MODEL_COUNT; m++) {
            struct job *j = &p->jobs[p->n_jobs];
            if (plan_job(j, cfg, request_id, in, p->phases[ph], m, now_ms) < 0) {
                job_free(j);
                plan_free(p);
                errstr_set(errstr, errlen, "job %s %s does not fit", p->phases[ph],
                           model_name(m));
                return -1;
            }
            p->n_jobs++;
        }
    return 0;
}

void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n_jobs; i++)
        job_free(&p->jobs[i]);
    p->n_jobs = 0;
}
