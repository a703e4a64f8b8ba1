#include "test.h"

#include "error.h"
#include "log.h"
#include "metrics.h"

#include <math.h>
#include <pthread.h>

static double
three_quarters(void *arg)
{
    return *(double *)arg;
}

static char *
dump(json_t *j)
{
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);

    json_decref(j);
    return s;
}

static void
test_handles(void)
{
    struct metrics *reg = metrics_new();
    struct metrics_counter *c;

    log_set_level(AG_LOG_ERROR);
    CHECK(reg != NULL);
    c = metrics_counter(reg, "master/messages_received");
    CHECK(c != NULL);
    CHECK(metrics_counter(reg, "master/messages_received") == c);
    metrics_inc(c);
    metrics_add(c, 41);
    CHECK_EQ_INT(metrics_counter_value(c), 42);

    /* Kind clashes, sanitized clashes and bad names give NULL, and NULL is harmless. */
    CHECK(metrics_gauge(reg, "master/messages_received") == NULL);
    CHECK(metrics_gauge(reg, "master_messages_received") == NULL);
    CHECK(metrics_counter(reg, "") == NULL);
    CHECK(metrics_counter(reg, NULL) == NULL);
    CHECK(metrics_counter(reg, "/lead") == NULL);
    CHECK(metrics_counter(reg, "trail/") == NULL);
    CHECK(metrics_counter(reg, "sp ace") == NULL);
    CHECK(metrics_counter(reg, "quote\"") == NULL);
    CHECK(metrics_counter(NULL, "x") == NULL);
    metrics_inc(NULL);
    metrics_add(NULL, 3);
    metrics_set(NULL, 1);
    metrics_gauge_add(NULL, 1);
    metrics_record(NULL, 1);
    CHECK_EQ_INT(metrics_counter_value(NULL), 0);
    CHECK_EQ_INT(metrics_timer_count(NULL), 0);

    CHECK_EQ_INT(metrics_remove(reg, "master/messages_received"), 0);
    CHECK_EQ_INT(metrics_remove(reg, "master/messages_received"), -AG_ENOENT);
    c = metrics_counter(reg, "master/messages_received");
    CHECK_EQ_INT(metrics_counter_value(c), 0);
    CHECK(metrics_gauge(reg, "master_messages_received") == NULL);
    metrics_free(reg);
    metrics_free(NULL);
}

static void
test_json(void)
{
    struct metrics *reg = metrics_new();
    struct metrics_counter *c = metrics_counter(reg, "master/messages_received");
    struct metrics_gauge *g = metrics_gauge(reg, "master/mem_percent");
    struct metrics_timer *t = metrics_timer(reg, "allocator/run_ms");
    double v = 0.75;
    char *s;

    CHECK_EQ_INT(metrics_gauge_fn(reg, "master/uptime_secs", three_quarters, &v), 0);
    CHECK_EQ_INT(metrics_gauge_fn(reg, "master/uptime_secs", three_quarters, &v), -AG_EEXIST);
    CHECK_EQ_INT(metrics_gauge_fn(reg, "master/x", NULL, &v), -AG_EINVAL);
    metrics_timer(reg, "idle_ms");
    metrics_add(c, 12);
    metrics_set(g, 0.25);
    metrics_gauge_add(g, 0.25);
    CHECK(metrics_gauge_value(g) == 0.5);
    metrics_record(t, 2000000);
    metrics_record(t, 1000000);
    metrics_record(t, 4000000);
    metrics_record(t, 1500000);
    CHECK_EQ_INT(metrics_timer_count(t), 4);

    s = dump(metrics_to_json(reg));
    CHECK_EQ_STR(s, "{\"allocator/run_ms\":1.5,\"allocator/run_ms/count\":4,"
                    "\"allocator/run_ms/max\":4.0,\"allocator/run_ms/min\":1.0,"
                    "\"allocator/run_ms/p50\":1.5,\"allocator/run_ms/p90\":4.0,"
                    "\"allocator/run_ms/p99\":4.0,\"allocator/run_ms/sum\":8.5,"
                    "\"idle_ms/count\":0,\"idle_ms/sum\":0.0,"
                    "\"master/mem_percent\":0.5,\"master/messages_received\":12,"
                    "\"master/uptime_secs\":0.75}");
    free(s);

    metrics_set(g, NAN);
    v = INFINITY;
    s = dump(metrics_to_json(reg));
    CHECK(strstr(s, "\"master/mem_percent\":null") != NULL);
    CHECK(strstr(s, "\"master/uptime_secs\":null") != NULL);
    free(s);
    metrics_free(reg);

    s = dump(metrics_to_json(NULL));
    CHECK_EQ_STR(s, "{}");
    free(s);
}

static void
test_prometheus(void)
{
    struct metrics *reg = metrics_new();
    struct metrics_timer *t = metrics_timer(reg, "allocator/run_ms");
    char *text;
    double v = 1e21;

    metrics_add(metrics_counter(reg, "master/messages_received"), 12);
    metrics_set(metrics_gauge(reg, "master/roles/web.prod/shares"), 0.1);
    metrics_set(metrics_gauge(reg, "master/neg"), -INFINITY);
    CHECK_EQ_INT(metrics_gauge_fn(reg, "master/big", three_quarters, &v), 0);
    metrics_timer(reg, "idle_ms");
    for (uint64_t i = 1; i <= 100; i++)
        metrics_record(t, i * 1000000); /* 1 .. 100 ms */

    CHECK_EQ_INT(metrics_to_prometheus(reg, &text), 0);
    CHECK_EQ_STR(text, "# TYPE agora_allocator_run_ms summary\n"
                       "agora_allocator_run_ms{quantile=\"0.5\"} 50\n"
                       "agora_allocator_run_ms{quantile=\"0.9\"} 90\n"
                       "agora_allocator_run_ms{quantile=\"0.99\"} 99\n"
                       "agora_allocator_run_ms_sum 5050\n"
                       "agora_allocator_run_ms_count 100\n"
                       "# TYPE agora_idle_ms summary\n"
                       "agora_idle_ms{quantile=\"0.5\"} NaN\n"
                       "agora_idle_ms{quantile=\"0.9\"} NaN\n"
                       "agora_idle_ms{quantile=\"0.99\"} NaN\n"
                       "agora_idle_ms_sum 0\n"
                       "agora_idle_ms_count 0\n"
                       "# TYPE agora_master_big gauge\n"
                       "agora_master_big 1e+21\n"
                       "# TYPE agora_master_messages_received counter\n"
                       "agora_master_messages_received 12\n"
                       "# TYPE agora_master_neg gauge\n"
                       "agora_master_neg -Inf\n"
                       "# TYPE agora_master_roles_web_prod_shares gauge\n"
                       "agora_master_roles_web_prod_shares 0.1\n");
    free(text);
    metrics_free(reg);

    CHECK_EQ_INT(metrics_to_prometheus(NULL, &text), 0);
    CHECK_EQ_STR(text, "");
    free(text);
}

static void
test_timer_window(void)
{
    struct metrics *reg = metrics_new();
    struct metrics_timer *t = metrics_timer(reg, "t_ms");
    json_t *j;

    /* 1000 slow samples, then a full window of fast ones: only the window counts
     * for percentiles, min and max; count and sum are lifetime. */
    for (int i = 0; i < 1000; i++)
        metrics_record(t, 9000000);
    for (int i = 0; i < METRICS_WINDOW; i++)
        metrics_record(t, 1000000 + (uint64_t)i * 1000);
    j = metrics_to_json(reg);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "t_ms/count")), 1000 + METRICS_WINDOW);
    CHECK(json_real_value(json_object_get(j, "t_ms/min")) == 1.0);
    CHECK(fabs(json_real_value(json_object_get(j, "t_ms/max")) - 2.023) < 1e-9);
    CHECK(fabs(json_real_value(json_object_get(j, "t_ms/p50")) - 1.511) < 1e-9); /* rank 512 */
    CHECK(fabs(json_real_value(json_object_get(j, "t_ms")) - 2.023) < 1e-9);
    CHECK(fabs(json_real_value(json_object_get(j, "t_ms/sum")) -
               (9000.0 + METRICS_WINDOW * 1.0 + (METRICS_WINDOW - 1) * METRICS_WINDOW / 2 * 1e-3)) <
          1e-6);
    json_decref(j);
    metrics_free(reg);
}

struct bump {
    struct metrics_counter *c;
    struct metrics_gauge *g;
};

static void *
bump_main(void *arg)
{
    struct bump *b = arg;

    for (int i = 0; i < 100000; i++) {
        metrics_inc(b->c);
        metrics_gauge_add(b->g, 1);
    }
    return NULL;
}

static void
test_threads(void)
{
    struct metrics *reg = metrics_new();
    struct bump b = {metrics_counter(reg, "c"), metrics_gauge(reg, "g")};
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(pthread_create(&t[i], NULL, bump_main, &b), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(pthread_join(t[i], NULL), 0);
    CHECK_EQ_INT(metrics_counter_value(b.c), 400000);
    CHECK(metrics_gauge_value(b.g) == 400000.0);
    metrics_free(reg);
}

static void
test_many(void)
{
    struct metrics *reg = metrics_new();
    char name[32], *text;
    json_t *j;

    for (int i = 999; i >= 0; i--) {
        snprintf(name, sizeof(name), "agents/a%03d/tasks", i);
        metrics_add(metrics_counter(reg, name), (uint64_t)i);
    }
    for (int i = 0; i < 1000; i += 2) {
        snprintf(name, sizeof(name), "agents/a%03d/tasks", i);
        CHECK_EQ_INT(metrics_remove(reg, name), 0);
    }
    j = metrics_to_json(reg);
    CHECK_EQ_INT(json_object_size(j), 500);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "agents/a777/tasks")), 777);
    CHECK(json_object_get(j, "agents/a778/tasks") == NULL);
    json_decref(j);
    CHECK_EQ_INT(metrics_to_prometheus(reg, &text), 0);
    CHECK(strncmp(text, "# TYPE agora_agents_a001_tasks counter\nagora_agents_a001_tasks 1\n",
                  65) == 0);
    free(text);
    CHECK(metrics_now_ns() > 0);
    metrics_free(reg);
}

struct computed {
    uint64_t sent;
    int collected;
    struct metrics_gauge *depth;
};

static void
collect(void *arg)
{
    struct computed *c = arg;

    c->collected++;
    metrics_set(c->depth, 10.0 * c->collected);
}

/* A count the daemon keeps itself and a collector's gauges render like any
 * other metric, in both formats, read afresh at each rendering. */
static void
test_computed(void)
{
    struct metrics *reg = metrics_new();
    struct computed c = {.sent = 41};
    char *text;
    json_t *j;

    c.depth = metrics_gauge(reg, "q/depth");
    CHECK_EQ_INT(metrics_counter_fn(reg, "q/sent", metrics_read_u64, &c.sent), 0);
    CHECK_EQ_INT(metrics_counter_fn(reg, "q/sent", metrics_read_u64, &c.sent), -AG_EEXIST);
    CHECK_EQ_INT(metrics_counter_fn(reg, "q/depth", metrics_read_u64, &c.sent), -AG_EEXIST);
    CHECK_EQ_INT(metrics_counter_fn(reg, "/bad", metrics_read_u64, &c.sent), -AG_EINVAL);
    CHECK_EQ_INT(metrics_counter_fn(reg, "q/x", NULL, NULL), -AG_EINVAL);
    CHECK_EQ_INT(metrics_collector(reg, NULL, NULL), -AG_EINVAL);
    CHECK_EQ_INT(metrics_collector(reg, collect, &c), 0);
    c.sent++;
    j = metrics_to_json(reg);
    CHECK_EQ_INT(c.collected, 1);
    CHECK(json_is_integer(json_object_get(j, "q/sent")));
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "q/sent")), 42);
    CHECK(json_real_value(json_object_get(j, "q/depth")) == 10.0);
    json_decref(j);
    c.sent++;
    CHECK_EQ_INT(metrics_to_prometheus(reg, &text), 0);
    CHECK_EQ_INT(c.collected, 2);
    CHECK_EQ_STR(text, "# TYPE agora_q_depth gauge\nagora_q_depth 20\n"
                       "# TYPE agora_q_sent counter\nagora_q_sent 43\n");
    free(text);
    for (int i = 1; i < METRICS_COLLECTORS; i++)
        CHECK_EQ_INT(metrics_collector(reg, collect, &c), 0);
    CHECK_EQ_INT(metrics_collector(reg, collect, &c), -AG_ENOSPC);
    {
        uint64_t x = 5, y = 6;
        const struct metrics_u64 v[] = {{"t/x", &x}, {"t/y", &y}};
        CHECK_EQ_INT(metrics_counters_u64(reg, v, 2), 0);
        CHECK_EQ_INT(metrics_counters_u64(reg, v, 1), -AG_EEXIST);
        y = 7;
        j = metrics_to_json(reg);
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "t/x")), 5);
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "t/y")), 7);
        json_decref(j);
    }
    metrics_free(reg);
}

TEST_LIST(TEST_ENTRY(handles), TEST_ENTRY(json), TEST_ENTRY(prometheus), TEST_ENTRY(timer_window),
          TEST_ENTRY(threads), TEST_ENTRY(many), TEST_ENTRY(computed));
TEST_MAIN()
