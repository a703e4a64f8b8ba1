#include "http.h"

#include "error.h"
#include "evq.h"
#include "http_auth.h"
#include "http_hosts.h"
#include "http_stream.h"
#include "log.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * What nng's threads may touch, under `lock`. It lives as long as the nng
 * handler (freed by the handler's data destructor), so a late nng callback
 * never sees freed memory even after the server is gone.
 */
struct http_shim {
    pthread_mutex_t lock;
    struct http_server *srv;  /* NULL once the server is closing */
    struct http_req *pending; /* requests whose nng aio is not finished */
};

struct route {
    struct route *next;
    char *method; /* NULL: any */
    char *path;
    size_t len;
    bool prefix;
    http_handler_fn fn;
    void *arg;
};

struct hdr {
    struct hdr *next;
    char *name;
    char *value;
};

struct qparam {
    char *key;
    char *value;
};

struct http_req {
    /* Shared with nng threads, under shim->lock. */
    struct http_req *pprev, *pnext; /* shim->pending */
    nng_aio *aio;                   /* NULL once finished (answered or cancelled) */
    nng_http_req *nreq;
    nng_http_conn *conn;
    struct http_shim *shim;
    /* Loop thread only. */
    struct http_server *srv;
    struct http_req *lprev, *lnext; /* srv->live, once dispatched */
    bool live;
    bool bad;
    char *method;
    char *path;
    char *query; /* raw, without '?', or NULL */
    const char *subpath;
    char *body;
    size_t body_len;
    struct qparam *q;
    size_t nq;
    bool q_parsed;
    struct hdr *resp_hdrs;
    struct hdr *req_hdrs; /* copies handed out by http_req_header */
    const char *principal; /* authenticated principal (owned by srv->auth) or NULL */
    void (*on_abort)(void *arg, struct http_req *req);
    void *abort_arg;
};

struct http_server {
    uv_loop_t *loop;
    struct evq evq;
    struct http_shim *shim;
    nng_http_server *nsrv;
    nng_http_handler *handler;
    int port;
    bool closing;
    struct route *routes;
    struct http_req *live;
    struct http_stream *streams;
    char **allow_origins;    /* origins answered with CORS headers (NULL-terminated), or NULL */
    struct hauth *auth;      /* NULL: no authentication */
    char **open_paths;       /* NULL-terminated paths served without authentication, or NULL */
    struct hhosts *hosts;    /* Host allow-list; NULL: any Host */
    struct hguard *guard;    /* connection limits; NULL: none */
    uv_timer_t *guard_timer; /* its scans; NULL: none */
};

/* ---- small helpers ---- */

/* strdup, NULL for NULL (the caller checks for out of memory). */
static char *
http_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes `s` in place ('+' becomes a space if `plus`). Returns false
 * if the result would contain a NUL byte.
 */
static bool
url_decode(char *s, bool plus)
{
    char *w = s;

    for (const char *r = s; *r != '\0'; r++) {
        int hi, lo;

        if (*r == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            if (hi == 0 && lo == 0)
                return false;
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else if (*r == '+' && plus) {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return true;
}

static const char *
http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

static void
hdr_free(struct hdr *h)
{
    while (h != NULL) {
        struct hdr *next = h->next;

        free(h->name);
        free(h->value);
        free(h);
        h = next;
    }
}

/* Builds a response. Returns NULL when out of memory. */
static nng_http_res *
res_make(int status, const char *ctype, const void *data, size_t len, const struct hdr *hdrs)
{
    nng_http_res *res;

    if (nng_http_res_alloc(&res) != 0)
        return NULL;
    if (nng_http_res_set_status(res, (uint16_t)status) != 0 ||
        (ctype != NULL && nng_http_res_set_header(res, "Content-Type", ctype) != 0) ||
        (len > 0 ? nng_http_res_copy_data(res, data, len)
                 : nng_http_res_set_header(res, "Content-Length", "0")) != 0) {
        nng_http_res_free(res);
        return NULL;
    }
    for (; hdrs != NULL; hdrs = hdrs->next) {
        if (nng_http_res_add_header(res, hdrs->name, hdrs->value) != 0) {
            nng_http_res_free(res);
            return NULL;
        }
    }
    return res;
}

/* {"message": text} as a compact JSON string (malloc'd), or NULL. */
static char *
error_body(const char *text)
{
    json_t *o = json_pack("{s:s}", "message", text);
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return s;
}

/* Finishes an nng handler aio with an error reply; used on nng threads too. */
static void
aio_reply_error(nng_aio *aio, int status, const char *text)
{
    char *body = error_body(text);
    nng_http_res *res =
        res_make(status, "application/json", body, body != NULL ? strlen(body) : 0, NULL);

    free(body);
    if (res == NULL) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

/* ---- requests ---- */

static void
pending_link(struct http_shim *shim, struct http_req *req)
{
    req->pprev = NULL;
    req->pnext = shim->pending;
    if (shim->pending != NULL)
        shim->pending->pprev = req;
    shim->pending = req;
}

static void
pending_unlink(struct http_shim *shim, struct http_req *req)
{
    if (req->pprev != NULL)
        req->pprev->pnext = req->pnext;
    else
        shim->pending = req->pnext;
    if (req->pnext != NULL)
        req->pnext->pprev = req->pprev;
    req->pprev = req->pnext = NULL;
}

static void
req_free(struct http_req *req)
{
    if (req == NULL)
        return;
    free(req->method);
    free(req->path);
    free(req->query);
    free(req->body);
    for (size_t i = 0; i < req->nq; i++) {
        free(req->q[i].key);
        free(req->q[i].value);
    }
    free(req->q);
    hdr_free(req->resp_hdrs);
    hdr_free(req->req_hdrs);
    free(req);
}

/* Copies what the loop needs out of nng's request (nng thread). NULL if out of memory. */
static struct http_req *
req_new(nng_http_req *nreq)
{
    struct http_req *req = calloc(1, sizeof(*req));
    const char *uri = nng_http_req_get_uri(nreq);
    const char *q;
    void *data;
    size_t len;

    if (req == NULL)
        return NULL;
    if ((req->method = http_strdup(nng_http_req_get_method(nreq))) == NULL)
        goto fail;
    if ((q = strchr(uri, '?')) != NULL) {
        req->path = strndup(uri, (size_t)(q - uri));
        req->query = strdup(q + 1);
        if (req->path == NULL || req->query == NULL)
            goto fail;
    } else if ((req->path = strdup(uri)) == NULL) {
        goto fail;
    }
    if (req->path[0] != '/' || !url_decode(req->path, false))
        req->bad = true;
    nng_http_req_get_data(nreq, &data, &len);
    if ((req->body = malloc(len + 1)) == NULL)
        goto fail;
    if (len > 0)
        memcpy(req->body, data, len);
    req->body[len] = '\0';
    req->body_len = len;
    req->subpath = "";
    return req;
fail:
    req_free(req);
    return NULL;
}

/* Releases a request from the loop: unlinks it and finishes its aio if needed. */
static void
req_release(struct http_req *req, int status)
{
    struct http_server *srv = req->srv;
    struct http_shim *shim = req->shim;

    pthread_mutex_lock(&shim->lock);
    if (req->aio != NULL) {
        pending_unlink(shim, req);
        aio_reply_error(req->aio, status, "request dropped");
        req->aio = NULL;
    }
    pthread_mutex_unlock(&shim->lock);
    if (req->live) {
        if (req->lprev != NULL)
            req->lprev->lnext = req->lnext;
        else
            srv->live = req->lnext;
        if (req->lnext != NULL)
            req->lnext->lprev = req->lprev;
    }
    req_free(req);
}

/* nng thread, aio cancelled (connection or server closing): finish it if still ours. */
static void
http_cancel(nng_aio *aio, void *arg, int rv)
{
    struct http_shim *shim = arg;

    pthread_mutex_lock(&shim->lock);
    for (struct http_req *r = shim->pending; r != NULL; r = r->pnext) {
        if (r->aio == aio) {
            pending_unlink(shim, r);
            r->aio = NULL;
            nng_aio_finish(aio, rv);
            break;
        }
    }
    pthread_mutex_unlock(&shim->lock);
}

static bool
route_method_ok(const struct route *r, const char *method)
{
    return r->method == NULL || strcmp(r->method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

static void
allow_add(char *allow, size_t n, const char *method)
{
    size_t used = strlen(allow);

    if (method == NULL)
        method = "*";
    if (strstr(allow, method) != NULL)
        return;
    snprintf(allow + used, n - used, "%s%s", used > 0 ? ", " : "", method);
}

/*
 * Whether a request may change state: GET and HEAD always; other methods
 * unless a browser says they come from a page of another origin (its Origin
 * header names another host than the Host the request was sent to). Pages of
 * any site can make a browser send simple POSTs; this keeps them from driving
 * the daemons' APIs (tearing down frameworks, scaling apps) behind the
 * operator's back. Tools (curl, the CLI, frameworks) send no Origin.
 */
static bool
origin_ok(struct http_req *req)
{
    const char *origin, *host, *o;

    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return true;
    if ((origin = http_req_header(req, "Origin")) == NULL)
        return true;
    host = http_req_header(req, "Host");
    if ((o = strstr(origin, "://")) == NULL || host == NULL)
        return false; /* "null" (a file or sandboxed page) or garbage */
    return strcasecmp(o + 3, host) == 0;
}

static void
open_paths_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/*
 * Authenticates a request before any route runs (also before 404 and 405, so
 * an anonymous caller learns nothing of the routes). Returns true when it may
 * proceed, with req->principal set when it carried good credentials; false
 * after answering 401.
 */
static bool
authenticate(struct http_server *srv, struct http_req *req)
{
    const char *hdr;

    if (srv->auth == NULL)
        return true;
    for (size_t i = 0; srv->open_paths != NULL && srv->open_paths[i] != NULL; i++)
        if (strcmp(srv->open_paths[i], req->path) == 0)
            return true;
    hdr = http_req_header(req, "Authorization");
    if (hauth_check(srv->auth, hdr, hauth_method_readwrite(req->method), &req->principal) == 0)
        return true;
    log_info("http: refused %s %s: %s", req->method, req->path,
             hdr == NULL ? "no credentials" : "wrong or malformed credentials");
    http_req_add_header(req, "WWW-Authenticate", "Basic realm=\"agora\"");
    http_reply_error(req, 401, "%s %s: authentication required (%s)", req->method, req->path,
                     hdr == NULL ? "no credentials" : "wrong or malformed credentials");
    return false;
}

/*
 * Checks the Host header against the allow-list before anything else (DNS
 * rebinding: a page of another site whose name now resolves to this daemon).
 * Returns true when the request may proceed; false after answering 421.
 */
static bool
host_ok(struct http_server *srv, struct http_req *req)
{
    const char *host;

    if (srv->hosts == NULL || hhosts_allowed(srv->hosts, host = http_req_header(req, "Host")))
        return true;
    log_warn("http: refused %s %s addressed to host '%.100s' (not in --http_allowed_hosts)",
             req->method, req->path, host);
    http_reply_error(req, 421,
                     "%s %s refused: host '%.100s' is not one this daemon answers "
                     "(--http_allowed_hosts)",
                     req->method, req->path, host);
    return false;
}

/* Loop: a request from nng; picks the route and calls its handler. */
static void
http_dispatch(void *arg, int status)
{
    struct http_req *req = arg;
    struct http_server *srv = req->srv;
    struct route *r, *best = NULL;
    bool seen = false;
    char allow[128] = "";

    if (status != 0) {
        req_release(req, 503);
        return;
    }
    req->live = true;
    req->lprev = NULL;
    req->lnext = srv->live;
    if (srv->live != NULL)
        srv->live->lprev = req;
    srv->live = req;

    if (!host_ok(srv, req) || !authenticate(srv, req))
        return;
    for (r = srv->routes; r != NULL && best == NULL; r = r->next) {
        if (r->prefix || strcmp(r->path, req->path) != 0)
            continue;
        seen = true;
        allow_add(allow, sizeof(allow), r->method);
        if (route_method_ok(r, req->method))
            best = r;
    }
    if (best == NULL && !seen) {
        for (r = srv->routes; r != NULL; r = r->next) {
            if (!r->prefix || strncmp(r->path, req->path, r->len) != 0)
                continue;
            seen = true;
            allow_add(allow, sizeof(allow), r->method);
            if (route_method_ok(r, req->method) && (best == NULL || r->len > best->len))
                best = r;
        }
    }
    if (best == NULL) {
        if (seen) {
            http_req_add_header(req, "Allow", allow);
            http_reply_error(req, 405, "method %s not allowed on %s", req->method, req->path);
        } else {
            http_reply_error(req, 404, "no such path: %s", req->path);
        }
        return;
    }
    if (!origin_ok(req)) {
        const char *origin = http_req_header(req, "Origin");
        log_warn("http: refused %s %s from a page of another origin (%s)", req->method, req->path,
                 origin);
        http_reply_error(req, 403, "%s %s refused: sent by a page of another origin (%s)",
                         req->method, req->path, origin);
        return;
    }
    req->subpath = best->prefix ? req->path + best->len : "";
    best->fn(best->arg, req);
}

/* nng thread: every request lands here; it only hands the request to the loop. */
static void
http_nng_cb(nng_aio *aio)
{
    nng_http_req *nreq = nng_aio_get_input(aio, 0);
    nng_http_handler *h = nng_aio_get_input(aio, 1);
    nng_http_conn *conn = nng_aio_get_input(aio, 2);
    struct http_shim *shim = nng_http_handler_get_data(h);
    struct http_req *req = req_new(nreq);
    int status = 503;
    const char *why = "server closing";

    if (req == NULL) {
        status = 500;
        why = "out of memory";
    } else if (req->bad) {
        status = 400;
        why = "bad request path";
    }
    pthread_mutex_lock(&shim->lock);
    if (req != NULL && !req->bad && shim->srv != NULL) {
        req->aio = aio;
        req->nreq = nreq;
        req->conn = conn;
        req->shim = shim;
        req->srv = shim->srv;
        pending_link(shim, req);
        nng_aio_defer(aio, http_cancel, shim);
        if (evq_post(&shim->srv->evq, http_dispatch, req) == 0) {
            pthread_mutex_unlock(&shim->lock);
            return;
        }
        pending_unlink(shim, req);
    }
    pthread_mutex_unlock(&shim->lock);
    req_free(req);
    aio_reply_error(aio, status, why);
}

static void
shim_free(void *arg)
{
    struct http_shim *shim = arg;

    pthread_mutex_destroy(&shim->lock);
    free(shim);
}

/* ---- server ---- */

static void
evq_closed(struct evq *q)
{
    struct http_server *srv = (struct http_server *)((char *)q - offsetof(struct http_server, evq));

    while (srv->routes != NULL) {
        struct route *r = srv->routes;

        srv->routes = r->next;
        free(r->method);
        free(r->path);
        free(r);
    }
    open_paths_free(srv->allow_origins);
    hauth_free(srv->auth);
    open_paths_free(srv->open_paths);
    hhosts_free(srv->hosts);
    free(srv);
}

int
http_server_open(struct http_server **out, uv_loop_t *loop, const char *host, uint16_t port,
                 size_t max_body)
{
    return http_server_open_tls(out, loop, host, port, max_body, NULL);
}

int
http_server_open_tls(struct http_server **out, uv_loop_t *loop, const char *host, uint16_t port,
                     size_t max_body, nng_tls_config *tls)
{
    struct http_server *srv;
    struct http_shim *shim;
    nng_url *url = NULL;
    nng_sockaddr sa;
    char buf[300];
    int rv;

    if (out == NULL || loop == NULL || host == NULL)
        return -AG_EINVAL;
    snprintf(buf, sizeof(buf), "%s://%s:%u", tls ? "https" : "http", host, (unsigned)port);
    if ((srv = calloc(1, sizeof(*srv))) == NULL)
        return -AG_ENOMEM;
    if ((shim = calloc(1, sizeof(*shim))) == NULL) {
        free(srv);
        return -AG_ENOMEM;
    }
    pthread_mutex_init(&shim->lock, NULL);
    srv->loop = loop;
    srv->shim = shim;
    if ((rv = evq_init(&srv->evq, loop)) != 0) {
        shim_free(shim);
        free(srv);
        return rv;
    }
    if ((rv = nng_url_parse(&url, buf)) != 0 || (rv = nng_http_server_hold(&srv->nsrv, url)) != 0 ||
        (tls != NULL && (rv = nng_http_server_set_tls(srv->nsrv, tls)) != 0))
        goto fail_nng;
    if ((rv = nng_http_handler_alloc(&srv->handler, "/", http_nng_cb)) != 0)
        goto fail_nng;
    if ((rv = nng_http_handler_set_data(srv->handler, shim, shim_free)) != 0) {
        nng_http_handler_free(srv->handler); /* shim not attached yet */
        srv->handler = NULL;
        goto fail_nng;
    }
    shim = NULL; /* freed with the handler from now on */
    if ((rv = nng_http_handler_set_method(srv->handler, NULL)) != 0 ||
        (rv = nng_http_handler_set_tree(srv->handler)) != 0 ||
        (rv = nng_http_handler_collect_body(srv->handler, true,
                                            max_body ? max_body : HTTP_DEFAULT_MAX_BODY)) != 0 ||
        (rv = nng_http_server_add_handler(srv->nsrv, srv->handler)) != 0) {
        nng_http_handler_free(srv->handler);
        srv->handler = NULL;
        goto fail_nng;
    }
    if ((rv = nng_http_server_start(srv->nsrv)) != 0) {
        nng_http_server_del_handler(srv->nsrv, srv->handler);
        nng_http_handler_free(srv->handler);
        srv->handler = NULL;
        goto fail_nng;
    }
    if (nng_http_server_get_addr(srv->nsrv, &sa) == 0 && sa.s_family == NNG_AF_INET)
        srv->port = ntohs(sa.s_in.sa_port);
    else if (nng_http_server_get_addr(srv->nsrv, &sa) == 0 && sa.s_family == NNG_AF_INET6)
        srv->port = ntohs(sa.s_in6.sa_port);
    else
        srv->port = port;
    nng_url_free(url);
    srv->shim->srv = srv;
    *out = srv;
    return 0;

fail_nng:
    log_error("http: cannot serve url=%s err=%s", buf, nng_strerror(rv));
    if (srv->nsrv != NULL)
        nng_http_server_release(srv->nsrv);
    if (url != NULL)
        nng_url_free(url);
    if (shim != NULL)
        shim_free(shim);
    srv->routes = NULL;
    evq_close(&srv->evq, evq_closed);
    return rv == NNG_EADDRINUSE ? -AG_EIO : ag_from_nng(rv);
}

int
http_server_port(const struct http_server *srv)
{
    return srv->port;
}

int
http_server_allow_origin(struct http_server *srv, const char *origins)
{
    char **v = NULL;
    size_t n = 0;

    for (const char *p = origins; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char **nv;

        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '/'))
            len--;
        if (len > 0) {
            if ((nv = realloc(v, (n + 2) * sizeof(*v))) == NULL)
                goto nomem;
            v = nv;
            v[n + 1] = NULL;
            if ((v[n] = strndup(p, len)) == NULL)
                goto nomem;
            n++;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    open_paths_free(srv->allow_origins);
    srv->allow_origins = v;
    return 0;
nomem:
    open_paths_free(v);
    return -AG_ENOMEM;
}

/* The origin to name in Access-Control-Allow-Origin for `origin` (the
 * request's Origin header), or NULL: it must be in the list, or the list
 * hold "*". The reply echoes it (never "*"), so credentialed requests work. */
static const char *
cors_origin(const struct http_server *srv, const char *origin)
{
    if (srv->allow_origins == NULL || origin == NULL || strcmp(origin, "null") == 0)
        return NULL;
    for (size_t i = 0; srv->allow_origins[i] != NULL; i++)
        if (strcmp(srv->allow_origins[i], "*") == 0 ||
            strcasecmp(srv->allow_origins[i], origin) == 0)
            return origin;
    return NULL;
}

int
http_server_authenticate(struct http_server *srv, const struct http_auth_flags *f,
                         const char *const *open_paths, char *err, size_t errlen)
{
    struct hauth *auth;
    struct hhosts *hosts;
    char **paths = NULL;
    size_t n = 0;
    int rc;

    if ((rc = hhosts_load(&hosts, f->allowed_hosts, f->hostname, err, errlen)) != 0)
        return rc;
    if ((rc = hauth_load(&auth, f, err, errlen)) != 0) {
        hhosts_free(hosts);
        return rc;
    }
    while (open_paths != NULL && open_paths[n] != NULL)
        n++;
    if (auth != NULL && n > 0) {
        if ((paths = calloc(n + 1, sizeof(*paths))) == NULL)
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if ((paths[i] = strdup(open_paths[i])) == NULL)
                goto nomem;
    }
    hauth_free(srv->auth);
    open_paths_free(srv->open_paths);
    srv->auth = auth;
    srv->open_paths = paths;
    hhosts_free(srv->hosts);
    srv->hosts = hosts;
    log_info("http: port %d answers hosts %s and IP addresses", srv->port, hhosts_describe(hosts));
    if (auth != NULL)
        log_info("http: authentication on port %d: read-write requests %s, read-only requests %s",
                 srv->port, f->readwrite ? "required" : "optional",
                 f->readonly ? "required" : "optional");
    return 0;
nomem:
    open_paths_free(paths);
    hauth_free(auth);
    hhosts_free(hosts);
    snprintf(err, errlen, "out of memory");
    return -AG_ENOMEM;
}

int
http_route(struct http_server *srv, const char *method, const char *path, http_handler_fn fn,
           void *arg, int flags)
{
    struct route *r, **tail;
    bool prefix = (flags & HTTP_ROUTE_PREFIX) != 0;

    if (srv == NULL || path == NULL || path[0] != '/' || fn == NULL || (flags & ~HTTP_ROUTE_PREFIX))
        return -AG_EINVAL;
    for (tail = &srv->routes; *tail != NULL; tail = &(*tail)->next) {
        r = *tail;
        if (r->prefix == prefix && strcmp(r->path, path) == 0 &&
            ((r->method == NULL && method == NULL) ||
             (r->method != NULL && method != NULL && strcmp(r->method, method) == 0)))
            return -AG_EEXIST;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -AG_ENOMEM;
    r->path = strdup(path);
    r->method = http_strdup(method);
    if (r->path == NULL || (method != NULL && r->method == NULL)) {
        free(r->path);
        free(r->method);
        free(r);
        return -AG_ENOMEM;
    }
    r->len = strlen(path);
    r->prefix = prefix;
    r->fn = fn;
    r->arg = arg;
    *tail = r;
    return 0;
}

static void
guard_tick(uv_timer_t *t)
{
    struct http_server *srv = t->data;

    hguard_scan(srv->guard, (int64_t)uv_now(srv->loop), srv->live != NULL);
}

static void
guard_timer_closed(uv_handle_t *h)
{
    free(h);
}

/* Stops and frees the guard and its timer (the timer's memory once closed). */
static void
guard_stop(struct http_server *srv)
{
    if (srv->guard_timer != NULL) {
        uv_timer_stop(srv->guard_timer);
        uv_close((uv_handle_t *)srv->guard_timer, guard_timer_closed);
        srv->guard_timer = NULL;
    }
    hguard_close(srv->guard);
    srv->guard = NULL;
}

int
http_server_guard(struct http_server *srv, const struct http_guard_flags *f,
                  hguard_exempt_fn exempt, void *arg)
{
    uv_timer_t *t = NULL;
    struct hguard *g;
    int64_t every;
    int rc;

    if ((rc = hguard_open(&g, srv->port, f)) != 0)
        return rc;
    hguard_set_exempt(g, exempt, arg);
    if ((every = hguard_interval(g)) > 0) {
        if ((t = malloc(sizeof(*t))) == NULL) {
            hguard_close(g);
            return -AG_ENOMEM;
        }
        uv_timer_init(srv->loop, t);
        t->data = srv;
    }
    guard_stop(srv);
    srv->guard = g;
    srv->guard_timer = t;
    if (t != NULL)
        uv_timer_start(t, guard_tick, (uint64_t)every, (uint64_t)every);
    return 0;
}

void
http_server_close(struct http_server *srv)
{
    struct http_shim *shim;

    if (srv == NULL || srv->closing)
        return;
    srv->closing = true;
    guard_stop(srv);
    shim = srv->shim;
    /* From now on nng threads answer 503 by themselves and never touch srv. */
    pthread_mutex_lock(&shim->lock);
    shim->srv = NULL;
    while (shim->pending != NULL) {
        struct http_req *r = shim->pending;

        pending_unlink(shim, r);
        aio_reply_error(r->aio, 503, "server closing");
        r->aio = NULL;
    }
    pthread_mutex_unlock(&shim->lock);
    /* Requests kept by handlers: tell their owners, then release them. */
    while (srv->live != NULL) {
        struct http_req *r = srv->live;

        if (r->on_abort != NULL)
            r->on_abort(r->abort_arg, r);
        req_release(r, 503);
    }
    http_stream_close_all(&srv->streams);
    nng_http_server_del_handler(srv->nsrv, srv->handler);
    nng_http_handler_free(srv->handler); /* frees the shim once nng is done with it */
    nng_http_server_stop(srv->nsrv);
    nng_http_server_release(srv->nsrv);
    /* Requests still queued for the loop run now with -AG_ECLOSED and are freed. */
    evq_close(&srv->evq, evq_closed);
}

/* ---- request accessors ---- */

const char *
http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *
http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *
http_req_raw_query(const struct http_req *req)
{
    return req->query;
}

const char *
http_req_principal(const struct http_req *req)
{
    return req->principal;
}

const char *
http_req_subpath(const struct http_req *req)
{
    return req->subpath;
}

static void
query_parse(struct http_req *req)
{
    char *s, *save = NULL, *tok;
    size_t cap = 0;

    req->q_parsed = true;
    if (req->query == NULL || (s = strdup(req->query)) == NULL)
        return;
    for (tok = strtok_r(s, "&", &save); tok != NULL; tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        char *key, *val;

        if (eq != NULL)
            *eq = '\0';
        key = strdup(tok);
        val = strdup(eq != NULL ? eq + 1 : "");
        if (key == NULL || val == NULL || !url_decode(key, true) || !url_decode(val, true)) {
            free(key);
            free(val);
            continue;
        }
        if (req->nq == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct qparam *q = realloc(req->q, ncap * sizeof(*q));

            if (q == NULL) {
                free(key);
                free(val);
                break;
            }
            req->q = q;
            cap = ncap;
        }
        req->q[req->nq].key = key;
        req->q[req->nq].value = val;
        req->nq++;
    }
    free(s);
}

const char *
http_req_query(struct http_req *req, const char *key)
{
    if (!req->q_parsed)
        query_parse(req);
    for (size_t i = 0; i < req->nq; i++)
        if (strcmp(req->q[i].key, key) == 0)
            return req->q[i].value;
    return NULL;
}

const char *
http_req_header(struct http_req *req, const char *name)
{
    struct hdr *h;
    const char *v = NULL;

    for (h = req->req_hdrs; h != NULL; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    pthread_mutex_lock(&req->shim->lock);
    if (req->aio != NULL && (v = nng_http_req_get_header(req->nreq, name)) != NULL) {
        if ((h = calloc(1, sizeof(*h))) != NULL && (h->name = strdup(name)) != NULL &&
            (h->value = strdup(v)) != NULL) {
            h->next = req->req_hdrs;
            req->req_hdrs = h;
            v = h->value;
        } else {
            hdr_free(h);
            v = NULL;
        }
    }
    pthread_mutex_unlock(&req->shim->lock);
    return v;
}

const void *
http_req_body(const struct http_req *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body;
}

json_t *
http_req_json(const struct http_req *req, char *err, size_t errlen)
{
    json_error_t e;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);

    if (j == NULL)
        ag_errf(err, errlen, "invalid JSON at line %d column %d: %s", e.line, e.column, e.text);
    return j;
}

int
http_req_add_header(struct http_req *req, const char *name, const char *value)
{
    struct hdr *h = calloc(1, sizeof(*h)), **tail;

    if (h == NULL || (h->name = strdup(name)) == NULL || (h->value = strdup(value)) == NULL) {
        hdr_free(h);
        return -AG_ENOMEM;
    }
    for (tail = &req->resp_hdrs; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = h;
    return 0;
}

void
http_req_on_abort(struct http_req *req, void (*fn)(void *arg, struct http_req *req), void *arg)
{
    req->on_abort = fn;
    req->abort_arg = arg;
}

/* ---- replies ---- */

static int
req_reply(struct http_req *req, int status, const char *ctype, const void *data, size_t len)
{
    struct http_shim *shim = req->shim;
    const char *cors = req->srv->allow_origins != NULL
                           ? cors_origin(req->srv, http_req_header(req, "Origin"))
                           : NULL;
    nng_http_res *res = res_make(status, ctype, data, len, req->resp_hdrs);
    int rv = 0;

    if (res != NULL && req->srv->allow_origins != NULL &&
        (nng_http_res_add_header(res, "Vary", "Origin") != 0 ||
         (cors != NULL &&
          (nng_http_res_set_header(res, "Access-Control-Allow-Origin", cors) != 0 ||
           nng_http_res_set_header(res, "Access-Control-Allow-Credentials", "true") != 0)))) {
        nng_http_res_free(res);
        res = NULL;
    }

    pthread_mutex_lock(&shim->lock);
    if (req->aio == NULL) {
        rv = -AG_ECLOSED;
    } else {
        pending_unlink(shim, req);
        if (res != NULL) {
            nng_aio_set_output(req->aio, 0, res);
            nng_aio_finish(req->aio, 0);
            res = NULL;
        } else {
            log_error("http: out of memory building a reply status=%d", status);
            nng_aio_finish(req->aio, NNG_ENOMEM); /* nng closes the connection */
            rv = -AG_ENOMEM;
        }
        req->aio = NULL;
    }
    pthread_mutex_unlock(&shim->lock);
    if (res != NULL)
        nng_http_res_free(res);
    req_release(req, 500);
    return rv;
}

int
http_reply_text(struct http_req *req, int status, const char *content_type, const void *data,
                size_t len)
{
    return req_reply(req, status, content_type, data, len);
}

int
http_reply_json(struct http_req *req, int status, json_t *body)
{
    char *s = NULL;
    int rv;

    if (body != NULL) {
        s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        if (s == NULL) {
            log_error("http: cannot encode a JSON reply status=%d", status);
            return req_reply(req, 500, "application/json", "{\"message\":\"encoding failed\"}", 29);
        }
    }
    rv = req_reply(req, status, body != NULL ? "application/json" : NULL, s,
                   s != NULL ? strlen(s) : 0);
    free(s);
    return rv;
}

int
http_reply_error(struct http_req *req, int status, const char *fmt, ...)
{
    char text[1024];
    char *body;
    va_list ap;
    int rv;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    body = error_body(text);
    rv = req_reply(req, status, "application/json", body, body != NULL ? strlen(body) : 0);
    free(body);
    return rv;
}

bool
http_req_authorized(struct http_req *req, const struct acls *acls, enum acl_action action,
                    const char *object)
{
    const char *who = http_req_principal(req);

    if (acl_authorized(acls, action, who, object))
        return true;
    log_warn("not permitted by --acls: %s of '%s' by principal '%s' (%s %s)",
             acl_action_name(action), object ? object : "", who ? who : "(anonymous)",
             http_req_method(req), http_req_path(req));
    http_reply_error(req, 403, "not permitted: principal '%s' may not %s '%s' (--acls)",
                     who ? who : "(anonymous)", acl_action_name(action), object ? object : "");
    return false;
}

/* ---- streams ---- */

struct http_stream *
http_reply_stream(struct http_req *req, int status, const char *content_type,
                  void (*on_close)(void *arg, struct http_stream *st), void *arg)
{
    struct http_server *srv = req->srv;
    struct http_shim *shim = req->shim;
    struct http_stream *st = NULL;
    nng_http_conn *conn;
    nng_aio *aio;
    char head[1024];
    int n;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                 "Connection: close\r\n",
                 status, http_reason(status), content_type ? content_type : "text/event-stream");
    for (struct hdr *h = req->resp_hdrs; h != NULL && n < (int)sizeof(head); h = h->next)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "%s: %s\r\n", h->name, h->value);
    if (n + 3 <= (int)sizeof(head)) {
        memcpy(head + n, "\r\n", 3);
        st = http_stream_alloc(&srv->evq, head, (size_t)n + 2);
    }
    if (st == NULL) {
        req_reply(req, 500, NULL, NULL, 0);
        return NULL;
    }
    pthread_mutex_lock(&shim->lock);
    if ((aio = req->aio) != NULL) {
        pending_unlink(shim, req); /* finishing it is now ours alone */
        req->aio = NULL;
    }
    pthread_mutex_unlock(&shim->lock);
    if (aio == NULL) {
        http_stream_discard(st);
        req_release(req, 503);
        return NULL;
    }
    /*
     * The connection and nng's request become ours (nng 1.5.2's server forgets
     * both on hijack); its server drops the session once the aio finishes
     * without a reply. Both stay valid until then, as nng waits for the aio.
     * Hijacking takes nng's server lock, so it happens outside the shim lock
     * (nng holds its lock when it calls http_cancel, which takes the shim lock).
     */
    conn = req->conn;
    nng_http_hijack(conn);
    nng_aio_finish(aio, 0);
    nng_http_req_free(req->nreq);
    req_release(req, 500);
    http_stream_start(st, conn, &srv->streams, on_close, arg);
    return st;
}
