/*
 * http_hosts: which Host headers a daemon answers (a defence against DNS
 * rebinding, shared by agora-master, agora-agent and agora-services).
 *
 * A page of another site can make its own name resolve to 127.0.0.1 (or any
 * address the browser reaches) and then read and drive a daemon as if it were
 * its own origin: the browser sends "Host: evil.example:5050" and an Origin
 * that matches it. A daemon answers only Host names it knows it is reached by.
 *
 * Flag --http_allowed_hosts=LIST (comma-separated; "*" turns the check off):
 * each entry is a name, optionally with ":PORT" (then only that port matches;
 * without a port any port does). Names compare case-insensitively, with a
 * trailing dot ignored. The default list is "localhost", the daemon's
 * --hostname and the system's hostname. IP literals ("127.0.0.1:5050",
 * "[::1]:5050") are always allowed: rebinding needs a name. A request without
 * a Host header (HTTP/1.0 tools) passes.
 *
 * The HTTP server (http.h: http_server_authenticate) checks it before any
 * route runs and answers 421 Misdirected Request; this module knows nothing
 * of the server.
 */
#ifndef AGORA_HTTP_HOSTS_H
#define AGORA_HTTP_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

struct hhosts;

/*
 * Builds the allow-list from `list` (the flag's value; NULL or "" for the
 * default) and `hostname` (the daemon's advertised name, may be NULL or "").
 * Returns 0 with *out (NULL when `list` is "*": every host passes), or
 * -AG_EINVAL with the reason in `err` (an empty entry, a bad port, a name
 * with characters no host name has), or -AG_ENOMEM.
 */
int hhosts_load(struct hhosts **out, const char *list, const char *hostname, char *err,
                size_t errlen);

/* Releases what hhosts_load returned. Accepts NULL. */
void hhosts_free(struct hhosts *h);

/* Whether a request with Host header `host` (NULL: none) may be served. `h`
 * NULL allows everything. */
bool hhosts_allowed(const struct hhosts *h, const char *host);

/* The entries as one comma-separated string, for logs (static buffer, or
 * "*"). */
const char *hhosts_describe(const struct hhosts *h);

#endif
