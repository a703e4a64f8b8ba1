/*
 * The inside of a container: what agora-executor's child does between fork()
 * and exec() of the task. Runs in a single-threaded child of the executor,
 * so it may only use what is safe after fork (no nng, no locks held).
 *
 * Order (each step only when the spec asks for it):
 *   1. unshare the mount, UTS, IPC and network namespaces (the pid namespace
 *      was unshared by the executor before the fork, so we are its PID 1);
 *      bring the private network's loopback up; set the hostname;
 *   2. make every mount private to the container (slave of the host's
 *      mounts when the task shares the host filesystem);
 *   3. with an image: a tmpfs on scratch_dir holding the writable layer and
 *      the overlay of the image's layers under it; a fresh /proc, a minimal /dev (tmpfs with null, zero, full,
 *      random, urandom, tty, a private devpts, shm), tmpfs /tmp, read-only
 *      /sys, /etc/hosts, /etc/hostname, /etc/resolv.conf, the sandbox bind-
 *      mounted at /mnt/mesos/sandbox; then pivot_root into it and detach the
 *      old root. Without an image but with a pid namespace: a fresh /proc over
 *      the host's, and the cgroup mounts made read-only;
 *   4. hardening: parts of /proc read-only or masked as Docker does;
 *   5. write one byte on ready_fd and wait for "go" on sync_fd: meanwhile the
 *      executor puts us into the container's cgroups. Joining only now keeps
 *      the setup above out of the container's cpu quota (a task with 0.01
 *      cpus would otherwise wait a CFS period for every millisecond of it);
 *   6. with a pid namespace we stay as a small init: fork the task, forward
 *      SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to its process
 *      group, reap every child, and when the task ends write its wait status
 *      (an int) to status_fd and exit, which makes the kernel kill whatever
 *      is left in the namespace. Without one the child is the task itself;
 *   7. the task: new session, stdio, cwd, capabilities reduced to Docker's
 *      default set (bounding, inheritable, ambient, effective, permitted),
 *      groups/gid/uid of the task's user, no_new_privs, default signal
 *      dispositions, exec.
 * Any failure writes one line of text to err_fd and exits 127; a successful
 * exec closes err_fd (O_CLOEXEC), which is how the executor knows the task
 * started.
 */
#ifndef AGORA_SLAVE_CONTAINER_INIT_H
#define AGORA_SLAVE_CONTAINER_INIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CINIT_SANDBOX_INSIDE "/mnt/mesos/sandbox"

struct cinit_spec {
    int ns_flags;         /* CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET */
    bool pid_ns;          /* we are PID 1 of a new pid namespace */
    bool mount_proc;      /* a fresh /proc (host filesystem) */
    const char *hostname; /* NULL: keep */
    /* Image root filesystem (nlayers == 0: the host's filesystem). */
    char *const *layers; /* lowest first */
    size_t nlayers;
    const char *scratch_dir;      /* an empty directory: tmpfs with the writable layer */
    const char *sandbox;          /* host path of the sandbox */
    char *const *readonly_mounts; /* made read-only (host filesystem) */
    size_t nreadonly;
    bool harden;      /* capabilities, no_new_privs, /proc masks */
    bool switch_user; /* apply uid/gid/groups */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    /* The task. */
    const char *file; /* looked up in envp's PATH */
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int stdout_fd, stderr_fd; /* stdin is /dev/null */
    int ready_fd, sync_fd, err_fd, status_fd;
};

/* Runs steps 1-7 in the forked child. Never returns. */
void cinit_run(const struct cinit_spec *s) __attribute__((noreturn));

#endif
