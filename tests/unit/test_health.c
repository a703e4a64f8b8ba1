#include "test.h"

#include "health.h"
#include "msg.h"

static struct msg_health_check
check(int failures, double grace)
{
    struct msg_health_check hc;

    msg_health_check_init(&hc);
    hc.consecutive_failures = failures;
    hc.grace_period_s = grace;
    return hc;
}

/* UNKNOWN -> HEALTHY -> UNHEALTHY after N failures in a row -> HEALTHY. */
static void
test_verdicts(void)
{
    struct msg_health_check hc = check(3, 0);
    struct health_state s = {.verdict = HEALTH_UNKNOWN};

    CHECK(health_judge(&s, &hc, true, 1));
    CHECK_EQ_INT(s.verdict, HEALTH_HEALTHY);
    CHECK(!health_judge(&s, &hc, true, 2)); /* no change, no report */
    CHECK(!health_judge(&s, &hc, false, 3));
    CHECK(!health_judge(&s, &hc, false, 4));
    CHECK(!health_judge(&s, &hc, true, 5)); /* a success resets the count */
    CHECK(!health_judge(&s, &hc, false, 6));
    CHECK(!health_judge(&s, &hc, false, 7));
    CHECK(health_judge(&s, &hc, false, 8));
    CHECK_EQ_INT(s.verdict, HEALTH_UNHEALTHY);
    CHECK(!health_judge(&s, &hc, false, 9));
    CHECK(health_judge(&s, &hc, true, 10));
    CHECK_EQ_INT(s.verdict, HEALTH_HEALTHY);
}

/* Failures in the grace period do not count until a first success. */
static void
test_grace_period(void)
{
    struct msg_health_check hc = check(2, 10);
    struct health_state s = {.verdict = HEALTH_UNKNOWN};

    for (int i = 0; i < 5; i++)
        CHECK(!health_judge(&s, &hc, false, 1 + i));
    CHECK_EQ_INT(s.verdict, HEALTH_UNKNOWN);
    CHECK_EQ_INT(s.consecutive_failures, 0);
    CHECK(!health_judge(&s, &hc, false, 11));
    CHECK(health_judge(&s, &hc, false, 12));
    CHECK_EQ_INT(s.verdict, HEALTH_UNHEALTHY);

    /* After a success inside the grace period, failures count at once. */
    s = (struct health_state){.verdict = HEALTH_UNKNOWN};
    CHECK(health_judge(&s, &hc, true, 1));
    CHECK(!health_judge(&s, &hc, false, 2));
    CHECK(health_judge(&s, &hc, false, 3));
    CHECK_EQ_INT(s.verdict, HEALTH_UNHEALTHY);
}

/* The Mesos defaults come from msg.def. */
static void
test_defaults(void)
{
    struct msg_health_check hc;

    msg_health_check_init(&hc);
    CHECK(hc.delay_s == 15 && hc.interval_s == 10 && hc.timeout_s == 20);
    CHECK_EQ_INT(hc.consecutive_failures, 3);
    CHECK(hc.grace_period_s == 10);
}

TEST_LIST(TEST_ENTRY(verdicts), TEST_ENTRY(grace_period), TEST_ENTRY(defaults));
TEST_MAIN()
