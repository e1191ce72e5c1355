/* fuzz_kb_query: the search-term builder on arbitrary bytes.
 *
 * The input is the question up to the first "\n", then one extra term per line (as C strings:
 * a NUL ends a term early). Whatever comes in, the terms must keep kb_local.h's promises: at
 * most KB_MAX_TERMS, at most KB_MAX_QUERY_TERMS from the question, each NUL-terminated valid
 * UTF-8 of 2..KB_TERM_MAX_BYTES bytes with its length and character count right, no ASCII
 * capitals, no duplicates, the word flag set exactly for an ASCII letter or digit first;
 * question terms without blanks; extra terms without blanks at the ends or doubled. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_local.h"
#include "core/utf8.h"

#include "fuzz_query_input.h"

#define MAX_EXTRA 80

static bool alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_query f;
    fuzz_query_split(data, size, MAX_EXTRA, &f);

    static struct kb_terms t;
    size_t n = kb_query_terms(f.q, f.qlen, f.extra, f.n_extra, &t);
    if (n != t.n || n > KB_MAX_TERMS)
        abort();
    size_t from_query = 0;
    for (size_t i = 0; i < n; i++) {
        const struct kb_term *x = &t.t[i];
        if (x->len != strlen(x->text) || x->len < 2 || x->len > KB_TERM_MAX_BYTES ||
            !utf8_valid(x->text, x->len) || x->chars != utf8_count(x->text, x->len) ||
            x->chars < 2 || x->word != alnum((unsigned char)x->text[0]))
            abort();
        for (size_t j = 0; j < x->len; j++)
            if (x->text[j] >= 'A' && x->text[j] <= 'Z')
                abort();
        for (size_t j = 0; j < i; j++)
            if (strcmp(t.t[j].text, x->text) == 0)
                abort();
        if (!x->extra) {
            from_query++;
            if (i > 0 && t.t[i - 1].extra) /* question terms come first */
                abort();
            for (size_t j = 0; j < x->len; j++)
                if (x->text[j] == ' ' || x->text[j] == '\t' || x->text[j] == '\n')
                    abort();
        } else if (x->text[0] == ' ' || x->text[x->len - 1] == ' ' || strstr(x->text, "  ") ||
                   strchr(x->text, '\t') || strchr(x->text, '\n')) {
            abort();
        }
    }
    if (from_query > KB_MAX_QUERY_TERMS)
        abort();
    fuzz_query_free(&f);
    return 0;
}
