/*
 * proxy: the REST API of an agora-services instance that does not lead (--zk):
 * every request is sent on to the leader and its answer sent back, as
 * Marathon's non-leaders do; main.c opens it until this instance is elected
 * (it then closes it and opens the real API on the same port).
 *
 * Answered here: GET /ping, GET /v2/leader (the leader known from ZooKeeper;
 * 404 {"message": "There is no leader"} while none is), and /v2/events, which
 * is redirected (307) to the leader rather than held open here. Everything
 * else: the method, the path, the query, the body and the headers
 * Content-Type, Accept, Authorization and X-Forwarded-For go to the leader;
 * its status, body and headers Content-Type, Location, WWW-Authenticate,
 * Allow and Retry-After come back, with X-Marathon-Leader naming it. While no
 * leader is known, or when the leader cannot be reached, the answer is 503
 * {"message": ...}. A request that reached us from another proxy is not sent
 * on again (503): two instances that each take the other for the leader for
 * a moment cannot bounce a request between them.
 *
 * Authentication: the same --http_credentials / --authenticate_http_* as the
 * leader's (checked here too, /ping open); authorization is the leader's.
 *
 * Threads: runs on the loop given to proxy_open; each proxied request is a
 * blocking libcurl call (http_exchange) on libuv's thread pool, so the loop
 * never waits for the leader. The call outlives the request it serves if
 * that is aborted or the proxy closed (its answer is then dropped).
 */
#ifndef AGORA_SERVICES_PROXY_H
#define AGORA_SERVICES_PROXY_H

#include <uv.h>

struct proxy;
struct svc_flags;

/* Serves on --ip:--http_port of `f` (kept, not copied). 0 or -AG_E* (logged,
 * nothing left open). */
int proxy_open(struct proxy **out, uv_loop_t *loop, const struct svc_flags *f);

/* The leader to proxy to, "HOST:PORT" (copied), or NULL while none is known. */
void proxy_set_leader(struct proxy *p, const char *hostport);

/* Stops serving (requests in flight are dropped unanswered) and frees `p`.
 * NULL is a no-op. */
void proxy_close(struct proxy *p);

#endif
