/* test_lookup: fcgi-app/lookup.c — a question's entities (each once, from the question and
 * then its translation, pointing into the text they were found in), the search terms their
 * glossary names give, the query text, and the translation policy: who is translated, into
 * what, and when the search as asked is followed by translate-then-search. */
#include "../../fcgi-app/lookup.h"

#include <string.h>

#include "test.h"

static const char *const glossary_json =
    "{\"characters\":{\"Paul\":{\"description\":\"주인공\",\"aliases\":[\"주인공\",\"폴\","
    "\"paul\"]}},\"game_terms\":{\"Guild\":{\"description\":\"길드\",\"aliases\":[\"길드\","
    "\"guild\"]},\"Level Up\":{\"aliases\":[\"레벨업\",\"level up\"]}}}";

static bool has_term(const struct lookup *l, const char *t)
{
    for (size_t i = 0; i < l->n_terms; i++)
        if (strcmp(l->terms[i], t) == 0)
            return true;
    return false;
}

static void test_entities_and_terms(void)
{
    char err[256];
    struct glossary *g = glossary_parse(glossary_json, strlen(glossary_json), err, sizeof err);
    CHECK(g != NULL);
    if (!g)
        return;
    struct lookup l;
    lookup_init(&l);
    CHECK(l.n_ents == 0 && l.n_terms == 0);
    const char *q = "폴이 길드에 못 들어가요";
    lookup_add_text(&l, g, q, strlen(q));
    CHECK(l.n_ents == 2);
    CHECK_STR_EQ(l.ents[0].entry->canonical, "Paul");
    CHECK_STR_EQ(l.ents[1].entry->canonical, "Guild");
    CHECK(l.ent_text[0] == q && l.ent_text[1] == q);
    CHECK(strncmp(q + l.ents[0].offset, "폴", l.ents[0].len) == 0);
    /* Canonical names and every alias: the Korean question reaches English documents. */
    CHECK(l.n_terms == 7 && has_term(&l, "Guild") && has_term(&l, "guild") &&
          has_term(&l, "paul") && has_term(&l, "주인공"));
    /* The translation adds only what the question did not name. */
    const char *t = "Paul cannot join the guild to level up";
    lookup_add_text(&l, g, t, strlen(t));
    CHECK(l.n_ents == 3);
    CHECK_STR_EQ(l.ents[2].entry->canonical, "Level Up");
    CHECK(l.ent_text[2] == t && l.n_terms == 10 && has_term(&l, "레벨업"));
    /* Nothing found, nothing added. */
    lookup_add_text(&l, g, "hello", 5);
    CHECK(l.n_ents == 3 && l.n_terms == 10);
    glossary_free(g);
}

static void test_query(void)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK(lookup_query(&b, "폴 레벨업", strlen("폴 레벨업"), NULL, 0) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "폴 레벨업");
    buf_reset(&b);
    CHECK(lookup_query(&b, "폴 레벨업", strlen("폴 레벨업"), "Paul level up", 13) == 0);
    CHECK_STR_EQ(buf_cstr(&b), "폴 레벨업\nPaul level up");
    /* Too long for the buffer: -1, and the buffer as it was. */
    buf_reset(&b);
    buf_puts(&b, "x");
    char big[80];
    memset(big, 'a', sizeof big);
    CHECK(lookup_query(&b, "q", 1, big, sizeof big) == -1);
    CHECK_STR_EQ(buf_cstr(&b), "x");
    buf_free(&b);
}

static void test_policy(void)
{
    /* In en mode always (the staff read Korean); otherwise when the languages differ. */
    CHECK(!lookup_translates(LANG_KO, LANG_KO));
    CHECK(lookup_translates(LANG_KO, LANG_EN));
    CHECK(lookup_translates(LANG_EN, LANG_EN));
    CHECK(lookup_translates(LANG_EN, LANG_KO));
    CHECK(lookup_target(LANG_KO) == LANG_EN && lookup_target(LANG_EN) == LANG_KO);
    /* Translate first only when the search as asked found nothing it is sure of, and only a
     * question that is translated anyway. */
    const double sure = LOOKUP_SURE_SCORE;
    CHECK(lookup_translate_first(LANG_EN, LANG_EN, 0, 0, sure));
    CHECK(lookup_translate_first(LANG_EN, LANG_KO, 0, 0, sure));
    CHECK(lookup_translate_first(LANG_KO, LANG_EN, 0, 0, 0)); /* nothing: always */
    CHECK(!lookup_translate_first(LANG_KO, LANG_KO, 0, 0, sure));
    CHECK(!lookup_translate_first(LANG_KO, LANG_KO, 3, 0.21, sure));
    CHECK(!lookup_translate_first(LANG_EN, LANG_KO, 1, 0.45, sure));
    CHECK(!lookup_translate_first(LANG_KO, LANG_EN, 5, sure, sure));
    /* A best passage that is a guess: translated first on the local index, not where scores
     * mean something else (sure 0). */
    CHECK(lookup_translate_first(LANG_EN, LANG_EN, 2, 0.32, sure));
    CHECK(lookup_translate_first(LANG_KO, LANG_EN, 5, 0.399, sure));
    CHECK(!lookup_translate_first(LANG_EN, LANG_EN, 2, 0.32, 0));
    CHECK(lookup_translate_first(LANG_EN, LANG_EN, 2, 0.0 / 0.0, sure)); /* NaN: not sure */
}

int main(void)
{
    RUN(test_entities_and_terms);
    RUN(test_query);
    RUN(test_policy);
    return test_summary();
}
