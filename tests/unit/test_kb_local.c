/* Unit tests for the local knowledge base: common/kb/kb_doc.c (the document parser),
 * common/kb/kb_query.c (search terms) and common/kb/kb_local.c (index, import, search, pool).
 * Run from the repository root: the ranking tests import kb/sample. */
#include "kb/kb_local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "test.h"

#define SAMPLE "kb/sample"

static char tmp_root[64];

/* ---- helpers ---------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void write_str(const char *dir, const char *name, const char *s)
{
    write_file(dir, name, s, strlen(s));
}

/* A new folder under the test's temp root. */
static void make_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmp_root, name);
    CHECK(mkdir(out, 0755) == 0 || errno == EEXIST);
}

/* Removes dir and what it holds. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_md(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 3 && de->d_name[0] != '.' && strcmp(de->d_name + l - 3, ".md") == 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static struct kb_local *import_into(const char *db, const char *dir, struct kb_import_stats *st)
{
    char err[512] = "";
    struct kb_local *w = kb_local_open(db, true, err, sizeof err);
    CHECK(w != NULL);
    if (!w) {
        fprintf(stderr, "    %s\n", err);
        return NULL;
    }
    struct kb_import_stats s;
    CHECK(kb_local_import_dir(w, dir, st ? st : &s, err, sizeof err) == 0);
    if (err[0])
        fprintf(stderr, "    %s\n", err);
    return w;
}

/* The sample knowledge base, imported once for the ranking tests. */
static char sample_db[128];
static struct kb_local *sample;

static int search(const char *q, const char *const *terms, size_t n_terms, size_t k,
                  double min_score, struct kb_hits *h)
{
    char err[512] = "";
    int rc = kb_local_search(sample, q, strlen(q), terms, n_terms, k, min_score, h, err,
                             sizeof err);
    if (rc < 0)
        fprintf(stderr, "    search \"%s\": %s\n", q, err);
    return rc;
}

/* Index of the hit whose url ends with suffix, or -1. */
static int find_url(const struct kb_hits *h, const char *suffix)
{
    size_t n = strlen(suffix);
    for (size_t i = 0; i < h->n; i++) {
        size_t l = strlen(h->hit[i].url);
        if (l >= n && strcmp(h->hit[i].url + l - n, suffix) == 0)
            return (int)i;
    }
    return -1;
}

static void dump(const char *q, const struct kb_hits *h)
{
    fprintf(stderr, "    results for \"%s\":\n", q);
    for (size_t i = 0; i < h->n; i++)
        fprintf(stderr, "      %.3f %s %s\n", h->hit[i].score, h->hit[i].title, h->hit[i].url);
}

/* ---- kb_doc_parse ------------------------------------------------------------------------ */

static int parse(const char *text, const char *name, struct kb_doc *d, char *err)
{
    err[0] = '\0';
    return kb_doc_parse(text, strlen(text), name, d, err, 200);
}

static void test_doc_front_matter(void)
{
    struct kb_doc d;
    char err[200];
    CHECK(parse("---\n"
                "title: \"Refunds: the rules\"\n"
                "url: https://support.example.com/en/billing/refund\n"
                "keywords: [refund, 환불]\n"
                "lang: EN\n"
                "author: ignored\n"
                "title: second title is ignored\n"
                "---\n"
                "\n"
                "# Heading is not the title\n"
                "\n"
                "Body text.   \n"
                "\n\n",
                "refund.md", &d, err) == 0);
    CHECK_STR_EQ(d.title, "Refunds: the rules");
    CHECK_STR_EQ(d.url, "https://support.example.com/en/billing/refund");
    CHECK_STR_EQ(d.keywords, "refund, 환불");
    CHECK_STR_EQ(d.lang, "en");
    CHECK_STR_EQ(d.body, "# Heading is not the title\n\nBody text.");
    kb_doc_free(&d);
    CHECK(d.title == NULL && d.body == NULL);

    /* "source:" is the simulator's other name for url; absent fields are "". */
    CHECK(parse("---\nsource: http://x.example/a\n---\nText\n", "a.md", &d, err) == 0);
    CHECK_STR_EQ(d.url, "http://x.example/a");
    CHECK_STR_EQ(d.keywords, "");
    CHECK_STR_EQ(d.lang, "");
    CHECK_STR_EQ(d.title, "a");
    kb_doc_free(&d);
}

static void test_doc_without_front_matter(void)
{
    struct kb_doc d;
    char err[200];
    CHECK(parse("\n\nIntro line\n# Login Help #\nMore text\n", "x.md", &d, err) == 0);
    CHECK_STR_EQ(d.title, "Login Help");
    CHECK_STR_EQ(d.url, "");
    CHECK_STR_EQ(d.body, "Intro line\n# Login Help #\nMore text");
    kb_doc_free(&d);
    /* "#Tag" and "## Sub" are not a level-one heading. */
    CHECK(parse("#Tag\n## Sub\ntext", "notes.md", &d, err) == 0);
    CHECK_STR_EQ(d.title, "notes");
    kb_doc_free(&d);
    /* A byte order mark is skipped, also before front matter. */
    CHECK(parse("\xEF\xBB\xBF---\ntitle: BOM\n---\nx", "b.md", &d, err) == 0);
    CHECK_STR_EQ(d.title, "BOM");
    CHECK_STR_EQ(d.body, "x");
    kb_doc_free(&d);
}

static void test_doc_title_fallback(void)
{
    struct kb_doc d;
    char err[200];
    CHECK(parse("---\ntitle:\nurl: https://a.example/\n---\nplain text", "refund-policy-en.md",
                &d, err) == 0);
    CHECK_STR_EQ(d.title, "refund-policy-en");
    kb_doc_free(&d);
    CHECK(parse("plain", NULL, &d, err) == 0);
    CHECK_STR_EQ(d.title, "untitled");
    kb_doc_free(&d);
    CHECK(parse("plain", "\xFF\xFE.md", &d, err) == 0); /* a file name that is not UTF-8 */
    CHECK_STR_EQ(d.title, "untitled");
    kb_doc_free(&d);
    CHECK(parse("plain", "readme", &d, err) == 0);
    CHECK_STR_EQ(d.title, "readme");
    kb_doc_free(&d);
}

static void test_doc_crlf(void)
{
    struct kb_doc d;
    char err[200];
    CHECK(parse("---\r\ntitle: Windows\r\nkeywords: a, b\r\n---\r\n\r\nline one\r\nline two\r\n",
                "w.md", &d, err) == 0);
    CHECK_STR_EQ(d.title, "Windows");
    CHECK_STR_EQ(d.keywords, "a, b");
    CHECK_STR_EQ(d.body, "line one\nline two");
    kb_doc_free(&d);
}

static void expect_doc_error(const char *text, size_t len, const char *want)
{
    struct kb_doc d;
    char err[200] = "";
    CHECK(kb_doc_parse(text, len, "e.md", &d, err, sizeof err) == -1);
    CHECK(d.title == NULL && d.url == NULL && d.keywords == NULL && d.lang == NULL &&
          d.body == NULL);
    CHECK_STR_EQ(err, want);
    kb_doc_free(&d); /* harmless on a failed parse */
}

#define EXPECT_DOC_ERROR(text, want) expect_doc_error(text, strlen(text), want)

static void test_doc_errors(void)
{
    EXPECT_DOC_ERROR("---\ntitle: x\nno closing line\n",
                     "unterminated front matter (no closing \"---\" line)");
    EXPECT_DOC_ERROR("---\n", "unterminated front matter (no closing \"---\" line)");
    EXPECT_DOC_ERROR("caf\xC3 au lait", "not valid UTF-8");
    EXPECT_DOC_ERROR("overlong \xC0\xAF", "not valid UTF-8");
    EXPECT_DOC_ERROR("surrogate \xED\xA0\x80", "not valid UTF-8");
    expect_doc_error("a\0b", 3, "contains a NUL byte");
    EXPECT_DOC_ERROR("", "no text after the front matter");
    EXPECT_DOC_ERROR(" \n\t\n", "no text after the front matter");
    EXPECT_DOC_ERROR("---\ntitle: only front matter\n---\n\n", "no text after the front matter");
    EXPECT_DOC_ERROR("---\nurl: javascript:alert(1)\n---\nx",
                     "front matter: url is not an http:// or https:// URL");
    EXPECT_DOC_ERROR("---\nurl: https://a.example/with space\n---\nx",
                     "front matter: url is not an http:// or https:// URL");
    EXPECT_DOC_ERROR("---\nlang: en_US\n---\nx", "front matter: lang is not a language tag");
    EXPECT_DOC_ERROR("---\nlang: abcdefghijklmnopq\n---\nx",
                     "front matter: lang longer than 16 bytes");
    char title[700];
    memcpy(title, "---\ntitle: ", 11);
    memset(title + 11, 'x', 600);
    memcpy(title + 611, "\n---\nx", 7);
    EXPECT_DOC_ERROR(title, "front matter: title longer than 512 bytes");
    size_t big = KB_DOC_MAX_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, 'a', big);
    expect_doc_error(huge, big, "larger than 1048576 bytes");
    /* Exactly at the cap is fine. */
    struct kb_doc d;
    char err[200];
    CHECK(kb_doc_parse(huge, KB_DOC_MAX_BYTES, "big.md", &d, err, sizeof err) == 0);
    CHECK(d.body && strlen(d.body) == KB_DOC_MAX_BYTES);
    kb_doc_free(&d);
    free(huge);
}

/* ---- kb_query_terms ---------------------------------------------------------------------- */

/* The terms as "text|text|..." with an '*' after extra terms. */
static const char *terms_str(const char *q, const char *const *extra, size_t n)
{
    static char out[4096];
    struct kb_terms t;
    kb_query_terms(q, strlen(q), extra, n, &t);
    out[0] = '\0';
    for (size_t i = 0; i < t.n; i++) {
        if (i)
            strcat(out, "|");
        strcat(out, t.t[i].text);
        if (t.t[i].extra)
            strcat(out, "*");
    }
    return out;
}

static void test_query_terms(void)
{
    /* Stop words go, "the" included; the rest is lower-cased; "paul's" is paul. */
    CHECK_STR_EQ(terms_str("How can I get THE Refund for Paul's item?", NULL, 0),
                 "refund|paul|item");
    CHECK_STR_EQ(terms_str("what is the weather like in Paris today", NULL, 0),
                 "weather|paris|today");
    CHECK_STR_EQ(terms_str("how do I do the thing? don't can't I'm", NULL, 0), "");
    /* Hangul: particles stripped when two syllables stay; question words dropped. */
    CHECK_STR_EQ(terms_str("환불은 어떻게 받나요?", NULL, 0), "환불");
    CHECK_STR_EQ(terms_str("폴이 레벨업을 못 해요", NULL, 0), "폴이|레벨업");
    CHECK_STR_EQ(terms_str("계정이 해킹당했어요", NULL, 0), "계정|해킹");
    CHECK_STR_EQ(terms_str("던전에서는 PvP에서 XP가", NULL, 0), "던전|pvp|xp");
    CHECK_STR_EQ(terms_str("환불받으려면 레벨업해요", NULL, 0), "환불|레벨업");
    /* Punctuation, emoji and jamo separate words; one-character words go. */
    CHECK_STR_EQ(terms_str("a/b—c ㅠㅠ 😀로그인😀 x", NULL, 0), "로그인");
    /* Invalid UTF-8 separates words instead of failing. */
    CHECK_STR_EQ(terms_str("refund\xFFpolicy\xC0", NULL, 0), "refund|policy");
    /* Extra terms: trimmed, blanks collapsed, lower-cased, deduplicated against the question;
     * invalid UTF-8 and terms without a letter are skipped. */
    static const char *const extra[] = {"Paul", " Level \t Up ", "레벨업", "paul", "\xFF\xFE",
                                        "...", "", "에이전트 C", "폴"};
    CHECK_STR_EQ(terms_str("폴이 레벨업을 못 해요", extra, 9),
                 "폴이|레벨업|paul*|level up*|에이전트 c*");
    struct kb_terms t;
    const char *mix = "xp 환불 refund 레벨업";
    kb_query_terms(mix, strlen(mix), NULL, 0, &t);
    CHECK(t.n == 4);
    CHECK(t.t[0].chars == 2 && t.t[0].word);  /* whole word */
    CHECK(t.t[1].chars == 2 && !t.t[1].word); /* substring */
    CHECK(t.t[2].chars == 6 && t.t[2].word);
    CHECK(t.t[3].chars == 3 && !t.t[3].word && t.t[3].len == 9);
}

static void test_query_terms_caps(void)
{
    struct buf q;
    buf_init(&q, 1 << 20);
    for (int i = 0; i < 200; i++)
        buf_printf(&q, "word%03d ", i);
    char longword[KB_TERM_MAX_BYTES + 2];
    memset(longword, 'z', sizeof longword - 1);
    longword[sizeof longword - 1] = '\0';
    const char *extra[40];
    char store[40][24];
    for (int i = 0; i < 40; i++) {
        snprintf(store[i], sizeof store[i], "extra%02d", i);
        extra[i] = store[i];
    }
    extra[0] = longword;
    struct kb_terms t;
    CHECK(kb_query_terms(q.data, q.len, extra, 40, &t) == KB_MAX_TERMS);
    CHECK_STR_EQ(t.t[0].text, "word000");
    CHECK_STR_EQ(t.t[KB_MAX_QUERY_TERMS - 1].text, "word047");
    CHECK_STR_EQ(t.t[KB_MAX_QUERY_TERMS].text, "extra01"); /* the long one was left out */
    CHECK(t.t[KB_MAX_QUERY_TERMS].extra);
    /* A word longer than KB_TERM_MAX_BYTES is left out, not cut. */
    buf_reset(&q);
    buf_printf(&q, "%s refund", longword);
    CHECK(kb_query_terms(q.data, q.len, NULL, 0, &t) == 1);
    CHECK_STR_EQ(t.t[0].text, "refund");
    buf_free(&q);
}

/* ---- index: import, ranking ------------------------------------------------------------- */

static void test_import_sample(void)
{
    struct kb_import_stats st;
    struct kb_local *w = import_into(sample_db, SAMPLE, &st);
    size_t files = count_md(SAMPLE);
    CHECK(files >= 40);
    CHECK(st.docs == files);
    CHECK(st.skipped == 0);
    CHECK(st.bytes > 0);
    char err[256];
    CHECK(w && kb_local_count(w, err, sizeof err) == (long)files);
    kb_local_close(w);
    sample = kb_local_open(sample_db, false, err, sizeof err);
    CHECK(sample != NULL);
    CHECK(sample && kb_local_count(sample, err, sizeof err) == (long)files);
    struct kb_index_stats s;
    CHECK(sample && kb_local_stats(sample, &s, err, sizeof err) == 0);
    CHECK(s.docs == (long)files && s.doc_bytes > 0 && s.db_bytes > 0 && s.imported_at > 0);
    CHECK(strstr(s.source, SAMPLE) != NULL);
    CHECK(s.n_langs == 2);
    long langs = 0;
    for (size_t i = 0; i < s.n_langs; i++)
        langs += s.langs[i].docs;
    CHECK(langs == (long)files);
}

static void test_rank_refund_en(void)
{
    struct kb_hits h;
    const char *q = "How can I get a refund for an item I bought?";
    CHECK(search(q, NULL, 0, 5, KB_MIN_SCORE_DEFAULT, &h) == 0);
    CHECK(h.n >= 1 && find_url(&h, "/en/billing/refund") == 0);
    if (h.n >= 1) {
        CHECK_STR_EQ(h.hit[0].title, "Refund Policy for Paid Items");
        CHECK(strstr(h.hit[0].text, "within **7 days of purchase**") != NULL);
        CHECK(h.hit[0].score >= KB_MIN_SCORE_DEFAULT && h.hit[0].score < 1);
    }
    for (size_t i = 1; i < h.n; i++)
        CHECK(h.hit[i].score <= h.hit[i - 1].score);
    if (find_url(&h, "/en/billing/refund") != 0)
        dump(q, &h);
    kb_hits_free(&h);
}

static void test_rank_refund_ko(void)
{
    /* "환불" has two syllables: the substring path alone must find it. */
    struct kb_hits h;
    const char *q = "환불은 어떻게 받나요?";
    CHECK(search(q, NULL, 0, 5, KB_MIN_SCORE_DEFAULT, &h) == 0);
    CHECK(h.n >= 1 && find_url(&h, "/ko/billing/refund") == 0);
    if (h.n >= 1)
        CHECK_STR_EQ(h.hit[0].title, "유료 아이템 환불 정책");
    if (find_url(&h, "/ko/billing/refund") != 0)
        dump(q, &h);
    kb_hits_free(&h);
}

static void test_rank_paul_through_aliases(void)
{
    /* An English-only document, found for a Korean question through glossary aliases. */
    static const char *const terms[] = {"Paul", "paul", "레벨업", "Level Up", "level up"};
    struct kb_hits h;
    const char *q = "폴이 레벨업을 못 해요";
    CHECK(search(q, terms, 5, 5, KB_MIN_SCORE_DEFAULT, &h) == 0);
    int at = find_url(&h, "/en/guide/level-up");
    CHECK(at >= 0 && at < 3);
    if (at < 0 || at >= 3)
        dump(q, &h);
    kb_hits_free(&h);
}

static void test_nothing_relevant(void)
{
    static const char *const qs[] = {
        "zxqv blorp",
        "what is the weather like in Paris today",
        "how can I do the", /* stop words alone */
        "the the the a an is",
        "어떻게 해요?",
        "",
        "?!...",
    };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        struct kb_hits h;
        CHECK(search(qs[i], NULL, 0, 5, KB_MIN_SCORE_DEFAULT, &h) == 0);
        CHECK(h.n == 0);
        if (h.n)
            dump(qs[i], &h);
        kb_hits_free(&h);
    }
    /* Stop words find nothing even without a threshold. */
    struct kb_hits h;
    CHECK(search("how can I do the", NULL, 0, 5, 0, &h) == 0);
    CHECK(h.n == 0);
    kb_hits_free(&h);
}

/* A follow-up's context (kb_local_search_ctx): its terms find what the question alone does
 * not, count their weight, and leave the question's own terms at full weight. */
static void test_search_context(void)
{
    struct kb_hits h;
    char err[256];
    const char *q = "how long does it take?";
    CHECK(search(q, NULL, 0, 5, KB_MIN_SCORE_DEFAULT, &h) == 0);
    CHECK(find_url(&h, "/en/billing/refund") < 0); /* alone: not the refund policy */
    kb_hits_free(&h);
    const char *prev = "how do refunds work?";
    struct kb_context ctx = {.text = prev, .len = strlen(prev), .weight = 0.5};
    CHECK(kb_local_search_ctx(sample, q, strlen(q), NULL, 0, &ctx, 5, KB_MIN_SCORE_DEFAULT, &h,
                              err, sizeof err) == 0);
    CHECK(h.n > 0 && find_url(&h, "/en/billing/refund") == 0);
    double half = h.n ? h.hit[0].score : 0;
    kb_hits_free(&h);
    ctx.weight = 1;
    CHECK(kb_local_search_ctx(sample, q, strlen(q), NULL, 0, &ctx, 5, 0, &h, err,
                              sizeof err) == 0);
    CHECK(find_url(&h, "/en/billing/refund") == 0 && h.hit[0].score > half);
    kb_hits_free(&h);
    /* The context's extra terms count too: a glossary name of the previous question. */
    const char *names[] = {"환불"};
    struct kb_context ko = {.text = "x", .len = 1, .terms = names, .n_terms = 1, .weight = 0.5};
    const char *q2 = "그럼 며칠 걸려요?";
    CHECK(kb_local_search_ctx(sample, q2, strlen(q2), NULL, 0, &ko, 5, 0, &h, err,
                              sizeof err) == 0);
    CHECK(find_url(&h, "/ko/billing/refund") == 0);
    kb_hits_free(&h);
    /* A term of the question that the context repeats keeps its weight: the same scores as
     * without the context. */
    struct kb_hits a, b;
    const char *q3 = "refund";
    struct kb_context same = {.text = "refund", .len = 6, .weight = 0.1};
    CHECK(search(q3, NULL, 0, 5, 0, &a) == 0);
    CHECK(kb_local_search_ctx(sample, q3, strlen(q3), NULL, 0, &same, 5, 0, &b, err,
                              sizeof err) == 0);
    CHECK(a.n == b.n && a.n > 0 && a.hit[0].score == b.hit[0].score);
    kb_hits_free(&a);
    kb_hits_free(&b);
    /* Terms: the context's come after the question's, weighted, without duplicates. */
    struct kb_terms t;
    kb_query_terms("refund gems", 11, NULL, 0, &t);
    kb_query_add_context("gems 환불은", strlen("gems 환불은"), NULL, 0, 0.5f, &t);
    CHECK(t.n == 3 && t.t[0].weight == 1.0f && t.t[1].weight == 1.0f &&
          strcmp(t.t[2].text, "환불") == 0 && t.t[2].weight == 0.5f);
}

static void test_search_k_and_threshold(void)
{
    struct kb_hits h;
    CHECK(search("game account item player", NULL, 0, 100, 0, &h) == 0);
    CHECK(h.n == KB_MAX_HITS); /* clamped */
    double last = 1;
    for (size_t i = 0; i < h.n; i++) {
        CHECK(h.hit[i].score <= last && h.hit[i].score > 0);
        CHECK(h.hit[i].title[0] && h.hit[i].text[0] && h.hit[i].url);
        last = h.hit[i].score;
    }
    kb_hits_free(&h);
    CHECK(search("refund", NULL, 0, 0, 0, &h) == 0);
    CHECK(h.n == 0 && h.store == NULL);
    kb_hits_free(&h);
    CHECK(search("refund", NULL, 0, 3, 0.99, &h) == 0);
    CHECK(h.n == 0);
    kb_hits_free(&h);
    /* The same search twice gives the same order. */
    struct kb_hits a, b;
    CHECK(search("account login password", NULL, 0, 10, 0, &a) == 0);
    CHECK(search("account login password", NULL, 0, 10, 0, &b) == 0);
    CHECK(a.n == b.n);
    for (size_t i = 0; i < a.n && i < b.n; i++)
        CHECK(strcmp(a.hit[i].url, b.hit[i].url) == 0 && a.hit[i].score == b.hit[i].score);
    kb_hits_free(&a);
    kb_hits_free(&b);
}

/* Word rules on a small folder: trigram hits inside words do not count for Latin terms;
 * two-letter Latin terms are whole words, two Hangul syllables a substring, other
 * two-character terms are scanned for; equal scores go to the earlier file name. */
static void test_word_rules_and_ties(void)
{
    char dir[256], db[256];
    make_dir(dir, sizeof dir, "words");
    snprintf(db, sizeof db, "%s/words.sqlite", tmp_root);
    write_str(dir, "a-comparison.md", "# Prices\nA comparison of prices. Your password.\n");
    write_str(dir, "b-paris.md", "# Trip\nA trip to Paris. Show your pass.\n");
    write_str(dir, "c-xp.md", "# Boost\nThe XP bar and XP를 모으는 법.\n");
    write_str(dir, "d-expert.md", "# Expert\nAn expert explains export rules.\n");
    write_str(dir, "e-twin.md", "# Twin\nidentical twin text\n");
    write_str(dir, "f-twin.md", "# Twin\nidentical twin text\n");
    write_str(dir, "g-ko.md", "# 환불 안내\n환불은 7일 안에. 退款 안내, 2단계 인증.\n");
    write_str(dir, "h-kw.md", "---\nkeywords: 환불, refund\n---\nAn English body.\n");
    struct kb_local *w = import_into(db, dir, NULL);
    char err[256];
    struct kb_hits h;
    if (!w)
        return;
    CHECK(kb_local_search(w, "paris", 5, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1 && strstr(h.hit[0].text, "Paris"));
    kb_hits_free(&h);
    CHECK(kb_local_search(w, "pass", 4, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1 && strstr(h.hit[0].text, "your pass"));
    kb_hits_free(&h);
    CHECK(kb_local_search(w, "xp", 2, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1 && strstr(h.hit[0].text, "XP bar"));
    kb_hits_free(&h);
    /* Two Hangul syllables (the grams table): title and body count more than keywords. */
    CHECK(kb_local_search(w, "환불", strlen("환불"), NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 2 && strstr(h.hit[0].title, "환불 안내") && h.hit[0].score > h.hit[1].score);
    CHECK(h.n == 2 && strcmp(h.hit[1].text, "An English body.") == 0);
    kb_hits_free(&h);
    /* Two-character terms the grams table does not hold are scanned for. */
    CHECK(kb_local_search(w, "退款", strlen("退款"), NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1 && strstr(h.hit[0].text, "退款"));
    kb_hits_free(&h);
    CHECK(kb_local_search(w, "2단", strlen("2단"), NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1 && strstr(h.hit[0].text, "2단계"));
    kb_hits_free(&h);
    CHECK(kb_local_search(w, "price", 5, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 1); /* "prices": an ending */
    kb_hits_free(&h);
    CHECK(kb_local_search(w, "twin", 4, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 2 && h.hit[0].score == h.hit[1].score);
    kb_hits_free(&h);
    /* Ties go to the file imported first (e-twin.md, then f-twin.md); the bodies are equal,
     * so tell them apart by a second search on a body each holds once. */
    write_str(dir, "e-twin.md", "# Twin\nidentical twin text one\n");
    write_str(dir, "f-twin.md", "# Twin\nidentical twin text two\n");
    struct kb_import_stats st;
    CHECK(kb_local_import_dir(w, dir, &st, err, sizeof err) == 0 && st.docs == 8);
    CHECK(kb_local_search(w, "identical twin", 14, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 2 && h.hit[0].score == h.hit[1].score);
    CHECK(h.n == 2 && strstr(h.hit[0].text, "one") && strstr(h.hit[1].text, "two"));
    kb_hits_free(&h);
    kb_local_close(w);
    remove_tree(dir);
}

static void test_import_skips_and_refusals(void)
{
    char dir[256], db[256], err[512];
    make_dir(dir, sizeof dir, "mixed");
    snprintf(db, sizeof db, "%s/mixed.sqlite", tmp_root);
    write_str(dir, "good.md", "---\ntitle: Good\nlang: en\n---\nA good document.\n");
    write_str(dir, "bad-utf8.md", "caf\xC3 au lait\n");
    write_str(dir, "unterminated.md", "---\ntitle: x\n");
    write_str(dir, "notes.txt", "not markdown");
    write_str(dir, ".hidden.md", "hidden");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/folder.md", dir);
    CHECK(mkdir(sub, 0755) == 0);
    char *big = malloc(KB_DOC_MAX_BYTES + 10);
    memset(big, 'a', KB_DOC_MAX_BYTES + 10);
    write_file(dir, "big.md", big, KB_DOC_MAX_BYTES + 10);
    free(big);
    struct kb_import_stats st;
    struct kb_local *w = import_into(db, dir, &st);
    CHECK(st.docs == 1 && st.skipped == 4); /* bad-utf8, unterminated, big, folder.md */
    CHECK(w && kb_local_count(w, err, sizeof err) == 1);

    /* A folder that gives nothing leaves the index alone. */
    char empty[256];
    make_dir(empty, sizeof empty, "empty");
    CHECK(w && kb_local_import_dir(w, empty, &st, err, sizeof err) == -1);
    CHECK(strstr(err, "no document imported") != NULL);
    CHECK(w && kb_local_count(w, err, sizeof err) == 1);
    CHECK(w && kb_local_import_dir(w, "/nonexistent-kb-dir", &st, err, sizeof err) == -1);
    CHECK(strstr(err, "opendir(/nonexistent-kb-dir)") != NULL);
    kb_local_close(w);

    /* A read-only handle cannot import. */
    struct kb_local *r = kb_local_open(db, false, err, sizeof err);
    CHECK(r && kb_local_import_dir(r, dir, &st, err, sizeof err) == -1);
    CHECK(strstr(err, "read-only") != NULL);
    kb_local_close(r);
    remove_tree(empty);
    remove_tree(dir);
}

static void test_open_errors(void)
{
    char err[512] = "";
    CHECK(kb_local_open("/nonexistent-dir/kb.sqlite", false, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent-dir/kb.sqlite") && strstr(err, "No such file"));
    CHECK(kb_local_open("/nonexistent-dir/kb.sqlite", true, err, sizeof err) == NULL);
    CHECK(strstr(err, "cannot open") != NULL);
    CHECK(kb_local_open("", false, err, sizeof err) == NULL);
    /* A file that is not an index: refused read-only, and not touched writable. */
    char path[256];
    snprintf(path, sizeof path, "%s/notes.txt", tmp_root);
    write_str(tmp_root, "notes.txt", "just some text, not a database\n");
    CHECK(kb_local_open(path, false, err, sizeof err) == NULL);
    CHECK(strstr(err, "not a kb index") != NULL);
    CHECK(kb_local_open(path, true, err, sizeof err) == NULL);
    unlink(path);
    /* An empty file is an empty database: writable turns it into an index; read-only, an
     * empty index is valid and finds nothing. */
    write_str(tmp_root, "empty.sqlite", "");
    snprintf(path, sizeof path, "%s/empty.sqlite", tmp_root);
    struct kb_local *w = kb_local_open(path, true, err, sizeof err);
    CHECK(w != NULL);
    kb_local_close(w);
    struct kb_local *r = kb_local_open(path, false, err, sizeof err);
    CHECK(r != NULL);
    struct kb_hits h;
    CHECK(r && kb_local_search(r, "refund", 6, NULL, 0, 5, 0, &h, err, sizeof err) == 0);
    CHECK(h.n == 0);
    kb_hits_free(&h);
    CHECK(r && kb_local_count(r, err, sizeof err) == 0);
    kb_local_close(r);
}

/* ---- concurrency ------------------------------------------------------------------------ */

/* Searches on one shared read-only handle while another handle imports two versions of the
 * sample in turn (the second with "/genb/" in every URL). Each search must succeed and see
 * one version: all its URLs from the same import, and as many hits as always. */
struct searcher {
    struct kb_local *kb;
    int *stop;
    long searches, errors, mixed, wrong_n;
    size_t want_n[3]; /* hits of each query in either version */
};

static const char *const busy_queries[3] = {"refund payment purchase", "환불 결제",
                                            "login password"};

static void *search_loop(void *arg)
{
    struct searcher *s = arg;
    while (!__atomic_load_n(s->stop, __ATOMIC_SEQ_CST) || s->searches < 3) {
        const char *q = busy_queries[s->searches % 3];
        struct kb_hits h;
        char err[256];
        if (kb_local_search(s->kb, q, strlen(q), NULL, 0, 10, 0, &h, err, sizeof err) < 0) {
            s->errors++;
            fprintf(stderr, "    search error: %s\n", err);
        } else {
            size_t genb = 0;
            for (size_t i = 0; i < h.n; i++)
                genb += strstr(h.hit[i].url, "/genb/") != NULL;
            if (genb != 0 && genb != h.n)
                s->mixed++;
            if (h.n != s->want_n[s->searches % 3])
                s->wrong_n++;
            kb_hits_free(&h);
        }
        s->searches++;
    }
    return NULL;
}

/* A copy of kb/sample with "/genb/" put into every url. */
static void make_gen_b(const char *dst)
{
    DIR *d = opendir(SAMPLE);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 4 || de->d_name[0] == '.' || strcmp(de->d_name + l - 3, ".md") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", SAMPLE, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        struct buf out;
        buf_init(&out, 4 * KB_DOC_MAX_BYTES);
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            const char *host = "https://support.example.com/";
            if (strncmp(line, "url: ", 5) == 0 && strncmp(line + 5, host, strlen(host)) == 0)
                buf_printf(&out, "url: %sgenb/%s", host, line + 5 + strlen(host));
            else
                buf_puts(&out, line);
        }
        fclose(f);
        write_file(dst, de->d_name, out.data, out.len);
        buf_free(&out);
    }
    if (d)
        closedir(d);
}

static void test_concurrent_search_during_import(void)
{
    char genb[256], db[256], err[512];
    make_dir(genb, sizeof genb, "genb");
    make_gen_b(genb);
    snprintf(db, sizeof db, "%s/busy.sqlite", tmp_root);
    struct kb_local *w = import_into(db, SAMPLE, NULL);
    struct kb_local *r = kb_local_open(db, false, err, sizeof err);
    CHECK(w && r);
    if (!w || !r) {
        kb_local_close(w);
        kb_local_close(r);
        return;
    }
    enum { NT = 16, IMPORTS = 8 };
    int stop = 0;
    struct searcher s[NT];
    pthread_t th[NT];
    size_t want[3];
    for (int q = 0; q < 3; q++) {
        struct kb_hits h;
        CHECK(kb_local_search(r, busy_queries[q], strlen(busy_queries[q]), NULL, 0, 10, 0, &h,
                              err, sizeof err) == 0);
        CHECK(h.n >= 5);
        want[q] = h.n;
        kb_hits_free(&h);
    }
    for (int i = 0; i < NT; i++) {
        s[i] = (struct searcher){.kb = r, .stop = &stop};
        memcpy(s[i].want_n, want, sizeof want);
        CHECK(pthread_create(&th[i], NULL, search_loop, &s[i]) == 0);
    }
    int import_errors = 0;
    for (int i = 0; i < IMPORTS; i++) {
        struct kb_import_stats st;
        if (kb_local_import_dir(w, i % 2 ? SAMPLE : genb, &st, err, sizeof err) < 0) {
            import_errors++;
            fprintf(stderr, "    import error: %s\n", err);
        }
    }
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    long searches = 0, errors = 0, mixed = 0, wrong_n = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        searches += s[i].searches;
        errors += s[i].errors;
        mixed += s[i].mixed;
        wrong_n += s[i].wrong_n;
    }
    fprintf(stderr, "    %d imports, %ld searches from %d threads\n", IMPORTS, searches, NT);
    CHECK(import_errors == 0);
    CHECK(errors == 0);
    CHECK(mixed == 0);
    CHECK(wrong_n == 0);
    CHECK(searches >= NT * 3);
    kb_local_close(r);
    kb_local_close(w);
    remove_tree(genb);
}

int main(void)
{
    log_init("test_kb_local", LOG_ERROR); /* skipped documents are expected here */
    snprintf(tmp_root, sizeof tmp_root, "/tmp/test_kb_local.XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sample_db, sizeof sample_db, "%s/sample.sqlite", tmp_root);
    RUN(test_doc_front_matter);
    RUN(test_doc_without_front_matter);
    RUN(test_doc_title_fallback);
    RUN(test_doc_crlf);
    RUN(test_doc_errors);
    RUN(test_query_terms);
    RUN(test_query_terms_caps);
    RUN(test_import_sample);
    if (sample) {
        RUN(test_rank_refund_en);
        RUN(test_rank_refund_ko);
        RUN(test_rank_paul_through_aliases);
        RUN(test_nothing_relevant);
        RUN(test_search_k_and_threshold);
        RUN(test_search_context);
    }
    RUN(test_word_rules_and_ties);
    RUN(test_import_skips_and_refusals);
    RUN(test_open_errors);
    RUN(test_concurrent_search_during_import);
    kb_local_close(sample);
    remove_tree(tmp_root);
    return test_summary();
}
