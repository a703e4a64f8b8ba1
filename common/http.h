/*
 * http: a small JSON-over-HTTP layer on nng's HTTP server, driven by a libuv
 * loop, plus a tiny blocking client for command-line tools and tests
 * (http_client.h, included here).
 *
 * Server threads: nng parses requests on its own threads and only hands them
 * to the loop (evq.h). Route handlers run on the loop thread and reply there,
 * either before returning or later (long polls: keep the request, reply from
 * another loop callback). Every function except the client ones must be called
 * on the loop thread.
 *
 * Routing: one nng handler (a tree at "/", any method) receives everything and
 * the loop picks the route: an exact path first, else the longest prefix route
 * (HTTP_ROUTE_PREFIX, e.g. "/v2/apps/" for nested ids). A path that matches
 * no route gets 404, a path matched only for other methods gets 405 with an
 * Allow header; both with a JSON body {"message": "..."}. HEAD is served by
 * GET routes (nng drops the body). Paths are percent-decoded before matching.
 * Bodies over the server's limit are refused by nng with 400 before any route
 * runs. A request other than GET or HEAD whose Origin header names another
 * host than its Host header (a page of another site making the browser send
 * it) gets 403 before any route runs; requests without Origin (tools) pass.
 * With the Host allow-list on (http_server_authenticate), a Host that is not
 * allowed gets 421 first, so a rebound name cannot pass the Origin check.
 *
 * Authentication (http_server_authenticate, rules in http_auth.h): checked
 * before routing, for every route including those added later, so an
 * anonymous request that must authenticate gets 401 with
 * "WWW-Authenticate: Basic realm="agora"" and no handler runs. Handlers read
 * the caller with http_req_principal().
 *
 * Sharing a port with the transport (validated by tests/unit/test_http.c):
 * open the HTTP server on HOST:PORT and the transport server on
 * "ws://HOST:PORT/agora/stream" with exactly the same HOST string ("0.0.0.0"
 * on both, or "127.0.0.1" on both; "localhost" against "127.0.0.1" fails with
 * "address in use"), in either order. nng serves the longer ws path first, so
 * the websocket upgrade wins for "/agora/stream" and every other path reaches
 * the routes here; never register a route for the ws path itself (nng would
 * answer it). With port 0, open HTTP first and give http_server_port() to the
 * ws URL.
 *
 * Ownership: a request belongs to the server until the handler is called, then
 * to the handler until one reply function (or http_reply_stream) consumes it.
 * Closing the server releases requests still unanswered; a handler that keeps
 * one for later registers http_req_on_abort() to hear about it.

 *
 * Files: http.c (the server: nng's handler, the handoff to the loop, routing,
 * requests and replies), http_stream.c (streaming replies on a connection
 * taken over from nng), http_client.c (the blocking client).
 */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include "acl.h"
#include "http_auth.h"
#include "http_guard.h"
#include "http_client.h"
#include "tls.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_server;
struct http_req;
struct http_stream;

#define HTTP_ROUTE_PREFIX 0x1 /* match every path that starts with the route path */

#define HTTP_DEFAULT_MAX_BODY (1u << 20)

typedef void (*http_handler_fn)(void *arg, struct http_req *req);

/*
 * Starts an HTTP server on host:port (port 0 picks a free port). `max_body`
 * bounds request bodies (0 means HTTP_DEFAULT_MAX_BODY). Returns 0 and sets
 * *out, or a negative AG_E* code (-AG_EIO when the address is in use) with
 * nothing left open.
 */
int http_server_open(struct http_server **out, uv_loop_t *loop, const char *host, uint16_t port,
                     size_t max_body);

/*
 * As http_server_open, serving https:// with `tls` (tls.h: tls_server_config;
 * nng keeps its own reference) when not NULL: the port then serves only TLS,
 * and a transport server sharing it listens on "wss://HOST:PORT/PATH" (it
 * uses this TLS config; a plain client's handshake fails).
 */
int http_server_open_tls(struct http_server **out, uv_loop_t *loop, const char *host,
                         uint16_t port, size_t max_body, nng_tls_config *tls);

/* The port the server listens on. */
int http_server_port(const struct http_server *srv);

/*
 * Adds a route. `method` is "GET", "POST", "PUT", "PATCH", "DELETE", ... or
 * NULL for any; `path` starts with '/'; `flags` is 0 or HTTP_ROUTE_PREFIX. The
 * strings are copied; `arg` is borrowed. Returns 0, -AG_EINVAL, -AG_EEXIST
 * (same method and path twice) or -AG_ENOMEM.
 */
int http_route(struct http_server *srv, const char *method, const char *path, http_handler_fn fn,
               void *arg, int flags);

/*
 * Turns on HTTP authentication as the flags `f` say (http_auth.h): loads the
 * credentials file now and checks every later request before routing. Also
 * turns on the Host allow-list of f->allowed_hosts and f->hostname
 * (http_hosts.h; before that call any Host passes): a request addressed to
 * another name gets 421 before authentication and routing. The
 * exact paths in `open_paths` (NULL-terminated, may be NULL; e.g. "/health")
 * are served to anyone. Returns 0 (also when `f` configures nothing), or
 * -AG_EINVAL / -AG_ENOMEM with the reason in `err` and the server unchanged.
 */
int http_server_authenticate(struct http_server *srv, const struct http_auth_flags *f,
                             const char *const *open_paths, char *err, size_t errlen);

/*
 * CORS for pages served elsewhere (the master's web UI reading agents):
 * `origins` is a comma-separated list of origins ("http://master:5050"; "*"
 * for any), NULL or "" for none (the default). A reply to a request whose
 * Origin is in the list carries "Access-Control-Allow-Origin: <that origin>"
 * and "Access-Control-Allow-Credentials: true" (so the browser may send the
 * credentials it holds for this daemon); every reply carries "Vary: Origin".
 * Returns 0 or -AG_ENOMEM.
 */
int http_server_allow_origin(struct http_server *srv, const char *origins);

/*
 * Turns on the connection limits of `f` (http_guard.h: request and idle
 * timeouts, a cap on connections). `exempt` (may be NULL) names connections
 * left alone: a transport's websocket links on the same port. Returns 0 or
 * -AG_EINVAL / -AG_ENOMEM, the server unchanged.
 */
int http_server_guard(struct http_server *srv, const struct http_guard_flags *f,
                      hguard_exempt_fn exempt, void *arg);

/*
 * Stops the server: requests not yet handed to a handler are answered 503,
 * requests kept by handlers get their abort callback and are released, open
 * streams are closed. Memory is released from the loop, so the loop must run
 * on. Accepts NULL.
 */
void http_server_close(struct http_server *srv);

/* ---- requests (valid until replied) ---- */

const char *http_req_method(const struct http_req *req);

/* The percent-decoded path without the query string. */
const char *http_req_path(const struct http_req *req);

/* The query string as the client sent it (not decoded, without '?'), or NULL. */
const char *http_req_raw_query(const struct http_req *req);

/* The principal whose credentials the request carried, or NULL (anonymous). */
const char *http_req_principal(const struct http_req *req);

/*
 * Whether the caller of `req` may do `action` on `object` (NULL: absent) by
 * `acls` (--acls, common/acl.h; NULL: none, everything is allowed). When not,
 * logs the refusal ("not permitted by --acls: ACTION of 'OBJECT' by principal
 * 'P' (METHOD PATH)"), answers 403 {"message": "not permitted: ..."} (`req` is
 * released) and returns false: call it before changing anything.
 */
bool http_req_authorized(struct http_req *req, const struct acls *acls, enum acl_action action,
                         const char *object);

/* For prefix routes: the path after the route prefix ("" if none); else "". */
const char *http_req_subpath(const struct http_req *req);

/* The decoded value of query parameter `key`, "" if it has no value, NULL if absent. */
const char *http_req_query(struct http_req *req, const char *key);

/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(struct http_req *req, const char *name);

/* The body bytes (NUL-terminated for convenience; *len excludes the NUL). */
const void *http_req_body(const struct http_req *req, size_t *len);

/*
 * Parses the body as JSON. Returns a new reference, or NULL after writing a
 * reason to `err` (may be NULL) of `errlen` bytes.
 */
json_t *http_req_json(const struct http_req *req, char *err, size_t errlen);

/* Adds a header to the reply (e.g. Location). Returns 0 or -AG_ENOMEM. */
int http_req_add_header(struct http_req *req, const char *name, const char *value);

/* Registers `fn`, called on the loop if the server releases `req` unanswered. */
void http_req_on_abort(struct http_req *req, void (*fn)(void *arg, struct http_req *req),
                       void *arg);

/*
 * Replies and releases `req`. http_reply_json steals `body` (NULL sends no
 * body) and sends it compactly as application/json. http_reply_error sends
 * {"message": <printf text>}. Return 0, or -AG_ECLOSED if the request had been
 * aborted (still released).
 */
int http_reply_json(struct http_req *req, int status, json_t *body);
int http_reply_text(struct http_req *req, int status, const char *content_type, const void *data,
                    size_t len);
int http_reply_error(struct http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- streaming replies (server-sent events) ---- */

/*
 * Takes the connection over (nng_http_hijack) and sends the status line and
 * headers now, without a Content-Length: the body is whatever is written until
 * the stream is closed. Releases `req`. Returns the stream, or NULL if the
 * request was aborted or on failure.
 *
 * `on_close` (may be NULL) runs on the loop when the peer goes away, a write
 * fails, the queue overflows or the server closes; the stream is released
 * when it returns (http_stream_close inside it is a no-op), so the owner
 * must forget `st` there. It is not called after http_stream_close.
 */
struct http_stream *http_reply_stream(struct http_req *req, int status, const char *content_type,
                                      void (*on_close)(void *arg, struct http_stream *st),
                                      void *arg);

/*
 * Queues a copy of `data`. Returns 0; -AG_ECLOSED once the peer is gone;
 * -AG_ENOSPC if more than 4 MiB are waiting (the stream is then closed and
 * on_close follows).
 */
int http_stream_write(struct http_stream *st, const void *data, size_t len);

/* Closes the stream (data still queued is dropped) and releases it. Accepts NULL. */
void http_stream_close(struct http_stream *st);

#endif
