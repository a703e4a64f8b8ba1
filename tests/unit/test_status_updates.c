#include "test.h"

#include "error.h"
#include "status_updates.h"

#include <stdbool.h>
#include <string.h>

#define MAX_SENT 64

static char sent[MAX_SENT][64]; /* uuids in the order they were sent */
static int nsent;
static bool fail_send;

static int
record_send(void *arg, const struct msg_task_status *st)
{
    (void)arg;
    CHECK(nsent < MAX_SENT);
    snprintf(sent[nsent++], sizeof(sent[0]), "%s", st->uuid);
    return fail_send ? -AG_ECLOSED : 0;
}

static const struct su_ops ops = {.send = record_send};

static void
reset_sent(void)
{
    nsent = 0;
    fail_send = false;
}

static struct msg_task_status
status(const char *fw, const char *task, const char *uuid, enum msg_task_state state)
{
    struct msg_task_status s;
    msg_task_status_init(&s);
    s.framework_id = (char *)fw;
    s.task_id = (char *)task;
    s.uuid = (char *)uuid;
    s.state = state;
    s.agent_id = "agent-S1";
    return s; /* borrowed strings: su_add copies */
}

static void
add(struct su *s, const char *fw, const char *task, const char *uuid, int64_t now)
{
    struct msg_task_status st = status(fw, task, uuid, MSG_TASK_RUNNING);
    CHECK_EQ_INT(su_add(s, &st, now), 0);
}

static void
test_ordering(void)
{
    struct su s;

    reset_sent();
    su_init(&s, 10000, 600000, &ops, NULL);
    su_set_online(&s, true, 0);
    add(&s, "fw", "a", "u1", 0);
    add(&s, "fw", "a", "u2", 0);
    add(&s, "fw", "b", "u3", 0);
    /* Only the heads are in flight. */
    CHECK_EQ_INT(nsent, 2);
    CHECK_EQ_STR(sent[0], "u1");
    CHECK_EQ_STR(sent[1], "u3");
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 2);
    CHECK_EQ_INT(su_total(&s), 3);
    CHECK_EQ_STR(su_head(&s, "fw", "a")->uuid, "u1");
    /* The ack of the head sends the next one of that stream at once. */
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u1", 5), 0);
    CHECK_EQ_INT(nsent, 3);
    CHECK_EQ_STR(sent[2], "u2");
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 1);
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u2", 6), 0);
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 0);
    CHECK(su_head(&s, "fw", "a") == NULL);
    CHECK_EQ_INT(nsent, 3);
    CHECK_EQ_INT(su_total(&s), 1);
    CHECK_EQ_INT(s.acked, 2);
    su_fini(&s);
}

static void
test_ack_mismatch(void)
{
    struct su s;

    reset_sent();
    su_init(&s, 10000, 600000, &ops, NULL);
    su_set_online(&s, true, 0);
    add(&s, "fw", "a", "u1", 0);
    add(&s, "fw", "a", "u2", 0);
    /* Acks of anything but the head, of unknown tasks, or with bad ids are ignored. */
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u2", 1), -AG_ENOENT);
    CHECK_EQ_INT(su_ack(&s, "fw", "zz", "u1", 1), -AG_ENOENT);
    CHECK_EQ_INT(su_ack(&s, "../x", "a", "u1", 1), -AG_ENOENT);
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "", 1), -AG_ENOENT);
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 2);
    /* A duplicate ack is harmless. */
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u1", 2), 0);
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u1", 2), -AG_ENOENT);
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 1);
    su_fini(&s);
}

static void
test_retry_backoff(void)
{
    struct su s;
    int64_t t = 0, expect = 10000;
    int before;

    reset_sent();
    su_init(&s, 10000, 600000, &ops, NULL);
    su_set_online(&s, true, 0);
    add(&s, "fw", "a", "u1", 0);
    CHECK_EQ_INT(nsent, 1);
    /* Retries at 10 s, then 20 s, 40 s, ... capped at 10 min. */
    for (int i = 0; i < 12; i++) {
        before = nsent;
        su_tick(&s, t + expect - 1);
        CHECK_EQ_INT(nsent, before);
        t += expect;
        su_tick(&s, t);
        CHECK_EQ_INT(nsent, before + 1);
        CHECK_EQ_STR(sent[nsent - 1], "u1");
        expect = expect * 2 > 600000 ? 600000 : expect * 2;
    }
    CHECK_EQ_INT(s.retries, 12);
    su_fini(&s);
}

static void
test_retry_resets_after_ack(void)
{
    struct su s;

    reset_sent();
    su_init(&s, 1000, 8000, &ops, NULL);
    su_set_online(&s, true, 0);
    add(&s, "fw", "a", "u1", 0);
    add(&s, "fw", "a", "u2", 0);
    su_tick(&s, 1000);
    su_tick(&s, 3000);
    CHECK_EQ_INT(nsent, 3); /* u1 three times */
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u1", 3500), 0);
    CHECK_EQ_STR(sent[nsent - 1], "u2");
    /* The next head starts at the initial interval again. */
    su_tick(&s, 4499);
    CHECK_EQ_INT(nsent, 4);
    su_tick(&s, 4500);
    CHECK_EQ_INT(nsent, 5);
    CHECK_EQ_STR(sent[4], "u2");
    su_fini(&s);
}

static void
test_offline(void)
{
    struct su s;

    reset_sent();
    su_init(&s, 1000, 8000, &ops, NULL);
    add(&s, "fw", "a", "u1", 0);
    add(&s, "fw", "b", "u2", 0);
    add(&s, "fw", "b", "u3", 0);
    su_tick(&s, 100000);
    CHECK_EQ_INT(nsent, 0);
    /* Going online (after registration) resends every head at once. */
    su_set_online(&s, true, 100000);
    CHECK_EQ_INT(nsent, 2);
    su_set_online(&s, false, 100001);
    su_tick(&s, 200000);
    CHECK_EQ_INT(nsent, 2);
    su_set_online(&s, true, 200000);
    CHECK_EQ_INT(nsent, 4);
    /* A failed send is retried at the next retry time. */
    fail_send = true;
    su_tick(&s, 201000);
    CHECK_EQ_INT(nsent, 6);
    su_fini(&s);
}

static void
test_invalid(void)
{
    struct su s;
    struct msg_task_status st;

    reset_sent();
    su_init(&s, 1000, 8000, &ops, NULL);
    su_set_online(&s, true, 0);
    st = status("fw", "a/b", "u1", MSG_TASK_RUNNING);
    CHECK_EQ_INT(su_add(&s, &st, 0), -AG_EINVAL);
    st = status("..", "a", "u1", MSG_TASK_RUNNING);
    CHECK_EQ_INT(su_add(&s, &st, 0), -AG_EINVAL);
    st = status("fw", "a", "", MSG_TASK_RUNNING);
    CHECK_EQ_INT(su_add(&s, &st, 0), -AG_EINVAL);
    CHECK_EQ_INT(nsent, 0);
    CHECK_EQ_INT(su_total(&s), 0);
    su_fini(&s);
}

static void
test_drop_and_clear(void)
{
    struct su s;

    reset_sent();
    su_init(&s, 1000, 8000, &ops, NULL);
    add(&s, "fw", "a", "u1", 0);
    add(&s, "fw", "a", "u2", 0);
    add(&s, "fw", "b", "u3", 0);
    su_drop(&s, "fw", "a");
    CHECK_EQ_INT(su_total(&s), 1);
    su_clear(&s);
    CHECK_EQ_INT(su_total(&s), 0);
    su_set_online(&s, true, 0);
    CHECK_EQ_INT(nsent, 0);
    su_fini(&s);
}

/* An update added after a commit is not sent before that commit is durable. */
static void
test_durability_gate(void)
{
    struct su s;
    struct msg_task_status a1 = status("fw", "a", "u1", MSG_TASK_STARTING);
    struct msg_task_status a2 = status("fw", "a", "u2", MSG_TASK_RUNNING);
    struct msg_task_status b1 = status("fw", "b", "u3", MSG_TASK_RUNNING);

    reset_sent();
    su_init(&s, 1000, 8000, &ops, NULL);
    su_set_online(&s, true, 0);
    su_set_durable(&s, 4, 0);
    CHECK_EQ_INT(su_add_after(&s, &a1, 5, 0), 0);
    CHECK_EQ_INT(su_add_after(&s, &b1, 4, 0), 0); /* already durable: goes at once */
    CHECK_EQ_INT(nsent, 1);
    CHECK_EQ_STR(sent[0], "u3");
    /* Neither retries nor going online again send a head still waiting. */
    su_tick(&s, 50000);
    su_set_online(&s, true, 50000);
    for (int i = 0; i < nsent; i++)
        CHECK(strcmp(sent[i], "u1") != 0);
    CHECK_EQ_INT(su_pending(&s, "fw", "a"), 1);
    /* Durable up to 5: u1 goes now. */
    int before = nsent;
    su_set_durable(&s, 5, 50001);
    CHECK_EQ_INT(nsent, before + 1);
    CHECK_EQ_STR(sent[nsent - 1], "u1");
    /* The next update of the stream waits for its own commit, even after the ack. */
    CHECK_EQ_INT(su_add_after(&s, &a2, 7, 50002), 0);
    CHECK_EQ_INT(su_ack(&s, "fw", "a", "u1", 50003), 0);
    CHECK_EQ_INT(nsent, before + 1);
    su_set_durable(&s, 6, 50004);
    CHECK_EQ_INT(nsent, before + 1);
    su_set_durable(&s, 7, 50005);
    CHECK_EQ_INT(nsent, before + 2);
    CHECK_EQ_STR(sent[nsent - 1], "u2");
    su_fini(&s);
}

TEST_LIST(TEST_ENTRY(ordering), TEST_ENTRY(durability_gate), TEST_ENTRY(ack_mismatch), TEST_ENTRY(retry_backoff),
          TEST_ENTRY(retry_resets_after_ack), TEST_ENTRY(offline), TEST_ENTRY(invalid),
          TEST_ENTRY(drop_and_clear));
TEST_MAIN()
