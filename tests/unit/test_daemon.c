#include "test.h"

#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static char *f_level;
static const struct flag table[] = {
    {"logging_level", FLAG_STRING, &f_level, "INFO", "DEBUG, INFO, WARNING or ERROR."},
    {NULL},
};

/* Runs daemon_flags on argv (stdout and stderr to /dev/null). */
static int
run(int argc, char **argv, enum ag_log_level *level)
{
    int rc;

    fflush(stdout);
    fflush(stderr);
    int o = dup(1), e = dup(2);
    FILE *null = freopen("/dev/null", "w", stdout);
    (void)null;
    dup2(1, 2);
    rc = daemon_flags(table, &argc, argv, "agora-test", "A test.", &f_level, level);
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    return rc;
}

static void
test_flags(void)
{
    enum ag_log_level level = AG_LOG_ERROR;
    char *ok[] = {"agora-test", "--logging_level=DEBUG", NULL};
    char *help[] = {"agora-test", "--help", NULL};
    char *bad[] = {"agora-test", "--nope", NULL};
    char *extra[] = {"agora-test", "extra", NULL};
    char *level_bad[] = {"agora-test", "--logging_level=LOUD", NULL};

    CHECK_EQ_INT(run(2, ok, &level), DAEMON_RUN);
    CHECK_EQ_INT(level, AG_LOG_DEBUG);
    flags_free(table);
    CHECK_EQ_INT(run(2, help, &level), 0);
    CHECK(f_level == NULL); /* freed on the way out */
    CHECK_EQ_INT(run(2, bad, &level), 1);
    CHECK_EQ_INT(run(2, extra, &level), 1);
    CHECK_EQ_INT(run(2, level_bad, &level), 1);
    CHECK(f_level == NULL);
}

/* A daemon for daemon_run: one timer, which raises `raise_sig` (or, when 0,
 * closes itself: the daemon stops on its own). */
struct fake {
    uv_timer_t timer;
    int raise_sig, fail_start;
    int started, stopped, signum, signals, finished_started, finished;
};

static void
on_timer(uv_timer_t *t)
{
    struct fake *f = t->data;

    if (f->raise_sig != 0)
        raise(f->raise_sig);
    else
        uv_close((uv_handle_t *)t, NULL);
}

static int
fake_start(void *arg, uv_loop_t *loop)
{
    struct fake *f = arg;

    if (f->fail_start)
        return -1;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_timer, 10, 0);
    f->started++;
    return 0;
}

static void
fake_stop(void *arg)
{
    ((struct fake *)arg)->stopped++;
}

static void
fake_signal(void *arg, int signum)
{
    struct fake *f = arg;

    f->signum = signum;
    f->signals++;
    uv_close((uv_handle_t *)&f->timer, NULL);
}

static int
fake_finish(void *arg, bool started)
{
    struct fake *f = arg;

    f->finished++;
    f->finished_started = started;
    return 7;
}

static const struct daemon_ops fake_ops = {
    .start = fake_start,
    .stop = fake_stop,
    .on_signal = fake_signal,
    .finish = fake_finish,
};

/* daemon_run: a signal stops the daemon, which also may stop on its own; a
 * failed start is cleaned up and exits 1. */
static void
test_run(void)
{
    struct fake f = {.raise_sig = SIGTERM};

    log_set_level(AG_LOG_ERROR);
    CHECK_EQ_INT(daemon_run(&fake_ops, &f, table), 7);
    CHECK_EQ_INT(f.signals, 1);
    CHECK_EQ_INT(f.signum, SIGTERM);
    CHECK_EQ_INT(f.stopped, 0);
    CHECK(f.finished == 1 && f.finished_started);

    f = (struct fake){.raise_sig = SIGINT};
    CHECK_EQ_INT(daemon_run(&fake_ops, &f, table), 7);
    CHECK(f.signals == 1 && f.signum == SIGINT);

    f = (struct fake){0};
    CHECK_EQ_INT(daemon_run(&fake_ops, &f, table), 7);
    CHECK_EQ_INT(f.signals, 0);
    CHECK(f.finished == 1 && f.finished_started);

    f = (struct fake){.fail_start = 1};
    CHECK_EQ_INT(daemon_run(&fake_ops, &f, table), 1);
    CHECK_EQ_INT(f.stopped, 1);
    CHECK(f.finished == 1 && !f.finished_started);
}

/* The soft open files limit goes up to the hard one. */
static void
test_nofile(void)
{
    struct rlimit rl, now;

    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_max > 64) {
        now = rl;
        now.rlim_cur = 64;
        CHECK(setrlimit(RLIMIT_NOFILE, &now) == 0);
    }
    CHECK(daemon_raise_nofile() == (int)(rl.rlim_max > INT32_MAX ? INT32_MAX : rl.rlim_max));
    CHECK(getrlimit(RLIMIT_NOFILE, &now) == 0);
    CHECK(now.rlim_cur == rl.rlim_max);
    CHECK(daemon_raise_nofile() == (int)(rl.rlim_max > INT32_MAX ? INT32_MAX : rl.rlim_max));
}

TEST_LIST(TEST_ENTRY(flags), TEST_ENTRY(run), TEST_ENTRY(nofile));
TEST_MAIN()
