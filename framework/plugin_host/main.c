/*
 * agora-scheduler: the plugin host. Loads a scheduler plugin (<agora/plugin.h>),
 * runs it as a framework against the master, and keeps the framework id and
 * the plugin's key-value store in --work_dir so that a restarted host resumes
 * the same framework and its tasks.
 *
 * Exit status: 0 when stopped by SIGINT/SIGTERM (the framework stays
 * registered for --failover_timeout) or when the plugin ended with code 0;
 * the plugin's code from ag_plugin_exit; 1 when the driver failed (e.g. the
 * master refused the framework); 2 for usage, loading, configuration or init
 * errors (nothing was registered with the master).
 *
 * The run's state machine is drawn in host.h.
 */
#define _GNU_SOURCE /* asprintf */
#include "daemon.h"
#include "error.h"
#include "file.h"
#include "flags.h"
#include "host.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AGORA_PLUGIN_DIR_REL
#define AGORA_PLUGIN_DIR_REL "../lib/agora/plugins"
#endif

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define TEARDOWN_WAIT_MS 10000

static char *f_plugin, *f_master, *f_config, *f_work_dir, *f_name, *f_role, *f_principal, *f_secret,
    *f_secret_file, *f_user, *f_logging_level, *f_log_level, *f_tls_ca, *f_tls_cert, *f_tls_key;
static int64_t f_failover_ms;
static bool f_checkpoint;

static const struct flag host_flags[] = {
    {"plugin", FLAG_STRING, &f_plugin, FLAG_REQUIRED,
     "The plugin: a path to its .so file, or the name of an installed one (hello, batch, "
     "spread)."},
    {"master", FLAG_STRING, &f_master, "127.0.0.1:5050",
     "The master, as HOST:PORT (https://HOST:PORT: over TLS, verified with the system's CAs)."},
    {"tls_ca", FLAG_STRING, &f_tls_ca, NULL,
     "PEM CA certificates the master's certificate is verified against; with it the master is "
     "reached over TLS (wss://)."},
    {"tls_cert", FLAG_STRING, &f_tls_cert, NULL,
     "PEM client certificate for a master started with --tls_verify_peer."},
    {"tls_key", FLAG_STRING, &f_tls_key, NULL, "PEM private key of --tls_cert."},
    {"config", FLAG_STRING, &f_config, NULL,
     "A file holding the plugin's configuration, a JSON object (default {})."},
    {"work_dir", FLAG_STRING, &f_work_dir, NULL,
     "Where the framework id and the plugin's key-value store are kept; a restarted host "
     "resumes the framework found there (default ./agora-scheduler/NAME)."},
    {"name", FLAG_STRING, &f_name, NULL, "The framework's name (default: the plugin's name)."},
    {"role", FLAG_STRING, &f_role, NULL,
     "Roles to receive offers for, comma-separated (default: role *)."},
    {"user", FLAG_STRING, &f_user, NULL, "The user tasks run as (default: the agents')."},
    {"principal", FLAG_STRING, &f_principal, NULL, "The principal to register as."},
    {"secret_file", FLAG_STRING, &f_secret_file, NULL,
     "A file whose first line is the principal's secret, to authenticate."},
    {"secret", FLAG_STRING, &f_secret, NULL,
     "The principal's secret (deprecated: visible in /proc/PID/cmdline; use --secret_file)."},
    {"failover_timeout", FLAG_DURATION, &f_failover_ms, "1weeks",
     "How long the master keeps the framework and its tasks while this host is away."},
    {"checkpoint", FLAG_BOOL, &f_checkpoint, "true",
     "Whether agents checkpoint the tasks (so they survive an agent restart)."},
    {"logging_level", FLAG_STRING, &f_logging_level, NULL,
     "DEBUG, INFO, WARNING or ERROR (default INFO)."},
    {"log_level", FLAG_STRING, &f_log_level, NULL,
     "Deprecated spelling of --logging_level, used when --logging_level is not given."},
    {NULL},
};

/* ---- driver callbacks (driver thread) ---- */

/* Takes plugin_lock; true when the plugin may be called. */
static bool
host_enter(struct ag_plugin_ctx *h)
{
    pthread_mutex_lock(&h->plugin_lock);
    return !h->quiet;
}

static void
cb_subscribed(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed)
{
    struct ag_plugin_ctx *h = arg;
    char *stored = NULL;
    int rv;

    (void)d;
    bool live = host_enter(h);
    if (h->store != NULL) {
        store_host_get(h->store, "framework_id", &stored);
        if ((stored == NULL || strcmp(stored, framework_id) != 0) &&
            (rv = store_host_put(h->store, "framework_id", framework_id)) != 0)
            log_error("cannot save the framework id in %s: %s; a restarted host would not "
                      "resume this framework",
                      h->work_dir, ag_strerror(rv));
        free(stored);
    }
    log_info("subscribed framework_id=%s%s", framework_id, resubscribed ? " (resumed)" : "");
    if (live && h->p->subscribed != NULL)
        h->p->subscribed(h, h->state, framework_id, resubscribed);
    host_leave(h, "subscribed");
}

static void
cb_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    struct ag_plugin_ctx *h = arg;

    if (host_enter(h)) {
        if (h->p->offers != NULL) {
            h->p->offers(h, h->state, offers, n);
        } else {
            for (size_t i = 0; i < n; i++) {
                const char *id = ag_offer_id(offers[i]);
                ag_driver_decline(d, &id, 1, 60);
            }
        }
    }
    host_leave(h, "offers");
}

static void
cb_rescind(struct ag_driver *d, void *arg, const char *offer_id)
{
    struct ag_plugin_ctx *h = arg;

    if (host_enter(h) && h->p->rescind != NULL)
        h->p->rescind(h, h->state, offer_id);
    host_leave(h, "rescind");
}

static void
cb_status_update(struct ag_driver *d, void *arg, const struct ag_task_status *s)
{
    struct ag_plugin_ctx *h = arg;

    log_debug("update task_id=%s state=%s", ag_status_task_id(s),
              ag_task_state_name(ag_status_state(s)));
    if (host_enter(h) && h->p->status_update != NULL)
        h->p->status_update(h, h->state, s);
    host_leave(h, "status_update");
}

static void
cb_framework_message(struct ag_driver *d, void *arg, const char *agent_id, const char *executor_id,
                     const void *data, size_t len)
{
    struct ag_plugin_ctx *h = arg;

    if (host_enter(h) && h->p->framework_message != NULL)
        h->p->framework_message(h, h->state, agent_id, executor_id, data, len);
    host_leave(h, "framework_message");
}

static void
cb_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal)
{
    struct ag_plugin_ctx *h = arg;
    char *stored = NULL;

    if (host_enter(h) && h->p->error != NULL)
        h->p->error(h, h->state, code, message, fatal);
    if (fatal && h->store != NULL)
        store_host_get(h->store, "framework_id", &stored);
    host_leave(h, "error");
    if (!fatal) {
        log_warn("driver: %s (%s)", message, ag_strerror(code));
        return;
    }
    log_error("driver stopped: %s (%s)", message, ag_strerror(code));
    if (stored != NULL && code == -AG_ESTATE)
        log_error("the master no longer knows framework %s kept in %s; to start a new framework "
                  "remove %s/plugin.db (the plugin's stored state goes with it)",
                  stored, h->work_dir, h->work_dir);
    free(stored);
    pthread_mutex_lock(&h->lock);
    h->driver_failed = true;
    h->driver_error = code;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void
cb_disconnected(struct ag_driver *d, void *arg)
{
    struct ag_plugin_ctx *h = arg;

    log_warn("disconnected from the master; reconnecting");
    if (host_enter(h) && h->p->disconnected != NULL)
        h->p->disconnected(h, h->state);
    host_leave(h, "disconnected");
}

static void
cb_reconciled(struct ag_driver *d, void *arg)
{
    struct ag_plugin_ctx *h = arg;

    if (host_enter(h) && h->p->reconciled != NULL)
        h->p->reconciled(h, h->state);
    host_leave(h, "reconciled");
}

/* ---- signals ---- */

static sigset_t stop_signals;

static void *
signal_main(void *arg)
{
    struct ag_plugin_ctx *h = arg;
    int sig;

    for (;;) {
        if (sigwait(&stop_signals, &sig) != 0)
            continue;
        pthread_mutex_lock(&h->lock);
        if (h->signal != 0) {
            pthread_mutex_unlock(&h->lock);
            log_warn("second signal %s: exiting at once", strsignal(sig));
            _exit(EXIT_FAILED);
        }
        h->signal = sig;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
    }
    return NULL;
}

/* ---- the main loop ---- */

enum run_end { END_EXIT, END_SIGNAL, END_FAILED, END_STOPPED };

/* Runs the first timer if it is due (under plugin_lock, see host.h). */
static void
run_due_timer(struct ag_plugin_ctx *h)
{
    struct host_timer *t = NULL;

    pthread_mutex_lock(&h->plugin_lock);
    pthread_mutex_lock(&h->lock);
    if (h->timers != NULL && h->timers->due_ms <= host_now_ms()) {
        t = h->timers;
        h->timers = t->next;
    }
    pthread_mutex_unlock(&h->lock);
    if (t != NULL && !h->quiet)
        t->fn(h, h->state, t->arg);
    free(t);
    host_leave(h, "a timer");
}

/*
 * Runs timers until the plugin exits, a stop signal arrives, the driver fails,
 * or the driver stopped some other way (the plugin called ag_driver_stop or
 * ag_driver_teardown itself; checked every second).
 */
static enum run_end
host_run(struct ag_plugin_ctx *h)
{
    uint64_t next_check = host_now_ms() + 1000, wake;
    enum run_end end;
    struct timespec ts;

    pthread_mutex_lock(&h->lock);
    for (;;) {
        if (h->exit_requested) {
            end = END_EXIT;
            break;
        }
        if (h->signal != 0) {
            end = END_SIGNAL;
            break;
        }
        if (h->driver_failed) {
            end = END_FAILED;
            break;
        }
        if (h->timers != NULL && h->timers->due_ms <= host_now_ms()) {
            pthread_mutex_unlock(&h->lock);
            run_due_timer(h);
            pthread_mutex_lock(&h->lock);
            continue;
        }
        if (host_now_ms() >= next_check) {
            pthread_mutex_unlock(&h->lock);
            bool running = ag_driver_running(h->driver);
            pthread_mutex_lock(&h->lock);
            if (!running && !h->driver_failed && !h->exit_requested && h->signal == 0) {
                end = END_STOPPED;
                break;
            }
            next_check = host_now_ms() + 1000;
            continue;
        }
        wake = next_check;
        if (h->timers != NULL && h->timers->due_ms < wake)
            wake = h->timers->due_ms;
        ts.tv_sec = (time_t)(wake / 1000);
        ts.tv_nsec = (long)(wake % 1000) * 1000000;
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
    }
    pthread_mutex_unlock(&h->lock);
    return end;
}

static void
host_set_quiet(struct ag_plugin_ctx *h)
{
    pthread_mutex_lock(&h->plugin_lock);
    h->quiet = true;
    pthread_mutex_unlock(&h->plugin_lock);
}

static bool
host_signalled(struct ag_plugin_ctx *h)
{
    bool s;

    pthread_mutex_lock(&h->lock);
    s = h->signal != 0;
    pthread_mutex_unlock(&h->lock);
    return s;
}

/* Tears the framework down and waits (bounded) for the driver to stop. */
static void
host_teardown(struct ag_plugin_ctx *h)
{
    uint64_t deadline = host_now_ms() + TEARDOWN_WAIT_MS;
    int rv;

    log_info("plugin finished: tearing down the framework");
    if ((rv = ag_driver_teardown(h->driver)) != 0)
        log_warn("teardown: %s (%s)", ag_strerror(rv), ag_last_error());
    while (ag_driver_running(h->driver) && host_now_ms() < deadline && !host_signalled(h))
        usleep(50 * 1000);
    if (ag_driver_running(h->driver))
        log_warn("the master did not confirm the teardown within %d s; the framework is "
                 "removed when its failover timeout passes",
                 TEARDOWN_WAIT_MS / 1000);
    ag_driver_stop(h->driver);
}

/* ---- start-up ---- */

/* Takes the work_dir's lock for the life of the process; -1 when another host holds it. */
static int
lock_work_dir(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX], pid[32] = "";
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/lock", dir);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        n = read(fd, pid, sizeof(pid) - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen, "another agora-scheduler (pid %s) is running with --work_dir=%s",
                 pid[0] ? pid : "?", dir);
        close(fd);
        return -1;
    }
    if (ftruncate(fd, 0) == 0) {
        n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (pwrite(fd, pid, (size_t)n, 0) != n)
            log_warn("cannot write the pid into %s", path);
    }
    return fd;
}

/* The directory installed plugins are looked up in: relative to this program. */
static void
plugin_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    buf[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return;
    *slash = '\0';
    snprintf(buf, len, "%s/%s", exe, AGORA_PLUGIN_DIR_REL);
    if (realpath(buf, exe) != NULL)
        snprintf(buf, len, "%s", exe);
}

static struct ag_framework_info *
make_framework_info(const char *name, const char *framework_id)
{
    struct ag_framework_info *fi = ag_framework_info_new();
    int rv;

    if (fi == NULL)
        return NULL;
    rv = ag_framework_info_set_name(fi, name);
    if (rv == 0 && f_user != NULL)
        rv = ag_framework_info_set_user(fi, f_user);
    if (rv == 0 && f_principal != NULL && f_secret_file != NULL)
        rv = ag_framework_info_set_secret_file(fi, f_principal, f_secret_file);
    else if (rv == 0 && f_principal != NULL)
        rv = ag_framework_info_set_principal(fi, f_principal, f_secret);
    if (rv == 0 && (f_tls_ca != NULL || f_tls_cert != NULL || f_tls_key != NULL))
        rv = ag_framework_info_set_tls(fi, f_tls_ca, f_tls_cert, f_tls_key);
    if (rv == 0)
        rv = ag_framework_info_set_failover_timeout(fi, (double)f_failover_ms / 1000.0);
    if (rv == 0)
        rv = ag_framework_info_set_checkpoint(fi, f_checkpoint);
    if (rv == 0 && framework_id != NULL)
        rv = ag_framework_info_set_framework_id(fi, framework_id);
    if (rv == 0 && f_role != NULL) {
        char *roles = strdup(f_role), *save = NULL;

        if (roles == NULL)
            rv = -AG_ENOMEM;
        for (char *r = roles ? strtok_r(roles, ",", &save) : NULL; r != NULL && rv == 0;
             r = strtok_r(NULL, ",", &save))
            rv = ag_framework_info_add_role(fi, r);
        free(roles);
    }
    if (rv != 0) {
        fprintf(stderr, "agora-scheduler: framework info: %s (%s)\n", ag_strerror(rv),
                ag_last_error());
        ag_framework_info_free(fi);
        return NULL;
    }
    return fi;
}

static const struct ag_scheduler_callbacks host_callbacks = {
    .size = sizeof(struct ag_scheduler_callbacks),
    .subscribed = cb_subscribed,
    .offers = cb_offers,
    .rescind = cb_rescind,
    .status_update = cb_status_update,
    .framework_message = cb_framework_message,
    .error = cb_error,
    .disconnected = cb_disconnected,
    .reconciled = cb_reconciled,
};

static struct ag_plugin_ctx host;

int
main(int argc, char **argv)
{
    struct ag_plugin_ctx *h = &host;
    char err[1024], dir[PATH_MAX], path[PATH_MAX];
    char *stored_plugin = NULL, *framework_id = NULL, *config_text = NULL;
    struct ag_framework_info *fi = NULL;
    enum ag_log_level level;
    const char *level_name;
    pthread_condattr_t ca;
    pthread_mutexattr_t ma;
    pthread_t sig_thread;
    bool sig_started = false, init_done = false, clear = false;
    json_error_t jerr;
    int rv, code = EXIT_USAGE, lock_fd = -1;

    rv = flags_parse(host_flags, &argc, argv, err, sizeof(err));
    if (rv == FLAGS_HELP) {
        flags_usage(host_flags, "agora-scheduler",
                    "Runs a scheduler plugin (a .so built against <agora/plugin.h>) as an Agora "
                    "framework. See docs/writing-a-scheduler.md.",
                    stdout);
        flags_free(host_flags);
        return 0;
    }
    if (rv == 0 && argc > 1) {
        snprintf(err, sizeof(err), "unexpected argument '%s'", argv[1]);
        rv = -AG_EINVAL;
    }
    level_name = f_logging_level ? f_logging_level : f_log_level ? f_log_level : "INFO";
    if (rv == 0 && log_parse_level(level_name, &level) != 0) {
        snprintf(err, sizeof(err), "bad --%s '%s'", f_logging_level ? "logging_level" : "log_level",
                 level_name);
        rv = -AG_EINVAL;
    }
    if (rv != 0) {
        fprintf(stderr, "agora-scheduler: %s\n", err);
        flags_free(host_flags);
        return EXIT_USAGE;
    }
    daemon_logging("agora-scheduler", level);
    ag_log_level(level_name);
    if (f_log_level != NULL && f_logging_level == NULL)
        log_warn("--log_level is deprecated: use --logging_level");
    if (f_secret != NULL && f_secret_file == NULL)
        log_warn("--secret is visible to every local user in /proc/PID/cmdline: use --secret_file");

    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&h->plugin_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);

    /* The plugin and its configuration. */
    plugin_dir(dir, sizeof(dir));
    if (loader_open(&h->lp, f_plugin, dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-scheduler: %s\n", err);
        goto out;
    }
    h->p = &h->lp.desc;
    if (f_config != NULL) {
        h->config = json_load_file(f_config, JSON_REJECT_DUPLICATES, &jerr);
        if (h->config == NULL) {
            fprintf(stderr, "agora-scheduler: config %s: line %d: %s\n", f_config, jerr.line,
                    jerr.text);
            goto out;
        }
        if (!json_is_object(h->config)) {
            fprintf(stderr, "agora-scheduler: config %s: must hold a JSON object\n", f_config);
            goto out;
        }
    } else if ((h->config = json_object()) == NULL) {
        goto out;
    }
    if ((config_text = json_dumps(h->config, JSON_COMPACT)) == NULL)
        goto out;
    h->name = strdup(f_name != NULL ? f_name : h->p->name);
    if (f_work_dir != NULL)
        h->work_dir = strdup(f_work_dir);
    else if (asprintf(&h->work_dir, "agora-scheduler/%s", h->name ? h->name : "") < 0)
        h->work_dir = NULL;
    if (h->name == NULL || h->work_dir == NULL)
        goto out;
    log_info("plugin %s%s%s loaded from %s", h->p->name, h->p->version ? " " : "",
             h->p->version ? h->p->version : "", h->lp.path);

    /* The work_dir: locked, with the store. */
    if ((rv = file_mkdirs(h->work_dir, 0755)) != 0) {
        fprintf(stderr, "agora-scheduler: cannot create --work_dir=%s: %s\n", h->work_dir,
                strerror(errno));
        goto out;
    }
    if ((lock_fd = lock_work_dir(h->work_dir, err, sizeof(err))) < 0) {
        fprintf(stderr, "agora-scheduler: %s\n", err);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/plugin.db", h->work_dir);
    if (store_open(&h->store, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "agora-scheduler: cannot open the store: %s\n", err);
        goto out;
    }
    store_host_get(h->store, "plugin", &stored_plugin);
    if (stored_plugin != NULL && strcmp(stored_plugin, h->p->name) != 0) {
        fprintf(stderr,
                "agora-scheduler: --work_dir=%s holds the state of plugin '%s', not '%s'; use "
                "another --work_dir\n",
                h->work_dir, stored_plugin, h->p->name);
        goto out;
    }
    if (stored_plugin == NULL && store_host_put(h->store, "plugin", h->p->name) != 0) {
        fprintf(stderr, "agora-scheduler: cannot write to %s\n", path);
        goto out;
    }
    store_host_get(h->store, "framework_id", &framework_id);
    if (framework_id != NULL)
        log_info("resuming framework %s kept in %s", framework_id, h->work_dir);

    /* The driver (not started yet). */
    if ((fi = make_framework_info(h->name, framework_id)) == NULL)
        goto out;
    if ((rv = ag_driver_new(&h->driver, f_master, fi, &host_callbacks, h)) != 0) {
        fprintf(stderr, "agora-scheduler: --master=%s: %s (%s)\n", f_master, ag_strerror(rv),
                ag_last_error());
        goto out;
    }
    /* The work_dir lock guarantees no other instance of this framework runs. */
    if (framework_id != NULL)
        ag_driver_set_force(h->driver, true);

    /* Stop signals go to one thread; every thread started from here inherits the mask. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (pthread_create(&sig_thread, NULL, signal_main, h) != 0) {
        fprintf(stderr, "agora-scheduler: cannot start a thread\n");
        goto out;
    }
    sig_started = true;

    /* init */
    pthread_mutex_lock(&h->plugin_lock);
    rv = h->p->init != NULL ? h->p->init(h, config_text, &h->state) : 0;
    if (rv == 0 && h->config_error) {
        /* A getter met a value of the wrong type; the plugin would run misconfigured. */
        if (h->p->fini != NULL)
            h->p->fini(h, h->state);
        h->state = NULL;
        rv = -AG_EINVAL;
    }
    host_leave(h, "init");
    if (rv != 0) {
        fprintf(stderr, "agora-scheduler: plugin %s: init failed: %s; see the messages above\n",
                h->p->name, ag_strerror(rv));
        goto out;
    }
    init_done = true;

    /* Run. */
    code = 0;
    if (h->exit_requested && framework_id == NULL) {
        clear = true; /* finished before it started: nothing to tear down */
        code = h->exit_code;
    } else if ((rv = ag_driver_start(h->driver)) != 0) {
        log_error("cannot start the driver: %s (%s)", ag_strerror(rv), ag_last_error());
        code = EXIT_FAILED;
    } else {
        log_info("framework %s running against %s", h->name, f_master);
        switch (host_run(h)) {
        case END_EXIT:
            host_teardown(h);
            clear = true;
            code = h->exit_code;
            break;
        case END_SIGNAL: {
            char ft[32];

            host_set_quiet(h);
            flags_format_duration(f_failover_ms, ft, sizeof(ft));
            log_info("stopping on %s; the framework and its tasks stay registered for %s: "
                     "restart with --work_dir=%s to resume",
                     strsignal(h->signal), ft, h->work_dir);
            ag_driver_stop(h->driver);
            break;
        }
        case END_FAILED:
            host_set_quiet(h);
            code = EXIT_FAILED;
            break;
        case END_STOPPED:
            host_set_quiet(h);
            log_error("the driver stopped without an error: a plugin ends the run with "
                      "ag_plugin_exit, not ag_driver_stop or ag_driver_teardown");
            code = EXIT_FAILED;
            break;
        }
        ag_driver_join(h->driver);
    }

out:
    host_timers_free(h);
    ag_driver_free(h->driver); /* joins the driver thread: no callback runs after this */
    h->driver = NULL;
    pthread_mutex_lock(&h->plugin_lock);
    if (init_done && h->p->fini != NULL)
        h->p->fini(h, h->state);
    h->state = NULL;
    if (clear && h->store != NULL) {
        if (store_clear(h->store) != 0)
            log_error("cannot clear the state in %s", h->work_dir);
        else
            log_info("state in %s cleared", h->work_dir);
    }
    store_close(h->store);
    h->store = NULL;
    pthread_mutex_unlock(&h->plugin_lock);
    if (sig_started) {
        pthread_cancel(sig_thread);
        pthread_join(sig_thread, NULL);
    }
    if (lock_fd >= 0)
        close(lock_fd);
    ag_framework_info_free(fi);
    free(framework_id);
    free(stored_plugin);
    free(config_text);
    json_decref(h->config);
    free(h->name);
    free(h->work_dir);
    loader_close(&h->lp);
    flags_free(host_flags);
    if (code != 0)
        log_info("exiting with status %d", code);
    return code;
}
