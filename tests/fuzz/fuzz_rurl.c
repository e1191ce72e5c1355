/* libFuzzer target: NOVA_REDIS_URL (rurl.c) and its masking (config_mask_url) take bytes from
 * the environment; neither may read past them, and neither error nor mask may show the
 * password it parsed. */
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
        /* a password of 4+ bytes that is not part of the rest shows in neither */
        if (strlen(a.password) >= 4 && !strstr(a.host, a.password) && !strstr(a.path, a.password) &&
            !strstr(a.user, a.password) && strstr(name, a.password))
            abort();
        if (strlen(a.password) >= 4 && strchr(url, '%') == NULL && !strstr(a.host, a.password) &&
            !strstr(a.path, a.password) && !strstr(a.user, a.password) &&
            !strstr("redis://rediss://unix://", a.password) && strstr(masked, a.password))
            abort();
    }
    return 0;
}
