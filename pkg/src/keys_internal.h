/*
 * Shared between keys.c (libsodium) and sshkey.c (OpenSSH file formats);
 * not part of libcairn's public API.
 */
#ifndef CAIRN_KEYS_INTERNAL_H
#define CAIRN_KEYS_INTERNAL_H

#include "cairn/diag.h"
#include "cairn/keys.h"
#include <stddef.h>
#include <stdint.h>

/* 1 when pk is a canonical Ed25519 point of the main subgroup (what every
 * honestly generated key is); 0 for small-order and malformed keys. */
int cairn__ed25519_pk_valid(const uint8_t pk[CAIRN_ED25519_PK_LEN]);
/* 1 when the seed half of sk derives the public half of sk. */
int cairn__ed25519_sk_consistent(const uint8_t sk[CAIRN_ED25519_SK_LEN]);
/* Zero memory in a way the compiler cannot drop (sodium_memzero). */
void cairn__wipe(void *p, size_t n);
/* wipe then free; NULL ok. */
void cairn__wipe_free(void *p, size_t n);

/* Reading SSH wire data (RFC 4251: uint32 big-endian, string = uint32
 * length + bytes) with every read checked against what is left; shared by
 * the key file (sshkey.c) and signature (sshsig.c) parsers. */
struct cairn__rd {
    const uint8_t *p;
    size_t n; /* bytes left */
};
/* 0, or -1 (nothing consumed) when fewer bytes are left than needed. */
int cairn__rd_u32(struct cairn__rd *r, uint32_t *v);
/* *s points into the input. */
int cairn__rd_string(struct cairn__rd *r, const uint8_t **s, size_t *len);
/* 1 when the len bytes at s are exactly the string want. */
int cairn__str_is(const uint8_t *s, size_t len, const char *want);

/* A key comment cairn accepts: at most sizeof(pub.comment)-1 bytes, no
 * control characters (a comment is printed into .pub lines and terminals).
 * 0 or CAIRN_EINVAL with the reason in d. */
int cairn__key_comment_check(const char *c, size_t n, struct cairn_diag *d);

#endif
