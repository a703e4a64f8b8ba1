#include "auth.h"

#include "error.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int
auth_nonce(uint8_t *out, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = getrandom(out + done, len - done, 0);
        if (r <= 0)
            return -AG_EIO;
        done += (size_t)r;
    }
    return 0;
}

int
auth_proof(const char *secret, const uint8_t *nonce, size_t nlen, uint8_t out[AUTH_PROOF_LEN])
{
    unsigned int olen = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), nonce, nlen, out, &olen) == NULL ||
        olen != AUTH_PROOF_LEN)
        return -AG_EIO;
    return 0;
}

int
auth_verify(const char *secret, const uint8_t *nonce, size_t nlen, const uint8_t *proof,
            size_t len)
{
    uint8_t want[AUTH_PROOF_LEN];
    if (len != AUTH_PROOF_LEN || auth_proof(secret, nonce, nlen, want) != 0)
        return 0;
    return CRYPTO_memcmp(want, proof, AUTH_PROOF_LEN) == 0;
}

/* Reads up to `cap` - 1 bytes of `path` into `buf` (NUL-terminated). 0 or -AG_E*. */
static int
read_small_file(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -AG_EINVAL;
    }
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    if (!feof(f)) {
        snprintf(err, errlen, "%s: too large for a secret", path);
        fclose(f);
        return -AG_EINVAL;
    }
    fclose(f);
    return 0;
}

/* Wipes `n` bytes at `p` (a secret's copy) before it is freed or reused. */
static void
wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

int
auth_read_secret(const char *path, char **secret, char *err, size_t errlen)
{
    char buf[4096];
    size_t n;
    int rc;

    *secret = NULL;
    if ((rc = read_small_file(path, buf, sizeof(buf), err, errlen)) != 0)
        return rc;
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "%s: the first line holds no secret", path);
        rc = -AG_EINVAL;
    } else if ((*secret = strdup(buf)) == NULL) {
        rc = -AG_ENOMEM;
    }
    wipe(buf, sizeof(buf));
    return rc;
}

/* The text form of a credential, as Mesos reads it: "principal secret" on the
 * first line. 0 or -AG_EINVAL (err set). */
static int
parse_text_credential(const char *path, char *text, char **principal, char **secret, char *err,
                      size_t errlen)
{
    char *line = text, *p, *s, *end;

    line[strcspn(line, "\r\n")] = '\0';
    p = line + strspn(line, " \t");
    end = p + strcspn(p, " \t");
    s = end + strspn(end, " \t");
    if (*p == '\0' || *end == '\0' || *s == '\0') {
        snprintf(err, errlen,
                 "credential %s must be {\"principal\": \"...\", \"secret\": \"...\"} or "
                 "\"principal secret\"",
                 path);
        return -AG_EINVAL;
    }
    *end = '\0';
    for (size_t n = strlen(s); n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--)
        s[n - 1] = '\0';
    *principal = strdup(p);
    *secret = strdup(s);
    return 0;
}

int
auth_read_credential(const char *path, char **principal, char **secret, char *err,
                     size_t errlen)
{
    char text[4096];
    json_error_t jerr;
    json_t *root;
    const char *p, *s;
    int rc;

    *principal = *secret = NULL;
    if ((rc = read_small_file(path, text, sizeof(text), err, errlen)) != 0)
        return rc;
    if (text[strspn(text, " \t\r\n")] != '{') {
        rc = parse_text_credential(path, text, principal, secret, err, errlen);
        wipe(text, sizeof(text));
        if (rc != 0)
            return rc;
        goto done;
    }
    root = json_loads(text, 0, &jerr);
    wipe(text, sizeof(text));
    if (root == NULL) {
        snprintf(err, errlen, "cannot read credential %s: %s", path, jerr.text);
        return -AG_EINVAL;
    }
    p = json_string_value(json_object_get(root, "principal"));
    s = json_string_value(json_object_get(root, "secret"));
    if (p == NULL || s == NULL || *p == '\0') {
        snprintf(err, errlen,
                 "credential %s must be {\"principal\": \"...\", \"secret\": \"...\"}", path);
        json_decref(root);
        return -AG_EINVAL;
    }
    *principal = strdup(p);
    *secret = strdup(s);
    json_decref(root);
done:
    if (*principal == NULL || *secret == NULL) {
        free(*principal);
        free(*secret);
        *principal = *secret = NULL;
        return -AG_ENOMEM;
    }
    return 0;
}
