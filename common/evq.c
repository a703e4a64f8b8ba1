#include "evq.h"

#include "error.h"

#include <stdlib.h>

struct evq_item {
    struct evq_item *next;
    evq_fn fn;
    void *arg;
};

/* Removes and returns the oldest pending call, or NULL. */
static struct evq_item *
evq_pop(struct evq *q)
{
    struct evq_item *it;

    pthread_mutex_lock(&q->lock);
    if ((it = q->head) != NULL) {
        q->head = it->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->pending--;
    }
    pthread_mutex_unlock(&q->lock);
    return it;
}

/*
 * Runs at most the calls pending now, one at a time from the head of the queue,
 * so that a nested evq_run() or evq_close() from inside a call keeps FIFO order.
 */
static void
evq_drain(struct evq *q, int status)
{
    struct evq_item *it;
    size_t n;

    pthread_mutex_lock(&q->lock);
    n = q->pending;
    pthread_mutex_unlock(&q->lock);
    while (n-- > 0 && (it = evq_pop(q)) != NULL) {
        it->fn(it->arg, status);
        free(it);
    }
}

static void
evq_async_cb(uv_async_t *h)
{
    evq_drain(h->data, 0);
}

static void
evq_closed_cb(uv_handle_t *h)
{
    struct evq *q = h->data;

    pthread_mutex_destroy(&q->lock);
    if (q->close_cb != NULL)
        q->close_cb(q);
}

int
evq_init(struct evq *q, uv_loop_t *loop)
{
    int rv;

    q->head = q->tail = NULL;
    q->pending = 0;
    q->closed = false;
    q->close_cb = NULL;
    if ((rv = pthread_mutex_init(&q->lock, NULL)) != 0)
        return ag_from_errno(rv);
    if ((rv = uv_async_init(loop, &q->async, evq_async_cb)) != 0) {
        pthread_mutex_destroy(&q->lock);
        return ag_from_uv(rv);
    }
    q->async.data = q;
    return 0;
}

int
evq_post(struct evq *q, evq_fn fn, void *arg)
{
    struct evq_item *it;

    if ((it = malloc(sizeof(*it))) == NULL)
        return -AG_ENOMEM;
    it->next = NULL;
    it->fn = fn;
    it->arg = arg;
    pthread_mutex_lock(&q->lock);
    if (q->closed) {
        pthread_mutex_unlock(&q->lock);
        free(it);
        return -AG_ECLOSED;
    }
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->pending++;
    /* Under the lock so that evq_close() cannot close the handle meanwhile. */
    uv_async_send(&q->async);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

void
evq_run(struct evq *q)
{
    evq_drain(q, 0);
}

void
evq_close(struct evq *q, evq_close_cb cb)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_mutex_unlock(&q->lock);
    evq_drain(q, -AG_ECLOSED);
    q->close_cb = cb;
    uv_close((uv_handle_t *)&q->async, evq_closed_cb);
}
