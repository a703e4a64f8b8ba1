/*
 * Unit tests for framework/services/planner.c: resources and ports taken
 * from an offer (roles, reserved first, required ports), and every
 * constraint operator.
 */
#include "error.h"
#include "planner.h"
#include "test.h"

static struct app_spec *
spec(const char *text)
{
    struct app_errors err;
    json_t *j = json_loads(text, 0, NULL);
    struct app_spec *s;

    CHECK(j != NULL);
    app_errors_init(&err);
    s = app_parse(j, NULL, &err);
    if (s == NULL) {
        char *d = json_dumps(err.details, 0);
        fprintf(stderr, "%s\n", d);
        free(d);
    }
    CHECK(s != NULL);
    app_errors_fini(&err);
    json_decref(j);
    return s;
}

static void
agent(struct plan_agent *a, const char *host, struct attributes *attrs, const char *attr_text,
      const char *res)
{
    attr_init(attrs);
    CHECK_EQ_INT(attr_parse(attrs, attr_text, NULL, 0), 0);
    res_init(&a->avail);
    CHECK_EQ_INT(res_parse(&a->avail, res, NULL, 0), 0);
    a->hostname = host;
    a->attrs = attrs;
}

static void
agent_fini(struct plan_agent *a, struct attributes *attrs)
{
    res_fini(&a->avail);
    attr_fini(attrs);
}

static void
test_fit_resources(void)
{
    struct app_spec *s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 1, \"mem\": 100, "
                              "\"ports\": [0, 0]}");
    const char *roles[] = {"*", NULL};
    struct plan_agent a;
    struct attributes at;
    struct plan_fit f;
    char buf[256];
    int placed = 0;

    agent(&a, "h1", &at, "", "cpus:3.5;mem:1000;ports:[31000-31003]");
    plan_fit_init(&f);
    while (plan_fit(s, roles, &a, NULL, 0, NULL, 0, &f, NULL) == 0) {
        placed++;
        CHECK_EQ_INT(f.nports, 2);
        res_format(&f.res, buf, sizeof(buf));
        CHECK(f.ports[0] >= 31000 && f.ports[0] <= 31003);
        CHECK(f.ports[1] >= 31000 && f.ports[1] <= 31003);
        CHECK(f.ports[0] != f.ports[1]);
        if (placed == 1) {
            char want[64];
            uint32_t lo = f.ports[0] < f.ports[1] ? f.ports[0] : f.ports[1];
            uint32_t hi = f.ports[0] ^ f.ports[1] ^ lo;
            if (hi == lo + 1)
                snprintf(want, sizeof(want), "cpus:1;mem:100;ports:[%u-%u]", lo, hi);
            else
                snprintf(want, sizeof(want), "cpus:1;mem:100;ports:[%u-%u,%u-%u]", lo, lo, hi, hi);
            CHECK_EQ_STR(buf, want);
        }
    }
    CHECK_EQ_INT(placed, 2); /* ports run out before cpus */
    res_format(&a.avail, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "cpus:1.5;mem:800");
    plan_fit_fini(&f);
    agent_fini(&a, &at);
    app_free(s);
}

static void
test_roles(void)
{
    struct app_spec *any = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 1.5, \"mem\": 10, "
                                "\"ports\": []}");
    struct app_spec *only_web = spec("{\"id\": \"/b\", \"cmd\": \"x\", \"cpus\": 0.5, \"mem\": 10,"
                                     " \"ports\": [], \"acceptedResourceRoles\": [\"web\"]}");
    const char *roles[] = {"*", "web", NULL};
    struct plan_agent a;
    struct attributes at;
    struct plan_fit f;
    char buf[256];

    agent(&a, "h1", &at, "", "cpus:1;cpus(web):1;mem:100");
    plan_fit_init(&f);
    /* Reserved resources first, then unreserved. */
    CHECK_EQ_INT(plan_fit(any, roles, &a, NULL, 0, NULL, 0, &f, NULL), 0);
    res_format(&f.res, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "cpus:0.5;cpus(web):1;mem:10");
    /* Only "web" left is none: 0.5 unreserved cpus do not count. */
    CHECK_EQ_INT(plan_fit(only_web, roles, &a, NULL, 0, NULL, 0, &f, NULL), -AG_ENOSPC);
    agent_fini(&a, &at);
    agent(&a, "h1", &at, "", "cpus:1;cpus(web):1;mem(web):100");
    CHECK_EQ_INT(plan_fit(only_web, roles, &a, NULL, 0, NULL, 0, &f, NULL), 0);
    res_format(&f.res, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "cpus(web):0.5;mem(web):10");
    plan_fit_fini(&f);
    agent_fini(&a, &at);
    app_free(any);
    app_free(only_web);
}

static void
test_required_ports(void)
{
    struct app_spec *s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 0.1, \"mem\": 1, "
                              "\"ports\": [31005, 0], \"requirePorts\": true}");
    struct plan_agent a;
    struct attributes at;
    struct plan_fit f;
    const char *why = NULL;

    agent(&a, "h1", &at, "", "cpus:1;mem:100;ports:[31000-31010]");
    plan_fit_init(&f);
    CHECK_EQ_INT(plan_fit(s, NULL, &a, NULL, 0, NULL, 0, &f, &why), 0);
    CHECK_EQ_INT(f.ports[0], 31005);
    CHECK(f.ports[1] >= 31000 && f.ports[1] <= 31010 && f.ports[1] != 31005);
    /* 31005 is now taken. */
    CHECK_EQ_INT(plan_fit(s, NULL, &a, NULL, 0, NULL, 0, &f, &why), -AG_ENOSPC);
    CHECK_EQ_STR(why, "ports");
    plan_fit_fini(&f);
    agent_fini(&a, &at);
    app_free(s);
}

/* Whether `s` may place one more task on (host, attrs) given placed tasks. */
static bool
ok(struct app_spec *s, const char *host, const char *attrs, const struct plan_placed *p, size_t n)
{
    struct attributes a;
    bool r;

    attr_init(&a);
    CHECK_EQ_INT(attr_parse(&a, attrs, NULL, 0), 0);
    r = plan_constraints_ok(s, host, &a, p, n, NULL, 0, NULL);
    attr_fini(&a);
    return r;
}

static void
test_constraints(void)
{
    struct attributes r1, r2, r3;
    struct plan_placed p[4];
    struct app_spec *s;

    attr_init(&r1);
    attr_init(&r2);
    attr_init(&r3);
    attr_parse(&r1, "rack:r1;level:3", NULL, 0);
    attr_parse(&r2, "rack:r2;level:3.0", NULL, 0);
    attr_parse(&r3, "zone:z", NULL, 0);
    p[0] = (struct plan_placed){"h1", &r1};
    p[1] = (struct plan_placed){"h2", &r2};
    p[2] = (struct plan_placed){"h3", &r1};
    p[3] = (struct plan_placed){"h4", &r3};

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"hostname\", \"UNIQUE\"]]}");
    CHECK(ok(s, "h9", "", p, 4));
    CHECK(!ok(s, "h1", "", p, 4));
    app_free(s);
    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"UNIQUE\"]]}");
    CHECK(!ok(s, "h9", "rack:r2", p, 4));
    CHECK(ok(s, "h9", "rack:r3", p, 4));
    CHECK(!ok(s, "h9", "", p, 4)); /* no rack: no match */
    app_free(s);

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"CLUSTER\", "
             "\"r1\"]]}");
    CHECK(ok(s, "h9", "rack:r1", NULL, 0));
    CHECK(!ok(s, "h9", "rack:r2", NULL, 0));
    app_free(s);
    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"CLUSTER\"]]}");
    CHECK(ok(s, "h9", "rack:r2", NULL, 0)); /* the first one picks */
    CHECK(ok(s, "h9", "rack:r1", p, 1));
    CHECK(!ok(s, "h9", "rack:r2", p, 1));
    app_free(s);

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"GROUP_BY\"]]}");
    /* r1 has 2 (p0, p2), r2 has 1 (p1): r2 or an unseen rack first. */
    CHECK(!ok(s, "h9", "rack:r1", p, 3));
    CHECK(ok(s, "h9", "rack:r2", p, 3));
    CHECK(ok(s, "h9", "rack:r3", p, 3));
    CHECK(!ok(s, "h9", "", p, 3));
    /* Agents known from offers count as empty groups. */
    {
        struct attributes k3;
        struct plan_placed known[3];
        attr_init(&k3);
        attr_parse(&k3, "rack:r3", NULL, 0);
        known[0] = (struct plan_placed){"h1", &r1};
        known[1] = (struct plan_placed){"h2", &r2};
        known[2] = (struct plan_placed){"h7", &k3};
        CHECK(ok(s, "h9", "rack:r1", NULL, 0));
        CHECK(plan_constraints_ok(s, "h1", &r1, p, 1, NULL, 0, NULL)); /* only r1 seen */
        CHECK(!plan_constraints_ok(s, "h1", &r1, p, 1, known, 3, NULL));
        CHECK(plan_constraints_ok(s, "h7", &k3, p, 1, known, 3, NULL));
        attr_fini(&k3);
    }
    app_free(s);
    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"GROUP_BY\", "
             "\"3\"]]}");
    /* With 3 racks expected and only 2 seen, an empty group exists: r2 (1) must wait. */
    CHECK(!ok(s, "h9", "rack:r2", p, 3));
    CHECK(ok(s, "h9", "rack:r3", p, 3));
    app_free(s);

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"hostname\", \"LIKE\", "
             "\"h[0-9]\"]]}");
    CHECK(ok(s, "h1", "", NULL, 0));
    CHECK(!ok(s, "h10", "", NULL, 0)); /* the whole value must match */
    app_free(s);
    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"UNLIKE\", "
             "\"r1|r2\"]]}");
    CHECK(!ok(s, "h1", "rack:r2", NULL, 0));
    CHECK(ok(s, "h1", "rack:r3", NULL, 0));
    CHECK(ok(s, "h1", "", NULL, 0));
    app_free(s);

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"rack\", \"MAX_PER\", "
             "\"2\"]]}");
    CHECK(!ok(s, "h9", "rack:r1", p, 4));
    CHECK(ok(s, "h9", "rack:r2", p, 4));
    app_free(s);

    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"level\", \"IS\", \"3\"]]}");
    CHECK(ok(s, "h9", "level:3.000", NULL, 0)); /* numerically */
    CHECK(!ok(s, "h9", "level:4", NULL, 0));
    CHECK(!ok(s, "h9", "", NULL, 0));
    app_free(s);
    s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"constraints\": [[\"hostname\", \"IS\", "
             "\"h2\"]]}");
    CHECK(ok(s, "h2", "", NULL, 0));
    CHECK(!ok(s, "h3", "", NULL, 0));
    app_free(s);

    attr_fini(&r1);
    attr_fini(&r2);
    attr_fini(&r3);
}

/* Placement with UNIQUE across offers in one round. */
static void
test_unique_in_round(void)
{
    struct app_spec *s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 0.1, \"mem\": 1, "
                              "\"constraints\": [[\"hostname\", \"UNIQUE\"]]}");
    struct plan_agent a;
    struct attributes at;
    struct plan_fit f;
    struct plan_placed p[2];
    size_t n = 0;
    const char *why;

    agent(&a, "h1", &at, "", "cpus:4;mem:100;ports:[1-100]");
    plan_fit_init(&f);
    CHECK_EQ_INT(plan_fit(s, NULL, &a, p, n, NULL, 0, &f, &why), 0);
    p[n++] = (struct plan_placed){"h1", &at};
    CHECK_EQ_INT(plan_fit(s, NULL, &a, p, n, NULL, 0, &f, &why), -AG_ENOSPC);
    CHECK_EQ_STR(why, "UNIQUE");
    plan_fit_fini(&f);
    agent_fini(&a, &at);
    app_free(s);
}

/* Ports not required are chosen at random among the free ones, over all the ranges. */
static void
test_random_ports(void)
{
    struct app_spec *s = spec("{\"id\": \"/a\", \"cmd\": \"x\", \"cpus\": 0.01, \"mem\": 1, "
                              "\"ports\": [0]}");
    struct plan_agent a;
    struct attributes at;
    struct plan_fit f;
    bool seen[20] = {false};
    int placed = 0, low = 0, distinct = 0;

    plan_seed(42);
    agent(&a, "h1", &at, "", "cpus:1;mem:100;ports:[31000-31009,32000-32009]");
    plan_fit_init(&f);
    while (plan_fit(s, NULL, &a, NULL, 0, NULL, 0, &f, NULL) == 0) {
        uint32_t p = f.ports[0];
        int idx = p >= 32000 ? (int)(p - 32000) + 10 : (int)(p - 31000);
        CHECK(idx >= 0 && idx < 20);
        CHECK(!seen[idx]); /* a port is never given twice */
        seen[idx] = true;
        if (placed < 10 && idx < 10)
            low++;
        placed++;
    }
    for (int i = 0; i < 20; i++)
        distinct += seen[i];
    CHECK_EQ_INT(placed, 20); /* every port, then none left */
    CHECK_EQ_INT(distinct, 20);
    /* Lowest-first would give 31000-31009 to the first ten tasks. */
    CHECK(low < 10);
    plan_fit_fini(&f);
    agent_fini(&a, &at);
    app_free(s);
}

TEST_LIST(TEST_ENTRY(fit_resources), TEST_ENTRY(roles), TEST_ENTRY(required_ports),
          TEST_ENTRY(constraints), TEST_ENTRY(unique_in_round), TEST_ENTRY(random_ports));
TEST_MAIN()
