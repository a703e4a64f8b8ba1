#include "agent_trash.h"

#include "paths.h"
#include "xalloc.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct removal {
    uv_work_t req;
    char path[PATH_MAX];
};

static void
removal_work(uv_work_t *req)
{
    paths_remove_tree(((struct removal *)req->data)->path);
}

static void
removal_done(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

/* Deletes r->path on the thread pool (here when it cannot be queued); takes r. */
static void
removal_queue(uv_loop_t *loop, struct removal *r)
{
    r->req.data = r;
    if (uv_queue_work(loop, &r->req, removal_work, removal_done) != 0) {
        paths_remove_tree(r->path);
        free(r);
    }
}

void
trash_remove(uv_loop_t *loop, const struct paths *p, const char *path)
{
    struct removal *r = xcalloc(1, sizeof(*r));

    if (paths_trash(p, path, r->path, sizeof(r->path)) != 0) {
        free(r);
        paths_remove_tree(path);
        return;
    }
    removal_queue(loop, r);
}

/* Empties one trash directory. */
static void
empty_dir(uv_loop_t *loop, const char *dir)
{
    char path[2 * PATH_MAX];
    struct dirent *e;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct removal *r;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        r = xcalloc(1, sizeof(*r));
        snprintf(r->path, sizeof(r->path), "%s", path);
        removal_queue(loop, r);
    }
    closedir(d);
}

void
trash_empty(uv_loop_t *loop, const struct paths *p)
{
    char dir[PATH_MAX + 16];

    snprintf(dir, sizeof(dir), "%s/trash", p->work_dir);
    empty_dir(loop, dir);
    if (strcmp(dir, p->runtime_trash) != 0)
        empty_dir(loop, p->runtime_trash);
}
