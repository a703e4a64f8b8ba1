#define _GNU_SOURCE
#include "isolator.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ISO_DEFAULT_ROOT "agora"

/* Every isolator, in the order they prepare a container. */
static const struct isolator_ops *const all_isolators[] = {
    &iso_cgroups_cpu,    &iso_cgroups_mem,    &iso_cgroups_pids,   &iso_namespaces_pid,
    &iso_namespaces_ipc, &iso_namespaces_uts, &iso_namespaces_net, &iso_filesystem_linux,
};
#define NISOLATORS (sizeof(all_isolators) / sizeof(all_isolators[0]))

static const struct isolator_ops *
find(const char *name, size_t len)
{
    for (size_t i = 0; i < NISOLATORS; i++)
        if (strlen(all_isolators[i]->name) == len &&
            strncmp(all_isolators[i]->name, name, len) == 0)
            return all_isolators[i];
    return NULL;
}

static bool
chosen(const struct iso *iso, const struct isolator_ops *ops)
{
    for (size_t i = 0; i < iso->nops; i++)
        if (iso->ops[i] == ops)
            return true;
    return false;
}

static void
names_add(struct iso *iso, const char *name)
{
    size_t n = strlen(iso->names);
    snprintf(iso->names + n, sizeof(iso->names) - n, "%s%s", n ? "," : "", name);
}

int
iso_open(struct iso **out, const struct iso_config *cfg, char *err, size_t errlen)
{
    const char *list = cfg->isolation && cfg->isolation[0] ? cfg->isolation : "auto";
    bool autosel = strcmp(list, "auto") == 0;
    struct iso *iso;
    char cerr[512];
    int rv;

    *out = NULL;
    if ((iso = calloc(1, sizeof(*iso))) == NULL)
        return -AG_ENOMEM;
    snprintf(iso->cg_root, sizeof(iso->cg_root), "%s",
             cfg->cgroups_root && cfg->cgroups_root[0] ? cfg->cgroups_root : ISO_DEFAULT_ROOT);
    iso->pids_max = cfg->pids_max;
    iso->cfs_quota = cfg->cfs_quota;
    snprintf(iso->image_cache, sizeof(iso->image_cache), "%s",
             cfg->image_cache ? cfg->image_cache : "");
    cg_detect(&iso->layout, cerr, sizeof(cerr));

    /* The candidates. */
    if (autosel) {
        if (geteuid() == 0)
            for (size_t i = 0; i < NISOLATORS; i++)
                iso->ops[iso->nops++] = all_isolators[i];
    } else if (strcmp(list, "posix") != 0) {
        const char *p = list;
        while (*p) {
            size_t len = strcspn(p, ",");
            const struct isolator_ops *ops = find(p, len);
            bool posix = (len == 5 && strncmp(p, "posix", 5) == 0) ||
                         (len > 6 && strncmp(p, "posix/", 6) == 0);
            if (len > 0 && ops == NULL && !posix) {
                snprintf(err, errlen,
                         "bad --isolation: unknown isolator '%.*s' (known: cgroups/cpu, "
                         "cgroups/mem, cgroups/pids, namespaces/pid, namespaces/ipc, "
                         "namespaces/uts, namespaces/net, filesystem/linux; or posix, auto)",
                         (int)len, p);
                free(iso);
                return -AG_EINVAL;
            }
            if (ops != NULL && !chosen(iso, ops) && iso->nops < ISO_MAX)
                iso->ops[iso->nops++] = ops;
            p += len;
            if (*p == ',')
                p++;
        }
        /* Keep the table's order whatever the flag's. */
        size_t n = 0;
        const struct isolator_ops *sorted[ISO_MAX];
        for (size_t i = 0; i < NISOLATORS; i++)
            if (chosen(iso, all_isolators[i]))
                sorted[n++] = all_isolators[i];
        memcpy(iso->ops, sorted, n * sizeof(sorted[0]));
        iso->nops = n;
    }

    /* cgroups: the controllers of the chosen isolators, plus the freezer. */
    for (size_t i = 0; i < iso->nops; i++)
        iso->cg_mask |= iso->ops[i]->cgroups;
    if (iso->cg_mask != 0) {
        if (iso->layout.ctrl[CG_FREEZER].version != 0)
            iso->cg_mask |= CG_MASK(CG_FREEZER);
        /* Devices are restricted wherever containers have cgroups (Docker's set). */
        if (iso->layout.ctrl[CG_DEVICES].version != 0)
            iso->cg_mask |= CG_MASK(CG_DEVICES);
        if (autosel) { /* drop what this kernel lacks, with the isolators needing it */
            unsigned missing = 0;
            for (int c = 0; c < CG_NCTRL; c++)
                if ((iso->cg_mask & CG_MASK(c)) && iso->layout.ctrl[c].version == 0)
                    missing |= CG_MASK(c);
            if (missing) {
                size_t n = 0;
                for (size_t i = 0; i < iso->nops; i++) {
                    if (iso->ops[i]->cgroups & missing)
                        log_warn("isolation: %s unavailable (cgroup layout %s)", iso->ops[i]->name,
                                 iso->layout.name);
                    else
                        iso->ops[n++] = iso->ops[i];
                }
                iso->nops = n;
                iso->cg_mask &= ~missing;
                if ((iso->cg_mask & ~(CG_MASK(CG_FREEZER) | CG_MASK(CG_DEVICES))) == 0)
                    iso->cg_mask = 0;
            }
        }
    }
    if (iso->cg_mask != 0 &&
        (rv = cg_setup(&iso->layout, iso->cg_root, iso->cg_mask, cerr, sizeof(cerr))) != 0) {
        /* Never tasks without the limits the kernel has but we cannot set up,
         * even with "auto": an error says so (posix is the explicit way). */
        snprintf(err, errlen, "cgroups (layout %s): %s%s", iso->layout.name, cerr,
                 autosel ? " (the controllers are there but cannot be used; --isolation=posix "
                           "runs tasks without cpu or memory limits)"
                         : "");
        free(iso);
        return rv;
    }
    /* Each isolator's own checks. */
    {
        size_t n = 0;
        for (size_t i = 0; i < iso->nops; i++) {
            const struct isolator_ops *ops = iso->ops[i];
            if (ops->init != NULL && (rv = ops->init(iso, cerr, sizeof(cerr))) != 0) {
                if (!autosel) {
                    snprintf(err, errlen, "isolator %s: %s", ops->name, cerr);
                    free(iso);
                    return rv;
                }
                log_warn("isolation: %s unavailable: %s", ops->name, cerr);
                continue;
            }
            iso->ops[n++] = ops;
            names_add(iso, ops->name);
        }
        iso->nops = n;
    }
    if (iso->nops == 0)
        snprintf(iso->names, sizeof(iso->names), "posix");
    *out = iso;
    return 0;
}

void
iso_close(struct iso *iso)
{
    free(iso);
}

bool
iso_has_cgroups(const struct iso *iso)
{
    return iso != NULL && iso->cg_mask != 0;
}

int
iso_prepare(struct iso *iso, const struct iso_container *c, json_t *launch, char *err,
            size_t errlen)
{
    const struct msg_container *want = &c->task->container;
    json_t *container, *groups;
    char dir[PATH_MAX];
    int rv;

    if (want->image != NULL && want->image[0] != '\0' && !iso->fs_linux) {
        snprintf(err, errlen,
                 "the task has an image but this agent runs without the "
                 "filesystem/linux isolator");
        return -AG_EINVAL;
    }
    if (want->network != NULL && want->network[0] != '\0' && strcmp(want->network, "host") != 0) {
        if (strcmp(want->network, "none") != 0) {
            snprintf(err, errlen, "unknown network '%s' (use \"host\" or \"none\")", want->network);
            return -AG_EINVAL;
        }
        if (!iso->ns_net) {
            snprintf(err, errlen,
                     "the task asks for network \"none\" but this agent runs "
                     "without the namespaces/net isolator");
            return -AG_EINVAL;
        }
    }
    if (iso->nops == 0)
        return 0;
    if ((container = json_object()) == NULL)
        return -AG_ENOMEM;
    if (iso->cg_mask != 0) {
        if ((rv = cg_create(&iso->layout, iso->cg_root, iso->cg_mask, c->id, err, errlen)) != 0) {
            json_decref(container);
            return rv;
        }
        if ((iso->cg_mask & CG_MASK(CG_DEVICES)) &&
            (rv = cg_set_devices(&iso->layout, iso->cg_root, c->id, err, errlen)) != 0) {
            cg_destroy(&iso->layout, iso->cg_root, iso->cg_mask, c->id);
            json_decref(container);
            return rv;
        }
        groups = json_array();
        for (int k = 0; k < CG_NCTRL; k++) {
            bool dup = false;
            if (!(iso->cg_mask & CG_MASK(k)))
                continue;
            cg_path(&iso->layout, iso->cg_root, k, c->id, dir, sizeof(dir));
            for (size_t j = 0; j < json_array_size(groups); j++)
                dup = dup || strcmp(json_string_value(json_array_get(groups, j)), dir) == 0;
            if (!dup)
                json_array_append_new(groups, json_string(dir));
        }
        json_object_set_new(container, "cgroups", groups);
        /* The groups the container's first process may join at once, while it
         * builds the container: all but the cpu ones (the setup must not run
         * under the task's cpu quota, nor count as its cpu usage). */
        {
            json_t *setup = json_array();
            char cpu[2][PATH_MAX];
            for (int k = 0; k < 2; k++) {
                cpu[k][0] = '\0';
                if (iso->cg_mask & CG_MASK(k))
                    cg_path(&iso->layout, iso->cg_root, k, c->id, cpu[k], sizeof(cpu[k]));
            }
            for (int k = CG_CPUACCT + 1; k < CG_NCTRL; k++) {
                bool dup = false;
                if (!(iso->cg_mask & CG_MASK(k)))
                    continue;
                cg_path(&iso->layout, iso->cg_root, k, c->id, dir, sizeof(dir));
                if (strcmp(dir, cpu[0]) == 0 || strcmp(dir, cpu[1]) == 0)
                    continue; /* shared with cpu (cgroup v2, co-mounted v1) */
                for (size_t j = 0; j < json_array_size(setup); j++)
                    dup = dup || strcmp(json_string_value(json_array_get(setup, j)), dir) == 0;
                if (!dup)
                    json_array_append_new(setup, json_string(dir));
            }
            json_object_set_new(container, "cgroups_setup", setup);
        }
        {
            json_t *kill = json_object();
            int pc = (iso->cg_mask & CG_MASK(CG_FREEZER)) ? CG_FREEZER : -1;
            for (int k = 0; pc < 0 && k < CG_NCTRL; k++)
                if (iso->cg_mask & CG_MASK(k))
                    pc = k;
            cg_path(&iso->layout, iso->cg_root, pc, c->id, dir, sizeof(dir));
            json_object_set_new(kill, "procs", json_string(dir));
            json_object_set_new(kill, "version", json_integer(iso->layout.ctrl[pc].version));
            if (iso->cg_mask & CG_MASK(CG_FREEZER)) {
                cg_path(&iso->layout, iso->cg_root, CG_FREEZER, c->id, dir, sizeof(dir));
                json_object_set_new(kill, "freezer", json_string(dir));
            }
            json_object_set_new(container, "kill", kill);
        }
    }
    for (size_t i = 0; i < iso->nops; i++) {
        if (iso->ops[i]->prepare == NULL)
            continue;
        if ((rv = iso->ops[i]->prepare(iso, c, container, err, errlen)) != 0) {
            if (iso->cg_mask != 0)
                cg_destroy(&iso->layout, iso->cg_root, iso->cg_mask, c->id);
            json_decref(container);
            return rv;
        }
    }
    if (iso->ns_pid || iso->fs_linux)
        json_object_set_new(container, "harden", json_true());
    json_object_set_new(launch, "container", container);
    return 0;
}

int
iso_stats(struct iso *iso, const char *id, struct cg_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!iso_has_cgroups(iso))
        return -AG_ENOENT;
    return cg_stats(&iso->layout, iso->cg_root, iso->cg_mask, id, out);
}

bool
iso_oom(struct iso *iso, const char *id, char *msg, size_t msglen)
{
    struct cg_stats s;

    if (!iso_has_cgroups(iso) || !(iso->cg_mask & CG_MASK(CG_MEMORY)))
        return false;
    cg_stats(&iso->layout, iso->cg_root, CG_MASK(CG_MEMORY), id, &s);
    if (s.oom_kills == 0)
        return false;
    snprintf(msg, msglen,
             "Memory limit exceeded: Requested: %lluMB Maximum Used: %lluMB (the kernel's OOM "
             "killer ended a process of the task)",
             (unsigned long long)(s.mem_limit >> 20), (unsigned long long)(s.mem_peak >> 20));
    return true;
}

int
iso_kill(struct iso *iso, const char *id)
{
    if (!iso_has_cgroups(iso))
        return -AG_ENOENT;
    return cg_kill(&iso->layout, iso->cg_root, iso->cg_mask, id);
}

int
iso_cleanup(struct iso *iso, const char *id)
{
    if (!iso_has_cgroups(iso))
        return 0;
    return cg_destroy(&iso->layout, iso->cg_root, iso->cg_mask, id);
}

struct orphan_walk {
    struct iso *iso;
    bool (*known)(void *arg, const char *id);
    void *arg;
    int n;
};

static void
orphan_cb(void *arg, const char *name)
{
    struct orphan_walk *w = arg;

    if (w->known(w->arg, name))
        return;
    log_info("isolation: destroying orphan container cgroups container_id=%s", name);
    cg_destroy(&w->iso->layout, w->iso->cg_root, w->iso->cg_mask, name);
    w->n++;
}

int
iso_orphans(struct iso *iso, bool (*known)(void *arg, const char *id), void *arg)
{
    struct orphan_walk w = {.iso = iso, .known = known, .arg = arg};
    char seen[CG_NCTRL][PATH_MAX];
    int nseen = 0;

    if (!iso_has_cgroups(iso))
        return 0;
    for (int c = 0; c < CG_NCTRL; c++) {
        bool dup = false;
        if (!(iso->cg_mask & CG_MASK(c)))
            continue;
        for (int j = 0; j < nseen; j++)
            dup = dup || strcmp(seen[j], iso->layout.ctrl[c].mount) == 0;
        if (dup)
            continue;
        snprintf(seen[nseen++], PATH_MAX, "%s", iso->layout.ctrl[c].mount);
        cg_list(&iso->layout, iso->cg_root, (enum cg_ctrl)c, orphan_cb, &w);
    }
    return w.n;
}

void
iso_roots(const struct iso *iso, char *buf, size_t len)
{
    char dir[PATH_MAX];
    size_t off = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    if (!iso_has_cgroups(iso))
        return;
    for (int c = 0; c < CG_NCTRL; c++) {
        if (!(iso->cg_mask & CG_MASK(c)) ||
            cg_path(&iso->layout, iso->cg_root, c, NULL, dir, sizeof(dir)) != 0 ||
            strstr(buf, dir) != NULL)
            continue;
        off += (size_t)snprintf(buf + off, len - off, "%s\n", dir);
        if (off >= len) {
            buf[len - 1] = '\0';
            return;
        }
    }
}
