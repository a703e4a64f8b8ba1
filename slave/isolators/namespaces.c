/* The namespace isolators: namespaces/pid, /ipc, /uts, /net (isolator.h). The
 * executor creates the namespaces; these only check the kernel and describe
 * them in launch.json. */
#define _GNU_SOURCE
#include "isolator.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Adds `ns` to the container's "namespaces" (once). */
static void
ns_add(json_t *container, const char *ns)
{
    json_t *list = json_object_get(container, "namespaces"), *v;
    size_t i;

    if (list == NULL) {
        list = json_array();
        json_object_set_new(container, "namespaces", list);
    }
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), ns) == 0)
            return;
    }
    json_array_append_new(list, json_string(ns));
}

static int
ns_check(const char *ns, char *err, size_t errlen)
{
    char path[64];

    if (geteuid() != 0) {
        snprintf(err, errlen, "needs root");
        return -AG_EPERM;
    }
    snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "the kernel has no %s namespaces (%s)", ns, strerror(errno));
        return -AG_ENOENT;
    }
    return 0;
}

static int
pid_init(struct iso *iso, char *err, size_t errlen)
{
    int rv = ns_check("pid", err, errlen);
    if (rv == 0)
        rv = ns_check("mnt", err, errlen);
    iso->ns_pid = rv == 0;
    return rv;
}

static int
pid_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    json_t *ro = json_array();

    (void)c;
    (void)err;
    (void)errlen;
    ns_add(container, "pid");
    ns_add(container, "mnt");
    /* Tasks on the host's filesystem see the cgroup hierarchies read-only. */
    for (int k = 0; k < CG_NCTRL; k++) {
        const char *m = iso->layout.ctrl[k].mount;
        bool dup = false;
        size_t i;
        json_t *v;
        if (iso->layout.ctrl[k].version == 0)
            continue;
        json_array_foreach(ro, i, v)
        {
            dup = dup || strcmp(json_string_value(v), m) == 0;
        }
        if (!dup)
            json_array_append_new(ro, json_string(m));
    }
    if (iso->layout.v2_mount[0] != '\0') {
        bool dup = false;
        size_t i;
        json_t *v;
        json_array_foreach(ro, i, v)
        {
            dup = dup || strcmp(json_string_value(v), iso->layout.v2_mount) == 0;
        }
        if (!dup)
            json_array_append_new(ro, json_string(iso->layout.v2_mount));
    }
    json_object_set_new(container, "readonly", ro);
    return 0;
}

const struct isolator_ops iso_namespaces_pid = {
    .name = "namespaces/pid",
    .init = pid_init,
    .prepare = pid_prepare,
};

static int
ipc_init(struct iso *iso, char *err, size_t errlen)
{
    int rv = ns_check("ipc", err, errlen);
    iso->ns_ipc = rv == 0;
    return rv;
}

static int
ipc_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    (void)iso;
    (void)c;
    (void)err;
    (void)errlen;
    ns_add(container, "ipc");
    return 0;
}

const struct isolator_ops iso_namespaces_ipc = {
    .name = "namespaces/ipc",
    .init = ipc_init,
    .prepare = ipc_prepare,
};

static int
uts_init(struct iso *iso, char *err, size_t errlen)
{
    int rv = ns_check("uts", err, errlen);
    iso->ns_uts = rv == 0;
    return rv;
}

/* The task id as a hostname: letters, digits, '-' and '.', at most 63. */
static void
hostname_of(const char *task_id, char *out, size_t len)
{
    size_t n = 0;

    for (const char *p = task_id; *p && n + 1 < len && n < 63; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        out[n++] = ok ? ch : '-';
    }
    while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.'))
        n--;
    out[n] = '\0';
    if (n == 0)
        snprintf(out, len, "task");
}

static int
uts_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    char name[64];

    (void)iso;
    (void)err;
    (void)errlen;
    hostname_of(c->task->task_id, name, sizeof(name));
    ns_add(container, "uts");
    json_object_set_new(container, "hostname", json_string(name));
    return 0;
}

const struct isolator_ops iso_namespaces_uts = {
    .name = "namespaces/uts",
    .init = uts_init,
    .prepare = uts_prepare,
};

static int
net_init(struct iso *iso, char *err, size_t errlen)
{
    int rv = ns_check("net", err, errlen);
    iso->ns_net = rv == 0;
    return rv;
}

static int
net_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    const char *net = c->task->container.network;

    (void)iso;
    (void)err;
    (void)errlen;
    if (net != NULL && strcmp(net, "none") == 0)
        ns_add(container, "net");
    return 0;
}

const struct isolator_ops iso_namespaces_net = {
    .name = "namespaces/net",
    .init = net_init,
    .prepare = net_prepare,
};
