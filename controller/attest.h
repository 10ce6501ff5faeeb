/*
 * Model attestations (docs/formats.md "Model attestation"): each Model
 * file names a DSSE envelope holding an in-toto Statement v1 with
 * predicateType cairn.dev/model/v1. The controller accepts a commit only
 * when every model's attestation is signed by a key of fleet.yaml
 * policy.trustedPublishers and states this model's digest and size; the
 * agent checks the same envelope again against its pinned keys.
 */
#ifndef CAIRN_ATTEST_H
#define CAIRN_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/keys.h"
#include "errlist.h"
#include "fleet.h"

#define CAIRN_INTOTO_STATEMENT "https://in-toto.io/Statement/v1"
#define CAIRN_MODEL_PREDICATE "cairn.dev/model/v1"

/* What a model attestation states. */
struct cairn_model_claim {
    char name[64];                    /* predicate.name ("" if absent) */
    char version[80];                 /* predicate.version ("" if absent) */
    char sha256[65];                  /* the subject's digest */
    int64_t size;                     /* predicate.size */
    char signer[CAIRN_KEYID_LEN + 1]; /* key id that verified */
};

/*
 * Verify an envelope (len bytes of JSON) against trusted and read its
 * statement. CAIRN_EPARSE (not a DSSE envelope / statement of the right
 * type), CAIRN_ESIG / CAIRN_EKEY (no trusted signature), with a message in
 * d. *out is written only on success.
 */
CAIRN_WUR int cairn_attest_verify(const char *json, size_t len,
                                  const struct cairn_keyset *trusted,
                                  struct cairn_model_claim *out,
                                  struct cairn_diag *d);

/*
 * Verify every model of f (each attestation against f->trusted, then its
 * claim against the Model file). Problems go to errs, located at the
 * Model file; returns the first one's code or 0. On success each model's
 * signer is set.
 */
CAIRN_WUR int cairn_attest_fleet(struct cairn_fleet *f,
                                 struct cairn_errlist *errs);

#endif
