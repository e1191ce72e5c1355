/* fuzz_handoff: the handoff body parser (fcgi-app/handoff_doc.h, handoff_body_parse) on
 * arbitrary bytes.
 *
 * A body that passes must give what handoff.h promises the receiver: a note of valid UTF-8,
 * NUL-free, at most HANDOFF_NOTE_MAX_CHARS characters with no control character but newline,
 * tab and carriage return; a contact of at most HANDOFF_CONTACT_MAX_CHARS characters with no
 * control character at all; a session id that is empty or valid. Written back as JSON and
 * parsed again, the same fields must come back (the parser keeps nothing it did not check). A
 * body that fails must leave a sentence to send, within its buffer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/utf8.h"
#include "fcgi-app/handoff_doc.h"
#include "product/chatreq.h"

static void check_text(const char *s, size_t max_chars, bool multiline)
{
    size_t n = strlen(s);
    if (!utf8_valid(s, n) || utf8_count(s, n) > max_chars)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))))
            abort();
    }
}

static struct handoff_body b, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    err[0] = '\0';
    if (handoff_body_parse((const char *)data, size, &b, err, sizeof err) < 0) {
        if (err[0] == '\0' || strlen(err) >= sizeof err)
            abort();
        return 0;
    }
    check_text(b.note, HANDOFF_NOTE_MAX_CHARS, true);
    check_text(b.contact, HANDOFF_CONTACT_MAX_CHARS, false);
    if (b.session_id[0] && !chatreq_session_id_valid(b.session_id, strlen(b.session_id)))
        abort();
    /* The round trip: what was kept, written as a body, parses to the same. */
    json_object *o = json_object_new_object();
    json_object_object_add(o, "note", json_object_new_string(b.note));
    json_object_object_add(o, "contact", json_object_new_string(b.contact));
    if (b.session_id[0])
        json_object_object_add(o, "session_id", json_object_new_string(b.session_id));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (handoff_body_parse(text, strlen(text), &again, err, sizeof err) < 0 ||
        strcmp(again.note, b.note) != 0 || strcmp(again.contact, b.contact) != 0 ||
        strcmp(again.session_id, b.session_id) != 0)
        abort();
    json_object_put(o);
    return 0;
}
