#include "loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "0.1.0"
#endif

/* Size of version 1 of the descriptor: up to and including `reconciled`. */
#define DESC_V1_SIZE (offsetof(struct ag_plugin, reconciled) + sizeof(void (*)(void)))

static bool
is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Finds the file for `spec`; returns a malloc'd path or NULL (err set). */
static char *
loader_resolve(const char *spec, const char *plugin_dir, char *err, size_t errlen)
{
    char cand[3][4096];
    size_t n = 0;
    bool so = ends_with(spec, ".so");

    if (strchr(spec, '/') != NULL) {
        if (is_file(spec))
            return strdup(spec);
        snprintf(err, errlen, "plugin %s: no such file", spec);
        return NULL;
    }
    if (plugin_dir != NULL && plugin_dir[0] != '\0')
        snprintf(cand[n++], sizeof(cand[0]), "%s/%s%s", plugin_dir, spec, so ? "" : ".so");
    snprintf(cand[n++], sizeof(cand[0]), "./%s", spec);
    if (!so)
        snprintf(cand[n++], sizeof(cand[0]), "./%s.so", spec);
    for (size_t i = 0; i < n; i++)
        if (is_file(cand[i]))
            return strdup(cand[i]);
    snprintf(err, errlen, "plugin %s: not found (looked for %s%s%s%s%s)", spec, cand[0],
             n > 1 ? ", " : "", n > 1 ? cand[1] : "", n > 2 ? ", " : "", n > 2 ? cand[2] : "");
    return NULL;
}

int
loader_check(const char *path, const struct ag_plugin *p, struct ag_plugin *out, char *err,
             size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (p->abi_version != AG_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen,
                 "plugin %s: ABI version %u, this host supports %d; rebuild the plugin against "
                 "agora-scheduler %s (AG_PLUGIN_ABI_VERSION %d)",
                 path, (unsigned)p->abi_version, AG_PLUGIN_ABI_VERSION, AGORA_VERSION,
                 AG_PLUGIN_ABI_VERSION);
        return -AG_EVERSION;
    }
    if (p->size < DESC_V1_SIZE) {
        snprintf(err, errlen,
                 "plugin %s: descriptor of %u bytes, ABI version %d needs at least %zu (set "
                 ".size = sizeof(struct ag_plugin)); rebuild the plugin against agora-scheduler %s",
                 path, (unsigned)p->size, AG_PLUGIN_ABI_VERSION, DESC_V1_SIZE, AGORA_VERSION);
        return -AG_EVERSION;
    }
    if (p->name == NULL || p->name[0] == '\0') {
        snprintf(err, errlen, "plugin %s: the descriptor has no name (set .name)", path);
        return -AG_EINVAL;
    }
    /* Members this host knows; a newer plugin's extra members are ignored. */
    memcpy(out, p, p->size < sizeof(*out) ? p->size : sizeof(*out));
    return 0;
}

int
loader_open(struct loaded_plugin *lp, const char *spec, const char *plugin_dir, char *err,
            size_t errlen)
{
    const struct ag_plugin *p;
    int rv;

    memset(lp, 0, sizeof(*lp));
    if ((lp->path = loader_resolve(spec, plugin_dir, err, errlen)) == NULL)
        return -AG_ENOENT;
    /* RTLD_NOW: a plugin needing a function this host lacks fails here, not later. */
    if ((lp->handle = dlopen(lp->path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        snprintf(err, errlen, "plugin %s: cannot load: %s", lp->path, dlerror());
        rv = -AG_EINVAL;
        goto fail;
    }
    dlerror();
    p = dlsym(lp->handle, AG_PLUGIN_SYMBOL);
    if (p == NULL) {
        snprintf(err, errlen,
                 "plugin %s: no symbol '%s', so not an Agora scheduler plugin; a plugin defines "
                 "`AG_PLUGIN_EXPORT const struct ag_plugin %s = {...}` (see <agora/plugin.h>)",
                 lp->path, AG_PLUGIN_SYMBOL, AG_PLUGIN_SYMBOL);
        rv = -AG_EINVAL;
        goto fail;
    }
    if ((rv = loader_check(lp->path, p, &lp->desc, err, errlen)) != 0)
        goto fail;
    return 0;
fail:
    loader_close(lp);
    return rv;
}

void
loader_close(struct loaded_plugin *lp)
{
    if (lp->handle != NULL)
        dlclose(lp->handle);
    free(lp->path);
    memset(lp, 0, sizeof(*lp));
}
