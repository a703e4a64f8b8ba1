/* The cgroups isolators: cgroups/cpu, cgroups/mem, cgroups/pids (isolator.h). */
#define _GNU_SOURCE
#include "isolator.h"

#include "error.h"

#include <stdio.h>
#include <string.h>

#define MIN_MEM_BYTES (1u << 20)

static int
cpu_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    (void)container;
    if (c->cpus <= 0)
        return 0; /* no cpus asked for: the default shares, no quota */
    return cg_set_cpu(&iso->layout, iso->cg_root, c->id, c->cpus, iso->cfs_quota, err, errlen);
}

const struct isolator_ops iso_cgroups_cpu = {
    .name = "cgroups/cpu",
    .cgroups = CG_MASK(CG_CPU) | CG_MASK(CG_CPUACCT),
    .prepare = cpu_prepare,
};

static int
mem_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
            size_t errlen)
{
    char dir[PATH_MAX];
    json_t *mem;
    int rv;

    if (c->mem_bytes > 0 &&
        (rv = cg_set_mem(&iso->layout, iso->cg_root, c->id,
                         c->mem_bytes < MIN_MEM_BYTES ? MIN_MEM_BYTES : c->mem_bytes, err,
                         errlen)) != 0)
        return rv;
    cg_path(&iso->layout, iso->cg_root, CG_MEMORY, c->id, dir, sizeof(dir));
    mem = json_object();
    json_object_set_new(mem, "dir", json_string(dir));
    json_object_set_new(mem, "version", json_integer(iso->layout.ctrl[CG_MEMORY].version));
    json_object_set_new(container, "memory", mem);
    return 0;
}

const struct isolator_ops iso_cgroups_mem = {
    .name = "cgroups/mem",
    .cgroups = CG_MASK(CG_MEMORY),
    .prepare = mem_prepare,
};

static int
pids_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
             size_t errlen)
{
    (void)container;
    return cg_set_pids(&iso->layout, iso->cg_root, c->id, iso->pids_max, err, errlen);
}

const struct isolator_ops iso_cgroups_pids = {
    .name = "cgroups/pids",
    .cgroups = CG_MASK(CG_PIDS),
    .prepare = pids_prepare,
};
