/*
 * Base64 (RFC 4648, standard alphabet, padded) written here: strict on
 * decode (no whitespace, correct padding, no trailing bits), since every
 * base64 cairn reads comes from outside.
 */
#ifndef CAIRN_ENCODING_H
#define CAIRN_ENCODING_H

#include "cairn/error.h"
#include <stddef.h>
#include <stdint.h>

/* Encoded length including the NUL. */
size_t cairn_base64_encoded_len(size_t n);
/* Returns a fresh NUL-terminated string; aborts on OOM. */
char *cairn_base64_encode(const uint8_t *in, size_t n);
/* The same text into out, which has room for cairn_base64_encoded_len(n)
 * bytes (the NUL included): for writers that place it inside a larger
 * buffer without a copy. */
void cairn_base64_encode_to(const uint8_t *in, size_t n, char *out);
/* Decode len chars of in into a fresh buffer (*out, free()) of *out_len
 * bytes. CAIRN_EPARSE on any deviation from canonical padded base64. */
CAIRN_WUR int cairn_base64_decode(const char *in, size_t len, uint8_t **out,
                                  size_t *out_len);

#endif
