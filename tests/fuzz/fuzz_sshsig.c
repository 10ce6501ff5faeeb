/*
 * Fuzz target for the SSHSIG parser and the allowed_signers parser: input
 * that starts with "-----" (like armor) goes to the signature parser and
 * verifier, anything else to the allowed_signers parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cairn/sshsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_sshsig_result res;
    struct cairn_sshsig sig;

    if (size >= 5 && memcmp(data, "-----", 5) == 0) {
        if (cairn_sshsig_parse(text, size, &sig, NULL) == 0 &&
            cairn_sshsig_check(&sig, sig.ns, data, size, NULL) == 0)
            return 0; /* a signature over itself: never expected */
        cairn_sshsig_verify(NULL, text, size, data, size, "git", 0, &res);
        return 0;
    }
    if (cairn_sshsig_signers_parse(text, size, "fuzz", &s, NULL) == 0) {
        for (size_t i = 0; i < s->n; i++) {
            cairn_sshsig_pattern_match(s->v[i].principals, "a@example.com");
            cairn_sshsig_pattern_match(s->v[i].namespaces, "git");
        }
        cairn_sshsig_signers_free(s);
    }
    return 0;
}
