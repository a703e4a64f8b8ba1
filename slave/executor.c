/*
 * agora-executor: runs one task for the agent and outlives the agent.
 *
 *   agora-executor --meta=DIR --sandbox=DIR [--wait]
 *   agora-executor --probe ...      (one health check probe: health_probe.h)
 *
 * The agent writes DIR/launch.json (see launch_read below) and spawns this
 * program detached; with --wait it spawns it first and writes one byte on
 * its stdin once launch.json and the cgroups exist (the executor's own start
 * overlaps with making them; EOF instead means give up). The executor
 *   1. with an image, resolves it into unpacked layers (slave/image.h);
 *   2. with a pid namespace, unshares it, so that the child forked next is
 *      the container's PID 1 (a small init, slave/container_init.h);
 *   3. puts the child into the container's cgroups other than cpu at once
 *      (in parallel with the container's setup), and into the cpu ones once
 *      the child has built the container, then lets it go on: it execs the
 *      task (with a pid namespace: the init forks the task and reaps); stdout
 *      and stderr are appended to sandbox/stdout and sandbox/stderr, cwd is
 *      the sandbox;
 *   4. writes "running PID" on its stdout (a pipe to the agent, if the agent
 *      is still there) and META/task.pid: PID is the child (the init, or the
 *      task itself without a pid namespace), leader of its own session;
 *   5. on SIGTERM forwards SIGTERM to the task (through the init, or to the
 *      task's process group) and, after the kill grace period, freezes the
 *      container's cgroup and SIGKILLs every process in it (the process
 *      group without cgroups);
 *   6. watches the memory cgroup's OOM notifications: a task over its memory
 *      is killed as a whole and its end reported as a memory limitation;
 *   7. when the task ends, kills what is left of the container, writes
 *      META/status.json atomically and durably (file_write_atomic: temporary
 *      file, fsync, rename, fsync of META and of its parent), then prints
 *      "exited" on its stdout and exits 0.
 *
 * launch.json: {"command": {shell, value, arguments}, "env": {K: V},
 * "kill_grace_ms": N, "user": NAME ("" = do not switch), "container": {
 * "namespaces": ["pid", "mnt", "uts", "ipc", "net"], "hostname", "harden",
 * "cgroups": [DIR...] (joined), "cgroups_setup": [DIR...] (the
 * part of "cgroups" joined before the setup), "kill": {"procs", "freezer", "version"},
 * "memory": {"dir", "version"}, "readonly": [DIR...], "image", "image_cache"}}.
 * Without "container" the task is a plain process tree.
 *
 * status.json: {"exit_code": N} | {"signal": N} plus "killed": true when the
 * agent asked for the kill, "limitation": "memory" and "message" when the
 * memory limit was hit; or {"error": "text"} when the task could not start.
 * The agent treats status.json as the truth; the pipe only makes it faster.
 *
 * This is a single-threaded process that never touches nng, so it can fork
 * safely.
 */
#define _GNU_SOURCE
#include "container_init.h"
#include "error.h"
#include "file.h"
#include "health_probe.h"
#include "image.h"
#include "isolators/cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_GROUPS 256
#define OOM_POLL_MS 500

extern char **environ;

struct launch {
    json_t *root;
    int shell;
    const char *value;
    json_t *arguments;
    json_t *env;
    long long kill_grace_ms;
    const char *user;
    json_t *container; /* NULL: a plain process */
};

/* The container as the executor handles it after the start. */
static struct {
    pid_t child; /* the init, or the task itself */
    bool pid_ns;
    char kill_procs[PATH_MAX], kill_freezer[PATH_MAX];
    int kill_version;
    char mem_dir[PATH_MAX];
    int mem_version;
} ct;

static const char *meta_dir;
static const char *sandbox_dir;

static void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "agora-executor: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

/* Writes META/`name` atomically (file.h); durable unless FILE_NOSYNC. */
static int
write_meta(const char *name, const char *text, int flags)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", meta_dir, name);
    return file_write_atomic(path, text, strlen(text), 0644, flags);
}

/* Records the task's end in META/status.json, durably before anyone is told
 * (the caller prints "exited" next): the agent acts on it, also after a power
 * cut (a recovered container whose executor is gone is judged by it). The
 * file and META are fsynced, and META's own entry in the containers directory,
 * which the agent created without a sync at the launch. */
static void
write_status(json_t *st)
{
    char *text = json_dumps(st, JSON_COMPACT);
    int rv = text == NULL ? -AG_ENOMEM : write_meta("status.json", text, 0);

    if (rv == 0)
        rv = file_sync_parent(meta_dir);
    if (rv != 0)
        fprintf(stderr, "agora-executor: cannot write status.json durably: %s\n",
                ag_strerror(rv));
    free(text);
    json_decref(st);
}

/* The task could not start: records why and ends the executor. */
static void __attribute__((noreturn)) start_failed(struct launch *l, const char *msg)
{
    json_t *st = json_object();

    fprintf(stderr, "agora-executor: %s\n", msg);
    json_object_set_new(st, "error", json_string(msg));
    write_status(st);
    printf("exited\n");
    fflush(stdout);
    json_decref(l->root);
    exit(0);
}

static const char *
jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void
launch_read(struct launch *l)
{
    char path[4096];
    json_error_t jerr;
    json_t *cmd, *v;

    snprintf(path, sizeof(path), "%s/launch.json", meta_dir);
    l->root = json_load_file(path, 0, &jerr);
    if (l->root == NULL)
        die("cannot read %s: %s (line %d)", path, jerr.text, jerr.line);
    cmd = json_object_get(l->root, "command");
    if (!json_is_object(cmd))
        die("%s: \"command\" must be an object", path);
    v = json_object_get(cmd, "shell");
    l->shell = v == NULL ? 1 : json_is_true(v);
    l->value = json_string_value(json_object_get(cmd, "value"));
    l->arguments = json_object_get(cmd, "arguments");
    l->env = json_object_get(l->root, "env");
    v = json_object_get(l->root, "kill_grace_ms");
    l->kill_grace_ms = json_is_integer(v) ? json_integer_value(v) : 3000;
    l->user = jstr(l->root, "user");
    l->container = json_object_get(l->root, "container");
    if (!json_is_object(l->container))
        l->container = NULL;
}

/* ---- environment ---- */

struct envb {
    char **v;
    size_t n, cap;
};

/* Sets "K=V" (replacing an earlier K). */
static void
envb_put(struct envb *e, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    char *copy = strdup(kv);

    if (copy == NULL || eq == NULL || klen == 0) {
        free(copy);
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], kv, klen + 1) == 0) {
            free(e->v[i]);
            e->v[i] = copy;
            return;
        }
    }
    if (e->n + 2 > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        char **p = realloc(e->v, cap * sizeof(*p));
        if (p == NULL) {
            free(copy);
            return;
        }
        e->v = p;
        e->cap = cap;
    }
    e->v[e->n++] = copy;
    e->v[e->n] = NULL;
}

static void
envb_set(struct envb *e, const char *k, const char *v)
{
    char *kv;

    if (asprintf(&kv, "%s=%s", k, v) < 0)
        return;
    envb_put(e, kv);
    free(kv);
}

static bool
envb_has(const struct envb *e, const char *k)
{
    size_t klen = strlen(k);

    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], k, klen) == 0 && e->v[i][klen] == '=')
            return true;
    return false;
}

static void
envb_free(struct envb *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
}

/* ---- the running container ---- */

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGKILL to every process of the container. */
static void
kill_all(void)
{
    if (ct.kill_procs[0] != '\0')
        cg_dir_kill(ct.kill_procs, ct.kill_freezer[0] ? ct.kill_freezer : NULL, ct.kill_version,
                    1000);
    kill(ct.child, SIGKILL);
    if (!ct.pid_ns)
        kill(-ct.child, SIGKILL);
}

/* "Memory limit exceeded: ..." for the status message. */
static void
oom_message(char *out, size_t len)
{
    uint64_t limit = 0, peak = 0;

    if (ct.mem_version == 2) {
        char buf[64];
        if (cg_dir_read(ct.mem_dir, "memory.max", buf, sizeof(buf)) == 0)
            limit = strtoull(buf, NULL, 10);
        if (cg_dir_read(ct.mem_dir, "memory.peak", buf, sizeof(buf)) == 0)
            peak = strtoull(buf, NULL, 10);
    } else {
        char buf[64];
        if (cg_dir_read(ct.mem_dir, "memory.limit_in_bytes", buf, sizeof(buf)) == 0)
            limit = strtoull(buf, NULL, 10);
        if (cg_dir_read(ct.mem_dir, "memory.max_usage_in_bytes", buf, sizeof(buf)) == 0)
            peak = strtoull(buf, NULL, 10);
    }
    snprintf(out, len,
             "Memory limit exceeded: Requested: %lluMB Maximum Used: %lluMB (the kernel's OOM "
             "killer ended a process of the task)",
             (unsigned long long)(limit >> 20), (unsigned long long)(peak >> 20));
}

/* ---- start ---- */

/* Resolves the task's user; false with a message when it does not exist. */
static bool
resolve_user(const char *user, struct cinit_spec *s, gid_t *groups, char *err, size_t errlen)
{
    struct passwd *pw;
    int n = MAX_GROUPS;
    char *end;

    s->switch_user = false;
    if (user == NULL || user[0] == '\0')
        return true;
    errno = 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        unsigned long uid = strtoul(user, &end, 10);
        if (*end != '\0' || end == user) {
            snprintf(err, errlen, "user '%s' does not exist on this agent", user);
            return false;
        }
        s->uid = (uid_t)uid;
        s->gid = (gid_t)uid;
        s->ngroups = 0;
    } else {
        s->uid = pw->pw_uid;
        s->gid = pw->pw_gid;
        if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
            n = 0;
        s->ngroups = (size_t)n;
    }
    s->groups = groups;
    s->switch_user = s->uid != getuid() || s->gid != getgid();
    return true;
}

/* argv of the task; NULL when there is nothing to run. */
static char **
task_argv(const struct launch *l, const struct img *m, const char **file)
{
    size_t n = json_array_size(l->arguments), k = 0;
    char **argv;

    if (l->shell && l->value != NULL) {
        argv = calloc(4, sizeof(*argv));
        if (argv == NULL)
            return NULL;
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = (char *)l->value;
        *file = "/bin/sh";
        return argv;
    }
    if ((l->value == NULL || l->value[0] == '\0') && n == 0) {
        /* The image's Entrypoint + Cmd. */
        if (m == NULL || m->nentrypoint + m->ncmd == 0)
            return NULL;
        argv = calloc(m->nentrypoint + m->ncmd + 1, sizeof(*argv));
        if (argv == NULL)
            return NULL;
        for (size_t i = 0; i < m->nentrypoint; i++)
            argv[k++] = m->entrypoint[i];
        for (size_t i = 0; i < m->ncmd; i++)
            argv[k++] = m->cmd[i];
        *file = argv[0];
        return argv;
    }
    argv = calloc(n + 2, sizeof(*argv));
    if (argv == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)json_string_value(json_array_get(l->arguments, i));
    if (n == 0)
        argv[0] = (char *)l->value;
    *file = l->value && l->value[0] ? l->value : argv[0];
    return argv;
}

static int
open_output(const char *name, const struct cinit_spec *s)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", sandbox_dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0 && s->switch_user && fchown(fd, s->uid, s->gid) != 0) {
        /* the task can still write it if the mode allows */
    }
    return fd;
}

static void
mkdir_meta(struct launch *l, const char *name, char *out, size_t len)
{
    char msg[4200];

    snprintf(out, len, "%s/%s", meta_dir, name);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        snprintf(msg, sizeof(msg), "cannot create %s: %s", out, strerror(errno));
        start_failed(l, msg);
    }
}

/* True when `dir` is one of `list`'s strings. */
static bool
json_has_string(json_t *list, const char *dir)
{
    size_t i;
    json_t *v;

    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), dir) == 0)
            return true;
    }
    return false;
}

/* Puts the child into the groups of `list` except those of `skip`; ends the
 * executor (start_failed) when the kernel refuses. */
static void
join_cgroups(struct launch *l, json_t *list, json_t *skip)
{
    char msg[2048], why[2200];
    size_t i;
    json_t *val;

    json_array_foreach(list, i, val)
    {
        if (!json_is_string(val) || json_has_string(skip, json_string_value(val)))
            continue;
        if (cg_dir_join(json_string_value(val), ct.child, msg, sizeof(msg)) != 0) {
            kill(ct.child, SIGKILL);
            waitpid(ct.child, NULL, 0);
            snprintf(why, sizeof(why), "cannot put the task into its cgroup: %s", msg);
            start_failed(l, why);
        }
    }
}

int
main(int argc, char **argv)
{
    struct launch l = {0};
    struct cinit_spec spec;
    struct img image;
    struct envb env = {0};
    gid_t groups[MAX_GROUPS];
    char msg[2048], buf[64], rootfs[PATH_MAX];
    char **targv = NULL, **ro = NULL;
    const char *key, *file = NULL, *hostname;
    json_t *val, *arr;
    int syncp[2], readyp[2], errp[2], statp[2], sfd, oomfd = -1, status = 0, task_status = 0;
    bool have_task_status = false, killed = false, oom = false, oom_poll = false, wait_go = false;
    long long deadline = -1;
    size_t i, nro = 0;
    sigset_t mask;
    ssize_t r;
    pid_t w;
    size_t got;

    if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
        /* _exit: after setns() into a pid namespace, exit-time helpers that
         * fork (LeakSanitizer's) would start in the container. */
        int rc = probe_main(argc, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    for (int a = 1; a < argc; a++) {
        if (strncmp(argv[a], "--meta=", 7) == 0)
            meta_dir = argv[a] + 7;
        else if (strncmp(argv[a], "--sandbox=", 10) == 0)
            sandbox_dir = argv[a] + 10;
        else if (strcmp(argv[a], "--wait") == 0)
            wait_go = true;
        else if (strcmp(argv[a], "--help") == 0) {
            printf("usage: agora-executor --meta=DIR --sandbox=DIR [--wait]\n"
                   "Runs one task as described by DIR/launch.json; started by agora-agent.\n");
            return 0;
        } else
            die("unknown flag '%s'; see --help", argv[a]);
    }
    if (meta_dir == NULL || sandbox_dir == NULL)
        die("--meta and --sandbox are required; see --help");
    signal(SIGPIPE, SIG_IGN);
    setsid();
    if (wait_go) {
        char go;
        ssize_t n;
        int null;
        do {
            n = read(0, &go, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1)
            return 0; /* the agent gave up on this launch */
        if ((null = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
            dup2(null, 0);
            close(null);
        }
    }
    launch_read(&l);
    memset(&image, 0, sizeof(image));
    memset(&spec, 0, sizeof(spec));

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        die("signalfd: %s", strerror(errno));

    /* What the container is made of. */
    if (l.container != NULL) {
        json_t *c = l.container, *k = json_object_get(c, "kill"), *m = json_object_get(c, "memory");
        const char *img_ref = jstr(c, "image");

        json_array_foreach(json_object_get(c, "namespaces"), i, val)
        {
            const char *ns = json_string_value(val);
            if (ns == NULL)
                continue;
            if (strcmp(ns, "pid") == 0)
                ct.pid_ns = spec.pid_ns = true;
            else if (strcmp(ns, "mnt") == 0)
                spec.ns_flags |= CLONE_NEWNS;
            else if (strcmp(ns, "uts") == 0)
                spec.ns_flags |= CLONE_NEWUTS;
            else if (strcmp(ns, "ipc") == 0)
                spec.ns_flags |= CLONE_NEWIPC;
            else if (strcmp(ns, "net") == 0)
                spec.ns_flags |= CLONE_NEWNET;
        }
        if (spec.pid_ns)
            spec.ns_flags |= CLONE_NEWNS; /* a fresh /proc needs its own mount table */
        hostname = jstr(c, "hostname");
        spec.hostname = hostname[0] ? hostname : NULL;
        spec.harden = json_is_true(json_object_get(c, "harden"));
        snprintf(ct.kill_procs, sizeof(ct.kill_procs), "%s", jstr(k, "procs"));
        snprintf(ct.kill_freezer, sizeof(ct.kill_freezer), "%s", jstr(k, "freezer"));
        ct.kill_version = (int)json_integer_value(json_object_get(k, "version"));
        snprintf(ct.mem_dir, sizeof(ct.mem_dir), "%s", jstr(m, "dir"));
        ct.mem_version = (int)json_integer_value(json_object_get(m, "version"));
        arr = json_object_get(c, "readonly");
        if (json_array_size(arr) > 0 && (ro = calloc(json_array_size(arr), sizeof(*ro))) != NULL) {
            json_array_foreach(arr, i, val)
            {
                if (json_is_string(val))
                    ro[nro++] = (char *)json_string_value(val);
            }
        }
        spec.readonly_mounts = ro;
        spec.nreadonly = nro;
        spec.mount_proc = spec.pid_ns;
        if (img_ref[0] != '\0') {
            if (img_prepare(img_ref, jstr(c, "image_cache"), &image, msg, sizeof(msg)) != 0)
                start_failed(&l, msg);
            fprintf(stderr, "agora-executor: image %s is %s (%zu layers)\n", img_ref, image.digest,
                    image.nlayers);
            mkdir_meta(&l, "rootfs", rootfs, sizeof(rootfs));
            spec.layers = image.layers;
            spec.nlayers = image.nlayers;
            spec.scratch_dir = rootfs;
            spec.ns_flags |= CLONE_NEWNS;
        }
    }
    if (!resolve_user(l.user, &spec, groups, msg, sizeof(msg)))
        start_failed(&l, msg);
    if (spec.switch_user && chown(sandbox_dir, spec.uid, spec.gid) != 0) {
        snprintf(msg, sizeof(msg), "cannot give the sandbox to user %s: %s", l.user,
                 strerror(errno));
        start_failed(&l, msg);
    }

    /* Environment, command, working directory. */
    if (spec.nlayers > 0) {
        for (i = 0; i < image.nenv; i++)
            envb_put(&env, image.env[i]);
        if (!envb_has(&env, "PATH"))
            envb_set(&env, "PATH", DEFAULT_PATH);
    } else {
        for (char **e = environ; e && *e; e++)
            envb_put(&env, *e);
    }
    json_object_foreach(l.env, key, val)
    {
        if (json_is_string(val))
            envb_set(&env, key, json_string_value(val));
    }
    spec.sandbox = sandbox_dir;
    spec.cwd = spec.nlayers > 0 ? CINIT_SANDBOX_INSIDE : sandbox_dir;
    envb_set(&env, "MESOS_SANDBOX", spec.cwd);
    envb_set(&env, "AGORA_SANDBOX", spec.cwd);
    if (env.v == NULL)
        envb_set(&env, "PATH", DEFAULT_PATH);
    if ((targv = task_argv(&l, spec.nlayers > 0 ? &image : NULL, &file)) == NULL)
        start_failed(&l, "the task has no command (and its image none either)");
    spec.file = file;
    spec.argv = targv;
    spec.envp = env.v;
    if ((spec.stdout_fd = open_output("stdout", &spec)) < 0 ||
        (spec.stderr_fd = open_output("stderr", &spec)) < 0) {
        snprintf(msg, sizeof(msg), "cannot open the sandbox's stdout/stderr: %s", strerror(errno));
        start_failed(&l, msg);
    }

    if (pipe2(syncp, O_CLOEXEC) != 0 || pipe2(readyp, O_CLOEXEC) != 0 ||
        pipe2(errp, O_CLOEXEC) != 0 || pipe2(statp, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    if (spec.pid_ns && unshare(CLONE_NEWPID) != 0) {
        snprintf(msg, sizeof(msg), "cannot create a pid namespace: %s", strerror(errno));
        start_failed(&l, msg);
    }
    spec.sync_fd = syncp[0];
    spec.ready_fd = readyp[1];
    spec.err_fd = errp[1];
    spec.status_fd = statp[1];
    ct.child = fork();
    if (ct.child < 0) {
        snprintf(msg, sizeof(msg), "fork: %s", strerror(errno));
        start_failed(&l, msg);
    }
    if (ct.child == 0) {
        close(syncp[1]);
        close(readyp[0]);
        close(errp[0]);
        close(statp[0]);
        close(sfd);
        cinit_run(&spec);
    }
    close(syncp[0]);
    close(readyp[1]);
    close(errp[1]);
    close(statp[1]);
    close(spec.stdout_fd);
    close(spec.stderr_fd);
    /* Meanwhile the child builds the container: memory, pids and freezer now. */
    if (l.container != NULL) {
        join_cgroups(&l, json_object_get(l.container, "cgroups_setup"), NULL);
        if (ct.mem_dir[0] != '\0') {
            oomfd = cg_dir_oom_fd(ct.mem_dir, ct.mem_version);
            oom_poll = oomfd < 0 || ct.mem_version != 2;
        }
    }

    /* The child builds the container, says it is ready; into the cgroups
     * before the task runs. Nothing on the ready pipe: the child failed, its
     * reason follows on the error pipe. */
    do {
        r = read(readyp[0], buf, 1);
    } while (r < 0 && errno == EINTR);
    close(readyp[0]);
    if (r == 1 && l.container != NULL)
        join_cgroups(&l, json_object_get(l.container, "cgroups"),
                     json_object_get(l.container, "cgroups_setup"));
    if (r == 1 && write(syncp[1], "g", 1) != 1)
        fprintf(stderr, "agora-executor: sync pipe: %s\n", strerror(errno));
    close(syncp[1]);
    got = 0;
    while ((r = read(errp[0], msg + got, sizeof(msg) - 1 - got)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        got += (size_t)r;
        if (got == sizeof(msg) - 1)
            break;
    }
    msg[got] = '\0';
    close(errp[0]);
    if (got > 0) {
        kill_all();
        while (waitpid(ct.child, NULL, 0) < 0 && errno == EINTR) {
        }
        if (ct.kill_procs[0] != '\0')
            cg_dir_kill(ct.kill_procs, ct.kill_freezer[0] ? ct.kill_freezer : NULL, ct.kill_version,
                        1000);
        start_failed(&l, msg);
    }
    snprintf(buf, sizeof(buf), "%d\n", (int)ct.child);
    /* Not synced: a pid means nothing after a reboot (file.h, FILE_NOSYNC). */
    write_meta("task.pid", buf, FILE_NOSYNC);
    printf("running %d\n", (int)ct.child);
    fflush(stdout);

    for (;;) {
        struct pollfd p[3];
        int np = 0, timeout = -1, ip_status = -1, ip_oom = -1;
        struct signalfd_siginfo si;
        siginfo_t wi;

        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                kill_all();
                deadline = -1;
                continue;
            }
            timeout = (int)left;
        }
        /* cgroup v1's OOM eventfd stays silent on recent kernels: look at the
         * counter twice a second too. */
        if (oom_poll && !oom && (timeout < 0 || timeout > OOM_POLL_MS))
            timeout = OOM_POLL_MS;
        p[np].fd = sfd;
        p[np++].events = POLLIN;
        if (statp[0] >= 0) {
            ip_status = np;
            p[np].fd = statp[0];
            p[np++].events = POLLIN;
        }
        if (oomfd >= 0) {
            ip_oom = np;
            p[np].fd = oomfd;
            p[np++].events = POLLIN;
        }
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !killed) {
                killed = true;
                if (ct.pid_ns)
                    kill(ct.child, SIGTERM); /* the init forwards it */
                else
                    kill(-ct.child, SIGTERM);
                deadline = now_ms() + (l.kill_grace_ms > 0 ? l.kill_grace_ms : 0);
            }
        }
        if (ip_status >= 0 && (p[ip_status].revents & (POLLIN | POLLHUP))) {
            r = read(statp[0], &task_status, sizeof(task_status));
            if (r == (ssize_t)sizeof(task_status))
                have_task_status = true;
            close(statp[0]);
            statp[0] = -1;
        }
        if ((ip_oom >= 0 && (p[ip_oom].revents & POLLIN)) || (oom_poll && !oom)) {
            char drain[512];
            while (oomfd >= 0 && read(oomfd, drain, sizeof(drain)) > 0) {
            }
            if (!oom && cg_dir_oom_kills(ct.mem_dir, ct.mem_version) > 0) {
                oom = true;
                fprintf(stderr, "agora-executor: out of memory, killing the task\n");
                kill_all();
            }
        }
        /* Seen exited, not reaped yet: while it is a zombie its pid, which is
         * also the task's process group id, cannot be reused, so the group
         * kill below cannot reach a stranger. */
        memset(&wi, 0, sizeof(wi));
        if (waitid(P_PID, (id_t)ct.child, &wi, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            wi.si_pid == ct.child)
            break;
    }
    /* Whatever the task left behind goes with it. */
    if (ct.kill_procs[0] != '\0')
        cg_dir_kill(ct.kill_procs, ct.kill_freezer[0] ? ct.kill_freezer : NULL, ct.kill_version,
                    1000);
    else
        kill(-ct.child, SIGKILL);
    while ((w = waitpid(ct.child, &status, 0)) < 0 && errno == EINTR) {
    }
    if (w != ct.child)
        die("waitpid: %s", strerror(errno));
    if (statp[0] >= 0) { /* the init may have written just before it exited */
        if (read(statp[0], &task_status, sizeof(task_status)) == (ssize_t)sizeof(task_status))
            have_task_status = true;
        close(statp[0]);
    }
    if (have_task_status)
        status = task_status;
    if (!oom && ct.mem_dir[0] != '\0' && cg_dir_oom_kills(ct.mem_dir, ct.mem_version) > 0)
        oom = true;

    json_t *st = json_object();
    if (WIFEXITED(status))
        json_object_set_new(st, "exit_code", json_integer(WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
        json_object_set_new(st, "signal", json_integer(WTERMSIG(status)));
    if (killed)
        json_object_set_new(st, "killed", json_true());
    if (oom) {
        oom_message(msg, sizeof(msg));
        json_object_set_new(st, "limitation", json_string("memory"));
        json_object_set_new(st, "message", json_string(msg));
    }
    write_status(st);
    printf("exited\n");
    fflush(stdout);
    if (oomfd >= 0)
        close(oomfd);
    close(sfd);
    free(targv);
    free(ro);
    envb_free(&env);
    img_free(&image);
    json_decref(l.root);
    return 0;
}
