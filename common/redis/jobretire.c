/* jobretire: a finished job's XACK, XDEL and receipt in one fenced script (see jobretire.h). */
#include "redis/jobretire.h"

#include <string.h>

#include "redis/contract.h"

const char JOB_RETIRE_LUA[] =
    "if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3]) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])\n"
    "if ARGV[4] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'job', ARGV[6], 'entry',\n"
    "             ARGV[2], 'worker', ARGV[3])\n"
    "end\n"
    "return 1\n";

void job_retire_args_fill(struct job_retire_args *a, const char *jobs_key, const char *done_key,
                          const char *entry, const char *consumer, bool xdel,
                          const char *done_maxlen, const char *receipt, size_t receipt_len)
{
    const char *v[11] = {"EVAL",  JOB_RETIRE_LUA, "2",      jobs_key,    done_key,
                         KEYS_GROUP, entry,       consumer, xdel ? "1" : "0", done_maxlen,
                         receipt ? receipt : ""};
    a->argc = 11;
    for (int i = 0; i < 11; i++) {
        a->argv[i] = v[i];
        a->argvlen[i] = i == 10 && receipt ? receipt_len : strlen(v[i]);
    }
}
