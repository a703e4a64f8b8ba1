/*
 * The layout of an agent's --work_dir, in one place:
 *
 *   <work_dir>/meta/agent.db                        checkpoint (state.h)
 *   <work_dir>/meta/containers/<container_id>/      one per launched task, owned by the agent
 *       launch.json   what agora-executor runs (written by the containerizer)
 *       task.pid      the task's pid (written by agora-executor)
 *       status.json   how the task ended (written by agora-executor)
 *       executor.log  agora-executor's own stderr
 *   <work_dir>/sandboxes/<framework_id>/<task_id>/  the task's working directory
 *       stdout, stderr, and whatever the task writes
 *   <work_dir>/trash/                               directories being removed
 *   <work_dir>/images/                              unpacked image layers (image.h)
 *
 * With --runtime_dir=DIR (paths_set_runtime_dir), the containers' metadata
 * moves to DIR/containers/<container_id>/ (and its removals to DIR/trash/):
 * it must survive an agent restart but not a reboot, so a tmpfs fits, and
 * there every launch is spared the disk inodes of its metadata files.
 *
 * Container metadata lives outside the sandbox so that a task cannot forge its
 * own outcome. Every id that goes into a path is checked with ids_valid() first,
 * so ids from the network never climb out of the work directory.
 *
 * All functions return 0 or a negative AG_E* code; path outputs are NUL
 * terminated and left empty on failure.
 */
#ifndef AGORA_SLAVE_PATHS_H
#define AGORA_SLAVE_PATHS_H

#include <limits.h>
#include <stddef.h>

struct paths {
    char work_dir[PATH_MAX];      /* absolute, no trailing slash */
    char sandboxes[PATH_MAX];     /* <work_dir>/sandboxes, symlinks resolved */
    char runtime_dir[PATH_MAX];   /* --runtime_dir, absolute; "" = inside work_dir */
    char containers[PATH_MAX];    /* <runtime_dir>/containers or <work_dir>/meta/containers */
    char runtime_trash[PATH_MAX]; /* <runtime_dir>/trash or <work_dir>/trash */
};

/*
 * Creates `work_dir` (and its parents), meta/, meta/containers/ and sandboxes/
 * when missing, and fills `p` with their absolute paths. Returns 0, -AG_EINVAL
 * (empty or too long), or the errno translation of a failed mkdir/realpath,
 * with a message in `err`.
 */
int paths_init(struct paths *p, const char *work_dir, char *err, size_t errlen);

/*
 * Moves container metadata to `runtime_dir`: creates it (and its parents),
 * containers/ and trash/ when missing. Returns 0 or as paths_init. Call it
 * right after paths_init, before anything uses the container paths.
 */
int paths_set_runtime_dir(struct paths *p, const char *runtime_dir, char *err, size_t errlen);

/* <work_dir>/meta/agent.db */
int paths_db(const struct paths *p, char *out, size_t len);

/* <work_dir>/sandboxes/<framework_id>/<task_id>. -AG_EINVAL for an invalid id,
 * -AG_ERANGE when the path is too long. */
int paths_sandbox(const struct paths *p, const char *framework_id, const char *task_id, char *out,
                  size_t len);

/* <containers>/<container_id> (see struct paths). Returns as paths_sandbox. */
int paths_container(const struct paths *p, const char *container_id, char *out, size_t len);

/* Moves `path` into <work_dir>/trash (<runtime_dir>/trash for a path inside the
 * runtime directory: a rename cannot cross filesystems) under a fresh name (in `out`), so that it
 * can be removed at leisure while its old name is free again. Returns 0,
 * -AG_ENOENT when `path` does not exist, or another errno translation. */
int paths_trash(const struct paths *p, const char *path, char *out, size_t len);

/* mkdir -p `path` with `mode` for the directories it creates: file_mkdirs
 * (common/file.h). Returns 0 or an errno translation (directories created
 * before a failure stay). */
int paths_mkdirs(const char *path, unsigned mode);

/* Removes `path` and everything below it without following symlinks. Returns 0
 * (also when `path` does not exist) or -AG_EIO when something could not be
 * removed (the rest is still removed). */
int paths_remove_tree(const char *path);

/*
 * Resolves `path` (absolute, or relative to the sandboxes directory) for the
 * /files endpoints: symlinks and ".." are resolved, and the result must lie
 * inside <work_dir>/sandboxes. Returns 0 with the real path in `out`,
 * -AG_ENOENT when it does not exist, -AG_EPERM when it lies outside the
 * sandboxes, -AG_EINVAL for an empty path, -AG_ERANGE when too long.
 */
int paths_resolve_sandbox_file(const struct paths *p, const char *path, char *out, size_t len);

/*
 * Resolves `path` as paths_resolve_sandbox_file does, then opens it with
 * `flags` (O_CLOEXEC added) without letting any component resolve outside the
 * sandboxes, even if a task swaps a directory for a symlink in between
 * (openat2 RESOLVE_BENEATH; O_NOFOLLOW where openat2 is missing). Returns 0
 * with the descriptor in *fd and the real path in `real`, or the codes of
 * paths_resolve_sandbox_file (-AG_EPERM also for an escape caught at open),
 * or -AG_EINVAL when O_DIRECTORY was asked for something else.
 */
int paths_open_sandbox_file(const struct paths *p, const char *path, int flags, int *fd, char *real,
                            size_t len);

#endif
