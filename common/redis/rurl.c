/* rurl: Redis URLs (see rurl.h). A parser only: no I/O, every field bounded. */
#include "redis/rurl.h"

#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "core/config.h"
#include "core/errstr.h"

/* Parses 1..max decimal digits from s[0..n); -1 when not a number in range. */
static long parse_decimal(const char *s, size_t n, long max)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes with the NUL); -1 on a bad escape, a NUL or
 * when it does not fit. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            ch = (char)(h * 16 + l);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

/* userinfo is s[0..n): "password" or "user:password". */
static int parse_userinfo(const char *s, size_t n, struct rconn_addr *a, char *errstr,
                          size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    const char *pw = s;
    size_t pwlen = n;
    if (colon) {
        if (pct_decode(s, (size_t)(colon - s), a->user, sizeof a->user) < 0) {
            errstr_set(errstr, errlen, "NOVA_REDIS_URL: badly %%-escaped or too long user name");
            return -1;
        }
        pw = colon + 1;
        pwlen = n - (size_t)(pw - s);
    }
    if (pwlen == 0 || pct_decode(pw, pwlen, a->password, sizeof a->password) < 0) {
        /* never echo the URL here: it holds the password */
        errstr_set(errstr, errlen, "NOVA_REDIS_URL: empty, badly %%-escaped or too long password");
        return -1;
    }
    return 0;
}

static bool host_char_ok(char ch, bool ipv6)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ipv6 ? ch == ':' || ch == '.' : ch == '.' || ch == '-' || ch == '_';
}

/* p: what follows the userinfo; shown is the URL with its secret masked (for errors). */
static int parse_tcp(const char *shown, const char *p, struct rconn_addr *a, char *errstr,
                     size_t errlen)
{
    const char *url = shown;
    if (strchr(p, '?') || strchr(p, '#')) {
        errstr_set(errstr, errlen, "%s: query strings are not supported", url);
        return -1;
    }
    const char *host = p, *host_end, *rest;
    bool ipv6 = *p == '[';
    if (ipv6) {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            errstr_set(errstr, errlen, "%s: unterminated [IPv6 address]", url);
            return -1;
        }
        rest = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/");
        rest = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof a->host) {
        errstr_set(errstr, errlen, "%s: missing or too long host", url);
        return -1;
    }
    for (size_t i = 0; i < hlen; i++)
        if (!host_char_ok(host[i], ipv6)) {
            errstr_set(errstr, errlen, "%s: bad character in host", url);
            return -1;
        }
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    a->port = 6379;
    if (*rest == ':') {
        rest++;
        size_t n = strcspn(rest, "/");
        long port = parse_decimal(rest, n, 65535);
        if (port < 1) {
            errstr_set(errstr, errlen, "%s: port must be 1..65535", url);
            return -1;
        }
        a->port = (int)port;
        rest += n;
    }
    if (*rest == '/' && rest[1] != '\0') {
        long db = parse_decimal(rest + 1, strlen(rest + 1), 65535);
        if (db < 0) {
            errstr_set(errstr, errlen, "%s: database must be a number 0..65535", url);
            return -1;
        }
        a->db = (int)db;
    } else if (*rest != '\0' && strcmp(rest, "/") != 0) {
        errstr_set(errstr, errlen, "%s: unexpected \"%s\" after the host", url, rest);
        return -1;
    }
    return 0;
}

static int parse_unix(const char *shown, const char *path, struct rconn_addr *a, char *errstr,
                      size_t errlen)
{
    size_t n = strlen(path);
    /* sun_path bounds what connect() can reach, whatever our field could hold. */
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (path[0] != '/' || n < 2) {
        errstr_set(errstr, errlen, "%s: want unix:///absolute/path", shown);
        return -1;
    }
    if (n > max || n >= sizeof a->path) {
        errstr_set(errstr, errlen, "%s: socket path longer than %zu bytes", shown, max);
        return -1;
    }
    if (strchr(path, '?')) {
        errstr_set(errstr, errlen, "%s: query strings are not supported", shown);
        return -1;
    }
    a->is_unix = true;
    memcpy(a->path, path, n + 1);
    return 0;
}

int rurl_parse(const char *url, struct rconn_addr *a, char *errstr, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!url || !*url) {
        errstr_set(errstr, errlen, "empty Redis URL");
        return -1;
    }
    const char *p;
    bool is_unix = false;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        a->tls = true;
    } else if (strncmp(url, "unix://", 7) == 0) {
        p = url + 7;
        is_unix = true;
    } else {
        errstr_set(errstr, errlen, "%.40s: want redis://[[user:]password@]host:port[/db], "
                   "rediss://... or unix://[[user:]password@]/path",
                   strchr(url, '@') ? "the URL" : url);
        return -1;
    }
    /* The userinfo ends at the last '@' (nothing after it may hold one); a unix URL's only
     * when the path follows it. */
    const char *at = strrchr(p, '@');
    if (is_unix && at && at[1] != '/')
        at = NULL;
    if (is_unix && p[0] == '/')
        at = NULL;
    char shown_url[700]; /* what errors name: the URL with any secret masked */
    config_mask_url(url, shown_url, sizeof shown_url);
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), a, errstr, errlen) < 0)
            return -1;
        p = at + 1;
    }
    if (is_unix)
        return parse_unix(shown_url, p, a, errstr, errlen);
    return parse_tcp(shown_url, p, a, errstr, errlen);
}

void rurl_name(const struct rconn_addr *a, char *out, size_t n)
{
    const char *sep = a->user[0] ? "@" : "";
    if (a->is_unix)
        snprintf(out, n, "unix://%s%s%s", a->user, sep, a->path);
    else
        snprintf(out, n, "%s://%s%s%s:%d/%d", a->tls ? "rediss" : "redis", a->user, sep,
                 a->host, a->port, a->db);
}
