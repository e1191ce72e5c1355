/* creds_chain: AWS credentials from the standard chain, in the SDKs' order, so that a host set
 * up for the AWS CLI or an SDK gives us the same credentials.
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
 * The environment is read once, into struct creds_config, so that a program checks and prints
 * what its chain will use at start and no link reads a variable behind its back. A walk of the
 * chain blocks on the network (the ECS and IMDS links); creds.h's provider keeps it off the
 * threads that serve requests. */
#ifndef NOVA_CREDS_CHAIN_H
#define NOVA_CREDS_CHAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "aws/creds_parse.h"

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
/* The same walk, given up as soon as *stop is raised (from another thread): the link in
 * progress aborts its transfer and the remaining links report "stopped". */
int creds_resolve_until(const struct creds_config *c, const atomic_bool *stop,
                        struct aws_creds *out, char *errstr, size_t errlen);

#endif
