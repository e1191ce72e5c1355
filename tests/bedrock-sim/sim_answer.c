/* sim_answer: the simulated model's prose (see sim_answer.h). */
#include "sim_answer.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "sim_trigram.h"
#include "sim_util.h"

#define SENTENCE_MIN 6
#define SENTENCE_MAX 400
#define MICRO_SENTENCES 4
#define PRO_SENTENCES 7
#define MAX_SOURCES 5
#define RELEVANT_SHARE 0.3

struct sentence {
    const char *p;
    size_t n;
    size_t doc;   /* index into the prompt's documents */
    size_t order; /* position across all documents */
    int lang_ko;
    double overlap; /* share of the question's trigrams, 0..1 */
    double score;   /* overlap plus the document-rank bonus */
    int used;
    struct sim_trigrams tg;
};

struct sentences {
    struct sentence *v;
    size_t n, cap;
};

static const char *const openers_ko[] = {
    "문의하신 내용을 확인했습니다.",
    "문의해 주셔서 감사합니다.",
    "불편을 드려 죄송합니다. 확인된 내용을 안내해 드리겠습니다.",
};
static const char *const openers_en[] = {
    "Thanks for reaching out.",
    "Thank you for contacting us.",
    "Sorry for the trouble. Here is what we found.",
};
static const char *const fillers_ko[] = {
    "추가로 궁금하신 점이 있으면 언제든지 문의해 주세요.",
    "즐거운 모험이 되시길 바랍니다.",
    "폴과 함께하는 여정을 응원합니다.",
};
static const char *const fillers_en[] = {
    "If you have any other questions, feel free to ask.",
    "We hope you enjoy your adventure.",
    "Good luck on your journey with Paul.",
};
static const char *const caveat_words_ko[] = {"단,", "주의", "불가", "없습니다", "않습니다",
                                              "제한", "반드시"};
static const char *const caveat_words_en[] = {"note", "cannot", "can't", "not ", "only",
                                              "however", "unless", "must"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int sentence_lang_ko(const char *s, size_t n)
{
    size_t hangul = 0, ascii = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += sim_utf8_next(s + i, n - i, &cp);
        if (utf8_is_hangul(cp))
            hangul++;
        else if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            ascii++;
    }
    return hangul > 0 && hangul * 4 >= ascii;
}

static void add_sentence(struct sentences *ss, const char *p, size_t n, size_t doc)
{
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n < SENTENCE_MIN)
        return;
    if (n > SENTENCE_MAX)
        n = sim_utf8_floor(p, n, SENTENCE_MAX);
    for (size_t i = 0; i < ss->n; i++)
        if (ss->v[i].n == n && memcmp(ss->v[i].p, p, n) == 0)
            return; /* the same sentence from an overlapping passage */
    if (ss->n == ss->cap) {
        ss->cap = ss->cap ? ss->cap * 2 : 32;
        ss->v = xrealloc(ss->v, ss->cap * sizeof *ss->v);
    }
    struct sentence *s = &ss->v[ss->n];
    memset(s, 0, sizeof *s);
    s->p = p;
    s->n = n;
    s->doc = doc;
    s->order = ss->n;
    s->lang_ko = sentence_lang_ko(p, n);
    ss->n++;
}

/* Strips Markdown line markers; returns 0 for lines that are not prose (headings, tables,
 * fences, rules). */
static int prose_line(const char **p, size_t *n)
{
    while (*n > 0 && (**p == ' ' || **p == '\t'))
        (*p)++, (*n)--;
    if (*n == 0 || **p == '#' || **p == '|' || **p == '<' || (*n >= 3 && memcmp(*p, "```", 3) == 0) ||
        (*n >= 3 && memcmp(*p, "---", 3) == 0))
        return 0;
    if (*n >= 2 && (**p == '-' || **p == '*' || **p == '+' || **p == '>') && (*p)[1] == ' ')
        (*p) += 2, (*n) -= 2;
    size_t d = 0;
    while (d < *n && (*p)[d] >= '0' && (*p)[d] <= '9')
        d++;
    if (d > 0 && d + 1 < *n && ((*p)[d] == '.' || (*p)[d] == ')') && (*p)[d + 1] == ' ')
        (*p) += d + 2, (*n) -= d + 2;
    return *n > 0;
}

static void split_sentences(struct sentences *ss, const char *text, size_t doc)
{
    const char *t = text;
    while (*t) {
        const char *nl = strchr(t, '\n');
        size_t n = nl ? (size_t)(nl - t) : strlen(t);
        const char *p = t;
        t += n + (nl ? 1 : 0);
        if (!prose_line(&p, &n))
            continue;
        size_t start = 0;
        for (size_t i = 0; i < n; i++) {
            int end = (p[i] == '.' || p[i] == '?' || p[i] == '!') && (i + 1 == n || p[i + 1] == ' ');
            if (!end && i + 3 <= n && memcmp(p + i, "\xE3\x80\x82", 3) == 0) /* 。 */
                end = 1, i += 2;
            if (end) {
                add_sentence(ss, p + start, i + 1 - start, doc);
                start = i + 1;
            }
        }
        if (start < n)
            add_sentence(ss, p + start, n - start, doc);
    }
}

/* Appends a sentence, closing it with a full stop when the source line had none. */
static void put_sentence(struct buf *out, const struct sentence *s)
{
    buf_append(out, s->p, s->n);
    char last = s->p[s->n - 1];
    if (last != '.' && last != '?' && last != '!' && last != ':' &&
        !(s->n >= 3 && memcmp(s->p + s->n - 3, "\xE3\x80\x82", 3) == 0))
        buf_putc(out, '.');
}

static int cmp_by_score(const void *a, const void *b)
{
    const struct sentence *x = *(struct sentence *const *)a, *y = *(struct sentence *const *)b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_by_order(const void *a, const void *b)
{
    const struct sentence *x = *(struct sentence *const *)a, *y = *(struct sentence *const *)b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Scores the sentences in the answer's language against the question; returns them best
 * first in *ranked (owned by the caller) and their count. */
static size_t rank_sentences(struct sentences *ss, const struct sim_prompt *p,
                             struct sentence ***ranked)
{
    struct sentence **r = xmalloc((ss->n ? ss->n : 1) * sizeof *r);
    const struct sim_trigrams **corpus = xmalloc((ss->n ? ss->n : 1) * sizeof *corpus);
    size_t n = 0;
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->v[i].lang_ko != p->lang_ko)
            continue;
        sim_trigrams_build(&ss->v[i].tg, ss->v[i].p, ss->v[i].n);
        r[n] = &ss->v[i];
        corpus[n] = &ss->v[i].tg;
        n++;
    }
    struct sim_trigrams q;
    sim_trigrams_build(&q, p->question, p->question_len);
    double *w = xmalloc((q.n ? q.n : 1) * sizeof *w);
    sim_trigrams_idf(&q, corpus, n, w);
    for (size_t i = 0; i < n; i++) {
        /* Earlier documents were ranked higher by the retriever: a small bonus keeps them
         * first when the question says little. */
        double bonus = p->n_docs ? 0.05 * (double)(p->n_docs - r[i]->doc) / (double)p->n_docs : 0;
        r[i]->overlap = sim_trigrams_score(&q, &r[i]->tg, w);
        r[i]->score = r[i]->overlap + bonus;
    }
    qsort(r, n, sizeof *r, cmp_by_score);
    /* Keep what is about the question: at least RELEVANT_SHARE of the best overlap (and always
     * the best two, so a vague question still gets an answer from the passages). */
    double best = 0;
    for (size_t i = 0; i < n; i++)
        best = r[i]->overlap > best ? r[i]->overlap : best;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept < 2 || (r[i]->overlap > 0 && r[i]->overlap >= RELEVANT_SHARE * best))
            r[kept++] = r[i];
    n = kept;
    free(w);
    free(corpus);
    sim_trigrams_free(&q);
    *ranked = r;
    return n;
}

static void put_title_list(struct buf *out, const struct sim_prompt *p, int ko)
{
    size_t n = p->n_docs < 3 ? p->n_docs : 3;
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(out, i + 1 == n ? (ko ? ", " : " and ") : ", ");
        buf_printf(out, ko ? "「%s」" : "\"%s\"", p->docs[i].title);
    }
}

static void put_sources(struct buf *out, const struct sim_prompt *p, const int *doc_used)
{
    size_t shown = 0;
    for (size_t pass = 0; pass < 2 && shown == 0; pass++)
        for (size_t i = 0; i < p->n_docs && shown < MAX_SOURCES; i++) {
            if (pass == 0 && !doc_used[i])
                continue;
            buf_printf(out, "\n- %s", p->docs[i].title);
            if (p->docs[i].url[0])
                buf_printf(out, " (%s)", p->docs[i].url);
            shown++;
        }
}

static int is_caveat(const struct sentence *s, int ko)
{
    const char *const *words = ko ? caveat_words_ko : caveat_words_en;
    size_t nw = ko ? N_OF(caveat_words_ko) : N_OF(caveat_words_en);
    char *tmp = xstrndup(s->p, s->n);
    int hit = 0;
    for (size_t i = 0; i < nw && !hit; i++)
        hit = strcasestr(tmp, words[i]) != NULL;
    free(tmp);
    return hit;
}

/* An opening sentence; "sorry, here is what we found" only when something was found. */
static void put_opener(struct buf *out, int ko, int found, struct sim_rng *rng)
{
    uint32_t i = sim_rng_below(rng, 3);
    if (!found)
        i = 1;
    buf_puts(out, ko ? openers_ko[i] : openers_en[i]);
}

static void compose_micro(const struct sim_prompt *p, struct sentence **r, size_t nr,
                          struct sim_rng *rng, struct buf *out)
{
    int ko = p->lang_ko;
    put_opener(out, ko, nr > 0 || p->n_docs > 0, rng);
    if (nr == 0 && p->n_docs > 0) {
        buf_puts(out, ko ? " 관련 내용은 " : " This is covered in ");
        put_title_list(out, p, ko);
        buf_puts(out, ko ? " 문서에 안내되어 있습니다. 문서의 절차를 따라 진행해 보시고, 문제가 "
                           "계속되면 고객센터로 문의해 주세요."
                         : ". Please follow the steps there, and contact support if the problem "
                           "continues.");
    } else if (nr == 0) {
        buf_puts(out, ko ? " 현재 제공된 자료만으로는 정확한 답변을 드리기 어렵습니다. 고객센터 "
                           "1:1 문의로 계정 정보와 상황을 자세히 알려 주시면 담당자가 확인 후 "
                           "안내해 드리겠습니다."
                         : " The information available to me does not cover this question, so "
                           "I cannot give you a precise answer yet. Please contact our support "
                           "team with your account details and a short description of the "
                           "problem, and an agent will look into it.");
    } else {
        size_t take = nr < MICRO_SENTENCES ? nr : MICRO_SENTENCES;
        size_t first = take < 2 ? take : 2;
        for (size_t i = 0; i < first; i++) {
            buf_putc(out, ' ');
            put_sentence(out, r[i]);
        }
        if (take > first) {
            buf_puts(out, "\n\n");
            if (ko && sim_rng_below(rng, 2))
                buf_puts(out, "또한 ");
            for (size_t i = first; i < take; i++) {
                if (i > first)
                    buf_putc(out, ' ');
                put_sentence(out, r[i]);
            }
        }
    }
    buf_puts(out, ko ? "\n\n자세한 내용은 아래 상세 분석을 확인해 주세요."
                     : "\n\nSee the detailed analysis below for the steps.");
}

static void compose_pro(const struct sim_prompt *p, struct sentence **r, size_t nr,
                        struct sim_rng *rng, struct buf *out)
{
    int ko = p->lang_ko;
    int *doc_used = xcalloc(p->n_docs ? p->n_docs : 1, sizeof *doc_used);
    size_t take = nr < PRO_SENTENCES ? nr : PRO_SENTENCES;

    buf_puts(out, ko ? "## 상세 분석" : "## Detailed analysis");
    if (take > 0)
        buf_printf(out, ": %s", p->docs[r[0]->doc].title);
    else if (p->n_docs > 0)
        buf_printf(out, ": %s", p->docs[0].title);
    buf_puts(out, "\n\n");
    put_opener(out, ko, nr > 0 || p->n_docs > 0, rng);

    size_t step = 0;
    if (take > 0) {
        buf_putc(out, ' ');
        put_sentence(out, r[0]);
        r[0]->used = doc_used[r[0]->doc] = 1;
        /* The steps read in the documents' order, not by score. */
        struct sentence **steps = xmalloc(take * sizeof *steps);
        size_t ns = 0;
        for (size_t i = 1; i < take; i++)
            steps[ns++] = r[i];
        qsort(steps, ns, sizeof *steps, cmp_by_order);
        buf_puts(out, ko ? "\n\n### 단계별 안내" : "\n\n### Steps");
        for (size_t i = 0; i < ns; i++) {
            buf_printf(out, "\n%zu. ", ++step);
            put_sentence(out, steps[i]);
            steps[i]->used = doc_used[steps[i]->doc] = 1;
        }
        free(steps);
    } else {
        if (p->n_docs > 0) {
            buf_puts(out, ko ? " 관련 내용은 " : " This is covered in ");
            put_title_list(out, p, ko);
            buf_puts(out, ko ? " 문서에 안내되어 있습니다." : ".");
        } else {
            buf_puts(out, ko ? " 현재 제공된 자료에서는 이 문의에 대한 정보를 찾지 못했습니다."
                             : " The information available to me does not cover this question.");
        }
        buf_puts(out, ko ? "\n\n### 단계별 안내" : "\n\n### Steps");
        if (p->n_docs > 0) {
            buf_printf(out, ko ? "\n%zu. 「%s」 문서의 안내를 순서대로 확인해 주세요."
                               : "\n%zu. Read the guide \"%s\" and follow its steps in order.",
                       ++step, p->docs[0].title);
        }
    }
    if (step < 3)
        buf_printf(out, ko ? "\n%zu. 게임을 최신 버전으로 업데이트한 뒤 다시 시도해 주세요."
                           : "\n%zu. Update the game to the latest version and try again.",
                   ++step);
    if (step < 3)
        buf_printf(out, ko ? "\n%zu. 문제가 계속되면 고객센터 1:1 문의로 계정 정보와 함께 알려 "
                             "주세요."
                           : "\n%zu. If the problem continues, contact support with your "
                             "account details.",
                   ++step);

    buf_puts(out, ko ? "\n\n### 참고" : "\n\n### Caveats");
    const struct sentence *caveat = NULL;
    for (size_t i = 0; i < nr && !caveat; i++)
        if (!r[i]->used && is_caveat(r[i], ko))
            caveat = r[i];
    if (caveat) {
        buf_puts(out, "\n- ");
        put_sentence(out, caveat);
        doc_used[caveat->doc] = 1;
    }
    buf_puts(out, ko ? "\n- 계정 정보나 결제 정보는 공식 고객센터 외의 곳에 알려 주지 마세요."
                     : "\n- Never share your account or payment details outside the official "
                       "support site.");

    if (p->n_docs > 0) {
        buf_puts(out, ko ? "\n\n### 출처" : "\n\n### Sources");
        put_sources(out, p, doc_used);
    }
    free(doc_used);
}

void sim_answer_compose(const struct sim_prompt *p, uint64_t seed, struct buf *out)
{
    struct sim_rng rng;
    sim_rng_seed(&rng, seed);
    struct sentences ss = {0};
    for (size_t i = 0; i < p->n_docs; i++)
        split_sentences(&ss, p->docs[i].text, i);
    struct sentence **ranked;
    size_t nr = rank_sentences(&ss, p, &ranked);
    if (p->micro)
        compose_micro(p, ranked, nr, &rng, out);
    else
        compose_pro(p, ranked, nr, &rng, out);
    free(ranked);
    for (size_t i = 0; i < ss.n; i++)
        sim_trigrams_free(&ss.v[i].tg);
    free(ss.v);
}

void sim_answer_filler(int lang_ko, size_t i, struct buf *out)
{
    buf_puts(out, i == 0 ? "\n\n" : " ");
    buf_puts(out, lang_ko ? fillers_ko[i % N_OF(fillers_ko)] : fillers_en[i % N_OF(fillers_en)]);
}
