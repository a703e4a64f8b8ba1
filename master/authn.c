/*
 * Authentication of agents and frameworks by the master (--credentials): see
 * common/auth.h for the mechanism and docs/protocol-flows.md for the flow.
 */
#include "master_int.h"

#include "auth.h"
#include "error.h"
#include "log.h"
#include "transport.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
mauth_load_credentials(struct master *m)
{
    json_error_t jerr;
    json_t *root = json_load_file(m->flags.credentials, 0, &jerr), *list, *c;
    size_t i;

    if (root == NULL) {
        log_error("cannot read --credentials=%s: %s (line %d)", m->flags.credentials, jerr.text,
                  jerr.line);
        return -AG_EINVAL;
    }
    list = json_object_get(root, "credentials");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        log_error("--credentials=%s must hold {\"credentials\": [{\"principal\": \"...\", "
                  "\"secret\": \"...\"}]}",
                  m->flags.credentials);
        json_decref(root);
        return -AG_EINVAL;
    }
    json_array_foreach(list, i, c)
    {
        const char *p = json_string_value(json_object_get(c, "principal"));
        const char *s = json_string_value(json_object_get(c, "secret"));
        if (p == NULL || s == NULL || *p == '\0') {
            log_error("--credentials=%s: entry %zu needs a principal and a secret",
                      m->flags.credentials, i);
            json_decref(root);
            return -AG_EINVAL;
        }
        char *old = hmap_get(&m->credentials, p);
        free(old);
        hmap_put(&m->credentials, p, strdup(s));
    }
    log_info("authentication required: %zu credentials loaded", hmap_size(&m->credentials));
    json_decref(root);
    return 0;
}

static void
send_result(struct master *m, struct peer *p, bool ok, const char *message)
{
    struct msg r;
    msg_init(&r, MSG_AUTH_RESULT);
    r.u.auth_result.ok = ok;
    r.u.auth_result.message = (char *)message;
    master_send(m, p->id, &r);
}

int
mauth_start(struct master *m, struct peer *p, struct msg *msg)
{
    struct msg c;

    if (strcmp(msg->u.auth_start.mechanism, MSG_AUTH_MECHANISM) != 0) {
        send_result(m, p, false, "unsupported mechanism: use " MSG_AUTH_MECHANISM);
        return -AG_EINVAL;
    }
    if (p->authenticated && strcmp(msg->u.auth_start.principal, p->principal) != 0) {
        /* A connection keeps the principal it proved: its agent or framework is that one's. */
        send_result(m, p, false, "this connection is authenticated as another principal");
        return -AG_EPERM;
    }
    if (auth_nonce(p->nonce, sizeof(p->nonce)) != 0)
        return -AG_EIO;
    snprintf(p->principal, sizeof(p->principal), "%s", msg->u.auth_start.principal);
    p->challenged = true;
    msg_init(&c, MSG_AUTH_CHALLENGE);
    c.u.auth_challenge.nonce = p->nonce;
    c.u.auth_challenge.nonce_len = sizeof(p->nonce);
    return master_send(m, p->id, &c);
}

int
mauth_response(struct master *m, struct peer *p, struct msg *msg)
{
    const char *secret;

    if (!p->challenged || strcmp(msg->u.auth_response.principal, p->principal) != 0) {
        send_result(m, p, false, "AUTH_RESPONSE without a matching AUTH_START");
        return -AG_EPROTO;
    }
    p->challenged = false;
    secret = m->flags.authenticate ? hmap_get(&m->credentials, p->principal) : NULL;
    if (m->flags.authenticate &&
        (secret == NULL || !auth_verify(secret, p->nonce, sizeof(p->nonce),
                                        msg->u.auth_response.proof,
                                        msg->u.auth_response.proof_len))) {
        log_warn("authentication failed principal=%s peer=%u", p->principal, p->id);
        send_result(m, p, false, "authentication failed: unknown principal or wrong secret");
        tp_server_close_peer(m->tp, p->id);
        return -AG_EPERM;
    }
    p->authenticated = true;
    log_info("authenticated principal=%s peer=%u", p->principal, p->id);
    send_result(m, p, true, "");
    return 0;
}
