/*
 * bench-scale: a real agora-master at scale, with simulated agents
 * (agora-simagents) and a real framework (libagora-scheduler).
 *
 *   bench-scale [--agents=1000] [--tasks=10000] [--phases=launch,state,restart,churn]
 *               [--churn_tasks=N] [--churn_secs=60] [--task_res=cpus:0.05;mem:256]
 *               [--agents_per_sim=3000] [--master=HOST:PORT] [--bin=DIR] [--keep]
 *
 * Unless --master is given, starts agora-master (from --bin, default: this
 * program's directory; BENCH_MASTER_FLAGS adds flags, space-separated) in a
 * scratch directory, then ceil(agents / agents_per_sim) agora-simagents
 * processes (one process holds about 5 file descriptors per agent and the
 * hard limit here may be 20000: see docs/performance.md), then subscribes one
 * framework with rate limiting off. Phases, in this order:
 *
 *   launch   --tasks tasks that run until killed, packed on the offers as they
 *            arrive (at most ceil(tasks/agents) per offer, so they spread):
 *            tasks/s from the first ACCEPT to the last TASK_RUNNING (each
 *            acknowledged as its callback returns), p50/p99/max from a task's
 *            ACCEPT to its TASK_RUNNING, and the master's CPU per task launched;
 *   state    GET /state and GET /tasks three times each with every task
 *            running: latency (median, max) and size, and the longest stall
 *            of the master's loop meanwhile, seen as the slowest of GET /health
 *            requests sent back to back from another thread (the handlers run
 *            on the loop) minus the slowest over one idle second;
 *   restart  (only for a master it started) kill -9, start again on the same
 *            work_dir: seconds until /health answers, then until every agent
 *            is active and every task running again (/metrics/snapshot), and
 *            until an implicit reconciliation answers every task RUNNING;
 *   churn    --churn_tasks more tasks (default min(tasks, 10000)) that finish
 *            after 1-10 s (label sim_run_ms) and are replaced as soon as
 *            offers allow, for --churn_secs: finished and launched tasks/s.
 *
 * Memory: the master's RSS (/proc) with no agent, with every agent and with
 * every launch task running gives KiB per agent and per task.
 *
 * Build it without sanitizers (-DCMAKE_BUILD_TYPE=Release, build-rel) for
 * meaningful figures. The last line of the output is one JSON object with the
 * parameters and every figure (null where a phase did not run):
 * {"bench": "scale", "agents", "tasks", "churn_tasks", "sim_processes",
 *  "register_s", "launch": {"tasks_per_s", "accept_to_running_p50_ms",
 *  "accept_to_running_p99_ms", "accept_to_running_max_ms", "duration_s",
 *  "master_cpu_ms_per_task"}, "state": {"state_ms_median", "state_ms_max",
 *  "state_bytes", "tasks_ms_median", "tasks_ms_max", "tasks_bytes",
 *  "loop_stall_ms", "idle_health_max_ms"}, "restart": {"up_s",
 *  "reregistered_s", "reconciled_s"}, "churn": {"secs", "finished_per_s",
 *  "launched_per_s"}, "memory": {"rss_empty_kb", "rss_agents_kb",
 *  "rss_tasks_kb", "kb_per_agent", "kb_per_task"}}.
 */
#define _GNU_SOURCE
#include "benchlib.h"
#include "http.h"

#include <agora/scheduler.h>

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIMS 64
#define POOL_MAX 200000

/* A held offer. */
struct held {
    char id[64];
    int fit; /* tasks of --task_res it holds */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ag_driver *d;
    int ntasks, per_offer;
    /* launch phase */
    int launched, running;
    double *accept_at, *running_at, first_accept;
    bool launching;
    /* churn phase */
    bool churning;
    int churn_target, churn_inflight, churn_next;
    long churn_finished, churn_launched;
    /* restart: implicit reconciliation answers */
    bool reconciling;
    int reconciled;
    char *recon_seen; /* per launch task */
    int subscriptions;
    struct held *pool;
    int npool;
} B = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static char work[64], bindir[PATH_MAX], master_addr[64], task_res[128] = "cpus:0.05;mem:256";
static double task_cpus = 0.05, task_mem = 256;
static pid_t master_pid, sim_pids[MAX_SIMS];
static int nsims;
static char **master_argv;
static bool keep;

static void
stop_all(void)
{
    for (int i = 0; i < nsims; i++)
        if (sim_pids[i] > 0)
            kill(sim_pids[i], SIGTERM);
    if (master_pid > 0)
        kill(master_pid, SIGTERM);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench-scale: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    stop_all();
    exit(1);
}

/* ---- the framework (callbacks on the driver thread, B.mu held inside) ---- */

static int
offer_fit(const struct ag_offer *o)
{
    double c = ag_offer_scalar(o, "cpus") / task_cpus, m = ag_offer_scalar(o, "mem") / task_mem;

    return (int)(c < m ? c : m);
}

/* Launches `k` tasks named PREFIX-<first + i> on offer `id`. */
static void
launch_on(const char *id, const char *prefix, int first, int k, bool churn)
{
    struct ag_task *tasks[512];
    char tid[64], run[32];
    double t = bench_now();

    for (int i = 0; i < k; i++) {
        snprintf(tid, sizeof(tid), "%s-%d", prefix, first + i);
        if ((tasks[i] = ag_task_new(tid, NULL, NULL)) == NULL ||
            ag_task_set_resources(tasks[i], task_res) != 0 ||
            ag_task_set_command(tasks[i], "sleep 1000") != 0)
            die("cannot build a task: %s", ag_last_error());
        if (churn) {
            snprintf(run, sizeof(run), "%d", 1000 + (int)(random() % 9001));
            if (ag_task_add_label(tasks[i], "sim_run_ms", run) != 0)
                die("cannot label a task: %s", ag_last_error());
        } else {
            B.accept_at[first + i] = t;
        }
    }
    if (!churn && B.launched == 0)
        B.first_accept = t;
    if (ag_driver_accept(B.d, &id, 1, tasks, (size_t)k, 0) != 0)
        die("accept: %s", ag_last_error());
    for (int i = 0; i < k; i++)
        ag_task_free(tasks[i]);
}

/* Uses held offers for whatever the current phase still has to launch. */
static void
use_pool(void)
{
    while (B.npool > 0) {
        struct held *h = &B.pool[B.npool - 1];
        int k = 0;

        if (B.launching && B.launched < B.ntasks) {
            k = B.ntasks - B.launched;
            k = k < B.per_offer ? k : B.per_offer;
            k = k < h->fit ? k : h->fit;
            k = k < 512 ? k : 512;
            launch_on(h->id, "L", B.launched, k, false);
            B.launched += k;
        } else if (B.churning && B.churn_inflight < B.churn_target) {
            k = B.churn_target - B.churn_inflight;
            k = k < h->fit ? k : h->fit;
            k = k < 64 ? k : 64;
            launch_on(h->id, "C", B.churn_next, k, true);
            B.churn_next += k;
            B.churn_inflight += k;
            B.churn_launched += k;
        } else {
            return;
        }
        B.npool--;
    }
}

static void
on_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    (void)arg;
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < n; i++) {
        int fit = offer_fit(offers[i]);
        const char *id = ag_offer_id(offers[i]);

        if (fit <= 0 || B.npool == POOL_MAX) {
            ag_driver_decline(d, &id, 1, 5);
            continue;
        }
        snprintf(B.pool[B.npool].id, sizeof(B.pool[0].id), "%s", id);
        B.pool[B.npool].fit = fit;
        B.npool++;
    }
    use_pool();
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

static void
on_rescind(struct ag_driver *d, void *arg, const char *offer_id)
{
    (void)d;
    (void)arg;
    pthread_mutex_lock(&B.mu);
    for (int i = 0; i < B.npool; i++)
        if (strcmp(B.pool[i].id, offer_id) == 0) {
            B.pool[i] = B.pool[--B.npool];
            break;
        }
    pthread_mutex_unlock(&B.mu);
}

static void
on_status(struct ag_driver *d, void *arg, const struct ag_task_status *s)
{
    const char *id = ag_status_task_id(s);
    enum ag_task_state st = ag_status_state(s);
    int i = atoi(id + 2);

    (void)d;
    (void)arg;
    pthread_mutex_lock(&B.mu);
    if (id[0] == 'L' && i >= 0 && i < B.ntasks) {
        if (st == AG_TASK_RUNNING && B.running_at[i] == 0) {
            B.running_at[i] = bench_now();
            B.running++;
        }
        if (B.reconciling && st == AG_TASK_RUNNING &&
            strcmp(ag_status_reason(s), "REASON_RECONCILIATION") == 0 && !B.recon_seen[i]) {
            B.recon_seen[i] = 1;
            B.reconciled++;
        }
        if (st != AG_TASK_RUNNING && st != AG_TASK_STARTING && st != AG_TASK_STAGING)
            fprintf(stderr, "bench-scale: task %s: %s %s\n", id, ag_status_reason(s),
                    ag_status_message(s));
    } else if (id[0] == 'C' && (st == AG_TASK_FINISHED || st == AG_TASK_FAILED ||
                                st == AG_TASK_LOST || st == AG_TASK_KILLED)) {
        B.churn_inflight--;
        if (B.churning)
            B.churn_finished++;
        use_pool();
    }
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

static void
on_subscribed(struct ag_driver *d, void *arg, const char *framework_id, bool resubscribed)
{
    (void)d;
    (void)arg;
    (void)framework_id;
    (void)resubscribed;
    pthread_mutex_lock(&B.mu);
    B.subscriptions++;
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);
}

static void
on_disconnected(struct ag_driver *d, void *arg)
{
    (void)d;
    (void)arg;
    pthread_mutex_lock(&B.mu);
    B.npool = 0; /* offers are void */
    pthread_mutex_unlock(&B.mu);
}

/* Waits (B.mu held) until `cond` or `secs` pass. */
#define WAIT_FOR(cond, secs, what)                                                                 \
    BENCH_WAIT_FOR(&B.cv, &B.mu, cond, secs, die("timed out waiting for %s (see %s)", what, work))

/* ---- the master ---- */

/* master/<name> of /metrics/snapshot, or -1. */
static double
metric(const char *name)
{
    char url[128], *body = NULL;
    size_t len;
    int status;
    double v = -1;
    json_t *j;

    snprintf(url, sizeof(url), "http://%s/metrics/snapshot", master_addr);
    if (http_get(url, &status, &body, &len) != 0 || status != 200) {
        free(body);
        return -1;
    }
    if ((j = json_loadb(body, len, 0, NULL)) != NULL) {
        json_t *x = json_object_get(j, name);
        if (json_is_number(x))
            v = json_number_value(x);
        json_decref(j);
    }
    free(body);
    return v;
}

/* Polls the metrics every 50 ms until agents are active and `tasks` run, or `secs` pass.
 * Returns the seconds it took since `t0`, or -1. */
static double
wait_cluster(int agents, int tasks, double secs, double t0)
{
    double end = bench_now() + secs;

    while (bench_now() < end) {
        if (metric("master/slaves_active") >= agents &&
            (tasks == 0 || metric("master/tasks_running") >= tasks))
            return bench_now() - t0;
        usleep(50000);
    }
    return -1;
}

static void
start_master(void)
{
    char url[128];

    master_pid = bench_spawn(master_argv, "master.log");
    if (master_pid < 0)
        die("cannot start the master: %s", strerror(errno));
    snprintf(url, sizeof(url), "http://%s/health", master_addr);
    if (bench_wait_ok(url, 30) != 0)
        die("the master did not come up (see %s/master.log)", work);
}

static void
start_sims(int agents, int per_sim)
{
    char bin[PATH_MAX + 32], m[96], n[32], first[32], log[64];

    snprintf(bin, sizeof(bin), "%s/agora-simagents", bindir);
    snprintf(m, sizeof(m), "--master=%s", master_addr);
    for (int first_i = 0; first_i < agents; first_i += per_sim) {
        int k = agents - first_i < per_sim ? agents - first_i : per_sim;
        char *argv[] = {bin, m, n, first, "--stats_interval=10secs", "--start_rate=5000", NULL};

        if (nsims == MAX_SIMS)
            die("too many simulator processes: raise --agents_per_sim");
        snprintf(n, sizeof(n), "--agents=%d", k);
        snprintf(first, sizeof(first), "--first_index=%d", first_i);
        snprintf(log, sizeof(log), "sim-%d.log", nsims);
        if ((sim_pids[nsims++] = bench_spawn(argv, log)) < 0)
            die("cannot start %s: %s", bin, strerror(errno));
    }
}

/* ---- /state and /tasks with the loop probe ---- */

static struct {
    volatile bool run;
    double max_ms; /* slowest /health since the last reset */
    pthread_mutex_t mu;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *
probe_main(void *arg)
{
    char url[128];
    int status;

    (void)arg;
    snprintf(url, sizeof(url), "http://%s/health", master_addr);
    while (P.run) {
        double t0 = bench_now(), ms;

        http_get(url, &status, NULL, NULL);
        ms = (bench_now() - t0) * 1000;
        pthread_mutex_lock(&P.mu);
        if (ms > P.max_ms)
            P.max_ms = ms;
        pthread_mutex_unlock(&P.mu);
        usleep(1000);
    }
    return NULL;
}

static double
probe_take(void)
{
    double v;

    pthread_mutex_lock(&P.mu);
    v = P.max_ms;
    P.max_ms = 0;
    pthread_mutex_unlock(&P.mu);
    return v;
}

/* GETs `path` 3 times: median and max ms, and the size. */
static void
get_timed(const char *path, double *median, double *max, size_t *bytes)
{
    char url[128], *body;
    double t[3];
    int status;

    snprintf(url, sizeof(url), "http://%s%s", master_addr, path);
    for (int i = 0; i < 3; i++) {
        double t0 = bench_now();
        body = NULL;
        if (http_request("GET", url, NULL, NULL, 0, 60000, &status, &body, bytes) != 0 ||
            status != 200)
            die("GET %s failed", path);
        t[i] = (bench_now() - t0) * 1000;
        free(body);
    }
    *median = bench_pct(t, 3, 0.5);
    *max = t[2];
}

/* ---- main ---- */

static bool
has_phase(const char *phases, const char *name)
{
    const char *p = strstr(phases, name);
    size_t n = strlen(name);

    return p != NULL && (p == phases || p[-1] == ',') && (p[n] == '\0' || p[n] == ',');
}

static json_t *
num_or_null(bool ok, double v)
{
    return ok ? json_real(v) : json_null();
}

int
main(int argc, char **argv)
{
    int agents = 1000, ntasks = 10000, churn_tasks = -1, churn_secs = 60, per_sim = 3000;
    const char *phases = "launch,state,restart,churn", *ext_master = NULL;
    json_t *out = json_object();
    long rss_empty = -1, rss_agents = -1, rss_tasks = -1;
    double register_s, cpu0, cpu1;
    struct ag_framework_info *fi;
    struct ag_scheduler_callbacks cb = {
        .size = sizeof(cb),
        .subscribed = on_subscribed,
        .offers = on_offers,
        .rescind = on_rescind,
        .status_update = on_status,
        .error = bench_on_error,
        .disconnected = on_disconnected,
    };

    setvbuf(stdout, NULL, _IOLBF, 0); /* the table survives a die() */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--agents=", 9) == 0)
            agents = atoi(a + 9);
        else if (strncmp(a, "--tasks=", 8) == 0)
            ntasks = atoi(a + 8);
        else if (strncmp(a, "--phases=", 9) == 0)
            phases = a + 9;
        else if (strncmp(a, "--churn_tasks=", 14) == 0)
            churn_tasks = atoi(a + 14);
        else if (strncmp(a, "--churn_secs=", 13) == 0)
            churn_secs = atoi(a + 13);
        else if (strncmp(a, "--agents_per_sim=", 17) == 0)
            per_sim = atoi(a + 17);
        else if (strncmp(a, "--task_res=", 11) == 0)
            snprintf(task_res, sizeof(task_res), "%s", a + 11);
        else if (strncmp(a, "--master=", 9) == 0)
            ext_master = a + 9;
        else if (strncmp(a, "--bin=", 6) == 0)
            snprintf(bindir, sizeof(bindir), "%s", a + 6);
        else if (strcmp(a, "--keep") == 0)
            keep = true;
        else {
            fprintf(stderr,
                    "usage: bench-scale [--agents=N] [--tasks=N] "
                    "[--phases=launch,state,restart,churn] [--churn_tasks=N] [--churn_secs=S] "
                    "[--task_res=RES] [--agents_per_sim=N] [--master=HOST:PORT] [--bin=DIR] "
                    "[--keep]\n");
            return 2;
        }
    }
    if (agents < 1 || ntasks < 1 || per_sim < 1 || churn_secs < 1)
        die("--agents, --tasks, --agents_per_sim and --churn_secs must be positive");
    if (churn_tasks < 0)
        churn_tasks = ntasks < 10000 ? ntasks : 10000;
    {
        const char *c = strstr(task_res, "cpus:"), *m = strstr(task_res, "mem:");
        if (c == NULL || m == NULL || (task_cpus = atof(c + 5)) <= 0 ||
            (task_mem = atof(m + 4)) <= 0)
            die("--task_res needs cpus and mem");
    }
    if (bindir[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
        if (n <= 0)
            die("cannot find my own directory");
        bindir[n] = '\0';
        *strrchr(bindir, '/') = '\0';
    }
    srandom((unsigned)time(NULL));
    snprintf(work, sizeof(work), "/tmp/bench-scale.XXXXXX");
    if (mkdtemp(work) == NULL || chdir(work) != 0)
        die("cannot make a scratch directory: %s", strerror(errno));
    B.ntasks = ntasks;
    B.per_offer = (ntasks + agents - 1) / agents;
    B.accept_at = calloc((size_t)ntasks, sizeof(double));
    B.running_at = calloc((size_t)ntasks, sizeof(double));
    B.recon_seen = calloc((size_t)ntasks, 1);
    B.pool = calloc(POOL_MAX, sizeof(*B.pool));
    if (!B.accept_at || !B.running_at || !B.recon_seen || !B.pool)
        die("out of memory");

    /* The master. */
    if (ext_master != NULL) {
        snprintf(master_addr, sizeof(master_addr), "%s", ext_master);
    } else {
        static char bin[PATH_MAX + 32], port[32], wd[128];
        const char *extra = getenv("BENCH_MASTER_FLAGS");
        char *copy = extra ? strdup(extra) : NULL, *save = NULL, *tok;
        int n = 0, mp = bench_free_port();

        if (mp < 0)
            die("cannot find a free port");
        snprintf(master_addr, sizeof(master_addr), "127.0.0.1:%d", mp);
        snprintf(bin, sizeof(bin), "%s/agora-master", bindir);
        snprintf(port, sizeof(port), "--port=%d", mp);
        snprintf(wd, sizeof(wd), "--work_dir=%s/master", work);
        master_argv = calloc(64, sizeof(char *));
        master_argv[n++] = bin;
        master_argv[n++] = "--ip=127.0.0.1";
        master_argv[n++] = port;
        master_argv[n++] = wd;
        master_argv[n++] = "--logging_level=WARNING";
        for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok && n < 63;
             tok = strtok_r(NULL, " ", &save))
            master_argv[n++] = tok;
        start_master();
        usleep(300000);
        rss_empty = bench_rss_kb(master_pid);
    }

    /* The agents. */
    {
        double t0 = bench_now();
        start_sims(agents, per_sim);
        register_s = wait_cluster(agents, 0, 120 + agents / 100, t0);
        if (register_s < 0)
            die("the agents did not all register (see %s)", work);
        if (master_pid > 0) {
            usleep(500000);
            rss_agents = bench_rss_kb(master_pid);
        }
    }

    /* The framework. */
    if ((fi = ag_framework_info_new()) == NULL || ag_framework_info_set_name(fi, "bench-scale") ||
        ag_framework_info_set_failover_timeout(fi, 3600) ||
        ag_driver_new(&B.d, master_addr, fi, &cb, NULL) != 0 ||
        ag_driver_set_rate_limit(B.d, 0, 0) != 0 || ag_driver_start(B.d) != 0)
        die("cannot start the framework: %s", ag_last_error());
    ag_framework_info_free(fi);
    pthread_mutex_lock(&B.mu);
    WAIT_FOR(B.subscriptions > 0, 30, "the subscription");
    pthread_mutex_unlock(&B.mu);

    printf("bench-scale: %d agents (%d simulator processes), %d tasks of %s, master %s%s\n", agents,
           nsims, ntasks, task_res, master_addr, master_pid > 0 ? " (started here)" : "");
    printf("  all agents registered in %.2f s\n", register_s);
    json_object_set_new(out, "bench", json_string("scale"));
    json_object_set_new(out, "agents", json_integer(agents));
    json_object_set_new(out, "tasks", json_integer(ntasks));
    json_object_set_new(out, "churn_tasks", json_integer(churn_tasks));
    json_object_set_new(out, "sim_processes", json_integer(nsims));
    json_object_set_new(out, "register_s", json_real(register_s));

    /* ---- launch ---- */
    if (has_phase(phases, "launch")) {
        double last = 0, *lat = calloc((size_t)ntasks, sizeof(double)), dur, per_s, cpu_ms, p50,
               p99;
        int m = 0;

        cpu0 = master_pid > 0 ? bench_cpu_seconds(master_pid, false) : 0;
        pthread_mutex_lock(&B.mu);
        B.launching = true;
        use_pool();
        pthread_mutex_unlock(&B.mu);
        ag_driver_revive(B.d, NULL);
        pthread_mutex_lock(&B.mu);
        WAIT_FOR(B.running == ntasks, 600, "every task RUNNING");
        B.launching = false;
        pthread_mutex_unlock(&B.mu);
        cpu1 = master_pid > 0 ? bench_cpu_seconds(master_pid, false) : 0;
        for (int i = 0; i < ntasks; i++) {
            lat[m++] = (B.running_at[i] - B.accept_at[i]) * 1000;
            if (B.running_at[i] > last)
                last = B.running_at[i];
        }
        dur = last - B.first_accept;
        per_s = ntasks / dur;
        cpu_ms = (cpu1 - cpu0) * 1000 / ntasks;
        p50 = bench_pct(lat, m, 0.5); /* sorts lat */
        p99 = bench_pct(lat, m, 0.99);
        json_object_set_new(out, "launch",
                            json_pack("{s:f, s:f, s:f, s:f, s:f, s:o}", "tasks_per_s", per_s,
                                      "accept_to_running_p50_ms", p50, "accept_to_running_p99_ms",
                                      p99, "accept_to_running_max_ms", lat[m - 1], "duration_s",
                                      dur, "master_cpu_ms_per_task",
                                      num_or_null(master_pid > 0, cpu_ms)));
        printf("  launch: %d tasks in %.2f s = %.0f tasks/s; accept->RUNNING p50 %.1f ms, p99 "
               "%.1f ms, max %.1f ms; master CPU %.3f ms/task\n",
               ntasks, dur, per_s, p50, p99, lat[m - 1], cpu_ms);
        free(lat);
        if (master_pid > 0) {
            usleep(500000);
            rss_tasks = bench_rss_kb(master_pid);
        }
    }

    /* ---- state ---- */
    if (has_phase(phases, "state")) {
        pthread_t th;
        double idle, sm, sx, tm, tx, stall;
        size_t sb = 0, tb = 0;

        P.run = true;
        if (pthread_create(&th, NULL, probe_main, NULL) != 0)
            die("cannot start the probe");
        usleep(1000000);
        idle = probe_take();
        get_timed("/state", &sm, &sx, &sb);
        get_timed("/tasks", &tm, &tx, &tb);
        usleep(100000);
        stall = probe_take() - idle;
        P.run = false;
        pthread_join(th, NULL);
        json_object_set_new(out, "state",
                            json_pack("{s:f, s:f, s:I, s:f, s:f, s:I, s:f, s:f}", "state_ms_median",
                                      sm, "state_ms_max", sx, "state_bytes", (json_int_t)sb,
                                      "tasks_ms_median", tm, "tasks_ms_max", tx, "tasks_bytes",
                                      (json_int_t)tb, "loop_stall_ms", stall, "idle_health_max_ms",
                                      idle));
        printf("  /state: median %.0f ms, max %.0f ms, %zu bytes; /tasks: median %.0f ms, max "
               "%.0f ms, %zu bytes; longest loop stall meanwhile ~%.0f ms (idle /health max %.1f "
               "ms)\n",
               sm, sx, sb, tm, tx, tb, stall, idle);
    }

    /* ---- restart ---- */
    if (has_phase(phases, "restart") && master_pid > 0) {
        double t0, up, rereg, recon = -1;
        int subs;

        kill(master_pid, SIGKILL);
        waitpid(master_pid, NULL, 0);
        pthread_mutex_lock(&B.mu);
        subs = B.subscriptions;
        B.reconciling = false;
        pthread_mutex_unlock(&B.mu);
        t0 = bench_now();
        start_master();
        up = bench_now() - t0;
        rereg = wait_cluster(agents, B.launched, 300, t0 + up);
        if (rereg < 0)
            die("the agents and tasks did not all come back (see %s)", work);
        pthread_mutex_lock(&B.mu);
        WAIT_FOR(B.subscriptions > subs, 60, "the framework's resubscription");
        B.reconciling = true;
        B.reconciled = 0;
        memset(B.recon_seen, 0, (size_t)ntasks);
        pthread_mutex_unlock(&B.mu);
        ag_driver_reconcile(B.d, NULL, NULL, 0);
        pthread_mutex_lock(&B.mu);
        WAIT_FOR(B.reconciled >= B.launched, 120, "the reconciliation");
        B.reconciling = false;
        pthread_mutex_unlock(&B.mu);
        recon = bench_now() - (t0 + up);
        json_object_set_new(out, "restart",
                            json_pack("{s:f, s:f, s:f}", "up_s", up, "reregistered_s", rereg,
                                      "reconciled_s", recon));
        printf("  restart: master up (/health) after %.2f s; then every agent re-registered and "
               "every task running after %.2f s; implicit reconciliation all RUNNING after %.2f "
               "s\n",
               up, rereg, recon);
    }

    /* ---- churn ---- */
    if (has_phase(phases, "churn") && churn_tasks > 0) {
        long f0, l0;
        double t0, secs;

        pthread_mutex_lock(&B.mu);
        B.churn_target = churn_tasks;
        B.churning = true;
        use_pool();
        pthread_mutex_unlock(&B.mu);
        ag_driver_revive(B.d, NULL);
        /* Warm up for 10 s (the first tasks finish after 1-10 s), then measure. */
        sleep(10);
        pthread_mutex_lock(&B.mu);
        f0 = B.churn_finished;
        l0 = B.churn_launched;
        pthread_mutex_unlock(&B.mu);
        t0 = bench_now();
        sleep((unsigned)churn_secs);
        pthread_mutex_lock(&B.mu);
        secs = bench_now() - t0;
        f0 = B.churn_finished - f0;
        l0 = B.churn_launched - l0;
        B.churning = false;
        pthread_mutex_unlock(&B.mu);
        json_object_set_new(out, "churn",
                            json_pack("{s:f, s:f, s:f}", "secs", secs, "finished_per_s", f0 / secs,
                                      "launched_per_s", l0 / secs));
        printf("  churn: %d tasks of 1-10 s kept in flight for %.0f s: %.0f finished/s, %.0f "
               "launched/s\n",
               churn_tasks, secs, f0 / secs, l0 / secs);
    }

    if (master_pid > 0) {
        bool ok = rss_empty > 0 && rss_agents > 0;
        double pa = ok ? (double)(rss_agents - rss_empty) / agents : 0;
        double pt = ok && rss_tasks > 0 ? (double)(rss_tasks - rss_agents) / ntasks : 0;

        json_object_set_new(out, "memory",
                            json_pack("{s:I, s:I, s:I, s:o, s:o}", "rss_empty_kb",
                                      (json_int_t)rss_empty, "rss_agents_kb",
                                      (json_int_t)rss_agents, "rss_tasks_kb", (json_int_t)rss_tasks,
                                      "kb_per_agent", num_or_null(ok, pa), "kb_per_task",
                                      num_or_null(ok && rss_tasks > 0, pt)));
        printf("  master RSS: %ld KiB empty, %ld KiB with the agents (%.2f KiB/agent), %ld KiB "
               "with the tasks (%.2f KiB/task)\n",
               rss_empty, rss_agents, pa, rss_tasks, pt);
    }

    ag_driver_stop(B.d);
    ag_driver_join(B.d);
    ag_driver_free(B.d);
    stop_all();
    for (int i = 0; i < nsims; i++)
        waitpid(sim_pids[i], NULL, 0);
    if (master_pid > 0)
        waitpid(master_pid, NULL, 0);
    if (!keep) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", work);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-scale: cannot remove %s\n", work);
    } else {
        printf("  scratch directory kept: %s\n", work);
    }
    {
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
    }
    json_decref(out);
    return 0;
}
