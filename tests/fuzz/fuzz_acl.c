/*
 * libFuzzer harness for the ACL file parser (common/acl.c, acl_parse): any
 * input is either refused with -AG_EINVAL (or -AG_ENOMEM), no object and a
 * terminated error, or parsed into ACLs whose decisions are consistent: a
 * decision of the rules stands whatever "permissive" says, and no rule's
 * verdict depends on anything but the request. Any mismatch aborts.
 */
#include "acl.h"
#include "error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_acl: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const principals[] = {NULL, "", "alice", "bob", "ops"};
    static const char *const objects[] = {NULL, "", "root", "web", "/flags", "alice"};
    struct acls *acls = (struct acls *)&acls;
    char err[256], *text;
    int rc;

    if ((text = malloc(size + 1)) == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    memset(err, 'x', sizeof(err));
    rc = acl_parse(text, &acls, err, sizeof(err));
    free(text);
    if (memchr(err, '\0', sizeof(err)) == NULL)
        fail("an unterminated error");
    if (rc != 0) {
        if ((rc != -AG_EINVAL && rc != -AG_ENOMEM) || acls != NULL || err[0] == '\0')
            fail("a refusal without -AG_EINVAL, a NULL object and a reason");
        return 0;
    }
    if (acls == NULL)
        fail("success without an object");
    for (int a = 0; a < ACL_NACTIONS; a++)
        for (size_t p = 0; p < sizeof(principals) / sizeof(principals[0]); p++)
            for (size_t o = 0; o < sizeof(objects) / sizeof(objects[0]); o++) {
                enum acl_decision d = acl_decide(acls, (enum acl_action)a, principals[p],
                                                 objects[o]);
                bool ok = acl_authorized(acls, (enum acl_action)a, principals[p], objects[o]);
                if (d != ACL_NO_MATCH && ok != (d == ACL_ALLOW))
                    fail("permissive overrode a rule");
                if (d == ACL_NO_MATCH && ok != acl_permissive(acls))
                    fail("no rule matched and permissive did not decide");
                /* "" is the same as absent. */
                if ((p == 0 || o == 0) &&
                    d != acl_decide(acls, (enum acl_action)a, p == 0 ? "" : principals[p],
                                    o == 0 ? "" : objects[o]))
                    fail("\"\" decided differently from an absent value");
            }
    acl_free(acls);
    return 0;
}
