#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "error.h"
#include "isolators/cgroups.h"
#include "paths.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agora-test-cg-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static void
teardown(void)
{
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
}

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void
read_back(const char *d, const char *file, char *buf, size_t len)
{
    CHECK_EQ_INT(cg_dir_read(d, file, buf, len), 0);
}

/* ---- layouts ---- */

static void
test_layout_v1(void)
{
    struct cg_layout l;
    const char *mi =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "36 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "37 31 0:37 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
        "40 31 0:38 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n";

    CHECK_EQ_INT(cg_layout_parse(&l, mi), 0);
    CHECK_EQ_STR(l.name, "v1");
    CHECK_EQ_INT(l.ctrl[CG_CPU].version, 1);
    CHECK_EQ_STR(l.ctrl[CG_CPU].mount, "/sys/fs/cgroup/cpu,cpuacct");
    CHECK_EQ_STR(l.ctrl[CG_CPUACCT].mount, "/sys/fs/cgroup/cpu,cpuacct");
    CHECK_EQ_STR(l.ctrl[CG_MEMORY].mount, "/sys/fs/cgroup/memory");
    CHECK_EQ_INT(l.ctrl[CG_PIDS].version, 1);
    CHECK_EQ_INT(l.ctrl[CG_FREEZER].version, 1);
    CHECK_EQ_STR(l.v2_mount, "");
}

/* The machine's own layout: hugetlb alone on the v2 mount, everything else v1. */
static void
test_layout_hybrid(void)
{
    struct cg_layout l;
    char mi[2048], unified[128];

    setup();
    snprintf(unified, sizeof(unified), "%s/unified", dir);
    CHECK_EQ_INT(mkdir(unified, 0755), 0);
    snprintf(mi, sizeof(mi), "%s/cgroup.controllers", unified);
    write_file(mi, "hugetlb\n");
    snprintf(mi, sizeof(mi),
             "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
             "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
             "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
             "41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw\n",
             unified);
    CHECK_EQ_INT(cg_layout_parse(&l, mi), 0);
    CHECK_EQ_STR(l.name, "hybrid");
    CHECK_EQ_STR(l.v2_mount, unified);
    CHECK_EQ_INT(l.ctrl[CG_CPU].version, 1);
    CHECK_EQ_STR(l.ctrl[CG_CPUACCT].mount, "/sys/fs/cgroup/cpuacct");
    CHECK_EQ_INT(l.ctrl[CG_MEMORY].version, 1);
    CHECK_EQ_INT(l.ctrl[CG_FREEZER].version, 1);
    CHECK_EQ_INT(l.ctrl[CG_PIDS].version, 0); /* neither on v1 nor listed on v2 */

    /* pids only on the v2 side: taken from there. */
    snprintf(mi, sizeof(mi), "%s/cgroup.controllers", unified);
    write_file(mi, "pids hugetlb\n");
    snprintf(mi, sizeof(mi),
             "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
             "41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw\n",
             unified);
    CHECK_EQ_INT(cg_layout_parse(&l, mi), 0);
    CHECK_EQ_INT(l.ctrl[CG_PIDS].version, 2);
    CHECK_EQ_STR(l.ctrl[CG_PIDS].mount, unified);
    CHECK_EQ_INT(l.ctrl[CG_FREEZER].version, 0);
    teardown();
}

/* Pure v2, with a fake hierarchy: controllers enabled down to the root, v2
 * files and value mappings. */
static void
test_layout_v2(void)
{
    struct cg_layout l;
    struct cg_stats s;
    char mi[1024], path[PATH_MAX], buf[256], err[256], g[PATH_MAX];

    setup();
    snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
    write_file(path, "cpuset cpu io memory hugetlb pids rdma misc\n");
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
    write_file(path, "");
    snprintf(mi, sizeof(mi),
             "25 1 0:23 / %s rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
             "rw,nsdelegate,memory_recursiveprot\n",
             dir);
    CHECK_EQ_INT(cg_layout_parse(&l, mi), 0);
    CHECK_EQ_STR(l.name, "v2");
    for (int c = 0; c < CG_NCTRL; c++) {
        CHECK_EQ_INT(l.ctrl[c].version, 2);
        CHECK_EQ_STR(l.ctrl[c].mount, dir);
    }
    /* cg_setup writes "+cpu" etc. into subtree_control (a plain file here:
     * the last write wins) and creates <root>. */
    snprintf(path, sizeof(path), "%s/agora", dir);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/agora/cgroup.subtree_control", dir);
    write_file(path, "");
    CHECK_EQ_INT(
        cg_setup(&l, "agora",
                 CG_MASK(CG_CPU) | CG_MASK(CG_MEMORY) | CG_MASK(CG_PIDS) | CG_MASK(CG_FREEZER), err,
                 sizeof(err)),
        0);
    snprintf(path, sizeof(path), "%s/agora", dir);
    read_back(path, "cgroup.subtree_control", buf, sizeof(buf));
    CHECK(strncmp(buf, "+pids", 5) == 0); /* the last of +cpu, +memory, +pids */
    CHECK_EQ_INT(cg_setup(&l, "/abs", CG_MASK(CG_CPU), err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(cg_setup(&l, "a/../b", CG_MASK(CG_CPU), err, sizeof(err)), -AG_EINVAL);

    /* One group for every controller. */
    CHECK_EQ_INT(
        cg_create(&l, "agora", CG_MASK(CG_CPU) | CG_MASK(CG_MEMORY), "c1", err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_path(&l, "agora", CG_MEMORY, "c1", g, sizeof(g)), 0);
    snprintf(path, sizeof(path), "%s/agora/c1", dir);
    CHECK_EQ_STR(g, path);
    for (const char *f = "cpu.weight\0cpu.max\0memory.max\0memory.swap.max\0pids.max\0"; *f;
         f += strlen(f) + 1) {
        snprintf(path, sizeof(path), "%s/%s", g, f);
        write_file(path, "");
    }
    CHECK_EQ_INT(cg_set_cpu(&l, "agora", "c1", 0.5, true, err, sizeof(err)), 0);
    read_back(g, "cpu.max", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "50000 100000");
    read_back(g, "cpu.weight", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "20"); /* shares 512 -> 1 + 510 * 9999 / 262142 */
    snprintf(path, sizeof(path), "%s/cpu.max", g);
    write_file(path, ""); /* a plain file keeps the tail of a longer value */
    CHECK_EQ_INT(cg_set_cpu(&l, "agora", "c1", 2, false, err, sizeof(err)), 0);
    read_back(g, "cpu.max", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "max 100000");
    CHECK_EQ_INT(cg_set_mem(&l, "agora", "c1", 64 << 20, err, sizeof(err)), 0);
    read_back(g, "memory.max", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "67108864");
    read_back(g, "memory.swap.max", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "0");
    CHECK_EQ_INT(cg_set_pids(&l, "agora", "c1", 100, err, sizeof(err)), 0);
    read_back(g, "pids.max", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "100");

    /* Statistics from v2 files. */
    snprintf(path, sizeof(path), "%s/cpu.stat", g);
    write_file(path, "usage_usec 3500000\nuser_usec 2500000\nsystem_usec 1000000\n"
                     "nr_periods 10\nnr_throttled 4\nthrottled_usec 250000\n");
    snprintf(path, sizeof(path), "%s/memory.stat", g);
    write_file(path, "anon 1048576\nfile 2097152\nkernel 4096\n");
    snprintf(path, sizeof(path), "%s/memory.events", g);
    write_file(path, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    snprintf(path, sizeof(path), "%s/memory.current", g);
    write_file(path, "3145728\n");
    snprintf(path, sizeof(path), "%s/memory.peak", g);
    write_file(path, "4194304\n");
    snprintf(path, sizeof(path), "%s/pids.current", g);
    write_file(path, "7\n");
    CHECK_EQ_INT(
        cg_stats(&l, "agora",
                 CG_MASK(CG_CPU) | CG_MASK(CG_CPUACCT) | CG_MASK(CG_MEMORY) | CG_MASK(CG_PIDS),
                 "c1", &s),
        0);
    CHECK(s.cpu_user_s > 2.49 && s.cpu_user_s < 2.51);
    CHECK(s.cpu_system_s > 0.99 && s.cpu_system_s < 1.01);
    CHECK(s.cpu_throttled_s > 0.24 && s.cpu_throttled_s < 0.26);
    CHECK_EQ_INT(s.cpu_throttled_periods, 4);
    CHECK_EQ_INT(s.cpu_limit, 0); /* "max" */
    CHECK_EQ_INT(s.mem_rss, 1048576);
    CHECK_EQ_INT(s.mem_cache, 2097152);
    CHECK_EQ_INT(s.mem_usage, 3145728);
    CHECK_EQ_INT(s.mem_peak, 4194304);
    CHECK_EQ_INT(s.mem_limit, 67108864);
    CHECK_EQ_INT(s.oom_kills, 1);
    CHECK_EQ_INT(s.pids, 7);
    CHECK_EQ_INT(s.pids_max, 100);
    CHECK_EQ_INT(cg_dir_oom_kills(g, 2), 1);
    teardown();
}

static void
test_layout_none(void)
{
    struct cg_layout l;
    char p[PATH_MAX], err[128];

    CHECK_EQ_INT(cg_layout_parse(&l, "22 1 8:1 / / rw - ext4 /dev/vda rw\ngarbage line\n"), 0);
    CHECK_EQ_STR(l.name, "none");
    CHECK_EQ_INT(cg_path(&l, "agora", CG_MEMORY, "x", p, sizeof(p)), -AG_ENOENT);
    CHECK_EQ_INT(cg_setup(&l, "agora", CG_MASK(CG_MEMORY), err, sizeof(err)), -AG_ENOENT);
}

/* Mount points with spaces come escaped. */
static void
test_layout_escapes(void)
{
    struct cg_layout l;

    CHECK_EQ_INT(cg_layout_parse(&l,
                                 "35 31 0:32 / /sys/fs/my\\040cgroups/memory rw - cgroup cgroup "
                                 "rw,memory\n"),
                 0);
    CHECK_EQ_STR(l.ctrl[CG_MEMORY].mount, "/sys/fs/my cgroups/memory");
}

/* ---- the running kernel (root, cgroups present) ---- */

/* Detects the running kernel's layout into `l`; skips the case without root
 * or without one of the controllers in `mask` (the test's prerequisites). A
 * failure to read the layout is a failure of the code under test. */
static void
live_layout(struct cg_layout *l, unsigned mask)
{
    char err[256];

    if (geteuid() != 0)
        TEST_SKIP("needs root (creates cgroups)");
    if (cg_detect(l, err, sizeof(err)) != 0)
        fprintf(stderr, "cg_detect: %s\n", err);
    CHECK_EQ_INT(cg_detect(l, err, sizeof(err)), 0);
    for (int c = 0; c < CG_NCTRL; c++)
        if ((mask & CG_MASK(c)) && l->ctrl[c].version == 0)
            TEST_SKIP("no %s cgroup controller mounted (layout %s)", cg_ctrl_name(c), l->name);
}

/* Children of the live test, killed at exit whatever happens (a failed CHECK
 * exits at once). */
static pid_t live_pids[3];

static void
kill_live_children(void)
{
    for (int i = 0; i < 3; i++)
        if (live_pids[i] > 0)
            kill(live_pids[i], SIGKILL);
}

static void
test_live_kill_and_destroy(void)
{
    struct cg_layout l;
    struct cg_stats s;
    unsigned mask = CG_MASK(CG_MEMORY) | CG_MASK(CG_PIDS) | CG_MASK(CG_FREEZER) | CG_MASK(CG_CPU) |
                    CG_MASK(CG_CPUACCT);
    char root[64], err[256], g[PATH_MAX];
    pid_t pids[3];
    int status, go[2];
    char byte = 0;

    live_layout(&l, mask);
    snprintf(root, sizeof(root), "agora-unit-%d", (int)getpid());
    CHECK_EQ_INT(cg_setup(&l, root, mask, err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_create(&l, root, mask, "box", err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_set_mem(&l, root, "box", 16 << 20, err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_set_pids(&l, root, "box", 50, err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_set_cpu(&l, root, "box", 0.25, true, err, sizeof(err)), 0);
    /* Three processes; the third, once in the group (it waits for the go
     * byte), forks a grandchild that leaves the group of its parent's process
     * group. */
    atexit(kill_live_children);
    CHECK_EQ_INT(pipe(go), 0);
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            if (i == 2 && read(go[0], &byte, 1) == 1 && fork() == 0) {
                int null = open("/dev/null", O_WRONLY); /* ctest waits for its output */
                dup2(null, 1);
                dup2(null, 2);
                setsid();
                alarm(30); /* never outlives a broken run for long */
            }
            alarm(30);
            pause();
            _exit(0);
        }
        live_pids[i] = pids[i];
        for (int c = 0; c < CG_NCTRL; c++) {
            if (!(mask & CG_MASK(c)))
                continue;
            CHECK_EQ_INT(cg_path(&l, root, c, "box", g, sizeof(g)), 0);
            CHECK_EQ_INT(cg_dir_join(g, pids[i], err, sizeof(err)), 0);
        }
    }
    CHECK_EQ_INT(write(go[1], &byte, 1), 1);
    close(go[0]);
    close(go[1]);
    for (int tries = 0; tries < 1000; tries++) { /* the grandchild may take a moment */
        CHECK_EQ_INT(cg_stats(&l, root, mask, "box", &s), 0);
        if (s.pids == 4)
            break;
        usleep(10000);
    }
    CHECK_EQ_INT(s.pids, 4);
    CHECK_EQ_INT(s.pids_max, 50);
    CHECK_EQ_INT(s.mem_limit, 16 << 20);
    CHECK(s.cpu_limit > 0.24 && s.cpu_limit < 0.26);
    if (l.ctrl[CG_CPU].version == 2) { /* cpu.weight only: the one 256 shares give */
        CHECK_EQ_INT(s.cpu_weight, cg_shares_to_weight(256));
        CHECK_EQ_INT(s.cpu_shares, 0);
    } else {
        CHECK_EQ_INT(s.cpu_shares, 256);
        CHECK_EQ_INT(s.cpu_weight, 0);
    }
    CHECK_EQ_INT(s.oom_kills, 0);
    /* A busy group cannot go; cg_destroy kills everything first. */
    CHECK_EQ_INT(cg_kill(&l, root, mask, "box"), 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(waitpid(pids[i], &status, 0), pids[i]);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        live_pids[i] = 0;
    }
    for (int tries = 0; cg_destroy(&l, root, mask, "box") != 0; tries++) {
        CHECK(tries < 1000); /* up to 10 s on a loaded machine */
        usleep(10000);
    }
    for (int c = 0; c < CG_NCTRL; c++) {
        if (!(mask & CG_MASK(c)))
            continue;
        CHECK_EQ_INT(cg_path(&l, root, c, "box", g, sizeof(g)), 0);
        CHECK(access(g, F_OK) != 0);
        CHECK_EQ_INT(cg_path(&l, root, c, NULL, g, sizeof(g)), 0);
        rmdir(g);
    }
    /* Destroying what is gone is fine. */
    CHECK_EQ_INT(cg_destroy(&l, root, mask, "box"), 0);
}

/* Memory cgroups the kernel has, dying ones included (v1: /proc/cgroups). */
static long
v1_memory_groups(void)
{
    char line[256], name[64];
    long hier, n = -1, en;
    FILE *f = fopen("/proc/cgroups", "re");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "%63s %ld %ld %ld", name, &hier, &n, &en) == 4 &&
            strcmp(name, "memory") == 0)
            break;
    if (f != NULL)
        fclose(f);
    return n;
}

/*
 * A group whose process wrote a file (its page cache charged to the group, the
 * file kept: a sandbox until --gc_delay) is freed once destroyed, not left
 * dying. Counted on v1 by /proc/cgroups (dying groups included) and on v2 by
 * cgroup.stat's nr_dying_descendants. On v2 the file must be on a filesystem
 * whose pages can be reclaimed: tmpfs pages (a VM's root) can only be swapped.
 */
static void
test_live_memory_released(void)
{
    struct cg_layout l;
    struct cg_stats s;
    struct statfs sf;
    unsigned mask = CG_MASK(CG_MEMORY);
    char root[64], err[256], g[PATH_MAX], file[PATH_MAX], parent[PATH_MAX], stat[512];
    uint64_t dying = 1;
    long before = 0, after = -1;
    int status, version;
    pid_t pid;

    live_layout(&l, mask);
    version = l.ctrl[CG_MEMORY].version;
    snprintf(root, sizeof(root), "agora-unit-mem-%d", (int)getpid());
    snprintf(file, sizeof(file), "/var/tmp/agora-unit-mem-%d", (int)getpid());
    CHECK_EQ_INT(cg_setup(&l, root, mask, err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_path(&l, root, CG_MEMORY, NULL, parent, sizeof(parent)), 0);
    if (version == 1)
        before = v1_memory_groups();
    CHECK_EQ_INT(cg_create(&l, root, mask, "pin", err, sizeof(err)), 0);
    CHECK_EQ_INT(cg_path(&l, root, CG_MEMORY, "pin", g, sizeof(g)), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) { /* in the group: 8 MiB written, synced, kept */
        static char buf[1 << 20];
        int fd;

        if (cg_dir_join(g, getpid(), err, sizeof(err)) != 0 ||
            (fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
            _exit(1);
        memset(buf, 'x', sizeof(buf));
        for (int i = 0; i < 8; i++)
            if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
                _exit(1);
        _exit(fsync(fd) == 0 && close(fd) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ_INT(cg_stats(&l, root, mask, "pin", &s), 0);
    CHECK(s.mem_usage >= 4u << 20); /* the file's pages are the group's */
    for (int tries = 0; cg_destroy(&l, root, mask, "pin") != 0; tries++) {
        CHECK(tries < 1000);
        usleep(10000);
    }
    CHECK(access(g, F_OK) != 0);
    CHECK_EQ_INT(statfs(file, &sf), 0);
    /* Freed after an RCU grace period or so: a few seconds at most. */
    for (int tries = 0; tries < 300; tries++) {
        if (version == 1 && (after = v1_memory_groups()) == before)
            break;
        if (version == 2 &&
            (cg_dir_read_key(parent, "cgroup.stat", "nr_dying_descendants", &dying) != 0 ||
             dying == 0))
            break;
        usleep(10000);
    }
    if (version == 1) {
        CHECK_EQ_INT(after, before);
    } else if (sf.f_type != TMPFS_MAGIC && sf.f_type != OVERLAYFS_SUPER_MAGIC) {
        if (dying != 0 && cg_dir_read(parent, "cgroup.stat", stat, sizeof(stat)) == 0)
            fprintf(stderr, "%s/cgroup.stat: %s\n", parent, stat);
        CHECK_EQ_INT(dying, 0);
    } else {
        fprintf(stderr,
                "%s is on tmpfs or overlayfs: its pages cannot be reclaimed, the dying "
                "count is not checked\n",
                file);
    }
    unlink(file);
    rmdir(parent);
}

/* cpus -> shares -> cpu.weight (v2), as runc and crun convert, and back. */
static void
test_shares_weight(void)
{
    CHECK_EQ_INT(cg_cpus_to_shares(0.5), 512);
    CHECK_EQ_INT(cg_cpus_to_shares(0.25), 256);
    CHECK_EQ_INT(cg_cpus_to_shares(0), 2);
    CHECK_EQ_INT(cg_cpus_to_shares(-1), 2);
    CHECK_EQ_INT(cg_cpus_to_shares(0.0 / 0.0), 2);
    CHECK_EQ_INT(cg_cpus_to_shares(1e9), 262144);
    CHECK_EQ_INT(cg_shares_to_weight(2), 1);
    CHECK_EQ_INT(cg_shares_to_weight(1024), 39);
    CHECK_EQ_INT(cg_shares_to_weight(512), 20);
    CHECK_EQ_INT(cg_shares_to_weight(262144), 10000);
    CHECK_EQ_INT(cg_shares_to_weight(0), 1);
    CHECK_EQ_INT(cg_shares_to_weight(1 << 30), 10000);
    CHECK_EQ_INT(cg_weight_to_shares(1), 2);
    CHECK_EQ_INT(cg_weight_to_shares(10000), 262144);
    /* Monotonic, and every weight's shares map back to it or the one below. */
    for (uint64_t w = 1; w <= 10000; w++) {
        uint64_t back = cg_shares_to_weight(cg_weight_to_shares(w));
        CHECK(back == w || back + 1 == w);
        if (w > 1)
            CHECK(cg_weight_to_shares(w) > cg_weight_to_shares(w - 1));
    }
}

TEST_LIST(TEST_ENTRY(layout_v1), TEST_ENTRY(layout_hybrid), TEST_ENTRY(layout_v2),
          TEST_ENTRY(layout_none), TEST_ENTRY(layout_escapes), TEST_ENTRY(live_kill_and_destroy),
          TEST_ENTRY(shares_weight), TEST_ENTRY(live_memory_released));
TEST_MAIN()
