/*
 * Error codes shared by every Agora module. Functions return 0 on success and
 * a negative AG_E* code on failure. nng, libuv, SQLite and errno values are
 * translated once, in their wrappers, by the ag_from_* helpers below.
 */
#ifndef AGORA_ERROR_H
#define AGORA_ERROR_H

enum {
    AG_OK = 0,
    AG_EINVAL = 1,     /* invalid argument or malformed input */
    AG_ENOMEM = 2,     /* out of memory */
    AG_ENOENT = 3,     /* no such object */
    AG_EEXIST = 4,     /* object already exists */
    AG_ERANGE = 5,     /* value or size out of range */
    AG_EPROTO = 6,     /* protocol violation or undecodable message */
    AG_EIO = 7,        /* I/O or system call failure */
    AG_ECLOSED = 8,    /* object or connection closed */
    AG_EAGAIN = 9,     /* try again later */
    AG_ETIMEDOUT = 10, /* operation timed out */
    AG_EPERM = 11,     /* not permitted (authentication, authorization) */
    AG_EVERSION = 12,  /* incompatible version */
    AG_EDB = 13,       /* database error */
    AG_ENOSPC = 14,    /* queue or buffer full */
    AG_ESTATE = 15,    /* operation not valid in the current state */
    AG_ERR_MAX
};

/* Returns a static, human readable text for an error code (negative or positive). */
const char *ag_strerror(int err);

/* Translate an nng error number (positive, NNG_E*) into a negative AG_E* code. */
int ag_from_nng(int nng_err);

/* Translate a libuv error (negative UV_E*) into a negative AG_E* code. */
int ag_from_uv(int uv_err);

/* Translate an errno value (positive) into a negative AG_E* code. */
int ag_from_errno(int err);

#endif
