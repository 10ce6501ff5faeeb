/*
 * One site's desired state, from a loaded fleet (docs/formats.md, DESIGN.md
 * "Desired state"): the site's merged values, the workloads its
 * `values.workloads` names with templates substituted, each with its model
 * resolved to the Model file and its verified attestation, its files
 * (sha256; base64 for `from:` copies) and its secrets read from
 * secrets/<site>/ only.
 *
 * The result is the payload's *content*: {kind, site, workloads}. The
 * fields that change without the content changing (generation, issued,
 * expires, source) are publish.c's, so the content hash says exactly when
 * a site needs a new generation.
 */
#ifndef CAIRN_RENDER_H
#define CAIRN_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "cairn/hash.h"
#include "errlist.h"
#include "fleet.h"
#include "merge.h"

#define CAIRN_DESIRED_KIND "cairn.desired/v1"
/* Canonical payload bytes of one site (CAIRN_ETOOBIG past it). */
#define CAIRN_DESIRED_MAX (4u << 20)
#define CAIRN_MAX_WORKLOADS 32

/* Defaults written into every payload, so the agent needs none. */
#define CAIRN_DEFAULT_MODE "0644"
#define CAIRN_DEFAULT_HEALTH_TIMEOUT 60
#define CAIRN_DEFAULT_RESTART "always"
#define CAIRN_DEFAULT_BACKOFF_MAX 60

struct cairn_rendered {
    char *site;
    json_t *content;                       /* {kind, site, workloads} */
    char sha256[CAIRN_SHA256_HEX_LEN + 1]; /* of canonical(content) */
    char *canon;                           /* canonical(content) */
    size_t size;                           /* its bytes */
    char **deps;                           /* repository paths read, sorted */
    size_t ndeps;
    void *extra; /* a build hook's (e.g. signed) */
    void (*extra_free)(void *extra);
};

void cairn_rendered_free(struct cairn_rendered *r); /* contents; NULL ok */

/*
 * The layers of a site in merge order: fleet, matching groups by name,
 * site. *layers is a fresh array (free()) borrowing from f.
 */
void cairn_site_layers(const struct cairn_fleet *f,
                       const struct cairn_fdoc *site,
                       struct cairn_layer **layers, size_t *n);

/*
 * The site's merged values with templates substituted (a new reference).
 * Template errors are added to errs located at the layer that set the
 * string; the result is then CAIRN_ETEMPLATE.
 */
CAIRN_WUR int cairn_site_values(const struct cairn_fleet *f,
                                const struct cairn_fdoc *site,
                                const struct cairn_layer *layers, size_t n,
                                struct cairn_errlist *errs, json_t **out);

/*
 * Render one site. Every problem is added to errs (located, with the site
 * name) and the result is the first one's code; *out is written only on
 * success (free with cairn_rendered_free).
 */
CAIRN_WUR int cairn_render_site(struct cairn_fleet *f,
                                const struct cairn_fdoc *site,
                                struct cairn_errlist *errs,
                                struct cairn_rendered *out);

/* Sites whose selectors match: 1 when group g applies to site. */
int cairn_group_matches(const struct cairn_fdoc *g,
                        const struct cairn_fdoc *site);

#endif
