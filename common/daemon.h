/*
 * The start every daemon's main shares (agora-master, agora-agent,
 * agora-services): flags, --help, logging, signals.
 *
 *     rc = daemon_flags(table, &argc, argv, "agora-x", "What it is.", &f_logging_level, &level);
 *     if (rc != DAEMON_RUN)
 *         return rc;
 *     ... the daemon's own checks of its flags ...
 *     daemon_logging("x", level);
 *     ... open the daemon on a loop, uv_run, close ...
 */
#ifndef AGORA_DAEMON_H
#define AGORA_DAEMON_H

#include "flags.h"
#include "log.h"

#define DAEMON_RUN (-1) /* daemon_flags: go on */

/*
 * Parses `table` from argv (flags.h; the environment too). On --help prints
 * the usage with `summary` to stdout and returns 0; on a bad flag, an
 * argument that is not a flag, or a --logging_level (*logging_level, set by
 * the parse) that log_parse_level refuses, prints "<prog>: <why>" to stderr
 * and returns 1; flags_free(table) on both. Otherwise sets *level and returns
 * DAEMON_RUN.
 */
int daemon_flags(const struct flag *table, int *argc, char **argv, const char *prog,
                 const char *summary, char *const *logging_level, enum ag_log_level *level);

/* Names the log component, sets the log level and ignores SIGPIPE (a peer
 * that goes away is an error return, not a signal). */
void daemon_logging(const char *component, enum ag_log_level level);

#endif
