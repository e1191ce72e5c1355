/* gapgroup: the content editor's to-write list from the recorded gaps (nova:gaps, written by
 * fcgi-app/gaps.c, read by `novactl kb gaps`), with no I/O. Near-identical questions are one
 * group: each question is normalised (gapgroup_normalise), and the entries with the same
 * normal form are counted, with when the group was first and last seen, the newest wording,
 * its languages, the reasons, and the newest best match. Groups come out newest first.
 *
 * The normal form drops what players vary without meaning anything else:
 *   - ASCII and Latin-1 letters lower-cased; full-width ASCII (Ｑ, ？) as ASCII;
 *   - Hangul written as conjoining jamo (ᄒ ᅡ ᆫ) composed into syllables (한), as NFC does;
 *   - punctuation (ASCII, general punctuation, CJK punctuation, full-width forms) and every
 *     blank (ASCII, NBSP, U+2000-U+200A, U+3000...) as one space, trimmed at both ends; an
 *     apostrophe inside a word dropped ("what's" = "whats"); zero-width characters dropped;
 *   - Korean words as they are: no particle is stripped, so "환불은" and "환불" stay apart.
 * Invalid UTF-8 bytes are dropped. */
#ifndef NOVA_GAPGROUP_H
#define NOVA_GAPGROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define GAPGROUP_QUESTION_MAX 1000 /* bytes of a question compared (the recorder's cap) */

/* The normal form of q[0..len) appended to out (at most 4 * GAPGROUP_QUESTION_MAX bytes are
 * read of q). Returns 0, or -1 (out full). */
int gapgroup_normalise(const char *q, size_t len, struct buf *out);

enum gap_reason { GAP_NO_DOCUMENTS, GAP_WEAK, GAP_GUARDRAIL, GAP_REASONS };
/* "no_documents", "weak", "guardrail"; and back (-1 for anything else). */
const char *gap_reason_name(enum gap_reason r);
int gap_reason_parse(const char *s);

/* One recorded gap, as read (the strings are the caller's, copied by gapgroup_add). */
struct gap_entry {
    const char *question;
    size_t question_len;
    long long ms;              /* when (epoch ms) */
    enum gap_reason reason;
    const char *input_lang, *ui_lang; /* "" when unknown */
    const char *best_title, *best_url; /* NULL: no passage */
    double best_score;
};

struct gap_group {
    char *key;                 /* the normal form */
    char *question;            /* the newest wording */
    char input_lang[8], ui_lang[8];
    size_t count;
    size_t reasons[GAP_REASONS];
    long long first_ms, last_ms;
    char *best_title, *best_url; /* the newest entry's with one; NULL when none had one */
    double best_score;
    long long best_ms;
};

struct gapgroup {
    struct gap_group *g;
    size_t n, cap;
    size_t *slot;              /* open addressing: index + 1 into g, 0 free */
    size_t n_slots;
    struct buf scratch;
};

void gapgroup_init(struct gapgroup *gg);
void gapgroup_free(struct gapgroup *gg);
/* Counts e into its group (a new one when its normal form is new; an empty normal form is a
 * group of its own, key ""). Entries may come in any order. Returns 0, or -1 (out of memory:
 * the alloc policy aborts first, so only an oversized question). */
int gapgroup_add(struct gapgroup *gg, const struct gap_entry *e);
/* Orders the groups newest last_ms first; equal times by count, then by key. After this,
 * no more gapgroup_add. */
void gapgroup_sort(struct gapgroup *gg);

#endif
