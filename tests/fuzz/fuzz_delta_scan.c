/* libFuzzer target: bedrock_delta_scan (common/aws/delta_scan.c) against json-c, differentially.
 *
 * Whenever the scan says it is sure, json-c must parse the same payload to an object whose
 * delta.text is exactly the scan's bytes; the scan's text must lie in the payload or in its
 * room. (When it is not sure, json-c decides: nothing to compare.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/bedrock_proto.h"

static json_tokener *tok;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok)
        tok = json_tokener_new();
    const char *p = (const char *)data, *text = NULL;
    size_t len = 0;
    char room[512];
    if (bedrock_delta_scan(p, size, &text, &len, room, sizeof room) != 1)
        return 0;
    bool inside = (text >= p && text + len <= p + size) ||
                  (text >= room && text + len <= room + sizeof room);
    if (!inside || size > INT32_MAX)
        abort();
    json_tokener_reset(tok);
    json_object *o = json_tokener_parse_ex(tok, p, (int)size), *d, *t;
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_object_get_ex(o, "delta", &d) || !json_object_object_get_ex(d, "text", &t) ||
        !json_object_is_type(t, json_type_string) ||
        (size_t)json_object_get_string_len(t) != len ||
        memcmp(json_object_get_string(t), text, len) != 0)
        abort();
    json_object_put(o);
    return 0;
}
