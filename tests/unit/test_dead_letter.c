/* test_dead_letter: workers/dead_letter.c — the XADD of a dead letter, as both the reader and
 * the engine send it: its fields in order, the stream's cap, and a job kept byte for byte. */
#include "workers/dead_letter.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

static void test_fields_in_order(void)
{
    static struct worker w;
    memset(&w, 0, sizeof w);
    snprintf(w.dead_key, sizeof w.dead_key, "nova:dead:{micro}");
    snprintf(w.id, sizeof w.id, "micro-a");
    struct dead_letter_args a;
    dead_letter_args_fill(&a, &w, "{\"v\":1}", 7, "not retryable after 1 call(s): x",
                          "model_error", "1700000000000-0");
    const char *want[] = {"XADD", "nova:dead:{micro}", "MAXLEN", "~", "10000", "*", "job",
                          "{\"v\":1}", "reason", "not retryable after 1 call(s): x", "code",
                          "model_error", "worker", "micro-a", "failed_ms", NULL, "entry",
                          "1700000000000-0"};
    CHECK(a.argc == 18);
    for (int i = 0; i < 18 && i < a.argc; i++) {
        if (want[i]) {
            CHECK_STR_EQ(a.argv[i], want[i]);
            CHECK(a.lens[i] == strlen(want[i]));
        }
    }
    CHECK(strtoll(a.argv[15], NULL, 10) > 1600000000000LL); /* failed_ms: now, epoch ms */
}

static void test_job_is_kept_as_it_was(void)
{
    static struct worker w;
    memset(&w, 0, sizeof w);
    const char raw[] = {'{', 0, (char)0xff, '}'}; /* an unreadable job, NUL and all */
    struct dead_letter_args a;
    dead_letter_args_fill(&a, &w, raw, sizeof raw, "bad job: x", "internal", "1-0");
    CHECK(a.argv[7] == raw && a.lens[7] == sizeof raw);
}

int main(void)
{
    RUN(test_fields_in_order);
    RUN(test_job_is_kept_as_it_was);
    return test_summary();
}
