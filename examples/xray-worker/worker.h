/*
 * The xray-worker daemon: one libuv loop that watches the inbox (fs events
 * plus a periodic rescan, since events can be missed), hands one image at a
 * time to the pipeline on the thread pool, delivers queued staff
 * notifications from the thread pool with backoff, and serves
 *   GET  /healthz   200 + model version/sha256 while the model is loaded and
 *                   the loop and pipeline are alive
 *   GET  /metrics   Prometheus text
 *   POST /v1/score  body = one image; answers {p, band, class, label, ...}
 *                   (the agent's golden check; nothing is recorded)
 */
#ifndef XRAY_WORKER_H
#define XRAY_WORKER_H

#include "config.h"
#include "model.h"

/* Run until SIGINT/SIGTERM. model_version is what the worker reports
 * (CAIRN_MODEL_VERSION or the header's). Returns the process exit code:
 * 0 after a signal, 1 when start-up fails (message already logged). */
int xray_worker_run(const struct xray_config *cfg, const struct xray_model *m,
                    const char *model_version);

#endif
