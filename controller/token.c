/* Site bearer tokens (token.h). */
#include "token.h"

#include <stdio.h>
#include <string.h>

#include "cairn/mem.h"

#define TAG_B64_LEN 43 /* 32 bytes in unpadded base64url */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 32 bytes -> 43 chars and a NUL. */
static void tag_encode(const uint8_t in[CAIRN_AUTH_TAG_LEN],
                       char out[TAG_B64_LEN + 1])
{
    size_t o = 0, i = 0;

    for (; i + 3 <= CAIRN_AUTH_TAG_LEN; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    /* 32 = 30 + 2: the last two bytes give three chars */
    {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    out[o] = '\0';
}

int cairn_site_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CAIRN_SITE_MAX || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

char *cairn_token_mint(const uint8_t key[CAIRN_AUTH_KEY_LEN], const char *site,
                       int64_t expiry)
{
    uint8_t tag[CAIRN_AUTH_TAG_LEN];
    char msg[CAIRN_TOKEN_MAX], enc[TAG_B64_LEN + 1];
    int n = snprintf(msg, sizeof(msg), "v1.%s.%lld", site, (long long)expiry);

    cairn_auth(key, msg, (size_t)n, tag);
    tag_encode(tag, enc);
    return cairn_xasprintf("%s.%s", msg, enc);
}

/* Split "v1.<site>.<expiry>.<tag>": *msg_len covers "v1.<site>.<expiry>". */
static int split(const char *t, size_t len, char site[CAIRN_SITE_MAX + 1],
                 int64_t *expiry, size_t *msg_len)
{
    const char *s = t + 3, *dot, *end = t + len;
    int64_t e = 0;
    size_t n;

    if (len > CAIRN_TOKEN_MAX || len < 3 || memcmp(t, "v1.", 3) != 0)
        return CAIRN_EPARSE;
    dot = memchr(s, '.', (size_t)(end - s));
    if (!dot || (n = (size_t)(dot - s)) == 0 || n > CAIRN_SITE_MAX)
        return CAIRN_EPARSE;
    memcpy(site, s, n);
    site[n] = '\0';
    if (!cairn_site_name_ok(site))
        return CAIRN_EPARSE;
    for (s = dot + 1; s < end && *s >= '0' && *s <= '9' && s - dot <= 12; s++)
        e = e * 10 + (*s - '0');
    if (s == dot + 1 || s >= end || *s != '.' ||
        (size_t)(end - s - 1) != TAG_B64_LEN)
        return CAIRN_EPARSE;
    *expiry = e;
    *msg_len = (size_t)(s - t);
    return 0;
}

int cairn_token_check(const uint8_t key[CAIRN_AUTH_KEY_LEN], const char *token,
                      size_t len, int64_t now,
                      char site_out[CAIRN_SITE_MAX + 1], int64_t *expiry)
{
    char site[CAIRN_SITE_MAX + 1], want[TAG_B64_LEN + 1];
    uint8_t tag[CAIRN_AUTH_TAG_LEN];
    size_t msg_len;
    int64_t e;
    int rc = split(token, len, site, &e, &msg_len);

    if (rc)
        return rc;
    cairn_auth(key, token, msg_len, tag);
    tag_encode(tag, want);
    if (cairn_memeq_ct(want, token + msg_len + 1, TAG_B64_LEN) != 0)
        return CAIRN_ESIG;
    if (e <= now)
        return CAIRN_EEXPIRED;
    memcpy(site_out, site, strlen(site) + 1);
    if (expiry)
        *expiry = e;
    return 0;
}
