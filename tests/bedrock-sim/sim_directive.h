/* sim_directive: the steering directives tests put in a prompt's last user message
 * ("#sim:NAME=VALUE", NAME in a-z and '-', VALUE in [A-Za-z0-9_-]; a flag, "#sim:guardrail",
 * has no value). Real Bedrock reads them as
 * text; the simulator obeys them and its model never repeats them. Unknown names and numbers that
 * do not parse are ignored. No I/O. */
#ifndef SIM_DIRECTIVE_H
#define SIM_DIRECTIVE_H

#include <stddef.h>

#include "core/buf.h"

/* -1 / "" when absent. */
struct sim_directives {
    int tps;           /* #sim:tps=N         tokens per second (>= 1) */
    int len;           /* #sim:len=N         exactly N output tokens */
    int ttft_ms;       /* #sim:ttft=MS       time to first token */
    int throttle;      /* #sim:throttle=N    first N identical calls get 429 ThrottlingException */
    int stream_error;  /* #sim:stream-error=N  an exception frame after N deltas */
    int stall_ms;      /* #sim:stall=MS      a pause after half the tokens */
    int drop;          /* #sim:drop=N        half a frame after N deltas, then the socket closes */
    int guardrail;     /* #sim:guardrail     (a flag, no value) a guardrail intervention, when
                          the request carries a guardrailConfig */
    char stream_error_type[48]; /* #sim:stream-error-type=NAME (default modelStreamErrorException) */
    char error[48];             /* #sim:error=NAME  answer that HTTP error instead */
};

void sim_directives_init(struct sim_directives *d);
/* Reads the directives of text[0..n) into *d (fields not found keep their value). Returns how
 * many were found. */
int sim_directives_parse(const char *text, size_t n, struct sim_directives *d);
/* Appends text[0..n) with its directives removed (and one blank next to each). Returns 0 or -1
 * (out full). */
int sim_directives_strip(const char *text, size_t n, struct buf *out);

#endif
