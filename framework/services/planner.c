/* Task placement: constraints and resources. See planner.h. */
#include "planner.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
plan_fit_init(struct plan_fit *f)
{
    res_init(&f->res);
    f->nports = 0;
}

void
plan_fit_fini(struct plan_fit *f)
{
    res_fini(&f->res);
    f->nports = 0;
}

/* The value of `field` on an agent, or NULL when it has none. */
static const char *
field_value(const char *field, const char *hostname, const struct attributes *attrs,
            const struct attr **attr)
{
    *attr = NULL;
    if (strcmp(field, "hostname") == 0)
        return hostname;
    *attr = attrs ? attr_find(attrs, field) : NULL;
    return *attr ? (*attr)->text : NULL;
}

/* Whether two agents have the same value of `field`. */
static bool
same_value(const char *field, const char *v1, const struct attr *a1, const char *host2,
           const struct attributes *attrs2)
{
    const struct attr *a2;
    const char *v2 = field_value(field, host2, attrs2, &a2);

    if (v1 == NULL || v2 == NULL)
        return false;
    if (a1 != NULL && a2 != NULL && a1->type == ATTR_SCALAR && a2->type == ATTR_SCALAR)
        return a1->scalar == a2->scalar;
    return strcmp(v1, v2) == 0;
}

/* Whether the agent's value equals the constraint's literal. */
static bool
equals_literal(const char *field, const char *v, const char *hostname,
               const struct attributes *attrs, const char *literal)
{
    if (v == NULL)
        return false;
    if (strcmp(field, "hostname") == 0)
        return strcmp(hostname, literal) == 0;
    return attr_matches(attrs, field, literal);
}

static size_t
count_same(const char *field, const char *v, const struct attr *a, const struct plan_placed *p,
           size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        if (same_value(field, v, a, p[i].hostname, p[i].attrs))
            c++;
    return c;
}

/* Whether the value of p[i] already occurred in p[0..i-1]. */
static bool
seen_before(const char *field, const char *v, const struct attr *a, const struct plan_placed *p,
            size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (same_value(field, v, a, p[j].hostname, p[j].attrs))
            return true;
    return false;
}

/* GROUP_BY: whether the agent's group has the smallest count. */
static bool
group_by_ok(const struct app_constraint *k, const char *v, const struct attr *a,
            const struct plan_placed *p, size_t n, const struct plan_placed *known, size_t nknown)
{
    size_t mine = count_same(k->field, v, a, p, n), min = (size_t)-1, groups = 0;
    bool mine_seen = mine > 0;

    /* Values of the app's tasks, each counted once. */
    for (size_t i = 0; i < n; i++) {
        const struct attr *ai;
        const char *vi = field_value(k->field, p[i].hostname, p[i].attrs, &ai);
        size_t c;
        if (vi == NULL || seen_before(k->field, vi, ai, p, i))
            continue;
        groups++;
        c = count_same(k->field, vi, ai, p, n);
        if (c < min)
            min = c;
    }
    /* Values of known agents without tasks: groups with 0. */
    for (size_t i = 0; i < nknown; i++) {
        const struct attr *ai;
        const char *vi = field_value(k->field, known[i].hostname, known[i].attrs, &ai);
        if (vi == NULL || seen_before(k->field, vi, ai, known, i) ||
            count_same(k->field, vi, ai, p, n) > 0)
            continue;
        groups++;
        min = 0;
    }
    if (groups == 0)
        return true;
    if (!mine_seen || (k->num > 0 && groups < (size_t)k->num))
        min = 0;
    return mine <= min;
}

bool
plan_constraints_ok(const struct app_spec *s, const char *hostname, const struct attributes *attrs,
                    const struct plan_placed *placed, size_t nplaced,
                    const struct plan_placed *known, size_t nknown, const char **why)
{
    for (size_t i = 0; i < s->ncons; i++) {
        const struct app_constraint *k = &s->cons[i];
        const struct attr *a;
        const char *v = field_value(k->field, hostname, attrs, &a);
        bool ok = true;

        switch (k->op) {
        case APP_CONS_UNIQUE:
            ok = v != NULL && count_same(k->field, v, a, placed, nplaced) == 0;
            break;
        case APP_CONS_CLUSTER:
            if (v == NULL)
                ok = false;
            else if (k->value != NULL)
                ok = equals_literal(k->field, v, hostname, attrs, k->value);
            else
                ok =
                    nplaced == 0 || same_value(k->field, v, a, placed[0].hostname, placed[0].attrs);
            break;
        case APP_CONS_GROUP_BY:
            ok = v != NULL && group_by_ok(k, v, a, placed, nplaced, known, nknown);
            break;
        case APP_CONS_LIKE:
            ok = v != NULL && regexec(&k->re, v, 0, NULL, 0) == 0;
            break;
        case APP_CONS_UNLIKE:
            ok = v == NULL || regexec(&k->re, v, 0, NULL, 0) != 0;
            break;
        case APP_CONS_MAX_PER:
            ok = v != NULL && count_same(k->field, v, a, placed, nplaced) < (size_t)k->num;
            break;
        case APP_CONS_IS:
            ok = equals_literal(k->field, v, hostname, attrs, k->value);
            break;
        }
        if (!ok) {
            if (why)
                *why = app_cons_op_name(k->op);
            return false;
        }
    }
    return true;
}

static bool
role_accepted(const char *role, const struct app_spec *s, const char *const *defaults)
{
    if (s->roles != NULL) {
        for (size_t i = 0; i < s->nroles; i++)
            if (strcmp(s->roles[i], role) == 0)
                return true;
        return false;
    }
    if (defaults == NULL)
        return true;
    for (size_t i = 0; defaults[i]; i++)
        if (strcmp(defaults[i], role) == 0)
            return true;
    return false;
}

/* Takes `need` milli-units of scalar `name` into `out`, reserved roles first. */
static bool
take_scalar(const struct plan_agent *a, const char *name, int64_t need, const struct app_spec *s,
            const char *const *defaults, struct resources *out)
{
    for (int pass = 0; pass < 2 && need > 0; pass++) {
        for (size_t i = 0; i < a->avail.n && need > 0; i++) {
            const struct res_item *it = &a->avail.items[i];
            bool reserved = strcmp(it->role, RES_ANY_ROLE) != 0;
            int64_t take;
            if (it->type != RES_SCALAR || strcmp(it->name, name) != 0 || reserved != (pass == 0) ||
                !role_accepted(it->role, s, defaults))
                continue;
            take = it->scalar < need ? it->scalar : need;
            if (res_add_scalar(out, name, it->role, take) != 0)
                return false;
            need -= take;
        }
    }
    return need == 0;
}

static bool
port_taken(const uint32_t *ports, size_t n, uint64_t p)
{
    for (size_t i = 0; i < n; i++)
        if (ports[i] == p)
            return true;
    return false;
}

/* The role of the ranges item holding port `p` that the app accepts, or NULL. */
static const char *
port_role(const struct plan_agent *a, uint64_t p, const struct app_spec *s,
          const char *const *defaults)
{
    for (size_t i = 0; i < a->avail.n; i++) {
        const struct res_item *it = &a->avail.items[i];
        if (it->type != RES_RANGES || strcmp(it->name, "ports") != 0 ||
            !role_accepted(it->role, s, defaults))
            continue;
        for (size_t r = 0; r < it->nranges; r++)
            if (p >= it->ranges[r].begin && p <= it->ranges[r].end)
                return it->role;
    }
    return NULL;
}

/* splitmix64 over a state of the loop thread's; plan_seed() sets it. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

void
plan_seed(uint64_t seed)
{
    rng_state = seed;
}

static uint64_t
rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * A free port the app may use, chosen at random among all of them (as
 * Marathon does), so that a port held by something outside Agora on one
 * agent is not chosen again and again. Sets *role. Returns 0 if none.
 */
static uint64_t
random_port(const struct plan_agent *a, const struct app_spec *s, const char *const *defaults,
            const struct plan_fit *fit, const char **role)
{
    uint64_t total = 0, skip = 0;

    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (total <= fit->nports)
                return 0; /* at most the ports this task already took */
            skip = rng_next() % total;
        }
        /* pass 0 counts; pass 1 walks to the chosen one, then on to a free one. */
        for (int round = 0; round < (pass == 0 ? 1 : 2); round++) {
            for (size_t k = 0; k < a->avail.n; k++) {
                const struct res_item *it = &a->avail.items[k];
                if (it->type != RES_RANGES || strcmp(it->name, "ports") != 0 ||
                    !role_accepted(it->role, s, defaults))
                    continue;
                for (size_t r = 0; r < it->nranges; r++) {
                    uint64_t b = it->ranges[r].begin, e = it->ranges[r].end, n = e - b + 1;
                    if (pass == 0) {
                        total += n;
                        continue;
                    }
                    if (skip >= n) {
                        skip -= n;
                        continue;
                    }
                    for (uint64_t p = b + skip; p <= e; p++)
                        if (!port_taken(fit->ports, fit->nports, p)) {
                            *role = it->role;
                            return p;
                        }
                    skip = 0;
                }
            }
        }
    }
    return 0;
}

/* Picks ports into fit->ports and adds them to fit->res. */
static int
take_ports(const struct plan_agent *a, const struct app_spec *s, const char *const *defaults,
           struct plan_fit *fit)
{
    const char *roles[APP_MAX_PORTS];
    struct resources pr;
    char text[APP_MAX_PORTS * 48 + 16];
    size_t len = 0;
    int rc;

    fit->nports = 0;
    for (size_t i = 0; i < s->nports; i++) {
        uint64_t want = s->ports[i];
        const char *role = NULL;
        if (s->require_ports && want != 0) {
            if (port_taken(fit->ports, fit->nports, want) ||
                (role = port_role(a, want, s, defaults)) == NULL)
                return -AG_ENOSPC;
        } else if ((want = random_port(a, s, defaults, fit, &role)) == 0) {
            return -AG_ENOSPC;
        }
        roles[fit->nports] = role;
        fit->ports[fit->nports++] = (uint32_t)want;
    }
    if (fit->nports == 0)
        return 0;
    for (size_t i = 0; i < fit->nports; i++) {
        if (strcmp(roles[i], RES_ANY_ROLE) == 0)
            len += snprintf(text + len, sizeof(text) - len, "ports:[%u-%u];", fit->ports[i],
                            fit->ports[i]);
        else
            len += snprintf(text + len, sizeof(text) - len, "ports(%s):[%u-%u];", roles[i],
                            fit->ports[i], fit->ports[i]);
    }
    res_init(&pr);
    rc = res_parse(&pr, text, NULL, 0);
    if (rc == 0)
        rc = res_add(&fit->res, &pr);
    res_fini(&pr);
    return rc == 0 ? 0 : -AG_ENOMEM;
}

static int64_t
milli(double v)
{
    return (int64_t)llround(v * RES_SCALE);
}

int
plan_fit(const struct app_spec *s, const char *const *default_roles, struct plan_agent *a,
         const struct plan_placed *placed, size_t nplaced, const struct plan_placed *known,
         size_t nknown, struct plan_fit *fit, const char **why)
{
    struct plan_fit f;
    int rc;

    if (!plan_constraints_ok(s, a->hostname, a->attrs, placed, nplaced, known, nknown, why))
        return -AG_ENOSPC;
    plan_fit_init(&f);
    if (!take_scalar(a, "cpus", milli(s->cpus), s, default_roles, &f.res)) {
        if (why)
            *why = "cpus";
        rc = -AG_ENOSPC;
        goto fail;
    }
    if (!take_scalar(a, "mem", milli(s->mem), s, default_roles, &f.res)) {
        if (why)
            *why = "mem";
        rc = -AG_ENOSPC;
        goto fail;
    }
    if (s->disk > 0 && !take_scalar(a, "disk", milli(s->disk), s, default_roles, &f.res)) {
        if (why)
            *why = "disk";
        rc = -AG_ENOSPC;
        goto fail;
    }
    if ((rc = take_ports(a, s, default_roles, &f)) != 0) {
        if (why)
            *why = "ports";
        goto fail;
    }
    if (res_sub(&a->avail, &f.res) != 0) {
        rc = -AG_ENOSPC;
        goto fail;
    }
    plan_fit_fini(fit);
    *fit = f;
    return 0;
fail:
    plan_fit_fini(&f);
    return rc;
}
