/* log: JSON log lines on stderr, one write(2) each (see log.h). */
#include "core/log.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/utf8.h"

/* Kept free at the end of every line: a closing quote, ,"cut":true, }\n and a NUL. */
#define LOG_RESERVE 16
#define LOG_CONTEXT_MAX 512
#define LOG_VALUE_MAX 2048 /* one mixed "key=text %s text" value, formatted */

static const char *log_prog = "nova";
static enum log_level log_threshold = LOG_INFO;
static char log_ctx[LOG_CONTEXT_MAX]; /* ,"key":"value" pairs, already escaped */
static size_t log_ctx_len;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog, enum log_level level)
{
    const char *slash = strrchr(prog, '/');
    log_prog = slash ? slash + 1 : prog;
    log_threshold = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level >= LOG_ERROR && level <= LOG_DEBUG ? level_names[level] : "?";
}

bool log_enabled(enum log_level level)
{
    return level <= log_threshold;
}

/* ---- the line writer -------------------------------------------------------------------- */

/* Bytes that still fit before the reserve. A string's closing quote may have gone into the
 * reserve, so len can be one past the limit: never subtract the other way round. */
static size_t room(const struct log_line *l)
{
    size_t lim = LOG_LINE_MAX - LOG_RESERVE;
    return l->len < lim ? lim - l->len : 0;
}

/* Appends n bytes when they fit before the reserve; else marks the line cut. */
static bool put(struct log_line *l, const void *p, size_t n)
{
    if (l->cut || n > room(l)) {
        l->cut = true;
        return false;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    return true;
}

static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* String contents, escaped, character by character; a character that does not fit cuts the
 * line there (never inside a character or an escape). */
static void put_escaped(struct log_line *l, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !l->cut) {
        unsigned char c = (unsigned char)s[i];
        if (plain(c)) { /* the common case: a run of printable ASCII at once */
            size_t j = i;
            while (j < n && plain((unsigned char)s[j]))
                j++;
            size_t fits = room(l), take = j - i < fits ? j - i : fits;
            memcpy(l->buf + l->len, s + i, take);
            l->len += take;
            i += take;
            if (i < j)
                l->cut = true;
            continue;
        }
        char esc[8];
        const char *p = esc;
        size_t emit, used = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, emit = 2;
        } else if (c == '\n') {
            p = "\\n", emit = 2;
        } else if (c == '\r') {
            p = "\\r", emit = 2;
        } else if (c == '\t') {
            p = "\\t", emit = 2;
        } else if (c < 0x20 || c == 0x7f) {
            emit = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
        } else if ((used = utf8_char_len(s + i, n - i)) > 0) {
            p = s + i, emit = used;
        } else {
            p = "\xEF\xBF\xBD", emit = 3, used = 1; /* U+FFFD for a byte that is no character */
        }
        if (!put(l, p, emit))
            break;
        i += used;
    }
}

/* ,"key": — all of it or nothing (the line is then cut). */
static bool put_key(struct log_line *l, const char *key)
{
    size_t mark = l->len;
    if (put(l, ",\"", 2) && put(l, key, strlen(key)) && put(l, "\":", 2))
        return true;
    l->len = mark;
    l->cut = true;
    return false;
}

/* A field whose value is JSON text already (a number, true, null). */
void log_line_raw(struct log_line *l, const char *key, const char *json)
{
    size_t mark = l->len;
    if (put_key(l, key) && !put(l, json, strlen(json)))
        l->len = mark;
}

void log_line_strn(struct log_line *l, const char *key, const char *s, size_t n)
{
    size_t mark = l->len;
    if (!put_key(l, key))
        return;
    if (!put(l, "\"", 1)) {
        l->len = mark;
        return;
    }
    put_escaped(l, s, n);
    l->buf[l->len++] = '"'; /* the reserve keeps room for it */
}

void log_line_str(struct log_line *l, const char *key, const char *s)
{
    if (s)
        log_line_strn(l, key, s, strlen(s));
    else
        log_line_raw(l, key, "null");
}

void log_line_int(struct log_line *l, const char *key, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    log_line_raw(l, key, num);
}

void log_line_bool(struct log_line *l, const char *key, bool v)
{
    log_line_raw(l, key, v ? "true" : "false");
}

void log_line_begin(struct log_line *l, enum log_level level, const char *rid,
                    const char *event)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    l->cut = false;
    l->len = (size_t)snprintf(l->buf, sizeof l->buf,
                              "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, (long)(tv.tv_usec / 1000), log_level_name(level));
    log_line_str(l, "proc", log_prog);
    log_line_int(l, "pid", (long long)getpid());
    put(l, log_ctx, log_ctx_len);
    if (rid && *rid)
        log_line_str(l, "rid", rid);
    if (event && *event)
        log_line_str(l, "event", event);
}

void log_line_end(struct log_line *l)
{
    if (l->cut) {
        memcpy(l->buf + l->len, ",\"cut\":true", 11);
        l->len += 11;
    }
    memcpy(l->buf + l->len, "}\n", 3);
    l->len += 2;
}

void log_line_write(struct log_line *l)
{
    log_line_end(l);
    ssize_t w = write(STDERR_FILENO, l->buf, l->len);
    (void)w; /* nowhere left to report a failed log write */
}

void log_context(const char *key, const char *value)
{
    struct log_line l = {0};
    log_line_str(&l, key, value);
    if (!l.cut && log_ctx_len + l.len < sizeof log_ctx) {
        memcpy(log_ctx + log_ctx_len, l.buf, l.len);
        log_ctx_len += l.len;
    }
}

/* ---- "key=value" fields ----------------------------------------------------------------- */

/* One printf conversion, parsed: its spec without flags and width (they are presentation, and
 * "%05d" is no JSON number), the argument type, and how to render it. */
struct conv {
    char spec[16];  /* "%" [.prec] length conv */
    char c;         /* the conversion character */
    int len;        /* 0 none, 'H' hh, 'h', 'l', 'q' ll, 'z', 'j', 't', 'L' */
    int prec;       /* -1 when none */
};

/* Parses the conversion at f (just after the '%'); consumes '*' arguments. Returns the
 * characters read, or 0 when it is not one we handle. */
static size_t conv_parse(const char *f, struct conv *cv, va_list *ap)
{
    const char *p = f;
    cv->prec = -1;
    cv->len = 0;
    while (*p && strchr("-+#0'", *p)) /* no ' ': a blank ends the word */
        p++;
    if (*p == '*') {
        (void)va_arg(*ap, int);
        p++;
    }
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        cv->prec = 0;
        if (*p == '*') {
            cv->prec = va_arg(*ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9')
            cv->prec = cv->prec * 10 + (*p++ - '0');
        if (cv->prec > 64)
            cv->prec = 64;
    }
    if (p[0] == 'h' && p[1] == 'h')
        cv->len = 'H', p += 2;
    else if (p[0] == 'l' && p[1] == 'l')
        cv->len = 'q', p += 2;
    else if (*p && strchr("hlzjtL", *p))
        cv->len = *p++;
    if (!*p || !strchr("diuxXocsfFeEgGaAp", *p))
        return 0;
    cv->c = *p++;
    char lenmod[3] = "";
    if (cv->len == 'q')
        memcpy(lenmod, "ll", 3);
    else if (cv->len == 'H')
        memcpy(lenmod, "hh", 3);
    else if (cv->len && !strchr("fFeEgGaA", cv->c)) /* doubles are passed on as double */
        lenmod[0] = (char)cv->len;
    if (cv->prec >= 0 && cv->c != 's')
        snprintf(cv->spec, sizeof cv->spec, "%%.%d%s%c", cv->prec, lenmod, cv->c);
    else
        snprintf(cv->spec, sizeof cv->spec, "%%%s%c", lenmod, cv->c);
    return (size_t)(p - f);
}

enum conv_kind { CK_STRING, CK_NUMBER, CK_NULL };

/* Takes the argument of cv and renders it into out: a JSON number (CK_NUMBER), text
 * (CK_STRING), or nothing (CK_NULL: a NULL string, a NaN). */
static enum conv_kind conv_render(const struct conv *cv, va_list *ap, char *out, size_t n)
{
    out[0] = '\0';
    if (cv->c == 's') {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            return CK_NULL;
        size_t k = cv->prec >= 0 ? strnlen(s, (size_t)cv->prec) : strlen(s);
        snprintf(out, n, "%.*s", (int)(k < n ? k : n - 1), s);
        return CK_STRING;
    }
    if (cv->c == 'p') {
        snprintf(out, n, "%p", va_arg(*ap, void *));
        return CK_STRING;
    }
    if (cv->c == 'c') {
        snprintf(out, n, "%c", (char)va_arg(*ap, int));
        return CK_STRING;
    }
    if (strchr("fFeEgGaA", cv->c)) {
        long double v = cv->len == 'L' ? va_arg(*ap, long double) : va_arg(*ap, double);
        if (isnan(v) || isinf(v))
            return CK_NULL;
        snprintf(out, n, cv->spec, (double)v);
        return CK_NUMBER;
    }
    bool is_signed = cv->c == 'd' || cv->c == 'i';
    intmax_t sv = 0;
    uintmax_t uv = 0;
    if (is_signed) {
        switch (cv->len) {
        case 'l': sv = va_arg(*ap, long); break;
        case 'q': sv = va_arg(*ap, long long); break;
        case 'z': sv = va_arg(*ap, ssize_t); break;
        case 'j': sv = va_arg(*ap, intmax_t); break;
        case 't': sv = va_arg(*ap, ptrdiff_t); break;
        default: sv = va_arg(*ap, int); break; /* hh and h arrive promoted */
        }
    } else {
        switch (cv->len) {
        case 'l': uv = va_arg(*ap, unsigned long); break;
        case 'q': uv = va_arg(*ap, unsigned long long); break;
        case 'z': uv = va_arg(*ap, size_t); break;
        case 'j': uv = va_arg(*ap, uintmax_t); break;
        case 't': uv = (uintmax_t)va_arg(*ap, ptrdiff_t); break;
        default: uv = va_arg(*ap, unsigned); break;
        }
    }
    if (cv->c == 'x' || cv->c == 'X' || cv->c == 'o') {
        snprintf(out, n, cv->c == 'x' ? "%jx" : cv->c == 'X' ? "%jX" : "%jo", uv);
        return CK_STRING;
    }
    if (is_signed)
        snprintf(out, n, "%jd", sv);
    else
        snprintf(out, n, "%ju", uv);
    return CK_NUMBER;
}

/* One "key=value" word: f points at the value, end past it. */
static void field_value(struct log_line *l, const char *key, const char *f, const char *end,
                        va_list *ap)
{
    /* A lone %s (or %.Ns) goes straight in: a long text is cut by the line, not by val. */
    const char *p0 = f + 1;
    if (end - f >= 2 && f[0] == '%' && p0[0] == '.')
        for (p0++; p0 < end && *p0 >= '0' && *p0 <= '9'; p0++)
            ;
    if (end - f >= 2 && f[0] == '%' && p0 + 1 == end && *p0 == 's') {
        const char *s = va_arg(*ap, const char *);
        if (!s)
            log_line_raw(l, key, "null");
        else
            log_line_strn(l, key, s, f[1] == '.' ? strnlen(s, (size_t)atoi(f + 2)) : strlen(s));
        return;
    }
    char val[LOG_VALUE_MAX];
    bool full = false;
    size_t vlen = 0;
    int convs = 0;
    bool literal = false;
    enum conv_kind kind = CK_STRING;
    for (const char *p = f; p < end;) {
        char piece[LOG_VALUE_MAX];
        size_t plen;
        if (*p == '%' && p + 1 < end && p[1] != '%') {
            struct conv cv;
            size_t used = conv_parse(p + 1, &cv, ap);
            if (used == 0) { /* not a conversion we know: keep the text, take no argument */
                piece[0] = '%';
                plen = 1;
                p++;
            } else {
                kind = conv_render(&cv, ap, piece, sizeof piece);
                plen = strlen(piece);
                convs++;
                p += 1 + used;
            }
        } else {
            piece[0] = *p;
            plen = 1;
            p += *p == '%' ? 2 : 1; /* %% is one '%' */
            literal = true;
        }
        if (plen > sizeof val - 1 - vlen) {
            plen = utf8_whole_prefix(piece, sizeof val - 1 - vlen);
            full = true;
        }
        memcpy(val + vlen, piece, plen);
        vlen += plen;
    }
    val[vlen] = '\0';
    if (convs == 1 && !literal && kind == CK_NUMBER)
        log_line_raw(l, key, val);
    else if (convs == 1 && !literal && kind == CK_NULL)
        log_line_raw(l, key, "null");
    else
        log_line_strn(l, key, val, vlen);
    if (full)
        l->cut = true;
}

void log_line_fields(struct log_line *l, const char *f, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    while (*f) {
        while (*f == ' ')
            f++;
        if (!*f)
            break;
        const char *word = f, *eq = NULL;
        while (*f && *f != ' ') {
            if (*f == '=' && !eq)
                eq = f;
            f++;
        }
        char key[64];
        if (eq && (size_t)(eq - word) < sizeof key && eq > word) {
            memcpy(key, word, (size_t)(eq - word));
            key[eq - word] = '\0';
            field_value(l, key, eq + 1, f, &aq);
        } else if (!memchr(word, '%', (size_t)(f - word)) && (size_t)(f - word) < sizeof key) {
            memcpy(key, word, (size_t)(f - word)); /* a bare word: a flag */
            key[f - word] = '\0';
            log_line_bool(l, key, true);
        } else {
            field_value(l, "field", word, f, &aq); /* keeps the arguments in step */
        }
    }
    va_end(aq);
}

/* ---- the entry points ------------------------------------------------------------------- */

static void log_vtext(enum log_level level, const char *rid, const char *fmt, va_list ap)
{
    struct log_line l;
    char msg[LOG_LINE_MAX];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
    log_line_begin(&l, level, rid, NULL);
    log_line_strn(&l, "msg", msg, n);
    if ((size_t)m >= sizeof msg)
        l.cut = true;
    log_line_write(&l);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vtext(level, NULL, fmt, ap);
    va_end(ap);
}

void log_rid(enum log_level level, const char *rid, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vtext(level, rid, fmt, ap);
    va_end(ap);
}

void log_event(enum log_level level, const char *rid, const char *event, const char *fields,
               ...)
{
    if (level > log_threshold)
        return;
    struct log_line l;
    log_line_begin(&l, level, rid, event);
    va_list ap;
    va_start(ap, fields);
    log_line_fields(&l, fields, ap);
    va_end(ap);
    log_line_write(&l);
}

void log_tag(const char *s, char *out)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, LOG_TAG_LEN + 1, "%016" PRIx64, h);
}
