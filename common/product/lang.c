/* lang: the language of a question from its letters (see lang.h). */
#include "product/lang.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"

/* Jamo: the conjoining block, compatibility jamo ("ㅎㅇ", "ㅋㅋ") and the two extensions. */
static bool is_hangul_jamo(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3131 && cp <= 0x318E) ||
           (cp >= 0xA960 && cp <= 0xA97C) || (cp >= 0xD7B0 && cp <= 0xD7FB);
}

/* ASCII letters, the letters of Latin-1 and Latin Extended-A/B ("café"), fullwidth A-Z a-z
 * (Korean keyboards type them). */
static bool is_latin_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    if (cp >= 0xC0 && cp <= 0x24F)
        return cp != 0xD7 && cp != 0xF7;
    return (cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A);
}

enum lang lang_detect(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t korean = 0, english = 0;
    size_t i = 0;
    while (i < len) {
        size_t used;
        uint32_t cp = utf8_decode((const char *)s + i, len - i, &used);
        i += used;
        if (utf8_is_hangul(cp))
            korean += LANG_HANGUL_WEIGHT;
        else if (is_hangul_jamo(cp))
            korean++; /* one jamo is one letter, not a spoken syllable */
        else if (is_latin_letter(cp))
            english++;
    }
    if (korean == 0 && english == 0)
        return LANG_UNKNOWN;
    /* A tie goes to Korean: the service is Korean first, and a Korean reader can still be
     * answered about English terms. */
    return korean >= english ? LANG_KO : LANG_EN;
}

const char *lang_code(enum lang l)
{
    switch (l) {
    case LANG_KO:
        return "ko";
    case LANG_EN:
        return "en";
    default:
        return "unknown";
    }
}

const char *lang_name(enum lang l)
{
    switch (l) {
    case LANG_KO:
        return "Korean";
    case LANG_EN:
        return "English";
    default:
        return NULL;
    }
}

enum lang lang_from_code(const char *code)
{
    if (code && strcmp(code, "ko") == 0)
        return LANG_KO;
    if (code && strcmp(code, "en") == 0)
        return LANG_EN;
    return LANG_UNKNOWN;
}
