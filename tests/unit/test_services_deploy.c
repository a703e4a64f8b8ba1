/*
 * Unit tests for framework/services/deploy.c: scaling, kill selection,
 * surge-first replacement of unhealthy tasks under the kill budget, and
 * rolling upgrades simulated to the end under several strategies, checking at
 * every step that the healthy count never drops below minimumHealthCapacity
 * and the task count never exceeds 1 + maximumOverCapacity.
 */
#include "deploy.h"
#include "test.h"

#include <math.h>

#define MAXT 256

struct sim {
    struct conv_task t[MAXT];
    size_t n;
    double clock;
};

static void
add(struct sim *s, bool current, bool running, int healthy)
{
    struct conv_task *t = &s->t[s->n++];
    memset(t, 0, sizeof(*t));
    t->current = current;
    t->running = running;
    t->healthy = healthy;
    t->staged_at = s->clock;
    s->clock += 1;
}

static void
remove_at(struct sim *s, size_t i)
{
    s->t[i] = s->t[--s->n];
}

static struct conv_out
run(const struct conv_in *in, struct sim *s, struct conv_kill *kills)
{
    struct conv_out out = {.kills = kills};
    conv_run(in, s->t, s->n, &out);
    return out;
}

static void
test_scale(void)
{
    struct conv_in in = {.instances = 3, .max_over = 1, .min_health = 1, .youngest_first = true};
    struct conv_kill kills[MAXT];
    struct sim s = {0};
    struct conv_out out;

    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 3);
    CHECK(!out.done);
    for (int i = 0; i < 5; i++)
        add(&s, true, true, -1);
    s.t[1].running = false; /* staging: killed first */
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 0);
    CHECK_EQ_INT(out.nkills, 2);
    CHECK_EQ_INT(out.kills[0].idx, 1);
    CHECK_EQ_INT(out.kills[1].idx, 4); /* then the youngest */
    CHECK_EQ_INT(out.kills[0].reason, CONV_KILL_SCALE);
    in.youngest_first = false;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.kills[1].idx, 0); /* OLDEST_FIRST */
    /* Killing tasks occupy nothing live; done only once they are gone. */
    s.t[1].killing = s.t[0].killing = true;
    s.t[1].running = true;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 0);
    CHECK_EQ_INT(out.launch, 0);
    CHECK(!out.done);
    remove_at(&s, 1);
    remove_at(&s, 0);
    out = run(&in, &s, kills);
    CHECK(out.done);
    in.instances = 0;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 3);
}

static void
test_unhealthy_surge_first(void)
{
    struct conv_in in = {.instances = 3,
                         .max_over = 0.1,
                         .min_health = 1,
                         .has_checks = true,
                         .replace_unhealthy = true,
                         .kill_tokens = 10};
    struct conv_kill kills[MAXT];
    struct sim s = {0};
    struct conv_out out;

    add(&s, true, true, 1);
    add(&s, true, true, 0); /* unhealthy */
    add(&s, true, true, 1);
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 1); /* the replacement first */
    CHECK_EQ_INT(out.nkills, 0);
    add(&s, true, false, -1); /* staging */
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 0);
    CHECK_EQ_INT(out.nkills, 0);
    s.t[3].running = true; /* running, no verdict yet: still not ready */
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 0);
    s.t[3].healthy = 1;
    /* Ready: now the unhealthy one goes, if the budget allows. */
    in.kill_tokens = 0;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 0);
    in.kill_tokens = 1;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 1);
    CHECK_EQ_INT(out.kills[0].idx, 1);
    CHECK_EQ_INT(out.kills[0].reason, CONV_KILL_UNHEALTHY);
    CHECK_EQ_INT(out.tokens_used, 1);
    CHECK_EQ_INT(out.launch, 0);

    /* A bad check on every task: replacements up to the surge, nothing killed. */
    memset(&s, 0, sizeof(s));
    in.kill_tokens = 10;
    for (int i = 0; i < 3; i++)
        add(&s, true, true, 0);
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 1); /* surge max(1, floor(3 * 0.1)) */
    add(&s, true, true, 0);
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 0);
    CHECK_EQ_INT(out.nkills, 0);
    /* It became healthy again: the extra task is surplus. */
    for (int i = 0; i < 4; i++)
        s.t[i].healthy = 1;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 1);
    CHECK_EQ_INT(out.kills[0].reason, CONV_KILL_SCALE);
    /* maxConsecutiveFailures 0: never replaced. */
    s.t[0].healthy = 0;
    in.replace_unhealthy = false;
    s.n = 3;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 0);
    CHECK_EQ_INT(out.nkills, 0);
}

static void
test_unreachable(void)
{
    struct conv_in in = {.instances = 2, .max_over = 1, .min_health = 1};
    struct conv_kill kills[MAXT];
    struct sim s = {0};
    struct conv_out out;

    add(&s, true, true, -1);
    add(&s, true, false, -1);
    s.t[1].unreachable = true;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 0); /* still counted */
    s.t[1].inactive = true;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.launch, 1); /* replaced */
    add(&s, true, true, -1);
    /* It comes back: the returned one is the one killed. */
    s.t[1].inactive = s.t[1].unreachable = false;
    s.t[1].running = true;
    s.t[1].returned = true;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 1);
    CHECK_EQ_INT(out.kills[0].idx, 1);
}

/*
 * Simulates an upgrade of `n` old healthy tasks to `n` new ones. Each round:
 * conv_run, apply kills (killing, then gone next round), launch new tasks as
 * staging, staging tasks become running+healthy next round (or never healthy
 * when `bad`). Checks the strategy's bounds throughout.
 */
static int
simulate(int n, double minh, double maxo, bool bad, int *rounds_out)
{
    struct conv_in in = {.instances = n,
                         .min_health = minh,
                         .max_over = maxo,
                         .youngest_first = true,
                         .has_checks = true,
                         .replace_unhealthy = true,
                         .kind = CONV_REPLACE,
                         .kill_tokens = 1000};
    struct conv_kill kills[MAXT];
    struct sim s = {0};
    int min_healthy = (int)ceil(n * minh - 1e-9), max_cap = (int)floor(n * (1 + maxo) + 1e-9);
    int unhealthy_killed = 0;

    if (min_healthy == n && max_cap == n)
        max_cap = n + 1; /* Marathon's rule: one extra when nothing else can move */
    for (int i = 0; i < n; i++)
        add(&s, false, true, 1);
    for (int round = 0; round < 500; round++) {
        struct conv_out out;
        int healthy = 0;
        /* Progress: killing tasks end, staging ones come up. */
        for (size_t i = 0; i < s.n;) {
            if (s.t[i].killing) {
                remove_at(&s, i);
                continue;
            }
            if (!s.t[i].running) {
                s.t[i].running = true;
                s.t[i].healthy = -1;
            } else if (s.t[i].healthy == -1) {
                s.t[i].healthy = bad ? 0 : 1;
            }
            i++;
        }
        for (size_t i = 0; i < s.n; i++)
            if (s.t[i].running && s.t[i].healthy == 1 && !s.t[i].killing)
                healthy++;
        CHECK((int)s.n <= max_cap);
        out = run(&in, &s, kills);
        unhealthy_killed += out.unhealthy_new_killed;
        if (healthy < min_healthy) {
            fprintf(stderr, "round %d: %d healthy < %d\n", round, healthy, min_healthy);
            CHECK(false);
        }
        if (out.done) {
            for (size_t i = 0; i < s.n; i++)
                CHECK(s.t[i].current && s.t[i].healthy == 1);
            CHECK_EQ_INT(s.n, n);
            *rounds_out = round;
            return 0;
        }
        for (size_t k = 0; k < out.nkills; k++)
            s.t[out.kills[k].idx].killing = true;
        /* Healthy count after kills must still honour the minimum. */
        healthy = 0;
        for (size_t i = 0; i < s.n; i++)
            if (s.t[i].running && s.t[i].healthy == 1 && !s.t[i].killing)
                healthy++;
        if (healthy < min_healthy && !(bad && healthy == 0 && min_healthy == 0)) {
            fprintf(stderr, "round %d after kills: %d healthy < %d\n", round, healthy, min_healthy);
            CHECK(false);
        }
        for (int l = 0; l < out.launch; l++) {
            add(&s, true, false, -1);
            s.t[s.n - 1].running = false;
        }
        if (bad && unhealthy_killed >= 3)
            return 1; /* the caller would roll back here */
    }
    return -1;
}

static void
test_rolling_upgrade(void)
{
    static const double strategies[][2] = {{1, 1},     {1, 0.2}, {0.5, 0},    {0, 0},
                                           {0.8, 0.1}, {1, 0},   {0.34, 0.34}};
    int rounds;

    for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
        for (int n = 1; n <= 10; n++) {
            int rc = simulate(n, strategies[i][0], strategies[i][1], false, &rounds);
            if (rc != 0)
                fprintf(stderr, "n=%d min=%g over=%g: rc %d\n", n, strategies[i][0],
                        strategies[i][1], rc);
            CHECK_EQ_INT(rc, 0);
        }
    }
    /* A version that never gets healthy: never below the minimum, rollback signal. */
    CHECK_EQ_INT(simulate(4, 0.5, 0.5, true, &rounds), 1);
    CHECK_EQ_INT(simulate(4, 1, 0.25, true, &rounds), 1);
}

static void
test_stop(void)
{
    struct conv_in in = {.instances = 3, .kind = CONV_STOP};
    struct conv_kill kills[MAXT];
    struct sim s = {0};
    struct conv_out out;

    add(&s, true, true, -1);
    add(&s, false, false, -1);
    s.t[1].killing = true;
    out = run(&in, &s, kills);
    CHECK_EQ_INT(out.nkills, 1);
    CHECK_EQ_INT(out.kills[0].reason, CONV_KILL_STOP);
    CHECK(!out.done);
    s.n = 0;
    out = run(&in, &s, kills);
    CHECK(out.done);
}

TEST_LIST(TEST_ENTRY(scale), TEST_ENTRY(unhealthy_surge_first), TEST_ENTRY(unreachable),
          TEST_ENTRY(rolling_upgrade), TEST_ENTRY(stop));
TEST_MAIN()
