/* lang: which language a question is written in, from its letters alone (no I/O).
 *
 * Hangul (syllables U+AC00..U+D7A3 and the jamo blocks) counts for Korean, Latin letters for
 * English. A Hangul syllable is a whole spoken syllable, so it weighs as much as LANG_HANGUL_WEIGHT
 * Latin letters: "폴이 level up 안 돼요" is Korean, "How do I level 폴?" is English. A jamo
 * ("ㅎㅇ", "ㅋㅋ") weighs as one letter; Latin letters include accented and fullwidth ones; a
 * tie goes to Korean, the service's first language. Text with no letters of either (emoji,
 * digits, punctuation, "?", Chinese characters) is LANG_UNKNOWN: the caller keeps the UI
 * language and translates nothing. */
#ifndef NOVA_LANG_H
#define NOVA_LANG_H

#include <stddef.h>

enum lang { LANG_UNKNOWN = 0, LANG_KO, LANG_EN };

#define LANG_HANGUL_WEIGHT 3

/* text[0..len) is valid UTF-8. */
enum lang lang_detect(const char *text, size_t len);
/* "ko", "en" or "unknown". */
const char *lang_code(enum lang l);
/* "Korean", "English" (for prompts); NULL for LANG_UNKNOWN. */
const char *lang_name(enum lang l);
/* LANG_KO for "ko", LANG_EN for "en", else LANG_UNKNOWN. */
enum lang lang_from_code(const char *code);

#endif
