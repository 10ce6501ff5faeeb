/*
 * libFuzzer target: the DSSE envelope parser, then verification against a
 * fixed key set (RFC 8032 TEST 1 and TEST 2 keys, which signed the valid
 * envelopes in corpus/dsse/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cairn_keyset *keyset(void)
{
    static const char *const pks[] = {
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    };
    static struct cairn_keyset ks;
    static int ready;

    if (ready)
        return &ks;
    if (cairn_keys_init() != 0)
        abort();
    cairn_keyset_init(&ks);
    for (size_t i = 0; i < 2; i++) {
        struct cairn_pubkey pk;

        memset(&pk, 0, sizeof(pk));
        if (cairn_hex_decode(pks[i], pk.pk, sizeof(pk.pk)) != 0)
            abort();
        cairn_keyid(pk.pk, pk.id);
        cairn_keyset_add(&ks, &pk);
    }
    ready = 1;
    return &ks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct cairn_keyset *ks = keyset();
    struct cairn_dsse *env = NULL;
    struct cairn_diag d;
    char signer[CAIRN_KEYID_LEN + 1];

    cairn_diag_init(&d);
    if (cairn_dsse_parse((const char *)data, size, 1 << 16, NULL, &env, &d) !=
        0)
        return 0;
    if (cairn_dsse_verify(env, ks, 1, signer, &d) == 0 &&
        !cairn_keyset_find(ks, signer))
        abort(); /* a verified signer must be a trusted key */
    cairn_diag_init(&d);
    if (cairn_dsse_verify(env, ks, 2, NULL, &d) == 0 && env->nsigs < 2)
        abort(); /* two distinct signers need two signatures */
    cairn_dsse_free(env);
    return 0;
}
