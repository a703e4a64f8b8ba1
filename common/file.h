/*
 * Files that another component (or a restart of the same daemon) acts on:
 * written atomically (a reader sees the old content or the new, never a part)
 * and durably (once the call returns, a power cut cannot take the new content
 * back).
 *
 * file_write_atomic(PATH, ...) does, in this order:
 *   1. open DIR/.NAME.tmp (created, truncated) and write the whole content;
 *   2. fsync it                        - the data is on disk;
 *   3. rename it to PATH               - readers see the new content at once;
 *   4. fsync DIR                       - the new name is on disk.
 * Only after 4 may the caller act on the file (tell another process, send a
 * message that depends on it). Steps 2 and 4 are skipped with FILE_NOSYNC, for
 * files read only during the current boot (their readers die with the machine).
 *
 * One writer per PATH at a time (the temporary name is fixed, so a crash
 * leaves at most one stale DIR/.NAME.tmp, overwritten by the next write).
 * These functions block on the disk: call them off a daemon's loop thread, or
 * where the wait is the point (before the dependent action).
 */
#ifndef AGORA_FILE_H
#define AGORA_FILE_H

#include <stddef.h>

/* file_write_atomic flags */
#define FILE_NOSYNC 0x1 /* atomic only: no fsync of the file nor of its directory */

/* Replaces `path` with `len` bytes of `data` (mode `mode` for a new file,
 * before the umask) as described above. Returns 0, or -AG_EINVAL (no file name
 * in `path`, unknown flags), -AG_ERANGE (path too long), or the errno
 * translation of the failed step. On failure `path` is unchanged (or, when only
 * the final fsync of the directory failed, already replaced but maybe not
 * durable) and the temporary file is removed. */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, int flags);

/* fsyncs the directory `dir`, so that the entries created, renamed or removed
 * in it so far survive a power cut. Returns 0 or an errno translation. */
int file_sync_dir(const char *dir);

/* fsyncs the directory that holds `path` ("." for a bare name). Returns as
 * file_sync_dir, -AG_EINVAL for an empty path, -AG_ERANGE for a too long one. */
int file_sync_parent(const char *path);

/* fsyncs every directory from the one that holds `path` up to the root, so
 * that directories just created on the way to `path` (mkdir -p) survive a
 * power cut with it. A relative `path` is resolved from the working
 * directory. Returns 0, -AG_EINVAL for an empty path, -AG_ERANGE for a too
 * long one, or the errno translation of the first failure (the directories
 * above it are still synced). */
int file_sync_ancestors(const char *path);

/* mkdir -p: creates `path` and the directories above it that are missing
 * (mode `mode` before the umask); existing ones are fine. Returns 0,
 * -AG_EINVAL for an empty path, -AG_ERANGE for a too long one, or the errno
 * translation of the mkdir that failed (errno is left set; the directories
 * created before it stay). Nothing is synced: see file_sync_ancestors. */
int file_mkdirs(const char *path, unsigned mode);

#endif
