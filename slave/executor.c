/*
 * agora-executor: runs one task for the agent and outlives the agent.
 *
 *   agora-executor --meta=DIR --sandbox=DIR
 *
 * The agent writes DIR/launch.json (see launch_read below) and spawns this
 * program detached. The executor
 *   1. starts the task in its own process group, cwd = sandbox, stdout and
 *      stderr appended to sandbox/stdout and sandbox/stderr;
 *   2. writes "running PID" on its stdout (a pipe to the agent, if the agent is
 *      still there) and META/task.pid;
 *   3. on SIGTERM forwards SIGTERM to the task's process group and, after the
 *      kill grace period, sends SIGKILL to the whole group;
 *   4. when the task ends, kills what is left of its process group, writes
 *      META/status.json atomically (write to a temporary file, fsync, rename),
 *      prints "exited" on its stdout and exits 0.
 *
 * status.json: {"exit_code": N} | {"signal": N} plus "killed": true when the
 * agent asked for the kill, or {"error": "text"} when the task could not start.
 * The agent treats status.json as the truth; the pipe only makes it faster.
 *
 * This is a single-threaded process that never touches nng, so it can fork
 * safely.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct launch {
    json_t *root;
    int shell;
    const char *value;
    json_t *arguments;
    json_t *env;
    long long kill_grace_ms;
};

static const char *meta_dir;
static const char *sandbox_dir;

static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "agora-executor: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int
write_file_atomic(const char *dir, const char *name, const char *text)
{
    char tmp[4096], path[4096];
    int fd;
    size_t len = strlen(text);

    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return rename(tmp, path);
}

static void
write_status(json_t *st)
{
    char *text = json_dumps(st, JSON_COMPACT);
    if (text == NULL || write_file_atomic(meta_dir, "status.json", text) != 0)
        fprintf(stderr, "agora-executor: cannot write status.json: %s\n", strerror(errno));
    free(text);
    json_decref(st);
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
    if (l->shell && l->value == NULL)
        die("%s: a shell command needs \"value\"", path);
    if (!l->shell && l->value == NULL && json_array_size(l->arguments) == 0)
        die("%s: a command needs \"value\" or \"arguments\"", path);
}

/* Runs in the forked child: never returns. Reports exec failure on `errfd`. */
static void
child_exec(const struct launch *l, int errfd)
{
    char path[4096];
    int fd;
    size_t i, n;
    const char *key;
    json_t *val;
    char **argv;
    int err;

    setpgid(0, 0);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (chdir(sandbox_dir) != 0)
        goto fail;
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    snprintf(path, sizeof(path), "%s/stdout", sandbox_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        goto fail;
    dup2(fd, 1);
    close(fd);
    snprintf(path, sizeof(path), "%s/stderr", sandbox_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        goto fail;
    dup2(fd, 2);
    close(fd);
    setenv("MESOS_SANDBOX", sandbox_dir, 1);
    setenv("AGORA_SANDBOX", sandbox_dir, 1);
    json_object_foreach(l->env, key, val)
    {
        if (json_is_string(val))
            setenv(key, json_string_value(val), 1);
    }
    if (l->shell) {
        execl("/bin/sh", "sh", "-c", l->value, (char *)NULL);
        goto fail;
    }
    n = json_array_size(l->arguments);
    argv = calloc(n + 2, sizeof(*argv));
    if (argv == NULL)
        goto fail;
    for (i = 0; i < n; i++)
        argv[i] = (char *)json_string_value(json_array_get(l->arguments, i));
    if (n == 0)
        argv[0] = (char *)l->value;
    execvp(l->value ? l->value : argv[0], argv);
fail:
    err = errno;
    if (write(errfd, &err, sizeof(err)) < 0) {
        /* nothing more to do */
    }
    _exit(127);
}

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
    struct launch l = {0};
    int errpipe[2], err = 0, status, killed = 0;
    long long deadline = -1;
    pid_t child;
    sigset_t mask;
    char buf[64];
    ssize_t r;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--meta=", 7) == 0)
            meta_dir = argv[i] + 7;
        else if (strncmp(argv[i], "--sandbox=", 10) == 0)
            sandbox_dir = argv[i] + 10;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: agora-executor --meta=DIR --sandbox=DIR\n"
                   "Runs one task as described by DIR/launch.json; started by agora-agent.\n");
            return 0;
        } else
            die("unknown flag '%s'; see --help", argv[i]);
    }
    if (meta_dir == NULL || sandbox_dir == NULL)
        die("--meta and --sandbox are required; see --help");
    signal(SIGPIPE, SIG_IGN);
    setsid();
    launch_read(&l);

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    if (pipe2(errpipe, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    child = fork();
    if (child < 0)
        die("fork: %s", strerror(errno));
    if (child == 0) {
        close(errpipe[0]);
        child_exec(&l, errpipe[1]);
    }
    close(errpipe[1]);
    setpgid(child, child);
    r = read(errpipe[0], &err, sizeof(err));
    close(errpipe[0]);
    if (r == (ssize_t)sizeof(err)) {
        json_t *st = json_object();
        waitpid(child, NULL, 0);
        snprintf(buf, sizeof(buf), "%s", strerror(err));
        json_object_set_new(st, "error",
                            json_sprintf("cannot start the command: %s", strerror(err)));
        write_status(st);
        printf("exited\n");
        fflush(stdout);
        return 0;
    }
    snprintf(buf, sizeof(buf), "%d\n", (int)child);
    write_file_atomic(meta_dir, "task.pid", buf);
    printf("running %d\n", (int)child);
    fflush(stdout);

    for (;;) {
        struct timespec ts = {1, 0};
        siginfo_t si;
        int sig;

        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) {
                kill(-child, SIGKILL);
                deadline = -1;
                continue;
            }
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (left % 1000) * 1000000;
        }
        sig = sigtimedwait(&mask, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            if (!killed) {
                killed = 1;
                kill(-child, SIGTERM);
                deadline = now_ms() + (l.kill_grace_ms > 0 ? l.kill_grace_ms : 0);
            }
        }
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child)
            break;
    }
    /* Whatever the task left in its process group goes with it. */
    kill(-child, SIGKILL);

    json_t *st = json_object();
    if (WIFEXITED(status))
        json_object_set_new(st, "exit_code", json_integer(WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
        json_object_set_new(st, "signal", json_integer(WTERMSIG(status)));
    if (killed)
        json_object_set_new(st, "killed", json_true());
    write_status(st);
    printf("exited\n");
    fflush(stdout);
    json_decref(l.root);
    return 0;
}
