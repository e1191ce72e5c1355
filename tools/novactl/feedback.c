/* novactl feedback: what players said of the answers — the ratings nova-fcgi stored in
 * nova:feedback (fcgi-app/feedback.h), each with the whole request it rated, for a reviewer.
 *
 *   novactl feedback list   [--since DURATION] [--rating up|down] [--json|--csv]
 *   novactl feedback export [--since DURATION] [--rating up|down] [--json|--csv]
 *
 * The last feedback on a request wins: the stream is read newest first and only the first
 * (newest) entry of each request is shown; --rating keeps the requests whose last rating is
 * that one, --since those last rated in the last DURATION (a number with a unit s, m, h, d or
 * w; Redis's clock, the entry ids). Newest first, both commands.
 *
 * list prints a table: time, request, rating, reason, the question and the comment on one line
 * each, shortened. export prints JSON lines (--json, the default): one whole stored object per
 * line ({"request_id", "time", "created_ms", "rating", "reason", "comment", "ui_lang",
 * "question", "translation", "entities", "sources", "models", "prompt_sha256", "answers",
 * "usage", "cost_usd", ...}); or CSV (--csv, RFC 4180: a header line, CRLF line ends, a field
 * holding a comma, a quote or a line break quoted, its quotes doubled), one row per request:
 * request_id, time, rating, reason, comment, ui_lang, input_lang, question, translation,
 * entities (canonical names, "; "), sources ("url (score)", "; "), models ("micro=ID; pro=ID"),
 * prompt_sha256, answers ("[phase/model] text", a blank line apart), input_tokens,
 * output_tokens, cost_usd. A text field that starts with =, +, -, @, a tab or a CR gets a
 * leading ' so a spreadsheet shows it rather than runs it as a formula (a player wrote it).
 * list --json and list --csv are export's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/utf8.h"
#include "ctl.h"
#include "novactl.h"
#include "redis/contract.h"

#define FEEDBACK_PAGE 100          /* entries per XREVRANGE (each holds a whole record) */
#define SHOWN_CHARS 40             /* a question or comment in list's table */
#define CSV_ROW_MAX (64u << 20)    /* one row: a record is at most a few MiB */

static const char synopsis[] =
    "usage: novactl feedback list   [--since DURATION] [--rating up|down] [--json|--csv]\n"
    "       novactl feedback export [--since DURATION] [--rating up|down] [--json|--csv]\n";

static void help(void)
{
    printf("%s\n"
           "  list    the rated requests, newest first, one line each: time, request,\n"
           "          rating, reason, question and comment (shortened)\n"
           "  export  the same whole: JSON lines (--json, the default), one stored record per\n"
           "          line, or CSV (--csv, RFC 4180, a header line)\n"
           "\nThe last feedback on a request wins. --since DURATION (30m, 24h, 7d, 2w): those\n"
           "last rated in the last DURATION; --rating up|down: those whose last rating is it.\n",
           synopsis);
}

/* ---- the requests already shown: a set of request ids ----------------------------------- */

struct seen {
    char **slot;
    size_t cap, n;
};

static size_t seen_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds id; false when it was there already. */
static bool seen_add(struct seen *st, const char *id)
{
    if ((st->n + 1) * 2 > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 1024;
        char **slot = xcalloc(cap, sizeof *slot);
        for (size_t i = 0; i < st->cap; i++)
            if (st->slot[i]) {
                size_t k = seen_hash(st->slot[i]) & (cap - 1);
                while (slot[k])
                    k = (k + 1) & (cap - 1);
                slot[k] = st->slot[i];
            }
        free(st->slot);
        st->slot = slot;
        st->cap = cap;
    }
    size_t k = seen_hash(id) & (st->cap - 1);
    for (; st->slot[k]; k = (k + 1) & (st->cap - 1))
        if (strcmp(st->slot[k], id) == 0)
            return false;
    st->slot[k] = xstrdup(id);
    st->n++;
    return true;
}

static void seen_free(struct seen *st)
{
    for (size_t i = 0; i < st->cap; i++)
        free(st->slot[i]);
    free(st->slot);
}

/* ---- output ----------------------------------------------------------------------------- */

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

static const char *str_or(json_object *o, const char *key, const char *dflt)
{
    const char *s = json_get_str(o, key, NULL);
    return s ? s : dflt;
}

/* The columns a character takes in a terminal: 2 for Hangul, CJK, full-width forms and
 * emoji, 1 otherwise (enough to line the table up; no locale needed). */
static int columns_of(unsigned cp)
{
    return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
                   (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
                   (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
                   (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
                   (cp >= 0x20000 && cp <= 0x3fffd)
               ? 2
               : 1;
}

/* s (valid UTF-8: the record's JSON) shortened to SHOWN_CHARS characters ("..." when cut),
 * its line breaks and tabs as blanks, printed padded to width columns (0: not padded). */
static void print_short(const char *s, int width)
{
    size_t n = strlen(s), k = utf8_prefix_chars(s, n, SHOWN_CHARS);
    int cols = 0;
    for (size_t i = 0; i < k;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (i + len > k)
            len = k - i;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t j = 1; j < len; j++)
            cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3f);
        if (c == '\n' || c == '\r' || c == '\t')
            putchar(' ');
        else
            fwrite(s + i, 1, len, stdout);
        cols += columns_of(cp);
        i += len;
    }
    if (k < n) {
        fputs("...", stdout);
        cols += 3;
    }
    for (; cols < width; cols++)
        putchar(' ');
}

static void print_row(json_object *d)
{
    char when[24];
    snprintf(when, sizeof when, "%.19s", str_or(d, "time", "?"));
    if (strlen(when) > 10 && when[10] == 'T')
        when[10] = ' ';
    printf("%-19s  %-32s  %-4s  %-9s  ", when, str_or(d, "request_id", "?"),
           str_or(d, "rating", "?"), str_or(d, "reason", "-"));
    print_short(str_or(d, "question", "(no question)"), SHOWN_CHARS + 3);
    printf("  ");
    print_short(str_or(d, "comment", ""), 0);
    putchar('\n');
}

/* One CSV field (RFC 4180), text: quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct buf *row, const char *s, bool first)
{
    if (!first)
        buf_append(row, ",", 1);
    if (!s)
        return;
    bool formula = *s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r';
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        buf_append(row, "\"", 1);
    if (formula)
        buf_append(row, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_append(row, "\"\"", 2);
        else
            buf_append(row, p, 1);
    }
    if (quote)
        buf_append(row, "\"", 1);
}

/* A number member as text ("" when absent). */
static void number_text(json_object *o, char *out, size_t n)
{
    out[0] = '\0';
    if (o && (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double)))
        snprintf(out, n, "%s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static const char csv_header[] =
    "request_id,time,rating,reason,comment,ui_lang,input_lang,question,translation,entities,"
    "sources,models,prompt_sha256,answers,input_tokens,output_tokens,cost_usd\r\n";

static void print_csv(json_object *d)
{
    struct buf row, part;
    buf_init(&row, CSV_ROW_MAX);
    buf_init(&part, CSV_ROW_MAX);
    csv_field(&row, json_get_str(d, "request_id", NULL), true);
    static const char *const plain[] = {"time",       "rating",   "reason",     "comment",
                                        "ui_lang",    "input_lang", "question", "translation"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        csv_field(&row, json_get_str(d, plain[i], NULL), false);
    json_object *a = json_get(d, "entities");
    for (size_t i = 0; a && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a); i++)
        buf_printf(&part, "%s%s", part.len ? "; " : "",
                   str_or(json_object_array_get_idx(a, i), "canonical", "?"));
    csv_field(&row, buf_cstr(&part), false);
    buf_reset(&part);
    a = json_get(d, "sources");
    for (size_t i = 0; a && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a); i++) {
        json_object *s = json_object_array_get_idx(a, i);
        char score[40];
        number_text(json_get(s, "score"), score, sizeof score);
        buf_printf(&part, "%s%s (%s)", part.len ? "; " : "", str_or(s, "url", "?"),
                   score[0] ? score : "?");
    }
    csv_field(&row, buf_cstr(&part), false);
    buf_reset(&part);
    json_object *m = json_get(d, "models");
    if (m && json_object_is_type(m, json_type_object)) {
        json_object_object_foreach(m, key, v)
        {
            buf_printf(&part, "%s%s=%s", part.len ? "; " : "", key,
                       json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                 : "?");
        }
    }
    csv_field(&row, buf_cstr(&part), false);
    buf_reset(&part);
    csv_field(&row, json_get_str(d, "prompt_sha256", NULL), false);
    a = json_get(d, "answers");
    for (size_t i = 0; a && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a); i++) {
        json_object *x = json_object_array_get_idx(a, i);
        buf_printf(&part, "%s[%s/%s] ", part.len ? "\n\n" : "", str_or(x, "phase", "?"),
                   str_or(x, "model", "?"));
        const char *t = str_or(x, "text", "");
        buf_append(&part, t, strlen(t));
    }
    csv_field(&row, buf_cstr(&part), false);
    char num[40];
    json_object *u = json_get(d, "usage");
    number_text(json_get(u, "input_tokens"), num, sizeof num);
    csv_field(&row, num, false);
    number_text(json_get(u, "output_tokens"), num, sizeof num);
    csv_field(&row, num, false);
    number_text(json_get(d, "cost_usd"), num, sizeof num);
    csv_field(&row, num, false);
    buf_append(&row, "\r\n", 2);
    fwrite(row.data, 1, row.len, stdout);
    buf_free(&row);
    buf_free(&part);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct walk {
    enum format format;
    const char *rating;  /* NULL: any */
    long long start_ms;  /* 0: from the first entry */
    struct seen seen;
    size_t entries, shown, skipped;
};

/* One entry, newest first. Returns false once entries are older than start_ms. */
static bool take(void *user, const redisReply *e)
{
    struct walk *w = user;
    const char *id;
    const redisReply *f;
    long long ms;
    if (!ctl_entry(e, &id, &f) || !ctl_entry_id_parse(id, &ms)) {
        w->skipped++;
        return true;
    }
    if (w->start_ms > 0 && ms < w->start_ms)
        return false;
    w->entries++;
    const char *req = ctl_str(ctl_field(f, "request"), NULL),
               *rating = ctl_str(ctl_field(f, "rating"), NULL);
    const redisReply *data = ctl_field(f, "d");
    if (!req || !rating || !data || data->type != REDIS_REPLY_STRING) {
        w->skipped++;
        return true;
    }
    if (!seen_add(&w->seen, req))
        return true; /* an earlier rating of a request rated again */
    if (w->rating && strcmp(rating, w->rating) != 0)
        return true;
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *d = tok ? json_tokener_parse_ex(tok, data->str, (int)data->len) : NULL;
    bool ok = d && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(d, json_type_object);
    if (tok)
        json_tokener_free(tok);
    if (!ok) {
        json_object_put(d);
        w->skipped++;
        return true;
    }
    w->shown++;
    if (w->format == FORMAT_TABLE) {
        print_row(d);
        json_object_put(d);
    } else if (w->format == FORMAT_CSV) {
        print_csv(d);
        json_object_put(d);
    } else {
        ctl_json_print(d);
    }
    return true;
}

static int run(const char *cmd, int argc, char **argv, const struct nova_config *cfg)
{
    static const struct option longs[] = {{"since", required_argument, NULL, 's'},
                                          {"rating", required_argument, NULL, 'r'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"csv", no_argument, NULL, 'c'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    struct walk w = {.format = strcmp(cmd, "list") == 0 ? FORMAT_TABLE : FORMAT_JSON};
    bool json = false, csv = false;
    long long since = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (ch == 'h') {
            help();
            return NOVACTL_OK;
        } else if (ch == 'j') {
            json = true;
        } else if (ch == 'c') {
            csv = true;
        } else if (ch == 'r') {
            if (strcmp(optarg, "up") != 0 && strcmp(optarg, "down") != 0)
                return ctl_usage_error("feedback", cmd, synopsis,
                                       "--rating is up or down, not '%s'", optarg);
            w.rating = optarg;
        } else if (ch == 's') {
            if (novactl_gaps_duration(optarg, &since) < 0)
                return ctl_usage_error("feedback", cmd, synopsis,
                                       "--since wants a duration such as 30m, 24h or 7d, not "
                                       "'%s'",
                                       optarg);
        } else {
            return ctl_usage_error("feedback", cmd, synopsis,
                                   "unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ctl_usage_error("feedback", cmd, synopsis, "takes no operands (got '%s')",
                               argv[optind]);
    if (json && csv)
        return ctl_usage_error("feedback", cmd, synopsis, "--json or --csv, not both");
    if (json)
        w.format = FORMAT_JSON;
    if (csv)
        w.format = FORMAT_CSV;
    redisContext *c = ctl_connect(cfg, "feedback");
    if (!c)
        return NOVACTL_FAIL;
    if (since > 0) {
        long long now = ctl_time_ms(c, "feedback");
        if (now < 0) {
            redisFree(c);
            return NOVACTL_FAIL;
        }
        w.start_ms = now > since ? now - since : 1;
    }
    if (w.format == FORMAT_TABLE)
        printf("%-19s  %-32s  %-4s  %-9s  %-*s  %s\n", "time (UTC)", "request", "rate",
               "reason", SHOWN_CHARS + 3, "question", "comment");
    else if (w.format == FORMAT_CSV)
        fputs(csv_header, stdout);
    int rc = ctl_stream_walk(c, "feedback", KEY_FEEDBACK, true, "+", FEEDBACK_PAGE, take, &w);
    redisFree(c);
    if (w.format == FORMAT_TABLE && rc == 0)
        printf("%zu request%s rated (%zu rating%s read)\n", w.shown, w.shown == 1 ? "" : "s",
               w.entries, w.entries == 1 ? "" : "s");
    if (w.skipped)
        fprintf(stderr, "novactl feedback %s: %zu malformed entr%s skipped\n", cmd, w.skipped,
                w.skipped == 1 ? "y" : "ies");
    seen_free(&w.seen);
    return rc == 0 ? NOVACTL_OK : NOVACTL_FAIL;
}

static int cmd_list(int argc, char **argv, const struct nova_config *cfg)
{
    return run("list", argc, argv, cfg);
}

static int cmd_export(int argc, char **argv, const struct nova_config *cfg)
{
    return run("export", argc, argv, cfg);
}

int novactl_feedback(int argc, char **argv, const struct nova_config *cfg)
{
    static const struct ctl_cmd cmds[] = {{"list", cmd_list}, {"export", cmd_export}};
    return ctl_dispatch("feedback", synopsis, help, cmds, sizeof cmds / sizeof cmds[0], argc,
                        argv, cfg);
}
