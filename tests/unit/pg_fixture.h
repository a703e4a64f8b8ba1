/*
 * A throwaway PostgreSQL server for unit tests, started and stopped by
 * tests/integration/pg.sh (the same fixture the shell tests use): initdb in a
 * new directory, a server on a free port of 127.0.0.1 with fsync on, a
 * database "agora" reached by password.
 *
 *   pg_fixture_start(uri, len)   starts one (TEST_SKIP when the server
 *                                binaries are missing); its URI, with the
 *                                password, in `uri`. Stopped at exit too, so a
 *                                failed CHECK leaves no server behind.
 *   pg_fixture_new_db(name, uri, len)
 *                                creates one more database on it.
 *   pg_fixture_stop()            stops it and removes its directory.
 *   PG_FIXTURE_CASE(flag, name)  defines test_pg_NAME: test_NAME with the
 *                                bool `flag` set, which the file's setup reads
 *                                to run the case on PostgreSQL.
 *
 * Needs AGORA_SOURCE_DIR (tests/CMakeLists.txt defines it). One server per
 * process at a time.
 */
#ifndef AGORA_TEST_PG_FIXTURE_H
#define AGORA_TEST_PG_FIXTURE_H

#include "test.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define PG_FIXTURE_CASE(flag, name)                                                                \
    static void test_pg_##name(void)                                                               \
    {                                                                                              \
        flag = true;                                                                               \
        test_##name();                                                                             \
        flag = false;                                                                              \
    }

static char pg_fixture_dir_[256];
static char pg_fixture_uri_[512];
static int pg_fixture_atexit_;

static inline void
pg_fixture_stop(void)
{
    char cmd[512];

    if (pg_fixture_dir_[0] == '\0')
        return;
    snprintf(cmd, sizeof(cmd), "bash %s/tests/integration/pg.sh stop %s", AGORA_SOURCE_DIR,
             pg_fixture_dir_);
    if (system(cmd) != 0)
        fprintf(stderr, "pg_fixture: stopping %s failed\n", pg_fixture_dir_);
    pg_fixture_dir_[0] = '\0';
}

static inline void
pg_fixture_start(char *uri, size_t len)
{
    char cmd[512], line[1024];
    FILE *p;
    int status;

    CHECK(pg_fixture_dir_[0] == '\0');
    if (!pg_fixture_atexit_) {
        atexit(pg_fixture_stop);
        pg_fixture_atexit_ = 1;
    }
    snprintf(cmd, sizeof(cmd), "bash %s/tests/integration/pg.sh start", AGORA_SOURCE_DIR);
    CHECK((p = popen(cmd, "r")) != NULL);
    line[0] = '\0';
    if (fgets(line, sizeof(line), p) == NULL)
        line[0] = '\0';
    status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_STATUS)
        TEST_SKIP("no PostgreSQL server to test against (see pg.sh's message above)");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    line[strcspn(line, "\n")] = '\0';
    CHECK(sscanf(line, "%255s %511s", pg_fixture_dir_, pg_fixture_uri_) == 2);
    snprintf(uri, len, "%s", pg_fixture_uri_);
}

/* Creates database `name` on the running server; its URI in `uri`. */
static inline void
pg_fixture_new_db(const char *name, char *uri, size_t len)
{
    char sql[128];
    PGconn *c = PQconnectdb(pg_fixture_uri_);
    PGresult *r;
    const char *slash = strrchr(pg_fixture_uri_, '/');

    CHECK(PQstatus(c) == CONNECTION_OK);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "pg_fixture: %s", PQerrorMessage(c));
    CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
    snprintf(uri, len, "%.*s/%s", (int)(slash - pg_fixture_uri_), pg_fixture_uri_, name);
}

#endif
