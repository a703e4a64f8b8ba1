/*
 * Isolators: what a container is made of, chosen once at start by
 * --isolation (a comma-separated list of the names below, "posix" for plain
 * process trees, or "auto"). Each isolator is a table of functions
 * (struct isolator_ops) in slave/isolators/:
 *
 *   cgroups/cpu       cpu shares (1024 per cpu) and CFS quota from `cpus`; cpuacct
 *   cgroups/mem       memory limit from `mem`; OOM -> REASON_CONTAINER_LIMITATION_MEMORY
 *   cgroups/pids      pids.max = --container_pids_max
 *   namespaces/pid    the task's own pid namespace under a small init, fresh /proc
 *   namespaces/ipc    its own System V IPC and POSIX message queues
 *   namespaces/uts    its own hostname (the task id)
 *   namespaces/net    "network": "none" tasks get a network namespace with only loopback
 *   filesystem/linux  images: overlay root filesystem, pivot_root, /dev, /proc, /tmp
 *
 * "auto" takes every isolator whose kernel support is there when the agent
 * runs as root, and "posix" otherwise. With any cgroups isolator the freezer
 * is used too, to kill a container as a whole.
 *
 * Division of labour: the agent creates a container's cgroups and writes their
 * limits (iso_prepare, on the loop thread: a few mkdir and writes), and
 * describes the rest of the container in launch.json's "container" object;
 * agora-executor puts the container's first process into the cgroups (all
 * but the cpu ones, listed in "cgroups_setup", while the process builds the
 * container; the cpu ones afterwards) and builds namespaces and filesystem
 * (slave/executor.c, container_init.c). The
 * agent removes the cgroups once the container is gone (iso_cleanup), and
 * removes groups under its root that belong to no known container after a
 * restart (iso_orphans). Containers' groups live at
 * <controller mount>/<--cgroups_root>/<container id> and nothing else is
 * touched (see isolators/cgroups.h).
 *
 * Threads: the agent's loop thread. Functions return 0 or a negative AG_E*
 * code with a message in `err`.
 */
#ifndef AGORA_SLAVE_ISOLATOR_H
#define AGORA_SLAVE_ISOLATOR_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isolators/cgroups.h"
#include "msg.h"

#define ISO_MAX 16

struct iso_config {
    const char *isolation;    /* "auto" (NULL), "posix" or a list of names */
    const char *cgroups_root; /* relative, e.g. "agora" (NULL: "agora") */
    uint64_t pids_max;        /* --container_pids_max; 0 = no limit */
    bool cfs_quota;           /* hard cpu limit besides the shares */
    const char *image_cache;  /* directory of unpacked layers */
};

struct iso {
    const struct isolator_ops *ops[ISO_MAX];
    size_t nops;
    char names[512]; /* the isolators in use, comma separated ("posix" when none) */
    struct cg_layout layout;
    char cg_root[256];
    unsigned cg_mask; /* controllers in use (freezer included) */
    uint64_t pids_max;
    bool cfs_quota;
    char image_cache[PATH_MAX];
    bool ns_pid, ns_ipc, ns_uts, ns_net, fs_linux;
};

/* One container as the isolators see it at launch. */
struct iso_container {
    const char *id;
    const char *meta_dir;
    const char *sandbox_dir;
    const struct msg_task_info *task;
    double cpus;        /* from the task's resources (0 when absent) */
    uint64_t mem_bytes; /* idem */
};

struct isolator_ops {
    const char *name;
    unsigned cgroups; /* controllers it needs (CG_MASK bits) */
    /* At start: is the kernel support there? Sets its flags in `iso`. */
    int (*init)(struct iso *iso, char *err, size_t errlen);
    /* Before launch, after the cgroups exist: limits; adds to `container`. */
    int (*prepare)(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
                   size_t errlen);
};

extern const struct isolator_ops iso_cgroups_cpu, iso_cgroups_mem, iso_cgroups_pids;
extern const struct isolator_ops iso_namespaces_pid, iso_namespaces_ipc, iso_namespaces_uts,
    iso_namespaces_net, iso_filesystem_linux;

/* Opens the isolators `cfg` asks for (detecting the cgroup layout). Returns 0,
 * or -AG_EINVAL (unknown name) / the failing isolator's code with a message. */
int iso_open(struct iso **out, const struct iso_config *cfg, char *err, size_t errlen);

/* Accepts NULL. */
void iso_close(struct iso *iso);

/* True when containers have cgroups. */
bool iso_has_cgroups(const struct iso *iso);

/*
 * Creates the container's cgroups with their limits and adds "container" (and
 * what else the executor needs) to the launch document `launch`. A task asking
 * for what no isolator provides (an image without filesystem/linux, "network":
 * "none" without namespaces/net) is refused with -AG_EINVAL. On failure
 * nothing is left behind.
 */
int iso_prepare(struct iso *iso, const struct iso_container *c, json_t *launch, char *err,
                size_t errlen);


/* Statistics of the container's cgroups; -AG_ENOENT without cgroups. */
int iso_stats(struct iso *iso, const char *id, struct cg_stats *out);

/* True (with a message) when the kernel OOM-killed a process of the container. */
bool iso_oom(struct iso *iso, const char *id, char *msg, size_t msglen);

/* Freezes the container and SIGKILLs all its processes; -AG_ENOENT without cgroups. */
int iso_kill(struct iso *iso, const char *id);

/* Removes the container's cgroups (killing stragglers). 0, or -AG_EAGAIN when a
 * group is still busy: call again later. */
int iso_cleanup(struct iso *iso, const char *id);

/* The agent's root group of each hierarchy in use, one per line, in `buf`. */
void iso_roots(const struct iso *iso, char *buf, size_t len);

/* Destroys the groups under the agent's root whose name `known` does not
 * claim. Returns how many were destroyed. */
int iso_orphans(struct iso *iso, bool (*known)(void *arg, const char *id), void *arg);

#endif
