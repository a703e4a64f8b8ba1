/*
 * The PostgreSQL backend of the accounting store (adb.h), through libpq.
 *
 * Several masters write one database, one after another as leadership
 * changes (and briefly at once during a change): the schema is created under
 * an advisory lock, so two first starts do not race; row ids come from
 * identity columns (sequences), never from a master's own counter, so two
 * masters' rows cannot collide; a batch counts as stored only when the
 * server answered COMMIT (an aborted transaction's COMMIT answers ROLLBACK).
 * A connection found broken is re-established at the next adb_begin.
 *
 * Parameters go separately from the SQL (PQexecParams, text format, typed
 * int8, float8 or text): nothing is ever quoted into a statement. The
 * password (from the URI, PGPASSWORD or PGPASSFILE) is blanked out of every
 * message kept in s->errmsg or written to `err`.
 */
#include "adb_int.h"

#include "error.h"
#include "schema.h"
#include "text.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_INT8_OID 20
#define PG_TEXT_OID 25
#define PG_FLOAT8_OID 701
#define PG_SCHEMA_LOCK 0x61677261 /* the advisory lock taken while creating the schema */

struct pg_rows {
    struct adb_rows base;
    PGresult *res;
    int row, nrows;
};

struct pg {
    PGconn *conn;
};

static const struct adb_ops *pg_ops(void);

/* Copies `msg` into `buf` on one line, with the connection's password (when
 * it has one) replaced by "***". */
static void
pg_scrub(PGconn *conn, const char *msg, char *buf, size_t len)
{
    const char *pw = conn ? PQpass(conn) : NULL;
    size_t pwlen = pw ? strlen(pw) : 0, o = 0;

    for (const char *p = msg ? msg : ""; *p && o + 1 < len;) {
        if (pwlen > 0 && strncmp(p, pw, pwlen) == 0) {
            for (const char *r = "***"; *r && o + 1 < len; r++)
                buf[o++] = *r;
            p += pwlen;
            continue;
        }
        buf[o++] = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
        p++;
    }
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    if (len > 0)
        buf[o] = '\0';
}

/* The AG_E* code for a failed result (or, with `res` NULL, a failed call). */
static int
pg_code(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (PQstatus(conn) != CONNECTION_OK)
        return -AG_EIO;
    if (state == NULL || strlen(state) != 5)
        return -AG_EDB;
    if (strcmp(state, "23505") == 0)
        return -AG_EEXIST;
    if (strcmp(state, "23503") == 0)
        return -AG_ENOENT;
    if (strcmp(state, "22003") == 0)
        return -AG_ERANGE;
    if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
        return -AG_EINVAL;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return -AG_EAGAIN;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return -AG_EIO;
    if (strcmp(state, "42501") == 0)
        return -AG_EPERM;
    if (strcmp(state, "53100") == 0)
        return -AG_ENOSPC;
    if (strcmp(state, "42P01") == 0)
        return -AG_ENOENT;
    return -AG_EDB;
}

/* Records the failure of `what` in s->errmsg and returns its code. */
static int
pg_fail(struct adb *s, PGresult *res, const char *what)
{
    struct pg *g = s->impl;
    char msg[768];

    pg_scrub(g->conn, res ? PQresultErrorMessage(res) : PQerrorMessage(g->conn), msg, sizeof(msg));
    if (msg[0] == '\0')
        pg_scrub(g->conn, PQerrorMessage(g->conn), msg, sizeof(msg));
    snprintf(s->errmsg, sizeof(s->errmsg), "%s: %s", what, msg);
    return pg_code(g->conn, res);
}

/* Runs `sql` (no parameters, no rows wanted). */
static int
pg_simple(struct adb *s, const char *sql)
{
    struct pg *g = s->impl;
    PGresult *res = PQexec(g->conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_fail(s, res, sql);
    PQclear(res);
    return rc;
}

/* Runs `sql` with `p`. A text that is not UTF-8 (which PostgreSQL refuses)
 * goes with its bytes above 0x7f as '?', as the report shows such text
 * anyway, rather than losing the event. */
static PGresult *
pg_run(struct adb *s, const char *sql, const struct adb_param *p, int n)
{
    struct pg *g = s->impl;
    const char *values[ADB_MAX_PARAMS] = {NULL};
    Oid types[ADB_MAX_PARAMS] = {0};
    char num[ADB_MAX_PARAMS][32];
    char *fixed[ADB_MAX_PARAMS] = {NULL};
    PGresult *res;

    for (int i = 0; i < n; i++) {
        switch (p[i].type) {
        case 't':
            types[i] = PG_TEXT_OID;
            values[i] = p[i].t;
            if (txt_utf8_problem(p[i].t, strlen(p[i].t)) != NULL &&
                (fixed[i] = strdup(p[i].t)) != NULL) {
                for (unsigned char *c = (unsigned char *)fixed[i]; *c; c++)
                    if (*c >= 0x80)
                        *c = '?';
                values[i] = fixed[i];
            }
            break;
        case 'i':
            types[i] = PG_INT8_OID;
            snprintf(num[i], sizeof(num[i]), "%lld", (long long)p[i].i);
            values[i] = num[i];
            break;
        default:
            types[i] = PG_FLOAT8_OID;
            snprintf(num[i], sizeof(num[i]), "%.17g", p[i].d);
            values[i] = num[i];
            break;
        }
    }
    res = PQexecParams(g->conn, sql, n, types, values, NULL, NULL, 0);
    for (int i = 0; i < n; i++)
        free(fixed[i]);
    return res;
}

static void
pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs ("relation already exists, skipping") are not news */
}

/* Creates what is missing of the schema and checks its version, under the
 * advisory lock, in one transaction. */
static int
pg_create_schema(struct adb *s, char *err, size_t errlen)
{
    struct adb_rows *r = NULL;
    char lock[64];
    int rc;

    snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", PG_SCHEMA_LOCK);
    if ((rc = pg_simple(s, "BEGIN")) != 0 || (rc = pg_simple(s, lock)) != 0)
        goto fail;
    for (size_t i = 0; acct_schema_pg[i] != NULL; i++)
        if ((rc = pg_simple(s, acct_schema_pg[i])) != 0)
            goto fail;
    rc = s->ops->query(s, &r, "SELECT value FROM meta WHERE key = 'schema_version'", NULL, 0);
    if (rc != 0)
        goto fail;
    if ((rc = adb_next(r)) < 0)
        goto fail;
    if (rc == 0) {
        char v[16];
        struct adb_param p = {.type = 't', .t = v};

        snprintf(v, sizeof(v), "%d", ACCT_SCHEMA_VERSION);
        rc = s->ops->exec(s, "INSERT INTO meta (key, value) VALUES ('schema_version', $1)", &p, 1);
        if (rc < 0)
            goto fail;
    } else if (atoi(adb_text(r, 0)) != ACCT_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "the accounting database %s has schema version %s, this master writes "
                 "version %d",
                 s->name, adb_text(r, 0), ACCT_SCHEMA_VERSION);
        adb_rows_free(r);
        pg_simple(s, "ROLLBACK");
        return -AG_EVERSION;
    }
    adb_rows_free(r);
    r = NULL;
    if ((rc = s->ops->commit(s)) != 0)
        goto fail;
    return 0;
fail:
    adb_rows_free(r);
    snprintf(err, errlen, "cannot create the accounting tables in %s: %s", s->name, s->errmsg);
    pg_simple(s, "ROLLBACK");
    return rc < 0 ? rc : -AG_EDB;
}

/* Checks that the accounting tables are there, at this code's version. */
static int
pg_check_schema(struct adb *s, char *err, size_t errlen)
{
    struct adb_rows *r = NULL;
    int rc, version;

    rc = s->ops->query(s, &r, "SELECT value FROM meta WHERE key = 'schema_version'", NULL, 0);
    if (rc == -AG_ENOENT) {
        snprintf(err, errlen, "%s: no accounting tables (no master has written there yet)",
                 s->name);
        return rc;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", s->name, s->errmsg);
        return rc;
    }
    if (adb_next(r) != 1) {
        adb_rows_free(r);
        snprintf(err, errlen, "%s: not an accounting database (no schema version)", s->name);
        return -AG_EDB;
    }
    version = atoi(adb_text(r, 0));
    adb_rows_free(r);
    if (version != ACCT_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: accounting schema version %d, this report reads version %d",
                 s->name, version, ACCT_SCHEMA_VERSION);
        return -AG_EVERSION;
    }
    return 0;
}

static void
pg_close(struct adb *s)
{
    struct pg *g = s->impl;

    if (g == NULL)
        return;
    PQfinish(g->conn);
    free(g);
    s->impl = NULL;
}

static int
pg_open(struct adb *s, const char *uri, enum adb_mode mode, char *err, size_t errlen)
{
    /* Defaults first: the URI's own parameters override them. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "agora-accounting", uri, NULL};
    struct pg *g;
    char msg[768];
    int rc;

    if ((g = calloc(1, sizeof(*g))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -AG_ENOMEM;
    }
    s->impl = g;
    g->conn = PQconnectdbParams(keys, vals, 1);
    if (g->conn == NULL || PQstatus(g->conn) != CONNECTION_OK) {
        pg_scrub(g->conn, g->conn ? PQerrorMessage(g->conn) : "out of memory", msg, sizeof(msg));
        snprintf(err, errlen, "cannot connect to the accounting database %s: %s", s->name, msg);
        pg_close(s);
        return -AG_EIO;
    }
    PQsetNoticeProcessor(g->conn, pg_quiet, NULL);
    if (mode == ADB_WRITE) {
        rc = pg_create_schema(s, err, errlen);
    } else {
        rc = pg_simple(s, "SET default_transaction_read_only = on");
        if (rc != 0)
            snprintf(err, errlen, "%s: %s", s->name, s->errmsg);
        else
            rc = pg_check_schema(s, err, errlen);
    }
    if (rc != 0)
        pg_close(s);
    return rc;
}

static int
pg_begin(struct adb *s)
{
    struct pg *g = s->impl;

    if (PQstatus(g->conn) != CONNECTION_OK) {
        PQreset(g->conn);
        if (PQstatus(g->conn) != CONNECTION_OK)
            return pg_fail(s, NULL, "reconnect");
        PQsetNoticeProcessor(g->conn, pg_quiet, NULL);
    }
    return pg_simple(s, "BEGIN");
}

static int
pg_commit(struct adb *s)
{
    struct pg *g = s->impl;
    PGresult *res = PQexec(g->conn, "COMMIT");
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_fail(s, res, "commit");
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "commit: the server rolled the transaction back (%s)", PQcmdStatus(res));
        rc = -AG_EDB;
    }
    PQclear(res);
    if (rc != 0 && PQtransactionStatus(g->conn) != PQTRANS_IDLE)
        pg_simple(s, "ROLLBACK");
    return rc;
}

static int
pg_rollback(struct adb *s)
{
    struct pg *g = s->impl;

    if (PQtransactionStatus(g->conn) == PQTRANS_IDLE ||
        PQtransactionStatus(g->conn) == PQTRANS_UNKNOWN)
        return 0;
    return pg_simple(s, "ROLLBACK");
}

static int
pg_begin_read(struct adb *s)
{
    return pg_simple(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static void
pg_end_read(struct adb *s)
{
    pg_rollback(s);
}

static int
pg_event_begin(struct adb *s)
{
    return pg_simple(s, "SAVEPOINT event");
}

static int
pg_event_end(struct adb *s, bool ok)
{
    int rc = 0;

    if (!ok)
        rc = pg_simple(s, "ROLLBACK TO SAVEPOINT event");
    if (rc == 0)
        rc = pg_simple(s, "RELEASE SAVEPOINT event");
    return rc;
}

static int
pg_exec(struct adb *s, const char *sql, const struct adb_param *p, int n)
{
    PGresult *res = pg_run(s, sql, p, n);
    int rc;

    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        rc = atoi(PQcmdTuples(res));
        break;
    default:
        rc = pg_fail(s, res, "statement");
        break;
    }
    PQclear(res);
    return rc;
}

static int
pg_query(struct adb *s, struct adb_rows **out, const char *sql, const struct adb_param *p, int n)
{
    PGresult *res = pg_run(s, sql, p, n);
    struct pg_rows *r;
    int rc;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_fail(s, res, "query");
        PQclear(res);
        return rc;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        PQclear(res);
        return -AG_ENOMEM;
    }
    r->base.ops = pg_ops();
    r->res = res;
    r->row = -1;
    r->nrows = PQntuples(res);
    *out = &r->base;
    return 0;
}

static int
pg_next(struct adb_rows *base)
{
    struct pg_rows *r = (struct pg_rows *)base;

    if (r->row + 1 >= r->nrows) {
        r->row = r->nrows;
        return 0;
    }
    r->row++;
    return 1;
}

static bool
pg_is_null(struct adb_rows *base, int col)
{
    struct pg_rows *r = (struct pg_rows *)base;

    return PQgetisnull(r->res, r->row, col) != 0;
}

static int64_t
pg_int(struct adb_rows *base, int col)
{
    struct pg_rows *r = (struct pg_rows *)base;

    return pg_is_null(base, col) ? 0 : strtoll(PQgetvalue(r->res, r->row, col), NULL, 10);
}

static double
pg_real(struct adb_rows *base, int col)
{
    struct pg_rows *r = (struct pg_rows *)base;

    return pg_is_null(base, col) ? 0 : strtod(PQgetvalue(r->res, r->row, col), NULL);
}

static const char *
pg_text(struct adb_rows *base, int col)
{
    struct pg_rows *r = (struct pg_rows *)base;

    return pg_is_null(base, col) ? NULL : PQgetvalue(r->res, r->row, col);
}

static void
pg_rows_free(struct adb_rows *base)
{
    struct pg_rows *r = (struct pg_rows *)base;

    PQclear(r->res);
    free(r);
}

const struct adb_ops adb_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .begin_read = pg_begin_read,
    .end_read = pg_end_read,
    .event_begin = pg_event_begin,
    .event_end = pg_event_end,
    .exec = pg_exec,
    .query = pg_query,
    .next = pg_next,
    .is_null = pg_is_null,
    .get_int = pg_int,
    .get_real = pg_real,
    .get_text = pg_text,
    .rows_free = pg_rows_free,
    .phrase = {"", "", ""},
};

static const struct adb_ops *
pg_ops(void)
{
    return &adb_pg_ops;
}
