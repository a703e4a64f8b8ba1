/*
 * The main every libuv daemon shares (agora-master, agora-agent,
 * agora-services): flags, --help, logging, then the loop with SIGINT/SIGTERM
 * and a clean stop. Everything runs on the thread that calls main.
 *
 *     rc = daemon_flags(table, &argc, argv, "agora-x", "What it is.", &f_logging_level, &level);
 *     if (rc != DAEMON_RUN)
 *         return rc;
 *     ... the daemon's own checks of its flags ...
 *     daemon_logging("x", level);
 *     return daemon_run(&x_daemon_ops, &x, table);
 *
 * (agora-scheduler, the plugin host, runs no libuv loop: it parses its flags
 * and waits for signals on threads of its own.)
 */
#ifndef AGORA_DAEMON_H
#define AGORA_DAEMON_H

#include "flags.h"
#include "log.h"

#include <stdbool.h>
#include <uv.h>

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

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (daemon_run does it first),
 * logging the change, and warns when the result is under 4096. Every HTTP
 * client holds a descriptor for as long as it stays connected, and nng's
 * accept loop retries without pause when accept() fails with EMFILE (the
 * daemon then spins on a core and answers nobody): headroom is the defence.
 * Returns the limit now in force (capped at INT32_MAX), or -1 if unknown.
 */
int daemon_raise_nofile(void);

/* The daemon's part of daemon_run; `d` is the daemon given to daemon_run. */
struct daemon_ops {
    /* Opens the daemon on `loop`. Returns 0, or nonzero after printing
     * "<prog>: <why>" to stderr. */
    int (*start)(void *d, uv_loop_t *loop);
    /* After a failed start: closes what start left open, so that the loop
     * can finish (NULL when start leaves nothing open). */
    void (*stop)(void *d);
    /* SIGINT or SIGTERM (`signum`) arrived: logs it and closes the daemon's
     * handles, so that the loop ends. Called at most once: the signals have
     * their default action again afterwards. */
    void (*on_signal)(void *d, int signum);
    /* After the loop ended: frees the daemon; `started` says whether start
     * succeeded. Returns the exit status (ignored when start failed). */
    int (*finish)(void *d, bool started);
};

/*
 * Runs a daemon on a loop of its own: daemon_raise_nofile, uv_loop_init, ops->start, then SIGINT
 * and SIGTERM go to ops->on_signal (the watchers do not keep the loop alive:
 * it ends when the daemon has closed its handles, whether after a signal or
 * on its own), uv_run, ops->finish, uv_loop_close and flags_free(table).
 * When start fails: ops->stop, uv_run to let closed handles finish,
 * ops->finish(d, false), and the rest as above. Returns the exit status: 1
 * when start failed, else what finish returned.
 */
int daemon_run(const struct daemon_ops *ops, void *d, const struct flag *table);

#endif
