/*
 * What the audit endpoints read from the controller's two SQLite files
 * (docs/protocol.md "Audit"): the render store (store.h: each site's
 * generation history) and the records (records.h: the signed reports as
 * received, the site keys).
 *
 * The render store keeps only each site's *current* signed envelope, so
 * an audit trail needs one more thing: cairn_store_audit_install() adds a
 * table `audit_desired` and a trigger on `renders` to the store's
 * database, so that the first envelope of every (site, generation) the
 * store ever commits is kept, in the same transaction as the render
 * itself: a generation can not be published without its envelope being
 * kept. Re-issues of a generation (same content, later issued/expires)
 * are not kept again.
 *
 * Reads go through connections of their own, opened read-only per query
 * batch: SQLite's WAL lets them run beside the render and records lanes
 * without waiting for (or blocking) their writes.
 *
 * Threads: any thread; a handle is used by one thread at a time (the
 * endpoints use one per request, on the thread pool). Errors: CAIRN_EDB
 * with SQLite's text; CAIRN_EUNSUPPORTED for a store that is not SQLite.
 */
#ifndef CAIRN_STORE_AUDIT_H
#define CAIRN_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"

/* The SQLite file of a store URL ("sqlite:PATH" or a plain path), fresh
 * string; NULL for other backends. */
char *cairn_store_audit_path(const char *store_url);

/* Create audit_desired and its trigger in the store database at path when
 * missing, and copy in the envelopes of the current renders (a store used
 * before the audit trail existed). Idempotent. CAIRN_EDB. */
CAIRN_WUR int cairn_store_audit_install(const char *path, struct cairn_diag *d);

struct cairn_store_audit;

/* Read-only connections to the store at store_path and the records at
 * records_path (either may not exist yet: its queries then return
 * nothing). *out only on success. CAIRN_EDB. */
CAIRN_WUR int cairn_store_audit_open(const char *store_path,
                                     const char *records_path,
                                     struct cairn_store_audit **out,
                                     struct cairn_diag *d);
void cairn_store_audit_close(struct cairn_store_audit *a); /* NULL ok */

struct cairn_audit_gen {
    int64_t generation;
    const char *commit;
    int64_t issued, expires; /* 0 for removal rows */
    const char *models;      /* "" for removal rows */
    int removed;             /* the site left the fleet at commit */
    const char *envelope;    /* the signed DSSE JSON, NULL when not kept */
    size_t envelope_len;
};

struct cairn_audit_report {
    int64_t seq, received;
    const char *envelope; /* as received */
    size_t envelope_len;
};

/* Callbacks get values valid during the call; non-zero stops the listing
 * and becomes the result. */
typedef int (*cairn_audit_gen_cb)(const struct cairn_audit_gen *g, void *arg);
typedef int (*cairn_audit_report_cb)(const struct cairn_audit_report *r,
                                     void *arg);

/* site's generations above after, in order, at most limit; *more is set
 * when more follow. */
CAIRN_WUR int cairn_store_audit_generations(struct cairn_store_audit *a,
                                            const char *site, int64_t after,
                                            size_t limit, cairn_audit_gen_cb cb,
                                            void *arg, int *more,
                                            struct cairn_diag *d);
/* site's stored reports with seq above after, in order, at most limit. */
CAIRN_WUR int cairn_store_audit_reports(struct cairn_store_audit *a,
                                        const char *site, int64_t after,
                                        size_t limit, cairn_audit_report_cb cb,
                                        void *arg, int *more,
                                        struct cairn_diag *d);
/* The site key the records hold (the publicKey line of sites/<site>.yaml
 * at the commit the controller last accepted): fresh *key (free()) and
 * commit. CAIRN_ENOENT when none. */
CAIRN_WUR int cairn_store_audit_site_key(struct cairn_store_audit *a,
                                         const char *site, char **key,
                                         char commit[41], struct cairn_diag *d);

#endif
