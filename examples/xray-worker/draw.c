/*
 * Pixel operations: resampling to the model input, the PII blur, text.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "image.h"

/* Per output coordinate: the first input index and normalized weights of a
 * triangle filter centred on the output pixel's centre. Its radius is one
 * input pixel when enlarging (plain bilinear) and the scale factor when
 * shrinking (every input pixel contributes; no aliasing). */
struct taps {
    uint32_t n;      /* max taps per output */
    uint32_t *first; /* [out] */
    float *w;        /* [out][n], zero-padded */
};

static void taps_init(struct taps *t, uint32_t in, uint32_t out)
{
    double scale = (double)in / out, radius = scale > 1.0 ? scale : 1.0;

    t->n = (uint32_t)ceil(radius) * 2 + 1;
    t->first = cairn_xmalloc(out * sizeof(uint32_t));
    t->w = cairn_xcalloc((size_t)out * t->n, sizeof(float));
    for (uint32_t i = 0; i < out; i++) {
        double centre = (i + 0.5) * scale, total = 0.0;
        long lo = (long)floor(centre - radius),
             hi = (long)ceil(centre + radius);
        float *w = t->w + (size_t)i * t->n;

        if (lo < 0)
            lo = 0;
        if (hi > (long)in)
            hi = (long)in;
        if (hi - lo > (long)t->n)
            hi = lo + (long)t->n;
        t->first[i] = (uint32_t)lo;
        for (long j = lo; j < hi; j++) {
            double x = fabs(((double)j + 0.5 - centre) / radius);

            w[j - lo] = x < 1.0 ? (float)(1.0 - x) : 0.0f;
            total += w[j - lo];
        }
        for (uint32_t k = 0; k < t->n && total > 0.0; k++)
            w[k] = (float)(w[k] / total);
    }
}

static void taps_free(struct taps *t)
{
    free(t->first);
    free(t->w);
}

/* Horizontal pass of one source row into out_w RGB floats. Gray sources
 * replicate their one channel. */
static void hpass_row(const struct xray_image *im, uint32_t y,
                      const struct taps *tx, uint32_t out_w, float *r)
{
    const uint8_t *row = im->px + (size_t)y * im->w * im->c;

    for (uint32_t x = 0; x < out_w; x++, r += 3) {
        const float *w = tx->w + (size_t)x * tx->n;
        const uint8_t *p = row + (size_t)tx->first[x] * im->c;
        uint32_t n =
            im->w - tx->first[x] < tx->n ? im->w - tx->first[x] : tx->n;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;

        if (im->c == 3) {
            for (uint32_t k = 0; k < n; k++, p += 3) {
                a0 += w[k] * p[0];
                a1 += w[k] * p[1];
                a2 += w[k] * p[2];
            }
        } else {
            for (uint32_t k = 0; k < n; k++)
                a0 += w[k] * p[k];
            a1 = a2 = a0;
        }
        r[0] = a0;
        r[1] = a1;
        r[2] = a2;
    }
}

void xray_image_to_input(const struct xray_image *im, uint32_t out_w,
                         uint32_t out_h, uint32_t out_c, float *out)
{
    struct taps tx, ty;
    float *rows = cairn_xmalloc((size_t)im->h * out_w * 3 * sizeof(float));

    taps_init(&tx, im->w, out_w);
    taps_init(&ty, im->h, out_h);
    /* Horizontal pass into rows[h][out_w][3], then vertical into out. */
    for (uint32_t y = 0; y < im->h; y++)
        hpass_row(im, y, &tx, out_w, rows + (size_t)y * out_w * 3);
    for (uint32_t y = 0; y < out_h; y++) {
        const float *w = ty.w + (size_t)y * ty.n;

        for (uint32_t x = 0; x < out_w; x++) {
            float acc[3] = {0.0f, 0.0f, 0.0f};
            float *o = out + ((size_t)y * out_w + x) * out_c;

            for (uint32_t k = 0; k < ty.n && ty.first[y] + k < im->h; k++) {
                const float *r =
                    rows + ((size_t)(ty.first[y] + k) * out_w + x) * 3;

                for (uint32_t ch = 0; ch < 3; ch++)
                    acc[ch] += w[k] * r[ch];
            }
            if (out_c == 1) {
                o[0] = (0.299f * acc[0] + 0.587f * acc[1] + 0.114f * acc[2]) /
                       255.0f;
            } else {
                for (uint32_t ch = 0; ch < 3; ch++)
                    o[ch] = acc[ch] / 255.0f;
            }
        }
    }
    taps_free(&tx);
    taps_free(&ty);
    free(rows);
}

static void clip_box(const struct xray_image *im, const struct xray_box *in,
                     struct xray_box *out)
{
    *out = *in;
    if (out->x1 > im->w)
        out->x1 = im->w;
    if (out->y1 > im->h)
        out->y1 = im->h;
    if (out->x0 > out->x1)
        out->x0 = out->x1;
    if (out->y0 > out->y1)
        out->y0 = out->y1;
}

static uint32_t clampi(long v, uint32_t n)
{
    return v < 0 ? 0 : v >= (long)n ? n - 1 : (uint32_t)v;
}

/* One separable pass over buf (bw x bh floats, one channel), along x when
 * horizontal, else along y, edges clamped. */
static void blur_pass(const float *src, float *dst, uint32_t bw, uint32_t bh,
                      const float *k, int radius, int horizontal)
{
    for (uint32_t y = 0; y < bh; y++) {
        for (uint32_t x = 0; x < bw; x++) {
            float acc = 0.0f;

            for (int i = -radius; i <= radius; i++) {
                uint32_t sx = horizontal ? clampi((long)x + i, bw) : x;
                uint32_t sy = horizontal ? y : clampi((long)y + i, bh);

                acc += k[i + radius] * src[(size_t)sy * bw + sx];
            }
            dst[(size_t)y * bw + x] = acc;
        }
    }
}

void xray_image_blur_box(struct xray_image *im, const struct xray_box *box,
                         double sigma)
{
    struct xray_box b;
    uint32_t bw, bh;
    int radius;
    float *k, *p, *q;
    double total = 0.0;

    clip_box(im, box, &b);
    bw = b.x1 - b.x0;
    bh = b.y1 - b.y0;
    if (bw == 0 || bh == 0 || !(sigma > 0.0))
        return;
    radius = (int)ceil(3.0 * sigma);
    k = cairn_xmalloc((size_t)(2 * radius + 1) * sizeof(float));
    for (int i = -radius; i <= radius; i++)
        total += k[i + radius] =
            (float)exp(-(double)(i * i) / (2.0 * sigma * sigma));
    for (int i = 0; i <= 2 * radius; i++)
        k[i] = (float)(k[i] / total);
    p = cairn_xmalloc((size_t)bw * bh * sizeof(float));
    q = cairn_xmalloc((size_t)bw * bh * sizeof(float));
    for (uint32_t ch = 0; ch < im->c; ch++) {
        for (uint32_t y = 0; y < bh; y++)
            for (uint32_t x = 0; x < bw; x++)
                p[(size_t)y * bw + x] =
                    im->px[((size_t)(b.y0 + y) * im->w + b.x0 + x) * im->c +
                           ch];
        blur_pass(p, q, bw, bh, k, radius, 1);
        blur_pass(q, p, bw, bh, k, radius, 0);
        for (uint32_t y = 0; y < bh; y++)
            for (uint32_t x = 0; x < bw; x++)
                im->px[((size_t)(b.y0 + y) * im->w + b.x0 + x) * im->c + ch] =
                    (uint8_t)lrintf(
                        fminf(255.0f, fmaxf(0.0f, p[(size_t)y * bw + x])));
    }
    free(k);
    free(p);
    free(q);
}

void xray_image_fill(struct xray_image *im, const struct xray_box *box,
                     uint8_t v)
{
    struct xray_box b;

    clip_box(im, box, &b);
    for (uint32_t y = b.y0; y < b.y1; y++)
        memset(im->px + ((size_t)y * im->w + b.x0) * im->c, v,
               (size_t)(b.x1 - b.x0) * im->c);
}

void xray_text_size(const char *text, uint32_t scale, uint32_t *w, uint32_t *h)
{
    *w = (uint32_t)strlen(text) * 6 * scale;
    *h = 8 * scale;
}

static const uint8_t missing_glyph[7] = {0x1f, 0x11, 0x11, 0x11,
                                         0x11, 0x11, 0x1f};

static void draw_glyph(struct xray_image *im, uint32_t x, uint32_t y,
                       uint32_t scale, const uint8_t *g, uint8_t fg)
{
    for (uint32_t r = 0; r < 7 * scale; r++) {
        uint32_t py = y + r;

        if (py >= im->h)
            return;
        for (uint32_t col = 0; col < 5 * scale; col++) {
            uint32_t px = x + col;

            if (px >= im->w || !(g[r / scale] & (0x10 >> (col / scale))))
                continue;
            memset(im->px + ((size_t)py * im->w + px) * im->c, fg, im->c);
        }
    }
}

void xray_image_draw_text(struct xray_image *im, uint32_t x, uint32_t y,
                          uint32_t scale, const char *text, uint8_t fg)
{
    if (scale == 0)
        scale = 1;
    for (const char *s = text; *s; s++, x += 6 * scale) {
        const uint8_t *g = xray_font_glyph(*s);

        if (x >= im->w)
            return;
        draw_glyph(im, x, y, scale, g ? g : missing_glyph, fg);
    }
}
