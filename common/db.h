/*
 * SQLite helpers: opening with the settings every Agora database uses, schema
 * migrations, IMMEDIATE transactions, a statement cache, and the one place
 * where SQLite result codes become AG_E* codes.
 *
 * db_open sets:
 *   journal_mode=WAL        readers never block the writer, nor it them;
 *   synchronous=NORMAL      in WAL mode this survives a crash of the process
 *                           (every commit is in the WAL file) but a power loss
 *                           may lose the last commits; DB_SYNC_FULL selects FULL
 *                           (an fsync per commit, and of the directory when the
 *                           WAL is new) for state that must survive power loss
 *                           once acted on (registry, agora-services, plugin
 *                           host; the agent syncs its WAL itself: state.h);
 *   busy_timeout=5000       a handle waits up to 5 s for another one's write lock;
 *   foreign_keys=ON.
 *
 * A database file that db_open creates is durable with its path: SQLite syncs
 * its directory, and db_open the directories above (file_sync_ancestors), which
 * a first start may just have created.
 *
 * Schema versions live in PRAGMA user_version. migs[i] moves the schema from
 * version i to i + 1; db_open applies the pending ones in order, each in its
 * own IMMEDIATE transaction together with the version bump, so several
 * processes opening the same new file apply each migration exactly once. A
 * migration script must not contain BEGIN or COMMIT. A database whose version
 * is newer than `nmigs` is refused (-AG_EVERSION): old code must not write to
 * a schema it does not know.
 *
 * A `struct db` belongs to one thread at a time. Use one handle per thread or
 * process; several handles may share a file.
 */
#ifndef AGORA_DB_H
#define AGORA_DB_H

#include <sqlite3.h>
#include <stddef.h>

struct db;

struct db_migration {
    const char *name; /* short description, for logs and errors */
    const char *sql;  /* one or more statements */
};

/* db_open flags */
#define DB_SYNC_FULL 0x1 /* synchronous=FULL instead of NORMAL */

/* Opens (creating if needed) the database at `path` (":memory:" for a private
 * in-memory one, which keeps journal_mode=memory), configures it as above and
 * applies pending migrations. Returns 0 and a handle in *out; on failure
 * *out is NULL, nothing stays open, `err` explains (file, step, SQLite
 * message) and the result is -AG_EVERSION (schema newer than this code),
 * -AG_EINVAL (bad arguments), or a code from db_from_sqlite (-AG_EDB for a
 * failed migration or a file that is not a database, -AG_EIO, -AG_EPERM ...).
 * A failed migration leaves the database at the last version that applied. */
int db_open(struct db **out, const char *path, const struct db_migration *migs, size_t nmigs,
            int flags, char *err, size_t errlen);

/* Finalizes cached statements, rolls back an open transaction and closes the
 * handle. Statements from db_prepare must be finalized before (a warning is
 * logged otherwise and the connection lingers until they are). Accepts NULL. */
void db_close(struct db *db);

/* The schema version (number of migrations applied). */
int db_version(struct db *db);

/* The underlying connection, for sqlite3_* calls these helpers do not cover. */
sqlite3 *db_handle(struct db *db);

/* Runs a script of one or more statements (no results). Returns 0 or a
 * negative code (logged with the SQLite message). Statements before the
 * failing one stay applied unless the caller rolls back its transaction. */
int db_exec(struct db *db, const char *sql);

/* BEGIN IMMEDIATE: takes the write lock now (waiting up to the busy timeout)
 * so the transaction cannot fail later for lack of it. Returns 0, -AG_ESTATE
 * when a transaction is already open, -AG_EAGAIN when the lock stayed busy. */
int db_begin(struct db *db);

/* Commits the open transaction. Returns 0, -AG_ESTATE when none is open, or
 * an error after which the transaction has been rolled back. */
int db_commit(struct db *db);

/* Rolls back the open transaction; 0 (also when none is open) or an error. */
int db_rollback(struct db *db);

/* Prepares `sql` (one statement) into *stmt, which the caller finalizes with
 * sqlite3_finalize. Returns 0 or a negative code (logged; *stmt is NULL). */
int db_prepare(struct db *db, const char *sql, sqlite3_stmt **stmt);

/* Like db_prepare but the statement is cached in `db`, keyed by the text of
 * `sql`, and owned by it: do not finalize it. Each call returns it reset with
 * its bindings cleared. Meant for the fixed set of statements a module runs
 * often; the cache is never trimmed. */
int db_stmt(struct db *db, const char *sql, sqlite3_stmt **stmt);

/* Steps `stmt`. Returns 1 when a row is available, 0 when done, or a negative
 * code (logged). On done or error the statement is reset, so it holds no read
 * lock; a caller that stops before done should sqlite3_reset it. */
int db_step(struct db *db, sqlite3_stmt *stmt);

/*
 * Typed binding. `types` has one letter per parameter, binding ?1, ?2, ... in
 * order from the variable arguments:
 *   't'  const char *, bound without a copy (it must stay valid until the
 *        statement is reset: db_run resets it before returning); NULL binds "";
 *   'i'  int64_t (pass an int64_t, not an int: cast literals);
 *   'd'  double;
 *   'n'  SQL NULL (takes no argument).
 * Any other letter makes the call fail with -AG_EINVAL.
 *
 * db_bind binds `stmt` (its earlier bindings stay for parameters beyond
 * `types`). Returns 0 or a negative code.
 *
 * db_query is db_stmt (the cached statement) plus db_bind: on success *stmt is
 * ready for db_step, which the caller runs (and resets when it stops before
 * done); on failure *stmt is NULL.
 *
 * db_run is db_query plus one db_step, for statements whose rows (if any)
 * are not needed: returns 0 when the statement completed or produced a row
 * (the statement is reset either way), or a negative code.
 */
int db_bind(sqlite3_stmt *stmt, const char *types, ...);
int db_query(struct db *db, sqlite3_stmt **stmt, const char *sql, const char *types, ...);
int db_run(struct db *db, const char *sql, const char *types, ...);

/* The message of the last failure on `db` (SQLite's text). */
const char *db_errmsg(struct db *db);

/* Translates an SQLite result code (primary or extended) into 0 (OK, ROW,
 * DONE) or a negative AG_E* code: BUSY/LOCKED -AG_EAGAIN, NOMEM -AG_ENOMEM,
 * UNIQUE/PRIMARY KEY constraint -AG_EEXIST, FOREIGN KEY constraint
 * -AG_ENOENT, other constraints -AG_EINVAL, READONLY/PERM/AUTH -AG_EPERM,
 * IOERR/CANTOPEN -AG_EIO, FULL -AG_ENOSPC, TOOBIG/RANGE -AG_ERANGE,
 * MISUSE/MISMATCH -AG_EINVAL, anything else -AG_EDB. */
int db_from_sqlite(int rc);

#endif
