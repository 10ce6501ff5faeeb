/*
 * TEMPORARY stand-in for pkg/src/hash.c (being written on another branch),
 * only so that the download module links and its tests run on this branch.
 * DELETE THIS FILE when merging with a main that has pkg/src/hash.c.
 */
#include "cairn/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "cairn/mem.h"

struct cairn_sha256 {
    EVP_MD_CTX *ctx;
};

struct cairn_sha256 *cairn_sha256_new(void)
{
    struct cairn_sha256 *h = cairn_xcalloc(1, sizeof(*h));

    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
    return h;
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t n)
{
    if (EVP_DigestUpdate(h->ctx, data, n) != 1)
        abort();
}

void cairn_sha256_final(struct cairn_sha256 *h, uint8_t out[CAIRN_SHA256_LEN])
{
    unsigned int len = 0;

    if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1)
        abort();
}

void cairn_sha256_reset(struct cairn_sha256 *h)
{
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
}

void cairn_sha256_free(struct cairn_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void cairn_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cairn_hex_decode(const char *in, uint8_t *out, size_t n)
{
    size_t i;
    int hi, lo;

    for (i = 0; i < n; i++) {
        hi = nibble(in[2 * i]);
        lo = hi < 0 ? -1 : nibble(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CAIRN_EPARSE;
    }
    if (in[2 * n] != '\0')
        return CAIRN_EPARSE;
    for (i = 0; i < n; i++)
        out[i] = (uint8_t)(nibble(in[2 * i]) << 4 | nibble(in[2 * i + 1]));
    return 0;
}

int cairn_is_sha256_hex(const char *s)
{
    size_t i;

    for (i = 0; i < CAIRN_SHA256_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[i] == '\0';
}

void cairn_sha256(const void *data, size_t n, uint8_t out[CAIRN_SHA256_LEN])
{
    struct cairn_sha256 *h = cairn_sha256_new();

    cairn_sha256_update(h, data, n);
    cairn_sha256_final(h, out);
    cairn_sha256_free(h);
}
