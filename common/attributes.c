/*
 * Agent attributes: parsing, printing and lookup. Attributes keep the order in
 * which they were written; lookups are linear (agents have a handful).
 */
#include "attributes.h"

#include <jansson.h>

#include "error.h"
#include "resources.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names: printable ASCII without spaces, ':' or ';'. */
static bool
name_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ':' || c == ';')
            return false;
    }
    return true;
}

/* Values: printable ASCII (inner spaces allowed) without ';'. */
static bool
value_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == ';')
            return false;
    }
    return true;
}

/* Parses an optionally negative number ("3", "-0.5", "1e3"). */
static bool
parse_number(const char *s, size_t n, int64_t *milli)
{
    bool neg = n > 0 && s[0] == '-';

    if (neg) {
        s++;
        n--;
    }
    if (res_parse_scalar(s, n, milli) != 0)
        return false;
    if (neg)
        *milli = -*milli;
    return true;
}

void
attr_init(struct attributes *a)
{
    a->v = NULL;
    a->n = 0;
}

void
attr_fini(struct attributes *a)
{
    if (a == NULL)
        return;
    free(a->v);
    attr_init(a);
}

int
attr_copy(struct attributes *dst, const struct attributes *src)
{
    struct attr *v = NULL;

    if (dst == src)
        return 0;
    if (src->n > 0) {
        v = malloc(src->n * sizeof(*v));
        if (v == NULL)
            return -AG_ENOMEM;
        memcpy(v, src->v, src->n * sizeof(*v));
    }
    free(dst->v);
    dst->v = v;
    dst->n = src->n;
    return 0;
}

/* Parses one `NAME:VALUE` token into `at`; `tmp` holds those parsed so far. */
static int
parse_one(const struct attributes *tmp, struct attr *at, const char *s, size_t n, char *err,
          size_t errlen)
{
    char q[TXT_QUOTE_BUF];
    const char *colon = memchr(s, ':', n), *name = s, *val;
    size_t nn, vn;

    if (colon == NULL) {
        ag_errf(err, errlen, "missing ':' in attribute \"%s\"", txt_quote(q, s, n));
        return -AG_EINVAL;
    }
    nn = (size_t)(colon - s);
    txt_trim(&name, &nn);
    val = colon + 1;
    vn = (size_t)(s + n - val);
    txt_trim(&val, &vn);
    if (nn == 0) {
        ag_errf(err, errlen, "empty attribute name at \"%s\"", txt_quote(q, s, n));
        return -AG_EINVAL;
    }
    if (nn >= ATTR_NAME_MAX) {
        ag_errf(err, errlen, "attribute name \"%s\" too long (max %d)", txt_quote(q, name, nn),
                ATTR_NAME_MAX - 1);
        return -AG_EINVAL;
    }
    if (!name_valid(name, nn)) {
        ag_errf(err, errlen, "bad attribute name \"%s\"", txt_quote(q, name, nn));
        return -AG_EINVAL;
    }
    memset(at, 0, sizeof(*at));
    memcpy(at->name, name, nn);
    if (vn == 0) {
        ag_errf(err, errlen, "empty value for attribute \"%s\"", at->name);
        return -AG_EINVAL;
    }
    if (vn >= ATTR_TEXT_MAX) {
        ag_errf(err, errlen, "value \"%s\" too long for attribute \"%s\" (max %d)",
                txt_quote(q, val, vn), at->name, ATTR_TEXT_MAX - 1);
        return -AG_EINVAL;
    }
    if (!value_valid(val, vn)) {
        ag_errf(err, errlen, "bad value \"%s\" for attribute \"%s\"", txt_quote(q, val, vn), at->name);
        return -AG_EINVAL;
    }
    if (attr_find(tmp, at->name) != NULL) {
        ag_errf(err, errlen, "duplicate attribute \"%s\"", at->name);
        return -AG_EINVAL;
    }
    memcpy(at->text, val, vn);
    at->type = parse_number(val, vn, &at->scalar) ? ATTR_SCALAR : ATTR_TEXT;
    if (at->type == ATTR_TEXT)
        at->scalar = 0;
    return 0;
}

int
attr_parse(struct attributes *out, const char *text, char *err, size_t errlen)
{
    struct attributes tmp;
    size_t cap = 0, n;
    const char *s = text, *t;
    int rc = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL) {
        ag_errf(err, errlen, "no attribute text");
        return -AG_EINVAL;
    }
    attr_init(&tmp);
    while (txt_next_item(&s, ';', &t, &n)) {
        if (tmp.n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            struct attr *nv = realloc(tmp.v, ncap * sizeof(*nv));
            if (nv == NULL) {
                ag_errf(err, errlen, "out of memory");
                rc = -AG_ENOMEM;
                break;
            }
            tmp.v = nv;
            cap = ncap;
        }
        rc = parse_one(&tmp, &tmp.v[tmp.n], t, n, err, errlen);
        if (rc != 0)
            break;
        tmp.n++;
    }
    if (rc != 0) {
        attr_fini(&tmp);
        return rc;
    }
    attr_fini(out);
    *out = tmp;
    return 0;
}

size_t
attr_format(const struct attributes *a, char *buf, size_t len)
{
    struct txt_buf w = {buf, len, 0};

    for (size_t i = 0; i < a->n; i++) {
        if (i > 0)
            txt_put(&w, ";", 1);
        txt_puts(&w, a->v[i].name);
        txt_put(&w, ":", 1);
        txt_puts(&w, a->v[i].text);
    }
    return txt_finish(&w);
}

const struct attr *
attr_find(const struct attributes *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].name, name) == 0)
            return &a->v[i];
    return NULL;
}

bool
attr_matches(const struct attributes *a, const char *name, const char *value)
{
    const struct attr *at = attr_find(a, name);
    int64_t milli;

    if (at == NULL || value == NULL)
        return false;
    if (at->type == ATTR_SCALAR && parse_number(value, strlen(value), &milli))
        return at->scalar == milli;
    return strcmp(at->text, value) == 0;
}

json_t *
attr_to_json(const struct attributes *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].type == ATTR_SCALAR)
            json_object_set_new(o, a->v[i].name, json_real((double)a->v[i].scalar / 1000.0));
        else
            json_object_set_new(o, a->v[i].name, json_string(a->v[i].text));
    }
    return o;
}
