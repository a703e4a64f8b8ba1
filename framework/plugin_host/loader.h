/*
 * Loading a scheduler plugin: resolving --plugin to a file, dlopen, and
 * checking the descriptor against the ABI this host implements
 * (<agora/plugin.h>).
 */
#ifndef AGORA_PLUGIN_HOST_LOADER_H
#define AGORA_PLUGIN_HOST_LOADER_H

#include "error.h"

#include <agora/plugin.h>

#include <stddef.h>

struct loaded_plugin {
    void *handle;          /* from dlopen */
    char *path;            /* the file loaded (malloc'd) */
    struct ag_plugin desc; /* the plugin's descriptor; members it does not know are NULL */
};

/*
 * Resolves `spec` (a path when it contains '/', else a name looked up as
 * `spec` or `spec.so` in `plugin_dir`, and then in the current directory) and
 * loads it. Returns 0 and fills *lp; on failure nothing stays loaded, `err`
 * holds a message for the user (what was expected and how to fix it) and the
 * result is -AG_ENOENT (no such file), -AG_EINVAL (not loadable, or no
 * descriptor) or -AG_EVERSION (ABI mismatch).
 */
int loader_open(struct loaded_plugin *lp, const char *spec, const char *plugin_dir, char *err,
                size_t errlen);

/* Unloads the plugin and frees what loader_open allocated. Accepts a zeroed struct. */
void loader_close(struct loaded_plugin *lp);

/* Checks a descriptor (the part of loader_open after dlsym), for tests: returns
 * 0, or -AG_EINVAL / -AG_EVERSION with `err` set, and copies it into *out. */
int loader_check(const char *path, const struct ag_plugin *p, struct ag_plugin *out, char *err,
                 size_t errlen);

#endif
