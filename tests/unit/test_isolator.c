#include "test.h"

#include "error.h"
#include "isolator.h"
#include "log.h"

#include <unistd.h>

static void
test_parse(void)
{
    struct iso_config cfg = {.isolation = "posix", .cgroups_root = "agora-unit"};
    struct iso *iso;
    char err[512];

    log_set_level(AG_LOG_ERROR);
    CHECK_EQ_INT(iso_open(&iso, &cfg, err, sizeof(err)), 0);
    CHECK_EQ_STR(iso->names, "posix");
    CHECK(!iso_has_cgroups(iso));
    CHECK_EQ_INT(iso_kill(iso, "x"), -AG_ENOENT);
    CHECK_EQ_INT(iso_cleanup(iso, "x"), 0);
    iso_close(iso);

    cfg.isolation = "posix/cpu,posix/mem";
    CHECK_EQ_INT(iso_open(&iso, &cfg, err, sizeof(err)), 0);
    CHECK_EQ_STR(iso->names, "posix");
    iso_close(iso);

    cfg.isolation = "cgroups/cpu,docker/runtime";
    CHECK_EQ_INT(iso_open(&iso, &cfg, err, sizeof(err)), -AG_EINVAL);
    CHECK(strstr(err, "docker/runtime") != NULL);
}

/* As root with cgroups: the flag's order does not matter, the table's does;
 * the freezer comes with any cgroups isolator. */
static void
test_order_and_freezer(void)
{
    struct iso_config cfg = {.isolation = "namespaces/uts,cgroups/mem,namespaces/pid",
                             .cgroups_root = "agora-unit-iso"};
    struct iso *iso;
    char err[512], dir[PATH_MAX];

    struct cg_layout l;
    int rc;

    if (geteuid() != 0)
        TEST_SKIP("needs root (cgroups, namespaces)");
    /* The kernel's cgroup mounts are this test's prerequisite; reading them
     * is the code under test. */
    CHECK_EQ_INT(cg_detect(&l, err, sizeof(err)), 0);
    if (l.ctrl[CG_MEMORY].version == 0)
        TEST_SKIP("no memory cgroup controller mounted (layout %s)", l.name);
    rc = iso_open(&iso, &cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "iso_open: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(iso->names, "cgroups/mem,namespaces/pid,namespaces/uts");
    CHECK(iso->cg_mask & CG_MASK(CG_MEMORY));
    if (iso->layout.ctrl[CG_FREEZER].version != 0)
        CHECK(iso->cg_mask & CG_MASK(CG_FREEZER));
    CHECK(iso->ns_pid && iso->ns_uts && !iso->ns_ipc && !iso->fs_linux);
    for (int c = 0; c < CG_NCTRL; c++)
        if (cg_path(&iso->layout, iso->cg_root, c, NULL, dir, sizeof(dir)) == 0)
            rmdir(dir);
    iso_close(iso);
}

TEST_LIST(TEST_ENTRY(parse), TEST_ENTRY(order_and_freezer));
TEST_MAIN()
