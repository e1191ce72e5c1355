/* novactl: the operator's tool. One file per command group (tools/novactl/<group>.c), each
 * with one entry point declared here and listed in main.c's group table.
 *
 * An entry gets argv from the group's name on (argv[0] = "kb", argv[1] = the command, ...) and
 * the configuration read once from the environment. It prints results on stdout (key: value
 * lines, or JSON with --json), errors on stderr prefixed "novactl <group>: ", and returns an
 * exit code: NOVACTL_OK, NOVACTL_FAIL (the operation failed), NOVACTL_USAGE (bad command line,
 * after printing the group's usage). */
#ifndef NOVACTL_H
#define NOVACTL_H

#include "core/config.h"

enum { NOVACTL_OK = 0, NOVACTL_FAIL = 1, NOVACTL_USAGE = 2 };

int novactl_kb(int argc, char **argv, const struct nova_config *cfg);
int novactl_status(int argc, char **argv, const struct nova_config *cfg);
int novactl_health(int argc, char **argv, const struct nova_config *cfg);
int novactl_jobs(int argc, char **argv, const struct nova_config *cfg);
int novactl_dead(int argc, char **argv, const struct nova_config *cfg);
int novactl_glossary(int argc, char **argv, const struct nova_config *cfg);
/* `novactl kb gaps` (gaps.c), a command of the kb group; and its --since parser: a number
 * with a unit s, m, h, d or w, into ms. Returns 0 or -1. */
int novactl_kb_gaps(int argc, char **argv, const struct nova_config *cfg);
int novactl_gaps_duration(const char *s, long long *ms);

#endif
