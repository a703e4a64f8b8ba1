/*
 * http_client: a tiny blocking HTTP client for command-line tools and tests
 * (the daemons' servers are in http.h, which includes this header), on
 * libcurl: nng's HTTP client failed about one TLS connection in twenty to
 * nng's own TLS servers (a hang or a closed connection), which curl never did.
 *
 * Threads: no loop; any thread, each call on its own libcurl handle. Ownership:
 * what a call returns in *resp is the caller's to free; nothing else outlives
 * the call.
 *
 * Credentials: after http_client_auth(), every request of the process carries
 * "Authorization: Basic base64(principal:secret)" (see http_auth.h).
 *
 * TLS: https:// URLs verify the server's certificate and name (the URL's
 * host) against --tls_ca (http_client_tls; the system's CAs by default) and
 * present --tls_cert when given.
 */
#ifndef AGORA_HTTP_CLIENT_H
#define AGORA_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Performs one request and waits for the whole answer (timeout_ms <= 0 means
 * 10 s). `body` may be NULL. On success returns 0 with *status and, if `resp`
 * is not NULL, a malloc'd NUL-terminated body in *resp (length in *resp_len if
 * not NULL) that the caller frees. Returns a negative AG_E* code on transport
 * failure (-AG_ECLOSED: refused, -AG_ETIMEDOUT) with nothing to free.
 */
int http_request(const char *method, const char *url, const char *content_type, const void *body,
                 size_t body_len, int timeout_ms, int *status, char **resp, size_t *resp_len);

/*
 * One request with headers of the caller's (a proxy's): `headers` are
 * "Name: value" lines (NULL-terminated array, may be NULL); the process's
 * credentials (http_client_auth) are added unless one of them is an
 * Authorization header. Waits for the whole answer (timeout_ms <= 0: 10 s).
 * On success returns 0 with `status`, `resp` (malloc'd, NUL-terminated,
 * `resp_len` bytes) and, when `want_headers`, `resp_headers` (malloc'd: the
 * final answer's status line and header lines as received, "\r\n"-separated);
 * the caller frees both. A negative AG_E* code on transport failure, with
 * nothing to free.
 */
struct http_exchange {
    const char *method, *url;
    const char *const *headers;
    const void *body;
    size_t body_len;
    int timeout_ms;
    bool want_headers;
    /* the answer */
    int status;
    char *resp, *resp_headers;
    size_t resp_len;
};
int http_exchange(struct http_exchange *x);

/*
 * Sends HTTP Basic credentials with every later request of this process
 * (NULL principal: none). Call before starting threads. Returns 0, -AG_EINVAL
 * (principal with ':' or either too long) or -AG_ENOMEM, keeping the previous
 * credentials on failure.
 */
int http_client_auth(const char *principal, const char *secret);

struct tls_flags;

/*
 * Makes every later https:// request of this process use `f` (tls.h; its
 * strings are borrowed and must outlive the requests; NULL: back to the
 * system's CAs). The files are checked now: returns 0, or -AG_EINVAL with
 * the reason in `err` (the flag and file named), keeping the previous setting.
 * Call before starting threads.
 */
int http_client_tls(const struct tls_flags *f, char *err, size_t errlen);

/* http_request("GET", url, ...) with the default timeout. */
int http_get(const char *url, int *status, char **resp, size_t *resp_len);

#endif
