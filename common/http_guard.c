#include "http_guard.h"

#include "error.h"
#include "hmap.h"
#include "log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_MAX_MS 1000
#define SCAN_MIN_MS 100

struct gconn {
    struct hguard_conn c;
    bool exempt;
    bool ended;    /* shut down; nng closes it soon */
    uint64_t seen; /* the scan that last saw it */
};

struct hguard {
    int port;
    struct http_guard_flags f;
    hguard_exempt_fn exempt;
    void *exempt_arg;
    struct hmap conns; /* socket inode (decimal) -> struct gconn* */
    uint64_t scan;
    int64_t last_scan; /* ms; -1 before the first */
    struct hguard_stats st;
};

/* ---- the decision ---- */

enum hguard_verdict
hguard_decide(struct hguard_conn *c, int64_t now, const struct hguard_sample *s, int64_t max_age,
              bool busy, const struct http_guard_flags *f)
{
    bool fresh = c->fresh, got = s->received != c->received, gave = s->sent != c->sent;
    bool ahead;

    c->fresh = false;
    c->received = s->received;
    c->sent = s->sent;
    if (f->idle_timeout_ms > 0 && s->recv_age >= f->idle_timeout_ms &&
        s->send_age >= f->idle_timeout_ms)
        return HGUARD_IDLE;
    if (fresh)
        ahead = s->sent == 0 || s->recv_age < s->send_age;
    else if (got && gave)
        ahead = s->recv_age < s->send_age;
    else if (got || gave)
        ahead = got;
    else
        ahead = c->waiting_since >= 0;
    if (!ahead) {
        c->waiting_since = -1;
        return HGUARD_KEEP;
    }
    if (c->waiting_since < 0)
        c->waiting_since =
            fresh && s->sent == 0 ? now - (s->send_age < max_age ? s->send_age : max_age) : now;
    if (f->request_timeout_ms > 0 && !busy && now - c->waiting_since >= f->request_timeout_ms)
        return HGUARD_REQUEST_TIMEOUT;
    return HGUARD_KEEP;
}

/* ---- the scan ---- */

static void
peer_key(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

static int
local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/*
 * Ends the connection of socket `ino` at descriptor `fd`: a duplicate is taken
 * and checked to be that socket, so a descriptor nng closed and reused meanwhile
 * is never touched.
 */
static void
end_conn(int fd, ino_t ino)
{
    struct stat st;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

    if (d < 0)
        return;
    if (fstat(d, &st) == 0 && st.st_ino == ino)
        shutdown(d, SHUT_RDWR);
    close(d);
}

struct victim {
    int fd;
    ino_t ino;
    int64_t first_seen;
    struct gconn *gc;
};

static int
newest_first(const void *a, const void *b)
{
    const struct victim *x = a, *y = b;

    /* Seen at the same scan: the higher inode is the newer socket. */
    if (x->first_seen != y->first_seen)
        return x->first_seen < y->first_seen ? 1 : -1;
    return (x->ino < y->ino) - (x->ino > y->ino);
}

void
hguard_scan(struct hguard *g, int64_t now, bool busy)
{
    struct victim *keep = NULL;
    size_t nkeep = 0, cap = 0, nreq = 0, nidle = 0, ncap = 0;
    struct dirent *de;
    int64_t max_age;
    const char *k;
    void *v;
    DIR *dir;

    if ((dir = opendir("/proc/self/fd")) == NULL)
        return;
    max_age = g->last_scan >= 0 ? now - g->last_scan : hguard_interval(g);
    g->last_scan = now;
    g->scan++;
    while ((de = readdir(dir)) != NULL) {
        char *end, key[32], peer[INET6_ADDRSTRLEN + 16];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        struct tcp_info ti;
        struct hguard_sample sample;
        socklen_t tl = sizeof(ti);
        struct stat st;
        struct gconn *gc;
        long fd = strtol(de->d_name, &end, 10);

        if (*end != '\0' || fd < 0 || fd == dirfd(dir) || fstat((int)fd, &st) != 0 ||
            !S_ISSOCK(st.st_mode))
            continue;
        snprintf(key, sizeof(key), "%llu", (unsigned long long)st.st_ino);
        if ((gc = hmap_get(&g->conns, key)) != NULL && (gc->exempt || gc->ended)) {
            gc->seen = g->scan;
            continue;
        }
        if (gc == NULL) {
            if (local_port((int)fd) != g->port ||
                getpeername((int)fd, (struct sockaddr *)&ss, &sl) != 0 ||
                (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
                continue; /* not one of the server's connections (listener, client, ...) */
            if ((gc = calloc(1, sizeof(*gc))) == NULL)
                continue;
            gc->c.first_seen = now;
            gc->c.waiting_since = -1;
            gc->c.fresh = true;
            if (hmap_put(&g->conns, key, gc) != 0) {
                free(gc);
                continue;
            }
        }
        gc->seen = g->scan;
        if (g->exempt != NULL) {
            sl = sizeof(ss);
            if (getpeername((int)fd, (struct sockaddr *)&ss, &sl) == 0) {
                peer_key(&ss, peer, sizeof(peer));
                if (g->exempt(g->exempt_arg, peer)) {
                    gc->exempt = true;
                    continue;
                }
            }
        }
        memset(&ti, 0, sizeof(ti));
        if (getsockopt((int)fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 ||
            tl < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
            continue; /* a kernel older than 4.1 */
        sample.recv_age = ti.tcpi_last_data_recv;
        sample.send_age = ti.tcpi_last_data_sent;
        sample.received = ti.tcpi_bytes_received;
        /* bytes sent since 5.5; before, what the client acknowledged */
        sample.sent = tl >= offsetof(struct tcp_info, tcpi_bytes_sent) + sizeof(ti.tcpi_bytes_sent)
                          ? ti.tcpi_bytes_sent
                          : ti.tcpi_bytes_acked;
        switch (hguard_decide(&gc->c, now, &sample, max_age, busy, &g->f)) {
        case HGUARD_REQUEST_TIMEOUT:
            end_conn((int)fd, st.st_ino);
            gc->ended = true;
            nreq++;
            continue;
        case HGUARD_IDLE:
            end_conn((int)fd, st.st_ino);
            gc->ended = true;
            nidle++;
            continue;
        case HGUARD_KEEP:
            break;
        }
        if (nkeep == cap) {
            size_t ncap_ = cap ? cap * 2 : 64;
            struct victim *v = realloc(keep, ncap_ * sizeof(*v));
            if (v == NULL)
                continue;
            keep = v;
            cap = ncap_;
        }
        keep[nkeep++] = (struct victim){(int)fd, st.st_ino, gc->c.first_seen, gc};
    }
    closedir(dir);
    if (g->f.max_connections > 0 && nkeep > (size_t)g->f.max_connections) {
        qsort(keep, nkeep, sizeof(*keep), newest_first);
        for (size_t i = 0; i < nkeep - (size_t)g->f.max_connections; i++) {
            end_conn(keep[i].fd, keep[i].ino);
            keep[i].gc->ended = true;
            ncap++;
        }
        nkeep = (size_t)g->f.max_connections;
    }
    free(keep);
    /* Forget the sockets that are gone. */
    for (size_t it = 0; hmap_next(&g->conns, &it, &k, &v);)
        if (((struct gconn *)v)->seen != g->scan)
            free(hmap_del(&g->conns, k));
    g->st.request_timeouts += nreq;
    g->st.idle_timeouts += nidle;
    g->st.over_cap += ncap;
    g->st.open = nkeep;
    if (nreq || ncap)
        log_warn("HTTP connections closed port=%d request_timeout=%zu over_cap=%zu idle=%zu "
                 "open=%zu (--http_request_timeout, --http_max_connections)",
                 g->port, nreq, ncap, nidle, nkeep);
    else if (nidle)
        log_debug("idle HTTP connections closed port=%d idle=%zu open=%zu", g->port, nidle, nkeep);
}

/* ---- lifecycle ---- */

int
hguard_open(struct hguard **out, int port, const struct http_guard_flags *f)
{
    struct hguard *g;

    *out = NULL;
    if (f->request_timeout_ms < 0 || f->idle_timeout_ms < 0 || f->max_connections < 0 ||
        port <= 0 || port > 65535)
        return -AG_EINVAL;
    if ((g = calloc(1, sizeof(*g))) == NULL)
        return -AG_ENOMEM;
    g->port = port;
    g->f = *f;
    g->last_scan = -1;
    hmap_init(&g->conns);
    *out = g;
    return 0;
}

int64_t
hguard_interval(const struct hguard *g)
{
    int64_t every = SCAN_MAX_MS;

    if (g->f.request_timeout_ms <= 0 && g->f.idle_timeout_ms <= 0 && g->f.max_connections <= 0)
        return 0;
    if (g->f.request_timeout_ms > 0 && g->f.request_timeout_ms / 4 < every)
        every = g->f.request_timeout_ms / 4;
    if (g->f.idle_timeout_ms > 0 && g->f.idle_timeout_ms / 4 < every)
        every = g->f.idle_timeout_ms / 4;
    return every < SCAN_MIN_MS ? SCAN_MIN_MS : every;
}

void
hguard_set_exempt(struct hguard *g, hguard_exempt_fn exempt, void *arg)
{
    void *v;

    g->exempt = exempt;
    g->exempt_arg = arg;
    /* Decided again at the next scan. */
    for (size_t it = 0; hmap_next(&g->conns, &it, NULL, &v);)
        ((struct gconn *)v)->exempt = false;
}

void
hguard_stats(const struct hguard *g, struct hguard_stats *out)
{
    *out = g->st;
}

void
hguard_close(struct hguard *g)
{
    void *v;

    if (g == NULL)
        return;
    for (size_t it = 0; hmap_next(&g->conns, &it, NULL, &v);)
        free(v);
    hmap_fini(&g->conns);
    free(g);
}
