#define _GNU_SOURCE /* mkdtemp */
#include "test.h"

#include "error.h"
#include "paths.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char work[128];

static void
setup(struct paths *p)
{
    char err[256];

    snprintf(dir, sizeof(dir), "/tmp/agora-test-paths-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(work, sizeof(work), "%s/a/b/work", dir);
    CHECK_EQ_INT(paths_init(p, work, err, sizeof(err)), 0);
}

static void
teardown(void)
{
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
    CHECK(access(dir, F_OK) != 0);
}

static void
touch(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void
test_layout(void)
{
    struct paths p;
    char out[PATH_MAX], expect[PATH_MAX];
    struct stat sb;

    setup(&p);
    CHECK_EQ_STR(p.work_dir, work);
    snprintf(expect, sizeof(expect), "%s/meta/containers", work);
    CHECK(stat(expect, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK_EQ_INT(paths_db(&p, out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/meta/agent.db", work);
    CHECK_EQ_STR(out, expect);
    CHECK_EQ_INT(paths_sandbox(&p, "fw-0001", "web.1", out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/sandboxes/fw-0001/web.1", work);
    CHECK_EQ_STR(out, expect);
    CHECK_EQ_INT(paths_container(&p, "c1", out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/meta/containers/c1", work);
    CHECK_EQ_STR(out, expect);
    /* Initialising again over an existing layout works. */
    {
        struct paths q;
        char err[256];
        CHECK_EQ_INT(paths_init(&q, work, err, sizeof(err)), 0);
    }
    teardown();
}

/* --runtime_dir: container metadata and its trash move there; the rest stays. */
static void
test_runtime_dir(void)
{
    struct paths p;
    char out[PATH_MAX], expect[PATH_MAX], rt[PATH_MAX], err[256], meta[PATH_MAX];
    struct stat sb;

    setup(&p);
    snprintf(rt, sizeof(rt), "%s/run/agora", dir);
    CHECK_EQ_INT(paths_set_runtime_dir(&p, rt, err, sizeof(err)), 0);
    CHECK_EQ_STR(p.runtime_dir, rt);
    snprintf(expect, sizeof(expect), "%s/containers", rt);
    CHECK(stat(expect, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK_EQ_INT(paths_container(&p, "c1", meta, sizeof(meta)), 0);
    snprintf(expect, sizeof(expect), "%s/containers/c1", rt);
    CHECK_EQ_STR(meta, expect);
    CHECK_EQ_INT(paths_db(&p, out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/meta/agent.db", work);
    CHECK_EQ_STR(out, expect); /* the checkpoint stays in the work directory */
    CHECK_EQ_INT(paths_sandbox(&p, "fw", "t", out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/sandboxes/fw/t", work);
    CHECK_EQ_STR(out, expect);

    /* Metadata goes to the runtime trash, a sandbox to the work directory's. */
    CHECK_EQ_INT(mkdir(meta, 0755), 0);
    CHECK_EQ_INT(paths_trash(&p, meta, out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/trash/", rt);
    CHECK(strncmp(out, expect, strlen(expect)) == 0);
    CHECK(access(meta, F_OK) != 0 && access(out, F_OK) == 0);
    CHECK_EQ_INT(paths_mkdirs(p.sandboxes, 0755), 0);
    snprintf(meta, sizeof(meta), "%s/fw", p.sandboxes);
    CHECK_EQ_INT(mkdir(meta, 0755), 0);
    CHECK_EQ_INT(paths_trash(&p, meta, out, sizeof(out)), 0);
    snprintf(expect, sizeof(expect), "%s/trash/", work);
    CHECK(strncmp(out, expect, strlen(expect)) == 0);

    /* A prefix that is not a parent directory does not count. */
    snprintf(meta, sizeof(meta), "%s-x", rt);
    CHECK_EQ_INT(mkdir(meta, 0755), 0);
    CHECK_EQ_INT(paths_trash(&p, meta, out, sizeof(out)), 0);
    CHECK(strncmp(out, expect, strlen(expect)) == 0);

    CHECK_EQ_INT(paths_set_runtime_dir(&p, "", err, sizeof(err)), -AG_EINVAL);
    snprintf(out, sizeof(out), "%s/file", dir);
    touch(out, "x");
    CHECK(paths_set_runtime_dir(&p, out, err, sizeof(err)) < 0); /* not a directory */
    CHECK(strstr(err, "--runtime_dir") != NULL);
    teardown();
}

static void
test_bad_ids(void)
{
    struct paths p;
    char out[PATH_MAX], longid[200];
    const char *bad[] = {"", ".", "..", "a/b", "../x", "a b", "x\n", "/abs"};

    setup(&p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_EQ_INT(paths_sandbox(&p, bad[i], "t", out, sizeof(out)), -AG_EINVAL);
        CHECK_EQ_STR(out, "");
        CHECK_EQ_INT(paths_sandbox(&p, "fw", bad[i], out, sizeof(out)), -AG_EINVAL);
        CHECK_EQ_INT(paths_container(&p, bad[i], out, sizeof(out)), -AG_EINVAL);
    }
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    CHECK_EQ_INT(paths_sandbox(&p, "fw", longid, out, sizeof(out)), -AG_EINVAL);
    CHECK_EQ_INT(paths_sandbox(&p, "fw", "t", out, 10), -AG_ERANGE);
    {
        struct paths q;
        char err[256];
        CHECK_EQ_INT(paths_init(&q, "", err, sizeof(err)), -AG_EINVAL);
    }
    teardown();
}

static void
test_resolve(void)
{
    struct paths p;
    char sb[PATH_MAX], file[PATH_MAX + 64], out[PATH_MAX], link[PATH_MAX + 64], outside[PATH_MAX];
    int fd;

    setup(&p);
    CHECK_EQ_INT(paths_sandbox(&p, "fw", "t1", sb, sizeof(sb)), 0);
    CHECK_EQ_INT(paths_mkdirs(sb, 0755), 0);
    snprintf(file, sizeof(file), "%s/stdout", sb);
    touch(file, "hello\n");
    snprintf(outside, sizeof(outside), "%s/secret", dir);
    touch(outside, "secret\n");

    /* Inside: absolute and relative to the sandboxes directory. */
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, file, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, file);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "fw/t1/stdout", out, sizeof(out)), 0);
    CHECK_EQ_STR(out, file);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, p.sandboxes, out, sizeof(out)), 0);
    /* Missing: 404. */
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "fw/t1/nope", out, sizeof(out)), -AG_ENOENT);
    /* Outside: .., the checkpoint, other absolute paths, escaping symlinks. */
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "fw/t1/../../../meta/agent.db", out, sizeof(out)),
                 -AG_ENOENT); /* no db yet: missing wins */
    snprintf(link, sizeof(link), "%s/../../..", sb);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, link, out, sizeof(out)), -AG_EPERM);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "../meta", out, sizeof(out)), -AG_EPERM);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "/etc/passwd", out, sizeof(out)), -AG_EPERM);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, outside, out, sizeof(out)), -AG_EPERM);
    snprintf(link, sizeof(link), "%s/escape", sb);
    CHECK_EQ_INT(symlink(outside, link), 0);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, link, out, sizeof(out)), -AG_EPERM);
    CHECK_EQ_INT(paths_open_sandbox_file(&p, link, O_RDONLY, &fd, out, sizeof(out)), -AG_EPERM);
    CHECK_EQ_INT(fd, -1);
    /* A symlink that stays inside is fine. */
    snprintf(link, sizeof(link), "%s/inside", sb);
    CHECK_EQ_INT(symlink("stdout", link), 0);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, link, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, file);
    CHECK_EQ_INT(paths_open_sandbox_file(&p, link, O_RDONLY, &fd, out, sizeof(out)), 0);
    {
        char buf[16] = {0};
        CHECK_EQ_INT(read(fd, buf, sizeof(buf) - 1), 6);
        CHECK_EQ_STR(buf, "hello\n");
        close(fd);
    }
    /* Directories: O_DIRECTORY on a file is -AG_EINVAL. */
    CHECK_EQ_INT(paths_open_sandbox_file(&p, sb, O_RDONLY | O_DIRECTORY, &fd, out, sizeof(out)), 0);
    close(fd);
    CHECK_EQ_INT(paths_open_sandbox_file(&p, file, O_RDONLY | O_DIRECTORY, &fd, out, sizeof(out)),
                 -AG_EINVAL);
    CHECK_EQ_INT(paths_resolve_sandbox_file(&p, "", out, sizeof(out)), -AG_EINVAL);
    teardown();
}

static void
test_remove_tree(void)
{
    struct paths p;
    char sub[PATH_MAX], f[PATH_MAX + 16], l[PATH_MAX + 16], keep[PATH_MAX];

    setup(&p);
    snprintf(keep, sizeof(keep), "%s/keep", dir);
    touch(keep, "x");
    snprintf(sub, sizeof(sub), "%s/x/y/z", work);
    CHECK_EQ_INT(paths_mkdirs(sub, 0700), 0);
    snprintf(f, sizeof(f), "%s/file", sub);
    touch(f, "data");
    /* A symlink to outside is removed, not followed. */
    snprintf(l, sizeof(l), "%s/link", sub);
    CHECK_EQ_INT(symlink(dir, l), 0);
    snprintf(sub, sizeof(sub), "%s/x", work);
    CHECK_EQ_INT(paths_remove_tree(sub), 0);
    CHECK(access(sub, F_OK) != 0);
    CHECK(access(keep, F_OK) == 0);
    CHECK_EQ_INT(paths_remove_tree(sub), 0); /* missing is fine */
    teardown();
}

TEST_LIST(TEST_ENTRY(layout), TEST_ENTRY(runtime_dir), TEST_ENTRY(bad_ids), TEST_ENTRY(resolve),
          TEST_ENTRY(remove_tree));
TEST_MAIN()
