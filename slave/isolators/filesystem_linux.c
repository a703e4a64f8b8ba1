/* filesystem/linux: tasks with an image get their own root filesystem
 * (isolator.h; the executor does the work, see image.h and container_init.h). */
#define _GNU_SOURCE
#include "isolator.h"

#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
has_overlay(void)
{
    char line[256];
    FILE *f = fopen("/proc/filesystems", "re");
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, "\toverlay\n") != NULL;
    fclose(f);
    return found;
}

static int
fs_init(struct iso *iso, char *err, size_t errlen)
{
    if (geteuid() != 0) {
        snprintf(err, errlen, "needs root");
        return -AG_EPERM;
    }
    if (!has_overlay()) {
        snprintf(err, errlen, "the kernel has no overlay filesystem");
        return -AG_ENOENT;
    }
    if (iso->image_cache[0] == '\0') {
        snprintf(err, errlen, "no image cache directory");
        return -AG_EINVAL;
    }
    if (mkdir(iso->image_cache, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the image cache %s: %s", iso->image_cache,
                 strerror(errno));
        return -AG_EIO;
    }
    iso->fs_linux = true;
    return 0;
}

static int
fs_prepare(struct iso *iso, const struct iso_container *c, json_t *container, char *err,
           size_t errlen)
{
    const char *image = c->task->container.image;
    json_t *list, *v;
    size_t i;
    bool have = false;

    (void)err;
    (void)errlen;
    if (image == NULL || image[0] == '\0')
        return 0;
    json_object_set_new(container, "image", json_string(image));
    json_object_set_new(container, "image_cache", json_string(iso->image_cache));
    if ((list = json_object_get(container, "namespaces")) == NULL) {
        list = json_array();
        json_object_set_new(container, "namespaces", list);
    }
    json_array_foreach(list, i, v)
    {
        have = have || strcmp(json_string_value(v), "mnt") == 0;
    }
    if (!have)
        json_array_append_new(list, json_string("mnt"));
    return 0;
}

const struct isolator_ops iso_filesystem_linux = {
    .name = "filesystem/linux",
    .init = fs_init,
    .prepare = fs_prepare,
};
