/* fuzz_log: log lines carry text from outside (paths, Bedrock's error messages, ids), so any
 * bytes in any field must still make one line of valid UTF-8 that parses as one JSON object.
 *
 * Input: byte 0 splits the rest into a rid and a message; the message is also used as a second
 * field, so long inputs overflow the line. The line must be at most LOG_LINE_MAX bytes, end
 * in "}\n" with no other line end, be valid UTF-8 and parse as an object; when it was not cut,
 * its "msg" must read back as the input with bad bytes replaced by U+FFFD. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % 48 < size - 1 ? data[0] % 48 : size - 1;
    char rid[64];
    memcpy(rid, data + 1, split);
    rid[split] = '\0';
    const char *msg = (const char *)data + 1 + split;
    size_t n = size - 1 - split;
    static struct log_line l; /* 8 KiB: off the fuzzer's stack */
    log_line_begin(&l, LOG_INFO, rid, "fuzz");
    log_line_strn(&l, "msg", msg, n);
    log_line_strn(&l, "again", msg, n);
    log_line_end(&l);
    if (l.len > LOG_LINE_MAX || l.len < 3 || memcmp(l.buf + l.len - 2, "}\n", 2) != 0 ||
        memchr(l.buf, '\n', l.len - 1) || !utf8_valid(l.buf, l.len))
        abort();
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, l.buf, (int)l.len - 1);
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(o, json_type_object))
        abort();
    json_object *m;
    if (!l.cut) {
        struct buf want;
        buf_init(&want, 4 * n + 16);
        utf8_append_sanitized(&want, msg, n);
        if (!json_object_object_get_ex(o, "msg", &m) ||
            (size_t)json_object_get_string_len(m) != want.len ||
            memcmp(json_object_get_string(m), buf_cstr(&want), want.len) != 0)
            abort();
        buf_free(&want);
    }
    json_object_put(o);
    json_tokener_free(tok);
    return 0;
}
