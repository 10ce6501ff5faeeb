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

#include <stddef.h>
#include <stdint.h>
#include "cairn/diag.h"
#include "cairn/error.h"

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

/* A set of trusted public keys (small; linear lookup). */
struct cairn_keyset {
    struct cairn_pubkey *keys;
    size_t n;
};

/* Must be called once before any other call (sodium_init); idempotent. */
CAIRN_WUR int cairn_keys_init(void);

void cairn_keyid(const uint8_t pk[CAIRN_ED25519_PK_LEN], char out[CAIRN_KEYID_LEN + 1]);

/* Parse one OpenSSH public key line (leading/trailing blanks allowed,
 * comment optional). Only ssh-ed25519. CAIRN_EPARSE / CAIRN_EKEY. */
CAIRN_WUR int cairn_pubkey_parse(const char *line, struct cairn_pubkey *out,
                                 struct cairn_diag *d);
/* "ssh-ed25519 AAAA... comment" without newline; fresh string. */
char *cairn_pubkey_format(const struct cairn_pubkey *pk);
/* Read a .pub file holding one key line. */
CAIRN_WUR int cairn_pubkey_load(const char *path, struct cairn_pubkey *out,
                                struct cairn_diag *d);

CAIRN_WUR int cairn_seckey_generate(const char *comment, struct cairn_seckey *out);
/* Load an unencrypted OpenSSH ed25519 private key; refuses group/other
 * readable files (CAIRN_EPERM), encrypted keys and other types (CAIRN_EKEY). */
CAIRN_WUR int cairn_seckey_load(const char *path, struct cairn_seckey *out,
                                struct cairn_diag *d);
/* Write PREFIX-style files: path (0600, durable) in OpenSSH private format. */
CAIRN_WUR int cairn_seckey_save(const struct cairn_seckey *sk, const char *path,
                                struct cairn_diag *d);
/* Zero the secret bytes. */
void cairn_seckey_wipe(struct cairn_seckey *sk);

void cairn_ed25519_sign(const struct cairn_seckey *sk, const void *msg, size_t n,
                        uint8_t sig[CAIRN_ED25519_SIG_LEN]);
/* 0 or CAIRN_ESIG. */
CAIRN_WUR int cairn_ed25519_verify(const struct cairn_pubkey *pk, const void *msg,
                                   size_t n, const uint8_t sig[CAIRN_ED25519_SIG_LEN]);

void cairn_keyset_init(struct cairn_keyset *ks);
void cairn_keyset_free(struct cairn_keyset *ks);
/* Adds a copy; a key already present (same id) is not added twice. */
void cairn_keyset_add(struct cairn_keyset *ks, const struct cairn_pubkey *pk);
const struct cairn_pubkey *cairn_keyset_find(const struct cairn_keyset *ks,
                                             const char *keyid);

/* Sealed boxes to the X25519 form of an Ed25519 key (site secrets).
 * Outputs are fresh buffers (free()). CAIRN_EKEY / CAIRN_ESIG on failure. */
CAIRN_WUR int cairn_seal(const struct cairn_pubkey *to, const uint8_t *msg, size_t n,
                         uint8_t **out, size_t *out_len);
CAIRN_WUR int cairn_unseal(const struct cairn_seckey *sk, const uint8_t *box, size_t n,
                           uint8_t **out, size_t *out_len);

/* Random bytes (libsodium). */
void cairn_random(void *buf, size_t n);

/* HMAC-SHA-512-256 (crypto_auth) with a 32-byte key, for bearer tokens and
 * webhook checks; verify is constant-time. */
#define CAIRN_AUTH_KEY_LEN 32
#define CAIRN_AUTH_TAG_LEN 32
void cairn_auth(const uint8_t key[CAIRN_AUTH_KEY_LEN], const void *msg, size_t n,
                uint8_t tag[CAIRN_AUTH_TAG_LEN]);
CAIRN_WUR int cairn_auth_verify(const uint8_t key[CAIRN_AUTH_KEY_LEN], const void *msg,
                                size_t n, const uint8_t tag[CAIRN_AUTH_TAG_LEN]);
/* Constant-time comparison: 0 when equal. */
int cairn_memeq_ct(const void *a, const void *b, size_t n);

#endif
