/* libFuzzer target: NOVA_REDIS_URL (rurl.c) and its masking (config_mask_url) take bytes from
 * the environment; neither may read past them, and neither error nor mask may show the
 * password it parsed. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "redis/rurl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1100)
        return 0;
    char url[1101];
    memcpy(url, data, size);
    url[size] = '\0';
    struct rconn_addr a;
    char err[256], masked[1200], name[700];
    config_mask_url(url, masked, sizeof masked);
    if (rurl_parse(url, &a, err, sizeof err) == 0) {
        rurl_name(&a, name, sizeof name);
        /* A password of 4+ letters and digits that occurs once in the URL (so only as
         * itself) and not in the decoded user must be in neither the name nor the masked
         * URL: it cannot span a separator, so any hit is a leak. */
        size_t n = strlen(a.password);
        bool alnum = n >= 4;
        for (size_t i = 0; i < n && alnum; i++)
            alnum = (a.password[i] >= 'a' && a.password[i] <= 'z') ||
                    (a.password[i] >= 'A' && a.password[i] <= 'Z') ||
                    (a.password[i] >= '0' && a.password[i] <= '9');
        const char *once = alnum ? strstr(url, a.password) : NULL;
        if (once && !strstr(once + 1, a.password) && !strstr(a.user, a.password) &&
            !strstr("redis rediss unix", a.password) &&
            (strstr(name, a.password) || strstr(masked, a.password)))
            abort();
    }
    return 0;
}
