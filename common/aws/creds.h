/* creds: AWS credentials from the standard chain, in the SDKs' order, with background refresh.
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared credentials file: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials),
 *      profile AWS_PROFILE (default "default")
 *   3. ECS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (at 169.254.170.2), or
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *   4. EC2 instance metadata, IMDSv2: PUT /latest/api/token, GET the role name, GET the
 *      credentials; endpoint AWS_EC2_METADATA_SERVICE_ENDPOINT, off with
 *      AWS_EC2_METADATA_DISABLED=true
 *
 * The environment is read once, into struct creds_config (STYLE.md habit 9). Temporary
 * credentials (those with an Expiration) are refreshed by a background thread ahead of expiry;
 * readers copy the current credentials under a mutex and never wait for the network, so streams
 * in flight are never blocked by a refresh. */
#ifndef NOVA_CREDS_H
#define NOVA_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CREDS_KEY_MAX 128
#define CREDS_TOKEN_MAX 4096
#define CREDS_STR_MAX 1024

struct aws_creds {
    char access_key_id[CREDS_KEY_MAX];
    char secret_access_key[CREDS_KEY_MAX];
    char session_token[CREDS_TOKEN_MAX]; /* "" for long-term keys */
    time_t expiration;                   /* 0 = does not expire */
    const char *source;                  /* "environment", "shared-file", "ecs", "imds" */
};

/* The links of the chain, in the order they are tried. */
enum creds_link { CREDS_LINK_ENV, CREDS_LINK_FILE, CREDS_LINK_ECS, CREDS_LINK_IMDS, CREDS_LINKS };

struct creds_config {
    char env_access_key_id[CREDS_KEY_MAX];
    char env_secret_access_key[CREDS_KEY_MAX];
    char env_session_token[CREDS_TOKEN_MAX];
    char profile[CREDS_KEY_MAX];            /* default "default" */
    char shared_file[CREDS_STR_MAX];        /* default $HOME/.aws/credentials */
    char ecs_relative_uri[CREDS_STR_MAX];
    char ecs_full_uri[CREDS_STR_MAX];
    char ecs_auth_token[CREDS_TOKEN_MAX];
    char ecs_auth_token_file[CREDS_STR_MAX];
    char ecs_host[CREDS_KEY_MAX];           /* "http://169.254.170.2"; tests point it at loopback */
    char imds_endpoint[CREDS_STR_MAX];      /* default "http://169.254.169.254" */
    bool imds_disabled;
    long http_timeout_ms;                   /* per metadata call; default 1000 */
    int refresh_ahead_s;                    /* refresh this long before Expiration; default 300 */
    /* Set by creds_config_from_env when a variable does not fit its field; that link then fails
     * with this message instead of using a truncated value. */
    char config_error[CREDS_LINKS][128];
};

/* Fills c with the defaults, then the environment. */
void creds_config_from_env(struct creds_config *c);
/* Fills c with the defaults only (tests then set fields). */
void creds_config_defaults(struct creds_config *c);

/* Walks the chain once. Returns 0 with *out filled, or -1 with errstr saying what each link
 * found ("environment: not set; shared-file: no profile \"x\"; ..."). */
int creds_resolve(const struct creds_config *c, struct aws_creds *out, char *errstr,
                  size_t errlen);

/* Parses an INI credentials file's text for one profile (no I/O; exposed for tests and the fuzz
 * target). Returns 0, or -1 with errstr when the profile or its keys are missing. */
int creds_parse_shared_file(const char *text, size_t len, const char *profile,
                            struct aws_creds *out, char *errstr, size_t errlen);

/* Parses the JSON the ECS endpoint and IMDS return ({"AccessKeyId", "SecretAccessKey",
 * "Token", "Expiration"}). Returns 0, or -1 with errstr. */
int creds_parse_json(const char *text, size_t len, struct aws_creds *out, char *errstr,
                     size_t errlen);

/* Checks one credential value and copies it into dst: blanks around it are trimmed, the rest
 * must be 1..size-1 bytes of printable ASCII without blanks (what AWS issues; it keeps CR/LF
 * out of the signed headers it ends up in). Returns 0, or -1 with errstr naming `what`. */
int creds_copy_value(char *dst, size_t size, const char *src, size_t n, const char *what,
                     char *errstr, size_t errlen);

/* Masks a secret for printing: first 4 characters then "****" (or "(unset)"); a secret shorter
 * than 8 characters prints as "****" alone. */
const char *creds_mask(const char *secret, char *out, size_t outlen);

/* The provider: resolves at creation (synchronously, once), then keeps credentials fresh. */
struct creds_provider;

/* Returns NULL with errstr when no link of the chain yields credentials. c is copied. */
struct creds_provider *creds_provider_new(const struct creds_config *c, char *errstr,
                                          size_t errlen);
/* Copies the current credentials. Never blocks on the network. Returns 0, or -1 when the
 * credentials have expired and no refresh has succeeded (errstr says the last failure). */
int creds_provider_get(struct creds_provider *p, struct aws_creds *out, char *errstr,
                       size_t errlen);
/* Number of successful refreshes after the first resolve (for tests and the status page). */
unsigned long creds_provider_refreshes(struct creds_provider *p);
void creds_provider_free(struct creds_provider *p);

#endif
