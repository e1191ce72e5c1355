/* jsonout: compact serialisation and short doubles (see jsonout.h). */
#include "jsonout.h"

#include <stdio.h>
#include <stdlib.h>

int json_append_put(json_object *root, struct buf *out)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = buf_append(out, s, len);
    json_object_put(root);
    return rc;
}

json_object *json_new_short_double(double v)
{
    char s[40];
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    return json_object_new_double_s(v, s);
}
