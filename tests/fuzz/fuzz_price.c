/* libFuzzer target: the price table parser (config/prices.json is an operator's file). */
#include <stddef.h>
#include <stdint.h>

#include "product/price.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct price_table t;
    char err[256];
    if (price_table_parse((const char *)data, size, &t, err, sizeof err) == 0) {
        struct token_usage u = {1, 2, 3, 4};
        for (size_t i = 0; i < t.n_models; i++)
            (void)price_cost(&t, t.models[i].name, &u);
    }
    return 0;
}
