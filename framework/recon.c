/* The reconciliation helper: see recon.h. */
#include "error.h"

#include "recon.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

void
recon_init(struct recon *r)
{
    memset(r, 0, sizeof(*r));
    hmap_init(&r->tasks);
    r->initial = 1000;
    r->max = 60000;
}

void
recon_fini(struct recon *r)
{
    hmap_clear_free(&r->tasks);
    hmap_fini(&r->tasks);
}

int
recon_add(struct recon *r, const struct msg_reconcile *m, double initial_s, double max_s,
          uint64_t now)
{
    int rv = 0;

    for (size_t i = 0; i < m->ntasks && rv == 0; i++)
        rv = hmap_put_str(&r->tasks, m->tasks[i].task_id, m->tasks[i].agent_id);
    r->initial = (uint64_t)(initial_s * 1000);
    r->max = (uint64_t)(max_s * 1000);
    if (r->max < r->initial)
        r->max = r->initial;
    recon_restart(r, now);
    return rv != 0 ? -AG_ENOMEM : 0;
}

void
recon_restart(struct recon *r, uint64_t now)
{
    r->backoff = r->initial;
    r->due = now;
}

struct call *
recon_take(struct recon *r, uint64_t now)
{
    size_t n = hmap_size(&r->tasks), i = 0;
    const char **ids, **agents;
    struct call *c = NULL;
    const char *key;
    void *val;

    if (n == 0 || now < r->due)
        return NULL;
    ids = calloc(n, sizeof(*ids));
    agents = calloc(n, sizeof(*agents));
    if (ids != NULL && agents != NULL) {
        for (size_t it = 0; i < n && hmap_next(&r->tasks, &it, &key, &val); i++) {
            ids[i] = key;
            agents[i] = val;
        }
        c = call_reconcile(ids, agents, i);
    }
    free(ids);
    free(agents);
    if (c == NULL)
        return NULL;
    log_info("scheduler: reconciling tasks=%zu next_in_ms=%llu", n,
             (unsigned long long)r->backoff);
    r->due = now + r->backoff;
    r->backoff *= 2;
    if (r->backoff > r->max)
        r->backoff = r->max;
    return c;
}

bool
recon_answered(struct recon *r, const char *task_id)
{
    void *val;

    if (hmap_size(&r->tasks) == 0 || (val = hmap_del(&r->tasks, task_id)) == NULL)
        return false;
    free(val);
    return true;
}

size_t
recon_pending(const struct recon *r)
{
    return hmap_size(&r->tasks);
}
