/*
 * The HTTP face of a master that does not lead (high availability: --zk).
 *
 * A standby serves, on the master's --ip and --port (with its TLS, HTTP
 * authentication, Host allow-list and guard flags, as the leader would):
 *   - `/master/redirect` and `/redirect`: 307 to the leader (Mesos's), or 503
 *     while no leader is known;
 *   - `/state`, `/master/state`, `/state.json`: this master's identity with
 *     `leader` and `leader_info` (the leader's info from ZooKeeper), no agents
 *     and no frameworks;
 *   - `/health`: 200;
 *   - every other path and method: 307 to the same path and query on the
 *     leader (clients that follow redirects reach it; 503 while none).
 * It runs on the master's loop thread and owns no master state: main.c
 * closes it when this master is elected (the same port then serves the
 * master's own API, master/http_api.c).
 */
#ifndef AGORA_MASTER_STANDBY_H
#define AGORA_MASTER_STANDBY_H

#include <uv.h>

struct standby;
struct master_flags;
struct zk_leader;

/* Opens the standby's HTTP server; `self_info` is this master's info JSON
 * (copied). 0 or -AG_E* (logged). */
int standby_open(struct standby **out, uv_loop_t *loop, const struct master_flags *f,
                 const char *self_info);

/* The current leader (NULL: none known); copied. */
void standby_set_leader(struct standby *sb, const struct zk_leader *leader);

/* Closes the server and frees the standby. NULL is a no-op. */
void standby_close(struct standby *sb);

/*
 * A redirect's target: "SCHEME://HOSTPORT" followed by `path` ("/" when NULL
 * or empty) and "?query" when `query` is not NULL, into `out` (`outlen`
 * bytes). For `/master/redirect` and `/redirect`, `path` is what follows
 * "redirect" (standby_redirect_path). Shared by the leader's own redirect
 * (http_api.c).
 */
void standby_location(char *out, size_t outlen, const char *scheme, const char *hostport,
                      const char *path, const char *query);

/* What follows "redirect" in a `/master/redirect...` or `/redirect...` path. */
const char *standby_redirect_path(const char *path);

#endif
