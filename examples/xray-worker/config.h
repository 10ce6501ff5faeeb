/*
 * xray-worker configuration. One table (config.c) drives parsing, defaults
 * and the documentation printed by `xray-worker --help-config`.
 *
 * Sources, later wins: built-in defaults, the file
 * $CAIRN_CONFIG_DIR/xray-worker.conf (or $XRAY_CONFIG) with `key = value`
 * lines, then XRAY_* environment variables. The CAIRN_* variables the agent
 * sets (model path, digest, version, workload, config dir) come from the
 * environment only. Unknown keys and bad values are errors naming file:line.
 */
#ifndef XRAY_CONFIG_H
#define XRAY_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cairn/diag.h"

struct xray_config {
    /* from the agent (environment only) */
    char *model_path;    /* CAIRN_MODEL_PATH, required */
    char *model_sha256;  /* CAIRN_MODEL_SHA256, optional: checked if set */
    char *model_version; /* CAIRN_MODEL_VERSION, optional: else the header's */
    char *workload;      /* CAIRN_WORKLOAD */
    char *config_dir;    /* CAIRN_CONFIG_DIR */

    /* the worker's own keys (file or XRAY_<KEY>) */
    char *data_dir;
    char *inbox;
    char *outbox;
    char *listen;
    char *site;
    char *webhook_url;
    char *webhook_token_file;
    char *truth_file;
    double rescan_seconds;
    double retry_min_seconds;
    double retry_max_seconds;
    double webhook_timeout_seconds;
    double anon_blur_sigma;
    uint64_t max_image_bytes;
    uint64_t max_side;
    uint64_t max_pixels;
    uint64_t jpeg_quality;

    /* derived */
    char *webhook_token; /* contents of webhook_token_file, trimmed */
    char *db_path, *done_dir, *failed_dir, *processed_dir;
    char *config_file; /* the file read, or NULL */
};

/* Fill c from defaults, file and environment. On error c is freed and d
 * names the key and source (CAIRN_EINVAL, CAIRN_EPARSE, CAIRN_EPERM for a
 * token file readable by group/other, CAIRN_ENOENT, CAIRN_EIO). */
CAIRN_WUR int xray_config_load(struct xray_config *c, struct cairn_diag *d);
void xray_config_free(struct xray_config *c);

/* One line per key: name, environment variable, default, meaning. */
void xray_config_describe(FILE *f);

#endif
