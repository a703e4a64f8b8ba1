#include "agent_ckpt.h"

#include "agent_int.h"
#include "error.h"
#include "log.h"

static void ckpt_commit_cb(uv_check_t *h);

int
ckpt_begin(struct agent *a)
{
    int rv;

    if (!a->txn) {
        if ((rv = state_begin(a->state)) != 0)
            return rv;
        a->txn = true;
        if (a->has_commit_check)
            uv_check_start(&a->commit_check, ckpt_commit_cb);
    }
    return state_savepoint(a->state);
}

int
ckpt_end(struct agent *a, int rv)
{
    if (rv == 0)
        rv = state_release(a->state);
    else
        state_rollback_to(a->state);
    return rv;
}

static void
ckpt_durable_cb(void *arg, uint64_t durable)
{
    struct agent *a = arg;

    su_set_durable(&a->su, durable, agent_now_ms(a));
}

void
ckpt_flush(struct agent *a)
{
    int rv;

    if (a->txn) {
        a->txn = false;
        if ((rv = state_commit(a->state)) != 0) {
            log_error("cannot commit the checkpoint: %s (updates sent anyway)", ag_strerror(rv));
            state_rollback(a->state);
        }
    }
    if (!a->closing && (rv = state_sync(a->state, a->loop, ckpt_durable_cb, a)) != 0)
        log_error("cannot sync the checkpoint: %s", ag_strerror(rv));
}

void
ckpt_kick(struct agent *a)
{
    if (a->has_commit_check && !a->closing)
        uv_check_start(&a->commit_check, ckpt_commit_cb);
}

static void
ckpt_commit_cb(uv_check_t *h)
{
    struct agent *a = h->data;

    uv_check_stop(h);
    ckpt_flush(a);
}

void
ckpt_start(struct agent *a)
{
    uv_check_init(a->loop, &a->commit_check);
    a->commit_check.data = a;
    a->has_commit_check = true;
    if (a->txn) /* what recovery wrote */
        uv_check_start(&a->commit_check, ckpt_commit_cb);
}
