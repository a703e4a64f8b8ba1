#include "error.h"

#include <errno.h>
#include <nng/nng.h>
#include <uv.h>
#include <stdarg.h>
#include <stdio.h>

static const char *const ag_errors[AG_ERR_MAX] = {
#define AG_ERRNO_TEXT_(name, value, text) [value] = text,
    AG_ERRNO_MAP(AG_ERRNO_TEXT_)
#undef AG_ERRNO_TEXT_
};

const char *
ag_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err >= AG_ERR_MAX)
        return "unknown error";
    return ag_errors[err];
}

int
ag_from_nng(int e)
{
    switch (e) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        return -AG_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        return -AG_EINVAL;
    case NNG_EAGAIN:
        return -AG_EAGAIN;
    case NNG_ETIMEDOUT:
        return -AG_ETIMEDOUT;
    case NNG_ECLOSED:
    case NNG_ECONNSHUT:
    case NNG_ECONNRESET:
    case NNG_ECONNREFUSED:
        return -AG_ECLOSED;
    case NNG_EMSGSIZE:
        return -AG_ERANGE;
    case NNG_EPROTO:
        return -AG_EPROTO;
    case NNG_ENOENT:
        return -AG_ENOENT;
    case NNG_EPERM:
        return -AG_EPERM;
    default:
        return -AG_EIO;
    }
}

int
ag_from_uv(int e)
{
    switch (e) {
    case 0:
        return 0;
    case UV_ENOMEM:
        return -AG_ENOMEM;
    case UV_EINVAL:
        return -AG_EINVAL;
    case UV_ENOENT:
        return -AG_ENOENT;
    case UV_EEXIST:
        return -AG_EEXIST;
    case UV_EAGAIN:
        return -AG_EAGAIN;
    case UV_ETIMEDOUT:
        return -AG_ETIMEDOUT;
    case UV_EPERM:
    case UV_EACCES:
        return -AG_EPERM;
    default:
        return -AG_EIO;
    }
}

int
ag_from_errno(int e)
{
    switch (e) {
    case 0:
        return 0;
    case ENOMEM:
        return -AG_ENOMEM;
    case EINVAL:
        return -AG_EINVAL;
    case ENOENT:
        return -AG_ENOENT;
    case EEXIST:
        return -AG_EEXIST;
    case ERANGE:
        return -AG_ERANGE;
    case EAGAIN:
        return -AG_EAGAIN;
    case ETIMEDOUT:
        return -AG_ETIMEDOUT;
    case EPERM:
    case EACCES:
        return -AG_EPERM;
    case ENOSPC:
        return -AG_ENOSPC;
    default:
        return -AG_EIO;
    }
}

void
ag_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
