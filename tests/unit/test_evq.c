#include "evq.h"

#include "error.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>

#define NTHREADS 4
#define PER_THREAD 20000

struct ctx {
    struct evq q;
    uv_loop_t loop;
    uint64_t next[NTHREADS]; /* next expected sequence number per thread */
    uint64_t ran;
    uint64_t closed_calls;
    bool closed;
    bool order_ok;
};

struct post {
    struct ctx *c;
    int thread;
    uint64_t seq;
};

static void
post_cb(void *arg, int status)
{
    struct post *p = arg;
    struct ctx *c = p->c;

    if (status == 0) {
        if (c->next[p->thread] != p->seq)
            c->order_ok = false;
        c->next[p->thread] = p->seq + 1;
        c->ran++;
        if (c->ran == NTHREADS * PER_THREAD)
            uv_stop(&c->loop);
    } else {
        c->closed_calls++;
    }
    free(p);
}

struct thr_arg {
    struct ctx *c;
    int thread;
};

static void *
poster(void *arg)
{
    struct thr_arg *t = arg;

    for (uint64_t i = 0; i < PER_THREAD; i++) {
        struct post *p = malloc(sizeof(*p));

        CHECK(p != NULL);
        p->c = t->c;
        p->thread = t->thread;
        p->seq = i;
        CHECK(evq_post(&t->c->q, post_cb, p) == 0);
    }
    return NULL;
}

static void
on_closed(struct evq *q)
{
    struct ctx *c = (struct ctx *)((char *)q - offsetof(struct ctx, q));

    c->closed = true;
}

static void
ctx_init(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->order_ok = true;
    CHECK(uv_loop_init(&c->loop) == 0);
    CHECK(evq_init(&c->q, &c->loop) == 0);
}

static void
ctx_fini(struct ctx *c)
{
    evq_close(&c->q, on_closed);
    CHECK(uv_run(&c->loop, UV_RUN_DEFAULT) == 0);
    CHECK(c->closed);
    CHECK(uv_loop_close(&c->loop) == 0);
}

/* Calls posted from several threads all run, each thread's calls in order. */
static void
test_threads_fifo(void)
{
    struct ctx c;
    pthread_t th[NTHREADS];
    struct thr_arg ta[NTHREADS];

    ctx_init(&c);
    for (int i = 0; i < NTHREADS; i++) {
        ta[i].c = &c;
        ta[i].thread = i;
        CHECK(pthread_create(&th[i], NULL, poster, &ta[i]) == 0);
    }
    uv_run(&c.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    CHECK_EQ_INT(c.ran, NTHREADS * PER_THREAD);
    CHECK(c.order_ok);
    ctx_fini(&c);
}

static int nested_log[8];
static int nested_n;

struct nested {
    struct evq *q;
    int id;
};

static void
nested_cb(void *arg, int status)
{
    struct nested *n = arg;

    nested_log[nested_n++] = status == 0 ? n->id : -n->id;
    /* The first call drains the rest itself; order must stay FIFO. */
    if (n->id == 1)
        evq_run(n->q);
}

/* evq_run from inside a call keeps FIFO order; evq_close reports leftovers. */
static void
test_nested_run_and_close(void)
{
    struct ctx c;
    struct nested n[4];

    ctx_init(&c);
    nested_n = 0;
    for (int i = 0; i < 3; i++) {
        n[i].q = &c.q;
        n[i].id = i + 1;
        CHECK(evq_post(&c.q, nested_cb, &n[i]) == 0);
    }
    evq_run(&c.q);
    CHECK_EQ_INT(nested_n, 3);
    CHECK_EQ_INT(nested_log[0], 1);
    CHECK_EQ_INT(nested_log[1], 2);
    CHECK_EQ_INT(nested_log[2], 3);

    n[3].q = &c.q;
    n[3].id = 4;
    CHECK(evq_post(&c.q, nested_cb, &n[3]) == 0);
    evq_close(&c.q, on_closed);
    CHECK_EQ_INT(nested_n, 4);
    CHECK_EQ_INT(nested_log[3], -4);
    CHECK_EQ_INT(evq_post(&c.q, nested_cb, &n[3]), -AG_ECLOSED);
    CHECK(uv_run(&c.loop, UV_RUN_DEFAULT) == 0);
    CHECK(c.closed);
    CHECK(uv_loop_close(&c.loop) == 0);
}

TEST_LIST(TEST_ENTRY(threads_fifo), TEST_ENTRY(nested_run_and_close));
TEST_MAIN()
