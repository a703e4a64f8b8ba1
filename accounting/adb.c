/*
 * The accounting database's seam (adb.h): picks the backend from the
 * target, checks the parameters, and dispatches to the ops table.
 */
#include "adb_int.h"

#include "error.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
adb_is_postgres(const char *target)
{
    return target != NULL &&
           (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0);
}

int
adb_open(struct adb **out, const char *target, enum adb_mode mode, char *err, size_t errlen)
{
    struct adb *s;
    size_t n;
    int rc;

    *out = NULL;
    if (target == NULL || target[0] == '\0') {
        snprintf(err, errlen, "no accounting database given");
        return -AG_EINVAL;
    }
    n = txt_redact_uri(target, NULL, 0);
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->name = malloc(n + 1)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    txt_redact_uri(target, s->name, n + 1);
    s->ops = adb_is_postgres(target) ? &adb_pg_ops : &adb_sqlite_ops;
    if ((rc = s->ops->open(s, target, mode, err, errlen)) != 0) {
        free(s->name);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void
adb_close(struct adb *s)
{
    if (s == NULL)
        return;
    s->ops->close(s);
    free(s->name);
    free(s);
}

const char *
adb_name(const struct adb *s)
{
    return s->name;
}

const char *
adb_phrase(const struct adb *s, enum adb_phrase p)
{
    return s->ops->phrase[p];
}

int
adb_begin(struct adb *s)
{
    return s->ops->begin(s);
}

int
adb_commit(struct adb *s)
{
    return s->ops->commit(s);
}

int
adb_rollback(struct adb *s)
{
    return s->ops->rollback(s);
}

int
adb_begin_read(struct adb *s)
{
    return s->ops->begin_read(s);
}

void
adb_end_read(struct adb *s)
{
    s->ops->end_read(s);
}

int
adb_event_begin(struct adb *s)
{
    return s->ops->event_begin(s);
}

int
adb_event_end(struct adb *s, bool ok)
{
    return s->ops->event_end(s, ok);
}

/* Collects the parameters `types` describes from `ap`. */
static int
get_params(struct adb *s, const char *types, va_list ap, struct adb_param *p, int *n)
{
    *n = 0;
    for (const char *t = types ? types : ""; *t; t++) {
        struct adb_param *q = &p[*n];

        if (*n == ADB_MAX_PARAMS) {
            snprintf(s->errmsg, sizeof(s->errmsg), "too many parameters");
            return -AG_EINVAL;
        }
        memset(q, 0, sizeof(*q));
        q->type = *t;
        switch (*t) {
        case 't':
            q->t = va_arg(ap, const char *);
            if (q->t == NULL)
                q->t = "";
            break;
        case 'i':
            q->i = va_arg(ap, int64_t);
            break;
        case 'd':
            q->d = va_arg(ap, double);
            break;
        default:
            snprintf(s->errmsg, sizeof(s->errmsg), "bad parameter type '%c'", *t);
            return -AG_EINVAL;
        }
        (*n)++;
    }
    return 0;
}

int
adb_exec(struct adb *s, const char *sql, const char *types, ...)
{
    struct adb_param p[ADB_MAX_PARAMS];
    va_list ap;
    int n, rc;

    va_start(ap, types);
    rc = get_params(s, types, ap, p, &n);
    va_end(ap);
    return rc != 0 ? rc : s->ops->exec(s, sql, p, n);
}

int
adb_query(struct adb *s, struct adb_rows **out, const char *sql, const char *types, ...)
{
    struct adb_param p[ADB_MAX_PARAMS];
    va_list ap;
    int n, rc;

    *out = NULL;
    va_start(ap, types);
    rc = get_params(s, types, ap, p, &n);
    va_end(ap);
    return rc != 0 ? rc : s->ops->query(s, out, sql, p, n);
}

int
adb_next(struct adb_rows *r)
{
    return r->ops->next(r);
}

bool
adb_is_null(struct adb_rows *r, int col)
{
    return r->ops->is_null(r, col);
}

int64_t
adb_int(struct adb_rows *r, int col)
{
    return r->ops->get_int(r, col);
}

double
adb_real(struct adb_rows *r, int col)
{
    return r->ops->get_real(r, col);
}

const char *
adb_text(struct adb_rows *r, int col)
{
    return r->ops->get_text(r, col);
}

void
adb_rows_free(struct adb_rows *r)
{
    if (r != NULL)
        r->ops->rows_free(r);
}

const char *
adb_errmsg(const struct adb *s)
{
    return s->errmsg;
}
