#include "tls.h"

#include "error.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TLS_MAX_PEM (1u << 20)

bool
tls_serving(const struct tls_flags *f)
{
    return f != NULL && f->cert != NULL && f->cert[0] != '\0';
}

bool
tls_client_wanted(const struct tls_flags *f)
{
    return f != NULL && ((f->ca != NULL && f->ca[0] != '\0') || f->required);
}

static bool
given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
tls_check(const struct tls_flags *f, bool server, char *err, size_t errlen)
{
    if (f == NULL)
        return 0;
    if (given(f->cert) != given(f->key)) {
        snprintf(err, errlen, "--tls_cert and --tls_key go together: %s given without %s",
                 given(f->cert) ? "--tls_cert" : "--tls_key",
                 given(f->cert) ? "--tls_key" : "--tls_cert");
        return -AG_EINVAL;
    }
    if (f->verify_peer && !given(f->ca)) {
        snprintf(err, errlen, "--tls_verify_peer needs --tls_ca=FILE (the CA of the peers' "
                              "certificates)");
        return -AG_EINVAL;
    }
    if (server && (f->verify_peer || f->required) && !given(f->cert)) {
        snprintf(err, errlen, "%s needs --tls_cert=FILE and --tls_key=FILE",
                 f->required ? "--tls_required" : "--tls_verify_peer");
        return -AG_EINVAL;
    }
    return 0;
}

/*
 * Reads the PEM file of flag `flag` into *out (NUL-terminated, the caller
 * frees) and checks that it holds a block of `kind` ("CERTIFICATE", "PRIVATE
 * KEY": a substring of the BEGIN line). -AG_EINVAL with the reason in `err`.
 */
static int
read_pem(char **out, const char *flag, const char *path, const char *kind, char *err,
         size_t errlen)
{
    FILE *fp;
    struct stat st;
    char *buf, *begin;
    size_t n;

    *out = NULL;
    if ((fp = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "--%s %s: cannot read: %s", flag, path, strerror(errno));
        return -AG_EINVAL;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (size_t)st.st_size > TLS_MAX_PEM) {
        snprintf(err, errlen, "--%s %s: not a PEM file (empty, not a regular file or over 1 MiB)",
                 flag, path);
        fclose(fp);
        return -AG_EINVAL;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        fclose(fp);
        return -AG_ENOMEM;
    }
    n = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    buf[n] = '\0';
    begin = strstr(buf, "-----BEGIN ");
    if (begin == NULL || strstr(begin, kind) == NULL || strstr(begin, "-----END ") == NULL) {
        snprintf(err, errlen, "--%s %s: no PEM %s in it", flag, path,
                 strcmp(kind, "CERTIFICATE") == 0 ? "certificate" : "private key");
        free(buf);
        return -AG_EINVAL;
    }
    *out = buf;
    return 0;
}

/*
 * Whether the first certificate of `cert` and the key `key` (PEM) parse and
 * belong together (mbedTLS, under nng, accepts any pair and fails only at the
 * handshake). 0, or -AG_EINVAL with the reason.
 */
static int
check_pair(const struct tls_flags *f, const char *cert, const char *key, char *err, size_t errlen)
{
    BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"") : NULL;
    int rv = 0;

    if (x == NULL) {
        snprintf(err, errlen, "--tls_cert %s: not a valid PEM certificate", f->cert);
        rv = -AG_EINVAL;
    } else if (k == NULL) {
        snprintf(err, errlen, "--tls_key %s: not a valid unencrypted PEM private key", f->key);
        rv = -AG_EINVAL;
    } else if (X509_check_private_key(x, k) != 1) {
        snprintf(err, errlen,
                 "--tls_key %s does not belong to the certificate of --tls_cert %s (does the key "
                 "belong to the certificate?)",
                 f->key, f->cert);
        rv = -AG_EINVAL;
    }
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    return rv;
}

/* Loads --tls_cert and --tls_key into `cfg`. */
static int
load_own(nng_tls_config *cfg, const struct tls_flags *f, char *err, size_t errlen)
{
    char *cert = NULL, *key = NULL;
    int rv;

    if ((rv = read_pem(&cert, "tls_cert", f->cert, "CERTIFICATE", err, errlen)) != 0 ||
        (rv = read_pem(&key, "tls_key", f->key, "PRIVATE KEY", err, errlen)) != 0 ||
        (rv = check_pair(f, cert, key, err, errlen)) != 0)
        goto out;
    if ((rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
        snprintf(err, errlen,
                 "--tls_cert %s, --tls_key %s: not a usable certificate and key (%s; does the "
                 "key belong to the certificate?)",
                 f->cert, f->key, nng_strerror(rv));
        rv = rv == NNG_ENOMEM ? -AG_ENOMEM : -AG_EINVAL;
    }
out:
    free(cert);
    if (key != NULL) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return rv;
}

/* Loads the CA file `path` (of flag `flag`) into `cfg`. */
static int
load_ca(nng_tls_config *cfg, const char *flag, const char *path, char *err, size_t errlen)
{
    char *ca = NULL;
    int rv;

    if ((rv = read_pem(&ca, flag, path, "CERTIFICATE", err, errlen)) != 0)
        return rv;
    if ((rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
        snprintf(err, errlen, "--%s %s: not usable CA certificates (%s)", flag, path,
                 nng_strerror(rv));
        rv = rv == NNG_ENOMEM ? -AG_ENOMEM : -AG_EINVAL;
    }
    free(ca);
    return rv;
}

/* Hands `cfg` to *out when `rv` is 0, else frees it. Returns rv. */
static int
config_done(nng_tls_config **out, nng_tls_config *cfg, int rv)
{
    if (rv == 0)
        *out = cfg;
    else
        nng_tls_config_free(cfg);
    return rv;
}

int
tls_server_config(nng_tls_config **out, const struct tls_flags *f, char *err, size_t errlen)
{
    nng_tls_config *cfg;
    int rv;

    *out = NULL;
    if ((rv = tls_check(f, true, err, errlen)) != 0)
        return rv;
    if (!tls_serving(f)) {
        snprintf(err, errlen, "no --tls_cert and --tls_key given");
        return -AG_EINVAL;
    }
    if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0) {
        snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
        return -AG_ENOMEM;
    }
    if ((rv = load_own(cfg, f, err, errlen)) != 0 ||
        (f->verify_peer && (rv = load_ca(cfg, "tls_ca", f->ca, err, errlen)) != 0))
        goto fail;
    rv = nng_tls_config_auth_mode(cfg, f->verify_peer ? NNG_TLS_AUTH_MODE_REQUIRED
                                                      : NNG_TLS_AUTH_MODE_NONE);
    if (rv != 0) {
        snprintf(err, errlen, "TLS: cannot set the authentication mode: %s", nng_strerror(rv));
        rv = -AG_EINVAL;
    }
fail:
    return config_done(out, cfg, rv);
}

int
tls_server_check(const struct tls_flags *f, char *err, size_t errlen)
{
    nng_tls_config *cfg;
    int rv;

    if (f == NULL || (!tls_serving(f) && !f->required && !f->verify_peer && !given(f->key)))
        return 0;
    if ((rv = tls_server_config(&cfg, f, err, errlen)) == 0)
        nng_tls_config_free(cfg);
    return rv;
}

int
tls_client_config(nng_tls_config **out, const struct tls_flags *f, const char *server_name,
                  char *err, size_t errlen)
{
    nng_tls_config *cfg;
    int rv;

    *out = NULL;
    if ((rv = tls_check(f, false, err, errlen)) != 0)
        return rv;
    if (server_name == NULL || server_name[0] == '\0') {
        snprintf(err, errlen, "TLS: no server name to verify");
        return -AG_EINVAL;
    }
    if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0) {
        snprintf(err, errlen, "TLS: %s", nng_strerror(rv));
        return -AG_ENOMEM;
    }
    if (f != NULL && given(f->ca))
        rv = load_ca(cfg, "tls_ca", f->ca, err, errlen);
    else
        rv = load_ca(cfg, "tls_ca (not given: the system's CAs)", TLS_SYSTEM_CA, err, errlen);
    if (rv != 0 || (tls_serving(f) && (rv = load_own(cfg, f, err, errlen)) != 0))
        goto fail;
    if ((rv = nng_tls_config_server_name(cfg, server_name)) != 0 ||
        (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
        snprintf(err, errlen, "TLS: cannot set server name '%s': %s", server_name,
                 nng_strerror(rv));
        rv = -AG_EINVAL;
    }
fail:
    return config_done(out, cfg, rv);
}
