/* novactl: entry point and command-group dispatch (see novactl.h).
 *
 *   novactl [--help] <group> <command> [options] [args]
 *
 * The Redis groups (status, health, jobs, dead) talk to Redis only (NOVA_REDIS_URL), so they
 * work from any host that reaches it; kb and glossary read local files.
 *
 * Adding a group: write tools/novactl/<group>.c with int novactl_<group>(argc, argv, cfg),
 * declare it in novactl.h and add one line to groups[] below; the Makefile picks up every
 * .c file in tools/novactl/. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "novactl.h"

struct group {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, const struct nova_config *cfg);
};

static const struct group groups[] = {
    {"status", "queues (length, pending, lag, ages, dead letters) and live workers", novactl_status},
    {"health", "exit 0 when Redis answers and the queues have live workers", novactl_health},
    {"jobs", "a queue's pending and waiting jobs; one job in detail", novactl_jobs},
    {"dead", "dead letters: list, retry, purge", novactl_dead},
    {"kb", "the local knowledge base: import, search, stats", novactl_kb},
    {"glossary", "check a game glossary file", novactl_glossary},
    {"feedback", "players' ratings of answers: list, export (JSON lines, CSV)", novactl_feedback},
};

#define N_GROUPS (sizeof groups / sizeof groups[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: novactl [--help] <group> <command> [options] [args]\n\ngroups:\n");
    for (size_t i = 0; i < N_GROUPS; i++)
        fprintf(out, "  %-9s %s\n", groups[i].name, groups[i].summary);
    fprintf(out,
            "\n'novactl <group> --help' lists a group's commands. Settings come from the\n"
            "NOVA_* environment variables (see config.h). Exit status: 0 ok, 1 failure,\n"
            "2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return NOVACTL_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return NOVACTL_OK;
    }
    const struct group *g = NULL;
    for (size_t i = 0; i < N_GROUPS; i++)
        if (strcmp(argv[1], groups[i].name) == 0)
            g = &groups[i];
    if (!g) {
        fprintf(stderr, "novactl: unknown %s '%s' (groups:", argv[1][0] == '-' ? "option" : "group",
                argv[1]);
        for (size_t i = 0; i < N_GROUPS; i++)
            fprintf(stderr, " %s", groups[i].name);
        fprintf(stderr, "; see novactl --help)\n");
        return NOVACTL_USAGE;
    }
    struct nova_config cfg;
    char err[1024];
    if (config_from_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "novactl: configuration: %s\n", err);
        return NOVACTL_FAIL;
    }
    log_init("novactl", cfg.log_level);
    return g->run(argc - 1, argv + 1, &cfg);
}
