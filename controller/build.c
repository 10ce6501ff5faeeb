#include "build.h"

#include <string.h>
#include <time.h>

#include "attest.h"

double cairn__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Render the selected sites; after the first error keep rendering (to
 * list every error) but stop handing results out. */
static int render_sites(struct cairn_fleet *f, cairn_build_select_fn sel, void *sel_arg,
                        cairn_build_site_fn on_site, void *site_arg,
                        struct cairn_errlist *errs, struct cairn_build_stats *st, int first)
{
    for (size_t i = 0; i < f->nsites; i++) {
        struct cairn_rendered r;
        int rc;

        if (sel && !sel(f, f->sites[i], sel_arg))
            continue;
        rc = cairn_render_site(f, f->sites[i], errs, &r);
        if (rc) {
            first = first ? first : rc;
            continue;
        }
        st->rendered++;
        if (first) {
            cairn_rendered_free(&r);
            continue;
        }
        rc = on_site ? on_site(f, &r, site_arg) : (cairn_rendered_free(&r), 0);
        if (rc)
            return rc;
    }
    return first;
}

int cairn_build_run(struct cairn_loader *ld, struct cairn_src *src,
                    cairn_build_select_fn sel, void *sel_arg, cairn_build_site_fn on_site,
                    void *site_arg, struct cairn_errlist *errs,
                    struct cairn_build_stats *stats, struct cairn_fleet **fleet_out)
{
    struct cairn_build_stats st;
    struct cairn_fleet *f = NULL;
    double t0 = cairn__now_ms(), t1, t2;
    int rc;

    memset(&st, 0, sizeof(st));
    rc = cairn_fleet_load(ld, src, errs, &f);
    t1 = cairn__now_ms();
    st.load_ms = t1 - t0;
    if (rc)
        goto out;
    st.sites = f->nsites;
    /* a bad attestation refuses the commit, but the sites are still
     * rendered so that one run lists every error */
    rc = cairn_attest_fleet(f, errs);
    t2 = cairn__now_ms();
    st.attest_ms = t2 - t1;
    rc = render_sites(f, sel, sel_arg, on_site, site_arg, errs, &st, rc);
    st.render_ms = cairn__now_ms() - t2;
out:
    if (stats)
        *stats = st;
    if (rc == 0 && fleet_out) {
        *fleet_out = f;
        f = NULL;
    }
    cairn_fleet_free(f);
    return rc;
}
