/*
 * Ed25519 signatures, key sets, sealed boxes and HMAC through libsodium.
 * The OpenSSH file formats live in sshkey.c. See docs/internals/keys.md.
 */
#include "cairn/keys.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cairn/hash.h"
#include "cairn/mem.h"
#include "keys_internal.h"

_Static_assert(CAIRN_ED25519_PK_LEN == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(CAIRN_ED25519_SK_LEN == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(CAIRN_ED25519_SIG_LEN == crypto_sign_BYTES, "sig size");
_Static_assert(CAIRN_AUTH_KEY_LEN == crypto_auth_KEYBYTES, "auth key size");
_Static_assert(CAIRN_AUTH_TAG_LEN == crypto_auth_BYTES, "auth tag size");

int cairn_keys_init(void)
{
    /* 0: initialised now, 1: already initialised, -1: no entropy source. */
    return sodium_init() < 0 ? CAIRN_EIO : 0;
}

void cairn_keyid(const uint8_t pk[CAIRN_ED25519_PK_LEN],
                 char out[CAIRN_KEYID_LEN + 1])
{
    uint8_t d[CAIRN_SHA256_LEN];

    cairn_sha256(pk, CAIRN_ED25519_PK_LEN, d);
    cairn_hex_encode(d, CAIRN_KEYID_LEN / 2, out);
}

int cairn__ed25519_pk_valid(const uint8_t pk[CAIRN_ED25519_PK_LEN])
{
    return crypto_core_ed25519_is_valid_point(pk) == 1;
}

int cairn__ed25519_sk_consistent(const uint8_t sk[CAIRN_ED25519_SK_LEN])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], tmp[crypto_sign_SECRETKEYBYTES];
    int ok;

    crypto_sign_seed_keypair(pk, tmp, sk);
    ok = sodium_memcmp(pk, sk + crypto_sign_SEEDBYTES, sizeof(pk)) == 0;
    sodium_memzero(tmp, sizeof(tmp));
    return ok;
}

void cairn__wipe(void *p, size_t n)
{
    if (p)
        sodium_memzero(p, n);
}

void cairn__wipe_free(void *p, size_t n)
{
    cairn__wipe(p, n);
    free(p);
}

int cairn_seckey_generate(const char *comment, struct cairn_seckey *out)
{
    struct cairn_seckey k;

    if (!comment)
        comment = "";
    if (cairn__key_comment_check(comment, strlen(comment), NULL) != 0)
        return CAIRN_EINVAL;
    memset(&k, 0, sizeof(k));
    crypto_sign_keypair(k.pub.pk, k.sk);
    cairn_keyid(k.pub.pk, k.pub.id);
    memcpy(k.pub.comment, comment, strlen(comment) + 1);
    *out = k;
    sodium_memzero(&k, sizeof(k));
    return 0;
}

void cairn_seckey_wipe(struct cairn_seckey *sk)
{
    if (sk)
        sodium_memzero(sk->sk, sizeof(sk->sk));
}

void cairn_ed25519_sign(const struct cairn_seckey *sk, const void *msg,
                        size_t n, uint8_t sig[CAIRN_ED25519_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, msg, n, sk->sk);
}

int cairn_ed25519_verify(const struct cairn_pubkey *pk, const void *msg,
                         size_t n, const uint8_t sig[CAIRN_ED25519_SIG_LEN])
{
    return crypto_sign_verify_detached(sig, msg, n, pk->pk) == 0 ? 0
                                                                 : CAIRN_ESIG;
}

void cairn_keyset_init(struct cairn_keyset *ks)
{
    ks->keys = NULL;
    ks->n = 0;
}

void cairn_keyset_free(struct cairn_keyset *ks)
{
    if (!ks)
        return;
    free(ks->keys);
    ks->keys = NULL;
    ks->n = 0;
}

void cairn_keyset_add(struct cairn_keyset *ks, const struct cairn_pubkey *pk)
{
    if (cairn_keyset_find(ks, pk->id))
        return;
    ks->keys = cairn_xrealloc(ks->keys, (ks->n + 1) * sizeof(*ks->keys));
    ks->keys[ks->n++] = *pk;
}

const struct cairn_pubkey *cairn_keyset_find(const struct cairn_keyset *ks,
                                             const char *keyid)
{
    if (!ks || !keyid)
        return NULL;
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->keys[i].id, keyid) == 0)
            return &ks->keys[i];
    return NULL;
}

int cairn_seal(const struct cairn_pubkey *to, const uint8_t *msg, size_t n,
               uint8_t **out, size_t *out_len)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], *box;

    if (n > SIZE_MAX - crypto_box_SEALBYTES)
        return CAIRN_ETOOBIG;
    /* Fails for keys that are not valid Ed25519 points. */
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, to->pk) != 0)
        return CAIRN_EKEY;
    box = cairn_xmalloc(n + crypto_box_SEALBYTES);
    if (crypto_box_seal(box, msg, n, xpk) != 0) {
        free(box);
        return CAIRN_EKEY;
    }
    *out = box;
    *out_len = n + crypto_box_SEALBYTES;
    return 0;
}

int cairn_unseal(const struct cairn_seckey *sk, const uint8_t *box, size_t n,
                 uint8_t **out, size_t *out_len)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    uint8_t *msg = NULL;
    int rc = CAIRN_ESIG;

    if (n < crypto_box_SEALBYTES)
        return CAIRN_ESIG;
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, sk->pub.pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(xsk, sk->sk) != 0) {
        rc = CAIRN_EKEY;
        goto out;
    }
    /* +1 NUL so a sealed text secret can be used as a string. */
    msg = cairn_xmalloc(n - crypto_box_SEALBYTES + 1);
    if (crypto_box_seal_open(msg, box, n, xpk, xsk) != 0)
        goto out;
    msg[n - crypto_box_SEALBYTES] = '\0';
    *out = msg;
    *out_len = n - crypto_box_SEALBYTES;
    msg = NULL;
    rc = 0;
out:
    sodium_memzero(xsk, sizeof(xsk));
    cairn__wipe_free(msg, msg ? n - crypto_box_SEALBYTES + 1 : 0);
    return rc;
}

void cairn_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

void cairn_auth(const uint8_t key[CAIRN_AUTH_KEY_LEN], const void *msg,
                size_t n, uint8_t tag[CAIRN_AUTH_TAG_LEN])
{
    crypto_auth(tag, msg, n, key);
}

int cairn_auth_verify(const uint8_t key[CAIRN_AUTH_KEY_LEN], const void *msg,
                      size_t n, const uint8_t tag[CAIRN_AUTH_TAG_LEN])
{
    return crypto_auth_verify(tag, msg, n, key) == 0 ? 0 : CAIRN_ESIG;
}

void cairn_hmac_sha256(const void *key, size_t keylen, const void *msg,
                       size_t n, uint8_t out[CAIRN_HMAC_SHA256_LEN])
{
    crypto_auth_hmacsha256_state st;

    /* init hashes keys longer than the block size itself, as RFC 2104 says */
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, n);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

int cairn_memeq_ct(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0 ? 0 : -1;
}
