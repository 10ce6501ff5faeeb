/*
 * The x-ray CNN: its file format (docs/xray-worker.md "Model file format")
 * and its forward pass.
 *
 * Topology: input HxWxC scaled to 0..1, then n_conv times
 * conv3x3 (valid) -> ReLU -> maxpool 2x2 (floor), flatten (HWC order),
 * dense `dense` + ReLU, dense 1 + sigmoid = P(pneumonia). The pattern's
 * model is 150x150x3, filters 32/32/64, dense 64; every size comes from the
 * header so small variants run too.
 *
 * A loaded model is read-only and may be shared by threads; each thread that
 * runs the forward pass needs its own workspace.
 */
#ifndef XRAY_MODEL_H
#define XRAY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"

#define XRAY_MODEL_MAGIC "XRAYCNN\0"
#define XRAY_MODEL_FORMAT 1
#define XRAY_MODEL_MAX_CONV 6
#define XRAY_MODEL_VERSION_MAX 32         /* bytes, without the NUL */
#define XRAY_MODEL_MAX_BYTES (512u << 20) /* refuse larger files */
#define XRAY_MODEL_FIXED_HEADER 136       /* bytes before the tensor table */

struct xray_shape {
    uint32_t in_h, in_w, in_c;
    uint32_t n_conv;
    uint32_t filters[XRAY_MODEL_MAX_CONV];
    uint32_t dense;
};

struct xray_model {
    struct xray_shape shape;
    char version[XRAY_MODEL_VERSION_MAX + 1];
    char sha256_hex[65]; /* of the whole file as loaded or saved; "" if new */

    /* All tensors in file order, one allocation:
     *   per conv layer i: W [F_i][3][3][C_in] then b [F_i]
     *   dense 1: W [dense][flat] then b [dense]
     *   dense 2: W [dense] then b [1] */
    float *w;
    size_t n_weights;
    float *conv_w[XRAY_MODEL_MAX_CONV], *conv_b[XRAY_MODEL_MAX_CONV];
    float *d1_w, *d1_b, *d2_w, *d2_b;

    /* Derived, filled by xray_model_prepare(): transposed copies laid out
     * for the forward pass ([K][F] and [flat][dense]) and layer sizes. */
    float *conv_wt[XRAY_MODEL_MAX_CONV];
    float *d1_wt;
    uint32_t conv_in_h[XRAY_MODEL_MAX_CONV], conv_in_w[XRAY_MODEL_MAX_CONV];
    uint32_t flat;
};

/* Check a shape (every size in range, every layer at least 1x1 after its
 * pool). CAIRN_EINVAL with the field named in d. */
CAIRN_WUR int xray_shape_check(const struct xray_shape *s,
                               struct cairn_diag *d);

/* Number of float weights of a checked shape, and its flatten length. */
size_t xray_shape_weights(const struct xray_shape *s);
uint32_t xray_shape_flat(const struct xray_shape *s);

/* A fresh model with all weights zero; shape must pass xray_shape_check
 * (aborts otherwise, a programming error); version is truncated to
 * XRAY_MODEL_VERSION_MAX. Call xray_model_prepare() after filling w. */
struct xray_model *xray_model_new(const struct xray_shape *s,
                                  const char *version);

/* (Re)build the derived tables after the weights changed. */
void xray_model_prepare(struct xray_model *m);

void xray_model_free(struct xray_model *m);

/* Parse a model file image. Refuses (CAIRN_EPARSE, CAIRN_EDIGEST,
 * CAIRN_ESIZE, CAIRN_EUNSUPPORTED, CAIRN_EINVAL) anything truncated,
 * corrupt, of an unknown format version, with an out-of-range field or with
 * non-finite weights, naming the field in d. *out is a prepared model. */
CAIRN_WUR int xray_model_parse(const void *buf, size_t len,
                               struct xray_model **out, struct cairn_diag *d);

/* Read and parse a file (capped at XRAY_MODEL_MAX_BYTES); errors as
 * xray_model_parse plus CAIRN_ENOENT / CAIRN_EIO / CAIRN_ETOOBIG. The
 * message in d starts with the path. */
CAIRN_WUR int xray_model_load(const char *path, struct xray_model **out,
                              struct cairn_diag *d);

/* Serialize to a fresh buffer (caller frees) and fill m->sha256_hex. */
void xray_model_serialize(struct xray_model *m, uint8_t **out, size_t *out_len);

/* Write atomically (temp file, fsync, rename). CAIRN_EIO. */
CAIRN_WUR int xray_model_save(struct xray_model *m, const char *path,
                              struct cairn_diag *d);

/* Forward pass scratch space, sized for one model. */
struct xray_ws;
struct xray_ws *xray_ws_new(const struct xray_model *m);
void xray_ws_free(struct xray_ws *ws);

/* P(pneumonia) for one input of in_h*in_w*in_c floats in HWC order, 0..1.
 * logit (may be NULL) receives the pre-sigmoid value. features (may be
 * NULL) receives the flatten vector (m->flat floats) - the trainer uses it. */
float xray_model_forward(const struct xray_model *m, struct xray_ws *ws,
                         const float *input, float *logit, float *features);

/* The dense head alone, from a flatten vector (the trainer's inner loop). */
float xray_model_head(const struct xray_model *m, const float *features,
                      float *hidden, float *logit);

#endif
