/*
 * Strict base64 (RFC 4648 section 4). Every base64 string cairn decodes
 * comes from outside (DSSE envelopes, key files, sealed secrets), so only
 * the one canonical encoding of each byte string is accepted: this keeps
 * "same bytes, same text" true for everything cairn signs or compares.
 * See docs/internals/encoding.md.
 */
#include "cairn/encoding.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cairn_base64_encoded_len(size_t n)
{
    /* Callers pass in-memory sizes, so this overflows only for inputs over
     * 3/4 of the address space: treat like OOM. */
    if (n / 3 >= (SIZE_MAX - 8) / 4)
        abort();
    return (n + 2) / 3 * 4 + 1;
}

char *cairn_base64_encode(const uint8_t *in, size_t n)
{
    char *out = cairn_xmalloc(cairn_base64_encoded_len(n));

    cairn_base64_encode_to(in, n, out);
    return out;
}

void cairn_base64_encode_to(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;

    for (; n - i >= 3; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        out[o++] = alphabet[in[i] >> 2];
        out[o++] = alphabet[(in[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

        out[o++] = alphabet[v >> 10];
        out[o++] = alphabet[(v >> 4) & 63];
        out[o++] = alphabet[(v & 15) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* Value of one alphabet character, -1 for anything else (incl. '='). */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode the final quad, which may carry one or two '='. Returns the number
 * of bytes produced (1..3) or -1. Padding bits must be zero: otherwise
 * several strings would decode to the same bytes. */
static int decode_last(const char *q, uint8_t *out)
{
    int a = b64_value((unsigned char)q[0]), b = b64_value((unsigned char)q[1]);
    int c = b64_value((unsigned char)q[2]), e = b64_value((unsigned char)q[3]);

    if (a < 0 || b < 0)
        return -1;
    if (q[2] == '=' && q[3] == '=') {
        if (b & 15)
            return -1;
        out[0] = (uint8_t)(a << 2 | b >> 4);
        return 1;
    }
    if (c < 0)
        return -1;
    if (q[3] == '=') {
        if (c & 3)
            return -1;
        out[0] = (uint8_t)(a << 2 | b >> 4);
        out[1] = (uint8_t)((b & 15) << 4 | c >> 2);
        return 2;
    }
    if (e < 0)
        return -1;
    out[0] = (uint8_t)(a << 2 | b >> 4);
    out[1] = (uint8_t)((b & 15) << 4 | c >> 2);
    out[2] = (uint8_t)((c & 3) << 6 | e);
    return 3;
}

int cairn_base64_decode(const char *in, size_t len, uint8_t **out,
                        size_t *out_len)
{
    uint8_t *buf;
    size_t o = 0;
    int last;

    if (len % 4 != 0)
        return CAIRN_EPARSE;
    /* +1: a NUL after the bytes, so text payloads can be used as strings. */
    buf = cairn_xmalloc(len / 4 * 3 + 1);
    for (size_t i = 0; i + 4 < len; i += 4) {
        int a = b64_value((unsigned char)in[i]),
            b = b64_value((unsigned char)in[i + 1]);
        int c = b64_value((unsigned char)in[i + 2]),
            e = b64_value((unsigned char)in[i + 3]);

        if ((a | b | c | e) < 0)
            goto bad;
        buf[o++] = (uint8_t)(a << 2 | b >> 4);
        buf[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
        buf[o++] = (uint8_t)((c & 3) << 6 | e);
    }
    if (len > 0) {
        last = decode_last(in + len - 4, buf + o);
        if (last < 0)
            goto bad;
        o += (size_t)last;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
bad:
    free(buf);
    return CAIRN_EPARSE;
}
