/*
 * `cairnctl render --explain`: every leaf of a site's merged values and of
 * its desired state, each with the file:line:col and layer that set it
 * (fleet / group NAME / site / workload / model / secret), and for a
 * templated string where each value it substitutes came from.
 */
#ifndef CAIRN_EXPLAIN_H
#define CAIRN_EXPLAIN_H

#include <jansson.h>
#include <stdio.h>

#include "fleet.h"

/* Print the explanation of site's payload (rendered from f) to out. */
void cairn_explain_site(const struct cairn_fleet *f,
                        const struct cairn_fdoc *site, json_t *payload,
                        FILE *out);

#endif
