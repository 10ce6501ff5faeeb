/*
 * Per-model-version statistics from the workers' counters (docs/model-
 * versions.md): how many images each model version processed, their band
 * distribution, and how many of them reviewed labels confirm.
 *
 * Agents put their worker's Prometheus counters into every report
 * (`workloads[].metrics`), labelled by the worker with the model version it
 * serves. Counters restart at zero with each worker process, and a site
 * switches versions, so the totals per version are folded as reports
 * arrive: for each (site, workload, model, version, counter) the store
 * keeps `base + last`, adding `last` to `base` whenever a new value is
 * lower than the last one (a restart), as Prometheus' increase() does.
 *
 * The folding runs inside the records database (records.h), as SQLite
 * triggers on the site_status table that every stored report updates, so
 * it shares the report's transaction: a report is folded exactly once,
 * when and only when it is stored. Only counters (`*_total` samples) that
 * carry a `model_version` label equal to the workload's model version are
 * folded; the stored name drops the model_version and model_sha256 labels
 * (`xray_images_band_total{band="high",class="Pneumonia"}`).
 *
 * Threads: each call opens its own connection; call from one thread at a
 * time per call (the daemon installs on its loop before serving and
 * queries from the thread pool). Errors: CAIRN_EDB with SQLite's text.
 */
#ifndef CAIRN_MODELSTATS_H
#define CAIRN_MODELSTATS_H

#include <jansson.h>

#include "cairn/diag.h"

/* Create the counters table and the folding triggers in the records
 * database at path (already created by cairn_records_open). Idempotent.
 * Reports stored before the install are not folded. CAIRN_EDB. */
CAIRN_WUR int cairn_modelstats_install(const char *records_path,
                                       struct cairn_diag *d);

/*
 * Read the folded counters and the uploads index and build the view.
 * running (borrowed, may be NULL) maps "model@version" to the array of
 * sites running it now (the daemon knows that from the latest reports).
 * *out = a new JSON array, one object per (model, version), sorted:
 *   {"model", "version",
 *    "sitesRunning": [site, ...],            from running
 *    "sitesReported": [site, ...],           sites with counters for it
 *    "counters": {name: total, ...},         every folded counter, summed
 *    "imagesProcessed", "bands": {"high", "low", "unknown"},
 *    "unsureRate": unknown / processed, or null,
 *    "reviewed": {"images", "decided", "correct", "accuracy"},
 *    "uploads": {"count", "bytes"}}
 * accuracy = correct / decided, or null when nothing reviewed was decided
 * (docs/model-versions.md). Uploads are indexed by version only: they
 * count toward every model with that version. *out only on success.
 */
CAIRN_WUR int cairn_modelstats_query(const char *records_path,
                                     const json_t *running, json_t **out,
                                     struct cairn_diag *d);

#endif
