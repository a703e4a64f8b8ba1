#include "test.h"

#include "error.h"
#include "http_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const struct http_guard_flags F = {
    .request_timeout_ms = 2000, .idle_timeout_ms = 10000, .max_connections = 3};

static struct hguard_conn
fresh(int64_t now)
{
    return (struct hguard_conn){.first_seen = now, .waiting_since = -1, .fresh = true};
}

static struct hguard_sample
sample(int64_t recv_age, int64_t send_age, uint64_t received, uint64_t sent)
{
    return (struct hguard_sample){recv_age, send_age, received, sent};
}

/* A new connection that sends nothing, or half a request, has the request
 * timeout from its accept; the server never answered it. */
static void
test_new_connection(void)
{
    struct hguard_conn c = fresh(1000);
    struct hguard_sample s = sample(600, 600, 0, 0);

    CHECK_EQ_INT(hguard_decide(&c, 1000, &s, 1000, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(c.waiting_since, 400); /* the accept, 600 ms ago */
    s = sample(1600, 1600, 0, 0);
    CHECK_EQ_INT(hguard_decide(&c, 2000, &s, 1000, false, &F), HGUARD_KEEP);
    s = sample(2600, 2600, 0, 0);
    CHECK_EQ_INT(hguard_decide(&c, 2400, &s, 1000, false, &F), HGUARD_REQUEST_TIMEOUT);

    /* Half a request: the same. The age is bounded by the time since the last scan. */
    c = fresh(1000);
    s = sample(100, 99999, 40, 0);
    CHECK_EQ_INT(hguard_decide(&c, 1000, &s, 500, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(c.waiting_since, 500);
    s = sample(1600, 99999, 40, 0);
    CHECK_EQ_INT(hguard_decide(&c, 2499, &s, 500, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(hguard_decide(&c, 2500, &s, 500, false, &F), HGUARD_REQUEST_TIMEOUT);
}

/* A slow client keeps sending pieces and never completes: timed out all the same. */
static void
test_slow_request(void)
{
    struct hguard_conn c = fresh(0);
    struct hguard_sample s = sample(0, 0, 20, 0);
    int64_t now = 0;

    CHECK_EQ_INT(hguard_decide(&c, now, &s, 500, false, &F), HGUARD_KEEP);
    for (now = 500; now < 2000; now += 500) {
        s = sample(100, now, s.received + 8, 0);
        CHECK_EQ_INT(hguard_decide(&c, now, &s, 500, false, &F), HGUARD_KEEP);
    }
    s = sample(100, now, s.received + 8, 0);
    CHECK_EQ_INT(hguard_decide(&c, now, &s, 500, false, &F), HGUARD_REQUEST_TIMEOUT);
}

/* Keep-alive: once answered, only the idle timeout applies; a new request that
 * arrives slowly is timed from when it was first seen, not from the answer. */
static void
test_keep_alive(void)
{
    struct hguard_conn c = fresh(0);
    /* request and answer within one kernel tick: the ages tie */
    struct hguard_sample s = sample(300, 300, 80, 200);

    CHECK_EQ_INT(hguard_decide(&c, 0, &s, 500, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(c.waiting_since, -1);
    s = sample(5300, 5300, 80, 200);
    CHECK_EQ_INT(hguard_decide(&c, 5000, &s, 500, false, &F), HGUARD_KEEP);
    /* A second request and its answer between scans: the answer is newer. */
    s = sample(200, 190, 160, 400);
    CHECK_EQ_INT(hguard_decide(&c, 5500, &s, 500, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(c.waiting_since, -1);
    /* A third request starts arriving and stalls: timed from 6000. */
    s = sample(100, 690, 170, 400);
    CHECK_EQ_INT(hguard_decide(&c, 6000, &s, 500, false, &F), HGUARD_KEEP);
    CHECK_EQ_INT(c.waiting_since, 6000);
    s = sample(1600, 2190, 170, 400);
    CHECK_EQ_INT(hguard_decide(&c, 7500, &s, 500, false, &F), HGUARD_KEEP);
    s = sample(2100, 2690, 170, 400);
    CHECK_EQ_INT(hguard_decide(&c, 8000, &s, 500, false, &F), HGUARD_REQUEST_TIMEOUT);

    /* Idle both ways for the idle timeout. */
    c = fresh(0);
    s = sample(300, 300, 80, 200);
    CHECK_EQ_INT(hguard_decide(&c, 0, &s, 500, false, &F), HGUARD_KEEP);
    s = sample(9999, 9999, 80, 200);
    CHECK_EQ_INT(hguard_decide(&c, 9700, &s, 500, false, &F), HGUARD_KEEP);
    s = sample(10000, 10000, 80, 200);
    CHECK_EQ_INT(hguard_decide(&c, 9701, &s, 500, false, &F), HGUARD_IDLE);
}

/* A request being answered slowly (a handler holds it): the timeout waits. */
static void
test_busy(void)
{
    struct hguard_conn c = fresh(0);
    struct hguard_sample s = sample(0, 0, 80, 0);

    CHECK_EQ_INT(hguard_decide(&c, 0, &s, 500, true, &F), HGUARD_KEEP);
    s = sample(5000, 5000, 80, 0);
    CHECK_EQ_INT(hguard_decide(&c, 5000, &s, 500, true, &F), HGUARD_KEEP);
    CHECK_EQ_INT(hguard_decide(&c, 5500, &s, 500, false, &F), HGUARD_REQUEST_TIMEOUT);
    /* Limits off: nothing is ever ended. */
    struct http_guard_flags off = {0, 0, 0};
    c = fresh(0);
    s = sample(0, 0, 0, 0);
    CHECK_EQ_INT(hguard_decide(&c, 0, &s, 500, false, &off), HGUARD_KEEP);
    s = sample(999999, 999999, 0, 0);
    CHECK_EQ_INT(hguard_decide(&c, 999999, &s, 500, false, &off), HGUARD_KEEP);
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
is_closed(int fd)
{
    char b[256];
    ssize_t n;

    while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
        ; /* what the server sent before */
    return n == 0;
}

/* Real sockets in this process: the scan ends the connections the rules name
 * and only those; the listener, other ports and exempt peers are left alone. */
static void
test_scan_live(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    struct http_guard_flags f = {
        .request_timeout_ms = 300, .idle_timeout_ms = 0, .max_connections = 2};
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cli[5], srv[5];
    struct hguard *g;
    struct hguard_stats st;

    CHECK(lfd >= 0);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(lfd, 16) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    CHECK_EQ_INT(hguard_open(&g, ntohs(a.sin_port), &f), 0);
    CHECK_EQ_INT(hguard_interval(g), 100);
    for (int i = 0; i < 3; i++) {
        cli[i] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(cli[i], (struct sockaddr *)&a, sizeof(a)) == 0);
        srv[i] = accept(lfd, NULL, NULL);
        CHECK(srv[i] >= 0);
    }
    /* Each client sends a request; the server answers 0 and 1. */
    for (int i = 0; i < 3; i++)
        CHECK(send(cli[i], "GET / HTTP/1.1\r\n\r\n", 18, 0) == 18);
    usleep(20000);
    CHECK(send(srv[0], "HTTP/1.1 200 OK\r\n\r\n", 19, 0) == 19);
    CHECK(send(srv[1], "HTTP/1.1 200 OK\r\n\r\n", 19, 0) == 19);
    hguard_scan(g, now_ms(), false);
    hguard_stats(g, &st);
    CHECK_EQ_INT((int)st.open, 2); /* all three seen, the newest over the cap ended */
    CHECK(is_closed(cli[2]));
    CHECK(!is_closed(cli[0]) && !is_closed(cli[1]));
    /* Client 1 sends half a request: ended after the request timeout; 0 stays. */
    CHECK(send(cli[1], "GET /x HTTP/1.1\r\n", 17, 0) == 17);
    usleep(20000);
    hguard_scan(g, now_ms(), false);
    CHECK(!is_closed(cli[1]));
    usleep(350000);
    hguard_scan(g, now_ms(), false);
    CHECK(is_closed(cli[1]));
    CHECK(!is_closed(cli[0]));
    hguard_stats(g, &st);
    CHECK_EQ_INT((int)st.request_timeouts, 1);
    CHECK_EQ_INT((int)st.over_cap, 1);
    CHECK_EQ_INT((int)st.open, 1);
    hguard_close(g);
    for (int i = 0; i < 3; i++) {
        close(cli[i]);
        close(srv[i]);
    }
    close(lfd);
    CHECK_EQ_INT(hguard_open(&g, 0, &f), -AG_EINVAL);
    f.request_timeout_ms = -1;
    CHECK_EQ_INT(hguard_open(&g, 80, &f), -AG_EINVAL);
}

TEST_LIST(TEST_ENTRY(new_connection), TEST_ENTRY(slow_request), TEST_ENTRY(keep_alive),
          TEST_ENTRY(busy), TEST_ENTRY(scan_live));
TEST_MAIN()
