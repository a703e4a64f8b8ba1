/*
 * The `agora` command's shared helpers (tools/cli.h) that the report and the
 * other commands print with: aligned tables, number formats, JSON lookups,
 * URL encoding.
 */
#define _GNU_SOURCE /* open_memstream */
#include "test.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>

static char *
print_table(struct cli_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    CHECK(f != NULL);
    cli_table_print(t, f);
    fclose(f);
    return buf;
}

/* Columns are as wide as their widest cell, two spaces apart; right-aligned
 * columns pad on the left; no line ends in a space; empty cells print "-"
 * unless blank_empty. */
static void
test_table(void)
{
    struct cli_table t;
    char *out;

    cli_table_init(&t, (const char *const[]){"NAME", "N", "NOTE", NULL});
    t.right = 0x2;
    cli_table_add(&t, (const char *const[]){"a", "1,234.5", ""});
    cli_table_add(&t, (const char *const[]){"longer", "7", NULL});
    out = print_table(&t);
    CHECK_EQ_STR(out, "NAME          N  NOTE\n"
                      "a       1,234.5  -\n"
                      "longer        7  -\n");
    free(out);

    memset(&t, 0, sizeof(t));
    t.ncols = 3;
    t.right = 0x6;
    t.blank_empty = true;
    cli_table_add(&t, (const char *const[]){"capacity", "10.00", ""});
    cli_table_add(&t, (const char *const[]){"idle", "2.50", "25.0%"});
    out = print_table(&t);
    CHECK_EQ_STR(out, "capacity  10.00\n"
                      "idle       2.50  25.0%\n");
    free(out);
    CHECK(t.cells == NULL && t.nrows == 0); /* released */
}

static void
test_formats(void)
{
    char buf[64];

    CHECK_EQ_STR(cli_fmt_grouped(1234567.891, 1, buf, sizeof(buf)), "1,234,567.9");
    CHECK_EQ_STR(cli_fmt_grouped(-1234, 0, buf, sizeof(buf)), "-1,234");
    CHECK_EQ_STR(cli_fmt_grouped(-0.0001, 2, buf, sizeof(buf)), "0.00"); /* no "-0.00" */
    CHECK_EQ_STR(cli_fmt_grouped(999, 2, buf, sizeof(buf)), "999.00");
    CHECK_EQ_STR(cli_fmt_pct(1, 3, buf, sizeof(buf)), "33.3%");
    CHECK_EQ_STR(cli_fmt_pct(1, 0, buf, sizeof(buf)), "-");
    CHECK_EQ_STR(cli_fmt_bytes(512, buf, sizeof(buf)), "512 B");
    CHECK_EQ_STR(cli_fmt_bytes(770048, buf, sizeof(buf)), "752.0 KiB");
    CHECK_EQ_STR(cli_fmt_bytes(1.5 * 1024 * 1024 * 1024, buf, sizeof(buf)), "1.5 GiB");
    cli_fmt_num(0.50, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "0.5");
    cli_fmt_mib(4096, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "4G");
}

static void
test_json_and_urls(void)
{
    json_t *o =
        json_pack("{s:{s:f, s:s}, s:i}", "cpus", "allocated", 2.5, "unit", "cpu-hours", "tasks", 3);
    char buf[64];

    CHECK(cli_json_num(o, "cpus.allocated") == 2.5);
    CHECK(cli_json_num(o, "tasks") == 3);
    CHECK(cli_json_num(o, "cpus.unit") == 0); /* not a number */
    CHECK(cli_json_num(o, "mem.allocated") == 0);
    CHECK_EQ_STR(cli_json_str(json_object_get(o, "cpus"), "unit"), "cpu-hours");
    CHECK_EQ_STR(cli_json_str(o, "nothing"), "");
    json_decref(o);

    CHECK_EQ_INT(cli_urlencode("@1800000000.500", false, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "%401800000000.500");
    CHECK_EQ_INT(cli_urlencode("cpus=0.031,mem=1", false, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "cpus%3D0.031%2Cmem%3D1");
    CHECK_EQ_INT(cli_urlencode("/a b", true, buf, sizeof(buf)), 0);
    CHECK_EQ_STR(buf, "/a%20b");
    CHECK_EQ_INT(cli_urlencode("abcdef", false, buf, 4), -1);
}

TEST_LIST(TEST_ENTRY(table), TEST_ENTRY(formats), TEST_ENTRY(json_and_urls));
TEST_MAIN()
