#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/resource.h>

int
daemon_flags(const struct flag *table, int *argc, char **argv, const char *prog,
             const char *summary, char *const *logging_level, enum ag_log_level *level)
{
    char err[1024];
    int rc = flags_parse(table, argc, argv, err, sizeof(err));

    if (rc == FLAGS_HELP) {
        flags_usage(table, prog, summary, stdout);
        flags_free(table);
        return 0;
    }
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    else if (*argc > 1)
        fprintf(stderr, "%s: unexpected argument '%s'; see --help\n", prog, argv[1]);
    else if (log_parse_level(*logging_level, level) != 0)
        fprintf(stderr, "%s: bad --logging_level '%s': use DEBUG, INFO, WARNING or ERROR\n", prog,
                *logging_level != NULL ? *logging_level : "");
    else
        return DAEMON_RUN;
    flags_free(table);
    return 1;
}

void
daemon_logging(const char *component, enum ag_log_level level)
{
    log_set_component(component);
    log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
}

/* daemon_run's loop: the daemon and the signal watchers. */
struct daemon_loop {
    const struct daemon_ops *ops;
    void *d;
    uv_signal_t sigint, sigterm;
    bool watching;
};

static void
signals_close(struct daemon_loop *l)
{
    if (!l->watching)
        return;
    l->watching = false;
    uv_close((uv_handle_t *)&l->sigint, NULL);
    uv_close((uv_handle_t *)&l->sigterm, NULL);
}

static void
on_stop_signal(uv_signal_t *h, int signum)
{
    struct daemon_loop *l = h->data;

    l->ops->on_signal(l->d, signum);
    signals_close(l);
}

int
daemon_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;

        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("daemon: cannot raise the open files limit from %llu to %llu",
                     (unsigned long long)was, (unsigned long long)rl.rlim_max);
            return (int)(was > INT32_MAX ? INT32_MAX : was);
        }
        log_info("daemon: open files limit raised from %llu to %llu (the hard limit)",
                 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
    }
    if (rl.rlim_cur < 4096)
        log_warn("daemon: open files limit is %llu: every idle HTTP client holds one; raise the "
                 "hard limit (systemd LimitNOFILE=, ulimit -Hn) for production",
                 (unsigned long long)rl.rlim_cur);
    return (int)(rl.rlim_cur > INT32_MAX ? INT32_MAX : rl.rlim_cur);
}

int
daemon_run(const struct daemon_ops *ops, void *d, const struct flag *table)
{
    struct daemon_loop l = {.ops = ops, .d = d};
    uv_loop_t loop;
    int rc;

    daemon_raise_nofile();
    uv_loop_init(&loop);
    if (ops->start(d, &loop) != 0) {
        if (ops->stop != NULL)
            ops->stop(d);
        uv_run(&loop, UV_RUN_DEFAULT); /* let closed handles finish */
        ops->finish(d, false);
        uv_loop_close(&loop);
        flags_free(table);
        return 1;
    }
    uv_signal_init(&loop, &l.sigint);
    uv_signal_init(&loop, &l.sigterm);
    l.sigint.data = l.sigterm.data = &l;
    uv_signal_start(&l.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&l.sigterm, on_stop_signal, SIGTERM);
    uv_unref((uv_handle_t *)&l.sigint);
    uv_unref((uv_handle_t *)&l.sigterm);
    l.watching = true;
    uv_run(&loop, UV_RUN_DEFAULT);
    signals_close(&l);
    uv_run(&loop, UV_RUN_DEFAULT); /* the watchers' close */
    rc = ops->finish(d, true);
    uv_loop_close(&loop);
    flags_free(table);
    return rc;
}
