/*
 * The allocator (see allocator.h for the contract, docs/allocation.md for the
 * design). Data structures, all indexed by dense integers:
 *
 *  - agents: total and available `struct resources`, cached scalar vectors
 *    (struct qvec: milli-units per scalar name, ALLOC_MAX_SCALARS wide) of the
 *    available resources, a small list of (framework, role) allocations, and
 *    offer filters: a bitmap over framework indices plus an array of
 *    (framework, expiry). Agents with filters sit in a min-heap keyed by their
 *    earliest expiry, so a run expires filters without scanning.
 *  - roles: a tree (root "" holds the top-level roles). Each role has a
 *    framework sorter, and, once it has subroles, a role sorter over its
 *    children plus itself (its own frameworks compete with its subroles).
 *  - frameworks: one member per role they are in (allocation, suppression).
 *
 * A run visits agents and, for each, walks the role tree in sorter order; the
 * first framework of a role that is not filtered on the agent gets what the
 * role may take. Shares change only after an agent is done (dirty lists),
 * so a sorter never moves under a walk. Each agent gets up to two passes:
 * pass 1 skips refusing frameworks for offers within what they refused
 * (idle ones sort last, so pass 1 stops at the first; per-role minimums of
 * what members refuse let it skip whole subtrees), pass 2 offers what is left
 * to anyone not filtered.
 */
#include "allocator.h"

#include "error.h"
#include "hmap.h"
#include "prng.h"
#include "sorter.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NQ ALLOC_MAX_SCALARS
#define NONE UINT32_MAX
#define NOLIMIT INT64_MAX
#define ID_MAX 64
#define MAX_MIN_ALTS 8
#define ROOT 0

struct qvec {
    int64_t v[NQ];
};

/* Available resources on an agent reserved for one role. */
struct resv {
    uint32_t role;
    struct qvec q;
};

/* Resources on an agent allocated to one framework in one role. */
struct aentry {
    uint32_t fw;
    uint32_t role;
    struct resources r;
    struct qvec last; /* quantities of the latest offer, until it is answered */
};

struct filter {
    uint32_t fw;
    double expiry;
};

struct agent {
    char id[ID_MAX];
    uint32_t idx;
    uint32_t order_pos;
    bool active;
    bool draining;
    bool pending;
    bool counted;   /* its unreserved available is in a->cl_avail_unres */
    bool has_resv;  /* avail holds reserved items */
    bool unres_any; /* avail holds unreserved items (any type) */
    uint64_t visit;
    struct resources total;
    struct resources avail;
    struct qvec total_q;
    struct qvec avail_q;
    struct qvec avail_unres_q;
    struct resv *resv;
    uint32_t nresv, capresv;
    struct aentry *al;
    uint32_t nal, capal;
    uint64_t *fbits; /* filtered frameworks, by index */
    uint32_t fwords;
    struct filter *filt;
    uint32_t nfilt, capfilt;
    uint32_t nfilt_active; /* filters of frameworks that are active */
    double min_expiry;     /* <= the earliest filter expiry */
    int32_t heap_pos;      /* in a->fheap, -1 when absent */
};

struct member {
    uint32_t role;
    int slot; /* in the role's framework sorter */
    bool subscribed;
    bool suppressed;
    bool active;
    bool refusing;       /* declined a whole offer since it last kept part of one */
    bool idle;           /* refusing, and `refused` covers every offer */
    uint32_t rmi;        /* its entry in the role's member table */
    struct qvec refused; /* offers within this are not wanted (per scalar) */
    struct qvec kept;    /* the least it kept of an offer it kept part of */
    uint64_t dirty;
    uint64_t count;
    struct qvec alloc;
};

/* A role's view of one member (hot during walks: no framework access). */
enum { MS_HUNGRY, MS_REFUSING, MS_IDLE, MS_FREE };

struct rmem {
    uint32_t fw;
    uint32_t mi;
    uint8_t state;
};

struct framework {
    char id[ID_MAX];
    uint32_t idx;
    bool registered; /* false: only known from allocations found on agents */
    bool active;
    struct member *m;
    uint32_t nm, capm;
    uint32_t nactive;  /* active members */
    uint32_t nfilters; /* agents where it has a filter */
};

struct role {
    char name[RES_ROLE_MAX];
    uint32_t idx;
    uint32_t parent;
    struct sorter *fws;  /* frameworks of this role */
    struct sorter *kids; /* subroles plus this role itself; NULL without subroles */
    int slot_in_parent;
    int self_slot;
    uint32_t active_self; /* active members in this role */
    uint32_t active_sub;  /* active members in the subtree */
    uint32_t open_self;   /* active members that are not idle, in this role */
    uint32_t open_sub;    /* the same, in the subtree (0: tier 1 in sorters) */
    double weight;
    bool weight_set;
    uint64_t count_self, count_sub;
    uint64_t dirty;
    struct qvec self_alloc;
    struct qvec sub_alloc;
    struct qvec sub_alloc_unres;
    struct qvec sub_reserved;
    bool has_guar;
    bool has_limit;
    struct qvec guar;
    struct qvec limit; /* NOLIMIT where none */
    struct resources guar_r, limit_r;
    bool chain_limited; /* this role or an ancestor has a limit */
    uint32_t guar_top;  /* top-most role with a guarantee in the chain, or NONE */
    struct rmem *rm;    /* members, indexed by framework sorter id */
    uint32_t nrm, caprm;
    uint32_t rm_free; /* free entries, chained through `fw` */
    bool cdirty;      /* cmin_self needs recomputing */
};

struct dirty_member {
    uint32_t fw;
    uint32_t mi;
};

struct alloc {
    const struct sorter_ops *role_ops;
    const struct sorter_ops *fw_ops;
    uint64_t seed;
    struct prng prng;

    char rname[NQ][RES_NAME_MAX];
    uint32_t nrn;
    struct qvec min_alt[MAX_MIN_ALTS];
    uint32_t min_mask[MAX_MIN_ALTS];
    uint32_t nmin;

    struct hmap agent_map, fw_map, role_map;
    struct agent **agents;
    uint32_t capag;
    uint32_t *afree;
    uint32_t nafree;
    uint32_t *order; /* live agents */
    uint32_t norder;

    struct framework **fws;
    uint32_t capfws;
    uint32_t *ffree;
    uint32_t nffree;
    uint32_t nframeworks;
    uint32_t n_active_fw;
    uint32_t n_refusing;    /* active members that are refusing */
    struct qvec *cmin_self; /* per role: least its active members refuse */
    struct qvec *cmin_sub;  /* per role: the same over its subtree */
    uint32_t capcmin;
    bool cover_dirty;

    struct role **roles;
    uint32_t nroles, caproles;

    struct qvec cl_total;
    struct qvec cl_avail_unres;
    double inv_total[NQ];
    bool totals_dirty;

    uint32_t nguar;
    uint32_t *guar_tops;
    uint32_t nguar_tops, capguar_tops;
    uint32_t *qroles;
    uint32_t nqroles, capqroles;
    bool qroles_dirty;
    bool qroles_unsorted;

    struct dirty_member *dm;
    uint32_t ndm, capdm;
    uint32_t *dr;
    uint32_t ndr, capdr;
    uint64_t stamp;

    uint32_t *pend;
    uint32_t npend, cappend;
    bool all_pending;

    uint32_t *fheap;
    uint32_t nheap, capheap;
    size_t nfilters;

    bool running;
    int pass; /* 1: refusing members skip offers they refused; 2: leftovers */
    alloc_emit_fn emit;
    void *emit_arg;
    int run_offers;
    uint64_t visit_stamp;
    uint32_t *visit;
    uint32_t capvisit;
    struct resources scratch;

    struct resources info_alloc, info_resv, info_cons;
    const char **info_fws;
    size_t capinfo;

    struct alloc_stats stats;
};

/* ---- small helpers ---- */

static void
die(const char *what)
{
    fprintf(stderr, "allocator: %s\n", what);
    abort();
}

/* Grows `*p` (elements of `size` bytes, capacity `*cap`) to hold `need`. */
static void
grow(void *pp, uint32_t *cap, uint32_t need, size_t size)
{
    void **p = pp;
    uint32_t c = *cap ? *cap : 4;

    if (need <= *cap)
        return;
    while (c < need)
        c *= 2;
    *p = xrealloc(*p, (size_t)c * size);
    *cap = c;
}

/* Resource arithmetic whose preconditions were checked: only OOM can fail. */
static void
ck(int rc)
{
    if (rc == -AG_ENOMEM)
        die("out of memory");
    if (rc != 0)
        die("resource arithmetic failed");
}

static bool
id_ok(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) < ID_MAX;
}

static inline bool
is_any(const char *role)
{
    return role[0] == '*' && role[1] == '\0';
}

static inline void
qadd(struct qvec *a, const struct qvec *b, int sign)
{
    for (int k = 0; k < NQ; k++)
        a->v[k] += sign * b->v[k];
}

static inline bool
qzero(const struct qvec *a)
{
    for (int k = 0; k < NQ; k++)
        if (a->v[k] != 0)
            return false;
    return true;
}

static inline int64_t
min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t
max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Index of scalar name `name`, registering it when `create`; -1 when unknown
 * (or when the table is full). */
static int
qidx(struct alloc *a, const char *name, bool create)
{
    for (uint32_t k = 0; k < a->nrn; k++)
        if (a->rname[k][0] == name[0] && strcmp(a->rname[k], name) == 0)
            return (int)k;
    if (!create || a->nrn == NQ)
        return -1;
    snprintf(a->rname[a->nrn], RES_NAME_MAX, "%s", name);
    return (int)a->nrn++;
}

/* Scalar quantities of `r`: all roles into `all`, unreserved into `unres`. */
static void
qvec_of(struct alloc *a, const struct resources *r, struct qvec *all, struct qvec *unres)
{
    memset(all, 0, sizeof(*all));
    if (unres)
        memset(unres, 0, sizeof(*unres));
    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        int k;
        if (it->type != RES_SCALAR)
            continue;
        k = qidx(a, it->name, true);
        if (k < 0)
            continue;
        all->v[k] += it->scalar;
        if (unres && is_any(it->role))
            unres->v[k] += it->scalar;
    }
}

static double
share_of(const struct alloc *a, const struct qvec *q)
{
    double s = 0;

    for (uint32_t k = 0; k < a->nrn; k++) {
        double x = (double)q->v[k] * a->inv_total[k];
        if (x > s)
            s = x;
    }
    return s;
}

/* True when `q` satisfies one of the min_allocatable_resources alternatives
 * (always, when there are none). */
static bool
min_ok(const struct alloc *a, const struct qvec *q)
{
    if (a->nmin == 0)
        return true;
    for (uint32_t i = 0; i < a->nmin; i++) {
        bool ok = true;
        for (uint32_t k = 0; k < a->nrn && ok; k++)
            if ((a->min_mask[i] >> k & 1) && q->v[k] < a->min_alt[i].v[k])
                ok = false;
        if (ok)
            return true;
    }
    return false;
}

/* True when the agent's available resources could make some offer. */
static bool
avail_ok(const struct alloc *a, const struct agent *ag)
{
    if (ag->avail.n == 0)
        return false;
    return min_ok(a, &ag->avail_q);
}

/* True when every item of `r` has a valid role. */
static bool
roles_ok(const struct resources *r)
{
    if (r == NULL)
        return true;
    for (size_t i = 0; i < r->n; i++)
        if (!is_any(r->items[i].role) && !res_role_valid(r->items[i].role))
            return false;
    return true;
}

/* True when `x` and `y` hold the same quantities once roles are dropped. */
static bool
same_quantities(const struct resources *x, const struct resources *y)
{
    struct resources fx, fy;
    bool eq;

    res_init(&fx);
    res_init(&fy);
    ck(res_flatten(&fx, x));
    ck(res_flatten(&fy, y));
    eq = res_equal(&fx, &fy);
    res_fini(&fx);
    res_fini(&fy);
    return eq;
}

/* ---- roles ---- */

static inline struct role *
parent_of(const struct alloc *a, const struct role *r)
{
    return r->parent == NONE ? NULL : a->roles[r->parent];
}

static struct role *
role_find(const struct alloc *a, const char *name)
{
    return hmap_get(&a->role_map, name);
}

/* Keeps the per-role refusal minimums as long as the role array. */
static void
cmin_grow(struct alloc *a)
{
    uint32_t old = a->capcmin;

    if (a->nroles <= old)
        return;
    a->capcmin = a->caproles;
    a->cmin_self = xrealloc(a->cmin_self, a->capcmin * sizeof(*a->cmin_self));
    a->cmin_sub = xrealloc(a->cmin_sub, a->capcmin * sizeof(*a->cmin_sub));
    for (uint32_t i = old; i < a->capcmin; i++)
        for (int k = 0; k < NQ; k++)
            a->cmin_self[i].v[k] = a->cmin_sub[i].v[k] = NOLIMIT;
}

/* The role called `name`, created (with its ancestors) if needed; NULL when
 * the name is invalid. */
static struct role *
role_get(struct alloc *a, const char *name)
{
    struct role *r, *p;
    const char *slash;

    if (name == NULL || name[0] == '\0')
        return NULL;
    r = role_find(a, name);
    if (r != NULL)
        return r;
    if (!res_role_valid(name))
        return NULL;
    slash = strrchr(name, '/');
    if (slash != NULL) {
        char pname[RES_ROLE_MAX];
        snprintf(pname, sizeof(pname), "%.*s", (int)(slash - name), name);
        p = role_get(a, pname);
        if (p == NULL)
            return NULL;
    } else {
        p = a->roles[ROOT];
    }
    r = xcalloc(1, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->idx = a->nroles;
    r->parent = p->idx;
    r->weight = 1;
    r->self_slot = -1;
    r->guar_top = p->guar_top;
    r->chain_limited = p->chain_limited;
    for (int k = 0; k < NQ; k++)
        r->limit.v[k] = NOLIMIT;
    res_init(&r->guar_r);
    res_init(&r->limit_r);
    r->rm_free = NONE;
    r->fws = sorter_create(a->fw_ops, a->seed ^ (0x5bd1e995ULL * (r->idx + 1)));
    if (p->kids == NULL) {
        p->kids = sorter_create(a->role_ops, a->seed ^ (0x9e3779b9ULL * (p->idx + 1)));
        if (p->idx != ROOT) {
            p->self_slot = sorter_add(p->kids, p->idx, p->name, p->weight);
            sorter_update(p->kids, p->self_slot, share_of(a, &p->self_alloc), p->count_self,
                          p->open_self == 0);
            sorter_set_active(p->kids, p->self_slot, p->active_self > 0);
        }
    }
    r->slot_in_parent = sorter_add(p->kids, r->idx, r->name, r->weight);
    grow(&a->roles, &a->caproles, a->nroles + 1, sizeof(*a->roles));
    a->roles[a->nroles++] = r;
    cmin_grow(a);
    if (hmap_put(&a->role_map, r->name, r) != 0)
        die("out of memory");
    return r;
}

/* True when role `x` is `r` or one of its ancestors. */
static inline bool
role_in_chain(const struct alloc *a, uint32_t x, const struct role *r)
{
    for (; r != NULL && r->idx != ROOT; r = parent_of(a, r))
        if (r->idx == x)
            return true;
    return false;
}

/* Adds `dactive` active members to role `r` and activates or deactivates it
 * (and its ancestors) in their parents' sorters accordingly. */
static void
role_delta(struct alloc *a, struct role *r, int dactive)
{
    bool was = r->active_self > 0;

    r->active_self += dactive;
    if ((r->active_self > 0) != was) {
        if (r->kids != NULL)
            sorter_set_active(r->kids, r->self_slot, !was);
        a->qroles_dirty = true;
    }
    for (struct role *x = r; x->idx != ROOT; x = parent_of(a, x)) {
        bool w = x->active_sub > 0;
        x->active_sub += dactive;
        if ((x->active_sub > 0) != w)
            sorter_set_active(parent_of(a, x)->kids, x->slot_in_parent, !w);
    }
}

static inline int64_t
consumed(const struct role *r, int k)
{
    return r->sub_reserved.v[k] + r->sub_alloc_unres.v[k];
}

static inline int64_t
deficit(const struct role *r, int k)
{
    return max64(0, r->guar.v[k] - consumed(r, k));
}

/* Recomputes what depends on the quota of every role. */
static void
quota_refresh(struct alloc *a)
{
    a->nguar = 0;
    a->nguar_tops = 0;
    for (uint32_t i = 1; i < a->nroles; i++) {
        struct role *r = a->roles[i];
        struct role *p = parent_of(a, r);
        r->chain_limited = r->has_limit || p->chain_limited;
        r->guar_top = p->guar_top != NONE ? p->guar_top : (r->has_guar ? r->idx : NONE);
        if (r->has_guar)
            a->nguar++;
        if (r->guar_top == r->idx) {
            grow(&a->guar_tops, &a->capguar_tops, a->nguar_tops + 1, sizeof(*a->guar_tops));
            a->guar_tops[a->nguar_tops++] = r->idx;
        }
    }
    a->qroles_dirty = true;
}

/* ---- sorter bookkeeping ---- */

static void
mark_role_chain(struct alloc *a, struct role *r)
{
    for (; r->idx != ROOT; r = parent_of(a, r)) {
        if (r->dirty == a->stamp)
            continue;
        r->dirty = a->stamp;
        grow(&a->dr, &a->capdr, a->ndr + 1, sizeof(*a->dr));
        a->dr[a->ndr++] = r->idx;
    }
}

static void
mark_member(struct alloc *a, struct framework *f, uint32_t mi)
{
    struct member *m = &f->m[mi];

    if (m->dirty == a->stamp)
        return;
    m->dirty = a->stamp;
    grow(&a->dm, &a->capdm, a->ndm + 1, sizeof(*a->dm));
    a->dm[a->ndm++] = (struct dirty_member){f->idx, mi};
}

/* Pushes the shares of everything marked dirty into the sorters. */
static void
flush(struct alloc *a)
{
    for (uint32_t i = 0; i < a->ndm; i++) {
        struct framework *f = a->fws[a->dm[i].fw];
        struct member *m;
        if (f == NULL || a->dm[i].mi >= f->nm)
            continue;
        m = &f->m[a->dm[i].mi];
        sorter_update(a->roles[m->role]->fws, m->slot, share_of(a, &m->alloc), m->count, m->idle);
    }
    for (uint32_t i = 0; i < a->ndr; i++) {
        struct role *r = a->roles[a->dr[i]];
        struct role *p = parent_of(a, r);
        if (r->kids != NULL && r->self_slot >= 0)
            sorter_update(r->kids, r->self_slot, share_of(a, &r->self_alloc), r->count_self,
                          r->open_self == 0);
        if (p != NULL)
            sorter_update(p->kids, r->slot_in_parent, share_of(a, &r->sub_alloc), r->count_sub,
                          r->open_sub == 0);
    }
    a->ndm = 0;
    a->ndr = 0;
    a->stamp++;
}

/* After the cluster total changed: new inverse totals, every share again. */
static void
refresh_totals(struct alloc *a)
{
    if (!a->totals_dirty)
        return;
    for (int k = 0; k < NQ; k++)
        a->inv_total[k] = a->cl_total.v[k] > 0 ? 1.0 / (double)a->cl_total.v[k] : 0;
    for (uint32_t i = 0; i < a->capfws; i++) {
        struct framework *f = a->fws[i];
        for (uint32_t j = 0; f != NULL && j < f->nm; j++)
            mark_member(a, f, j);
    }
    for (uint32_t i = 1; i < a->nroles; i++)
        mark_role_chain(a, a->roles[i]);
    flush(a);
    a->totals_dirty = false;
}

/* Adds (sign 1) or removes (-1) allocated quantities `q` (unreserved part
 * `uq`) for member `mi` of `f`; `count` bumps the allocation counters. */
static void
account(struct alloc *a, struct framework *f, uint32_t mi, const struct qvec *q,
        const struct qvec *uq, int sign, bool count)
{
    struct member *m = &f->m[mi];
    struct role *r = a->roles[m->role];

    qadd(&m->alloc, q, sign);
    qadd(&r->self_alloc, q, sign);
    if (count) {
        m->count++;
        r->count_self++;
    }
    for (struct role *x = r; x->idx != ROOT; x = parent_of(a, x)) {
        qadd(&x->sub_alloc, q, sign);
        qadd(&x->sub_alloc_unres, uq, sign);
        if (count)
            x->count_sub++;
    }
    mark_member(a, f, mi);
    mark_role_chain(a, r);
    a->qroles_unsorted = true;
}

/* Adds or removes the reservations in `r` to their roles' reserved counts. */
static void
account_reserved(struct alloc *a, const struct resources *r, int sign)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        struct role *x;
        int k;
        if (is_any(it->role))
            continue;
        x = role_get(a, it->role);
        if (x == NULL)
            die("reservation for an invalid role");
        if (it->type != RES_SCALAR || (k = qidx(a, it->name, true)) < 0)
            continue;
        for (; x->idx != ROOT; x = parent_of(a, x))
            x->sub_reserved.v[k] += sign * it->scalar;
    }
}

/* ---- frameworks and members ---- */

static struct framework *
fw_find(const struct alloc *a, const char *id)
{
    return id == NULL ? NULL : hmap_get(&a->fw_map, id);
}

/* The registered framework `id` for a call that changes it: 0 and *out, or
 * -AG_ESTATE inside alloc_run, -AG_ENOENT when unknown or removed. */
static int
fw_for_call(const struct alloc *a, const char *id, struct framework **out)
{
    if (a->running)
        return -AG_ESTATE;
    *out = fw_find(a, id);
    return *out == NULL || !(*out)->registered ? -AG_ENOENT : 0;
}

static struct framework *
fw_new(struct alloc *a, const char *id)
{
    struct framework *f = xcalloc(1, sizeof(*f));
    uint32_t idx;

    snprintf(f->id, sizeof(f->id), "%s", id);
    if (a->nffree > 0) {
        idx = a->ffree[--a->nffree];
    } else {
        idx = a->capfws;
        a->capfws = a->capfws ? a->capfws * 2 : 16;
        a->fws = xrealloc(a->fws, a->capfws * sizeof(*a->fws));
        a->ffree = xrealloc(a->ffree, a->capfws * sizeof(*a->ffree));
        for (uint32_t i = idx; i < a->capfws; i++)
            a->fws[i] = NULL;
        for (uint32_t i = a->capfws; i > idx + 1; i--)
            a->ffree[a->nffree++] = i - 1;
    }
    f->idx = idx;
    f->active = true;
    a->fws[idx] = f;
    a->nframeworks++;
    if (hmap_put(&a->fw_map, f->id, f) != 0)
        die("out of memory");
    return f;
}

static int
member_find(const struct framework *f, uint32_t role)
{
    for (uint32_t i = 0; i < f->nm; i++)
        if (f->m[i].role == role)
            return (int)i;
    return -1;
}

static uint32_t
member_get(struct alloc *a, struct framework *f, struct role *r)
{
    int mi = member_find(f, r->idx);
    struct member *m;

    if (mi >= 0)
        return (uint32_t)mi;
    grow(&f->m, &f->capm, f->nm + 1, sizeof(*f->m));
    m = &f->m[f->nm];
    memset(m, 0, sizeof(*m));
    m->role = r->idx;
    if (r->rm_free != NONE) {
        m->rmi = r->rm_free;
        r->rm_free = r->rm[m->rmi].fw;
    } else {
        grow(&r->rm, &r->caprm, r->nrm + 1, sizeof(*r->rm));
        m->rmi = r->nrm++;
    }
    r->rm[m->rmi] = (struct rmem){.fw = f->idx, .mi = f->nm, .state = MS_HUNGRY};
    m->slot = sorter_add(r->fws, m->rmi, f->id, 1.0);
    return f->nm++;
}

static inline bool
filtered(const struct agent *ag, uint32_t fw)
{
    uint32_t w = fw >> 6;
    return w < ag->fwords && (ag->fbits[w] >> (fw & 63) & 1);
}

/* A framework became active (it has an active member) or inactive: the
 * per-agent counts of active filtered frameworks follow. */
static void
fw_activity(struct alloc *a, struct framework *f, bool active)
{
    a->n_active_fw += active ? 1 : -1;
    for (uint32_t i = 0; f->nfilters > 0 && i < a->norder; i++) {
        struct agent *ag = a->agents[a->order[i]];
        if (filtered(ag, f->idx))
            ag->nfilt_active += active ? 1 : -1;
    }
}

/* Adds `d` open (active, not idle) members to role `r` and marks the chain
 * for new sorter tiers. */
static void
open_delta(struct alloc *a, struct role *r, int d)
{
    r->open_self += d;
    for (struct role *x = r; x->idx != ROOT; x = parent_of(a, x))
        x->open_sub += d;
    mark_role_chain(a, r);
}

/* Makes member `mi` active in its role's sorter exactly when it should get
 * offers. */
static void
member_sync(struct alloc *a, struct framework *f, uint32_t mi)
{
    struct member *m = &f->m[mi];
    struct role *r = a->roles[m->role];
    bool want = f->registered && f->active && m->subscribed && !m->suppressed;
    bool was = f->nactive > 0;

    if (want == m->active)
        return;
    m->active = want;
    sorter_set_active(r->fws, m->slot, want);
    role_delta(a, r, want ? 1 : -1);
    if (m->refusing)
        a->n_refusing += want ? 1 : -1;
    if (!m->idle)
        open_delta(a, r, want ? 1 : -1);
    r->cdirty = true;
    a->cover_dirty = true;
    f->nactive += want ? 1 : -1;
    if ((f->nactive > 0) != was)
        fw_activity(a, f, !was);
}

static void
member_sync_all(struct alloc *a, struct framework *f)
{
    for (uint32_t i = 0; i < f->nm; i++)
        member_sync(a, f, i);
}

/*
 * Records that member `mi` declined a whole offer of quantities `declined`
 * (it becomes refusing: see try_role), or with NULL that it kept part of an
 * offer or revived (it is hungry again).
 */
static void
member_refuse(struct alloc *a, struct framework *f, uint32_t mi, const struct qvec *declined)
{
    struct member *m = &f->m[mi];
    struct role *r = a->roles[m->role];
    bool was = m->refusing, was_idle = m->idle;

    if (declined != NULL) {
        for (int k = 0; k < NQ; k++)
            m->refused.v[k] = max64(m->refused.v[k], declined->v[k]);
        m->refusing = true;
        m->idle = true;
        for (uint32_t k = 0; k < a->nrn; k++)
            if (m->refused.v[k] != NOLIMIT)
                m->idle = false;
    } else {
        memset(&m->refused, 0, sizeof(m->refused));
        m->refusing = false;
        m->idle = false;
    }
    r->rm[m->rmi].state = m->idle ? MS_IDLE : (m->refusing ? MS_REFUSING : MS_HUNGRY);
    if (was != m->refusing && m->active)
        a->n_refusing += m->refusing ? 1 : -1;
    if (was_idle != m->idle) {
        mark_member(a, f, mi);
        if (m->active)
            open_delta(a, r, m->idle ? -1 : 1);
    }
    if (m->active && (was || m->refusing)) {
        r->cdirty = true;
        a->cover_dirty = true;
    }
}

/*
 * Recomputes, for the roles whose members changed, the least (per scalar)
 * that any of their active members refuses, then the same over every
 * subtree. An offer within a role's minimum is refused by all its members,
 * so pass 1 skips the role. Once per run at most.
 */
static void
cover_refresh(struct alloc *a)
{
    if (!a->cover_dirty)
        return;
    for (uint32_t i = 1; i < a->nroles; i++) {
        struct role *r = a->roles[i];
        struct qvec *c = &a->cmin_self[i];
        if (!r->cdirty)
            continue;
        for (int k = 0; k < NQ; k++)
            c->v[k] = NOLIMIT;
        for (uint32_t j = 0; j < r->nrm; j++) {
            const struct member *m;
            if (r->rm[j].state == MS_FREE)
                continue;
            m = &a->fws[r->rm[j].fw]->m[r->rm[j].mi];
            if (!m->active)
                continue;
            for (int k = 0; k < NQ; k++)
                c->v[k] = min64(c->v[k], m->refused.v[k]);
        }
        r->cdirty = false;
    }
    for (uint32_t i = 0; i < a->nroles; i++)
        a->cmin_sub[i] = a->cmin_self[i];
    for (uint32_t i = a->nroles - 1; i > 0; i--) {
        struct qvec *p = &a->cmin_sub[a->roles[i]->parent];
        for (int k = 0; k < NQ; k++)
            p->v[k] = min64(p->v[k], a->cmin_sub[i].v[k]);
    }
    a->cover_dirty = false;
}

/* ---- offer filters ---- */

static inline double
heap_key(const struct alloc *a, uint32_t i)
{
    return a->agents[a->fheap[i]]->min_expiry;
}

static void
heap_swap(struct alloc *a, uint32_t i, uint32_t j)
{
    uint32_t t = a->fheap[i];

    a->fheap[i] = a->fheap[j];
    a->fheap[j] = t;
    a->agents[a->fheap[i]]->heap_pos = (int32_t)i;
    a->agents[a->fheap[j]]->heap_pos = (int32_t)j;
}

static void
heap_fix(struct alloc *a, uint32_t i)
{
    while (i > 0 && heap_key(a, (i - 1) / 2) > heap_key(a, i)) {
        heap_swap(a, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < a->nheap && heap_key(a, l) < heap_key(a, m))
            m = l;
        if (r < a->nheap && heap_key(a, r) < heap_key(a, m))
            m = r;
        if (m == i)
            return;
        heap_swap(a, i, m);
        i = m;
    }
}

static void
heap_push(struct alloc *a, struct agent *ag)
{
    grow(&a->fheap, &a->capheap, a->nheap + 1, sizeof(*a->fheap));
    a->fheap[a->nheap] = ag->idx;
    ag->heap_pos = (int32_t)a->nheap++;
    heap_fix(a, (uint32_t)ag->heap_pos);
}

static void
heap_remove(struct alloc *a, struct agent *ag)
{
    uint32_t i = (uint32_t)ag->heap_pos;

    if (ag->heap_pos < 0)
        return;
    ag->heap_pos = -1;
    if (i != --a->nheap) {
        a->fheap[i] = a->fheap[a->nheap];
        a->agents[a->fheap[i]]->heap_pos = (int32_t)i;
        heap_fix(a, i);
    }
}

/* Installs or replaces the filter of framework `f` on agent `ag`. */
static void
filter_set(struct alloc *a, struct agent *ag, struct framework *f, double expiry)
{
    uint32_t w = f->idx >> 6;

    if (filtered(ag, f->idx)) {
        for (uint32_t i = 0; i < ag->nfilt; i++)
            if (ag->filt[i].fw == f->idx)
                ag->filt[i].expiry = expiry;
    } else {
        if (w >= ag->fwords) {
            uint32_t nw = w + 1 > 2 * ag->fwords ? w + 1 : 2 * ag->fwords;
            ag->fbits = xrealloc(ag->fbits, nw * sizeof(*ag->fbits));
            memset(ag->fbits + ag->fwords, 0, (nw - ag->fwords) * sizeof(*ag->fbits));
            ag->fwords = nw;
        }
        ag->fbits[w] |= 1ULL << (f->idx & 63);
        grow(&ag->filt, &ag->capfilt, ag->nfilt + 1, sizeof(*ag->filt));
        ag->filt[ag->nfilt++] = (struct filter){f->idx, expiry};
        if (f->nactive > 0)
            ag->nfilt_active++;
        f->nfilters++;
        a->nfilters++;
    }
    if (ag->heap_pos < 0) {
        ag->min_expiry = expiry;
        heap_push(a, ag);
    } else if (expiry < ag->min_expiry) {
        ag->min_expiry = expiry;
        heap_fix(a, (uint32_t)ag->heap_pos);
    }
}

/* Drops filter `i` of agent `ag` (the heap entry is left to the caller). */
static void
filter_drop(struct alloc *a, struct agent *ag, uint32_t i)
{
    uint32_t fw = ag->filt[i].fw;
    struct framework *f = a->fws[fw];

    ag->fbits[fw >> 6] &= ~(1ULL << (fw & 63));
    if (f != NULL && f->nactive > 0)
        ag->nfilt_active--;
    if (f != NULL)
        f->nfilters--;
    ag->filt[i] = ag->filt[--ag->nfilt];
    a->nfilters--;
}

static void
filters_clear_agent(struct alloc *a, struct agent *ag)
{
    while (ag->nfilt > 0)
        filter_drop(a, ag, ag->nfilt - 1);
    heap_remove(a, ag);
}

static void
filters_clear_fw(struct alloc *a, struct framework *f)
{
    for (uint32_t i = 0; f->nfilters > 0 && i < a->norder; i++) {
        struct agent *ag = a->agents[a->order[i]];
        if (!filtered(ag, f->idx))
            continue;
        for (uint32_t j = 0; j < ag->nfilt; j++) {
            if (ag->filt[j].fw == f->idx) {
                filter_drop(a, ag, j);
                break;
            }
        }
        if (ag->nfilt == 0)
            heap_remove(a, ag);
    }
}

static void
filters_expire(struct alloc *a, double now)
{
    while (a->nheap > 0 && heap_key(a, 0) <= now) {
        struct agent *ag = a->agents[a->fheap[0]];
        double min = INFINITY;
        for (uint32_t i = 0; i < ag->nfilt;) {
            if (ag->filt[i].expiry <= now) {
                filter_drop(a, ag, i);
                continue;
            }
            if (ag->filt[i].expiry < min)
                min = ag->filt[i].expiry;
            i++;
        }
        if (ag->nfilt == 0) {
            heap_remove(a, ag);
        } else {
            ag->min_expiry = min;
            heap_fix(a, 0);
        }
    }
}

/* ---- agents ---- */

static struct agent *
agent_find(const struct alloc *a, const char *id)
{
    return id == NULL ? NULL : hmap_get(&a->agent_map, id);
}

/* The agent `id` for a call that changes it: 0 and *out, or -AG_ESTATE
 * inside alloc_run, -AG_ENOENT when unknown. */
static int
agent_for_call(const struct alloc *a, const char *id, struct agent **out)
{
    if (a->running)
        return -AG_ESTATE;
    *out = agent_find(a, id);
    return *out == NULL ? -AG_ENOENT : 0;
}

static void
pend_agent(struct alloc *a, struct agent *ag)
{
    if (ag->pending)
        return;
    ag->pending = true;
    grow(&a->pend, &a->cappend, a->npend + 1, sizeof(*a->pend));
    a->pend[a->npend++] = ag->idx;
}

/* Recomputes the agent's cached view of its available resources and its
 * share of the cluster's unreserved available resources. */
static void
agent_refresh(struct alloc *a, struct agent *ag)
{
    if (ag->counted)
        qadd(&a->cl_avail_unres, &ag->avail_unres_q, -1);
    memset(&ag->avail_q, 0, sizeof(ag->avail_q));
    memset(&ag->avail_unres_q, 0, sizeof(ag->avail_unres_q));
    ag->nresv = 0;
    ag->has_resv = false;
    ag->unres_any = false;
    for (size_t i = 0; i < ag->avail.n; i++) {
        const struct res_item *it = &ag->avail.items[i];
        bool unres = is_any(it->role);
        int k = it->type == RES_SCALAR ? qidx(a, it->name, true) : -1;

        if (unres) {
            ag->unres_any = true;
        } else {
            struct role *r = role_get(a, it->role);
            uint32_t j;
            ag->has_resv = true;
            for (j = 0; j < ag->nresv && ag->resv[j].role != r->idx; j++)
                ;
            if (j == ag->nresv) {
                grow(&ag->resv, &ag->capresv, ag->nresv + 1, sizeof(*ag->resv));
                memset(&ag->resv[j], 0, sizeof(ag->resv[j]));
                ag->resv[j].role = r->idx;
                ag->nresv++;
            }
            if (k >= 0)
                ag->resv[j].q.v[k] += it->scalar;
        }
        if (k >= 0) {
            ag->avail_q.v[k] += it->scalar;
            if (unres)
                ag->avail_unres_q.v[k] += it->scalar;
        }
    }
    ag->counted = ag->active && !ag->draining;
    if (ag->counted)
        qadd(&a->cl_avail_unres, &ag->avail_unres_q, 1);
}

static struct aentry *
entry_find(struct agent *ag, uint32_t fw, uint32_t role)
{
    for (uint32_t i = 0; i < ag->nal; i++)
        if (ag->al[i].fw == fw && ag->al[i].role == role)
            return &ag->al[i];
    return NULL;
}

static struct aentry *
entry_get(struct agent *ag, uint32_t fw, uint32_t role)
{
    struct aentry *e = entry_find(ag, fw, role);

    if (e != NULL)
        return e;
    grow(&ag->al, &ag->capal, ag->nal + 1, sizeof(*ag->al));
    e = &ag->al[ag->nal++];
    memset(e, 0, sizeof(*e));
    e->fw = fw;
    e->role = role;
    res_init(&e->r);
    return e;
}

static void
entry_drop_if_empty(struct agent *ag, struct aentry *e)
{
    if (e->r.n != 0)
        return;
    res_fini(&e->r);
    *e = ag->al[--ag->nal];
}

/* Releases allocation entry `e` of `ag` (resources go back to available). */
static void
entry_release(struct alloc *a, struct agent *ag, struct aentry *e)
{
    struct framework *f = a->fws[e->fw];
    struct qvec q, uq;
    int mi = member_find(f, e->role);

    qvec_of(a, &e->r, &q, &uq);
    account(a, f, (uint32_t)mi, &q, &uq, -1, false);
    ck(res_add(&ag->avail, &e->r));
    res_fini(&e->r);
    *e = ag->al[--ag->nal];
}

/* ---- allocation ---- */

/* Limits on the unreserved scalars role `r` may take now (`stage` 1: quota
 * guarantees, 2: fair share). */
static void
role_caps(const struct alloc *a, const struct role *r, int stage, struct qvec *cap)
{
    for (int k = 0; k < NQ; k++)
        cap->v[k] = NOLIMIT;
    if (r->chain_limited) {
        for (const struct role *x = r; x->idx != ROOT; x = parent_of(a, x)) {
            if (!x->has_limit)
                continue;
            for (int k = 0; k < NQ; k++)
                if (x->limit.v[k] != NOLIMIT)
                    cap->v[k] = min64(cap->v[k], max64(0, x->limit.v[k] - consumed(x, k)));
        }
    }
    if (a->nguar == 0)
        return;
    {
        struct qvec req = {{0}}, own = {{0}};
        for (uint32_t i = 0; i < a->nguar_tops; i++) {
            const struct role *t = a->roles[a->guar_tops[i]];
            for (int k = 0; k < NQ; k++)
                req.v[k] += deficit(t, k);
        }
        if (r->guar_top != NONE)
            for (int k = 0; k < NQ; k++)
                own.v[k] = deficit(a->roles[r->guar_top], k);
        for (int k = 0; k < NQ; k++)
            if (req.v[k] > 0)
                cap->v[k] =
                    min64(cap->v[k], max64(0, a->cl_avail_unres.v[k] - (req.v[k] - own.v[k])));
    }
    if (stage != 1)
        return;
    for (const struct role *x = r; x->idx != ROOT; x = parent_of(a, x)) {
        if (!x->has_guar)
            continue;
        for (int k = 0; k < NQ; k++)
            if (x->guar.v[k] > 0)
                cap->v[k] = min64(cap->v[k], deficit(x, k));
    }
}

/* Emits `off` (the agent's available resources or a part of them) to
 * framework `f` in role `r`, and accounts it as allocated. */
static void
offer(struct alloc *a, struct agent *ag, struct framework *f, uint32_t mi, struct role *r,
      const struct resources *off)
{
    struct aentry *e;
    struct qvec q, uq;

    a->emit(a->emit_arg, f->id, ag->id, r->name, off);
    a->run_offers++;
    a->stats.offers++;
    e = entry_get(ag, f->idx, r->idx);
    if (off == &ag->avail) {
        q = ag->avail_q;
        uq = ag->avail_unres_q;
        if (e->r.n == 0) {
            struct resources t = e->r;
            e->r = ag->avail;
            ag->avail = t;
        } else {
            ck(res_add(&e->r, &ag->avail));
            ck(res_sub(&ag->avail, &ag->avail));
        }
    } else {
        qvec_of(a, off, &q, &uq);
        ck(res_sub(&ag->avail, off));
        ck(res_add(&e->r, off));
    }
    e->last = q;
    agent_refresh(a, ag);
    account(a, f, mi, &q, &uq, 1, true);
}

/* True when every quantity of `q` is within `refused`. */
static inline bool
covered(const struct qvec *q, const struct qvec *refused)
{
    for (int k = 0; k < NQ; k++)
        if (q->v[k] > refused->v[k])
            return false;
    return true;
}

/*
 * Offers what role `r` may take of agent `ag` to the first framework of `r`
 * (in sorter order) that has not filtered the agent and, in pass 1, is not
 * refusing offers this size. Returns true when the agent has nothing
 * allocatable left.
 */
static bool
try_role(struct alloc *a, struct agent *ag, struct role *r, int stage)
{
    bool fast = !ag->has_resv && !r->chain_limited && a->nguar == 0;
    const struct qvec *oq = &ag->avail_q;
    struct qvec cap, q;
    struct sorter_iter it;
    struct framework *f = NULL;
    uint32_t mi = 0;
    int64_t id;

    if (!fast) {
        bool any = ag->unres_any;
        q = ag->avail_unres_q;
        oq = &q;
        for (uint32_t i = 0; i < ag->nresv; i++) {
            if (role_in_chain(a, ag->resv[i].role, r)) {
                qadd(&q, &ag->resv[i].q, 1);
                any = true;
            }
        }
        if (!any)
            return false;
        role_caps(a, r, stage, &cap);
        for (int k = 0; k < NQ; k++)
            if (ag->avail_unres_q.v[k] > cap.v[k])
                q.v[k] -= ag->avail_unres_q.v[k] - cap.v[k];
        if (!min_ok(a, &q))
            return false;
    }
    sorter_begin(r->fws, &it);
    while ((id = sorter_next(r->fws, &it)) >= 0) {
        const struct rmem *e = &r->rm[id];
        a->stats.steps++;
        if (a->pass == 1 && e->state != MS_HUNGRY) {
            /* Idle members come last in a tiered sorter: none to follow. */
            if (e->state == MS_IDLE) {
                if (a->fw_ops->tiered)
                    break;
                continue;
            }
            if (covered(oq, &a->fws[e->fw]->m[e->mi].refused))
                continue;
        }
        if (filtered(ag, e->fw))
            continue;
        f = a->fws[e->fw];
        mi = e->mi;
        break;
    }
    if (f == NULL)
        return false;
    if (fast) {
        offer(a, ag, f, mi, r, &ag->avail);
    } else {
        ck(res_allocatable_to(&a->scratch, &ag->avail, r->name));
        for (uint32_t k = 0; k < a->nrn; k++) {
            int64_t cut = ag->avail_unres_q.v[k] - cap.v[k];
            if (cut > 0)
                ck(res_add_scalar(&a->scratch, a->rname[k], RES_ANY_ROLE, -cut));
        }
        if (res_empty(&a->scratch))
            return false;
        offer(a, ag, f, mi, r, &a->scratch);
    }
    return !avail_ok(a, ag);
}

/* Visits the subtree below `node` in role sorter order. Returns true when
 * the agent is exhausted. */
static bool
walk(struct alloc *a, struct agent *ag, struct role *node)
{
    struct sorter_iter it;
    int64_t id;

    sorter_begin(node->kids, &it);
    while ((id = sorter_next(node->kids, &it)) >= 0) {
        struct role *r;
        bool leaf = id == node->idx, done;
        r = a->roles[id];
        if (a->pass == 1) {
            /* Idle subtrees come last in a tiered sorter; skip subtrees whose
             * members all refuse this much. */
            if ((leaf ? r->open_self : r->open_sub) == 0) {
                if (a->role_ops->tiered)
                    break;
                continue;
            }
            if (covered(&ag->avail_q, leaf ? &a->cmin_self[id] : &a->cmin_sub[id]))
                continue;
        }
        leaf = leaf || r->kids == NULL;
        done = leaf ? try_role(a, ag, r, 2) : walk(a, ag, r);
        if (done)
            return true;
    }
    return false;
}

static bool
chain_has_deficit(const struct alloc *a, const struct role *r)
{
    for (; r->idx != ROOT; r = parent_of(a, r)) {
        if (!r->has_guar)
            continue;
        for (int k = 0; k < NQ; k++)
            if (deficit(r, k) > 0)
                return true;
    }
    return false;
}

static double
qrole_key(const struct alloc *a, const struct role *r)
{
    return share_of(a, &r->sub_alloc) / r->weight;
}

/* Stage 1: roles under a guarantee that is not met yet, lowest share first. */
static bool
stage_quota(struct alloc *a, struct agent *ag)
{
    if (a->qroles_dirty) {
        a->nqroles = 0;
        for (uint32_t i = 1; i < a->nroles; i++) {
            struct role *r = a->roles[i];
            if (r->active_self == 0 || r->guar_top == NONE)
                continue;
            grow(&a->qroles, &a->capqroles, a->nqroles + 1, sizeof(*a->qroles));
            a->qroles[a->nqroles++] = i;
        }
        a->qroles_dirty = false;
        a->qroles_unsorted = true;
    }
    if (a->qroles_unsorted) {
        for (uint32_t i = 1; i < a->nqroles; i++) {
            uint32_t x = a->qroles[i];
            double kx = qrole_key(a, a->roles[x]);
            uint32_t j = i;
            while (j > 0 && qrole_key(a, a->roles[a->qroles[j - 1]]) > kx) {
                a->qroles[j] = a->qroles[j - 1];
                j--;
            }
            a->qroles[j] = x;
        }
        a->qroles_unsorted = false;
    }
    for (uint32_t i = 0; i < a->nqroles; i++) {
        struct role *r = a->roles[a->qroles[i]];
        if (chain_has_deficit(a, r) && try_role(a, ag, r, 1))
            return true;
    }
    return false;
}

/*
 * Allocates one agent. Pass 1 skips refusing members for offers no larger
 * than what they declined; pass 2 (only when something is left) offers the
 * rest to anyone who has not filtered the agent. With no refusing or no
 * hungry member the passes would be the same, and only pass 2 runs.
 */
static void
visit_agent(struct alloc *a, struct agent *ag)
{
    ag->pending = false;
    a->stats.agent_visits++;
    if (!ag->active || ag->draining || ag->nfilt_active >= a->n_active_fw || !avail_ok(a, ag))
        return;
    a->pass = a->n_refusing > 0 && !covered(&ag->avail_q, &a->cmin_sub[ROOT]) ? 1 : 2;
    for (; a->pass <= 2; a->pass++) {
        if (a->nguar > 0 && stage_quota(a, ag))
            break;
        if (walk(a, ag, a->roles[ROOT]))
            break;
        if (a->pass == 1)
            a->stats.second_passes++;
    }
    flush(a);
}

static void
run_begin(struct alloc *a, double now, alloc_emit_fn emit, void *arg)
{
    a->running = true;
    a->emit = emit;
    a->emit_arg = arg;
    a->run_offers = 0;
    a->stats.runs++;
    a->visit_stamp++;
    filters_expire(a, now);
    refresh_totals(a);
    cover_refresh(a);
}

static void
shuffle(struct alloc *a, uint32_t *v, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)prng_below(&a->prng, i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* Visits the agents whose indices are in a->visit[0..n). */
static int
run_visit(struct alloc *a, uint32_t n)
{
    shuffle(a, a->visit, n);
    for (uint32_t i = 0; i < n; i++)
        visit_agent(a, a->agents[a->visit[i]]);
    a->running = false;
    return a->run_offers;
}

static int
run_all(struct alloc *a)
{
    shuffle(a, a->order, a->norder);
    for (uint32_t i = 0; i < a->norder; i++)
        a->agents[a->order[i]]->order_pos = i;
    for (uint32_t i = 0; i < a->norder; i++)
        visit_agent(a, a->agents[a->order[i]]);
    a->npend = 0;
    a->all_pending = false;
    a->running = false;
    return a->run_offers;
}

int
alloc_run(struct alloc *a, double now, const char *const *agent_ids, size_t n, alloc_emit_fn emit,
          void *arg)
{
    uint32_t nv = 0;

    if (a->running)
        return -AG_ESTATE;
    run_begin(a, now, emit, arg);
    if (agent_ids == NULL)
        return run_all(a);
    for (size_t i = 0; i < n; i++) {
        struct agent *ag = agent_find(a, agent_ids[i]);
        if (ag == NULL || ag->visit == a->visit_stamp)
            continue;
        ag->visit = a->visit_stamp;
        grow(&a->visit, &a->capvisit, nv + 1, sizeof(*a->visit));
        a->visit[nv++] = ag->idx;
    }
    return run_visit(a, nv);
}

int
alloc_run_pending(struct alloc *a, double now, alloc_emit_fn emit, void *arg)
{
    uint32_t nv = 0;

    if (a->running)
        return -AG_ESTATE;
    run_begin(a, now, emit, arg);
    if (a->all_pending)
        return run_all(a);
    for (uint32_t i = 0; i < a->npend; i++) {
        uint32_t idx = a->pend[i];
        struct agent *ag = idx < a->capag ? a->agents[idx] : NULL;
        if (ag == NULL || !ag->pending || ag->visit == a->visit_stamp)
            continue;
        ag->visit = a->visit_stamp;
        grow(&a->visit, &a->capvisit, nv + 1, sizeof(*a->visit));
        a->visit[nv++] = idx;
    }
    a->npend = 0;
    return run_visit(a, nv);
}

bool
alloc_pending(const struct alloc *a)
{
    if (a->all_pending)
        return a->norder > 0;
    for (uint32_t i = 0; i < a->npend; i++) {
        uint32_t idx = a->pend[i];
        if (idx < a->capag && a->agents[idx] != NULL && a->agents[idx]->pending)
            return true;
    }
    return false;
}

double
alloc_next_filter_expiry(const struct alloc *a)
{
    return a->nheap > 0 ? heap_key(a, 0) : INFINITY;
}

/* ---- configuration ---- */

/* Parses "cpus:0.01|mem:32" into the min_allocatable alternatives. */
static int
parse_min(struct alloc *a, const char *text, char *err, size_t errlen)
{
    const char *s = text;

    a->nmin = 0;
    if (text[0] == '\0')
        return 0;
    for (;;) {
        const char *bar = strchr(s, '|');
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        char buf[512];
        struct resources r;
        int rc;

        if (len >= sizeof(buf) || a->nmin == MAX_MIN_ALTS) {
            ag_errf(err, errlen, "bad min_allocatable_resources \"%s\"", text);
            return -AG_EINVAL;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        res_init(&r);
        rc = res_parse(&r, buf, NULL, 0);
        if (rc == 0 && r.n == 0)
            rc = -AG_EINVAL;
        for (size_t i = 0; rc == 0 && i < r.n; i++) {
            int k;
            if (r.items[i].type != RES_SCALAR || !is_any(r.items[i].role) ||
                (k = qidx(a, r.items[i].name, true)) < 0) {
                rc = -AG_EINVAL;
                break;
            }
            a->min_alt[a->nmin].v[k] = r.items[i].scalar;
            a->min_mask[a->nmin] |= 1u << k;
        }
        res_fini(&r);
        if (rc != 0) {
            ag_errf(err, errlen, "bad min_allocatable_resources \"%s\"", text);
            return -AG_EINVAL;
        }
        a->nmin++;
        if (bar == NULL)
            return 0;
        s = bar + 1;
    }
}

/* Parses "eng=2,eng/web=1.5" and applies the weights. */
static int
parse_weights(struct alloc *a, const char *text, char *err, size_t errlen)
{
    const char *s = text;

    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        char buf[RES_ROLE_MAX + 64], *eq, *end;
        double w;

        if (len >= sizeof(buf))
            goto bad;
        memcpy(buf, s, len);
        buf[len] = '\0';
        eq = strchr(buf, '=');
        if (eq == NULL)
            goto bad;
        *eq = '\0';
        w = strtod(eq + 1, &end);
        if (end == eq + 1 || *end != '\0' || alloc_set_weight(a, buf, w) != 0)
            goto bad;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    return 0;
bad:
    ag_errf(err, errlen, "bad weights \"%s\" (want role=weight,...)", text);
    return -AG_EINVAL;
}

int
alloc_create(struct alloc **out, const struct alloc_config *cfg, char *err, size_t errlen)
{
    static const struct alloc_config defaults = {0};
    struct alloc *a;
    struct role *root;
    int rc;

    if (cfg == NULL)
        cfg = &defaults;
    a = xcalloc(1, sizeof(*a));
    a->role_ops = sorter_find(cfg->role_sorter);
    a->fw_ops = sorter_find(cfg->framework_sorter);
    if (a->role_ops == NULL || a->fw_ops == NULL) {
        ag_errf(err, errlen, "unknown sorter \"%s\" (want drf or random)",
                a->role_ops == NULL ? cfg->role_sorter : cfg->framework_sorter);
        free(a);
        return -AG_EINVAL;
    }
    a->seed = cfg->seed;
    prng_seed(&a->prng, cfg->seed);
    hmap_init(&a->agent_map);
    hmap_init(&a->fw_map);
    hmap_init(&a->role_map);
    res_init(&a->scratch);
    res_init(&a->info_alloc);
    res_init(&a->info_resv);
    res_init(&a->info_cons);
    a->stamp = 1;

    root = xcalloc(1, sizeof(*root));
    root->parent = NONE;
    root->weight = 1;
    root->self_slot = -1;
    root->slot_in_parent = -1;
    root->guar_top = NONE;
    res_init(&root->guar_r);
    res_init(&root->limit_r);
    root->kids = sorter_create(a->role_ops, a->seed);
    grow(&a->roles, &a->caproles, 1, sizeof(*a->roles));
    a->roles[a->nroles++] = root;
    cmin_grow(a);

    rc = parse_min(a, cfg->min_allocatable ? cfg->min_allocatable : ALLOC_DEFAULT_MIN_ALLOCATABLE,
                   err, errlen);
    if (rc == 0 && cfg->weights != NULL)
        rc = parse_weights(a, cfg->weights, err, errlen);
    if (rc != 0) {
        alloc_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

static void
agent_free(struct agent *ag)
{
    for (uint32_t i = 0; i < ag->nal; i++)
        res_fini(&ag->al[i].r);
    free(ag->al);
    res_fini(&ag->total);
    res_fini(&ag->avail);
    free(ag->resv);
    free(ag->fbits);
    free(ag->filt);
    free(ag);
}

void
alloc_destroy(struct alloc *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->capag; i++)
        if (a->agents[i] != NULL)
            agent_free(a->agents[i]);
    for (uint32_t i = 0; i < a->capfws; i++) {
        if (a->fws[i] != NULL) {
            free(a->fws[i]->m);
            free(a->fws[i]);
        }
    }
    for (uint32_t i = 0; i < a->nroles; i++) {
        struct role *r = a->roles[i];
        sorter_destroy(r->fws);
        sorter_destroy(r->kids);
        res_fini(&r->guar_r);
        res_fini(&r->limit_r);
        free(r->rm);
        free(r);
    }
    free(a->roles);
    free(a->cmin_self);
    free(a->cmin_sub);
    free(a->agents);
    free(a->afree);
    free(a->order);
    free(a->fws);
    free(a->ffree);
    free(a->guar_tops);
    free(a->qroles);
    free(a->dm);
    free(a->dr);
    free(a->pend);
    free(a->fheap);
    free(a->visit);
    free(a->info_fws);
    res_fini(&a->scratch);
    res_fini(&a->info_alloc);
    res_fini(&a->info_resv);
    res_fini(&a->info_cons);
    hmap_fini(&a->agent_map);
    hmap_fini(&a->fw_map);
    hmap_fini(&a->role_map);
    free(a);
}

/* ---- agents API ---- */

int
alloc_add_agent(struct alloc *a, const char *agent_id, const struct resources *total,
                const struct alloc_used *used, size_t nused)
{
    struct resources avail;
    struct agent *ag;
    uint32_t idx;

    if (a->running)
        return -AG_ESTATE;
    if (!id_ok(agent_id) || total == NULL || !roles_ok(total))
        return -AG_EINVAL;
    if (agent_find(a, agent_id) != NULL)
        return -AG_EEXIST;
    for (size_t i = 0; i < nused; i++) {
        if (!id_ok(used[i].framework_id) || used[i].role == NULL || used[i].resources == NULL ||
            !res_role_valid(used[i].role) || !roles_ok(used[i].resources))
            return -AG_EINVAL;
    }
    res_init(&avail);
    ck(res_copy(&avail, total));
    for (size_t i = 0; i < nused; i++) {
        int rc = res_sub(&avail, used[i].resources);
        if (rc != 0) {
            res_fini(&avail);
            if (rc == -AG_ENOMEM)
                die("out of memory");
            return -AG_ERANGE;
        }
    }

    ag = xcalloc(1, sizeof(*ag));
    snprintf(ag->id, sizeof(ag->id), "%s", agent_id);
    ag->active = true;
    ag->heap_pos = -1;
    res_init(&ag->total);
    ck(res_copy(&ag->total, total));
    ag->avail = avail;
    if (a->nafree > 0) {
        idx = a->afree[--a->nafree];
    } else {
        uint32_t old = a->capag;
        a->capag = a->capag ? a->capag * 2 : 64;
        a->agents = xrealloc(a->agents, a->capag * sizeof(*a->agents));
        a->afree = xrealloc(a->afree, a->capag * sizeof(*a->afree));
        a->order = xrealloc(a->order, a->capag * sizeof(*a->order));
        for (uint32_t i = old; i < a->capag; i++)
            a->agents[i] = NULL;
        for (uint32_t i = a->capag; i > old + 1; i--)
            a->afree[a->nafree++] = i - 1;
        idx = old;
    }
    ag->idx = idx;
    a->agents[idx] = ag;
    ag->order_pos = a->norder;
    a->order[a->norder++] = idx;
    if (hmap_put(&a->agent_map, ag->id, ag) != 0)
        die("out of memory");

    qvec_of(a, total, &ag->total_q, NULL);
    qadd(&a->cl_total, &ag->total_q, 1);
    a->totals_dirty = true;
    account_reserved(a, total, 1);
    for (size_t i = 0; i < nused; i++) {
        struct framework *f = fw_find(a, used[i].framework_id);
        struct role *r = role_get(a, used[i].role);
        struct aentry *e;
        struct qvec q, uq;
        uint32_t mi;

        if (f == NULL)
            f = fw_new(a, used[i].framework_id);
        mi = member_get(a, f, r);
        e = entry_get(ag, f->idx, r->idx);
        ck(res_add(&e->r, used[i].resources));
        qvec_of(a, used[i].resources, &q, &uq);
        account(a, f, mi, &q, &uq, 1, false);
        entry_drop_if_empty(ag, e);
    }
    agent_refresh(a, ag);
    pend_agent(a, ag);
    flush(a);
    return 0;
}

int
alloc_remove_agent(struct alloc *a, const char *agent_id)
{
    struct agent *ag;
    int rc;
    uint32_t last;

    if ((rc = agent_for_call(a, agent_id, &ag)) != 0)
        return rc;
    while (ag->nal > 0)
        entry_release(a, ag, &ag->al[ag->nal - 1]);
    account_reserved(a, &ag->total, -1);
    qadd(&a->cl_total, &ag->total_q, -1);
    a->totals_dirty = true;
    if (ag->counted)
        qadd(&a->cl_avail_unres, &ag->avail_unres_q, -1);
    ag->counted = false;
    filters_clear_agent(a, ag);
    last = a->order[--a->norder];
    a->order[ag->order_pos] = last;
    a->agents[last]->order_pos = ag->order_pos;
    hmap_del(&a->agent_map, ag->id);
    a->agents[ag->idx] = NULL;
    a->afree[a->nafree++] = ag->idx;
    agent_free(ag);
    flush(a);
    return 0;
}

int
alloc_update_agent_total(struct alloc *a, const char *agent_id, const struct resources *total)
{
    struct agent *ag;
    int rc;
    struct resources avail;

    if ((rc = agent_for_call(a, agent_id, &ag)) != 0)
        return rc;
    if (total == NULL || !roles_ok(total))
        return -AG_EINVAL;
    res_init(&avail);
    ck(res_copy(&avail, total));
    for (uint32_t i = 0; i < ag->nal; i++) {
        rc = res_sub(&avail, &ag->al[i].r);
        if (rc != 0) {
            res_fini(&avail);
            if (rc == -AG_ENOMEM)
                die("out of memory");
            return -AG_ERANGE;
        }
    }
    account_reserved(a, &ag->total, -1);
    qadd(&a->cl_total, &ag->total_q, -1);
    ck(res_copy(&ag->total, total));
    qvec_of(a, total, &ag->total_q, NULL);
    qadd(&a->cl_total, &ag->total_q, 1);
    account_reserved(a, total, 1);
    a->totals_dirty = true;
    res_fini(&ag->avail);
    ag->avail = avail;
    agent_refresh(a, ag);
    filters_clear_agent(a, ag);
    pend_agent(a, ag);
    flush(a);
    return 0;
}

int
alloc_set_agent_draining(struct alloc *a, const char *agent_id, bool draining)
{
    struct agent *ag;
    int rc;

    if ((rc = agent_for_call(a, agent_id, &ag)) != 0)
        return rc;
    ag->draining = draining;
    agent_refresh(a, ag);
    if (!draining)
        pend_agent(a, ag);
    return 0;
}

int
alloc_set_agent_active(struct alloc *a, const char *agent_id, bool active)
{
    struct agent *ag;
    int rc;

    if ((rc = agent_for_call(a, agent_id, &ag)) != 0)
        return rc;
    ag->active = active;
    agent_refresh(a, ag);
    if (active)
        pend_agent(a, ag);
    return 0;
}

int
alloc_agent_resources(const struct alloc *a, const char *agent_id, const struct resources **total,
                      const struct resources **available)
{
    struct agent *ag = agent_find(a, agent_id);

    if (ag == NULL)
        return -AG_ENOENT;
    if (total != NULL)
        *total = &ag->total;
    if (available != NULL)
        *available = &ag->avail;
    return 0;
}

int
alloc_foreach_allocation(const struct alloc *a, const char *agent_id,
                         void (*fn)(void *arg, const char *framework_id, const char *role,
                                    const struct resources *r),
                         void *arg)
{
    struct agent *ag = agent_find(a, agent_id);

    if (ag == NULL)
        return -AG_ENOENT;
    for (uint32_t i = 0; i < ag->nal; i++) {
        const struct aentry *e = &ag->al[i];
        fn(arg, a->fws[e->fw]->id, a->roles[e->role]->name, &e->r);
    }
    return 0;
}

int
alloc_update_available(struct alloc *a, const char *agent_id, const struct resources *from,
                       const struct resources *to)
{
    struct agent *ag;
    int rc;

    if ((rc = agent_for_call(a, agent_id, &ag)) != 0)
        return rc;
    if (from == NULL || to == NULL || !roles_ok(to) || !same_quantities(from, to))
        return -AG_EINVAL;
    if (!res_contains(&ag->avail, from))
        return -AG_ERANGE;
    ck(res_sub(&ag->avail, from));
    ck(res_add(&ag->avail, to));
    ck(res_sub(&ag->total, from));
    ck(res_add(&ag->total, to));
    account_reserved(a, from, -1);
    account_reserved(a, to, 1);
    agent_refresh(a, ag);
    pend_agent(a, ag);
    flush(a);
    return 0;
}

/* ---- frameworks API ---- */

static bool
role_list_ok(const char *const *roles, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (roles[i] == NULL || !res_role_valid(roles[i]))
            return false;
    return true;
}

static bool
in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Sets the framework's subscribed and suppressed roles. */
static void
set_roles(struct alloc *a, struct framework *f, const char *const *roles, size_t nroles,
          const char *const *suppressed, size_t nsuppressed)
{
    for (size_t i = 0; i < nroles; i++)
        member_get(a, f, role_get(a, roles[i]));
    for (uint32_t i = 0; i < f->nm; i++) {
        const char *name = a->roles[f->m[i].role]->name;
        f->m[i].subscribed = in_list(roles, nroles, name);
        f->m[i].suppressed = in_list(suppressed, nsuppressed, name);
    }
    member_sync_all(a, f);
}

int
alloc_add_framework(struct alloc *a, const char *framework_id, const char *const *roles,
                    size_t nroles, const char *const *suppressed, size_t nsuppressed)
{
    struct framework *f;

    if (a->running)
        return -AG_ESTATE;
    if (!id_ok(framework_id) || nroles == 0 || !role_list_ok(roles, nroles) ||
        !role_list_ok(suppressed, nsuppressed))
        return -AG_EINVAL;
    f = fw_find(a, framework_id);
    if (f != NULL && f->registered)
        return -AG_EEXIST;
    if (f == NULL)
        f = fw_new(a, framework_id);
    f->registered = true;
    f->active = true;
    set_roles(a, f, roles, nroles, suppressed, nsuppressed);
    a->all_pending = true;
    flush(a);
    return 0;
}

int
alloc_remove_framework(struct alloc *a, const char *framework_id)
{
    struct framework *f = fw_find(a, framework_id);

    if (a->running)
        return -AG_ESTATE;
    if (f == NULL)
        return -AG_ENOENT;
    for (uint32_t i = 0; i < a->norder; i++) {
        struct agent *ag = a->agents[a->order[i]];
        bool freed = false;
        for (uint32_t j = 0; j < ag->nal;) {
            if (ag->al[j].fw == f->idx) {
                entry_release(a, ag, &ag->al[j]);
                freed = true;
            } else {
                j++;
            }
        }
        if (freed) {
            agent_refresh(a, ag);
            filters_clear_agent(a, ag);
            pend_agent(a, ag);
        }
    }
    flush(a);
    f->registered = false;
    member_sync_all(a, f);
    filters_clear_fw(a, f);
    for (uint32_t i = 0; i < f->nm; i++) {
        struct role *r = a->roles[f->m[i].role];
        sorter_remove(r->fws, f->m[i].slot);
        r->rm[f->m[i].rmi] = (struct rmem){.fw = r->rm_free, .state = MS_FREE};
        r->rm_free = f->m[i].rmi;
    }
    hmap_del(&a->fw_map, f->id);
    a->fws[f->idx] = NULL;
    a->ffree[a->nffree++] = f->idx;
    a->nframeworks--;
    free(f->m);
    free(f);
    flush(a);
    return 0;
}

int
alloc_update_framework_roles(struct alloc *a, const char *framework_id, const char *const *roles,
                             size_t nroles, const char *const *suppressed, size_t nsuppressed)
{
    struct framework *f;
    int rc;

    if ((rc = fw_for_call(a, framework_id, &f)) != 0)
        return rc;
    if (nroles == 0 || !role_list_ok(roles, nroles) || !role_list_ok(suppressed, nsuppressed))
        return -AG_EINVAL;
    set_roles(a, f, roles, nroles, suppressed, nsuppressed);
    a->all_pending = true;
    flush(a);
    return 0;
}

int
alloc_set_framework_active(struct alloc *a, const char *framework_id, bool active)
{
    struct framework *f;
    int rc;

    if ((rc = fw_for_call(a, framework_id, &f)) != 0)
        return rc;
    f->active = active;
    member_sync_all(a, f);
    if (active)
        a->all_pending = true;
    flush(a);
    return 0;
}

/* Sets the suppressed flag of the framework's `roles` (all when nroles is 0). */
static int
set_suppressed(struct alloc *a, const char *framework_id, const char *const *roles, size_t nroles,
               bool suppressed)
{
    struct framework *f;
    int rc;

    if ((rc = fw_for_call(a, framework_id, &f)) != 0)
        return rc;
    for (size_t i = 0; i < nroles; i++) {
        struct role *r = roles[i] ? role_find(a, roles[i]) : NULL;
        int mi = r ? member_find(f, r->idx) : -1;
        if (mi < 0 || !f->m[mi].subscribed)
            return -AG_EINVAL;
    }
    for (uint32_t i = 0; i < f->nm; i++)
        if (nroles == 0 || in_list(roles, nroles, a->roles[f->m[i].role]->name))
            f->m[i].suppressed = suppressed;
    member_sync_all(a, f);
    flush(a);
    return 0;
}

int
alloc_suppress(struct alloc *a, const char *framework_id, const char *const *roles, size_t nroles)
{
    return set_suppressed(a, framework_id, roles, nroles, true);
}

int
alloc_revive(struct alloc *a, const char *framework_id, const char *const *roles, size_t nroles)
{
    int rc = set_suppressed(a, framework_id, roles, nroles, false);
    struct framework *f;

    if (rc != 0)
        return rc;
    f = fw_find(a, framework_id);
    for (uint32_t i = 0; i < f->nm; i++)
        if (nroles == 0 || in_list(roles, nroles, a->roles[f->m[i].role]->name))
            member_refuse(a, f, i, NULL);
    filters_clear_fw(a, f);
    a->all_pending = true;
    flush(a);
    return 0;
}

/* ---- allocated resources API ---- */

/* The allocation entry of `f` in `role` (NULL: its only one) on `ag`. */
static int
entry_lookup(struct alloc *a, struct agent *ag, struct framework *f, const char *role,
             struct aentry **out)
{
    if (role != NULL) {
        struct role *r = role_find(a, role);
        *out = r ? entry_find(ag, f->idx, r->idx) : NULL;
        return *out ? 0 : -AG_ERANGE;
    }
    *out = NULL;
    for (uint32_t i = 0; i < ag->nal; i++) {
        if (ag->al[i].fw != f->idx)
            continue;
        if (*out != NULL)
            return -AG_EINVAL;
        *out = &ag->al[i];
    }
    return *out ? 0 : -AG_ERANGE;
}

/*
 * A framework answered an offer of `offered` by returning `returned` with a
 * filter. Part kept: it is hungry, and what it kept is remembered. All
 * declined: it refuses offers within what it declined or, when the offer
 * could have held the least it ever kept (about one of its tasks: it has no
 * more work), any offer of those resource kinds, until it keeps something
 * or revives.
 */
static void
answer(struct alloc *a, struct framework *f, uint32_t mi, const struct qvec *offered,
       const struct qvec *returned)
{
    struct member *m = &f->m[mi];
    struct qvec declined = *offered;
    bool all = true, idle = !qzero(&m->kept);

    for (int k = 0; k < NQ; k++) {
        if (returned->v[k] < offered->v[k])
            all = false;
        if (offered->v[k] < m->kept.v[k])
            idle = false;
    }
    if (!all) {
        /* The smallest amount kept so far: about one task. */
        bool first = qzero(&m->kept);
        for (int k = 0; k < NQ; k++) {
            int64_t kept = max64(0, offered->v[k] - returned->v[k]);
            m->kept.v[k] = first ? kept : min64(m->kept.v[k], kept);
        }
        member_refuse(a, f, mi, NULL);
        return;
    }
    if (idle)
        for (int k = 0; k < NQ; k++)
            declined.v[k] = offered->v[k] > 0 ? NOLIMIT : 0;
    member_refuse(a, f, mi, &declined);
}

int
alloc_recover_resources(struct alloc *a, const char *framework_id, const char *agent_id,
                        const char *role, const struct resources *r, double refuse_seconds,
                        double now)
{
    struct framework *f = fw_find(a, framework_id);
    struct agent *ag = agent_find(a, agent_id);
    struct aentry *e;
    struct qvec q, uq;
    uint32_t mi;
    int rc;

    if (a->running)
        return -AG_ESTATE;
    if (f == NULL || ag == NULL)
        return -AG_ENOENT;
    if (r == NULL)
        return -AG_EINVAL;
    rc = entry_lookup(a, ag, f, role, &e);
    if (rc != 0)
        return rc;
    if (!res_contains(&e->r, r))
        return -AG_ERANGE;
    mi = (uint32_t)member_find(f, e->role);
    qvec_of(a, r, &q, &uq);
    if (refuse_seconds > 0 && !qzero(&e->last)) {
        answer(a, f, mi, &e->last, &q);
        memset(&e->last, 0, sizeof(e->last));
    } else if (!(refuse_seconds > 0) && f->m[mi].refusing) {
        /* A task ended or an offer was taken back: it may want more again. */
        member_refuse(a, f, mi, NULL);
    }
    account(a, f, mi, &q, &uq, -1, false);
    ck(res_sub(&e->r, r));
    ck(res_add(&ag->avail, r));
    entry_drop_if_empty(ag, e);
    agent_refresh(a, ag);
    if (refuse_seconds > 0 && f->registered)
        filter_set(a, ag, f, now + refuse_seconds);
    else if (!res_empty(r))
        filters_clear_agent(a, ag);
    pend_agent(a, ag);
    flush(a);
    return 0;
}

int
alloc_update_allocation(struct alloc *a, const char *framework_id, const char *agent_id,
                        const char *role, const struct resources *from, const struct resources *to)
{
    struct framework *f = fw_find(a, framework_id);
    struct agent *ag = agent_find(a, agent_id);
    struct aentry *e;
    struct qvec q, uq;
    uint32_t mi;
    int rc;

    if (a->running)
        return -AG_ESTATE;
    if (f == NULL || ag == NULL)
        return -AG_ENOENT;
    if (from == NULL || to == NULL || !roles_ok(to) || !same_quantities(from, to))
        return -AG_EINVAL;
    rc = entry_lookup(a, ag, f, role, &e);
    if (rc != 0)
        return rc;
    if (!res_contains(&e->r, from))
        return -AG_ERANGE;
    mi = (uint32_t)member_find(f, e->role);
    qvec_of(a, from, &q, &uq);
    account(a, f, mi, &q, &uq, -1, false);
    qvec_of(a, to, &q, &uq);
    account(a, f, mi, &q, &uq, 1, false);
    ck(res_sub(&e->r, from));
    ck(res_add(&e->r, to));
    ck(res_sub(&ag->total, from));
    ck(res_add(&ag->total, to));
    account_reserved(a, from, -1);
    account_reserved(a, to, 1);
    flush(a);
    return 0;
}

/* ---- policy API ---- */

int
alloc_set_weight(struct alloc *a, const char *role, double weight)
{
    struct role *r;

    if (a->running)
        return -AG_ESTATE;
    if (!(weight > 0) || !isfinite(weight))
        return -AG_EINVAL;
    r = role_get(a, role);
    if (r == NULL)
        return -AG_EINVAL;
    r->weight = weight;
    r->weight_set = true;
    sorter_set_weight(parent_of(a, r)->kids, r->slot_in_parent, weight);
    if (r->kids != NULL)
        sorter_set_weight(r->kids, r->self_slot, weight);
    return 0;
}

/* Checks that `r` holds unreserved scalars only and that their names fit in
 * the scalar table; counts new names into `*fresh`. */
static int
quota_resources_ok(struct alloc *a, const struct resources *r, char names[][RES_NAME_MAX],
                   uint32_t *fresh)
{
    for (size_t i = 0; r != NULL && i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        bool seen = false;
        if (it->type != RES_SCALAR || !is_any(it->role))
            return -AG_EINVAL;
        if (qidx(a, it->name, false) >= 0)
            continue;
        for (uint32_t j = 0; j < *fresh; j++)
            if (strcmp(names[j], it->name) == 0)
                seen = true;
        if (seen)
            continue;
        if (a->nrn + *fresh >= NQ)
            return -AG_ENOSPC;
        snprintf(names[(*fresh)++], RES_NAME_MAX, "%s", it->name);
    }
    return 0;
}

int
alloc_set_quota(struct alloc *a, const char *role, const struct resources *guarantee,
                const struct resources *limit)
{
    char names[NQ][RES_NAME_MAX];
    uint32_t fresh = 0;
    struct qvec g = {{0}}, l;
    struct role *r;
    int rc;

    if (a->running)
        return -AG_ESTATE;
    if (role == NULL || !res_role_valid(role))
        return -AG_EINVAL;
    rc = quota_resources_ok(a, guarantee, names, &fresh);
    if (rc == 0)
        rc = quota_resources_ok(a, limit, names, &fresh);
    if (rc != 0)
        return rc;
    for (int k = 0; k < NQ; k++)
        l.v[k] = NOLIMIT;
    for (size_t i = 0; guarantee != NULL && i < guarantee->n; i++)
        g.v[qidx(a, guarantee->items[i].name, true)] = guarantee->items[i].scalar;
    for (size_t i = 0; limit != NULL && i < limit->n; i++)
        l.v[qidx(a, limit->items[i].name, true)] = limit->items[i].scalar;
    for (int k = 0; k < NQ; k++)
        if (l.v[k] < g.v[k])
            return -AG_EINVAL;
    r = role_get(a, role);
    r->guar = g;
    r->limit = l;
    r->has_guar = guarantee != NULL && guarantee->n > 0;
    r->has_limit = limit != NULL && limit->n > 0;
    res_fini(&r->guar_r);
    res_fini(&r->limit_r);
    if (r->has_guar)
        ck(res_copy(&r->guar_r, guarantee));
    if (r->has_limit)
        ck(res_copy(&r->limit_r, limit));
    quota_refresh(a);
    a->all_pending = true;
    return 0;
}

/* ---- inspection ---- */

static void
qvec_to_res(const struct alloc *a, const struct qvec *q, struct resources *out)
{
    res_fini(out);
    for (uint32_t k = 0; k < a->nrn; k++)
        if (q->v[k] > 0)
            ck(res_add_scalar(out, a->rname[k], RES_ANY_ROLE, q->v[k]));
}

static void
role_info(struct alloc *a, const struct role *r, struct alloc_role_info *out)
{
    struct qvec cons;
    size_t n = 0;

    for (int k = 0; k < NQ; k++)
        cons.v[k] = consumed(r, k);
    qvec_to_res(a, &r->sub_alloc, &a->info_alloc);
    qvec_to_res(a, &r->sub_reserved, &a->info_resv);
    qvec_to_res(a, &cons, &a->info_cons);
    if (r->nrm > a->capinfo) {
        a->capinfo = r->nrm;
        a->info_fws = xrealloc(a->info_fws, a->capinfo * sizeof(*a->info_fws));
    }
    for (uint32_t i = 0; i < r->nrm; i++) {
        const struct framework *f;
        if (r->rm[i].state == MS_FREE)
            continue;
        f = a->fws[r->rm[i].fw];
        if (f->registered && f->m[r->rm[i].mi].subscribed)
            a->info_fws[n++] = f->id;
    }
    *out = (struct alloc_role_info){
        .role = r->name,
        .weight = r->weight,
        .weight_set = r->weight_set,
        .guarantee = r->has_guar ? &r->guar_r : NULL,
        .limit = r->has_limit ? &r->limit_r : NULL,
        .allocated = &a->info_alloc,
        .reserved = &a->info_resv,
        .consumed = &a->info_cons,
        .frameworks = a->info_fws,
        .nframeworks = n,
    };
}

int
alloc_get_role(struct alloc *a, const char *role, struct alloc_role_info *out)
{
    struct role *r = role == NULL ? NULL : role_find(a, role);

    if (r == NULL)
        return -AG_ENOENT;
    role_info(a, r, out);
    return 0;
}

void
alloc_foreach_role(struct alloc *a, void (*fn)(void *arg, const struct alloc_role_info *info),
                   void *arg)
{
    struct alloc_role_info info;

    for (uint32_t i = 1; i < a->nroles; i++) {
        role_info(a, a->roles[i], &info);
        fn(arg, &info);
    }
}

void
alloc_get_stats(const struct alloc *a, struct alloc_stats *out)
{
    *out = a->stats;
    out->agents = a->norder;
    out->frameworks = a->nframeworks;
    out->roles = a->nroles - 1;
    out->filters = a->nfilters;
}
