/*
 * Ed25519 keys (libsodium): the only module that touches libsodium.
 *
 * Public keys are OpenSSH lines "ssh-ed25519 AAAA... comment". Secret key
 * files are unencrypted OpenSSH private keys ("-----BEGIN OPENSSH PRIVATE
 * KEY-----", the format ssh-keygen writes), so one key can sign both git
 * commits and cairn documents; files whose mode lets group or others read
 * them are refused (CAIRN_EPERM). A key id is the first 16 hex chars of
 * SHA-256 of the raw 32-byte public key.
 */
#ifndef CAIRN_KEYS_H
#define CAIRN_KEYS_H

#include "cairn/diag.h"
#include "cairn/error.h"
#include <stddef.h>
#include <stdint.h>

#define CAIRN_KEYID_LEN 16
#define CAIRN_ED25519_PK_LEN 32
#define CAIRN_ED25519_SK_LEN 64
#define CAIRN_ED25519_SIG_LEN 64

struct cairn_pubkey {
    uint8_t pk[CAIRN_ED25519_PK_LEN];
    char id[CAIRN_KEYID_LEN + 1];
    char comment[128];
};

struct cairn_seckey {
    uint8_t sk[CAIRN_ED25519_SK_LEN]; /* libsodium layout: seed || pk */
    struct cairn_pubkey pub;
};

/* A set of trusted public keys (small; linear lookup). init/free pair;
 * free(NULL) ok. */
struct cairn_keyset {
    struct cairn_pubkey *keys;
    size_t n;
};

/* Must be called once before any other call (sodium_init); idempotent and
 * thread-safe. CAIRN_EIO when the system has no entropy source. */
CAIRN_WUR int cairn_keys_init(void);

/* Key id of a raw public key: 16 lower-case hex chars and a NUL. */
void cairn_keyid(const uint8_t pk[CAIRN_ED25519_PK_LEN],
                 char out[CAIRN_KEYID_LEN + 1]);

/* Parse one OpenSSH public key line (leading/trailing blanks allowed,
 * comment optional, at most 127 bytes without control characters).
 * Only ssh-ed25519: other key types are CAIRN_EKEY, as is a key that is not
 * a valid Ed25519 point; malformed lines are CAIRN_EPARSE. *out is written
 * only on success. */
CAIRN_WUR int cairn_pubkey_parse(const char *line, struct cairn_pubkey *out,
                                 struct cairn_diag *d);
/* "ssh-ed25519 AAAA... comment" without newline (no trailing blank when
 * the comment is empty); fresh string, aborts on OOM. */
char *cairn_pubkey_format(const struct cairn_pubkey *pk);
/* Read a .pub file holding one key line (at most 16 KiB; trailing
 * newlines allowed). CAIRN_ENOENT, CAIRN_EIO, CAIRN_ETOOBIG, or the parse
 * errors above; the diag names "path:1: why". */
CAIRN_WUR int cairn_pubkey_load(const char *path, struct cairn_pubkey *out,
                                struct cairn_diag *d);

/* A fresh random key; comment may be NULL. CAIRN_EINVAL when the comment
 * is over 127 bytes or has control characters. Wipe *out when done. */
CAIRN_WUR int cairn_seckey_generate(const char *comment,
                                    struct cairn_seckey *out);
/* Load an unencrypted OpenSSH ed25519 private key (as written by
 * `ssh-keygen -t ed25519 -N ''`); refuses group/other accessible files
 * (CAIRN_EPERM, the diag says the mode and the chmod fix), encrypted keys,
 * other types and keys whose halves disagree (CAIRN_EKEY), malformed or
 * truncated files (CAIRN_EPARSE), files over 16 KiB (CAIRN_ETOOBIG). Every
 * intermediate copy of the secret is wiped. */
CAIRN_WUR int cairn_seckey_load(const char *path, struct cairn_seckey *out,
                                struct cairn_diag *d);
/* Write the key to path in OpenSSH private format, mode 0600, durably
 * (temp file, fsync, rename, fsync of the directory). Never replaces an
 * existing file: CAIRN_EEXIST (remove it first to replace a key on
 * purpose). CAIRN_EIO / CAIRN_ENOENT (missing directory) otherwise. Needs
 * cairn_keys_init (random check bytes). */
CAIRN_WUR int cairn_seckey_save(const struct cairn_seckey *sk, const char *path,
                                struct cairn_diag *d);
/* Zero the secret bytes; NULL ok. */
void cairn_seckey_wipe(struct cairn_seckey *sk);

/* Detached signature over msg. */
void cairn_ed25519_sign(const struct cairn_seckey *sk, const void *msg,
                        size_t n, uint8_t sig[CAIRN_ED25519_SIG_LEN]);
/* 0 or CAIRN_ESIG. */
CAIRN_WUR int cairn_ed25519_verify(const struct cairn_pubkey *pk,
                                   const void *msg, size_t n,
                                   const uint8_t sig[CAIRN_ED25519_SIG_LEN]);

void cairn_keyset_init(struct cairn_keyset *ks);
void cairn_keyset_free(struct cairn_keyset *ks);
/* Adds a copy; a key already present (same id) is not added twice. */
void cairn_keyset_add(struct cairn_keyset *ks, const struct cairn_pubkey *pk);
const struct cairn_pubkey *cairn_keyset_find(const struct cairn_keyset *ks,
                                             const char *keyid);

/* Sealed boxes to the X25519 form of an Ed25519 key (site secrets).
 * Outputs are fresh buffers (free(); unseal's holds one extra NUL byte past
 * *out_len). seal: CAIRN_EKEY for an unusable public key. unseal: CAIRN_ESIG
 * when the box is too short, was sealed to another key or was altered. */
CAIRN_WUR int cairn_seal(const struct cairn_pubkey *to, const uint8_t *msg,
                         size_t n, uint8_t **out, size_t *out_len);
CAIRN_WUR int cairn_unseal(const struct cairn_seckey *sk, const uint8_t *box,
                           size_t n, uint8_t **out, size_t *out_len);

/* Random bytes (libsodium). */
void cairn_random(void *buf, size_t n);

/* HMAC-SHA-512-256 (crypto_auth) with a 32-byte key, for bearer tokens and
 * webhook checks; verify is constant-time. */
#define CAIRN_AUTH_KEY_LEN 32
#define CAIRN_AUTH_TAG_LEN 32
void cairn_auth(const uint8_t key[CAIRN_AUTH_KEY_LEN], const void *msg,
                size_t n, uint8_t tag[CAIRN_AUTH_TAG_LEN]);
CAIRN_WUR int cairn_auth_verify(const uint8_t key[CAIRN_AUTH_KEY_LEN],
                                const void *msg, size_t n,
                                const uint8_t tag[CAIRN_AUTH_TAG_LEN]);
/* HMAC-SHA-256 (RFC 2104) with a key of any length (keylen 0 ok), for
 * webhook signatures in the X-Hub-Signature-256 style. Any thread. */
#define CAIRN_HMAC_SHA256_LEN 32
void cairn_hmac_sha256(const void *key, size_t keylen, const void *msg,
                       size_t n, uint8_t out[CAIRN_HMAC_SHA256_LEN]);
/* Constant-time comparison: 0 when equal, -1 otherwise. */
int cairn_memeq_ct(const void *a, const void *b, size_t n);

#endif
