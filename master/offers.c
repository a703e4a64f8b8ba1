/*
 * Outstanding offers: taking, rescinding and freeing them.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "metrics.h"

#include "allocator.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
offer_free(struct offer *o)
{
    if (o == NULL)
        return;
    res_fini(&o->resources);
    free(o);
}

/* Takes an offer out of every index; returns it (caller frees) or NULL. */
struct offer *
offer_take(struct master *m, const char *id)
{
    struct offer *o = hmap_del(&m->offers, id);
    struct framework *fw;

    if (o == NULL)
        return NULL;
    fw = core_framework(m, o->framework_id);
    if (fw)
        hmap_del(&fw->offers, id);
    return o;
}

/* Withdraws an offer: tells the framework (if `tell`) and gives the resources back. */
void
offer_rescind(struct master *m, const char *id, bool tell, double refuse_seconds)
{
    struct offer *o = offer_take(m, id);
    struct framework *fw;
    struct msg r;

    if (o == NULL)
        return;
    fw = core_framework(m, o->framework_id);
    if (tell && fw && fw->peer) {
        msg_init(&r, MSG_RESCIND);
        r.u.rescind.offer_id = o->id;
        master_send(m, fw->peer, &r);
    }
    alloc_recover_resources(m->alloc, o->framework_id, o->agent_id, o->role, &o->resources,
                            refuse_seconds, m->now);
    metrics_inc(m->ctr.offers_rescinded);
    offer_free(o);
    allocation_schedule(m);
}

void
offer_rescind_where(struct master *m, const char *framework_id, const char *agent_id, bool tell)
{
    size_t it = 0;
    const char *key;
    void *val;
    char **ids = NULL;
    size_t n = 0;

    while (hmap_next(&m->offers, &it, &key, &val)) {
        struct offer *o = val;
        if ((framework_id && strcmp(o->framework_id, framework_id) != 0) ||
            (agent_id && strcmp(o->agent_id, agent_id) != 0))
            continue;
        ids = xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = strdup(o->id);
    }
    for (size_t i = 0; i < n; i++) {
        offer_rescind(m, ids[i], tell, 0);
        free(ids[i]);
    }
    free(ids);
}
