#include "http_hosts.h"

#include "error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HHOSTS_NAME_MAX 256

struct hhost {
    char name[HHOSTS_NAME_MAX];
    unsigned port; /* 0: any */
};

struct hhosts {
    struct hhost *v;
    size_t n;
};

/* Letters, digits, '-', '_', '.': what a DNS name (or /etc/hosts alias) holds. */
static bool
name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= HHOSTS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* Splits "name[:port]" or "[v6][:port]" of `len` bytes. Returns 0, with the name
 * (brackets removed) in `name` and the port (0 when absent) in *port; -1 when
 * malformed. */
static int
split_host(const char *s, size_t len, char name[HHOSTS_NAME_MAX], unsigned *port)
{
    const char *end = s + len, *colon = NULL;
    size_t nlen;

    *port = 0;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);

        if (close == NULL)
            return -1;
        nlen = (size_t)(close - s - 1);
        if (nlen >= HHOSTS_NAME_MAX)
            return -1;
        memcpy(name, s + 1, nlen);
        name[nlen] = '\0';
        if (close + 1 == end)
            return 0;
        if (close[1] != ':')
            return -1;
        colon = close + 1;
    } else {
        colon = memchr(s, ':', len);
        nlen = colon != NULL ? (size_t)(colon - s) : len;
        if (nlen >= HHOSTS_NAME_MAX)
            return -1;
        memcpy(name, s, nlen);
        name[nlen] = '\0';
        if (colon == NULL)
            return 0;
    }
    if (colon + 1 == end || end - colon > 6)
        return -1;
    for (const char *p = colon + 1; p < end; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        *port = *port * 10 + (unsigned)(*p - '0');
    }
    return *port >= 1 && *port <= 65535 ? 0 : -1;
}

/* Lower-cases `name` and drops one trailing dot. */
static void
name_norm(char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < n; i++)
        name[i] = (char)tolower((unsigned char)name[i]);
    if (n > 1 && name[n - 1] == '.')
        name[n - 1] = '\0';
}

static int
add(struct hhosts *h, const char *s, size_t len, char *err, size_t errlen)
{
    struct hhost e, *v;

    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (split_host(s, len, e.name, &e.port) != 0 || !name_ok(e.name, strlen(e.name))) {
        ag_errf(err, errlen, "--http_allowed_hosts: bad entry '%.*s': expected NAME or NAME:PORT",
                (int)(len > 80 ? 80 : len), s);
        return -AG_EINVAL;
    }
    name_norm(e.name);
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, e.name) == 0 && h->v[i].port == e.port)
            return 0;
    if ((v = realloc(h->v, (h->n + 1) * sizeof(*v))) == NULL) {
        ag_errf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    h->v = v;
    h->v[h->n++] = e;
    return 0;
}

void
hhosts_free(struct hhosts *h)
{
    if (h == NULL)
        return;
    free(h->v);
    free(h);
}

int
hhosts_load(struct hhosts **out, const char *list, const char *hostname, char *err, size_t errlen)
{
    struct hhosts *h;
    char sys[HHOSTS_NAME_MAX];
    int rc = 0;

    *out = NULL;
    if (list != NULL && strcmp(list, "*") == 0)
        return 0;
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        ag_errf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    if (list != NULL && *list != '\0') {
        for (const char *p = list;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

            if ((rc = add(h, p, len, err, errlen)) != 0)
                break;
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    } else {
        rc = add(h, "localhost", 9, err, errlen);
        if (rc == 0 && hostname != NULL && *hostname != '\0' &&
            name_ok(hostname, strlen(hostname)))
            rc = add(h, hostname, strlen(hostname), err, errlen);
        if (rc == 0 && gethostname(sys, sizeof(sys)) == 0) {
            sys[sizeof(sys) - 1] = '\0';
            if (name_ok(sys, strlen(sys)))
                rc = add(h, sys, strlen(sys), err, errlen);
        }
    }
    if (rc != 0) {
        hhosts_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

bool
hhosts_allowed(const struct hhosts *h, const char *host)
{
    char name[HHOSTS_NAME_MAX];
    unsigned char addr[16];
    unsigned port;

    if (h == NULL || host == NULL)
        return true;
    if (split_host(host, strlen(host), name, &port) != 0)
        return false;
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return true;
    name_norm(name);
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].name, name) == 0 && (h->v[i].port == 0 || h->v[i].port == port))
            return true;
    return false;
}

const char *
hhosts_describe(const struct hhosts *h)
{
    static char buf[1024];
    size_t used = 0;

    if (h == NULL)
        return "*";
    buf[0] = '\0';
    for (size_t i = 0; i < h->n && used < sizeof(buf); i++) {
        int n = h->v[i].port != 0 ? snprintf(buf + used, sizeof(buf) - used, "%s%s:%u",
                                             i > 0 ? "," : "", h->v[i].name, h->v[i].port)
                                  : snprintf(buf + used, sizeof(buf) - used, "%s%s",
                                             i > 0 ? "," : "", h->v[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}
