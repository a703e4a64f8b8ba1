/*
 * svc_offers: offers -> placements -> launches for the agora-services core.
 * All offers of one loop turn are filled together, app by app (sorted by id),
 * one task per offer in turn so that an app spreads over the agents offered;
 * planner.h decides whether a task fits (roles, resources, ports,
 * constraints), and each placement becomes a STAGING task record (svc.h) and
 * an ag_task in the offer's ACCEPT, which svc sends after the commit. Offers
 * that take nothing are declined at once: with the long filter
 * (--decline_offer_duration) when nothing waits, the short one
 * (--decline_unfit_duration) when what waits did not fit. Before a first
 * reconciliation, or while stopping, every offer is declined for 1 s (or
 * the long filter). It also remembers each agent offered (hostname,
 * attributes) for GROUP_BY, and counts per app the offers processed, unused
 * and rejected by reason for /v2/queue.
 *
 * Caller: svc_driver.c (the offers of a loop turn) and tests. Calls svc.c,
 * planner.c and the public task builder (ag_task_*). Loop thread only.
 */
#ifndef AGORA_SERVICES_SVC_OFFERS_H
#define AGORA_SERVICES_SVC_OFFERS_H

#include "svc.h"

/* One offer, as text (agora's resource and attribute syntax). The strings are
 * only read during svco_handle. */
struct svco_offer {
    const char *id;
    const char *agent_id;
    const char *hostname;
    const char *resources;
    const char *attributes;
};

/* Converges, then fills the `n` offers with the tasks that wait, and declines
 * those that take nothing. */
void svco_handle(struct svc *s, const struct svco_offer *offers, size_t n);

#endif
