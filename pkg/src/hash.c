/*
 * Hashing through OpenSSL's EVP interface: it picks the SHA-NI / AVX2 code
 * paths at run time, which is what makes verifying multi-GiB model
 * artifacts cheap on edge hardware. See docs/internals/hash.md.
 */
#include "cairn/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cairn/mem.h"

/* Large reads keep the syscall count low; 1 MiB fits in L2 on most parts
 * and is well past the point where larger buffers stop helping. */
#define FILE_BUF_SIZE (1u << 20)

struct cairn_sha256 {
    EVP_MD_CTX *ctx;
};

/* EVP_DigestInit can fail only when the provider cannot allocate or
 * SHA-256 is unavailable (a broken OpenSSL install): neither is an input
 * error a caller could handle, so treat it like OOM. */
static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "cairn: OpenSSL %s failed\n", what);
        abort();
    }
}

struct cairn_sha256 *cairn_sha256_new(void)
{
    struct cairn_sha256 *h = cairn_xmalloc(sizeof(*h));

    h->ctx = EVP_MD_CTX_new();
    must(h->ctx != NULL, "EVP_MD_CTX_new");
    must(EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL), "EVP_DigestInit_ex");
    return h;
}

void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t n)
{
    if (n)
        must(EVP_DigestUpdate(h->ctx, data, n), "EVP_DigestUpdate");
}

void cairn_sha256_final(struct cairn_sha256 *h, uint8_t out[CAIRN_SHA256_LEN])
{
    unsigned int len = 0;

    must(EVP_DigestFinal_ex(h->ctx, out, &len), "EVP_DigestFinal_ex");
    must(len == CAIRN_SHA256_LEN, "SHA-256 length");
}

void cairn_sha256_reset(struct cairn_sha256 *h)
{
    must(EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL), "EVP_DigestInit_ex");
}

void cairn_sha256_free(struct cairn_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void cairn_sha256(const void *data, size_t n, uint8_t out[CAIRN_SHA256_LEN])
{
    unsigned int len = 0;

    must(EVP_Digest(data, n, out, &len, EVP_sha256(), NULL), "EVP_Digest");
}

void cairn_sha512(const void *data, size_t n, uint8_t out[CAIRN_SHA512_LEN])
{
    unsigned int len = 0;

    must(EVP_Digest(data, n, out, &len, EVP_sha512(), NULL), "EVP_Digest");
}

void cairn_hmac_sha1(const void *key, size_t keylen, const void *data, size_t n,
                     uint8_t out[CAIRN_SHA1_LEN])
{
    unsigned int len = 0;

    must(keylen <= INT32_MAX, "HMAC key length");
    must(HMAC(EVP_sha1(), key, (int)keylen, data, n, out, &len) != NULL,
         "HMAC");
}

/* Read fd to the end into h; 0 or CAIRN_EIO. */
static int hash_fd(int fd, struct cairn_sha256 *h, uint64_t *total)
{
    uint8_t *buf = cairn_xmalloc(FILE_BUF_SIZE);
    uint64_t n = 0;
    int rc = 0;

    for (;;) {
        ssize_t got = read(fd, buf, FILE_BUF_SIZE);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = CAIRN_EIO;
            break;
        }
        if (got == 0)
            break;
        cairn_sha256_update(h, buf, (size_t)got);
        n += (uint64_t)got;
    }
    free(buf);
    if (rc == 0)
        *total = n;
    return rc;
}

int cairn_sha256_file(const char *path, uint8_t out[CAIRN_SHA256_LEN],
                      uint64_t *size_out)
{
    struct cairn_sha256 *h = NULL;
    struct stat st;
    uint64_t total = 0;
    int fd, rc;

    /* O_NONBLOCK so that a FIFO at path cannot block the open; it has no
     * effect on regular files, the only kind read below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO;
    /* Reading a directory or a FIFO would fail late or block: refuse. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = CAIRN_EIO;
        goto out;
    }
    /* A hint only: doubles the kernel's read-ahead window. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    h = cairn_sha256_new();
    rc = hash_fd(fd, h, &total);
    if (rc == 0) {
        cairn_sha256_final(h, out);
        if (size_out)
            *size_out = total;
    }
out:
    cairn_sha256_free(h);
    close(fd);
    return rc;
}

void cairn_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
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
    /* Validate everything first: out is written only on success. */
    if (strnlen(in, 2 * n + 1) != 2 * n)
        return CAIRN_EPARSE;
    for (size_t i = 0; i < 2 * n; i++)
        if (hex_value(in[i]) < 0)
            return CAIRN_EPARSE;
    for (size_t i = 0; i < n; i++)
        out[i] =
            (uint8_t)(hex_value(in[2 * i]) << 4 | hex_value(in[2 * i + 1]));
    return 0;
}

int cairn_is_sha256_hex(const char *s)
{
    size_t i;

    if (!s)
        return 0;
    for (i = 0; i < CAIRN_SHA256_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[i] == '\0';
}

void cairn_crypto_skip_error_strings(void)
{
    (void)OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
}
