#define _GNU_SOURCE /* mkdtemp, asprintf */
#include "test.h"

#include "error.h"
#include "image.h"
#include "paths.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char dir[64], cache[128];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/agora-test-img-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cache, sizeof(cache), "%s/cache", dir);
}

static void
teardown(void)
{
    CHECK_EQ_INT(paths_remove_tree(dir), 0);
}

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
}

static void
sh(const char *fmt, const char *arg)
{
    char *cmd;
    CHECK(asprintf(&cmd, fmt, arg, arg, arg) > 0);
    CHECK_EQ_INT(system(cmd), 0);
    free(cmd);
}

/* A directory with bin/hello and etc/gone, tarred into `tar`. */
static void
make_tar(const char *tar)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/src", dir);
    sh("rm -rf %s && mkdir -p %s/bin %s/etc", path);
    snprintf(path, sizeof(path), "%s/src/bin/hello", dir);
    write_file(path, "hello\n");
    snprintf(path, sizeof(path), "%s/src/etc/gone", dir);
    write_file(path, "gone\n");
    snprintf(path, sizeof(path), "tar -C %s/src -cf %s .", dir, tar);
    CHECK_EQ_INT(system(path), 0);
}

/* Moves `file` into the layout's blobs; its digest goes to `hex`. */
static void
to_blob(const char *layout, const char *file, char hex[65])
{
    char path[PATH_MAX];

    CHECK_EQ_INT(img_sha256_file(file, hex), 0);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, hex);
    CHECK_EQ_INT(rename(file, path), 0);
}

/* An OCI layout at DIR/oci: one layer (the tar above, plus a whiteout of
 * etc/gone in a second layer) and a config. */
static void
make_oci(const char *layout)
{
    char path[PATH_MAX], l1[65], l2[65], cfg[65], man[65], text[2048];

    snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
    CHECK_EQ_INT(paths_mkdirs(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/l1.tar", dir);
    make_tar(path);
    to_blob(layout, path, l1);
    snprintf(path, sizeof(path), "%s/wh", dir);
    sh("rm -rf %s && mkdir -p %s/etc && touch %s/etc/.wh.gone", path);
    snprintf(text, sizeof(text), "tar -C %s/wh -cf %s/l2.tar .", dir, dir);
    CHECK_EQ_INT(system(text), 0);
    snprintf(path, sizeof(path), "%s/l2.tar", dir);
    to_blob(layout, path, l2);
    snprintf(path, sizeof(path), "%s/config", dir);
    write_file(path, "{\"config\":{\"Env\":[\"A=1\"],\"Entrypoint\":[\"/bin/hello\"],"
                     "\"Cmd\":[\"x\"],\"WorkingDir\":\"/w\"}}");
    to_blob(layout, path, cfg);
    snprintf(
        text, sizeof(text),
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\"},\"layers\":["
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\"},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\"}]}",
        cfg, l1, l2);
    snprintf(path, sizeof(path), "%s/manifest", dir);
    write_file(path, text);
    to_blob(layout, path, man);
    snprintf(text, sizeof(text),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
             "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
             "\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x-not-us\"}},"
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"digest\":\"sha256:%s\"}]}",
             man, man);
    snprintf(path, sizeof(path), "%s/index.json", layout);
    write_file(path, text);
}

static void
test_bad_references(void)
{
    struct img m;
    char err[1024], path[PATH_MAX];

    setup();
    CHECK_EQ_INT(img_prepare("relative/path", cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "absolute path") != NULL);
    snprintf(path, sizeof(path), "%s/none.tar", dir);
    CHECK_EQ_INT(img_prepare(path, cache, &m, err, sizeof(err)), -AG_ENOENT);
    CHECK(strncmp(err, "image ", 6) == 0 && strstr(err, "No such file") != NULL);
    CHECK_EQ_INT(img_prepare(dir, cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "not an OCI image layout") != NULL);
    snprintf(path, sizeof(path), "%s@sha256:1234", dir);
    CHECK_EQ_INT(img_prepare(path, cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "bad digest") != NULL);
    /* Corrupt index.json. */
    snprintf(path, sizeof(path), "%s/bad", dir);
    CHECK_EQ_INT(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/bad/index.json", dir);
    write_file(path, "{\"manifests\": [");
    snprintf(path, sizeof(path), "%s/bad", dir);
    CHECK_EQ_INT(img_prepare(path, cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "not valid JSON") != NULL);
    img_free(&m);
    teardown();
}

static void
test_rootfs_tarball(void)
{
    struct img m;
    char err[1024], tar[PATH_MAX], path[PATH_MAX + 80], hex[65], pinned[PATH_MAX + 80];

    setup();
    snprintf(tar, sizeof(tar), "%s/rootfs.tar", dir);
    make_tar(tar);
    CHECK_EQ_INT(img_sha256_file(tar, hex), 0);
    CHECK_EQ_INT(img_prepare(tar, cache, &m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.nlayers, 1);
    snprintf(path, sizeof(path), "%s/layers/sha256-%s", cache, hex);
    CHECK_EQ_STR(m.layers[0], path);
    snprintf(path, sizeof(path), "%s/bin/hello", m.layers[0]);
    CHECK(access(path, F_OK) == 0);
    CHECK(strcmp(m.digest + 7, hex) == 0);
    img_free(&m);
    /* Cached: the layer is not unpacked again (a marker survives). */
    snprintf(path, sizeof(path), "%s/layers/sha256-%s/marker", cache, hex);
    write_file(path, "x");
    CHECK_EQ_INT(img_prepare(tar, cache, &m, err, sizeof(err)), 0);
    CHECK(access(path, F_OK) == 0);
    img_free(&m);
    /* Pinned to its digest, and to another one. */
    snprintf(pinned, sizeof(pinned), "%s@sha256:%s", tar, hex);
    CHECK_EQ_INT(img_prepare(pinned, cache, &m, err, sizeof(err)), 0);
    img_free(&m);
    snprintf(pinned, sizeof(pinned), "%s@sha256:%064d", tar, 7);
    CHECK_EQ_INT(img_prepare(pinned, cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "does not match the digest") != NULL);
    img_free(&m);
    teardown();
}

static void
test_oci_layout(void)
{
    struct img m;
    char err[1024], layout[PATH_MAX], path[PATH_MAX + 80];
    struct stat st;

    setup();
    snprintf(layout, sizeof(layout), "%s/oci", dir);
    make_oci(layout);
    CHECK_EQ_INT(img_prepare(layout, cache, &m, err, sizeof(err)), 0);
    CHECK_EQ_INT(m.nlayers, 2);
    CHECK_EQ_INT(m.nenv, 1);
    CHECK_EQ_STR(m.env[0], "A=1");
    CHECK_EQ_INT(m.nentrypoint, 1);
    CHECK_EQ_STR(m.entrypoint[0], "/bin/hello");
    CHECK_EQ_INT(m.ncmd, 1);
    CHECK_EQ_STR(m.workdir, "/w");
    /* The whiteout became an overlayfs one (a 0/0 character device, which
     * Linux >= 5.8 lets any user create; img_prepare fails without it). */
    snprintf(path, sizeof(path), "%s/etc/gone", m.layers[1]);
    CHECK_EQ_INT(lstat(path, &st), 0);
    CHECK(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    snprintf(path, sizeof(path), "%s/etc/.wh.gone", m.layers[1]);
    CHECK(access(path, F_OK) != 0);
    img_free(&m);
    teardown();
}

static void
test_oci_tampered(void)
{
    struct img m;
    char err[1024], layout[PATH_MAX], path[PATH_MAX + 200], cmd[6 * PATH_MAX + 512];
    int rv;

    setup();
    snprintf(layout, sizeof(layout), "%s/oci", dir);
    make_oci(layout);
    /* Every blob gets a byte more: the manifest is checked first. */
    snprintf(cmd, sizeof(cmd), "for f in %s/blobs/sha256/*; do printf x >> $f; done", layout);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(img_prepare(layout, cache, &m, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "manifest does not match its digest") != NULL);
    img_free(&m);
    /* An archive of the layout cut in the middle of its largest member's data,
     * wherever the directory order put it (a cut in zero padding would end the
     * archive quietly): tar fails. */
    snprintf(path, sizeof(path), "%s/oci.tar", dir);
    snprintf(cmd, sizeof(cmd),
             "tar -C %s -cf %s.full . && head -c \"$(python3 -c 'import sys, tarfile\n"
             "m = max(tarfile.open(sys.argv[1]).getmembers(), key=lambda m: m.size)\n"
             "print(m.offset_data + m.size // 2)' %s.full)\" %s.full > %s",
             layout, path, path, path, path);
    CHECK_EQ_INT(system(cmd), 0);
    rv = img_prepare(path, cache, &m, err, sizeof(err));
    CHECK_EQ_INT(rv, -AG_EIO);
    CHECK(strstr(err, "cannot unpack the archive") != NULL);
    img_free(&m);
    /* Nothing half-done stays in the cache. */
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls %s/tmp)\" && test -z \"$(ls %s/layers)\"", cache,
             cache);
    CHECK_EQ_INT(system(cmd), 0);
    teardown();
}

TEST_LIST(TEST_ENTRY(bad_references), TEST_ENTRY(rootfs_tarball), TEST_ENTRY(oci_layout),
          TEST_ENTRY(oci_tampered));
TEST_MAIN()
