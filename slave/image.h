/*
 * Container images: turns an image reference into a stack of unpacked layer
 * directories for an overlay mount, and the image's configuration. Used by
 * agora-executor before it starts a task with an image (filesystem/linux).
 *
 * References (a path on the agent's machine, optionally pinned):
 *   PATH                 an OCI image layout directory (oci-layout, index.json,
 *                        blobs/; what `skopeo copy ... oci:PATH` writes), or a
 *                        tar archive of one (`oci-archive:`), or a `docker save`
 *                        archive (manifest.json with Config and Layers), or a
 *                        plain root filesystem tarball (anything else)
 *   PATH@sha256:HEX      the same, with the manifest (OCI), the config (docker
 *                        save) or the tarball itself (rootfs) required to have
 *                        that digest
 *
 * Cache (CACHE is the agent's <work_dir>/images):
 *   CACHE/layers/sha256-HEX/   one unpacked layer, keyed by its digest (the
 *                              blob's for OCI, the uncompressed tar's diff_id for
 *                              docker save, the tarball's for a rootfs); OCI
 *                              whiteouts converted to overlayfs ones
 *   CACHE/refs/KEY.json        for archives: the layers and config found in the
 *                              archive with this path, inode, size and mtime
 *   CACHE/tmp/, CACHE/locks/   unpacking in progress; flock()ed lock files
 * A layer is unpacked once, into CACHE/tmp, then renamed into place, under a
 * lock, so concurrent executors wait for each other instead of racing. Every
 * blob is checked against its digest before it is used for the first time.
 * Layers and refs are durable before they are used (a layer's tree is flushed
 * before its rename, the directory after; refs through file_write_atomic).
 * Unpacking runs GNU tar (compressed layers: gzip, zstd by tar's own detection).
 *
 * Not thread-safe (the executor is single-threaded). Functions return 0 or a
 * negative AG_E* code with a sentence for the task's status message in `err`.
 */
#ifndef AGORA_SLAVE_IMAGE_H
#define AGORA_SLAVE_IMAGE_H

#include <stddef.h>

struct img {
    char **layers; /* unpacked layer directories, lowest first */
    size_t nlayers;
    char **env; /* the config's Env ("K=V"), may be empty */
    size_t nenv;
    char **entrypoint; /* the config's Entrypoint and Cmd */
    size_t nentrypoint;
    char **cmd;
    size_t ncmd;
    char *workdir;   /* "" when the config has none */
    char digest[80]; /* what the reference resolved to ("sha256:HEX") */
};

/*
 * Resolves `ref` into `out` (zeroed first; release with img_free, also after a
 * failure), unpacking what the cache lacks into `cache_dir` (created if
 * missing). Returns 0; -AG_ENOENT (no such image, no matching manifest),
 * -AG_EINVAL (not an image, corrupt JSON, digest mismatch), -AG_EIO (unpacking
 * failed), -AG_ENOMEM.
 */
int img_prepare(const char *ref, const char *cache_dir, struct img *out, char *err, size_t errlen);

/* Frees what `m` holds and zeroes it. Accepts NULL. */
void img_free(struct img *m);

/* sha256 of the file at `path` as 64 hex digits (+NUL) in `hex`. */
int img_sha256_file(const char *path, char hex[65]);

#endif
