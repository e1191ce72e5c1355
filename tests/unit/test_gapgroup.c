/* test_gapgroup: common/product/gapgroup.c — the normal form of a recorded question (case,
 * blanks, punctuation, full-width forms, zero-width characters, Hangul jamo composed; Korean
 * words kept as typed) and the groups `novactl kb gaps` prints: counted, first and last seen,
 * the newest wording and best match, newest group first. */
#include "product/gapgroup.h"

#include <stdio.h>
#include <string.h>

#include "test.h"

static struct buf b;

static const char *norm(const char *q)
{
    buf_free(&b);
    buf_init(&b, 16384);
    CHECK(gapgroup_normalise(q, strlen(q), &b) == 0);
    return b.data ? b.data : "";
}

static void test_normalise(void)
{
    CHECK_STR_EQ(norm("How do Refunds work?"), "how do refunds work");
    CHECK_STR_EQ(norm("  how   do refunds\twork ?? !  "), "how do refunds work");
    CHECK_STR_EQ(norm("HOW DO REFUNDS WORK"), "how do refunds work");
    CHECK_STR_EQ(norm("what's this"), "whats this");
    CHECK_STR_EQ(norm("what\u2019s this"), "whats this");
    CHECK_STR_EQ(norm("'quoted' \"words\""), "quoted words");
    CHECK_STR_EQ(norm("refund-policy / gems..."), "refund policy gems");
    /* Full-width letters and punctuation, an ideographic space, NBSP, zero-width space. */
    CHECK_STR_EQ(norm("\uff28\uff4f\uff57\u3000do\u00a0re\u200bfunds\uff1f"), "how do refunds");
    /* Korean: punctuation and blanks only; the particles stay. */
    CHECK_STR_EQ(norm("환불 규정을 알려주세요!!"), "환불 규정을 알려주세요");
    CHECK_STR_EQ(norm("환불   규정을,  알려주세요。"), "환불 규정을 알려주세요");
    char first[64];
    snprintf(first, sizeof first, "%s", norm("환불은"));
    CHECK(strcmp(first, norm("환불")) != 0);
    /* Conjoining jamo (NFD) composed into the syllables (NFC). */
    CHECK_STR_EQ(norm("\u1112\u116a\u11ab\u1107\u116e\u11af"), "환불");
    CHECK_STR_EQ(norm("\u1100\u1161"), "가");
    /* Latin-1 capitals; invalid bytes dropped; nothing left is "". */
    CHECK_STR_EQ(norm("CAF\u00c9"), "caf\u00e9");
    CHECK_STR_EQ(norm("ab\xff" "cd"), "abcd");
    CHECK_STR_EQ(norm("?!  ..."), "");
    CHECK_STR_EQ(norm(""), "");
}

static void add(struct gapgroup *gg, const char *q, long long ms, enum gap_reason r,
                const char *title, double score)
{
    struct gap_entry e = {q, strlen(q), ms, r, "en", "en", title,
                          title ? "https://example.com/x" : NULL, score};
    CHECK(gapgroup_add(gg, &e) == 0);
}

static void test_groups(void)
{
    struct gapgroup gg;
    gapgroup_init(&gg);
    add(&gg, "How do I trade pets?", 1000, GAP_NO_DOCUMENTS, NULL, 0);
    add(&gg, "쿠폰 어디서 써요?", 1500, GAP_WEAK, "Coupons", 0.25);
    add(&gg, "how do i trade pets", 3000, GAP_WEAK, "Pets", 0.21);
    add(&gg, "HOW DO I TRADE PETS??", 2000, GAP_NO_DOCUMENTS, NULL, 0); /* out of order */
    add(&gg, "쿠폰 어디서 써요", 1200, GAP_GUARDRAIL, NULL, 0);
    add(&gg, "something else", 500, GAP_NO_DOCUMENTS, NULL, 0);
    gapgroup_sort(&gg);
    CHECK(gg.n == 3);
    if (gg.n != 3) {
        gapgroup_free(&gg);
        return;
    }
    /* Newest first: the pets (last 3000), the coupons (1500), the rest (500). */
    CHECK_STR_EQ(gg.g[0].key, "how do i trade pets");
    CHECK(gg.g[0].count == 3 && gg.g[0].first_ms == 1000 && gg.g[0].last_ms == 3000);
    CHECK_STR_EQ(gg.g[0].question, "how do i trade pets"); /* the newest wording */
    CHECK(gg.g[0].reasons[GAP_NO_DOCUMENTS] == 2 && gg.g[0].reasons[GAP_WEAK] == 1);
    CHECK(gg.g[0].best_title && strcmp(gg.g[0].best_title, "Pets") == 0 &&
          gg.g[0].best_score == 0.21);
    CHECK_STR_EQ(gg.g[1].key, "쿠폰 어디서 써요");
    CHECK(gg.g[1].count == 2 && gg.g[1].first_ms == 1200 && gg.g[1].last_ms == 1500);
    CHECK_STR_EQ(gg.g[1].question, "쿠폰 어디서 써요?");
    CHECK(gg.g[1].reasons[GAP_GUARDRAIL] == 1 && gg.g[1].reasons[GAP_WEAK] == 1);
    CHECK(gg.g[2].count == 1 && gg.g[2].best_title == NULL);
    gapgroup_free(&gg);
    CHECK(gap_reason_parse("guardrail") == GAP_GUARDRAIL && gap_reason_parse("x") == -1);
    CHECK_STR_EQ(gap_reason_name(GAP_NO_DOCUMENTS), "no_documents");
}

/* Many distinct questions: the table grows and every one stays its own group. */
static void test_many(void)
{
    struct gapgroup gg;
    gapgroup_init(&gg);
    char q[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(q, sizeof q, "question %d?", i % 2500);
        add(&gg, q, i, GAP_NO_DOCUMENTS, NULL, 0);
    }
    gapgroup_sort(&gg);
    CHECK(gg.n == 2500);
    bool ok = gg.n == 2500;
    for (size_t i = 0; ok && i < gg.n; i++)
        ok = gg.g[i].count == 2 && (i == 0 || gg.g[i - 1].last_ms >= gg.g[i].last_ms);
    CHECK(ok);
    CHECK(gg.n && strcmp(gg.g[0].key, "question 2499") == 0);
    gapgroup_free(&gg);
}

int main(void)
{
    RUN(test_normalise);
    RUN(test_groups);
    RUN(test_many);
    buf_free(&b);
    return test_summary();
}
