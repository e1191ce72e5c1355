/* novactl glossary: checks a game glossary before nova-fcgi loads it (common/product/glossary.h).
 *
 *   novactl glossary check [FILE] [--strict] [--json]
 *
 * FILE defaults to NOVA_GLOSSARY_FILE. The file must load as nova-fcgi loads it (schema, types,
 * UTF-8, sizes): an error names the section and the entry, and exits 1. Then each alias (and
 * canonical name) is looked up as a question would be: one that finds another entry, or none,
 * would never report its own entry; two entries sharing an alias make the glossary's order
 * decide. Those are warnings on stderr (exit 0; 1 with --strict). Entries with no Korean
 * alias are counted: the prompt then shows no Korean name for them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "ctl.h"
#include "product/glossary.h"
#include "novactl.h"

#define MAX_WARNINGS_SHOWN 50

static const char synopsis[] = "usage: novactl glossary check [FILE] [--strict] [--json]\n";

static void help(void)
{
    printf("%s\n"
           "Loads FILE (default NOVA_GLOSSARY_FILE) as nova-fcgi does and looks each alias up\n"
           "as a question would. Errors (exit 1) name the section and entry; warnings (an\n"
           "alias that finds another entry or none, an alias two entries share) go to stderr\n"
           "and fail only with --strict.\n",
           synopsis);
}

struct warnings {
    json_object *arr; /* --json */
    size_t n;
};

static void warn(struct warnings *w, const struct glossary_entry *e, const char *alias,
                 const char *what)
{
    w->n++;
    if (w->arr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "section", json_object_new_string(e->section));
        json_object_object_add(o, "entry", json_object_new_string(e->canonical));
        json_object_object_add(o, "alias", json_object_new_string(alias));
        json_object_object_add(o, "problem", json_object_new_string(what));
        json_object_array_add(w->arr, o);
    } else if (w->n <= MAX_WARNINGS_SHOWN) {
        fprintf(stderr, "warning: \"%s\" / \"%s\": alias \"%s\": %s\n", e->section, e->canonical,
                alias, what);
    }
}

/* Two aliases are the same to the matcher when equal ignoring ASCII case. */
static bool same_alias(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Looks one alias up alone; warns when it does not find its own entry. */
static void check_alias(const struct glossary *g, const struct glossary_entry *e,
                        const char *alias, struct warnings *w)
{
    struct glossary_match m[8];
    size_t n = glossary_find(g, alias, strlen(alias), m, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (m[i].entry == e)
            return;
    char what[300];
    if (n == 0)
        snprintf(what, sizeof what, "finds no entry when asked alone");
    else
        snprintf(what, sizeof what, "finds \"%s\" instead", m[0].entry->canonical);
    warn(w, e, alias, what);
}

static int cmd_check(int argc, char **argv, const struct nova_config *cfg)
{
    struct ctl_opts o;
    int rc = ctl_parse_opts("glossary", "check", synopsis, argc, argv, "json strict", 1, &o);
    if (rc)
        return rc;
    if (argc - o.first_arg > 1)
        return ctl_usage_error("glossary", "check", synopsis, "wants at most one file");
    const char *path = argc - o.first_arg == 1 ? argv[o.first_arg] : cfg->glossary_file;
    char err[1024];
    struct glossary *g = glossary_load_file(path, err, sizeof err);
    if (!g) {
        if (o.json) {
            json_object *root = json_object_new_object();
            json_object_object_add(root, "file", json_object_new_string(path));
            json_object_object_add(root, "status", json_object_new_string("error"));
            json_object_object_add(root, "error", ctl_json_string(err, strlen(err)));
            ctl_json_print(root);
        } else {
            printf("file: %s\nstatus: error\n", path);
        }
        fprintf(stderr, "novactl glossary check: %s\n", err);
        return NOVACTL_FAIL;
    }
    struct warnings w = {o.json ? json_object_new_array() : NULL, 0};
    size_t n = glossary_count(g), aliases = 0, no_korean = 0, sections = 0;
    const char *last_section = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct glossary_entry *e = glossary_entry_at(g, i);
        if (!last_section || strcmp(last_section, e->section) != 0)
            sections++;
        last_section = e->section;
        no_korean += e->korean == NULL;
        aliases += e->n_aliases;
        check_alias(g, e, e->canonical, &w);
        for (size_t a = 0; a < e->n_aliases; a++) {
            check_alias(g, e, e->aliases[a], &w);
            /* The same alias on an earlier entry: reported once, on the later one. */
            for (size_t j = 0; j < i; j++) {
                const struct glossary_entry *p = glossary_entry_at(g, j);
                bool shared = same_alias(p->canonical, e->aliases[a]);
                for (size_t b = 0; b < p->n_aliases && !shared; b++)
                    shared = same_alias(p->aliases[b], e->aliases[a]);
                if (shared) {
                    char what[300];
                    snprintf(what, sizeof what, "also an alias of \"%s\"", p->canonical);
                    warn(&w, e, e->aliases[a], what);
                    break;
                }
            }
        }
    }
    struct buf prompt;
    buf_init(&prompt, 64u * 1024 * 1024);
    size_t prompt_bytes = glossary_format(g, &prompt) == 0 ? prompt.len : 0;
    buf_free(&prompt);
    glossary_free(g);

    bool fail = o.strict && w.n > 0;
    const char *status = w.n ? "warnings" : "ok";
    if (o.json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "file", json_object_new_string(path));
        json_object_object_add(root, "status", json_object_new_string(status));
        json_object_object_add(root, "sections", json_object_new_int64((int64_t)sections));
        json_object_object_add(root, "entries", json_object_new_int64((int64_t)n));
        json_object_object_add(root, "aliases", json_object_new_int64((int64_t)aliases));
        json_object_object_add(root, "entries_without_korean",
                               json_object_new_int64((int64_t)no_korean));
        json_object_object_add(root, "prompt_bytes", json_object_new_int64((int64_t)prompt_bytes));
        json_object_object_add(root, "warnings", w.arr);
        ctl_json_print(root);
    } else {
        if (w.n > MAX_WARNINGS_SHOWN)
            fprintf(stderr, "(%zu more warnings not shown)\n", w.n - MAX_WARNINGS_SHOWN);
        printf("file: %s\nstatus: %s\nsections: %zu\nentries: %zu\naliases: %zu\n"
               "entries_without_korean: %zu\nprompt_bytes: %zu\nwarnings: %zu\n",
               path, status, sections, n, aliases, no_korean, prompt_bytes, w.n);
    }
    return fail ? NOVACTL_FAIL : NOVACTL_OK;
}

int novactl_glossary(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct ctl_cmd cmds[] = {{"check", cmd_check}};
    return ctl_dispatch("glossary", synopsis, help, cmds, sizeof cmds / sizeof cmds[0], argc, argv,
                        cfg);
}
