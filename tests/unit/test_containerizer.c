#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "containerizer.h"
#include "error.h"
#include "log.h"
#include "paths.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

/* What the callbacks saw. */
static struct {
    int running_pid;
    int nrunning;
    int nexit;
    char exit_id[64];
    struct ctr_outcome outcome;
} seen;

static uv_loop_t loop;
static char dir[64];
static char launcher[PATH_MAX + 16];

static void
on_running(void *arg, const char *id, int pid)
{
    (void)arg;
    (void)id;
    seen.running_pid = pid;
    seen.nrunning++;
}

static void
on_exit_cb(void *arg, const char *id, const struct ctr_outcome *o)
{
    (void)arg;
    snprintf(seen.exit_id, sizeof(seen.exit_id), "%s", id);
    seen.outcome = *o;
    seen.nexit++;
}

static const struct ctr_callbacks cbs = {.on_running = on_running, .on_exit = on_exit_cb};

static void
timeout_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until `*flag` reaches `want` or `ms` pass. */
static void
run_until(int *flag, int want, int ms)
{
    uv_timer_t t;
    uint64_t end;

    uv_timer_init(&loop, &t);
    uv_timer_start(&t, timeout_cb, 50, 50);
    uv_update_time(&loop);
    end = uv_now(&loop) + (uint64_t)ms;
    while (*flag < want && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Runs the loop until the file `name` in `dirpath` contains `text`, at most
 * `ms`; returns whether it does. */
static bool
run_until_file_has(const char *dirpath, const char *name, const char *text, int ms)
{
    char path[PATH_MAX + 64], buf[4096];
    uv_timer_t t;
    uint64_t end;
    bool found = false;

    snprintf(path, sizeof(path), "%s/%s", dirpath, name);
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, timeout_cb, 10, 10);
    uv_update_time(&loop);
    end = uv_now(&loop) + (uint64_t)ms;
    while (!found && uv_now(&loop) < end) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            buf[n > 0 ? n : 0] = '\0';
            found = strstr(buf, text) != NULL;
        }
        if (!found)
            uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return found;
}

static void
setup(void)
{
    char self[PATH_MAX], *slash;
    ssize_t n;

    log_set_level(AG_LOG_ERROR);
    memset(&seen, 0, sizeof(seen));
    snprintf(dir, sizeof(dir), "/tmp/agora-test-ctr-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    /* Tests live in build/tests, the executor in build/bin. */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(n > 0);
    self[n] = '\0';
    slash = strrchr(self, '/');
    CHECK(slash != NULL);
    *slash = '\0';
    snprintf(launcher, sizeof(launcher), "%s/../bin", self);
    CHECK_EQ_INT(uv_loop_init(&loop), 0);
}

static void
teardown(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
}

static void
make_dirs(const char *name, char *meta, char *sandbox)
{
    snprintf(meta, PATH_MAX, "%s/meta-%s", dir, name);
    snprintf(sandbox, PATH_MAX, "%s/sandbox-%s", dir, name);
    CHECK_EQ_INT(paths_mkdirs(meta, 0700), 0);
    CHECK_EQ_INT(paths_mkdirs(sandbox, 0755), 0);
}

static void
read_file(const char *dirpath, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX + 64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dirpath, name);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    n = read(fd, buf, len - 1);
    CHECK(n >= 0);
    buf[n] = '\0';
    close(fd);
}

static int
launch(struct ctr *c, const char *id, const char *meta, const char *sandbox, const char *cmd,
       int64_t grace_ms, int *pid, uint64_t *start)
{
    struct msg_command command;
    struct msg_kv env[2] = {{"GREETING", "hello"}, {"PORT0", "31000"}};
    struct ctr_launch l;
    char err[512];

    msg_command_init(&command);
    command.shell = true;
    command.value = (char *)cmd;
    memset(&l, 0, sizeof(l));
    l.container_id = id;
    l.meta_dir = meta;
    l.sandbox_dir = sandbox;
    l.command = &command;
    l.env = env;
    l.nenv = 2;
    l.kill_grace_ms = grace_ms;
    return ctr_launch(c, &l, pid, start, err, sizeof(err));
}

static void
test_exit_status(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], buf[256], err[512];
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("c1", meta, sandbox);
    CHECK_EQ_INT(launch(c, "c1", meta, sandbox,
                        "echo hi; echo \"$GREETING $PORT0 $AGORA_SANDBOX\"; echo oops >&2; exit 3",
                        3000, &pid, &start),
                 0);
    CHECK(pid > 0);
    CHECK(start > 0);
    CHECK_EQ_INT(start, ctr_proc_start_time(pid));
    CHECK_EQ_INT(ctr_count(c), 1);
    CHECK_EQ_INT(launch(c, "c1", meta, sandbox, "true", 3000, &pid, &start), -AG_EEXIST);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.nrunning, 1);
    CHECK(seen.running_pid > 0);
    CHECK_EQ_STR(seen.exit_id, "c1");
    CHECK_EQ_INT(seen.outcome.how, CTR_EXITED);
    CHECK_EQ_INT(seen.outcome.code, 3);
    CHECK(!seen.outcome.killed);
    CHECK_EQ_INT(ctr_count(c), 0);
    read_file(sandbox, "stdout", buf, sizeof(buf));
    {
        char expect[PATH_MAX + 64];
        snprintf(expect, sizeof(expect), "hi\nhello 31000 %s\n", sandbox);
        CHECK_EQ_STR(buf, expect);
    }
    read_file(sandbox, "stderr", buf, sizeof(buf));
    CHECK_EQ_STR(buf, "oops\n");
    ctr_close(c);
    teardown();
}

static void
test_kill(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], err[512];
    struct ctr_info info;
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("k", meta, sandbox);
    CHECK_EQ_INT(launch(c, "k", meta, sandbox, "sleep 30", 5000, &pid, &start), 0);
    run_until(&seen.nrunning, 1, 10000);
    CHECK_EQ_INT(seen.nrunning, 1);
    CHECK_EQ_INT(ctr_get(c, "k", &info), 0);
    CHECK_EQ_INT(info.executor_pid, pid);
    CHECK_EQ_INT(info.task_pid, seen.running_pid);
    CHECK_EQ_INT(ctr_kill(c, "k"), 0);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.outcome.how, CTR_SIGNALED);
    CHECK_EQ_INT(seen.outcome.code, SIGTERM);
    CHECK(seen.outcome.killed);
    CHECK_EQ_INT(ctr_kill(c, "k"), -AG_ENOENT);
    ctr_close(c);
    teardown();
}

static void
test_kill_escalates(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], err[512];
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("e", meta, sandbox);
    /* The task ignores SIGTERM (once it said "ready"): the executor sends
     * SIGKILL after 300 ms. */
    CHECK_EQ_INT(launch(c, "e", meta, sandbox,
                        "trap '' TERM; echo ready; sleep 30 & wait; "
                        "sleep 30",
                        300, &pid, &start),
                 0);
    run_until(&seen.nrunning, 1, 10000);
    CHECK(run_until_file_has(sandbox, "stdout", "ready\n", 10000)); /* the trap is set */
    CHECK_EQ_INT(ctr_kill(c, "e"), 0);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.outcome.how, CTR_SIGNALED);
    CHECK_EQ_INT(seen.outcome.code, SIGKILL);
    CHECK(seen.outcome.killed);
    ctr_close(c);
    teardown();
}

static void
test_kill_now(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], err[512];
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("n", meta, sandbox);
    CHECK_EQ_INT(launch(c, "n", meta, sandbox, "sleep 30", 60000, &pid, &start), 0);
    run_until(&seen.nrunning, 1, 10000);
    CHECK_EQ_INT(ctr_kill_now(c, "n"), 0);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.outcome.how, CTR_SIGNALED);
    CHECK_EQ_INT(seen.outcome.code, SIGKILL);
    ctr_close(c);
    teardown();
}

static void
test_start_failed(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], err[512];
    struct msg_command command;
    struct ctr_launch l;
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("f", meta, sandbox);
    msg_command_init(&command);
    command.shell = false;
    command.value = "/nonexistent/program";
    memset(&l, 0, sizeof(l));
    l.container_id = "f";
    l.meta_dir = meta;
    l.sandbox_dir = sandbox;
    l.command = &command;
    l.kill_grace_ms = 1000;
    CHECK_EQ_INT(ctr_launch(c, &l, &pid, &start, err, sizeof(err)), 0);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.nrunning, 0);
    CHECK_EQ_INT(seen.outcome.how, CTR_START_FAILED);
    CHECK(strstr(seen.outcome.message, "No such file") != NULL);
    ctr_close(c);
    teardown();
}

static void
test_recover_running(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], err[512];
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("r", meta, sandbox);
    CHECK_EQ_INT(launch(c, "r", meta, sandbox, "sleep 1; exit 7", 3000, &pid, &start), 0);
    run_until(&seen.nrunning, 1, 10000);
    CHECK_EQ_INT(seen.nrunning, 1);
    /* The "agent" goes away: no callback afterwards, the executor keeps running. */
    ctr_close(c);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_EQ_INT(ctr_proc_start_time(pid), start);
    memset(&seen, 0, sizeof(seen));

    /* A new containerizer attaches to it through a pidfd. */
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(ctr_recover(c, "r", meta, pid, start), 0);
    CHECK_EQ_INT(ctr_recover(c, "r", meta, pid, start), -AG_EEXIST);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.nrunning, 1); /* the task had started: reported again */
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.outcome.how, CTR_EXITED);
    CHECK_EQ_INT(seen.outcome.code, 7);
    ctr_close(c);
    teardown();
}

static void
test_recover_finished_and_lost(void)
{
    struct ctr *c;
    char meta[PATH_MAX], sandbox[PATH_MAX], meta2[PATH_MAX], sandbox2[PATH_MAX], err[512];
    int pid;
    uint64_t start;

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, launcher, &cbs, NULL, err, sizeof(err)), 0);
    make_dirs("done", meta, sandbox);
    CHECK_EQ_INT(launch(c, "done", meta, sandbox, "exit 0", 3000, &pid, &start), 0);
    run_until(&seen.nexit, 1, 10000);
    CHECK_EQ_INT(seen.outcome.how, CTR_EXITED);
    memset(&seen, 0, sizeof(seen));

    /* Ended while nobody watched: the verdict comes from status.json. */
    CHECK_EQ_INT(ctr_recover(c, "done", meta, pid, start), 0);
    run_until(&seen.nexit, 1, 5000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.outcome.how, CTR_EXITED);
    CHECK_EQ_INT(seen.outcome.code, 0);
    memset(&seen, 0, sizeof(seen));

    /* No executor and no status.json: lost. A wrong start time means pid reuse. */
    make_dirs("lost", meta2, sandbox2);
    CHECK_EQ_INT(ctr_recover(c, "lost", meta2, getpid(), 1), 0);
    run_until(&seen.nexit, 1, 5000);
    CHECK_EQ_INT(seen.nexit, 1);
    CHECK_EQ_INT(seen.outcome.how, CTR_LOST);
    memset(&seen, 0, sizeof(seen));
    CHECK_EQ_INT(ctr_recover(c, "lost2", meta2, 0, 0), 0);
    run_until(&seen.nexit, 1, 5000);
    CHECK_EQ_INT(seen.outcome.how, CTR_LOST);
    ctr_close(c);
    teardown();
}

static void
test_missing_executor(void)
{
    struct ctr *c;
    char err[512];

    setup();
    CHECK_EQ_INT(ctr_open(&c, &loop, "/nonexistent", &cbs, NULL, err, sizeof(err)), -AG_ENOENT);
    CHECK(strstr(err, "agora-executor") != NULL);
    {
        /* Field 22 of /proc/self/stat (our comm has no spaces). */
        FILE *f = fopen("/proc/self/stat", "r");
        unsigned long long start = 0;
        CHECK(f != NULL);
        CHECK(fscanf(f,
                     "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                     "%*d %*d %*d %llu",
                     &start) == 1);
        fclose(f);
        CHECK_EQ_INT(ctr_proc_start_time(getpid()), start);
    }
    CHECK_EQ_INT(ctr_proc_start_time(0), 0);
    teardown();
}

TEST_LIST(TEST_ENTRY(exit_status), TEST_ENTRY(kill), TEST_ENTRY(kill_escalates),
          TEST_ENTRY(kill_now), TEST_ENTRY(start_failed), TEST_ENTRY(recover_running),
          TEST_ENTRY(recover_finished_and_lost), TEST_ENTRY(missing_executor));
TEST_MAIN()
