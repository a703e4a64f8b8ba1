/*
 * The public resource helpers of <agora/scheduler.h> (ag_resources_*,
 * ag_offer_fits): an opaque wrapper around common/resources, so that
 * frameworks and plugins parse, compare and subtract Mesos resource text with
 * the same rules (fixed-point scalars, roles, ranges, sets) as the master.
 */
#include "error.h"

#include "sched_internal.h"

#include "resources.h"

#include <stdlib.h>

struct ag_resources {
    struct resources r;
};

static struct ag_resources *
agres_new(void)
{
    struct ag_resources *r = malloc(sizeof(*r));

    if (r != NULL)
        res_init(&r->r);
    return r;
}

AG_API int
ag_resources_parse(struct ag_resources **out, const char *text)
{
    struct ag_resources *r;
    char err[200];
    int rv;

    if (out == NULL || text == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((r = agres_new()) == NULL)
        return sched_err(-AG_ENOMEM, "out of memory");
    if ((rv = res_parse(&r->r, text, err, sizeof(err))) != 0) {
        ag_resources_free(r);
        return rv == -AG_ENOMEM ? sched_err(rv, "out of memory") : sched_err(rv, "%s", err);
    }
    *out = r;
    return 0;
}

AG_API int
ag_resources_from_offer(struct ag_resources **out, const struct ag_offer *o)
{
    struct ag_resources *r;

    if (out == NULL || o == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((r = agres_new()) == NULL || res_copy(&r->r, &o->o.resources) != 0) {
        ag_resources_free(r);
        return sched_err(-AG_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

AG_API void
ag_resources_free(struct ag_resources *r)
{
    if (r == NULL)
        return;
    res_fini(&r->r);
    free(r);
}

AG_API bool
ag_resources_contains(const struct ag_resources *a, const struct ag_resources *b)
{
    return a != NULL && b != NULL && res_contains(&a->r, &b->r);
}

AG_API int
ag_resources_subtract(struct ag_resources *a, const struct ag_resources *b)
{
    int rv;

    if (a == NULL || b == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((rv = res_sub(&a->r, &b->r)) == -AG_ERANGE)
        return sched_err(rv, "the resources do not contain what is subtracted");
    return rv != 0 ? sched_err(rv, "out of memory") : 0;
}

AG_API int
ag_resources_add(struct ag_resources *a, const struct ag_resources *b)
{
    int rv;

    if (a == NULL || b == NULL)
        return sched_err(-AG_EINVAL, "NULL argument");
    if ((rv = res_add(&a->r, &b->r)) == -AG_EINVAL)
        return sched_err(rv, "a resource has a different type on each side");
    if (rv == -AG_ERANGE)
        return sched_err(rv, "a scalar sum overflows");
    return rv != 0 ? sched_err(rv, "out of memory") : 0;
}

AG_API bool
ag_resources_empty(const struct ag_resources *r)
{
    return r == NULL || res_empty(&r->r);
}

AG_API double
ag_resources_scalar(const struct ag_resources *r, const char *name)
{
    if (r == NULL || name == NULL)
        return 0;
    return (double)res_scalar(&r->r, name) / RES_SCALE;
}

AG_API size_t
ag_resources_format(const struct ag_resources *r, char *buf, size_t len)
{
    struct resources empty;

    if (r != NULL)
        return res_format(&r->r, buf, len);
    res_init(&empty);
    return res_format(&empty, buf, len);
}

AG_API int
ag_offer_fits(const struct ag_offer *o, const char *resources)
{
    struct ag_resources *need;
    int rv;

    if (o == NULL)
        return sched_err(-AG_EINVAL, "NULL offer");
    if ((rv = ag_resources_parse(&need, resources)) != 0)
        return rv;
    rv = res_contains(&o->o.resources, &need->r) ? 1 : 0;
    ag_resources_free(need);
    return rv;
}
