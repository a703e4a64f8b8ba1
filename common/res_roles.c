/*
 * Reservations: role names (res_role_valid) and the views of a collection by
 * role — the items of one role, the items a role may use (its own, its
 * ancestors' and unreserved ones), and the collection relabelled to one role.
 */
#include "resources.h"

#include <string.h>

#include "error.h"
#include "res_int.h"
#include "text.h"

bool
res_role_valid(const char *role)
{
    size_t seg = 0, i;

    if (role == NULL || role[0] == '\0')
        return false;
    if (strcmp(role, RES_ANY_ROLE) == 0)
        return true;
    for (i = 0; role[i] != '\0'; i++) {
        char c = role[i];
        if (i >= RES_ROLE_MAX - 1)
            return false;
        if (c == '/') {
            if (seg == 0)
                return false;
            seg = 0;
            continue;
        }
        if (seg == 0 && (c == '.' || c == '-'))
            return false;
        if (!txt_is_alnum(c) && c != '_' && c != '.' && c != '-')
            return false;
        seg++;
    }
    return seg > 0;
}

static bool
keep_role(const struct res_item *it, const char *role)
{
    return res_short_cmp(it->role, role) == 0;
}

/* Reserved for `role` or one of its ancestors, or unreserved. */
static bool
keep_allocatable(const struct res_item *it, const char *role)
{
    size_t n;

    if (res_short_cmp(it->role, RES_ANY_ROLE) == 0)
        return true;
    n = strlen(it->role);
    return strncmp(it->role, role, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

/* res_coll_select with a validated role ("*" for NULL). */
static int
select_by_role(struct resources *out, const struct resources *r, const char *role,
               bool (*keep)(const struct res_item *, const char *))
{
    role = res_role_or_any(role);
    if (!res_role_valid(role))
        return -AG_EINVAL;
    return res_coll_select(out, r, keep, role);
}

int
res_filter_role(struct resources *out, const struct resources *r, const char *role)
{
    return select_by_role(out, r, role, keep_role);
}

int
res_allocatable_to(struct resources *out, const struct resources *r, const char *role)
{
    return select_by_role(out, r, role, keep_allocatable);
}

int
res_set_role(struct resources *out, const struct resources *r, const char *role)
{
    struct resources tmp;
    int rc = 0;

    role = res_role_or_any(role);
    if (!res_role_valid(role))
        return -AG_EINVAL;
    res_init(&tmp);
    rc = res_items_reserve(&tmp, r->n);
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        struct res_item it = r->items[i]; /* shallow: res_coll_add_item copies */
        strcpy(it.role, role);
        rc = res_coll_add_item(&tmp, &it);
    }
    return res_coll_commit(out, &tmp, rc);
}

int
res_flatten(struct resources *out, const struct resources *r)
{
    return res_set_role(out, r, RES_ANY_ROLE);
}
