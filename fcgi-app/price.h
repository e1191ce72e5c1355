/* price: what an answer cost, from the token usage Bedrock reports. The one place that knows
 * the on-demand prices (USD per million tokens, us-east-1 list prices of Amazon Nova):
 *
 *   model   input    output   cache read (25% of input)   cache write (charged as input)
 *   micro   0.035    0.14     0.00875                     0.035
 *   pro     0.80     3.20     0.20                        0.80
 *
 * Bedrock's inputTokens excludes the cached prefix, which it reports separately as
 * cacheReadInputTokens / cacheWriteInputTokens, so the three are priced and added. */
#ifndef NOVA_PRICE_H
#define NOVA_PRICE_H

#include "bedrock.h"

/* Cost in USD of one call of model ("micro" or "pro"; anything else costs 0). */
double price_cost_usd(const char *model, const struct bedrock_usage *u);

#endif
