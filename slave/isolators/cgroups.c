#define _GNU_SOURCE
#include "cgroups.h"

#include "error.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CG_CFS_PERIOD_US 100000
#define CG_MIN_QUOTA_US 1000
#define CG_MIN_SHARES 2
#define CG_MAX_SHARES 262144
#define CG_KILL_ROUNDS 64 /* rounds of "kill what is listed" without a freezer */

static const char *const ctrl_names[CG_NCTRL] = {
    [CG_CPU] = "cpu",   [CG_CPUACCT] = "cpuacct", [CG_MEMORY] = "memory",
    [CG_PIDS] = "pids", [CG_FREEZER] = "freezer", [CG_DEVICES] = "devices",
};

const char *
cg_ctrl_name(enum cg_ctrl c)
{
    return c < CG_NCTRL ? ctrl_names[c] : "?";
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- one directory ---- */

int
cg_dir_write(const char *dir, const char *file, const char *value, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    size_t len = strlen(value);
    ssize_t n;
    int fd, e;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
        e = errno;
        ag_errf(err, errlen, "open %s: %s", path, strerror(e));
        return ag_from_errno(e);
    }
    n = write(fd, value, len);
    e = errno;
    close(fd);
    if (n != (ssize_t)len) {
        ag_errf(err, errlen, "write '%s' to %s: %s", value, path, n < 0 ? strerror(e) : "short");
        return n < 0 ? ag_from_errno(e) : -AG_EIO;
    }
    return 0;
}

int
cg_dir_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    ssize_t n;
    int fd;

    if (len == 0)
        return -AG_ERANGE;
    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ag_from_errno(errno);
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -AG_EIO;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

int
cg_dir_read_key(const char *dir, const char *file, const char *key, uint64_t *out)
{
    char buf[8192], *line, *save = NULL;
    size_t klen = strlen(key);

    *out = 0;
    if (cg_dir_read(dir, file, buf, sizeof(buf)) != 0)
        return -AG_ENOENT;
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            *out = strtoull(line + klen + 1, NULL, 10);
            return 0;
        }
    }
    return -AG_ENOENT;
}

static bool
file_exists(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

int
cg_dir_join(const char *dir, int pid, char *err, size_t errlen)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%d", pid);
    return cg_dir_write(dir, "cgroup.procs", buf, err, errlen);
}

/* Calls fn(pid) for each process of `dir`; returns how many there were or -1. */
static int
procs_each(const char *dir, void (*fn)(int pid))
{
    char path[PATH_MAX + 64], line[32];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    if ((f = fopen(path, "re")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        int pid = atoi(line);
        if (pid > 0) {
            n++;
            if (fn != NULL)
                fn(pid);
        }
    }
    fclose(f);
    return n;
}

int
cg_dir_nprocs(const char *dir)
{
    return procs_each(dir, NULL);
}

static void
kill9(int pid)
{
    kill(pid, SIGKILL);
}

/* Calls fn(arg, path) for every group below `dir`, deepest first. */
static void
subgroups_each(const char *dir, void (*fn)(void *arg, const char *path), void *arg)
{
    char path[PATH_MAX];
    struct dirent *e;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        subgroups_each(path, fn, arg);
        fn(arg, path);
    }
    closedir(d);
}

static bool
has_subgroups(const char *dir)
{
    struct dirent *e;
    bool found = false;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return false;
    while (!found && (e = readdir(d)) != NULL)
        found = e->d_type == DT_DIR && e->d_name[0] != '.';
    closedir(d);
    return found;
}

static void
kill_group_cb(void *arg, const char *path)
{
    (void)arg;
    procs_each(path, kill9);
}

static bool
frozen(const char *freezer_dir, int version)
{
    char buf[64];
    uint64_t v;

    if (version == 2)
        return cg_dir_read_key(freezer_dir, "cgroup.events", "frozen", &v) == 0 && v == 1;
    return cg_dir_read(freezer_dir, "freezer.state", buf, sizeof(buf)) == 0 &&
           strcmp(buf, "FROZEN") == 0;
}

int
cg_dir_kill(const char *procs_dir, const char *freezer_dir, int version, int freeze_wait_ms)
{
    int waited = 0, rounds = 0;

    if (access(procs_dir, F_OK) != 0)
        return -AG_ENOENT;
    if (procs_each(procs_dir, NULL) == 0 && !has_subgroups(procs_dir))
        return 0; /* nothing left: no freeze needed (the common case at the end) */
    if (version == 2 && file_exists(procs_dir, "cgroup.kill"))
        return cg_dir_write(procs_dir, "cgroup.kill", "1", NULL, 0);
    if (freezer_dir != NULL && access(freezer_dir, F_OK) == 0) {
        if (cg_dir_write(freezer_dir, version == 2 ? "cgroup.freeze" : "freezer.state",
                         version == 2 ? "1" : "FROZEN", NULL, 0) == 0) {
            while (!frozen(freezer_dir, version) && waited < freeze_wait_ms) {
                sleep_ms(1);
                waited++;
            }
        }
        procs_each(procs_dir, kill9);
        subgroups_each(procs_dir, kill_group_cb, NULL);
        cg_dir_write(freezer_dir, version == 2 ? "cgroup.freeze" : "freezer.state",
                     version == 2 ? "0" : "THAWED", NULL, 0);
        return 0;
    }
    /* No freezer: kill what is listed until nothing new shows up. */
    while (procs_each(procs_dir, kill9) > 0 && ++rounds < CG_KILL_ROUNDS)
        sleep_ms(1);
    subgroups_each(procs_dir, kill_group_cb, NULL);
    return 0;
}

uint64_t
cg_dir_oom_kills(const char *dir, int version)
{
    uint64_t v = 0;

    if (version == 2)
        cg_dir_read_key(dir, "memory.events", "oom_kill", &v);
    else
        cg_dir_read_key(dir, "memory.oom_control", "oom_kill", &v);
    return v;
}

int
cg_dir_oom_fd(const char *dir, int version)
{
    char path[PATH_MAX + 64], buf[64];
    int efd, cfd, rv;

    if (version == 2) {
        if ((efd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0)
            return ag_from_errno(errno);
        snprintf(path, sizeof(path), "%s/memory.events", dir);
        if (inotify_add_watch(efd, path, IN_MODIFY) < 0) {
            rv = ag_from_errno(errno);
            close(efd);
            return rv;
        }
        return efd;
    }
    if ((efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return ag_from_errno(errno);
    snprintf(path, sizeof(path), "%s/memory.oom_control", dir);
    if ((cfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rv = ag_from_errno(errno);
        close(efd);
        return rv;
    }
    snprintf(buf, sizeof(buf), "%d %d", efd, cfd);
    rv = cg_dir_write(dir, "cgroup.event_control", buf, NULL, 0);
    close(cfd);
    if (rv != 0) {
        close(efd);
        return rv;
    }
    return efd;
}

/* ---- layout ---- */

/* Undoes mountinfo's octal escapes (\040 for a space...) in place. */
static void
unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Does the comma-separated list `opts` hold `name`? */
static bool
has_opt(const char *opts, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = opts; p != NULL && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* Does the space-separated list `list` hold `name`? */
static bool
has_word(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; p != NULL && *p;) {
        while (*p == ' ')
            p++;
        if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
            return true;
        p = strchr(p, ' ');
    }
    return false;
}

int
cg_layout_parse(struct cg_layout *out, const char *text)
{
    char *copy, *line, *save = NULL, buf[1024];
    bool any_v1 = false;

    memset(out, 0, sizeof(*out));
    if ((copy = strdup(text)) == NULL)
        return -AG_ENOMEM;
    for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *f[16], *sep, *p, *tok, *s2 = NULL;
        int nf = 0;

        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
        if ((sep = strstr(line, " - ")) == NULL)
            continue;
        *sep = '\0';
        for (tok = strtok_r(line, " ", &s2); tok != NULL && nf < 6; tok = strtok_r(NULL, " ", &s2))
            f[nf++] = tok;
        if (nf < 5)
            continue;
        p = sep + 3;
        s2 = NULL;
        f[6] = strtok_r(p, " ", &s2);    /* fstype */
        f[7] = strtok_r(NULL, " ", &s2); /* source */
        f[8] = strtok_r(NULL, " ", &s2); /* super options */
        if (f[6] == NULL)
            continue;
        unescape(f[4]);
        if (strcmp(f[6], "cgroup2") == 0) {
            if (out->v2_mount[0] == '\0')
                snprintf(out->v2_mount, sizeof(out->v2_mount), "%s", f[4]);
        } else if (strcmp(f[6], "cgroup") == 0 && f[8] != NULL) {
            for (int c = 0; c < CG_NCTRL; c++) {
                if (out->ctrl[c].version == 0 && has_opt(f[8], ctrl_names[c])) {
                    out->ctrl[c].version = 1;
                    snprintf(out->ctrl[c].mount, sizeof(out->ctrl[c].mount), "%s", f[4]);
                    any_v1 = true;
                }
            }
        }
    }
    free(copy);
    if (out->v2_mount[0] != '\0') {
        cg_dir_read(out->v2_mount, "cgroup.controllers", buf, sizeof(buf));
        for (int c = 0; c < CG_NCTRL; c++) {
            bool have;
            if (out->ctrl[c].version != 0)
                continue;
            /* cpuacct is cpu.stat and the freezer cgroup.freeze: core files of v2 groups. */
            have = c == CG_CPUACCT || c == CG_FREEZER || has_word(buf, ctrl_names[c]);
            if (c == CG_DEVICES) /* a device program on the group: pure v2 only */
                have = !any_v1;
            if (c == CG_FREEZER && any_v1)
                have = false; /* not in the hybrid layout: the container has no v2 group there */
            if (c == CG_CPUACCT && any_v1 && !has_word(buf, "cpu"))
                have = false;
            if (have) {
                out->ctrl[c].version = 2;
                snprintf(out->ctrl[c].mount, sizeof(out->ctrl[c].mount), "%s", out->v2_mount);
            }
        }
    }
    snprintf(out->name, sizeof(out->name), "%s",
             any_v1 && out->v2_mount[0] ? "hybrid"
             : any_v1                   ? "v1"
             : out->v2_mount[0]         ? "v2"
                                        : "none");
    return 0;
}

int
cg_detect(struct cg_layout *out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0, cap = 0;
    ssize_t n;
    int fd, rv;

    if ((fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)) < 0) {
        ag_errf(err, errlen, "open /proc/self/mountinfo: %s", strerror(errno));
        memset(out, 0, sizeof(*out));
        snprintf(out->name, sizeof(out->name), "none");
        return -AG_EIO;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *p = realloc(text, cap + 65536);
            if (p == NULL) {
                free(text);
                close(fd);
                return -AG_ENOMEM;
            }
            text = p;
            cap += 65536;
        }
        n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    rv = cg_layout_parse(out, text);
    free(text);
    return rv;
}

int
cg_path(const struct cg_layout *l, const char *root, enum cg_ctrl c, const char *id, char *out,
        size_t len)
{
    int n;

    out[0] = '\0';
    if (c >= CG_NCTRL || l->ctrl[c].version == 0)
        return -AG_ENOENT;
    if (id != NULL)
        n = snprintf(out, len, "%s/%s/%s", l->ctrl[c].mount, root, id);
    else
        n = snprintf(out, len, "%s/%s", l->ctrl[c].mount, root);
    if (n < 0 || (size_t)n >= len) {
        out[0] = '\0';
        return -AG_ERANGE;
    }
    return 0;
}

/* Was the directory of controller `c` already handled by an earlier controller
 * of `mask` (v2, or v1 controllers mounted together)? */
static bool
same_dir_as_earlier(const struct cg_layout *l, unsigned mask, enum cg_ctrl c)
{
    for (int e = 0; e < (int)c; e++)
        if ((mask & CG_MASK(e)) && l->ctrl[e].version != 0 &&
            strcmp(l->ctrl[e].mount, l->ctrl[c].mount) == 0)
            return true;
    return false;
}

static int
mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            ag_errf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
            return ag_from_errno(errno);
        }
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        ag_errf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
        return ag_from_errno(errno);
    }
    return 0;
}

/* Enables `want` ("+cpu +memory") in dir/cgroup.subtree_control, one at a time. */
static int
v2_enable(const char *dir, const char *want, char *err, size_t errlen)
{
    char have[1024], one[64], copy[256], *tok, *save = NULL;
    int rv;

    if (cg_dir_read(dir, "cgroup.subtree_control", have, sizeof(have)) != 0) {
        ag_errf(err, errlen, "cannot read %s/cgroup.subtree_control", dir);
        return -AG_EIO;
    }
    snprintf(copy, sizeof(copy), "%s", want);
    for (tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        if (has_word(have, tok))
            continue;
        snprintf(one, sizeof(one), "+%s", tok);
        if ((rv = cg_dir_write(dir, "cgroup.subtree_control", one, err, errlen)) != 0)
            return rv;
    }
    return 0;
}

/*
 * A v2 mount whose root is not the hierarchy's root (a cgroup namespace, as in
 * a Docker or Kubernetes container) may not hold processes once it enables
 * controllers for its children: the kernel refuses the write to
 * cgroup.subtree_control (EBUSY). Moves every process there into the leaf
 * <mount>/init first, as Docker's dind and kind do. The hierarchy's real root
 * (no cgroup.type file) is exempt from the rule and left alone. Returns 0 or
 * an error with a message.
 */
static int
v2_vacate_root(const char *mount, char *err, size_t errlen)
{
    char leaf[PATH_MAX], type[PATH_MAX + 16], procs[8192];
    int moved = 0, rv;

    snprintf(type, sizeof(type), "%s/cgroup.type", mount);
    if (access(type, F_OK) != 0)
        return 0; /* the real root */
    snprintf(leaf, sizeof(leaf), "%s/init", mount);
    /* Processes may fork meanwhile: until the root holds none (a few rounds). */
    for (int round = 0; round < 10; round++) {
        char *save = NULL, *tok;

        if (cg_dir_read(mount, "cgroup.procs", procs, sizeof(procs)) != 0 || procs[0] == '\0')
            break;
        if (mkdir(leaf, 0755) != 0 && errno != EEXIST) {
            ag_errf(err, errlen, "mkdir %s: %s", leaf, strerror(errno));
            return ag_from_errno(errno);
        }
        for (tok = strtok_r(procs, "\n", &save); tok != NULL; tok = strtok_r(NULL, "\n", &save)) {
            rv = cg_dir_write(leaf, "cgroup.procs", tok, err, errlen);
            if (rv == 0)
                moved++;
            else if (kill((pid_t)atol(tok), 0) == 0 || errno != ESRCH)
                return rv; /* (not one that exited meanwhile) */
        }
    }
    if (moved > 0)
        log_info("cgroups: moved %d process(es) from %s into %s: the root of a cgroup namespace "
                 "may not hold processes once its children have controllers",
                 moved, mount, leaf);
    return 0;
}

int
cg_setup(const struct cg_layout *l, const char *root, unsigned mask, char *err, size_t errlen)
{
    char path[PATH_MAX], want[128] = "";
    int rv;

    if (root == NULL || root[0] == '\0' || root[0] == '/' || strstr(root, "..") != NULL) {
        ag_errf(err, errlen, "bad cgroups root '%s': a relative path such as \"agora\"",
               root ? root : "");
        return -AG_EINVAL;
    }
    for (int c = 0; c < CG_NCTRL; c++) {
        if (!(mask & CG_MASK(c)))
            continue;
        if (l->ctrl[c].version == 0) {
            ag_errf(err, errlen, "cgroup controller %s is not mounted (layout %s)", ctrl_names[c],
                   l->name);
            return -AG_ENOENT;
        }
        if (l->ctrl[c].version == 2 && (c == CG_CPU || c == CG_MEMORY || c == CG_PIDS)) {
            strcat(want, want[0] ? " " : "");
            strcat(want, ctrl_names[c]);
        }
        if (same_dir_as_earlier(l, mask, c))
            continue;
        if ((rv = cg_path(l, root, c, NULL, path, sizeof(path))) != 0) {
            ag_errf(err, errlen, "cgroup path too long");
            return rv;
        }
        if ((rv = mkdir_p(path, err, errlen)) != 0)
            return rv;
    }
    if (want[0] != '\0') {
        /* Enable from the v2 mount's root down to <root> (not in <root>'s own
         * children: the containers' groups are leaves). */
        char rel[PATH_MAX], *p;

        if ((rv = v2_vacate_root(l->v2_mount, err, errlen)) != 0 ||
            (rv = v2_enable(l->v2_mount, want, err, errlen)) != 0)
            return rv;
        snprintf(rel, sizeof(rel), "%s", root);
        for (p = rel;; p++) {
            if (*p == '/' || *p == '\0') {
                char c = *p;
                *p = '\0';
                snprintf(path, sizeof(path), "%s/%s", l->v2_mount, rel);
                if ((rv = v2_enable(path, want, err, errlen)) != 0)
                    return rv;
                if (c == '\0')
                    break;
                *p = c;
            }
        }
    }
    return 0;
}

int
cg_create(const struct cg_layout *l, const char *root, unsigned mask, const char *id, char *err,
          size_t errlen)
{
    char path[PATH_MAX];
    int rv;

    for (int c = 0; c < CG_NCTRL; c++) {
        if (!(mask & CG_MASK(c)) || same_dir_as_earlier(l, mask, c))
            continue;
        if ((rv = cg_path(l, root, c, id, path, sizeof(path))) != 0) {
            ag_errf(err, errlen, "no %s cgroup for container %s", ctrl_names[c], id);
            cg_destroy(l, root, mask, id);
            return rv;
        }
        if (mkdir(path, 0755) != 0 && errno == ENOENT) /* the root was removed under us */
            mkdir_p(path, NULL, 0);
        if (access(path, F_OK) != 0) {
            rv = ag_from_errno(errno);
            ag_errf(err, errlen, "mkdir %s: %s", path, strerror(errno));
            cg_destroy(l, root, mask, id);
            return rv;
        }
    }
    return 0;
}

/* The group whose processes are listed (freezer's, else the first of `mask`). */
static int
procs_ctrl(const struct cg_layout *l, unsigned mask)
{
    if ((mask & CG_MASK(CG_FREEZER)) && l->ctrl[CG_FREEZER].version != 0)
        return CG_FREEZER;
    for (int c = 0; c < CG_NCTRL; c++)
        if ((mask & CG_MASK(c)) && l->ctrl[c].version != 0)
            return c;
    return -1;
}

int
cg_kill(const struct cg_layout *l, const char *root, unsigned mask, const char *id)
{
    char dir[PATH_MAX], fdir[PATH_MAX];
    int c = procs_ctrl(l, mask);
    bool freezer = (mask & CG_MASK(CG_FREEZER)) && l->ctrl[CG_FREEZER].version != 0;

    if (c < 0 || cg_path(l, root, (enum cg_ctrl)c, id, dir, sizeof(dir)) != 0)
        return -AG_ENOENT;
    if (freezer)
        cg_path(l, root, CG_FREEZER, id, fdir, sizeof(fdir));
    return cg_dir_kill(dir, freezer ? fdir : NULL, l->ctrl[c].version, 100);
}

static void
rmdir_cb(void *arg, const char *path)
{
    (void)arg;
    rmdir(path);
}

/*
 * Gives back the memory a group's processes left charged to it (page cache of
 * the files they wrote: a task's sandbox, kept until --gc_delay), so that the
 * removed group is freed at once instead of lingering as a dying memory cgroup
 * (thousands of them were seen): memory.reclaim on v2 (kernel 5.19+),
 * memory.force_empty on v1. Only for a group holding file pages: the release
 * costs a few milliseconds on the loop thread, and a group without them is
 * freed anyway. Best effort: an older kernel or a busy group changes nothing.
 */
static void
mem_release(const char *dir, int version)
{
    uint64_t file = 0;
    char cur[64];

    if (cg_dir_read_key(dir, "memory.stat", version == 2 ? "file" : "total_cache", &file) != 0 ||
        file == 0)
        return;
    if (version == 2) {
        if (cg_dir_read(dir, "memory.current", cur, sizeof(cur)) == 0 && atoll(cur) > 0)
            cg_dir_write(dir, "memory.reclaim", cur, NULL, 0);
    } else {
        cg_dir_write(dir, "memory.force_empty", "0", NULL, 0);
    }
}

int
cg_destroy(const struct cg_layout *l, const char *root, unsigned mask, const char *id)
{
    char path[PATH_MAX];
    bool busy = false;

    cg_kill(l, root, mask, id);
    for (int c = 0; c < CG_NCTRL; c++) {
        if (!(mask & CG_MASK(c)) || same_dir_as_earlier(l, mask, c))
            continue;
        if (cg_path(l, root, c, id, path, sizeof(path)) != 0)
            continue;
        subgroups_each(path, rmdir_cb, NULL);
        if (c == CG_MEMORY && access(path, F_OK) == 0)
            mem_release(path, l->ctrl[c].version);
        if (rmdir(path) != 0 && errno != ENOENT)
            busy = true;
    }
    return busy ? -AG_EAGAIN : 0;
}

/* Writes `value` to the container's `file` of controller `c`. */
static int
ctrl_write(const struct cg_layout *l, const char *root, enum cg_ctrl c, const char *id,
           const char *file, const char *value, char *err, size_t errlen)
{
    char dir[PATH_MAX];

    if (cg_path(l, root, c, id, dir, sizeof(dir)) != 0) {
        ag_errf(err, errlen, "no %s cgroup", ctrl_names[c]);
        return -AG_ENOENT;
    }
    return cg_dir_write(dir, file, value, err, errlen);
}

/* ---- devices ---- */

/* The devices allowed, Docker's and runc's default set: {major, minor (-1:
 * any)}, character devices, any access. */
static const int dev_allowed[][2] = {
    {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, /* null zero full random urandom */
    {5, 0}, {5, 1}, {5, 2},                 /* tty console ptmx */
    {136, -1},                              /* pts */
};
#define NDEV_ALLOWED (sizeof(dev_allowed) / sizeof(dev_allowed[0]))

static int
devices_v1(const char *dir, char *err, size_t errlen)
{
    char rule[64];
    int rv;

    if ((rv = cg_dir_write(dir, "devices.deny", "a", err, errlen)) != 0 ||
        (rv = cg_dir_write(dir, "devices.allow", "c *:* m", err, errlen)) != 0 ||
        (rv = cg_dir_write(dir, "devices.allow", "b *:* m", err, errlen)) != 0)
        return rv;
    for (size_t i = 0; i < NDEV_ALLOWED; i++) {
        if (dev_allowed[i][1] < 0)
            snprintf(rule, sizeof(rule), "c %d:* rwm", dev_allowed[i][0]);
        else
            snprintf(rule, sizeof(rule), "c %d:%d rwm", dev_allowed[i][0], dev_allowed[i][1]);
        if ((rv = cg_dir_write(dir, "devices.allow", rule, err, errlen)) != 0)
            return rv;
    }
    return 0;
}

#define INSN(c, d, s, o, i)                                                                        \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define MOV_X(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_K(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define AND_K(d, i) INSN(BPF_ALU64 | BPF_AND | BPF_K, d, 0, 0, i)
#define RSH_K(d, i) INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define JNE_K(d, i, o) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define EXIT_INSN() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/*
 * The device program: r1 is the context (struct bpf_cgroup_dev_ctx); r2 the
 * access bits, r3 the type, r4 the major, r5 the minor. Returns 1 (allow) for
 * mknod of anything and for the allowed character devices, else 0. Each rule
 * skips to the next one when a field differs. Returns the instruction count.
 */
static size_t
devices_program(struct bpf_insn *p)
{
    size_t n = 0;

    p[n++] = LDX_W(2, 1, 0); /* access_type */
    p[n++] = MOV_X(3, 2);
    p[n++] = AND_K(3, 0xffff); /* the type */
    p[n++] = RSH_K(2, 16);     /* the access */
    p[n++] = LDX_W(4, 1, 4);   /* major */
    p[n++] = LDX_W(5, 1, 8);   /* minor */
    p[n++] = JNE_K(2, BPF_DEVCG_ACC_MKNOD, 2);
    p[n++] = MOV_K(0, 1);
    p[n++] = EXIT_INSN();
    for (size_t i = 0; i < NDEV_ALLOWED; i++) {
        bool any_minor = dev_allowed[i][1] < 0;

        p[n++] = JNE_K(3, BPF_DEVCG_DEV_CHAR, any_minor ? 3 : 4);
        p[n++] = JNE_K(4, dev_allowed[i][0], any_minor ? 2 : 3);
        if (!any_minor)
            p[n++] = JNE_K(5, dev_allowed[i][1], 2);
        p[n++] = MOV_K(0, 1);
        p[n++] = EXIT_INSN();
    }
    p[n++] = MOV_K(0, 0);
    p[n++] = EXIT_INSN();
    return n;
}

static int
devices_v2(const char *dir, char *err, size_t errlen)
{
    struct bpf_insn prog[128];
    char log[1024] = "";
    union bpf_attr attr;
    size_t n = devices_program(prog);
    int pfd, dfd, e;

    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)prog;
    attr.insn_cnt = (uint32_t)n;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    if ((pfd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr))) < 0) {
        e = errno;
        /* Again with the verifier's log, for the message. */
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = sizeof(log);
        attr.log_level = 1;
        syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
        ag_errf(err, errlen, "cannot load the device program: %s%s%.200s", strerror(e),
                log[0] ? ": " : "", log);
        return ag_from_errno(e);
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        e = errno;
        close(pfd);
        ag_errf(err, errlen, "open %s: %s", dir, strerror(e));
        return ag_from_errno(e);
    }
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)dfd;
    attr.attach_bpf_fd = (uint32_t)pfd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    e = syscall(__NR_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) == 0 ? 0 : errno;
    close(dfd);
    close(pfd); /* the attachment holds the program */
    if (e != 0) {
        ag_errf(err, errlen, "cannot attach the device program to %s: %s", dir, strerror(e));
        return ag_from_errno(e);
    }
    return 0;
}

int
cg_set_devices(const struct cg_layout *l, const char *root, const char *id, char *err,
               size_t errlen)
{
    char dir[PATH_MAX];

    if (l->ctrl[CG_DEVICES].version == 0 ||
        cg_path(l, root, CG_DEVICES, id, dir, sizeof(dir)) != 0) {
        ag_errf(err, errlen, "no devices cgroup for container %s", id);
        return -AG_ENOENT;
    }
    return l->ctrl[CG_DEVICES].version == 1 ? devices_v1(dir, err, errlen)
                                            : devices_v2(dir, err, errlen);
}

uint64_t
cg_cpus_to_shares(double cpus)
{
    double v = cpus * 1024.0 + 0.5;

    if (!(v >= CG_MIN_SHARES)) /* NaN too */
        return CG_MIN_SHARES;
    return v > CG_MAX_SHARES ? CG_MAX_SHARES : (uint64_t)v;
}

uint64_t
cg_shares_to_weight(uint64_t shares)
{
    if (shares < CG_MIN_SHARES)
        shares = CG_MIN_SHARES;
    if (shares > CG_MAX_SHARES)
        shares = CG_MAX_SHARES;
    return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t
cg_weight_to_shares(uint64_t weight)
{
    if (weight < 1)
        weight = 1;
    if (weight > 10000)
        weight = 10000;
    return 2 + ((weight - 1) * 262142) / 9999;
}

int
cg_set_cpu(const struct cg_layout *l, const char *root, const char *id, double cpus, bool quota,
           char *err, size_t errlen)
{
    char buf[64];
    uint64_t shares = cg_cpus_to_shares(cpus);
    long long q = (long long)(cpus * CG_CFS_PERIOD_US + 0.5);
    int rv;

    if (q < CG_MIN_QUOTA_US)
        q = CG_MIN_QUOTA_US;
    if (l->ctrl[CG_CPU].version == 2) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)cg_shares_to_weight(shares));
        if ((rv = ctrl_write(l, root, CG_CPU, id, "cpu.weight", buf, err, errlen)) != 0)
            return rv;
        if (quota)
            snprintf(buf, sizeof(buf), "%lld %d", q, CG_CFS_PERIOD_US);
        else
            snprintf(buf, sizeof(buf), "max %d", CG_CFS_PERIOD_US);
        return ctrl_write(l, root, CG_CPU, id, "cpu.max", buf, err, errlen);
    }
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)shares);
    if ((rv = ctrl_write(l, root, CG_CPU, id, "cpu.shares", buf, err, errlen)) != 0)
        return rv;
    if (!quota)
        return ctrl_write(l, root, CG_CPU, id, "cpu.cfs_quota_us", "-1", err, errlen);
    snprintf(buf, sizeof(buf), "%d", CG_CFS_PERIOD_US);
    if ((rv = ctrl_write(l, root, CG_CPU, id, "cpu.cfs_period_us", buf, err, errlen)) != 0)
        return rv;
    snprintf(buf, sizeof(buf), "%lld", q);
    return ctrl_write(l, root, CG_CPU, id, "cpu.cfs_quota_us", buf, err, errlen);
}

int
cg_set_mem(const struct cg_layout *l, const char *root, const char *id, uint64_t bytes, char *err,
           size_t errlen)
{
    char dir[PATH_MAX], buf[32];
    int rv;

    if (cg_path(l, root, CG_MEMORY, id, dir, sizeof(dir)) != 0) {
        ag_errf(err, errlen, "no memory cgroup");
        return -AG_ENOENT;
    }
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)bytes);
    if (l->ctrl[CG_MEMORY].version == 2) {
        if ((rv = cg_dir_write(dir, "memory.max", buf, err, errlen)) != 0)
            return rv;
        if (file_exists(dir, "memory.swap.max"))
            cg_dir_write(dir, "memory.swap.max", "0", NULL, 0);
        return 0;
    }
    /* memory.limit_in_bytes may not exceed memory.memsw.limit_in_bytes: raise
     * memsw first when the limit grows. */
    if (cg_dir_write(dir, "memory.limit_in_bytes", buf, err, errlen) != 0) {
        if (file_exists(dir, "memory.memsw.limit_in_bytes"))
            cg_dir_write(dir, "memory.memsw.limit_in_bytes", buf, NULL, 0);
        if ((rv = cg_dir_write(dir, "memory.limit_in_bytes", buf, err, errlen)) != 0)
            return rv;
    }
    if (file_exists(dir, "memory.memsw.limit_in_bytes"))
        cg_dir_write(dir, "memory.memsw.limit_in_bytes", buf, NULL, 0);
    return 0;
}

int
cg_set_pids(const struct cg_layout *l, const char *root, const char *id, uint64_t max, char *err,
            size_t errlen)
{
    char buf[32];

    if (max == 0)
        snprintf(buf, sizeof(buf), "max");
    else
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)max);
    return ctrl_write(l, root, CG_PIDS, id, "pids.max", buf, err, errlen);
}

static uint64_t
read_u64(const char *dir, const char *file)
{
    char buf[64];

    if (cg_dir_read(dir, file, buf, sizeof(buf)) != 0 || strcmp(buf, "max") == 0)
        return 0;
    return strtoull(buf, NULL, 10);
}

int
cg_stats(const struct cg_layout *l, const char *root, unsigned mask, const char *id,
         struct cg_stats *s)
{
    char dir[PATH_MAX], buf[128];
    uint64_t v;
    long hz = sysconf(_SC_CLK_TCK);

    memset(s, 0, sizeof(*s));
    if (hz <= 0)
        hz = 100;
    if ((mask & CG_MASK(CG_CPUACCT)) && cg_path(l, root, CG_CPUACCT, id, dir, sizeof(dir)) == 0) {
        if (l->ctrl[CG_CPUACCT].version == 2) {
            if (cg_dir_read_key(dir, "cpu.stat", "user_usec", &v) == 0)
                s->cpu_user_s = (double)v / 1e6;
            if (cg_dir_read_key(dir, "cpu.stat", "system_usec", &v) == 0)
                s->cpu_system_s = (double)v / 1e6;
        } else {
            if (cg_dir_read_key(dir, "cpuacct.stat", "user", &v) == 0)
                s->cpu_user_s = (double)v / (double)hz;
            if (cg_dir_read_key(dir, "cpuacct.stat", "system", &v) == 0)
                s->cpu_system_s = (double)v / (double)hz;
        }
    }
    if ((mask & CG_MASK(CG_CPU)) && cg_path(l, root, CG_CPU, id, dir, sizeof(dir)) == 0) {
        cg_dir_read_key(dir, "cpu.stat", "nr_periods", &s->cpu_periods);
        cg_dir_read_key(dir, "cpu.stat", "nr_throttled", &s->cpu_throttled_periods);
        if (l->ctrl[CG_CPU].version == 2) {
            if (cg_dir_read_key(dir, "cpu.stat", "throttled_usec", &v) == 0)
                s->cpu_throttled_s = (double)v / 1e6;
            if (cg_dir_read(dir, "cpu.max", buf, sizeof(buf)) == 0 && strncmp(buf, "max", 3) != 0) {
                unsigned long long q = 0, p = 0;
                if (sscanf(buf, "%llu %llu", &q, &p) == 2 && p > 0)
                    s->cpu_limit = (double)q / (double)p;
            }
            s->cpu_weight = read_u64(dir, "cpu.weight");
        } else {
            long long q;
            uint64_t p = read_u64(dir, "cpu.cfs_period_us");
            if (cg_dir_read_key(dir, "cpu.stat", "throttled_time", &v) == 0)
                s->cpu_throttled_s = (double)v / 1e9;
            if (cg_dir_read(dir, "cpu.cfs_quota_us", buf, sizeof(buf)) == 0 &&
                (q = atoll(buf)) > 0 && p > 0)
                s->cpu_limit = (double)q / (double)p;
            s->cpu_shares = read_u64(dir, "cpu.shares");
        }
    }
    if ((mask & CG_MASK(CG_MEMORY)) && cg_path(l, root, CG_MEMORY, id, dir, sizeof(dir)) == 0) {
        if (l->ctrl[CG_MEMORY].version == 2) {
            cg_dir_read_key(dir, "memory.stat", "anon", &s->mem_rss);
            cg_dir_read_key(dir, "memory.stat", "file", &s->mem_cache);
            s->mem_usage = read_u64(dir, "memory.current");
            s->mem_peak = read_u64(dir, "memory.peak");
            s->mem_limit = read_u64(dir, "memory.max");
            s->oom_kills = cg_dir_oom_kills(dir, 2);
        } else {
            if (cg_dir_read_key(dir, "memory.stat", "total_rss", &s->mem_rss) != 0)
                cg_dir_read_key(dir, "memory.stat", "rss", &s->mem_rss);
            if (cg_dir_read_key(dir, "memory.stat", "total_cache", &s->mem_cache) != 0)
                cg_dir_read_key(dir, "memory.stat", "cache", &s->mem_cache);
            s->mem_usage = read_u64(dir, "memory.usage_in_bytes");
            s->mem_peak = read_u64(dir, "memory.max_usage_in_bytes");
            s->mem_limit = read_u64(dir, "memory.limit_in_bytes");
            s->oom_kills = cg_dir_oom_kills(dir, 1);
        }
    }
    if ((mask & CG_MASK(CG_PIDS)) && cg_path(l, root, CG_PIDS, id, dir, sizeof(dir)) == 0) {
        s->pids = read_u64(dir, "pids.current");
        s->pids_max = read_u64(dir, "pids.max");
    }
    return 0;
}

int
cg_list(const struct cg_layout *l, const char *root, enum cg_ctrl c,
        void (*fn)(void *arg, const char *name), void *arg)
{
    char dir[PATH_MAX];
    struct dirent *e;
    DIR *d;

    if (cg_path(l, root, c, NULL, dir, sizeof(dir)) != 0 || (d = opendir(dir)) == NULL)
        return -AG_ENOENT;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type == DT_DIR && e->d_name[0] != '.')
            fn(arg, e->d_name);
    }
    closedir(d);
    return 0;
}
