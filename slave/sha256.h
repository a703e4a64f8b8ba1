/*
 * SHA-256 (FIPS 180-4), for image digests. Small and dependency-free so that
 * agora-executor, which runs once per container, does not load libcrypto.
 * Streaming: sha256_init, sha256_update (any number of times), sha256_final.
 */
#ifndef AGORA_SLAVE_SHA256_H
#define AGORA_SLAVE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the digest as 64 lowercase hex digits and a NUL into `hex`. */
void sha256_final(struct sha256 *s, char hex[65]);

/* One call: the digest of `len` bytes of `data`. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
