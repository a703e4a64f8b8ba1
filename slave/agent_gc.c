#include "agent_gc.h"

#include "agent_int.h"
#include "agent_tasks.h"
#include "agent_trash.h"
#include "clock.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t
gc_delay_ms(const struct agent *a)
{
    return a->cfg.gc_delay_ms > 0 ? a->cfg.gc_delay_ms : 7 * 24 * 3600 * 1000LL;
}

/* Removes the old sandboxes of tasks the agent does not have and framework
 * directories left empty (see the top). */
static void
gc_sweep(struct agent *a)
{
    double now = clock_wall(), delay = (double)gc_delay_ms(a) / 1000.0;
    char fdir[PATH_MAX + 256], tdir[2 * PATH_MAX];
    struct dirent *fe, *te;
    struct stat st;
    DIR *fd, *td;
    int removed = 0;

    if ((fd = opendir(a->paths.sandboxes)) == NULL)
        return;
    while ((fe = readdir(fd)) != NULL) {
        bool empty = true;
        if (fe->d_name[0] == '.' || !ids_valid(fe->d_name))
            continue;
        snprintf(fdir, sizeof(fdir), "%s/%s", a->paths.sandboxes, fe->d_name);
        if ((td = opendir(fdir)) == NULL)
            continue;
        while ((te = readdir(td)) != NULL) {
            if (te->d_name[0] == '.')
                continue;
            empty = false;
            if (atask_get(a, fe->d_name, te->d_name) != NULL)
                continue;
            snprintf(tdir, sizeof(tdir), "%s/%s", fdir, te->d_name);
            if (lstat(tdir, &st) != 0 || (double)st.st_mtime + delay > now)
                continue;
            log_info("gc: removing the sandbox of finished task framework_id=%s task_id=%s",
                     fe->d_name, te->d_name);
            trash_remove(a->loop, &a->paths, tdir);
            removed++;
        }
        closedir(td);
        if (empty && lstat(fdir, &st) == 0 && (double)st.st_mtime + delay <= now)
            rmdir(fdir);
    }
    closedir(fd);
    if (removed > 0)
        log_debug("gc: %d sandboxes removed", removed);
}

void
gc_tick(struct agent *a, int64_t now)
{
    if (now >= a->next_gc_ms) {
        int64_t every = gc_delay_ms(a) / 4;
        a->next_gc_ms = now + (every < 1000 ? 1000 : every > 60000 ? 60000 : every);
        gc_sweep(a);
    }
}

void
gc_stale_containers(struct agent *a)
{
    char dir[PATH_MAX + 32], path[PATH_MAX + 320];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s", a->paths.containers);
    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *key;
        void *val;
        bool used = false;

        if (e->d_name[0] == '.')
            continue;
        for (size_t it = 0; hmap_next(&a->tasks, &it, &key, &val);)
            if (strcmp(((struct agent_task *)val)->st.container_id, e->d_name) == 0)
                used = true;
        if (!used) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            trash_remove(a->loop, &a->paths, path);
        }
    }
    closedir(d);
}
