/* retrieval: the retrieval eval — how often the passages a chat's models are given include a
 * document that answers the question (hit@5), over the questions of tests/eval/questions.tsv
 * (as players type them, in both languages, many about a document in the other language),
 * against kb/sample imported into a temporary index with the kb library and searched as
 * nova-fcgi searches it (KNOWLEDGE_TOP passages at or above KB_MIN_SCORE_DEFAULT), with the
 * real glossary (config/game_glossary.json). Two policies, both through fcgi-app/lookup.h:
 *
 *   before  every question that is translated (lookup_translates) is translated first and
 *           searched with both wordings and the entities of both: what chat.c did until
 *           the translation moved beside the answers;
 *   after   what chat.c does now: the question as asked with its entities' glossary names;
 *           translate-then-search only when that found nothing it is sure of
 *           (lookup_translate_first with LOOKUP_SURE_SCORE).
 *
 * It also reports, unchecked, the simplest policy of the two: translate first only when the
 * search as asked found nothing at all — to show what the second threshold is for.
 *
 * The translation is the file's human reference translation, so the eval is offline and
 * deterministic. It prints every miss and every question the policies disagree on, then
 * hit@1 and hit@5 of both, overall and by kind (UI language × question language), and how
 * many questions wait for a translation under each. Checks: the question set has at least
 * EVAL_MIN_QUESTIONS entries and every expected document exists; after's hit@5 is at least
 * EVAL_FLOOR_HIT5 and not lower than before's. The last line is "N passed, N failed".
 *
 * Run from the repository's top (tests/run does): build/release/tests/eval/retrieval
 * [QUESTIONS [KB_DIR [GLOSSARY]]]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "fcgi-app/knowledge.h"
#include "fcgi-app/lookup.h"
#include "kb/kb_local.h"
#include "product/glossary.h"
#include "product/lang.h"
#include "product/synonyms.h"
#include "tests/unit/test.h"

#define EVAL_MIN_QUESTIONS 60
#define EVAL_FLOOR_HIT5 0.96  /* after's hit@5 must not fall below this (measured: 0.990 with
                                 the synonyms; 0.976 before them, on the first 82) */
#define EVAL_MIN_DIALOGUES 30  /* and as many follow-up turns */
#define EVAL_FLOOR_FOLLOW5 0.85 /* follow-ups' hit@5 in the conversation (measured: 0.895;
                                   alone, as on main: 0.395) */
#define EVAL_FLOOR_CHANGE5 0.95 /* changes of topic's hit@5 (measured: 1.000) */
#define EVAL_MAX_QUESTIONS 500
#define EVAL_MAX_EXPECT 4
#define EVAL_LINE_MAX 4096

enum turn_kind { TURN_FIRST, TURN_FOLLOW, TURN_CHANGE, TURN_KINDS };

struct question {
    char dialogue[32];   /* dialogues only: its id */
    enum turn_kind kind; /* dialogues only */
    enum lang ui, input;
    char *question, *reference;
    char *expect_url[EVAL_MAX_EXPECT];
    size_t n_expect;
    int line;
};

struct outcome {
    int rank;     /* 1-based rank of the first expected document, 0 when not among the hits */
    bool waited;  /* the question was translated before its search */
    double best;  /* the score of the first passage as asked (0: none) */
    char top[3][200];
};

static struct question qs[EVAL_MAX_QUESTIONS], ds[EVAL_MAX_QUESTIONS];
static size_t n_qs, n_ds;

/* The url of kb_dir/<stem>.md, or NULL (the file is missing or not a document). */
static char *doc_url(const char *kb_dir, const char *stem, size_t stem_len)
{
    char path[1024], err[256], name[300];
    snprintf(name, sizeof name, "%.*s.md", (int)stem_len, stem);
    snprintf(path, sizeof path, "%s/%s", kb_dir, name);
    struct buf b;
    buf_init(&b, KB_DOC_MAX_BYTES);
    char *url = NULL;
    struct kb_doc d;
    if (buf_read_file(&b, path, err, sizeof err) == 0 &&
        kb_doc_parse(buf_cstr(&b), b.len, name, &d, err, sizeof err) == 0) {
        url = strdup(d.url);
        kb_doc_free(&d);
    }
    if (!url)
        fprintf(stderr, "expected document %s: %s\n", path, err);
    buf_free(&b);
    return url;
}

/* One line "ui\texpect\tquestion\treference" (questions) or "dialogue\tui\tkind\texpect\t
 * question\treference" (dialogues, want 6) into q. Returns 0 or -1 (printed). */
static int parse_line(char *line, int no, const char *kb_dir, size_t want, struct question *q)
{
    char *f[6];
    size_t n = 0;
    for (char *p = line; p; n++) {
        char *tab = strchr(p, '\t');
        if (n < 6)
            f[n] = p;
        if (tab)
            *tab = '\0';
        p = tab ? tab + 1 : NULL;
    }
    if (n != want) {
        fprintf(stderr, "line %d: want %zu tab-separated columns, not %zu\n", no, want, n);
        return -1;
    }
    memset(q, 0, sizeof *q);
    q->line = no;
    if (want == 6) {
        static const char *const kinds[] = {"first", "follow", "change"};
        snprintf(q->dialogue, sizeof q->dialogue, "%s", f[0]);
        q->kind = TURN_KINDS;
        for (int k = 0; k < TURN_KINDS; k++)
            if (strcmp(f[2], kinds[k]) == 0)
                q->kind = (enum turn_kind)k;
        if (!f[0][0] || q->kind == TURN_KINDS) {
            fprintf(stderr, "line %d: a dialogue id, and kind first, follow or change\n", no);
            return -1;
        }
        char *ui = f[1], *expect = f[3], *question = f[4], *reference = f[5];
        f[0] = ui; /* the columns below: ui, expect, question, reference */
        f[1] = expect;
        f[2] = question;
        f[3] = reference;
    }
    q->ui = lang_from_code(f[0]);
    if (q->ui == LANG_UNKNOWN || !f[2][0] || !f[3][0]) {
        fprintf(stderr, "line %d: ui must be ko or en, question and reference not empty\n", no);
        return -1;
    }
    for (char *s = f[1]; *s && q->n_expect < EVAL_MAX_EXPECT;) {
        size_t k = strcspn(s, ",");
        if (!(q->expect_url[q->n_expect] = doc_url(kb_dir, s, k)))
            return -1;
        q->n_expect++;
        s += k + (s[k] == ',');
    }
    q->question = strdup(f[2]);
    q->reference = strdup(f[3]);
    q->input = lang_detect(q->question, strlen(q->question));
    if (q->input == LANG_UNKNOWN)
        q->input = q->ui;
    return q->n_expect ? 0 : -1;
}

/* The lines of path into out[*n..]: want 4 columns (questions) or 6 (dialogues). */
static int load_questions(const char *path, const char *kb_dir, size_t want,
                          struct question *out, size_t *n_out)
{
    struct buf b;
    char err[256];
    buf_init(&b, EVAL_MAX_QUESTIONS * EVAL_LINE_MAX);
    if (buf_read_file(&b, path, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        buf_free(&b);
        return -1;
    }
    int rc = 0, no = 0;
    for (char *line = b.data, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        no++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') /* a file saved with CRLF line ends */
            line[len - 1] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        if (*n_out == EVAL_MAX_QUESTIONS || parse_line(line, no, kb_dir, want, &out[*n_out]) < 0) {
            rc = -1;
            continue;
        }
        (*n_out)++;
    }
    buf_free(&b);
    return rc;
}

/* One search the way knowledge.c's local backend does it; the outcome's rank and titles. */
static int search(struct kb_local *kb, const struct question *q, const struct lookup *l,
                  const char *translation, struct outcome *o)
{
    struct buf query;
    char err[256];
    buf_init(&query, 3 * EVAL_LINE_MAX);
    lookup_query(&query, q->question, strlen(q->question), translation,
                 translation ? strlen(translation) : 0);
    struct kb_hits h;
    int rc = kb_local_search_ctx(kb, query.data, query.len, l->terms, l->n_terms,
                                 lookup_context(l), KNOWLEDGE_TOP, KB_MIN_SCORE_DEFAULT, &h,
                                 err, sizeof err);
    buf_free(&query);
    if (rc < 0) {
        fprintf(stderr, "line %d: search: %s\n", q->line, err);
        return -1;
    }
    o->rank = 0;
    o->best = h.n ? h.hit[0].score : 0;
    memset(o->top, 0, sizeof o->top);
    for (size_t i = 0; i < h.n; i++) {
        if (i < 3)
            snprintf(o->top[i], sizeof o->top[i], "%s (%.2f)", h.hit[i].title, h.hit[i].score);
        for (size_t k = 0; k < q->n_expect && !o->rank; k++)
            if (strcmp(h.hit[i].url, q->expect_url[k]) == 0)
                o->rank = (int)i + 1;
    }
    size_t n = h.n;
    kb_hits_free(&h);
    return (int)n;
}

static int run_before(struct kb_local *kb, const struct glossary *g, const struct question *q,
                      struct outcome *o)
{
    struct lookup l;
    lookup_init(&l);
    lookup_add_text(&l, g, q->question, strlen(q->question));
    o->waited = lookup_translates(q->ui, q->input);
    if (o->waited)
        lookup_add_text(&l, g, q->reference, strlen(q->reference));
    return search(kb, q, &l, o->waited ? q->reference : NULL, o);
}

/* chat.c's search: the question as asked with its entities, its synonyms (syn NULL: none)
 * and, for a follow-up, the session's previous questions (previous: oldest first, one a
 * line; NULL: none); translate-then-search when that found nothing it is sure of. */
static int run_policy(struct kb_local *kb, const struct glossary *g, const struct synonyms *syn,
                      const struct question *q, const char *previous, double sure,
                      struct outcome *o)
{
    struct lookup l;
    lookup_init(&l);
    lookup_add_text(&l, g, q->question, strlen(q->question));
    lookup_add_synonyms(&l, g, syn, q->question, strlen(q->question));
    if (previous && lookup_follows_up(q->question, strlen(q->question)))
        lookup_set_context(&l, g, syn, q->question, strlen(q->question), previous,
                           strlen(previous));
    int n = search(kb, q, &l, NULL, o);
    o->waited = n >= 0 && lookup_translate_first(q->ui, q->input, (size_t)n, o->best, sure);
    if (getenv("EVAL_VERBOSE"))
        printf("# line %d [%s UI, %s] as asked: rank %d, best %.3f\n", q->line,
               lang_code(q->ui), lang_code(q->input), o->rank, o->best);
    if (!o->waited)
        return n;
    lookup_add_text(&l, g, q->reference, strlen(q->reference));
    return search(kb, q, &l, q->reference, o);
}

/* Counts by kind: UI language × question language. */
struct counts {
    size_t n, hit1, hit5, waited;
};

static const char *kind_name(size_t k)
{
    static const char *const names[] = {"ko question, ko UI", "en question, ko UI",
                                        "ko question, en UI", "en question, en UI", "all"};
    return names[k];
}

static void count(struct counts *c, const struct outcome *o)
{
    c->n++;
    c->hit1 += o->rank == 1;
    c->hit5 += o->rank >= 1;
    c->waited += o->waited;
}

/* A question either policy missed, or one they rank differently. */
static void print_difference(const struct question *q, const struct outcome *b,
                             const struct outcome *a)
{
    if (a->rank && a->rank == b->rank)
        return;
    printf("# line %d [%s UI, %s] %s\n#   before: rank %d%s, after: rank %d%s (0: missed)\n",
           q->line, lang_code(q->ui), lang_code(q->input), q->question, b->rank,
           b->waited ? " (translated first)" : "", a->rank, a->waited ? " (translated first)" : "");
    if (!a->rank)
        printf("#   after's passages: %s | %s | %s\n", a->top[0][0] ? a->top[0] : "(none)",
               a->top[1], a->top[2]);
}

static double share(size_t x, size_t n)
{
    return n ? (double)x / (double)n : 0;
}

static const char *questions_path, *kb_dir, *glossary_path, *synonyms_path, *dialogues_path;
static struct glossary *glossary;
static struct synonyms *synonyms;
static struct kb_local *kb;
static char dir[] = "/tmp/nova-eval.XXXXXX", db[300];

static void test_question_set(void)
{
    CHECK(load_questions(questions_path, kb_dir, 4, qs, &n_qs) == 0); /* the documents exist */
    CHECK(n_qs >= EVAL_MIN_QUESTIONS);
    size_t kinds[4] = {0};
    for (size_t i = 0; i < n_qs; i++)
        kinds[(qs[i].ui == LANG_EN) * 2 + (qs[i].input == LANG_EN)]++;
    printf("# %zu questions: %zu ko/ko, %zu en in ko UI, %zu ko in en UI, %zu en/en\n", n_qs,
           kinds[0], kinds[1], kinds[2], kinds[3]);
    for (size_t k = 0; k < 4; k++)
        CHECK(kinds[k] >= 5); /* every kind is measured */
}

static void test_dialogue_set(void)
{
    CHECK(load_questions(dialogues_path, kb_dir, 6, ds, &n_ds) == 0);
    size_t dialogues = 0, kinds[TURN_KINDS] = {0}, ko = 0, en = 0;
    for (size_t i = 0; i < n_ds; i++) {
        bool starts = i == 0 || strcmp(ds[i].dialogue, ds[i - 1].dialogue) != 0;
        /* A dialogue opens with its first turn, and only there. */
        CHECK(starts == (ds[i].kind == TURN_FIRST));
        dialogues += starts;
        kinds[ds[i].kind]++;
        if (starts)
            ko += ds[i].input == LANG_KO, en += ds[i].input == LANG_EN;
    }
    printf("# %zu dialogues (%zu opened in Korean, %zu in English): %zu first turns, %zu "
           "follow-ups, %zu changes of topic\n",
           dialogues, ko, en, kinds[TURN_FIRST], kinds[TURN_FOLLOW], kinds[TURN_CHANGE]);
    CHECK(dialogues >= EVAL_MIN_DIALOGUES);
    CHECK(kinds[TURN_FOLLOW] >= EVAL_MIN_DIALOGUES);
    CHECK(kinds[TURN_CHANGE] >= 5 && ko >= 5 && en >= 5);
}

static void test_index(void)
{
    char err[256];
    glossary = glossary_load_file(glossary_path, err, sizeof err);
    if (!glossary)
        fprintf(stderr, "  %s\n", err);
    CHECK(glossary != NULL);
    synonyms = synonyms_load_file(synonyms_path, err, sizeof err);
    if (!synonyms)
        fprintf(stderr, "  %s\n", err);
    CHECK(synonyms != NULL);
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(db, sizeof db, "%s/kb.db", dir);
    struct kb_import_stats st = {0};
    kb = kb_local_open(db, true, err, sizeof err);
    int rc = kb ? kb_local_import_dir(kb, kb_dir, &st, err, sizeof err) : -1;
    if (kb)
        kb_local_close(kb);
    kb = rc == 0 ? kb_local_open(db, false, err, sizeof err) : NULL;
    if (!kb)
        fprintf(stderr, "  the index of %s: %s\n", kb_dir, err);
    CHECK(kb != NULL && st.docs > 0);
}

static void test_policies(void)
{
    struct counts before[5] = {{0}}, after[5] = {{0}}, nothing = {0}, plain = {0};
    bool ok = kb && glossary && synonyms && n_qs > 0;
    for (size_t i = 0; ok && i < n_qs; i++) {
        struct outcome b, a, z, p;
        if (run_before(kb, glossary, &qs[i], &b) < 0 ||
            run_policy(kb, glossary, synonyms, &qs[i], NULL, LOOKUP_SURE_SCORE, &a) < 0 ||
            run_policy(kb, glossary, synonyms, &qs[i], NULL, 0, &z) < 0 ||
            run_policy(kb, glossary, NULL, &qs[i], NULL, LOOKUP_SURE_SCORE, &p) < 0) {
            ok = false;
            break;
        }
        print_difference(&qs[i], &b, &a);
        if (p.rank != a.rank)
            printf("# line %d: without the synonyms rank %d, with them %d\n", qs[i].line,
                   p.rank, a.rank);
        size_t k = (qs[i].ui == LANG_EN) * 2 + (qs[i].input == LANG_EN);
        count(&before[k], &b);
        count(&after[k], &a);
        count(&before[4], &b);
        count(&after[4], &a);
        count(&nothing, &z);
        count(&plain, &p);
    }
    CHECK(ok);
    printf("# %-20s %4s  %-15s  %-15s  %s\n", "questions", "n", "hit@1 bef/aft",
           "hit@5 bef/aft", "translated first bef/aft");
    for (size_t k = 0; k < 5; k++)
        printf("# %-20s %4zu  %.3f / %.3f    %.3f / %.3f    %zu / %zu\n", kind_name(k),
               before[k].n, share(before[k].hit1, before[k].n),
               share(after[k].hit1, after[k].n), share(before[k].hit5, before[k].n),
               share(after[k].hit5, after[k].n), before[k].waited, after[k].waited);
    double h5b = share(before[4].hit5, before[4].n), h5a = share(after[4].hit5, after[4].n);
    printf("# hit@5: before %.3f, after %.3f (floor %.2f); translated before the search: "
           "before %zu, after %zu of %zu questions\n",
           h5b, h5a, EVAL_FLOOR_HIT5, before[4].waited, after[4].waited, after[4].n);
    printf("# without the synonyms (%s): hit@1 %.3f, hit@5 %.3f, %zu wait\n", synonyms_path,
           share(plain.hit1, plain.n), share(plain.hit5, plain.n), plain.waited);
    printf("# translating first only when nothing at all was found: hit@1 %.3f, hit@5 %.3f, "
           "%zu wait\n", share(nothing.hit1, nothing.n), share(nothing.hit5, nothing.n),
           nothing.waited);
    CHECK(h5a >= EVAL_FLOOR_HIT5);
    CHECK(after[4].hit5 >= before[4].hit5);
    CHECK(after[4].hit5 >= plain.hit5); /* the synonyms lose no question */
}

static void test_dialogues(void)
{
    static const char *const names[] = {"first turns", "follow-ups", "changes of topic"};
    struct counts alone[TURN_KINDS] = {{0}}, conv[TURN_KINDS] = {{0}};
    bool ok = kb && glossary && synonyms && n_ds > 0;
    struct buf previous;
    buf_init(&previous, 64 * 1024);
    const char *const verbose = getenv("EVAL_VERBOSE");
    for (size_t i = 0; ok && i < n_ds; i++) {
        const struct question *q = &ds[i];
        if (q->kind == TURN_FIRST)
            buf_reset(&previous);
        struct outcome a, c;
        /* alone: each turn searched by itself, as on main; conversation: chat.c now, with the
         * questions of the session's last SESSION_PROMPT_TURNS (2) turns. */
        if (run_policy(kb, glossary, NULL, q, NULL, LOOKUP_SURE_SCORE, &a) < 0 ||
            run_policy(kb, glossary, synonyms, q, buf_cstr(&previous), LOOKUP_SURE_SCORE, &c) <
                0) {
            ok = false;
            break;
        }
        if (verbose || a.rank != c.rank || !c.rank) {
            printf("# %s line %d [%s] %s: alone rank %d, in the conversation %d%s\n",
                   q->dialogue, q->line, names[q->kind], q->question, a.rank, c.rank,
                   lookup_follows_up(q->question, strlen(q->question)) ? " (a follow-up)" : "");
            if (!c.rank)
                printf("#   its passages: %s | %s | %s\n", c.top[0][0] ? c.top[0] : "(none)",
                       c.top[1], c.top[2]);
        }
        count(&alone[q->kind], &a);
        count(&conv[q->kind], &c);
        /* The session keeps the last two turns' questions, one a line. */
        const char *nl = strchr(buf_cstr(&previous), '\n');
        if (previous.len && nl && strchr(nl + 1, '\n')) {
            size_t drop = (size_t)(nl + 1 - previous.data);
            memmove(previous.data, previous.data + drop, previous.len - drop + 1);
            previous.len -= drop;
        }
        buf_printf(&previous, "%s\n", q->question);
    }
    buf_free(&previous);
    CHECK(ok);
    printf("# %-18s %4s  %-21s  %s\n", "dialogue turns", "n", "hit@1 alone/conv",
           "hit@5 alone/conv");
    for (int k = 0; k < TURN_KINDS; k++)
        printf("# %-18s %4zu  %.3f / %.3f         %.3f / %.3f\n", names[k], conv[k].n,
               share(alone[k].hit1, alone[k].n), share(conv[k].hit1, conv[k].n),
               share(alone[k].hit5, alone[k].n), share(conv[k].hit5, conv[k].n));
    double follow = share(conv[TURN_FOLLOW].hit5, conv[TURN_FOLLOW].n);
    double change = share(conv[TURN_CHANGE].hit5, conv[TURN_CHANGE].n);
    printf("# follow-ups hit@5: alone %.3f, in the conversation %.3f (floor %.2f); changes of "
           "topic hit@5 %.3f (floor %.2f)\n",
           share(alone[TURN_FOLLOW].hit5, alone[TURN_FOLLOW].n), follow, EVAL_FLOOR_FOLLOW5,
           change, EVAL_FLOOR_CHANGE5);
    CHECK(follow >= EVAL_FLOOR_FOLLOW5);
    CHECK(change >= EVAL_FLOOR_CHANGE5);
    /* A change of topic is not dragged back, and a first turn has no conversation. */
    CHECK(conv[TURN_CHANGE].hit1 >= alone[TURN_CHANGE].hit1);
    CHECK(conv[TURN_FIRST].hit5 >= alone[TURN_FIRST].hit5);
}

int main(int argc, char **argv)
{
    questions_path = argc > 1 ? argv[1] : "tests/eval/questions.tsv";
    kb_dir = argc > 2 ? argv[2] : "kb/sample";
    glossary_path = argc > 3 ? argv[3] : "config/game_glossary.json";
    synonyms_path = argc > 4 ? argv[4] : "config/synonyms.tsv";
    dialogues_path = argc > 5 ? argv[5] : "tests/eval/dialogues.tsv";
    RUN(test_question_set);
    RUN(test_dialogue_set);
    RUN(test_index);
    RUN(test_policies);
    RUN(test_dialogues);
    if (kb)
        kb_local_close(kb);
    glossary_free(glossary);
    synonyms_free(synonyms);
    for (size_t i = 0; i < n_qs + n_ds; i++) {
        struct question *q = i < n_qs ? &qs[i] : &ds[i - n_qs];
        free(q->question);
        free(q->reference);
        for (size_t k = 0; k < q->n_expect; k++)
            free(q->expect_url[k]);
    }
    if (db[0]) {
        static const char *const ends[] = {"", "-wal", "-shm"};
        char f[340];
        for (size_t i = 0; i < 3; i++) {
            snprintf(f, sizeof f, "%s%s", db, ends[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    return test_summary();
}
