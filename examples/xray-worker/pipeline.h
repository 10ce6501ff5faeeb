/*
 * One inbox image, start to finish: read (capped), digest, decode, score,
 * band, write the labelled copy to processed/, anonymize Unsure images into
 * the outbox, record everything (and queue the staff notification) in one
 * SQLite transaction, then move the original to done/. Images that cannot
 * be processed are recorded and moved to failed/. Blocking: runs on a
 * thread-pool thread, one image at a time.
 *
 * Exactly once: an image whose content digest is already recorded (the
 * worker died between commit and move) is only moved to done/.
 */
#ifndef XRAY_PIPELINE_H
#define XRAY_PIPELINE_H

#include "band.h"
#include "config.h"
#include "image.h"
#include "model.h"
#include "store.h"
#include "truth.h"

struct xray_pipeline {
    const struct xray_config *cfg;
    const struct xray_model *model;
    const char *model_version; /* what the agent deployed (or the header's) */
    struct xray_decode_limits lim;
    struct xray_store *store; /* this thread's connection */
    struct xray_truth *truth;
    struct xray_ws *ws;
};

enum xray_outcome {
    XRAY_OUT_PROCESSED,
    XRAY_OUT_DUPLICATE, /* already recorded; moved to done/ */
    XRAY_OUT_FAILED,    /* undecodable or refused; moved to failed/ */
    XRAY_OUT_DEFERRED,  /* looks half-written; left for a later scan */
    XRAY_OUT_GONE,      /* vanished before we read it */
    XRAY_OUT_ERROR,     /* our own I/O or database failed; left in place */
};

struct xray_result {
    enum xray_outcome outcome;
    enum xray_band band;
    float p;
    double score_seconds; /* decode + resample + forward pass */
    int anonymized, anon_refused, notified;
    const char *truth; /* "NORMAL", "PNEUMONIA" or NULL */
    char msg[512];     /* failure reason or error */
};

/* Open the store, the truth table and the directories. CAIRN_EDB,
 * CAIRN_EIO. */
CAIRN_WUR int xray_pipeline_init(struct xray_pipeline *p,
                                 const struct xray_config *cfg,
                                 const struct xray_model *m,
                                 const char *model_version,
                                 struct cairn_diag *d);
void xray_pipeline_free(struct xray_pipeline *p);

/* Process inbox/<name>; never aborts on bad input. */
void xray_pipeline_process(struct xray_pipeline *p, const char *name,
                           struct xray_result *r);

/* Decode an encoded image and score it (the /v1/score path too). keep
 * (may be NULL) receives the decoded image. CAIRN_EPARSE, CAIRN_ETOOBIG,
 * CAIRN_EUNSUPPORTED from the decoder. */
CAIRN_WUR int xray_score_encoded(const struct xray_model *m, struct xray_ws *ws,
                                 const struct xray_decode_limits *lim,
                                 const void *buf, size_t len,
                                 struct xray_image *keep, float *p,
                                 struct cairn_diag *d);

/* "<stem>-processed.<ext>" of a name (the pattern's naming). */
void xray_processed_name(const char *name, char *out, size_t n);

/* Draw "<Class>, risk=<pct>%" at (0,0), white on a black box, scaled to the
 * image width. */
void xray_draw_label(struct xray_image *im, const char *label);

#endif
