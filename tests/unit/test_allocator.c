/* Unit tests for the allocator (master/allocator.c). */
#include "test.h"

#include "allocator.h"
#include "error.h"

#include <math.h>
#include <stdbool.h>

/* ---- helpers ---- */

struct offer_rec {
    char fw[64];
    char agent[64];
    char role[64];
    struct resources r;
};

struct recorder {
    struct offer_rec *v;
    size_t n, cap;
};

static void
rec_emit(void *arg, const char *fw, const char *agent, const char *role,
         const struct resources *off)
{
    struct recorder *rc = arg;

    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 64;
        rc->v = realloc(rc->v, rc->cap * sizeof(*rc->v));
        CHECK(rc->v != NULL);
    }
    snprintf(rc->v[rc->n].fw, 64, "%s", fw);
    snprintf(rc->v[rc->n].agent, 64, "%s", agent);
    snprintf(rc->v[rc->n].role, 64, "%s", role);
    res_init(&rc->v[rc->n].r);
    CHECK(res_copy(&rc->v[rc->n].r, off) == 0);
    CHECK(!res_empty(off));
    rc->n++;
}

static void
rec_clear(struct recorder *rc)
{
    for (size_t i = 0; i < rc->n; i++)
        res_fini(&rc->v[i].r);
    rc->n = 0;
}

static void
rec_free(struct recorder *rc)
{
    rec_clear(rc);
    free(rc->v);
    rc->v = NULL;
    rc->cap = 0;
}

static struct resources
R(const char *text) {
    struct resources r;
    char err[128];

    res_init(&r);
    if (res_parse(&r, text, err, sizeof(err)) != 0) {
        fprintf(stderr, "bad resources %s: %s\n", text, err);
        exit(1);
    }
    return r;
}

static struct alloc *
mk(const char *weights, const char *min_alloc, const char *sorter)
{
    struct alloc_config cfg = {.role_sorter = sorter,
                               .framework_sorter = sorter,
                               .weights = weights,
                               .min_allocatable = min_alloc,
                               .seed = 42};
    struct alloc *a = NULL;
    char err[128];

    CHECK_EQ_INT(alloc_create(&a, &cfg, err, sizeof(err)), 0);
    return a;
}

static void
add_agents(struct alloc *a, int n, const char *prefix, const char *shape)
{
    struct resources r = R(shape);
    char id[64];

    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        CHECK_EQ_INT(alloc_add_agent(a, id, &r, NULL, 0), 0);
    }
    res_fini(&r);
}

static void
add_fw(struct alloc *a, const char *id, const char *role)
{
    const char *roles[] = {role};
    CHECK_EQ_INT(alloc_add_framework(a, id, roles, 1, NULL, 0), 0);
}

static int64_t
milli(const struct resources *r, const char *name)
{
    return res_scalar(r, name);
}

/* Sum of scalar `name` offered to frameworks/roles matching (NULL = any). */
static int64_t
offered(const struct recorder *rc, const char *fw, const char *role, const char *name)
{
    int64_t s = 0;

    for (size_t i = 0; i < rc->n; i++)
        if ((!fw || strcmp(rc->v[i].fw, fw) == 0) && (!role || strcmp(rc->v[i].role, role) == 0))
            s += milli(&rc->v[i].r, name);
    return s;
}

static int
count_offers(const struct recorder *rc, const char *fw, const char *role)
{
    int n = 0;

    for (size_t i = 0; i < rc->n; i++)
        if ((!fw || strcmp(rc->v[i].fw, fw) == 0) && (!role || strcmp(rc->v[i].role, role) == 0))
            n++;
    return n;
}

/* A framework model for simulations: launches up to `per_offer` tasks of
 * shape `task` per offer while it has fewer than `want`; returns the rest
 * with `refuse` seconds (or `refuse_empty` when it launched nothing). */
struct model {
    char id[64];
    struct resources task;
    int want;
    int per_offer;
    double refuse;
    double refuse_empty;
    int tasks;
    int offers;
};

static struct model *
find_model(struct model *m, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            return &m[i];
    CHECK(!"unknown framework");
    return NULL;
}

/* One allocation run plus every framework's answer. Returns offers made. */
static int
sim_round(struct alloc *a, double now, struct model *m, int nm, struct recorder *rc)
{
    int offers;

    rec_clear(rc);
    offers = alloc_run(a, now, NULL, 0, rec_emit, rc);
    CHECK(offers >= 0);
    CHECK_EQ_INT((size_t)offers, rc->n);
    for (size_t i = 0; i < rc->n; i++) {
        struct offer_rec *o = &rc->v[i];
        struct model *x = find_model(m, nm, o->fw);
        struct resources left;
        int launched = 0;

        x->offers++;
        res_init(&left);
        CHECK(res_copy(&left, &o->r) == 0);
        /* Tasks use unreserved resources (the sims reserve nothing). */
        while (x->tasks < x->want && launched < x->per_offer && res_contains(&left, &x->task)) {
            CHECK(res_sub(&left, &x->task) == 0);
            x->tasks++;
            launched++;
        }
        if (!res_empty(&left))
            CHECK_EQ_INT(alloc_recover_resources(a, o->fw, o->agent, o->role, &left,
                                                 launched ? x->refuse : x->refuse_empty, now),
                         0);
        res_fini(&left);
    }
    return offers;
}

static void
model_init(struct model *m, const char *id, const char *task, int want, int per_offer,
           double refuse, double refuse_empty)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->task = R(task);
    m->want = want;
    m->per_offer = per_offer;
    m->refuse = refuse;
    m->refuse_empty = refuse_empty;
}

/* ---- DRF ---- */

/* The DRF paper's example: 9 cpus, 18 GB; A's tasks need <1 cpu, 4 GB>, B's
 * <3 cpus, 1 GB>: A runs 3 tasks and B 2. */
static void
drf_classic(const char *role_a, const char *role_b)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct resources total = R("cpus:9;mem:18432");
    struct model m[2];
    struct recorder rc = {0};
    int rounds = 0;

    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, NULL, 0), 0);
    add_fw(a, "A", role_a);
    add_fw(a, "B", role_b);
    model_init(&m[0], "A", "cpus:1;mem:4096", 1000, 1, 0, 1000);
    model_init(&m[1], "B", "cpus:3;mem:1024", 1000, 1, 0, 1000);
    while (sim_round(a, rounds, m, 2, &rc) > 0)
        CHECK(++rounds < 100);
    CHECK_EQ_INT(m[0].tasks, 3);
    CHECK_EQ_INT(m[1].tasks, 2);
    rec_free(&rc);
    res_fini(&m[0].task);
    res_fini(&m[1].task);
    res_fini(&total);
    alloc_destroy(a);
}

static void
test_drf_classic(void)
{
    drf_classic("*", "*");
}

static void
test_drf_classic_roles(void)
{
    drf_classic("a", "b");
}

static void
test_drf_classic_nested(void)
{
    drf_classic("users/a", "users/b");
}

/* Hierarchical DRF: eng/web and eng/db share eng's half against ops. */
static void
test_drf_hierarchical(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};

    add_agents(a, 100, "s", "cpus:1;mem:1024");
    add_fw(a, "W", "eng/web");
    add_fw(a, "D", "eng/db");
    add_fw(a, "O", "ops");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 100);
    CHECK_EQ_INT(count_offers(&rc, "O", "ops"), 50);
    CHECK_EQ_INT(count_offers(&rc, "W", "eng/web"), 25);
    CHECK_EQ_INT(count_offers(&rc, "D", "eng/db"), 25);
    rec_free(&rc);
    alloc_destroy(a);

    /* A framework in "eng" itself competes with eng's subroles. */
    a = mk(NULL, NULL, NULL);
    add_agents(a, 100, "s", "cpus:1;mem:1024");
    add_fw(a, "E", "eng");
    add_fw(a, "W", "eng/web");
    add_fw(a, "O", "ops");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 100);
    CHECK_EQ_INT(count_offers(&rc, "O", NULL), 50);
    CHECK_EQ_INT(count_offers(&rc, "E", NULL), 25);
    CHECK_EQ_INT(count_offers(&rc, "W", NULL), 25);
    rec_free(&rc);
    alloc_destroy(a);
}

/* Several frameworks in one role share it by DRF; a framework in two roles
 * gets offers in both. */
static void
test_multi_role(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    const char *roles[] = {"x", "y"};

    add_agents(a, 30, "s", "cpus:1;mem:1024");
    CHECK_EQ_INT(alloc_add_framework(a, "M", roles, 2, NULL, 0), 0);
    add_fw(a, "X", "x");
    add_fw(a, "Y", "y");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 30);
    CHECK_EQ_INT(count_offers(&rc, NULL, "x"), 15);
    CHECK_EQ_INT(count_offers(&rc, NULL, "y"), 15);
    CHECK(count_offers(&rc, "M", "x") >= 7 && count_offers(&rc, "M", "x") <= 8);
    CHECK(count_offers(&rc, "M", "y") >= 7 && count_offers(&rc, "M", "y") <= 8);
    rec_free(&rc);
    alloc_destroy(a);
}

/* UPDATE_FRAMEWORK: new offers come in the new role; what was allocated in
 * the old one stays accounted there until it comes back. */
static void
test_update_framework_roles(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct alloc_role_info info;
    const char *b[] = {"b"}, *bad[] = {"/x"};

    add_agents(a, 2, "s", "cpus:1;mem:1024");
    add_fw(a, "F", "a");
    CHECK_EQ_INT(alloc_run(a, 0, &(const char *){"s0"}, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].role, "a");
    CHECK_EQ_INT(alloc_update_framework_roles(a, "F", b, 1, NULL, 0), 0);
    CHECK_EQ_INT(alloc_update_framework_roles(a, "F", bad, 1, NULL, 0), -AG_EINVAL);
    CHECK_EQ_INT(alloc_update_framework_roles(a, "G", b, 1, NULL, 0), -AG_ENOENT);
    CHECK_EQ_INT(alloc_run_pending(a, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[1].role, "b");
    CHECK_EQ_INT(alloc_get_role(a, "a", &info), 0);
    CHECK_EQ_INT(milli(info.allocated, "cpus"), 1000);
    CHECK_EQ_INT(info.nframeworks, 0);
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s0", "a", &rc.v[0].r, 0, 2), 0);
    CHECK_EQ_INT(alloc_get_role(a, "a", &info), 0);
    CHECK_EQ_INT(milli(info.allocated, "cpus"), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 3, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].role, "b");
    rec_free(&rc);
    alloc_destroy(a);
}

/* ---- weights ---- */

static void
test_weights(void)
{
    struct alloc *a = mk("a=2,c/d=0.5", NULL, NULL);
    struct recorder rc = {0};
    struct alloc_role_info info;

    CHECK_EQ_INT(alloc_get_role(a, "a", &info), 0);
    CHECK(info.weight == 2.0 && info.weight_set);
    CHECK_EQ_INT(alloc_get_role(a, "c/d", &info), 0);
    CHECK(info.weight == 0.5);
    CHECK_EQ_INT(alloc_get_role(a, "c", &info), 0);
    CHECK(info.weight == 1.0 && !info.weight_set);
    add_agents(a, 30, "s", "cpus:1;mem:1024");
    add_fw(a, "A", "a");
    add_fw(a, "B", "b");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 30);
    CHECK_EQ_INT(count_offers(&rc, "A", NULL), 20);
    CHECK_EQ_INT(count_offers(&rc, "B", NULL), 10);
    /* Change weights at run time (the /weights endpoint), give all back. */
    CHECK_EQ_INT(alloc_set_weight(a, "b", 2.0), 0);
    CHECK_EQ_INT(alloc_set_weight(a, "b", 0), -AG_EINVAL);
    CHECK_EQ_INT(alloc_set_weight(a, "b", NAN), -AG_EINVAL);
    CHECK_EQ_INT(alloc_set_weight(a, "/bad", 1), -AG_EINVAL);
    for (size_t i = 0; i < rc.n; i++)
        CHECK_EQ_INT(alloc_recover_resources(a, rc.v[i].fw, rc.v[i].agent, NULL, &rc.v[i].r, 0, 0),
                     0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 30);
    CHECK_EQ_INT(count_offers(&rc, "A", NULL), 15);
    CHECK_EQ_INT(count_offers(&rc, "B", NULL), 15);
    rec_free(&rc);
    alloc_destroy(a);

    {
        struct alloc *b = NULL;
        struct alloc_config cfg = {.weights = "a=x"};
        char err[128] = "";
        CHECK_EQ_INT(alloc_create(&b, &cfg, err, sizeof(err)), -AG_EINVAL);
        CHECK(strstr(err, "weights") != NULL);
        cfg = (struct alloc_config){.role_sorter = "fifo"};
        CHECK_EQ_INT(alloc_create(&b, &cfg, err, sizeof(err)), -AG_EINVAL);
        cfg = (struct alloc_config){.min_allocatable = "cpus:1|ports:[1-2]"};
        CHECK_EQ_INT(alloc_create(&b, &cfg, err, sizeof(err)), -AG_EINVAL);
    }
}

/* ---- quota ---- */

static void
test_quota_guarantee(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources g = R("cpus:10");
    struct alloc_role_info info;

    add_agents(a, 20, "s", "cpus:1;mem:1024");
    add_fw(a, "A", "a");
    add_fw(a, "B", "b");
    add_fw(a, "C", "c");
    add_fw(a, "Q", "q");
    CHECK_EQ_INT(alloc_set_quota(a, "q", &g, NULL), 0);
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 20);
    /* DRF alone would give q 5 agents; its guarantee gives it 10. */
    CHECK_EQ_INT(offered(&rc, "Q", NULL, "cpus"), 10000);
    CHECK_EQ_INT(alloc_get_role(a, "q", &info), 0);
    CHECK(info.guarantee != NULL && res_equal(info.guarantee, &g));
    CHECK(info.limit == NULL);
    CHECK_EQ_INT(milli(info.consumed, "cpus"), 10000);
    CHECK_EQ_INT(milli(info.allocated, "mem"), 10 * 1024 * 1000);
    CHECK_EQ_INT(info.nframeworks, 1);
    CHECK_EQ_STR(info.frameworks[0], "Q");
    rec_free(&rc);
    res_fini(&g);
    alloc_destroy(a);
}

/* A guarantee on a parent role is met through its subroles' frameworks. */
static void
test_quota_parent_guarantee(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources g = R("cpus:12");

    add_agents(a, 20, "s", "cpus:1;mem:1024");
    add_fw(a, "A", "a");
    add_fw(a, "W", "eng/web");
    add_fw(a, "D", "eng/db");
    CHECK_EQ_INT(alloc_set_quota(a, "eng", &g, NULL), 0);
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 20);
    CHECK_EQ_INT(offered(&rc, "W", NULL, "cpus") + offered(&rc, "D", NULL, "cpus"), 12000);
    CHECK(abs((int)(offered(&rc, "W", NULL, "cpus") - offered(&rc, "D", NULL, "cpus"))) <= 1000);
    rec_free(&rc);
    res_fini(&g);
    alloc_destroy(a);
}

/* Unallocated resources are held back for a guarantee that is not met, even
 * when its role takes nothing now. */
static void
test_quota_headroom(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources g = R("cpus:10");
    const char *q[] = {"q"};

    add_agents(a, 20, "s", "cpus:1;mem:1024");
    add_fw(a, "A", "a");
    add_fw(a, "B", "b");
    CHECK_EQ_INT(alloc_add_framework(a, "Q", q, 1, q, 1), 0); /* suppressed */
    CHECK_EQ_INT(alloc_set_quota(a, "q", &g, NULL), 0);
    alloc_run(a, 0, NULL, 0, rec_emit, &rc);
    CHECK_EQ_INT(offered(&rc, NULL, NULL, "cpus"), 10000);
    CHECK_EQ_INT(offered(&rc, "Q", NULL, "cpus"), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_revive(a, "Q", NULL, 0), 0);
    CHECK(alloc_pending(a));
    CHECK(alloc_run_pending(a, 2, rec_emit, &rc) > 0);
    CHECK_EQ_INT(offered(&rc, "Q", NULL, "cpus"), 10000);
    CHECK(!alloc_pending(a));
    rec_free(&rc);
    res_fini(&g);
    alloc_destroy(a);
}

static void
test_quota_limit(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources l = R("cpus:3"), g = R("cpus:4"), bad = R("cpus(x):1"),
                     ports = R("ports:[1-2]");
    struct alloc_role_info info;

    CHECK_EQ_INT(alloc_set_quota(a, "l", &g, &l), -AG_EINVAL); /* guarantee above limit */
    CHECK_EQ_INT(alloc_set_quota(a, "l", &bad, NULL), -AG_EINVAL);
    CHECK_EQ_INT(alloc_set_quota(a, "l", NULL, &ports), -AG_EINVAL);
    CHECK_EQ_INT(alloc_set_quota(a, "", NULL, &l), -AG_EINVAL);
    CHECK_EQ_INT(alloc_set_quota(a, "l", NULL, &l), 0);
    add_agents(a, 4, "s", "cpus:2;mem:1024");
    add_fw(a, "L", "l/x"); /* the parent's limit binds its subroles */
    for (int round = 0; round < 5; round++) {
        rec_clear(&rc);
        alloc_run(a, round, NULL, 0, rec_emit, &rc);
        CHECK_EQ_INT(alloc_get_role(a, "l", &info), 0);
        CHECK_EQ_INT(milli(info.consumed, "cpus"), 3000);
        CHECK_EQ_INT(milli(info.allocated, "mem"), 4 * 1024 * 1000);
        /* Give everything back; the next round must stay within the limit. */
        for (size_t i = 0; i < rc.n; i++)
            CHECK_EQ_INT(
                alloc_recover_resources(a, "L", rc.v[i].agent, "l/x", &rc.v[i].r, 0, round), 0);
    }
    /* Removing the quota lifts the limit. */
    CHECK_EQ_INT(alloc_set_quota(a, "l", NULL, NULL), 0);
    rec_clear(&rc);
    alloc_run(a, 10, NULL, 0, rec_emit, &rc);
    CHECK_EQ_INT(offered(&rc, "L", NULL, "cpus"), 8000);
    CHECK_EQ_INT(alloc_get_role(a, "l", &info), 0);
    CHECK(info.limit == NULL);
    rec_free(&rc);
    res_fini(&l);
    res_fini(&g);
    res_fini(&bad);
    res_fini(&ports);
    alloc_destroy(a);
}

/* ---- reservations ---- */

static bool
only_unreserved(const struct resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].role, "*") != 0)
            return false;
    return true;
}

static void
test_reservations_static(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources total = R("cpus:1;mem:1024;cpus(web):2;mem(web):512");
    struct resources unres = R("cpus:1;mem:1024"), resv = R("cpus(web):2;mem(web):512");
    struct alloc_role_info info;

    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, NULL, 0), 0);
    add_fw(a, "O", "other");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 1);
    CHECK(res_equal(&rc.v[0].r, &unres));
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 0);
    /* A subrole of web may use web's reservation. */
    add_fw(a, "X", "web/x");
    CHECK_EQ_INT(alloc_run(a, 2, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "X");
    CHECK(res_equal(&rc.v[0].r, &resv));
    CHECK_EQ_INT(alloc_get_role(a, "web", &info), 0);
    CHECK_EQ_INT(milli(info.reserved, "cpus"), 2000);
    CHECK_EQ_INT(milli(info.allocated, "cpus"), 2000);
    CHECK_EQ_INT(milli(info.consumed, "cpus"), 2000); /* reserved, not counted twice */
    rec_free(&rc);
    res_fini(&total);
    res_fini(&unres);
    res_fini(&resv);
    alloc_destroy(a);
}

static void
test_reservations_dynamic(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources total = R("cpus:4;mem:4096");
    struct resources from = R("cpus:2;mem:1024"), to = R("cpus(web):2;mem(web):1024");
    struct resources wrong = R("cpus(web):3;mem(web):1024"), one = R("cpus:1"),
                     one_web = R("cpus(web):1");
    const struct resources *avail, *tot;

    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, NULL, 0), 0);
    CHECK_EQ_INT(alloc_update_available(a, "s1", &from, &wrong), -AG_EINVAL);
    CHECK_EQ_INT(alloc_update_available(a, "s2", &from, &to), -AG_ENOENT);
    CHECK_EQ_INT(alloc_update_available(a, "s1", &from, &to), 0); /* RESERVE */
    CHECK_EQ_INT(alloc_update_available(a, "s1", &to, &to), 0);   /* no-op */
    CHECK_EQ_INT(alloc_agent_resources(a, "s1", &tot, &avail), 0);
    CHECK_EQ_INT(milli(tot, "cpus"), 4000);
    add_fw(a, "O", "other");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 1);
    CHECK(only_unreserved(&rc.v[0].r));
    CHECK_EQ_INT(milli(&rc.v[0].r, "cpus"), 2000);
    CHECK_EQ_INT(alloc_update_available(a, "s1", &from, &to), -AG_ERANGE); /* offered */
    add_fw(a, "W", "web");
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "W");
    CHECK(res_equal(&rc.v[0].r, &to));
    /* W gives it back; UNRESERVE; now O (or W) may get it as unreserved. */
    CHECK_EQ_INT(alloc_recover_resources(a, "W", "s1", "web", &to, 0, 2), 0);
    CHECK_EQ_INT(alloc_update_available(a, "s1", &to, &from), 0);
    CHECK_EQ_INT(alloc_agent_resources(a, "s1", NULL, &avail), 0);
    CHECK(only_unreserved(avail));
    /* RESERVE from an offer: W reserves 1 of its offered cpus. */
    CHECK_EQ_INT(alloc_suppress(a, "O", NULL, 0), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 3, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "W");
    CHECK_EQ_INT(alloc_update_allocation(a, "W", "s1", "web", &one, &one_web), 0);
    CHECK_EQ_INT(alloc_update_allocation(a, "W", "s1", "web", &one, &to), -AG_EINVAL);
    CHECK_EQ_INT(alloc_agent_resources(a, "s1", &tot, NULL), 0);
    CHECK_EQ_INT(res_scalar(tot, "cpus"), 4000);
    CHECK(!only_unreserved(tot));
    CHECK_EQ_INT(alloc_recover_resources(a, "W", "s1", "web", &rc.v[0].r, 0, 3), -AG_ERANGE);
    CHECK_EQ_INT(res_sub(&rc.v[0].r, &one), 0);
    CHECK_EQ_INT(res_add(&rc.v[0].r, &one_web), 0);
    CHECK_EQ_INT(alloc_recover_resources(a, "W", "s1", "web", &rc.v[0].r, 0, 3), 0);
    CHECK_EQ_INT(alloc_revive(a, "O", NULL, 0), 0);
    CHECK_EQ_INT(alloc_suppress(a, "W", NULL, 0), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 4, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "O"); /* O still holds 2 cpus from its first offer */
    CHECK_EQ_INT(milli(&rc.v[0].r, "cpus"), 1000);
    CHECK(only_unreserved(&rc.v[0].r));
    rec_free(&rc);
    res_fini(&total);
    res_fini(&from);
    res_fini(&to);
    res_fini(&wrong);
    res_fini(&one);
    res_fini(&one_web);
    alloc_destroy(a);
}

/* ---- filters, suppress, revive ---- */

static void
test_filters_expire(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};

    add_agents(a, 1, "s", "cpus:4;mem:4096");
    add_fw(a, "A", "*");
    CHECK(isinf(alloc_next_filter_expiry(a)));
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s0", "*", &rc.v[0].r, 10, 0), 0);
    CHECK(alloc_next_filter_expiry(a) == 10);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 5, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_run(a, 9.99, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_run(a, 10, NULL, 0, rec_emit, &rc), 1);
    CHECK(isinf(alloc_next_filter_expiry(a)));
    rec_free(&rc);
    alloc_destroy(a);
}

/* A filter holds until resources on the agent are freed by something else. */
static void
test_filters_cleared_by_freed_resources(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources task = R("cpus:1;mem:1024");
    struct alloc_stats st;

    add_agents(a, 1, "s", "cpus:4;mem:4096");
    add_fw(a, "B", "*");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_INT(res_sub(&rc.v[0].r, &task), 0); /* B launches a task */
    CHECK_EQ_INT(alloc_recover_resources(a, "B", "s0", "*", &rc.v[0].r, 100, 0), 0);
    add_fw(a, "A", "*");
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "A");
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s0", "*", &rc.v[0].r, 100, 1), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 2, NULL, 0, rec_emit, &rc), 0);
    alloc_get_stats(a, &st);
    CHECK_EQ_INT(st.filters, 2);
    /* B's task ends: the agent has more than anyone refused. */
    CHECK_EQ_INT(alloc_recover_resources(a, "B", "s0", "*", &task, 0, 3), 0);
    alloc_get_stats(a, &st);
    CHECK_EQ_INT(st.filters, 0);
    CHECK_EQ_INT(alloc_run(a, 3, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_INT(milli(&rc.v[0].r, "cpus"), 4000);
    rec_free(&rc);
    res_fini(&task);
    alloc_destroy(a);
}

static void
test_suppress_revive(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    const char *roles[] = {"r"};
    const char *other[] = {"zzz"};

    add_agents(a, 4, "s", "cpus:1;mem:1024");
    CHECK_EQ_INT(alloc_add_framework(a, "A", roles, 1, roles, 1), 0);
    CHECK_EQ_INT(alloc_add_framework(a, "A", roles, 1, NULL, 0), -AG_EEXIST);
    CHECK_EQ_INT(alloc_add_framework(a, "Z", roles, 0, NULL, 0), -AG_EINVAL);
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 0);
    add_fw(a, "B", "r");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 4);
    CHECK_EQ_INT(count_offers(&rc, "B", NULL), 4);
    /* B declines everything for a long time; A revives and gets it all. */
    for (size_t i = 0; i < rc.n; i++)
        CHECK_EQ_INT(alloc_recover_resources(a, "B", rc.v[i].agent, "r", &rc.v[i].r, 1e9, 0), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_revive(a, "A", other, 1), -AG_EINVAL);
    CHECK_EQ_INT(alloc_revive(a, "nobody", NULL, 0), -AG_ENOENT);
    CHECK_EQ_INT(alloc_revive(a, "A", roles, 1), 0);
    CHECK_EQ_INT(alloc_run_pending(a, 2, rec_emit, &rc), 4);
    CHECK_EQ_INT(count_offers(&rc, "A", NULL), 4);
    for (size_t i = 0; i < rc.n; i++)
        CHECK_EQ_INT(alloc_recover_resources(a, "A", rc.v[i].agent, "r", &rc.v[i].r, 1e9, 2), 0);
    /* Revive clears B's filters too. */
    CHECK_EQ_INT(alloc_revive(a, "B", NULL, 0), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 3, NULL, 0, rec_emit, &rc), 4);
    CHECK_EQ_INT(count_offers(&rc, "B", NULL), 4);
    /* Inactive frameworks get nothing. */
    for (size_t i = 0; i < rc.n; i++)
        CHECK_EQ_INT(alloc_recover_resources(a, "B", rc.v[i].agent, "r", &rc.v[i].r, 0, 3), 0);
    CHECK_EQ_INT(alloc_set_framework_active(a, "B", false), 0);
    CHECK_EQ_INT(alloc_suppress(a, "A", NULL, 0), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 4, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_set_framework_active(a, "B", true), 0);
    CHECK_EQ_INT(alloc_run(a, 4, NULL, 0, rec_emit, &rc), 4);
    rec_free(&rc);
    alloc_destroy(a);
}

/* ---- agents ---- */

static void
test_min_allocatable_and_draining(void)
{
    struct alloc *a = mk(NULL, "cpus:1|mem:2048", NULL);
    struct recorder rc = {0};
    struct resources big = R("cpus:0.5;mem:1024"), part = R("cpus:0.5");

    CHECK_EQ_INT(alloc_add_agent(a, "s1", &big, NULL, 0), 0);
    add_fw(a, "A", "*");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, &rc), 0); /* below both minimums */
    CHECK_EQ_INT(alloc_remove_agent(a, "s1"), 0);
    CHECK_EQ_INT(alloc_remove_agent(a, "s1"), -AG_ENOENT);
    add_agents(a, 2, "s", "cpus:2;mem:1024");
    CHECK_EQ_INT(alloc_set_agent_draining(a, "s0", true), 0);
    CHECK_EQ_INT(alloc_set_agent_active(a, "s1", false), 0);
    CHECK_EQ_INT(alloc_run(a, 1, NULL, 0, rec_emit, &rc), 0);
    CHECK_EQ_INT(alloc_set_agent_active(a, "s1", true), 0);
    CHECK_EQ_INT(alloc_run(a, 2, NULL, 0, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].agent, "s1");
    CHECK_EQ_INT(alloc_set_agent_draining(a, "s0", false), 0);
    CHECK(alloc_pending(a));
    CHECK_EQ_INT(alloc_run_pending(a, 3, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[1].agent, "s0");
    /* A launches 1.5 cpus on s0 and returns 0.5 cpus + mem: 0.5 cpus alone is
     * under the minimum, the memory (1024 < 2048) too. */
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s0", "*", &part, 0, 3), 0);
    CHECK_EQ_INT(alloc_run(a, 4, NULL, 0, rec_emit, &rc), 0);
    rec_free(&rc);
    res_fini(&big);
    res_fini(&part);
    alloc_destroy(a);
}

/* Incremental runs visit the named agents only; re-registration brings the
 * resources in use (frameworks not added yet are tracked). */
static void
test_incremental_and_used(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources total = R("cpus:4;mem:4096;ports:[31000-32000]");
    struct resources u1 = R("cpus:1;mem:1024;ports:[31000-31000]"), u2 = R("cpus:1");
    struct resources huge = R("cpus:5");
    struct alloc_used used[] = {{"F", "r", &u1}, {"G", "*", &u2}};
    struct alloc_used bad[] = {{"F", "r", &huge}};
    const struct resources *avail;
    const char *ids[] = {"s1", "nope", "s1"};
    struct alloc_role_info info;

    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, used, 2), 0);
    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, NULL, 0), -AG_EEXIST);
    CHECK_EQ_INT(alloc_add_agent(a, "s2", &total, bad, 1), -AG_ERANGE);
    CHECK_EQ_INT(alloc_add_agent(a, "", &total, NULL, 0), -AG_EINVAL);
    add_agents(a, 3, "t", "cpus:1;mem:1024");
    CHECK_EQ_INT(alloc_agent_resources(a, "s1", NULL, &avail), 0);
    CHECK_EQ_INT(milli(avail, "cpus"), 2000);
    CHECK_EQ_INT(res_range_count(avail, "ports"), 1000);
    CHECK_EQ_INT(alloc_get_role(a, "r", &info), 0);
    CHECK_EQ_INT(milli(info.allocated, "cpus"), 1000);
    CHECK_EQ_INT(info.nframeworks, 0); /* F has not subscribed yet */
    add_fw(a, "F", "r");
    CHECK_EQ_INT(alloc_run(a, 0, ids, 3, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].agent, "s1");
    CHECK_EQ_INT(res_range_count(&rc.v[0].r, "ports"), 1000);
    /* F gives back what it used at re-registration (its task ended). */
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "r", &u1, 0, 0), 0);
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "r", &u1, 0, 0), -AG_ERANGE);
    CHECK_EQ_INT(alloc_recover_resources(a, "G", "s1", NULL, &u2, 0, 0), 0);
    CHECK_EQ_INT(alloc_recover_resources(a, "X", "s1", NULL, &u2, 0, 0), -AG_ENOENT);
    /* Removing F returns its offer; all of s1 is available again. */
    CHECK_EQ_INT(alloc_remove_framework(a, "F"), 0);
    CHECK_EQ_INT(alloc_remove_framework(a, "F"), -AG_ENOENT);
    CHECK_EQ_INT(alloc_agent_resources(a, "s1", NULL, &avail), 0);
    CHECK(res_equal(avail, &total));
    add_fw(a, "H", "*");
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run_pending(a, 1, rec_emit, &rc), 4);
    CHECK_EQ_INT(alloc_update_agent_total(a, "s1", &u2), -AG_ERANGE);
    rec_free(&rc);
    res_fini(&total);
    res_fini(&u1);
    res_fini(&u2);
    res_fini(&huge);
    alloc_destroy(a);
}

/* ---- starvation ---- */

/* A framework that declines everything (short filters) does not keep B from
 * getting every agent. */
static void
test_starvation_decliner(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct model m[2];

    add_agents(a, 50, "s", "cpus:2;mem:1024");
    add_fw(a, "A", "*");
    add_fw(a, "B", "*");
    model_init(&m[0], "A", "cpus:100", 0, 0, 1, 1); /* wants nothing, 1 s filters */
    model_init(&m[1], "B", "cpus:2;mem:1024", 1000000, 1000, 1, 1);
    sim_round(a, 0, m, 2, &rc);
    sim_round(a, 1, m, 2, &rc);
    CHECK_EQ_INT(m[1].tasks, 50);
    for (int t = 2; t < 10; t++)
        sim_round(a, t, m, 2, &rc);
    CHECK_EQ_INT(m[1].tasks, 50);
    res_fini(&m[0].task);
    res_fini(&m[1].task);
    rec_free(&rc);
    alloc_destroy(a);
}

/* Offers go first to frameworks that may use them: B declined a whole agent
 * (refusing offers that size), so the next one goes to A though B's share
 * is lower; once A declines an offer that could hold its task it is idle;
 * when its task ends it is hungry again. */
static void
test_refusing_states(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct resources task = R("cpus:1;mem:1024");
    const char *ids0[] = {"s0"}, *ids1[] = {"s1"};

    add_agents(a, 2, "s", "cpus:4;mem:4096");
    add_fw(a, "A", "*");
    add_fw(a, "B", "*");
    CHECK_EQ_INT(alloc_run(a, 0, ids0, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "A");
    CHECK_EQ_INT(alloc_run(a, 0, ids1, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[1].fw, "B");
    CHECK_EQ_INT(res_sub(&rc.v[0].r, &task), 0); /* A launches one task */
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s0", "*", &rc.v[0].r, 5, 0), 0);
    CHECK_EQ_INT(alloc_recover_resources(a, "B", "s1", "*", &rc.v[1].r, 5, 0), 0);
    rec_clear(&rc);
    /* Filters expired. B (share 0) refuses offers of 4 cpus: s1 goes to A. */
    CHECK_EQ_INT(alloc_run(a, 10, ids1, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "A");
    /* A declines an offer that could hold its task: idle. B gets s0 (3 cpus
     * is within what B refused, but A is idle: DRF order among them). */
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s1", "*", &rc.v[0].r, 5, 10), 0);
    rec_clear(&rc);
    CHECK_EQ_INT(alloc_run(a, 20, ids0, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "B");
    CHECK_EQ_INT(alloc_recover_resources(a, "B", "s0", "*", &rc.v[0].r, 5, 20), 0);
    rec_clear(&rc);
    /* A's task ends: A may want to relaunch and comes first again. */
    CHECK_EQ_INT(alloc_recover_resources(a, "A", "s0", "*", &task, 0, 30), 0);
    CHECK_EQ_INT(alloc_update_agent_total(a, "s1", &task), 0); /* make s1 small */
    CHECK_EQ_INT(alloc_run(a, 30, ids0, 1, rec_emit, &rc), 1);
    CHECK_EQ_STR(rc.v[0].fw, "A");
    rec_free(&rc);
    res_fini(&task);
    alloc_destroy(a);
}

/* 2000 small frameworks that each want one small task, plus a big one that
 * wants all it can get (filters of 5 s, one run a second): DRF serves every
 * small one first (one offer each), each small one then declines once and is
 * not offered again ahead of the big one, which gets the rest of the cluster
 * in the next rounds. Without that, the 2000 decliners would take every
 * offer while their filters expire. */
static void
test_starvation_many_small(void)
{
    enum { NSMALL = 2000 };
    struct alloc *a = mk(NULL, NULL, NULL);
    struct recorder rc = {0};
    struct model *m = calloc(NSMALL + 1, sizeof(*m));
    int all_served = -1, big_done = -1, max_small_offers = 0;

    CHECK(m != NULL);
    add_agents(a, 100, "s", "cpus:4;mem:4096");
    model_init(&m[0], "big", "cpus:1;mem:256", 1000000, 1000, 5, 5);
    add_fw(a, "big", "*");
    for (int i = 1; i <= NSMALL; i++) {
        char id[32];
        snprintf(id, sizeof(id), "t%04d", i);
        model_init(&m[i], id, "cpus:0.1;mem:64", 1, 1, 5, 5);
        add_fw(a, id, "*");
    }
    for (int t = 0; t < 80 && big_done < 0; t++) {
        int served = 0;
        sim_round(a, t, m, NSMALL + 1, &rc);
        for (int i = 1; i <= NSMALL; i++)
            served += m[i].tasks;
        if (served == NSMALL && all_served < 0) {
            all_served = t;
            for (int i = 1; i <= NSMALL; i++)
                if (m[i].offers > max_small_offers)
                    max_small_offers = m[i].offers;
        }
        /* 400 cpus, 200 for the small tasks; 0.1-cpu tasks leave agents
         * with fractions of a cpu the big tasks cannot use. */
        if (m[0].tasks >= 170)
            big_done = t;
    }
    fprintf(stderr,
            "small served by round %d (at most %d offers each), big has %d tasks by "
            "round %d\n",
            all_served, max_small_offers, m[0].tasks, big_done);
    CHECK(all_served >= 0 && all_served <= 21);
    CHECK(max_small_offers <= 2);
    CHECK(big_done >= 0 && big_done <= all_served + 22);
    for (int i = 0; i <= NSMALL; i++)
        res_fini(&m[i].task);
    free(m);
    rec_free(&rc);
    alloc_destroy(a);
}

/* ---- randomized invariants ---- */

#define RA 12 /* agents */
#define RF 6  /* frameworks */
#define RH 256

struct held {
    int agent, fw;
    char role[32];
    struct resources r;
};

struct world {
    struct alloc *a;
    bool agent_up[RA];
    bool draining[RA];
    struct resources total[RA];
    bool fw_up[RF];
    const char *fw_roles[RF][2];
    int fw_nroles[RF];
    bool suppressed[RF]; /* all roles */
    double filter_until[RF][RA];
    struct held h[RH];
    int nh;
    double now;
    int64_t limit_c; /* limit on role "c" cpus */
    int offers, reserved_offers, recovers;
};

static const char *role_pool[] = {"a", "b", "a/x", "c", "*"};

static bool
role_usable(const char *item_role, const char *role)
{
    size_t n;
    if (strcmp(item_role, "*") == 0)
        return true;
    n = strlen(item_role);
    return strncmp(item_role, role, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

static void
world_free_agent(struct world *w, int i)
{
    for (int k = 0; k < w->nh;) {
        if (w->h[k].agent == i) {
            res_fini(&w->h[k].r);
            w->h[k] = w->h[--w->nh];
        } else {
            k++;
        }
    }
}

/* Expected available resources of agent i: total - everything held. */
static void
world_avail(struct world *w, int i, struct resources *out)
{
    CHECK(res_copy(out, &w->total[i]) == 0);
    for (int k = 0; k < w->nh; k++)
        if (w->h[k].agent == i)
            CHECK_EQ_INT(res_sub(out, &w->h[k].r), 0);
}

static void
world_check(struct world *w)
{
    struct resources exp;
    char id[16];

    res_init(&exp);
    for (int i = 0; i < RA; i++) {
        const struct resources *tot, *av;
        snprintf(id, sizeof(id), "a%d", i);
        if (!w->agent_up[i]) {
            CHECK_EQ_INT(alloc_agent_resources(w->a, id, NULL, NULL), -AG_ENOENT);
            continue;
        }
        CHECK_EQ_INT(alloc_agent_resources(w->a, id, &tot, &av), 0);
        CHECK(res_equal(tot, &w->total[i]));
        world_avail(w, i, &exp);
        CHECK(res_equal(av, &exp));
    }
    res_fini(&exp);
}

static int64_t
world_role_cpus_unres(struct world *w, const char *role)
{
    int64_t s = 0;
    for (int k = 0; k < w->nh; k++) {
        if (!role_usable(role, w->h[k].role)) /* held in `role` or a subrole */
            continue;
        for (size_t j = 0; j < w->h[k].r.n; j++)
            if (strcmp(w->h[k].r.items[j].name, "cpus") == 0 &&
                strcmp(w->h[k].r.items[j].role, "*") == 0)
                s += w->h[k].r.items[j].scalar;
    }
    return s;
}

static void
world_emit(void *arg, const char *fw, const char *agent, const char *role,
           const struct resources *off)
{
    struct world *w = arg;
    int f = atoi(fw + 1), i = atoi(agent + 1);
    struct resources avail;
    bool in_role = false;

    CHECK(w->fw_up[f] && w->agent_up[i] && !w->draining[i] && !w->suppressed[f]);
    for (int r = 0; r < w->fw_nroles[f]; r++)
        in_role |= strcmp(w->fw_roles[f][r], role) == 0;
    CHECK(in_role);
    CHECK(w->filter_until[f][i] <= w->now);
    CHECK(!res_empty(off));
    /* Never more than the agent has, never the same resource twice. */
    res_init(&avail);
    world_avail(w, i, &avail);
    CHECK(res_contains(&avail, off));
    res_fini(&avail);
    /* Reserved resources only to their role (or subroles). */
    for (size_t j = 0; j < off->n; j++)
        CHECK(role_usable(off->items[j].role, role));
    CHECK(w->nh < RH);
    w->offers++;
    for (size_t j = 0; j < off->n; j++)
        if (strcmp(off->items[j].role, "*") != 0) {
            w->reserved_offers++;
            break;
        }
    w->h[w->nh].agent = i;
    w->h[w->nh].fw = f;
    snprintf(w->h[w->nh].role, sizeof(w->h[w->nh].role), "%s", role);
    res_init(&w->h[w->nh].r);
    CHECK(res_copy(&w->h[w->nh].r, off) == 0);
    w->nh++;
    /* The limit on "c" (which holds no reservations) is never exceeded. */
    CHECK(world_role_cpus_unres(w, "c") <= w->limit_c);
}

static void
invariants(uint64_t seed, const char *sorter)
{
    struct world w;
    uint64_t x = seed * 2654435761u + 1;
    static const char *shapes[] = {
        "cpus:4;mem:4096;disk:100;ports:[1000-1099]",
        "cpus:2;mem:1024;cpus(a):1;mem(a):512",
        "cpus:1;mem:2048;cpus(b):2;disk(b):10",
        "cpus:8;mem:512;cpus(a/x):1",
    };
    struct resources limit;

#define RND(n) ((int)((x = x * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % (n))

    memset(&w, 0, sizeof(w));
    w.a = mk(NULL, NULL, sorter);
    w.limit_c = 3000;
    limit = R("cpus:3");
    CHECK_EQ_INT(alloc_set_quota(w.a, "c", NULL, &limit), 0);
    res_fini(&limit);
    for (int i = 0; i < RA; i++)
        res_init(&w.total[i]);
    for (int step = 0; step < 3000; step++) {
        int op = RND(100);
        char id[16];
        w.now += RND(3);
        if (op < 10) { /* add agent */
            int i = RND(RA);
            struct resources r;
            snprintf(id, sizeof(id), "a%d", i);
            if (w.agent_up[i])
                continue;
            r = R(shapes[RND(4)]);
            CHECK_EQ_INT(alloc_add_agent(w.a, id, &r, NULL, 0), 0);
            CHECK(res_copy(&w.total[i], &r) == 0);
            res_fini(&r);
            w.agent_up[i] = true;
            w.draining[i] = false;
            for (int f = 0; f < RF; f++)
                w.filter_until[f][i] = 0;
        } else if (op < 13) { /* remove agent */
            int i = RND(RA);
            snprintf(id, sizeof(id), "a%d", i);
            CHECK_EQ_INT(alloc_remove_agent(w.a, id), w.agent_up[i] ? 0 : -AG_ENOENT);
            world_free_agent(&w, i);
            w.agent_up[i] = false;
        } else if (op < 20) { /* add framework */
            int f = RND(RF);
            snprintf(id, sizeof(id), "f%d", f);
            if (w.fw_up[f])
                continue;
            w.fw_nroles[f] = 1 + RND(2);
            w.fw_roles[f][0] = role_pool[RND(5)];
            w.fw_roles[f][1] = role_pool[RND(5)];
            CHECK_EQ_INT(alloc_add_framework(w.a, id, w.fw_roles[f], w.fw_nroles[f], NULL, 0), 0);
            w.fw_up[f] = true;
            w.suppressed[f] = false;
            for (int i = 0; i < RA; i++)
                w.filter_until[f][i] = 0;
        } else if (op < 22) { /* remove framework */
            int f = RND(RF);
            snprintf(id, sizeof(id), "f%d", f);
            if (!w.fw_up[f])
                continue;
            CHECK_EQ_INT(alloc_remove_framework(w.a, id), 0);
            for (int k = 0; k < w.nh;) {
                if (w.h[k].fw == f) {
                    for (int g = 0; g < RF; g++)
                        w.filter_until[g][w.h[k].agent] = 0;
                    res_fini(&w.h[k].r);
                    w.h[k] = w.h[--w.nh];
                } else {
                    k++;
                }
            }
            w.fw_up[f] = false;
        } else if (op < 45) { /* allocate */
            if (RND(2)) {
                CHECK(alloc_run(w.a, w.now, NULL, 0, world_emit, &w) >= 0);
            } else {
                const char *ids[3];
                char b[3][16];
                for (int j = 0; j < 3; j++) {
                    snprintf(b[j], sizeof(b[j]), "a%d", RND(RA));
                    ids[j] = b[j];
                }
                CHECK(alloc_run(w.a, w.now, ids, 3, world_emit, &w) >= 0);
            }
        } else if (op < 80) { /* give back all or part of something held */
            struct held *h;
            struct resources part;
            double refuse = RND(2) ? 0 : 1 + RND(5);
            char fid[16];
            if (w.nh == 0)
                continue;
            h = &w.h[RND(w.nh)];
            snprintf(id, sizeof(id), "a%d", h->agent);
            snprintf(fid, sizeof(fid), "f%d", h->fw);
            res_init(&part);
            if (RND(2)) {
                CHECK(res_copy(&part, &h->r) == 0);
            } else {
                const struct res_item *it = &h->r.items[RND((int)h->r.n)];
                if (it->type == RES_SCALAR)
                    CHECK_EQ_INT(res_add_scalar(&part, it->name, it->role, (it->scalar + 1) / 2),
                                 0);
                else
                    CHECK(res_copy(&part, &h->r) == 0);
            }
            CHECK_EQ_INT(alloc_recover_resources(w.a, fid, id, h->role, &part, refuse, w.now), 0);
            w.recovers++;
            if (refuse > 0) {
                w.filter_until[h->fw][h->agent] = w.now + refuse;
            } else if (!res_empty(&part)) {
                for (int g = 0; g < RF; g++)
                    w.filter_until[g][h->agent] = 0;
            }
            CHECK_EQ_INT(res_sub(&h->r, &part), 0);
            res_fini(&part);
            if (res_empty(&h->r)) {
                res_fini(&h->r);
                *h = w.h[--w.nh];
            }
        } else if (op < 86) { /* suppress / revive */
            int f = RND(RF);
            snprintf(id, sizeof(id), "f%d", f);
            if (!w.fw_up[f])
                continue;
            if (RND(2)) {
                CHECK_EQ_INT(alloc_suppress(w.a, id, NULL, 0), 0);
                w.suppressed[f] = true;
            } else {
                CHECK_EQ_INT(alloc_revive(w.a, id, NULL, 0), 0);
                w.suppressed[f] = false;
                for (int i = 0; i < RA; i++)
                    w.filter_until[f][i] = 0;
            }
        } else if (op < 92) { /* RESERVE / UNRESERVE 1 cpu from available */
            int i = RND(RA);
            const char *role = role_pool[RND(4)];
            struct resources from, to, avail;
            snprintf(id, sizeof(id), "a%d", i);
            if (!w.agent_up[i] || strcmp(role, "c") == 0)
                continue;
            res_init(&from);
            res_init(&to);
            res_init(&avail);
            world_avail(&w, i, &avail);
            if (RND(2)) {
                CHECK_EQ_INT(res_add_scalar(&from, "cpus", "*", 1000), 0);
                CHECK_EQ_INT(res_add_scalar(&to, "cpus", role, 1000), 0);
            } else {
                CHECK_EQ_INT(res_add_scalar(&from, "cpus", role, 1000), 0);
                CHECK_EQ_INT(res_add_scalar(&to, "cpus", "*", 1000), 0);
            }
            CHECK_EQ_INT(alloc_update_available(w.a, id, &from, &to),
                         res_contains(&avail, &from) ? 0 : -AG_ERANGE);
            if (res_contains(&avail, &from)) {
                CHECK_EQ_INT(res_sub(&w.total[i], &from), 0);
                CHECK_EQ_INT(res_add(&w.total[i], &to), 0);
            }
            res_fini(&from);
            res_fini(&to);
            res_fini(&avail);
        } else { /* drain / undrain */
            int i = RND(RA);
            snprintf(id, sizeof(id), "a%d", i);
            if (!w.agent_up[i])
                continue;
            w.draining[i] = !w.draining[i];
            CHECK_EQ_INT(alloc_set_agent_draining(w.a, id, w.draining[i]), 0);
        }
        world_check(&w);
    }
#undef RND
    if (getenv("DBG"))
        fprintf(stderr, "offers %d reserved %d recovers %d\n", w.offers, w.reserved_offers,
                w.recovers);
    CHECK(w.offers > 300 && w.reserved_offers > 20 && w.recovers > 300);
    for (int k = 0; k < w.nh; k++)
        res_fini(&w.h[k].r);
    for (int i = 0; i < RA; i++)
        res_fini(&w.total[i]);
    alloc_destroy(w.a);
}

static void
test_random_invariants(void)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        invariants(seed, NULL);
}

static void
test_random_invariants_random_sorter(void)
{
    for (uint64_t seed = 100; seed <= 106; seed++)
        invariants(seed, "random");
}

/* Two allocators with the same seed make the same offers (replayable). */
static void
test_deterministic(void)
{
    struct recorder r1 = {0}, r2 = {0};

    for (int k = 0; k < 2; k++) {
        struct alloc *a = mk(NULL, NULL, "random");
        add_agents(a, 50, "s", "cpus:1;mem:1024");
        for (int i = 0; i < 10; i++) {
            char id[16];
            snprintf(id, sizeof(id), "f%d", i);
            add_fw(a, id, i % 2 ? "odd" : "even");
        }
        CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, rec_emit, k ? &r2 : &r1), 50);
        alloc_destroy(a);
    }
    for (size_t i = 0; i < r1.n; i++) {
        CHECK_EQ_STR(r1.v[i].fw, r2.v[i].fw);
        CHECK_EQ_STR(r1.v[i].agent, r2.v[i].agent);
    }
    rec_free(&r1);
    rec_free(&r2);
}

static void
emit_reenter(void *arg, const char *fw, const char *agent, const char *role,
             const struct resources *off)
{
    struct alloc *a = arg;
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, emit_reenter, a), -AG_ESTATE);
    CHECK_EQ_INT(alloc_remove_agent(a, agent), -AG_ESTATE);
}

static void
test_reentry_refused(void)
{
    struct alloc *a = mk(NULL, NULL, NULL);

    add_agents(a, 2, "s", "cpus:1;mem:1024");
    add_fw(a, "A", "*");
    CHECK_EQ_INT(alloc_run(a, 0, NULL, 0, emit_reenter, a), 2);
    alloc_destroy(a);
}

static void
count_role(void *arg, const struct alloc_role_info *info)
{
    (*(int *)arg)++;
}

static void
test_inspection(void)
{
    struct alloc *a = mk("x/y=3", NULL, NULL);
    struct alloc_stats st;
    int n = 0;

    add_agents(a, 3, "s", "cpus:1;mem:1024;cpus(r):1");
    add_fw(a, "A", "q");
    alloc_foreach_role(a, count_role, &n);
    CHECK_EQ_INT(n, 4); /* x, x/y, r, q */
    alloc_get_stats(a, &st);
    CHECK_EQ_INT(st.agents, 3);
    CHECK_EQ_INT(st.frameworks, 1);
    CHECK_EQ_INT(st.roles, 4);
    CHECK_EQ_INT(alloc_get_role(a, "nope", NULL), -AG_ENOENT);
    alloc_destroy(a);
    alloc_destroy(NULL);
}

TEST_LIST(TEST_ENTRY(drf_classic), TEST_ENTRY(drf_classic_roles), TEST_ENTRY(drf_classic_nested),
          TEST_ENTRY(drf_hierarchical), TEST_ENTRY(multi_role), TEST_ENTRY(update_framework_roles),
          TEST_ENTRY(weights), TEST_ENTRY(quota_guarantee), TEST_ENTRY(quota_parent_guarantee),
          TEST_ENTRY(quota_headroom), TEST_ENTRY(quota_limit), TEST_ENTRY(reservations_static),
          TEST_ENTRY(reservations_dynamic), TEST_ENTRY(filters_expire),
          TEST_ENTRY(filters_cleared_by_freed_resources), TEST_ENTRY(suppress_revive),
          TEST_ENTRY(min_allocatable_and_draining), TEST_ENTRY(incremental_and_used),
          TEST_ENTRY(refusing_states), TEST_ENTRY(starvation_decliner),
          TEST_ENTRY(starvation_many_small), TEST_ENTRY(random_invariants),
          TEST_ENTRY(random_invariants_random_sorter), TEST_ENTRY(deterministic),
          TEST_ENTRY(reentry_refused), TEST_ENTRY(inspection));
TEST_MAIN()
