/*
 * The accounting tables (see schema.h; docs/accounting.md explains each
 * column). Times are milliseconds since the epoch, scalars milli-units.
 */
#include "schema.h"

const struct db_migration acct_schema_migrations[ACCT_SCHEMA_VERSION] = {
    {"accounting tables",
     "CREATE TABLE tasks ("
     "  id INTEGER PRIMARY KEY,"
     "  framework_id TEXT NOT NULL, task_id TEXT NOT NULL, role TEXT NOT NULL,"
     "  principal TEXT NOT NULL, app_id TEXT NOT NULL, agent_id TEXT NOT NULL,"
     "  start_ms INTEGER NOT NULL, end_ms INTEGER, state TEXT,"
     "  cpus INTEGER NOT NULL, mem INTEGER NOT NULL, disk INTEGER NOT NULL,"
     "  gpus INTEGER NOT NULL, resources TEXT NOT NULL,"
     "  usage_ms INTEGER NOT NULL DEFAULT 0, cpu_ms INTEGER NOT NULL DEFAULT 0,"
     "  mem_kib_ms INTEGER NOT NULL DEFAULT 0, mem_peak INTEGER NOT NULL DEFAULT 0,"
     "  last_cpu_user REAL, last_cpu_sys REAL,"
     "  lost_with_agent INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX tasks_by_id ON tasks (framework_id, task_id);"
     "CREATE INDEX tasks_by_start ON tasks (start_ms);"
     "CREATE INDEX tasks_by_end ON tasks (end_ms);"
     "CREATE INDEX tasks_open_by_agent ON tasks (agent_id) WHERE end_ms IS NULL;"
     "CREATE TABLE usage ("
     "  task INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
     "  end_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL,"
     "  cpu_ms INTEGER NOT NULL, mem_kib_ms INTEGER NOT NULL,"
     "  cum_cpu_ms INTEGER NOT NULL, cum_mem_kib_ms INTEGER NOT NULL,"
     "  mem_rss INTEGER NOT NULL, mem_peak INTEGER NOT NULL,"
     "  hourly INTEGER NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (task, end_ms)) WITHOUT ROWID;"
     "CREATE INDEX usage_raw_by_end ON usage (end_ms) WHERE hourly = 0;"
     "CREATE TABLE capacity ("
     "  id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, hostname TEXT NOT NULL,"
     "  start_ms INTEGER NOT NULL, end_ms INTEGER,"
     "  cpus INTEGER NOT NULL, mem INTEGER NOT NULL, disk INTEGER NOT NULL,"
     "  gpus INTEGER NOT NULL, resources TEXT NOT NULL);"
     "CREATE INDEX capacity_open ON capacity (agent_id) WHERE end_ms IS NULL;"
     "CREATE INDEX capacity_by_end ON capacity (end_ms);"
     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
};
