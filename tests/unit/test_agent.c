/*
 * The agent against a fake master (a tp_server in this process): registration,
 * a task's updates and their acknowledgements, retries, recovery after the
 * agent is closed and reopened on the same work_dir, and the reset after an
 * ERROR -AG_ESTATE. Plus the resource defaults.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "agent_int.h"
#include "error.h"
#include "log.h"
#include "msg.h"
#include "paths.h"
#include "transport.h"

#include <limits.h>
#include <nng/nng.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#define MAX_UPDATES 64

static uv_loop_t loop;
static char dir[64];
static char launcher[PATH_MAX + 16];
static char master_addr[64];

/* The fake master. */
static struct {
    struct tp_server *srv;
    uint32_t peer;
    int registrations;
    char last_register_id[AG_ID_MAX];
    size_t last_register_tasks;
    bool refuse_known_id; /* answer ERROR -AG_ESTATE to a re-registration */
    bool auto_ack;
    struct msg_task_status updates[MAX_UPDATES];
    int nupdates;
    int pongs;
    bool count_usage;  /* record the USAGE_REPORTs below */
    int usage_reports; /* USAGE_REPORTs with samples */
    int usage_of[8];   /* samples of task "u<i>" */
} fm;

static void
fm_send(struct msg *m)
{
    void *buf;
    size_t len;

    CHECK_EQ_INT(msg_encode_alloc(m, &buf, &len), 0);
    CHECK_EQ_INT(tp_server_send(fm.srv, fm.peer, buf, len), 0);
    free(buf);
}

static void
fm_ack(const struct msg_task_status *s)
{
    struct msg m;

    msg_init(&m, MSG_STATUS_ACK);
    m.u.status_ack.agent_id = s->agent_id;
    m.u.status_ack.framework_id = s->framework_id;
    m.u.status_ack.task_id = s->task_id;
    m.u.status_ack.uuid = s->uuid;
    fm_send(&m);
}

static void
fm_connect(void *arg, uint32_t peer)
{
    (void)arg;
    fm.peer = peer;
}

static void
fm_message(void *arg, uint32_t peer, const void *data, size_t len)
{
    struct msg m, r;
    char err[256];

    (void)arg;
    fm.peer = peer;
    CHECK_EQ_INT(msg_decode(&m, data, len, err, sizeof(err)), 0);
    switch (m.type) {
    case MSG_AGENT_REGISTER:
        fm.registrations++;
        snprintf(fm.last_register_id, sizeof(fm.last_register_id), "%s",
                 m.u.agent_register.agent_id);
        fm.last_register_tasks = m.u.agent_register.ntasks;
        CHECK(m.u.agent_register.hostname[0] != '\0');
        CHECK(res_scalar(&m.u.agent_register.resources, "cpus") == 3 * RES_SCALE);
        if (fm.refuse_known_id && m.u.agent_register.agent_id[0] != '\0') {
            msg_init(&r, MSG_ERROR);
            r.u.error.code = -AG_ESTATE;
            r.u.error.message = "agent removed";
            fm_send(&r);
            break;
        }
        msg_init(&r, MSG_AGENT_REGISTERED);
        r.u.agent_registered.agent_id = m.u.agent_register.agent_id[0]
                                            ? m.u.agent_register.agent_id
                                            : (fm.refuse_known_id ? "fake-S2" : "fake-S1");
        r.u.agent_registered.ping_interval_ms = 1000;
        fm_send(&r);
        /* and a ping */
        msg_init(&r, MSG_PING);
        r.u.ping.seq = 7;
        fm_send(&r);
        break;
    case MSG_USAGE_REPORT:
        if (!fm.count_usage || m.u.usage_report.nsamples == 0)
            break;
        fm.usage_reports++;
        for (size_t i = 0; i < m.u.usage_report.nsamples; i++) {
            const char *t = m.u.usage_report.samples[i].task_id;
            if (t[0] == 'u' && t[1] >= '0' && t[1] <= '7' && t[2] == '\0')
                fm.usage_of[t[1] - '0']++;
        }
        break;
    case MSG_PONG:
        CHECK_EQ_INT(m.u.pong.seq, 7);
        fm.pongs++;
        break;
    case MSG_STATUS_UPDATE:
        CHECK(fm.nupdates < MAX_UPDATES);
        msg_task_status_init(&fm.updates[fm.nupdates]);
        CHECK_EQ_INT(msg_task_status_copy(&fm.updates[fm.nupdates], &m.u.status_update.status), 0);
        fm.nupdates++;
        if (fm.auto_ack)
            fm_ack(&m.u.status_update.status);
        break;
    default:
        break;
    }
    msg_free(&m);
}

static void
fm_disconnect(void *arg, uint32_t peer)
{
    (void)arg;
    if (fm.peer == peer)
        fm.peer = 0;
}

static const struct tp_server_ops fm_ops = {
    .on_connect = fm_connect, .on_message = fm_message, .on_disconnect = fm_disconnect};

static void
fm_reset_updates(void)
{
    for (int i = 0; i < fm.nupdates; i++)
        msg_task_status_fini(&fm.updates[i]);
    fm.nupdates = 0;
}

static int
fm_count(const char *task_id, enum msg_task_state state)
{
    int n = 0;
    for (int i = 0; i < fm.nupdates; i++)
        if (strcmp(fm.updates[i].task_id, task_id) == 0 && fm.updates[i].state == state)
            n++;
    return n;
}

static void
tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond() holds or `ms` pass; returns cond(). */
static bool
run_until(bool (*cond)(void), int ms)
{
    uv_timer_t t;
    uint64_t end;
    bool ok;

    uv_timer_init(&loop, &t);
    uv_timer_start(&t, tick, 20, 20);
    uv_update_time(&loop);
    end = uv_now(&loop) + (uint64_t)ms;
    while (!(ok = cond()) && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ok;
}

static struct agent *the_agent;

static bool
never(void)
{
    return false;
}

static bool
registered(void)
{
    return the_agent->conn == AGENT_REGISTERED && fm.pongs > 0;
}

static bool
t1_finished(void)
{
    return fm_count("t1", MSG_TASK_FINISHED) > 0;
}

static bool
no_tasks(void)
{
    return hmap_size(&the_agent->tasks) == 0;
}

static bool
starting_thrice(void)
{
    return fm_count("t2", MSG_TASK_STARTING) >= 3;
}

static bool
running_seen(void)
{
    return fm_count("t2", MSG_TASK_RUNNING) >= 1;
}

static bool
killed_seen(void)
{
    return fm_count("t2", MSG_TASK_KILLED) >= 1;
}

static bool
lost_seen(void)
{
    return fm_count("nope", MSG_TASK_LOST) > 0;
}

static bool
running_seen_t3(void)
{
    return fm_count("t3", MSG_TASK_RUNNING) >= 1;
}

static void
setup(void)
{
    char self[PATH_MAX], *slash;
    ssize_t n;

    log_set_level(AG_LOG_ERROR);
    memset(&fm, 0, sizeof(fm));
    snprintf(dir, sizeof(dir), "/tmp/agora-test-agent-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(n > 0);
    self[n] = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(launcher, sizeof(launcher), "%s/../bin", self);
    CHECK_EQ_INT(uv_loop_init(&loop), 0);
    CHECK_EQ_INT(tp_server_open(&fm.srv, &loop, "ws://127.0.0.1:0/agora/v1/stream", &fm_ops, NULL),
                 0);
    snprintf(master_addr, sizeof(master_addr), "127.0.0.1:%d", tp_server_port(fm.srv));
}

static void
teardown(void)
{
    fm_reset_updates();
    run_until(never, 100);
    tp_server_close(fm.srv);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
    nng_fini(); /* releases what nng's threads still hold (messages in flight at close) */
}

static int64_t usage_report_ms;

static void
open_agent(void)
{
    struct agent_config cfg;
    char err[512], work[128];

    snprintf(work, sizeof(work), "%s/work", dir);
    memset(&cfg, 0, sizeof(cfg));
    cfg.master = master_addr;
    cfg.ip = "127.0.0.1";
    cfg.hostname = "test-host";
    cfg.work_dir = work;
    cfg.resources = "cpus:3;mem:512;disk:100;ports:[31000-31009]";
    cfg.launcher_dir = launcher;
    cfg.kill_grace_ms = 1000;
    cfg.su_retry_ms = 100;
    cfg.su_retry_max_ms = 400;
    cfg.registration_backoff_ms = 100;
    cfg.http = false;
    cfg.usage_report_ms = usage_report_ms;
    if (agent_open(&the_agent, &loop, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "agent_open: %s\n", err);
        CHECK(0);
    }
}

static void
close_agent(void)
{
    /* nng 1.5.2 leaks a message in flight at close (see test_transport.c): settle first. */
    run_until(never, 100);
    agent_close(the_agent);
    the_agent = NULL;
    run_until(never, 300);
}

static void
run_task(const char *task_id, const char *cmd)
{
    struct msg m;
    char err[128];

    msg_init(&m, MSG_RUN_TASK);
    m.u.run_task.framework.framework_id = "fw-1";
    m.u.run_task.framework.name = "test";
    m.u.run_task.task.task_id = (char *)task_id;
    m.u.run_task.task.framework_id = "fw-1";
    m.u.run_task.task.command.value = (char *)cmd;
    CHECK_EQ_INT(
        res_parse(&m.u.run_task.task.resources, "cpus:1;ports:[31002-31003]", err, sizeof(err)), 0);
    fm_send(&m);
    res_fini(&m.u.run_task.task.resources);
}

static void
kill_task(const char *task_id)
{
    struct msg m;

    msg_init(&m, MSG_KILL_TASK);
    m.u.kill_task.framework_id = "fw-1";
    m.u.kill_task.task_id = (char *)task_id;
    fm_send(&m);
}

static bool
eight_running(void)
{
    char id[4];
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        if (fm_count(id, MSG_TASK_RUNNING) < 1)
            return false;
    }
    return true;
}

/* Every container has its first usage sample planned. */
static bool
eight_planned(void)
{
    const char *key;
    void *val;
    int n = 0;

    for (size_t it = 0; hmap_next(&the_agent->containers, &it, &key, &val);)
        n += ((struct agent_task *)val)->next_usage_ms != 0;
    return n == 8;
}

static bool
each_sampled_twice(void)
{
    for (int i = 0; i < 8; i++)
        if (fm.usage_of[i] < 2)
            return false;
    return true;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Usage is sampled once per --usage_report_interval for every task, each at a
 * phase of its own: eight tasks started together are planned at phases spread
 * over the interval, so a report carries a few samples each, not all eight at
 * once (reading every container in one turn held the loop for 130 ms at 860
 * containers). The phases are read from the plan, not from when reports came:
 * a loaded machine that stalls the loop would bunch the samples up.
 */
static void
test_usage_spread(void)
{
    const char *key;
    void *val;
    int64_t phase[8], every = 1000, gap, max_gap = 0;
    int n = 0;

    setup();
    fm.auto_ack = true;
    usage_report_ms = every;
    open_agent();
    CHECK(run_until(registered, 10000));
    for (int i = 0; i < 8; i++) {
        char id[4];
        snprintf(id, sizeof(id), "u%d", i);
        run_task(id, "sleep 30");
    }
    CHECK(run_until(eight_running, 10000));
    CHECK(run_until(eight_planned, 10000));
    /* No gap between neighbouring phases (the planned times modulo the
     * interval, around the circle) is over half the interval; one shared
     * phase would leave a gap of the whole interval. */
    for (size_t it = 0; hmap_next(&the_agent->containers, &it, &key, &val) && n < 8;)
        phase[n++] = ((struct agent_task *)val)->next_usage_ms % every;
    CHECK_EQ_INT(n, 8);
    qsort(phase, 8, sizeof(phase[0]), cmp_i64);
    for (int i = 0; i < 8; i++) {
        gap = i < 7 ? phase[i + 1] - phase[i] : phase[0] + every - phase[7];
        if (gap > max_gap)
            max_gap = gap;
    }
    if (max_gap > every / 2)
        for (int i = 0; i < 8; i++)
            fprintf(stderr, "phase %d: %lld ms\n", i, (long long)phase[i]);
    CHECK(max_gap <= every / 2);
    /* And every task is sampled, again and again. */
    fm.count_usage = true;
    CHECK(run_until(each_sampled_twice, 10000));
    fm.count_usage = false;
    CHECK(fm.usage_reports >= 2);
    for (int i = 0; i < 8; i++) {
        char id[4];
        snprintf(id, sizeof(id), "u%d", i);
        kill_task(id);
    }
    CHECK(run_until(no_tasks, 10000));
    close_agent();
    usage_report_ms = 0;
    teardown();
}

static void
test_lifecycle(void)
{
    setup();
    fm.auto_ack = true;
    open_agent();
    CHECK(run_until(registered, 10000));
    CHECK_EQ_STR(the_agent->id, "fake-S1");
    CHECK_EQ_STR(fm.last_register_id, "");
    run_task("t1", "test \"$PORTS\" = 31002,31003 && test \"$AGORA_TASK_ID\" = t1");
    CHECK(run_until(t1_finished, 10000));
    CHECK_EQ_INT(fm_count("t1", MSG_TASK_STARTING), 1);
    CHECK_EQ_INT(fm_count("t1", MSG_TASK_RUNNING), 1);
    CHECK_EQ_INT(fm_count("t1", MSG_TASK_FINISHED), 1);
    CHECK_EQ_STR(fm.updates[0].source, "SOURCE_AGENT");
    CHECK_EQ_STR(fm.updates[0].agent_id, "fake-S1");
    CHECK(fm.updates[0].uuid[0] != '\0');
    /* Acknowledged and terminal: forgotten. */
    CHECK(run_until(no_tasks, 5000));
    CHECK_EQ_INT(hmap_size(&the_agent->frameworks), 0);
    /* A kill of an unknown task is answered TASK_LOST. */
    kill_task("nope");
    CHECK(run_until(lost_seen, 5000));
    close_agent();

    /* Reopened on the same work_dir: re-registers with the same id. */
    fm.registrations = 0;
    fm.pongs = 0;
    open_agent();
    CHECK(run_until(registered, 10000));
    CHECK_EQ_STR(fm.last_register_id, "fake-S1");
    CHECK_EQ_INT(fm.last_register_tasks, 0);
    close_agent();
    teardown();
}

static void
test_retry_and_recovery(void)
{
    const char *uuid;
    int before;

    setup();
    open_agent();
    CHECK(run_until(registered, 10000));
    run_task("t2", "sleep 30");
    /* Not acknowledged: STARTING is resent, RUNNING waits behind it. */
    CHECK(run_until(starting_thrice, 5000));
    CHECK_EQ_INT(fm_count("t2", MSG_TASK_RUNNING), 0);
    uuid = fm.updates[0].uuid;
    for (int i = 1; i < fm.nupdates; i++)
        CHECK_EQ_STR(fm.updates[i].uuid, uuid);
    fm_ack(&fm.updates[0]);
    CHECK(run_until(running_seen, 5000));

    /* The agent goes away with RUNNING unacknowledged, and comes back. */
    close_agent();
    fm_reset_updates();
    fm.pongs = 0;
    open_agent();
    CHECK(run_until(registered, 10000));
    CHECK_EQ_STR(fm.last_register_id, "fake-S1");
    CHECK_EQ_INT(fm.last_register_tasks, 1);
    CHECK(run_until(running_seen, 5000)); /* resent after re-registration */
    fm_ack(&fm.updates[fm.nupdates - 1]);
    fm.auto_ack = true;
    before = fm.nupdates;
    kill_task("t2");
    CHECK(run_until(killed_seen, 10000));
    CHECK(fm_count("t2", MSG_TASK_KILLING) == 1);
    CHECK(fm.nupdates >= before + 2);
    CHECK(run_until(no_tasks, 5000));
    close_agent();
    teardown();
}

static void
test_reset(void)
{
    setup();
    fm.auto_ack = true;
    open_agent();
    CHECK(run_until(registered, 10000));
    run_task("t3", "sleep 30");
    CHECK(run_until(running_seen_t3, 5000));
    close_agent();

    /* The master no longer knows fake-S1: kill, forget, register anew. */
    fm.refuse_known_id = true;
    fm.pongs = 0;
    open_agent();
    CHECK(run_until(registered, 10000));
    CHECK_EQ_STR(the_agent->id, "fake-S2");
    CHECK_EQ_STR(fm.last_register_id, "");
    CHECK_EQ_INT(hmap_size(&the_agent->tasks), 0);
    close_agent();
    teardown();
}

static void
test_resources(void)
{
    struct resources r;
    char err[256], buf[256];

    res_init(&r);
    CHECK_EQ_INT(agent_resolve_resources("cpus:2;gpus:1", "/tmp", &r, err, sizeof(err)), 0);
    CHECK_EQ_INT(res_scalar(&r, "cpus"), 2000);
    CHECK_EQ_INT(res_scalar(&r, "gpus"), 1000);
    CHECK(res_scalar(&r, "mem") > 0);
    CHECK(res_scalar(&r, "disk") > 0);
    CHECK_EQ_INT(res_range_count(&r, "ports"), 1001);
    CHECK_EQ_INT(
        agent_resolve_resources("cpus(web):1;ports:[5000-5001]", "/tmp", &r, err, sizeof(err)), 0);
    res_format(&r, buf, sizeof(buf));
    CHECK(strstr(buf, "cpus(web):1") != NULL);
    CHECK_EQ_INT(res_range_count(&r, "ports"), 2);
    CHECK(res_scalar(&r, "cpus") == 1000); /* a reserved cpus item replaces the default */
    CHECK_EQ_INT(agent_resolve_resources(NULL, "/tmp", &r, err, sizeof(err)), 0);
    CHECK(res_scalar(&r, "cpus") >= 1000);
    CHECK_EQ_INT(agent_resolve_resources("cpus:x", "/tmp", &r, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "--resources") != NULL);
    res_fini(&r);
}

TEST_LIST(TEST_ENTRY(lifecycle), TEST_ENTRY(retry_and_recovery), TEST_ENTRY(reset),
          TEST_ENTRY(usage_spread), TEST_ENTRY(resources));
TEST_MAIN()
