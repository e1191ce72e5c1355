/* test_session: fcgi-app/session.c without Redis — the pending turn a chat keeps for when its
 * answer is done (nova:turn:<request>): its session id and its question, cut to
 * SESSION_TEXT_MAX bytes between characters, as JSON. */
#include "../../fcgi-app/session.h"

#include <string.h>

#include <json-c/json.h>

#include "core/utf8.h"
#include "test.h"

static void test_turn_holds_session_and_question(void)
{
    struct buf b;
    buf_init(&b, 1u << 16);
    const char *q = "폴이 \"레벨업\"을 못 해요\n";
    session_turn_json(&b, "privSession_01", q, strlen(q));
    json_object *t = json_tokener_parse(buf_cstr(&b));
    json_object *v = NULL;
    CHECK(t && json_object_object_get_ex(t, "session", &v));
    CHECK_STR_EQ(v ? json_object_get_string(v) : NULL, "privSession_01");
    CHECK(t && json_object_object_get_ex(t, "question", &v));
    CHECK_STR_EQ(v ? json_object_get_string(v) : NULL, q);
    json_object_put(t);
    buf_free(&b);
}

static void test_long_question_cut_between_characters(void)
{
    /* 3-byte characters: SESSION_TEXT_MAX (2000) is not a multiple of 3. */
    char q[3 * 1000 + 1];
    for (size_t i = 0; i < 1000; i++)
        memcpy(q + 3 * i, "한", 3);
    q[3000] = '\0';
    struct buf b;
    buf_init(&b, 1u << 16);
    session_turn_json(&b, "privSession_02", q, 3000);
    json_object *t = json_tokener_parse(buf_cstr(&b));
    json_object *v = NULL;
    CHECK(t && json_object_object_get_ex(t, "question", &v));
    const char *got = v ? json_object_get_string(v) : "";
    size_t n = strlen(got);
    CHECK(n <= SESSION_TEXT_MAX && n == 1998 && n % 3 == 0);
    CHECK(utf8_valid(got, n));
    json_object_put(t);
    buf_free(&b);
}

int main(void)
{
    RUN(test_turn_holds_session_and_question);
    RUN(test_long_question_cut_between_characters);
    return test_summary();
}
