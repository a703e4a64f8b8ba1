/* The calls of libagora-scheduler and their queue: see call.h. */
#include "error.h"

#include "call.h"
#include "sched_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CALL_BYTES (8u << 20) /* the transport's largest message */

struct call *
call_new(enum msg_type type)
{
    struct call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->kind = CALL_SEND;
    c->offers = type == MSG_ACCEPT || type == MSG_DECLINE;
    msg_init(&c->m, type);
    return c;
}

void
call_free(struct call *c)
{
    if (c == NULL)
        return;
    msg_free(&c->m);
    free(c);
}

int
call_strs_dup(char ***out, size_t *nout, const char *const *v, size_t n)
{
    char **a;

    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    if ((a = calloc(n, sizeof(*a))) == NULL)
        return -AG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((a[i] = strdup(v[i] != NULL ? v[i] : "")) == NULL) {
            for (size_t j = 0; j < i; j++)
                free(a[j]);
            free(a);
            return -AG_ENOMEM;
        }
    }
    *out = a;
    *nout = n;
    return 0;
}

struct call *
call_reconcile(const char *const *task_ids, const char *const *agent_ids, size_t n)
{
    struct msg_reconcile *r;
    struct call *c;

    if ((c = call_new(MSG_RECONCILE)) == NULL)
        return NULL;
    if (n == 0)
        return c;
    r = &c->m.u.reconcile;
    if ((r->tasks = calloc(n, sizeof(*r->tasks))) == NULL) {
        call_free(c);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        msg_reconcile_task_init(&r->tasks[i]);
    r->ntasks = n;
    for (size_t i = 0; i < n; i++) {
        const char *agent = agent_ids != NULL && agent_ids[i] != NULL ? agent_ids[i] : "";

        if ((r->tasks[i].task_id = strdup(task_ids[i])) == NULL ||
            (r->tasks[i].agent_id = strdup(agent)) == NULL) {
            call_free(c);
            return NULL;
        }
    }
    return c;
}

int
call_check(const struct call *c)
{
    void *buf;
    size_t len;
    int rv;

    if (c->kind != CALL_SEND)
        return 0;
    if ((rv = msg_encode_alloc(&c->m, &buf, &len)) != 0) {
        if (rv == -AG_ENOMEM)
            return sched_err(rv, "out of memory");
        return sched_err(rv, "%s cannot be encoded (invalid UTF-8 or a size limit exceeded)",
                         msg_type_name(c->m.type));
    }
    free(buf);
    if (len > MAX_CALL_BYTES)
        return sched_err(-AG_ERANGE, "%s of %zu bytes exceeds the limit of %u bytes",
                         msg_type_name(c->m.type), len, MAX_CALL_BYTES);
    return 0;
}

void
call_queue_push(struct call_queue *q, struct call *c)
{
    c->next = NULL;
    if (q->tail != NULL)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

void
call_queue_push_front(struct call_queue *q, struct call *c)
{
    c->next = q->head;
    q->head = c;
    if (q->tail == NULL)
        q->tail = c;
}

struct call *
call_queue_pop(struct call_queue *q)
{
    struct call *c = q->head;

    if (c == NULL)
        return NULL;
    q->head = c->next;
    if (q->head == NULL)
        q->tail = NULL;
    return c;
}

struct call *
call_queue_take_offers(struct call_queue *q)
{
    struct call *taken = NULL, **ttail = &taken, *c, *next;
    struct call_queue keep = {NULL, NULL};

    for (c = q->head; c != NULL; c = next) {
        next = c->next;
        c->next = NULL;
        if (c->offers) {
            *ttail = c;
            ttail = &c->next;
        } else {
            call_queue_push(&keep, c);
        }
    }
    *q = keep;
    return taken;
}
