/*
 * Hashing: streaming SHA-256 through OpenSSL's EVP (SHA-NI where the CPU has
 * it), one-shot SHA-512, and hex helpers. The only module that touches
 * libcrypto.
 */
#ifndef CAIRN_HASH_H
#define CAIRN_HASH_H

#include "cairn/error.h"
#include <stddef.h>
#include <stdint.h>

#define CAIRN_SHA256_LEN 32
#define CAIRN_SHA256_HEX_LEN 64
#define CAIRN_SHA512_LEN 64
#define CAIRN_SHA1_LEN 20

struct cairn_sha256; /* opaque streaming context */

/* Start a stream; aborts on OOM. Free with cairn_sha256_free (NULL ok). */
struct cairn_sha256 *cairn_sha256_new(void);
void cairn_sha256_update(struct cairn_sha256 *h, const void *data, size_t n);
/* Finish into out; the context may then be reset and reused. */
void cairn_sha256_final(struct cairn_sha256 *h, uint8_t out[CAIRN_SHA256_LEN]);
void cairn_sha256_reset(struct cairn_sha256 *h);
void cairn_sha256_free(struct cairn_sha256 *h);

void cairn_sha256(const void *data, size_t n, uint8_t out[CAIRN_SHA256_LEN]);
void cairn_sha512(const void *data, size_t n, uint8_t out[CAIRN_SHA512_LEN]);
/* HMAC-SHA1, for OpenSSH's hashed known_hosts names (|1|salt|hash) only:
 * that format fixes the algorithm. Not for anything cairn designs itself. */
void cairn_hmac_sha1(const void *key, size_t keylen, const void *data, size_t n,
                     uint8_t out[CAIRN_SHA1_LEN]);

/* SHA-256 of a whole file, streamed; returns 0, CAIRN_EIO or CAIRN_ENOENT.
 * size_out (may be NULL) receives the byte count. */
CAIRN_WUR int cairn_sha256_file(const char *path, uint8_t out[CAIRN_SHA256_LEN],
                                uint64_t *size_out);

/* Lower-case hex; out must hold 2*n+1 bytes. */
void cairn_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2*n hex digits (either case) into n bytes; CAIRN_EPARSE else. */
CAIRN_WUR int cairn_hex_decode(const char *in, uint8_t *out, size_t n);
/* True when s is exactly 64 lower-case hex digits (a sha256 as cairn writes
 * it). */
int cairn_is_sha256_hex(const char *s);

/* Ask libcrypto not to load its error strings (about 0.3 MiB resident in
 * every process that does): only for a program's very first call, before
 * any library initialises OpenSSL (libcurl would load them). Errors from
 * libcrypto then print by number; libssl's and X.509 verification texts
 * are separate and stay. */
void cairn_crypto_skip_error_strings(void);

#endif
