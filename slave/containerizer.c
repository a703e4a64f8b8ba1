#define _GNU_SOURCE
#include "containerizer.h"

#include "error.h"
#include "file.h"
#include "hmap.h"
#include "ids.h"
#include "isolator.h"
#include "log.h"
#include "resources.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define CTR_EXIT_DRAIN_MS 1000 /* after the executor exits, wait this long for its pipe's EOF */
#define CTR_POLL_MS 1000       /* liveness polling when pidfds are unavailable */
#define CTR_CLEANUP_MS 1000    /* retry of cgroups still busy */
#define CTR_CHILD_POLL_MS 100  /* exit polling of our own executors when pidfds are unavailable */

extern char **environ;

struct ctr_container {
    struct ctr *c;
    char id[AG_ID_MAX];
    char meta[PATH_MAX];
    int pid;
    uint64_t start;
    int task_pid;
    bool child;     /* spawned by us: our child until reaped; out is live */
    bool recovered; /* attached after an agent restart */
    bool exited;    /* the executor process ended */
    bool eof;       /* its stdout pipe is done */
    bool finished;  /* on_exit reported (or the ctr closed) */
    bool running_reported;
    int exit_status, term_signal; /* child only */
    int pidfd;
    int nhandles; /* handles initialized and not yet closed */
    bool has_pipe, has_poll;
    uv_pipe_t out;
    uv_poll_t poll;
    uv_timer_t timer;
    char line[128];
    size_t linelen;
};

struct ctr {
    uv_loop_t *loop;
    const struct ctr_callbacks *cb;
    void *arg;
    char exe[PATH_MAX + 32];
    char **env;             /* the agent's environment without AGORA_* and MESOS_* */
    struct hmap containers; /* id -> struct ctr_container * */
    size_t live;            /* containers not yet freed (handles closing included) */
    bool closing;
    struct iso *iso; /* NULL: plain process trees */
    char **busy;     /* ids whose cgroups could not be removed yet */
    size_t nbusy;
    uv_timer_t cleanup; /* retries `busy` */
    bool has_cleanup_timer;
};

static void ctr_free(struct ctr *c);

/* ---- helpers ---- */

uint64_t
ctr_proc_start_time(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    ssize_t n;
    int fd, field;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    if ((p = strrchr(buf, ')')) == NULL)
        return 0;
    p++;
    for (field = 3; field < 22 && p != NULL; field++) /* p: the space before `field` */
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
        return 0;
    return start;
}

static int
pidfd_open_(int pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int
pidfd_kill_(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Reads META/task.pid into k->task_pid when not known yet. */
static void
read_task_pid(struct ctr_container *k)
{
    char path[PATH_MAX + 16];
    FILE *f;
    int pid;

    if (k->task_pid > 0)
        return;
    snprintf(path, sizeof(path), "%s/task.pid", k->meta);
    if ((f = fopen(path, "re")) == NULL)
        return;
    if (fscanf(f, "%d", &pid) == 1 && pid > 0)
        k->task_pid = pid;
    fclose(f);
}

/* Reads META/status.json into `o`. Returns true when it holds a verdict. */
static bool
read_status(const struct ctr_container *k, struct ctr_outcome *o)
{
    char path[PATH_MAX + 16];
    json_t *root, *v;
    json_error_t jerr;
    bool ok = true;

    snprintf(path, sizeof(path), "%s/status.json", k->meta);
    if ((root = json_load_file(path, 0, &jerr)) == NULL)
        return false;
    o->killed = json_is_true(json_object_get(root, "killed"));
    if ((v = json_object_get(root, "limitation")) != NULL && json_is_string(v) &&
        strcmp(json_string_value(v), "memory") == 0) {
        o->oom = true;
        snprintf(o->message, sizeof(o->message), "%s",
                 json_string_value(json_object_get(root, "message")) ?: "Memory limit exceeded");
    }
    if ((v = json_object_get(root, "error")) != NULL) {
        o->how = CTR_START_FAILED;
        snprintf(o->message, sizeof(o->message), "%s",
                 json_is_string(v) ? json_string_value(v) : "the command could not be started");
    } else if (json_is_integer(v = json_object_get(root, "exit_code"))) {
        o->how = CTR_EXITED;
        o->code = (int)json_integer_value(v);
    } else if (json_is_integer(v = json_object_get(root, "signal"))) {
        o->how = CTR_SIGNALED;
        o->code = (int)json_integer_value(v);
    } else {
        ok = false;
    }
    json_decref(root);
    return ok;
}

/* ---- container lifetime ---- */

static void
container_handle_closed(uv_handle_t *h)
{
    struct ctr_container *k = h->data;
    struct ctr *c = k->c;

    if (--k->nhandles > 0)
        return;
    if (k->pidfd >= 0)
        close(k->pidfd);
    free(k);
    if (--c->live == 0 && c->closing)
        ctr_free(c);
}

/* Closes every handle of `k`; it is freed once they are closed. */
static void
container_close(struct ctr_container *k)
{
    if (k->has_pipe && !uv_is_closing((uv_handle_t *)&k->out))
        uv_close((uv_handle_t *)&k->out, container_handle_closed);
    if (k->has_poll && !uv_is_closing((uv_handle_t *)&k->poll))
        uv_close((uv_handle_t *)&k->poll, container_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&k->timer))
        uv_close((uv_handle_t *)&k->timer, container_handle_closed);
}

static struct ctr_container *
container_new(struct ctr *c, const char *id, const char *meta)
{
    struct ctr_container *k;

    if (hmap_get(&c->containers, id) != NULL)
        return NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return NULL;
    k->c = c;
    k->pidfd = -1;
    snprintf(k->id, sizeof(k->id), "%s", id);
    snprintf(k->meta, sizeof(k->meta), "%s", meta);
    if (hmap_put(&c->containers, k->id, k) != 0) {
        free(k);
        return NULL;
    }
    uv_timer_init(c->loop, &k->timer);
    k->timer.data = k;
    k->nhandles = 1;
    c->live++;
    return k;
}

static void
cleanup_timer_cb(uv_timer_t *t)
{
    struct ctr *c = t->data;
    size_t n = 0;

    for (size_t i = 0; i < c->nbusy; i++) {
        if (iso_cleanup(c->iso, c->busy[i]) == 0) {
            log_debug("containerizer: cgroups removed container_id=%s", c->busy[i]);
            free(c->busy[i]);
        } else {
            c->busy[n++] = c->busy[i];
        }
    }
    c->nbusy = n;
    if (n == 0)
        uv_timer_stop(t);
}

/* Removes the container's cgroups, or keeps retrying while they are busy. */
static void
cleanup_container(struct ctr *c, const char *id)
{
    char **p, *copy;

    if (!iso_has_cgroups(c->iso) || iso_cleanup(c->iso, id) == 0)
        return;
    if ((copy = strdup(id)) == NULL ||
        (p = realloc(c->busy, (c->nbusy + 1) * sizeof(*p))) == NULL) {
        free(copy);
        log_error("containerizer: out of memory; the cgroups of container_id=%s stay", id);
        return;
    }
    c->busy = p;
    c->busy[c->nbusy++] = copy;
    if (c->has_cleanup_timer && !uv_is_active((uv_handle_t *)&c->cleanup))
        uv_timer_start(&c->cleanup, cleanup_timer_cb, CTR_CLEANUP_MS, CTR_CLEANUP_MS);
}

/* Reports the verdict of a container whose executor is gone, then frees it. */
static void
container_finish(struct ctr_container *k)
{
    struct ctr *c = k->c;
    struct ctr_outcome o;
    struct cg_stats usage;

    if (k->finished)
        return;
    k->finished = true;
    memset(&o, 0, sizeof(o));
    read_task_pid(k);
    if (!read_status(k, &o)) {
        o.how = CTR_LOST;
        if (k->child && k->term_signal != 0)
            snprintf(o.message, sizeof(o.message),
                     "executor terminated by signal %d without reporting the task's end",
                     k->term_signal);
        else if (k->child)
            snprintf(o.message, sizeof(o.message),
                     "executor exited with status %d without reporting the task's end",
                     k->exit_status);
        else
            snprintf(o.message, sizeof(o.message),
                     "executor terminated without reporting the task's end");
        if (iso_kill(c->iso, k->id) != 0 && k->task_pid > 0)
            kill(-k->task_pid, SIGKILL);
        log_warn("containerizer: executor gone without status.json container_id=%s pid=%d", k->id,
                 k->pid);
    }
    if (o.how != CTR_START_FAILED && !o.oom && iso_oom(c->iso, k->id, o.message, sizeof(o.message)))
        o.oom = true;
    /* The final counters, for accounting: gone with the cgroups. */
    if (iso_stats(c->iso, k->id, &usage) == 0)
        o.usage = &usage;
    cleanup_container(c, k->id);
    hmap_del(&c->containers, k->id);
    if (!k->running_reported && k->task_pid > 0 && o.how != CTR_START_FAILED) {
        k->running_reported = true;
        c->cb->on_running(c->arg, k->id, k->task_pid);
    }
    c->cb->on_exit(c->arg, k->id, &o);
    container_close(k);
}

static void
finish_timer_cb(uv_timer_t *t)
{
    container_finish(t->data);
}

/* ---- children: process exit and the stdout pipe ---- */

static void
pipe_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct ctr_container *k = h->data;
    size_t room = sizeof(k->line) - k->linelen;

    (void)suggested;
    if (room == 0) { /* an over-long line: drop it */
        k->linelen = 0;
        room = sizeof(k->line);
    }
    *buf = uv_buf_init(k->line + k->linelen, (unsigned)room);
}

static void
handle_line(struct ctr_container *k, char *line)
{
    int pid;

    if (sscanf(line, "running %d", &pid) == 1 && pid > 0) {
        k->task_pid = pid;
        if (!k->running_reported && !k->finished) {
            k->running_reported = true;
            k->c->cb->on_running(k->c->arg, k->id, pid);
        }
    }
}

static void
pipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct ctr_container *k = s->data;
    char *nl;

    (void)buf;
    if (nread < 0) {
        uv_read_stop(s);
        k->eof = true;
        if (k->exited)
            container_finish(k);
        return;
    }
    k->linelen += (size_t)nread;
    while ((nl = memchr(k->line, '\n', k->linelen)) != NULL) {
        size_t used = (size_t)(nl - k->line) + 1;
        *nl = '\0';
        handle_line(k, k->line);
        if (k->finished)
            return;
        memmove(k->line, k->line + used, k->linelen - used);
        k->linelen -= used;
    }
}

/* Reaps our executor if it has ended. Returns true when it has. */
static bool
child_reap(struct ctr_container *k)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG) != 0) {
        if (errno == EINTR)
            return false;
        k->exit_status = -1; /* ECHILD: reaped elsewhere; status.json still tells */
    } else if (si.si_pid == 0) {
        return false;
    } else if (si.si_code == CLD_EXITED) {
        k->exit_status = si.si_status;
    } else {
        k->term_signal = si.si_status;
    }
    k->exited = true;
    if (k->has_poll)
        uv_poll_stop(&k->poll);
    if (k->eof)
        container_finish(k);
    else
        uv_timer_start(&k->timer, finish_timer_cb, CTR_EXIT_DRAIN_MS, 0);
    return true;
}

static void
child_pidfd_cb(uv_poll_t *h, int status, int events)
{
    struct ctr_container *k = h->data;

    (void)h;
    (void)status;
    (void)events;
    child_reap(k);
}

static void
child_poll_timer_cb(uv_timer_t *t)
{
    struct ctr_container *k = t->data;

    if (!k->exited)
        child_reap(k);
}

/* ---- recovered executors: pidfd or polling ---- */

static void
pidfd_cb(uv_poll_t *h, int status, int events)
{
    struct ctr_container *k = h->data;

    (void)status;
    (void)events;
    uv_poll_stop(h);
    k->exited = true;
    container_finish(k);
}

static bool
recovered_alive(const struct ctr_container *k)
{
    uint64_t now = ctr_proc_start_time(k->pid);
    return now != 0 && (k->start == 0 || now == k->start);
}

static void
poll_timer_cb(uv_timer_t *t)
{
    struct ctr_container *k = t->data;

    if (recovered_alive(k))
        return;
    uv_timer_stop(t);
    k->exited = true;
    container_finish(k);
}

/* First look at a recovered container, from the loop. */
static void
recover_timer_cb(uv_timer_t *t)
{
    struct ctr_container *k = t->data;
    struct ctr *c = k->c;

    read_task_pid(k);
    if (k->pid <= 0 || !recovered_alive(k)) {
        k->exited = true;
        container_finish(k);
        return;
    }
    if (k->task_pid > 0 && !k->running_reported) {
        k->running_reported = true;
        c->cb->on_running(c->arg, k->id, k->task_pid);
        if (k->finished)
            return;
    }
    k->pidfd = pidfd_open_(k->pid);
    if (k->pidfd >= 0 && !recovered_alive(k)) { /* the pid was reused meanwhile */
        k->exited = true;
        container_finish(k);
        return;
    }
    if (k->pidfd >= 0 && uv_poll_init(c->loop, &k->poll, k->pidfd) == 0) {
        k->poll.data = k;
        k->has_poll = true;
        k->nhandles++;
        uv_poll_start(&k->poll, UV_READABLE, pidfd_cb);
        return;
    }
    log_info("containerizer: no pidfd for pid=%d (%s), polling its liveness", k->pid,
             strerror(errno));
    uv_timer_start(&k->timer, poll_timer_cb, CTR_POLL_MS, CTR_POLL_MS);
}

/* ---- public API ---- */

static int
build_env(struct ctr *c)
{
    size_t n = 0, j = 0;

    for (char **e = environ; e && *e; e++)
        n++;
    if ((c->env = calloc(n + 1, sizeof(*c->env))) == NULL)
        return -AG_ENOMEM;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "AGORA_", 6) == 0 || strncmp(*e, "MESOS_", 6) == 0)
            continue;
        c->env[j++] = *e;
    }
    return 0;
}

int
ctr_open(struct ctr **out, uv_loop_t *loop, const char *launcher_dir,
         const struct ctr_callbacks *cb, void *arg, char *err, size_t errlen)
{
    struct ctr *c;
    char self[PATH_MAX], *slash;
    ssize_t n;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return -AG_ENOMEM;
    c->loop = loop;
    c->cb = cb;
    c->arg = arg;
    hmap_init(&c->containers);
    if (launcher_dir != NULL && *launcher_dir != '\0') {
        snprintf(c->exe, sizeof(c->exe), "%s/%s", launcher_dir, CTR_EXECUTOR_NAME);
    } else {
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
            snprintf(err, errlen, "cannot read /proc/self/exe: %s", strerror(errno));
            ctr_free(c);
            return -AG_ENOENT;
        }
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL)
            *slash = '\0';
        snprintf(c->exe, sizeof(c->exe), "%s/%s", self, CTR_EXECUTOR_NAME);
    }
    if (access(c->exe, X_OK) != 0) {
        snprintf(err, errlen, "executor %s: %s (use --launcher_dir=DIR)", c->exe, strerror(errno));
        ctr_free(c);
        return -AG_ENOENT;
    }
    if (build_env(c) != 0) {
        ctr_free(c);
        return -AG_ENOMEM;
    }
    uv_timer_init(loop, &c->cleanup);
    c->cleanup.data = c;
    c->has_cleanup_timer = true;
    c->live++;
    *out = c;
    return 0;
}

int
ctr_set_isolation(struct ctr *c, const struct iso_config *cfg, char *err, size_t errlen)
{
    struct iso *iso;
    int rv;

    if ((rv = iso_open(&iso, cfg, err, errlen)) != 0)
        return rv;
    iso_close(c->iso);
    c->iso = iso;
    return 0;
}

const char *
ctr_isolation(const struct ctr *c)
{
    return c->iso != NULL ? c->iso->names : "posix";
}

const char *
ctr_cgroup_layout(const struct ctr *c)
{
    return c->iso != NULL ? c->iso->layout.name : "none";
}

void
ctr_cgroup_roots(const struct ctr *c, char *buf, size_t len)
{
    iso_roots(c->iso, buf, len);
}

int
ctr_usage(struct ctr *c, const char *container_id, struct cg_stats *out)
{
    if (hmap_get(&c->containers, container_id) == NULL)
        return -AG_ENOENT;
    return iso_stats(c->iso, container_id, out);
}

static bool
known_cb(void *arg, const char *id)
{
    struct ctr *c = arg;
    return hmap_get(&c->containers, id) != NULL;
}

int
ctr_orphans(struct ctr *c)
{
    return iso_orphans(c->iso, known_cb, c);
}

static void
ctr_free(struct ctr *c)
{
    for (size_t i = 0; i < c->nbusy; i++)
        free(c->busy[i]);
    free(c->busy);
    iso_close(c->iso);
    hmap_fini(&c->containers);
    free(c->env);
    free(c);
}

static void
cleanup_timer_closed(uv_handle_t *h)
{
    struct ctr *c = h->data;

    if (--c->live == 0 && c->closing)
        ctr_free(c);
}

void
ctr_close(struct ctr *c)
{
    const char *key;
    void *val;

    if (c == NULL)
        return;
    c->closing = true;
    for (size_t it = 0; hmap_next(&c->containers, &it, &key, &val);) {
        struct ctr_container *k = val;
        hmap_del(&c->containers, key);
        k->finished = true;
        container_close(k);
    }
    if (c->has_cleanup_timer) {
        c->has_cleanup_timer = false;
        uv_close((uv_handle_t *)&c->cleanup, cleanup_timer_closed);
    }
    if (c->live == 0)
        ctr_free(c);
}

const char *
ctr_executor_path(const struct ctr *c)
{
    return c->exe;
}

/* Writes `root` to `dir`/`name` atomically (file.h) but not durably
 * (FILE_NOSYNC): launch.json is read once, by the executor, right after this,
 * and nothing reads it after a reboot (a machine that goes down takes the
 * container with it), so the launch path does not wait for the disk. */
static int
write_json_atomic(const char *dir, const char *name, json_t *root)
{
    char path[PATH_MAX + 64], *text;
    int rv;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
        return -AG_ENOMEM;
    rv = file_write_atomic(path, text, strlen(text), 0600, FILE_NOSYNC);
    free(text);
    return rv;
}

static json_t *
launch_json(const struct ctr_launch *l)
{
    json_t *root = json_object(), *cmd = json_object(), *args = json_array(), *env = json_object();

    if (root == NULL || cmd == NULL || args == NULL || env == NULL) {
        json_decref(root);
        json_decref(cmd);
        json_decref(args);
        json_decref(env);
        return NULL;
    }
    json_object_set_new(cmd, "shell", json_boolean(l->command->shell));
    if (l->command->value != NULL && (l->command->shell || l->command->value[0] != '\0'))
        json_object_set_new(cmd, "value", json_string(l->command->value));
    for (size_t i = 0; i < l->command->narguments; i++)
        json_array_append_new(args, json_string(l->command->arguments[i]));
    json_object_set_new(cmd, "arguments", args);
    for (size_t i = 0; i < l->nenv; i++)
        json_object_set_new(env, l->env[i].key, json_string(l->env[i].value));
    json_object_set_new(root, "command", cmd);
    json_object_set_new(root, "env", env);
    json_object_set_new(root, "kill_grace_ms", json_integer(l->kill_grace_ms));
    return root;
}

/*
 * Starts the executor detached (its own session, default signal dispositions,
 * an empty signal mask), stdin `infd`, stdout `outfd`, stderr `logfd`, cwd
 * `cwd`. posix_spawn suspends only the calling thread and shares its memory
 * until the exec (clone with CLONE_VM | CLONE_VFORK): unlike fork() its cost
 * does not grow with the agent's address space, and the loop is blocked for
 * the exec only. Returns 0 with the pid, or an errno value.
 */
static int
spawn_executor(struct ctr *c, const char *cwd, char *const args[], int infd, int outfd, int logfd,
               int *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    pid_t p;
    int rv;

    if ((rv = posix_spawn_file_actions_init(&fa)) != 0)
        return rv;
    if ((rv = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return rv;
    }
    sigemptyset(&none);
    sigfillset(&all);
    if ((rv = posix_spawn_file_actions_adddup2(&fa, infd, 0)) == 0 &&
        (rv = posix_spawn_file_actions_adddup2(&fa, outfd, 1)) == 0 &&
        (rv = posix_spawn_file_actions_adddup2(&fa, logfd, 2)) == 0 &&
        (rv = posix_spawn_file_actions_addchdir_np(&fa, cwd)) == 0 &&
        (rv = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                POSIX_SPAWN_SETSIGDEF)) == 0 &&
        (rv = posix_spawnattr_setsigmask(&at, &none)) == 0 &&
        (rv = posix_spawnattr_setsigdefault(&at, &all)) == 0)
        rv = posix_spawn(&p, c->exe, &fa, &at, args, c->env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    if (rv == 0)
        *pid = (int)p;
    return rv;
}

int
ctr_launch(struct ctr *c, const struct ctr_launch *l, int *pid, uint64_t *pid_start, char *err,
           size_t errlen)
{
    struct ctr_container *k;
    char meta_arg[PATH_MAX + 16], sandbox_arg[PATH_MAX + 16], logpath[PATH_MAX + 16];
    char *args[5];
    json_t *root;
    int rv, logfd, outp[2] = {-1, -1}, inp[2] = {-1, -1};
    bool isolated = false;

    *pid = 0;
    *pid_start = 0;
    if (!ids_valid(l->container_id)) {
        snprintf(err, errlen, "invalid container id");
        return -AG_EINVAL;
    }
    if (hmap_get(&c->containers, l->container_id) != NULL) {
        snprintf(err, errlen, "container %s exists", l->container_id);
        return -AG_EEXIST;
    }
    if ((root = launch_json(l)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    if (l->user != NULL && l->user[0] != '\0')
        json_object_set_new(root, "user", json_string(l->user));
    /* A fresh start: no verdict of an earlier run may linger. */
    snprintf(logpath, sizeof(logpath), "%s/status.json", l->meta_dir);
    unlink(logpath);
    snprintf(logpath, sizeof(logpath), "%s/task.pid", l->meta_dir);
    unlink(logpath);
    snprintf(logpath, sizeof(logpath), "%s/executor.log", l->meta_dir);
    logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", logpath, strerror(errno));
        json_decref(root);
        return -AG_EIO;
    }
    if ((k = container_new(c, l->container_id, l->meta_dir)) == NULL) {
        close(logfd);
        json_decref(root);
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    k->child = true;
    uv_pipe_init(c->loop, &k->out, 0);
    k->out.data = k;
    k->has_pipe = true;
    k->nhandles++;

    /* The executor starts first and waits on its stdin (--wait): its exec
     * overlaps with making the cgroups and launch.json below. */
    snprintf(meta_arg, sizeof(meta_arg), "--meta=%s", l->meta_dir);
    snprintf(sandbox_arg, sizeof(sandbox_arg), "--sandbox=%s", l->sandbox_dir);
    args[0] = c->exe;
    args[1] = meta_arg;
    args[2] = sandbox_arg;
    args[3] = "--wait";
    args[4] = NULL;
    if (pipe2(outp, O_CLOEXEC) != 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inp) != 0)
        rv = errno;
    else
        rv = spawn_executor(c, l->meta_dir, args, inp[0], outp[1], logfd, &k->pid);
    close(logfd);
    if (outp[1] >= 0)
        close(outp[1]);
    if (inp[0] >= 0)
        close(inp[0]);
    if (rv == 0 && uv_pipe_open(&k->out, outp[0]) != 0) {
        close(outp[0]); /* no pipe: status.json still tells, only later */
        k->eof = true;
    } else if (rv != 0 && outp[0] >= 0) {
        close(outp[0]);
    }
    if (rv != 0) {
        snprintf(err, errlen, "cannot spawn %s: %s", c->exe, strerror(rv));
        rv = -AG_EIO;
        goto fail;
    }
    k->start = ctr_proc_start_time(k->pid);

    if (c->iso != NULL && l->task != NULL) {
        struct iso_container ic = {
            .id = l->container_id,
            .meta_dir = l->meta_dir,
            .sandbox_dir = l->sandbox_dir,
            .task = l->task,
            .cpus = (double)res_scalar(&l->task->resources, "cpus") / RES_SCALE,
            .mem_bytes = (uint64_t)(res_scalar(&l->task->resources, "mem") / RES_SCALE) << 20,
        };
        if ((rv = iso_prepare(c->iso, &ic, root, err, errlen)) != 0)
            goto fail;
        isolated = true;
    }
    if ((rv = write_json_atomic(l->meta_dir, "launch.json", root)) != 0) {
        snprintf(err, errlen, "cannot write %s/launch.json: %s", l->meta_dir, ag_strerror(rv));
        goto fail;
    }
    if (send(inp[1], "g", 1, MSG_NOSIGNAL) != 1) { /* no SIGPIPE if it died meanwhile */
        snprintf(err, errlen, "cannot start %s: %s", c->exe, strerror(errno));
        rv = -AG_EIO;
        goto fail;
    }
    close(inp[1]);
    json_decref(root);

    k->pidfd = pidfd_open_(k->pid);
    if (k->pidfd >= 0 && uv_poll_init(c->loop, &k->poll, k->pidfd) == 0) {
        k->poll.data = k;
        k->has_poll = true;
        k->nhandles++;
        uv_poll_start(&k->poll, UV_READABLE, child_pidfd_cb);
    } else {
        log_info("containerizer: no pidfd for pid=%d (%s), polling it", k->pid, strerror(errno));
        uv_timer_start(&k->timer, child_poll_timer_cb, CTR_CHILD_POLL_MS, CTR_CHILD_POLL_MS);
    }
    if (!k->eof)
        uv_read_start((uv_stream_t *)&k->out, pipe_alloc_cb, pipe_read_cb);
    *pid = k->pid;
    *pid_start = k->start;
    log_debug("containerizer: executor started container_id=%s pid=%d", k->id, k->pid);
    return 0;

fail:
    /* An executor still waiting on its stdin has done nothing yet. */
    if (k->pid > 0) {
        kill(k->pid, SIGKILL);
        while (waitpid(k->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (inp[1] >= 0)
        close(inp[1]);
    json_decref(root);
    if (isolated)
        cleanup_container(c, k->id);
    hmap_del(&c->containers, k->id);
    k->finished = true;
    container_close(k);
    return rv;
}

int
ctr_recover(struct ctr *c, const char *container_id, const char *meta_dir, int64_t pid,
            uint64_t pid_start)
{
    struct ctr_container *k;

    if ((k = container_new(c, container_id, meta_dir)) == NULL)
        return hmap_get(&c->containers, container_id) ? -AG_EEXIST : -AG_ENOMEM;
    k->recovered = true;
    k->pid = pid > 0 && pid <= INT_MAX ? (int)pid : 0;
    k->start = pid_start;
    uv_timer_start(&k->timer, recover_timer_cb, 0, 0);
    return 0;
}

int
ctr_kill(struct ctr *c, const char *container_id)
{
    struct ctr_container *k = hmap_get(&c->containers, container_id);

    if (k == NULL)
        return -AG_ENOENT;
    if (k->exited)
        return 0;
    if (k->pidfd >= 0)
        pidfd_kill_(k->pidfd, SIGTERM);
    else if (k->child)
        kill(k->pid, SIGTERM); /* not reaped yet: still our child */
    else if (k->pid > 0 && recovered_alive(k))
        kill(k->pid, SIGTERM);
    return 0;
}

int
ctr_kill_now(struct ctr *c, const char *container_id)
{
    struct ctr_container *k = hmap_get(&c->containers, container_id);

    if (k == NULL)
        return -AG_ENOENT;
    read_task_pid(k);
    if (iso_kill(c->iso, k->id) == 0)
        return 0;
    if (k->task_pid > 0) {
        kill(-k->task_pid, SIGKILL);
        return 0;
    }
    if (k->exited)
        return 0;
    if (k->pidfd >= 0)
        pidfd_kill_(k->pidfd, SIGKILL);
    else if (k->child)
        kill(k->pid, SIGKILL);
    else if (k->pid > 0 && recovered_alive(k))
        kill(k->pid, SIGKILL);
    return 0;
}

static void
fill_info(const struct ctr_container *k, struct ctr_info *out)
{
    out->container_id = k->id;
    out->executor_pid = k->pid;
    out->task_pid = k->task_pid;
    out->recovered = k->recovered;
}

int
ctr_get(const struct ctr *c, const char *container_id, struct ctr_info *out)
{
    const struct ctr_container *k = hmap_get(&c->containers, container_id);

    if (k == NULL)
        return -AG_ENOENT;
    fill_info(k, out);
    return 0;
}

bool
ctr_next(const struct ctr *c, size_t *it, struct ctr_info *out)
{
    const char *key;
    void *val;

    if (!hmap_next(&c->containers, it, &key, &val))
        return false;
    fill_info(val, out);
    return true;
}

size_t
ctr_count(const struct ctr *c)
{
    return hmap_size(&c->containers);
}
