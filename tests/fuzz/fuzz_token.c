/*
 * libFuzzer target: site bearer tokens (controller/token.c). Any input is
 * checked under a fixed key; a token that passes must be exactly the one
 * cairn_token_mint makes for its site and expiry (nothing else verifies).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[CAIRN_AUTH_KEY_LEN] = {0};
    char site[CAIRN_SITE_MAX + 1], *again;
    int64_t exp = 0;

    if (cairn_keys_init() != 0)
        abort();
    if (cairn_token_check(key, (const char *)data, size, 0, site, &exp) != 0)
        return 0;
    again = cairn_token_mint(key, site, exp);
    if (strlen(again) != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    return 0;
}
