/*
 * Shared helpers of the master core: the clock, sending, error replies and
 * lookups of peers, agents and frameworks. Calls no other master file.
 * Runs on the loop thread; see docs/architecture.md for who calls whom.
 */
#include "master_int.h"

#include "metrics.h"

#include "clock.h"
#include "error.h"
#include "log.h"
#include "transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double
master_clock(void)
{
    return clock_wall();
}

void
core_touch(struct master *m)
{
    m->now = master_clock();
}

int
master_send(struct master *m, uint32_t peer, struct msg *msg)
{
    void *buf;
    size_t len;
    int rc;

    if (peer == 0)
        return -AG_ECLOSED;
    msg->sender = m->id;
    msg->epoch = m->epoch;
    rc = msg_encode_alloc(msg, &buf, &len);
    msg->sender = NULL;
    msg->epoch = 0;
    if (rc != 0) {
        log_error("cannot encode %s: %s", msg_type_name(msg->type), ag_strerror(rc));
        return rc;
    }
    rc = m->send_hook ? m->send_hook(m->send_hook_arg, peer, buf, len)
                      : tp_server_send(m->tp, peer, buf, len);
    free(buf);
    if (rc != 0)
        log_warn("cannot send %s to peer=%u: %s", msg_type_name(msg->type), peer,
                 ag_strerror(rc));
    else
        metrics_inc(m->ctr.msgs_out);
    return rc;
}

void
core_send_error(struct master *m, uint32_t peer, int code, const char *fmt, ...)
{
    struct msg e;
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    msg_init(&e, MSG_ERROR);
    e.u.error.message = text;
    e.u.error.code = code;
    master_send(m, peer, &e);
}

/* Drops the connection of transport peer `id` (no-op without a transport). */
void
core_peer_close(struct master *m, uint32_t id)
{
    if (m->tp)
        tp_server_close_peer(m->tp, id);
}

struct peer *
core_peer(struct master *m, uint32_t id)
{
    char key[16];
    snprintf(key, sizeof(key), "%u", id);
    return hmap_get(&m->peers, key);
}

/* ---- tasks ---- */

void
core_task_key(char *out, size_t len, const char *fwid, const char *tid)
{
    snprintf(out, len, "%s/%s", fwid, tid);
}

struct framework *
core_framework(struct master *m, const char *id)
{
    return hmap_get(&m->frameworks, id);
}

const char *
core_fw_role(struct framework *fw)
{
    return fw && fw->info.nroles > 0 ? fw->info.roles[0] : "*";
}

struct agent *
core_agent(struct master *m, const char *id)
{
    return hmap_get(&m->agents, id);
}

bool
core_peer_owns(const struct master *m, const struct peer *p, const char *owner, bool claim)
{
    if (!m->flags.authenticate)
        return true;
    if (!p->authenticated)
        return false;
    if (owner[0] == '\0')
        return claim;
    return strcmp(owner, p->principal) == 0;
}

const char *
core_peer_principal(const struct master *m, const struct peer *p)
{
    return m->flags.authenticate && p->authenticated && p->principal[0] ? p->principal : NULL;
}

bool
core_authorized(const struct master *m, const char *principal, enum acl_action action,
                const char *object)
{
    if (acl_authorized(m->acls, action, principal, object))
        return true;
    log_warn("not permitted by --acls: %s of '%s' by principal '%s'", acl_action_name(action),
             object ? object : "", principal ? principal : "(anonymous)");
    return false;
}
