#define _GNU_SOURCE
#include "image.h"

#include "error.h"
#include "file.h"
#include "paths.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define IMG_JSON_MAX (16u << 20) /* index, manifest and config files at most */
#define IMG_MAX_LAYERS 128

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

struct ctx {
    const char *cache;
    const char *ref; /* as given, for messages */
    char *err;
    size_t errlen;
};

static int fail(struct ctx *x, int rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct ctx *x, int rv, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "image %s: %s", x->ref, msg);
    return rv;
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
img_free(struct img *m)
{
    if (m == NULL)
        return;
    strv_free(m->layers, m->nlayers);
    strv_free(m->env, m->nenv);
    strv_free(m->entrypoint, m->nentrypoint);
    strv_free(m->cmd, m->ncmd);
    free(m->workdir);
    memset(m, 0, sizeof(*m));
}

static int
strv_push(char ***v, size_t *n, const char *s)
{
    char **p = realloc(*v, (*n + 1) * sizeof(**v));

    if (p == NULL)
        return -AG_ENOMEM;
    *v = p;
    if ((p[*n] = strdup(s)) == NULL)
        return -AG_ENOMEM;
    (*n)++;
    return 0;
}

/* ---- hashing ---- */

static int
sha256_buf(const void *data, size_t len, char hex[65])
{
    sha256_hex(data, len, hex);
    return 0;
}

int
img_sha256_file(const char *path, char hex[65])
{
    struct sha256 h;
    unsigned char *buf;
    ssize_t n;
    int fd, rv = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ag_from_errno(errno);
    if ((buf = malloc(1 << 20)) == NULL) {
        close(fd);
        return -AG_ENOMEM;
    }
    sha256_init(&h);
    while ((n = read(fd, buf, 1 << 20)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rv = -AG_EIO;
            break;
        }
        sha256_update(&h, buf, (size_t)n);
    }
    if (rv == 0)
        sha256_final(&h, hex);
    free(buf);
    close(fd);
    return rv;
}

/* "sha256:HEX" -> HEX (64 lowercase hex digits). */
static bool
digest_hex(const char *digest, char hex[65])
{
    if (digest == NULL || strncmp(digest, "sha256:", 7) != 0 || strlen(digest + 7) != 64)
        return false;
    for (int i = 0; i < 64; i++) {
        char c = digest[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    memcpy(hex, digest + 7, 65);
    return true;
}

/* ---- files ---- */

static int
read_file(const char *path, char **out, size_t *len)
{
    struct stat st;
    char *buf;
    ssize_t n;
    size_t got = 0;
    int fd;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ag_from_errno(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > IMG_JSON_MAX) {
        close(fd);
        return -AG_ERANGE;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return -AG_ENOMEM;
    }
    while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/*
 * Loads the JSON file `path`, checking first that its sha256 is `want_hex`
 * when given. `what` names it in messages.
 */
static int
load_json(struct ctx *x, const char *path, const char *want_hex, const char *what, json_t **out)
{
    char *buf, hex[65];
    size_t len = 0;
    json_error_t jerr;
    int rv;

    *out = NULL;
    if ((rv = read_file(path, &buf, &len)) != 0)
        return fail(x, rv == -AG_ENOENT ? -AG_ENOENT : -AG_EINVAL, "cannot read the %s (%s): %s",
                    what, path, rv == -AG_ERANGE ? "not a file or too large" : ag_strerror(rv));
    if (want_hex != NULL) {
        if (sha256_buf(buf, len, hex) != 0 || strcmp(hex, want_hex) != 0) {
            free(buf);
            return fail(x, -AG_EINVAL,
                        "the %s does not match its digest sha256:%.12s... (corrupt or tampered "
                        "image)",
                        what, want_hex);
        }
    }
    *out = json_loadb(buf, len, 0, &jerr);
    free(buf);
    if (*out == NULL)
        return fail(x, -AG_EINVAL, "the %s is not valid JSON: %s (line %d)", what, jerr.text,
                    jerr.line);
    return 0;
}

static bool
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Takes an exclusive lock on CACHE/locks/NAME.lock; returns its fd. */
static int
lock_take(struct ctx *x, const char *name)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/locks/%s.lock", x->cache, name);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return fail(x, -AG_EIO, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return fail(x, -AG_EIO, "cannot lock %s: %s", path, strerror(errno));
        }
    }
    return fd;
}

/* Runs `tar -xf archive -C dest`; on failure puts tar's last words in err. */
static int
untar(struct ctx *x, const char *archive, const char *dest, const char *what)
{
    int pfd[2], status = 0;
    char out[2048], *line;
    size_t got = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) != 0)
        return fail(x, -AG_EIO, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return fail(x, -AG_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        dup2(pfd[1], 2);
        execlp("tar", "tar", "--extract", "--file", archive, "--directory", dest, "--numeric-owner",
               "--no-overwrite-dir", (char *)NULL);
        dprintf(2, "cannot run tar: %s\n", strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    for (;;) { /* keep the last words: tar's error comes at the end */
        if (got == sizeof(out) - 1) {
            memmove(out, out + sizeof(out) / 2, got - sizeof(out) / 2);
            got -= sizeof(out) / 2;
        }
        n = read(pfd[0], out + got, sizeof(out) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pfd[0]);
    out[got] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    while (got > 0 && out[got - 1] == '\n')
        out[--got] = '\0';
    /* The last two lines ("tar: Unexpected EOF in archive", "tar: Error is not
     * recoverable: exiting now"), joined. */
    line = strrchr(out, '\n');
    if (line != NULL) {
        char *prev;
        *line = '\0';
        prev = strrchr(out, '\n');
        return fail(x, -AG_EIO, "cannot unpack the %s: %s; %s", what, prev ? prev + 1 : out,
                    line + 1);
    }
    return fail(x, -AG_EIO, "cannot unpack the %s: %s", what, got ? out : "tar failed");
}

/* OCI whiteouts -> overlayfs: ".wh.NAME" becomes a 0/0 character device NAME,
 * ".wh..wh..opq" the trusted.overlay.opaque xattr of its directory. */
static int whiteout_errors;

static int
whiteout_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    char dir[PATH_MAX], target[PATH_MAX];

    (void)st;
    if (flag == FTW_DP || strncmp(base, ".wh.", 4) != 0)
        return 0;
    snprintf(dir, sizeof(dir), "%.*s", ftw->base > 0 ? ftw->base - 1 : 0, path);
    if (unlink(path) != 0) {
        whiteout_errors++;
        return 0;
    }
    if (strcmp(base, ".wh..wh..opq") == 0) {
        if (setxattr(dir, "trusted.overlay.opaque", "y", 1, 0) != 0)
            whiteout_errors++;
        return 0;
    }
    snprintf(target, sizeof(target), "%s/%s", dir, base + 4);
    if (mknod(target, S_IFCHR | 0600, makedev(0, 0)) != 0 && errno != EEXIST)
        whiteout_errors++;
    return 0;
}

/*
 * Renames the unpacked tree `tmp` to `final` in CACHE/layers durably: the
 * tree is on disk before the rename (a cached layer is trusted as it is found,
 * so a power cut must not leave a layer under its final name with files
 * missing or empty) and the rename is before returning (refs name the layer
 * afterwards). One syncfs(2) of the cache's filesystem makes the whole tree
 * durable in one journal commit, where an fsync per file would take one per
 * file. Returns 0 or -AG_EIO with a message; on failure `tmp` may remain.
 */
static int
layer_install(struct ctx *x, const char *tmp, const char *final)
{
    int fd, rv;

    if ((fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return fail(x, -AG_EIO, "open %s: %s", tmp, strerror(errno));
    rv = syncfs(fd);
    close(fd);
    if (rv != 0)
        return fail(x, -AG_EIO, "syncfs %s: %s", tmp, strerror(errno));
    if (rename(tmp, final) != 0)
        return fail(x, -AG_EIO, "rename %s: %s", tmp, strerror(errno));
    if ((rv = file_sync_parent(final)) != 0)
        return fail(x, -AG_EIO, "fsync the directory of %s: %s", final, ag_strerror(rv));
    return 0;
}

/*
 * Makes sure layer `key_hex` is unpacked in the cache from `blob`, whose sha256
 * must be `verify_hex` (NULL: not checked). Appends its directory to m->layers.
 */
static int
layer_ensure(struct ctx *x, struct img *m, const char *key_hex, const char *blob,
             const char *verify_hex, bool whiteouts, const char *what)
{
    char final[PATH_MAX], tmp[PATH_MAX], hex[65];
    int lock, rv = 0;

    if (m->nlayers >= IMG_MAX_LAYERS)
        return fail(x, -AG_ERANGE, "more than %d layers", IMG_MAX_LAYERS);
    snprintf(final, sizeof(final), "%s/layers/sha256-%s", x->cache, key_hex);
    if (is_dir(final))
        return strv_push(&m->layers, &m->nlayers, final);
    if ((lock = lock_take(x, key_hex)) < 0)
        return lock;
    if (is_dir(final))
        goto out;
    if (verify_hex != NULL) {
        if ((rv = img_sha256_file(blob, hex)) != 0) {
            rv = fail(x, rv == -AG_ENOENT ? -AG_ENOENT : -AG_EIO, "cannot read the %s (%s): %s",
                      what, blob, ag_strerror(rv));
            goto out;
        }
        if (strcmp(hex, verify_hex) != 0) {
            rv = fail(x, -AG_EINVAL,
                      "the %s does not match its digest: expected sha256:%.12s..., found "
                      "sha256:%.12s... (corrupt or tampered image)",
                      what, verify_hex, hex);
            goto out;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s/tmp/%s.%d", x->cache, key_hex, (int)getpid());
    paths_remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) {
        rv = fail(x, -AG_EIO, "mkdir %s: %s", tmp, strerror(errno));
        goto out;
    }
    if ((rv = untar(x, blob, tmp, what)) != 0) {
        paths_remove_tree(tmp);
        goto out;
    }
    whiteout_errors = 0;
    if (whiteouts && nftw(tmp, whiteout_cb, 32, FTW_DEPTH | FTW_PHYS) == 0 && whiteout_errors) {
        paths_remove_tree(tmp);
        rv = fail(x, -AG_EIO, "cannot convert %d whiteouts of the %s", whiteout_errors, what);
        goto out;
    }
    if ((rv = layer_install(x, tmp, final)) != 0)
        paths_remove_tree(tmp);
out:
    close(lock);
    if (rv == 0)
        rv = strv_push(&m->layers, &m->nlayers, final);
    return rv;
}

/* ---- image configuration ---- */

static int
strs_from_json(json_t *arr, char ***v, size_t *n)
{
    size_t i;
    json_t *e;

    if (!json_is_array(arr))
        return 0;
    json_array_foreach(arr, i, e)
    {
        if (json_is_string(e) && strv_push(v, n, json_string_value(e)) != 0)
            return -AG_ENOMEM;
    }
    return 0;
}

/* Takes Env, Entrypoint, Cmd and WorkingDir from an image config document. */
static int
config_apply(struct img *m, json_t *doc)
{
    json_t *c = json_object_get(doc, "config");
    const char *wd;
    int rv;

    if (!json_is_object(c))
        c = json_object_get(doc, "container_config");
    wd = json_string_value(json_object_get(c, "WorkingDir"));
    if ((m->workdir = strdup(wd ? wd : "")) == NULL)
        return -AG_ENOMEM;
    if ((rv = strs_from_json(json_object_get(c, "Env"), &m->env, &m->nenv)) != 0 ||
        (rv = strs_from_json(json_object_get(c, "Entrypoint"), &m->entrypoint, &m->nentrypoint)) !=
            0 ||
        (rv = strs_from_json(json_object_get(c, "Cmd"), &m->cmd, &m->ncmd)) != 0)
        return rv;
    return 0;
}

/* ---- OCI image layout ---- */

static const char *
runtime_arch(void)
{
    static struct utsname u;

    if (uname(&u) != 0)
        return "amd64";
    if (strcmp(u.machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    return u.machine;
}

static bool
platform_ok(json_t *desc)
{
    json_t *p = json_object_get(desc, "platform");
    const char *os, *arch;

    if (!json_is_object(p))
        return true;
    os = json_string_value(json_object_get(p, "os"));
    arch = json_string_value(json_object_get(p, "architecture"));
    return (os == NULL || strcmp(os, "linux") == 0) &&
           (arch == NULL || strcmp(arch, runtime_arch()) == 0);
}

/* Picks the image manifest descriptor from an index (descending into nested
 * indexes); `pin` (hex or NULL) selects by digest. Returns a new reference. */
static int
pick_manifest(struct ctx *x, const char *dir, json_t *index, const char *pin, int depth,
              json_t **out)
{
    json_t *list = json_object_get(index, "manifests"), *d;
    size_t i;
    int rv;

    *out = NULL;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(x, -AG_EINVAL, "the index lists no manifests");
    json_array_foreach(list, i, d)
    {
        const char *mt = json_string_value(json_object_get(d, "mediaType"));
        char hex[65], path[PATH_MAX];
        json_t *sub;

        if (!digest_hex(json_string_value(json_object_get(d, "digest")), hex))
            return fail(x, -AG_EINVAL, "manifest %zu has no valid sha256 digest", i);
        if (mt != NULL && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0)) {
            if (depth > 2)
                return fail(x, -AG_EINVAL, "indexes nested too deep");
            snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
            if ((rv = load_json(x, path, hex, "nested index", &sub)) != 0)
                return rv;
            rv = pick_manifest(x, dir, sub, pin && strcmp(pin, hex) == 0 ? NULL : pin, depth + 1,
                               out);
            json_decref(sub);
            if (rv != -AG_ENOENT)
                return rv;
            x->err[0] = '\0';
            continue;
        }
        if (pin != NULL && strcmp(pin, hex) != 0)
            continue;
        if (!platform_ok(d))
            continue;
        *out = json_incref(d);
        return 0;
    }
    if (pin != NULL)
        return fail(x, -AG_ENOENT, "no manifest with digest sha256:%s", pin);
    return fail(x, -AG_ENOENT, "no manifest for linux/%s", runtime_arch());
}

static int
oci_dir(struct ctx *x, const char *dir, const char *pin, struct img *m)
{
    char path[PATH_MAX], hex[65], what[64];
    json_t *index = NULL, *desc = NULL, *manifest = NULL, *config = NULL, *layers, *l;
    size_t i;
    int rv;

    snprintf(path, sizeof(path), "%s/index.json", dir);
    if ((rv = load_json(x, path, NULL, "index (index.json)", &index)) != 0)
        goto out;
    if ((rv = pick_manifest(x, dir, index, pin, 0, &desc)) != 0)
        goto out;
    digest_hex(json_string_value(json_object_get(desc, "digest")), hex);
    snprintf(m->digest, sizeof(m->digest), "sha256:%s", hex);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
    if ((rv = load_json(x, path, hex, "manifest", &manifest)) != 0)
        goto out;
    if (!digest_hex(
            json_string_value(json_object_get(json_object_get(manifest, "config"), "digest")),
            hex)) {
        rv = fail(x, -AG_EINVAL, "the manifest has no valid config digest");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
    if ((rv = load_json(x, path, hex, "config", &config)) != 0)
        goto out;
    if ((rv = config_apply(m, config)) != 0)
        goto out;
    layers = json_object_get(manifest, "layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0) {
        rv = fail(x, -AG_EINVAL, "the manifest lists no layers");
        goto out;
    }
    json_array_foreach(layers, i, l)
    {
        if (!digest_hex(json_string_value(json_object_get(l, "digest")), hex)) {
            rv = fail(x, -AG_EINVAL, "layer %zu has no valid sha256 digest", i);
            goto out;
        }
        snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, hex);
        snprintf(what, sizeof(what), "layer %zu (sha256:%.12s)", i, hex);
        if ((rv = layer_ensure(x, m, hex, path, hex, true, what)) != 0)
            goto out;
    }
out:
    json_decref(index);
    json_decref(desc);
    json_decref(manifest);
    json_decref(config);
    return rv;
}

/* ---- docker save ---- */

/* A path inside the archive directory that stays inside it. */
static int
inner_path(struct ctx *x, const char *dir, const char *rel, char *out, size_t len)
{
    if (rel == NULL || rel[0] == '/' || strstr(rel, "..") != NULL)
        return fail(x, -AG_EINVAL, "manifest.json names a bad path '%s'", rel ? rel : "");
    snprintf(out, len, "%s/%s", dir, rel);
    return 0;
}

static int
docker_dir(struct ctx *x, const char *dir, const char *pin, struct img *m)
{
    char path[PATH_MAX], hex[65], cfg_hex[65], what[64];
    json_t *manifest = NULL, *entry = NULL, *config = NULL, *layers, *diff_ids, *e;
    size_t i;
    int rv;

    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    if ((rv = load_json(x, path, NULL, "manifest (manifest.json)", &manifest)) != 0)
        goto out;
    if (!json_is_array(manifest) || json_array_size(manifest) == 0) {
        rv = fail(x, -AG_EINVAL, "manifest.json lists no images");
        goto out;
    }
    json_array_foreach(manifest, i, e)
    {
        const char *cfg = json_string_value(json_object_get(e, "Config"));
        if ((rv = inner_path(x, dir, cfg, path, sizeof(path))) != 0)
            goto out;
        if ((rv = img_sha256_file(path, cfg_hex)) != 0) {
            rv = fail(x, -AG_EINVAL, "cannot read the config %s: %s", cfg, ag_strerror(rv));
            goto out;
        }
        if (pin == NULL || strcmp(pin, cfg_hex) == 0) {
            entry = e;
            break;
        }
    }
    if (entry == NULL) {
        rv = fail(x, -AG_ENOENT, "no image with config digest sha256:%s", pin);
        goto out;
    }
    snprintf(m->digest, sizeof(m->digest), "sha256:%s", cfg_hex);
    if ((rv = load_json(x, path, cfg_hex, "config", &config)) != 0 ||
        (rv = config_apply(m, config)) != 0)
        goto out;
    layers = json_object_get(entry, "Layers");
    diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (!json_is_array(layers) || json_array_size(layers) == 0 ||
        json_array_size(layers) != json_array_size(diff_ids)) {
        rv = fail(x, -AG_EINVAL, "the layers of manifest.json do not match the config's diff_ids");
        goto out;
    }
    json_array_foreach(layers, i, e)
    {
        if ((rv = inner_path(x, dir, json_string_value(e), path, sizeof(path))) != 0)
            goto out;
        if (!digest_hex(json_string_value(json_array_get(diff_ids, i)), hex)) {
            rv = fail(x, -AG_EINVAL, "diff_id %zu is not a sha256 digest", i);
            goto out;
        }
        snprintf(what, sizeof(what), "layer %zu (sha256:%.12s)", i, hex);
        if ((rv = layer_ensure(x, m, hex, path, hex, true, what)) != 0)
            goto out;
    }
out:
    json_decref(manifest);
    json_decref(config);
    return rv;
}

/* ---- archives: cached by path, inode, size and mtime ---- */

static int
ref_save(struct ctx *x, const char *key, const struct img *m)
{
    char path[PATH_MAX], *text;
    json_t *root = json_object(), *layers = json_array(), *cfg = json_object(), *arr;
    int rv = 0;

    for (size_t i = 0; i < m->nlayers; i++) {
        const char *base = strrchr(m->layers[i], '/');
        json_array_append_new(layers, json_string(base ? base + 1 : m->layers[i]));
    }
    json_object_set_new(root, "digest", json_string(m->digest));
    json_object_set_new(root, "layers", layers);
    arr = json_array();
    for (size_t i = 0; i < m->nenv; i++)
        json_array_append_new(arr, json_string(m->env[i]));
    json_object_set_new(cfg, "Env", arr);
    arr = json_array();
    for (size_t i = 0; i < m->nentrypoint; i++)
        json_array_append_new(arr, json_string(m->entrypoint[i]));
    json_object_set_new(cfg, "Entrypoint", arr);
    arr = json_array();
    for (size_t i = 0; i < m->ncmd; i++)
        json_array_append_new(arr, json_string(m->cmd[i]));
    json_object_set_new(cfg, "Cmd", arr);
    json_object_set_new(cfg, "WorkingDir", json_string(m->workdir ? m->workdir : ""));
    json_object_set_new(root, "config", cfg);
    snprintf(path, sizeof(path), "%s/refs/%s.json", x->cache, key);
    /* Durable (file.h): the layers it names are (layer_install). One writer:
     * the caller holds the key's lock. */
    if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
        rv = -AG_ENOMEM;
    else if (file_write_atomic(path, text, strlen(text), 0666, 0) != 0)
        rv = -AG_EIO;
    free(text);
    json_decref(root);
    return rv;
}

/* Fills `m` from a cached ref; false when it is missing or stale. */
static bool
ref_load(struct ctx *x, const char *key, struct img *m)
{
    char path[PATH_MAX];
    json_t *root, *layers, *e;
    json_error_t jerr;
    size_t i;
    bool ok = true;

    snprintf(path, sizeof(path), "%s/refs/%s.json", x->cache, key);
    if ((root = json_load_file(path, 0, &jerr)) == NULL)
        return false;
    layers = json_object_get(root, "layers");
    snprintf(m->digest, sizeof(m->digest), "%s",
             json_string_value(json_object_get(root, "digest")) ?: "");
    if (!json_is_array(layers) || json_array_size(layers) == 0 || config_apply(m, root) != 0)
        ok = false;
    json_array_foreach(layers, i, e)
    {
        const char *name = json_string_value(e);
        if (!ok || name == NULL || strchr(name, '/') != NULL) {
            ok = false;
            break;
        }
        snprintf(path, sizeof(path), "%s/layers/%s", x->cache, name);
        if (!is_dir(path) || strv_push(&m->layers, &m->nlayers, path) != 0)
            ok = false;
    }
    json_decref(root);
    if (!ok)
        img_free(m);
    return ok;
}

static int
archive(struct ctx *x, const char *file, const struct stat *st, const char *pin, struct img *m)
{
    char real[PATH_MAX], keysrc[PATH_MAX + 128], key[65], tmp[PATH_MAX], probe[PATH_MAX];
    char hex[65];
    int lock, rv;

    if (realpath(file, real) == NULL)
        return fail(x, -AG_ENOENT, "%s", strerror(errno));
    snprintf(keysrc, sizeof(keysrc), "%s\n%llu\n%llu\n%lld\n%lld.%09ld\n%s", real,
             (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, pin ? pin : "");
    sha256_buf(keysrc, strlen(keysrc), key);
    if (ref_load(x, key, m))
        return 0;
    if ((lock = lock_take(x, key)) < 0)
        return lock;
    if (ref_load(x, key, m)) {
        close(lock);
        return 0;
    }
    if ((rv = img_sha256_file(file, hex)) != 0) {
        close(lock);
        return fail(x, -AG_EIO, "cannot read %s: %s", file, ag_strerror(rv));
    }
    snprintf(tmp, sizeof(tmp), "%s/tmp/archive-%s.%d", x->cache, key, (int)getpid());
    paths_remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) {
        close(lock);
        return fail(x, -AG_EIO, "mkdir %s: %s", tmp, strerror(errno));
    }
    if ((rv = untar(x, file, tmp, "archive")) != 0)
        goto out;
    snprintf(probe, sizeof(probe), "%s/index.json", tmp);
    if (access(probe, F_OK) == 0) {
        rv = oci_dir(x, tmp, pin, m);
        goto save;
    }
    snprintf(probe, sizeof(probe), "%s/manifest.json", tmp);
    if (access(probe, F_OK) == 0) {
        rv = docker_dir(x, tmp, pin, m);
        goto save;
    }
    snprintf(probe, sizeof(probe), "%s/oci-layout", tmp);
    if (access(probe, F_OK) == 0 ||
        (snprintf(probe, sizeof(probe), "%s/blobs", tmp), access(probe, F_OK) == 0)) {
        rv = fail(x, -AG_EINVAL, "an OCI archive without index.json (cut short?)");
        goto out;
    }
    /* A plain root filesystem: the unpacked archive is the one layer. */
    if (pin != NULL && strcmp(pin, hex) != 0) {
        rv = fail(x, -AG_EINVAL,
                  "the tarball does not match the digest asked for: expected sha256:%.12s..., "
                  "found sha256:%.12s...",
                  pin, hex);
        goto out;
    }
    snprintf(m->digest, sizeof(m->digest), "sha256:%s", hex);
    if ((m->workdir = strdup("")) == NULL) {
        rv = -AG_ENOMEM;
        goto out;
    }
    snprintf(probe, sizeof(probe), "%s/layers/sha256-%s", x->cache, hex);
    if (!is_dir(probe) && (rv = layer_install(x, tmp, probe)) != 0) {
        if (!is_dir(probe)) /* else another executor put it there first */
            goto out;
        x->err[0] = '\0';
    }
    rv = strv_push(&m->layers, &m->nlayers, probe);
save:
    if (rv == 0 && ref_save(x, key, m) != 0)
        rv = fail(x, -AG_EIO, "cannot write to the image cache %s/refs", x->cache);
out:
    paths_remove_tree(tmp);
    close(lock);
    return rv;
}

int
img_prepare(const char *ref, const char *cache_dir, struct img *m, char *err, size_t errlen)
{
    struct ctx x = {.cache = cache_dir, .ref = ref, .err = err, .errlen = errlen};
    char path[PATH_MAX], pin_hex[65], *at, probe[PATH_MAX + 16];
    const char *pin = NULL;
    struct stat st;
    int rv;

    memset(m, 0, sizeof(*m));
    err[0] = '\0';
    if (ref == NULL || ref[0] == '\0' || strlen(ref) >= sizeof(path))
        return fail(&x, -AG_EINVAL, "empty or too long");
    snprintf(path, sizeof(path), "%s", ref);
    if ((at = strrchr(path, '@')) != NULL && strncmp(at + 1, "sha256:", 7) == 0) {
        if (!digest_hex(at + 1, pin_hex))
            return fail(&x, -AG_EINVAL, "bad digest '%s' (expected sha256:<64 hex digits>)",
                        at + 1);
        *at = '\0';
        pin = pin_hex;
    }
    if (path[0] != '/')
        return fail(&x, -AG_EINVAL, "an image is an absolute path on the agent's machine");
    if (stat(path, &st) != 0)
        return fail(&x, -AG_ENOENT, "%s", strerror(errno));
    for (const char *sub = "layers\0refs\0tmp\0locks\0"; *sub; sub += strlen(sub) + 1) {
        snprintf(probe, sizeof(probe), "%s/%s", cache_dir, sub);
        if ((rv = paths_mkdirs(probe, 0700)) != 0)
            return fail(&x, rv, "cannot create the image cache %s: %s", probe, ag_strerror(rv));
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(probe, sizeof(probe), "%s/index.json", path);
        if (access(probe, F_OK) == 0)
            rv = oci_dir(&x, path, pin, m);
        else if (snprintf(probe, sizeof(probe), "%s/manifest.json", path), access(probe, F_OK) == 0)
            rv = docker_dir(&x, path, pin, m);
        else
            rv = fail(&x, -AG_EINVAL,
                      "a directory that is not an OCI image layout (no index.json) nor a docker "
                      "save (no manifest.json)");
    } else if (S_ISREG(st.st_mode)) {
        rv = archive(&x, path, &st, pin, m);
    } else {
        rv = fail(&x, -AG_EINVAL, "neither a directory nor a file");
    }
    if (rv != 0)
        img_free(m);
    return rv;
}
