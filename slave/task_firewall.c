#include "task_firewall.h"

#include "error.h"
#include "log.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

struct tfw_user {
    uid_t uid;
    unsigned tasks;
};

struct tfw {
    char table[64]; /* "agora_agent_PORT" */
    char desc[80];  /* "inet agora_agent_PORT" */
    struct tfw_dest dests[TFW_MAX_DESTS];
    size_t ndests;
    struct tfw_user *users;
    size_t nusers, cap;
    struct nft_ctx *nft;
};

/* ---- destinations ---- */

static bool
addr_is_local(const struct sockaddr *sa)
{
    struct ifaddrs *ifs, *i;
    bool local = false;

    if (sa->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
        if ((ntohl(a->s_addr) >> 24) == 127 || a->s_addr == htonl(INADDR_ANY))
            return true;
    } else {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
            return true;
    }
    if (getifaddrs(&ifs) != 0)
        return false;
    for (i = ifs; i != NULL && !local; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != sa->sa_family)
            continue;
        if (sa->sa_family == AF_INET)
            local = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
                    ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
        else
            local =
                memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
                       &((const struct sockaddr_in6 *)sa)->sin6_addr, sizeof(struct in6_addr)) == 0;
    }
    freeifaddrs(ifs);
    return local;
}

static void
dest_add(struct tfw_dest *d, size_t *n, const char *addr, int port)
{
    for (size_t i = 0; i < *n; i++)
        if (d[i].port == port && strcmp(d[i].addr, addr) == 0)
            return;
    snprintf(d[*n].addr, sizeof(d[*n].addr), "%s", addr);
    d[*n].port = port;
    (*n)++;
}

int
tfw_parse_dest(const char *spec, struct tfw_dest *d, size_t *n, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *r;
    char host[256];
    const char *colon;
    char *end;
    long port;
    int rc;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host)) {
            ag_errf(err, errlen, "'%s': expected [IPv6]:PORT", spec);
            return -AG_EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(close - spec - 1), spec + 1);
        colon = close + 1;
    } else {
        if ((colon = strrchr(spec, ':')) == NULL || colon == spec ||
            (size_t)(colon - spec) >= sizeof(host)) {
            ag_errf(err, errlen, "'%s': expected HOST:PORT", spec);
            return -AG_EINVAL;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    }
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
        ag_errf(err, errlen, "'%s': the port must be 1-65535", spec);
        return -AG_EINVAL;
    }
    if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
        ag_errf(err, errlen, "'%s': cannot resolve %s: %s", spec, host, gai_strerror(rc));
        return -AG_EINVAL;
    }
    for (r = res; r != NULL; r = r->ai_next) {
        char ip[INET6_ADDRSTRLEN];

        if (r->ai_family != AF_INET && r->ai_family != AF_INET6)
            continue;
        if (*n >= TFW_MAX_DESTS) {
            freeaddrinfo(res);
            ag_errf(err, errlen, "more than %d denied destinations", TFW_MAX_DESTS);
            return -AG_EINVAL;
        }
        if (addr_is_local(r->ai_addr))
            snprintf(ip, sizeof(ip), "local");
        else if (r->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)r->ai_addr)->sin_addr, ip, sizeof(ip));
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)r->ai_addr)->sin6_addr, ip, sizeof(ip));
        dest_add(d, n, ip, (int)port);
    }
    freeaddrinfo(res);
    return 0;
}

/* ---- the script ---- */

struct sbuf {
    char *p;
    size_t len, used;
    bool over;
};

static void __attribute__((format(printf, 2, 3))) sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->over)
        return;
    va_start(ap, fmt);
    k = vsnprintf(b->p + b->used, b->len - b->used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->len - b->used)
        b->over = true;
    else
        b->used += (size_t)k;
}

int
tfw_ruleset(const char *table, const struct tfw_dest *d, size_t n, const uid_t *uids, size_t nuids,
            char *buf, size_t len)
{
    struct sbuf b = {buf, len, 0, len == 0};

    /* "add" then "delete": one transaction that works whether or not it exists. */
    sb_add(&b, "add table inet %s\ndelete table inet %s\n", table, table);
    sb_add(&b, "table inet %s {\n  set task_users {\n    type uid\n", table);
    for (size_t i = 0; i < nuids; i++)
        sb_add(&b, "%s%u%s", i == 0 ? "    elements = { " : ", ", (unsigned)uids[i],
               i + 1 == nuids ? " }\n" : "");
    sb_add(&b, "  }\n  chain output {\n    type filter hook output priority 0; policy accept;\n");
    for (size_t i = 0; i < n; i++) {
        const char *match = strcmp(d[i].addr, "local") == 0 ? "fib daddr type local"
                            : strchr(d[i].addr, ':')        ? "ip6 daddr"
                                                            : "ip daddr";
        const char *addr = strcmp(d[i].addr, "local") == 0 ? "" : d[i].addr;

        sb_add(&b, "    meta skuid @task_users %s %s tcp dport %d counter reject with tcp reset\n",
               match, addr, d[i].port);
    }
    sb_add(&b, "  }\n}\n");
    return b.over ? -AG_ERANGE : 0;
}

/* ---- the kernel ---- */

static int
run(struct nft_ctx *nft, const char *cmd, char *err, size_t errlen)
{
    const char *msg;

    if (nft_run_cmd_from_buffer(nft, cmd) == 0)
        return 0;
    msg = nft_ctx_get_error_buffer(nft);
    ag_errf(err, errlen, "nftables: %s", msg != NULL && msg[0] ? msg : "failed");
    /* One line: nftables' messages end with the script line and a caret. */
    if (err != NULL && errlen > 0)
        err[strcspn(err, "\n")] = '\0';
    return -AG_EIO;
}

/*
 * Whether the kernel speaks nftables' netlink. libnftables exit()s the whole
 * process when it cannot open that socket (nftables 1.0: netlink_init_error),
 * so it is never called without this check.
 */
static bool
nft_available(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static struct nft_ctx *
ctx_new(void)
{
    struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);

    if (nft != NULL) {
        nft_ctx_buffer_output(nft);
        nft_ctx_buffer_error(nft);
    }
    return nft;
}

/* Counts a task of `uid` in t->users; true when the user is new. */
static int
user_count(struct tfw *t, uid_t uid, bool *is_new)
{
    *is_new = false;
    for (size_t i = 0; i < t->nusers; i++)
        if (t->users[i].uid == uid) {
            t->users[i].tasks++;
            return 0;
        }
    if (t->nusers == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct tfw_user *u = realloc(t->users, cap * sizeof(*u));
        if (u == NULL)
            return -AG_ENOMEM;
        t->users = u;
        t->cap = cap;
    }
    t->users[t->nusers++] = (struct tfw_user){uid, 1};
    *is_new = true;
    return 0;
}

int
tfw_open(struct tfw **out, int port, const struct tfw_dest *d, size_t n, const uid_t *uids,
         size_t nuids, char *err, size_t errlen)
{
    size_t len = 4096 + n * 160 + nuids * 12;
    uid_t *distinct = NULL;
    struct tfw *t;
    char *script = NULL;
    bool is_new;
    int rc = -AG_ENOMEM;

    *out = NULL;
    if (n > TFW_MAX_DESTS)
        return -AG_EINVAL;
    if (!nft_available()) {
        ag_errf(err, errlen, "nftables: this kernel has no nfnetlink (nf_tables)");
        return -AG_EIO;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -AG_ENOMEM;
    snprintf(t->table, sizeof(t->table), "agora_agent_%d", port);
    snprintf(t->desc, sizeof(t->desc), "inet %s", t->table);
    memcpy(t->dests, d, n * sizeof(*d));
    t->ndests = n;
    if ((script = malloc(len)) == NULL ||
        (distinct = calloc(nuids + 1, sizeof(*distinct))) == NULL || (t->nft = ctx_new()) == NULL)
        goto out;
    for (size_t i = 0; i < nuids; i++) {
        if (uids[i] == 0)
            continue;
        if ((rc = user_count(t, uids[i], &is_new)) != 0)
            goto out;
    }
    for (size_t i = 0; i < t->nusers; i++)
        distinct[i] = t->users[i].uid;
    if ((rc = tfw_ruleset(t->table, d, n, distinct, t->nusers, script, len)) == 0)
        rc = run(t->nft, script, err, errlen);
out:
    free(script);
    free(distinct);
    if (rc != 0) {
        tfw_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void
tfw_remove_stale(int port)
{
    struct nft_ctx *nft;
    char cmd[160];

    if (!nft_available() || (nft = ctx_new()) == NULL)
        return; /* no nftables: nothing to remove */
    snprintf(cmd, sizeof(cmd), "add table inet agora_agent_%d\ndelete table inet agora_agent_%d\n",
             port, port);
    nft_run_cmd_from_buffer(nft, cmd); /* no nftables, not root: nothing to remove */
    nft_ctx_free(nft);
}

int
tfw_user_add(struct tfw *t, uid_t uid, char *err, size_t errlen)
{
    char cmd[160];
    bool is_new;
    int rc;

    if (uid == 0)
        return 0;
    if ((rc = user_count(t, uid, &is_new)) != 0 || !is_new)
        return rc;
    snprintf(cmd, sizeof(cmd), "add element %s task_users { %u }\n", t->desc, (unsigned)uid);
    if ((rc = run(t->nft, cmd, err, errlen)) != 0) {
        t->nusers--;
        return rc;
    }
    log_info("task firewall: user %u denied the control plane table=%s", (unsigned)uid, t->desc);
    return 0;
}

void
tfw_user_del(struct tfw *t, uid_t uid)
{
    char cmd[160], err[256];

    if (uid == 0)
        return;
    for (size_t i = 0; i < t->nusers; i++) {
        if (t->users[i].uid != uid)
            continue;
        if (--t->users[i].tasks > 0)
            return;
        t->users[i] = t->users[--t->nusers];
        snprintf(cmd, sizeof(cmd), "delete element %s task_users { %u }\n", t->desc, (unsigned)uid);
        if (run(t->nft, cmd, err, sizeof(err)) != 0)
            log_warn("task firewall: cannot remove user %u: %s", (unsigned)uid, err);
        else
            log_info("task firewall: user %u has no task left table=%s", (unsigned)uid, t->desc);
        return;
    }
}

const char *
tfw_table(const struct tfw *t)
{
    return t->desc;
}

void
tfw_close(struct tfw *t)
{
    if (t == NULL)
        return;
    if (t->nft != NULL)
        nft_ctx_free(t->nft);
    free(t->users);
    free(t);
}
