#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "error.h"
#include "log.h"
#include "paths.h"
#include "state.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[64];
static char dbpath[128];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agora-test-state-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(dbpath, sizeof(dbpath), "%s/agent.db", dir);
    log_set_level(AG_LOG_ERROR);
}

static void
teardown(void)
{
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
    CHECK(access(dir, F_OK) != 0);
}

static void
make_task(struct state_task *t, const char *fw, const char *id)
{
    char err[128];

    state_task_init(t);
    t->info.task_id = strdup(id);
    t->info.framework_id = strdup(fw);
    t->info.name = strdup("web server");
    t->info.command.value = strdup("echo hi; sleep 10");
    t->info.kill_grace_ms = 2500;
    CHECK_EQ_INT(
        res_parse(&t->info.resources, "cpus:0.5;mem:64;ports:[31000-31001]", err, sizeof(err)), 0);
    t->status.state = MSG_TASK_RUNNING;
    t->status.task_id = strdup(id);
    t->status.framework_id = strdup(fw);
    t->status.uuid = strdup("11111111-2222-4333-8444-555555555555");
    t->status.timestamp = 1234.5;
    snprintf(t->container_id, sizeof(t->container_id), "cid-%s", id);
    t->pid = 4242;
    t->pid_start = 987654321ull;
    t->killing = true;
}

static struct msg_task_status
update(const char *fw, const char *task, const char *uuid, enum msg_task_state state)
{
    struct msg_task_status s;
    msg_task_status_init(&s);
    s.framework_id = (char *)fw;
    s.task_id = (char *)task;
    s.uuid = (char *)uuid;
    s.state = state;
    s.message = "Command exited with status 3";
    return s;
}

static void
test_round_trip(void)
{
    struct state *st;
    struct state_snapshot snap;
    struct state_task t;
    struct msg_framework_info fw;
    struct msg_task_status u1, u2, u3;
    char err[256];

    setup();
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    msg_framework_info_init(&fw);
    fw.framework_id = "fw-0001";
    fw.name = "marathon";
    fw.checkpoint = true;
    make_task(&t, "fw-0001", "task-1");
    u1 = update("fw-0001", "task-1", "uuid-1", MSG_TASK_STARTING);
    u2 = update("fw-0001", "task-1", "uuid-2", MSG_TASK_RUNNING);
    u3 = update("fw-0001", "task-2", "uuid-3", MSG_TASK_LOST);

    CHECK_EQ_INT(state_begin(st), 0);
    CHECK_EQ_INT(state_set_agent_id(st, "abc-S1"), 0);
    CHECK_EQ_INT(state_put_framework(st, &fw), 0);
    CHECK_EQ_INT(state_put_task(st, &t), 0);
    CHECK_EQ_INT(state_add_update(st, &u1), 0);
    CHECK_EQ_INT(state_add_update(st, &u2), 0);
    CHECK_EQ_INT(state_add_update(st, &u3), 0);
    CHECK_EQ_INT(state_commit(st), 0);
    CHECK_EQ_INT(state_add_update(st, &u1), -AG_EEXIST);
    state_close(st);

    /* Reopen: everything is back, updates in order. */
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_STR(snap.agent_id, "abc-S1");
    CHECK_EQ_INT(snap.nframeworks, 1);
    CHECK(msg_framework_info_equal(&snap.frameworks[0], &fw));
    CHECK_EQ_INT(snap.ntasks, 1);
    CHECK(msg_task_info_equal(&snap.tasks[0].info, &t.info));
    CHECK(msg_task_status_equal(&snap.tasks[0].status, &t.status));
    CHECK_EQ_STR(snap.tasks[0].container_id, "cid-task-1");
    CHECK_EQ_INT(snap.tasks[0].pid, 4242);
    CHECK_EQ_INT(snap.tasks[0].pid_start, 987654321);
    CHECK(snap.tasks[0].killing);
    CHECK_EQ_INT(snap.nupdates, 3);
    CHECK(msg_task_status_equal(&snap.updates[0], &u1));
    CHECK(msg_task_status_equal(&snap.updates[1], &u2));
    CHECK(msg_task_status_equal(&snap.updates[2], &u3));
    state_snapshot_fini(&snap);

    /* Replace the task, drop an update. */
    t.killing = false;
    t.status.state = MSG_TASK_FINISHED;
    CHECK_EQ_INT(state_put_task(st, &t), 0);
    CHECK_EQ_INT(state_del_update(st, "uuid-1"), 0);
    CHECK_EQ_INT(state_del_update(st, "uuid-unknown"), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_INT(snap.ntasks, 1);
    CHECK_EQ_INT(snap.tasks[0].status.state, MSG_TASK_FINISHED);
    CHECK(!snap.tasks[0].killing);
    CHECK_EQ_INT(snap.nupdates, 2);
    CHECK_EQ_STR(snap.updates[0].uuid, "uuid-2");
    state_snapshot_fini(&snap);

    /* Delete the task and the framework. */
    CHECK_EQ_INT(state_del_task(st, "fw-0001", "task-1"), 0);
    CHECK_EQ_INT(state_del_framework(st, "fw-0001"), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_INT(snap.ntasks, 0);
    CHECK_EQ_INT(snap.nframeworks, 0);
    CHECK_EQ_INT(snap.nupdates, 2);
    state_snapshot_fini(&snap);

    state_task_fini(&t);
    state_close(st);
    teardown();
}

static void
test_rollback(void)
{
    struct state *st;
    struct state_snapshot snap;
    struct state_task t;
    char err[256];

    setup();
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    make_task(&t, "fw", "t1");
    CHECK_EQ_INT(state_begin(st), 0);
    CHECK_EQ_INT(state_put_task(st, &t), 0);
    CHECK_EQ_INT(state_set_agent_id(st, "x-S2"), 0);
    CHECK_EQ_INT(state_rollback(st), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_INT(snap.ntasks, 0);
    CHECK_EQ_STR(snap.agent_id, "");
    state_snapshot_fini(&snap);
    state_task_fini(&t);
    state_close(st);
    teardown();
}

static void
test_reset(void)
{
    struct state *st;
    struct state_snapshot snap;
    struct state_task t;
    struct msg_task_status u = update("fw", "t1", "u", MSG_TASK_RUNNING);
    char err[256];

    setup();
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    make_task(&t, "fw", "t1");
    CHECK_EQ_INT(state_set_agent_id(st, "x-S2"), 0);
    CHECK_EQ_INT(state_put_task(st, &t), 0);
    CHECK_EQ_INT(state_add_update(st, &u), 0);
    CHECK_EQ_INT(state_reset(st), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_STR(snap.agent_id, "");
    CHECK_EQ_INT(snap.ntasks + snap.nupdates + snap.nframeworks, 0);
    state_snapshot_fini(&snap);
    /* Forgetting the id alone. */
    CHECK_EQ_INT(state_set_agent_id(st, "y-S3"), 0);
    CHECK_EQ_INT(state_set_agent_id(st, ""), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_STR(snap.agent_id, "");
    state_snapshot_fini(&snap);
    state_task_fini(&t);
    state_close(st);
    teardown();
}

static void
test_many(void)
{
    struct state *st;
    struct state_snapshot snap;
    char err[256], id[32], uuid[32];

    setup();
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    CHECK_EQ_INT(state_begin(st), 0);
    for (int i = 0; i < 100; i++) {
        struct state_task t;
        struct msg_task_status u;
        snprintf(id, sizeof(id), "t%03d", i);
        snprintf(uuid, sizeof(uuid), "u%03d", i);
        make_task(&t, "fw", id);
        CHECK_EQ_INT(state_put_task(st, &t), 0);
        u = update("fw", id, uuid, MSG_TASK_RUNNING);
        CHECK_EQ_INT(state_add_update(st, &u), 0);
        state_task_fini(&t);
    }
    CHECK_EQ_INT(state_commit(st), 0);
    state_close(st);
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_INT(snap.ntasks, 100);
    CHECK_EQ_INT(snap.nupdates, 100);
    for (int i = 0; i < 100; i++) {
        snprintf(uuid, sizeof(uuid), "u%03d", i);
        CHECK_EQ_STR(snap.updates[i].uuid, uuid);
    }
    state_snapshot_fini(&snap);
    state_close(st);
    teardown();
}

static uint64_t synced;
static int nsynced;

static void
on_durable(void *arg, uint64_t durable)
{
    (void)arg;
    CHECK(durable >= synced); /* never goes back */
    synced = durable;
    nsynced++;
}

/* Commits are numbered; state_sync makes them durable off the caller's thread
 * and says so on the loop, one sync covering every commit before it. */
static void
test_durable_numbers(void)
{
    struct state *st;
    struct state_snapshot snap;
    uv_loop_t loop;
    char err[256];

    setup();
    synced = 0;
    nsynced = 0;
    CHECK_EQ_INT(uv_loop_init(&loop), 0);
    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    CHECK_EQ_INT(state_seq(st), 0);
    CHECK_EQ_INT(state_durable(st), 0);
    CHECK_EQ_INT(state_begin(st), 0);
    CHECK_EQ_INT(state_seq(st), 1); /* the open transaction's commit */
    CHECK_EQ_INT(state_set_agent_id(st, "abc-S1"), 0);
    CHECK_EQ_INT(state_commit(st), 0);
    CHECK_EQ_INT(state_seq(st), 1);
    CHECK_EQ_INT(state_durable(st), 0); /* committed, not yet synced */
    CHECK_EQ_INT(state_sync(st, &loop, on_durable, NULL), 0);
    while (state_durable(st) < 1)
        CHECK(uv_run(&loop, UV_RUN_ONCE) >= 0);
    CHECK_EQ_INT(synced, 1);
    /* Two more commits, one sync: it covers both. */
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(state_begin(st), 0);
        CHECK_EQ_INT(state_set_agent_id(st, i == 0 ? "abc-S2" : "abc-S3"), 0);
        CHECK_EQ_INT(state_commit(st), 0);
    }
    CHECK_EQ_INT(state_seq(st), 3);
    CHECK_EQ_INT(state_sync(st, &loop, on_durable, NULL), 0);
    while (state_durable(st) < 3)
        CHECK(uv_run(&loop, UV_RUN_ONCE) >= 0);
    CHECK_EQ_INT(synced, 3);
    /* A rolled-back transaction still takes its number (waiters are released). */
    CHECK_EQ_INT(state_begin(st), 0);
    CHECK_EQ_INT(state_set_agent_id(st, "abc-S9"), 0);
    CHECK_EQ_INT(state_rollback(st), 0);
    CHECK_EQ_INT(state_seq(st), 4);
    state_close(st);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);

    CHECK_EQ_INT(state_open(&st, dbpath, err, sizeof(err)), 0);
    CHECK_EQ_INT(state_load(st, &snap), 0);
    CHECK_EQ_STR(snap.agent_id, "abc-S3");
    state_snapshot_fini(&snap);
    state_close(st);
    teardown();
}

TEST_LIST(TEST_ENTRY(round_trip), TEST_ENTRY(rollback), TEST_ENTRY(reset), TEST_ENTRY(many),
          TEST_ENTRY(durable_numbers));
TEST_MAIN()
