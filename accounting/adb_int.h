/*
 * The layout behind adb.h, for adb.c and the backends only
 * (adb_sqlite.c, adb_pg.c): the ops table a backend fills and the parts
 * of a handle every backend shares.
 */
#ifndef AGORA_ACCT_ADB_INT_H
#define AGORA_ACCT_ADB_INT_H

#include "adb.h"

#define ADB_MAX_PARAMS 16 /* parameters of one statement, at most */

/* One parameter of a statement: `type` is 't', 'i' or 'd' (adb.h). */
struct adb_param {
    char type;
    const char *t;
    int64_t i;
    double d;
};

/* What every backend's rows start with. */
struct adb_rows {
    const struct adb_ops *ops;
};

/* A backend. Every function is required; each returns as its adb.h
 * counterpart. open fills s->impl (and may set s->errmsg); on failure it
 * writes `err` and leaves nothing open. */
struct adb_ops {
    const char *name; /* "sqlite", "postgresql" */
    int (*open)(struct adb *s, const char *target, enum adb_mode mode, char *err, size_t errlen);
    void (*close)(struct adb *s);
    int (*begin)(struct adb *s);
    int (*commit)(struct adb *s);
    int (*rollback)(struct adb *s);
    int (*begin_read)(struct adb *s);
    void (*end_read)(struct adb *s);
    int (*event_begin)(struct adb *s);
    int (*event_end)(struct adb *s, bool ok);
    int (*exec)(struct adb *s, const char *sql, const struct adb_param *p, int n);
    int (*query)(struct adb *s, struct adb_rows **out, const char *sql, const struct adb_param *p,
                 int n);
    int (*next)(struct adb_rows *r);
    bool (*is_null)(struct adb_rows *r, int col);
    int64_t (*get_int)(struct adb_rows *r, int col);
    double (*get_real)(struct adb_rows *r, int col);
    const char *(*get_text)(struct adb_rows *r, int col);
    void (*rows_free)(struct adb_rows *r);
    const char *phrase[3]; /* indexed by enum adb_phrase */
};

struct adb {
    const struct adb_ops *ops;
    char *name;        /* the target without its password */
    char errmsg[1024]; /* the last failure's text */
    void *impl;        /* the backend's */
};

extern const struct adb_ops adb_sqlite_ops;
extern const struct adb_ops adb_pg_ops;

#endif
