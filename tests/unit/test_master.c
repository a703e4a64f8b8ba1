/*
 * Unit tests of the master core without sockets: a master on a private loop
 * with a send hook (the transport seam in master_int.h); the tests feed it
 * agent and framework messages, drive its operations, and check the messages
 * it sends and its books (master_check_books).
 */
#include "test.h"

#include "master_int.h"

#include "auth.h"
#include "error.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define AGENT_PEER 1
#define FW_PEER 2
#define FW2_PEER 3
#define MAX_SENT 256

struct sent {
    uint32_t peer;
    struct msg msg;
};

struct harness {
    uv_loop_t loop;
    struct master *m;
    struct master_flags flags;
    char dir[64];
    struct sent sent[MAX_SENT];
    size_t nsent, seen;
    int starts;
};

static int
capture(void *arg, uint32_t peer, const void *buf, size_t len)
{
    struct harness *h = arg;
    char err[256];

    CHECK(h->nsent < MAX_SENT);
    CHECK_EQ_INT(msg_decode(&h->sent[h->nsent].msg, buf, len, err, sizeof(err)), 0);
    h->sent[h->nsent++].peer = peer;
    return 0;
}

static void
harness_start(struct harness *h)
{
    memset(h, 0, sizeof(*h));
    log_set_level(getenv("TEST_LOG") ? AG_LOG_DEBUG : AG_LOG_ERROR);
    snprintf(h->dir, sizeof(h->dir), "/tmp/agora-test-master.XXXXXX");
    CHECK(mkdtemp(h->dir) != NULL);
    h->flags = (struct master_flags){
        .ip = "127.0.0.1",
        .port = 5050,
        .work_dir = h->dir,
        .agent_ping_timeout_ms = 15000,
        .max_agent_ping_timeouts = 5,
        .agent_reregister_timeout_ms = 600000,
        /* an hour: every offer below comes from an event, not the periodic pass */
        .allocation_interval_ms = 3600 * 1000,
        .roles_sorter = "drf",
        .framework_sorter = "drf",
        .weights = "",
        .min_allocatable_resources = "",
        .max_completed_tasks = 100,
        .max_completed_frameworks = 10,
        .accounting_db = "",
        .accounting_raw_retention_ms = 86400000,
    };
    CHECK_EQ_INT(uv_loop_init(&h->loop), 0);
    h->m = master_new("0a1b2c3d-0000-4000-8000-000000000001", NULL);
    CHECK(h->m != NULL);
    CHECK_EQ_INT(master_start(h->m, &h->loop, &h->flags), 0);
    master_set_send_hook(h->m, capture, h);
    master_start_timers(h->m);
}

static void
harness_stop(struct harness *h)
{
    char cmd[128];

    master_stop(h->m);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    master_free(h->m);
    CHECK_EQ_INT(uv_loop_close(&h->loop), 0);
    for (size_t i = 0; i < h->nsent; i++)
        msg_free(&h->sent[i].msg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
    CHECK_EQ_INT(system(cmd), 0);
}

/* Stops the master and starts a new one on the same work_dir (its registry),
 * as a master restart does; the messages sent so far are forgotten. */
static void
harness_restart(struct harness *h)
{
    char id[64];

    master_stop(h->m);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    master_free(h->m);
    for (size_t i = 0; i < h->nsent; i++)
        msg_free(&h->sent[i].msg);
    h->nsent = h->seen = 0;
    /* a new id at each start, as a real master's: framework ids derive from it */
    snprintf(id, sizeof(id), "0a1b2c3d-0000-4000-8000-%012d", ++h->starts + 1);
    h->m = master_new(id, NULL);
    CHECK(h->m != NULL);
    CHECK_EQ_INT(master_start(h->m, &h->loop, &h->flags), 0);
    master_set_send_hook(h->m, capture, h);
    master_start_timers(h->m);
}

/* Runs what is ready on the loop (the end-of-turn allocation among it). */
static void
turn(struct harness *h)
{
    for (int i = 0; i < 3; i++)
        uv_run(&h->loop, UV_RUN_NOWAIT);
}

static void
deliver(struct harness *h, uint32_t peer, struct msg *msg)
{
    void *buf;
    size_t len;

    CHECK_EQ_INT(msg_encode_alloc(msg, &buf, &len), 0);
    master_peer_message(h->m, peer, buf, len);
    free(buf);
    msg_free(msg);
}

/* The next message sent to `peer` of `type` after those already seen (the
 * ones before it are skipped); NULL if none. */
static struct msg *
next_sent(struct harness *h, uint32_t peer, enum msg_type type)
{
    for (size_t i = h->seen; i < h->nsent; i++) {
        if (h->sent[i].peer == peer && h->sent[i].msg.type == type) {
            h->seen = i + 1;
            return &h->sent[i].msg;
        }
    }
    return NULL;
}

static size_t
count_sent(const struct harness *h, uint32_t peer, enum msg_type type, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < h->nsent; i++)
        n += h->sent[i].peer == peer && h->sent[i].msg.type == type;
    return n;
}

static char *
xstrdup(const char *s)
{
    char *d = strdup(s);
    CHECK(d != NULL);
    return d;
}

/* Registers an agent with `res` on AGENT_PEER (re-registers agent `as`, if
 * not NULL); returns its id (static). */
static const char *
register_agent_as(struct harness *h, const char *res, const char *as)
{
    static char id[AG_ID_MAX];
    struct msg msg, *r;
    char err[256];

    if (core_peer(h->m, AGENT_PEER) == NULL)
        master_peer_connect(h->m, AGENT_PEER);
    msg_init(&msg, MSG_AGENT_REGISTER);
    msg.u.agent_register.agent_id = xstrdup(as ? as : "");
    msg.u.agent_register.hostname = xstrdup("host1");
    msg.u.agent_register.http_address = xstrdup("127.0.0.1:5051");
    msg.u.agent_register.version = xstrdup("test");
    CHECK_EQ_INT(res_parse(&msg.u.agent_register.resources, res, err, sizeof(err)), 0);
    deliver(h, AGENT_PEER, &msg);
    r = next_sent(h, AGENT_PEER, MSG_AGENT_REGISTERED);
    CHECK(r != NULL);
    snprintf(id, sizeof(id), "%s", r->u.agent_registered.agent_id);
    return id;
}

static const char *
register_agent(struct harness *h, const char *res)
{
    return register_agent_as(h, res, NULL);
}

/* Subscribes framework `name` (in `role`, NULL: none) on `peer`; its id. */
static void
subscribe(struct harness *h, uint32_t peer, const char *name, const char *role, char *id,
          size_t idlen)
{
    struct msg msg, *r;
    struct msg_framework_info *fi;

    if (core_peer(h->m, peer) == NULL)
        master_peer_connect(h->m, peer);
    msg_init(&msg, MSG_SUBSCRIBE);
    fi = &msg.u.subscribe.framework;
    fi->framework_id = xstrdup("");
    fi->name = xstrdup(name);
    fi->user = xstrdup("nobody");
    fi->principal = xstrdup("");
    fi->hostname = xstrdup("");
    fi->webui_url = xstrdup("");
    if (role) {
        fi->roles = calloc(1, sizeof(char *));
        CHECK(fi->roles != NULL);
        fi->roles[0] = xstrdup(role);
        fi->nroles = 1;
    }
    deliver(h, peer, &msg);
    r = next_sent(h, peer, MSG_SUBSCRIBED);
    CHECK(r != NULL);
    snprintf(id, idlen, "%s", r->u.subscribed.framework_id);
}

/* ACCEPT of offer `offer_id` launching task `task_id` (`res`) as `user` ("":
 * the framework's) from FW_PEER. */
static void
accept_launch_as(struct harness *h, const char *offer_id, const char *task_id, const char *res,
                 double refuse_seconds, const char *user)
{
    struct msg msg;
    struct msg_operation *op;
    struct msg_task_info *ti;
    char err[256];

    msg_init(&msg, MSG_ACCEPT);
    msg.u.accept.offer_ids = calloc(1, sizeof(char *));
    CHECK(msg.u.accept.offer_ids != NULL);
    msg.u.accept.offer_ids[0] = xstrdup(offer_id);
    msg.u.accept.noffer_ids = 1;
    msg.u.accept.refuse_seconds = refuse_seconds;
    op = msg.u.accept.operations = calloc(1, sizeof(*op));
    CHECK(op != NULL);
    msg.u.accept.noperations = 1;
    msg_operation_init(op);
    op->type = xstrdup("LAUNCH");
    ti = op->tasks = calloc(1, sizeof(*ti));
    CHECK(ti != NULL);
    op->ntasks = 1;
    msg_task_info_init(ti);
    ti->task_id = xstrdup(task_id);
    ti->name = xstrdup(task_id);
    ti->agent_id = xstrdup("");
    ti->framework_id = xstrdup("");
    ti->executor_id = xstrdup("");
    ti->command.value = xstrdup("sleep 100");
    ti->command.user = xstrdup(user);
    ti->container.image = xstrdup("");
    ti->container.network = xstrdup("");
    CHECK_EQ_INT(res_parse(&ti->resources, res, err, sizeof(err)), 0);
    deliver(h, FW_PEER, &msg);
}

static void
accept_launch(struct harness *h, const char *offer_id, const char *task_id, const char *res,
              double refuse_seconds)
{
    accept_launch_as(h, offer_id, task_id, res, refuse_seconds, "");
}

static void
print_problem(void *arg, const char *agent_id, const char *problem)
{
    (void)arg;
    fprintf(stderr, "books: agent %s: %s\n", agent_id, problem);
}

static bool
offer_has(const struct msg *offers, const char *res)
{
    char text[512];
    for (size_t i = 0; i < offers->u.offers.noffers; i++) {
        res_format(&offers->u.offers.offers[i].resources, text, sizeof(text));
        if (strstr(text, res))
            return true;
    }
    return false;
}

/* A master with one agent (`res`) and framework fw1 on FW_PEER holding its
 * first offer; returns the offer (fw1's id in `fwid`). */
static struct msg *
start_with_offer(struct harness *h, const char *res, char *fwid, size_t fwidlen)
{
    struct msg *r;

    harness_start(h);
    register_agent(h, res);
    subscribe(h, FW_PEER, "fw1", NULL, fwid, fwidlen);
    turn(h);
    r = next_sent(h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && r->u.offers.noffers == 1);
    return r;
}

/* REGISTER, SUBSCRIBE, OFFERS, ACCEPT -> RUN_TASK, STATUS_UPDATE forwarded;
 * the books agree at each step. */
static void
test_register_subscribe_launch(void)
{
    struct harness h;
    struct msg *r, msg;
    char fwid[AG_ID_MAX], offer_id[AG_ID_MAX];
    const char *agent_id;

    harness_start(&h);
    agent_id = register_agent(&h, "cpus:4;mem:1024");
    CHECK(agent_id[0] != '\0');
    CHECK_EQ_INT(master_agent_count(h.m), 1);
    subscribe(&h, FW_PEER, "fw1", NULL, fwid, sizeof(fwid));
    CHECK(next_sent(&h, FW_PEER, MSG_OFFERS) == NULL); /* at the end of the turn */
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && r->u.offers.noffers == 1);
    CHECK_EQ_STR(r->u.offers.offers[0].agent_id, agent_id);
    CHECK(offer_has(r, "cpus:4"));
    snprintf(offer_id, sizeof(offer_id), "%s", r->u.offers.offers[0].offer_id);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);

    accept_launch(&h, offer_id, "t1", "cpus:1;mem:128", 0);
    r = next_sent(&h, AGENT_PEER, MSG_RUN_TASK);
    CHECK(r != NULL);
    CHECK_EQ_STR(r->u.run_task.task.task_id, "t1");
    CHECK_EQ_STR(r->u.run_task.framework.framework_id, fwid);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    /* What the task left (refuse_seconds 0) is offered again in the same turn. */
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && offer_has(r, "cpus:3"));

    /* The agent's TASK_RUNNING reaches the framework. */
    msg_init(&msg, MSG_STATUS_UPDATE);
    msg.u.status_update.status.task_id = xstrdup("t1");
    msg.u.status_update.status.agent_id = xstrdup(agent_id);
    msg.u.status_update.status.framework_id = xstrdup(fwid);
    msg.u.status_update.status.state = MSG_TASK_RUNNING;
    msg.u.status_update.status.reason = xstrdup("");
    msg.u.status_update.status.message = xstrdup("");
    msg.u.status_update.status.source = xstrdup("SOURCE_EXECUTOR");
    msg.u.status_update.status.uuid = xstrdup("5f0e8a1c-0000-4000-8000-000000000002");
    deliver(&h, AGENT_PEER, &msg);
    r = next_sent(&h, FW_PEER, MSG_STATUS_UPDATE);
    CHECK(r != NULL && r->u.status_update.status.state == MSG_TASK_RUNNING);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

/* An invalid task becomes TASK_ERROR (validate.c) and launches nothing. */
static void
test_invalid_task(void)
{
    struct harness h;
    struct msg *r;
    char fwid[AG_ID_MAX];

    r = start_with_offer(&h, "cpus:4;mem:1024", fwid, sizeof(fwid));
    accept_launch(&h, r->u.offers.offers[0].offer_id, "t1", "cpus:8;mem:128", 0);
    r = next_sent(&h, FW_PEER, MSG_STATUS_UPDATE);
    CHECK(r != NULL && r->u.status_update.status.state == MSG_TASK_ERROR);
    CHECK(strstr(r->u.status_update.status.message, "more than the offers hold") != NULL);
    CHECK_EQ_INT(count_sent(&h, AGENT_PEER, MSG_RUN_TASK, 0), 0);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

/* Drain rescinds the agent's offers and stops new ones; undrain offers it
 * again in the same turn (the periodic pass is an hour away). */
static void
test_drain(void)
{
    struct harness h;
    struct msg *r;
    char fwid[AG_ID_MAX], offer_id[AG_ID_MAX];
    const char *agent_id;
    size_t mark;

    r = start_with_offer(&h, "cpus:4;mem:1024", fwid, sizeof(fwid));
    agent_id = r->u.offers.offers[0].agent_id;
    snprintf(offer_id, sizeof(offer_id), "%s", r->u.offers.offers[0].offer_id);

    CHECK_EQ_INT(master_drain_agent(h.m, "no-such-agent", true), -AG_ENOENT);
    CHECK_EQ_INT(master_drain_agent(h.m, agent_id, true), 0);
    r = next_sent(&h, FW_PEER, MSG_RESCIND);
    CHECK(r != NULL);
    CHECK_EQ_STR(r->u.rescind.offer_id, offer_id);
    mark = h.nsent;
    turn(&h);
    CHECK_EQ_INT(count_sent(&h, FW_PEER, MSG_OFFERS, mark), 0);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);

    CHECK_EQ_INT(master_drain_agent(h.m, agent_id, false), 0);
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && offer_has(r, "cpus:4"));
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

/* The drained state is in the registry: after a master restart the agent
 * comes back drained (no offers) until it is undrained. */
static void
test_drain_survives_restart(void)
{
    struct harness h;
    struct msg *r;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX];
    size_t mark;

    r = start_with_offer(&h, "cpus:4;mem:1024", fwid, sizeof(fwid));
    snprintf(agent_id, sizeof(agent_id), "%s", r->u.offers.offers[0].agent_id);
    CHECK_EQ_INT(master_drain_agent(h.m, agent_id, true), 0);

    harness_restart(&h);
    CHECK_EQ_STR(register_agent_as(&h, "cpus:4;mem:1024", agent_id), agent_id);
    subscribe(&h, FW_PEER, "fw2", NULL, fwid, sizeof(fwid));
    mark = h.nsent;
    turn(&h);
    CHECK_EQ_INT(count_sent(&h, FW_PEER, MSG_OFFERS, mark), 0);

    CHECK_EQ_INT(master_drain_agent(h.m, agent_id, false), 0);
    harness_restart(&h);
    CHECK_EQ_STR(register_agent_as(&h, "cpus:4;mem:1024", agent_id), agent_id);
    subscribe(&h, FW_PEER, "fw3", NULL, fwid, sizeof(fwid));
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && offer_has(r, "cpus:4"));
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

struct total_ctx {
    const char *agent_id;
    char text[256];
};

static void
total_cb(void *arg, const struct agent *a)
{
    struct total_ctx *c = arg;
    if (strcmp(a->id, c->agent_id) == 0)
        res_format(&a->total, c->text, sizeof(c->text));
}

/* Reserve needs unallocated resources; once reserved, a framework of the role
 * is offered the reservation in the same turn. */
static void
test_reserve(void)
{
    struct harness h;
    struct msg *r, msg;
    char fwid[AG_ID_MAX], webid[AG_ID_MAX], err[256];
    struct resources want, star;
    struct total_ctx tc;
    const char *agent_id;
    int rc;

    r = start_with_offer(&h, "cpus:4;mem:1024", fwid, sizeof(fwid));
    agent_id = r->u.offers.offers[0].agent_id;

    res_init(&want);
    res_init(&star);
    CHECK_EQ_INT(res_parse(&want, "cpus(web):1", err, sizeof(err)), 0);
    /* Everything is offered to fw1: nothing to reserve. */
    rc = master_reserve(h.m, agent_id, &want, err, sizeof(err));
    CHECK(rc != 0 && rc != -AG_ENOENT && rc != -AG_EINVAL);
    CHECK(strstr(err, "unallocated") != NULL);
    /* A reservation must name its role. */
    CHECK_EQ_INT(res_parse(&star, "cpus:1", err, sizeof(err)), 0);
    CHECK_EQ_INT(master_reserve(h.m, agent_id, &star, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(master_reserve(h.m, "no-such-agent", &want, err, sizeof(err)), -AG_ENOENT);

    /* fw1 declines for an hour; the reservation succeeds and goes to web. */
    msg_init(&msg, MSG_DECLINE);
    msg.u.decline.offer_ids = calloc(1, sizeof(char *));
    CHECK(msg.u.decline.offer_ids != NULL);
    msg.u.decline.offer_ids[0] = xstrdup(r->u.offers.offers[0].offer_id);
    msg.u.decline.noffer_ids = 1;
    msg.u.decline.refuse_seconds = 3600;
    deliver(&h, FW_PEER, &msg);
    turn(&h);
    CHECK_EQ_INT(master_reserve(h.m, agent_id, &want, err, sizeof(err)), 0);
    tc.agent_id = agent_id;
    tc.text[0] = '\0';
    master_foreach_agent(h.m, total_cb, &tc);
    CHECK(strstr(tc.text, "cpus(web):1") != NULL && strstr(tc.text, "cpus:3") != NULL);

    subscribe(&h, FW2_PEER, "webfw", "web", webid, sizeof(webid));
    turn(&h);
    r = next_sent(&h, FW2_PEER, MSG_OFFERS);
    CHECK(r != NULL && offer_has(r, "cpus(web):1"));
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);

    /* Unreserving what is offered is refused and changes nothing. */
    CHECK(master_unreserve(h.m, agent_id, &want, err, sizeof(err)) != 0);
    master_foreach_agent(h.m, total_cb, &tc);
    CHECK(strstr(tc.text, "cpus(web):1") != NULL);
    res_fini(&want);
    res_fini(&star);
    harness_stop(&h);
}

/* Declines every offer of `offers` on FW_PEER with a filter of `refuse` s. */
static void
decline_all(struct harness *h, const struct msg *offers, double refuse)
{
    struct msg msg;
    size_t n = offers->u.offers.noffers;

    msg_init(&msg, MSG_DECLINE);
    msg.u.decline.offer_ids = calloc(n, sizeof(char *));
    CHECK(msg.u.decline.offer_ids != NULL);
    for (size_t i = 0; i < n; i++)
        msg.u.decline.offer_ids[i] = xstrdup(offers->u.offers.offers[i].offer_id);
    msg.u.decline.noffer_ids = n;
    msg.u.decline.refuse_seconds = refuse;
    deliver(h, FW_PEER, &msg);
}

/* An operator's reservation or weight change runs an allocation pass in the
 * same loop turn: once the framework's short filter has expired, nothing but
 * that pass (the periodic one is an hour away) can make the offer. */
static void
test_operations_allocate_at_once(void)
{
    struct harness h;
    struct msg *r;
    char fwid[AG_ID_MAX], err[256];
    struct resources want;
    const char *agent_id;
    size_t mark;

    harness_start(&h);
    agent_id = register_agent(&h, "cpus:4;mem:1024");
    subscribe(&h, FW_PEER, "webfw", "web", fwid, sizeof(fwid));
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL);
    /* The first tick runs the first periodic pass; the next is an hour away. */
    usleep(150 * 1000);
    turn(&h);

    decline_all(&h, r, 0.05);
    turn(&h);
    mark = h.nsent;
    usleep(100 * 1000); /* the filter expires; no pass runs by itself */
    turn(&h);
    CHECK_EQ_INT(count_sent(&h, FW_PEER, MSG_OFFERS, mark), 0);
    res_init(&want);
    CHECK_EQ_INT(res_parse(&want, "cpus(web):1;mem(web):64", err, sizeof(err)), 0);
    CHECK_EQ_INT(master_reserve(h.m, agent_id, &want, err, sizeof(err)), 0);
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && offer_has(r, "cpus(web):1"));
    res_fini(&want);

    decline_all(&h, r, 0.05);
    turn(&h);
    mark = h.nsent;
    usleep(100 * 1000);
    turn(&h);
    CHECK_EQ_INT(count_sent(&h, FW_PEER, MSG_OFFERS, mark), 0);
    CHECK_EQ_INT(master_set_weight(h.m, "web", 2), 0);
    turn(&h);
    CHECK(next_sent(&h, FW_PEER, MSG_OFFERS) != NULL);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

/* Teardown: the framework gets a fatal ERROR, its tasks are killed. */
static void
test_teardown(void)
{
    struct harness h;
    struct msg *r;
    char fwid[AG_ID_MAX];

    r = start_with_offer(&h, "cpus:4;mem:1024", fwid, sizeof(fwid));
    accept_launch(&h, r->u.offers.offers[0].offer_id, "t1", "cpus:1;mem:128", 0);
    CHECK(next_sent(&h, AGENT_PEER, MSG_RUN_TASK) != NULL);

    CHECK_EQ_INT(master_teardown(h.m, "no-such-framework", "test"), -AG_ENOENT);
    CHECK_EQ_INT(master_teardown(h.m, fwid, "test teardown"), 0);
    CHECK(count_sent(&h, FW_PEER, MSG_ERROR, 0) == 1);
    CHECK(count_sent(&h, AGENT_PEER, MSG_KILL_TASK, 0) +
              count_sent(&h, AGENT_PEER, MSG_SHUTDOWN_FRAMEWORK, 0) >=
          1);
    CHECK_EQ_INT(master_teardown(h.m, fwid, "again"), -AG_ENOENT);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop(&h);
}

/* ---- principals own their ids ---- */

#define AGENT2_PEER 4
#define FW3_PEER 5

/* A master with --credentials: alice and bob (frameworks), agent1 (an agent);
 * with `acls` (NULL: none) as --acls. */
static void
harness_start_auth_acls(struct harness *h, const char *acls)
{
    char path[128];
    FILE *f;

    harness_start(h);
    snprintf(path, sizeof(path), "%s/credentials.json", h->dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("{\"credentials\": [{\"principal\": \"alice\", \"secret\": \"a-secret\"},"
          " {\"principal\": \"bob\", \"secret\": \"b-secret\"},"
          " {\"principal\": \"agent1\", \"secret\": \"g-secret\"}]}\n",
          f);
    CHECK_EQ_INT(fclose(f), 0);
    h->flags.credentials = strdup(path);
    CHECK(h->flags.credentials != NULL);
    h->flags.authenticate = true;
    h->flags.acls = (char *)acls;
    harness_restart(h); /* the same registry, now with authentication */
}

static void
harness_stop_auth(struct harness *h)
{
    char *c = h->flags.credentials;
    harness_stop(h);
    free(c);
}

/* Connects `peer` (from `addr`) and authenticates it as `principal`. */
static void
authenticate(struct harness *h, uint32_t peer, const char *addr, const char *principal,
             const char *secret)
{
    struct msg msg, *r;
    uint8_t proof[AUTH_PROOF_LEN];

    master_peer_connect(h->m, peer);
    master_peer_set_addr(h->m, peer, addr);
    msg_init(&msg, MSG_AUTH_START);
    msg.u.auth_start.principal = xstrdup(principal);
    msg.u.auth_start.mechanism = xstrdup(MSG_AUTH_MECHANISM);
    deliver(h, peer, &msg);
    r = next_sent(h, peer, MSG_AUTH_CHALLENGE);
    CHECK(r != NULL);
    CHECK_EQ_INT(auth_proof(secret, r->u.auth_challenge.nonce, r->u.auth_challenge.nonce_len,
                            proof),
                 0);
    msg_init(&msg, MSG_AUTH_RESPONSE);
    msg.u.auth_response.principal = xstrdup(principal);
    msg.u.auth_response.proof = malloc(AUTH_PROOF_LEN);
    CHECK(msg.u.auth_response.proof != NULL);
    memcpy(msg.u.auth_response.proof, proof, AUTH_PROOF_LEN);
    msg.u.auth_response.proof_len = AUTH_PROOF_LEN;
    deliver(h, peer, &msg);
    r = next_sent(h, peer, MSG_AUTH_RESULT);
    CHECK(r != NULL && r->u.auth_result.ok);
}

/* Sends SUBSCRIBE for framework `id` ("" = new) on `peer` with `webui_url`
 * in `role` (NULL: none); returns the master's answer (SUBSCRIBED or ERROR). */
static struct msg *
subscribe_as(struct harness *h, uint32_t peer, const char *id, const char *webui_url,
             const char *role)
{
    struct msg msg;
    struct msg_framework_info *fi;
    size_t from = h->nsent;

    msg_init(&msg, MSG_SUBSCRIBE);
    fi = &msg.u.subscribe.framework;
    fi->framework_id = xstrdup(id);
    fi->name = xstrdup("fw");
    fi->user = xstrdup("nobody");
    fi->principal = xstrdup("");
    fi->hostname = xstrdup("");
    fi->webui_url = xstrdup(webui_url);
    fi->failover_timeout_s = 3600;
    if (role) {
        fi->roles = calloc(1, sizeof(char *));
        CHECK(fi->roles != NULL);
        fi->roles[0] = xstrdup(role);
        fi->nroles = 1;
    }
    deliver(h, peer, &msg);
    for (size_t i = from; i < h->nsent; i++)
        if (h->sent[i].peer == peer &&
            (h->sent[i].msg.type == MSG_SUBSCRIBED || h->sent[i].msg.type == MSG_ERROR))
            return &h->sent[i].msg;
    return NULL;
}

/* Sends AGENT_REGISTER for agent `id` on `peer` declaring `http_address`;
 * returns the master's answer (AGENT_REGISTERED or ERROR). */
static struct msg *
register_as(struct harness *h, uint32_t peer, const char *id, const char *http_address,
            const char *res)
{
    struct msg msg;
    char err[256];
    size_t from = h->nsent;

    msg_init(&msg, MSG_AGENT_REGISTER);
    msg.u.agent_register.agent_id = xstrdup(id);
    msg.u.agent_register.hostname = xstrdup("host1");
    msg.u.agent_register.http_address = xstrdup(http_address);
    msg.u.agent_register.version = xstrdup("test");
    CHECK_EQ_INT(res_parse(&msg.u.agent_register.resources, res, err, sizeof(err)), 0);
    deliver(h, peer, &msg);
    for (size_t i = from; i < h->nsent; i++)
        if (h->sent[i].peer == peer && (h->sent[i].msg.type == MSG_AGENT_REGISTERED ||
                                        h->sent[i].msg.type == MSG_ERROR))
            return &h->sent[i].msg;
    return NULL;
}

/* agent1's agent on AGENT_PEER, alice's framework on FW_PEER running task t1 on
 * it; the framework's id in `fwid`, the agent's in `agent_id`. */
static void
auth_cluster_acls(struct harness *h, char *fwid, char *agent_id, const char *acls)
{
    struct msg *r;

    harness_start_auth_acls(h, acls);
    authenticate(h, AGENT_PEER, "10.0.0.1", "agent1", "g-secret");
    r = register_as(h, AGENT_PEER, "", "10.0.0.1:5051", "cpus:4;mem:1024");
    CHECK(r != NULL && r->type == MSG_AGENT_REGISTERED);
    snprintf(agent_id, AG_ID_MAX, "%s", r->u.agent_registered.agent_id);
    authenticate(h, FW_PEER, "10.0.0.9", "alice", "a-secret");
    r = subscribe_as(h, FW_PEER, "", "", NULL);
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    snprintf(fwid, AG_ID_MAX, "%s", r->u.subscribed.framework_id);
    turn(h);
    r = next_sent(h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL && r->u.offers.noffers == 1);
    accept_launch(h, r->u.offers.offers[0].offer_id, "t1", "cpus:1;mem:128", 0);
    CHECK(next_sent(h, AGENT_PEER, MSG_RUN_TASK) != NULL);
}

static void
auth_cluster(struct harness *h, char *fwid, char *agent_id)
{
    auth_cluster_acls(h, fwid, agent_id, NULL);
}

/* The framework is alice's, connected on FW_PEER with task t1, never told an error. */
static void
check_fw_intact(struct harness *h, const char *fwid)
{
    struct framework *fw = core_framework(h->m, fwid);
    CHECK(fw != NULL);
    CHECK_EQ_STR(fw->principal, "alice");
    CHECK_EQ_INT((int)fw->peer, FW_PEER);
    CHECK_EQ_INT((int)fw->state, FW_ACTIVE);
    CHECK_EQ_INT((int)hmap_size(&fw->tasks), 1);
    CHECK_EQ_INT((int)count_sent(h, FW_PEER, MSG_ERROR, 0), 0);
    CHECK_EQ_INT((int)count_sent(h, AGENT_PEER, MSG_KILL_TASK, 0), 0);
    CHECK_EQ_INT((int)count_sent(h, AGENT_PEER, MSG_SHUTDOWN_FRAMEWORK, 0), 0);
    CHECK_EQ_INT(master_check_books(h->m, print_problem, NULL), 0);
}

/* With authentication, a framework id is its principal's: another principal's
 * SUBSCRIBE with it is refused and changes nothing (also after a master
 * restart: the registry keeps the principal); its own principal fails over. */
static void
test_framework_owned_by_principal(void)
{
    struct harness h;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX];
    struct msg *r;

    auth_cluster(&h, fwid, agent_id);
    check_fw_intact(&h, fwid);

    /* bob, authenticated, takes over alice's framework: refused */
    authenticate(&h, FW2_PEER, "10.0.0.66", "bob", "b-secret");
    r = subscribe_as(&h, FW2_PEER, fwid, "", NULL);
    CHECK(r != NULL && r->type == MSG_ERROR);
    CHECK_EQ_INT(r->u.error.code, -AG_EPERM);
    CHECK(strstr(r->u.error.message, "another principal") != NULL);
    check_fw_intact(&h, fwid);
    /* ... nor by naming alice as the framework's principal */
    {
        struct msg msg;
        msg_init(&msg, MSG_SUBSCRIBE);
        msg.u.subscribe.framework.framework_id = xstrdup(fwid);
        msg.u.subscribe.framework.name = xstrdup("fw");
        msg.u.subscribe.framework.principal = xstrdup("alice");
        deliver(&h, FW2_PEER, &msg);
        r = next_sent(&h, FW2_PEER, MSG_ERROR);
        CHECK(r != NULL && r->u.error.code == -AG_EPERM);
    }
    check_fw_intact(&h, fwid);
    /* ... nor by authenticating the same connection again as alice without her secret */
    {
        struct msg msg;
        msg_init(&msg, MSG_AUTH_START);
        msg.u.auth_start.principal = xstrdup("alice");
        msg.u.auth_start.mechanism = xstrdup(MSG_AUTH_MECHANISM);
        deliver(&h, FW2_PEER, &msg);
        r = next_sent(&h, FW2_PEER, MSG_AUTH_RESULT);
        CHECK(r != NULL && !r->u.auth_result.ok);
        CHECK_EQ_STR(core_peer(h.m, FW2_PEER)->principal, "bob");
    }
    /* bob's own new framework is fine */
    r = subscribe_as(&h, FW2_PEER, "", "", NULL);
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    check_fw_intact(&h, fwid);

    /* After a master restart the id is still alice's. */
    harness_restart(&h);
    authenticate(&h, FW2_PEER, "10.0.0.66", "bob", "b-secret");
    r = subscribe_as(&h, FW2_PEER, fwid, "", NULL);
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EPERM);
    CHECK_EQ_STR(core_framework(h.m, fwid)->principal, "alice");
    CHECK_EQ_INT((int)core_framework(h.m, fwid)->peer, 0);

    /* alice fails over to a new connection: allowed */
    authenticate(&h, FW3_PEER, "10.0.0.10", "alice", "a-secret");
    r = subscribe_as(&h, FW3_PEER, fwid, "", NULL);
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    CHECK_EQ_STR(r->u.subscribed.framework_id, fwid);
    CHECK_EQ_INT((int)core_framework(h.m, fwid)->peer, FW3_PEER);
    harness_stop_auth(&h);
}

/* Every call on a framework from a connection of another principal is refused
 * and changes nothing; the owner's calls work. */
static void
test_calls_need_the_owner(void)
{
    struct harness h;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX];
    static const enum msg_type calls[] = {MSG_ACCEPT, MSG_DECLINE,   MSG_REVIVE,
                                          MSG_SUPPRESS, MSG_KILL,    MSG_RECONCILE,
                                          MSG_STATUS_ACK, MSG_TEARDOWN, MSG_FRAMEWORK_MESSAGE};
    struct peer *p;
    struct msg msg, *r;

    auth_cluster(&h, fwid, agent_id);
    /* A connection bound to alice's framework but authenticated as bob (the
     * protocol offers no way there now: this is the second line of defence). */
    p = core_peer(h.m, FW_PEER);
    CHECK(p != NULL);
    snprintf(p->principal, sizeof(p->principal), "bob");
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        size_t before = count_sent(&h, FW_PEER, MSG_ERROR, 0);
        msg_init(&msg, calls[i]);
        if (calls[i] == MSG_KILL) {
            msg.u.kill.task_id = xstrdup("t1");
            msg.u.kill.agent_id = xstrdup(agent_id);
        } else if (calls[i] == MSG_FRAMEWORK_MESSAGE) {
            msg.u.framework_message.agent_id = xstrdup(agent_id);
            msg.u.framework_message.executor_id = xstrdup("t1");
            msg.u.framework_message.framework_id = xstrdup(fwid);
        } else if (calls[i] == MSG_STATUS_ACK) {
            msg.u.status_ack.task_id = xstrdup("t1");
            msg.u.status_ack.agent_id = xstrdup(agent_id);
            msg.u.status_ack.uuid = xstrdup("5f0e8a1c-0000-4000-8000-000000000002");
        }
        deliver(&h, FW_PEER, &msg);
        CHECK_EQ_INT((int)count_sent(&h, FW_PEER, MSG_ERROR, 0), (int)before + 1);
        r = &h.sent[h.nsent - 1].msg;
        CHECK(r->type == MSG_ERROR && r->u.error.code == -AG_EPERM);
        CHECK_EQ_INT((int)count_sent(&h, AGENT_PEER, MSG_KILL_TASK, 0), 0);
        CHECK_EQ_INT((int)count_sent(&h, AGENT_PEER, MSG_FRAMEWORK_MESSAGE, 0), 0);
        CHECK_EQ_INT((int)count_sent(&h, AGENT_PEER, MSG_SHUTDOWN_FRAMEWORK, 0), 0);
        CHECK(core_framework(h.m, fwid) != NULL);
        CHECK_EQ_INT((int)hmap_size(&core_framework(h.m, fwid)->tasks), 1);
    }
    /* alice's own connection: KILL goes through */
    snprintf(p->principal, sizeof(p->principal), "alice");
    msg_init(&msg, MSG_KILL);
    msg.u.kill.task_id = xstrdup("t1");
    msg.u.kill.agent_id = xstrdup(agent_id);
    deliver(&h, FW_PEER, &msg);
    CHECK(next_sent(&h, AGENT_PEER, MSG_KILL_TASK) != NULL);
    harness_stop_auth(&h);
}

/* The agent is agent1's, connected on AGENT_PEER with `total` and task t1. */
static void
check_agent_intact(struct harness *h, const char *agent_id, const char *total)
{
    struct agent *a = core_agent(h->m, agent_id);
    char text[256];

    CHECK(a != NULL);
    CHECK_EQ_INT((int)a->peer, AGENT_PEER);
    CHECK_EQ_INT((int)a->state, AGENT_ACTIVE);
    CHECK_EQ_STR(a->http_address, "10.0.0.1:5051");
    res_format(&a->total, text, sizeof(text));
    CHECK_EQ_STR(text, total);
    CHECK_EQ_INT((int)hmap_size(&a->tasks), 1);
    CHECK_EQ_INT(master_check_books(h->m, print_problem, NULL), 0);
}

/* With authentication, an agent id is its principal's: another principal's
 * AGENT_REGISTER with it is refused (connected or not) and changes nothing;
 * the agent itself re-registers. */
static void
test_agent_owned_by_principal(void)
{
    struct harness h;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX], total[256];
    struct msg *r;

    auth_cluster(&h, fwid, agent_id);
    res_format(&core_agent(h.m, agent_id)->total, total, sizeof(total));
    CHECK_EQ_STR(core_agent(h.m, agent_id)->principal, "agent1");

    authenticate(&h, AGENT2_PEER, "10.0.0.1", "bob", "b-secret");
    r = register_as(&h, AGENT2_PEER, agent_id, "10.0.0.1:5051", "cpus:64;mem:100000");
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EPERM);
    check_agent_intact(&h, agent_id, total);
    check_fw_intact(&h, fwid);
    CHECK(next_sent(&h, FW_PEER, MSG_STATUS_UPDATE) == NULL); /* no TASK_GONE */

    /* agent1 itself, from a new connection on the same host: allowed */
    authenticate(&h, FW3_PEER, "10.0.0.1", "agent1", "g-secret");
    r = register_as(&h, FW3_PEER, agent_id, "10.0.0.1:5051", "cpus:4;mem:1024");
    CHECK(r != NULL && r->type == MSG_AGENT_REGISTERED);
    CHECK_EQ_INT((int)core_agent(h.m, agent_id)->peer, FW3_PEER);
    harness_stop_auth(&h);
}

/* Without authentication: re-registering a connected agent's id from another
 * address is refused and changes nothing; from its own address, or once it is
 * disconnected, it works as before. */
static void
test_agent_reregister_address(void)
{
    struct harness h;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX];
    struct msg *r;

    harness_start(&h);
    master_peer_connect(h.m, AGENT_PEER);
    master_peer_set_addr(h.m, AGENT_PEER, "10.0.0.1");
    r = register_as(&h, AGENT_PEER, "", "10.0.0.1:5051", "cpus:4;mem:1024");
    CHECK(r != NULL && r->type == MSG_AGENT_REGISTERED);
    snprintf(agent_id, sizeof(agent_id), "%s", r->u.agent_registered.agent_id);
    subscribe(&h, FW_PEER, "fw1", NULL, fwid, sizeof(fwid));
    turn(&h);
    r = next_sent(&h, FW_PEER, MSG_OFFERS);
    CHECK(r != NULL);
    accept_launch(&h, r->u.offers.offers[0].offer_id, "t1", "cpus:1;mem:128", 0);
    CHECK(next_sent(&h, AGENT_PEER, MSG_RUN_TASK) != NULL);

    /* another host */
    master_peer_connect(h.m, AGENT2_PEER);
    master_peer_set_addr(h.m, AGENT2_PEER, "10.0.0.2");
    r = register_as(&h, AGENT2_PEER, agent_id, "10.0.0.1:5051", "cpus:64;mem:100000");
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EEXIST);
    check_agent_intact(&h, agent_id, "cpus:4;mem:1024");
    /* the same host declaring another HTTP address */
    master_peer_connect(h.m, FW3_PEER);
    master_peer_set_addr(h.m, FW3_PEER, "10.0.0.1");
    r = register_as(&h, FW3_PEER, agent_id, "10.0.0.1:6666", "cpus:64;mem:100000");
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EEXIST);
    check_agent_intact(&h, agent_id, "cpus:4;mem:1024");
    CHECK(next_sent(&h, FW_PEER, MSG_STATUS_UPDATE) == NULL);

    /* the agent again from its own address: allowed (it replaces its old connection) */
    r = register_as(&h, FW3_PEER, agent_id, "10.0.0.1:5051", "cpus:4;mem:1024");
    CHECK(r != NULL && r->type == MSG_AGENT_REGISTERED);
    CHECK_EQ_INT((int)core_agent(h.m, agent_id)->peer, FW3_PEER);
    /* once disconnected, it may come back from anywhere, as before */
    master_peer_disconnect(h.m, FW3_PEER);
    r = register_as(&h, AGENT2_PEER, agent_id, "10.0.0.2:5051", "cpus:4;mem:1024");
    CHECK(r != NULL && r->type == MSG_AGENT_REGISTERED);
    harness_stop(&h);
}

/* webui_url: http:// and https:// only; anything else is refused. */
static void
test_webui_url_schemes(void)
{
    struct harness h;
    static const char *bad[] = {"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x",
                                "//evil.example", "ftp://x", " http://x"};
    static const char *good[] = {"", "http://fw.example:8080/", "HTTPS://fw.example/ui"};
    struct msg *r;

    harness_start(&h);
    master_peer_connect(h.m, FW_PEER);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = subscribe_as(&h, FW_PEER, "", bad[i], NULL);
        CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EINVAL);
        CHECK(strstr(r->u.error.message, "webui_url") != NULL);
        CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), 0);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        master_peer_connect(h.m, 10 + (uint32_t)i);
        r = subscribe_as(&h, 10 + (uint32_t)i, "", good[i], NULL);
        CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
        CHECK_EQ_STR(core_framework(h.m, r->u.subscribed.framework_id)->info.webui_url, good[i]);
    }
    harness_stop(&h);
}

/* --acls on the message stream: register_agents, register_frameworks (each
 * role) and run_tasks (root only where a rule allows it); a refusal changes
 * nothing. */
static void
test_acls(void)
{
    static const char acls[] =
        "{\"register_agents\": ["
        "   {\"principals\": {\"values\": [\"agent1\"]}, \"agents\": {\"type\": \"ANY\"}},"
        "   {\"principals\": {\"type\": \"ANY\"}, \"agents\": {\"type\": \"NONE\"}}],"
        " \"register_frameworks\": ["
        "   {\"principals\": {\"values\": [\"alice\"]}, \"roles\": {\"values\": [\"r1\"]}},"
        "   {\"principals\": {\"type\": \"NONE\"}, \"roles\": {\"values\": [\"r1\"]}}],"
        " \"run_tasks\": ["
        "   {\"principals\": {\"values\": [\"alice\"]}, \"users\": {\"values\": [\"nobody\"]}},"
        "   {\"principals\": {\"values\": [\"alice\"]}, \"users\": {\"values\": [\"games\"]}},"
        "   {\"principals\": {\"values\": [\"alice\"]}, \"users\": {\"type\": \"NONE\"}}]}";
    struct harness h;
    char fwid[AG_ID_MAX], agent_id[AG_ID_MAX];
    struct msg *r;
    size_t nfw;

    /* agent1 registers, alice subscribes ("*", permissive) and runs t1 as nobody */
    auth_cluster_acls(&h, fwid, agent_id, acls);
    check_fw_intact(&h, fwid);

    /* alice's tasks: as games (a rule) yes; as root (no rule allows it) and as
     * daemon (the NONE rule) no: TASK_ERROR, nothing launched */
    static const struct {
        const char *user;
        bool ok;
    } cases[] = {{"root", false}, {"daemon", false}, {"games", true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tid[16];
        size_t runs = count_sent(&h, AGENT_PEER, MSG_RUN_TASK, 0);
        turn(&h);
        r = next_sent(&h, FW_PEER, MSG_OFFERS);
        CHECK(r != NULL && r->u.offers.noffers == 1);
        snprintf(tid, sizeof(tid), "u%zu", i);
        accept_launch_as(&h, r->u.offers.offers[0].offer_id, tid, "cpus:0.5;mem:32", 0,
                         cases[i].user);
        CHECK_EQ_INT((int)count_sent(&h, AGENT_PEER, MSG_RUN_TASK, 0), (int)runs + cases[i].ok);
        CHECK_EQ_INT((int)(hmap_get(&core_framework(h.m, fwid)->tasks, tid) != NULL),
                     (int)cases[i].ok);
        if (!cases[i].ok) {
            r = next_sent(&h, FW_PEER, MSG_STATUS_UPDATE);
            CHECK(r != NULL && r->u.status_update.status.state == MSG_TASK_ERROR);
            CHECK(strstr(r->u.status_update.status.message, "not permitted") != NULL);
            CHECK(strstr(r->u.status_update.status.message, cases[i].user) != NULL);
        }
        CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    }

    /* bob may not register an agent */
    authenticate(&h, AGENT2_PEER, "10.0.0.2", "bob", "b-secret");
    r = register_as(&h, AGENT2_PEER, "", "10.0.0.2:5051", "cpus:64;mem:100000");
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EPERM);
    CHECK(strstr(r->u.error.message, "not permitted") != NULL);
    CHECK_EQ_INT((int)master_agent_count(h.m), 1);

    /* bob may not register a framework in r1; in r2 (no rule: permissive) he may */
    nfw = hmap_size(&h.m->frameworks);
    authenticate(&h, FW2_PEER, "10.0.0.66", "bob", "b-secret");
    r = subscribe_as(&h, FW2_PEER, "", "", "r1");
    CHECK(r != NULL && r->type == MSG_ERROR && r->u.error.code == -AG_EPERM);
    CHECK(strstr(r->u.error.message, "role 'r1'") != NULL);
    CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), (int)nfw);
    r = subscribe_as(&h, FW2_PEER, "", "", "r2");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    /* alice may register in r1 */
    authenticate(&h, FW3_PEER, "10.0.0.10", "alice", "a-secret");
    r = subscribe_as(&h, FW3_PEER, "", "", "r1");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);

    harness_stop_auth(&h);

    /* A malformed --acls stops the master from starting. */
    harness_start(&h);
    h.flags.acls = "{\"run_tasks\": 1}";
    master_stop(h.m);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    master_free(h.m);
    h.m = master_new("0a1b2c3d-0000-4000-8000-000000000009", NULL);
    CHECK(h.m != NULL);
    CHECK_EQ_INT(master_start(h.m, &h.loop, &h.flags), -AG_EINVAL);
    h.flags.acls = NULL;
    harness_stop(&h);
}

/* The refused SUBSCRIBE's ERROR: code -AG_ENOSPC and `why` in its message. */
static void
check_limit_error(const struct msg *r, const char *why)
{
    CHECK(r != NULL && r->type == MSG_ERROR);
    CHECK_EQ_INT(r->u.error.code, -AG_ENOSPC);
    CHECK(strstr(r->u.error.message, why) != NULL);
}

/* --max_frameworks_per_principal, --max_roles_per_framework, --max_roles: a
 * SUBSCRIBE beyond them gets ERROR and admits nothing; within them it works,
 * and a failover does not count against its own framework. */
static void
test_subscribe_limits(void)
{
    struct harness h;
    struct msg msg, *r;
    char fwa[AG_ID_MAX];
    size_t nfw, from;

    harness_start_auth_acls(&h, NULL);
    h.flags.max_frameworks_per_principal = 2;
    h.flags.max_roles_per_framework = 2;
    h.flags.max_roles = 3;
    harness_restart(&h);

    authenticate(&h, FW_PEER, "10.0.0.9", "alice", "a-secret");
    r = subscribe_as(&h, FW_PEER, "", "", "r1");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    snprintf(fwa, sizeof(fwa), "%s", r->u.subscribed.framework_id);
    authenticate(&h, FW2_PEER, "10.0.0.9", "alice", "a-secret");
    r = subscribe_as(&h, FW2_PEER, "", "", "r2");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    /* alice's third framework is refused; bob's first is not */
    nfw = hmap_size(&h.m->frameworks);
    authenticate(&h, FW3_PEER, "10.0.0.9", "alice", "a-secret");
    check_limit_error(subscribe_as(&h, FW3_PEER, "", "", "r1"), "--max_frameworks_per_principal");
    CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), (int)nfw);
    authenticate(&h, 6, "10.0.0.7", "bob", "b-secret");
    r = subscribe_as(&h, 6, "", "", "r3");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    /* a fourth distinct role is one too many; a known role is fine */
    authenticate(&h, 7, "10.0.0.7", "bob", "b-secret");
    check_limit_error(subscribe_as(&h, 7, "", "", "r4"), "--max_roles");
    CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), (int)nfw + 1);
    r = subscribe_as(&h, 7, "", "", "r1");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    /* alice fails her first framework over: not a new one, not refused */
    authenticate(&h, 8, "10.0.0.9", "alice", "a-secret");
    r = subscribe_as(&h, 8, fwa, "", "r1");
    CHECK(r != NULL && r->type == MSG_SUBSCRIBED);
    CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), (int)nfw + 2);

    /* three roles in one SUBSCRIBE: more than --max_roles_per_framework */
    authenticate(&h, 9, "10.0.0.7", "bob", "b-secret");
    msg_init(&msg, MSG_SUBSCRIBE);
    msg.u.subscribe.framework.framework_id = xstrdup("");
    msg.u.subscribe.framework.name = xstrdup("multi");
    msg.u.subscribe.framework.user = xstrdup("nobody");
    msg.u.subscribe.framework.principal = xstrdup("");
    msg.u.subscribe.framework.hostname = xstrdup("");
    msg.u.subscribe.framework.webui_url = xstrdup("");
    msg.u.subscribe.framework.roles = calloc(3, sizeof(char *));
    CHECK(msg.u.subscribe.framework.roles != NULL);
    for (int i = 0; i < 3; i++)
        msg.u.subscribe.framework.roles[i] = xstrdup(i == 0 ? "r1" : i == 1 ? "r2" : "r3");
    msg.u.subscribe.framework.nroles = 3;
    from = h.nsent;
    deliver(&h, 9, &msg);
    r = NULL;
    for (size_t i = from; i < h.nsent; i++)
        if (h.sent[i].peer == 9 && h.sent[i].msg.type == MSG_ERROR)
            r = &h.sent[i].msg;
    check_limit_error(r, "--max_roles_per_framework");
    CHECK_EQ_INT((int)hmap_size(&h.m->frameworks), (int)nfw + 2);
    CHECK_EQ_INT(master_check_books(h.m, print_problem, NULL), 0);
    harness_stop_auth(&h);
}

TEST_LIST(TEST_ENTRY(register_subscribe_launch), TEST_ENTRY(invalid_task), TEST_ENTRY(drain),
          TEST_ENTRY(drain_survives_restart),
          TEST_ENTRY(reserve), TEST_ENTRY(operations_allocate_at_once), TEST_ENTRY(teardown),
          TEST_ENTRY(framework_owned_by_principal), TEST_ENTRY(calls_need_the_owner),
          TEST_ENTRY(agent_owned_by_principal), TEST_ENTRY(agent_reregister_address),
          TEST_ENTRY(webui_url_schemes), TEST_ENTRY(acls), TEST_ENTRY(subscribe_limits));
TEST_MAIN()
