/* Atomic and durable files. See file.h. */
#include "file.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
file_sync_dir(const char *dir)
{
    int fd, rv = 0;

    do {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ag_from_errno(errno);
    if (fsync(fd) != 0)
        rv = ag_from_errno(errno);
    close(fd);
    return rv;
}

/* Splits `path` into its directory (into `dir`) and returns its last
 * component, or NULL when the path has no file name or is too long. */
static const char *
split(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    size_t n;

    if (slash == NULL) {
        snprintf(dir, dirlen, ".");
        return path[0] != '\0' ? path : NULL;
    }
    n = slash == path ? 1 : (size_t)(slash - path); /* "/x": the root */
    if (n >= dirlen)
        return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return slash[1] != '\0' ? slash + 1 : NULL;
}

int
file_sync_parent(const char *path)
{
    char dir[PATH_MAX];

    if (path[0] == '\0')
        return -AG_EINVAL;
    if (strlen(path) >= sizeof(dir))
        return -AG_ERANGE;
    split(path, dir, sizeof(dir));
    return file_sync_dir(dir);
}

int
file_sync_ancestors(const char *path)
{
    char dir[PATH_MAX], abs[PATH_MAX];
    int rv = 0, r;

    if (path == NULL || path[0] == '\0')
        return -AG_EINVAL;
    if (strlen(path) >= sizeof(dir))
        return -AG_ERANGE;
    split(path, dir, sizeof(dir));
    if (realpath(dir, abs) == NULL)
        return ag_from_errno(errno);
    for (;;) {
        char *slash = strrchr(abs, '/');

        if ((r = file_sync_dir(abs)) != 0 && rv == 0)
            rv = r;
        if (slash == NULL || (slash == abs && abs[1] == '\0'))
            break;
        slash[slash == abs ? 1 : 0] = '\0'; /* "/x" becomes "/" */
    }
    return rv;
}

/* Writes all of `data` to `fd`. */
static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int
file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, int flags)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *name;
    bool sync = !(flags & FILE_NOSYNC);
    int fd, err = 0;

    if (path == NULL || (data == NULL && len > 0) || (flags & ~FILE_NOSYNC) != 0)
        return -AG_EINVAL;
    if (strlen(path) >= sizeof(dir))
        return -AG_ERANGE;
    if ((name = split(path, dir, sizeof(dir))) == NULL)
        return -AG_EINVAL;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp))
        return -AG_ERANGE;
    do {
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return ag_from_errno(errno);
    err = write_all(fd, data, len);
    if (err == 0 && sync && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return ag_from_errno(err);
    }
    return sync ? file_sync_dir(dir) : 0;
}

int
file_mkdirs(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n == 0)
        return -AG_EINVAL;
    if (n >= sizeof(buf))
        return -AG_ERANGE;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
            return ag_from_errno(errno);
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
        return ag_from_errno(errno);
    return 0;
}
