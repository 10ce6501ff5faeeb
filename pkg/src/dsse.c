/*
 * DSSE envelopes (DESIGN.md "Signed documents"): signing, strict parsing,
 * threshold verification. See docs/internals/dsse.md.
 */
#include "cairn/dsse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/json.h"
#include "cairn/mem.h"

#define PAE_PREFIX "DSSEv1"

uint8_t *cairn_dsse_pae(const char *type, const uint8_t *payload, size_t n,
                        size_t *out_len)
{
    char head[128];
    size_t tlen = strlen(type);
    int hlen = snprintf(head, sizeof(head), PAE_PREFIX " %zu ", tlen);
    int mlen = snprintf(NULL, 0, " %zu ", n);
    size_t total = (size_t)hlen + tlen + (size_t)mlen + n;
    uint8_t *out = cairn_xmalloc(total + 1);
    size_t o = 0;

    memcpy(out, head, (size_t)hlen);
    o += (size_t)hlen;
    memcpy(out + o, type, tlen);
    o += tlen;
    snprintf((char *)out + o, (size_t)mlen + 1, " %zu ", n);
    o += (size_t)mlen;
    if (n)
        memcpy(out + o, payload, n);
    out[total] = '\0';
    *out_len = total;
    return out;
}

static void put(struct cairn_buf *b, const char *s, size_t n)
{
    if (cairn_buf_append(b, s, n) != 0)
        abort(); /* an uncapped buffer: only an absurd size fails */
}

static void put_str(struct cairn_buf *b, const char *s)
{
    if (cairn_json_append_string(b, s, strlen(s)) != 0)
        abort();
}

static int distinct_keys(const struct cairn_seckey *const *keys, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[i]->pub.id, keys[j]->pub.id) == 0)
                return 0;
    return 1;
}

/* Everything after the payload's base64: `","payloadType":T,"signatures":
 * [{"keyid":K,"sig":S},...]}`. */
static void envelope_tail(struct cairn_buf *b, const char *type,
                          const uint8_t *pae, size_t pae_len,
                          const struct cairn_seckey *const *keys, size_t nkeys)
{
    uint8_t sig[CAIRN_ED25519_SIG_LEN];
    char b64[CAIRN_ED25519_SIG_LEN / 3 * 4 + 8];

    put(b, "\",\"payloadType\":", 16);
    put_str(b, type);
    put(b, ",\"signatures\":[", 15);
    for (size_t i = 0; i < nkeys; i++) {
        cairn_ed25519_sign(keys[i], pae, pae_len, sig);
        cairn_base64_encode_to(sig, sizeof(sig), b64);
        put(b, i ? ",{\"keyid\":" : "{\"keyid\":", i ? 10 : 9);
        put_str(b, keys[i]->pub.id);
        put(b, ",\"sig\":\"", 8);
        put(b, b64, strlen(b64));
        put(b, "\"}", 2);
    }
    put(b, "]}", 2);
}

/* The envelope is written directly rather than built as a jansson object
 * and rendered: the keys sort as payload < payloadType < signatures and
 * keyid < sig, and base64 needs no escaping, so the bytes are those
 * cairn_json_canonical gives for the same object (the tests compare),
 * without copying and scanning a payload's base64 three more times. */
char *cairn_dsse_sign(const char *type, const uint8_t *payload, size_t n,
                      const struct cairn_seckey *const *keys, size_t nkeys)
{
    json_t *jtype;
    struct cairn_buf tail;
    uint8_t *pae;
    size_t pae_len, b64_len;
    char *out;

    if (!type || nkeys == 0 || nkeys > CAIRN_DSSE_MAX_SIGS ||
        !distinct_keys(keys, nkeys))
        return NULL;
    jtype = json_string(type); /* NULL when type is not UTF-8 */
    if (!jtype)
        return NULL;
    json_decref(jtype);
    pae = cairn_dsse_pae(type, payload, n, &pae_len);
    cairn_buf_init(&tail, 0);
    envelope_tail(&tail, type, pae, pae_len, keys, nkeys);
    free(pae);
    b64_len = cairn_base64_encoded_len(n) - 1;
    out = cairn_xmalloc(12 + b64_len + tail.len + 1);
    memcpy(out, "{\"payload\":\"", 12);
    cairn_base64_encode_to(payload, n, out + 12);
    memcpy(out + 12 + b64_len, tail.data, tail.len + 1);
    cairn_buf_free(&tail);
    return out;
}

void cairn_dsse_free(struct cairn_dsse *env)
{
    if (!env)
        return;
    free(env->payload_type);
    free(env->payload);
    free(env);
}

static int is_keyid(const char *s)
{
    size_t i;

    for (i = 0; i < CAIRN_KEYID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[i] == '\0';
}

/* One element of "signatures": exactly {"keyid": 16 hex, "sig": b64(64)}. */
static int parse_sig(json_t *o, size_t i, struct cairn_dsse_sig *out,
                     struct cairn_diag *d)
{
    json_t *keyid = json_object_get(o, "keyid"),
           *sig = json_object_get(o, "sig");
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signatures[%zu] is not an object", i);
    json_object_foreach(o, k, v) if (
        strcmp(k, "keyid") != 0 &&
        strcmp(k, "sig") !=
            0) return cairn_diag_set(d, CAIRN_EPARSE,
                                     "signatures[%zu]: unknown field '%s'", i,
                                     k);
    if (!json_is_string(keyid) || !is_keyid(json_string_value(keyid)))
        return cairn_diag_set(
            d, CAIRN_EPARSE,
            "signatures[%zu].keyid must be a key id (16 lower-case hex digits)",
            i);
    if (!json_is_string(sig) ||
        cairn_base64_decode(json_string_value(sig), json_string_length(sig),
                            &raw, &raw_len) != 0 ||
        raw_len != CAIRN_ED25519_SIG_LEN) {
        free(raw);
        return cairn_diag_set(
            d, CAIRN_EPARSE,
            "signatures[%zu].sig must be base64 of a 64-byte signature", i);
    }
    memcpy(out->keyid, json_string_value(keyid), CAIRN_KEYID_LEN + 1);
    memcpy(out->sig, raw, CAIRN_ED25519_SIG_LEN);
    free(raw);
    return 0;
}

static int parse_sigs(json_t *arr, struct cairn_dsse *env, struct cairn_diag *d)
{
    size_t n = json_array_size(arr);
    int rc;

    if (!json_is_array(arr) || n == 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signatures must be a non-empty array");
    if (n > CAIRN_DSSE_MAX_SIGS)
        return cairn_diag_set(d, CAIRN_EPARSE, "%zu signatures (at most %d)", n,
                              CAIRN_DSSE_MAX_SIGS);
    for (size_t i = 0; i < n; i++) {
        rc = parse_sig(json_array_get(arr, i), i, &env->sigs[i], d);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(env->sigs[i].keyid, env->sigs[j].keyid) == 0)
                return cairn_diag_set(d, CAIRN_EPARSE,
                                      "signatures[%zu]: duplicate keyid %s", i,
                                      env->sigs[i].keyid);
    }
    env->nsigs = n;
    return 0;
}

/* The three top-level fields, nothing else. */
static int parse_top(json_t *root, const char *expected_type,
                     struct cairn_dsse *env, struct cairn_diag *d)
{
    json_t *type = json_object_get(root, "payloadType"), *payload, *v;
    const char *k;

    if (!json_is_object(root))
        return cairn_diag_set(d, CAIRN_EPARSE, "not a JSON object");
    json_object_foreach(
        root, k, v) if (strcmp(k, "payloadType") != 0 &&
                        strcmp(k, "payload") != 0 &&
                        strcmp(k, "signatures") !=
                            0) return cairn_diag_set(d, CAIRN_EPARSE,
                                                     "unknown field '%s'", k);
    if (!json_is_string(type))
        return cairn_diag_set(d, CAIRN_EPARSE, "payloadType must be a string");
    if (expected_type && strcmp(json_string_value(type), expected_type) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "payloadType is '%s', expected '%s'",
                              json_string_value(type), expected_type);
    payload = json_object_get(root, "payload");
    if (!json_is_string(payload))
        return cairn_diag_set(d, CAIRN_EPARSE, "payload must be a string");
    if (cairn_base64_decode(json_string_value(payload),
                            json_string_length(payload), &env->payload,
                            &env->payload_len) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "payload is not valid base64");
    env->payload_type = cairn_xstrdup(json_string_value(type));
    return parse_sigs(json_object_get(root, "signatures"), env, d);
}

int cairn_dsse_parse(const char *json, size_t len, size_t max_len,
                     const char *expected_type, struct cairn_dsse **out,
                     struct cairn_diag *d)
{
    struct cairn_dsse *env = NULL;
    struct cairn_diag local;
    json_t *root = NULL;
    int rc;

    cairn_diag_init(&local);
    rc = cairn_json_parse(json, len, max_len, &root, &local);
    if (rc == 0) {
        env = cairn_xcalloc(1, sizeof(*env));
        rc = parse_top(root, expected_type, env, &local);
    }
    json_decref(root);
    if (rc) {
        cairn_dsse_free(env);
        return cairn_diag_set(d, rc, "malformed envelope: %s",
                              cairn_diag_msg(&local));
    }
    *out = env;
    return 0;
}

/* "a, b, c" of every keyid in env (or "none"). */
static void signer_list(const struct cairn_dsse *env, char *buf, size_t cap)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < env->nsigs && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "",
                         env->sigs[i].keyid);

        o += w > 0 ? (size_t)w : 0;
    }
    if (env->nsigs == 0)
        snprintf(buf, cap, "none");
}

/* 1 when keyid appeared, verified, earlier in env (distinct-key counting). */
static int counted_before(const struct cairn_dsse *env, size_t i, const int *ok)
{
    for (size_t j = 0; j < i; j++)
        if (ok[j] && strcmp(env->sigs[j].keyid, env->sigs[i].keyid) == 0)
            return 1;
    return 0;
}

int cairn_dsse_verify(const struct cairn_dsse *env,
                      const struct cairn_keyset *trusted, size_t threshold,
                      char signer_out[CAIRN_KEYID_LEN + 1],
                      struct cairn_diag *d)
{
    int ok[CAIRN_DSSE_MAX_SIGS] = {0};
    size_t pae_len, count = 0, first_ok = SIZE_MAX, first_bad = SIZE_MAX,
                    trusted_seen = 0;
    uint8_t *pae;
    char list[CAIRN_DSSE_MAX_SIGS * (CAIRN_KEYID_LEN + 2) + 8];

    if (threshold == 0)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "signature threshold must be at least 1");
    if (env->nsigs > CAIRN_DSSE_MAX_SIGS) /* only a hand-built envelope */
        return cairn_diag_set(d, CAIRN_EINVAL, "more than %d signatures",
                              CAIRN_DSSE_MAX_SIGS);
    pae = cairn_dsse_pae(env->payload_type, env->payload, env->payload_len,
                         &pae_len);
    for (size_t i = 0; i < env->nsigs; i++) {
        const struct cairn_pubkey *k =
            cairn_keyset_find(trusted, env->sigs[i].keyid);

        if (!k)
            continue; /* untrusted signers neither help nor hurt */
        trusted_seen++;
        ok[i] = cairn_ed25519_verify(k, pae, pae_len, env->sigs[i].sig) == 0;
        if (ok[i] && !counted_before(env, i, ok))
            count++;
        if (ok[i] && first_ok == SIZE_MAX)
            first_ok = i;
        if (!ok[i] && first_bad == SIZE_MAX)
            first_bad = i;
    }
    free(pae);
    if (count >= threshold) {
        if (signer_out)
            memcpy(signer_out, env->sigs[first_ok].keyid, CAIRN_KEYID_LEN + 1);
        return 0;
    }
    if (first_bad != SIZE_MAX)
        return cairn_diag_set(d, CAIRN_ESIG, "bad signature by %s",
                              env->sigs[first_bad].keyid);
    signer_list(env, list, sizeof(list));
    if (trusted_seen == 0)
        return cairn_diag_set(d, CAIRN_EKEY,
                              "no signature by a trusted key (signed by: %s)",
                              list);
    return cairn_diag_set(
        d, CAIRN_ESIG,
        "only %zu of %zu required signatures by trusted keys (signed by: %s)",
        count, threshold, list);
}
