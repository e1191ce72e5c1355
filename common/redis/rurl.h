/* rurl: NOVA_REDIS_URL parsed into an address (no I/O; the bytes come from the environment).
 *
 *   redis://[[user:]password@]host[:port][/db]     plain TCP (port 6379)
 *   rediss://[[user:]password@]host[:port][/db]    TLS (rtls.h)
 *   unix://[[user:]password@]/absolute/path         a unix socket
 *
 * user and password are percent-decoded (RFC 3986: a '@', ':' or '/' in a password is written
 * %40, %3A, %2F); a lone "password@" is the default user's password (AUTH password), "user:
 * password@" an ACL user's (AUTH user password). The TLS files are not in the URL: they come
 * from the configuration (rconn_addr_from_config). */
#ifndef NOVA_RURL_H
#define NOVA_RURL_H

#include <stdbool.h>
#include <stddef.h>

struct rconn_addr {
    bool is_unix;
    bool tls;            /* rediss:// */
    char host[256];
    int port;
    char path[512];
    int db;
    char user[128];      /* "" : the default user */
    char password[256];  /* "" : no AUTH */
    char tls_ca_file[512];   /* "" : the system's trust store */
    char tls_cert_file[512]; /* a client certificate, with tls_key_file; "" : none */
    char tls_key_file[512];
};

/* Fills a (zeroed first; TLS files left empty). Returns 0, or -1 with errstr, which never
 * contains the password. */
int rurl_parse(const char *url, struct rconn_addr *a, char *errstr, size_t errlen);

/* a's address without its secret, for log lines: "rediss://nova@host:6380/0". */
void rurl_name(const struct rconn_addr *a, char *out, size_t n);

#endif
