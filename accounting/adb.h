/*
 * The accounting database behind one seam: the recorder (recorder.h) and the
 * report engine (report.h) run their SQL through these calls, and a backend
 * (an ops table, adb_int.h) chosen once by adb_open runs it:
 *
 *   "postgresql://..." or "postgres://..."   PostgreSQL through libpq
 *                                            (adb_pg.c): a database that
 *                                            several masters share, one after
 *                                            another as leadership changes;
 *   anything else                            an SQLite file (adb_sqlite.c).
 *
 * The SQL is written once, in the subset both accept: parameters are $1, $2,
 * ... (each used at least once), CASE instead of the two-argument max(),
 * BIGINT in casts, ON CONFLICT for upserts. What differs is in the backends:
 * the DDL (schema.h), the transaction statements, and the planner hints of
 * adb_phrase.
 *
 * Ownership and threads: a `struct adb` belongs to one thread at a time
 * (the recorder's writer thread, or a report's computation). Rows from
 * adb_query stay valid until adb_rows_free, and the texts of a row until
 * the next adb_next; free the rows before running the same SQL again.
 *
 * Secrets: the target's password (in the URI, or from libpq's PGPASSWORD or
 * PGPASSFILE) never appears in a message these calls write: they name the
 * database by adb_name, which leaves it out (txt_redact_uri).
 */
#ifndef AGORA_ACCT_ADB_H
#define AGORA_ACCT_ADB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct adb;
struct adb_rows;

enum adb_mode {
    ADB_WRITE, /* creates the schema when missing (the recorder) */
    ADB_READ   /* read-only; the schema must be there, at ACCT_SCHEMA_VERSION */
};

/* Planner hints of the report's task scan (SQLite's INDEXED BY), "" where the
 * backend has none. */
enum adb_phrase { ADB_NOT_INDEXED, ADB_BY_END_INDEX, ADB_BY_OPEN_INDEX };

/* True when `target` selects PostgreSQL (a postgresql:// or postgres:// URI). */
bool adb_is_postgres(const char *target);

/* Opens the accounting database `target` (see above) in `mode`. Returns 0 and
 * the handle in *out, or a negative AG_E* code with `err` saying what was
 * wrong, the database named without its password: -AG_EINVAL (empty target),
 * -AG_ENOENT (READ: no such file, or no accounting tables), -AG_EVERSION
 * (schema of another version), -AG_EIO (cannot connect), -AG_EDB, -AG_ENOMEM.
 * Nothing stays open on failure. */
int adb_open(struct adb **out, const char *target, enum adb_mode mode, char *err, size_t errlen);

/* Closes the handle, rolling back an open transaction. Accepts NULL. */
void adb_close(struct adb *s);

/* The target without its password, for messages. */
const char *adb_name(const struct adb *s);

/* The backend's text for `p`. */
const char *adb_phrase(const struct adb *s, enum adb_phrase p);

/* Write transactions. adb_begin takes the write lock (SQLite) or starts one
 * (reconnecting first when PostgreSQL's connection was lost). adb_commit
 * returns 0 only when the server committed: any other result means nothing of
 * the transaction was stored (it has been rolled back). adb_rollback accepts
 * a handle without a transaction. Return 0 or a negative AG_E* code;
 * -AG_EAGAIN when a lock stayed busy or the server asks to retry. */
int adb_begin(struct adb *s);
int adb_commit(struct adb *s);
int adb_rollback(struct adb *s);

/* A read transaction: the queries until adb_end_read see one snapshot. */
int adb_begin_read(struct adb *s);
void adb_end_read(struct adb *s);

/* One event inside a write transaction: after a failed statement
 * adb_event_end(s, false) undoes the event's statements and lets the
 * transaction go on (PostgreSQL aborts a transaction at its first error;
 * SQLite undoes only the failed statement). Return 0 or a negative code. */
int adb_event_begin(struct adb *s);
int adb_event_end(struct adb *s, bool ok);

/*
 * Runs one statement. `types` has one letter per parameter $1, $2, ... taken
 * from the variable arguments: 't' const char * (NULL binds ""), 'i' int64_t,
 * 'd' double. adb_exec returns the number of rows the statement changed
 * (>= 0) or a negative AG_E* code: -AG_EEXIST (unique key), -AG_ENOENT
 * (foreign key), -AG_EINVAL (other constraint, bad data), -AG_ERANGE,
 * -AG_EAGAIN, -AG_EIO (connection lost), -AG_EDB; adb_errmsg says more.
 * adb_query returns 0 and the rows in *out (NULL on failure).
 */
int adb_exec(struct adb *s, const char *sql, const char *types, ...);
int adb_query(struct adb *s, struct adb_rows **out, const char *sql, const char *types, ...);

/* Moves to the next row: 1, 0 when there is none, or a negative code. */
int adb_next(struct adb_rows *r);

/* Column `col` (from 0) of the current row. NULL reads as 0, 0.0 or NULL. */
bool adb_is_null(struct adb_rows *r, int col);
int64_t adb_int(struct adb_rows *r, int col);
double adb_real(struct adb_rows *r, int col);
const char *adb_text(struct adb_rows *r, int col);

/* Releases rows from adb_query. Accepts NULL. */
void adb_rows_free(struct adb_rows *r);

/* The message of the last failure (the server's or SQLite's text, without
 * the password). */
const char *adb_errmsg(const struct adb *s);

#endif
