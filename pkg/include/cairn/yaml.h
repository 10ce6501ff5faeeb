/*
 * YAML (libyaml) into jansson values, remembering where every node came
 * from, so that later errors (schema, template, merge) can say
 * file:line:column. The only module that touches libyaml.
 *
 * Refused with a located error (CAIRN_EPARSE unless noted): syntax errors,
 * duplicate keys, non-scalar keys, more than one document, documents over
 * the size cap (CAIRN_ETOOBIG), more nodes than the node cap counting
 * alias expansions (the "billion laughs" file, CAIRN_ETOOBIG), scalar text
 * over 8 times the size cap counting alias expansions (CAIRN_ETOOBIG),
 * nesting over the depth cap (CAIRN_ETOOBIG), unknown tags, merge keys (<<),
 * NUL characters in scalars, integers outside int64, .inf/.nan. Plain scalars
 * follow the YAML 1.2 core schema (null, true/false, ints, floats; "yes",
 * "on" stay strings); quoted scalars are strings; keys are always strings.
 * Aliases become deep copies. docs/internals/yaml.md has the full rules.
 *
 * Thread context: none shared; a document may be read from many threads
 * at once (locate does not modify it).
 */
#ifndef CAIRN_YAML_H
#define CAIRN_YAML_H

#include "cairn/diag.h"
#include <jansson.h>
#include <stddef.h>

struct cairn_loc {
    const char *file; /* owned by the document; valid while it lives */
    int line;         /* 1-based */
    int col;          /* 1-based, in characters */
};

struct cairn_yaml_limits {
    size_t max_bytes; /* input size cap; 0 = 1 MiB (ceiling 1 GiB) */
    size_t max_nodes; /* nodes after alias expansion; 0 = 100000 */
    size_t max_depth; /* nested mappings/sequences; 0 = 64 */
};

struct cairn_yaml_doc; /* the value plus its source map */

/* Parse len bytes of UTF-8 data named `file` (for messages; copied). lim
 * may be NULL (all defaults). On success *out owns the document; on error
 * *out is untouched. Errors are "file:line:col: message" in d (the size
 * cap: "file: message"): CAIRN_EPARSE, CAIRN_ETOOBIG, CAIRN_EINVAL (NULL
 * file or out, NULL data with len > 0), CAIRN_ENOMEM. */
CAIRN_WUR int cairn_yaml_parse(const char *file, const char *data, size_t len,
                               const struct cairn_yaml_limits *lim,
                               struct cairn_yaml_doc **out,
                               struct cairn_diag *d);
/* Read the file (at most lim->max_bytes) and parse it; messages name path.
 * Adds CAIRN_ENOENT, CAIRN_EPERM, CAIRN_EIO for the read. */
CAIRN_WUR int cairn_yaml_load(const char *path,
                              const struct cairn_yaml_limits *lim,
                              struct cairn_yaml_doc **out,
                              struct cairn_diag *d);
/* NULL is fine. */
void cairn_yaml_free(struct cairn_yaml_doc *doc);

/* Borrowed root value (json_incref to keep it past the document). An empty
 * document, or one of comments only, is JSON null. NULL for a NULL doc.
 * Editing the value does not change the source map. */
json_t *cairn_yaml_root(const struct cairn_yaml_doc *doc);
/* The file name given at parse time; NULL for a NULL doc. */
const char *cairn_yaml_file(const struct cairn_yaml_doc *doc);

/* Where the node at RFC 6901 JSON pointer `ptr` ("" is the root) starts.
 * For a pointer that does not exist (or is malformed), the nearest
 * existing ancestor. Inside an alias's copy, the node where the anchored
 * original is written. Never fails: falls back to the document start
 * (line 1, col 1; file NULL when doc is NULL). O(depth * log width). */
struct cairn_loc cairn_yaml_locate(const struct cairn_yaml_doc *doc,
                                   const char *ptr);

/* As cairn_yaml_locate, but for a mapping member where its key starts
 * (what to show for "unknown key" errors, when the value is a block on
 * the next lines). The root and sequence items have no key: where the
 * node starts. */
struct cairn_loc cairn_yaml_locate_key(const struct cairn_yaml_doc *doc,
                                       const char *ptr);

#endif
