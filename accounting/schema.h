/*
 * The accounting database's schema: the one place that defines its tables
 * (the DDL of both backends of adb.h) and its version. The recorder
 * (recorder.h) creates and migrates an SQLite database with
 * acct_schema_migrations, a PostgreSQL one with acct_schema_pg; the report
 * engine (report.h) reads only a database whose version (SQLite's PRAGMA
 * user_version, PostgreSQL's meta row 'schema_version') equals
 * ACCT_SCHEMA_VERSION. docs/accounting.md describes the tables.
 *
 * The two DDLs describe the same tables and columns; they differ in types
 * (PostgreSQL's INTEGER is 32 bits, its REAL single precision: it gets BIGINT
 * and DOUBLE PRECISION) and in how row ids are made (SQLite's rowid, an
 * identity column there, so several masters writing one database never reuse
 * an id).
 *
 * To change the schema: append a migration to acct_schema_migrations (never
 * edit one that has shipped), bump ACCT_SCHEMA_VERSION to the new count, give
 * acct_schema_pg the same change (and a way to apply it to an existing
 * database), and update the report engine's queries and docs/accounting.md.
 */
#ifndef AGORA_ACCT_SCHEMA_H
#define AGORA_ACCT_SCHEMA_H

#include <stddef.h>

#include "db.h"

/* The schema version of accounting databases this code writes and reads:
 * the number of entries of acct_schema_migrations. */
#define ACCT_SCHEMA_VERSION 1

/* The migrations, in order: acct_schema_migrations[i] moves a database from
 * version i to i + 1 (db_open applies the pending ones). */
extern const struct db_migration acct_schema_migrations[ACCT_SCHEMA_VERSION];

/* The PostgreSQL DDL at ACCT_SCHEMA_VERSION: statements that each create a
 * table or index when it is missing, ending with NULL. */
extern const char *const acct_schema_pg[];

#endif
