/* fuzz_prompt: the template parser and renderer on hostile templates.
 *
 * The input is cut at NUL bytes into the four templates (system, micro, pro, translate; a
 * missing one is empty). A parse must fail with a message naming the file, or succeed; then
 * every template must render exactly as a plain reference substitution does (every "{{name}}"
 * replaced by its value, the rest copied), with values that themselves look like variables,
 * and a buffer too small must be left as it was. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "product/prompt.h"

static const char *const files[PROMPT_KINDS] = {"system.txt", "micro.txt", "pro.txt",
                                                "translate.txt"};

static const struct prompt_var vars[] = {
    {"glossary", "- Paul (폴)\n"}, {"language", "{{language}}"}, {"audience", "a player"},
    {"passages", "}}{{"},          {"history", ""},              {"question", "폴이?"},
    {"source_language", "Korean"}, {"target_language", "English"},
};
#define NVARS (sizeof vars / sizeof vars[0])

/* The reference: after a successful parse every "{{" starts "{{name}}" of a known name. */
static void reference(const char *t, struct buf *out)
{
    for (;;) {
        const char *open = strstr(t, "{{");
        if (!open) {
            buf_puts(out, t);
            return;
        }
        buf_append(out, t, (size_t)(open - t));
        const char *close = strstr(open + 2, "}}");
        if (!close)
            abort();
        size_t n = (size_t)(close - open - 2);
        bool known = false;
        for (size_t i = 0; i < NVARS && !known; i++)
            if (strlen(vars[i].name) == n && memcmp(vars[i].name, open + 2, n) == 0) {
                buf_puts(out, vars[i].value);
                known = true;
            }
        if (!known)
            abort();
        t = close + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *text[PROMPT_KINDS];
    const char *at = copy, *end = copy + size;
    for (int k = 0; k < PROMPT_KINDS; k++) {
        text[k] = at <= end ? at : "";
        if (at <= end)
            at += strlen(at) + 1;
    }
    char err[300];
    err[0] = '\0';
    struct prompt_templates *t = prompt_templates_parse(text, err, sizeof err);
    if (!t) {
        bool named = false;
        for (int k = 0; k < PROMPT_KINDS; k++)
            named = named || (strncmp(err, files[k], strlen(files[k])) == 0 &&
                              err[strlen(files[k])] == ':');
        if (!named)
            abort();
        free(copy);
        return 0;
    }
    for (int k = 0; k < PROMPT_KINDS; k++) {
        struct buf got, want;
        buf_init(&got, 1u << 24);
        buf_init(&want, 1u << 24);
        buf_puts(&got, "<");
        buf_puts(&want, "<");
        if (prompt_render(t, (enum prompt_kind)k, vars, NVARS, &got) != 0)
            abort();
        reference(text[k], &want);
        if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)
            abort();
        struct buf small;
        buf_init(&small, got.len - 1);
        buf_puts(&small, "<");
        if (got.len > 1 && (prompt_render(t, (enum prompt_kind)k, vars, NVARS, &small) != -1 ||
                            small.len != 1 || strcmp(buf_cstr(&small), "<") != 0))
            abort();
        buf_free(&small);
        buf_free(&got);
        buf_free(&want);
    }
    prompt_templates_free(t);
    free(copy);
    return 0;
}
