/*
 * Agora's error codes: the one list, shared by the public API
 * (<agora/scheduler.h>, <agora/plugin.h>) and every module of Agora itself
 * (common/error.h includes this header).
 *
 * Functions return 0 on success and the negative of one of these codes on
 * failure; ag_strerror names them. AG_ERRNO_MAP(XX) expands XX(NAME, VALUE,
 * TEXT) once per code, in the style of libuv's UV_ERRNO_MAP, so that a program
 * can build its own tables (names, exit codes, translations) from the list:
 *
 *     #define NAME_CASE(name, value, text) case AG_##name: return #name;
 *     switch (-err) { AG_ERRNO_MAP(NAME_CASE) default: return "?"; }
 *
 * ABI: the values are part of the ABI of libagora-scheduler. A code is never
 * renumbered or removed; new codes are added at the end with the next value.
 */
#ifndef AGORA_PUBLIC_ERROR_H
#define AGORA_PUBLIC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * NAME       meaning
 * OK         success
 * EINVAL     invalid argument or malformed input
 * ENOMEM     out of memory
 * ENOENT     no such object
 * EEXIST     object already exists
 * ERANGE     value or size out of range
 * EPROTO     protocol violation or undecodable message
 * EIO        I/O or system call failure
 * ECLOSED    object or connection closed (a stopped driver, not connected to the master)
 * EAGAIN     try again later
 * ETIMEDOUT  operation timed out
 * EPERM      not permitted (authentication, authorization)
 * EVERSION   incompatible version
 * EDB        database error
 * ENOSPC     queue or buffer full
 * ESTATE     operation not valid in the current state
 */
#define AG_ERRNO_MAP(XX)                                                                           \
    XX(OK, 0, "success")                                                                           \
    XX(EINVAL, 1, "invalid argument")                                                              \
    XX(ENOMEM, 2, "out of memory")                                                                 \
    XX(ENOENT, 3, "not found")                                                                     \
    XX(EEXIST, 4, "already exists")                                                                \
    XX(ERANGE, 5, "out of range")                                                                  \
    XX(EPROTO, 6, "protocol error")                                                                \
    XX(EIO, 7, "input/output error")                                                               \
    XX(ECLOSED, 8, "closed")                                                                       \
    XX(EAGAIN, 9, "try again")                                                                     \
    XX(ETIMEDOUT, 10, "timed out")                                                                 \
    XX(EPERM, 11, "not permitted")                                                                 \
    XX(EVERSION, 12, "incompatible version")                                                       \
    XX(EDB, 13, "database error")                                                                  \
    XX(ENOSPC, 14, "no space left in queue")                                                       \
    XX(ESTATE, 15, "invalid state for this operation")

#define AG_ERRNO_ENUM_(name, value, text) AG_##name = value,
enum { AG_ERRNO_MAP(AG_ERRNO_ENUM_) AG_ERR_MAX /* one past the largest code */ };
#undef AG_ERRNO_ENUM_

#if defined(AGORA_SCHEDULER_BUILD) && !defined(AG_API)
#define AG_API __attribute__((visibility("default")))
#elif !defined(AG_API)
#define AG_API
#endif

/* A static, human readable text for an error code (negative or positive);
 * "unknown error" for a value that is not in the list. */
AG_API const char *ag_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
