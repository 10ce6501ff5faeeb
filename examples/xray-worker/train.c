#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "image.h"
#include "sim.h"
#include "util.h"

void xray_model_randomize(struct xray_model *m, uint64_t seed)
{
    const struct xray_shape *s = &m->shape;
    struct xray_rng r;
    uint32_t cin = s->in_c;

    xray_rng_seed(&r, seed);
    for (uint32_t i = 0; i < s->n_conv; i++) {
        double sd = sqrt(2.0 / (9.0 * cin));

        for (size_t j = 0; j < (size_t)s->filters[i] * 9 * cin; j++)
            m->conv_w[i][j] = (float)(sd * xray_rng_normal(&r));
        for (uint32_t j = 0; j < s->filters[i]; j++)
            m->conv_b[i][j] = 0.01f;
        cin = s->filters[i];
    }
    for (size_t j = 0; j < (size_t)s->dense * m->flat; j++)
        m->d1_w[j] = (float)(sqrt(2.0 / m->flat) * xray_rng_normal(&r));
    for (uint32_t j = 0; j < s->dense; j++) {
        m->d1_b[j] = 0.0f;
        m->d2_w[j] = (float)(xray_rng_normal(&r) / sqrt((double)s->dense));
    }
    m->d2_b[0] = 0.0f;
    xray_model_prepare(m);
}

void xray_train_sample(struct xray_rng *r, int pneumonia, uint32_t size,
                       const struct xray_shape *s, float *input)
{
    struct xray_patient pt;
    struct xray_image gray, rgb;
    struct xray_decode_limits lim = {XRAY_DEFAULT_MAX_SIDE,
                                     XRAY_DEFAULT_MAX_PIXELS};
    uint8_t *jpg = NULL;
    size_t len = 0;

    xray_sim_patient(r, &pt);
    xray_sim_render(r, pneumonia, size, &pt, &gray);
    /* Our own encoder output always decodes; a failure is a bug. */
    if (xray_image_encode(&gray, XRAY_FMT_JPEG, 90, &jpg, &len, NULL) != 0 ||
        xray_image_decode(jpg, len, &lim, &rgb, NULL) != 0)
        abort();
    xray_image_to_input(&rgb, s->in_w, s->in_h, s->in_c, input);
    xray_image_free(&gray);
    xray_image_free(&rgb);
    free(jpg);
}

/* Features of n simulator images through the frozen conv layers. */
static float *make_features(const struct xray_model *m, uint32_t n,
                            uint64_t seed, uint32_t size, uint8_t *labels)
{
    const struct xray_shape *s = &m->shape;
    float *feat = cairn_xmalloc((size_t)n * m->flat * sizeof(float));
    float *input =
        cairn_xmalloc((size_t)s->in_h * s->in_w * s->in_c * sizeof(float));
    struct xray_ws *ws = xray_ws_new(m);
    struct xray_rng r;

    xray_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n; i++) {
        labels[i] = (uint8_t)xray_sim_draw_truth(&r);
        xray_train_sample(&r, labels[i], size, s, input);
        xray_model_forward(m, ws, input, NULL, feat + (size_t)i * m->flat);
    }
    xray_ws_free(ws);
    free(input);
    return feat;
}

/* The dense head's parameters in one flat vector, with Adam moments. */
struct head {
    uint32_t f, h;
    size_t n;
    float *p, *g, *m1, *m2;
    float *w1, *b1, *w2, *b2; /* views into p */
    long step;
};

static void head_init(struct head *hd, uint32_t f, uint32_t h,
                      struct xray_rng *r)
{
    hd->f = f;
    hd->h = h;
    hd->n = (size_t)h * f + 2 * (size_t)h + 1;
    hd->p = cairn_xcalloc(hd->n, sizeof(float));
    hd->g = cairn_xcalloc(hd->n, sizeof(float));
    hd->m1 = cairn_xcalloc(hd->n, sizeof(float));
    hd->m2 = cairn_xcalloc(hd->n, sizeof(float));
    hd->w1 = hd->p;
    hd->b1 = hd->w1 + (size_t)h * f;
    hd->w2 = hd->b1 + h;
    hd->b2 = hd->w2 + h;
    hd->step = 0;
    for (size_t i = 0; i < (size_t)h * f; i++)
        hd->w1[i] = (float)(sqrt(2.0 / f) * xray_rng_normal(r));
    for (uint32_t j = 0; j < h; j++)
        hd->w2[j] = (float)(xray_rng_normal(r) / sqrt((double)h));
}

static void head_free(struct head *hd)
{
    free(hd->p);
    free(hd->g);
    free(hd->m1);
    free(hd->m2);
}

/* Forward and backward for one standardized sample; returns the loss and
 * accumulates gradients. hid holds 2h floats of scratch. */
static double head_step(struct head *hd, const float *z, int y, float *hid)
{
    float *pre = hid, *act = hid + hd->h, *gb1, *gw2;
    double logit = hd->b2[0], p, g, loss;

    for (uint32_t j = 0; j < hd->h; j++) {
        const float *w = hd->w1 + (size_t)j * hd->f;
        float a = hd->b1[j];

        for (uint32_t i = 0; i < hd->f; i++)
            a += w[i] * z[i];
        pre[j] = a;
        act[j] = a > 0 ? a : 0;
        logit += act[j] * hd->w2[j];
    }
    p = 1.0 / (1.0 + exp(-logit));
    loss = -(y ? log(p + 1e-12) : log(1.0 - p + 1e-12));
    g = p - y;
    /* Gradient views mirror the parameter layout w1, b1, w2, b2. */
    gb1 = hd->g + (size_t)hd->h * hd->f;
    gw2 = gb1 + hd->h;
    gw2[hd->h] += (float)g;
    for (uint32_t j = 0; j < hd->h; j++) {
        float dh = pre[j] > 0 ? (float)g * hd->w2[j] : 0.0f;
        float *gw = hd->g + (size_t)j * hd->f;

        gw2[j] += (float)g * act[j];
        if (dh == 0.0f)
            continue;
        gb1[j] += dh;
        for (uint32_t i = 0; i < hd->f; i++)
            gw[i] += dh * z[i];
    }
    return loss;
}

static void adam_update(struct head *hd, float lr, float scale)
{
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, decay = 1e-4f;
    float c1, c2;

    hd->step++;
    c1 = 1.0f - powf(b1, (float)hd->step);
    c2 = 1.0f - powf(b2, (float)hd->step);
    for (size_t i = 0; i < hd->n; i++) {
        float g = hd->g[i] * scale + decay * hd->p[i];

        hd->m1[i] = b1 * hd->m1[i] + (1 - b1) * g;
        hd->m2[i] = b2 * hd->m2[i] + (1 - b2) * g * g;
        hd->p[i] -= lr * (hd->m1[i] / c1) / (sqrtf(hd->m2[i] / c2) + eps);
        hd->g[i] = 0.0f;
    }
}

static void standardize(float *feat, uint32_t n, uint32_t f, float *mu,
                        float *sd)
{
    for (uint32_t i = 0; i < f; i++) {
        double s = 0, s2 = 0;

        for (uint32_t k = 0; k < n; k++) {
            double v = feat[(size_t)k * f + i];

            s += v;
            s2 += v * v;
        }
        mu[i] = (float)(s / n);
        sd[i] = (float)sqrt(fmax(s2 / n - (s / n) * (s / n), 0.0)) + 1e-3f;
        for (uint32_t k = 0; k < n; k++)
            feat[(size_t)k * f + i] = (feat[(size_t)k * f + i] - mu[i]) / sd[i];
    }
}

static void fit(struct head *hd, const float *feat, const uint8_t *labels,
                uint32_t n, const struct xray_train_opts *o, struct xray_rng *r)
{
    uint32_t *order = cairn_xmalloc(n * sizeof(uint32_t)), batch = 32;
    float *hid = cairn_xmalloc(2 * hd->h * sizeof(float));

    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t e = 0; e < o->epochs; e++) {
        double loss = 0;

        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = xray_rng_below(r, i), t = order[i - 1];

            order[i - 1] = order[j];
            order[j] = t;
        }
        for (uint32_t k = 0; k < n; k += batch) {
            uint32_t m = n - k < batch ? n - k : batch;

            for (uint32_t b = 0; b < m; b++)
                loss += head_step(hd, feat + (size_t)order[k + b] * hd->f,
                                  labels[order[k + b]], hid);
            adam_update(hd, o->lr, 1.0f / (float)m);
        }
        if (o->verbose)
            fprintf(stderr, "epoch %u: loss %.4f\n", e + 1, loss / n);
    }
    free(order);
    free(hid);
}

/* Fold z = (x - mu) / sd into the first dense layer of m. */
static void fold_into(struct xray_model *m, const struct head *hd,
                      const float *mu, const float *sd)
{
    for (uint32_t j = 0; j < hd->h; j++) {
        double b = hd->b1[j];

        for (uint32_t i = 0; i < hd->f; i++) {
            float w = hd->w1[(size_t)j * hd->f + i] / sd[i];

            m->d1_w[(size_t)j * hd->f + i] = w;
            b -= (double)w * mu[i];
        }
        m->d1_b[j] = (float)b;
        m->d2_w[j] = hd->w2[j];
    }
    m->d2_b[0] = hd->b2[0];
    xray_model_prepare(m);
}

void xray_evaluate(const struct xray_model *m, uint32_t n, uint64_t seed,
                   uint32_t size, struct xray_train_result *res)
{
    const struct xray_shape *s = &m->shape;
    float *input =
        cairn_xmalloc((size_t)s->in_h * s->in_w * s->in_c * sizeof(float));
    struct xray_ws *ws = xray_ws_new(m);
    struct xray_rng r;
    uint32_t correct = 0;

    memset(res, 0, sizeof(*res));
    xray_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n; i++) {
        int y = xray_sim_draw_truth(&r);
        float p;
        enum xray_band b;

        xray_train_sample(&r, y, size, s, input);
        p = xray_model_forward(m, ws, input, NULL, NULL);
        correct += (p >= 0.5f) == (y == 1);
        b = xray_band_of(p);
        res->band_total[b]++;
        res->band_pneumonia[b] += (uint32_t)y;
    }
    res->n_test = n;
    res->accuracy = n ? (double)correct / n : 0.0;
    xray_ws_free(ws);
    free(input);
}

int xray_train(const struct xray_train_opts *o, struct xray_model **out,
               struct xray_train_result *res, struct cairn_diag *d)
{
    struct xray_model *m;
    struct head hd;
    struct xray_rng r;
    uint8_t *labels;
    float *feat, *mu, *sd;
    double t0 = xray_mono();
    int err;

    err = xray_shape_check(&o->shape, d);
    if (err)
        return err;
    if (o->n_train < 2 || o->epochs < 1 || !(o->lr > 0) || o->image_size < 32)
        return cairn_diag_set(
            d, CAIRN_EINVAL,
            "need at least 2 images, 1 epoch, lr > 0, image size >= 32");
    m = xray_model_new(&o->shape, o->version);
    xray_model_randomize(m, o->seed);
    labels = cairn_xmalloc(o->n_train);
    feat =
        make_features(m, o->n_train, o->seed ^ 0x5eed, o->image_size, labels);
    mu = cairn_xmalloc(m->flat * sizeof(float));
    sd = cairn_xmalloc(m->flat * sizeof(float));
    standardize(feat, o->n_train, m->flat, mu, sd);
    xray_rng_seed(&r, o->seed + 17);
    head_init(&hd, m->flat, o->shape.dense, &r);
    fit(&hd, feat, labels, o->n_train, o, &r);
    fold_into(m, &hd, mu, sd);
    xray_evaluate(m, o->n_test, o->test_seed, o->image_size, res);
    res->seconds = xray_mono() - t0;
    head_free(&hd);
    free(labels);
    free(feat);
    free(mu);
    free(sd);
    *out = m;
    return 0;
}
