/*
 * The trainer behind xray-train. It keeps the convolution layers at fixed
 * random (He-initialized, seeded) weights and fits the dense head - dense
 * ReLU layer and sigmoid output - with Adam on the features the frozen
 * layers produce for simulator images (an "extreme learning machine" style
 * shortcut: one feature pass per image, then cheap epochs). Features are
 * standardized while training and the standardization is folded back into
 * the first dense layer, so the saved file is an ordinary model the worker
 * runs unchanged. Models made this way are synthetic, for showing the
 * pipeline; they say nothing about real chest x-rays.
 */
#ifndef XRAY_TRAIN_H
#define XRAY_TRAIN_H

#include <stdint.h>

#include "band.h"
#include "cairn/diag.h"
#include "model.h"
#include "util.h"

struct xray_train_opts {
    struct xray_shape shape;
    const char *version;
    uint32_t n_train; /* simulator images to fit on */
    uint32_t n_test;  /* held-out images (own seed, same for every version) */
    uint32_t epochs;
    float lr;            /* Adam step size */
    uint64_t seed;       /* weights and training images */
    uint64_t test_seed;  /* held-out images */
    uint32_t image_size; /* simulator image side in pixels */
    int verbose;         /* print per-epoch loss to stderr */
};

struct xray_train_result {
    uint32_t n_test;
    double accuracy;                      /* p >= 0.5 vs truth */
    uint32_t band_total[XRAY_BAND_COUNT]; /* held-out images per band */
    uint32_t band_pneumonia[XRAY_BAND_COUNT];
    double seconds;
};

/* Fill every weight with seeded He-initialized noise (biases small) and
 * prepare the model. */
void xray_model_randomize(struct xray_model *m, uint64_t seed);

/* One simulator image through the worker's exact input path (render, JPEG
 * encode at quality 90 as xray-sim writes it, decode, resample, scale) into
 * input (in_h*in_w*in_c floats). */
void xray_train_sample(struct xray_rng *r, int pneumonia, uint32_t size,
                       const struct xray_shape *s, float *input);

/* Train a model. CAIRN_EINVAL for bad options (named in d). */
CAIRN_WUR int xray_train(const struct xray_train_opts *o,
                         struct xray_model **out, struct xray_train_result *res,
                         struct cairn_diag *d);

/* Score a model on n held-out simulator images (seeded). */
void xray_evaluate(const struct xray_model *m, uint32_t n, uint64_t seed,
                   uint32_t size, struct xray_train_result *res);

#endif
