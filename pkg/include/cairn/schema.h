/*
 * JSON Schema draft-07 validation, written here (no maintained C validator
 * is packaged by Debian). Supported keywords are listed in
 * docs/internals/schema.md with the conformance-suite files skipped.
 */
#ifndef CAIRN_SCHEMA_H
#define CAIRN_SCHEMA_H

#include <jansson.h>
#include "cairn/diag.h"
#include "cairn/yaml.h"

struct cairn_schema;

/* Compile a schema document (borrowed; the compiled schema keeps its own
 * reference). CAIRN_ESCHEMA with a message naming the schema pointer when
 * the schema itself is invalid (bad regex, bad $ref, wrong keyword type). */
CAIRN_WUR int cairn_schema_compile(json_t *schema, struct cairn_schema **out,
                                   struct cairn_diag *d);
/* Load and compile a schema JSON file. */
CAIRN_WUR int cairn_schema_load(const char *path, struct cairn_schema **out,
                                struct cairn_diag *d);
void cairn_schema_free(struct cairn_schema *s);

/* One validation error. */
struct cairn_schema_error {
    char instance_ptr[512]; /* JSON pointer into the instance */
    char keyword[32];       /* the failing keyword, e.g. "required" */
    char message[512];      /* human text, e.g. "missing property \"name\"" */
    struct cairn_loc loc;   /* from src when given, else {NULL,0,0} */
};

/* Called once per error; return non-zero to stop early. */
typedef int (*cairn_schema_error_cb)(const struct cairn_schema_error *e, void *arg);

/* Validate instance. src (may be NULL) maps instance pointers to file:line.
 * Returns 0 when valid, CAIRN_ESCHEMA otherwise; every error is passed to cb
 * (may be NULL) and the first is also put in d as
 * "file:line:col: <pointer>: message". */
CAIRN_WUR int cairn_schema_validate(const struct cairn_schema *s, json_t *instance,
                                    const struct cairn_yaml_doc *src,
                                    cairn_schema_error_cb cb, void *arg,
                                    struct cairn_diag *d);

#endif
