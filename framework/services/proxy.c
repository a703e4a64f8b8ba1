/* The REST API of a non-leading instance: proxies to the leader (proxy.h). */
#include "proxy.h"

#include "error.h"
#include "http.h"
#include "log.h"
#include "svc.h"
#include "text.h"
#include "tls.h"
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Marks a request this instance proxied (see the loop note in proxy.h). */
#define PROXY_HEADER "X-Agora-Services-Proxied-By"
#define PROXY_TIMEOUT_MS 10000

struct proxy {
    struct http_server *http;
    const struct svc_flags *f;
    uv_loop_t *loop;
    char leader[300]; /* "" while none */
    char self[300];
    const char *scheme;
};

/* One proxied request: built on the loop, sent from the thread pool, answered
 * on the loop. */
struct job {
    uv_work_t work;
    struct http_req *req; /* NULL once aborted */
    char leader[300];
    char *url;
    char *hdrs[6];
    const char *hdr_ptrs[7];
    char *body;
    struct http_exchange x;
    int rc;
};

static const char *const fwd_req[] = {"Content-Type", "Accept", "Authorization", "X-Forwarded-For"};
static const char *const fwd_resp[] = {"Location", "WWW-Authenticate", "Allow", "Retry-After"};

static void
job_free(struct job *j)
{
    for (size_t i = 0; i < sizeof(j->hdrs) / sizeof(j->hdrs[0]); i++)
        free(j->hdrs[i]);
    free(j->url);
    free(j->body);
    free(j->x.resp);
    free(j->x.resp_headers);
    free(j);
}

static void
job_aborted(void *arg, struct http_req *req)
{
    (void)req;
    ((struct job *)arg)->req = NULL;
}

static void
job_run(uv_work_t *w)
{
    struct job *j = w->data;

    j->rc = http_exchange(&j->x);
}

/* Copies the answer's header `name` (from "Name: value\r\n" lines) into
 * `out`; false when absent. */
static bool
resp_header(const char *lines, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);

    for (const char *p = lines; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *end;

            while (*v == ' ' || *v == '\t')
                v++;
            end = v + strcspn(v, "\r\n");
            snprintf(out, outlen, "%.*s", (int)(end - v), v);
            return true;
        }
    }
    return false;
}

static void
job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    char v[2048], ctype[256];

    if (j->req == NULL) {
        job_free(j);
        return;
    }
    http_req_on_abort(j->req, NULL, NULL);
    if (status != 0 || j->rc != 0) {
        log_warn("proxy: %s %s to the leader %s failed: %s", http_req_method(j->req), j->url,
                 j->leader, ag_strerror(status != 0 ? -AG_ECLOSED : j->rc));
        http_reply_error(j->req, 503, "the leader %s did not answer (%s): try again shortly",
                         j->leader, ag_strerror(status != 0 ? -AG_ECLOSED : j->rc));
        job_free(j);
        return;
    }
    for (size_t i = 0; i < sizeof(fwd_resp) / sizeof(fwd_resp[0]); i++)
        if (resp_header(j->x.resp_headers, fwd_resp[i], v, sizeof(v)))
            http_req_add_header(j->req, fwd_resp[i], v);
    snprintf(v, sizeof(v), "%s://%s", strncmp(j->url, "https:", 6) == 0 ? "https" : "http",
             j->leader);
    http_req_add_header(j->req, "X-Marathon-Leader", v);
    if (!resp_header(j->x.resp_headers, "Content-Type", ctype, sizeof(ctype)))
        snprintf(ctype, sizeof(ctype), "application/octet-stream");
    http_reply_text(j->req, j->x.status, ctype, j->x.resp, j->x.resp_len);
    job_free(j);
}

static void
forward(struct proxy *p, struct http_req *req)
{
    const char *q = http_req_raw_query(req);
    struct job *j;
    char path[4096], line[8192];
    struct txt_buf w = {path, sizeof(path), 0};
    const void *body;
    size_t len, nh = 0;
    int rc;

    j = xcalloc(1, sizeof(*j));
    j->req = req;
    j->work.data = j;
    snprintf(j->leader, sizeof(j->leader), "%s", p->leader);
    /* http_req_path is decoded: encoded again, '/' and sub-delims kept. */
    txt_put_pct(&w, http_req_path(req), "/-._~!$&'()*+,;=:@");
    txt_finish(&w);
    snprintf(line, sizeof(line), "%s://%s%s%s%s", p->scheme, p->leader, path, q ? "?" : "",
             q ? q : "");
    j->url = xstrdup(line);
    for (size_t i = 0; i < sizeof(fwd_req) / sizeof(fwd_req[0]); i++) {
        const char *v = http_req_header(req, fwd_req[i]);

        if (v != NULL) {
            snprintf(line, sizeof(line), "%s: %s", fwd_req[i], v);
            j->hdrs[nh++] = xstrdup(line);
        }
    }
    snprintf(line, sizeof(line), "%s: %s", PROXY_HEADER, p->self);
    j->hdrs[nh++] = xstrdup(line);
    for (size_t i = 0; i < nh; i++)
        j->hdr_ptrs[i] = j->hdrs[i];
    body = http_req_body(req, &len);
    if (len > 0) {
        j->body = xmalloc(len);
        memcpy(j->body, body, len);
    }
    j->x = (struct http_exchange){.method = http_req_method(req),
                                  .url = j->url,
                                  .headers = j->hdr_ptrs,
                                  .body = j->body,
                                  .body_len = len,
                                  .timeout_ms = PROXY_TIMEOUT_MS,
                                  .want_headers = true};
    /* The method string belongs to the request: keep a copy for the thread. */
    j->hdrs[nh] = xstrdup(http_req_method(req));
    j->x.method = j->hdrs[nh];
    http_req_on_abort(req, job_aborted, j);
    if ((rc = uv_queue_work(p->loop, &j->work, job_run, job_done)) != 0) {
        http_req_on_abort(req, NULL, NULL);
        http_reply_error(req, 503, "cannot proxy to the leader: %s", uv_strerror(rc));
        j->req = NULL;
        job_free(j);
    }
}

static void
h_any(void *arg, struct http_req *req)
{
    struct proxy *p = arg;
    char loc[1024];

    if (p->leader[0] == '\0')
        return (void)http_reply_error(req, 503,
                                      "no agora-services instance leads yet: try again shortly");
    if (!p->f->ha)
        return (void)http_reply_error(req, 503,
                                      "this instance does not lead (--ha=false: it does not "
                                      "proxy): the leader is %s",
                                      p->leader);
    if (http_req_header(req, PROXY_HEADER) != NULL)
        return (void)http_reply_error(req, 503,
                                      "this instance does not lead either (the leader is %s "
                                      "here): try again shortly",
                                      p->leader);
    if (strcmp(http_req_path(req), "/v2/events") == 0) {
        const char *q = http_req_raw_query(req);

        snprintf(loc, sizeof(loc), "%s://%s/v2/events%s%s", p->scheme, p->leader, q ? "?" : "",
                 q ? q : "");
        http_req_add_header(req, "Location", loc);
        http_reply_error(req, 307, "the event stream is served by the leader %s", p->leader);
        return;
    }
    forward(p, req);
}

static void
h_ping(void *arg, struct http_req *req)
{
    (void)arg;
    http_reply_text(req, 200, "text/plain", "pong\n", 5);
}

static void
h_leader(void *arg, struct http_req *req)
{
    struct proxy *p = arg;

    if (p->leader[0] == '\0')
        http_reply_json(req, 404, json_pack("{s:s}", "message", "There is no leader"));
    else
        http_reply_json(req, 200, json_pack("{s:s}", "leader", p->leader));
}

int
proxy_open(struct proxy **out, uv_loop_t *loop, const struct svc_flags *f)
{
    static const char *const open_paths[] = {"/ping", NULL};
    struct proxy *p;
    nng_tls_config *tls = NULL;
    char err[512];
    int rc;

    *out = NULL;
    p = xcalloc(1, sizeof(*p));
    p->f = f;
    p->loop = loop;
    p->scheme = tls_serving(&f->tls) ? "https" : "http";
    snprintf(p->self, sizeof(p->self), "%s:%lld", f->hostname, (long long)f->http_port);
    if (tls_serving(&f->tls) && (rc = tls_server_config(&tls, &f->tls, err, sizeof(err))) != 0) {
        log_error("cannot serve TLS: %s", err);
        goto fail;
    }
    rc = http_server_open_tls(&p->http, loop, f->ip, (uint16_t)f->http_port, 1 << 20, tls);
    if (tls != NULL)
        nng_tls_config_free(tls);
    if (rc != 0) {
        log_error("cannot listen on %s:%lld: %s", f->ip, (long long)f->http_port, ag_strerror(rc));
        goto fail;
    }
    if ((rc = http_server_authenticate(p->http, &f->http_auth, open_paths, err, sizeof(err))) !=
        0) {
        log_error("%s", err);
        goto fail;
    }
    if ((rc = http_server_guard(p->http, &f->http_guard, NULL, NULL)) != 0 ||
        (rc = http_route(p->http, "GET", "/ping", h_ping, p, 0)) != 0 ||
        (rc = http_route(p->http, "GET", "/v2/leader", h_leader, p, 0)) != 0 ||
        (rc = http_route(p->http, "DELETE", "/v2/leader", h_any, p, 0)) != 0 ||
        (rc = http_route(p->http, NULL, "/", h_any, p, HTTP_ROUTE_PREFIX)) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    proxy_close(p);
    return rc;
}

void
proxy_set_leader(struct proxy *p, const char *hostport)
{
    if (p != NULL)
        snprintf(p->leader, sizeof(p->leader), "%s", hostport ? hostport : "");
}

void
proxy_close(struct proxy *p)
{
    if (p == NULL)
        return;
    http_server_close(p->http);
    free(p);
}
