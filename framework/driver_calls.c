/*
 * The calls a framework makes (accept, decline, kill, acknowledge, reconcile,
 * ...): each checks its arguments, builds its message as a call (call.h) and
 * hands it to the driver with drv_submit. Failures are returned with
 * ag_last_error set; nothing is sent then.
 */
#include "error.h"

#include "driver_int.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_REFUSE_S 5.0

static int
ids_check(const char *const *ids, size_t n, const char *what)
{
    if (n > 0 && ids == NULL)
        return sched_err(-AG_EINVAL, "NULL %s list", what);
    for (size_t i = 0; i < n; i++)
        if (ids[i] == NULL || ids[i][0] == '\0')
            return sched_err(-AG_EINVAL, "empty %s at index %zu", what, i);
    return 0;
}

AG_API int
ag_driver_accept_operations(struct ag_driver *d, const char *const *offer_ids, size_t noffers,
                            struct ag_operation *const *ops, size_t nops, double refuse_seconds)
{
    struct msg_accept *a;
    struct call *c;
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (noffers == 0)
        return sched_err(-AG_EINVAL, "accept needs at least one offer");
    if ((rv = ids_check(offer_ids, noffers, "offer id")) != 0)
        return rv;
    if (nops > 0 && ops == NULL)
        return sched_err(-AG_EINVAL, "NULL operation list");
    for (size_t i = 0; i < nops; i++)
        if (ops[i] == NULL)
            return sched_err(-AG_EINVAL, "operation %zu is NULL", i);
    if ((c = call_new(MSG_ACCEPT)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    a = &c->m.u.accept;
    a->refuse_seconds = refuse_seconds >= 0 ? refuse_seconds : DEFAULT_REFUSE_S;
    if (call_strs_dup(&a->offer_ids, &a->noffer_ids, offer_ids, noffers) != 0)
        goto nomem;
    if (nops > 0) {
        if ((a->operations = calloc(nops, sizeof(*a->operations))) == NULL)
            goto nomem;
        for (size_t i = 0; i < nops; i++)
            msg_operation_init(&a->operations[i]);
        a->noperations = nops;
        for (size_t i = 0; i < nops; i++)
            if (msg_operation_copy(&a->operations[i], &ops[i]->op) != 0)
                goto nomem;
    }
    return drv_submit(d, c);
nomem:
    call_free(c);
    return sched_err(-AG_ENOMEM, "out of memory");
}

AG_API int
ag_driver_accept(struct ag_driver *d, const char *const *offer_ids, size_t noffers,
                 struct ag_task *const *tasks, size_t ntasks, double refuse_seconds)
{
    struct ag_operation *op;
    int rv;

    if (ntasks == 0)
        return ag_driver_decline(d, offer_ids, noffers, refuse_seconds);
    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if ((rv = sched_op_launch(&op, tasks, ntasks)) != 0)
        return rv;
    rv = ag_driver_accept_operations(d, offer_ids, noffers, &op, 1, refuse_seconds);
    ag_operation_free(op);
    return rv;
}

AG_API int
ag_driver_launch(struct ag_driver *d, const char *offer_id, const struct ag_task *task)
{
    struct ag_task *t = (struct ag_task *)task; /* only read */

    if (task == NULL)
        return sched_err(-AG_EINVAL, "NULL task");
    return ag_driver_accept(d, &offer_id, 1, &t, 1, -1);
}

static int
drv_reserve_op(struct ag_driver *d, const char *offer_id, const char *type, const char *text)
{
    struct ag_operation *op;
    int rv;

    if ((rv = sched_op_resources(&op, type, text)) != 0)
        return rv;
    rv = ag_driver_accept_operations(d, &offer_id, 1, &op, 1, -1);
    ag_operation_free(op);
    return rv;
}

AG_API int
ag_driver_reserve(struct ag_driver *d, const char *offer_id, const char *resources)
{
    return drv_reserve_op(d, offer_id, "RESERVE", resources);
}

AG_API int
ag_driver_unreserve(struct ag_driver *d, const char *offer_id, const char *resources)
{
    return drv_reserve_op(d, offer_id, "UNRESERVE", resources);
}

AG_API int
ag_driver_decline(struct ag_driver *d, const char *const *offer_ids, size_t n,
                  double refuse_seconds)
{
    struct call *c;
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (n == 0)
        return sched_err(-AG_EINVAL, "decline needs at least one offer");
    if ((rv = ids_check(offer_ids, n, "offer id")) != 0)
        return rv;
    if ((c = call_new(MSG_DECLINE)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    c->m.u.decline.refuse_seconds = refuse_seconds >= 0 ? refuse_seconds : DEFAULT_REFUSE_S;
    if (call_strs_dup(&c->m.u.decline.offer_ids, &c->m.u.decline.noffer_ids, offer_ids, n) != 0) {
        call_free(c);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    return drv_submit(d, c);
}

AG_API int
ag_driver_revive(struct ag_driver *d, const char *role)
{
    return drv_roles_call(d, MSG_REVIVE, role);
}

AG_API int
ag_driver_suppress(struct ag_driver *d, const char *role)
{
    return drv_roles_call(d, MSG_SUPPRESS, role);
}

AG_API int
ag_driver_want_offers(struct ag_driver *d, bool want)
{
    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (ag_driver_offers_suppressed(d) != want)
        return 0;
    return drv_roles_call(d, want ? MSG_REVIVE : MSG_SUPPRESS, NULL);
}

AG_API int
ag_driver_kill_grace(struct ag_driver *d, const char *task_id, const char *agent_id,
                     int64_t grace_ms)
{
    struct call *c;

    if (d == NULL || task_id == NULL || task_id[0] == '\0')
        return sched_err(-AG_EINVAL, "NULL driver or empty task id");
    if (grace_ms < -1)
        return sched_err(-AG_EINVAL, "grace period must be >= 0 (or -1 for the task's)");
    if ((c = call_new(MSG_KILL)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    c->m.u.kill.grace_ms = grace_ms;
    if (sched_set_str(&c->m.u.kill.task_id, task_id) != 0 ||
        sched_set_str(&c->m.u.kill.agent_id, agent_id) != 0) {
        call_free(c);
        return -AG_ENOMEM;
    }
    return drv_submit(d, c);
}

AG_API int
ag_driver_kill(struct ag_driver *d, const char *task_id, const char *agent_id)
{
    return ag_driver_kill_grace(d, task_id, agent_id, -1);
}

AG_API int
ag_driver_acknowledge(struct ag_driver *d, const char *agent_id, const char *task_id,
                      const char *uuid)
{
    struct call *c;

    if (d == NULL || task_id == NULL || task_id[0] == '\0' || uuid == NULL || uuid[0] == '\0')
        return sched_err(-AG_EINVAL, "acknowledge needs a task id and a uuid");
    if ((c = call_new(MSG_STATUS_ACK)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    if (sched_set_str(&c->m.u.status_ack.agent_id, agent_id) != 0 ||
        sched_set_str(&c->m.u.status_ack.task_id, task_id) != 0 ||
        sched_set_str(&c->m.u.status_ack.uuid, uuid) != 0) {
        call_free(c);
        return -AG_ENOMEM;
    }
    return drv_submit(d, c);
}

AG_API int
ag_driver_acknowledge_status(struct ag_driver *d, const struct ag_task_status *status)
{
    if (status == NULL)
        return sched_err(-AG_EINVAL, "NULL status");
    if (status->s.uuid == NULL || status->s.uuid[0] == '\0')
        return 0;
    return ag_driver_acknowledge(d, status->s.agent_id, status->s.task_id, status->s.uuid);
}

AG_API int
ag_driver_reconcile(struct ag_driver *d, const char *const *task_ids, const char *const *agent_ids,
                    size_t n)
{
    struct call *c;
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if ((rv = ids_check(task_ids, n, "task id")) != 0)
        return rv;
    if ((c = call_reconcile(task_ids, agent_ids, n)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    return drv_submit(d, c);
}

AG_API int
ag_driver_reconcile_until_known(struct ag_driver *d, const char *const *task_ids,
                                const char *const *agent_ids, size_t n, double initial_backoff_s,
                                double max_backoff_s)
{
    struct call *c;
    int rv;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if (n == 0)
        return sched_err(-AG_EINVAL, "reconcile_until_known needs at least one task");
    if ((rv = ids_check(task_ids, n, "task id")) != 0)
        return rv;
    if ((c = call_reconcile(task_ids, agent_ids, n)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    c->kind = CALL_RECONCILE_UNTIL;
    c->initial_s = initial_backoff_s > 0 ? initial_backoff_s : 1;
    c->max_s = max_backoff_s > 0 ? max_backoff_s : 60;
    if (c->initial_s > 86400)
        c->initial_s = 86400;
    if (c->max_s > 86400)
        c->max_s = 86400;
    return drv_submit(d, c);
}

AG_API int
ag_driver_send_framework_message(struct ag_driver *d, const char *agent_id, const char *executor_id,
                                 const void *data, size_t len)
{
    struct msg_framework_message *fm;
    struct call *c;

    if (d == NULL || agent_id == NULL || executor_id == NULL || (len > 0 && data == NULL))
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((c = call_new(MSG_FRAMEWORK_MESSAGE)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    fm = &c->m.u.framework_message;
    if (sched_set_str(&fm->agent_id, agent_id) != 0 ||
        sched_set_str(&fm->executor_id, executor_id) != 0 ||
        (len > 0 && (fm->data = malloc(len)) == NULL)) {
        call_free(c);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    if (len > 0)
        memcpy(fm->data, data, len);
    fm->data_len = len;
    return drv_submit(d, c);
}

AG_API int
ag_driver_teardown(struct ag_driver *d)
{
    struct call *c;

    if (d == NULL)
        return sched_err(-AG_EINVAL, "NULL driver");
    if ((c = call_new(MSG_TEARDOWN)) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    return drv_submit(d, c);
}
