/* Unit tests for workers/shared_text.c: one copy per distinct text, kept while jobs hold it;
 * prompts by name (looked up, added, the least recently used one no job holds forgotten first),
 * within the slot and byte bounds. */
#include "workers/shared_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void name_of(const char *text, char *name)
{
    job_prompt_name(text, strlen(text), name);
}

static void test_by_name(void)
{
    struct text_table t;
    text_table_init(&t);
    char n1[JOB_SHA256_HEX + 1], n2[JOB_SHA256_HEX + 1];
    name_of("the rules and the glossary", n1);
    name_of("after a reload", n2);
    CHECK(text_lookup(&t, n1) == NULL); /* a miss: the reader fetches it */
    char *a = xstrdup("the rules and the glossary");
    struct shared_text *e = text_add(&t, n1, &a, strlen(a));
    CHECK(e && a == e->s && e->refs == 1 && strcmp(e->name, n1) == 0);
    struct shared_text *again = text_lookup(&t, n1); /* the next job: a hit */
    CHECK(again == e && e->refs == 2);
    /* A second add of the same name (two readers raced) keeps the first copy. */
    char *dup = xstrdup("the rules and the glossary");
    CHECK(text_add(&t, n1, &dup, strlen(dup)) == e && dup == e->s && e->refs == 3);
    CHECK(text_lookup(&t, n2) == NULL);
    /* A text interned by content does not answer to a name. */
    char *c = xstrdup("after a reload");
    struct shared_text *ec = text_intern(&t, &c);
    CHECK(ec && ec->name[0] == '\0' && text_lookup(&t, n2) == NULL);
    CHECK(text_add(&t, "not-a-name", &c, 3) == NULL);
    for (int i = 0; i < 3; i++)
        text_release(&t, e);
    text_release(&t, ec);
    CHECK(e->refs == 0);
    text_table_free(&t);
}

static void test_least_recently_used_goes(void)
{
    struct text_table t;
    text_table_init(&t);
    char names[TEXT_SLOTS + 1][JOB_SHA256_HEX + 1];
    for (int i = 0; i <= TEXT_SLOTS; i++) {
        char txt[32];
        snprintf(txt, sizeof txt, "prompt number %d", i);
        name_of(txt, names[i]);
        if (i == TEXT_SLOTS)
            break;
        char *s = xstrdup(txt);
        text_release(&t, text_add(&t, names[i], &s, strlen(s))); /* held by nobody */
    }
    /* The first one was used again since: the second is the one that goes. */
    text_release(&t, text_lookup(&t, names[0]));
    char *s = xstrdup("prompt number 16");
    struct shared_text *e = text_add(&t, names[TEXT_SLOTS], &s, strlen(s));
    CHECK(e != NULL);
    text_release(&t, e);
    struct shared_text *first = text_lookup(&t, names[0]), *second = text_lookup(&t, names[1]);
    CHECK(first != NULL && second == NULL);
    text_release(&t, first);
    text_table_free(&t);
}

static void test_byte_bound(void)
{
    struct text_table t;
    text_table_init(&t);
    size_t big = TEXT_MAX_BYTES / 2 + 1;
    char *a = xmalloc(big + 1), *b = xmalloc(big + 1);
    memset(a, 'a', big);
    memset(b, 'b', big);
    a[big] = b[big] = '\0';
    char na[JOB_SHA256_HEX + 1], nb[JOB_SHA256_HEX + 1];
    name_of(a, na);
    name_of(b, nb);
    char *mine = b;
    struct shared_text *ea = text_add(&t, na, &a, big);
    CHECK(ea != NULL);
    /* Two do not fit the bytes while the first is held: the second job keeps its copy. */
    CHECK(text_add(&t, nb, &b, big) == NULL && b == mine);
    text_release(&t, ea);
    /* Let go, the first makes room. */
    struct shared_text *eb = text_add(&t, nb, &b, big);
    CHECK(eb != NULL && text_lookup(&t, na) == NULL && t.bytes == big);
    text_release(&t, eb);
    text_table_free(&t);
}

int main(void)
{
    RUN(test_same_text_shares_one_copy);
    RUN(test_full_table_keeps_the_jobs_copy);
    RUN(test_by_name);
    RUN(test_least_recently_used_goes);
    RUN(test_byte_bound);
    return test_summary();
}
