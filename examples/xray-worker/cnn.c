/*
 * The forward pass. Activations are HWC float32. Each convolution walks
 * output pixels and, for every input value under the 3x3 window, adds that
 * value times one row of the transposed weights ([K][F]) to the pixel's F
 * accumulators: the inner loop runs over contiguous filters, so the compiler
 * vectorizes it without reassociating any sum, and the zeros that ReLU and
 * max-pool leave behind are skipped outright. Built with -O2 even in debug
 * builds (see CMakeLists.txt).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "model.h"

struct xray_ws {
    float *a, *b;  /* ping-pong activations */
    float *hidden; /* dense output */
    float *flat;   /* last pool output when the caller wants features */
};

struct xray_ws *xray_ws_new(const struct xray_model *m)
{
    const struct xray_shape *s = &m->shape;
    struct xray_ws *ws = cairn_xcalloc(1, sizeof(*ws));
    size_t big = (size_t)s->in_h * s->in_w * s->in_c;

    for (uint32_t i = 0; i < s->n_conv; i++) {
        size_t conv = (size_t)(m->conv_in_h[i] - 2) * (m->conv_in_w[i] - 2) *
                      s->filters[i];

        if (conv > big)
            big = conv;
    }
    ws->a = cairn_xmalloc(big * sizeof(float));
    ws->b = cairn_xmalloc(big * sizeof(float));
    ws->hidden = cairn_xmalloc(s->dense * sizeof(float));
    return ws;
}

void xray_ws_free(struct xray_ws *ws)
{
    if (!ws)
        return;
    free(ws->a);
    free(ws->b);
    free(ws->hidden);
    free(ws);
}

/* One output pixel: out[f] = relu(b[f] + sum_k in_k * wt[k][f]). The three
 * window rows are each 3*c contiguous input floats in HWC. */
static void conv_pixel(const float *restrict in, uint32_t w, uint32_t c,
                       const float *restrict wt, const float *restrict bias,
                       uint32_t f, float *restrict out)
{
    uint32_t run = 3 * c;

    memcpy(out, bias, f * sizeof(float));
    for (uint32_t ky = 0; ky < 3; ky++) {
        const float *row = in + (size_t)ky * w * c;
        const float *wk = wt + (size_t)ky * run * f;

        for (uint32_t j = 0; j < run; j++) {
            const float a = row[j];
            const float *restrict wr = wk + (size_t)j * f;

            if (a == 0.0f)
                continue;
            for (uint32_t o = 0; o < f; o++)
                out[o] += a * wr[o];
        }
    }
    for (uint32_t o = 0; o < f; o++)
        out[o] = out[o] > 0.0f ? out[o] : 0.0f;
}

/* Eight filters of four neighbouring output pixels at once: each weight
 * vector loaded is used four times and the 32 sums stay in registers. GCC
 * vector types keep this portable C; target_clones adds an AVX2 build of
 * the kernel that the loader picks on CPUs that have it. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Macros, not functions: passing 32-byte vectors by value would depend on
 * the ABI level (-Wpsabi). */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))
#define STORE8_RELU(p, v)                                                      \
    do {                                                                       \
        v8f z__ = {0};                                                         \
        v8i m__ = (v) > z__;                                                   \
        v8i r__ = (v8i)(v)&m__;                                                \
        memcpy((p), &r__, sizeof(r__));                                        \
    } while (0)

__attribute__((target_clones("avx2", "default"))) static void
conv_block4x8(const float *restrict in, uint32_t w, uint32_t c,
              const float *restrict wt, const float *restrict bias, uint32_t f,
              uint32_t o0, float *restrict out)
{
    uint32_t run = 3 * c;
    v8f a0, a1, a2, a3;

    LOAD8(a0, bias + o0);
    a1 = a2 = a3 = a0;
    for (uint32_t ky = 0; ky < 3; ky++) {
        const float *r = in + (size_t)ky * w * c;
        const float *wk = wt + (size_t)ky * run * f + o0;

        for (uint32_t j = 0; j < run; j++) {
            v8f wv;

            LOAD8(wv, wk + (size_t)j * f);
            a0 += r[j] * wv;
            a1 += r[j + c] * wv;
            a2 += r[j + 2 * c] * wv;
            a3 += r[j + 3 * c] * wv;
        }
    }
    STORE8_RELU(out + o0, a0);
    STORE8_RELU(out + f + o0, a1);
    STORE8_RELU(out + 2 * (size_t)f + o0, a2);
    STORE8_RELU(out + 3 * (size_t)f + o0, a3);
}

static void conv_relu(const float *in, uint32_t h, uint32_t w, uint32_t c,
                      const float *wt, const float *bias, uint32_t f,
                      float *out)
{
    uint32_t oh = h - 2, ow = w - 2;

    for (uint32_t y = 0; y < oh; y++) {
        uint32_t x = 0;

        if (f % 8 == 0)
            for (; x + 4 <= ow; x += 4)
                for (uint32_t o0 = 0; o0 < f; o0 += 8)
                    conv_block4x8(in + ((size_t)y * w + x) * c, w, c, wt, bias,
                                  f, o0, out + ((size_t)y * ow + x) * f);
        for (; x < ow; x++)
            conv_pixel(in + ((size_t)y * w + x) * c, w, c, wt, bias, f,
                       out + ((size_t)y * ow + x) * f);
    }
}

/* 2x2 max-pool, stride 2, floor (an odd last row/column is dropped). */
static void maxpool(const float *in, uint32_t h, uint32_t w, uint32_t c,
                    float *out)
{
    uint32_t ph = h / 2, pw = w / 2;

    for (uint32_t y = 0; y < ph; y++) {
        for (uint32_t x = 0; x < pw; x++) {
            const float *p00 = in + ((size_t)(2 * y) * w + 2 * x) * c;
            const float *p01 = p00 + c;
            const float *p10 = p00 + (size_t)w * c;
            const float *p11 = p10 + c;
            float *o = out + ((size_t)y * pw + x) * c;

            for (uint32_t k = 0; k < c; k++) {
                float m0 = p00[k] > p01[k] ? p00[k] : p01[k];
                float m1 = p10[k] > p11[k] ? p10[k] : p11[k];

                o[k] = m0 > m1 ? m0 : m1;
            }
        }
    }
}

static float sigmoid(float z)
{
    double e;

    if (z >= 0) {
        e = exp(-(double)z);
        return (float)(1.0 / (1.0 + e));
    }
    e = exp((double)z);
    return (float)(e / (1.0 + e));
}

float xray_model_head(const struct xray_model *m, const float *x, float *hidden,
                      float *logit)
{
    uint32_t n = m->shape.dense;
    float z = m->d2_b[0];

    memcpy(hidden, m->d1_b, n * sizeof(float));
    for (uint32_t i = 0; i < m->flat; i++) {
        const float a = x[i];
        const float *restrict wr = m->d1_wt + (size_t)i * n;

        if (a == 0.0f)
            continue;
        for (uint32_t j = 0; j < n; j++)
            hidden[j] += a * wr[j];
    }
    for (uint32_t j = 0; j < n; j++) {
        hidden[j] = hidden[j] > 0.0f ? hidden[j] : 0.0f;
        z += hidden[j] * m->d2_w[j];
    }
    if (logit)
        *logit = z;
    return sigmoid(z);
}

float xray_model_forward(const struct xray_model *m, struct xray_ws *ws,
                         const float *input, float *logit, float *features)
{
    const struct xray_shape *s = &m->shape;
    const float *cur = input;
    uint32_t c = s->in_c;

    for (uint32_t i = 0; i < s->n_conv; i++) {
        uint32_t h = m->conv_in_h[i], w = m->conv_in_w[i], f = s->filters[i];

        conv_relu(cur, h, w, c, m->conv_wt[i], m->conv_b[i], f, ws->a);
        maxpool(ws->a, h - 2, w - 2, f, ws->b);
        cur = ws->b;
        c = f;
    }
    if (features)
        memcpy(features, cur, m->flat * sizeof(float));
    return xray_model_head(m, cur, ws->hidden, logit);
}
