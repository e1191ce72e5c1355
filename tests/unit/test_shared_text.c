/* Unit tests for workers/shared_text.c: one copy per distinct text, kept while jobs hold it. */
#include "workers/shared_text.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "test.h"

static void test_same_text_shares_one_copy(void)
{
    struct text_table t;
    text_table_init(&t);
    char *a = xstrdup("rules and glossary"), *b = xstrdup("rules and glossary");
    char *c = xstrdup("another child's prompt");
    struct shared_text *ea = text_intern(&t, &a), *eb = text_intern(&t, &b),
                       *ec = text_intern(&t, &c);
    CHECK(ea && ea == eb && a == b);   /* the second job points at the first's copy */
    CHECK(ea->refs == 2);
    CHECK(ec && ec != ea && c != a);
    CHECK(strcmp(a, "rules and glossary") == 0 && strcmp(c, "another child's prompt") == 0);
    text_release(&t, ea);
    text_release(&t, eb);
    text_release(&t, ec);
    CHECK(ea->refs == 0 && ec->refs == 0);
    text_table_free(&t);
}

static void test_full_table_keeps_the_jobs_copy(void)
{
    struct text_table t;
    text_table_init(&t);
    struct shared_text *held[TEXT_SLOTS];
    char *texts[TEXT_SLOTS];
    for (int i = 0; i < TEXT_SLOTS; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "prompt %d", i);
        texts[i] = xstrdup(buf);
        held[i] = text_intern(&t, &texts[i]);
        CHECK(held[i] != NULL);
    }
    char *extra = xstrdup("one prompt too many"), *mine = extra;
    CHECK(text_intern(&t, &extra) == NULL); /* every slot in use: not shared */
    CHECK(extra == mine);
    free(extra);
    text_release(&t, held[3]);              /* a slot no job holds is reused */
    char *again = xstrdup("one prompt too many");
    struct shared_text *e = text_intern(&t, &again);
    CHECK(e == held[3] && strcmp(again, "one prompt too many") == 0);
    text_release(&t, e);
    for (int i = 0; i < TEXT_SLOTS; i++)
        if (i != 3)
            text_release(&t, held[i]);
    text_table_free(&t);
}

int main(void)
{
    RUN(test_same_text_shares_one_copy);
    RUN(test_full_table_keeps_the_jobs_copy);
    return test_summary();
}
