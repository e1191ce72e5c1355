/* fuzz_kb_search: arbitrary questions and extra terms through a real search.
 *
 * A small index (Korean, English, quotes, CRLF, emoji and other four-byte characters, text
 * that trigram hits land inside words of) is built once in a temp dir. The input is the
 * question up to the first "\n", then one extra term per line. No question may make a search
 * fail (a quote breaking the FTS5 query, a hit counted past a column's end): it returns 0,
 * at most k hits, best first, every score in [min_score, 1) and every string set. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb/kb_local.h"
#include "core/log.h"

#include "fuzz_query_input.h"

#define MAX_EXTRA 16

static struct kb_local *kb;
static char dir[64];

static const char *const docs[][2] = {
    {"refund-en.md", "---\ntitle: Refund \"Policy\"\nurl: https://support.example.com/r\n"
                     "keywords: refund, 환불, \"quoted\"\nlang: en\n---\n# Refund\n"
                     "Refunds within 7 days. A comparison of prices; your password.\n"},
    {"refund-ko.md", "---\ntitle: 환불 정책\nkeywords: 환불, 결제\nlang: ko\n---\r\n"
                     "유료 재화는 7일 이내에 환불을 신청할 수 있습니다.\r\n환불은 3~5일.\r\n"},
    {"emoji.md", "Level up 😀😀 with XP, XP를 모아 레벨업! 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and ﬁ ligatures.\n"
                 "\"Quotes\" and 'single' and `ticks` OR AND NOT NEAR * ^ : ( )\n"},
    {"long.md", "# Paul\nPaul and Hogan (공대한) and Agent C (에이전트 C). Éé ÀÀ ß ﬀ İ.\n"},
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    kb_local_close(kb);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    log_init("fuzz_kb_search", LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/fuzz_kb_search.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    char path[128], err[256];
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, docs[i][0]);
        FILE *f = fopen(path, "w");
        if (!f || fputs(docs[i][1], f) < 0 || fclose(f) != 0)
            abort();
    }
    snprintf(path, sizeof path, "%s/index.sqlite", dir);
    struct kb_local *w = kb_local_open(path, true, err, sizeof err);
    struct kb_import_stats st;
    if (!w || kb_local_import_dir(w, dir, &st, err, sizeof err) < 0 || st.docs != 4) {
        fprintf(stderr, "fuzz_kb_search: %s\n", err);
        abort();
    }
    kb_local_close(w);
    kb = kb_local_open(path, false, err, sizeof err);
    if (!kb)
        abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_query f;
    fuzz_query_split(data, size, MAX_EXTRA, &f);
    double min_score = size ? (data[size - 1] % 4) / 10.0 : 0; /* 0, 0.1, 0.2, 0.3 */
    size_t k = size ? 1 + data[0] % KB_MAX_HITS : 5;
    struct kb_hits h;
    char err[256];
    if (kb_local_search(kb, f.q, f.qlen, f.extra, f.n_extra, k, min_score, &h, err, sizeof err) < 0) {
        fprintf(stderr, "search failed: %s\n", err);
        abort();
    }
    if (h.n > k)
        abort();
    for (size_t i = 0; i < h.n; i++) {
        if (!h.hit[i].title || !h.hit[i].url || !h.hit[i].text || !h.hit[i].text[0] ||
            h.hit[i].score < min_score || h.hit[i].score >= 1 ||
            (i > 0 && h.hit[i].score > h.hit[i - 1].score))
            abort();
    }
    kb_hits_free(&h);
    fuzz_query_free(&f);
    return 0;
}
