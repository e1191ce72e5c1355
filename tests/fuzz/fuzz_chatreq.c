/* fuzz_chatreq: the chat body validator and the route validators on arbitrary bytes.
 *
 * A body that passes must give what the contract promises: a trimmed, NUL-free, valid UTF-8
 * message of 1-4000 characters, ui_lang "ko" or "en", a session id that is empty or valid (and
 * as a translate body: text of 1-4000 characters, target ko, en or auto). A
 * body that fails must leave nothing to free and a sentence to send. The same bytes as a
 * stream id must parse only when they format back to the same value; as a Content-Type or a
 * query string they must give answers that point inside them. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "product/chatreq.h"
#include "redis/streamid.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void check_body(const char *s, size_t n)
{
    struct chatreq r;
    char err[160];
    err[0] = '\0';
    if (chatreq_parse(s, n, &r, err, sizeof err) < 0) {
        if (r.message != NULL || err[0] == '\0' || strlen(err) >= sizeof err)
            abort();
        return;
    }
    if (!r.message || strlen(r.message) != r.message_len || !utf8_valid(r.message, r.message_len) ||
        r.message_chars != utf8_count(r.message, r.message_len) || r.message_chars < 1 ||
        r.message_chars > CHATREQ_MESSAGE_MAX_CHARS || is_space(r.message[0]) ||
        is_space(r.message[r.message_len - 1]))
        abort();
    if (strcmp(r.ui_lang, "ko") != 0 && strcmp(r.ui_lang, "en") != 0)
        abort();
    if (r.session_id[0] && !chatreq_session_id_valid(r.session_id, strlen(r.session_id)))
        abort();
    chatreq_free(&r);
}

/* The same bytes as a translate body. */
static void check_translate(const char *s, size_t n)
{
    struct translatereq t;
    char err[160] = "";
    if (translatereq_parse(s, n, &t, err, sizeof err) < 0) {
        if (t.text != NULL || err[0] == '\0')
            abort();
        return;
    }
    if (!t.text || strlen(t.text) != t.text_len || !utf8_valid(t.text, t.text_len) ||
        t.text_chars < 1 || t.text_chars > CHATREQ_MESSAGE_MAX_CHARS ||
        (strcmp(t.target, "ko") != 0 && strcmp(t.target, "en") != 0 &&
         strcmp(t.target, "auto") != 0))
        abort();
    translatereq_free(&t);
}

static void check_ids(const char *s, size_t n)
{
    struct stream_id id, back;
    if (stream_id_parse(s, n, &id) == 0) {
        char out[48];
        stream_id_format(&id, out, sizeof out);
        if (stream_id_parse(out, strlen(out), &back) != 0 || stream_id_cmp(&id, &back) != 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                abort();
    }
    if (chatreq_request_id_valid(s, n) && n != CHATREQ_REQUEST_ID_LEN)
        abort();
    if (chatreq_session_id_valid(s, n) && (n < 8 || n > 64 || memchr(s, '/', n) || memchr(s, '.', n)))
        abort();
}

/* The same bytes as a Content-Type and a query string (C strings, as the parameters are). */
static void check_params(const char *s, size_t n)
{
    char *z = malloc(n + 1);
    memcpy(z, s, n);
    z[n] = '\0';
    bool json = chatreq_content_type_is_json(z);
    if (json && !strcasestr(z, "application/json"))
        abort();
    const char *v;
    size_t vn;
    if (chatreq_query_param(z, "after", &v, &vn) == 1) {
        size_t len = strlen(z);
        if (v < z || v + vn > z + len || memchr(v, '&', vn) || v < z + 6 || v[-1] != '=')
            abort();
    }
    free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized copy, so ASan sees any read past the body's end. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    check_body(copy, size);
    check_translate(copy, size);
    check_ids(copy, size);
    check_params(copy, size);
    free(copy);
    return 0;
}
