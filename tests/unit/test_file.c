/*
 * common/file.h: atomic and durable files, and their use by db_open for a new
 * database. fsync and rename are interposed (this executable's definitions win
 * over libc's for the static agora-common), so each case sees the order of the
 * calls file_write_atomic makes, and can make an fsync fail.
 */
#define _GNU_SOURCE /* mkdtemp, RTLD_NEXT */
#include "test.h"

#include "db.h"
#include "error.h"
#include "file.h"
#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#define NTRACE 16

static char trace[NTRACE][2 * PATH_MAX + 16];
static int ntrace;
static bool tracing;
static int fail_fsync; /* errno the next fsync fails with (0: none) */

static void __attribute__((format(printf, 1, 2))) record(const char *fmt, ...)
{
    va_list ap;

    if (!tracing || ntrace >= NTRACE)
        return;
    va_start(ap, fmt);
    vsnprintf(trace[ntrace++], sizeof(trace[0]), fmt, ap);
    va_end(ap);
}

int
fsync(int fd)
{
    static int (*real)(int);
    char link[64], target[PATH_MAX];
    ssize_t n;

    if (real == NULL)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = '\0';
    record("fsync %s", target);
    if (tracing && fail_fsync != 0) {
        errno = fail_fsync;
        fail_fsync = 0;
        return -1;
    }
    return real(fd);
}

int
rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);

    if (real == NULL)
        real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    record("rename %s %s", from, to);
    return real(from, to);
}

static char dir[64];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agora-test-file-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    ntrace = 0;
    fail_fsync = 0;
    tracing = true;
}

static void
teardown(void)
{
    char p[128];

    tracing = false;
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(p), 0);
}

static void
check_trace(int i, const char *fmt, ...)
{
    char want[sizeof(trace[0])];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    CHECK(i < ntrace);
    CHECK_EQ_STR(trace[i], want);
}

static void
check_content(const char *path, const char *want)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    CHECK(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    CHECK(n >= 0);
    buf[n] = '\0';
    CHECK_EQ_STR(buf, want);
}

static bool
exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The file is fsynced before the rename, the directory after it, and nothing
 * else happens after the directory's fsync. */
static void
test_order(void)
{
    char path[128], tmp[128];
    struct stat sb;

    setup();
    snprintf(path, sizeof(path), "%s/status.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.status.json.tmp", dir);
    CHECK_EQ_INT(file_write_atomic(path, "{\"exit_code\":0}", 15, 0600, 0), 0);
    CHECK_EQ_INT(ntrace, 3);
    check_trace(0, "fsync %s", tmp);
    check_trace(1, "rename %s %s", tmp, path);
    check_trace(2, "fsync %s", dir);
    check_content(path, "{\"exit_code\":0}");
    CHECK(!exists(tmp));
    CHECK_EQ_INT(stat(path, &sb), 0);
    CHECK_EQ_INT(sb.st_mode & 0077, 0); /* 0600 less the umask */
    teardown();
}

/* An existing file is replaced whole; an empty content is allowed. */
static void
test_replace(void)
{
    char path[128];

    setup();
    snprintf(path, sizeof(path), "%s/task.pid", dir);
    CHECK_EQ_INT(file_write_atomic(path, "1234\n", 5, 0644, 0), 0);
    CHECK_EQ_INT(file_write_atomic(path, "56\n", 3, 0644, 0), 0);
    check_content(path, "56\n");
    CHECK_EQ_INT(file_write_atomic(path, NULL, 0, 0644, 0), 0);
    check_content(path, "");
    teardown();
}

/* FILE_NOSYNC: atomic, no fsync at all. */
static void
test_nosync(void)
{
    char path[128], tmp[128];

    setup();
    snprintf(path, sizeof(path), "%s/launch.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.launch.json.tmp", dir);
    CHECK_EQ_INT(file_write_atomic(path, "{}", 2, 0600, FILE_NOSYNC), 0);
    CHECK_EQ_INT(ntrace, 1);
    check_trace(0, "rename %s %s", tmp, path);
    check_content(path, "{}");
    teardown();
}

/* A failed fsync of the file: no rename, the old content stays, no
 * temporary file is left. */
static void
test_fsync_fails(void)
{
    char path[128], tmp[128];

    setup();
    snprintf(path, sizeof(path), "%s/status.json", dir);
    snprintf(tmp, sizeof(tmp), "%s/.status.json.tmp", dir);
    CHECK_EQ_INT(file_write_atomic(path, "old", 3, 0600, 0), 0);
    ntrace = 0;
    fail_fsync = EIO;
    CHECK_EQ_INT(file_write_atomic(path, "new", 3, 0600, 0), -AG_EIO);
    CHECK_EQ_INT(ntrace, 1);
    check_trace(0, "fsync %s", tmp);
    check_content(path, "old");
    CHECK(!exists(tmp));
    teardown();
}

static void
test_errors(void)
{
    char path[128], tmp[128], long_path[PATH_MAX + 8];

    setup();
    snprintf(path, sizeof(path), "%s/missing/x", dir);
    CHECK_EQ_INT(file_write_atomic(path, "x", 1, 0600, 0), -AG_ENOENT);
    snprintf(path, sizeof(path), "%s/", dir);
    CHECK_EQ_INT(file_write_atomic(path, "x", 1, 0600, 0), -AG_EINVAL);
    CHECK_EQ_INT(file_write_atomic(NULL, "x", 1, 0600, 0), -AG_EINVAL);
    snprintf(path, sizeof(path), "%s/x", dir);
    CHECK_EQ_INT(file_write_atomic(path, NULL, 1, 0600, 0), -AG_EINVAL);
    CHECK_EQ_INT(file_write_atomic(path, "x", 1, 0600, 0x100), -AG_EINVAL);
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    CHECK_EQ_INT(file_write_atomic(long_path, "x", 1, 0600, 0), -AG_ERANGE);
    /* The target is a directory: the rename fails, the temporary file goes. */
    snprintf(path, sizeof(path), "%s/d", dir);
    CHECK_EQ_INT(mkdir(path, 0700), 0);
    snprintf(tmp, sizeof(tmp), "%s/.d.tmp", dir);
    CHECK(file_write_atomic(path, "x", 1, 0600, 0) < 0);
    CHECK(!exists(tmp));
    CHECK_EQ_INT(ntrace, 2); /* fsync of the temporary file, the failed rename */
    teardown();
}

static void
test_sync_dir(void)
{
    char path[128];

    setup();
    snprintf(path, sizeof(path), "%s/anything", dir);
    CHECK_EQ_INT(file_sync_parent(path), 0);
    CHECK_EQ_INT(file_sync_dir(dir), 0);
    CHECK_EQ_INT(ntrace, 2);
    check_trace(0, "fsync %s", dir);
    check_trace(1, "fsync %s", dir);
    snprintf(path, sizeof(path), "%s/missing", dir);
    CHECK_EQ_INT(file_sync_dir(path), -AG_ENOENT);
    CHECK_EQ_INT(file_sync_parent(""), -AG_EINVAL);
    teardown();
}

/* Every directory from the file's up to the root. */
static void
test_ancestors(void)
{
    char a[128], b[128], path[160];

    setup();
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/a/b", dir);
    CHECK_EQ_INT(mkdir(a, 0700), 0);
    CHECK_EQ_INT(mkdir(b, 0700), 0);
    snprintf(path, sizeof(path), "%s/file", b);
    CHECK_EQ_INT(file_sync_ancestors(path), 0);
    CHECK_EQ_INT(ntrace, 5); /* /tmp/agora-test-file-X/a/b up to / */
    check_trace(0, "fsync %s", b);
    check_trace(1, "fsync %s", a);
    check_trace(2, "fsync %s", dir);
    check_trace(3, "fsync /tmp");
    check_trace(4, "fsync /");
    CHECK_EQ_INT(file_sync_ancestors(""), -AG_EINVAL);
    snprintf(path, sizeof(path), "%s/missing/file", dir);
    CHECK_EQ_INT(file_sync_ancestors(path), -AG_ENOENT);
    teardown();
}

/* db_open of a new database syncs the directories above it (SQLite syncs only
 * the database's own); opening it again syncs none. */
static void
test_db_new_file(void)
{
    static const struct db_migration migs[] = {{"t", "CREATE TABLE t (x INTEGER);"}};
    char a[128], b[128], path[160], err[256];
    struct db *db;
    bool above = false;

    setup();
    log_set_level(AG_LOG_ERROR);
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/a/b", dir);
    CHECK_EQ_INT(mkdir(a, 0700), 0);
    CHECK_EQ_INT(mkdir(b, 0700), 0);
    snprintf(path, sizeof(path), "%s/new.db", b);
    CHECK_EQ_INT(db_open(&db, path, migs, 1, 0, err, sizeof(err)), 0);
    db_close(db);
    for (int i = 0; i < ntrace; i++)
        if (strcmp(trace[i] + strlen("fsync "), a) == 0)
            above = true;
    CHECK(above);
    ntrace = 0;
    CHECK_EQ_INT(db_open(&db, path, migs, 1, 0, err, sizeof(err)), 0);
    db_close(db);
    for (int i = 0; i < ntrace; i++)
        CHECK(strcmp(trace[i] + strlen("fsync "), a) != 0);
    teardown();
}

/* file_mkdirs: the whole chain, existing directories, a file in the way, bad paths. */
static void
test_mkdirs(void)
{
    char p[128], file[128], big[PATH_MAX + 8];
    struct stat st;

    setup();
    snprintf(p, sizeof(p), "%s/a/b/c", dir);
    CHECK_EQ_INT(file_mkdirs(p, 0700), 0);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ_INT(file_mkdirs(p, 0700), 0);
    snprintf(file, sizeof(file), "%s/f", dir);
    CHECK_EQ_INT(file_write_atomic(file, "x", 1, 0600, FILE_NOSYNC), 0);
    snprintf(p, sizeof(p), "%s/f/g", dir);
    CHECK_EQ_INT(file_mkdirs(p, 0700), ag_from_errno(ENOTDIR));
    CHECK_EQ_INT(file_mkdirs("", 0700), -AG_EINVAL);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(file_mkdirs(big, 0700), -AG_ERANGE);
    teardown();
}

TEST_LIST(TEST_ENTRY(order), TEST_ENTRY(replace), TEST_ENTRY(nosync), TEST_ENTRY(fsync_fails),
          TEST_ENTRY(errors), TEST_ENTRY(sync_dir), TEST_ENTRY(ancestors),
          TEST_ENTRY(db_new_file), TEST_ENTRY(mkdirs));
TEST_MAIN()
