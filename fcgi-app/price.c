/* price: the price table and the cost of a usage (see price.h). */
#include "price.h"

#include <string.h>

struct price {
    const char *model;
    double input, output; /* USD per million tokens */
};

static const struct price prices[] = {
    {"micro", 0.035, 0.14},
    {"pro", 0.80, 3.20},
};

#define CACHE_READ_SHARE 0.25 /* cache reads cost a quarter of the input price */

double price_cost_usd(const char *model, const struct bedrock_usage *u)
{
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        if (strcmp(model, prices[i].model) != 0)
            continue;
        const struct price *p = &prices[i];
        double usd = (double)u->input_tokens * p->input +
                     (double)u->cache_read_tokens * p->input * CACHE_READ_SHARE +
                     (double)u->cache_write_tokens * p->input +
                     (double)u->output_tokens * p->output;
        return usd / 1e6;
    }
    return 0;
}
