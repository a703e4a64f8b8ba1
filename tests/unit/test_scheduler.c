/*
 * libagora-scheduler: builders and accessors, out-of-memory safety of the API
 * surface, the token bucket, and the driver against a fake master (a
 * tp_server on its own loop thread that answers SUBSCRIBE and records every
 * message it receives).
 */
#include "error.h"

#include "auth.h"
#include "evq.h"
#include "msg.h"
#include "ratelimit.h"
#include "sched_internal.h"
#include "test.h"
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

/* ---- allocation failure injection (not under ASan, which owns malloc) ---- */

#if !defined(__SANITIZE_ADDRESS__)
#define OOM_TESTS 1

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static __thread int oom_armed;
static __thread long oom_countdown;
static __thread long oom_live; /* allocations minus frees in this thread */

static bool
oom_fail(void)
{
    if (!oom_armed)
        return false;
    if (oom_countdown-- <= 0)
        return true;
    return false;
}

void *
malloc(size_t n)
{
    void *p;

    if (oom_fail())
        return NULL;
    if ((p = __libc_malloc(n)) != NULL)
        oom_live++;
    return p;
}

void *
calloc(size_t n, size_t m)
{
    void *p;

    if (oom_fail())
        return NULL;
    if ((p = __libc_calloc(n, m)) != NULL)
        oom_live++;
    return p;
}

void *
realloc(void *old, size_t n)
{
    void *p;

    if (old == NULL)
        return malloc(n);
    if (n == 0) {
        free(old);
        return NULL;
    }
    if (oom_fail())
        return NULL;
    p = __libc_realloc(old, n);
    return p;
}

void
free(void *p)
{
    if (p != NULL)
        oom_live--;
    __libc_free(p);
}
#endif

/* ---- builders and accessors ---- */

static void
test_framework_info(void)
{
    struct ag_framework_info *fi = ag_framework_info_new();

    CHECK(fi != NULL);
    CHECK_EQ_INT(ag_framework_info_set_name(fi, "web"), 0);
    CHECK_EQ_INT(ag_framework_info_add_role(fi, "web"), 0);
    CHECK_EQ_INT(ag_framework_info_add_role(fi, "web"), 0); /* twice: no-op */
    CHECK_EQ_INT(ag_framework_info_add_role(fi, "eng/ml"), 0);
    CHECK_EQ_INT(fi->fi.nroles, 2);
    CHECK_EQ_INT(ag_framework_info_add_role(fi, "bad role"), -AG_EINVAL);
    CHECK(strstr(ag_last_error(), "bad role") != NULL);
    CHECK_EQ_INT(ag_framework_info_add_role(fi, ".."), -AG_EINVAL);
    CHECK_EQ_INT(ag_framework_info_add_capability(fi, "PARTITION_AWARE"), 0);
    CHECK_EQ_INT(ag_framework_info_set_principal(fi, "alice", "s3cret"), 0);
    CHECK_EQ_STR(fi->fi.principal, "alice");
    CHECK_EQ_STR(fi->secret, "s3cret");
    CHECK_EQ_INT(ag_framework_info_set_principal(fi, "bob", NULL), 0);
    CHECK(fi->secret == NULL);
    CHECK_EQ_INT(ag_framework_info_set_failover_timeout(fi, 3600), 0);
    CHECK_EQ_INT(ag_framework_info_set_failover_timeout(fi, -1), -AG_EINVAL);
    CHECK(fi->fi.failover_timeout_s == 3600);
    CHECK_EQ_INT(ag_framework_info_set_checkpoint(fi, true), 0);
    CHECK_EQ_INT(ag_framework_info_set_framework_id(fi, "abc-0001"), 0);
    CHECK_EQ_INT(ag_framework_info_set_framework_id(fi, "a/b"), -AG_EINVAL);
    CHECK_EQ_STR(fi->fi.framework_id, "abc-0001");
    CHECK_EQ_INT(ag_framework_info_set_name(NULL, "x"), -AG_EINVAL);
    CHECK_EQ_INT(ag_framework_info_set_name(fi, NULL), -AG_EINVAL);
    ag_framework_info_free(fi);
    ag_framework_info_free(NULL);
}

static void
test_task_builder(void)
{
    const char *argv[] = {"/bin/echo", "hello", "world"};
    struct ag_task *t, *c;

    CHECK(ag_task_new("bad id", NULL, NULL) == NULL);
    CHECK(strstr(ag_last_error(), "invalid task id") != NULL);
    CHECK(ag_task_new(NULL, NULL, NULL) == NULL);
    CHECK(ag_task_new("t1", NULL, "bad/agent") == NULL);
    t = ag_task_new("t1", NULL, NULL);
    CHECK(t != NULL);
    CHECK_EQ_STR(ag_task_id(t), "t1");
    CHECK_EQ_STR(t->t.name, "t1");
    CHECK_EQ_STR(ag_task_agent_id(t), "");
    CHECK_EQ_INT(ag_task_set_resources(t, "cpus:0.1;mem:32"), 0);
    CHECK_EQ_INT(res_scalar(&t->t.resources, "cpus"), 100);
    CHECK_EQ_INT(ag_task_set_resources(t, "cpus:x2"), -AG_EINVAL);
    CHECK(strstr(ag_last_error(), "x2") != NULL);
    CHECK_EQ_INT(res_scalar(&t->t.resources, "mem"), 32000); /* unchanged */
    CHECK_EQ_INT(ag_task_set_command(t, "echo hi"), 0);
    CHECK(t->t.command.shell);
    CHECK_EQ_INT(ag_task_set_argv(t, 3, argv), 0);
    CHECK(!t->t.command.shell);
    CHECK_EQ_STR(t->t.command.value, "/bin/echo");
    CHECK_EQ_INT(t->t.command.narguments, 3);
    CHECK_EQ_STR(t->t.command.arguments[2], "world");
    CHECK_EQ_INT(ag_task_set_argv(t, 0, argv), -AG_EINVAL);
    CHECK_EQ_INT(ag_task_add_env(t, "A", "1"), 0);
    CHECK_EQ_INT(ag_task_add_env(t, "A", "2"), 0);
    CHECK_EQ_INT(ag_task_add_env(t, "B", "3"), 0);
    CHECK_EQ_INT(ag_task_add_env(t, "C=D", "3"), -AG_EINVAL);
    CHECK_EQ_INT(t->t.command.nenvironment, 2);
    CHECK_EQ_STR(t->t.command.environment[0].value, "2");
    CHECK_EQ_INT(ag_task_add_label(t, "team", "infra"), 0);
    CHECK_EQ_INT(ag_task_set_user(t, "nobody"), 0);
    CHECK_EQ_INT(ag_task_set_image(t, "busybox"), 0);
    CHECK_EQ_INT(ag_task_set_network(t, "none"), 0);
    CHECK_EQ_INT(ag_task_set_kill_grace(t, 2500), 0);
    CHECK_EQ_INT(ag_task_set_kill_grace(t, -5), -AG_EINVAL);
    CHECK_EQ_INT(ag_task_set_health_check_timing(t, 1, 2, 3, 4, 5), -AG_ESTATE);
    CHECK_EQ_INT(ag_task_set_health_check_http(t, 0, 1, "/health"), 0);
    CHECK_EQ_INT(ag_task_set_health_check_timing(t, 1, 2, 3, 4, -1), 0);
    CHECK(t->t.has_health_check);
    CHECK_EQ_STR(t->t.health_check.type, "HTTP");
    CHECK_EQ_INT(t->t.health_check.port_index, 1);
    CHECK(t->t.health_check.interval_s == 2);
    CHECK(t->t.health_check.grace_period_s == 10); /* default kept */
    CHECK_EQ_INT(ag_task_set_health_check_tcp(t, 8080, 0), 0);
    CHECK(t->t.health_check.interval_s == 2); /* timing survives a new type */
    CHECK_EQ_INT(ag_task_set_health_check_tcp(t, 70000, 0), -AG_EINVAL);
    CHECK_EQ_INT(ag_task_set_health_check_command(t, ""), -AG_EINVAL);
    c = ag_task_dup(t);
    CHECK(c != NULL);
    CHECK(msg_task_info_equal(&c->t, &t->t));
    ag_task_clear_health_check(c);
    CHECK(!c->t.has_health_check);
    ag_task_free(c);
    ag_task_free(t);
    ag_task_free(NULL);
}

static void
test_operations(void)
{
    struct ag_task *t = ag_task_new("t1", "one", "agent-S1");
    struct ag_operation *op;

    CHECK(t != NULL);
    CHECK(ag_operation_launch(NULL, 0) == NULL);
    op = ag_operation_launch(&t, 1);
    CHECK(op != NULL);
    CHECK_EQ_STR(op->op.type, "LAUNCH");
    CHECK_EQ_INT(op->op.ntasks, 1);
    CHECK_EQ_STR(op->op.tasks[0].agent_id, "agent-S1");
    ag_operation_free(op);
    op = ag_operation_reserve("cpus(web):1;mem(web):128");
    CHECK(op != NULL);
    CHECK_EQ_STR(op->op.type, "RESERVE");
    ag_operation_free(op);
    CHECK(ag_operation_reserve("") == NULL);
    CHECK(ag_operation_unreserve("cpus:-1") == NULL);
    ag_task_free(t);
    CHECK_EQ_STR(ag_task_state_name(AG_TASK_RUNNING), "TASK_RUNNING");
    CHECK_EQ_STR(ag_task_state_name(AG_TASK_UNREACHABLE), "TASK_UNREACHABLE");
    CHECK(ag_task_state_terminal(AG_TASK_FINISHED));
    CHECK(!ag_task_state_terminal(AG_TASK_KILLING));
    CHECK_EQ_STR(ag_strerror(-AG_ENOMEM), ag_strerror(AG_ENOMEM));
    CHECK_EQ_INT(ag_log_level("WARNING"), 0);
    CHECK_EQ_INT(ag_log_level("LOUD"), -AG_EINVAL);
    ag_log_level("INFO");
}

/* An offer as the driver builds it from a decoded OFFERS message. */
static struct ag_offer *
make_offer(const char *id, const char *agent, const char *res, const char *attrs)
{
    struct ag_offer *o = calloc(1, sizeof(*o));
    char err[200];

    CHECK(o != NULL);
    msg_offer_init(&o->o);
    o->o.offer_id = strdup(id);
    o->o.agent_id = strdup(agent);
    o->o.hostname = strdup("host1");
    o->o.allocation_role = strdup("*");
    CHECK(res_parse(&o->o.resources, res, err, sizeof(err)) == 0);
    CHECK(attr_parse(&o->o.attributes, attrs, err, sizeof(err)) == 0);
    CHECK(sched_offer_texts(o) == 0);
    return o;
}

static void
test_offer_accessors(void)
{
    struct ag_offer *o = make_offer(
        "o1", "a1", "cpus:2;cpus(web):1;mem:1024;ports:[31000-31005,32000]", "rack:r1;level:3");
    struct ag_offer *c;
    uint64_t b, e;

    CHECK_EQ_STR(ag_offer_id(o), "o1");
    CHECK_EQ_STR(ag_offer_agent_id(o), "a1");
    CHECK_EQ_STR(ag_offer_hostname(o), "host1");
    CHECK_EQ_STR(ag_offer_agent_http(o), "");
    CHECK_EQ_STR(ag_offer_allocation_role(o), "*");
    CHECK(strstr(ag_offer_resources(o), "cpus(web):1") != NULL);
    CHECK_EQ_STR(ag_offer_attributes(o), "rack:r1;level:3");
    CHECK(ag_offer_scalar(o, "cpus") == 3);
    CHECK(ag_offer_scalar(o, "gpus") == 0);
    CHECK(ag_offer_scalar_role(o, "cpus", NULL) == 2);
    CHECK(ag_offer_scalar_role(o, "cpus", "web") == 1);
    CHECK(ag_offer_scalar_role(o, "mem", "web") == 0);
    CHECK_EQ_INT(ag_offer_range_count(o, "ports"), 7);
    CHECK_EQ_INT(ag_offer_range(o, "ports", 0, &b, &e), 0);
    CHECK(b == 31000 && e == 31005);
    CHECK_EQ_INT(ag_offer_range(o, "ports", 1, &b, &e), 0);
    CHECK(b == 32000 && e == 32000);
    CHECK_EQ_INT(ag_offer_range(o, "ports", 2, &b, &e), -AG_ENOENT);
    CHECK_EQ_STR(ag_offer_attribute(o, "rack"), "r1");
    CHECK(ag_offer_attribute(o, "zone") == NULL);
    CHECK(ag_offer_attribute_matches(o, "level", "3.0"));
    CHECK(!ag_offer_attribute_matches(o, "rack", "r2"));
    c = ag_offer_dup(o);
    CHECK(c != NULL);
    CHECK_EQ_STR(ag_offer_resources(c), ag_offer_resources(o));
    CHECK_EQ_STR(ag_offer_attributes(c), ag_offer_attributes(o));
    ag_offer_free(o);
    CHECK_EQ_STR(ag_offer_id(c), "o1");
    ag_offer_free(c);
    CHECK_EQ_STR(ag_offer_id(NULL), "");
}

static void
test_status_accessors(void)
{
    struct ag_task_status s, *c;

    msg_task_status_init(&s.s);
    s.s.task_id = strdup("t1");
    s.s.agent_id = strdup("a1");
    s.s.state = MSG_TASK_FAILED;
    s.s.reason = strdup("REASON_CONTAINER_LIMITATION_MEMORY");
    s.s.message = strdup("oom");
    s.s.uuid = strdup("u-1");
    s.s.healthy = MSG_TRI_FALSE;
    s.s.timestamp = 12.5;
    CHECK_EQ_STR(ag_status_task_id(&s), "t1");
    CHECK_EQ_STR(ag_status_agent_id(&s), "a1");
    CHECK_EQ_INT(ag_status_state(&s), AG_TASK_FAILED);
    CHECK_EQ_STR(ag_status_reason(&s), "REASON_CONTAINER_LIMITATION_MEMORY");
    CHECK_EQ_STR(ag_status_message(&s), "oom");
    CHECK_EQ_STR(ag_status_uuid(&s), "u-1");
    CHECK_EQ_STR(ag_status_source(&s), "");
    CHECK_EQ_INT(ag_status_healthy(&s), 0);
    CHECK(ag_status_timestamp(&s) == 12.5);
    c = ag_status_dup(&s);
    CHECK(c != NULL);
    msg_task_status_fini(&s.s);
    CHECK_EQ_STR(ag_status_task_id(c), "t1");
    c->s.healthy = MSG_TRI_UNSET;
    CHECK_EQ_INT(ag_status_healthy(c), -1);
    ag_status_free(c);
}

static void
test_rate_limit(void)
{
    struct rl r;
    int n = 0;

    rl_init(&r, 10, 3, 1000);
    while (rl_take(&r, 1000))
        n++;
    CHECK_EQ_INT(n, 3); /* the burst */
    CHECK_EQ_INT(rl_wait_ms(&r, 1000), 100);
    CHECK(!rl_take(&r, 1050));
    CHECK(rl_take(&r, 1100));
    CHECK(!rl_take(&r, 1100));
    CHECK(!rl_take(&r, 900)); /* the clock went back: nothing refilled */
    n = 0;
    for (uint64_t t = 1100; t <= 11100; t += 10)
        n += rl_take(&r, t);
    CHECK(n >= 99 && n <= 101); /* 10/s over 10 s */
    rl_init(&r, 0, 0, 0);
    for (int i = 0; i < 100000; i++)
        CHECK(rl_take(&r, 0));
    CHECK_EQ_INT(rl_wait_ms(&r, 0), 0);
}

/* ---- out-of-memory safety ---- */

#ifdef OOM_TESTS
/* Runs fn with the nth allocation failing, for n = 0, 1, ... until it
 * succeeds; every run must either succeed or report -AG_ENOMEM, and free
 * everything it allocated. */
static void
oom_loop(const char *name, int (*fn)(void))
{
    int rv;

    CHECK(fn() == 0); /* warm-up: lazily allocated libc state */
    for (long n = 0;; n++) {
        long before = oom_live;

        oom_countdown = n;
        oom_armed = 1;
        rv = fn();
        oom_armed = 0;
        if (rv != 0 && rv != -AG_ENOMEM) {
            fprintf(stderr, "%s: allocation %ld failing gave %d\n", name, n, rv);
            CHECK(0);
        }
        if (oom_live != before) {
            fprintf(stderr, "%s: allocation %ld failing leaked %ld blocks\n", name, n,
                    oom_live - before);
            CHECK(0);
        }
        if (rv == 0) {
            fprintf(stderr, "%s: %ld allocation failures handled\n", name, n);
            return;
        }
        CHECK(n < 100000);
    }
}

static int
oom_framework_info(void)
{
    struct ag_framework_info *fi = ag_framework_info_new(), *c;
    int rv;

    if (fi == NULL)
        return -AG_ENOMEM;
    if ((rv = ag_framework_info_set_name(fi, "n")) == 0 &&
        (rv = ag_framework_info_add_role(fi, "r1")) == 0 &&
        (rv = ag_framework_info_add_role(fi, "r2")) == 0 &&
        (rv = ag_framework_info_add_capability(fi, "PARTITION_AWARE")) == 0 &&
        (rv = ag_framework_info_set_principal(fi, "p", "s")) == 0 &&
        (rv = ag_framework_info_set_framework_id(fi, "f-1")) == 0 &&
        (rv = ag_framework_info_set_hostname(fi, "h")) == 0) {
        if ((c = sched_framework_info_dup(fi)) == NULL)
            rv = -AG_ENOMEM;
        ag_framework_info_free(c);
    }
    ag_framework_info_free(fi);
    return rv;
}

static int
oom_task(void)
{
    const char *argv[] = {"a", "b"};
    struct ag_task *t = ag_task_new("t1", "n", NULL), *c;
    struct ag_operation *op;
    int rv;

    if (t == NULL)
        return -AG_ENOMEM;
    if ((rv = ag_task_set_resources(t, "cpus:1;mem:2;ports:[1-2]")) == 0 &&
        (rv = ag_task_set_command(t, "x")) == 0 && (rv = ag_task_set_argv(t, 2, argv)) == 0 &&
        (rv = ag_task_add_env(t, "K", "V")) == 0 && (rv = ag_task_add_env(t, "K", "W")) == 0 &&
        (rv = ag_task_add_label(t, "L", "V")) == 0 && (rv = ag_task_set_image(t, "i")) == 0 &&
        (rv = ag_task_set_network(t, "none")) == 0 &&
        (rv = ag_task_set_health_check_command(t, "true")) == 0 &&
        (rv = ag_task_set_health_check_http(t, 80, 0, "/")) == 0) {
        if ((c = ag_task_dup(t)) == NULL) {
            rv = -AG_ENOMEM;
        } else {
            if ((op = ag_operation_launch(&c, 1)) == NULL)
                rv = -AG_ENOMEM;
            ag_operation_free(op);
            ag_task_free(c);
        }
        if (rv == 0) {
            if ((op = ag_operation_reserve("cpus(r):1")) == NULL)
                rv = -AG_ENOMEM;
            ag_operation_free(op);
        }
    }
    ag_task_free(t);
    return rv;
}

static struct ag_offer *oom_offer_src;

static int
oom_offer_status(void)
{
    struct ag_offer *o = ag_offer_dup(oom_offer_src);
    struct ag_task_status st, *s;

    if (o == NULL)
        return -AG_ENOMEM;
    ag_offer_free(o);
    msg_task_status_init(&st.s);
    st.s.task_id = "t";
    st.s.uuid = "u";
    s = ag_status_dup(&st);
    if (s == NULL)
        return -AG_ENOMEM;
    ag_status_free(s);
    return 0;
}

static int
oom_driver_calls(void)
{
    struct ag_scheduler_callbacks cb = {.size = sizeof(cb)};
    const char *ids[] = {"o1", "o2"}, *agents[] = {"a1", NULL};
    struct ag_driver *d;
    struct ag_task *t;
    int rv;

    if ((rv = ag_driver_new(&d, "127.0.0.1:1", NULL, &cb, NULL)) != 0)
        return rv;
    /* Not started: every call is built, checked, then refused with ECLOSED. */
    t = ag_task_new("t1", NULL, NULL);
    if (t == NULL) {
        ag_driver_free(d);
        return -AG_ENOMEM;
    }
    rv = ag_task_set_resources(t, "cpus:1");
#define CALL(x)                                                                                    \
    do {                                                                                           \
        if (rv == 0 && (rv = (x)) == -AG_ECLOSED)                                                  \
            rv = 0;                                                                                \
    } while (0)
    CALL(ag_driver_accept(d, ids, 2, &t, 1, 1));
    CALL(ag_driver_decline(d, ids, 2, -1));
    CALL(ag_driver_reserve(d, "o1", "cpus(r):1"));
    CALL(ag_driver_kill(d, "t1", "a1"));
    CALL(ag_driver_reconcile(d, ids, agents, 2));
    CALL(ag_driver_reconcile_until_known(d, ids, agents, 2, 0, 0));
    CALL(ag_driver_acknowledge(d, "a1", "t1", "u1"));
    CALL(ag_driver_revive(d, "r"));
    CALL(ag_driver_send_framework_message(d, "a1", "e1", "xy", 2));
    CALL(ag_driver_teardown(d));
#undef CALL
    ag_task_free(t);
    ag_driver_free(d);
    return rv;
}

/* The resource helpers: a failed allocation is -AG_ENOMEM and leaves `left` as it was. */
static int
oom_resources(void)
{
    struct ag_resources *left = NULL, *need = NULL, *port = NULL;
    char before[128], after[128];
    int rv;

    if ((rv = ag_resources_from_offer(&left, oom_offer_src)) != 0 ||
        (rv = ag_resources_parse(&need, "cpus:0.5")) != 0 ||
        (rv = ag_resources_parse(&port, "ports:[2-2]")) != 0)
        goto out;
    ag_resources_format(left, before, sizeof(before));
    if ((rv = ag_resources_subtract(left, port)) != 0) { /* splits [1-3]: allocates */
        ag_resources_format(left, after, sizeof(after));
        CHECK_EQ_STR(after, before);
        goto out;
    }
    if ((rv = ag_resources_add(left, port)) != 0 || (rv = ag_resources_subtract(left, need)) != 0)
        goto out;
    rv = ag_offer_fits(oom_offer_src, "cpus:1;ports:[3-3]");
    rv = rv == 1 ? 0 : rv;
out:
    ag_resources_free(left);
    ag_resources_free(need);
    ag_resources_free(port);
    return rv;
}

static void
test_oom(void)
{
    oom_loop("framework_info", oom_framework_info);
    oom_loop("task", oom_task);
    oom_offer_src = make_offer("o1", "a1", "cpus:1;ports:[1-3]", "rack:r1");
    oom_loop("offer_status", oom_offer_status);
    oom_loop("resources", oom_resources);
    ag_offer_free(oom_offer_src);
    oom_loop("driver_calls", oom_driver_calls);
}
#else
static void
test_oom(void)
{
    TEST_SKIP("allocation failure injection needs libc's malloc (this build uses ASan's)");
}
#endif

/* ---- a fake master ---- */

struct fm {
    uv_loop_t loop;
    struct evq evq;
    struct tp_server *srv;
    pthread_t thread;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ready;
    /* under lock */
    uint32_t peer;
    int connects;
    int disconnects;
    struct msg *msgs;
    size_t nmsgs;
    /* behaviour, set before the driver connects */
    double heartbeat_s;
    int32_t subscribe_error; /* != 0: answer SUBSCRIBE with ERROR */
    bool auth;               /* answer AUTH_START with a challenge */
    const char *secret;      /* the secret AUTH_RESPONSE must prove */
    uint8_t nonce[AUTH_NONCE_LEN];
};

static void
fm_reply(struct fm *fm, uint32_t peer, struct msg *m)
{
    void *buf;
    size_t len;

    CHECK(msg_encode_alloc(m, &buf, &len) == 0);
    tp_server_send(fm->srv, peer, buf, len);
    free(buf);
}

static void
fm_on_connect(void *arg, uint32_t peer)
{
    struct fm *fm = arg;

    pthread_mutex_lock(&fm->lock);
    fm->peer = peer;
    fm->connects++;
    pthread_cond_broadcast(&fm->cond);
    pthread_mutex_unlock(&fm->lock);
}

static void
fm_on_disconnect(void *arg, uint32_t peer)
{
    struct fm *fm = arg;

    pthread_mutex_lock(&fm->lock);
    if (fm->peer == peer)
        fm->peer = 0;
    fm->disconnects++;
    pthread_cond_broadcast(&fm->cond);
    pthread_mutex_unlock(&fm->lock);
}

static void
fm_on_message(void *arg, uint32_t peer, const void *data, size_t len)
{
    struct fm *fm = arg;
    struct msg m, r;

    CHECK(msg_decode(&m, data, len, NULL, 0) == 0);
    if (m.type == MSG_SUBSCRIBE) {
        if (fm->subscribe_error != 0) {
            msg_init(&r, MSG_ERROR);
            r.corr = m.corr;
            r.u.error.code = fm->subscribe_error;
            r.u.error.message = "framework removed";
        } else {
            const char *id = m.u.subscribe.framework.framework_id;

            msg_init(&r, MSG_SUBSCRIBED);
            r.u.subscribed.framework_id = id[0] ? (char *)id : "fm-0001";
            r.u.subscribed.heartbeat_interval_s = fm->heartbeat_s;
        }
        fm_reply(fm, peer, &r);
    } else if (m.type == MSG_AUTH_START && fm->auth) {
        CHECK(auth_nonce(fm->nonce, sizeof(fm->nonce)) == 0);
        msg_init(&r, MSG_AUTH_CHALLENGE);
        r.u.auth_challenge.nonce = fm->nonce;
        r.u.auth_challenge.nonce_len = sizeof(fm->nonce);
        fm_reply(fm, peer, &r);
    } else if (m.type == MSG_AUTH_RESPONSE && fm->auth) {
        msg_init(&r, MSG_AUTH_RESULT);
        r.u.auth_result.ok = auth_verify(fm->secret, fm->nonce, sizeof(fm->nonce),
                                         m.u.auth_response.proof, m.u.auth_response.proof_len);
        r.u.auth_result.message = r.u.auth_result.ok ? "" : "wrong secret";
        fm_reply(fm, peer, &r);
    }
    pthread_mutex_lock(&fm->lock);
    fm->msgs = realloc(fm->msgs, (fm->nmsgs + 1) * sizeof(*fm->msgs));
    CHECK(fm->msgs != NULL);
    fm->msgs[fm->nmsgs++] = m;
    pthread_cond_broadcast(&fm->cond);
    pthread_mutex_unlock(&fm->lock);
}

static const struct tp_server_ops fm_ops = {
    .on_connect = fm_on_connect,
    .on_message = fm_on_message,
    .on_disconnect = fm_on_disconnect,
};

static void *
fm_main(void *arg)
{
    struct fm *fm = arg;

    CHECK(uv_loop_init(&fm->loop) == 0);
    CHECK(evq_init(&fm->evq, &fm->loop) == 0);
    CHECK(tp_server_open(&fm->srv, &fm->loop, "ws://127.0.0.1:0/agora/v1/stream", &fm_ops, fm) ==
          0);
    pthread_mutex_lock(&fm->lock);
    fm->port = tp_server_port(fm->srv);
    fm->ready = true;
    pthread_cond_broadcast(&fm->cond);
    pthread_mutex_unlock(&fm->lock);
    uv_run(&fm->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&fm->loop) == 0);
    return NULL;
}

static struct fm *
fm_start(void)
{
    struct fm *fm = calloc(1, sizeof(*fm));

    CHECK(fm != NULL);
    pthread_mutex_init(&fm->lock, NULL);
    pthread_cond_init(&fm->cond, NULL);
    CHECK(pthread_create(&fm->thread, NULL, fm_main, fm) == 0);
    pthread_mutex_lock(&fm->lock);
    while (!fm->ready)
        pthread_cond_wait(&fm->cond, &fm->lock);
    pthread_mutex_unlock(&fm->lock);
    return fm;
}

struct fm_job {
    struct fm *fm;
    void *buf;
    size_t len;
    int what; /* 0 send, 1 close the peer, 2 shut down */
};

static void
fm_job_cb(void *arg, int status)
{
    struct fm_job *j = arg;
    struct fm *fm = j->fm;
    uint32_t peer;

    pthread_mutex_lock(&fm->lock);
    peer = fm->peer;
    pthread_mutex_unlock(&fm->lock);
    if (status == 0 && j->what == 0 && peer != 0)
        tp_server_send(fm->srv, peer, j->buf, j->len);
    else if (status == 0 && j->what == 1 && peer != 0)
        tp_server_close_peer(fm->srv, peer);
    else if (status == 0 && j->what == 2) {
        tp_server_close(fm->srv);
        evq_close(&fm->evq, NULL);
    }
    free(j->buf);
    free(j);
}

static void
fm_post(struct fm *fm, int what, const struct msg *m)
{
    struct fm_job *j = calloc(1, sizeof(*j));

    CHECK(j != NULL);
    j->fm = fm;
    j->what = what;
    if (m != NULL)
        CHECK(msg_encode_alloc(m, &j->buf, &j->len) == 0);
    CHECK(evq_post(&fm->evq, fm_job_cb, j) == 0);
}

static void
fm_stop(struct fm *fm)
{
    fm_post(fm, 2, NULL);
    pthread_join(fm->thread, NULL);
    for (size_t i = 0; i < fm->nmsgs; i++)
        msg_free(&fm->msgs[i]);
    free(fm->msgs);
    pthread_cond_destroy(&fm->cond);
    pthread_mutex_destroy(&fm->lock);
    free(fm);
}

static void
deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Waits until the fake master received the `nth` (0-based) message of `type`
 * (MSG_NONE: any); returns a pointer to it (valid until fm_stop). */
static const struct msg *
fm_wait(struct fm *fm, enum msg_type type, int nth, int timeout_ms)
{
    struct timespec ts;
    const struct msg *found = NULL;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&fm->lock);
    for (;;) {
        int seen = 0;

        for (size_t i = 0; i < fm->nmsgs && found == NULL; i++)
            if ((type == MSG_NONE || fm->msgs[i].type == type) && seen++ == nth)
                found = &fm->msgs[i];
        if (found != NULL || pthread_cond_timedwait(&fm->cond, &fm->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&fm->lock);
    if (found == NULL)
        fprintf(stderr, "fake master: no %s #%d within %d ms\n", msg_type_name(type), nth,
                timeout_ms);
    return found;
}

static int
fm_count(struct fm *fm, enum msg_type type)
{
    int n = 0;

    pthread_mutex_lock(&fm->lock);
    for (size_t i = 0; i < fm->nmsgs; i++)
        n += fm->msgs[i].type == type;
    pthread_mutex_unlock(&fm->lock);
    return n;
}

static bool
fm_wait_connects(struct fm *fm, int n, int timeout_ms)
{
    struct timespec ts;
    bool ok;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&fm->lock);
    while (fm->connects < n && pthread_cond_timedwait(&fm->cond, &fm->lock, &ts) != ETIMEDOUT)
        ;
    ok = fm->connects >= n;
    pthread_mutex_unlock(&fm->lock);
    return ok;
}

/* ---- what the framework saw ---- */

struct rec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int subscribed, disconnected, reconciled, errors, offers, updates, rescinds, messages;
    bool resubscribed, fatal, on_driver_thread_ok;
    int error_code;
    char error_msg[256];
    char fid[64];
    char offer_id[64];
    char task_id[64], state[32], source[64], reason[64];
    bool launch_in_callback; /* launch "t-cb" on the first offer, from the callback */
    int launch_rv;
};

static struct rec rec = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static void
rec_reset(void)
{
    pthread_mutex_lock(&rec.lock);
    memset((char *)&rec + offsetof(struct rec, subscribed), 0,
           sizeof(rec) - offsetof(struct rec, subscribed));
    pthread_mutex_unlock(&rec.lock);
}

/* Waits until *counter >= n. */
static bool
rec_wait(int *counter, int n, int timeout_ms)
{
    struct timespec ts;
    bool ok;

    deadline_in(&ts, timeout_ms);
    pthread_mutex_lock(&rec.lock);
    while (*counter < n && pthread_cond_timedwait(&rec.cond, &rec.lock, &ts) != ETIMEDOUT)
        ;
    ok = *counter >= n;
    pthread_mutex_unlock(&rec.lock);
    return ok;
}

static void
cb_subscribed(struct ag_driver *d, void *arg, const char *fid, bool resub)
{
    pthread_mutex_lock(&rec.lock);
    snprintf(rec.fid, sizeof(rec.fid), "%s", fid);
    rec.resubscribed = resub;
    rec.subscribed++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_offers(struct ag_driver *d, void *arg, const struct ag_offer *const *offers, size_t n)
{
    bool launch;

    pthread_mutex_lock(&rec.lock);
    snprintf(rec.offer_id, sizeof(rec.offer_id), "%s", ag_offer_id(offers[0]));
    launch = rec.launch_in_callback;
    rec.launch_in_callback = false;
    pthread_mutex_unlock(&rec.lock);
    if (launch) {
        struct ag_task *t = ag_task_new("t-cb", NULL, NULL);
        int rv;

        CHECK(t != NULL);
        CHECK(ag_task_set_resources(t, "cpus:0.5;mem:64") == 0);
        CHECK(ag_task_set_command(t, "sleep 100") == 0);
        rv = ag_driver_launch(d, ag_offer_id(offers[0]), t);
        ag_task_free(t);
        pthread_mutex_lock(&rec.lock);
        rec.launch_rv = rv;
        pthread_mutex_unlock(&rec.lock);
    }
    pthread_mutex_lock(&rec.lock);
    rec.offers++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_rescind(struct ag_driver *d, void *arg, const char *offer_id)
{
    pthread_mutex_lock(&rec.lock);
    rec.rescinds++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_update(struct ag_driver *d, void *arg, const struct ag_task_status *s)
{
    pthread_mutex_lock(&rec.lock);
    snprintf(rec.task_id, sizeof(rec.task_id), "%s", ag_status_task_id(s));
    snprintf(rec.state, sizeof(rec.state), "%s", ag_task_state_name(ag_status_state(s)));
    snprintf(rec.source, sizeof(rec.source), "%s", ag_status_source(s));
    snprintf(rec.reason, sizeof(rec.reason), "%s", ag_status_reason(s));
    rec.updates++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_message(struct ag_driver *d, void *arg, const char *agent_id, const char *executor_id,
           const void *data, size_t len)
{
    pthread_mutex_lock(&rec.lock);
    rec.messages++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_error(struct ag_driver *d, void *arg, int code, const char *message, bool fatal)
{
    pthread_mutex_lock(&rec.lock);
    rec.error_code = code;
    rec.fatal = fatal;
    snprintf(rec.error_msg, sizeof(rec.error_msg), "%s", message);
    rec.errors++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_disconnected(struct ag_driver *d, void *arg)
{
    pthread_mutex_lock(&rec.lock);
    rec.disconnected++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static void
cb_reconciled(struct ag_driver *d, void *arg)
{
    pthread_mutex_lock(&rec.lock);
    rec.reconciled++;
    pthread_cond_broadcast(&rec.cond);
    pthread_mutex_unlock(&rec.lock);
}

static const struct ag_scheduler_callbacks rec_cbs = {
    .size = sizeof(struct ag_scheduler_callbacks),
    .subscribed = cb_subscribed,
    .offers = cb_offers,
    .rescind = cb_rescind,
    .status_update = cb_update,
    .framework_message = cb_message,
    .error = cb_error,
    .disconnected = cb_disconnected,
    .reconciled = cb_reconciled,
};

/* A driver for the fake master, not started. */
static struct ag_driver *
driver_for(struct fm *fm, struct ag_framework_info *fi)
{
    struct ag_driver *d;
    char master[64];

    rec_reset();
    snprintf(master, sizeof(master), "127.0.0.1:%d", fm->port);
    CHECK(ag_driver_new(&d, master, fi, &rec_cbs, NULL) == 0);
    return d;
}

/* An offer stamped with the leader epoch `epoch` (0: none). */
static void
send_offer_epoch(struct fm *fm, const char *offer_id, const char *agent_id, uint64_t epoch)
{
    struct msg m;
    struct msg_offer o;
    char err[100];

    msg_init(&m, MSG_OFFERS);
    m.epoch = epoch;
    msg_offer_init(&o);
    o.offer_id = (char *)offer_id;
    o.agent_id = (char *)agent_id;
    o.hostname = "h1";
    CHECK(res_parse(&o.resources, "cpus:2;mem:1024", err, sizeof(err)) == 0);
    m.u.offers.offers = &o;
    m.u.offers.noffers = 1;
    fm_post(fm, 0, &m);
    res_fini(&o.resources);
}

static void
send_offer(struct fm *fm, const char *offer_id, const char *agent_id)
{
    send_offer_epoch(fm, offer_id, agent_id, 0);
}

static void
send_update(struct fm *fm, const char *task_id, const char *state, const char *uuid)
{
    struct msg m;

    msg_init(&m, MSG_STATUS_UPDATE);
    m.u.status_update.status.task_id = (char *)task_id;
    m.u.status_update.status.agent_id = "a1";
    CHECK(msg_task_state_parse(state, &m.u.status_update.status.state) == 0);
    m.u.status_update.status.uuid = (char *)uuid;
    fm_post(fm, 0, &m);
}

/* ---- driver tests ---- */

static void
test_driver_lifecycle(void)
{
    struct ag_scheduler_callbacks bad = {0};
    struct ag_driver *d;
    const char *ids[] = {"o1"};
    char buf[8];

    CHECK_EQ_INT(ag_driver_new(&d, "", NULL, NULL, NULL), -AG_EINVAL);
    CHECK_EQ_INT(ag_driver_new(&d, "127.0.0.1:1", NULL, &bad, NULL), -AG_EINVAL);
    CHECK(d == NULL);
    CHECK_EQ_INT(ag_driver_new(&d, "127.0.0.1:1", NULL, NULL, NULL), 0);
    CHECK_EQ_INT(ag_driver_join(d), -AG_ESTATE);
    CHECK_EQ_INT(ag_driver_stop(d), -AG_ESTATE);
    CHECK_EQ_INT(ag_driver_framework_id(d, buf, sizeof(buf)), -AG_ENOENT);
    CHECK_EQ_INT(ag_driver_kill(d, "t1", NULL), -AG_ECLOSED);
    ag_driver_free(d); /* never started */

    /* Nobody listens on port 1: the driver runs and keeps dialing. */
    CHECK_EQ_INT(ag_driver_new(&d, "127.0.0.1:1", NULL, NULL, NULL), 0);
    CHECK_EQ_INT(ag_driver_set_rate_limit(d, 5, 5), 0);
    CHECK_EQ_INT(ag_driver_set_rate_limit(d, -1, 5), -AG_EINVAL);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(ag_driver_running(d));
    CHECK_EQ_INT(ag_driver_start(d), -AG_ESTATE);
    CHECK_EQ_INT(ag_driver_set_auto_ack(d, false), -AG_ESTATE);
    CHECK(!ag_driver_subscribed(d));
    CHECK_EQ_INT(ag_driver_decline(d, ids, 1, 1), -AG_ECLOSED); /* offers need a subscription */
    CHECK_EQ_INT(ag_driver_kill(d, "t1", NULL), 0);             /* queued until subscribed */
    CHECK_EQ_INT(ag_driver_kill(d, "", NULL), -AG_EINVAL);
    usleep(200000);
    CHECK_EQ_INT(ag_driver_stop(d), 0);
    CHECK_EQ_INT(ag_driver_stop(d), 0);
    CHECK_EQ_INT(ag_driver_join(d), 0);
    CHECK_EQ_INT(ag_driver_join(d), 0);
    CHECK(!ag_driver_running(d));
    CHECK_EQ_INT(ag_driver_kill(d, "t1", NULL), -AG_ECLOSED);
    ag_driver_free(d);

    /* Freed while running. */
    CHECK_EQ_INT(ag_driver_new(&d, "127.0.0.1:1", NULL, NULL, NULL), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    ag_driver_free(d);
}

static void
test_driver_flow(void)
{
    struct fm *fm = fm_start();
    struct ag_framework_info *fi = ag_framework_info_new();
    const struct msg *m;
    struct ag_driver *d;
    char fid[64];
    const char *ids[1];

    CHECK(ag_framework_info_set_name(fi, "flow") == 0);
    CHECK(ag_framework_info_add_role(fi, "web") == 0);
    CHECK(ag_framework_info_set_failover_timeout(fi, 60) == 0);
    d = driver_for(fm, fi);
    ag_framework_info_free(fi);
    CHECK_EQ_INT(ag_driver_start(d), 0);

    /* Subscription. */
    CHECK((m = fm_wait(fm, MSG_SUBSCRIBE, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.subscribe.framework.name, "flow");
    CHECK_EQ_STR(m->u.subscribe.framework.framework_id, "");
    CHECK_EQ_INT(m->u.subscribe.framework.nroles, 1);
    CHECK(m->u.subscribe.framework.failover_timeout_s == 60);
    CHECK(m->u.subscribe.framework.hostname[0] != '\0');
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    CHECK_EQ_STR(rec.fid, "fm-0001");
    CHECK(!rec.resubscribed);
    CHECK(ag_driver_subscribed(d));
    CHECK_EQ_INT(ag_driver_framework_id(d, fid, sizeof(fid)), 0);
    CHECK_EQ_STR(fid, "fm-0001");
    CHECK_EQ_INT(ag_driver_framework_id(d, fid, 4), -AG_ERANGE);

    /* An offer, answered with a launch from inside the callback (agent id filled in). */
    pthread_mutex_lock(&rec.lock);
    rec.launch_in_callback = true;
    pthread_mutex_unlock(&rec.lock);
    send_offer(fm, "o1", "a1");
    CHECK(rec_wait(&rec.offers, 1, 5000));
    CHECK_EQ_INT(rec.launch_rv, 0);
    CHECK((m = fm_wait(fm, MSG_ACCEPT, 0, 5000)) != NULL);
    CHECK_EQ_INT(m->u.accept.noffer_ids, 1);
    CHECK_EQ_STR(m->u.accept.offer_ids[0], "o1");
    CHECK(m->u.accept.refuse_seconds == 5);
    CHECK_EQ_INT(m->u.accept.noperations, 1);
    CHECK_EQ_STR(m->u.accept.operations[0].type, "LAUNCH");
    CHECK_EQ_STR(m->u.accept.operations[0].tasks[0].task_id, "t-cb");
    CHECK_EQ_STR(m->u.accept.operations[0].tasks[0].agent_id, "a1");
    CHECK_EQ_STR(m->u.accept.operations[0].tasks[0].command.value, "sleep 100");

    /* A status update is acknowledged automatically; one without uuid is not. */
    send_update(fm, "t-cb", "TASK_RUNNING", "uuid-1");
    CHECK(rec_wait(&rec.updates, 1, 5000));
    CHECK_EQ_STR(rec.state, "TASK_RUNNING");
    CHECK((m = fm_wait(fm, MSG_STATUS_ACK, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.status_ack.uuid, "uuid-1");
    CHECK_EQ_STR(m->u.status_ack.task_id, "t-cb");
    CHECK_EQ_STR(m->u.status_ack.agent_id, "a1");
    CHECK_EQ_STR(m->u.status_ack.framework_id, "fm-0001");
    send_update(fm, "t-x", "TASK_LOST", "");
    CHECK(rec_wait(&rec.updates, 2, 5000));

    /* Offer, rescind, decline from this thread. */
    send_offer(fm, "o2", "a1");
    CHECK(rec_wait(&rec.offers, 2, 5000));
    ids[0] = "o2";
    CHECK_EQ_INT(ag_driver_decline(d, ids, 1, 30), 0);
    CHECK((m = fm_wait(fm, MSG_DECLINE, 0, 5000)) != NULL);
    CHECK(m->u.decline.refuse_seconds == 30);
    {
        struct msg r;

        msg_init(&r, MSG_RESCIND);
        r.u.rescind.offer_id = "o3";
        fm_post(fm, 0, &r);
        CHECK(rec_wait(&rec.rescinds, 1, 5000));
    }

    /* Other calls. */
    CHECK_EQ_INT(ag_driver_kill_grace(d, "t-cb", "a1", 1500), 0);
    CHECK((m = fm_wait(fm, MSG_KILL, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.kill.task_id, "t-cb");
    CHECK_EQ_INT(m->u.kill.grace_ms, 1500);
    CHECK_EQ_INT(ag_driver_reconcile(d, NULL, NULL, 0), 0);
    CHECK((m = fm_wait(fm, MSG_RECONCILE, 0, 5000)) != NULL);
    CHECK_EQ_INT(m->u.reconcile.ntasks, 0);
    CHECK_EQ_INT(ag_driver_revive(d, "web"), 0);
    CHECK((m = fm_wait(fm, MSG_REVIVE, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.revive.roles[0], "web");
    CHECK_EQ_INT(ag_driver_suppress(d, NULL), 0);
    CHECK((m = fm_wait(fm, MSG_SUPPRESS, 0, 5000)) != NULL);
    CHECK_EQ_INT(m->u.suppress.nroles, 0);
    CHECK_EQ_INT(ag_driver_send_framework_message(d, "a1", "e1", "hi", 2), 0);
    CHECK((m = fm_wait(fm, MSG_FRAMEWORK_MESSAGE, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.framework_message.framework_id, "fm-0001");
    CHECK_EQ_INT(m->u.framework_message.data_len, 2);
    CHECK_EQ_INT(ag_driver_reserve(d, "o9", "cpus(web):1"), 0);
    CHECK((m = fm_wait(fm, MSG_ACCEPT, 1, 5000)) != NULL);
    CHECK_EQ_STR(m->u.accept.operations[0].type, "RESERVE");

    /* A non-fatal ERROR. */
    {
        struct msg r;

        msg_init(&r, MSG_ERROR);
        r.u.error.code = -AG_ENOENT;
        r.u.error.message = "unknown task";
        fm_post(fm, 0, &r);
        CHECK(rec_wait(&rec.errors, 1, 5000));
        CHECK(!rec.fatal);
        CHECK_EQ_INT(rec.error_code, -AG_ENOENT);
    }

    /* Teardown: the driver stops by itself. */
    CHECK_EQ_INT(ag_driver_teardown(d), 0);
    CHECK(fm_wait(fm, MSG_TEARDOWN, 0, 5000) != NULL);
    CHECK_EQ_INT(ag_driver_revive(d, NULL), -AG_ECLOSED); /* refused on the driver thread */
    CHECK_EQ_INT(ag_driver_join(d), 0);
    CHECK(!ag_driver_running(d));
    ag_driver_free(d);
    fm_stop(fm);
}

static void
test_driver_reconnect(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);
    const struct msg *m;
    const char *ids[] = {"o1"};
    struct ag_task *t = ag_task_new("t-drop", NULL, NULL);

    CHECK(ag_driver_set_rate_limit(d, 1, 1) == 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    send_offer(fm, "o1", "a1");
    CHECK(rec_wait(&rec.offers, 1, 5000));
    /* The revive takes the only token; the launch waits for the next one (1 s)
     * and is discarded when the connection drops meanwhile. */
    CHECK_EQ_INT(ag_driver_revive(d, NULL), 0);
    CHECK_EQ_INT(ag_task_set_resources(t, "cpus:1"), 0);
    CHECK_EQ_INT(ag_driver_accept(d, ids, 1, &t, 1, -1), 0);
    CHECK_EQ_INT(ag_driver_kill(d, "t-old", NULL), 0); /* survives the reconnection */
    fm_post(fm, 1, NULL);
    CHECK(rec_wait(&rec.disconnected, 1, 5000));
    CHECK(rec_wait(&rec.updates, 1, 5000));
    CHECK_EQ_STR(rec.task_id, "t-drop");
    CHECK_EQ_STR(rec.state, "TASK_DROPPED");
    CHECK_EQ_STR(rec.source, "SOURCE_SCHEDULER_DRIVER");
    /* Resubscribes with its id. */
    CHECK(rec_wait(&rec.subscribed, 2, 10000));
    CHECK(rec.resubscribed);
    CHECK((m = fm_wait(fm, MSG_SUBSCRIBE, 1, 5000)) != NULL);
    CHECK_EQ_STR(m->u.subscribe.framework.framework_id, "fm-0001");
    CHECK((m = fm_wait(fm, MSG_KILL, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.kill.task_id, "t-old");
    CHECK_EQ_INT(fm_count(fm, MSG_ACCEPT), 0);
    ag_task_free(t);
    ag_driver_free(d);
    fm_stop(fm);
}

/* Fencing: once a message of leader epoch 5 came, one stamped lower (a deposed
 * leader's) is dropped, and messages of epoch 5 and up still pass. */
static void
test_driver_epoch(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);

    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    send_offer_epoch(fm, "o5", "a1", 5);
    CHECK(rec_wait(&rec.offers, 1, 5000));
    send_offer_epoch(fm, "o3", "a1", 3);
    send_offer_epoch(fm, "o0", "a1", 0);
    send_offer_epoch(fm, "o6", "a1", 6);
    CHECK(rec_wait(&rec.offers, 2, 5000));
    pthread_mutex_lock(&rec.lock);
    CHECK_EQ_STR(rec.offer_id, "o6"); /* in order: o3 and o0 were dropped before it */
    pthread_mutex_unlock(&rec.lock);
    usleep(200000);
    CHECK_EQ_INT(rec.offers, 2);
    send_offer_epoch(fm, "o5b", "a1", 5); /* below 6 now */
    send_offer_epoch(fm, "o7", "a1", 7);
    CHECK(rec_wait(&rec.offers, 3, 5000));
    pthread_mutex_lock(&rec.lock);
    CHECK_EQ_STR(rec.offer_id, "o7");
    pthread_mutex_unlock(&rec.lock);
    ag_driver_free(d);
    fm_stop(fm);
}

static void
test_driver_heartbeat(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d;

    fm->heartbeat_s = 0.1; /* and never sends one */
    d = driver_for(fm, NULL);
    CHECK_EQ_INT(ag_driver_set_heartbeat_misses(d, 3), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    CHECK(rec_wait(&rec.disconnected, 1, 5000));
    CHECK(fm_wait_connects(fm, 2, 5000));
    CHECK(rec_wait(&rec.subscribed, 2, 5000));
    ag_driver_free(d);
    fm_stop(fm);
}

static void
test_driver_reconcile_until_known(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);
    const char *tasks[] = {"t1", "t2"}, *agents[] = {"a1", NULL};
    const struct msg *m;

    CHECK_EQ_INT(ag_driver_reconcile_until_known(d, tasks, agents, 2, 0.2, 0.4), -AG_ECLOSED);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK_EQ_INT(ag_driver_reconcile_until_known(d, tasks, agents, 0, 0.2, 0.4), -AG_EINVAL);
    CHECK_EQ_INT(ag_driver_reconcile_until_known(d, tasks, agents, 2, 0.2, 0.4), 0);
    CHECK((m = fm_wait(fm, MSG_RECONCILE, 0, 5000)) != NULL);
    CHECK_EQ_INT(m->u.reconcile.ntasks, 2);
    CHECK_EQ_INT(ag_driver_reconcile_pending(d), 2);
    /* Not answered: asked again after the backoff. */
    CHECK(fm_wait(fm, MSG_RECONCILE, 2, 5000) != NULL);
    send_update(fm, "t1", "TASK_RUNNING", "");
    CHECK(rec_wait(&rec.updates, 1, 5000));
    CHECK((m = fm_wait(fm, MSG_RECONCILE, 3, 5000)) != NULL);
    CHECK_EQ_INT(m->u.reconcile.ntasks, 1);
    CHECK_EQ_STR(m->u.reconcile.tasks[0].task_id, "t2");
    CHECK_EQ_INT(ag_driver_reconcile_pending(d), 1);
    send_update(fm, "t2", "TASK_LOST", "");
    CHECK(rec_wait(&rec.reconciled, 1, 5000));
    CHECK_EQ_INT(ag_driver_reconcile_pending(d), 0);
    ag_driver_free(d);
    fm_stop(fm);
}

static void
test_driver_fatal(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d;

    fm->subscribe_error = -AG_EPERM;
    d = driver_for(fm, NULL);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.errors, 1, 5000));
    CHECK(rec.fatal);
    CHECK_EQ_STR(rec.error_msg, "framework removed");
    CHECK_EQ_INT(ag_driver_join(d), -AG_EPERM);
    CHECK(!ag_driver_running(d));
    ag_driver_free(d);
    fm_stop(fm);
}

/* Authenticates with `secret` against a master that knows "secret". */
static void
run_auth(const char *secret, bool ok)
{
    struct fm *fm = fm_start();
    struct ag_framework_info *fi = ag_framework_info_new();
    struct ag_driver *d;
    const struct msg *m;

    fm->auth = true;
    fm->secret = "secret";
    CHECK(ag_framework_info_set_principal(fi, "alice", secret) == 0);
    d = driver_for(fm, fi);
    ag_framework_info_free(fi);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK((m = fm_wait(fm, MSG_AUTH_START, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.auth_start.principal, "alice");
    CHECK_EQ_STR(m->u.auth_start.mechanism, MSG_AUTH_MECHANISM);
    CHECK((m = fm_wait(fm, MSG_AUTH_RESPONSE, 0, 5000)) != NULL);
    CHECK_EQ_STR(m->u.auth_response.principal, "alice");
    if (ok) {
        CHECK(rec_wait(&rec.subscribed, 1, 5000));
        CHECK((m = fm_wait(fm, MSG_SUBSCRIBE, 0, 5000)) != NULL);
        CHECK_EQ_STR(m->u.subscribe.framework.principal, "alice");
        CHECK_EQ_INT(rec.errors, 0);
    } else {
        CHECK(rec_wait(&rec.errors, 1, 5000));
        CHECK(rec.fatal);
        CHECK_EQ_INT(rec.error_code, -AG_EPERM);
        CHECK(strstr(rec.error_msg, "wrong secret") != NULL);
        CHECK_EQ_INT(ag_driver_join(d), -AG_EPERM);
        CHECK_EQ_INT(fm_count(fm, MSG_SUBSCRIBE), 0);
    }
    ag_driver_free(d);
    fm_stop(fm);
}

static void
test_driver_auth(void)
{
    run_auth("secret", true);
    run_auth("wrong", false);
}

static void
test_driver_stop_flushes(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);
    const char *ids[] = {"o1"};

    CHECK_EQ_INT(ag_driver_set_rate_limit(d, 1, 1), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    send_offer(fm, "o1", "a1");
    CHECK(rec_wait(&rec.offers, 1, 5000));
    /* Held back by the rate limit, then sent by stop without it. */
    CHECK_EQ_INT(ag_driver_revive(d, NULL), 0);
    CHECK_EQ_INT(ag_driver_revive(d, NULL), 0);
    CHECK_EQ_INT(ag_driver_decline(d, ids, 1, -1), 0);
    CHECK_EQ_INT(ag_driver_stop(d), 0);
    CHECK_EQ_INT(ag_driver_join(d), 0);
    CHECK(fm_wait(fm, MSG_DECLINE, 0, 3000) != NULL);
    CHECK_EQ_INT(fm_count(fm, MSG_REVIVE), 2);
    ag_driver_free(d);
    fm_stop(fm);
}

static double
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_driver_rate_limit(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);
    double t0;

    /* A burst of 2 goes at once; the third call waits for a refill, which at
     * 0.1 call/s is 10 s away: it is still held when the first two are in,
     * however slow the machine. */
    CHECK_EQ_INT(ag_driver_set_rate_limit(d, 0.1, 2), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(ag_driver_revive(d, NULL), 0);
    CHECK(fm_wait(fm, MSG_REVIVE, 1, 5000) != NULL); /* the second (counted from 0) */
    CHECK_EQ_INT(fm_count(fm, MSG_REVIVE), 2);
    ag_driver_free(d);
    fm_stop(fm);

    /* At 10/s with a burst of 2, the seventh call waits for 5 refills: it
     * cannot leave before 0.5 s (0.4 allows for the loop's millisecond clock;
     * a lower bound, which a slower machine only makes later). */
    fm = fm_start();
    d = driver_for(fm, NULL);
    CHECK_EQ_INT(ag_driver_set_rate_limit(d, 10, 2), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    t0 = mono_s();
    for (int i = 0; i < 7; i++)
        CHECK_EQ_INT(ag_driver_revive(d, NULL), 0);
    CHECK(fm_wait(fm, MSG_REVIVE, 6, 5000) != NULL);
    CHECK(mono_s() - t0 >= 0.4);
    CHECK_EQ_INT(fm_count(fm, MSG_REVIVE), 7);
    ag_driver_free(d);
    fm_stop(fm);
}

#define NTHREADS 4
#define PER_THREAD 300

struct kill_arg {
    struct ag_driver *d;
    int thread;
};

static void *
killer(void *arg)
{
    struct kill_arg *k = arg;
    char id[32];

    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(id, sizeof(id), "k%d-%d", k->thread, i);
        CHECK_EQ_INT(ag_driver_kill(k->d, id, NULL), 0);
    }
    return NULL;
}

static void
test_driver_threads(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);
    struct kill_arg args[NTHREADS];
    pthread_t th[NTHREADS];
    int next[NTHREADS] = {0};

    CHECK_EQ_INT(ag_driver_set_rate_limit(d, 0, 0), 0);
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    for (int i = 0; i < NTHREADS; i++) {
        args[i].d = d;
        args[i].thread = i;
        CHECK(pthread_create(&th[i], NULL, killer, &args[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(fm_wait(fm, MSG_KILL, NTHREADS * PER_THREAD - 1, 10000) != NULL);
    /* In order per thread. */
    pthread_mutex_lock(&fm->lock);
    for (size_t i = 0; i < fm->nmsgs; i++) {
        int t, n;

        if (fm->msgs[i].type != MSG_KILL)
            continue;
        CHECK(sscanf(fm->msgs[i].u.kill.task_id, "k%d-%d", &t, &n) == 2);
        CHECK_EQ_INT(n, next[t]);
        next[t]++;
    }
    pthread_mutex_unlock(&fm->lock);
    ag_driver_free(d);
    fm_stop(fm);
}

/* The error codes come from one list: values (part of the ABI), names and texts. */
static void
test_error_map(void)
{
    int n = 0;

#define CHECK_CODE(name, value, text)                                                              \
    CHECK_EQ_INT(AG_##name, value);                                                                \
    CHECK_EQ_STR(ag_strerror(-(value)), text);                                                     \
    CHECK_EQ_STR(ag_strerror(value), text);                                                        \
    n++;
    AG_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
    CHECK_EQ_INT(n, AG_ERR_MAX);
    /* The values of version 1.0 of the API, which must never change. */
    CHECK_EQ_INT(AG_EINVAL, 1);
    CHECK_EQ_INT(AG_ECLOSED, 8);
    CHECK_EQ_INT(AG_ESTATE, 15);
    CHECK_EQ_INT(AG_ERR_MAX, 16);
    CHECK_EQ_STR(ag_strerror(-AG_ENOMEM), "out of memory");
    CHECK_EQ_STR(ag_strerror(AG_ERR_MAX), "unknown error");
    CHECK_EQ_STR(ag_strerror(-1000), "unknown error");
}

static void
test_resources_api(void)
{
    struct ag_resources *a = NULL, *b = NULL, *tenth = NULL, *web = NULL;
    struct ag_offer *o =
        make_offer("o1", "a1", "cpus:2;cpus(web):1;mem:1024;ports:[31000-31005]", "");
    char buf[128];

    /* Parsing: the master's syntax and errors. */
    CHECK_EQ_INT(ag_resources_parse(&a, "cpus:1; mem:128;ports:[31000-31002]"), 0);
    CHECK(ag_resources_scalar(a, "cpus") == 1);
    CHECK(ag_resources_scalar(a, "gpus") == 0);
    CHECK_EQ_INT(ag_resources_format(a, buf, sizeof(buf)),
                 strlen("cpus:1;mem:128;ports:[31000-31002]"));
    CHECK_EQ_STR(buf, "cpus:1;mem:128;ports:[31000-31002]");
    CHECK_EQ_INT(ag_resources_parse(&b, "cpus:x2"), -AG_EINVAL);
    CHECK(b == NULL);
    CHECK(strstr(ag_last_error(), "x2") != NULL);
    CHECK_EQ_INT(ag_resources_parse(&b, "cpus:1;cpus:[1-2]"), -AG_EINVAL);
    CHECK_EQ_INT(ag_resources_parse(NULL, "cpus:1"), -AG_EINVAL);
    CHECK_EQ_INT(ag_resources_parse(&b, ""), 0);
    CHECK(ag_resources_empty(b));
    CHECK(ag_resources_contains(a, b));
    ag_resources_free(b);

    /* Fixed point: ten times 0.1 cpus out of 1 leaves exactly nothing. */
    CHECK_EQ_INT(ag_resources_parse(&tenth, "cpus:0.1"), 0);
    CHECK_EQ_INT(ag_resources_parse(&b, "cpus:1"), 0);
    for (int i = 0; i < 10; i++) {
        CHECK(ag_resources_contains(b, tenth));
        CHECK_EQ_INT(ag_resources_subtract(b, tenth), 0);
    }
    CHECK(ag_resources_empty(b));
    CHECK(!ag_resources_contains(b, tenth));
    CHECK_EQ_INT(ag_resources_subtract(b, tenth), -AG_ERANGE); /* unchanged */
    CHECK(ag_resources_empty(b));
    CHECK_EQ_INT(ag_resources_add(b, tenth), 0);
    CHECK(ag_resources_scalar(b, "cpus") == 0.1);
    ag_resources_free(b);

    /* Ranges are taken value by value; roles are kept apart. */
    CHECK_EQ_INT(ag_resources_parse(&b, "ports:[31001-31001]"), 0);
    CHECK_EQ_INT(ag_resources_subtract(a, b), 0);
    CHECK_EQ_INT(ag_resources_format(a, buf, sizeof(buf)) > 0, 1);
    CHECK_EQ_STR(buf, "cpus:1;mem:128;ports:[31000-31000,31002-31002]");
    CHECK(!ag_resources_contains(a, b));
    CHECK_EQ_INT(ag_resources_add(a, tenth), 0);
    CHECK_EQ_INT(ag_resources_parse(&web, "cpus(web):0.5"), 0);
    CHECK(!ag_resources_contains(a, web));
    CHECK_EQ_INT(ag_resources_add(b, web), 0);
    CHECK_EQ_INT(ag_resources_format(b, buf, sizeof(buf)) > 0, 1);
    CHECK_EQ_STR(buf, "cpus(web):0.5;ports:[31001-31001]");
    ag_resources_free(b);
    CHECK_EQ_INT(ag_resources_parse(&b, "ports:{a}"), 0);
    CHECK_EQ_INT(ag_resources_add(a, b), -AG_EINVAL); /* ports has another type in a */
    ag_resources_free(b);

    /* From an offer, and ag_offer_fits. */
    CHECK_EQ_INT(ag_resources_from_offer(&b, o), 0);
    CHECK(ag_resources_contains(b, web));
    CHECK(ag_resources_scalar(b, "cpus") == 3);
    CHECK_EQ_INT(ag_offer_fits(o, "cpus:2;mem:1024;ports:[31005-31005]"), 1);
    CHECK_EQ_INT(ag_offer_fits(o, "cpus:2.001"), 0);
    CHECK_EQ_INT(ag_offer_fits(o, "cpus(web):1"), 1);
    CHECK_EQ_INT(ag_offer_fits(o, "cpus(web):1.5"), 0);
    CHECK_EQ_INT(ag_offer_fits(o, "ports:[30000-30000]"), 0);
    CHECK_EQ_INT(ag_offer_fits(o, "mem:lots"), -AG_EINVAL);
    CHECK_EQ_INT(ag_offer_fits(NULL, "mem:1"), -AG_EINVAL);

    /* NULL is harmless. */
    CHECK(!ag_resources_contains(NULL, a));
    CHECK_EQ_INT(ag_resources_subtract(NULL, a), -AG_EINVAL);
    CHECK_EQ_INT(ag_resources_format(NULL, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "");
    ag_resources_free(NULL);

    ag_resources_free(a);
    ag_resources_free(b);
    ag_resources_free(tenth);
    ag_resources_free(web);
    ag_offer_free(o);
}

/* ag_driver_want_offers sends only changes, and a suppression outlives a reconnection. */
static void
test_driver_want_offers(void)
{
    struct fm *fm = fm_start();
    struct ag_driver *d = driver_for(fm, NULL);

    CHECK_EQ_INT(ag_driver_want_offers(d, false), -AG_ECLOSED); /* not started */
    CHECK(!ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_start(d), 0);
    CHECK(rec_wait(&rec.subscribed, 1, 5000));
    CHECK_EQ_INT(ag_driver_want_offers(d, true), 0); /* already wanted: nothing sent */
    CHECK_EQ_INT(ag_driver_want_offers(d, false), 0);
    CHECK_EQ_INT(ag_driver_want_offers(d, false), 0);
    CHECK(ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_kill(d, "t-sync", NULL), 0); /* calls are sent in order */
    CHECK(fm_wait(fm, MSG_KILL, 0, 5000) != NULL);
    CHECK_EQ_INT(fm_count(fm, MSG_SUPPRESS), 1);
    CHECK_EQ_INT(fm_count(fm, MSG_REVIVE), 0);

    /* The master forgets suppression with the connection; the driver suppresses again. */
    fm_post(fm, 1, NULL);
    CHECK(rec_wait(&rec.subscribed, 2, 10000));
    CHECK(fm_wait(fm, MSG_SUPPRESS, 1, 5000) != NULL);
    CHECK(ag_driver_offers_suppressed(d));

    /* A revive, by either call, is tracked too. */
    CHECK_EQ_INT(ag_driver_want_offers(d, true), 0);
    CHECK(fm_wait(fm, MSG_REVIVE, 0, 5000) != NULL);
    CHECK(!ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_suppress(d, NULL), 0);
    CHECK(ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_suppress(d, "web"), 0); /* one role: not "every role" */
    CHECK(ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_revive(d, "web"), 0);
    CHECK(!ag_driver_offers_suppressed(d));
    CHECK_EQ_INT(ag_driver_want_offers(d, true), 0);
    CHECK_EQ_INT(ag_driver_kill(d, "t-sync2", NULL), 0);
    CHECK(fm_wait(fm, MSG_KILL, 1, 5000) != NULL);
    CHECK_EQ_INT(fm_count(fm, MSG_REVIVE), 2);
    CHECK_EQ_INT(fm_count(fm, MSG_SUPPRESS), 4);
    CHECK_EQ_INT(ag_driver_want_offers(NULL, true), -AG_EINVAL);
    ag_driver_free(d);
    fm_stop(fm);
}

/* ag_framework_info_set_tls checks its files and names the bad one. */
static void
test_framework_info_tls(void)
{
    struct ag_framework_info *fi = ag_framework_info_new();

    CHECK(fi != NULL);
    CHECK_EQ_INT(ag_framework_info_set_tls(NULL, NULL, NULL, NULL), -AG_EINVAL);
    CHECK_EQ_INT(ag_framework_info_set_tls(fi, "/nonexistent/ca.pem", NULL, NULL), -AG_EINVAL);
    CHECK(strstr(ag_last_error(), "/nonexistent/ca.pem: cannot read") != NULL);
    CHECK_EQ_INT(ag_framework_info_set_tls(fi, NULL, "/nonexistent/c.pem", NULL), -AG_EINVAL);
    CHECK(strstr(ag_last_error(), "--tls_cert and --tls_key go together") != NULL);
    ag_framework_info_free(fi);
}

TEST_LIST(TEST_ENTRY(framework_info), TEST_ENTRY(framework_info_tls), TEST_ENTRY(task_builder), TEST_ENTRY(operations),
          TEST_ENTRY(offer_accessors), TEST_ENTRY(status_accessors), TEST_ENTRY(rate_limit),
          TEST_ENTRY(oom), TEST_ENTRY(driver_lifecycle), TEST_ENTRY(driver_flow),
          TEST_ENTRY(driver_reconnect), TEST_ENTRY(driver_epoch), TEST_ENTRY(driver_heartbeat),
          TEST_ENTRY(driver_reconcile_until_known), TEST_ENTRY(driver_fatal),
          TEST_ENTRY(driver_auth), TEST_ENTRY(driver_rate_limit), TEST_ENTRY(driver_threads),
          TEST_ENTRY(driver_stop_flushes), TEST_ENTRY(error_map), TEST_ENTRY(resources_api),
          TEST_ENTRY(driver_want_offers));

TEST_MAIN()
