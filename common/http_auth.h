/*
 * http_auth: who sends an HTTP request (Mesos's HTTP authentication, shared by
 * agora-master, agora-agent and agora-services).
 *
 * Flags (the same on the three daemons, Mesos names): --http_credentials=FILE
 * holds {"credentials": [{"principal": "p", "secret": "s"}, ...]};
 * --authenticate_http_readwrite requires credentials on every request that may
 * change state (any method but GET, HEAD and OPTIONS);
 * --authenticate_http_readonly on GET, HEAD and OPTIONS.
 *
 * Schemes: "Authorization: Basic base64(principal:secret)" (RFC 7617), and
 * "Authorization: Bearer TOKEN" for scripts, where the token is a principal's
 * secret (so the file must not give two principals the same secret).
 * A request without the header passes where authentication is not required
 * (no principal); a request with a header is always checked, and a missing
 * or wrong one where required, or a wrong one anywhere, is refused (401).
 * Secrets are compared in constant time and never logged.
 *
 * The HTTP server (http.h: http_server_authenticate) calls hauth_check before
 * any route runs; this module knows nothing of the server.
 */
#ifndef AGORA_HTTP_AUTH_H
#define AGORA_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* The flags' storage; a daemon keeps one and lists HTTP_AUTH_FLAGS(&it) in its table. */
struct http_auth_flags {
    char *credentials; /* --http_credentials FILE, or NULL */
    bool readwrite;    /* --authenticate_http_readwrite */
    bool readonly;     /* --authenticate_http_readonly */
    char *allowed_hosts;  /* --http_allowed_hosts LIST (http_hosts.h), or NULL: the default */
    const char *hostname; /* set by the daemon: its --hostname, allowed by default; or NULL */
};

/* The three flag table entries (struct flag, flags.h) over `af`. */
#define HTTP_AUTH_FLAGS(af)                                                                        \
    {"http_credentials", FLAG_STRING, &(af)->credentials, NULL,                                    \
     "JSON file {\"credentials\": [{\"principal\": ..., \"secret\": ...}]} of the principals "     \
     "that may use the HTTP API (HTTP Basic, or Bearer with the secret as token)."},               \
        {"authenticate_http_readwrite", FLAG_BOOL, &(af)->readwrite, "false",                      \
         "Require HTTP credentials (--http_credentials) for requests that may change state "       \
         "(POST, PUT, PATCH, DELETE)."},                                                           \
        {"authenticate_http_readonly", FLAG_BOOL, &(af)->readonly, "false",                        \
         "Require HTTP credentials (--http_credentials) for GET and HEAD requests."},              \
    {                                                                                              \
        "http_allowed_hosts", FLAG_STRING, &(af)->allowed_hosts, NULL,                             \
            "Host names (NAME or NAME:PORT, comma-separated) HTTP requests may be addressed to; "  \
            "others get 421 (against DNS rebinding). IP addresses always pass; \"*\" allows any "  \
            "name. Default: localhost, --hostname and the system's hostname."                      \
    }

enum hauth_scheme { HAUTH_NONE, HAUTH_BASIC, HAUTH_BEARER };

#define HAUTH_FIELD_MAX 256 /* longest principal, secret or token accepted, with the NUL */

struct hauth;

/*
 * Loads the credentials of `f` (nothing to load when f->credentials is NULL or
 * ""). Returns 0 and *out (NULL when no authentication is configured at all),
 * or -AG_EINVAL with the reason in `err`: a required authentication without
 * --http_credentials, an unreadable or malformed file, an empty, duplicate or
 * over-long principal or secret, two principals with the same secret.
 * -AG_ENOMEM. Nothing is allocated on failure.
 */
int hauth_load(struct hauth **out, const struct http_auth_flags *f, char *err, size_t errlen);

/* Releases what hauth_load returned. Accepts NULL. */
void hauth_free(struct hauth *a);

/*
 * Parses an Authorization header value. On success returns 0 and the scheme:
 * Basic fills `principal` and `secret`; Bearer fills `secret` with the token
 * and leaves `principal` "". Each buffer has HAUTH_FIELD_MAX bytes. Returns
 * -AG_EINVAL for an unknown scheme, bad base64, no ':' in Basic's pair, an
 * empty principal or token, a NUL or control byte, or a field too long.
 */
int hauth_parse(const char *value, enum hauth_scheme *scheme, char principal[HAUTH_FIELD_MAX],
                char secret[HAUTH_FIELD_MAX]);

/*
 * Decides a request: `authorization` is its header value or NULL, `readwrite`
 * whether its method may change state. Returns 0 when it may proceed, with
 * *principal the authenticated principal (owned by `a`, valid until
 * hauth_free) or NULL for an anonymous request; -AG_EPERM when it must be
 * answered 401. `a` may be NULL (no authentication: always 0, anonymous).
 */
int hauth_check(const struct hauth *a, const char *authorization, bool readwrite,
                const char **principal);

/* Whether `method` may change state: anything but GET, HEAD and OPTIONS. */
bool hauth_method_readwrite(const char *method);

#endif
