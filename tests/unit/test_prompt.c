/* Unit tests for common/product/prompt.c: parsing templates (errors with file and line), rendering,
 * and loading the shipped config/prompts (paths relative to the repo root). */
#include "product/prompt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "test.h"

#define SHIPPED_DIR "config/prompts"

static const char *const simple[PROMPT_KINDS] = {
    "System.\n{{glossary}}",
    "Q: {{question}} ({{language}}, {{language}}) for {{audience}}.",
    "{{passages}}|{{history}}|{{question}}",
    "{{source_language}} -> {{target_language}}\n{{glossary}}\n",
};

static struct prompt_templates *parse4(const char *sys, const char *micro, const char *pro,
                                       const char *tr, char *err, size_t errlen)
{
    const char *text[PROMPT_KINDS] = {sys, micro, pro, tr};
    err[0] = '\0';
    return prompt_templates_parse(text, err, errlen);
}

static const char *render(const struct prompt_templates *t, enum prompt_kind k,
                          const struct prompt_var *vars, size_t n)
{
    static struct buf out;
    buf_free(&out);
    buf_init(&out, 1 << 16);
    if (prompt_render(t, k, vars, n, &out) < 0)
        return "(full)";
    return buf_cstr(&out);
}

static void test_render(void)
{
    char err[256];
    struct prompt_templates *t = prompt_templates_parse(simple, err, sizeof err);
    CHECK(t != NULL);
    if (!t)
        return;
    const struct prompt_var vars[] = {
        {"question", "폴이 어디 있나요?"}, {"language", "Korean"}, {"audience", "a player"},
        {"glossary", "- Paul (폴)\n"},   {"passages", "P"},        {"history", ""},
        {"source_language", "Korean"},   {"target_language", "English"},
    };
    size_t n = sizeof vars / sizeof vars[0];
    CHECK_STR_EQ(render(t, PROMPT_SYSTEM, vars, n), "System.\n- Paul (폴)\n");
    /* Repeated variables, in any order of vars. */
    CHECK_STR_EQ(render(t, PROMPT_MICRO, vars, n),
                 "Q: 폴이 어디 있나요? (Korean, Korean) for a player.");
    CHECK_STR_EQ(render(t, PROMPT_PRO, vars, n), "P||폴이 어디 있나요?");
    CHECK_STR_EQ(render(t, PROMPT_TRANSLATE, vars, n),
                 "Korean -> English\n- Paul (폴)\n\n");
    /* Missing variables render as ""; names no template knows are ignored; the first value
     * given for a name counts; a NULL value is "". */
    const struct prompt_var few[] = {
        {"question", "q1"}, {"nonsense", "x"}, {"question", "q2"}, {"audience", NULL}, {NULL, "y"},
    };
    CHECK_STR_EQ(render(t, PROMPT_MICRO, few, 5), "Q: q1 (, ) for .");
    CHECK_STR_EQ(render(t, PROMPT_SYSTEM, NULL, 0), "System.\n");
    /* Values go in as they are: braces in a value are not variables. */
    const struct prompt_var braces[] = {{"question", "{{language}} }}{{"}};
    CHECK_STR_EQ(render(t, PROMPT_MICRO, braces, 1), "Q: {{language}} }}{{ (, ) for .");
    /* Appends to what out already holds. */
    struct buf out;
    buf_init(&out, 100);
    buf_puts(&out, ">>");
    CHECK(prompt_render(t, PROMPT_SYSTEM, vars, n, &out) == 0);
    CHECK_STR_EQ(buf_cstr(&out), ">>System.\n- Paul (폴)\n");
    CHECK(prompt_render(t, (enum prompt_kind)PROMPT_KINDS, vars, n, &out) == -1);
    buf_free(&out);
    prompt_templates_free(t);
    prompt_templates_free(NULL);
}

static void test_plain_text_and_stray_braces(void)
{
    char err[256];
    struct prompt_templates *t = parse4("", "no variables at all", "a } b }} c { d",
                                        "{ {glossary} }", err, sizeof err);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_STR_EQ(render(t, PROMPT_SYSTEM, NULL, 0), "");
    CHECK_STR_EQ(render(t, PROMPT_MICRO, NULL, 0), "no variables at all");
    CHECK_STR_EQ(render(t, PROMPT_PRO, NULL, 0), "a } b }} c { d");
    CHECK_STR_EQ(render(t, PROMPT_TRANSLATE, NULL, 0), "{ {glossary} }");
    prompt_templates_free(t);
}

static void expect_parse_error(const char *sys, const char *micro, const char *want)
{
    char err[300];
    struct prompt_templates *t = parse4(sys, micro, "", "", err, sizeof err);
    CHECK(t == NULL);
    CHECK_STR_EQ(err, want);
    prompt_templates_free(t);
}

#define MICRO_TAKES \
    "(micro.txt takes {{language}}, {{audience}}, {{passages}}, {{history}}, {{question}})"

static void test_unknown_variables(void)
{
    expect_parse_error("", "line 1\nline 2\n\nthe {{pasages}} here",
                       "micro.txt:4: unknown variable {{pasages}} " MICRO_TAKES);
    expect_parse_error("", "{{Question}}", "micro.txt:1: unknown variable {{Question}} "
                       MICRO_TAKES);
    expect_parse_error("", "{{ question }}", "micro.txt:1: unknown variable {{ question }} "
                       MICRO_TAKES);
    expect_parse_error("", "{{}}", "micro.txt:1: unknown variable {{}} " MICRO_TAKES);
    expect_parse_error("", "{{{question}}}", "micro.txt:1: unknown variable {{{question}} "
                       MICRO_TAKES);
    /* A known name in a file that does not take it: the system prompt must stay the same
     * bytes on every request, so it takes only the glossary. */
    expect_parse_error("Hello {{question}}",
                       "", "system.txt:1: unknown variable {{question}} (system.txt takes "
                       "{{glossary}})");
    expect_parse_error("", "{{glossary}}", "micro.txt:1: unknown variable {{glossary}} "
                       MICRO_TAKES);
    /* A long name is cut on a character boundary. */
    expect_parse_error("", "{{가나다라마바사아자차카타파하}}",
                       "micro.txt:1: unknown variable {{가나다라마바사아자차카타파...}} "
                       MICRO_TAKES);
    /* The first error is reported, with its own line. */
    char err[300];
    CHECK(parse4("{{glossary}}\n{{glossary}}\n{{x}}", "{{y}}", "", "", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "system.txt:3: unknown variable {{x}} (system.txt takes {{glossary}})");
    CHECK(parse4("", "", "{{question}}", "\n\n{{language}}", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "translate.txt:3: unknown variable {{language}} (translate.txt takes "
                      "{{glossary}}, {{source_language}}, {{target_language}})");
}

static void test_unterminated(void)
{
    expect_parse_error("", "ask {{question", "micro.txt:1: unterminated {{");
    expect_parse_error("", "ask {{", "micro.txt:1: unterminated {{");
    expect_parse_error("", "a\n{{question}\n}}", "micro.txt:2: unterminated {{");
    expect_parse_error("", "a\nb {{ques\ntion}}", "micro.txt:2: unterminated {{");
}

static void test_bad_text(void)
{
    char err[300];
    CHECK(parse4("\xC0\xAF", "", "", "", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "system.txt: not valid UTF-8");
    const char *text[PROMPT_KINDS] = {"", NULL, "", ""};
    CHECK(prompt_templates_parse(text, err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "micro.txt: missing");
    struct buf big;
    buf_init(&big, PROMPT_MAX_BYTES + 10);
    while (big.len <= PROMPT_MAX_BYTES)
        buf_putc(&big, 'x');
    CHECK(parse4("", "", big.data, "", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "pro.txt: larger than 65536 bytes");
    big.len = PROMPT_MAX_BYTES;
    big.data[big.len] = '\0';
    struct prompt_templates *t = parse4("", "", big.data, "", err, sizeof err);
    CHECK(t != NULL);
    prompt_templates_free(t);
    buf_free(&big);
}

static void test_out_full(void)
{
    char err[256];
    struct prompt_templates *t = prompt_templates_parse(simple, err, sizeof err);
    CHECK(t != NULL);
    if (!t)
        return;
    const struct prompt_var vars[] = {{"glossary", "0123456789"}};
    /* "System.\n" + 10 = 18 bytes: fits in 18, not in 17 (and 17 leaves out as it was). */
    struct buf out;
    buf_init(&out, 18);
    CHECK(prompt_render(t, PROMPT_SYSTEM, vars, 1, &out) == 0);
    CHECK(out.len == 18);
    buf_free(&out);
    buf_init(&out, 17);
    buf_puts(&out, "ab");
    CHECK(prompt_render(t, PROMPT_SYSTEM, vars, 1, &out) == -1);
    CHECK_STR_EQ(buf_cstr(&out), "ab");
    CHECK(out.len == 2);
    buf_free(&out);
    prompt_templates_free(t);
}

/* Renders k with every variable set to a marker: exactly the variables in uses (NULL-ended)
 * must appear, and nothing that looks like a variable may be left. */
static void check_uses(const struct prompt_templates *t, enum prompt_kind k,
                       const char *const *uses)
{
    static const char *const names[] = {"glossary", "language", "audience", "passages",
                                        "history",  "question", "source_language",
                                        "target_language"};
    struct prompt_var vars[8];
    char markers[8][40];
    for (int i = 0; i < 8; i++) {
        snprintf(markers[i], sizeof markers[i], "<<%s>>", names[i]);
        vars[i] = (struct prompt_var){names[i], markers[i]};
    }
    struct buf out;
    buf_init(&out, 1 << 16);
    CHECK(prompt_render(t, k, vars, 8, &out) == 0);
    for (int i = 0; i < 8; i++) {
        bool want = false;
        for (const char *const *u = uses; *u; u++)
            want = want || strcmp(*u, names[i]) == 0;
        if ((strstr(buf_cstr(&out), markers[i]) != NULL) != want) {
            fprintf(stderr, "  prompt %d: {{%s}} %s\n", k, names[i],
                    want ? "is missing" : "should not be used");
            CHECK(!"the shipped prompt uses the variables it should");
        }
    }
    CHECK(strstr(buf_cstr(&out), "{{") == NULL);
    buf_free(&out);
}

static void test_load_shipped(void)
{
    char err[300] = "";
    struct prompt_templates *t = prompt_templates_load(SHIPPED_DIR, err, sizeof err);
    if (!t)
        fprintf(stderr, "  %s\n", err);
    CHECK(t != NULL);
    if (!t)
        return;
    static const char *const system[] = {"glossary", NULL};
    static const char *const answer[] = {"language", "audience", "passages", "history",
                                         "question", NULL};
    static const char *const translate[] = {"glossary", "source_language", "target_language",
                                            NULL};
    check_uses(t, PROMPT_SYSTEM, system);
    check_uses(t, PROMPT_MICRO, answer);
    check_uses(t, PROMPT_PRO, answer);
    check_uses(t, PROMPT_TRANSLATE, translate);
    /* The system prompt is the same bytes whatever the request brings. */
    const struct prompt_var a[] = {{"glossary", "G"}, {"question", "one"}};
    const struct prompt_var b[] = {{"glossary", "G"}, {"question", "two"}, {"language", "x"}};
    struct buf x, y;
    buf_init(&x, 1 << 16);
    buf_init(&y, 1 << 16);
    CHECK(prompt_render(t, PROMPT_SYSTEM, a, 2, &x) == 0);
    CHECK(prompt_render(t, PROMPT_SYSTEM, b, 3, &y) == 0);
    CHECK(x.len > 0 && x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
    buf_free(&x);
    buf_free(&y);
    prompt_templates_free(t);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fwrite(text, 1, len, f);
    fclose(f);
}

static void test_load_errors(void)
{
    char err[600];
    CHECK(prompt_templates_load("no/such/dir", err, sizeof err) == NULL);
    CHECK_STR_EQ(err, "no/such/dir/system.txt: open: No such file or directory");

    char dir[] = "/tmp/test_prompt_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    for (int k = 0; k < PROMPT_KINDS; k++) {
        const char *names[] = {"system.txt", "micro.txt", "pro.txt", "translate.txt"};
        write_file(dir, names[k], simple[k], strlen(simple[k]));
    }
    struct prompt_templates *t = prompt_templates_load(dir, err, sizeof err);
    CHECK(t != NULL);
    prompt_templates_free(t);

    char want[700];
    write_file(dir, "pro.txt", "ok\n{{question}}\n{{questoin}}\n", 29);
    CHECK(prompt_templates_load(dir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s/pro.txt:3: unknown variable {{questoin}} (pro.txt takes "
             "{{language}}, {{audience}}, {{passages}}, {{history}}, {{question}})", dir);
    CHECK_STR_EQ(err, want);

    write_file(dir, "pro.txt", "a\0b", 3);
    CHECK(prompt_templates_load(dir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s/pro.txt: contains a NUL byte", dir);
    CHECK_STR_EQ(err, want);

    char *big = malloc(PROMPT_MAX_BYTES + 1);
    memset(big, 'x', PROMPT_MAX_BYTES + 1);
    write_file(dir, "pro.txt", big, PROMPT_MAX_BYTES + 1);
    free(big);
    CHECK(prompt_templates_load(dir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s/pro.txt: larger than 65536 bytes", dir);
    CHECK_STR_EQ(err, want);

    char path[600];
    snprintf(path, sizeof path, "%s/pro.txt", dir);
    unlink(path);
    CHECK(prompt_templates_load(dir, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "%s/pro.txt: open: No such file or directory", dir);
    CHECK_STR_EQ(err, want);
    const char *rest[] = {"system.txt", "micro.txt", "translate.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, rest[i]);
        unlink(path);
    }
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    RUN(test_render);
    RUN(test_plain_text_and_stray_braces);
    RUN(test_unknown_variables);
    RUN(test_unterminated);
    RUN(test_bad_text);
    RUN(test_out_full);
    RUN(test_load_shipped);
    RUN(test_load_errors);
    return test_summary();
}
