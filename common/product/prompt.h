/* prompt: the prompt templates an operator edits (the .txt files of config/prompts), loaded
 * once and filled with {{name}} variables. No I/O but prompt_templates_load.
 *
 * Files (all required; each at most PROMPT_MAX_BYTES of UTF-8):
 *   system.txt         the cacheable system prompt of the answer models: {{glossary}}
 *   micro.txt          the user message to Nova Micro (the overview)
 *   pro.txt            the user message to Nova Pro (the detailed answer)
 *   translate.txt      the system prompt of a translation: {{glossary}}, {{target_language}},
 *                      {{source_language}}
 * Variables of micro.txt and pro.txt: {{language}} ("Korean"/"English"), {{audience}} (who
 * reads the answer), {{passages}}, {{history}}, {{question}}.
 *
 * A template names only the variables its file allows (a typo is an error at load time, with
 * file and line); "{{" not followed by a known name and "}}" is an error (names are exact:
 * no blanks inside, lower case), and there is no escape for a literal "{{". A lone "{", "}"
 * or "}}" is text. A variable may appear any number of times or not at all. Values are
 * inserted as they are (no escaping: the result is prompt text, not markup). */
#ifndef NOVA_PROMPT_H
#define NOVA_PROMPT_H

#include <stddef.h>

#include "core/buf.h"

#define PROMPT_MAX_BYTES (64u * 1024u)

enum prompt_kind { PROMPT_SYSTEM, PROMPT_MICRO, PROMPT_PRO, PROMPT_TRANSLATE, PROMPT_KINDS };

struct prompt_templates; /* opaque, immutable after loading */

/* Loads the four files from dir. Returns the templates, or NULL with errstr ("<path>:<line>:
 * unknown variable {{pasages}} (micro.txt takes {{language}}, ...)", "<path>:<line>:
 * unterminated {{", "<path>: larger than 65536 bytes", "<path>: not valid UTF-8", "<path>:
 * contains a NUL byte", "<path>: open: <reason>"). */
struct prompt_templates *prompt_templates_load(const char *dir, char *errstr, size_t errlen);
/* The same from strings (tests, fuzzing); text[k] NUL-terminated; messages name the files
 * ("micro.txt:3: ..."). The templates keep copies of the text. */
struct prompt_templates *prompt_templates_parse(const char *const text[PROMPT_KINDS],
                                                char *errstr, size_t errlen);
void prompt_templates_free(struct prompt_templates *t);

struct prompt_var {
    const char *name;  /* "question" */
    const char *value; /* NUL-terminated */
};
/* Appends template k with vars substituted to out. A variable the template uses but vars lacks
 * (or gives a NULL value) is inserted as ""; when vars names a variable twice the first
 * counts; names no template knows are ignored. Returns 0, or -1 (out full, or k out of
 * range) with out left as it was. Safe to call from many threads on the same templates. */
int prompt_render(const struct prompt_templates *t, enum prompt_kind k,
                  const struct prompt_var *vars, size_t n_vars, struct buf *out);

#endif
