/*
 * The accounting database's schema: the one place that defines its tables
 * (the DDL, as db.h migrations) and its version. The recorder (recorder.h)
 * creates and migrates the database with acct_schema_migrations; the report
 * engine (report.h) reads only a database whose PRAGMA user_version equals
 * ACCT_SCHEMA_VERSION. docs/accounting.md describes the tables.
 *
 * To change the schema: append a migration to acct_schema_migrations (never
 * edit one that has shipped), bump ACCT_SCHEMA_VERSION to the new count, and
 * update the report engine's queries and docs/accounting.md.
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

#endif
