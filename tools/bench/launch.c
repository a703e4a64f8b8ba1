/*
 * bench-launch: how fast one local agent starts and kills containers.
 *
 *   bench-launch [--tasks=100,1000] [--window=N] [--rate=R] [--bin=DIR] [--image=PATH]
 *                [--task_writes=KB] [--keep]
 *
 * Starts agora-master and agora-agent (from --bin, default: this program's
 * directory) in a scratch directory (the agent's --runtime_dir in /dev/shm, a
 * tmpfs, as docs/agent.md recommends), builds a busybox root filesystem tarball
 * (from Debian's busybox-static, /bin/busybox) unless --image is given, and
 * drives them through libagora-scheduler:
 *
 *   1. warm-up: one container, so the image is unpacked into the agent's cache
 *      before anything is measured;
 *   2. for each N in --tasks: launches N containers running `sleep 3600` (after
 *      writing KB KiB to a file in the sandbox, with --task_writes) from
 *      the image (cpus 0.1, mem 32 MB each), keeping at most --window of them
 *      between ACCEPT and TASK_RUNNING (a closed loop: new launches go out on
 *      the offers that come back as earlier ones start). Prints containers per
 *      second (N over first ACCEPT to last TASK_RUNNING) and the p50 / p99 /
 *      max time from the ACCEPT of a task to its TASK_RUNNING; then kills all N
 *      at once and prints the time until the last TASK_KILLED;
 *   3. for each N again, open loop (unless --rate=0): tasks arrive one every
 *      1/R s (--rate, default 100 per second) whatever happens to earlier
 *      ones, and each is accepted as soon as it has arrived and an offer is
 *      held (the framework launches as offers arrive). Prints the same figures
 *      and also arrival-to-RUNNING (which includes waiting for an offer).
 *      The closed loop keeps the agent saturated: each task queues behind up
 *      to --window - 1 others, so its latency is mostly --window divided by
 *      the throughput (Little's law), whatever a single launch costs; the open
 *      loop below saturation measures what a task waits when the cluster is
 *      not overloaded. Every round starts once the agent has been idle for
 *      300 ms (the previous round's sandboxes are removed meanwhile);
 *   4. baseline: when runc or crun is installed, `run`s /bin/true in a bundle
 *      made of the same root filesystem 20 times and prints the median.
 *
 * Goals (docs/isolation.md): >= 200 containers/s, p99 accept-to-RUNNING <= 20
 * ms, 1000 containers killed in <= 2 s. Needs root (cgroups, namespaces).
 * Each container gets 0.1 cpus: with a CFS quota of 0.01 cpus (1 ms per 100
 * ms period) the exec of the task itself waits for the next period.
 * BENCH_DEBUG=1 prints offers and accepts on stderr; BENCH_AGENT_LOGGING_LEVEL
 * (default WARNING) sets the agent's --logging_level (its log is agent.log in
 * the scratch directory, kept with --keep). Build it without
 * sanitizers (-DCMAKE_BUILD_TYPE=Release) for meaningful figures.
 *
 * The last line of the output is one JSON object with the parameters and
 * every figure: {"bench": "launch", "tasks": [N, ...], "window",
 * "rate_per_s", "image", "warmup_ms", "rounds": [{"loop": "closed" or
 * "open", "containers", "window" (closed) or "rate_per_s" (open),
 * "containers_per_s", "accept_to_running_p50_ms", "accept_to_running_p99_ms",
 * "accept_to_running_max_ms", "arrival_to_running_p50_ms" and
 * "arrival_to_running_p99_ms" (open), "all_killed_s", "failed"}],
 * "baseline": {"crun": {"median_ms", "runs_per_s"} or {"error"}, "runc": ...},
 * "cpu_s": {"agent", "executors_and_containers", "master"} (whole run),
 * "task_writes_kb", "dying_memory_cgroups": {"before", "after"} (the rounds: removed memory
 * cgroups the kernel has not freed, machine-wide; -1 unknown)}.
 */
#define _GNU_SOURCE
#include "benchlib.h"
#include "error.h"
#include "http.h"

#include <agora/scheduler.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TASKS 100000
#define TASK_RES "cpus:0.1;mem:32"

extern char **environ;

struct run {
    int n, window;
    double rate; /* open loop: arrivals per second (0: closed loop) */
    const char *prefix;
    int launched, running, killed, failed, inflight, arrived;
    double *arrive_at, *accept_at, *running_at, *killed_at;
    double first_accept, kill_start;
    bool killing;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ag_driver *d;
    char offers[16][128]; /* held offers (one agent: all usable in one accept) */
    int noffers;
    struct run *r;
    const char *image;
    char command[128]; /* what each task runs */
    char agent_id[128];
} B = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static char work[64], bindir[PATH_MAX];
static json_t *out_rounds, *out_baseline; /* figures for the JSON line */
static bool debug;                        /* BENCH_DEBUG=1: offers and accepts on stderr */
static pid_t master_pid, agent_pid;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-launch: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (agent_pid > 0)
        kill(agent_pid, SIGTERM);
    if (master_pid > 0)
        kill(master_pid, SIGTERM);
    exit(1);
}

static int
free_port(void)
{
    int port = bench_free_port();

    if (port < 0)
        die("cannot find a free port: %s", strerror(errno));
    return port;
}

static pid_t
spawn(char *const argv[], const char *log)
{
    pid_t pid = bench_spawn(argv, log);

    if (pid < 0)
        die("cannot start %s: %s", argv[0], strerror(errno));
    return pid;
}

static void
wait_health(int port, const char *what)
{
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
    if (bench_wait_ok(url, 10) != 0)
        die("%s did not come up (see %s)", what, work);
}

static void
sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        die("command failed: %s", cmd);
}

/* ---- the framework (callbacks run on the driver thread) ---- */

static void
launch_some(void)
{
    struct run *r = B.r;
    struct ag_task *tasks[256];
    const char *ids[16];
    int k = 0;
    char id[64];
    double t;

    if (r == NULL || B.noffers == 0 || r->killing)
        return;
    while (k < 256 && r->launched + k < r->n && r->inflight + k < r->window &&
           (r->rate <= 0 || r->launched + k < r->arrived)) {
        snprintf(id, sizeof(id), "%s-%d", r->prefix, r->launched + k);
        tasks[k] = ag_task_new(id, NULL, NULL);
        if (tasks[k] == NULL || ag_task_set_resources(tasks[k], TASK_RES) != 0 ||
            ag_task_set_command(tasks[k], B.command) != 0 ||
            ag_task_set_image(tasks[k], B.image) != 0 || ag_task_set_kill_grace(tasks[k], 1000))
            die("cannot build a task: %s", ag_last_error());
        k++;
    }
    if (k == 0)
        return;
    t = bench_now();
    if (r->launched == 0)
        r->first_accept = t;
    for (int i = 0; i < k; i++)
        r->accept_at[r->launched + i] = t;
    r->launched += k;
    r->inflight += k;
    for (int i = 0; i < B.noffers; i++)
        ids[i] = B.offers[i];
    if (debug)
        fprintf(stderr, "debug: accept %d tasks on %d offers (first %s)\n", k, B.noffers, ids[0]);
    if (ag_driver_accept(B.d, ids, (size_t)B.noffers, tasks, (size_t)k, 0) != 0)
        die("accept: %s", ag_last_error());
    B.noffers = 0;
    for (int i = 0; i < k; i++)
        ag_task_free(tasks[i]);
}

static void
on_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    (void)arg;
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < n; i++) {
        if (B.noffers == 16) { /* cannot happen with one agent; return it */
            const char *id = ag_offer_id(offers[i]);
            ag_driver_decline(d, &id, 1, 1);
            continue;
        }
        snprintf(B.offers[B.noffers++], sizeof(B.offers[0]), "%s", ag_offer_id(offers[i]));
        if (debug)
            fprintf(stderr, "debug: offer %s %s\n", ag_offer_id(offers[i]),
                    ag_offer_resources(offers[i]));
        snprintf(B.agent_id, sizeof(B.agent_id), "%s", ag_offer_agent_id(offers[i]));
    }
    launch_some();
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

static void
on_rescind(struct ag_driver *d, void *arg, const char *offer_id)
{
    (void)d;
    (void)arg;
    pthread_mutex_lock(&B.mu);
    for (int i = 0; i < B.noffers; i++) {
        if (strcmp(B.offers[i], offer_id) == 0) {
            memmove(B.offers[i], B.offers[B.noffers - 1], sizeof(B.offers[0]));
            B.noffers--;
            break;
        }
    }
    pthread_mutex_unlock(&B.mu);
}

static void
on_status(struct ag_driver *d, void *arg, const struct ag_task_status *s)
{
    struct run *r;
    const char *id = ag_status_task_id(s), *dash;
    enum ag_task_state st = ag_status_state(s);
    double t = bench_now();
    int i;

    (void)d;
    (void)arg;
    pthread_mutex_lock(&B.mu);
    r = B.r;
    dash = strrchr(id, '-');
    if (r == NULL || dash == NULL || strncmp(id, r->prefix, strlen(r->prefix)) != 0 ||
        (i = atoi(dash + 1)) < 0 || i >= r->n) {
        pthread_mutex_unlock(&B.mu);
        return;
    }
    if (st == AG_TASK_RUNNING && r->running_at[i] == 0) {
        r->running_at[i] = t;
        r->running++;
        r->inflight--;
        launch_some();
    } else if (st == AG_TASK_KILLED && r->killed_at[i] == 0) {
        r->killed_at[i] = t;
        r->killed++;
    } else if (st == AG_TASK_FAILED || st == AG_TASK_ERROR || st == AG_TASK_LOST ||
               st == AG_TASK_DROPPED || st == AG_TASK_FINISHED) {
        fprintf(stderr, "bench-launch: task %s ended: %s %s\n", id, ag_status_reason(s),
                ag_status_message(s));
        r->failed++;
        if (r->running_at[i] == 0)
            r->inflight--;
        r->killed_at[i] = t;
        r->killed++;
        launch_some();
    }
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

/* Waits (driver lock held) until `cond` or `secs` pass. */
#define WAIT_FOR(cond, secs, what)                                                                 \
    BENCH_WAIT_FOR(&B.cv, &B.mu, cond, secs, die("timed out waiting for %s (see %s)", what, work))

#define cpu_seconds bench_cpu_seconds
#define pct bench_pct /* sorts: the callers sort first anyway */

/* Waits (at most 20 s) until the agent has been idle for 300 ms: the removal
 * of the previous round's sandboxes would otherwise run during the next. */
static void
settle(void)
{
    double before = cpu_seconds(agent_pid, false), after;

    for (int i = 0; i < 66; i++) {
        usleep(300000);
        after = cpu_seconds(agent_pid, false);
        if (after - before < 0.015)
            return;
        before = after;
    }
}

/* Launches r->n containers, then kills them all. */
static void
run_one(struct run *r, bool quiet)
{
    double *lat, *wait, last = 0, last_kill = 0;
    char id[64];

    r->arrive_at = calloc((size_t)r->n, sizeof(double));
    r->accept_at = calloc((size_t)r->n, sizeof(double));
    r->running_at = calloc((size_t)r->n, sizeof(double));
    r->killed_at = calloc((size_t)r->n, sizeof(double));
    lat = calloc((size_t)r->n, sizeof(double));
    wait = calloc((size_t)r->n, sizeof(double));
    if (!r->arrive_at || !r->accept_at || !r->running_at || !r->killed_at || !lat || !wait)
        die("out of memory");
    settle();
    pthread_mutex_lock(&B.mu);
    B.r = r;
    launch_some(); /* on the offers held since the last round, if any */
    pthread_mutex_unlock(&B.mu);
    ag_driver_revive(B.d, NULL); /* brings an offer back if we had none */
    if (r->rate > 0) {
        double t0 = bench_now();
        for (int i = 0; i < r->n; i++) {
            double due = t0 + i / r->rate, wait = due - bench_now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
            pthread_mutex_lock(&B.mu);
            r->arrive_at[r->arrived++] = bench_now();
            launch_some();
            pthread_mutex_unlock(&B.mu);
        }
    }
    pthread_mutex_lock(&B.mu);
    WAIT_FOR(r->running + r->failed >= r->n, 300, "the containers to run");
    r->killing = true;
    r->kill_start = bench_now();
    pthread_mutex_unlock(&B.mu);
    for (int i = 0; i < r->n; i++) {
        if (r->running_at[i] == 0)
            continue;
        snprintf(id, sizeof(id), "%s-%d", r->prefix, i);
        if (ag_driver_kill(B.d, id, B.agent_id) != 0)
            die("kill: %s", ag_last_error());
    }
    pthread_mutex_lock(&B.mu);
    WAIT_FOR(r->killed >= r->n, 300, "the containers to be killed");
    pthread_mutex_unlock(&B.mu);
    if (quiet)
        goto out;
    int m = 0;
    for (int i = 0; i < r->n; i++) {
        if (r->running_at[i] == 0)
            continue;
        wait[m] = (r->running_at[i] - (r->rate > 0 ? r->arrive_at[i] : r->accept_at[i])) * 1000.0;
        lat[m++] = (r->running_at[i] - r->accept_at[i]) * 1000.0;
        if (r->running_at[i] > last)
            last = r->running_at[i];
        if (r->killed_at[i] > last_kill)
            last_kill = r->killed_at[i];
    }
    double per_s = m > 0 ? m / (last - r->first_accept) : 0.0, p50 = m ? pct(lat, m, 0.5) : 0;
    double p99 = m ? pct(lat, m, 0.99) : 0, max = m ? lat[m - 1] : 0;
    double w50 = m ? pct(wait, m, 0.5) : 0, w99 = m ? pct(wait, m, 0.99) : 0;
    double killed = last_kill - r->kill_start;
    json_t *fig;
    if (r->rate > 0) {
        printf("%6d containers (open loop, %g/s): %7.1f containers/s; accept-to-RUNNING p50 %6.1f "
               "ms  p99 %6.1f ms  max %6.1f ms; arrival-to-RUNNING p50 %6.1f ms  p99 %6.1f ms; all "
               "killed in %6.3f s%s\n",
               r->n, r->rate, per_s, p50, p99, max, w50, w99, killed,
               r->failed ? " (some failed, see above)" : "");
        fig = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i}", "loop", "open",
                        "containers", r->n, "rate_per_s", r->rate, "containers_per_s", per_s,
                        "accept_to_running_p50_ms", p50, "accept_to_running_p99_ms", p99,
                        "accept_to_running_max_ms", max, "arrival_to_running_p50_ms", w50,
                        "arrival_to_running_p99_ms", w99, "all_killed_s", killed, "failed",
                        r->failed);
    } else {
        printf("%6d containers (window %d): %7.1f containers/s; accept-to-RUNNING p50 %6.1f ms  "
               "p99 %6.1f ms  max %6.1f ms; all killed in %6.3f s%s\n",
               r->n, r->window, per_s, p50, p99, max, killed,
               r->failed ? " (some failed, see above)" : "");
        fig =
            json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:i}", "loop", "closed",
                      "containers", r->n, "window", r->window, "containers_per_s", per_s,
                      "accept_to_running_p50_ms", p50, "accept_to_running_p99_ms", p99,
                      "accept_to_running_max_ms", max, "all_killed_s", killed, "failed", r->failed);
    }
    json_array_append_new(out_rounds, fig);
    fflush(stdout);
out:
    pthread_mutex_lock(&B.mu);
    B.r = NULL;
    pthread_mutex_unlock(&B.mu);
    free(lat);
    free(wait);
    free(r->arrive_at);
    free(r->accept_at);
    free(r->running_at);
    free(r->killed_at);
}

/* utime + stime of a process (`children`: of its reaped children), in seconds. */
/*
 * Memory cgroups removed but not yet freed on this machine (each pinned by
 * memory still charged to it): v2, the root's nr_dying_descendants; v1,
 * /proc/cgroups' count (live and dying) less the live directories. -1 when
 * unknown.
 */
static long
dying_memcgs(void)
{
    char line[256], name[64];
    long hier, n = -1, en, live = -1;
    FILE *f;

    if ((f = fopen("/sys/fs/cgroup/cgroup.stat", "re")) != NULL &&
        access("/sys/fs/cgroup/memory", F_OK) != 0) {
        while (fgets(line, sizeof(line), f) != NULL)
            if (sscanf(line, "nr_dying_descendants %ld", &n) == 1)
                break;
        fclose(f);
        return n;
    }
    if (f != NULL)
        fclose(f);
    if ((f = fopen("/proc/cgroups", "re")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "%63s %ld %ld %ld", name, &hier, &n, &en) == 4 &&
            strcmp(name, "memory") == 0)
            break;
    fclose(f);
    if ((f = popen("find /sys/fs/cgroup/memory -type d 2>/dev/null | wc -l", "r")) == NULL)
        return -1;
    if (fscanf(f, "%ld", &live) != 1)
        live = -1;
    pclose(f);
    return n < 0 || live < 0 ? -1 : n - live;
}

/* ---- the OCI runtime baseline ---- */

static void
baseline(const char *runtime, const char *rootfs_tar)
{
    char path[PATH_MAX], bundle[PATH_MAX], cmd[PATH_MAX * 2];
    double t[20];
    json_t *cfg, *proc;
    json_error_t jerr;
    int ok = 0;

    snprintf(path, sizeof(path), "command -v %s >/dev/null 2>&1", runtime);
    if (system(path) != 0) {
        printf("baseline %-4s: not installed\n", runtime);
        json_object_set_new(out_baseline, runtime, json_pack("{s:s}", "error", "not installed"));
        return;
    }
    snprintf(bundle, sizeof(bundle), "%s/bundle-%s", work, runtime);
    sh("mkdir -p %s/rootfs && tar -C %s/rootfs -xf %s && cd %s && %s spec", bundle, bundle,
       rootfs_tar, bundle, runtime);
    snprintf(path, sizeof(path), "%s/config.json", bundle);
    if ((cfg = json_load_file(path, 0, &jerr)) == NULL)
        die("%s spec wrote no config.json", runtime);
    proc = json_object_get(cfg, "process");
    json_object_set_new(proc, "terminal", json_false());
    json_object_set_new(proc, "args", json_pack("[s]", "/bin/true"));
    json_dump_file(cfg, path, JSON_INDENT(2));
    json_decref(cfg);
    for (int i = 0; i < 20; i++) {
        double t0 = bench_now();
        snprintf(cmd, sizeof(cmd), "%s run -b %s agora-bench-%d-%d >/dev/null 2>>%s/%s.log",
                 runtime, bundle, (int)getpid(), i, work, runtime);
        if (system(cmd) != 0) {
            char line[256] = "", logp[PATH_MAX + 16];
            FILE *f;
            snprintf(logp, sizeof(logp), "%s/%s.log", work, runtime);
            if ((f = fopen(logp, "r")) != NULL) {
                if (fgets(line, sizeof(line), f) != NULL)
                    line[strcspn(line, "\n")] = '\0';
                fclose(f);
            }
            printf("baseline %-4s: `run` failed: %s\n", runtime, line);
            json_object_set_new(out_baseline, runtime,
                                json_pack("{s:s+}", "error", "`run` failed: ", line));
            return;
        }
        t[ok++] = (bench_now() - t0) * 1000.0;
    }
    bench_pct(t, ok, 0.5); /* sorts */
    printf("baseline %-4s: `run` of /bin/true in the same rootfs: median %.1f ms (%.0f runs/s "
           "sequentially)\n",
           runtime, t[ok / 2], 1000.0 / t[ok / 2]);
    json_object_set_new(
        out_baseline, runtime,
        json_pack("{s:f, s:f}", "median_ms", t[ok / 2], "runs_per_s", 1000.0 / t[ok / 2]));
}

/* One run per N in the comma-separated `tasks`, named PREFIX0, PREFIX1, ... */
static void
run_rounds(const char *tasks, int window, double rate, const char *prefix)
{
    char *list = strdup(tasks), *save = NULL, name[32];
    int round = 0;

    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct run r = {.n = atoi(tok), .window = window, .rate = rate, .prefix = name};
        if (r.n <= 0 || r.n > MAX_TASKS)
            continue;
        snprintf(name, sizeof(name), "%s%d", prefix, round++);
        run_one(&r, false);
    }
    free(list);
}

int
main(int argc, char **argv)
{
    const char *tasks_arg = "100,1000", *image = NULL;
    char mport[16], aport[16], master[64], rootfs_tar[PATH_MAX], margs[4][PATH_MAX + 32];
    char res[128], *save = NULL, *list, *tok;
    int window = 16, mp, ap;
    double rate = 100;
    bool keep = false;
    struct ag_framework_info *fi;
    struct ag_scheduler_callbacks cb = {.size = sizeof(cb),
                                        .offers = on_offers,
                                        .rescind = on_rescind,
                                        .status_update = on_status,
                                        .error = bench_on_error};
    json_t *out, *ns = json_array();
    double warmup_ms, cpu[3];
    long dying[2];
    int writes_kb = 0;
    char *line;
    ssize_t n;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--tasks=", 8) == 0)
            tasks_arg = argv[i] + 8;
        else if (strncmp(argv[i], "--window=", 9) == 0)
            window = atoi(argv[i] + 9);
        else if (strncmp(argv[i], "--rate=", 7) == 0)
            rate = atof(argv[i] + 7);
        else if (strncmp(argv[i], "--bin=", 6) == 0)
            snprintf(bindir, sizeof(bindir), "%s", argv[i] + 6);
        else if (strncmp(argv[i], "--image=", 8) == 0)
            image = argv[i] + 8;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else if (strncmp(argv[i], "--task_writes=", 14) == 0)
            writes_kb = atoi(argv[i] + 14);
        else {
            fprintf(stderr, "usage: bench-launch [--tasks=100,1000] [--window=16] [--rate=100] "
                            "[--bin=DIR] [--image=PATH] [--task_writes=KB] [--keep]\n");
            return 2;
        }
    }
    /* A task that writes a file in its sandbox leaves page cache charged to its
     * memory cgroup (--task_writes, for the dying memory cgroups figure). */
    if (writes_kb > 0)
        snprintf(B.command, sizeof(B.command), "head -c %dk /dev/zero > out && exec sleep 3600",
                 writes_kb);
    else
        snprintf(B.command, sizeof(B.command), "exec sleep 3600");
    if (geteuid() != 0)
        die("needs root (cgroups, namespaces)");
    debug = getenv("BENCH_DEBUG") != NULL;
    if (window < 1)
        window = 1;
    if (bindir[0] == '\0') {
        n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
        if (n <= 0)
            die("cannot find my directory");
        bindir[n] = '\0';
        *strrchr(bindir, '/') = '\0';
    }
    snprintf(work, sizeof(work), "/tmp/agora-bench-XXXXXX");
    if (mkdtemp(work) == NULL)
        die("mkdtemp: %s", strerror(errno));
    if (image == NULL) {
        if (access("/bin/busybox", X_OK) != 0)
            die("/bin/busybox is missing (tools/deps installs busybox-static), or give --image");
        snprintf(rootfs_tar, sizeof(rootfs_tar), "%s/busybox-rootfs.tar", work);
        sh("set -e; d=%s/rootfs; mkdir -p $d/bin $d/etc $d/tmp $d/proc $d/dev $d/sys; "
           "cp /bin/busybox $d/bin/; for a in $($d/bin/busybox --list); do "
           "[ $a = busybox ] || ln -s busybox $d/bin/$a; done; "
           "echo root:x:0:0:root:/:/bin/sh > $d/etc/passwd; tar -C $d -cf %s .; rm -rf $d",
           work, rootfs_tar);
        image = rootfs_tar;
    } else {
        snprintf(rootfs_tar, sizeof(rootfs_tar), "%s", image);
    }
    B.image = image;

    mp = free_port();
    ap = free_port();
    snprintf(mport, sizeof(mport), "%d", mp);
    snprintf(aport, sizeof(aport), "%d", ap);
    snprintf(margs[0], sizeof(margs[0]), "%s/agora-master", bindir);
    snprintf(margs[1], sizeof(margs[1]), "--port=%s", mport);
    snprintf(margs[2], sizeof(margs[2]), "--work_dir=%s/master", work);
    {
        char *args[] = {margs[0], "--ip=127.0.0.1",          margs[1],
                        margs[2], "--logging_level=WARNING", NULL};
        char log[PATH_MAX];
        snprintf(log, sizeof(log), "%s/master.log", work);
        master_pid = spawn(args, log);
    }
    wait_health(mp, "agora-master");
    {
        int most = 0;
        char a0[PATH_MAX + 32], a1[96], a2[PATH_MAX + 32], a3[64], a4[160], log[PATH_MAX];
        char alog[64], a5[PATH_MAX + 32];
        for (list = strdup(tasks_arg), tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
            most = atoi(tok) > most ? atoi(tok) : most;
        free(list);
        snprintf(res, sizeof(res), "cpus:%g;mem:%d;disk:1000;ports:[31000-31010]",
                 0.1 * (most + 2) + 0.5, 32 * (most + 2) + 64);
        snprintf(a0, sizeof(a0), "%s/agora-agent", bindir);
        snprintf(a1, sizeof(a1), "--master=127.0.0.1:%s", mport);
        snprintf(a2, sizeof(a2), "--work_dir=%s/agent", work);
        snprintf(a5, sizeof(a5), "--runtime_dir=/dev/shm/%s-agent", strrchr(work, '/') + 1);
        snprintf(a3, sizeof(a3), "--port=%s", aport);
        snprintf(a4, sizeof(a4), "--resources=%s", res);
        snprintf(alog, sizeof(alog), "--logging_level=%s",
                 getenv("BENCH_AGENT_LOGGING_LEVEL") ? getenv("BENCH_AGENT_LOGGING_LEVEL")
                                                     : "WARNING");
        char *args[] = {a0,
                        a1,
                        "--ip=127.0.0.1",
                        a2,
                        a3,
                        a4,
                        a5,
                        "--cgroups_root=agora-bench",
                        alog,
                        "--executor_shutdown_grace_period=1secs",
                        NULL};
        snprintf(log, sizeof(log), "%s/agent.log", work);
        agent_pid = spawn(args, log);
    }
    wait_health(ap, "agora-agent");

    snprintf(master, sizeof(master), "127.0.0.1:%s", mport);
    fi = ag_framework_info_new();
    ag_framework_info_set_name(fi, "bench-launch");
    if (ag_driver_new(&B.d, master, fi, &cb, NULL) != 0 || ag_driver_set_rate_limit(B.d, 0, 0) ||
        ag_driver_start(B.d) != 0)
        die("cannot start the scheduler driver: %s", ag_last_error());
    ag_framework_info_free(fi);

    printf("bench-launch: agent at 127.0.0.1:%s, image %s, scratch %s\n", aport, image, work);
    {
        struct run warm = {.n = 1, .window = 1, .prefix = "warm"};
        double t0 = bench_now();
        run_one(&warm, true);
        warmup_ms = (bench_now() - t0) * 1000.0;
        printf("warm-up (image unpacked into the cache): %.0f ms\n", warmup_ms);
    }
    out_rounds = json_array();
    out_baseline = json_object();
    dying[0] = dying_memcgs();
    run_rounds(tasks_arg, window, 0, "r");
    if (rate > 0)
        run_rounds(tasks_arg, MAX_TASKS, rate, "o");
    settle();
    dying[1] = dying_memcgs();
    printf("dying memory cgroups on this machine: %ld before the rounds, %ld after\n", dying[0],
           dying[1]);
    ag_driver_teardown(B.d);
    ag_driver_free(B.d);
    baseline("crun", rootfs_tar);
    baseline("runc", rootfs_tar);

    cpu[0] = cpu_seconds(agent_pid, false);
    cpu[1] = cpu_seconds(agent_pid, true);
    cpu[2] = cpu_seconds(master_pid, false);
    printf("cpu time used: agent %.2f s, its executors and containers %.2f s, master %.2f s "
           "(whole run)\n",
           cpu[0], cpu[1], cpu[2]);
    for (list = strdup(tasks_arg), tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        if (atoi(tok) > 0 && atoi(tok) <= MAX_TASKS)
            json_array_append_new(ns, json_integer(atoi(tok)));
    free(list);
    out = json_pack("{s:s, s:o, s:i, s:f, s:s, s:f, s:o, s:o, s:{s:f, s:f, s:f}, s:{s:I, s:I}}",
                    "bench", "launch", "tasks", ns, "window", window, "rate_per_s", rate, "image",
                    image, "warmup_ms", warmup_ms, "rounds", out_rounds, "baseline", out_baseline,
                    "cpu_s", "agent", cpu[0], "executors_and_containers", cpu[1], "master", cpu[2],
                    "dying_memory_cgroups", "before", (json_int_t)dying[0], "after",
                    (json_int_t)dying[1]);
    if (out != NULL)
        json_object_set_new(out, "task_writes_kb", json_integer(writes_kb));
    if (out == NULL || (line = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(10))) == NULL)
        die("cannot build the JSON line");
    puts(line);
    fflush(stdout); /* before the clean-up commands run */
    free(line);
    json_decref(out);
    kill(agent_pid, SIGTERM);
    waitpid(agent_pid, NULL, 0);
    kill(master_pid, SIGTERM);
    waitpid(master_pid, NULL, 0);
    /* The agent's (now empty) cgroup subtree. */
    sh("f=%s/agent/meta/cgroups; [ -f $f ] && while read -r r; do rmdir $r/*/ $r $(dirname $r) "
       "2>/dev/null; done < $f; true",
       work);
    if (!keep)
        sh("rm -rf %s /dev/shm/%s-agent", work, strrchr(work, '/') + 1);
    return 0;
}
