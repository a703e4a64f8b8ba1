#define _GNU_SOURCE /* open_memstream, setenv */
#include "test.h"

#include "error.h"
#include "flags.h"
#include "text.h"

#include <stdbool.h>

static char *f_dir;
static char *f_master;
static int64_t f_port;
static double f_ratio;
static bool f_checkpoint;
static int64_t f_timeout;
static int64_t f_size;

static const struct flag table[] = {
    {"work_dir", FLAG_STRING, &f_dir, "/var/lib/agora", "Directory for state."},
    {"master", FLAG_STRING, &f_master, NULL, "Master address."},
    {"port", FLAG_INT64, &f_port, "5050", "Port to listen on."},
    {"ratio", FLAG_DOUBLE, &f_ratio, "0.5", "A ratio."},
    {"checkpoint", FLAG_BOOL, &f_checkpoint, "true", "Checkpoint state."},
    {"ping_timeout", FLAG_DURATION, &f_timeout, "15secs", "Ping timeout."},
    {"max_size", FLAG_BYTES, &f_size, "1GB", "Largest size."},
    {NULL},
};

/* Parses a NULL-terminated list of arguments (after argv[0]) into `table`. */
#define PARSE(rc_var, argc_var, argv_var, err, ...)                                                \
    do {                                                                                           \
        static char *args_[] = {"prog", __VA_ARGS__, NULL};                                        \
        argv_var = args_;                                                                          \
        argc_var = (int)(sizeof(args_) / sizeof(args_[0])) - 1;                                    \
        rc_var = flags_parse(table, &argc_var, argv_var, err, sizeof(err));                        \
    } while (0)

static void
reset(void)
{
    flags_free(table);
    f_port = f_timeout = f_size = 0;
    f_ratio = 0;
    f_checkpoint = false;
    unsetenv("AGORA_PORT");
    unsetenv("AGORA_WORK_DIR");
    unsetenv("AGORA_MASTER");
}

static void
test_defaults(void)
{
    char err[256], *argv[] = {"prog", NULL};
    int argc = 1;

    reset();
    CHECK_EQ_INT(flags_parse(table, &argc, argv, err, sizeof(err)), 0);
    CHECK_EQ_INT(argc, 1);
    CHECK_EQ_STR(f_dir, "/var/lib/agora");
    CHECK(f_master == NULL);
    CHECK_EQ_INT(f_port, 5050);
    CHECK(f_ratio == 0.5);
    CHECK(f_checkpoint);
    CHECK_EQ_INT(f_timeout, 15000);
    CHECK_EQ_INT(f_size, 1LL << 30);
    reset();
}

static void
test_values_and_positionals(void)
{
    char err[256], **argv;
    int argc, rc;

    reset();
    PARSE(rc, argc, argv, err, "app", "--work-dir=/tmp/x", "deploy", "--port=-1", "--ratio=2.25",
          "--no-checkpoint", "--ping_timeout=1.5mins", "--max_size=512MB", "-", "-3", "--",
          "--port=9", "FILE");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(f_dir, "/tmp/x");
    CHECK_EQ_INT(f_port, -1);
    CHECK(f_ratio == 2.25);
    CHECK(!f_checkpoint);
    CHECK_EQ_INT(f_timeout, 90000);
    CHECK_EQ_INT(f_size, 512LL << 20);
    CHECK_EQ_INT(argc, 7);
    CHECK_EQ_STR(argv[0], "prog");
    CHECK_EQ_STR(argv[1], "app");
    CHECK_EQ_STR(argv[2], "deploy");
    CHECK_EQ_STR(argv[3], "-");
    CHECK_EQ_STR(argv[4], "-3");
    CHECK_EQ_STR(argv[5], "--port=9");
    CHECK_EQ_STR(argv[6], "FILE");
    CHECK(argv[7] == NULL);

    /* Parsing again replaces (and frees) the strings stored before. */
    PARSE(rc, argc, argv, err, "--checkpoint", "--work_dir=", "--master=zk://a");
    CHECK_EQ_INT(rc, 0);
    CHECK(f_checkpoint);
    CHECK_EQ_STR(f_dir, "");
    CHECK_EQ_STR(f_master, "zk://a");
    CHECK_EQ_INT(argc, 1);
    CHECK(argv[1] == NULL);
    PARSE(rc, argc, argv, err, "--checkpoint=false", "--no_checkpoint");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "flag '--checkpoint' given more than once");
    PARSE(rc, argc, argv, err, "--checkpoint=no");
    CHECK_EQ_INT(rc, 0);
    CHECK(!f_checkpoint);
    reset();
}

static void
test_errors(void)
{
    char err[256], **argv;
    int argc, rc;

    reset();
    PARSE(rc, argc, argv, err, "--foo=1");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "unknown flag '--foo'; see --help");
    PARSE(rc, argc, argv, err, "--no-port");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "unknown flag '--no-port'; see --help");
    PARSE(rc, argc, argv, err, "-p");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "unknown flag '-p'; flags start with two dashes, see --help");
    PARSE(rc, argc, argv, err, "--port=50x");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "invalid value '50x' for flag '--port': expected a whole number");
    PARSE(rc, argc, argv, err, "--port=99999999999999999999");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    PARSE(rc, argc, argv, err, "--port");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "flag '--port' needs a value: --port=INT");
    PARSE(rc, argc, argv, err, "--ping_timeout=15");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "invalid value '15' for flag '--ping_timeout': expected a duration such as "
                      "500ms, 15secs, 10mins or 2hrs (whole milliseconds)");
    PARSE(rc, argc, argv, err, "--max_size=1XB");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    PARSE(rc, argc, argv, err, "--checkpoint=maybe");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "invalid value 'maybe' for flag '--checkpoint': expected true or false");
    PARSE(rc, argc, argv, err, "--no-checkpoint=1");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "flag '--no-checkpoint' takes no value");
    PARSE(rc, argc, argv, err, "--ratio=nan");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    PARSE(rc, argc, argv, err, "--ratio=");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    PARSE(rc, argc, argv, err, "--=1");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "unknown flag '--'; see --help");
    reset();
}

static void
test_environment(void)
{
    char err[256], **argv;
    int argc, rc;

    reset();
    setenv("AGORA_PORT", "6060", 1);
    setenv("AGORA_WORK_DIR", "/env/dir", 1);
    PARSE(rc, argc, argv, err, "--work_dir=/cli/dir");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(f_port, 6060);
    CHECK_EQ_STR(f_dir, "/cli/dir"); /* the command line wins */
    setenv("AGORA_PORT", "x", 1);
    PARSE(rc, argc, argv, err, "--work_dir=/cli/dir");
    CHECK_EQ_INT(rc, -AG_EINVAL);
    CHECK_EQ_STR(err, "invalid value 'x' in environment variable AGORA_PORT for flag '--port': "
                      "expected a whole number");
    /* A bad environment value does not matter when the command line sets the flag. */
    PARSE(rc, argc, argv, err, "--port=1");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(f_port, 1);
    reset();
}

static void
test_help_and_required(void)
{
    static char *master;
    static int64_t n;
    static const struct flag req[] = {
        {"master", FLAG_STRING, &master, FLAG_REQUIRED, "Master."},
        {"n", FLAG_INT64, &n, "3", "Count."},
        {NULL},
    };
    char err[256], *argv[] = {"prog", "sub", "--bogus", "--help", "x", NULL};
    char *argv2[] = {"prog", "--n=4", NULL};
    int argc = 5, argc2 = 2;

    CHECK_EQ_INT(flags_parse(req, &argc, argv, err, sizeof(err)), FLAGS_HELP);
    CHECK_EQ_INT(argc, 3);
    CHECK_EQ_STR(argv[1], "sub");
    CHECK_EQ_STR(argv[2], "x");
    CHECK(argv[3] == NULL);
    CHECK_EQ_INT(n, 0); /* nothing applied */

    CHECK_EQ_INT(flags_parse(req, &argc2, argv2, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_STR(err, "missing required flag '--master=VALUE'; see --help");
    setenv("AGORA_MASTER", "m:5050", 1);
    argc2 = 2;
    argv2[1] = "--n=4";
    CHECK_EQ_INT(flags_parse(req, &argc2, argv2, err, sizeof(err)), 0);
    CHECK_EQ_STR(master, "m:5050");
    CHECK_EQ_INT(n, 4);
    unsetenv("AGORA_MASTER");
    flags_free(req);
    CHECK(master == NULL);
}

static void
test_bad_tables(void)
{
    static int64_t a, b;
    static const struct flag dup[] = {
        {"a", FLAG_INT64, &a, NULL, ""}, {"a", FLAG_INT64, &b, NULL, ""}, {NULL}};
    static const struct flag baddef[] = {{"a", FLAG_DURATION, &a, "5", ""}, {NULL}};
    static const struct flag noval[] = {{"a", FLAG_INT64, NULL, NULL, ""}, {NULL}};
    static const struct flag help[] = {{"help", FLAG_BOOL, &a, NULL, ""}, {NULL}};
    char err[256], *argv[] = {"prog", NULL};
    int argc = 1;

    CHECK_EQ_INT(flags_parse(dup, &argc, argv, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_STR(err, "flag '--a' declared twice");
    CHECK_EQ_INT(flags_parse(baddef, &argc, argv, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_STR(err, "invalid default '5' for flag '--a': expected a duration such as 500ms, "
                      "15secs, 10mins or 2hrs (whole milliseconds)");
    CHECK_EQ_INT(flags_parse(noval, &argc, argv, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(flags_parse(help, &argc, argv, err, sizeof(err)), -AG_EINVAL);
    CHECK_EQ_INT(flags_parse(NULL, &argc, argv, err, sizeof(err)), -AG_EINVAL);
}

static void
test_durations(void)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"500ms", 0, 500},
        {"15secs", 0, 15000},
        {"15s", 0, 15000},
        {"10mins", 0, 600000},
        {"2hrs", 0, 7200000},
        {"1days", 0, 86400000},
        {"1weeks", 0, 604800000},
        {"1.5secs", 0, 1500},
        {"0.001secs", 0, 1},
        {"2000us", 0, 2},
        {"3000000ns", 0, 3},
        {"0ms", 0, 0},
        {"0", 0, 0}, /* zero needs no unit */
        {"00", -AG_EINVAL, 0},
        {"1min", 0, 60000},
        {"2sec", 0, 2000},
        {"1hr", 0, 3600000},
        {"1day", 0, 86400000},
        {"1week", 0, 604800000},
        {"15SECS", 0, 15000},
        {"1.1secs", 0, 1100},
        {"1500us", -AG_EINVAL, 0}, /* 1.5 ms */
        {"0.0001secs", -AG_EINVAL, 0},
        {"15", -AG_EINVAL, 0},
        {"secs", -AG_EINVAL, 0},
        {"", -AG_EINVAL, 0},
        {"1.secs", -AG_EINVAL, 0},
        {"1..5secs", -AG_EINVAL, 0},
        {"1 secs", -AG_EINVAL, 0},
        {"15fortnights", -AG_EINVAL, 0},
        {"-5secs", -AG_ERANGE, 0},
        {"9223372036854775807ms", 0, INT64_MAX},
        {"9223372036854775808ms", -AG_ERANGE, 0},
        {"99999999999999999999weeks", -AG_ERANGE, 0},
        {"999999999999999999weeks", -AG_ERANGE, 0},
    };
    char buf[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -7;
        int rc = flags_parse_duration(cases[i].text, &ms);
        if (rc != cases[i].rc)
            fprintf(stderr, "case %s\n", cases[i].text);
        CHECK_EQ_INT(rc, cases[i].rc);
        CHECK_EQ_INT(ms, rc == 0 ? cases[i].ms : -7);
    }
    flags_format_duration(15000, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "15secs");
    flags_format_duration(600000, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "10mins");
    flags_format_duration(7200000, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "2hrs");
    flags_format_duration(1500, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "1500ms");
    flags_format_duration(0, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "0ms");
    CHECK_EQ_INT(flags_format_duration(1209600000, buf, sizeof(buf)), 6);
    CHECK_EQ_STR(buf, "2weeks");
    CHECK_EQ_INT(flags_format_duration(86400000, buf, 3), 5);
    CHECK_EQ_STR(buf, "1d");
}

static void
test_bytes(void)
{
    char buf[32];
    int64_t v = 0;

    CHECK_EQ_INT(flags_parse_bytes("1GB", &v), 0);
    CHECK_EQ_INT(v, 1LL << 30);
    CHECK_EQ_INT(flags_parse_bytes("512mb", &v), 0);
    CHECK_EQ_INT(v, 512LL << 20);
    CHECK_EQ_INT(flags_parse_bytes("4096", &v), 0);
    CHECK_EQ_INT(v, 4096);
    CHECK_EQ_INT(flags_parse_bytes("100B", &v), 0);
    CHECK_EQ_INT(v, 100);
    CHECK_EQ_INT(flags_parse_bytes("1.5KB", &v), 0);
    CHECK_EQ_INT(v, 1536);
    CHECK_EQ_INT(flags_parse_bytes("0.1KB", &v), -AG_EINVAL);
    CHECK_EQ_INT(flags_parse_bytes("1XB", &v), -AG_EINVAL);
    CHECK_EQ_INT(flags_parse_bytes("GB", &v), -AG_EINVAL);
    CHECK_EQ_INT(flags_parse_bytes("-1GB", &v), -AG_ERANGE);
    CHECK_EQ_INT(flags_parse_bytes("8192PB", &v), -AG_ERANGE);
    CHECK_EQ_INT(flags_parse_bytes("8191PB", &v), 0);
    flags_format_bytes(1LL << 30, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "1GB");
    flags_format_bytes(1536, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "1536B");
    flags_format_bytes(512LL << 20, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "512MB");
    flags_format_bytes(0, buf, sizeof(buf));
    CHECK_EQ_STR(buf, "0B");
}

static void
test_usage(void)
{
    static bool quiet;
    static int64_t t;
    static const struct flag small[] = {
        {"quiet", FLAG_BOOL, &quiet, "false", "Log less."},
        {"agent_reregister_timeout", FLAG_DURATION, &t, "10mins",
         "How long the master waits for an agent that was registered before a failover to come "
         "back before it considers the agent gone and its tasks lost."},
        {NULL},
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    CHECK(f != NULL);
    flags_usage(small, "agora-master", "Runs the Agora master.", f);
    fclose(f);
    CHECK_EQ_STR(text,
                 "Usage: agora-master [flags]\n"
                 "\n"
                 "Runs the Agora master.\n"
                 "\n"
                 "Flags:\n"
                 "  --[no-]quiet  Log less. (default: false)\n"
                 "  --agent_reregister_timeout=DURATION\n"
                 "                How long the master waits for an agent that was registered "
                 "before a failover to come\n"
                 "                back before it considers the agent gone and its tasks lost. "
                 "(default: 10mins)\n"
                 "  --help        Print this help and exit.\n"
                 "\n"
                 "Each flag may also be set through the environment as AGORA_<NAME> (e.g. "
                 "AGORA_QUIET);\n"
                 "the command line wins.\n");
    free(text);
}

static void
test_to_json(void)
{
    char err[256], **argv, *s;
    int argc, rc;
    json_t *j;

    reset();
    PARSE(rc, argc, argv, err, "--ping_timeout=90secs", "--ratio=0.1", "--max_size=2048KB");
    CHECK_EQ_INT(rc, 0);
    j = flags_to_json(table);
    CHECK(j != NULL);
    s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_EQ_STR(s, "{\"checkpoint\":\"true\",\"max_size\":\"2MB\",\"ping_timeout\":\"90secs\","
                    "\"port\":\"5050\",\"ratio\":\"0.1\",\"work_dir\":\"/var/lib/agora\"}");
    free(s);
    json_decref(j);
    reset();
}

/* A URI's password never shows in flags_to_json (/flags); txt_redact_uri
 * leaves it out, txt_mask_uri hides it in place (a daemon's argv). */
static void
test_to_json_hides_passwords(void)
{
    static const char *const cases[][3] = {
        {"postgresql://agora:s3cr%40t@127.0.0.1:5432/agora", "postgresql://agora@127.0.0.1:5432/agora",
         "postgresql://agora:********@127.0.0.1:5432/agora"},
        {"postgres://u@h/db?sslmode=disable&password=xy&a=b#f",
         "postgres://u@h/db?sslmode=disable&password=***&a=b#f",
         "postgres://u@h/db?sslmode=disable&password=**&a=b#f"},
        {"postgresql://u:p:q@h:1/d?password=z", "postgresql://u@h:1/d?password=***",
         "postgresql://u:***@h:1/d?password=*"},
        {"/var/lib/agora/accounting.db", "/var/lib/agora/accounting.db",
         "/var/lib/agora/accounting.db"},
        {"user:pw@host", "user:pw@host", "user:pw@host"},
    };
    char err[256], **argv, *s, buf[128];
    int argc, rc;
    json_t *j;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ_INT(txt_redact_uri(cases[i][0], buf, sizeof(buf)), strlen(cases[i][1]));
        CHECK_EQ_STR(buf, cases[i][1]);
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        CHECK(txt_mask_uri(buf) == (strcmp(cases[i][0], cases[i][2]) != 0));
        CHECK_EQ_STR(buf, cases[i][2]);
    }
    CHECK_EQ_INT(txt_redact_uri(cases[0][0], buf, 12), strlen(cases[0][1]));
    CHECK_EQ_STR(buf, "postgresql:");

    reset();
    PARSE(rc, argc, argv, err, "--work_dir=postgresql://agora:Secret-9@db:5432/agora");
    CHECK_EQ_INT(rc, 0);
    j = flags_to_json(table);
    CHECK(j != NULL);
    s = json_dumps(j, JSON_COMPACT);
    CHECK(strstr(s, "Secret-9") == NULL);
    CHECK_EQ_STR(json_string_value(json_object_get(j, "work_dir")),
                 "postgresql://agora@db:5432/agora");
    free(s);
    json_decref(j);
    reset();
}

TEST_LIST(TEST_ENTRY(defaults), TEST_ENTRY(values_and_positionals), TEST_ENTRY(errors),
          TEST_ENTRY(environment), TEST_ENTRY(help_and_required), TEST_ENTRY(bad_tables),
          TEST_ENTRY(durations), TEST_ENTRY(bytes), TEST_ENTRY(usage), TEST_ENTRY(to_json),
          TEST_ENTRY(to_json_hides_passwords));
TEST_MAIN()
