/*
 * JSON Schema draft-07 validation, written here (no maintained C validator
 * is packaged by Debian). Supported keywords are listed in
 * docs/internals/schema.md with the conformance-suite files skipped.
 *
 * A schema is compiled once (regular expressions, $ref targets, keyword
 * tables) and can then validate any number of documents, from several
 * threads at once: validation only reads the compiled schema.
 *
 * References: "$ref" may point anywhere inside the same document (JSON
 * pointers such as "#", "#/definitions/x", "#/a~1b%25c", recursion, and
 * "$id" base URIs / "#name" anchors declared in it). References to other
 * documents, the draft-07 metaschema's URL included, are refused at compile
 * time. A root "$schema" naming another draft than 07 (or the compatible
 * 06) is refused too.
 */
#ifndef CAIRN_SCHEMA_H
#define CAIRN_SCHEMA_H

#include "cairn/diag.h"
#include "cairn/yaml.h"
#include <jansson.h>

struct cairn_schema;

/* Compile a schema document. schema is borrowed: the compiled schema keeps
 * a private deep copy, so the caller may change or free it afterwards. On
 * success *out owns the compiled schema (cairn_schema_free()).
 * Errors: CAIRN_EINVAL (schema or out NULL); CAIRN_ESCHEMA with a message
 * naming the schema pointer when the schema itself is invalid, e.g.
 * "schema #/properties/name/pattern: invalid regular expression ..."
 * (bad regex, unresolvable or remote $ref, wrong keyword type, $ref loop). */
CAIRN_WUR int cairn_schema_compile(json_t *schema, struct cairn_schema **out,
                                   struct cairn_diag *d);
/* Load (size-capped, 4 MiB) and compile a schema JSON file. Errors as
 * cairn_schema_compile() with "path: " in front, plus CAIRN_ENOENT,
 * CAIRN_EIO, CAIRN_ETOOBIG, and CAIRN_EPARSE ("path:line:col: ...") for
 * malformed JSON or duplicate keys. */
CAIRN_WUR int cairn_schema_load(const char *path, struct cairn_schema **out,
                                struct cairn_diag *d);
/* Compile a schema cairn carries in its binaries (schemas/NAME, see
 * embedded.h), e.g. "desired.schema.json". CAIRN_ENOENT when none has that
 * name; otherwise errors as cairn_schema_load(), named by NAME. */
CAIRN_WUR int cairn_schema_embedded(const char *name, struct cairn_schema **out,
                                    struct cairn_diag *d);
/* NULL is fine. */
void cairn_schema_free(struct cairn_schema *s);

/* One validation error. */
struct cairn_schema_error {
    char instance_ptr[512]; /* RFC 6901 pointer into the instance; "" is
                               the root (shown as "/" in messages); cut
                               with "..." when longer */
    char keyword[32];       /* the failing keyword, e.g. "required";
                               "false" for a false schema, "limit" when a
                               validator limit stopped the walk */
    char message[512];      /* human text, e.g. "missing required property
                               \"name\"" (without the pointer) */
    struct cairn_loc loc;   /* from src when given, else {NULL,0,0}; for an
                               unknown property, the property's own line */
};

/* Called once per error, in document order as far as possible; e is valid
 * only during the call. Return non-zero to stop early. */
typedef int (*cairn_schema_error_cb)(const struct cairn_schema_error *e,
                                     void *arg);

/* Validate instance (borrowed, not modified). src (may be NULL) maps
 * instance pointers to file:line:col through cairn_yaml_locate().
 * Returns 0 when valid, CAIRN_ESCHEMA otherwise (CAIRN_EINVAL when s or
 * instance is NULL). Every error is passed to cb; with cb NULL the walk
 * stops at the first. The first error is also put in d as
 * "file:line:col: <pointer>: message" ("<pointer>: message" without src),
 * e.g. "/spec: unknown property \"replica\" (additionalProperties is
 * false)". anyOf/oneOf failures summarize the first error of each branch.
 * Hostile schemas cannot hang or overflow the stack: endless $ref
 * recursion, nesting past 512 evaluations, more than 4,000,000 steps or a
 * regex over its backtracking limit end validation with an error. */
CAIRN_WUR int cairn_schema_validate(const struct cairn_schema *s,
                                    json_t *instance,
                                    const struct cairn_yaml_doc *src,
                                    cairn_schema_error_cb cb, void *arg,
                                    struct cairn_diag *d);

#endif
