/*
 * YAML (libyaml) into jansson values, remembering where every node came
 * from, so that later errors (schema, template, merge) can say
 * file:line:column. The only module that touches libyaml.
 *
 * Refused with a located error (CAIRN_EPARSE unless noted): syntax errors,
 * duplicate keys, non-scalar keys, more than one document, documents over
 * the size cap (CAIRN_ETOOBIG), alias expansion over the node cap (the
 * "billion laughs" file, CAIRN_ETOOBIG), unknown tags. Plain scalars follow
 * the YAML 1.2 core schema (null, true/false, ints, floats); quoted scalars
 * are strings.
 */
#ifndef CAIRN_YAML_H
#define CAIRN_YAML_H

#include <jansson.h>
#include <stddef.h>
#include "cairn/diag.h"

struct cairn_loc {
    const char *file; /* owned by the document; valid while it lives */
    int line;         /* 1-based */
    int col;          /* 1-based */
};

struct cairn_yaml_limits {
    size_t max_bytes; /* input size cap; 0 = 1 MiB */
    size_t max_nodes; /* nodes after alias expansion; 0 = 100000 */
    size_t max_depth; /* nesting; 0 = 64 */
};

struct cairn_yaml_doc; /* the value plus its source map */

/* Parse len bytes of data named `file` (for messages). On success *out owns
 * the document. Errors are "file:line:col: message" in d. */
CAIRN_WUR int cairn_yaml_parse(const char *file, const char *data, size_t len,
                               const struct cairn_yaml_limits *lim,
                               struct cairn_yaml_doc **out, struct cairn_diag *d);
/* Read the file (capped) and parse it. */
CAIRN_WUR int cairn_yaml_load(const char *path, const struct cairn_yaml_limits *lim,
                              struct cairn_yaml_doc **out, struct cairn_diag *d);
void cairn_yaml_free(struct cairn_yaml_doc *doc);

/* Borrowed root value (json_incref to keep it past the document). An empty
 * document is JSON null. */
json_t *cairn_yaml_root(const struct cairn_yaml_doc *doc);
const char *cairn_yaml_file(const struct cairn_yaml_doc *doc);

/* Where the node at RFC 6901 JSON pointer `ptr` ("" is the root) starts.
 * For a pointer that does not exist, the nearest existing ancestor.
 * Never fails: falls back to the document start. */
struct cairn_loc cairn_yaml_locate(const struct cairn_yaml_doc *doc, const char *ptr);

#endif
