#include "commitpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_sigpolicy_parse(const char *s, enum cairn_sigpolicy *out)
{
    if (strcmp(s, "off") == 0)
        *out = CAIRN_SIGPOLICY_OFF;
    else if (strcmp(s, "require") == 0)
        *out = CAIRN_SIGPOLICY_REQUIRE;
    else
        return CAIRN_EINVAL;
    return 0;
}

const char *cairn_sigpolicy_name(enum cairn_sigpolicy p)
{
    return p == CAIRN_SIGPOLICY_REQUIRE ? "require" : "off";
}

/* Under "off" a key the allowed_signers does not list is still named as
 * the signer, but only when its signature really verifies. */
static int signature_holds(struct cairn_git *g,
                           const struct cairn_git_oid *commit)
{
    char *sig = NULL, *data = NULL;
    size_t sig_len = 0, data_len = 0;
    struct cairn_sshsig s;
    int ok = 0;

    if (cairn_git_commit_signature(g, commit, &sig, &sig_len, &data, &data_len,
                                   NULL) == 0 &&
        cairn_sshsig_parse(sig, sig_len, &s, NULL) == 0 &&
        cairn_sshsig_check(&s, CAIRN_SSHSIG_NS_GIT, data, data_len, NULL) == 0)
        ok = 1;
    free(sig);
    free(data);
    return ok;
}

static void decide(struct cairn_git *g, const struct cairn_git_oid *commit,
                   enum cairn_sigpolicy pol,
                   const struct cairn_sshsig_result *res,
                   struct cairn_commit_meta *meta)
{
    int good = res->status == CAIRN_SSHSIG_VERIFIED;

    if (good || ((res->status == CAIRN_SSHSIG_UNKNOWN_KEY ||
                  res->status == CAIRN_SSHSIG_KEY_NOT_ALLOWED) &&
                 signature_holds(g, commit)))
        snprintf(meta->signer, sizeof(meta->signer), "%s", res->keyid);
    if (res->status == CAIRN_SSHSIG_VERIFIED ||
        res->status == CAIRN_SSHSIG_KEY_NOT_ALLOWED)
        snprintf(meta->principal, sizeof(meta->principal), "%s",
                 res->principal);
    if (pol == CAIRN_SIGPOLICY_REQUIRE && !good) {
        meta->refused = 1;
        snprintf(meta->why, sizeof(meta->why),
                 "refused by signature policy require: %s (%.400s)",
                 cairn_sshsig_status_name(res->status), res->text);
    }
}

int cairn_commitpolicy_check(struct cairn_git *g,
                             const struct cairn_git_oid *commit,
                             enum cairn_sigpolicy pol,
                             const struct cairn_sshsig_signers *signers,
                             struct cairn_commit_meta *meta,
                             struct cairn_diag *d)
{
    struct cairn_sshsig_result res;
    struct cairn_git_commit *c = NULL;
    int rc;

    rc = cairn_git_commit_get(g, commit, &c, d);
    if (rc == 0)
        rc = cairn_git_verify_commit(g, commit, signers, &res, d);
    if (rc) {
        cairn_git_commit_free(c);
        return rc;
    }
    memset(meta, 0, sizeof(*meta));
    memcpy(meta->sha, commit->hex, sizeof(meta->sha));
    meta->time = c->committer.time;
    decide(g, commit, pol, &res, meta);
    cairn_git_commit_free(c);
    return 0;
}
