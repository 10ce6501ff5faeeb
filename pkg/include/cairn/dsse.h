/*
 * DSSE envelopes (DESIGN.md "Signed documents"):
 *   {"payloadType": T, "payload": b64(bytes),
 *    "signatures": [{"keyid": K, "sig": b64(ed25519(PAE(T, bytes)))}]}
 *   PAE = "DSSEv1" SP len(T) SP T SP len(bytes) SP bytes
 * Parsing is strict and capped; verification needs `threshold` signatures by
 * distinct trusted key ids.
 */
#ifndef CAIRN_DSSE_H
#define CAIRN_DSSE_H

#include <stddef.h>
#include <stdint.h>
#include "cairn/diag.h"
#include "cairn/keys.h"

#define CAIRN_DSSE_DESIRED "application/vnd.cairn.desired+json"
#define CAIRN_DSSE_INTOTO "application/vnd.in-toto+json"
#define CAIRN_DSSE_REPORT "application/vnd.cairn.report+json"

#define CAIRN_DSSE_MAX_SIGS 16

struct cairn_dsse_sig {
    char keyid[CAIRN_KEYID_LEN + 1];
    uint8_t sig[CAIRN_ED25519_SIG_LEN];
};

struct cairn_dsse {
    char *payload_type;
    uint8_t *payload; /* decoded bytes, NUL-terminated for convenience */
    size_t payload_len;
    struct cairn_dsse_sig sigs[CAIRN_DSSE_MAX_SIGS];
    size_t nsigs;
};

/* PAE bytes into a fresh buffer. */
uint8_t *cairn_dsse_pae(const char *type, const uint8_t *payload, size_t n,
                        size_t *out_len);

/* Sign payload with one or more keys; returns the envelope as compact JSON
 * with sorted keys (fresh string). */
char *cairn_dsse_sign(const char *type, const uint8_t *payload, size_t n,
                      const struct cairn_seckey *const *keys, size_t nkeys);

/* Parse an envelope of at most max_len bytes. expected_type (may be NULL)
 * must equal payloadType. Errors: CAIRN_ETOOBIG, CAIRN_EPARSE (bad JSON,
 * missing or extra fields, bad base64, duplicate keyids, wrong type). */
CAIRN_WUR int cairn_dsse_parse(const char *json, size_t len, size_t max_len,
                               const char *expected_type, struct cairn_dsse **out,
                               struct cairn_diag *d);
void cairn_dsse_free(struct cairn_dsse *env);

/* 0 when at least `threshold` signatures by distinct keys of `trusted`
 * verify over PAE; CAIRN_ESIG / CAIRN_EKEY otherwise (diag says which).
 * signer_out (may be NULL) receives the id of the first verified key. */
CAIRN_WUR int cairn_dsse_verify(const struct cairn_dsse *env,
                                const struct cairn_keyset *trusted, size_t threshold,
                                char signer_out[CAIRN_KEYID_LEN + 1],
                                struct cairn_diag *d);

#endif
