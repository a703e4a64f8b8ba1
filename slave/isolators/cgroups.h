/*
 * Control groups, as the agent and agora-executor use them: which hierarchy
 * holds each controller, the containers' groups under the agent's own subtree
 * (<controller mount>/<root>/<container id>), limits, statistics, the OOM
 * counter, killing every process of a group and removing it.
 *
 * Layouts (cg_detect reads /proc/self/mountinfo once, at start):
 *   v1      every controller on its own "cgroup" mount (or several on one,
 *           such as cpu,cpuacct); no cgroup2 mount
 *   hybrid  v1 controllers plus a "cgroup2" mount (systemd's unified/, often
 *           with no controllers or only hugetlb): a controller is taken from
 *           v1 when it is mounted there, else from v2 when the v2 mount lists
 *           it in cgroup.controllers
 *   v2      one cgroup2 mount holding every controller
 * Each controller is resolved on its own, so a controller missing from v1 but
 * present on v2 works in the hybrid layout too. cpuacct on v2 is cpu.stat (a
 * core file); the freezer on v2 is cgroup.freeze (and cgroup.kill when the
 * kernel has it).
 *
 * Nothing outside <mount>/<root> is ever written, except cgroup.subtree_control
 * of the v2 mount's root and of <root> on v2, where the controllers must be
 * enabled for the groups below.
 *
 * Two levels: cg_dir_* work on one group directory and are all agora-executor
 * needs (the agent passes it the directories); the layout functions compose
 * them for one container id. Functions return 0 or a negative AG_E* code, with
 * a message in `err` where they take one. Not thread-safe; no global state.
 */
#ifndef AGORA_SLAVE_CGROUPS_H
#define AGORA_SLAVE_CGROUPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CG_DEVICES: the v1 devices controller; on a pure v2 layout a device program
 * (BPF_PROG_TYPE_CGROUP_DEVICE) on the group stands for it (cg_set_devices). */
enum cg_ctrl { CG_CPU, CG_CPUACCT, CG_MEMORY, CG_PIDS, CG_FREEZER, CG_DEVICES, CG_NCTRL };

#define CG_MASK(c) (1u << (c))

struct cg_layout {
    char name[8];            /* "v1", "hybrid", "v2" or "none" */
    char v2_mount[PATH_MAX]; /* the cgroup2 mount point, "" when there is none */
    struct {
        int version;          /* 0 (unavailable), 1 or 2 */
        char mount[PATH_MAX]; /* its hierarchy's mount point */
    } ctrl[CG_NCTRL];
};

/* Statistics of one group (zero where the kernel has no figure). */
struct cg_stats {
    double cpu_user_s, cpu_system_s, cpu_throttled_s;
    uint64_t cpu_periods, cpu_throttled_periods;
    double cpu_limit; /* CFS quota / period, 0 = none */
    uint64_t cpu_shares; /* v1: cpu.shares; v2: 0 (cpu.weight cannot keep every value) */
    uint64_t cpu_weight; /* v2: cpu.weight (1-10000); v1: 0 */
    uint64_t mem_rss, mem_cache, mem_usage, mem_peak, mem_limit;
    uint64_t oom_kills;
    uint64_t pids, pids_max;
};

/* The controller's name as the kernel spells it ("cpu", "memory"...). */
const char *cg_ctrl_name(enum cg_ctrl c);

/*
 * Fills `out` from the text of a mountinfo file (`text`). v2 controllers are
 * read from <v2 mount>/cgroup.controllers. Returns 0 (also when nothing is
 * mounted: name "none").
 */
int cg_layout_parse(struct cg_layout *out, const char *text);

/* cg_layout_parse of /proc/self/mountinfo. */
int cg_detect(struct cg_layout *out, char *err, size_t errlen);

/*
 * Prepares the agent's subtree `root` (relative, e.g. "agora") for the
 * controllers in `mask`: creates <mount>/<root> and on v2 enables the
 * controllers in cgroup.subtree_control from the v2 root down to <root>.
 * Returns 0, -AG_ENOENT when a controller in `mask` is unavailable, -AG_EIO.
 */
int cg_setup(const struct cg_layout *l, const char *root, unsigned mask, char *err, size_t errlen);

/* <mount>/<root>/<id> of controller `c` (or <mount>/<root> when id is NULL).
 * Returns 0, -AG_ENOENT (controller unavailable), -AG_ERANGE. */
int cg_path(const struct cg_layout *l, const char *root, enum cg_ctrl c, const char *id, char *out,
            size_t len);

/* Creates the container's groups of `mask` (existing ones are kept). On a
 * failure the groups created are removed again. */
int cg_create(const struct cg_layout *l, const char *root, unsigned mask, const char *id, char *err,
              size_t errlen);

/*
 * Removes the container's groups of `mask` after killing whatever still runs in
 * them (cg_kill). Returns 0 when every group is gone (or never existed) and
 * -AG_EAGAIN when one is still busy (try again a little later).
 */
int cg_destroy(const struct cg_layout *l, const char *root, unsigned mask, const char *id);

/* The cpu shares for `cpus`: 1024 per cpu, rounded, within 2-262144. */
uint64_t cg_cpus_to_shares(double cpus);

/* cpu.weight (1-10000) for `shares` (2-262144), as runc and crun convert; many
 * shares give one weight, so cg_weight_to_shares(cg_shares_to_weight(s)) is
 * only near s. */
uint64_t cg_shares_to_weight(uint64_t shares);
uint64_t cg_weight_to_shares(uint64_t weight);

/* Sets cpu shares (cg_cpus_to_shares; cpu.weight on v2) and, when `quota`, the
 * CFS quota (cpus x 100 ms per 100 ms period, at least 1 ms). */
int cg_set_cpu(const struct cg_layout *l, const char *root, const char *id, double cpus, bool quota,
               char *err, size_t errlen);

/*
 * Lets the container's processes use only the devices Docker and runc allow by
 * default: /dev/null, zero, full, random, urandom, tty, console, ptmx and the
 * pts (136:*), any access; mknod of any device (opening it is still refused).
 * v1: "a" denied then those allowed in the devices group; v2: a device program
 * attached to the group. Returns 0 or an error with a message.
 */
int cg_set_devices(const struct cg_layout *l, const char *root, const char *id, char *err,
                   size_t errlen);

/* Sets the memory limit (and no swap beyond it where the kernel can say so). */
int cg_set_mem(const struct cg_layout *l, const char *root, const char *id, uint64_t bytes,
               char *err, size_t errlen);

/* Sets the maximum number of processes (and threads). */
int cg_set_pids(const struct cg_layout *l, const char *root, const char *id, uint64_t max,
                char *err, size_t errlen);

/* Reads what the controllers of `mask` know about the container. */
int cg_stats(const struct cg_layout *l, const char *root, unsigned mask, const char *id,
             struct cg_stats *out);

/* Freezes the container (freezer, else its first group) and SIGKILLs every
 * process in it, then thaws it so they die. Returns 0 or -AG_ENOENT. */
int cg_kill(const struct cg_layout *l, const char *root, unsigned mask, const char *id);

/*
 * Iterates the names of the groups under <mount>/<root> of controller `c`:
 * calls fn(arg, name) for each. Returns 0 or -AG_ENOENT.
 */
int cg_list(const struct cg_layout *l, const char *root, enum cg_ctrl c,
            void (*fn)(void *arg, const char *name), void *arg);

/* ---- one group directory ---- */

/* Writes `value` to `dir`/`file`. */
int cg_dir_write(const char *dir, const char *file, const char *value, char *err, size_t errlen);

/* Reads `dir`/`file` into `buf` (NUL terminated, trailing newline removed). */
int cg_dir_read(const char *dir, const char *file, char *buf, size_t len);

/* The value of `key` in a "key value" file (memory.stat, cpu.stat, memory.events,
 * memory.oom_control...). Returns 0 or -AG_ENOENT. */
int cg_dir_read_key(const char *dir, const char *file, const char *key, uint64_t *out);

/* Moves process `pid` into the group `dir`. */
int cg_dir_join(const char *dir, int pid, char *err, size_t errlen);

/* Number of processes in `dir` (cgroup.procs), or -1 when unreadable. */
int cg_dir_nprocs(const char *dir);

/* Kills every process of the group `procs_dir`: frozen first through
 * `freezer_dir` (v1 freezer.state or v2 cgroup.freeze; NULL: not frozen), or at
 * once with cgroup.kill on v2 when `version` is 2 and the kernel has it. Waits
 * at most `freeze_wait_ms` for the freeze to settle. */
int cg_dir_kill(const char *procs_dir, const char *freezer_dir, int version, int freeze_wait_ms);

/* OOM kills so far in the memory group `dir` (v1 memory.oom_control or v2
 * memory.events "oom_kill"). */
uint64_t cg_dir_oom_kills(const char *dir, int version);

/*
 * A file descriptor that becomes readable when the memory group `dir` runs
 * out of memory: a v1 eventfd registered through cgroup.event_control, or a v2
 * inotify watch on memory.events (read and discard its events). Returns the fd
 * or a negative AG_E* code.
 */
int cg_dir_oom_fd(const char *dir, int version);

#endif
