/* test_lookup: fcgi-app/lookup.c — a question's entities (each once, from the question and
 * then its translation, pointing into the text they were found in), the search terms their
 * glossary names give, the query text, and the translation policy: who is translated, into
 * what, and when the search as asked is followed by translate-then-search; the synonyms'
 * terms; which questions are follow-ups, and the context they are searched with. */
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

static const char *const synonyms_tsv = "비밀번호\t비번\npassword\tpasword, pw\n"
                                        "Guild\tclan\n";

static void test_synonyms(void)
{
    char err[256];
    struct glossary *g = glossary_parse(glossary_json, strlen(glossary_json), err, sizeof err);
    struct synonyms *s = synonyms_parse(synonyms_tsv, strlen(synonyms_tsv), err, sizeof err);
    CHECK(g && s);
    if (!g || !s)
        return;
    struct lookup l;
    lookup_init(&l);
    /* A variant with a particle, one glued to the next word, and a misspelling. */
    const char *q = "비번을 까먹었어요 pasword";
    lookup_add_synonyms(&l, g, s, q, strlen(q));
    CHECK(l.n_ents == 0 && l.n_terms == 2 && has_term(&l, "비밀번호") && has_term(&l, "password"));
    lookup_init(&l);
    q = "비번까먹었어요";
    lookup_add_synonyms(&l, g, s, q, strlen(q));
    CHECK(l.n_terms == 1 && has_term(&l, "비밀번호"));
    /* A canonical term the glossary knows brings its names (and no entity of the question). */
    lookup_init(&l);
    q = "how do I join a clan";
    lookup_add_synonyms(&l, g, s, q, strlen(q));
    CHECK(l.n_ents == 0 && has_term(&l, "Guild") && has_term(&l, "길드"));
    /* Entities found later keep the synonyms' terms. */
    lookup_add_text(&l, g, "폴", strlen("폴"));
    CHECK(l.n_ents == 1 && has_term(&l, "Guild") && has_term(&l, "주인공"));
    /* No file, no words: nothing. */
    lookup_init(&l);
    lookup_add_synonyms(&l, g, NULL, "pasword", 7);
    lookup_add_synonyms(&l, g, s, "", 0);
    CHECK(l.n_terms == 0);
    synonyms_free(s);
    glossary_free(g);
}

/* An English plural neither the glossary nor the file knows counts as its singular. */
static void test_plurals(void)
{
    char sg[3][LOOKUP_WORD_MAX + 1];
    CHECK(lookup_singulars("refunds", 7, sg) == 1);
    CHECK_STR_EQ(sg[0], "refund");
    CHECK(lookup_singulars("bodies", 6, sg) == 2);
    CHECK_STR_EQ(sg[0], "body");
    CHECK_STR_EQ(sg[1], "bodie");
    CHECK(lookup_singulars("matches", 7, sg) == 2);
    CHECK_STR_EQ(sg[0], "match");
    CHECK_STR_EQ(sg[1], "matche");
    CHECK(lookup_singulars("boxes", 5, sg) == 2);
    CHECK_STR_EQ(sg[0], "box");
    /* Not plurals of that shape: too short, -ss, -us, not lower-case letters. */
    CHECK(lookup_singulars("gas", 3, sg) == 0);
    CHECK(lookup_singulars("pass", 4, sg) == 0);
    CHECK(lookup_singulars("bonus", 5, sg) == 0);
    CHECK(lookup_singulars("item2s", 6, sg) == 0);
    CHECK(lookup_singulars("refund", 6, sg) == 0);
    char err[256];
    struct glossary *g = glossary_parse(glossary_json, strlen(glossary_json), err, sizeof err);
    struct synonyms *s = synonyms_parse(synonyms_tsv, strlen(synonyms_tsv), err, sizeof err);
    CHECK(g && s);
    if (!g || !s)
        return;
    struct lookup l;
    /* "guilds": the glossary's Guild and its names, with or without a synonym file. */
    lookup_init(&l);
    const char *q = "how do guilds work?";
    lookup_add_synonyms(&l, g, NULL, q, strlen(q));
    CHECK(has_term(&l, "Guild") && has_term(&l, "길드"));
    lookup_init(&l);
    q = "how do clans work?"; /* the plural of a variant: its canonical term */
    lookup_add_synonyms(&l, g, s, q, strlen(q));
    CHECK(has_term(&l, "guild") && has_term(&l, "길드"));
    /* A plural nothing knows adds nothing. */
    lookup_init(&l);
    q = "how do boats work?";
    lookup_add_synonyms(&l, g, s, q, strlen(q));
    CHECK(l.n_terms == 0);
    /* The context of a follow-up: the previous question's plural counts too. */
    lookup_init(&l);
    const char *prev = "how do guilds work?\n";
    q = "how long does it take?";
    CHECK(lookup_set_context(&l, g, s, q, strlen(q), prev, strlen(prev)));
    bool ctx_guild = false;
    for (size_t i = 0; i < l.ctx.n_terms; i++)
        ctx_guild |= strcmp(l.ctx.terms[i], "길드") == 0;
    CHECK(ctx_guild);
    synonyms_free(s);
    glossary_free(g);
}

static bool follows(const char *q)
{
    return lookup_follows_up(q, strlen(q));
}

static void test_follows_up(void)
{
    /* The follow-ups, and others that refer back. */
    CHECK(follows("그럼 며칠 걸려요?"));
    CHECK(follows("how long does it take?"));
    CHECK(follows("그건 왜 그래요?"));
    CHECK(follows("what about refunds for gems?"));
    CHECK(follows("is there compensation for it?"));
    CHECK(follows("How Long?"));
    CHECK(follows("??"));            /* no words of its own */
    CHECK(follows("그리고 어떻게요?")); /* only stop words and a reference */
    /* Questions that stand on their own. */
    CHECK(!follows("환불 규정을 알려주세요"));
    CHECK(!follows("how do refunds work?"));
    CHECK(!follows("쿠폰은 어디서 입력해요?"));
    CHECK(!follows("how do I reset my password?"));
    /* A reference with many words of its own stands alone too. */
    CHECK(!follows("my game crashes every time I open it after the latest update on android"));
    CHECK(!follows("titan")); /* "it" inside a word is not "it" */
}

static void test_context(void)
{
    char err[256];
    struct glossary *g = glossary_parse(glossary_json, strlen(glossary_json), err, sizeof err);
    struct synonyms *s = synonyms_parse(synonyms_tsv, strlen(synonyms_tsv), err, sizeof err);
    CHECK(g && s);
    if (!g || !s)
        return;
    struct lookup l;
    lookup_init(&l);
    CHECK(lookup_context(&l) == NULL);
    /* The newest previous question is the context, with its glossary names and synonyms. */
    const char *prev = "폴 레벨업 어떻게 해요?\n길드 비번 잊었어요\n";
    const char *q = "그럼 며칠 걸려요?";
    CHECK(lookup_set_context(&l, g, s, q, strlen(q), prev, strlen(prev)));
    const struct kb_context *c = lookup_context(&l);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->len == strlen("길드 비번 잊었어요") &&
              memcmp(c->text, "길드 비번 잊었어요", c->len) == 0);
        CHECK(c->weight == LOOKUP_CONTEXT_WEIGHT && c->terms == l.ctx_terms);
        bool guild = false, pw = false, paul = false;
        for (size_t i = 0; i < c->n_terms; i++) {
            guild = guild || strcmp(c->terms[i], "Guild") == 0;
            pw = pw || strcmp(c->terms[i], "비밀번호") == 0;
            paul = paul || strcmp(c->terms[i], "Paul") == 0;
        }
        CHECK(guild && pw && !paul);
    }
    /* The question's own terms are untouched by its context. */
    CHECK(l.n_terms == 0);
    /* The previous question followed up too: the one before it joins. */
    prev = "폴 레벨업 어떻게 해요?\n그럼 며칠 걸려요?\n";
    q = "how long?";
    CHECK(lookup_set_context(&l, g, s, q, strlen(q), prev, strlen(prev)));
    c = lookup_context(&l);
    CHECK(c && c->len == strlen(prev) - 1 && memcmp(c->text, prev, c->len) == 0);
    /* A question that stands alone, or no conversation: no context (and an old one cleared). */
    q = "쿠폰은 어디서 입력해요?";
    CHECK(!lookup_set_context(&l, g, s, q, strlen(q), prev, strlen(prev)));
    CHECK(lookup_context(&l) == NULL);
    q = "how long?";
    CHECK(!lookup_set_context(&l, g, s, q, strlen(q), "", 0));
    CHECK(!lookup_set_context(&l, g, s, q, strlen(q), "\n", 1));
    CHECK(lookup_context(&l) == NULL);
    /* One previous question without a line break at its end. */
    CHECK(lookup_set_context(&l, g, NULL, q, strlen(q), "guild wars", 10));
    c = lookup_context(&l);
    CHECK(c && c->len == 10);
    synonyms_free(s);
    glossary_free(g);
}

int main(void)
{
    RUN(test_entities_and_terms);
    RUN(test_query);
    RUN(test_policy);
    RUN(test_synonyms);
    RUN(test_plurals);
    RUN(test_follows_up);
    RUN(test_context);
    return test_summary();
}
