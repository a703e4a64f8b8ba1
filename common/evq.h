/*
 * evq: a thread-safe handoff queue into a libuv loop.
 *
 * Any thread may post a function call with evq_post(); the loop thread runs the
 * calls later, in the order they were posted, from a uv_async_t callback. This
 * is how nng callbacks (which run on nng's own threads) hand work to the one
 * loop thread that owns a daemon's state.
 *
 * Every posted call runs exactly once: normally with status 0 on the loop
 * thread, or with status -AG_ECLOSED from evq_close() if the queue is closed
 * before the call ran (then the function must only release what `arg` owns).
 *
 * An evq is embedded in its owner (evq_init/evq_close). The owner's memory must
 * stay valid until the close callback given to evq_close() has run.
 */
#ifndef AGORA_EVQ_H
#define AGORA_EVQ_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

/* A posted call. `status` is 0, or -AG_ECLOSED when the queue was closed first. */
typedef void (*evq_fn)(void *arg, int status);

struct evq;
typedef void (*evq_close_cb)(struct evq *q);

struct evq_item;

struct evq {
    uv_async_t async; /* wakes the loop; its data points to the evq */
    pthread_mutex_t lock;
    struct evq_item *head; /* pending calls, FIFO, under lock */
    struct evq_item *tail;
    size_t pending;
    bool closed; /* under lock: evq_post refuses new calls */
    evq_close_cb close_cb;
};

/*
 * Initialises `q` on `loop`. Must be called on the loop thread. Returns 0, or a
 * negative AG_E* code with nothing to release.
 */
int evq_init(struct evq *q, uv_loop_t *loop);

/*
 * Queues fn(arg, 0) to run on the loop thread. Callable from any thread.
 * Returns 0, -AG_ENOMEM, or -AG_ECLOSED if the queue is closed; on failure fn
 * will not be called and the caller keeps `arg`.
 */
int evq_post(struct evq *q, evq_fn fn, void *arg);

/*
 * Runs the calls pending right now, on the loop thread, without waiting for the
 * async wake-up. Calls posted while they run are left for the next run. May be
 * called from inside a posted call; order stays FIFO.
 */
void evq_run(struct evq *q);

/*
 * Closes the queue (loop thread only): later evq_post() calls fail, calls still
 * pending are run now with status -AG_ECLOSED, then the async handle is closed
 * and `cb` (may be NULL) runs from the loop once `q` may be freed.
 */
void evq_close(struct evq *q, evq_close_cb cb);

#endif
