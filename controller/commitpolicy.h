/*
 * Commit signature policy (the controller's own configuration, never the
 * repository's: a commit could otherwise turn it off).
 *
 *   require  a commit is rendered only when it carries a good SSH
 *            signature by a key of the allowed_signers file (git's
 *            gpg.ssh.allowedSignersFile format) valid at its committer
 *            time; unsigned, unknown-key and bad signatures are refused.
 *   off      every commit is rendered; the signer's key id is still
 *            recorded when the signature is mathematically good.
 */
#ifndef CAIRN_COMMITPOLICY_H
#define CAIRN_COMMITPOLICY_H

#include <stdint.h>

#include "cairn/git.h"
#include "cairn/keys.h"
#include "cairn/sshsig.h"

enum cairn_sigpolicy {
    CAIRN_SIGPOLICY_OFF,
    CAIRN_SIGPOLICY_REQUIRE,
};

/* What the commit's signature check concluded. */
struct cairn_commit_meta {
    char sha[CAIRN_GIT_OID_HEXLEN + 1];
    int64_t time;                     /* committer time */
    char signer[CAIRN_KEYID_LEN + 1]; /* signer key id, "" when none */
    char principal[256];              /* allowed_signers principal, "" */
    int refused;                      /* the signature policy refuses it */
    char why[512];                    /* then: the reason */
};

/* "off" / "require" -> policy; CAIRN_EINVAL otherwise. */
CAIRN_WUR int cairn_sigpolicy_parse(const char *s, enum cairn_sigpolicy *out);
const char *cairn_sigpolicy_name(enum cairn_sigpolicy p);

/*
 * Check commit against the policy and fill *meta (sha, committer time,
 * signer key id, principal, and refused/why). signers may be NULL (trusts
 * no key: with require every commit is refused). Returns 0 whether or
 * not the commit is refused; CAIRN_ENOENT / CAIRN_EGIT when it can't be
 * read.
 */
CAIRN_WUR int cairn_commitpolicy_check(
    struct cairn_git *g, const struct cairn_git_oid *commit,
    enum cairn_sigpolicy pol, const struct cairn_sshsig_signers *signers,
    struct cairn_commit_meta *meta, struct cairn_diag *d);

#endif
