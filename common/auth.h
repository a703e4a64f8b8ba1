/*
 * Challenge-response authentication shared by master, agents and frameworks
 * (mechanism "AGORA-HMAC-SHA256"): the master sends a random nonce, the peer
 * answers HMAC-SHA256(secret, nonce), the master computes the same and
 * compares in constant time. The secret never crosses the wire.
 *
 * Credentials files (master --credentials, agent --credential) use the Mesos
 * JSON shape: {"credentials": [{"principal": "p", "secret": "s"}, ...]} for the
 * master, {"principal": "p", "secret": "s"} for a single peer credential.
 */
#ifndef AGORA_AUTH_H
#define AGORA_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_LEN 32
#define AUTH_PROOF_LEN 32

/* Fills `out` with `len` random bytes. 0 or -AG_EIO. */
int auth_nonce(uint8_t *out, size_t len);

/* out = HMAC-SHA256(secret, nonce). 0 or -AG_EIO. */
int auth_proof(const char *secret, const uint8_t *nonce, size_t nlen,
               uint8_t out[AUTH_PROOF_LEN]);

/* True when `proof` (len bytes) is the right proof of `secret` over `nonce`.
 * Compares in constant time. */
int auth_verify(const char *secret, const uint8_t *nonce, size_t nlen, const uint8_t *proof,
                size_t len);

/* Reads a single credential file into malloc'd *principal and *secret: JSON
 * {"principal": "p", "secret": "s"} or, as Mesos also reads it, the text
 * "p s" on the first line. 0, or -AG_EINVAL with a message in `err` (which
 * never holds the secret). */
int auth_read_credential(const char *path, char **principal, char **secret, char *err,
                         size_t errlen);

/* Reads a secret file (--secret_file): its first line, trailing blanks cut,
 * into malloc'd *secret. 0, or -AG_EINVAL with a message in `err` (which never
 * holds the secret). */
int auth_read_secret(const char *path, char **secret, char *err, size_t errlen);

#endif
