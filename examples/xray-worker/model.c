/*
 * Model file: parse, validate, serialize. The layout is documented in
 * docs/xray-worker.md; every multi-byte field is little-endian and the
 * checksum is SHA-256 of the whole file with the checksum field zeroed, so a
 * flipped bit anywhere (header or weights) is caught.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/mem.h"
#include "util.h"

enum {
    OFF_MAGIC = 0,
    OFF_FORMAT = 8,
    OFF_HEADER_LEN = 12,
    OFF_IN_H = 16,
    OFF_IN_W = 20,
    OFF_IN_C = 24,
    OFF_N_CONV = 28,
    OFF_FILTERS = 32,
    OFF_DENSE = 56,
    OFF_N_TENSORS = 60,
    OFF_WEIGHTS_LEN = 64,
    OFF_SHA256 = 72,
    OFF_VERSION = 104,
    OFF_TENSORS = XRAY_MODEL_FIXED_HEADER,
};

#define MAX_SIDE 4096u
#define MAX_FILTERS 1024u
#define MAX_DENSE 4096u
#define MAX_TENSORS (2 * XRAY_MODEL_MAX_CONV + 4)

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t header_len_for(uint32_t n_conv)
{
    uint32_t n = OFF_TENSORS + 4 * (2 * n_conv + 4);

    return (n + 15u) & ~15u;
}

int xray_shape_check(const struct xray_shape *s, struct cairn_diag *d)
{
    uint32_t h = s->in_h, w = s->in_w;

    if (s->in_h < 4 || s->in_h > MAX_SIDE)
        return cairn_diag_set(d, CAIRN_EINVAL, "in_h=%u out of range 4..%u",
                              s->in_h, MAX_SIDE);
    if (s->in_w < 4 || s->in_w > MAX_SIDE)
        return cairn_diag_set(d, CAIRN_EINVAL, "in_w=%u out of range 4..%u",
                              s->in_w, MAX_SIDE);
    if (s->in_c != 1 && s->in_c != 3)
        return cairn_diag_set(d, CAIRN_EINVAL, "in_c=%u must be 1 or 3",
                              s->in_c);
    if (s->n_conv < 1 || s->n_conv > XRAY_MODEL_MAX_CONV)
        return cairn_diag_set(d, CAIRN_EINVAL, "n_conv=%u out of range 1..%d",
                              s->n_conv, XRAY_MODEL_MAX_CONV);
    for (uint32_t i = 0; i < XRAY_MODEL_MAX_CONV; i++) {
        uint32_t f = s->filters[i];

        if (i >= s->n_conv) {
            if (f != 0)
                return cairn_diag_set(d, CAIRN_EINVAL,
                                      "filters[%u]=%u but n_conv=%u", i, f,
                                      s->n_conv);
            continue;
        }
        if (f < 1 || f > MAX_FILTERS)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "filters[%u]=%u out of range 1..%u", i, f,
                                  MAX_FILTERS);
        if (h < 4 || w < 4)
            return cairn_diag_set(
                d, CAIRN_EINVAL,
                "conv layer %u input %ux%u is smaller than 4x4", i, h, w);
        h = (h - 2) / 2;
        w = (w - 2) / 2;
    }
    if (s->dense < 1 || s->dense > MAX_DENSE)
        return cairn_diag_set(d, CAIRN_EINVAL, "dense=%u out of range 1..%u",
                              s->dense, MAX_DENSE);
    return 0;
}

uint32_t xray_shape_flat(const struct xray_shape *s)
{
    uint32_t h = s->in_h, w = s->in_w;

    for (uint32_t i = 0; i < s->n_conv; i++) {
        h = (h - 2) / 2;
        w = (w - 2) / 2;
    }
    return h * w * s->filters[s->n_conv - 1];
}

/* Element count of tensor t, in file order. */
static size_t tensor_len(const struct xray_shape *s, uint32_t t)
{
    uint32_t layer = t / 2;

    if (layer < s->n_conv) {
        uint32_t cin = layer == 0 ? s->in_c : s->filters[layer - 1];

        return t % 2 == 0 ? (size_t)s->filters[layer] * 9 * cin
                          : s->filters[layer];
    }
    switch (t - 2 * s->n_conv) {
    case 0:
        return (size_t)s->dense * xray_shape_flat(s);
    case 1:
        return s->dense;
    case 2:
        return s->dense;
    default:
        return 1;
    }
}

size_t xray_shape_weights(const struct xray_shape *s)
{
    size_t n = 0;

    for (uint32_t t = 0; t < 2 * s->n_conv + 4; t++)
        n += tensor_len(s, t);
    return n;
}

static void bind_tensors(struct xray_model *m)
{
    const struct xray_shape *s = &m->shape;
    float *p = m->w;

    for (uint32_t i = 0; i < s->n_conv; i++) {
        m->conv_w[i] = p;
        p += tensor_len(s, 2 * i);
        m->conv_b[i] = p;
        p += tensor_len(s, 2 * i + 1);
    }
    m->d1_w = p;
    p += tensor_len(s, 2 * s->n_conv);
    m->d1_b = p;
    p += s->dense;
    m->d2_w = p;
    p += s->dense;
    m->d2_b = p;
}

struct xray_model *xray_model_new(const struct xray_shape *s,
                                  const char *version)
{
    struct xray_model *m;

    if (xray_shape_check(s, NULL) != 0)
        abort();
    m = cairn_xcalloc(1, sizeof(*m));
    m->shape = *s;
    snprintf(m->version, sizeof(m->version), "%s", version);
    m->n_weights = xray_shape_weights(s);
    m->w = cairn_xcalloc(m->n_weights, sizeof(float));
    bind_tensors(m);
    xray_model_prepare(m);
    return m;
}

void xray_model_prepare(struct xray_model *m)
{
    const struct xray_shape *s = &m->shape;
    uint32_t h = s->in_h, w = s->in_w, cin = s->in_c;

    for (uint32_t i = 0; i < s->n_conv; i++) {
        uint32_t f = s->filters[i], k = 9 * cin;

        free(m->conv_wt[i]);
        m->conv_wt[i] = cairn_xmalloc((size_t)k * f * sizeof(float));
        for (uint32_t o = 0; o < f; o++)
            for (uint32_t j = 0; j < k; j++)
                m->conv_wt[i][(size_t)j * f + o] =
                    m->conv_w[i][(size_t)o * k + j];
        m->conv_in_h[i] = h;
        m->conv_in_w[i] = w;
        h = (h - 2) / 2;
        w = (w - 2) / 2;
        cin = f;
    }
    m->flat = xray_shape_flat(s);
    free(m->d1_wt);
    m->d1_wt = cairn_xmalloc((size_t)m->flat * s->dense * sizeof(float));
    for (uint32_t j = 0; j < s->dense; j++)
        for (uint32_t i = 0; i < m->flat; i++)
            m->d1_wt[(size_t)i * s->dense + j] =
                m->d1_w[(size_t)j * m->flat + i];
}

void xray_model_free(struct xray_model *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < XRAY_MODEL_MAX_CONV; i++)
        free(m->conv_wt[i]);
    free(m->d1_wt);
    free(m->w);
    free(m);
}

static void sha256_zeroed_field(const uint8_t *buf, size_t len, uint8_t out[32])
{
    static const uint8_t zero[32];
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, buf, OFF_SHA256);
    crypto_hash_sha256_update(&st, zero, sizeof(zero));
    crypto_hash_sha256_update(&st, buf + OFF_SHA256 + 32,
                              len - OFF_SHA256 - 32);
    crypto_hash_sha256_final(&st, out);
}

/* Magic, format version, declared lengths and checksum: everything that
 * tells "this is a whole, intact model file" before any field is trusted. */
static int check_envelope(const uint8_t *b, size_t len, struct cairn_diag *d)
{
    uint8_t sum[32];
    char want[65], got[65];
    uint32_t fmt, hlen;
    uint64_t wlen;

    /* A short file that starts like a model is a truncated model; one that
     * does not is something else altogether. */
    if (len > 0 &&
        memcmp(b + OFF_MAGIC, XRAY_MODEL_MAGIC, len < 8 ? len : 8) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "not an xray model file (bad magic)");
    if (len < XRAY_MODEL_FIXED_HEADER)
        return cairn_diag_set(
            d, CAIRN_ESIZE,
            "truncated: %zu bytes, a model header alone is %d bytes", len,
            XRAY_MODEL_FIXED_HEADER);
    fmt = rd32(b + OFF_FORMAT);
    if (fmt != XRAY_MODEL_FORMAT)
        return cairn_diag_set(
            d, CAIRN_EUNSUPPORTED,
            "format version %u not supported (this worker reads %d)", fmt,
            XRAY_MODEL_FORMAT);
    hlen = rd32(b + OFF_HEADER_LEN);
    wlen = rd64(b + OFF_WEIGHTS_LEN);
    if (hlen < XRAY_MODEL_FIXED_HEADER ||
        hlen > header_len_for(XRAY_MODEL_MAX_CONV) ||
        wlen > XRAY_MODEL_MAX_BYTES)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "header_len=%u or weights_len=%llu out of range",
                              hlen, (unsigned long long)wlen);
    if (len < hlen + wlen)
        return cairn_diag_set(d, CAIRN_ESIZE,
                              "truncated: %zu bytes, header declares %llu", len,
                              (unsigned long long)(hlen + wlen));
    if (len > hlen + wlen)
        return cairn_diag_set(
            d, CAIRN_ESIZE, "%zu trailing bytes after the declared %llu",
            len - (size_t)(hlen + wlen), (unsigned long long)(hlen + wlen));
    sha256_zeroed_field(b, len, sum);
    if (sodium_memcmp(sum, b + OFF_SHA256, 32) != 0) {
        xray_hex(b + OFF_SHA256, 32, want);
        xray_hex(sum, 32, got);
        return cairn_diag_set(
            d, CAIRN_EDIGEST,
            "checksum mismatch (file corrupt or modified): header "
            "says %.16s..., contents hash to %.16s...",
            want, got);
    }
    return 0;
}

static int parse_version(const uint8_t *p, char *out, struct cairn_diag *d)
{
    size_t n = 0;

    while (n < XRAY_MODEL_VERSION_MAX && p[n] != 0) {
        if (p[n] < 0x21 || p[n] > 0x7e)
            return cairn_diag_set(
                d, CAIRN_EPARSE,
                "version string byte %zu is not printable ASCII", n);
        n++;
    }
    if (n == 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "version string is empty");
    for (size_t i = n; i < XRAY_MODEL_VERSION_MAX; i++)
        if (p[i] != 0)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "version string padding byte %zu is not zero",
                                  i);
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int parse_shape(const uint8_t *b, struct xray_shape *s,
                       struct cairn_diag *d)
{
    uint32_t nt;
    int err;

    memset(s, 0, sizeof(*s));
    s->in_h = rd32(b + OFF_IN_H);
    s->in_w = rd32(b + OFF_IN_W);
    s->in_c = rd32(b + OFF_IN_C);
    s->n_conv = rd32(b + OFF_N_CONV);
    for (int i = 0; i < XRAY_MODEL_MAX_CONV; i++)
        s->filters[i] = rd32(b + OFF_FILTERS + 4 * i);
    s->dense = rd32(b + OFF_DENSE);
    err = xray_shape_check(s, d);
    if (err)
        return err;
    nt = rd32(b + OFF_N_TENSORS);
    if (nt != 2 * s->n_conv + 4)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "n_tensors=%u, topology needs %u", nt,
                              2 * s->n_conv + 4);
    if (rd32(b + OFF_HEADER_LEN) != header_len_for(s->n_conv))
        return cairn_diag_set(
            d, CAIRN_EPARSE, "header_len=%u, topology needs %u",
            rd32(b + OFF_HEADER_LEN), header_len_for(s->n_conv));
    for (uint32_t t = 0; t < nt; t++) {
        uint32_t got = rd32(b + OFF_TENSORS + 4 * t);

        if (got != tensor_len(s, t))
            return cairn_diag_set(
                d, CAIRN_EPARSE,
                "tensor %u has %u elements, topology needs %zu", t, got,
                tensor_len(s, t));
    }
    if (rd64(b + OFF_WEIGHTS_LEN) != 4 * (uint64_t)xray_shape_weights(s))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "weights_len=%llu, topology needs %llu",
                              (unsigned long long)rd64(b + OFF_WEIGHTS_LEN),
                              4 * (unsigned long long)xray_shape_weights(s));
    return 0;
}

int xray_model_parse(const void *buf, size_t len, struct xray_model **out,
                     struct cairn_diag *d)
{
    const uint8_t *b = buf;
    struct xray_model *m = NULL;
    struct xray_shape s;
    char version[XRAY_MODEL_VERSION_MAX + 1];
    uint8_t sum[32];
    const uint8_t *wp;
    int err;

    err = check_envelope(b, len, d);
    if (!err)
        err = parse_shape(b, &s, d);
    if (!err)
        err = parse_version(b + OFF_VERSION, version, d);
    if (err)
        return err;
    m = xray_model_new(&s, version);
    wp = b + rd32(b + OFF_HEADER_LEN);
    for (size_t i = 0; i < m->n_weights; i++) {
        uint32_t bits = rd32(wp + 4 * i);
        float f;

        memcpy(&f, &bits, sizeof(f));
        if (!isfinite(f)) {
            xray_model_free(m);
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "weight %zu is not a finite number", i);
        }
        m->w[i] = f;
    }
    xray_model_prepare(m);
    crypto_hash_sha256(sum, b, len);
    xray_hex(sum, 32, m->sha256_hex);
    *out = m;
    return 0;
}

int xray_model_load(const char *path, struct xray_model **out,
                    struct cairn_diag *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int err;

    err = xray_read_file(path, XRAY_MODEL_MAX_BYTES, &buf, &len, d);
    if (err) {
        cairn_diag_prefix(d, "model");
    } else {
        err = xray_model_parse(buf, len, out, d);
        if (err)
            cairn_diag_prefix(d, "model %s", path);
    }
    free(buf);
    return err;
}

void xray_model_serialize(struct xray_model *m, uint8_t **out, size_t *out_len)
{
    const struct xray_shape *s = &m->shape;
    uint32_t hlen = header_len_for(s->n_conv), nt = 2 * s->n_conv + 4;
    size_t len = hlen + 4 * m->n_weights;
    uint8_t *b = cairn_xcalloc(1, len);
    uint8_t sum[32];

    memcpy(b + OFF_MAGIC, XRAY_MODEL_MAGIC, 8);
    wr32(b + OFF_FORMAT, XRAY_MODEL_FORMAT);
    wr32(b + OFF_HEADER_LEN, hlen);
    wr32(b + OFF_IN_H, s->in_h);
    wr32(b + OFF_IN_W, s->in_w);
    wr32(b + OFF_IN_C, s->in_c);
    wr32(b + OFF_N_CONV, s->n_conv);
    for (int i = 0; i < XRAY_MODEL_MAX_CONV; i++)
        wr32(b + OFF_FILTERS + 4 * i, s->filters[i]);
    wr32(b + OFF_DENSE, s->dense);
    wr32(b + OFF_N_TENSORS, nt);
    wr64(b + OFF_WEIGHTS_LEN, 4 * (uint64_t)m->n_weights);
    memcpy(b + OFF_VERSION, m->version, strlen(m->version));
    for (uint32_t t = 0; t < nt; t++)
        wr32(b + OFF_TENSORS + 4 * t, (uint32_t)tensor_len(s, t));
    for (size_t i = 0; i < m->n_weights; i++) {
        uint32_t bits;

        memcpy(&bits, &m->w[i], sizeof(bits));
        wr32(b + hlen + 4 * i, bits);
    }
    sha256_zeroed_field(b, len, b + OFF_SHA256);
    crypto_hash_sha256(sum, b, len);
    xray_hex(sum, 32, m->sha256_hex);
    *out = b;
    *out_len = len;
}

int xray_model_save(struct xray_model *m, const char *path,
                    struct cairn_diag *d)
{
    uint8_t *buf;
    size_t len;
    int err;

    xray_model_serialize(m, &buf, &len);
    err = xray_write_atomic(path, buf, len, 0644, d);
    free(buf);
    return err;
}
