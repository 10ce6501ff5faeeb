/*
 * The reconcile state machine: from an accepted desired state to running,
 * healthy workers, or back to the last-known-good.
 *
 * Persisted phases (state.json "pending", see state.h) and what a restart
 * after a crash does in each:
 *
 *   none      run the applied document's workers (restart them on `current`)
 *   fetch     run the applied workers; resume the downloads (.partial files)
 *   apply     redo the apply from the start (every step is idempotent), or
 *   gate      roll back once applyAttempts applies were interrupted
 *   rollback  redo the rollback
 *
 * One update, forward or back, runs these steps (a switch, one function
 * each; async steps count their outstanding operations):
 *
 *   FETCH   verify each model's attestation against the pinned publisher
 *           keys (subject digest = signed sha256, same size), then download
 *           missing blobs (download.h verifies size and digest before a blob
 *           is installed)
 *   STOP    build each workload's config.G/secrets.G (apply.h prepare),
 *           mark the touched workloads (below), stop their workers
 *           (SIGTERM, grace, SIGKILL)
 *   SWITCH  switch the `config` and `current` links of every workload of
 *           the target (apply.h), record the applied document, start the
 *           touched workers (supervise.h)
 *   GATE    the health gate of every touched workload (health.h)
 *   FINISH  forward and healthy: commit (last-known-good := applied);
 *           forward and unhealthy: start the rollback (target := last known
 *           good); rollback: mark the generation failed, report RolledBack.
 *
 * Touched: a workload the target removes, adds or changes. A workload
 * whose live worker was started with an entry equal to the target's, all
 * but model.urls and model.attestation compared (the signed sha256 stays),
 * is untouched: its worker runs on, never stopped or gated, and keeps
 * reading the config.G / secrets.G of the generation it was started for
 * (same content; cleanup keeps them while it runs). A worker that is
 * stopped or failed for good counts as touched. The rollback computes the
 * same against the last-known-good, so only what the update changed goes
 * back. The set is not persisted: a new agent process has no live worker
 * (leftovers are stopped by worker.pid), so after a crash every workload
 * is touched, which is where the recovery below starts from anyway.
 *
 * A generation that failed is never retried; a newer one is needed
 * (DESIGN.md invariant 4). A download that ran out of tries reports
 * DownloadFailed and is tried again after retryMaxSeconds while the
 * current model keeps running; bytes that do not match the signed digest
 * from every URL, or a bad attestation, fail the generation.
 *
 * Loop context: loop thread only. The struct is embedded in the agent and
 * outlives the loop run.
 */
#ifndef CAIRN_AGENT_RECONCILE_H
#define CAIRN_AGENT_RECONCILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/httpc.h"
#include "cairn/keys.h"
#include "config.h"
#include "download.h"
#include "health.h"
#include "state.h"
#include "supervise.h"

#define CAIRN_RECONCILE_MAX_WORKLOADS 64

/* What reconcile tells its owner. */
struct cairn_reconcile_hooks {
    /* A transition worth a report event (report schema event types). */
    void (*event)(void *arg, const char *type, int64_t gen, const char *reason);
    /* Something a status report shows changed (a worker state, health). */
    void (*changed)(void *arg);
    /* The state changed and must be saved now (returns 0 or an error). */
    int (*save)(void *arg);
    /* Idle again (no update in progress): the owner may hand over a
     * deferred desired state. */
    void (*idle)(void *arg);
    /* Headers for artifact requests ("Authorization: Bearer ..."), NULL-
     * terminated, or NULL; valid until the next call. */
    const char *const *(*auth_headers)(void *arg);
    void *arg;
};

enum cairn_rec_step {
    CAIRN_REC_IDLE,
    CAIRN_REC_FETCH,
    CAIRN_REC_FETCH_DONE,
    CAIRN_REC_STOP,
    CAIRN_REC_SWITCH,
    CAIRN_REC_GATE,
    CAIRN_REC_GATE_DONE,
    CAIRN_REC_FINISH,
};

struct cairn_reconcile;

/* One workload the agent knows (running, or to be stopped). Private. */
struct cairn_rec_workload {
    struct cairn_reconcile *rec;
    char name[64];
    struct cairn_worker *worker;
    json_t *entry; /* the entry its worker was started with, or NULL */
    int64_t gen;   /* generation of entry (its config.G / secrets.G) */
    int touch;     /* stopped and started by the update in progress; 0:
                      its effective entry is unchanged, it runs on */
    struct cairn_health_gate *gate;
    enum cairn_health health;
    json_t *metrics; /* last scrape, or NULL */
    struct cairn_health_req *probe, *scrape;
    int closing;
};

/* Fields private to reconcile.c. */
struct cairn_reconcile {
    const struct cairn_agent_config *cfg;
    char *state_dir; /* absolute */
    struct cairn_state *st;
    const struct cairn_seckey *site_key;
    const struct cairn_keyset *publishers;
    struct cairn_httpc *http;
    uv_loop_t *loop;
    struct cairn_reconcile_hooks hooks;
    struct cairn_rec_workload *w[CAIRN_RECONCILE_MAX_WORKLOADS];
    size_t nw;
    enum cairn_rec_step step;
    json_t *target;   /* the document being installed (desired or lkg) */
    int rollback;     /* target is the last-known-good */
    unsigned pending; /* outstanding async operations of this step */
    int step_err;     /* first failure of this step */
    char step_reason[1024];
    struct cairn_download *dl[CAIRN_RECONCILE_MAX_WORKLOADS];
    uint32_t dl_failed_hard; /* digest mismatch: fail the generation */
    int64_t dl_reported_gen; /* DownloadFailed already reported for it */
    uv_timer_t retry;
    unsigned refreshing; /* probes/scrapes outstanding */
    void (*refresh_cb)(void *arg);
    void *refresh_arg;
    unsigned pending_close; /* workers being closed */
    int stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

/* Bind to the agent's pieces (all borrowed, outliving rec) and recover
 * from whatever a crash left (see above): start the applied workers and
 * resume the pending phase. 0, or an error when the state directory is
 * unusable (CAIRN_EIO, CAIRN_ENOENT). */
CAIRN_WUR int cairn_reconcile_start(
    struct cairn_reconcile *rec, const struct cairn_agent_config *cfg,
    struct cairn_state *st, const struct cairn_seckey *site_key,
    const struct cairn_keyset *publishers, struct cairn_httpc *http,
    const struct cairn_reconcile_hooks *hooks, struct cairn_diag *d);

/* 1 when no update is in progress (a new document may be handed over). */
int cairn_reconcile_idle(const struct cairn_reconcile *rec);

/* A newly accepted document is in st->desired (the caller saved the
 * state): start installing it unless it is failed or already applied.
 * During a FETCH the running fetch is abandoned for the newer document.
 * Call only when cairn_reconcile_idle or while fetching. */
void cairn_reconcile_desired_changed(struct cairn_reconcile *rec);

/* 1 while fetching (a newer document may replace the target). */
int cairn_reconcile_fetching(const struct cairn_reconcile *rec);

/* Probe health and scrape metrics of every running worker, then call cb
 * (from the loop). One refresh at a time: a second call while one runs
 * only replaces cb. */
void cairn_reconcile_refresh(struct cairn_reconcile *rec, void (*cb)(void *arg),
                             void *arg);

/* The report's `workloads` array (new reference): per workload the model
 * it runs (from the entry its worker was started with), state, restarts,
 * last exit, health, metrics. */
json_t *cairn_reconcile_workloads_json(const struct cairn_reconcile *rec);

/* Stop every worker (SIGTERM, grace, SIGKILL) and cancel downloads,
 * gates and probes, then call cb from the loop. The state on disk is left
 * as it is, so the next start resumes. */
void cairn_reconcile_stop(struct cairn_reconcile *rec, void (*cb)(void *arg),
                          void *arg);

/* Description of the step for status ("idle", "fetch", ...). */
const char *cairn_reconcile_step_name(enum cairn_rec_step s);

#endif
