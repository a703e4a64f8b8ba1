#include "http_auth.h"

#include "error.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HAUTH_DIGEST_LEN 32 /* SHA-256 */

struct hauth_cred {
    char *principal;
    uint8_t digest[HAUTH_DIGEST_LEN]; /* SHA-256 of the secret; the secret is not kept */
};

struct hauth {
    bool readwrite, readonly;
    struct hauth_cred *creds;
    size_t ncreds;
};

/*
 * Secrets are compared as SHA-256 digests with CRYPTO_memcmp: constant time,
 * and the time does not depend on the secrets' lengths either.
 */
static void
digest(const char *s, uint8_t out[HAUTH_DIGEST_LEN])
{
    unsigned int len = HAUTH_DIGEST_LEN;

    if (EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0xff, HAUTH_DIGEST_LEN); /* matches no digest of a real secret */
}

static bool
field_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= HAUTH_FIELD_MAX)
        return false;
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

void
hauth_free(struct hauth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->ncreds; i++)
        free(a->creds[i].principal);
    OPENSSL_cleanse(a->creds, a->ncreds * sizeof(*a->creds));
    free(a->creds);
    free(a);
}

int
hauth_load(struct hauth **out, const struct http_auth_flags *f, char *err, size_t errlen)
{
    const char *path = f->credentials;
    json_error_t jerr;
    json_t *root, *list, *c;
    struct hauth *a;
    size_t i;
    int rc = -AG_EINVAL;

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        if (!f->readwrite && !f->readonly)
            return 0;
        snprintf(err, errlen, "--authenticate_http_%s needs --http_credentials=FILE",
                 f->readwrite ? "readwrite" : "readonly");
        return -AG_EINVAL;
    }
    if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
        snprintf(err, errlen, "cannot read --http_credentials=%s: %s (line %d)", path, jerr.text,
                 jerr.line);
        return -AG_EINVAL;
    }
    list = json_object_get(root, "credentials");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        snprintf(err, errlen,
                 "--http_credentials=%s must hold {\"credentials\": [{\"principal\": \"...\", "
                 "\"secret\": \"...\"}, ...]} with at least one entry",
                 path);
        json_decref(root);
        return -AG_EINVAL;
    }
    if ((a = calloc(1, sizeof(*a))) == NULL ||
        (a->creds = calloc(json_array_size(list), sizeof(*a->creds))) == NULL) {
        rc = -AG_ENOMEM;
        goto fail;
    }
    a->readwrite = f->readwrite;
    a->readonly = f->readonly;
    json_array_foreach(list, i, c)
    {
        const char *p = json_string_value(json_object_get(c, "principal"));
        const char *s = json_string_value(json_object_get(c, "secret"));
        struct hauth_cred *cr = &a->creds[a->ncreds];

        /* Basic's pair is "principal:secret": a principal cannot hold ':'. */
        if (p == NULL || s == NULL || !field_ok(p) || !field_ok(s) || strchr(p, ':') != NULL) {
            snprintf(err, errlen,
                     "--http_credentials=%s: entry %zu needs a principal (without ':') and a "
                     "secret, each 1-%d printable characters",
                     path, i, HAUTH_FIELD_MAX - 1);
            goto fail;
        }
        digest(s, cr->digest);
        for (size_t j = 0; j < a->ncreds; j++) {
            if (strcmp(a->creds[j].principal, p) == 0) {
                snprintf(err, errlen, "--http_credentials=%s: principal \"%s\" appears twice",
                         path, p);
                goto fail;
            }
            if (CRYPTO_memcmp(a->creds[j].digest, cr->digest, HAUTH_DIGEST_LEN) == 0) {
                snprintf(err, errlen,
                         "--http_credentials=%s: principals \"%s\" and \"%s\" have the same "
                         "secret (a bearer token would not tell them apart)",
                         path, a->creds[j].principal, p);
                goto fail;
            }
        }
        if ((cr->principal = strdup(p)) == NULL) {
            rc = -AG_ENOMEM;
            goto fail;
        }
        a->ncreds++;
    }
    json_decref(root);
    *out = a;
    return 0;
fail:
    hauth_free(a);
    json_decref(root);
    return rc;
}

/* Skips "SCHEME" (any case) and at least one space; NULL if `v` is not that scheme. */
static const char *
scheme_skip(const char *v, const char *scheme)
{
    size_t n = strlen(scheme);

    if (strncasecmp(v, scheme, n) != 0 || v[n] != ' ')
        return NULL;
    for (v += n; *v == ' '; v++)
        ;
    return v;
}

/* The token's length without trailing spaces; 0 if it holds another space or control byte. */
static size_t
token_len(const char *t)
{
    size_t n = strlen(t);

    while (n > 0 && t[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
            return 0;
    return n;
}

int
hauth_parse(const char *value, enum hauth_scheme *scheme, char principal[HAUTH_FIELD_MAX],
            char secret[HAUTH_FIELD_MAX])
{
    /* A Basic token of 2 fields at most HAUTH_FIELD_MAX - 1 bytes each, plus ':'. */
    unsigned char dec[2 * HAUTH_FIELD_MAX + 8];
    const char *t, *colon;
    size_t n, pad;
    int dlen;

    *scheme = HAUTH_NONE;
    principal[0] = secret[0] = '\0';
    if (value == NULL)
        return -AG_EINVAL;
    if ((t = scheme_skip(value, "Bearer")) != NULL) {
        n = token_len(t);
        if (n == 0 || n >= HAUTH_FIELD_MAX)
            return -AG_EINVAL;
        memcpy(secret, t, n);
        secret[n] = '\0';
        *scheme = HAUTH_BEARER;
        return 0;
    }
    if ((t = scheme_skip(value, "Basic")) == NULL)
        return -AG_EINVAL;
    n = token_len(t);
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(dec))
        return -AG_EINVAL;
    pad = (t[n - 1] == '=') + (t[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++)
        if (t[i] == '=')
            return -AG_EINVAL; /* '=' only as padding */
    /* EVP_DecodeBlock counts the padding as decoded zero bytes: drop them. */
    if ((dlen = EVP_DecodeBlock(dec, (const unsigned char *)t, (int)n)) < 0 ||
        (size_t)dlen < pad)
        return -AG_EINVAL;
    dlen -= (int)pad;
    if (memchr(dec, '\0', (size_t)dlen) != NULL ||
        (colon = memchr(dec, ':', (size_t)dlen)) == NULL)
        return -AG_EINVAL;
    n = (size_t)(colon - (const char *)dec);
    if (n == 0 || n >= HAUTH_FIELD_MAX || (size_t)dlen - n - 1 >= HAUTH_FIELD_MAX)
        return -AG_EINVAL;
    memcpy(principal, dec, n);
    principal[n] = '\0';
    memcpy(secret, colon + 1, (size_t)dlen - n - 1);
    secret[(size_t)dlen - n - 1] = '\0';
    OPENSSL_cleanse(dec, sizeof(dec));
    *scheme = HAUTH_BASIC;
    return 0;
}

bool
hauth_method_readwrite(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

int
hauth_check(const struct hauth *a, const char *authorization, bool readwrite,
            const char **principal)
{
    char p[HAUTH_FIELD_MAX], s[HAUTH_FIELD_MAX];
    uint8_t d[HAUTH_DIGEST_LEN];
    enum hauth_scheme scheme;
    const char *found = NULL;

    *principal = NULL;
    if (a == NULL)
        return 0;
    if (authorization == NULL)
        return (readwrite ? a->readwrite : a->readonly) ? -AG_EPERM : 0;
    if (hauth_parse(authorization, &scheme, p, s) != 0)
        return -AG_EPERM;
    digest(s, d);
    OPENSSL_cleanse(s, sizeof(s));
    /* Every entry is compared, whatever matches, so the time tells nothing. */
    for (size_t i = 0; i < a->ncreds; i++) {
        const struct hauth_cred *c = &a->creds[i];
        bool same = CRYPTO_memcmp(c->digest, d, HAUTH_DIGEST_LEN) == 0;

        if (same && found == NULL && (scheme == HAUTH_BEARER || strcmp(c->principal, p) == 0))
            found = c->principal;
    }
    OPENSSL_cleanse(d, sizeof(d));
    if (found == NULL)
        return -AG_EPERM;
    *principal = found;
    return 0;
}
