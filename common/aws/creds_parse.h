/* creds_parse: the credentials and the parts of the credential chain that do no I/O: the INI
 * credentials file, the metadata endpoints' JSON, value checks and masking.
 *
 * Kept apart from the links that read files and call endpoints (creds_chain.c) so that the unit
 * tests and tests/fuzz/fuzz_creds.c can feed these parsers any bytes at all, which is where a
 * hostile or broken credentials source would reach us. */
#ifndef NOVA_CREDS_PARSE_H
#define NOVA_CREDS_PARSE_H

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

/* Parses an INI credentials file's text for one profile. Returns 0, or -1 with errstr when the
 * profile or its keys are missing. */
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

#endif
