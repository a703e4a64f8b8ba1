#include "auth.h"

#include "error.h"

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

int
auth_read_credential(const char *path, char **principal, char **secret, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    const char *p, *s;

    *principal = *secret = NULL;
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
    if (*principal == NULL || *secret == NULL) {
        free(*principal);
        free(*secret);
        *principal = *secret = NULL;
        return -AG_ENOMEM;
    }
    return 0;
}
