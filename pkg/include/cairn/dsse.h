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

#include "cairn/diag.h"
#include "cairn/keys.h"
#include <stddef.h>
#include <stdint.h>

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

/* PAE bytes into a fresh buffer (free(); NUL-terminated past *out_len).
 * type is a NUL-terminated string; payload may be NULL when n is 0. */
uint8_t *cairn_dsse_pae(const char *type, const uint8_t *payload, size_t n,
                        size_t *out_len);

/* Sign payload with one or more keys (one signature each, in order);
 * returns the envelope as canonical JSON (cairn/json.h; fresh string).
 * NULL when nkeys is 0 or over CAIRN_DSSE_MAX_SIGS, two keys share a key id,
 * or type is not valid UTF-8. Aborts on OOM. */
char *cairn_dsse_sign(const char *type, const uint8_t *payload, size_t n,
                      const struct cairn_seckey *const *keys, size_t nkeys);

/* Parse an envelope of at most max_len bytes (len > max_len: CAIRN_ETOOBIG
 * before parsing). expected_type (may be NULL) must equal payloadType.
 * Strict: exactly the fields payloadType (string), payload (canonical
 * base64), signatures (1..CAIRN_DSSE_MAX_SIGS objects of exactly keyid = a
 * cairn key id and sig = base64 of 64 bytes, keyids distinct); anything
 * else, bad JSON (duplicate keys, NUL) or a wrong type is CAIRN_EPARSE with
 * "malformed envelope: why". No signature is checked here. *out (free with
 * cairn_dsse_free) is written only on success. */
CAIRN_WUR int cairn_dsse_parse(const char *json, size_t len, size_t max_len,
                               const char *expected_type,
                               struct cairn_dsse **out, struct cairn_diag *d);
void cairn_dsse_free(struct cairn_dsse *env);

/* 0 when at least `threshold` (>= 1) signatures by distinct keys of
 * `trusted` verify over PAE. Signatures by key ids not in `trusted` are
 * skipped. Otherwise: CAIRN_ESIG "bad signature by <id>" when a trusted
 * key's signature fails; CAIRN_EKEY "no signature by a trusted key (signed
 * by: <ids>)" when no trusted key signed; CAIRN_ESIG "only N of M required
 * signatures ..." when too few did; CAIRN_EINVAL for threshold 0.
 * signer_out (may be NULL) receives the id of the first verified key. */
CAIRN_WUR int cairn_dsse_verify(const struct cairn_dsse *env,
                                const struct cairn_keyset *trusted,
                                size_t threshold,
                                char signer_out[CAIRN_KEYID_LEN + 1],
                                struct cairn_diag *d);

#endif
