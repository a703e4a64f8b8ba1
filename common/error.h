/*
 * Error codes shared by every Agora module. Functions return 0 on success and
 * a negative AG_E* code on failure. nng, libuv, SQLite and errno values are
 * translated once, in their wrappers, by the ag_from_* helpers below.
 */
#ifndef AGORA_ERROR_H
#define AGORA_ERROR_H

#include <stddef.h>

/* The codes themselves (AG_OK, AG_EINVAL, ..., AG_ERR_MAX), their texts and
 * ag_strerror() are declared by the public header of libagora-scheduler, so
 * that the library's API and Agora's modules share one list (AG_ERRNO_MAP).
 * agora-common puts framework/include on its users' include path for it. */
#include <agora/error.h>

/* Translate an nng error number (positive, NNG_E*) into a negative AG_E* code. */
int ag_from_nng(int nng_err);

/* Translate a libuv error (negative UV_E*) into a negative AG_E* code. */
int ag_from_uv(int uv_err);

/* Translate an errno value (positive) into a negative AG_E* code. */
int ag_from_errno(int err);

/* Formats a message into the caller's error buffer `err` of `errlen` bytes
 * (truncated, always terminated); does nothing when err is NULL or errlen 0.
 * The one helper behind every `char *err, size_t errlen` out-parameter. */
void ag_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
