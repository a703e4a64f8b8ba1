#include "http_client.h"

#include "error.h"
#include "tls.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_CLIENT_TIMEOUT_MS 10000
#define HTTP_CLIENT_AUTH_MAX 512 /* principal:secret */

/* "Basic base64(principal:secret)", or NULL. */
static char *client_authorization;

/* What https:// requests verify against and present (http_client_tls); the
 * strings are the process's flags, borrowed. */
static struct tls_flags client_tls;

int
http_client_tls(const struct tls_flags *f, char *err, size_t errlen)
{
    nng_tls_config *cfg;
    int rv;

    if (f == NULL) {
        memset(&client_tls, 0, sizeof(client_tls));
        return 0;
    }
    if ((rv = tls_client_config(&cfg, f, "localhost", err, errlen)) != 0)
        return rv;
    nng_tls_config_free(cfg);
    client_tls = *f;
    return 0;
}

/* Gives `cli` a TLS config verifying the host of `u`, for https:// URLs. */
static int
client_set_tls(nng_http_client *cli, const nng_url *u)
{
    nng_tls_config *cfg;
    char err[512];
    int rv;

    if (strcmp(u->u_scheme, "https") != 0)
        return 0;
    if (tls_client_config(&cfg, &client_tls, u->u_hostname, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return NNG_EINVAL;
    }
    rv = nng_http_client_set_tls(cli, cfg);
    nng_tls_config_free(cfg);
    return rv;
}

int
http_client_auth(const char *principal, const char *secret)
{
    char pair[HTTP_CLIENT_AUTH_MAX];
    char *v = NULL;
    int n;

    if (principal != NULL) {
        if (secret == NULL || strchr(principal, ':') != NULL ||
            (n = snprintf(pair, sizeof(pair), "%s:%s", principal, secret)) < 0 ||
            (size_t)n >= sizeof(pair))
            return -AG_EINVAL;
        /* "Basic " + 4 bytes per 3 + NUL (EVP_EncodeBlock writes the NUL). */
        if ((v = malloc(6 + ((size_t)n + 2) / 3 * 4 + 1)) == NULL) {
            OPENSSL_cleanse(pair, sizeof(pair));
            return -AG_ENOMEM;
        }
        memcpy(v, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)v + 6, (const unsigned char *)pair, n);
        OPENSSL_cleanse(pair, sizeof(pair));
    }
    if (client_authorization != NULL) {
        OPENSSL_cleanse(client_authorization, strlen(client_authorization));
        free(client_authorization);
    }
    client_authorization = v;
    return 0;
}

int
http_request(const char *method, const char *url, const char *content_type, const void *body,
             size_t body_len, int timeout_ms, int *status, char **resp, size_t *resp_len)
{
    nng_url *u = NULL;
    nng_http_client *cli = NULL;
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    nng_aio *aio = NULL;
    void *data;
    size_t len;
    int rv;

    if (method == NULL || url == NULL || status == NULL)
        return -AG_EINVAL;
    if ((rv = nng_url_parse(&u, url)) != 0 || (rv = nng_http_client_alloc(&cli, u)) != 0 ||
        (rv = client_set_tls(cli, u)) != 0 || (rv = nng_http_req_alloc(&req, u)) != 0 || (rv = nng_http_res_alloc(&res)) != 0 ||
        (rv = nng_aio_alloc(&aio, NULL, NULL)) != 0 ||
        (rv = nng_http_req_set_method(req, method)) != 0 ||
        (client_authorization != NULL &&
         (rv = nng_http_req_set_header(req, "Authorization", client_authorization)) != 0))
        goto out;
    if (body != NULL && body_len > 0) {
        if ((rv = nng_http_req_copy_data(req, body, body_len)) != 0 ||
            (content_type != NULL &&
             (rv = nng_http_req_set_header(req, "Content-Type", content_type)) != 0))
            goto out;
    }
    nng_aio_set_timeout(aio, timeout_ms > 0 ? timeout_ms : HTTP_CLIENT_TIMEOUT_MS);
    nng_http_client_transact(cli, req, res, aio);
    nng_aio_wait(aio);
    if ((rv = nng_aio_result(aio)) != 0)
        goto out;
    *status = nng_http_res_get_status(res);
    nng_http_res_get_data(res, &data, &len);
    if (resp != NULL) {
        if ((*resp = malloc(len + 1)) == NULL) {
            rv = NNG_ENOMEM;
            goto out;
        }
        if (len > 0)
            memcpy(*resp, data, len);
        (*resp)[len] = '\0';
    }
    if (resp_len != NULL)
        *resp_len = len;
out:
    if (aio != NULL)
        nng_aio_free(aio);
    if (res != NULL)
        nng_http_res_free(res);
    if (req != NULL)
        nng_http_req_free(req);
    if (cli != NULL)
        nng_http_client_free(cli);
    if (u != NULL)
        nng_url_free(u);
    return ag_from_nng(rv);
}

int
http_get(const char *url, int *status, char **resp, size_t *resp_len)
{
    return http_request("GET", url, NULL, NULL, 0, 0, status, resp, resp_len);
}
