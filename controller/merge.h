/*
 * Layered values (docs/formats.md "Merging and templates"): fleet values,
 * then every matching group's (by group name), then the site's. Maps merge
 * deeply, lists and scalars replace, null deletes.
 *
 * Merging never modifies its inputs and shares every subtree it does not
 * have to change (jansson references), so merging 10,000 sites over the
 * same fleet and group values copies only the maps that really merge.
 * Results are read-only for the same reason.
 *
 * Provenance is computed on demand rather than stored per leaf: the layer
 * that set the leaf at a pointer is found again by walking the layers with
 * the same rules, and the yaml source map gives its file:line:col. That
 * keeps the render path free of bookkeeping that only --explain and error
 * messages need.
 */
#ifndef CAIRN_MERGE_H
#define CAIRN_MERGE_H

#include <jansson.h>
#include <stddef.h>

#include "cairn/error.h"
#include "cairn/yaml.h"

enum cairn_layer_kind {
    CAIRN_LAYER_FLEET,
    CAIRN_LAYER_GROUP,
    CAIRN_LAYER_SITE,
    CAIRN_LAYER_WORKLOAD,
    CAIRN_LAYER_MODEL,
    CAIRN_LAYER_SECRET,
    CAIRN_LAYER_CONTROLLER, /* set by the controller: defaults, digests */
};

/* "fleet", "group", "site", ... (static). */
const char *cairn_layer_kind_name(enum cairn_layer_kind k);

struct cairn_layer {
    enum cairn_layer_kind kind;
    const char *name;                 /* group name; NULL for the others */
    json_t *values;                   /* borrowed; NULL or an object */
    const struct cairn_yaml_doc *doc; /* for locations; may be NULL */
    const char *file;                 /* used when doc is NULL; may be NULL */
    const char *base;                 /* pointer of values in doc ("/values") */
};

struct cairn_origin {
    const struct cairn_layer *layer; /* borrowed from the layer array */
    struct cairn_loc loc;            /* file:line:col of the node */
};

/* b merged over a, as a new reference (never NULL). a may be NULL (an
 * empty start). Nulls in b delete; nulls nested under keys a lacks vanish
 * too. Inputs are not modified. */
json_t *cairn_merge2(json_t *a, json_t *b);

/* The merged values of n layers: a new object reference (an empty object
 * when no layer has values). */
json_t *cairn_merge_layers(const struct cairn_layer *layers, size_t n);

/* Which layer set the node at ptr of the merged values, and where.
 * CAIRN_ENOENT when the merge has no node at ptr. */
CAIRN_WUR int cairn_merge_origin(const struct cairn_layer *layers, size_t n,
                                 const char *ptr, struct cairn_origin *out);

/* "sites/x.yaml:9:12 (site)", "groups/east.yaml:4:3 (group east)". */
void cairn_origin_format(const struct cairn_origin *o, char *buf, size_t cap);

#endif
