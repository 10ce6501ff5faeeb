/*
 * A commit of the fleet repository as a `struct cairn_src`: the file list
 * comes from one tree walk without contents (sizes from object headers),
 * and a file's bytes are read only when the loader needs them (a parse
 * cache miss, a secret, a `from:` file), each with the caller's cap.
 */
#ifndef CAIRN_GITSRC_H
#define CAIRN_GITSRC_H

#include "cairn/git.h"
#include "fleet.h"

/* Files listed in one commit at most (secrets and data included). */
#define CAIRN_GITSRC_MAX_FILES 250000u

/*
 * The files of commit in g. g is borrowed and must outlive the src (and
 * the fleets loaded from it). *out only on success (cairn_src_free).
 * CAIRN_ENOENT, CAIRN_ETOOBIG (more files than the cap), CAIRN_EGIT.
 */
CAIRN_WUR int cairn_gitsrc_new(struct cairn_git *g, const struct cairn_git_oid *commit,
                               struct cairn_src **out, struct cairn_diag *d);

#endif
