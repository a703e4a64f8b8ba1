/* A master that does not lead: redirects to the leader (standby.h). */
#include "standby.h"

#include "error.h"
#include "http.h"
#include "log.h"
#include "master.h"
#include "xalloc.h"
#include "zk.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct standby {
    struct http_server *http;
    const struct master_flags *f;
    json_t *self;        /* this master's info */
    json_t *leader_info; /* NULL while no leader is known */
    char leader[300];    /* "HOST:PORT" of the leader, "" while none */
    char scheme[8];
};

void
standby_location(char *out, size_t outlen, const char *scheme, const char *hostport,
                 const char *path, const char *query)
{
    snprintf(out, outlen, "%s://%s%s%s%s", scheme, hostport, path && path[0] ? path : "/",
             query ? "?" : "", query ? query : "");
}

const char *
standby_redirect_path(const char *path)
{
    const char *p = strstr(path, "redirect");

    return p ? p + strlen("redirect") : "";
}

static int
redirect(struct standby *sb, struct http_req *req, const char *path)
{
    char loc[1024];

    if (sb->leader[0] == '\0')
        return http_reply_error(req, 503, "no leading master is elected yet: try again shortly");
    standby_location(loc, sizeof(loc), sb->scheme, sb->leader, path, http_req_raw_query(req));
    http_req_add_header(req, "Location", loc);
    return http_reply_error(req, 307, "not the leading master: the leader is %s", sb->leader);
}

static void
h_redirect(void *arg, struct http_req *req)
{
    redirect(arg, req, standby_redirect_path(http_req_path(req)));
}

static void
h_other(void *arg, struct http_req *req)
{
    redirect(arg, req, http_req_path(req));
}

static void
h_health(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_json(req, 200, json_object());
}

static void
h_state(void *arg, struct http_req *req)
{
    struct standby *sb = arg;
    json_t *o = json_object();

    json_object_set_new(o, "version", json_string(AGORA_VERSION));
    json_object_set(o, "id", json_object_get(sb->self, "id"));
    json_object_set(o, "pid", json_object_get(sb->self, "pid"));
    json_object_set(o, "hostname", json_object_get(sb->self, "hostname"));
    json_object_set_new(o, "elected", json_false());
    if (sb->leader_info != NULL) {
        json_object_set(o, "leader", json_object_get(sb->leader_info, "pid"));
        json_object_set(o, "leader_info", sb->leader_info);
    }
    json_object_set_new(o, "activated_slaves", json_integer(0));
    json_object_set_new(o, "deactivated_slaves", json_integer(0));
    json_object_set_new(o, "slaves", json_array());
    json_object_set_new(o, "frameworks", json_array());
    http_reply_json(req, 200, o);
}

int
standby_open(struct standby **out, uv_loop_t *loop, const struct master_flags *f,
             const char *self_info)
{
    static const char *const open_paths[] = {"/health", "/master/redirect", "/redirect", NULL};
    struct standby *sb;
    nng_tls_config *tls = NULL;
    char err[512];
    int rc;

    *out = NULL;
    sb = xcalloc(1, sizeof(*sb));
    sb->f = f;
    snprintf(sb->scheme, sizeof(sb->scheme), "%s", tls_serving(&f->tls) ? "https" : "http");
    if ((sb->self = json_loads(self_info, 0, NULL)) == NULL)
        sb->self = json_object();
    if (tls_serving(&f->tls) && (rc = tls_server_config(&tls, &f->tls, err, sizeof(err))) != 0) {
        log_error("cannot serve TLS: %s", err);
        goto fail;
    }
    rc = http_server_open_tls(&sb->http, loop, f->ip, (uint16_t)f->port, 0, tls);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rc != 0) {
        log_error("cannot serve HTTP on %s:%d: %s (is another master running there?)", f->ip,
                  (int)f->port, ag_strerror(rc));
        goto fail;
    }
    if ((rc = http_server_authenticate(sb->http, &f->http_auth, open_paths, err, sizeof(err))) !=
        0) {
        log_error("%s", err);
        goto fail;
    }
    if ((rc = http_server_guard(sb->http, &f->http_guard, NULL, NULL)) != 0 ||
        (rc = http_route(sb->http, NULL, "/master/redirect", h_redirect, sb, HTTP_ROUTE_PREFIX)) !=
            0 ||
        (rc = http_route(sb->http, NULL, "/redirect", h_redirect, sb, HTTP_ROUTE_PREFIX)) != 0 ||
        (rc = http_route(sb->http, "GET", "/health", h_health, sb, 0)) != 0 ||
        (rc = http_route(sb->http, "GET", "/state", h_state, sb, 0)) != 0 ||
        (rc = http_route(sb->http, "GET", "/master/state", h_state, sb, 0)) != 0 ||
        (rc = http_route(sb->http, "GET", "/state.json", h_state, sb, 0)) != 0 ||
        (rc = http_route(sb->http, NULL, "/", h_other, sb, HTTP_ROUTE_PREFIX)) != 0)
        goto fail;
    *out = sb;
    return 0;
fail:
    standby_close(sb);
    return rc;
}

void
standby_set_leader(struct standby *sb, const struct zk_leader *leader)
{
    if (sb == NULL)
        return;
    json_decref(sb->leader_info);
    sb->leader_info = NULL;
    sb->leader[0] = '\0';
    if (leader == NULL)
        return;
    sb->leader_info = json_loadb(leader->data, leader->len, 0, NULL);
    if (zk_leader_address(leader, sb->leader, sizeof(sb->leader)) != 0)
        sb->leader[0] = '\0';
}

void
standby_close(struct standby *sb)
{
    if (sb == NULL)
        return;
    http_server_close(sb->http);
    json_decref(sb->self);
    json_decref(sb->leader_info);
    free(sb);
}
