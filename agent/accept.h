/*
 * Which desired-state documents the agent accepts (DESIGN.md "Desired
 * state"), and the model attestation check. Pure functions: no I/O, the
 * clock is an argument, so every rule is unit-tested.
 *
 * A document is accepted only when, in this order:
 *   1. the envelope is at most max_bytes                 (CAIRN_ETOOBIG)
 *   2. it is a well-formed DSSE envelope of payloadType
 *      application/vnd.cairn.desired+json                (CAIRN_EPARSE)
 *   3. a pinned controller key signed it                 (CAIRN_EKEY unknown
 *                                                          key, CAIRN_ESIG bad)
 *   4. the payload is JSON valid against desired.schema.json (CAIRN_EPARSE,
 *                                                          CAIRN_ESCHEMA)
 *   5. its `site` is ours                                (CAIRN_EPOLICY)
 *   6. every files[].path and uploads.dir stays inside the workload's
 *      directory, names are unique, file digests match  (CAIRN_EPATH,
 *                                                          CAIRN_EDIGEST,
 *                                                          CAIRN_ESCHEMA)
 *   7. its generation is above the highest accepted, or equal with a later
 *      `issued` (a refresh)                              (CAIRN_ESTALE; the
 *      very document already accepted: CAIRN_EEXIST, not an attack)
 *   8. it has not expired                                (CAIRN_EEXPIRED)
 * The diag says why in words fit for a report.
 */
#ifndef CAIRN_AGENT_ACCEPT_H
#define CAIRN_AGENT_ACCEPT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/keys.h"
#include "cairn/schema.h"

struct cairn_accept_ctx {
    const char *site;
    const struct cairn_keyset *controller_keys;
    const struct cairn_schema *schema; /* compiled desired.schema.json */
    size_t max_bytes;
    int64_t now;             /* Unix seconds */
    int64_t accepted_gen;    /* highest accepted so far, 0: none */
    int64_t accepted_issued; /* its issued time */
};

struct cairn_accepted {
    json_t *payload; /* owned reference */
    int64_t generation;
    int64_t issued;
    int64_t expires;
    int refresh; /* same generation as accepted, later issued */
    char signer[CAIRN_KEYID_LEN + 1];
};

/* Judge an envelope of len bytes (not necessarily NUL-terminated). On 0,
 * *out owns the payload (cairn_accepted_free). On error nothing is written
 * and d says why. Loop thread or any: no shared state. */
CAIRN_WUR int cairn_accept(const struct cairn_accept_ctx *c, const char *env,
                           size_t len, struct cairn_accepted *out,
                           struct cairn_diag *d);
void cairn_accepted_free(struct cairn_accepted *a);

/* The compiled desired.schema.json (embedded), compiled once; NULL only if
 * the embedded schema is broken (a build error). Never freed. */
const struct cairn_schema *cairn_accept_schema(void);
/* The same, compiled afresh: the caller frees it (cairn_schema_free). The
 * daemon compiles it for each document it judges rather than keeping it
 * (documents are rare; see docs/agent.md, "Footprint"). NULL as above. */
struct cairn_schema *cairn_accept_schema_compile(void);

/* Check a workload's `model` object: its `attestation` is a DSSE in-toto
 * Statement (predicateType cairn.dev/model/v1) signed by a pinned publisher
 * key, whose subject[0].digest.sha256 equals model.sha256, predicate.size
 * equals model.size, and predicate name/version equal the model's.
 * CAIRN_EPARSE (malformed), CAIRN_EKEY (no trusted signer), CAIRN_ESIG,
 * CAIRN_EDIGEST, CAIRN_ESIZE, CAIRN_EPOLICY (name/version differ). */
CAIRN_WUR int cairn_accept_attestation(const json_t *model,
                                       const struct cairn_keyset *publishers,
                                       struct cairn_diag *d);

/* Validate a relative path from a document: non-empty, not absolute, no
 * empty, "." or ".." components, no NUL/control bytes, at most 255 bytes
 * per component and 1024 in all. 0 or CAIRN_EPATH. */
CAIRN_WUR int cairn_accept_relpath(const char *p, size_t len);

#endif
