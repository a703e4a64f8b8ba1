/*
 * The processes of `agora cluster` (tools/agora_cluster.c): detached daemons
 * known by a pid file and recognised by their command line.
 *
 * A component NAME of a cluster directory DIR has DIR/NAME.pid and
 * DIR/NAME.log. Its process is started detached (own session, stdin
 * /dev/null, output appended to the log). Later it counts as running only
 * while the pid in the pid file names a live, non-zombie process whose program
 * (argv[0], or argv[1] for a script run by its interpreter) has the file name
 * `prog` and whose command line holds the argument `mark` (e.g.
 * "--work_dir=DIR/agent1"), so a reused pid is never taken for a component.
 *
 * No function keeps state; messages go to stderr through cli_error.
 */
#ifndef AGORA_CLUSTER_PROC_H
#define AGORA_CLUSTER_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cproc {
    char name[32];            /* DIR/NAME.pid, DIR/NAME.log */
    char prog[32];            /* the program's file name */
    char mark[PATH_MAX + 64]; /* an argument only this component's process has */
};

/* DIR/NAME.pid and DIR/NAME.log. */
void cproc_pid_path(const char *dir, const struct cproc *p, char *buf, size_t len);
void cproc_log_path(const char *dir, const struct cproc *p, char *buf, size_t len);

/* Reads /proc/PID/cmdline into buf (NUL-separated, NUL-terminated); returns
 * its length or -1. */
ssize_t cproc_cmdline(pid_t pid, char *buf, size_t len);

/* Whether `pid` is gone or a zombie. */
bool cproc_zombie(pid_t pid);

/* Whether `pid` is a live process of `p` (program and mark, see above). */
bool cproc_is(pid_t pid, const struct cproc *p);

/* The pid in p's pid file when that process is p; else 0. */
pid_t cproc_running(const char *dir, const struct cproc *p);

/*
 * Starts argv (argv[0] a path) detached with its output appended to p's log,
 * and writes p's pid file. Returns the pid (also when the pid file could not
 * be written: the error is printed), or -1 after printing why nothing runs.
 */
pid_t cproc_spawn(const char *dir, const struct cproc *p, char *const *argv);

/* Sends `sig` to `pid` and waits up to `wait_ms` until it is no longer p.
 * Returns true when it is gone. */
bool cproc_stop(pid_t pid, const struct cproc *p, int sig, int64_t wait_ms);

/* Prints the last `lines` lines of p's log to stderr. */
void cproc_log_tail(const char *dir, const struct cproc *p, int lines);

/* Whether something accepts TCP connections on HOST:PORT (an IPv4 address). */
bool cproc_port_in_use(const char *host, int port);

/*
 * Stops the tasks of the agents of cluster DIR through their executors
 * (agora-executor with --meta=DIR/agent...; they forward SIGTERM to the task):
 * SIGTERM, then after grace_ms (plus the executors' own 3 s) SIGKILL to the
 * task's process group and the executor. Prints what it did. Returns 0, or
 * CLI_FAIL when out of memory.
 */
int cproc_stop_tasks(const char *dir, int64_t grace_ms);

#endif
