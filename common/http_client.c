#include "http_client.h"

#include "error.h"
#include "tls.h"

#include <curl/curl.h>
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* libcurl's global state, made once for the process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The answer's body, as libcurl hands it over. */
struct body {
    char *data;
    size_t len, cap;
    int oom;
};

static size_t
body_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;

    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *d;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((d = realloc(b->data, cap)) == NULL) {
            b->oom = 1;
            return 0; /* libcurl fails the transfer with CURLE_WRITE_ERROR */
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int
from_curl(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return 0;
    case CURLE_OUT_OF_MEMORY:
        return -AG_ENOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return -AG_EINVAL;
    case CURLE_OPERATION_TIMEDOUT:
        return -AG_ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        return -AG_ECLOSED; /* refused, or the TLS handshake failed */
    default:
        return -AG_EIO;
    }
}

/* The answer's header lines, as libcurl hands them over: only the last
 * answer's (a "100 Continue" or a redirect's are dropped at each status line). */
static size_t
header_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *b = arg;
    size_t n = size * nmemb;

    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
        b->len = 0;
    return body_write(ptr, size, nmemb, arg);
}

static bool
has_authorization(const char *const *headers)
{
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        if (strncasecmp(headers[i], "Authorization:", 14) == 0)
            return true;
    return false;
}

int
http_exchange(struct http_exchange *x)
{
    struct curl_slist *hdrs = NULL, *h;
    struct body b = {0}, hb = {0};
    char line[HTTP_CLIENT_AUTH_MAX * 2];
    long code = 0;
    CURLcode c;
    CURL *e;
    int rv;

    x->status = 0;
    x->resp = x->resp_headers = NULL;
    x->resp_len = 0;
    if (x->method == NULL || x->url == NULL)
        return -AG_EINVAL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK || (e = curl_easy_init()) == NULL)
        return -AG_ENOMEM;
    /* No "Expect: 100-continue" round trip for bodies. */
    hdrs = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; hdrs != NULL && x->headers != NULL && x->headers[i] != NULL; i++)
        hdrs = (h = curl_slist_append(hdrs, x->headers[i])) != NULL
                   ? h
                   : (curl_slist_free_all(hdrs), NULL);
    if (hdrs != NULL && client_authorization != NULL && !has_authorization(x->headers)) {
        snprintf(line, sizeof(line), "Authorization: %s", client_authorization);
        hdrs = (h = curl_slist_append(hdrs, line)) != NULL ? h : (curl_slist_free_all(hdrs), NULL);
        OPENSSL_cleanse(line, sizeof(line));
    }
    if (hdrs == NULL) {
        curl_easy_cleanup(e);
        return -AG_ENOMEM;
    }
    c = curl_easy_setopt(e, CURLOPT_URL, x->url);
    /* Only http:// and https://, straight to the server: no proxy from the
     * environment, no redirects, HTTP/1.1 as the daemons speak it. */
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_PROXY, "");
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                             (long)(x->timeout_ms > 0 ? x->timeout_ms : HTTP_CLIENT_TIMEOUT_MS));
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    if (c == CURLE_OK && strcmp(x->method, "HEAD") == 0)
        c = curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
    if (c == CURLE_OK && x->body != NULL && x->body_len > 0) {
        c = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        if (c == CURLE_OK)
            c = curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
    }
    /* https://: the server's certificate and name against --tls_ca (the
     * system's CAs without it); --tls_cert/--tls_key presented when given. */
    if (c == CURLE_OK && client_tls.ca != NULL && client_tls.ca[0] != '\0')
        c = curl_easy_setopt(e, CURLOPT_CAINFO, client_tls.ca);
    if (c == CURLE_OK && client_tls.cert != NULL && client_tls.cert[0] != '\0')
        c = curl_easy_setopt(e, CURLOPT_SSLCERT, client_tls.cert);
    if (c == CURLE_OK && client_tls.key != NULL && client_tls.key[0] != '\0')
        c = curl_easy_setopt(e, CURLOPT_SSLKEY, client_tls.key);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (c == CURLE_OK && x->want_headers)
        c = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_write);
    if (c == CURLE_OK && x->want_headers)
        c = curl_easy_setopt(e, CURLOPT_HEADERDATA, &hb);
    if (c == CURLE_OK)
        c = curl_easy_perform(e);
    if (c == CURLE_OK)
        c = curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    rv = b.oom || hb.oom ? -AG_ENOMEM : from_curl(c);
    if (rv == 0 && b.data == NULL && (b.data = calloc(1, 1)) == NULL)
        rv = -AG_ENOMEM;
    if (rv == 0 && x->want_headers && hb.data == NULL && (hb.data = calloc(1, 1)) == NULL)
        rv = -AG_ENOMEM;
    if (rv != 0) {
        free(b.data);
        free(hb.data);
        return rv;
    }
    x->status = (int)code;
    x->resp = b.data;
    x->resp_len = b.len;
    x->resp_headers = hb.data;
    return 0;
}

int
http_request(const char *method, const char *url, const char *content_type, const void *body,
             size_t body_len, int timeout_ms, int *status, char **resp, size_t *resp_len)
{
    char line[512];
    const char *hdrs[2] = {NULL, NULL};
    struct http_exchange x = {.method = method,
                              .url = url,
                              .headers = hdrs,
                              .body = body,
                              .body_len = body_len,
                              .timeout_ms = timeout_ms};
    int rv;

    if (status == NULL)
        return -AG_EINVAL;
    if (content_type != NULL && body != NULL && body_len > 0) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        hdrs[0] = line;
    }
    if ((rv = http_exchange(&x)) != 0)
        return rv;
    *status = x.status;
    if (resp != NULL)
        *resp = x.resp;
    else
        free(x.resp);
    if (resp_len != NULL)
        *resp_len = x.resp_len;
    return 0;
}

int
http_get(const char *url, int *status, char **resp, size_t *resp_len)
{
    return http_request("GET", url, NULL, NULL, 0, 0, status, resp, resp_len);
}
