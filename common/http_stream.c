#include "http_stream.h"

#include "error.h"
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_STREAM_MAX_QUEUE (4u << 20)

struct sbuf {
    struct sbuf *next;
    size_t len;
    char data[];
};

struct http_stream {
    struct evq *evq;                 /* the server's, for nng's completions */
    struct http_stream **list;       /* the server's list of streams */
    struct http_stream *prev, *next; /* on *list once started */
    nng_http_conn *conn;
    nng_aio *wio; /* one write in flight at a time */
    nng_aio *rio; /* a read that only notices the peer going away */
    struct sbuf *head, *tail;
    size_t queued;
    bool writing;
    bool dead;         /* peer gone, failed or overflowed: writes are refused */
    bool reported;     /* on_close was called */
    bool in_cb;        /* inside on_close, where http_stream_close is a no-op */
    bool closed;       /* released */
    atomic_int posted; /* evq calls not yet run that point here */
    void (*on_close)(void *arg, struct http_stream *st);
    void *arg;
    uint8_t rbuf[256];
};

/* ---- streams ---- */

static void
stream_maybe_free(struct http_stream *st)
{
    if (st->closed && atomic_load(&st->posted) == 0)
        free(st);
}

/*
 * Loop: accounts for one posted call to `st` that now runs. Returns whether
 * the call may go on; false when the server's evq is closing or the stream
 * was released (then it is freed if this was the last call pointing at it).
 */
static bool
stream_posted_ran(struct http_stream *st, int status)
{
    atomic_fetch_sub(&st->posted, 1);
    if (status != 0 || st->closed) {
        stream_maybe_free(st);
        return false;
    }
    return true;
}

static void
sbuf_free_all(struct http_stream *st)
{
    while (st->head != NULL) {
        struct sbuf *b = st->head;

        st->head = b->next;
        free(b);
    }
    st->tail = NULL;
    st->queued = 0;
}

static void stream_shutdown(struct http_stream *st);

/* Loop: reports the end of the stream to its owner once, then releases it. */
static void
stream_dead(struct http_stream *st)
{
    st->dead = true;
    if (!st->reported) {
        st->reported = true;
        if (st->on_close != NULL) {
            st->in_cb = true;
            st->on_close(st->arg, st);
            st->in_cb = false;
        }
    }
    if (!st->closed)
        stream_shutdown(st);
}

static void
stream_kick(struct http_stream *st)
{
    nng_iov iov;

    if (st->writing || st->head == NULL || st->dead || st->closed)
        return;
    iov.iov_buf = st->head->data;
    iov.iov_len = st->head->len;
    nng_aio_set_iov(st->wio, 1, &iov);
    st->writing = true;
    nng_http_conn_write_all(st->conn, st->wio);
}

static void
stream_read(struct http_stream *st)
{
    nng_iov iov;

    iov.iov_buf = st->rbuf;
    iov.iov_len = sizeof(st->rbuf);
    nng_aio_set_iov(st->rio, 1, &iov);
    nng_http_conn_read(st->conn, st->rio);
}

static void
stream_write_done(void *arg, int status)
{
    struct http_stream *st = arg;
    struct sbuf *b;

    if (!stream_posted_ran(st, status))
        return;
    st->writing = false;
    if ((b = st->head) != NULL) {
        st->head = b->next;
        if (st->head == NULL)
            st->tail = NULL;
        st->queued -= b->len;
        free(b);
    }
    if (nng_aio_result(st->wio) != 0) {
        stream_dead(st);
        return;
    }
    stream_kick(st);
}

static void
stream_read_done(void *arg, int status)
{
    struct http_stream *st = arg;

    if (!stream_posted_ran(st, status))
        return;
    if (nng_aio_result(st->rio) != 0) {
        stream_dead(st); /* the peer closed or reset the connection */
        return;
    }
    if (!st->dead)
        stream_read(st); /* whatever the peer sends is ignored */
}

static void
stream_dead_later(void *arg, int status)
{
    struct http_stream *st = arg;

    if (!stream_posted_ran(st, status))
        return;
    stream_dead(st);
}

/* nng threads: completions only go to the loop. */
static void
stream_post(struct http_stream *st, evq_fn fn)
{
    atomic_fetch_add(&st->posted, 1);
    if (evq_post(st->evq, fn, st) != 0)
        atomic_fetch_sub(&st->posted, 1);
}

static void
stream_wio_cb(void *arg)
{
    stream_post(arg, stream_write_done);
}

static void
stream_rio_cb(void *arg)
{
    stream_post(arg, stream_read_done);
}

/* Loop: stops all I/O, unlinks and releases the stream (freed when no call points at it). */
static void
stream_shutdown(struct http_stream *st)
{
    st->closed = true;
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        *st->list = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    nng_http_conn_close(st->conn); /* aborts the reads and writes in flight */
    nng_aio_stop(st->rio);         /* waits for their callbacks (which only post) */
    nng_aio_stop(st->wio);
    nng_aio_free(st->rio);
    nng_aio_free(st->wio);
    sbuf_free_all(st);
    stream_maybe_free(st);
}

static int
stream_queue(struct http_stream *st, const void *data, size_t len)
{
    struct sbuf *b = malloc(sizeof(*b) + len);

    if (b == NULL)
        return -AG_ENOMEM;
    b->next = NULL;
    b->len = len;
    memcpy(b->data, data, len);
    if (st->tail != NULL)
        st->tail->next = b;
    else
        st->head = b;
    st->tail = b;
    st->queued += len;
    return 0;
}

struct http_stream *
http_stream_alloc(struct evq *evq, const void *head, size_t len)
{
    struct http_stream *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    if (nng_aio_alloc(&st->wio, stream_wio_cb, st) != 0 ||
        nng_aio_alloc(&st->rio, stream_rio_cb, st) != 0 || stream_queue(st, head, len) != 0) {
        http_stream_discard(st);
        return NULL;
    }
    st->evq = evq;
    atomic_init(&st->posted, 0);
    return st;
}

void
http_stream_discard(struct http_stream *st)
{
    if (st == NULL)
        return;
    nng_aio_free(st->wio);
    nng_aio_free(st->rio);
    sbuf_free_all(st);
    free(st);
}

void
http_stream_start(struct http_stream *st, nng_http_conn *conn, struct http_stream **list,
                  void (*on_close)(void *arg, struct http_stream *st), void *arg)
{
    st->conn = conn;
    st->on_close = on_close;
    st->arg = arg;
    st->list = list;
    st->next = *list;
    if (*list != NULL)
        (*list)->prev = st;
    *list = st;
    stream_kick(st);
    stream_read(st);
}

void
http_stream_close_all(struct http_stream **list)
{
    while (*list != NULL)
        stream_dead(*list);
}

int
http_stream_write(struct http_stream *st, const void *data, size_t len)
{
    if (st->closed || st->dead)
        return -AG_ECLOSED;
    if (len == 0)
        return 0;
    if (st->queued + len > HTTP_STREAM_MAX_QUEUE) {
        log_warn("http: stream consumer too slow, closing queued=%zu", st->queued);
        st->dead = true;
        stream_post(st, stream_dead_later);
        return -AG_ENOSPC;
    }
    if (stream_queue(st, data, len) != 0)
        return -AG_ENOMEM;
    stream_kick(st);
    return 0;
}

void
http_stream_close(struct http_stream *st)
{
    if (st != NULL && !st->closed && !st->in_cb)
        stream_shutdown(st);
}
