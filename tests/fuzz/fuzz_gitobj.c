/*
 * Fuzz target for the offline git object parsers of `cairnctl audit
 * verify` (controller/audit_gitobj.c), which read commit and tree objects
 * out of evidence bundles: the input is parsed as a commit object (and
 * its signature checked against no signers), and searched as a tree.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cairn__commit_obj c;
    struct cairn_sshsig_result res;
    char oid[CAIRN_GIT_OID_HEXLEN + 1];
    unsigned mode;

    if (cairn__commit_obj_parse(data, size, &c, NULL) == 0) {
        cairn__commit_obj_verify(&c, NULL, &res);
        cairn__commit_obj_free(&c);
    }
    (void)!cairn__tree_entry(data, size, "sites", oid, &mode, NULL);
    (void)!cairn__tree_entry(data, size, "", oid, &mode, NULL);
    return 0;
}
