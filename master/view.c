/*
 * Read-only views of the master's state for its front ends (master.h): the
 * HTTP API renders from these and never sees struct master itself.
 */
#include "master_int.h"

#include "allocator.h"
#include "metrics.h"
#include "transport.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *
master_id(const struct master *m)
{
    return m->id;
}

double
master_start_time(const struct master *m)
{
    return m->start_time;
}

const struct master_flags *
master_flags(const struct master *m)
{
    return &m->flags;
}

const struct flag *
master_flag_table(const struct master *m)
{
    return m->flag_table;
}

const struct acls *
master_acls(const struct master *m)
{
    return m->acls;
}

uv_loop_t *
master_loop(const struct master *m)
{
    return m->loop;
}

const char *
master_accounting_path(const struct master *m)
{
    return m->acct_path;
}

bool
master_is_stream_link(void *arg, const char *peer)
{
    const struct master *m = arg;

    return tp_server_has_addr(m->tp, peer);
}

void
master_agent_counts(const struct master *m, size_t *active, size_t *inactive)
{
    size_t it = 0;
    void *val;
    *active = *inactive = 0;
    while (hmap_next(&m->agents, &it, NULL, &val)) {
        const struct agent *a = val;
        if (a->state == AGENT_ACTIVE && a->peer)
            (*active)++;
        else
            (*inactive)++;
    }
}

size_t
master_agent_count(const struct master *m)
{
    return hmap_size(&m->agents);
}

void
master_foreach_agent(const struct master *m, void (*fn)(void *arg, const struct agent *a),
                     void *arg)
{
    size_t it = 0;
    void *val;
    while (hmap_next(&m->agents, &it, NULL, &val))
        fn(arg, val);
}

void
master_foreach_framework(const struct master *m, void (*fn)(void *arg, const struct framework *fw),
                         void *arg)
{
    size_t it = 0;
    void *val;
    while (hmap_next(&m->frameworks, &it, NULL, &val))
        fn(arg, val);
}

void
master_foreach_completed_framework(const struct master *m,
                                   void (*fn)(void *arg, const struct framework *fw), void *arg)
{
    size_t max = (size_t)m->flags.max_completed_frameworks;
    size_t first = m->ncompleted_fws < max ? 0 : m->completed_fws_head;

    for (size_t i = 0; i < m->ncompleted_fws; i++)
        fn(arg, m->completed_fws[(first + i) % max]);
}

void
master_foreach_completed_task(const struct master *m,
                              void (*fn)(void *arg, const struct completed_task *c), void *arg)
{
    for (size_t i = 0; i < m->ncompleted; i++)
        fn(arg, &m->completed[i]);
}

void
master_foreach_offer(const struct master *m, void (*fn)(void *arg, const struct offer *o),
                     void *arg)
{
    size_t it = 0;
    void *val;
    while (hmap_next(&m->offers, &it, NULL, &val))
        fn(arg, val);
}

void
master_foreach_role(const struct master *m,
                    void (*fn)(void *arg, const struct alloc_role_info *info), void *arg)
{
    alloc_foreach_role(m->alloc, fn, arg);
}

struct metrics *
master_metrics(const struct master *m)
{
    return m->metrics;
}
