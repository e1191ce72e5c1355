/* jsonout: the two things every JSON writer here needs from json-c, done one way: compact
 * serialisation onto a capped buf, and doubles printed as a person would write them. */
#ifndef NOVA_JSONOUT_H
#define NOVA_JSONOUT_H

#include <json-c/json.h>

#include "buf.h"

/* Serialises root compactly (no slash escaping) onto out and releases root. 0, or -1 when out
 * is full (out unchanged). */
int json_append_put(json_object *root, struct buf *out);

/* A double printed in the shortest decimal form that reads back as the same value (0.3, not
 * json-c's 0.29999999999999999). */
json_object *json_new_short_double(double v);

#endif
