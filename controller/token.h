/*
 * Bearer tokens for sites (docs/protocol.md "Sessions"):
 *
 *   v1.<site>.<expiry unix>.<tag>   tag = base64url (no padding) of
 *                                   crypto_auth (HMAC-SHA-512-256) under
 *                                   the controller's token key over
 *                                   "v1.<site>.<expiry>"
 *
 * Checking one costs one HMAC and no look-up, so every agent request can
 * carry one. Pure computation: any thread.
 */
#ifndef CAIRN_TOKEN_H
#define CAIRN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"
#include "cairn/keys.h"

#define CAIRN_TOKEN_MAX 160 /* longest token accepted (a 63-char site fits) */
#define CAIRN_SITE_MAX 63   /* site names are DNS labels */

/* A token for site valid until expiry; fresh string (free()). site must
 * be a DNS label (checked by the caller). */
char *cairn_token_mint(const uint8_t key[CAIRN_AUTH_KEY_LEN], const char *site,
                       int64_t expiry);

/*
 * Check the len bytes of token at time now. On success the token's site
 * goes to site_out (NUL-terminated) and its expiry to *expiry (may be
 * NULL). CAIRN_EPARSE (not a v1 token), CAIRN_ESIG (the tag does not
 * verify: forged, or minted under another key), CAIRN_EEXPIRED (valid tag,
 * expiry passed). The tag is compared in constant time.
 */
CAIRN_WUR int cairn_token_check(const uint8_t key[CAIRN_AUTH_KEY_LEN],
                                const char *token, size_t len, int64_t now,
                                char site_out[CAIRN_SITE_MAX + 1],
                                int64_t *expiry);

/* 1 when s is a DNS label (1-63 of a-z 0-9 -, no leading/trailing '-'). */
int cairn_site_name_ok(const char *s);

#endif
