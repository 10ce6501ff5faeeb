/*
 * The controller's records: every commit seen (accepted or refused, by
 * whom, with the error), each site's current signed desired state, and the
 * history of generations. A small vtable keeps the pipeline independent of
 * the backend: SQLite (store_sqlite.c, one controller) today, PostgreSQL
 * (several replicas) later.
 *
 * All writes of one commit happen in one transaction (begin ... commit):
 * a crash mid-render publishes nothing half-way.
 *
 * Threads: a store handle is used by one thread at a time (the daemon
 * calls it from its uv_queue_work thread). Errors: CAIRN_EDB with the
 * backend's message in d; CAIRN_ENOENT for a missing row.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/hash.h"
#include "cairn/keys.h"

#define CAIRN_STORE_SCHEMA_VERSION 1

struct cairn_commit_rec {
    char sha[41];
    int64_t seen;                     /* unix time processed */
    char signer[CAIRN_KEYID_LEN + 1]; /* "" when unsigned/unknown */
    const char *principal;            /* allowed_signers principal or NULL */
    int accepted;                     /* 1 accepted, 0 refused */
    const char *error;                /* located errors (refused) or NULL */
    int64_t sites_changed;            /* new generations it published */
};

struct cairn_render_rec {
    char site[64];
    int64_t generation;
    char commit[41];
    char content_sha256[CAIRN_SHA256_HEX_LEN + 1];
    char payload_sha256[CAIRN_SHA256_HEX_LEN + 1];
    int64_t issued, expires, refresh_at;
    const char *models; /* "name@version name@version" (for audit), may be "" */
    char *envelope;     /* the signed DSSE JSON; owned when read */
    size_t envelope_len;
};

typedef int (*cairn_store_render_cb)(const struct cairn_render_rec *r,
                                     void *arg);
typedef int (*cairn_store_gen_cb)(const char *site, int64_t generation,
                                  void *arg);

struct cairn_store;

struct cairn_store_ops {
    const char *name;
    int (*begin)(struct cairn_store *s, struct cairn_diag *d);
    int (*commit)(struct cairn_store *s, struct cairn_diag *d);
    void (*rollback)(struct cairn_store *s);
    int (*commit_put)(struct cairn_store *s, const struct cairn_commit_rec *r,
                      struct cairn_diag *d);
    int (*commit_get)(struct cairn_store *s, const char *sha, int *accepted,
                      char **error, struct cairn_diag *d);
    int (*head_get)(struct cairn_store *s, const char *name, char sha[41],
                    struct cairn_diag *d);
    int (*head_set)(struct cairn_store *s, const char *name, const char *sha,
                    struct cairn_diag *d);
    int (*render_get)(struct cairn_store *s, const char *site,
                      struct cairn_render_rec *out, struct cairn_diag *d);
    int (*render_put)(struct cairn_store *s, const struct cairn_render_rec *r,
                      int history, struct cairn_diag *d);
    int (*render_remove)(struct cairn_store *s, const char *site,
                         const char *commit, struct cairn_diag *d);
    int (*render_scan)(struct cairn_store *s, int with_envelope,
                       int64_t due_before, size_t max, cairn_store_render_cb cb,
                       void *arg, struct cairn_diag *d);
    int (*generation_max)(struct cairn_store *s, const char *site, int64_t *out,
                          struct cairn_diag *d);
    int (*generations_scan)(struct cairn_store *s, cairn_store_gen_cb cb,
                            void *arg, struct cairn_diag *d);
    int (*count)(struct cairn_store *s, const char *what, int64_t *out,
                 struct cairn_diag *d);
    void (*close)(struct cairn_store *s);
    /* added for the daemon (listing commits for /v1/commits) */
    int (*commit_list)(struct cairn_store *s, size_t max,
                       int (*cb)(const struct cairn_commit_rec *r, void *arg),
                       void *arg, struct cairn_diag *d);
};

struct cairn_store {
    const struct cairn_store_ops *ops;
};

/*
 * Open a store: "sqlite:PATH" or a plain path (SQLite, WAL mode, created
 * and migrated to CAIRN_STORE_SCHEMA_VERSION as needed). A database of a
 * newer schema version is refused (CAIRN_EDB). *out only on success.
 */
CAIRN_WUR int cairn_store_open(const char *url, struct cairn_store **out,
                               struct cairn_diag *d);
CAIRN_WUR int cairn_store_sqlite_open(const char *path,
                                      struct cairn_store **out,
                                      struct cairn_diag *d);
void cairn_store_close(struct cairn_store *s); /* NULL ok */

/* Transactions: begin, then commit or rollback (rollback never fails). */
CAIRN_WUR int cairn_store_begin(struct cairn_store *s, struct cairn_diag *d);
CAIRN_WUR int cairn_store_commit(struct cairn_store *s, struct cairn_diag *d);
void cairn_store_rollback(struct cairn_store *s);

/* Insert or replace the record of a commit. */
CAIRN_WUR int cairn_store_commit_put(struct cairn_store *s,
                                     const struct cairn_commit_rec *r,
                                     struct cairn_diag *d);
/* Whether sha was accepted, and its error text (*error fresh or NULL;
 * error may be NULL). CAIRN_ENOENT when never seen. */
CAIRN_WUR int cairn_store_commit_get(struct cairn_store *s, const char *sha,
                                     int *accepted, char **error,
                                     struct cairn_diag *d);

/* Named commit pointers ("accepted": the last accepted commit). */
CAIRN_WUR int cairn_store_head_get(struct cairn_store *s, const char *name,
                                   char sha[41], struct cairn_diag *d);
CAIRN_WUR int cairn_store_head_set(struct cairn_store *s, const char *name,
                                   const char *sha, struct cairn_diag *d);

/* The current render of a site, envelope included (free it with
 * cairn_render_rec_free). CAIRN_ENOENT when the site has none. */
CAIRN_WUR int cairn_store_render_get(struct cairn_store *s, const char *site,
                                     struct cairn_render_rec *out,
                                     struct cairn_diag *d);
/* Replace the current render; history=1 also records the generation in
 * the history (a new generation; re-issues pass 0). */
CAIRN_WUR int cairn_store_render_put(struct cairn_store *s,
                                     const struct cairn_render_rec *r,
                                     int history, struct cairn_diag *d);
/* A site left the fleet at commit: its current render goes, the history
 * keeps a removal row. CAIRN_ENOENT when it had none. */
CAIRN_WUR int cairn_store_render_remove(struct cairn_store *s, const char *site,
                                        const char *commit,
                                        struct cairn_diag *d);
/*
 * Call cb for current renders in site order: all of them (due_before 0),
 * or those with refresh_at < due_before, at most max (0 = no limit).
 * Envelopes are only read with with_envelope. cb returning non-zero stops
 * the scan and becomes the result.
 */
CAIRN_WUR int cairn_store_render_scan(struct cairn_store *s, int with_envelope,
                                      int64_t due_before, size_t max,
                                      cairn_store_render_cb cb, void *arg,
                                      struct cairn_diag *d);
/* Highest generation a site ever had (history included), 0 when none:
 * a site removed and added again continues above it. */
CAIRN_WUR int cairn_store_generation_max(struct cairn_store *s,
                                         const char *site, int64_t *out,
                                         struct cairn_diag *d);
/* Every site the history knows with its highest generation, in site
 * order (so that a pipeline can number generations without a query per
 * site). cb returning non-zero stops the scan and becomes the result. */
CAIRN_WUR int cairn_store_generations_scan(struct cairn_store *s,
                                           cairn_store_gen_cb cb, void *arg,
                                           struct cairn_diag *d);
/* Row counts: "commits", "renders", "history". */
CAIRN_WUR int cairn_store_count(struct cairn_store *s, const char *what,
                                int64_t *out, struct cairn_diag *d);

void cairn_render_rec_free(
    struct cairn_render_rec *r); /* envelope/models; NULL ok */

/* Commit records, the most recently processed first, at most max (0 =
 * 100): cb gets each (strings valid during the call); cb returning
 * non-zero stops the listing and becomes the result. */
typedef int (*cairn_store_commit_cb)(const struct cairn_commit_rec *r,
                                     void *arg);
CAIRN_WUR int cairn_store_commit_list(struct cairn_store *s, size_t max,
                                      cairn_store_commit_cb cb, void *arg,
                                      struct cairn_diag *d);

#endif
