/* usage: the tokens one model call used, as Bedrock reports them and as every layer counts
 * them — the event model_done carries it, done sums it, the price table prices it, the
 * metrics count it. inputTokens excludes the cached prefix, which comes as cache reads or
 * writes, so the four add up to what is billed. */
#ifndef NOVA_USAGE_H
#define NOVA_USAGE_H

struct token_usage {
    long input_tokens;
    long output_tokens;
    long cache_read_tokens;
    long cache_write_tokens;
};

static inline void usage_add(struct token_usage *sum, const struct token_usage *u)
{
    sum->input_tokens += u->input_tokens;
    sum->output_tokens += u->output_tokens;
    sum->cache_read_tokens += u->cache_read_tokens;
    sum->cache_write_tokens += u->cache_write_tokens;
}

#endif
