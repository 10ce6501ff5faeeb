/*
 * One commit's fleet, checked and rendered: load every document (parse
 * cache), verify every model attestation, then render the selected sites.
 * Every error is collected (not only the first), so `cairnctl validate`
 * can list them all and the controller can record them.
 *
 * Sites render on worker threads (one per CPU): rendering reads the
 * loaded fleet only, and the few shared caches it touches are locked. A
 * `prepare` hook (the pipeline signs there) runs on the workers too;
 * `on_site` runs on the calling thread, in site-name order, so a store
 * handle owned by the caller is safe there. Results and errors do not
 * depend on the number of threads.
 *
 * Used by the pipeline (daemon: the sites a change can affect) and by
 * cairnctl offline (all sites, or one).
 */
#ifndef CAIRN_BUILD_H
#define CAIRN_BUILD_H

#include "errlist.h"
#include "fleet.h"
#include "render.h"

/* Which sites of the loaded fleet f to render: 1 yes, 0 no. Called on the
 * calling thread, before any rendering. */
typedef int (*cairn_build_select_fn)(const struct cairn_fleet *f,
                                     const struct cairn_fdoc *site, void *arg);
/* Receives each site rendered without error, in site-name order; owns *r
 * (cairn_rendered_free). A non-zero return stops the build with it. */
typedef int (*cairn_build_site_fn)(const struct cairn_fleet *f,
                                   struct cairn_rendered *r, void *arg);
/* Runs on a worker thread right after a site rendered (may set r->extra).
 * Must be thread-safe. */
typedef void (*cairn_build_prepare_fn)(const struct cairn_fleet *f,
                                       struct cairn_rendered *r, void *arg);

struct cairn_build_hooks {
    cairn_build_select_fn select; /* NULL: every site */
    void *select_arg;
    cairn_build_prepare_fn prepare; /* NULL: none */
    void *prepare_arg;
    cairn_build_site_fn on_site; /* NULL: results are dropped */
    void *site_arg;
    unsigned threads; /* 0: one per CPU, at most 8 */
};

struct cairn_build_stats {
    size_t sites;    /* in the fleet */
    size_t rendered; /* rendered successfully */
    double load_ms, attest_ms, render_ms;
};

/*
 * Load and check src, then render the sites h selects (h may be NULL: all
 * sites, results dropped). Errors go to errs; the result is then the
 * first error's code (CAIRN_ESCHEMA, CAIRN_ETEMPLATE, ...), else 0 or what
 * on_site returned. On success with fleet_out (may be NULL) the loaded
 * fleet is handed to the caller (cairn_fleet_free); it borrows src.
 */
CAIRN_WUR int cairn_build_run(struct cairn_loader *ld, struct cairn_src *src,
                              const struct cairn_build_hooks *h,
                              struct cairn_errlist *errs,
                              struct cairn_build_stats *stats,
                              struct cairn_fleet **fleet_out);

/* Worker threads to use for n items when asked for `threads` (0: one per
 * CPU, at most 8; never more than n / 32 + 1, as small jobs are not worth
 * a thread). */
unsigned cairn__threads(unsigned threads, size_t n);

/* Milliseconds on a monotonic clock (for stats). */
double cairn__now_ms(void);

#endif
