/* fuzz_feedback: the feedback body parser (fcgi-app/feedback.h) on arbitrary bytes.
 *
 * A body that passes must give what POST /api/chat/<id>/feedback promises to store: a rating
 * up or down, a reason among the API's (or none), a comment of valid UTF-8 with no NUL and no
 * control character but line breaks and tabs, at most FEEDBACK_COMMENT_MAX_CHARS characters;
 * and that result written back as JSON must parse to the same. A body that fails must leave a
 * sentence to send, NUL-terminated inside its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/utf8.h"
#include "fcgi-app/feedback.h"

static struct feedback_body b, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    memset(err, 'x', sizeof err);
    err[0] = '\0';
    if (feedback_body_parse((const char *)data, size, &b, err, sizeof err) < 0) {
        if (err[0] == '\0' || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    if ((unsigned)b.rating >= FEEDBACK_RATINGS || (unsigned)b.reason >= FEEDBACK_REASONS)
        abort();
    size_t n = strnlen(b.comment, sizeof b.comment);
    if (n == sizeof b.comment || !utf8_valid(b.comment, n) ||
        utf8_count(b.comment, n) > FEEDBACK_COMMENT_MAX_CHARS)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b.comment[i];
        if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
            abort();
    }
    if (strcmp(feedback_rating_name(b.rating), "?") == 0 ||
        strcmp(feedback_reason_name(b.reason), "?") == 0)
        abort();
    /* written back the way a page would send it: the same result */
    json_object *o = json_object_new_object();
    json_object_object_add(o, "rating", json_object_new_string(feedback_rating_name(b.rating)));
    if (b.reason != FEEDBACK_NO_REASON)
        json_object_object_add(o, "reason",
                               json_object_new_string(feedback_reason_name(b.reason)));
    if (n)
        json_object_object_add(o, "comment", json_object_new_string_len(b.comment, (int)n));
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (feedback_body_parse(js, strlen(js), &again, err, sizeof err) < 0 ||
        again.rating != b.rating || again.reason != b.reason ||
        strcmp(again.comment, b.comment) != 0)
        abort();
    json_object_put(o);
    return 0;
}
