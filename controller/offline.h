/*
 * cairnctl's view of the controller core: one commit of a local
 * repository, checked and rendered as the controller would, without a
 * store or a signing key.
 *
 * Offline payloads are deterministic: generation 0 (which no agent ever
 * accepts: it only accepts generations above the highest it has seen, and
 * real ones start at 1), issued = the commit's committer time, expires =
 * issued + the fleet's TTL, source = {the --repo argument, the commit, its
 * signer}. The same commit always prints the same bytes.
 */
#ifndef CAIRN_OFFLINE_H
#define CAIRN_OFFLINE_H

#include <jansson.h>

#include "build.h"
#include "commitpolicy.h"

struct cairn_offline {
    struct cairn_git *g;
    struct cairn_loader *ld;
    struct cairn_git_oid commit;
    struct cairn_commit_meta meta;
    enum cairn_sigpolicy policy;
    char *repo;
    struct cairn_src *src;     /* of the last build */
    struct cairn_fleet *fleet; /* of the last build (NULL after errors) */
};

/*
 * Open the repository at path (a working tree or a bare repository),
 * resolve rev (NULL: HEAD) and check its signature: policy require
 * against allowed_signers when that is given, else off (the signer is
 * still reported). CAIRN_ENOENT / CAIRN_EGIT / CAIRN_EPARSE (the
 * allowed_signers file). *out only on success.
 */
CAIRN_WUR int cairn_offline_open(const char *path, const char *rev,
                                 const char *allowed_signers,
                                 struct cairn_offline **out,
                                 struct cairn_diag *d);
void cairn_offline_free(struct cairn_offline *o); /* NULL ok */

/* Re-point an open offline at another revision (for diff). */
CAIRN_WUR int cairn_offline_checkout(struct cairn_offline *o, const char *rev,
                                     struct cairn_diag *d);

/*
 * Load, check and render like build.c (sel/on_site as there). A commit
 * the signature policy refuses adds that error first (the rest is still
 * checked, so one run lists every error). Afterwards o->fleet is the
 * loaded fleet when there were no errors. Returns the first error's code.
 */
CAIRN_WUR int cairn_offline_build(struct cairn_offline *o,
                                  cairn_build_select_fn sel, void *sel_arg,
                                  cairn_build_site_fn on_site, void *site_arg,
                                  struct cairn_errlist *errs,
                                  struct cairn_build_stats *st,
                                  struct cairn_diag *d);

/* The offline payload of a rendered content (new reference). */
json_t *cairn_offline_payload(const struct cairn_offline *o,
                              const struct cairn_fleet *f, json_t *content);

#endif
