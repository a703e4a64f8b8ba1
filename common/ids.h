/*
 * Identifiers in the shapes Mesos uses. Each master run draws one random
 * UUID and numbers the objects it creates after it:
 *
 *   agent      <uuid>-S<n>      ids_new(out, uuid, "S", n)
 *   framework  <uuid>-<nnnn>    ids_format(out, sizeof(out), "%s-%04llu", uuid, n)
 *   offer      <uuid>-O<n>      ids_new(out, uuid, "O", n)
 *
 * Ids that arrive from the network may end up in file paths (sandbox and
 * checkpoint directories), so every such id must pass ids_valid() before use.
 */
#ifndef AGORA_IDS_H
#define AGORA_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_ID_MAX 64    /* bytes, including the terminating NUL */
#define IDS_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" without the NUL */

/* Writes a random (version 4, RFC 4122 variant) UUID in lowercase canonical
 * form into `out`, taking 16 bytes from getrandom(). Returns 0, or -AG_EIO
 * when the kernel gives no randomness (`out` then holds an empty string). */
int ids_new_uuid(char out[IDS_UUID_LEN + 1]);

/* True when `s` is a UUID in canonical 8-4-4-4-12 hex form (either case, any
 * version). */
bool ids_valid_uuid(const char *s);

/* True when `s` is a usable id: 1 to AG_ID_MAX - 1 characters, each one of
 * [A-Za-z0-9._-], and neither "." nor "..". Safe as one path component. */
bool ids_valid(const char *s);

/* snprintf() into `out` (`len` bytes), then checks the result with
 * ids_valid(). Returns 0; -AG_ERANGE when the text does not fit in `len` or
 * in AG_ID_MAX; -AG_EINVAL when it contains characters ids_valid() refuses.
 * On failure `out` holds an empty string. */
int ids_format(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Builds "<base>-<tag><n>" (e.g. "<uuid>-S3" for base "<uuid>", tag "S",
 * n 3) into `out`. Returns as ids_format(). */
int ids_new(char out[AG_ID_MAX], const char *base, const char *tag, uint64_t n);

#endif
