/*
 * Staff notification for high-risk images: one JSON POST to the configured
 * webhook, with an optional bearer token and an Idempotency-Key (the image's
 * SHA-256) so a receiver can drop the duplicates that at-least-once delivery
 * allows. Blocking (libcurl easy): call it off the event loop, as the
 * worker's notifier does from the libuv thread pool.
 */
#ifndef XRAY_NOTIFY_H
#define XRAY_NOTIFY_H

#include "cairn/diag.h"

struct xray_webhook {
    const char *url;
    const char *token; /* NULL: no Authorization header */
    long timeout_ms;
};

/* Call once at start, before threads (curl_global_init). */
void xray_webhook_global_init(void);

/* POST body (JSON). 0 on a 2xx answer; CAIRN_EHTTP with the status in d
 * otherwise; CAIRN_ENET when the receiver could not be reached. Redirects
 * are not followed; only http and https are allowed. Never logs the token. */
CAIRN_WUR int xray_webhook_post(const struct xray_webhook *w, const char *body,
                                const char *idempotency_key, long *status,
                                struct cairn_diag *d);

/* The JSON body: {site, image, label, p, model_version, time, event_id,
 * band, class}. Caller frees. NULL when a string is not valid UTF-8. */
char *xray_webhook_body(const char *site, const char *image, const char *label,
                        double p, const char *model_version,
                        const char *time_rfc3339, const char *event_id,
                        const char *band, const char *cls);

#endif
