/*
 * Resources as text and JSON: res_parse (with its error messages), the
 * canonical printer res_format, scalar parsing and printing, res_to_json.
 */
#include "resources.h"

#include <jansson.h>

#include "error.h"
#include "res_int.h"
#include "res_ranges.h"
#include "res_sets.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

#define EXPONENT_LIMIT 100000 /* exponents beyond this are clamped (result 0 or overflow) */

/* ---- parsing ---- */

struct seen_name {
    char name[RES_NAME_MAX];
    enum res_type type;
};

struct parser {
    struct resources out;
    struct seen_name *seen;
    size_t nseen;
    char *err;
    size_t errlen;
};

static const char *
type_name(enum res_type t)
{
    switch (t) {
    case RES_SCALAR:
        return "scalar";
    case RES_RANGES:
        return "ranges";
    case RES_SET:
        return "set";
    }
    return "unknown";
}

/* Makes room for one more element in the array at `*(T **)pv` of `n`
 * elements of `size` bytes, allocated as res_vec_cap(n) elements (4, then
 * doubling). 0 or -AG_ENOMEM (unchanged). The pointer is read and written
 * with memcpy, so any element type may go through here. */
static int
grow(void *pv, size_t n, size_t size)
{
    void *v, *nv;

    if (n < res_vec_cap(n))
        return 0;
    memcpy(&v, pv, sizeof(v));
    nv = realloc(v, res_vec_cap(n + 1) * size);
    if (nv == NULL)
        return -AG_ENOMEM;
    memcpy(pv, &nv, sizeof(nv));
    return 0;
}

static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    txt_trim(&s, &n);
    if (n == 0)
        return -AG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!txt_is_digit(s[i]))
            return -AG_EINVAL;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
            return -AG_ERANGE;
    }
    *out = v;
    return 0;
}

/* Parses one element "B-E" or "N" of a ranges value into it->ranges. */
static int
parse_range(struct parser *p, struct res_item *it, const char *e, size_t en, const char *v,
            size_t n)
{
    char q[TXT_QUOTE_BUF];
    const char *dash = memchr(e, '-', en);
    struct res_range r;
    int rc;

    if (dash != NULL) {
        rc = parse_u64(e, (size_t)(dash - e), &r.begin);
        if (rc == 0)
            rc = parse_u64(dash + 1, (size_t)(e + en - dash - 1), &r.end);
    } else {
        rc = parse_u64(e, en, &r.begin);
        r.end = r.begin;
    }
    if (rc != 0 || r.begin > r.end) {
        txt_trim(&e, &en);
        ag_errf(p->err, p->errlen, "bad range \"%s\" for resource \"%s\"%s", txt_quote(q, e, en),
                it->name,
                rc == -AG_ERANGE ? ": out of bounds"
                : rc == 0        ? ": begin > end"
                                 : "");
        return -AG_EINVAL;
    }
    if (grow(&it->ranges, it->nranges, sizeof(*it->ranges)) != 0)
        return -AG_ENOMEM;
    it->ranges[it->nranges++] = r;
    return 0;
}

static bool
set_member_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == ',' || c == ';' || c == '{' || c == '}')
            return false;
    }
    return true;
}

/* Parses one member of a set value (the whole value is `v`, `n`) into it->set. */
static int
parse_member(struct parser *p, struct res_item *it, const char *m, size_t mn, const char *v,
             size_t n)
{
    char q[TXT_QUOTE_BUF];
    char *dup;

    txt_trim(&m, &mn);
    if (mn == 0) {
        ag_errf(p->err, p->errlen, "empty set member in \"%s\" for resource \"%s\"",
                txt_quote(q, v, n), it->name);
        return -AG_EINVAL;
    }
    if (mn >= RES_SET_MEMBER_MAX) {
        ag_errf(p->err, p->errlen, "set member \"%s\" too long for resource \"%s\"",
                txt_quote(q, m, mn), it->name);
        return -AG_EINVAL;
    }
    if (!set_member_valid(m, mn)) {
        ag_errf(p->err, p->errlen, "bad set member \"%s\" for resource \"%s\"",
                txt_quote(q, m, mn), it->name);
        return -AG_EINVAL;
    }
    if (grow(&it->set, it->nset, sizeof(*it->set)) != 0)
        return -AG_ENOMEM;
    dup = strndup(m, mn);
    if (dup == NULL)
        return -AG_ENOMEM;
    it->set[it->nset++] = dup;
    return 0;
}

/*
 * Parses the bracketed list `v`, `n` ("[...]" or "{...}", `close` its closing
 * bracket, `what` its name in messages): checks the brackets, then hands each
 * comma-separated element to `elem` (with the whole value, for messages). An
 * empty list ("[]", "{ }") is no element. Returns 0 or what failed.
 */
static int
parse_list(struct parser *p, struct res_item *it, const char *v, size_t n, char close,
           const char *what,
           int (*elem)(struct parser *, struct res_item *, const char *, size_t, const char *,
                       size_t))
{
    char q[TXT_QUOTE_BUF];
    const char *c = memchr(v, close, n), *s = v + 1, *t = s;
    size_t tn;

    if (c == NULL) {
        ag_errf(p->err, p->errlen, "unterminated %s \"%s\" for resource \"%s\"", what,
                txt_quote(q, v, n), it->name);
        return -AG_EINVAL;
    }
    if (c != v + n - 1) {
        ag_errf(p->err, p->errlen, "bad value \"%s\" for resource \"%s\"", txt_quote(q, v, n),
                it->name);
        return -AG_EINVAL;
    }
    tn = (size_t)(c - t);
    txt_trim(&t, &tn);
    if (tn == 0)
        return 0;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(c - s));
        int rc = elem(p, it, s, (size_t)((comma ? comma : c) - s), v, n);

        if (rc != 0)
            return rc;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

static int
parse_value(struct parser *p, struct res_item *it, const char *v, size_t n)
{
    char q[TXT_QUOTE_BUF];
    int rc;

    if (n > 0 && v[0] == '[') {
        it->type = RES_RANGES;
        rc = parse_list(p, it, v, n, ']', "ranges", parse_range);
        if (rc == 0)
            rng_normalize(it);
        return rc;
    }
    if (n > 0 && v[0] == '{') {
        it->type = RES_SET;
        rc = parse_list(p, it, v, n, '}', "set", parse_member);
        if (rc == 0)
            rset_normalize(it);
        return rc;
    }
    it->type = RES_SCALAR;
    if (n > 0 && v[0] == '-') {
        ag_errf(p->err, p->errlen, "negative value \"%s\" for resource \"%s\"",
                txt_quote(q, v, n), it->name);
        return -AG_EINVAL;
    }
    rc = res_parse_scalar(v, n, &it->scalar);
    if (rc == -AG_ERANGE) {
        ag_errf(p->err, p->errlen, "value \"%s\" out of range for resource \"%s\"",
                txt_quote(q, v, n), it->name);
        return -AG_EINVAL;
    }
    if (rc != 0) {
        ag_errf(p->err, p->errlen, "bad value \"%s\" for resource \"%s\"", txt_quote(q, v, n),
                it->name);
        return -AG_EINVAL;
    }
    return 0;
}

/* Enforces one type per name across every item of the text, empty ones included. */
static int
parse_check_type(struct parser *p, const struct res_item *it)
{
    for (size_t i = 0; i < p->nseen; i++) {
        if (strcmp(p->seen[i].name, it->name) != 0)
            continue;
        if (p->seen[i].type == it->type)
            return 0;
        ag_errf(p->err, p->errlen, "resource \"%s\" used with two types (%s and %s)", it->name,
                type_name(p->seen[i].type), type_name(it->type));
        return -AG_EINVAL;
    }
    if (grow(&p->seen, p->nseen, sizeof(*p->seen)) != 0)
        return -AG_ENOMEM;
    memcpy(p->seen[p->nseen].name, it->name, sizeof(it->name));
    p->seen[p->nseen++].type = it->type;
    return 0;
}

/* Parses the optional "(ROLE)" of an item into it->role: `s`, `n` is the
 * item and s[*i] its '('; leaves `*i` at the ':' after the role. */
static int
parse_role(struct parser *p, struct res_item *it, const char *s, size_t n, size_t *i)
{
    char q[TXT_QUOTE_BUF];
    const char *role = s + *i + 1;
    const char *close = memchr(role, ')', n - *i - 1);
    size_t rn;

    if (close == NULL) {
        ag_errf(p->err, p->errlen, "unterminated role at \"%s\"", txt_quote(q, s, n));
        return -AG_EINVAL;
    }
    rn = (size_t)(close - role);
    if (rn >= RES_ROLE_MAX) {
        ag_errf(p->err, p->errlen, "role \"%s\" too long for resource \"%s\" (max %d)",
                txt_quote(q, role, rn), it->name, RES_ROLE_MAX - 1);
        return -AG_EINVAL;
    }
    memcpy(it->role, role, rn);
    it->role[rn] = '\0';
    if (!res_role_valid(it->role)) {
        ag_errf(p->err, p->errlen, "bad role \"%s\" for resource \"%s\"", txt_quote(q, role, rn),
                it->name);
        return -AG_EINVAL;
    }
    *i = (size_t)(close - s) + 1;
    while (*i < n && txt_is_space(s[*i]))
        (*i)++;
    if (*i == n || s[*i] != ':') {
        ag_errf(p->err, p->errlen, "unknown syntax at \"%s\"",
                *i == n ? txt_quote(q, s, n) : txt_quote(q, s + *i, n - *i));
        return -AG_EINVAL;
    }
    return 0;
}

/* Parses one trimmed, non-empty `NAME[(ROLE)]:VALUE` item into p->out. */
static int
parse_item(struct parser *p, const char *s, size_t n)
{
    char q[TXT_QUOTE_BUF];
    struct res_item it;
    const char *name, *v;
    size_t i = 0, nn, vn;
    int rc;

    while (i < n && s[i] != '(' && s[i] != ':')
        i++;
    if (i == n) {
        ag_errf(p->err, p->errlen, "unknown syntax at \"%s\"", txt_quote(q, s, n));
        return -AG_EINVAL;
    }
    name = s;
    nn = i;
    txt_trim(&name, &nn);
    if (nn == 0) {
        ag_errf(p->err, p->errlen, "empty resource name at \"%s\"", txt_quote(q, s, n));
        return -AG_EINVAL;
    }
    if (nn >= RES_NAME_MAX) {
        ag_errf(p->err, p->errlen, "resource name \"%s\" too long (max %d)",
                txt_quote(q, name, nn), RES_NAME_MAX - 1);
        return -AG_EINVAL;
    }
    if (!res_name_valid(name, nn)) {
        ag_errf(p->err, p->errlen, "bad resource name \"%s\"", txt_quote(q, name, nn));
        return -AG_EINVAL;
    }
    memset(&it, 0, sizeof(it));
    memcpy(it.name, name, nn);
    strcpy(it.role, RES_ANY_ROLE);
    if (s[i] == '(' && (rc = parse_role(p, &it, s, n, &i)) != 0)
        return rc;
    v = s + i + 1;
    vn = n - i - 1;
    txt_trim(&v, &vn);
    rc = parse_value(p, &it, v, vn);
    if (rc == 0)
        rc = parse_check_type(p, &it);
    if (rc == 0) {
        rc = res_coll_add_item(&p->out, &it);
        if (rc == -AG_ERANGE) {
            ag_errf(p->err, p->errlen, "value overflow for resource \"%s\"", it.name);
            rc = -AG_EINVAL;
        }
    }
    if (rc == -AG_ENOMEM)
        ag_errf(p->err, p->errlen, "out of memory");
    res_item_free(&it);
    return rc;
}

int
res_parse(struct resources *out, const char *text, char *err, size_t errlen)
{
    struct parser p = {.err = err, .errlen = errlen};
    const char *s = text, *item;
    size_t n;
    int rc = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL) {
        ag_errf(err, errlen, "no resource text");
        return -AG_EINVAL;
    }
    res_init(&p.out);
    while (rc == 0 && txt_next_item(&s, ';', &item, &n))
        rc = parse_item(&p, item, n);
    free(p.seen);
    return res_coll_commit(out, &p.out, rc);
}

int
res_parse_scalar(const char *s, size_t len, int64_t *milli)
{
    size_t i = 0, ip, fs, fe, nd;
    long long e = 0, k, point;
    int64_t v = 0;

    while (i < len && txt_is_digit(s[i]))
        i++;
    ip = i;
    fs = fe = i;
    if (i < len && s[i] == '.') {
        fs = ++i;
        while (i < len && txt_is_digit(s[i]))
            i++;
        fe = i;
    }
    nd = ip + (fe - fs);
    if (nd == 0)
        return -AG_EINVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = false;
        size_t es;

        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        es = i;
        while (i < len && txt_is_digit(s[i])) {
            if (e < EXPONENT_LIMIT)
                e = e * 10 + (s[i] - '0');
            i++;
        }
        if (i == es)
            return -AG_EINVAL;
        if (neg)
            e = -e;
    }
    if (i != len)
        return -AG_EINVAL;
    /* Digits d[0..nd) with the decimal point after ip of them: the integer
     * part of value * 1000 is d[0..point), rounded on d[point]. */
    point = (long long)ip + e + 3;
    for (k = 0; k < point && k < (long long)nd; k++) {
        char c = (size_t)k < ip ? s[k] : s[fs + (size_t)k - ip];
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
            return -AG_ERANGE;
    }
    for (; k < point && v != 0; k++)
        if (__builtin_mul_overflow(v, 10, &v))
            return -AG_ERANGE;
    if (point >= 0 && point < (long long)nd) {
        char c = (size_t)point < ip ? s[point] : s[fs + (size_t)point - ip];
        if (c >= '5' && __builtin_add_overflow(v, 1, &v))
            return -AG_ERANGE;
    }
    *milli = v;
    return 0;
}

/* ---- printing ---- */

static void
put_scalar(struct txt_buf *w, int64_t milli)
{
    uint64_t mag = milli < 0 ? -(uint64_t)milli : (uint64_t)milli;
    unsigned frac = (unsigned)(mag % RES_SCALE);
    char f[4];
    size_t fn = 3;

    if (milli < 0)
        txt_put(w, "-", 1);
    txt_put_u64(w, mag / RES_SCALE);
    if (frac == 0)
        return;
    f[0] = (char)('0' + frac / 100);
    f[1] = (char)('0' + frac / 10 % 10);
    f[2] = (char)('0' + frac % 10);
    while (f[fn - 1] == '0')
        fn--;
    txt_put(w, ".", 1);
    txt_put(w, f, fn);
}

/* The value of a ranges or set item: "[B-E,...]" or "{a,b}". */
static void
put_list(struct txt_buf *w, const struct res_item *it)
{
    bool ranges = it->type == RES_RANGES;
    size_t n = ranges ? it->nranges : it->nset;

    txt_put(w, ranges ? "[" : "{", 1);
    for (size_t j = 0; j < n; j++) {
        if (j > 0)
            txt_put(w, ",", 1);
        if (ranges) {
            txt_put_u64(w, it->ranges[j].begin);
            txt_put(w, "-", 1);
            txt_put_u64(w, it->ranges[j].end);
        } else {
            txt_puts(w, it->set[j]);
        }
    }
    txt_put(w, ranges ? "]" : "}", 1);
}

size_t
res_format_scalar(int64_t milli, char *buf, size_t len)
{
    struct txt_buf w = {buf, len, 0};

    put_scalar(&w, milli);
    return txt_finish(&w);
}

size_t
res_format(const struct resources *r, char *buf, size_t len)
{
    struct txt_buf w = {buf, len, 0};

    for (size_t i = 0; i < r->n; i++) {
        const struct res_item *it = &r->items[i];
        if (i > 0)
            txt_put(&w, ";", 1);
        txt_puts(&w, it->name);
        if (res_short_cmp(it->role, RES_ANY_ROLE) != 0) {
            txt_put(&w, "(", 1);
            txt_puts(&w, it->role);
            txt_put(&w, ")", 1);
        }
        txt_put(&w, ":", 1);
        if (it->type == RES_SCALAR)
            put_scalar(&w, it->scalar);
        else
            put_list(&w, it);
    }
    return txt_finish(&w);
}

char *
res_to_string(const struct resources *r)
{
    size_t n = res_format(r, NULL, 0);
    char *s = malloc(n + 1);

    if (s != NULL)
        res_format(r, s, n + 1);
    return s;
}

json_t *
res_to_json(const struct resources *r)
{
    json_t *o = json_object();
    struct resources flat;
    char buf[4096];

    json_object_set_new(o, "cpus", json_real(0));
    json_object_set_new(o, "mem", json_real(0));
    json_object_set_new(o, "disk", json_real(0));
    json_object_set_new(o, "gpus", json_real(0));
    res_init(&flat);
    if (res_flatten(&flat, r) != 0) {
        res_fini(&flat);
        return o;
    }
    for (size_t i = 0; i < flat.n; i++) {
        const struct res_item *it = &flat.items[i];
        if (it->type == RES_SCALAR) {
            json_object_set_new(o, it->name, json_real((double)it->scalar / RES_SCALE));
        } else {
            /* as much as fits in `buf` after "NAME:", as in the item's text */
            struct txt_buf w = {buf, sizeof(buf) - strlen(it->name) - 1, 0};
            put_list(&w, it);
            txt_finish(&w);
            json_object_set_new(o, it->name, json_string(buf));
        }
    }
    res_fini(&flat);
    return o;
}
