/*
 * Status reports (docs/formats.md "Status report"): built from what runs,
 * signed by the site key as DSSE, written durably to STATE/outbox/ first,
 * then delivered to POST /v1/sites/SITE/reports in seq order, one at a
 * time, and removed only after the controller's 200.
 *
 * Exactly once (DESIGN.md invariant 5): a report's seq and bytes never
 * change once it is in the outbox, so a resend after a crash or a lost
 * answer is a duplicate the controller acknowledges without storing it
 * twice; and a seq is never reused for other bytes (the caller persists the
 * highest seq assigned, see cairn_outbox_max_seq).
 *
 * Bounded: a new plain status report replaces the older plain status
 * reports still waiting (they say less than it does); transition events
 * are kept up to the cap, beyond which the oldest status, then the oldest
 * event, is dropped.
 *
 * Loop context: loop thread only. Disk writes are small and synchronous.
 */
#ifndef CAIRN_AGENT_REPORT_H
#define CAIRN_AGENT_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/diag.h"
#include "cairn/httpc.h"
#include "cairn/keys.h"
#include "sync.h"

#define CAIRN_REPORT_CAP (256 * 1024)

/* ---- the outbox (disk only; unit-tested alone) -------------------------- */

struct cairn_outbox_entry {
    int64_t seq;
    int event; /* 1: a transition event, kept; 0: plain status */
};

struct cairn_outbox {
    char *dir;
    size_t max;
    struct cairn_outbox_entry *e; /* sorted by seq */
    size_t n, alloc;
    int64_t busy_seq; /* being sent: never dropped or coalesced; 0 none */
    uint64_t dropped; /* reports dropped by the cap */
};

/* Open (creating) dir, index the reports in it, remove leftover temp
 * files. max >= 2. CAIRN_EIO / CAIRN_EPERM. */
CAIRN_WUR int cairn_outbox_open(struct cairn_outbox *ob, const char *dir,
                                size_t max, struct cairn_diag *d);
void cairn_outbox_close(struct cairn_outbox *ob);

/* Durably add a signed report with this seq (above every seq in the
 * outbox: CAIRN_EINVAL otherwise), then coalesce and apply the cap. */
CAIRN_WUR int cairn_outbox_put(struct cairn_outbox *ob, int64_t seq, int event,
                               const char *env, size_t len,
                               struct cairn_diag *d);
/* The oldest report: *seq and a fresh copy of its bytes (free()).
 * CAIRN_ENOENT when empty; CAIRN_EIO. */
CAIRN_WUR int cairn_outbox_head(struct cairn_outbox *ob, int64_t *seq,
                                char **env, size_t *len, struct cairn_diag *d);
/* Remove the report with this seq (acknowledged, or undeliverable). */
CAIRN_WUR int cairn_outbox_remove(struct cairn_outbox *ob, int64_t seq,
                                  struct cairn_diag *d);
size_t cairn_outbox_count(const struct cairn_outbox *ob);
/* Highest seq in the outbox, 0 when empty. */
int64_t cairn_outbox_max_seq(const struct cairn_outbox *ob);

/* ---- the payload -------------------------------------------------------- */

struct cairn_report_event {
    const char *type; /* schema enum: Applied, RolledBack, ... */
    int64_t generation;
    const char *reason; /* may be NULL; cut to 2048 bytes */
};

struct cairn_report_input {
    const char *site;
    int64_t seq;
    int64_t time;
    int64_t applied, served, lkg; /* generations; 0 none */
    const char *commit;           /* source commit of applied, NULL: null */
    const struct cairn_report_event *event; /* NULL: plain status */
    json_t *workloads;                      /* borrowed array per the schema */
    json_t *conditions;                     /* borrowed array, may be NULL */
    int64_t free_bytes;                     /* < 0: unknown, left out */
};

/* The payload object (new reference), checked against
 * report.schema.json; NULL with d set if it does not match (a bug). */
json_t *cairn_report_payload(const struct cairn_report_input *in,
                             struct cairn_diag *d);
/* Sign a payload: canonical JSON in a DSSE envelope (fresh string). */
char *cairn_report_sign(const json_t *payload, const struct cairn_seckey *key);

/* ---- delivery ----------------------------------------------------------- */

struct cairn_reporter_opts {
    const char *controller; /* base URL */
    const char *site;
    uint32_t retry_min_ms, retry_max_ms;
    cairn_rand_fn rnd;
    void *rnd_arg;
};

/* Fields private to report.c. */
struct cairn_reporter {
    struct cairn_reporter_opts o;
    struct cairn_outbox *ob;
    struct cairn_httpc *http;
    struct cairn_sync *sync;
    uv_timer_t timer;
    struct cairn_backoff backoff;
    struct cairn_httpc_req *req;
    char token_used[CAIRN_TOKEN_MAX];
    int waiting; /* timer armed */
    int stopped;
    uint64_t delivered;
    char last_error[256];
};

/* Bind to an open outbox and start delivering what it holds. */
void cairn_reporter_start(struct cairn_reporter *r, struct cairn_outbox *ob,
                          struct cairn_httpc *http, struct cairn_sync *sync,
                          const struct cairn_reporter_opts *o);
/* Something new to send, or a token arrived: send now unless busy or
 * waiting out a backoff (force: skip the backoff too). */
void cairn_reporter_kick(struct cairn_reporter *r, int force);
void cairn_reporter_stop(struct cairn_reporter *r);

#endif
