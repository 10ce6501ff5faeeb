/*
 * The worker's records in SQLite (WAL): the pattern's three tables, with the
 * pattern's columns first and ours after them,
 *
 *   images_uploaded  (time, name, image_sha256)
 *   images_processed (time, name, model, label, p, model_sha256,
 *                     source_name, image_sha256, truth, latency_ms)
 *   images_anonymized(time, name, source_name)
 *
 * plus images_failed (time, name, reason) and the durable webhook queue
 * notifications (id, created, next_at_ms, attempts, body, last_error); times
 * in the queue are unix milliseconds.
 * `label` stores the class word only (Pneumonia / Normal / Unsure), as the
 * pattern does; `name` in images_processed is the processed file's name.
 * All SQL is parameterized. A store handle is used by one thread at a time;
 * open one per thread (WAL lets them work side by side).
 */
#ifndef XRAY_STORE_H
#define XRAY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"

struct xray_store;

/* Open (creating the file and tables if needed). CAIRN_EDB. */
CAIRN_WUR int xray_store_open(const char *path, struct xray_store **out,
                              struct cairn_diag *d);
void xray_store_close(struct xray_store *s);

/* Has an image with this content digest been processed already? */
CAIRN_WUR int xray_store_seen(struct xray_store *s, const char *image_sha256,
                              int *seen, struct cairn_diag *d);

struct xray_record {
    const char *uploaded_time; /* SQL TIMESTAMP text */
    const char *time;
    const char *source_name;    /* the inbox file name */
    const char *processed_name; /* <stem>-processed.<ext> */
    const char *model_version;
    const char *model_sha256;
    const char *label_class; /* Pneumonia / Normal / Unsure */
    double p;
    const char *image_sha256;
    const char *truth; /* NULL if unknown */
    double latency_ms;
    const char *anon_name;   /* NULL unless anonymized */
    const char *notify_body; /* NULL unless a notification is queued */
    int64_t notify_at_ms;    /* first delivery time (unix ms) */
};

/* Everything about one processed image in one transaction. CAIRN_EDB. */
CAIRN_WUR int xray_store_record(struct xray_store *s,
                                const struct xray_record *r,
                                struct cairn_diag *d);

/* An image that could not be processed (uploaded + failed rows). */
CAIRN_WUR int xray_store_record_failure(struct xray_store *s, const char *time,
                                        const char *name, const char *reason,
                                        struct cairn_diag *d);

struct xray_notification {
    int64_t id;
    int64_t attempts;
    char *body;
};

/* Up to `limit` queued notifications due at `now`, oldest first. Free the
 * array with xray_notifications_free. */
CAIRN_WUR int xray_store_due(struct xray_store *s, int64_t now, int limit,
                             struct xray_notification **out, size_t *n,
                             struct cairn_diag *d);
void xray_notifications_free(struct xray_notification *v, size_t n);

/* Delivered: remove it. Failed: count the attempt, note the error, and
 * hold it until next_at_ms. */
CAIRN_WUR int xray_store_delivered(struct xray_store *s, int64_t id,
                                   struct cairn_diag *d);
CAIRN_WUR int xray_store_retry(struct xray_store *s, int64_t id,
                               int64_t next_at_ms, const char *error,
                               struct cairn_diag *d);

/* Queue length and the earliest next_at_ms (0 when empty). */
CAIRN_WUR int xray_store_pending(struct xray_store *s, int64_t *count,
                                 int64_t *next_at_ms, struct cairn_diag *d);

#endif
