/* glossary: the game glossary (config/game_glossary.json: the glossary file of the system
 * dual-nova replaces, in its schema), loaded once, matched against questions, and formatted
 * into the system prompt. No I/O but glossary_load_file. The entry and match types
 * are in glossary_entry.h.
 *
 * Schema: a JSON object of sections ("characters", "game_terms", ... any name), each an object
 * from the canonical English name to {"description": str, "aliases": [str...], "type" | 
 * "category": str}. Unknown keys are ignored and null counts as absent; a wrong type, an empty
 * alias or text that is not UTF-8 is an error naming the entry ("\"characters\" / \"Paul\":
 * \"aliases\"[1] must be a string"). The Korean name of an entry is its first alias containing
 * Hangul (NULL when none) -- for Paul that is "주인공" (protagonist), not "폴".
 *
 * Matching (glossary_find): every alias and the canonical name, case-insensitively for ASCII.
 *  - Latin aliases match on word boundaries (not inside a longer word of letters or digits;
 *    "Paul's" matches Paul, and so does "Paul을"); inner blanks match any run of blanks
 *    ("agent   c"; blanks are ASCII whitespace, U+00A0 and U+3000).
 *  - Hangul aliases match at the start of a Hangul word (a run of syllables). Korean particles
 *    attach to nouns, so a match may continue: an alias of two or more syllables with anything
 *    ("공대한에게", "레벨업하려면"); an alias ending in a one-syllable word only with one or two
 *    stacked particles or the end of the word ("폴이", "폴은", "폴에게서는", "폴?"), so "폴더"
 *    (folder) is not Paul. Korean spacing is loose, so a blank beside Hangul may also be left
 *    out ("레어아이템" is "레어 아이템", "에이전트C" is "에이전트 C").
 *  - Longest match (in bytes of the text) wins where matches overlap, then the leftmost, then
 *    the glossary's order; each entry is reported once, at its first match, in the order of
 *    the text.
 * Matching allocates nothing for a question-sized text (up to 16 KiB and 64 candidate
 * matches). */
#ifndef NOVA_GLOSSARY_H
#define NOVA_GLOSSARY_H

#include <stddef.h>

#include "core/buf.h"
#include "product/glossary_entry.h"

struct glossary; /* opaque, immutable after loading: safe to share between threads */

/* Parses glossary JSON text[0..len). Returns the glossary, or NULL with errstr. Sizes are
 * capped (GLOSSARY_MAX_BYTES of text, GLOSSARY_MAX_ENTRIES entries, 64 aliases an entry). */
#define GLOSSARY_MAX_BYTES (4u * 1024u * 1024u)
#define GLOSSARY_MAX_ENTRIES 10000
struct glossary *glossary_parse(const char *text, size_t len, char *errstr, size_t errlen);
/* Reads and parses a file; errstr names the path. */
struct glossary *glossary_load_file(const char *path, char *errstr, size_t errlen);
void glossary_free(struct glossary *g);

size_t glossary_count(const struct glossary *g);
const struct glossary_entry *glossary_entry_at(const struct glossary *g, size_t i);

/* The entries found in text[0..len) (valid UTF-8), at most max of them, into out. Returns how
 * many were found (which may exceed max; only max are written). */
size_t glossary_find(const struct glossary *g, const char *text, size_t len,
                     struct glossary_match *out, size_t max);

/* The glossary as prompt text, appended to out: a "## <section>" line before each section's
 * entries, then one line per entry: the canonical name, its other English forms after " / ",
 * all its Korean forms in parentheses, the description after ": ", the type or category in
 * brackets (parts that are empty are left out; control characters become spaces):
 *   "- Paul (주인공, 폴): 주인공 캐릭터 이름 [protagonist]"
 *   "- Experience Points / XP (경험치): 캐릭터 성장을 위한 포인트 [basic]"
 * The same glossary always gives the same bytes (it is a cacheable prompt prefix). Returns 0,
 * or -1 (out full) with out left as it was. */
int glossary_format(const struct glossary *g, struct buf *out);

#endif
