/* novactl kb: the local knowledge base from the operator's side (common/kb/kb_local.h).
 *
 *   novactl kb import DIR [--db PATH]
 *   novactl kb search [--db PATH] [-k N] [--min-score X] [--term T]... [--json] QUERY...
 *   novactl kb stats [--db PATH] [--json]
 *   novactl kb gaps [--since DURATION] [--json]     (tools/novactl/gaps.c)
 *
 * The index defaults to NOVA_KB_DB. import replaces it in one transaction (a running
 * nova-fcgi keeps answering from the old index until it commits); search shows what the chat
 * would get as context, --term adding the glossary aliases the chat would add. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/utf8.h"
#include "kb/kb_local.h"
#include "novactl.h"

#define EXCERPT_CHARS 120
#define MAX_EXTRA_TERMS 32

static const char synopsis[] =
    "usage: novactl kb import DIR [--db PATH]\n"
    "       novactl kb search [--db PATH] [-k N] [--min-score X] [--term T]... [--json] QUERY...\n"
    "       novactl kb stats [--db PATH] [--json]\n"
    "       novactl kb gaps [--since DURATION] [--json]\n";

static void usage(FILE *out)
{
    fprintf(out,
            "%s\n"
            "  import   replace the index with the *.md documents of DIR\n"
            "  search   the best documents for QUERY, as the chat would get them\n"
            "           (-k: how many, 1-%d, default 5; --min-score: default NOVA_KB_MIN_SCORE;\n"
            "           --term: an extra search term such as a glossary alias, repeatable)\n"
            "  stats    what the index holds\n"
            "  gaps     the questions it could not answer (nova:gaps), grouped, newest first\n"
            "           (--since: 30m, 24h, 7d...; see 'novactl kb gaps --help')\n"
            "\n"
            "--db defaults to NOVA_KB_DB.\n",
            synopsis, KB_MAX_HITS);
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "novactl kb%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%sRun 'novactl kb --help' for more.\n", synopsis);
    return NOVACTL_USAGE;
}

/* The options every command shares, parsed by parse_opts. */
struct opts {
    const char *db;
    long k;
    double min_score;
    bool json;
    const char *terms[MAX_EXTRA_TERMS];
    size_t n_terms;
    int first_arg; /* index of the first operand in the command's argv */
};

/* Whether the blank-separated list holds word. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

enum { OPT_DB = 1000, OPT_JSON, OPT_MIN_SCORE, OPT_TERM };

/* Parses argv (argv[0] = the command); allowed lists the long options the command takes
 * ("db json k min-score term"). Returns 0 or NOVACTL_USAGE (message printed). */
static int parse_opts(const char *cmd, int argc, char **argv, const char *allowed,
                      const struct nova_config *cfg, struct opts *o)
{
    static const struct option longopts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"json", no_argument, NULL, OPT_JSON},
        {"min-score", required_argument, NULL, OPT_MIN_SCORE},
        {"term", required_argument, NULL, OPT_TERM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->db = cfg->kb_db;
    o->k = 5;
    o->min_score = cfg->kb_min_score;
    optind = 0; /* glibc: start afresh */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "hk:", longopts, NULL)) != -1) {
        const char *name = ch == OPT_DB          ? "db"
                           : ch == OPT_JSON      ? "json"
                           : ch == OPT_MIN_SCORE ? "min-score"
                           : ch == OPT_TERM      ? "term"
                           : ch == 'k'           ? "k"
                                                 : NULL;
        if (ch == 'h') {
            usage(stdout);
            exit(NOVACTL_OK);
        }
        if (ch == '?' || ch == ':' || !name)
            return usage_error(cmd, "unknown option or missing value: %s", argv[optind - 1]);
        if (!has_word(allowed, name))
            return usage_error(cmd, "this command takes no --%s", name);
        char *end;
        switch (ch) {
        case OPT_DB:
            if (!optarg[0])
                return usage_error(cmd, "--db needs a path%s", "");
            o->db = optarg;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case 'k':
            errno = 0;
            o->k = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->k < 1 || o->k > KB_MAX_HITS) {
                char msg[64];
                snprintf(msg, sizeof msg, "-k wants a number from 1 to %d", KB_MAX_HITS);
                return usage_error(cmd, "%s", msg);
            }
            break;
        case OPT_MIN_SCORE:
            errno = 0;
            o->min_score = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(o->min_score >= 0 && o->min_score <= 1))
                return usage_error(cmd, "--min-score wants a number from 0 to 1, not '%s'",
                                   optarg);
            break;
        case OPT_TERM:
            if (o->n_terms == MAX_EXTRA_TERMS)
                return usage_error(cmd, "too many --term options%s", "");
            o->terms[o->n_terms++] = optarg;
            break;
        }
    }
    o->first_arg = optind;
    return 0;
}

/* The body's first line of text (headings skipped), cut to EXCERPT_CHARS characters. */
static void first_line(const char *body, struct buf *out)
{
    const char *p = body;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        if (n && *s != '#') {
            size_t bytes = 0, chars = 0;
            while (bytes < n && chars < EXCERPT_CHARS) {
                bytes++;
                while (bytes < n && ((unsigned char)s[bytes] & 0xC0) == 0x80)
                    bytes++;
                chars++;
            }
            buf_append(out, s, bytes);
            if (bytes < n)
                buf_puts(out, "...");
            return;
        }
        if (!e)
            break;
        p = e + 1;
    }
}

static int cmd_import(int argc, char **argv, const struct nova_config *cfg)
{
    struct opts o;
    int rc = parse_opts("import", argc, argv, "db", cfg, &o);
    if (rc)
        return rc;
    if (argc - o.first_arg != 1)
        return usage_error("import", "wants one folder of *.md documents%s", "");
    const char *dir = argv[o.first_arg];
    char err[1024];
    double t0 = clock_mono_ms_f();
    struct kb_local *kb = kb_local_open(o.db, true, err, sizeof err);
    if (!kb) {
        char copy[sizeof cfg->kb_db + 1];
        snprintf(copy, sizeof copy, "%s", o.db);
        struct stat st;
        const char *parent = dirname(copy);
        if (stat(parent, &st) < 0)
            fprintf(stderr, "novactl kb import: %s: the folder %s does not exist (--db or "
                            "NOVA_KB_DB)\n", o.db, parent);
        else
            fprintf(stderr, "novactl kb import: %s\n", err);
        return NOVACTL_FAIL;
    }
    struct kb_import_stats s;
    rc = kb_local_import_dir(kb, dir, &s, err, sizeof err);
    kb_local_close(kb);
    double ms = clock_mono_ms_f() - t0;
    if (rc < 0) {
        fprintf(stderr, "novactl kb import: %s\n", err);
        return NOVACTL_FAIL;
    }
    printf("db: %s\nsource: %s\ndocs_imported: %zu\ndocs_skipped: %zu\nbytes: %zu\n"
           "elapsed_ms: %.1f\n",
           o.db, dir, s.docs, s.skipped, s.bytes, ms);
    return NOVACTL_OK;
}

static int cmd_search(int argc, char **argv, const struct nova_config *cfg)
{
    struct opts o;
    int rc = parse_opts("search", argc, argv, "db json k min-score term", cfg, &o);
    if (rc)
        return rc;
    if (o.first_arg >= argc)
        return usage_error("search", "wants a question%s", "");
    struct buf q;
    buf_init(&q, 64 * 1024);
    for (int i = o.first_arg; i < argc; i++)
        if ((q.len && buf_putc(&q, ' ') < 0) || buf_puts(&q, argv[i]) < 0) {
            buf_free(&q);
            return usage_error("search", "the question is longer than 64 KiB%s", "");
        }
    char err[1024];
    struct kb_local *kb = kb_local_open(o.db, false, err, sizeof err);
    if (!kb) {
        buf_free(&q);
        fprintf(stderr, "novactl kb search: %s\n", err);
        return NOVACTL_FAIL;
    }
    struct kb_hits h;
    double t0 = clock_mono_ms_f();
    rc = kb_local_search(kb, buf_cstr(&q), q.len, o.terms, o.n_terms, (size_t)o.k,
                         o.min_score, &h, err, sizeof err);
    double ms = clock_mono_ms_f() - t0;
    kb_local_close(kb);
    if (rc < 0) {
        buf_free(&q);
        fprintf(stderr, "novactl kb search: %s\n", err);
        return NOVACTL_FAIL;
    }
    struct buf line;
    buf_init(&line, 4096);
    if (o.json) {
        json_object *root = json_object_new_object(), *arr = json_object_new_array();
        struct buf clean;
        buf_init(&clean, q.len * 3 + 16);
        utf8_append_sanitized(&clean, q.data, q.len);
        json_object_object_add(root, "query", json_object_new_string(buf_cstr(&clean)));
        buf_free(&clean);
        json_object_object_add(root, "min_score", json_new_short_double(o.min_score));
        for (size_t i = 0; i < h.n; i++) {
            json_object *x = json_object_new_object();
            buf_reset(&line);
            first_line(h.hit[i].text, &line);
            json_object_object_add(x, "score",
                                   json_new_short_double(round(h.hit[i].score * 1e4) / 1e4));
            json_object_object_add(x, "title", json_object_new_string(h.hit[i].title));
            json_object_object_add(x, "url", json_object_new_string(h.hit[i].url));
            json_object_object_add(x, "excerpt", json_object_new_string(buf_cstr(&line)));
            json_object_array_add(arr, x);
        }
        json_object_object_add(root, "hits", arr);
        json_object_object_add(root, "elapsed_ms", json_new_short_double(round(ms * 100) / 100));
        struct buf outb;
        buf_init(&outb, 64u * 1024 * 1024);
        if (json_append_put(root, &outb) == 0)
            printf("%s\n", buf_cstr(&outb));
        buf_free(&outb);
    } else {
        for (size_t i = 0; i < h.n; i++) {
            buf_reset(&line);
            first_line(h.hit[i].text, &line);
            printf("%.3f  %s\n       %s\n       %s\n", h.hit[i].score, h.hit[i].title,
                   h.hit[i].url[0] ? h.hit[i].url : "(no url)", buf_cstr(&line));
        }
        fprintf(stderr, "%zu hit%s with score >= %g (%.2f ms)\n", h.n, h.n == 1 ? "" : "s",
                o.min_score, ms);
    }
    buf_free(&line);
    buf_free(&q);
    kb_hits_free(&h);
    return NOVACTL_OK;
}

static int cmd_stats(int argc, char **argv, const struct nova_config *cfg)
{
    struct opts o;
    int rc = parse_opts("stats", argc, argv, "db json", cfg, &o);
    if (rc)
        return rc;
    if (o.first_arg != argc)
        return usage_error("stats", "takes no arguments (got '%s')", argv[o.first_arg]);
    char err[1024];
    struct kb_local *kb = kb_local_open(o.db, false, err, sizeof err);
    struct kb_index_stats s;
    if (!kb || kb_local_stats(kb, &s, err, sizeof err) < 0) {
        kb_local_close(kb);
        fprintf(stderr, "novactl kb stats: %s\n", err);
        return NOVACTL_FAIL;
    }
    kb_local_close(kb);
    char when[32] = "never";
    if (s.imported_at > 0) {
        time_t t = (time_t)s.imported_at;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (o.json) {
        json_object *root = json_object_new_object(), *langs = json_object_new_object();
        json_object_object_add(root, "db", json_object_new_string(o.db));
        json_object_object_add(root, "docs", json_object_new_int64(s.docs));
        for (size_t i = 0; i < s.n_langs; i++)
            json_object_object_add(langs, s.langs[i].lang, json_object_new_int64(s.langs[i].docs));
        json_object_object_add(root, "docs_by_lang", langs);
        json_object_object_add(root, "doc_bytes", json_object_new_int64(s.doc_bytes));
        json_object_object_add(root, "db_bytes", json_object_new_int64(s.db_bytes));
        json_object_object_add(root, "imported_at", json_object_new_string(when));
        json_object_object_add(root, "source", json_object_new_string(s.source));
        struct buf outb;
        buf_init(&outb, 1024 * 1024);
        if (json_append_put(root, &outb) == 0)
            printf("%s\n", buf_cstr(&outb));
        buf_free(&outb);
        return NOVACTL_OK;
    }
    printf("db: %s\ndocs: %ld\n", o.db, s.docs);
    for (size_t i = 0; i < s.n_langs; i++)
        printf("docs_lang_%s: %ld\n", s.langs[i].lang[0] ? s.langs[i].lang : "none",
               s.langs[i].docs);
    printf("doc_bytes: %lld\ndb_bytes: %lld\nimported_at: %s\nsource: %s\n", s.doc_bytes,
           s.db_bytes, when, s.source[0] ? s.source : "-");
    return NOVACTL_OK;
}

int novactl_kb(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct {
        const char *name;
        int (*run)(int, char **, const struct nova_config *);
    } cmds[] = {{"import", cmd_import}, {"search", cmd_search}, {"stats", cmd_stats},
                 {"gaps", novactl_kb_gaps}};
    if (argc < 2)
        return usage_error(NULL, "wants a command%s", "");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return NOVACTL_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1, cfg);
    return usage_error(NULL, "unknown command '%s'", argv[1]);
}
