/* price: what an answer cost, from the token usage Bedrock reports and a price table an
 * operator keeps up to date (config/prices.json, NOVA_PRICES_FILE). No I/O but
 * price_table_load.
 *
 * The file: {"currency": "USD", "per": 1000, "models": {"micro": {"input": 0.000035,
 * "output": 0.00014, "cache_read": 0.00000875, "cache_write": 0.000035}, "pro": {...}}} —
 * prices per `per` tokens (1000 or 1000000), one object per model name of the jobs ("micro",
 * "pro"). "input" and "output" are required; "cache_read" defaults to a quarter of "input"
 * and "cache_write" to "input" (Bedrock's discount for Nova). Unknown keys are ignored (notes
 * for the operator); a negative or non-numeric price is an error naming the model and field.
 *
 * Bedrock's inputTokens excludes the cached prefix, which it reports separately as
 * cacheReadInputTokens / cacheWriteInputTokens, so the three are priced and added. */
#ifndef NOVA_PRICE_H
#define NOVA_PRICE_H

#include <stddef.h>

#include "core/usage.h"

#define PRICE_MAX_MODELS 8
#define PRICE_FILE_MAX (64u * 1024u)

struct price_model {
    char name[32];
    double input, output, cache_read, cache_write; /* USD per token */
};

struct price_table {
    char currency[8];
    struct price_model models[PRICE_MAX_MODELS];
    size_t n_models;
};

/* Parses the table from text[0..len). Returns 0, or -1 with errstr. */
int price_table_parse(const char *text, size_t len, struct price_table *t, char *errstr,
                      size_t errlen);
/* Reads and parses a file (errstr names it). */
int price_table_load(const char *path, struct price_table *t, char *errstr, size_t errlen);

/* Cost of one call of model (a name of the table; anything else costs 0). */
double price_cost(const struct price_table *t, const char *model, const struct token_usage *u);

/* The cost as a short JSON number: "0.000123", "0". out has at least 32 bytes. */
void price_format(double usd, char *out, size_t n);

#endif
