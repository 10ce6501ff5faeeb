/*
 * Health: the gate a new generation must pass, the periodic probe for
 * reports, and the worker's /metrics for the report's `metrics` map.
 *
 * Gate (workload entry `health`, docs/formats.md):
 *   1. GET health.http every interval_ms (each request at most
 *      request_timeout_ms) until a 200 answer, for at most
 *      health.timeoutSeconds from the start of the gate.
 *   2. With `golden`: POST the file golden.input (read from the
 *      generation's config dir at gate start, at most golden_input_max
 *      bytes) with golden.contentType (default application/octet-stream) to
 *      golden.url; the reply must be a 2xx JSON object (at most
 *      golden_reply_max bytes) in which every field of golden.expect equals
 *      the reply's: strings and booleans and null exactly, numbers exactly
 *      when both are integers and otherwise within 1e-9 (absolute, or
 *      relative to the larger magnitude past 1), objects and arrays
 *      member by member. A wrong answer fails at once; a transport error or
 *      non-2xx status is retried every interval_ms until the deadline.
 *   3. The worker exiting at any point (cairn_health_gate_worker_exited)
 *      fails the gate at once with the exit reason.
 *   Without a `health` section the gate passes when the worker stays up
 *   settle_ms.
 * The reason text is fit for a report (at most ~512 bytes), e.g.
 *   golden check: band is "Normal", expected "Pneumonia"
 *   no healthy answer from http://127.0.0.1:8081/healthz within 60 s
 *   (last: connection refused)
 *
 * Probe: one GET of health.http: healthy on 200, unhealthy otherwise.
 * Metrics: one GET of the same scheme://host:port with path /metrics,
 * parsed as the Prometheus text exposition (strict; caps below).
 *
 * Loop context: everything runs on the loop of the cairn_httpc client
 * (owned by the caller; close it only after every gate and request here has
 * called back, or close it and let them call back with CAIRN_ECANCELED).
 * Callbacks run from the loop, never from inside the call that caused
 * them; a call that returns an error fires no callback. A gate or request
 * is freed right after its callback returns.
 */
#ifndef CAIRN_AGENT_HEALTH_H
#define CAIRN_AGENT_HEALTH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/error.h"
#include "cairn/httpc.h"

#define CAIRN_METRICS_MAX_SAMPLES 64 /* the report's metrics map cap */
#define CAIRN_METRICS_BODY_MAX (256u << 10)
#define CAIRN_METRICS_LINE_MAX 4096 /* longer lines are an error */
#define CAIRN_METRICS_KEY_MAX 256   /* flattened key length */

struct cairn_health_opts {
    uint64_t interval_ms;        /* between polls; 0: 1000 */
    uint64_t request_timeout_ms; /* per health GET; 0: 2000 */
    uint64_t settle_ms;          /* no `health`: uptime to pass; 0: 3000 */
    size_t golden_input_max;     /* 0: 16 MiB */
    size_t golden_reply_max;     /* 0: 1 MiB */
};

enum cairn_health {
    CAIRN_HEALTH_UNKNOWN,
    CAIRN_HEALTH_HEALTHY,
    CAIRN_HEALTH_UNHEALTHY,
};

/* "unknown" "healthy" "unhealthy" (report strings). */
const char *cairn_health_name(enum cairn_health h);

/* ---- gate ---- */

struct cairn_health_gate;

/* err: 0 healthy; CAIRN_ETIMEOUT no healthy (or golden) answer before the
 * deadline; CAIRN_EPOLICY the golden reply is wrong (or not a JSON
 * object); CAIRN_ESTATE the worker exited; CAIRN_ENOENT / CAIRN_EIO /
 * CAIRN_ETOOBIG / CAIRN_EPATH the golden input could not be read;
 * CAIRN_ECANCELED cancelled (or the client closed). reason is never NULL
 * (e.g. "healthy after 2.1 s, golden check passed"), valid during the
 * call. g is freed when the callback returns. */
typedef void (*cairn_health_gate_cb)(struct cairn_health_gate *g, int err,
                                     const char *reason, void *arg);

/* Start the gate for a worker that was just started. health is the
 * entry's `health` object or NULL; config_dir the generation's config dir
 * (golden.input is joined under it, confined); opts may be NULL. Copies
 * what it needs. Errors (no callback): CAIRN_EINVAL (health not an object,
 * http not an http(s) URL, timeoutSeconds not a positive integer, golden
 * without url/input/expect object, config_dir NULL with golden),
 * CAIRN_ESTATE (client closing). */
CAIRN_WUR int cairn_health_gate_start(
    struct cairn_httpc *c, const json_t *health, const char *config_dir,
    const struct cairn_health_opts *opts, cairn_health_gate_cb cb, void *arg,
    struct cairn_health_gate **out, struct cairn_diag *d);

/* The supervised worker ended during the gate (forward the supervisor's
 * EXITED event): the gate fails with CAIRN_ESTATE and reason
 * "worker exited during the health gate: <reason>". No-op once the gate
 * has a result. */
void cairn_health_gate_worker_exited(struct cairn_health_gate *g,
                                     const char *reason);

/* Stop the gate: the callback fires with CAIRN_ECANCELED (unless a result
 * was already decided, then with that result). Idempotent until then. */
void cairn_health_gate_cancel(struct cairn_health_gate *g);

/* ---- one-shot probe and metrics scrape ---- */

struct cairn_health_req;

/* Probe result: HEALTHY on 200; UNHEALTHY with detail ("HTTP 503",
 * "connection refused", "timed out"); UNKNOWN when cancelled. */
typedef void (*cairn_health_probe_cb)(struct cairn_health_req *r,
                                      enum cairn_health h, const char *detail,
                                      void *arg);

/* Scrape result: err 0 with metrics a JSON object of at most
 * CAIRN_METRICS_MAX_SAMPLES numbers (borrowed: json_incref to keep it) and
 * dropped = samples past the cap; or err < 0 (transport error, non-200,
 * CAIRN_ETOOBIG, CAIRN_EPARSE, CAIRN_ECANCELED) with metrics NULL and
 * detail saying why. */
typedef void (*cairn_health_scrape_cb)(struct cairn_health_req *r, int err,
                                       json_t *metrics, size_t dropped,
                                       const char *detail, void *arg);

/* GET url once (timeout_ms 0: 2000). CAIRN_EINVAL (not http(s)),
 * CAIRN_ESTATE (client closing). */
CAIRN_WUR int cairn_health_probe_start(struct cairn_httpc *c, const char *url,
                                       uint64_t timeout_ms,
                                       cairn_health_probe_cb cb, void *arg,
                                       struct cairn_health_req **out,
                                       struct cairn_diag *d);

/* GET the /metrics of health_url's host and port (timeout_ms 0: 2000;
 * body at most CAIRN_METRICS_BODY_MAX). Errors as the probe's. */
CAIRN_WUR int cairn_health_scrape_start(struct cairn_httpc *c,
                                        const char *health_url,
                                        uint64_t timeout_ms,
                                        cairn_health_scrape_cb cb, void *arg,
                                        struct cairn_health_req **out,
                                        struct cairn_diag *d);

/* Cancel a probe or scrape: its callback fires later (UNKNOWN /
 * CAIRN_ECANCELED) unless it already completed. */
void cairn_health_req_cancel(struct cairn_health_req *r);

/* ---- pure helpers (any thread) ---- */

/* "scheme://authority/metrics" for an http(s) URL; fresh string.
 * CAIRN_EINVAL for another scheme, an empty host or userinfo. */
CAIRN_WUR int cairn_metrics_url(const char *health_url, char **out,
                                struct cairn_diag *d);

/* Parse len bytes of Prometheus text exposition (format 0.0.4): comment and
 * blank lines skipped; each sample `name{label="value",...} value
 * [timestamp]` with name [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]*, label values with \\ \" \n escapes, values as
 * decimal floats or +Inf/-Inf/NaN. Keys are the name with its labels
 * sorted by name and rendered `name{a="x",b="y"}` (no braces without
 * labels); samples whose value is not finite are skipped (JSON has no
 * NaN/Inf); the first max_samples finite samples are kept, later ones
 * counted in *dropped. Refused with CAIRN_EPARSE and "line N: why": a
 * malformed line, a duplicate key, control characters or invalid UTF-8, a
 * line over CAIRN_METRICS_LINE_MAX, a key over CAIRN_METRICS_KEY_MAX;
 * CAIRN_ETOOBIG when len > CAIRN_METRICS_BODY_MAX. *out (new reference,
 * an object of reals) and *dropped (may be NULL) written only on success. */
CAIRN_WUR int cairn_metrics_parse(const char *text, size_t len,
                                  size_t max_samples, json_t **out,
                                  size_t *dropped, struct cairn_diag *d);

#endif
