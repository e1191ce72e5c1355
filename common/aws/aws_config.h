/* aws_config: the settings of the AWS side, read from the environment by the programs that
 * call AWS — nova-worker, bedrock-ask, the benchmark's direct path — and by no other: the
 * region and endpoints of the Bedrock client, the credential chain's variables, and the retry
 * policy of a failed call. nova-fcgi never reads them. Read once, at start, so that a wrong
 * setting stops the program before its first call and the settings it runs with can be
 * printed (secrets masked) from one place. */
#ifndef NOVA_AWS_CONFIG_H
#define NOVA_AWS_CONFIG_H

#include <stdio.h>

#include "aws/bedrock.h"
#include "aws/creds.h"
#include "core/env.h"
#include "core/log.h"

struct aws_config {
    struct bedrock_config bedrock; /* AWS_REGION (or AWS_DEFAULT_REGION), NOVA_BEDROCK_ENDPOINT,
                                      NOVA_KB_ENDPOINT, NOVA_BEDROCK_IDLE_TIMEOUT_S,
                                      NOVA_BEDROCK_CONNECT_TIMEOUT_MS, and the guardrail:
                                      NOVA_GUARDRAIL_ID, NOVA_GUARDRAIL_VERSION,
                                      NOVA_GUARDRAIL_STREAM_MODE, NOVA_GUARDRAIL_TRACE */
    struct creds_config creds;     /* AWS_ACCESS_KEY_ID and the rest of the chain (creds.h) */
    long retry_max_attempts;       /* NOVA_RETRY_MAX_ATTEMPTS: calls of one job before its
                                      first token, the first included (4) */
    long retry_base_ms;            /* NOVA_RETRY_BASE_MS: backoff base (200) */
    long retry_cap_ms;             /* NOVA_RETRY_CAP_MS: backoff cap (5000) */
};

/* Reads the environment. Returns 0, or -1 with errstr naming the variable that is wrong. */
int aws_config_from_env(struct aws_config *a, char *errstr, size_t errlen);

/* Shows every setting, secrets masked (not even a prefix of the secret or the token). */
void aws_config_visit(const struct aws_config *a, setting_fn fn, void *arg);
void aws_config_print(const struct aws_config *a, FILE *out);
void aws_config_log_fields(const struct aws_config *a, struct log_line *l);

#endif
