/*
 * Processing one commit of the fleet repository, all or nothing:
 * signature policy -> load -> validate -> render the sites the change can
 * affect -> sign -> store, in one store transaction. When anything is
 * wrong no site gets any part of the commit: the last accepted renders
 * stay in force and the commit is recorded as refused with its located
 * errors.
 *
 * Incremental: the pipeline remembers, for each site, the repository
 * paths its last render read. A new commit re-renders only the sites one
 * of whose paths changed, sites new to the fleet, and sites a changed
 * group now selects; `generation` rises only for sites whose content hash
 * changed. After a restart (no memory yet) the first commit renders every
 * site, and unchanged content still keeps its generation (the store has
 * the hashes).
 *
 * Threads: a pipeline is used by one thread at a time; the daemon calls
 * it from a uv_queue_work thread. cairnctl uses build.c directly (no
 * store, no key).
 */
#ifndef CAIRN_PIPELINE_H
#define CAIRN_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/git.h"
#include "cairn/keys.h"
#include "commitpolicy.h"
#include "errlist.h"
#include "fleet.h"
#include "store.h"

/* Paths that differ between the last accepted commit and this one. */
struct cairn_changes {
    char **paths;
    size_t n;
};

struct cairn_pipeline_opts {
    const char *repo;               /* source.repo in payloads */
    struct cairn_store *store;      /* borrowed; required */
    const struct cairn_seckey *key; /* borrowed; required */
    int64_t (*now)(void *arg);      /* NULL: time(NULL) */
    void *now_arg;
    size_t max_errors;      /* distinct errors kept (0 = 1000) */
    size_t max_error_bytes; /* stored error text (0 = 64 KiB) */
    unsigned threads;       /* render workers (0: one per CPU) */
};

struct cairn_pipeline_result {
    int accepted;              /* 1 accepted, 0 refused */
    struct cairn_errlist errs; /* why it was refused */
    size_t sites;              /* in the fleet */
    size_t rendered;           /* rendered this time */
    size_t changed;            /* new generations published */
    size_t removed;            /* sites that left the fleet */
    double load_ms, attest_ms, render_ms, total_ms;
    double sign_ms, store_ms; /* parts of render_ms */
};

struct cairn_pipeline;

/* A pipeline over store (its current renders are read, so that
 * generations continue). CAIRN_ESCHEMA (embedded schemas), CAIRN_EDB. */
CAIRN_WUR int cairn_pipeline_new(const struct cairn_pipeline_opts *o,
                                 struct cairn_pipeline **out,
                                 struct cairn_diag *d);
void cairn_pipeline_free(struct cairn_pipeline *p); /* NULL ok */

/* The last commit accepted by this pipeline (the base to diff the next
 * commit against), or NULL when it has none in memory. */
const char *cairn_pipeline_last(const struct cairn_pipeline *p);
/* The file list of that commit (borrowed), or NULL. */
const struct cairn_src *cairn_pipeline_src(const struct cairn_pipeline *p);

/*
 * Process one commit whose files src lists (the pipeline takes src over
 * and frees it). changes: paths changed since cairn_pipeline_last(), or
 * NULL to render every site. res is always filled (free it with
 * cairn_pipeline_result_free). Returns 0 when the commit was processed,
 * accepted or refused (res says which); a negative code (CAIRN_EDB...)
 * when it could not be, nothing changed and it should be retried.
 */
CAIRN_WUR int cairn_pipeline_process(struct cairn_pipeline *p,
                                     struct cairn_src *src,
                                     const struct cairn_commit_meta *meta,
                                     const struct cairn_changes *changes,
                                     struct cairn_pipeline_result *res,
                                     struct cairn_diag *d);
void cairn_pipeline_result_free(struct cairn_pipeline_result *res);

/*
 * The same for a commit of a git repository: the signature policy
 * (commitpolicy.c), the commit's files (gitsrc.c) and its tree diff
 * against cairn_pipeline_last() (a full render when there is none). g is
 * borrowed and must stay open while the pipeline lives (the last
 * accepted fleet reads from it). A commit equal to the last accepted one
 * is a no-op (accepted, nothing rendered).
 */
CAIRN_WUR int cairn_pipeline_process_commit(
    struct cairn_pipeline *p, struct cairn_git *g,
    const struct cairn_git_oid *commit, enum cairn_sigpolicy pol,
    const struct cairn_sshsig_signers *signers,
    struct cairn_pipeline_result *res, struct cairn_diag *d);

/*
 * Re-issue every stored document whose refresh time has come (at most
 * max, 0 = all), in one transaction: same generation and content, new
 * issued/expires/signature. *n (may be NULL) receives how many.
 */
CAIRN_WUR int cairn_pipeline_refresh(struct cairn_pipeline *p, size_t max,
                                     size_t *n, struct cairn_diag *d);

/* The fleet of the last accepted commit (borrowed; valid until the next
 * cairn_pipeline_process* call), NULL when none is in memory. The daemon
 * reads site public keys from it. */
const struct cairn_fleet *cairn_pipeline_fleet(const struct cairn_pipeline *p);

/* "name@version name@version" of a content's workloads (fresh string). */
char *cairn_content_models(json_t *content);

#endif
