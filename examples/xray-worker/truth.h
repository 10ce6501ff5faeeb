/*
 * Ground truth from the simulator's CSV ("name,truth" lines, truth NORMAL
 * or PNEUMONIA), looked up by image name so that images_processed and
 * /metrics can report accuracy. The file grows while the worker runs: a
 * lookup that misses reads whatever was appended since the last read.
 * Used by one thread at a time.
 */
#ifndef XRAY_TRUTH_H
#define XRAY_TRUTH_H

struct xray_truth;

/* Never fails: a missing file is an empty table that is retried later. */
struct xray_truth *xray_truth_new(const char *path);
void xray_truth_free(struct xray_truth *t);

/* "NORMAL", "PNEUMONIA" or NULL when unknown. */
const char *xray_truth_lookup(struct xray_truth *t, const char *name);

#endif
