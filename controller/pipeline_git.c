/* The pipeline driven by a git repository (pipeline.h). */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "gitsrc.h"

/* Paths changed since the last accepted commit; *ch NULL when there is
 * nothing to diff against. */
static int changes_since(struct cairn_pipeline *p, struct cairn_git *g,
                         const struct cairn_git_oid *commit,
                         struct cairn_git_diff **df, struct cairn_changes *ch,
                         struct cairn_diag *d)
{
    struct cairn_git_oid last;
    int rc;

    *df = NULL;
    if (!cairn_pipeline_last(p))
        return 0;
    memcpy(last.hex, cairn_pipeline_last(p), sizeof(last.hex));
    rc = cairn_git_diff(g, &last, commit, CAIRN_GITSRC_MAX_FILES, df, d);
    if (rc == CAIRN_ENOENT || rc == CAIRN_ETOOBIG) {
        /* the last commit is gone (history rewritten) or the change is
         * huge: render everything */
        cairn_diag_init(d);
        *df = NULL;
        return 0;
    }
    if (rc)
        return rc;
    ch->n = (*df)->n;
    ch->paths = cairn_xcalloc((*df)->n ? (*df)->n : 1, sizeof(char *));
    for (size_t i = 0; i < (*df)->n; i++)
        ch->paths[i] = (*df)->v[i].path;
    return 0;
}

/* A commit that changes a few site or secret files is patched onto the
 * last accepted commit's file list; anything broader (fleet.yaml, groups,
 * models, workloads, or many files) is read in full, which is faster when
 * most sites will be rendered again anyway. */
#define PATCH_MAX_CHANGES 256

static int patchable(const struct cairn_git_diff *df)
{
    if (!df || df->n > PATCH_MAX_CHANGES)
        return 0;
    for (size_t i = 0; i < df->n; i++) {
        const char *p = df->v[i].path;

        if (strcmp(p, "fleet.yaml") == 0 || strncmp(p, "groups/", 7) == 0 ||
            strncmp(p, "models/", 7) == 0 || strncmp(p, "workloads/", 10) == 0)
            return 0;
    }
    return 1;
}

int cairn_pipeline_process_commit(struct cairn_pipeline *p, struct cairn_git *g,
                                  const struct cairn_git_oid *commit,
                                  enum cairn_sigpolicy pol,
                                  const struct cairn_sshsig_signers *signers,
                                  struct cairn_pipeline_result *res,
                                  struct cairn_diag *d)
{
    struct cairn_commit_meta meta;
    struct cairn_changes ch = {NULL, 0};
    struct cairn_git_diff *df = NULL;
    struct cairn_src *src = NULL;
    int rc;

    memset(res, 0, sizeof(*res));
    cairn_errlist_init(&res->errs, 0);
    if (cairn_pipeline_last(p) &&
        strcmp(cairn_pipeline_last(p), commit->hex) == 0) {
        res->accepted = 1;
        return 0;
    }
    rc = cairn_commitpolicy_check(g, commit, pol, signers, &meta, d);
    if (rc == 0)
        rc = changes_since(p, g, commit, &df, &ch, d);
    if (rc == 0 && patchable(df) && cairn_pipeline_src(p))
        rc = cairn_gitsrc_patch(g, cairn_pipeline_src(p), commit, df, &src, d);
    else if (rc == 0)
        rc = cairn_gitsrc_new(g, commit, &src, d);
    if (rc) {
        free(ch.paths);
        cairn_git_diff_free(df);
        cairn_src_free(src);
        return rc;
    }
    cairn_errlist_free(&res->errs);
    rc = cairn_pipeline_process(p, src, &meta, df ? &ch : NULL, res, d);
    free(ch.paths);
    cairn_git_diff_free(df);
    return rc;
}
