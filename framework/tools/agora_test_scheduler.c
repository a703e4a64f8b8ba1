/*
 * agora-test-scheduler: a scriptable framework for integration tests, written
 * against the public API of libagora-scheduler only.
 *
 *   agora-test-scheduler --master=HOST:PORT [--name=N] [--role=R]... [--framework_id=ID]
 *       [--failover_timeout=SECS] [--checkpoint] [--partition_aware] [--no-auto-ack]
 *       [--principal=P] [--secret_file=FILE | --secret=S] [--rate_limit=PER_SEC]
 *       [--logging_level=L]
 *
 * --secret_file names a file whose first line is the secret; --secret (visible
 * in /proc/PID/cmdline to every local user) still works, with a warning.
 *
 * Reads one command per line on stdin and prints one JSON object per event on
 * stdout (one line each, flushed). Events:
 *   {"event":"subscribed","framework_id":ID,"resubscribed":BOOL}
 *   {"event":"offers","offers":[{"id","agent_id","hostname","resources","attributes"}]}
 *   {"event":"rescind","offer_id":ID}
 *   {"event":"update","task_id","state","reason","message","uuid","agent_id","healthy","source"}
 *   {"event":"reconciled"}
 *   {"event":"message","agent_id","executor_id","data"}
 *   {"event":"error","message":TEXT,"code":N,"fatal":BOOL}   (also for bad commands)
 *   {"event":"disconnected"}
 * Commands (OFFER_IDS may be a comma-separated list of offers of one agent):
 *   launch OFFER_IDS TASK_ID RESOURCES CMD...     (CMD: the rest of the line, run by /bin/sh -c)
 *   launch_json OFFER_IDS {task} | [{task},...]
 *       task fields: task_id, name, agent_id, resources, cmd, args[], env{}, user, image,
 *       network, kill_grace_ms, labels{}, health_check{type, command, port, port_index,
 *       path, delay_s, interval_s, timeout_s, consecutive_failures, grace_period_s}
 *   decline OFFER_IDS [REFUSE_SECONDS]
 *   reserve OFFER_ID RESOURCES / unreserve OFFER_ID RESOURCES
 *   kill TASK_ID [AGENT_ID]
 *   reconcile [TASK_ID AGENT_ID ...]
 *   reconcile_known TASK_ID AGENT_ID [TASK_ID AGENT_ID ...]
 *   ack TASK_ID AGENT_ID UUID
 *   revive [ROLE] / suppress [ROLE] / teardown / quit
 * The program exits 0 after quit, end of input or teardown, 1 after a fatal error.
 */
#include <agora/scheduler.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE (1 << 20)
#define MAX_ARGS 4096

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int fatal_seen;

/* Prints `obj` as one line, with "time_ms" (when it was printed, ms since
 * the epoch, for benchmarks), and releases it. */
static void
emit(json_t *obj)
{
    struct timespec ts;
    char *s;

    if (obj == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_object_set_new(obj, "time_ms",
                        json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
    s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s == NULL)
        return;
    pthread_mutex_lock(&out_lock);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    free(s);
}

static void
emit_error(int code, const char *message, bool fatal)
{
    emit(json_pack("{s:s,s:s,s:i,s:b}", "event", "error", "message", message, "code", code, "fatal",
                   fatal));
}

static void
cmd_error(const char *cmd, int code, const char *what)
{
    char buf[600];
    const char *detail = ag_last_error();

    if (what == NULL)
        what = ag_strerror(code);
    if (detail[0] != '\0' && code != 0)
        snprintf(buf, sizeof(buf), "%s: %s (%s)", cmd, what, detail);
    else
        snprintf(buf, sizeof(buf), "%s: %s", cmd, what);
    emit_error(code, buf, false);
}

/* ---- callbacks (driver thread) ---- */

static void
on_subscribed(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed)
{
    emit(json_pack("{s:s,s:s,s:b}", "event", "subscribed", "framework_id", framework_id,
                   "resubscribed", resubscribed));
}

static void
on_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n && arr != NULL; i++) {
        const struct ag_offer *o = offers[i];

        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", ag_offer_id(o), "agent_id",
                           ag_offer_agent_id(o), "hostname", ag_offer_hostname(o), "resources",
                           ag_offer_resources(o), "attributes", ag_offer_attributes(o),
                           "allocation_role", ag_offer_allocation_role(o)));
    }
    emit(json_pack("{s:s,s:o}", "event", "offers", "offers", arr));
}

static void
on_rescind(struct ag_driver *d, void *arg, const char *offer_id)
{
    emit(json_pack("{s:s,s:s}", "event", "rescind", "offer_id", offer_id));
}

static void
on_update(struct ag_driver *d, void *arg, const struct ag_task_status *s)
{
    int h = ag_status_healthy(s);

    emit(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s}", "event", "update", "task_id",
                   ag_status_task_id(s), "state", ag_task_state_name(ag_status_state(s)), "reason",
                   ag_status_reason(s), "message", ag_status_message(s), "uuid", ag_status_uuid(s),
                   "agent_id", ag_status_agent_id(s), "healthy",
                   h < 0 ? json_null() : json_boolean(h), "source", ag_status_source(s)));
}

static void
on_message(struct ag_driver *d, void *arg, const char *agent_id, const char *executor_id,
           const void *data, size_t len)
{
    emit(json_pack("{s:s,s:s,s:s,s:s%}", "event", "message", "agent_id", agent_id, "executor_id",
                   executor_id, "data", (const char *)data, len));
}

static void
on_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal)
{
    emit_error(code, message, fatal);
    if (fatal)
        fatal_seen = 1;
}

static void
on_disconnected(struct ag_driver *d, void *arg)
{
    emit(json_pack("{s:s}", "event", "disconnected"));
}

static void
on_reconciled(struct ag_driver *d, void *arg)
{
    emit(json_pack("{s:s}", "event", "reconciled"));
}

/* ---- commands (main thread) ---- */

/* Splits a comma-separated list in place into `ids`; returns the count. */
static size_t
split_ids(char *s, const char **ids, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *t = strtok_r(s, ",", &save); t != NULL && n < max; t = strtok_r(NULL, ",", &save))
        ids[n++] = t;
    return n;
}

/* Next space-separated word of *p (advanced), or NULL. */
static char *
next_word(char **p)
{
    char *s = *p, *w;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    w = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
        s++;
    if (*s != '\0')
        *s++ = '\0';
    *p = s;
    return w;
}

static const char *
jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static double
jnum(json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : def;
}

/* Builds a task from its JSON description; NULL with an error event on failure. */
static struct ag_task *
task_from_json(json_t *j)
{
    const char *id = jstr(j, "task_id"), *s, *key;
    struct ag_task *t;
    json_t *v, *hc;
    int rv = 0;

    if (!json_is_object(j) || id == NULL) {
        cmd_error("launch_json", -AG_EINVAL, "a task needs a string task_id");
        return NULL;
    }
    if ((t = ag_task_new(id, jstr(j, "name"), jstr(j, "agent_id"))) == NULL) {
        cmd_error("launch_json", -AG_EINVAL, "bad task");
        return NULL;
    }
    if ((s = jstr(j, "resources")) != NULL)
        rv = ag_task_set_resources(t, s);
    if (rv == 0 && (v = json_object_get(j, "args")) != NULL && json_is_array(v) &&
        json_array_size(v) > 0) {
        size_t n = json_array_size(v);
        const char **argv = calloc(n, sizeof(*argv));

        for (size_t i = 0; argv != NULL && i < n; i++)
            argv[i] =
                json_is_string(json_array_get(v, i)) ? json_string_value(json_array_get(v, i)) : "";
        rv = argv != NULL ? ag_task_set_argv(t, n, argv) : -AG_ENOMEM;
        free(argv);
    } else if (rv == 0 && (s = jstr(j, "cmd")) != NULL) {
        rv = ag_task_set_command(t, s);
    }
    if (rv == 0 && (v = json_object_get(j, "env")) != NULL && json_is_object(v)) {
        json_object_foreach(v, key, hc)
        {
            if (rv == 0 && json_is_string(hc))
                rv = ag_task_add_env(t, key, json_string_value(hc));
        }
    }
    if (rv == 0 && (v = json_object_get(j, "labels")) != NULL && json_is_object(v)) {
        json_object_foreach(v, key, hc)
        {
            if (rv == 0 && json_is_string(hc))
                rv = ag_task_add_label(t, key, json_string_value(hc));
        }
    }
    if (rv == 0 && (s = jstr(j, "user")) != NULL)
        rv = ag_task_set_user(t, s);
    if (rv == 0 && (s = jstr(j, "image")) != NULL)
        rv = ag_task_set_image(t, s);
    if (rv == 0 && (s = jstr(j, "network")) != NULL)
        rv = ag_task_set_network(t, s);
    if (rv == 0 && json_is_number(json_object_get(j, "kill_grace_ms")))
        rv = ag_task_set_kill_grace(t, (int64_t)jnum(j, "kill_grace_ms", 0));
    if (rv == 0 && (hc = json_object_get(j, "health_check")) != NULL && json_is_object(hc)) {
        const char *type = jstr(hc, "type");
        int port = (int)jnum(hc, "port", 0), idx = (int)jnum(hc, "port_index", 0);

        if (type == NULL || strcmp(type, "COMMAND") == 0)
            rv = ag_task_set_health_check_command(t, jstr(hc, "command"));
        else if (strcmp(type, "HTTP") == 0)
            rv = ag_task_set_health_check_http(t, port, idx, jstr(hc, "path"));
        else if (strcmp(type, "TCP") == 0)
            rv = ag_task_set_health_check_tcp(t, port, idx);
        else
            rv = -AG_EINVAL;
        if (rv == 0)
            rv = ag_task_set_health_check_timing(
                t, jnum(hc, "delay_s", -1), jnum(hc, "interval_s", -1), jnum(hc, "timeout_s", -1),
                (int)jnum(hc, "consecutive_failures", -1), jnum(hc, "grace_period_s", -1));
    }
    if (rv != 0) {
        cmd_error("launch_json", rv, NULL);
        ag_task_free(t);
        return NULL;
    }
    return t;
}

static void
cmd_launch_json(struct ag_driver *d, char *offers, char *json)
{
    const char *ids[64];
    size_t n = split_ids(offers, ids, 64), ntasks = 0;
    struct ag_task **tasks = NULL;
    json_error_t jerr;
    json_t *j;
    int rv;

    if (n == 0 || json == NULL) {
        cmd_error("launch_json", -AG_EINVAL, "usage: launch_json OFFER_IDS {task}");
        return;
    }
    if ((j = json_loads(json, 0, &jerr)) == NULL) {
        cmd_error("launch_json", -AG_EINVAL, jerr.text);
        return;
    }
    if (json_is_object(j)) {
        json_t *a = json_array();

        json_array_append(a, j);
        json_decref(j);
        j = a;
    }
    if (!json_is_array(j) || json_array_size(j) == 0 ||
        (tasks = calloc(json_array_size(j), sizeof(*tasks))) == NULL) {
        cmd_error("launch_json", -AG_EINVAL, "expected a task object or a non-empty array");
        json_decref(j);
        return;
    }
    for (ntasks = 0; ntasks < json_array_size(j); ntasks++)
        if ((tasks[ntasks] = task_from_json(json_array_get(j, ntasks))) == NULL)
            goto out;
    if ((rv = ag_driver_accept(d, ids, n, tasks, ntasks, -1)) != 0)
        cmd_error("launch_json", rv, NULL);
out:
    for (size_t i = 0; i < ntasks; i++)
        ag_task_free(tasks[i]);
    free(tasks);
    json_decref(j);
}

static void
cmd_launch(struct ag_driver *d, char *rest)
{
    char *offers = next_word(&rest), *task_id = next_word(&rest), *res = next_word(&rest);
    const char *ids[64];
    struct ag_task *t;
    size_t n;
    int rv;

    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (offers == NULL || task_id == NULL || res == NULL || *rest == '\0') {
        cmd_error("launch", -AG_EINVAL, "usage: launch OFFER_IDS TASK_ID RESOURCES CMD...");
        return;
    }
    n = split_ids(offers, ids, 64);
    if ((t = ag_task_new(task_id, NULL, NULL)) == NULL) {
        cmd_error("launch", -AG_EINVAL, "bad task");
        return;
    }
    if ((rv = ag_task_set_resources(t, res)) != 0 || (rv = ag_task_set_command(t, rest)) != 0 ||
        (rv = ag_driver_accept(d, ids, n, &t, 1, -1)) != 0)
        cmd_error("launch", rv, NULL);
    ag_task_free(t);
}

/* Carries out one command line. Returns 1 for quit. */
static int
run_command(struct ag_driver *d, char *line)
{
    char *rest = line, *cmd = next_word(&rest), *w[MAX_ARGS / 2];
    size_t nw = 0;
    int rv = 0;

    if (cmd == NULL || cmd[0] == '#')
        return 0;
    if (strcmp(cmd, "launch") == 0) {
        cmd_launch(d, rest);
        return 0;
    }
    if (strcmp(cmd, "launch_json") == 0) {
        char *offers = next_word(&rest);

        cmd_launch_json(d, offers, rest);
        return 0;
    }
    if (strcmp(cmd, "quit") == 0)
        return 1;
    while (nw < MAX_ARGS / 2 && (w[nw] = next_word(&rest)) != NULL)
        nw++;
    if (strcmp(cmd, "decline") == 0 && (nw == 1 || nw == 2)) {
        const char *ids[64];
        size_t n = split_ids(w[0], ids, 64);

        rv = ag_driver_decline(d, ids, n, nw == 2 ? strtod(w[1], NULL) : -1);
    } else if ((strcmp(cmd, "reserve") == 0 || strcmp(cmd, "unreserve") == 0) && nw == 2) {
        rv = cmd[0] == 'r' ? ag_driver_reserve(d, w[0], w[1]) : ag_driver_unreserve(d, w[0], w[1]);
    } else if (strcmp(cmd, "kill") == 0 && (nw == 1 || nw == 2)) {
        rv = ag_driver_kill(d, w[0], nw == 2 ? w[1] : NULL);
    } else if ((strcmp(cmd, "reconcile") == 0 || strcmp(cmd, "reconcile_known") == 0) &&
               nw % 2 == 0) {
        const char *tasks[MAX_ARGS / 4], *agents[MAX_ARGS / 4];

        for (size_t i = 0; i < nw / 2; i++) {
            tasks[i] = w[2 * i];
            agents[i] = w[2 * i + 1];
        }
        if (strcmp(cmd, "reconcile") == 0)
            rv = ag_driver_reconcile(d, tasks, agents, nw / 2);
        else
            rv = ag_driver_reconcile_until_known(d, tasks, agents, nw / 2, 0, 0);
    } else if (strcmp(cmd, "ack") == 0 && nw == 3) {
        rv = ag_driver_acknowledge(d, w[1], w[0], w[2]);
    } else if (strcmp(cmd, "revive") == 0 && nw <= 1) {
        rv = ag_driver_revive(d, nw == 1 ? w[0] : NULL);
    } else if (strcmp(cmd, "suppress") == 0 && nw <= 1) {
        rv = ag_driver_suppress(d, nw == 1 ? w[0] : NULL);
    } else if (strcmp(cmd, "teardown") == 0 && nw == 0) {
        rv = ag_driver_teardown(d);
    } else {
        cmd_error(cmd, -AG_EINVAL, "unknown command or wrong number of arguments");
        return 0;
    }
    if (rv != 0)
        cmd_error(cmd, rv, NULL);
    return 0;
}

/* ---- main ---- */

static const char *
opt_value(const char *arg, const char *name)
{
    size_t n = strlen(name);

    /* Accept both --name=value and --name-with-dashes=value spellings of '_'. */
    for (size_t i = 0; i < n; i++) {
        char a = arg[i], b = name[i];

        if (a == '-')
            a = '_';
        if (b == '-')
            b = '_';
        if (a != b)
            return NULL;
    }
    return arg[n] == '=' ? arg + n + 1 : NULL;
}

static bool
opt_flag(const char *arg, const char *name)
{
    size_t n = strlen(name);

    if (strlen(arg) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((arg[i] == '-' ? '_' : arg[i]) != (name[i] == '-' ? '_' : name[i]))
            return false;
    return true;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: agora-test-scheduler --master=HOST:PORT [--name=N] [--role=R]... "
               "[--framework_id=ID]\n"
               "       [--failover_timeout=SECS] [--checkpoint] [--partition_aware] "
               "[--no-auto-ack]\n"
               "       [--principal=P] [--secret_file=FILE | --secret=S] [--rate_limit=PER_SEC]\n"
               "       [--logging_level=L]\n"
               "Commands on stdin, one JSON event per line on stdout (see the source).\n");
}

int
main(int argc, char **argv)
{
    struct ag_scheduler_callbacks cb = {
        .size = sizeof(cb),
        .subscribed = on_subscribed,
        .offers = on_offers,
        .rescind = on_rescind,
        .status_update = on_update,
        .framework_message = on_message,
        .error = on_error,
        .disconnected = on_disconnected,
        .reconciled = on_reconciled,
    };
    const char *master = NULL, *principal = NULL, *secret = NULL, *secret_file = NULL, *v;
    bool auto_ack = true;
    double rate = -1;
    struct ag_framework_info *fi = ag_framework_info_new();
    struct ag_driver *d = NULL;
    char *buf = malloc(MAX_LINE + 1);
    size_t have = 0;
    int rv = 0, status = 0;
    bool eof = false, quit = false;

    signal(SIGPIPE, SIG_IGN);
    if (fi == NULL || buf == NULL) {
        fprintf(stderr, "agora-test-scheduler: out of memory\n");
        return 1;
    }
    ag_framework_info_set_name(fi, "agora-test-scheduler");
    for (int i = 1; i < argc && rv == 0; i++) {
        const char *a = argv[i];

        if (strncmp(a, "--", 2) != 0) {
            rv = -AG_EINVAL;
            break;
        }
        a += 2;
        if ((v = opt_value(a, "master")) != NULL)
            master = v;
        else if ((v = opt_value(a, "name")) != NULL)
            rv = ag_framework_info_set_name(fi, v);
        else if ((v = opt_value(a, "role")) != NULL)
            rv = ag_framework_info_add_role(fi, v);
        else if ((v = opt_value(a, "framework_id")) != NULL)
            rv = ag_framework_info_set_framework_id(fi, v);
        else if ((v = opt_value(a, "failover_timeout")) != NULL)
            rv = ag_framework_info_set_failover_timeout(fi, strtod(v, NULL));
        else if ((v = opt_value(a, "principal")) != NULL)
            principal = v;
        else if ((v = opt_value(a, "secret_file")) != NULL)
            secret_file = v;
        else if ((v = opt_value(a, "secret")) != NULL)
            secret = v;
        else if ((v = opt_value(a, "rate_limit")) != NULL)
            rate = strtod(v, NULL);
        else if ((v = opt_value(a, "logging_level")) != NULL ||
                 (v = opt_value(a, "log_level")) != NULL) /* the old spelling */
            rv = ag_log_level(v);
        else if (opt_flag(a, "checkpoint"))
            rv = ag_framework_info_set_checkpoint(fi, true);
        else if (opt_flag(a, "partition_aware"))
            rv = ag_framework_info_add_capability(fi, "PARTITION_AWARE");
        else if (opt_flag(a, "no_auto_ack"))
            auto_ack = false;
        else if (opt_flag(a, "help")) {
            usage(stdout);
            return 0;
        } else
            rv = -AG_EINVAL;
        if (rv != 0)
            fprintf(stderr, "agora-test-scheduler: bad argument %s: %s %s\n", argv[i],
                    ag_strerror(rv), ag_last_error());
    }
    if (rv == 0 && master == NULL) {
        fprintf(stderr, "agora-test-scheduler: --master=HOST:PORT is required\n");
        rv = -AG_EINVAL;
    }
    if (rv == 0 && secret_file != NULL) {
        rv = ag_framework_info_set_secret_file(fi, principal ? principal : "", secret_file);
        if (rv != 0)
            fprintf(stderr, "agora-test-scheduler: --secret_file: %s\n", ag_last_error());
    } else if (rv == 0 && (principal != NULL || secret != NULL)) {
        if (secret != NULL)
            fprintf(stderr, "agora-test-scheduler: warning: --secret is visible to every local "
                            "user in /proc/PID/cmdline: use --secret_file\n");
        rv = ag_framework_info_set_principal(fi, principal ? principal : "", secret);
    }
    if (rv != 0) {
        usage(stderr);
        return 2;
    }
    if ((rv = ag_driver_new(&d, master, fi, &cb, NULL)) != 0 ||
        (rv = ag_driver_set_auto_ack(d, auto_ack)) != 0 ||
        (rate >= 0 && (rv = ag_driver_set_rate_limit(d, rate, rate > 1 ? rate : 1)) != 0) ||
        (rv = ag_driver_start(d)) != 0) {
        fprintf(stderr, "agora-test-scheduler: %s: %s\n", ag_strerror(rv), ag_last_error());
        ag_driver_free(d);
        ag_framework_info_free(fi);
        return 2;
    }
    ag_framework_info_free(fi);

    while (!quit && !fatal_seen && ag_driver_running(d)) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        char *nl;
        ssize_t n;

        /* Carry out every complete line in the buffer. */
        while (!quit && (nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf);

            *nl = '\0';
            if (len > 0 && buf[len - 1] == '\r')
                buf[len - 1] = '\0';
            quit = run_command(d, buf) != 0;
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
        }
        if (quit || eof)
            break;
        if (have == MAX_LINE) {
            emit_error(-AG_ERANGE, "command line too long", false);
            have = 0;
        }
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(0, buf + have, MAX_LINE - have);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            eof = true;
            if (have > 0) {
                buf[have] = '\0';
                run_command(d, buf);
                have = 0;
            }
            continue;
        }
        have += (size_t)n;
    }
    ag_driver_stop(d);
    status = ag_driver_join(d);
    ag_driver_free(d);
    free(buf);
    return fatal_seen || status != 0 ? 1 : 0;
}
