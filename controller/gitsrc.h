/*
 * A commit of the fleet repository as a `struct cairn_src`.
 *
 * Full: one tree walk with contents per fleet folder (groups, models,
 * secrets, sites, workloads) plus fleet.yaml, so every tree object is
 * parsed once and every blob inflated once (reading 20,000 files one path
 * at a time would parse the big trees again for each). Files elsewhere in
 * the repository (a files[].from) are read by path when asked for.
 *
 * Patched: the previous commit's list with the tree diff applied: only
 * added and modified files are read, so a commit that changes one site
 * costs one blob read, whatever the fleet's size. Unchanged files carry
 * their old ids (the parse cache still has them) and are read by path if
 * ever needed.
 *
 * Content ids are git blob ids for walked files, and the first 40 hex
 * digits of SHA-256 for files read by path: both name content uniquely,
 * which is all the parse cache needs.
 */
#ifndef CAIRN_GITSRC_H
#define CAIRN_GITSRC_H

#include "cairn/git.h"
#include "fleet.h"

/* Files listed in one commit at most (secrets and data included). */
#define CAIRN_GITSRC_MAX_FILES 250000u
/* One file in a fleet folder (what a walk reads). */
#define CAIRN_GITSRC_MAX_FILE (16u << 20)

/*
 * The fleet files of commit in g. g is borrowed and must outlive the src
 * (and the fleets loaded from it). *out only on success (cairn_src_free).
 * CAIRN_ENOENT, CAIRN_ETOOBIG (a cap; the message names the file),
 * CAIRN_EGIT.
 */
CAIRN_WUR int cairn_gitsrc_new(struct cairn_git *g,
                               const struct cairn_git_oid *commit,
                               struct cairn_src **out, struct cairn_diag *d);

/* 1 when path is one of the files a fleet src lists (fleet.yaml or under
 * a fleet folder). */
int cairn_gitsrc_is_fleet_path(const char *path);

/*
 * The src of commit made from prev (a src of an earlier commit) and the
 * tree diff from that commit to this one. Same ownership as
 * cairn_gitsrc_new; prev is not modified and may be freed after.
 */
CAIRN_WUR int cairn_gitsrc_patch(struct cairn_git *g,
                                 const struct cairn_src *prev,
                                 const struct cairn_git_oid *commit,
                                 const struct cairn_git_diff *df,
                                 struct cairn_src **out, struct cairn_diag *d);

#endif
