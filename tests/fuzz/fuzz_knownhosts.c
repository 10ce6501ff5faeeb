/*
 * libFuzzer target: the known_hosts parser, then a check of one fixed
 * ed25519 key (the one in corpus/knownhosts/) for a few host names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/knownhosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEY                                                                    \
    "AAAAC3NzaC1lZDI1NTE5AAAAINCjpKQsPpiHNlfXkJWh5IPHTLSCr/OJ219SQg/fXXOC"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const hosts[] = {"127.0.0.1", "git.example.org", ""};
    struct cairn_knownhosts *kh = NULL;
    struct cairn_diag d;
    uint8_t *key = NULL;
    size_t n = 0;

    cairn_diag_init(&d);
    if (cairn_knownhosts_parse((const char *)data, size, "f", &kh, &d) != 0)
        return 0;
    if (cairn_base64_decode(KEY, strlen(KEY), &key, &n) != 0)
        abort();
    for (size_t i = 0; i < 3; i++) {
        int rc = cairn_knownhosts_check(kh, hosts[i], i == 0 ? 2222 : 22, key,
                                        n, &d);

        if (rc != 0 && rc != CAIRN_EKEY && rc != CAIRN_EPOLICY)
            abort();
        cairn_diag_init(&d);
    }
    free(key);
    cairn_knownhosts_free(kh);
    return 0;
}
