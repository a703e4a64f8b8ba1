/* What an app needs now: starts and kills. See deploy.h. */
#define _GNU_SOURCE
#include "deploy.h"

#include "xalloc.h"

#include <math.h>
#include <stdlib.h>

#define EPS 1e-9

static bool
is_live(const struct conv_task *t)
{
    return !t->killing && !t->inactive;
}

static bool
is_ready(const struct conv_in *in, const struct conv_task *t)
{
    return is_live(t) && t->running && !t->unreachable && (!in->has_checks || t->healthy == 1);
}

static bool
is_unhealthy(const struct conv_in *in, const struct conv_task *t)
{
    return in->has_checks && in->replace_unhealthy && is_live(t) && t->running && !t->unreachable &&
           t->healthy == 0;
}

/* Kill order: lower ranks go first. */
static int
rank(const struct conv_in *in, const struct conv_task *t)
{
    if (t->returned)
        return 0;
    if (t->unreachable)
        return 1;
    if (!t->running)
        return 2;
    if (in->has_checks && t->healthy == 0)
        return 3;
    if (in->has_checks && t->healthy != 1)
        return 4;
    return 5;
}

struct sort_ctx {
    const struct conv_in *in;
    const struct conv_task *t;
};

static int
kill_order(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    const struct conv_task *x = &c->t[*(const size_t *)a], *y = &c->t[*(const size_t *)b];
    int rx = rank(c->in, x), ry = rank(c->in, y);

    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->staged_at == y->staged_at)
        return 0;
    /* YOUNGEST_FIRST: the latest launched first. */
    if (c->in->youngest_first)
        return x->staged_at > y->staged_at ? -1 : 1;
    return x->staged_at < y->staged_at ? -1 : 1;
}

static int
oldest_first(const void *a, const void *b, void *arg)
{
    const struct conv_task *t = arg;
    double x = t[*(const size_t *)a].staged_at, y = t[*(const size_t *)b].staged_at;
    return x < y ? -1 : x > y;
}

static void
add_kill(struct conv_out *out, bool *marked, size_t i, enum conv_reason reason)
{
    marked[i] = true;
    out->kills[out->nkills].idx = i;
    out->kills[out->nkills].reason = reason;
    out->nkills++;
}

/* Indices of tasks passing `keep`, sorted in kill order. Returns the count. */
static size_t
ordered(const struct conv_in *in, const struct conv_task *t, size_t n, const bool *marked,
        bool (*keep)(const struct conv_in *, const struct conv_task *), size_t *idx)
{
    struct sort_ctx c = {in, t};
    size_t m = 0;

    for (size_t i = 0; i < n; i++)
        if (!marked[i] && keep(in, &t[i]))
            idx[m++] = i;
    qsort_r(idx, m, sizeof(*idx), kill_order, &c);
    return m;
}

static bool
live_any(const struct conv_in *in, const struct conv_task *t)
{
    (void)in;
    return is_live(t);
}

static bool
live_old(const struct conv_in *in, const struct conv_task *t)
{
    (void)in;
    return is_live(t) && !t->current;
}

static bool
live_new(const struct conv_in *in, const struct conv_task *t)
{
    (void)in;
    return is_live(t) && t->current;
}

static void
run_keep(const struct conv_in *in, const struct conv_task *t, size_t n, bool *marked, size_t *idx,
         struct conv_out *out)
{
    int N = in->instances, L = 0, R = 0, nU = 0, S, target, killing = 0, ready_left = 0;
    size_t m, k;

    S = (int)floor(N * in->max_over + EPS);
    if (S < 1)
        S = 1;
    for (size_t i = 0; i < n; i++) {
        if (t[i].killing)
            killing++;
        if (!is_live(&t[i]))
            continue;
        L++;
        if (is_ready(in, &t[i]))
            R++;
        if (is_unhealthy(in, &t[i]))
            idx[nU++] = i;
    }
    /* Unhealthy tasks go once a replacement is ready, oldest first, one token each. */
    qsort_r(idx, nU, sizeof(*idx), oldest_first, (void *)t);
    for (int u = 0, total = nU; u < total && N > 0; u++) {
        if (out->tokens_used >= in->kill_tokens || R < N - nU + 1 || R == 0)
            break;
        add_kill(out, marked, idx[u], CONV_KILL_UNHEALTHY);
        out->tokens_used++;
        nU--;
        L--;
    }
    target = N == 0 ? 0 : N + (nU < S ? nU : S);
    if (L > target) {
        m = ordered(in, t, n, marked, live_any, idx);
        for (k = 0; k < m && L > target; k++) {
            if (is_unhealthy(in, &t[idx[k]]))
                nU--;
            add_kill(out, marked, idx[k], CONV_KILL_SCALE);
            L--;
            target = N == 0 ? 0 : N + (nU < S ? nU : S);
        }
    }
    out->launch = target > L ? target - L : 0;
    for (size_t i = 0; i < n; i++)
        if (!marked[i] && is_ready(in, &t[i]))
            ready_left++;
    out->done = L == N && ready_left == N && killing == 0 && out->nkills == 0;
}

static void
run_replace(const struct conv_in *in, const struct conv_task *t, size_t n, bool *marked,
            size_t *idx, struct conv_out *out)
{
    int N = in->instances, minH, maxC, occupied = 0, H = 0, newL = 0, oldL = 0, old_any = 0;
    int killing = 0, new_ready = 0;
    bool inflight = false;
    size_t m;

    minH = (int)ceil(N * in->min_health - EPS);
    maxC = (int)floor(N * (1.0 + in->max_over) + EPS);
    for (size_t i = 0; i < n; i++) {
        if (t[i].inactive)
            continue;
        occupied++;
        if (t[i].killing) {
            killing++;
            if (!t[i].current)
                old_any++;
            continue;
        }
        if (is_ready(in, &t[i]))
            H++;
        if (t[i].current)
            newL++;
        else {
            oldL++;
            old_any++;
        }
    }
    /* New tasks that failed their health check: replaced, and counted for rollback. */
    for (size_t i = 0; i < n; i++)
        if (t[i].current && is_unhealthy(in, &t[i])) {
            add_kill(out, marked, i, CONV_KILL_UNHEALTHY);
            out->unhealthy_new_killed++;
            newL--;
        }
    /* Old tasks that do not count as healthy go at once. */
    for (size_t i = 0; i < n; i++)
        if (!marked[i] && live_old(in, &t[i]) && !is_ready(in, &t[i])) {
            add_kill(out, marked, i, CONV_KILL_UPGRADE);
            oldL--;
        }
    /* Healthy old tasks while enough healthy ones stay. */
    m = ordered(in, t, n, marked, live_old, idx);
    for (size_t k = 0; k < m && H - 1 >= minH; k++) {
        add_kill(out, marked, idx[k], CONV_KILL_UPGRADE);
        H--;
        oldL--;
    }
    /* More new tasks than wanted (the instance count went down as well). */
    if (newL > N) {
        m = ordered(in, t, n, marked, live_new, idx);
        for (size_t k = 0; k < m && newL > N; k++) {
            add_kill(out, marked, idx[k], CONV_KILL_SCALE);
            newL--;
        }
    }
    out->launch = N - newL;
    if (out->launch > maxC - occupied)
        out->launch = maxC - occupied;
    if (out->launch < 0)
        out->launch = 0;
    for (size_t i = 0; i < n; i++) {
        if (marked[i] || t[i].killing || t[i].inactive)
            continue;
        if (t[i].current) {
            if (is_ready(in, &t[i]))
                new_ready++;
            else
                inflight = true;
        }
    }
    if (killing > 0)
        inflight = true;
    if (out->launch == 0 && out->nkills == 0 && !inflight && newL < N && oldL > 0)
        out->launch = 1;
    out->done = old_any == 0 && oldL <= 0 && newL == N && new_ready == N && killing == 0 &&
                out->nkills == 0;
}

void
conv_run(const struct conv_in *in, const struct conv_task *t, size_t n, struct conv_out *out)
{
    bool *marked = xcalloc(n, sizeof(bool));
    size_t *idx = xcalloc(n, sizeof(size_t));
    out->launch = 0;
    out->nkills = 0;
    out->tokens_used = 0;
    out->unhealthy_new_killed = 0;
    out->done = false;
    switch (in->kind) {
    case CONV_STOP: {
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            if (!t[i].killing)
                add_kill(out, marked, i, CONV_KILL_STOP);
            if (!t[i].inactive)
                left++;
        }
        out->done = left == 0;
        break;
    }
    case CONV_KEEP:
        run_keep(in, t, n, marked, idx, out);
        break;
    case CONV_REPLACE:
        run_replace(in, t, n, marked, idx, out);
        break;
    }
    free(marked);
    free(idx);
}
