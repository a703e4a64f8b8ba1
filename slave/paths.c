#define _GNU_SOURCE
#include "paths.h"

#include "error.h"
#include "file.h"
#include "ids.h"

#include <dirent.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int __attribute__((format(printf, 3, 4)))
path_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            out[0] = '\0';
        return -AG_ERANGE;
    }
    return 0;
}

int
paths_mkdirs(const char *path, unsigned mode)
{
    return file_mkdirs(path, mode);
}

/* Creates the directory of flag --`flag` and its `subdirs`; its absolute path goes in `out`. */
static int
make_root(const char *flag, const char *dir, const char *const *subdirs, size_t nsub,
          char out[PATH_MAX], char *err, size_t errlen)
{
    char sub[PATH_MAX];
    int rv;

    out[0] = '\0';
    if (dir == NULL || *dir == '\0' || strlen(dir) >= PATH_MAX - 64) {
        snprintf(err, errlen, "bad --%s: empty or too long", flag);
        return -AG_EINVAL;
    }
    if ((rv = paths_mkdirs(dir, 0755)) != 0) {
        snprintf(err, errlen, "cannot create --%s %s: %s", flag, dir, strerror(errno));
        return rv;
    }
    if (realpath(dir, out) == NULL) {
        snprintf(err, errlen, "cannot resolve --%s %s: %s", flag, dir, strerror(errno));
        out[0] = '\0';
        return ag_from_errno(errno);
    }
    if (strlen(out) >= PATH_MAX - 64) {
        snprintf(err, errlen, "--%s %s is too long", flag, out);
        out[0] = '\0';
        return -AG_ERANGE;
    }
    for (size_t i = 0; i < nsub; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", out, subdirs[i]);
        if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s (in --%s): %s", sub, flag, strerror(errno));
            out[0] = '\0';
            return ag_from_errno(errno);
        }
    }
    return 0;
}

int
paths_init(struct paths *p, const char *work_dir, char *err, size_t errlen)
{
    char sub[PATH_MAX];
    static const char *const dirs[] = {"meta", "meta/containers", "sandboxes", "trash"};
    int rv;

    memset(p, 0, sizeof(*p));
    if ((rv = make_root("work_dir", work_dir, dirs, sizeof(dirs) / sizeof(dirs[0]), p->work_dir,
                        err, errlen)) != 0)
        return rv;
    snprintf(sub, sizeof(sub), "%s/sandboxes", p->work_dir);
    if (realpath(sub, p->sandboxes) == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", sub, strerror(errno));
        return ag_from_errno(errno);
    }
    snprintf(p->containers, sizeof(p->containers), "%s/meta/containers", p->work_dir);
    snprintf(p->runtime_trash, sizeof(p->runtime_trash), "%s/trash", p->work_dir);
    return 0;
}

int
paths_set_runtime_dir(struct paths *p, const char *runtime_dir, char *err, size_t errlen)
{
    static const char *const dirs[] = {"containers", "trash"};
    int rv;

    if ((rv = make_root("runtime_dir", runtime_dir, dirs, 2, p->runtime_dir, err, errlen)) != 0)
        return rv;
    snprintf(p->containers, sizeof(p->containers), "%s/containers", p->runtime_dir);
    snprintf(p->runtime_trash, sizeof(p->runtime_trash), "%s/trash", p->runtime_dir);
    return 0;
}

int
paths_db(const struct paths *p, char *out, size_t len)
{
    return path_fmt(out, len, "%s/meta/agent.db", p->work_dir);
}

int
paths_sandbox(const struct paths *p, const char *framework_id, const char *task_id, char *out,
              size_t len)
{
    if (len > 0)
        out[0] = '\0';
    if (!ids_valid(framework_id) || !ids_valid(task_id))
        return -AG_EINVAL;
    return path_fmt(out, len, "%s/%s/%s", p->sandboxes, framework_id, task_id);
}

int
paths_trash(const struct paths *p, const char *path, char *out, size_t len)
{
    static unsigned seq;
    struct timespec ts;
    int rv;

    size_t rl = strlen(p->runtime_dir);
    bool runtime = rl > 0 && strncmp(path, p->runtime_dir, rl) == 0 && path[rl] == '/';

    clock_gettime(CLOCK_REALTIME, &ts);
    if (runtime)
        rv = path_fmt(out, len, "%s/%lld.%09ld.%d.%u", p->runtime_trash, (long long)ts.tv_sec,
                      ts.tv_nsec, (int)getpid(), seq++);
    else
        rv = path_fmt(out, len, "%s/trash/%lld.%09ld.%d.%u", p->work_dir, (long long)ts.tv_sec,
                      ts.tv_nsec, (int)getpid(), seq++);
    if (rv != 0)
        return rv;
    if (rename(path, out) != 0) {
        rv = errno == ENOENT ? -AG_ENOENT : ag_from_errno(errno);
        out[0] = '\0';
        return rv;
    }
    return 0;
}

int
paths_container(const struct paths *p, const char *container_id, char *out, size_t len)
{
    if (len > 0)
        out[0] = '\0';
    if (!ids_valid(container_id))
        return -AG_EINVAL;
    return path_fmt(out, len, "%s/%s", p->containers, container_id);
}

/* Removes the entries of the open directory `dfd` recursively, then closes it. */
static int
remove_dir_contents(int dfd)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rv = 0;

    if (d == NULL) {
        close(dfd);
        return -AG_EIO;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            continue;
        if (errno == EISDIR || errno == EPERM) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || remove_dir_contents(sub) != 0)
                rv = -AG_EIO;
            if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0)
                rv = -AG_EIO;
        } else if (errno != ENOENT) {
            rv = -AG_EIO;
        }
    }
    closedir(d);
    return rv;
}

int
paths_remove_tree(const char *path)
{
    int dfd, rv;

    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -AG_EIO;
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -AG_EIO;
    rv = remove_dir_contents(dfd);
    if (rmdir(path) != 0 && errno != ENOENT)
        rv = -AG_EIO;
    return rv;
}

int
paths_resolve_sandbox_file(const struct paths *p, const char *path, char *out, size_t len)
{
    char joined[PATH_MAX], real[PATH_MAX];
    size_t n = strlen(p->sandboxes);
    int rv;

    if (len > 0)
        out[0] = '\0';
    if (path == NULL || *path == '\0')
        return -AG_EINVAL;
    if (path[0] == '/')
        rv = path_fmt(joined, sizeof(joined), "%s", path);
    else
        rv = path_fmt(joined, sizeof(joined), "%s/%s", p->sandboxes, path);
    if (rv != 0)
        return rv;
    if (realpath(joined, real) == NULL)
        return errno == ENAMETOOLONG ? -AG_ERANGE : -AG_ENOENT;
    if (strncmp(real, p->sandboxes, n) != 0 || (real[n] != '\0' && real[n] != '/'))
        return -AG_EPERM;
    return path_fmt(out, len, "%s", real);
}

int
paths_open_sandbox_file(const struct paths *p, const char *path, int flags, int *fd, char *real,
                        size_t len)
{
    struct open_how how;
    size_t n = strlen(p->sandboxes);
    const char *rel;
    int root, rv;

    *fd = -1;
    if ((rv = paths_resolve_sandbox_file(p, path, real, len)) != 0)
        return rv;
    rel = real[n] == '/' ? real + n + 1 : ".";
    if ((root = open(p->sandboxes, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -AG_EIO;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    *fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
    if (*fd < 0 && errno == ENOSYS)
        *fd = openat(root, rel, flags | O_CLOEXEC | O_NOFOLLOW);
    if (*fd >= 0)
        rv = 0;
    else if (errno == EXDEV || errno == ELOOP)
        rv = -AG_EPERM;
    else if (errno == ENOTDIR)
        rv = -AG_EINVAL;
    else
        rv = -AG_ENOENT;
    close(root);
    return rv;
}
