/*
 * bench-allocator: the allocator over the Mesos benchmark grid.
 *
 * Agents `cpus:2;mem:1024;disk:4096;ports:[31000-32000]`, frameworks each in
 * its own role (or spread over --roles roles). Two scenarios:
 *
 *   decline  (Mesos' DeclineOffers): frameworks launch one task
 *            (cpus:0.5;mem:128) per offer until they have a few, and decline
 *            everything else with a 5 s filter; one run a second.
 *   churn    frameworks fill 90% of the cluster; every round 10% of the tasks
 *            end (resources recovered without filter) and the frameworks
 *            relaunch from the next round's offers (5 s filters on the rest).
 *
 * Reported per cell: the first round (every agent free), the median full
 * round (alloc_run over all agents) over the measured rounds, the median
 * incremental round (one task ends, alloc_run over that one agent), offers
 * per full round, and the peak RSS of the process (the benchmark's own
 * bookkeeping of tasks and offers included). Each (cell, scenario, run) runs
 * in a forked child so peaks do not mix; the table shows medians over --runs.
 * Only alloc_run (with the emit callback copying each offer, as the master
 * does) is timed.
 *
 * The last line of the output is one JSON object with the parameters and
 * every figure of the table: {"bench": "allocator", "agent_shape",
 * "task_shape", "roles" (0: one role per framework), "runs", "rounds",
 * "incremental", "seed", "cells": [{"scenario", "agents", "frameworks",
 * "first_round_ms", "full_round_ms", "incr_round_ms", "offers_per_round",
 * "peak_rss_mb"} or {"scenario", "agents", "frameworks", "failed": true}]}.
 */
#include "allocator.h"
#include "error.h"
#include "metrics.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_SHAPE "cpus:2;mem:1024;disk:4096;ports:[31000-32000]"
#define TASK_SHAPE "cpus:0.5;mem:128"

struct opts {
    int agents[8], nagents;
    int fws[8], nfws;
    int roles; /* 0: one role per framework */
    int runs;
    int rounds;
    int incr;
    int decline, churn;
    unsigned seed;
};

struct result {
    double first_ms;
    double full_ms;
    double incr_ms;
    double offers;
    double peak_mb;
};

struct offer {
    int fw;
    int agent;
    struct resources r;
};

struct task {
    int fw;
    int agent;
};

struct bench {
    struct alloc *a;
    int nagents, nfws;
    char (*agent_id)[32];
    char (*fw_id)[32];
    char (*fw_role)[32];
    int *want, *have;
    int per_offer;
    struct offer *off;
    size_t noff, capoff;
    struct task *tasks;
    size_t ntasks, captasks;
    struct resources task;
    double now;
    unsigned rng;
};

/* Monotonic milliseconds, for durations. */
static double
now_ms(void)
{
    return (double)metrics_now_ns() / 1e6;
}

static unsigned
rnd(struct bench *b)
{
    b->rng = b->rng * 1103515245u + 12345u;
    return b->rng >> 8;
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "bench-allocator: %s: %s\n", what, ag_strerror(rc));
    exit(1);
}

static void
emit(void *arg, const char *fw, const char *agent, const char *role, const struct resources *r)
{
    struct bench *b = arg;
    struct offer *o;

    if (b->noff == b->capoff) {
        size_t old = b->capoff;
        b->capoff = b->capoff ? b->capoff * 2 : 1024;
        b->off = realloc(b->off, b->capoff * sizeof(*b->off));
        if (b->off == NULL)
            die("emit", -AG_ENOMEM);
        for (size_t i = old; i < b->capoff; i++)
            res_init(&b->off[i].r);
    }
    o = &b->off[b->noff++];
    o->fw = atoi(fw + 2);
    o->agent = atoi(agent + 1);
    if (res_copy(&o->r, r) != 0)
        die("res_copy", -AG_ENOMEM);
}

static void
add_task(struct bench *b, int fw, int agent)
{
    if (b->ntasks == b->captasks) {
        b->captasks = b->captasks ? b->captasks * 2 : 4096;
        b->tasks = realloc(b->tasks, b->captasks * sizeof(*b->tasks));
        if (b->tasks == NULL)
            die("tasks", -AG_ENOMEM);
    }
    b->tasks[b->ntasks++] = (struct task){fw, agent};
    b->have[fw]++;
}

/* Frameworks answer every offer of the last run: launch tasks while they
 * want more, return the rest with a 5 s filter. */
static void
answer(struct bench *b)
{
    for (size_t i = 0; i < b->noff; i++) {
        struct offer *o = &b->off[i];
        int launched = 0;

        while (b->have[o->fw] < b->want[o->fw] && launched < b->per_offer &&
               res_contains(&o->r, &b->task)) {
            res_sub(&o->r, &b->task);
            add_task(b, o->fw, o->agent);
            launched++;
        }
        if (!res_empty(&o->r)) {
            int rc = alloc_recover_resources(b->a, b->fw_id[o->fw], b->agent_id[o->agent],
                                             b->fw_role[o->fw], &o->r, 5, b->now);
            if (rc != 0)
                die("recover", rc);
        }
    }
    b->noff = 0;
}

/* One full round: timed alloc_run over all agents, then the answers. */
static double
full_round(struct bench *b, size_t *offers)
{
    double t0 = now_ms(), dt;
    int rc = alloc_run(b->a, b->now, NULL, 0, emit, b);

    dt = now_ms() - t0;
    if (rc < 0)
        die("alloc_run", rc);
    *offers = b->noff;
    answer(b);
    b->now += 1;
    return dt;
}

/* A random task ends. */
static void
end_task(struct bench *b, size_t i)
{
    struct task t = b->tasks[i];
    int rc = alloc_recover_resources(b->a, b->fw_id[t.fw], b->agent_id[t.agent], b->fw_role[t.fw],
                                     &b->task, 0, b->now);
    if (rc != 0)
        die("recover task", rc);
    b->tasks[i] = b->tasks[--b->ntasks];
    b->have[t.fw]--;
}

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return a < c ? -1 : a > c;
}

static double
median(double *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double
peak_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024;
}

static void
setup(struct bench *b, const struct opts *o, int nagents, int nfws, const char *scenario)
{
    struct alloc_config cfg = {.seed = o->seed};
    struct resources shape;
    char err[256];
    int rc;

    memset(b, 0, sizeof(*b));
    b->nagents = nagents;
    b->nfws = nfws;
    b->rng = o->seed * 2654435761u + 1;
    rc = alloc_create(&b->a, &cfg, err, sizeof(err));
    if (rc != 0)
        die(err, rc);
    b->agent_id = calloc((size_t)nagents, sizeof(*b->agent_id));
    b->fw_id = calloc((size_t)nfws, sizeof(*b->fw_id));
    b->fw_role = calloc((size_t)nfws, sizeof(*b->fw_role));
    b->want = calloc((size_t)nfws, sizeof(int));
    b->have = calloc((size_t)nfws, sizeof(int));
    res_init(&shape);
    res_init(&b->task);
    if (res_parse(&shape, AGENT_SHAPE, NULL, 0) != 0 || res_parse(&b->task, TASK_SHAPE, NULL, 0))
        die("parse", -AG_EINVAL);
    for (int i = 0; i < nagents; i++) {
        snprintf(b->agent_id[i], sizeof(b->agent_id[i]), "a%d", i);
        rc = alloc_add_agent(b->a, b->agent_id[i], &shape, NULL, 0);
        if (rc != 0)
            die("add agent", rc);
    }
    for (int i = 0; i < nfws; i++) {
        const char *roles[1];
        snprintf(b->fw_id[i], sizeof(b->fw_id[i]), "fw%d", i);
        snprintf(b->fw_role[i], sizeof(b->fw_role[i]), "role%d", o->roles ? i % o->roles : i);
        roles[0] = b->fw_role[i];
        rc = alloc_add_framework(b->a, b->fw_id[i], roles, 1, NULL, 0);
        if (rc != 0)
            die("add framework", rc);
    }
    /* 4 task slots per agent. decline: frameworks want half the slots (at
     * least 1 task each), one task per offer; churn: 90%, up to 4 per offer. */
    for (int i = 0; i < nfws; i++) {
        long slots = 4L * nagents;
        long w = strcmp(scenario, "decline") == 0 ? slots / 2 / nfws : slots * 9 / 10 / nfws;
        b->want[i] = (int)(w > 0 ? w : 1);
    }
    b->per_offer = strcmp(scenario, "decline") == 0 ? 1 : 4;
    res_fini(&shape);
}

/* Runs one scenario on one cell; fills `r`. */
static void
run_cell(const struct opts *o, int nagents, int nfws, const char *scenario, struct result *r)
{
    struct bench b;
    double *full = calloc((size_t)o->rounds, sizeof(double));
    double *incr = calloc((size_t)o->incr, sizeof(double));
    double offers = 0;
    size_t n;

    setup(&b, o, nagents, nfws, scenario);
    r->first_ms = full_round(&b, &n);
    if (strcmp(scenario, "churn") == 0) {
        /* Fill the cluster before measuring. */
        for (int i = 0; i < 5; i++)
            full_round(&b, &n);
    }
    for (int i = 0; i < o->rounds; i++) {
        if (strcmp(scenario, "churn") == 0) {
            size_t end = b.ntasks / 10;
            for (size_t k = 0; k < end && b.ntasks > 0; k++)
                end_task(&b, rnd(&b) % b.ntasks);
        }
        full[i] = full_round(&b, &n);
        offers += (double)n;
        if (getenv("BENCH_DEBUG")) {
            struct alloc_stats st;
            alloc_get_stats(b.a, &st);
            fprintf(stderr,
                    "round %d: %.2f ms, %zu offers, %zu filters, visits %llu second %llu "
                    "steps %llu\n",
                    i, full[i], n, st.filters, (unsigned long long)st.agent_visits,
                    (unsigned long long)st.second_passes, (unsigned long long)st.steps);
        }
    }
    /* Incremental: one task ends, allocate that agent only. */
    for (int i = 0; i < o->incr; i++) {
        const char *id;
        double t0;
        int rc;
        if (b.ntasks == 0)
            break;
        {
            size_t k = rnd(&b) % b.ntasks;
            int agent = b.tasks[k].agent;
            end_task(&b, k);
            id = b.agent_id[agent];
        }
        t0 = now_ms();
        rc = alloc_run(b.a, b.now, &id, 1, emit, &b);
        incr[i] = now_ms() - t0;
        if (rc < 0)
            die("alloc_run", rc);
        answer(&b);
        b.now += 0.001;
    }
    r->full_ms = median(full, o->rounds);
    r->incr_ms = median(incr, o->incr);
    r->offers = offers / o->rounds;
    r->peak_mb = peak_mb();
    free(full);
    free(incr);
}

/* Runs the cell `runs` times, each in its own process; medians into `out`. */
static int
measure(const struct opts *o, int nagents, int nfws, const char *scenario, struct result *out)
{
    double v[5][16];
    int ok = 0;

    for (int run = 0; run < o->runs && run < 16; run++) {
        int fd[2];
        pid_t pid;
        struct result r;
        ssize_t got;
        int status;

        if (pipe(fd) != 0)
            return -1;
        pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            struct opts mine = *o;
            close(fd[0]);
            mine.seed = o->seed + (unsigned)run;
            run_cell(&mine, nagents, nfws, scenario, &r);
            if (write(fd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
                _exit(1);
            _exit(0);
        }
        close(fd[1]);
        got = read(fd[0], &r, sizeof(r));
        close(fd[0]);
        waitpid(pid, &status, 0);
        if (got != (ssize_t)sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            continue;
        v[0][ok] = r.first_ms;
        v[1][ok] = r.full_ms;
        v[2][ok] = r.incr_ms;
        v[3][ok] = r.offers;
        v[4][ok] = r.peak_mb;
        ok++;
    }
    if (ok == 0)
        return -1;
    out->first_ms = median(v[0], ok);
    out->full_ms = median(v[1], ok);
    out->incr_ms = median(v[2], ok);
    out->offers = median(v[3], ok);
    out->peak_mb = median(v[4], ok);
    return 0;
}

static int
parse_list(const char *s, int *out, int max)
{
    int n = 0;
    char *end;

    while (*s && n < max) {
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            return -1;
    }
    return n;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: bench-allocator [-a AGENTS,...] [-f FRAMEWORKS,...] [-r RUNS] [-n ROUNDS]\n"
            "                       [-i INCREMENTAL] [-R ROLES] [-s decline|churn|all] [-S SEED]\n"
            "defaults: -a 1000,5000,10000,20000,50000 -f 1,100,1000,5000 -r 3 -n 10 -i 200\n"
            "          -R 0 (one role per framework) -s all\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct opts o = {.agents = {1000, 5000, 10000, 20000, 50000},
                     .nagents = 5,
                     .fws = {1, 100, 1000, 5000},
                     .nfws = 4,
                     .runs = 3,
                     .rounds = 10,
                     .incr = 200,
                     .decline = 1,
                     .churn = 1,
                     .seed = 1};
    const char *scenarios[2] = {"decline", "churn"};
    json_t *cells = json_array(), *out;
    char *line;
    int c;

    while ((c = getopt(argc, argv, "a:f:r:n:i:R:s:S:h")) != -1) {
        switch (c) {
        case 'a':
            if ((o.nagents = parse_list(optarg, o.agents, 8)) <= 0)
                usage();
            break;
        case 'f':
            if ((o.nfws = parse_list(optarg, o.fws, 8)) <= 0)
                usage();
            break;
        case 'r':
            o.runs = atoi(optarg);
            break;
        case 'n':
            o.rounds = atoi(optarg);
            break;
        case 'i':
            o.incr = atoi(optarg);
            break;
        case 'R':
            o.roles = atoi(optarg);
            break;
        case 'S':
            o.seed = (unsigned)atoi(optarg);
            break;
        case 's':
            o.decline = strcmp(optarg, "decline") == 0 || strcmp(optarg, "all") == 0;
            o.churn = strcmp(optarg, "churn") == 0 || strcmp(optarg, "all") == 0;
            if (!o.decline && !o.churn)
                usage();
            break;
        default:
            usage();
        }
    }
    if (o.runs < 1 || o.rounds < 1 || o.incr < 1)
        usage();
    printf("agent %s, task %s, %s, median of %d runs\n", AGENT_SHAPE, TASK_SHAPE,
           o.roles ? "frameworks spread over roles" : "one role per framework", o.runs);
    printf("%-8s %7s %6s | %9s %9s %9s %9s %8s\n", "scenario", "agents", "fws", "first_ms",
           "full_ms", "incr_ms", "offers", "peak_MB");
    fflush(stdout);
    for (int s = 0; s < 2; s++) {
        if ((s == 0 && !o.decline) || (s == 1 && !o.churn))
            continue;
        for (int i = 0; i < o.nagents; i++) {
            for (int j = 0; j < o.nfws; j++) {
                struct result r;
                if (measure(&o, o.agents[i], o.fws[j], scenarios[s], &r) != 0) {
                    printf("%-8s %7d %6d | failed\n", scenarios[s], o.agents[i], o.fws[j]);
                    json_array_append_new(cells, json_pack("{s:s, s:i, s:i, s:b}", "scenario",
                                                           scenarios[s], "agents", o.agents[i],
                                                           "frameworks", o.fws[j], "failed", 1));
                    continue;
                }
                printf("%-8s %7d %6d | %9.2f %9.2f %9.4f %9.0f %8.1f\n", scenarios[s], o.agents[i],
                       o.fws[j], r.first_ms, r.full_ms, r.incr_ms, r.offers, r.peak_mb);
                fflush(stdout);
                json_array_append_new(
                    cells,
                    json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "scenario", scenarios[s],
                              "agents", o.agents[i], "frameworks", o.fws[j], "first_round_ms",
                              r.first_ms, "full_round_ms", r.full_ms, "incr_round_ms", r.incr_ms,
                              "offers_per_round", r.offers, "peak_rss_mb", r.peak_mb));
            }
        }
    }
    out = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:o}", "bench", "allocator",
                    "agent_shape", AGENT_SHAPE, "task_shape", TASK_SHAPE, "roles", o.roles, "runs",
                    o.runs, "rounds", o.rounds, "incremental", o.incr, "seed", (json_int_t)o.seed,
                    "cells", cells);
    line = out ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    if (line == NULL)
        die("json", -AG_ENOMEM);
    puts(line);
    free(line);
    json_decref(out);
    return 0;
}
