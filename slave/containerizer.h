/*
 * The containerizer: starts, watches and kills the containers tasks run in.
 * Today a container is a plain process tree in its own sandbox directory,
 * started through agora-executor (slave/executor.c); isolation (cgroups,
 * namespaces) will hook in here without changing the agent.
 *
 * Launch: ctr_launch() writes META/launch.json (command, environment, kill
 * grace period) and spawns `agora-executor --meta=META --sandbox=SANDBOX`
 * detached (own session), so the task outlives the agent. The executor's
 * stdout is a pipe to us carrying "running PID" (reported as on_running) and
 * "exited"; its stderr goes to META/executor.log.
 *
 * The executor is started with posix_spawn (the loop is suspended for the
 * exec only, whatever the agent's size, where fork() would copy its page
 * tables).
 *
 * Watching: an executor we spawned is our child, watched through a pidfd
 * polled by the loop and reaped with waitid() (polled every 100 ms where
 * pidfds are missing). After an agent restart, ctr_recover() attaches to an
 * executor that is no longer our child through a pidfd, after checking that
 * the pid still belongs to the process we started (its start time in
 * /proc/PID/stat). Either way the outcome is read from META/status.json, which
 * the executor writes atomically before it exits: status.json is the truth,
 * the pipe only makes things faster. An executor that died without writing it
 * is reported as CTR_LOST and what is left of the task's process group is
 * killed.
 *
 * Container states (one direction only):
 *
 *   ctr_launch()/ctr_recover() --> WATCHED --executor gone--> FINISHED (on_exit, then freed)
 *
 * on_exit is called exactly once per container (not after ctr_close), with
 * the container already removed: the callback may launch others.
 *
 * Kill: ctr_kill() sends SIGTERM to the executor, which forwards it to the
 * task (through the container's init, or to the task's process group) and
 * after the grace period written into launch.json freezes the container's
 * cgroup and SIGKILLs everything in it; ctr_kill_now() does that last step
 * itself at once (the agent's own deadline, e.g. a shorter grace period in
 * KILL_TASK, or an executor that is gone), or SIGKILLs the task's process
 * group when containers have no cgroups.
 *
 * Isolation: ctr_set_isolation() chooses the isolators (isolator.h); without
 * it containers are plain process trees ("posix"). With cgroups, a container's
 * groups are created by ctr_launch() and removed once it is gone (retried
 * every second while a group is busy); an OOM kill recorded by the memory
 * cgroup makes the outcome a memory limitation even when the executor could
 * not say so; ctr_orphans() removes groups of containers nobody knows after a
 * restart.
 *
 * Threads: loop thread only. Functions return 0 or a negative AG_E* code.
 */
#ifndef AGORA_SLAVE_CONTAINERIZER_H
#define AGORA_SLAVE_CONTAINERIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "msg.h"

#define CTR_EXECUTOR_NAME "agora-executor"

enum ctr_end {
    CTR_EXITED,       /* the task exited: code = exit status */
    CTR_SIGNALED,     /* the task was killed by a signal: code = signal number */
    CTR_START_FAILED, /* the command could not be started: message says why */
    CTR_LOST          /* the executor ended without reporting: message says how */
};

struct cg_stats;

struct ctr_outcome {
    enum ctr_end how;
    int code;
    bool killed; /* the executor was asked to kill the task */
    bool oom;    /* the memory limit was hit (message says so) */
    char message[512];
    /* The container's last usage counters, read just before its cgroups were
     * removed (valid during on_exit), or NULL without cgroups. */
    const struct cg_stats *usage;
};

struct ctr_callbacks {
    /* The task is running as `task_pid` (also after recovery). */
    void (*on_running)(void *arg, const char *container_id, int task_pid);
    /* The container is gone. */
    void (*on_exit)(void *arg, const char *container_id, const struct ctr_outcome *outcome);
};

struct ctr_launch {
    const char *container_id; /* an id (ids_valid) */
    const char *meta_dir;     /* exists; owned by the agent */
    const char *sandbox_dir;  /* exists; the task's working directory */
    const struct msg_command *command;
    const struct msg_kv *env; /* added to the task's environment, in order */
    size_t nenv;
    int64_t kill_grace_ms;            /* SIGTERM to SIGKILL, written into launch.json */
    const struct msg_task_info *task; /* resources, container; may be NULL (no limits) */
    const char *user;                 /* run as this user; NULL or "": the agent's */
};

struct ctr_info {
    const char *container_id;
    int executor_pid;
    int task_pid;   /* 0 until known */
    bool recovered; /* attached after an agent restart */
};

struct ctr;
struct iso_config;

/*
 * Opens a containerizer on `loop`. The executor is `launcher_dir`/agora-executor,
 * or next to the running program (/proc/self/exe) when `launcher_dir` is NULL
 * or "". `cb` and `arg` are borrowed. Returns 0, or -AG_ENOENT with a message
 * in `err` when the executor is not found or not executable, -AG_ENOMEM.
 */
int ctr_open(struct ctr **out, uv_loop_t *loop, const char *launcher_dir,
             const struct ctr_callbacks *cb, void *arg, char *err, size_t errlen);

/*
 * Stops watching every container (their executors keep running; a restarted
 * agent recovers them). No callback runs afterwards; memory is released from
 * the loop once the handles are closed. Accepts NULL.
 */
void ctr_close(struct ctr *c);

/*
 * Chooses the isolators (isolator.h) for containers launched from now on.
 * Returns 0 or the code of iso_open with a message in `err` (the isolation is
 * then unchanged).
 */
int ctr_set_isolation(struct ctr *c, const struct iso_config *cfg, char *err, size_t errlen);

/* The isolators in use ("posix" when none) and the cgroup layout ("none"). */
const char *ctr_isolation(const struct ctr *c);
const char *ctr_cgroup_layout(const struct ctr *c);

/* The agent's cgroup root directories, one per line ("" without cgroups). */
void ctr_cgroup_roots(const struct ctr *c, char *buf, size_t len);

/* Statistics from the container's cgroups; -AG_ENOENT without cgroups or
 * when the container is not watched. */
int ctr_usage(struct ctr *c, const char *container_id, struct cg_stats *out);


/* Destroys cgroups under the agent's root that belong to no watched
 * container (call after recovery). Returns how many. */
int ctr_orphans(struct ctr *c);

/* The path of agora-executor. */
const char *ctr_executor_path(const struct ctr *c);

/*
 * Writes launch.json and spawns the executor. Returns 0 with the executor's
 * pid and start time in *pid and *pid_start; or -AG_EEXIST (container id in
 * use), -AG_EIO (launch.json not written, spawn failed) or -AG_ENOMEM, with a
 * message in `err`; then nothing is watched and no callback will come.
 */
int ctr_launch(struct ctr *c, const struct ctr_launch *l, int *pid, uint64_t *pid_start, char *err,
               size_t errlen);

/*
 * Watches a container started before an agent restart: `pid` and `pid_start`
 * as ctr_launch returned them (pid 0 when the agent died before recording
 * them). The verdict comes from the loop: on_running if the task had started,
 * then on_exit once the executor is gone (at once if it already is). Returns 0,
 * -AG_EEXIST or -AG_ENOMEM.
 */
int ctr_recover(struct ctr *c, const char *container_id, const char *meta_dir, int64_t pid,
                uint64_t pid_start);

/* SIGTERM to the container's executor. -AG_ENOENT when not watched. */
int ctr_kill(struct ctr *c, const char *container_id);

/* SIGKILL to the task's process group (to the executor when the task has not
 * started). -AG_ENOENT when not watched. */
int ctr_kill_now(struct ctr *c, const char *container_id);

/* Fills `out` for a watched container; -AG_ENOENT otherwise. The id pointer is
 * valid until the container finishes. */
int ctr_get(const struct ctr *c, const char *container_id, struct ctr_info *out);

/* Iterates the watched containers: `*it` starts at 0; false when done. */
bool ctr_next(const struct ctr *c, size_t *it, struct ctr_info *out);

/* Number of watched containers. */
size_t ctr_count(const struct ctr *c);

/* The start time of process `pid` in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 when there is no such process. */
uint64_t ctr_proc_start_time(int pid);

#endif
