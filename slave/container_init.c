#define _GNU_SOURCE
#include "container_init.h"

#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Docker's default capability set. */
static const int default_caps[] = {
    CAP_CHOWN,      CAP_DAC_OVERRIDE, CAP_FOWNER,      CAP_FSETID,           CAP_KILL,
    CAP_SETGID,     CAP_SETUID,       CAP_SETPCAP,     CAP_NET_BIND_SERVICE, CAP_NET_RAW,
    CAP_SYS_CHROOT, CAP_MKNOD,        CAP_AUDIT_WRITE, CAP_SETFCAP,
};

static int err_fd = -1;

/* Reports a failure to the executor and exits. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (err_fd >= 0 && write(err_fd, msg, (size_t)n) < 0) {
        /* nobody to tell */
    }
    _exit(127);
}

static void
xmount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
    if (mount(src, dst, type, flags, data) != 0)
        die("mount %s on %s (%s): %s", src ? src : "none", dst, type ? type : "bind",
            strerror(errno));
}

/* Creates `path` and its missing parents (paths_mkdirs), or dies. */
static void
mkdir_p(const char *path, mode_t mode)
{
    if (paths_mkdirs(path, mode) != 0)
        die("mkdir %s: %s", path, strerror(errno)); /* errno of the mkdir that failed */
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    size_t len = strlen(text);

    if (fd < 0)
        return; /* e.g. an image without /etc: not fatal */
    if (write(fd, text, len) != (ssize_t)len) {
        /* best effort */
    }
    close(fd);
}

static void
loopback_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        die("socket: %s", strerror(errno));
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        die("loopback: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        die("bringing the loopback up: %s", strerror(errno));
    close(s);
}

/* A minimal /dev on a tmpfs at `dev`. */
static void
make_dev(const char *dev)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const struct {
        const char *name, *target;
    } links[] = {{"fd", "/proc/self/fd"},
                 {"stdin", "/proc/self/fd/0"},
                 {"stdout", "/proc/self/fd/1"},
                 {"stderr", "/proc/self/fd/2"},
                 {"ptmx", "pts/ptmx"}};
    char path[PATH_MAX];
    mode_t old = umask(0);

    xmount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) != 0)
            die("mknod %s: %s", path, strerror(errno));
    }
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, links[i].name);
        if (symlink(links[i].target, path) != 0)
            die("symlink %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/pts", dev);
    mkdir(path, 0755);
    xmount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    snprintf(path, sizeof(path), "%s/shm", dev);
    mkdir(path, 01777);
    xmount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
    snprintf(path, sizeof(path), "%s/mqueue", dev);
    mkdir(path, 0755);
    umask(old);
}

/* Overlay of the image, special filesystems, sandbox; then pivot_root. */
static void
enter_rootfs(const struct cinit_spec *s)
{
    char opts[16384], path[PATH_MAX], text[512], root[PATH_MAX], upper[PATH_MAX], work[PATH_MAX];
    size_t off;
    int fd;

    /*
     * The writable layer lives in a tmpfs mounted in this (private) mount
     * namespace: it goes away with the container, costs no disk inodes (on
     * ext4 without a journal, creating them after many deletions was most
     * of the launch time), and what the task writes there counts against its
     * memory limit. Bulk data belongs in the sandbox, which is on disk.
     */
    xmount("tmpfs", s->scratch_dir, "tmpfs", MS_NOSUID, "mode=0755");
    if ((size_t)snprintf(root, sizeof(root), "%s/root", s->scratch_dir) >= sizeof(root) - 64)
        die("the container's directory is too long: %s", s->scratch_dir);
    snprintf(upper, sizeof(upper), "%s/upper", s->scratch_dir);
    snprintf(work, sizeof(work), "%s/work", s->scratch_dir);
    if (mkdir(root, 0755) != 0 || mkdir(upper, 0755) != 0 || mkdir(work, 0700) != 0)
        die("mkdir in %s: %s", s->scratch_dir, strerror(errno));

    off = (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
    for (size_t i = s->nlayers; i-- > 0;) { /* top layer first */
        off += (size_t)snprintf(opts + off, sizeof(opts) - off, "%s%s", s->layers[i],
                                i > 0 ? ":" : "");
        if (off >= sizeof(opts))
            die("too many image layers for one overlay mount");
    }
    off += (size_t)snprintf(opts + off, sizeof(opts) - off, ",upperdir=%s,workdir=%s", upper, work);
    if (off >= sizeof(opts))
        die("too many image layers for one overlay mount");
    xmount("overlay", root, "overlay", 0, opts);

    snprintf(path, sizeof(path), "%s/proc", root);
    mkdir_p(path, 0555);
    xmount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    snprintf(path, sizeof(path), "%s/dev", root);
    mkdir_p(path, 0755);
    make_dev(path);
    snprintf(path, sizeof(path), "%s/tmp", root);
    mkdir_p(path, 01777);
    xmount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    snprintf(path, sizeof(path), "%s/sys", root);
    mkdir_p(path, 0555);
    if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) != 0) {
        xmount("/sys", path, NULL, MS_BIND | MS_REC, NULL);
        xmount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
    }
    snprintf(path, sizeof(path), "%s%s", root, CINIT_SANDBOX_INSIDE);
    mkdir_p(path, 0755);
    xmount(s->sandbox, path, NULL, MS_BIND | MS_REC, NULL);

    snprintf(path, sizeof(path), "%s/etc", root);
    if (access(path, F_OK) == 0) {
        const char *h = s->hostname ? s->hostname : "localhost";
        snprintf(path, sizeof(path), "%s/etc/hostname", root);
        snprintf(text, sizeof(text), "%s\n", h);
        write_text(path, text, 0644);
        snprintf(path, sizeof(path), "%s/etc/hosts", root);
        snprintf(text, sizeof(text), "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost\n", h);
        write_text(path, text, 0644);
        if (!(s->ns_flags & CLONE_NEWNET) && (fd = open("/etc/resolv.conf", O_RDONLY)) >= 0) {
            ssize_t n = read(fd, opts, sizeof(opts) - 1);
            close(fd);
            if (n > 0) {
                opts[n] = '\0';
                snprintf(path, sizeof(path), "%s/etc/resolv.conf", root);
                unlink(path); /* a dangling symlink in the image would redirect the write */
                write_text(path, opts, 0644);
            }
        }
    }

    if (chdir(root) != 0)
        die("chdir %s: %s", root, strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") != 0)
        die("pivot_root: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) != 0)
        die("detaching the old root: %s", strerror(errno));
    if (chdir("/") != 0)
        die("chdir /: %s", strerror(errno));
}

/* Docker's masks: parts of /proc read-only, some files hidden. */
static void
proc_masks(void)
{
    static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                     "/proc/sysrq-trigger"};
    static const char *const masked[] = {"/proc/kcore",       "/proc/keys", "/proc/timer_list",
                                         "/proc/sched_debug", "/proc/acpi", "/proc/scsi"};
    struct stat st;

    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        if (access(ro[i], F_OK) != 0)
            continue;
        xmount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL);
        xmount(NULL, ro[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL);
    }
    for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
        if (stat(masked[i], &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            xmount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0");
        else
            xmount("/dev/null", masked[i], NULL, MS_BIND, NULL);
    }
}

static int
last_cap(void)
{
    char buf[16];
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC), n = -1;

    if (fd >= 0) {
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        if (r > 0) {
            buf[r] = '\0';
            n = atoi(buf);
        }
        close(fd);
    }
    return n > 0 ? n : CAP_LAST_CAP;
}

/* Bounding, ambient and inheritable sets down to the default set; effective
 * and permitted too (the task's user may be root). */
static void
drop_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    uint64_t keep = 0;
    int last = last_cap();

    for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
        keep |= 1ull << default_caps[i];
    for (int c = 0; c <= last; c++) {
        if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
            die("dropping capability %d: %s", c, strerror(errno));
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0)
        die("capget: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        uint32_t k = (uint32_t)(keep >> (32 * i));
        data[i].effective &= k;
        data[i].permitted &= k;
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &hdr, data) != 0)
        die("capset: %s", strerror(errno));
}

/* The task: never returns. */
static void __attribute__((noreturn)) exec_task(const struct cinit_spec *s)
{
    sigset_t none;
    int fd;

    setsid();
    if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    if (dup2(s->stdout_fd, 1) < 0 || dup2(s->stderr_fd, 2) < 0)
        die("dup2: %s", strerror(errno));
    if (s->cwd != NULL && chdir(s->cwd) != 0)
        die("chdir %s: %s", s->cwd, strerror(errno));
    if (s->harden)
        drop_caps();
    if (s->switch_user) {
        if (setgroups(s->ngroups, s->groups) != 0)
            die("setgroups: %s", strerror(errno));
        if (setgid(s->gid) != 0)
            die("setgid %u: %s", (unsigned)s->gid, strerror(errno));
        if (setuid(s->uid) != 0)
            die("setuid %u: %s", (unsigned)s->uid, strerror(errno));
    }
    if (s->harden && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("no_new_privs: %s", strerror(errno));
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    environ = (char **)s->envp;
    execvp(s->file, s->argv);
    die("cannot start %s: %s", s->file, strerror(errno));
}

/* PID 1 of the container: forks the task, forwards signals, reaps. */
static void __attribute__((noreturn)) run_init(const struct cinit_spec *s)
{
    sigset_t all;
    pid_t task;

    /* Its own session: the host sees a process group led by the container's
     * first process (task.pid), as without a pid namespace. */
    setsid();
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    task = fork();
    if (task < 0)
        die("fork: %s", strerror(errno));
    if (task == 0) {
        close(s->status_fd);
        exec_task(s);
    }
    /* The task holds err_fd until its exec; the init lets go of it. */
    close(err_fd);
    err_fd = -1;
    close(s->stdout_fd);
    close(s->stderr_fd);
    for (int fd = 0; fd < 3; fd++) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
    }
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si), status;
        pid_t p;

        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT ||
                sig == SIGUSR1 || sig == SIGUSR2) {
                kill(-task, sig);
                kill(task, sig); /* in case the task left its process group */
            }
            continue;
        }
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            if (p == task) {
                if (write(s->status_fd, &status, sizeof(status)) < 0) {
                    /* the executor reads our own exit status instead */
                }
                _exit(0);
            }
        }
    }
}

void
cinit_run(const struct cinit_spec *s)
{
    char go;
    ssize_t n;

    err_fd = s->err_fd;
    if (s->ns_flags != 0 && unshare(s->ns_flags) != 0)
        die("unshare namespaces: %s", strerror(errno));
    if (s->ns_flags & CLONE_NEWNET)
        loopback_up();
    if ((s->ns_flags & CLONE_NEWUTS) && s->hostname != NULL &&
        sethostname(s->hostname, strlen(s->hostname)) != 0)
        die("sethostname: %s", strerror(errno));
    if (s->ns_flags & CLONE_NEWNS) {
        xmount(NULL, "/", NULL, MS_REC | (s->nlayers > 0 ? MS_PRIVATE : MS_SLAVE), NULL);
        if (s->nlayers > 0) {
            enter_rootfs(s);
        } else {
            if (s->mount_proc)
                xmount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
            for (size_t i = 0; i < s->nreadonly; i++) {
                if (mount(s->readonly_mounts[i], s->readonly_mounts[i], NULL, MS_BIND | MS_REC,
                          NULL) == 0)
                    mount(NULL, s->readonly_mounts[i], NULL,
                          MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          NULL);
            }
        }
        if (s->harden && (s->mount_proc || s->nlayers > 0))
            proc_masks();
    }
    /* Ready: the executor puts us into the cgroups, then says go. */
    if (write(s->ready_fd, "r", 1) != 1)
        _exit(126);
    close(s->ready_fd);
    do {
        n = read(s->sync_fd, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(126); /* the executor gave up on us */
    close(s->sync_fd);
    if (s->pid_ns)
        run_init(s);
    close(s->status_fd);
    exec_task(s);
}
