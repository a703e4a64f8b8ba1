/* Unit tests for what the master's books rely on in the allocator
 * (master/allocator.c): alloc_foreach_allocation, allocations kept across a
 * framework's re-subscription (roles updated, inactive then active again),
 * resources used by frameworks not added yet, and an agent admitted with its
 * total raised to what is in use and lowered back as tasks end. */
#include "test.h"

#include "allocator.h"
#include "error.h"

#include <string.h>

static struct resources
R(const char *text)
{
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
mk(void)
{
    struct alloc_config cfg = {.min_allocatable = "", .seed = 7};
    struct alloc *a = NULL;
    char err[128];

    CHECK_EQ_INT(alloc_create(&a, &cfg, err, sizeof(err)), 0);
    return a;
}

/* The allocations of one agent as "fw role resources" lines, sorted by the caller's order. */
struct listing {
    char text[1024];
    int n;
};

static void
list_one(void *arg, const char *fw, const char *role, const struct resources *r)
{
    struct listing *l = arg;
    char buf[256];
    size_t len = strlen(l->text);

    res_format(r, buf, sizeof(buf));
    snprintf(l->text + len, sizeof(l->text) - len, "%s%s %s %s", l->n ? "|" : "", fw, role, buf);
    l->n++;
}

static struct listing
list(struct alloc *a, const char *agent)
{
    struct listing l = {.text = "", .n = 0};
    CHECK_EQ_INT(alloc_foreach_allocation(a, agent, list_one, &l), 0);
    return l;
}

/* Offers of one run, summed in milli-cpus (NULL framework: any). */
struct offers {
    int64_t cpus;
    int n;
};

static void
count_offer(void *arg, const char *fw, const char *agent, const char *role,
            const struct resources *r)
{
    struct offers *o = arg;
    (void)fw;
    (void)agent;
    (void)role;
    o->cpus += res_scalar(r, "cpus");
    o->n++;
}

static struct offers
run(struct alloc *a)
{
    struct offers o = {0, 0};
    CHECK(alloc_run(a, 100, NULL, 0, count_offer, &o) >= 0);
    return o;
}

static void
test_foreach_lists_allocations(void)
{
    struct alloc *a = mk();
    struct resources total = R("cpus:2;mem:512"), used = R("cpus:0.5;mem:64");
    struct alloc_used u = {.framework_id = "F", .role = "web", .resources = &used};
    const char *roles[] = {"web"};
    struct listing l;

    CHECK_EQ_INT(alloc_foreach_allocation(a, "nope", list_one, &l), -AG_ENOENT);
    /* Used by a framework not added yet: listed all the same. */
    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, &u, 1), 0);
    l = list(a, "s1");
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_STR(l.text, "F web cpus:0.5;mem:64");
    CHECK_EQ_INT(alloc_add_framework(a, "F", roles, 1, NULL, 0), 0);
    /* An offer counts as allocated too. */
    CHECK_EQ_INT(run(a).cpus, 1500);
    l = list(a, "s1");
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_STR(l.text, "F web cpus:2;mem:512");
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "web", &used, 0, 100), 0);
    CHECK_EQ_STR(list(a, "s1").text, "F web cpus:1.5;mem:448");
    res_fini(&total);
    res_fini(&used);
    alloc_destroy(a);
}

/* The master's re-subscription path: inactive while away, roles updated and
 * active again on SUBSCRIBE. The running task's resources stay allocated and
 * are never offered; removing and re-adding the framework (what the master
 * did before) would free them. */
static void
test_resubscribe_keeps_allocations(void)
{
    struct alloc *a = mk();
    struct resources total = R("cpus:1;mem:256"), task = R("cpus:0.8;mem:128");
    const char *roles[] = {"*"}, *roles2[] = {"*", "eng"};
    /* A 0.8 cpu task of F runs on s1. */
    struct offers o;

    {
        struct alloc_used u = {.framework_id = "F", .role = "*", .resources = &task};
        CHECK_EQ_INT(alloc_add_framework(a, "F", roles, 1, NULL, 0), 0);
        CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, &u, 1), 0);
    }
    /* Disconnected, then subscribed again with another role list. */
    CHECK_EQ_INT(alloc_set_framework_active(a, "F", false), 0);
    CHECK_EQ_INT(alloc_update_framework_roles(a, "F", roles2, 2, NULL, 0), 0);
    CHECK_EQ_INT(alloc_set_framework_active(a, "F", true), 0);
    o = run(a);
    CHECK_EQ_INT(o.cpus, 200); /* only what the task does not use */
    CHECK_EQ_STR(list(a, "s1").text, "F * cpus:0.8;mem:128|F eng cpus:0.2;mem:128");
    /* The task ends: its resources come back. */
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "*", &task, 0, 100), 0);
    CHECK_EQ_INT(run(a).cpus, 800);
    res_fini(&total);
    res_fini(&task);
    alloc_destroy(a);
}

/* An agent whose tasks hold more than its total: refused as is (-AG_ERANGE);
 * the master admits it with the total raised to what is in use, then lowers
 * the total as tasks end. Nothing of what is over is ever offered. */
static void
test_overcommitted_agent(void)
{
    struct alloc *a = mk();
    struct resources total = R("cpus:1;mem:1024"), raised = R("cpus:1.6;mem:1024"),
                     t1 = R("cpus:0.8;mem:128"), t2 = R("cpus:0.8;mem:128");
    struct alloc_used u[] = {{.framework_id = "F", .role = "*", .resources = &t1},
                             {.framework_id = "F", .role = "*", .resources = &t2}};
    const char *roles[] = {"*"};
    struct offers o;

    CHECK_EQ_INT(alloc_add_framework(a, "F", roles, 1, NULL, 0), 0);
    CHECK_EQ_INT(alloc_add_agent(a, "s1", &total, u, 2), -AG_ERANGE);
    CHECK_EQ_INT(alloc_add_agent(a, "s1", &raised, u, 2), 0);
    o = run(a);
    CHECK_EQ_INT(o.n, 1);
    CHECK_EQ_INT(o.cpus, 0); /* memory only */
    {
        struct resources mem = R("mem:768");
        CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "*", &mem, 0, 100), 0);
        res_fini(&mem);
    }
    /* One task ends: 0.8 in use of a real total of 1. The real total fits again. */
    CHECK_EQ_INT(alloc_recover_resources(a, "F", "s1", "*", &t1, 0, 100), 0);
    CHECK_EQ_INT(alloc_update_agent_total(a, "s1", &total), 0);
    o = run(a);
    CHECK_EQ_INT(o.cpus, 200);
    res_fini(&total);
    res_fini(&raised);
    res_fini(&t1);
    res_fini(&t2);
    alloc_destroy(a);
}

TEST_LIST(TEST_ENTRY(foreach_lists_allocations), TEST_ENTRY(resubscribe_keeps_allocations),
          TEST_ENTRY(overcommitted_agent));
TEST_MAIN()
