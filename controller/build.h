/*
 * One commit's fleet, checked and rendered: load every document (parse
 * cache), verify every model attestation, then render the selected sites.
 * Every error is collected (not only the first), so `cairnctl validate`
 * can list them all and the controller can record them.
 *
 * Used by the pipeline (daemon: the sites a change can affect) and by
 * cairnctl offline (all sites, or one).
 */
#ifndef CAIRN_BUILD_H
#define CAIRN_BUILD_H

#include "errlist.h"
#include "fleet.h"
#include "render.h"

/* Which sites of the loaded fleet f to render: 1 yes, 0 no. NULL selects
 * all. */
typedef int (*cairn_build_select_fn)(const struct cairn_fleet *f,
                                     const struct cairn_fdoc *site, void *arg);
/* Receives each site rendered without error, in site-name order; owns *r
 * (cairn_rendered_free). A non-zero return stops the build with it. */
typedef int (*cairn_build_site_fn)(const struct cairn_fleet *f, struct cairn_rendered *r,
                                   void *arg);

struct cairn_build_stats {
    size_t sites;       /* in the fleet */
    size_t rendered;    /* rendered successfully */
    double load_ms, attest_ms, render_ms;
};

/*
 * Load and check src, then render the sites sel selects (sel NULL: all),
 * passing each to on_site. Errors go to errs; the result is then the first
 * error's code (CAIRN_ESCHEMA, CAIRN_ETEMPLATE, ...), else 0 or what
 * on_site returned. On success with fleet_out (may be NULL) the loaded
 * fleet is handed to the caller (cairn_fleet_free); it borrows src.
 */
CAIRN_WUR int cairn_build_run(struct cairn_loader *ld, struct cairn_src *src,
                              cairn_build_select_fn sel, void *sel_arg,
                              cairn_build_site_fn on_site, void *site_arg,
                              struct cairn_errlist *errs, struct cairn_build_stats *stats,
                              struct cairn_fleet **fleet_out);

/* Milliseconds on a monotonic clock (for stats). */
double cairn__now_ms(void);

#endif
