/* Unit tests for fcgi-app/plan.c: phases, job ids, prompts, and jobs that read back. */
#include "../../fcgi-app/plan.h"

#include <stdlib.h>

#include "test.h"

static struct nova_config test_config(void)
{
    struct nova_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.micro_model, sizeof c.micro_model, "amazon.nova-micro-v1:0");
    snprintf(c.pro_model, sizeof c.pro_model, "apac.amazon.nova-pro-v1:0");
    c.job_deadline_s = 300;
    return c;
}

/* The shipped templates, with a stand-in for the rendered system prompt. */
static struct product prod;

static struct plan_input test_input(const char *question, const char *ui_lang)
{
    struct plan_input in = {
        .product = &prod,
        .ui_lang = ui_lang,
        .question = question,
        .passages = "<document title=\"Level up\" url=\"https://x/1\">\nPaul levels up.\n</document>\n",
        .history = "Player: 안녕하세요\nAgent: 무엇을 도와드릴까요?\n\n",
    };
    return in;
}

static void test_phases(void)
{
    const char *p[PLAN_MAX_PHASES];
    CHECK(plan_phases("ko", p) == 1);
    CHECK_STR_EQ(p[0], "answer");
    CHECK(plan_phases("en", p) == 2);
    CHECK_STR_EQ(p[0], "staff_ko");
    CHECK_STR_EQ(p[1], "customer_en");
    CHECK(plan_phases("fr", p) == 0);
    CHECK(plan_phase_name("staff_ko", 8) != NULL);
    CHECK(plan_phase_name("staff_k", 7) == NULL);
    CHECK(plan_phase_name("answerx", 7) == NULL);
}

static void test_job_ids(void)
{
    char id[JOB_ID_MAX];
    CHECK(plan_job_id(id, sizeof id, "0123456789abcdef0123456789abcdef", "answer", MODEL_MICRO) == 0);
    CHECK_STR_EQ(id, "0123456789abcdef0123456789abcdef-answer-micro");
    CHECK(job_id_valid(id, strlen(id)));
    char small[10];
    CHECK(plan_job_id(small, sizeof small, "0123456789", "answer", MODEL_PRO) == -1);
}

static void test_ko_plan(void)
{
    struct nova_config cfg = test_config();
    struct plan_input in = test_input("폴이 레벨업을 못 해요", "ko");
    struct plan p;
    char err[128];
    CHECK(plan_build(&p, &cfg, "0123456789abcdef0123456789abcdef", &in, 1700000000000LL, err,
                     sizeof err) == 0);
    CHECK(p.n_phases == 1 && p.n_jobs == 2);
    const struct job *mi = &p.jobs[0], *pr = &p.jobs[1];
    CHECK_STR_EQ(mi->id, "0123456789abcdef0123456789abcdef-answer-micro");
    CHECK_STR_EQ(pr->id, "0123456789abcdef0123456789abcdef-answer-pro");
    CHECK(mi->queue == QUEUE_MICRO);
    CHECK(pr->queue == QUEUE_PRO);
    CHECK(mi->model == MODEL_MICRO);
    CHECK_STR_EQ(mi->phase, "answer");
    CHECK_STR_EQ(mi->model_id, "amazon.nova-micro-v1:0");
    CHECK_STR_EQ(pr->model_id, "apac.amazon.nova-pro-v1:0");
    CHECK(mi->max_tokens == 1024 && mi->temperature == 0.3 && mi->top_p == 0.9);
    CHECK(pr->max_tokens == 2048 && pr->temperature == 0.5 && pr->top_p == 0.9);
    /* One cache prefix for every job, named by its SHA-256 rather than carried. */
    char name[JOB_SHA256_HEX + 1];
    job_prompt_name(prod.system_prompt, strlen(prod.system_prompt), name);
    CHECK(mi->cache_point && pr->cache_point && !mi->system && !pr->system);
    CHECK(job_sha256_valid(mi->system_sha256, strlen(mi->system_sha256)));
    CHECK_STR_EQ(mi->system_sha256, prod.system_sha256);
    CHECK_STR_EQ(pr->system_sha256, prod.system_sha256);
    CHECK_STR_EQ(mi->system_sha256, name);
    CHECK(mi->n_messages == 1);
    CHECK_STR_EQ(mi->messages[0].role, "user");
    /* The user message holds the question, the passages and the last turns. */
    for (size_t i = 0; i < 2; i++) {
        const char *t = p.jobs[i].messages[0].text;
        CHECK(strstr(t, "폴이 레벨업을 못 해요") != NULL);
        CHECK(strstr(t, "Answer in Korean.") != NULL);
        CHECK(strstr(t, "<document title=\"Level up\"") != NULL);
        CHECK(strstr(t, "Player: 안녕하세요") != NULL);
        CHECK(strstr(t, "{{") == NULL);
    }
    /* Micro and Pro get their own instructions. */
    CHECK(strcmp(mi->messages[0].text, pr->messages[0].text) != 0);
    CHECK(mi->created_ms == 1700000000000LL && mi->deadline_ms == 1700000300000LL);
    /* Each job reads back as the same job (what the worker will see). */
    for (size_t i = 0; i < p.n_jobs; i++) {
        struct buf b;
        buf_init(&b, 1 << 20);
        CHECK(job_to_json(&p.jobs[i], &b) == 0);
        struct job back;
        CHECK(job_from_json(b.data, b.len, &back, err, sizeof err) == 0);
        CHECK_STR_EQ(back.id, p.jobs[i].id);
        CHECK_STR_EQ(back.request, "0123456789abcdef0123456789abcdef");
        CHECK_STR_EQ(back.messages[0].text, p.jobs[i].messages[0].text);
        CHECK_STR_EQ(back.system_sha256, prod.system_sha256);
        CHECK(back.system == NULL && strstr(b.data, "\"v\":2") && !strstr(b.data, "\"system\""));
        CHECK(back.max_tokens == p.jobs[i].max_tokens);
        job_free(&back);
        buf_free(&b);
    }
    plan_free(&p);
}

static void test_en_plan(void)
{
    struct nova_config cfg = test_config();
    struct plan_input in = test_input("How do I reset my password?", "en");
    struct plan p;
    char err[128];
    CHECK(plan_build(&p, &cfg, "ffffffffffffffffffffffffffffffff", &in, 5, err, sizeof err) == 0);
    CHECK(p.n_phases == 2 && p.n_jobs == 4);
    const char *want[] = {"staff_ko", "staff_ko", "customer_en", "customer_en"};
    for (size_t i = 0; i < 4; i++) {
        CHECK_STR_EQ(p.jobs[i].phase, want[i]);
        CHECK(p.jobs[i].model == (enum model)(i % 2));
        const char *lang = i < 2 ? "Answer in Korean." : "Answer in English.";
        CHECK(strstr(p.jobs[i].messages[0].text, lang) != NULL);
    }
    plan_free(&p);
    in = test_input("x", "de");
    CHECK(plan_build(&p, &cfg, "ffffffffffffffffffffffffffffffff", &in, 5, err, sizeof err) == -1);
}

int main(void)
{
    char err[512];
    prod.prompts = prompt_templates_load("config/prompts", err, sizeof err);
    if (!prod.prompts) {
        fprintf(stderr, "config/prompts: %s\n", err);
        return 1;
    }
    static char sys[] = "You are a support agent.\n- Paul (폴): 주인공";
    prod.system_prompt = sys;
    job_prompt_name(sys, strlen(sys), prod.system_sha256);
    RUN(test_phases);
    RUN(test_job_ids);
    RUN(test_ko_plan);
    RUN(test_en_plan);
    prompt_templates_free(prod.prompts);
    return test_summary();
}
