/*
 * `cairnctl audit verify` internals, shared by audit_verify.c (signed
 * documents) and audit_vgit.c (git objects). One pass per section of the
 * bundle, in dependency order: commits, objects, files (site keys and
 * trusted publishers), receipts, desired states, attestations, reports.
 * Each section records what later ones need in the context.
 */
#ifndef CAIRN_AUDIT_VERIFY_H
#define CAIRN_AUDIT_VERIFY_H

#include <jansson.h>

#include "audit.h"

struct vobj {
    char sha[CAIRN_GIT_OID_HEXLEN + 1];
    char type[8];
    uint8_t *data;
    size_t len;
};

/* Trusted publishers of fleet.yaml at one commit (a proven file). */
struct vtrust {
    char commit[CAIRN_GIT_OID_HEXLEN + 1];
    struct cairn_keyset keys;
};

struct vctx {
    json_t *bundle;
    const char *site;
    struct cairn_sshsig_signers *signers;
    struct cairn_keyset ctrl;
    json_t *problems; /* [{"record", "problem"}] */
    json_t *summary;  /* section -> counts and notes */
    /* commits: sha -> {"index", "tree", "status", "keyid", "principal"} (hash
     * ok only) */
    json_t *commits;
    struct vobj *objs; /* hashed ok, sorted by sha */
    size_t nobjs;
    struct vtrust *trust;
    size_t ntrust;
    struct cairn_keyset site_keys;
    json_t *site_key_info; /* [{"keyid", "commit"}] */
    /* receipts: "generations"/"reports" -> {"<n>": {"sha256", ...}} */
    json_t *rcpt_gen, *rcpt_rep;
    /* verified desired states: "<generation>" -> {"payload", "index", "models":
     * {workload:
     * {"sha256", "attested": bool, "publisher"}}} */
    json_t *gens;
    json_t *payloads;  /* verified report payloads, seq order */
    json_t *seen_seqs; /* "<seq>" of each verified report */
};

/* Record a problem with a record ("reports[3] (seq 4)"). */
void cairn__v_problem(struct vctx *v, const char *record, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* audit_vgit.c: the commits, objects and files sections. */
void cairn__v_commits(struct vctx *v);
void cairn__v_objects(struct vctx *v);
void cairn__v_files(struct vctx *v);
void cairn__v_free_git(struct vctx *v);
/* Trusted publishers at commit, NULL when the bundle proves no fleet.yaml
 * there. */
const struct cairn_keyset *cairn__v_trusted(const struct vctx *v,
                                            const char *commit);

#endif
