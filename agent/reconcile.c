#include "reconcile.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accept.h"
#include "apply.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/log.h"
#include "cairn/mem.h"

static void run(struct cairn_reconcile *rec);
static void maybe_stopped(struct cairn_reconcile *rec);

static const char *const step_names[] = {"idle",   "fetch", "fetch", "stop",
                                         "switch", "gate",  "gate",  "finish"};

/* Which way an update goes. */
enum { MODE_FORWARD, MODE_ROLLBACK, MODE_RESTORE };

const char *cairn_reconcile_step_name(enum cairn_rec_step s)
{
    return (unsigned)s < CAIRN_ARRAY_LEN(step_names) ? step_names[s] : "?";
}

/* ---- small helpers -------------------------------------------------- */

static json_t *doc_workloads(const json_t *doc)
{
    return json_object_get(doc, "workloads");
}

static const char *entry_name(const json_t *e)
{
    return json_string_value(json_object_get(e, "name"));
}

static const char *entry_hex(const json_t *e)
{
    return json_string_value(
        json_object_get(json_object_get(e, "model"), "sha256"));
}

static json_t *doc_entry(const json_t *doc, const char *name)
{
    json_t *e;
    size_t i;

    json_array_foreach(doc_workloads(doc), i, e)
    {
        if (strcmp(entry_name(e), name) == 0)
            return e;
    }
    return NULL;
}

static int64_t target_gen(const struct cairn_reconcile *rec)
{
    return rec->target ? cairn_state_doc_gen(rec->target) : 0;
}

static void step_fail(struct cairn_reconcile *rec, int err, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

static void step_fail(struct cairn_reconcile *rec, int err, const char *fmt,
                      ...)
{
    va_list ap;

    if (rec->step_err)
        return;
    rec->step_err = err ? err : CAIRN_EIO;
    va_start(ap, fmt);
    vsnprintf(rec->step_reason, sizeof(rec->step_reason), fmt, ap);
    va_end(ap);
}

static void last_error(struct cairn_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* state.json's lastError (cut to fit). */
static void last_error(struct cairn_state *st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(st->last_error, sizeof(st->last_error), fmt, ap);
    va_end(ap);
}

static void save(struct cairn_reconcile *rec)
{
    if (rec->hooks.save(rec->hooks.arg) != 0)
        LOG_ERROR("reconcile: could not save the state (see above)");
}

static void set_target(struct cairn_reconcile *rec, json_t *doc, int mode)
{
    json_t *old = rec->target;

    rec->target = json_incref(doc);
    json_decref(old);
    rec->rollback = mode;
    rec->step_err = 0;
    rec->step_reason[0] = '\0';
    rec->dl_failed_hard = 0;
}

/* Same document, later issue: swap it in without touching the step. */
static void set_target_doc(struct cairn_reconcile *rec, json_t *doc)
{
    json_t *old = rec->target;

    if (rec->rollback != MODE_FORWARD || !old)
        return;
    rec->target = json_incref(doc);
    json_decref(old);
}

/* ---- workloads ------------------------------------------------------ */

static struct cairn_rec_workload *wl_find(struct cairn_reconcile *rec,
                                          const char *name)
{
    for (size_t i = 0; i < rec->nw; i++)
        if (strcmp(rec->w[i]->name, name) == 0)
            return rec->w[i];
    return NULL;
}

static void on_worker_event(struct cairn_worker *w,
                            const struct cairn_worker_event *ev, void *arg)
{
    struct cairn_rec_workload *wl = arg;
    struct cairn_reconcile *rec = wl->rec;
    char *why;

    (void)w;
    if (ev->type == CAIRN_WORKER_EV_EXITED && wl->gate)
        cairn_health_gate_worker_exited(wl->gate, ev->reason);
    if (ev->type == CAIRN_WORKER_EV_EXITED)
        wl->health = CAIRN_HEALTH_UNHEALTHY;
    if (ev->type == CAIRN_WORKER_EV_CRASHLOOP) {
        why = cairn_xasprintf("workload %s: %u short runs in a row, last %s",
                              wl->name, ev->short_runs, ev->reason);
        rec->hooks.event(rec->hooks.arg, "CrashLoop", wl->gen, why);
        free(why);
    }
    rec->hooks.changed(rec->hooks.arg);
}

static struct cairn_rec_workload *wl_get(struct cairn_reconcile *rec,
                                         const char *name, struct cairn_diag *d)
{
    struct cairn_rec_workload *wl = wl_find(rec, name);
    struct cairn_worker_opts o;

    if (wl)
        return wl;
    if (rec->nw == CAIRN_RECONCILE_MAX_WORKLOADS ||
        strlen(name) >= sizeof(wl->name)) {
        cairn_diag_set(d, CAIRN_ETOOBIG, "too many workloads");
        return NULL;
    }
    wl = cairn_xcalloc(1, sizeof(*wl));
    wl->rec = rec;
    memcpy(wl->name, name, strlen(name) + 1);
    memset(&o, 0, sizeof(o));
    o.state_dir = rec->state_dir;
    o.name = name;
    o.grace_ms = (uint64_t)rec->cfg->grace_period * 1000;
    if (cairn_worker_new(rec->loop, &o, on_worker_event, wl, &wl->worker, d) !=
        0) {
        free(wl);
        return NULL;
    }
    rec->w[rec->nw++] = wl;
    return wl;
}

/* Free a closed workload once no gate or request still points at it. */
static void wl_release(struct cairn_rec_workload *wl)
{
    struct cairn_reconcile *rec = wl->rec;

    if (wl->closing != 2 || wl->gate || wl->probe || wl->scrape)
        return;
    json_decref(wl->entry);
    json_decref(wl->metrics);
    free(wl);
    rec->pending_close--;
    if (rec->stopping)
        maybe_stopped(rec);
}

static void wl_closed(void *arg)
{
    struct cairn_rec_workload *wl = arg;

    wl->closing = 2;
    wl_release(wl);
}

/* Forget a workload (its worker must be stopped or be stopping). */
static void wl_drop(struct cairn_reconcile *rec, size_t i)
{
    struct cairn_rec_workload *wl = rec->w[i];

    memmove(rec->w + i, rec->w + i + 1, (rec->nw - i - 1) * sizeof(rec->w[0]));
    rec->nw--;
    wl->closing = 1;
    rec->pending_close++;
    cairn_worker_close(wl->worker, wl_closed, wl);
}

/* ---- FETCH ---------------------------------------------------------- */

static void download_done(struct cairn_download *dl,
                          const struct cairn_download_result *res, void *arg)
{
    struct cairn_reconcile *rec = arg;
    size_t i;

    for (i = 0; i < CAIRN_RECONCILE_MAX_WORKLOADS && rec->dl[i] != dl; i++)
        ;
    if (i < CAIRN_RECONCILE_MAX_WORKLOADS)
        rec->dl[i] = NULL;
    if (res->err == CAIRN_EDIGEST)
        rec->dl_failed_hard = 1;
    if (res->err && res->err != CAIRN_ECANCELED)
        step_fail(rec, res->err, "%s: %s", cairn_strerror(res->err), res->msg);
    else if (!res->already_present)
        LOG_INFO("reconcile: installed blob %s (%" PRIu64
                 " bytes fetched, %u requests)",
                 res->blob_path, res->bytes_fetched, res->attempts);
    rec->pending--;
    run(rec);
}

static int blob_present(const struct cairn_reconcile *rec, const char *hex)
{
    char *p = cairn_apply_blob_path(rec->state_dir, hex);
    struct stat sb;
    int ok = lstat(p, &sb) == 0 && S_ISREG(sb.st_mode);

    free(p);
    return ok;
}

/* The model's URLs, or the controller's artifact URL when it lists none. */
static size_t model_urls(const struct cairn_reconcile *rec, const json_t *model,
                         char **urls, size_t max)
{
    json_t *list = json_object_get(model, "urls"), *u;
    size_t i, n = 0;

    json_array_foreach(list, i, u)
    {
        if (n < max && json_is_string(u))
            urls[n++] = cairn_xstrdup(json_string_value(u));
    }
    if (n == 0)
        urls[n++] = cairn_xasprintf(
            "%s/v1/artifacts/sha256/%s", rec->cfg->controller,
            json_string_value(json_object_get(model, "sha256")));
    return n;
}

static int all_on_controller(const struct cairn_reconcile *rec, char **urls,
                             size_t n)
{
    size_t len = strlen(rec->cfg->controller);

    for (size_t i = 0; i < n; i++)
        if (strncmp(urls[i], rec->cfg->controller, len) != 0 ||
            urls[i][len] != '/')
            return 0;
    return 1;
}

static int start_download(struct cairn_reconcile *rec, const json_t *model,
                          size_t slot, struct cairn_diag *d)
{
    char *urls[CAIRN_DOWNLOAD_MAX_URLS];
    struct cairn_download_opts o;
    size_t n = model_urls(rec, model, urls, CAIRN_DOWNLOAD_MAX_URLS);
    int rc;

    memset(&o, 0, sizeof(o));
    o.state_dir = rec->state_dir;
    o.sha256 = json_string_value(json_object_get(model, "sha256"));
    o.size = (uint64_t)json_integer_value(json_object_get(model, "size"));
    o.urls = (const char *const *)urls;
    o.n_urls = n;
    /* The bearer token goes only to the controller, never to a mirror. */
    if (all_on_controller(rec, urls, n) && rec->hooks.auth_headers)
        o.headers = rec->hooks.auth_headers(rec->hooks.arg);
    o.max_tries = (unsigned)rec->cfg->download_tries;
    o.low_speed_limit = (long)rec->cfg->download_low_speed;
    o.low_speed_time = (long)rec->cfg->download_low_speed_time;
    rc = cairn_download_start(rec->http, &o, download_done, rec, &rec->dl[slot],
                              d);
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    return rc;
}

/* Forward only: every model's attestation, before anything is fetched. */
static int check_attestations(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e, *model;
    size_t i;

    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        model = json_object_get(e, "model");
        if (!model)
            continue;
        cairn_diag_init(&d);
        if (cairn_accept_attestation(model, rec->publishers, &d) != 0) {
            step_fail(rec, d.code, "workload %s: %s", entry_name(e),
                      cairn_diag_msg(&d));
            return d.code;
        }
    }
    return 0;
}

static void step_fetch(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e, *model;
    size_t i, slot = 0;

    rec->step = CAIRN_REC_FETCH_DONE;
    rec->step_err = 0;
    rec->dl_failed_hard = 0;
    if (rec->rollback == MODE_FORWARD && check_attestations(rec) != 0)
        return;
    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        model = json_object_get(e, "model");
        if (!model || blob_present(rec, entry_hex(e)))
            continue;
        for (size_t j = 0; j < i; j++) /* two workloads, one model */
            if (json_equal(
                    json_object_get(
                        json_array_get(doc_workloads(rec->target), j), "model"),
                    model))
                goto next;
        cairn_diag_init(&d);
        if (start_download(rec, model, slot, &d) != 0) {
            step_fail(rec, d.code, "workload %s: %s", entry_name(e),
                      cairn_diag_msg(&d));
            return;
        }
        slot++;
        rec->pending++;
    next:;
    }
}

static void on_retry(uv_timer_t *t)
{
    struct cairn_reconcile *rec =
        cairn_container_of(t, struct cairn_reconcile, retry);

    if (rec->step != CAIRN_REC_IDLE || rec->st->phase == CAIRN_PHASE_NONE)
        return;
    LOG_INFO("reconcile: trying the downloads of generation %" PRId64 " again",
             target_gen(rec));
    rec->step_err = 0;
    rec->step = CAIRN_REC_FETCH;
    run(rec);
}

static void go_idle(struct cairn_reconcile *rec)
{
    rec->step = CAIRN_REC_IDLE;
    if (rec->hooks.idle)
        rec->hooks.idle(rec->hooks.arg);
}

/* The forward target cannot be installed (nothing was changed yet): mark it
 * failed, report, keep running what runs. */
static void fail_untouched(struct cairn_reconcile *rec, const char *event)
{
    int64_t gen = target_gen(rec);

    LOG_ERROR("reconcile: generation %" PRId64 " failed: %s", gen,
              rec->step_reason);
    cairn_state_add_failed(rec->st, gen);
    rec->st->phase = CAIRN_PHASE_NONE;
    last_error(rec->st, "generation %" PRId64 ": %s", gen, rec->step_reason);
    /* The event first: it is queued durably and then saves the state, so
     * a crash in between repeats the step rather than losing its report. */
    rec->hooks.event(rec->hooks.arg, event, gen, rec->step_reason);
    save(rec);
    go_idle(rec);
}

static void step_fetch_done(struct cairn_reconcile *rec)
{
    uint64_t delay = (uint64_t)rec->cfg->retry_max * 1000;

    if (rec->step_err == 0) {
        rec->step = CAIRN_REC_STOP;
        if (rec->rollback == MODE_FORWARD) {
            rec->st->phase = CAIRN_PHASE_APPLY;
            rec->st->attempts++;
            save(rec);
        }
        return;
    }
    if (rec->rollback == MODE_FORWARD &&
        (rec->dl_failed_hard || rec->step_err != CAIRN_ENET)) {
        if (rec->dl_failed_hard || rec->step_err == CAIRN_EKEY ||
            rec->step_err == CAIRN_ESIG || rec->step_err == CAIRN_EDIGEST ||
            rec->step_err == CAIRN_ESIZE || rec->step_err == CAIRN_EPARSE ||
            rec->step_err == CAIRN_EPOLICY || rec->step_err == CAIRN_EINVAL) {
            fail_untouched(rec,
                           rec->dl_failed_hard ? "DownloadFailed" : "Rejected");
            return;
        }
    }
    /* Transient (network, space, slow servers): the current model runs on;
     * try again later, forever. */
    LOG_WARN("reconcile: downloads for generation %" PRId64
             " failed: %s; again in %" PRIu64 " s",
             target_gen(rec), rec->step_reason, delay / 1000);
    last_error(rec->st, "generation %" PRId64 ": %s", target_gen(rec),
               rec->step_reason);
    /* Reported once per generation; the retries only log (the Degraded
     * condition of every status report carries the current reason). */
    if (rec->dl_reported_gen != target_gen(rec))
        rec->hooks.event(rec->hooks.arg, "DownloadFailed", target_gen(rec),
                         rec->step_reason);
    rec->dl_reported_gen = target_gen(rec);
    uv_timer_start(&rec->retry, on_retry, delay, 0);
    go_idle(rec);
}

/* ---- which workloads an update touches ------------------------------ */

/* The part of an entry that shapes the running process: all of it but the
 * model's download URLs and attestation envelope (the signed sha256, size,
 * name and version stay, so the same digest means the same bytes).
 * New reference. */
static json_t *entry_effective(const json_t *e)
{
    json_t *c = json_deep_copy(e), *model = json_object_get(c, "model");

    if (json_is_object(model)) {
        json_object_del(model, "urls");
        json_object_del(model, "attestation");
    }
    return c;
}

/* 1 when two entries run the same process (command, env, model digest,
 * files, secrets, health, restart, uploads: everything but the above). */
static int entry_same(const json_t *a, const json_t *b)
{
    json_t *x = entry_effective(a), *y = entry_effective(b);
    int same = json_equal(x, y);

    json_decref(x);
    json_decref(y);
    return same;
}

/* A worker that is not serving well: no process and none planned
 * (stopped, or failed and not restarted by its policy), crashlooping, or
 * found unhealthy by its last probe. An update restarts and gates it even
 * when its entry is unchanged, so that a generation never becomes
 * last-known-good over a workload that is failing. */
static int worker_not_well(const struct cairn_rec_workload *wl)
{
    struct cairn_worker_status ws;

    cairn_worker_status(wl->worker, &ws);
    return ws.state == CAIRN_WORKER_STOPPED ||
           ws.state == CAIRN_WORKER_FAILED ||
           ws.state == CAIRN_WORKER_CRASHLOOP ||
           wl->health == CAIRN_HEALTH_UNHEALTHY;
}

/* Mark the workloads this update stops and starts: every one but those
 * whose live worker was started with an entry that is effectively the
 * target's. A fresh agent process has started no worker (a leftover of a
 * killed one is stopped by worker.pid), so after a crash every workload is
 * touched: nothing about the set needs to survive in state.json. */
static void mark_touched(struct cairn_reconcile *rec)
{
    struct cairn_rec_workload *wl;
    const json_t *e;

    for (size_t i = 0; i < rec->nw; i++) {
        wl = rec->w[i];
        e = doc_entry(rec->target, wl->name);
        wl->touch = !e || !wl->entry || !entry_same(wl->entry, e) ||
                    worker_not_well(wl);
        if (!wl->touch)
            LOG_INFO("reconcile: workload %s is unchanged in generation "
                     "%" PRId64 ": it keeps running (started for %" PRId64 ")",
                     wl->name, target_gen(rec), wl->gen);
    }
}

/* ---- STOP ----------------------------------------------------------- */

static void worker_stopped(struct cairn_worker *w, void *arg)
{
    struct cairn_reconcile *rec = arg;

    (void)w;
    rec->pending--;
    run(rec);
}

static int prepare_all(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e;
    size_t i;

    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        cairn_diag_init(&d);
        if (cairn_apply_prepare(rec->state_dir, e, (uint64_t)target_gen(rec),
                                rec->site_key, &d) != 0) {
            step_fail(rec, d.code, "workload %s: apply: %s", entry_name(e),
                      cairn_diag_msg(&d));
            if (rec->rollback == MODE_FORWARD)
                return d.code;
            LOG_ERROR("reconcile: %s", rec->step_reason);
        }
    }
    return 0;
}

static void step_stop(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e;
    size_t i;

    rec->step = CAIRN_REC_SWITCH;
    if (prepare_all(rec) != 0) {
        rec->step = CAIRN_REC_IDLE;
        fail_untouched(rec, "Rejected");
        return;
    }
    /* Every workload of the target gets a supervisor (it stops a leftover
     * of an earlier agent process recorded in worker.pid). */
    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        cairn_diag_init(&d);
        if (!wl_get(rec, entry_name(e), &d))
            LOG_ERROR("reconcile: workload %s: %s", entry_name(e),
                      cairn_diag_msg(&d));
    }
    mark_touched(rec);
    for (i = 0; i < rec->nw; i++) {
        if (!rec->w[i]->touch)
            continue;
        if (cairn_worker_stop(rec->w[i]->worker, worker_stopped, rec) == 0)
            rec->pending++;
        rec->w[i]->health = CAIRN_HEALTH_UNKNOWN;
    }
}

/* ---- SWITCH --------------------------------------------------------- */

static int start_worker(struct cairn_reconcile *rec, json_t *e,
                        struct cairn_diag *d)
{
    struct cairn_rec_workload *wl = wl_get(rec, entry_name(e), d);
    struct cairn_worker_spec spec;
    int rc;

    if (!wl)
        return d->code;
    rc = cairn_worker_spec_build(rec->state_dir, rec->cfg->site, e,
                                 (uint64_t)target_gen(rec), &spec, d);
    if (rc)
        return rc;
    rc = cairn_worker_start(wl->worker, &spec, d);
    cairn_worker_spec_free(&spec);
    if (rc == 0) {
        json_decref(wl->entry);
        wl->entry = json_incref(e);
        wl->gen = target_gen(rec);
    }
    return rc;
}

static int switch_links(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e;
    size_t i;

    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        cairn_diag_init(&d);
        if (cairn_apply_switch(rec->state_dir, entry_name(e),
                               (uint64_t)target_gen(rec), entry_hex(e),
                               &d) != 0) {
            step_fail(rec, d.code, "workload %s: switch: %s", entry_name(e),
                      cairn_diag_msg(&d));
            if (rec->rollback == MODE_FORWARD)
                return d.code;
            LOG_ERROR("reconcile: %s", rec->step_reason);
        }
    }
    return 0;
}

static void begin_rollback(struct cairn_reconcile *rec, const char *why);

static void step_switch(struct cairn_reconcile *rec)
{
    struct cairn_diag d;
    json_t *e;
    size_t i;

    rec->step = CAIRN_REC_GATE;
    if (switch_links(rec) != 0) {
        begin_rollback(rec, rec->step_reason);
        return;
    }
    cairn_state_set_doc(&rec->st->applied, rec->target);
    if (rec->rollback == MODE_FORWARD)
        rec->st->phase = CAIRN_PHASE_GATE;
    save(rec);
    /* Stopped workers: forget what ran (start_worker records what runs
     * next, only once it started). */
    for (i = 0; i < rec->nw; i++) {
        if (rec->w[i]->touch) {
            json_decref(rec->w[i]->entry);
            rec->w[i]->entry = NULL;
        }
    }
    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        struct cairn_rec_workload *wl = wl_find(rec, entry_name(e));

        if (wl && !wl->touch)
            continue;
        cairn_diag_init(&d);
        if (start_worker(rec, e, &d) != 0) {
            step_fail(rec, d.code, "workload %s: start: %s", entry_name(e),
                      cairn_diag_msg(&d));
            LOG_ERROR("reconcile: %s", rec->step_reason);
        }
    }
    if (rec->rollback == MODE_FORWARD)
        rec->hooks.event(rec->hooks.arg, "Applied", target_gen(rec), NULL);
    rec->hooks.changed(rec->hooks.arg);
    if (rec->rollback == MODE_RESTORE)
        rec->step = CAIRN_REC_FINISH;
}

/* ---- GATE ----------------------------------------------------------- */

static void gate_done(struct cairn_health_gate *g, int err, const char *reason,
                      void *arg)
{
    struct cairn_rec_workload *wl = arg;
    struct cairn_reconcile *rec = wl->rec;

    (void)g;
    wl->gate = NULL;
    if (wl->closing) {
        wl_release(wl);
        rec->pending--;
        run(rec);
        return;
    }
    wl->health = err ? CAIRN_HEALTH_UNHEALTHY : CAIRN_HEALTH_HEALTHY;
    if (err)
        step_fail(rec, err, "workload %s: %s", wl->name, reason);
    else
        LOG_INFO("reconcile: workload %s: %s", wl->name, reason);
    rec->pending--;
    rec->hooks.changed(rec->hooks.arg);
    run(rec);
}

static void step_gate(struct cairn_reconcile *rec)
{
    struct cairn_rec_workload *wl;
    struct cairn_diag d;
    char *cfgdir;
    json_t *e;
    size_t i;

    rec->step = CAIRN_REC_GATE_DONE;
    if (rec->step_err) /* a worker did not even start */
        return;
    json_array_foreach(doc_workloads(rec->target), i, e)
    {
        wl = wl_find(rec, entry_name(e));
        if (!wl || !wl->touch) /* unchanged: it runs on, as it was */
            continue;
        cfgdir = cairn_apply_config_dir(rec->state_dir, wl->name,
                                        (uint64_t)target_gen(rec));
        cairn_diag_init(&d);
        if (cairn_health_gate_start(rec->http, json_object_get(e, "health"),
                                    cfgdir, NULL, gate_done, wl, &wl->gate,
                                    &d) == 0)
            rec->pending++;
        else
            step_fail(rec, d.code, "workload %s: health gate: %s", wl->name,
                      cairn_diag_msg(&d));
        free(cfgdir);
    }
}

/* ---- FINISH --------------------------------------------------------- */

static void collect_garbage(struct cairn_reconcile *rec);

static void begin_rollback(struct cairn_reconcile *rec, const char *why)
{
    char reason[sizeof(rec->st->reason)];

    snprintf(reason, sizeof(reason), "%s", why);
    LOG_WARN("reconcile: generation %" PRId64
             " failed (%s); rolling back to %" PRId64,
             rec->st->pending_gen, reason, cairn_state_doc_gen(rec->st->lkg));
    rec->st->phase = CAIRN_PHASE_ROLLBACK;
    memcpy(rec->st->reason, reason, sizeof(reason));
    save(rec);
    set_target(rec, rec->st->lkg, MODE_ROLLBACK);
    rec->step = CAIRN_REC_FETCH;
}

static void commit(struct cairn_reconcile *rec)
{
    struct cairn_state *st = rec->st;
    int64_t gen = target_gen(rec);

    cairn_state_set_doc(&st->lkg, rec->target);
    st->phase = CAIRN_PHASE_NONE;
    st->attempts = 0;
    st->reason[0] = '\0';
    st->last_error[0] = '\0';
    LOG_INFO("reconcile: generation %" PRId64
             " is healthy: now last-known-good",
             gen);
    /* event before save: see fail_untouched */
    rec->hooks.event(rec->hooks.arg, "HealthGatePassed", gen, NULL);
    save(rec);
}

static void rolled_back(struct cairn_reconcile *rec)
{
    struct cairn_state *st = rec->st;
    char reason[2048];

    snprintf(reason, sizeof(reason), "%s%s%s%s", st->reason,
             st->lkg ? "" : "; no last-known-good: workloads stopped",
             rec->step_err ? "; the last-known-good is not healthy either: "
                           : "",
             rec->step_err ? rec->step_reason : "");
    cairn_state_add_failed(st, st->pending_gen);
    if (!st->lkg)
        cairn_state_set_doc(&st->applied, NULL);
    st->phase = CAIRN_PHASE_NONE;
    last_error(st, "generation %" PRId64 " rolled back: %s", st->pending_gen,
               st->reason);
    LOG_WARN("reconcile: rolled back generation %" PRId64 ": %s",
             st->pending_gen, reason);
    /* event before save: see fail_untouched */
    rec->hooks.event(rec->hooks.arg, "RolledBack", st->pending_gen, reason);
    save(rec);
}

static void after_restore(struct cairn_reconcile *rec)
{
    struct cairn_state *st = rec->st;

    if (st->phase == CAIRN_PHASE_FETCH && st->desired) {
        set_target(rec, st->desired, MODE_FORWARD);
        rec->step = CAIRN_REC_FETCH;
        return;
    }
    go_idle(rec);
}

static void step_finish(struct cairn_reconcile *rec)
{
    if (rec->rollback == MODE_RESTORE) {
        after_restore(rec);
        return;
    }
    if (rec->rollback == MODE_FORWARD && rec->step_err) {
        begin_rollback(rec, rec->step_reason);
        return;
    }
    if (rec->rollback == MODE_FORWARD)
        commit(rec);
    else
        rolled_back(rec);
    collect_garbage(rec);
    rec->hooks.changed(rec->hooks.arg);
    go_idle(rec);
}

/* ---- the machine ---------------------------------------------------- */

static void run(struct cairn_reconcile *rec)
{
    while (rec->pending == 0 && !rec->stopping) {
        switch (rec->step) {
        case CAIRN_REC_IDLE:
            return;
        case CAIRN_REC_FETCH:
            step_fetch(rec);
            break;
        case CAIRN_REC_FETCH_DONE:
            step_fetch_done(rec);
            break;
        case CAIRN_REC_STOP:
            step_stop(rec);
            break;
        case CAIRN_REC_SWITCH:
            step_switch(rec);
            break;
        case CAIRN_REC_GATE:
            step_gate(rec);
            break;
        case CAIRN_REC_GATE_DONE:
            rec->step = CAIRN_REC_FINISH;
            break;
        case CAIRN_REC_FINISH:
            step_finish(rec);
            break;
        }
    }
    if (rec->stopping)
        maybe_stopped(rec);
}

int cairn_reconcile_idle(const struct cairn_reconcile *rec)
{
    return rec->step == CAIRN_REC_IDLE && (rec->st->phase == CAIRN_PHASE_NONE ||
                                           rec->st->phase == CAIRN_PHASE_FETCH);
}

int cairn_reconcile_fetching(const struct cairn_reconcile *rec)
{
    return rec->rollback == MODE_FORWARD &&
           (rec->step == CAIRN_REC_FETCH || rec->step == CAIRN_REC_FETCH_DONE);
}

static void cancel_downloads(struct cairn_reconcile *rec)
{
    for (size_t i = 0; i < CAIRN_RECONCILE_MAX_WORKLOADS; i++)
        if (rec->dl[i])
            cairn_download_cancel(rec->dl[i]);
}

void cairn_reconcile_desired_changed(struct cairn_reconcile *rec)
{
    struct cairn_state *st = rec->st;
    int64_t gen = cairn_state_doc_gen(st->desired);

    if (!st->desired || cairn_state_is_failed(st, gen) ||
        (gen == cairn_state_doc_gen(st->applied) &&
         st->phase == CAIRN_PHASE_NONE) ||
        (gen == st->pending_gen && st->phase == CAIRN_PHASE_FETCH)) {
        /* A refresh of what runs, of a failed generation or of the one
         * being fetched: remember the later issue, nothing to install. */
        if (gen == st->pending_gen && st->phase == CAIRN_PHASE_FETCH)
            set_target_doc(rec, st->desired);
        save(rec);
        return;
    }
    uv_timer_stop(&rec->retry);
    st->phase = CAIRN_PHASE_FETCH;
    st->pending_gen = gen;
    st->attempts = 0;
    st->reason[0] = '\0';
    save(rec);
    set_target(rec, st->desired, MODE_FORWARD);
    if (rec->pending) { /* fetching an older target: let it wind down */
        cancel_downloads(rec);
        rec->step = CAIRN_REC_FETCH;
        return;
    }
    rec->step = CAIRN_REC_FETCH;
    run(rec);
}

/* ---- garbage -------------------------------------------------------- */

static int hex_kept(const struct cairn_reconcile *rec, const char *hex)
{
    const json_t *docs[] = {rec->st->applied, rec->st->lkg, rec->st->desired};
    json_t *e;
    size_t i;

    for (size_t k = 0; k < CAIRN_ARRAY_LEN(docs); k++)
        json_array_foreach(doc_workloads(docs[k]), i, e)
        {
            if (entry_hex(e) && strcmp(entry_hex(e), hex) == 0)
                return 1;
        }
    return 0;
}

struct blob_age {
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    int64_t mtime;
};

static int newest_first(const void *a, const void *b)
{
    const struct blob_age *x = a, *y = b;

    return x->mtime > y->mtime ? -1 : x->mtime < y->mtime;
}

/* Blobs nobody needs, beyond keepBlobs of the newest. */
static void collect_blobs(struct cairn_reconcile *rec)
{
    char *dir = cairn_xasprintf("%s/blobs/sha256", rec->state_dir), *p;
    struct blob_age *list = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;
    struct stat sb;
    DIR *dh = opendir(dir);

    while (dh && (de = readdir(dh)) != NULL) {
        if (!cairn_is_sha256_hex(de->d_name) || hex_kept(rec, de->d_name))
            continue;
        p = cairn_xasprintf("%s/%s", dir, de->d_name);
        if (n == alloc)
            list = cairn_xrealloc(list, (alloc = alloc ? alloc * 2 : 8) *
                                            sizeof(*list));
        memcpy(list[n].hex, de->d_name, sizeof(list[n].hex));
        list[n++].mtime = lstat(p, &sb) == 0 ? (int64_t)sb.st_mtime : 0;
        free(p);
    }
    if (dh)
        closedir(dh);
    if (n > 1)
        qsort(list, n, sizeof(*list), newest_first);
    for (size_t i = (size_t)rec->cfg->keep_blobs; i < n; i++) {
        p = cairn_xasprintf("%s/%s", dir, list[i].hex);
        if (unlink(p) == 0)
            LOG_INFO("reconcile: removed unused blob %s", list[i].hex);
        free(p);
    }
    free(list);
    free(dir);
}

/* Workloads in no document we keep: stop (close) and remove them. */
static void collect_workloads(struct cairn_reconcile *rec)
{
    uint64_t keep[4];
    struct cairn_diag d;
    size_t i = 0;

    keep[0] = (uint64_t)cairn_state_doc_gen(rec->st->applied);
    keep[1] = (uint64_t)cairn_state_doc_gen(rec->st->lkg);
    keep[2] = (uint64_t)cairn_state_doc_gen(rec->st->desired);
    while (i < rec->nw) {
        const char *name = rec->w[i]->name;
        /* An unchanged worker still reads the config.G / secrets.G it was
         * started with, maybe of an older generation. */
        keep[3] = rec->w[i]->entry ? (uint64_t)rec->w[i]->gen : 0;
        cairn_diag_init(&d);
        if (doc_entry(rec->st->applied, name) ||
            doc_entry(rec->st->desired, name)) {
            if (cairn_apply_cleanup(rec->state_dir, name, keep, 4, &d) != 0)
                LOG_WARN("reconcile: workload %s: cleanup: %s", name,
                         cairn_diag_msg(&d));
            i++;
            continue;
        }
        if (cairn_apply_remove(rec->state_dir, name, &d) != 0)
            LOG_WARN("reconcile: workload %s: remove: %s", name,
                     cairn_diag_msg(&d));
        wl_drop(rec, i);
    }
}

static void collect_garbage(struct cairn_reconcile *rec)
{
    collect_workloads(rec);
    collect_blobs(rec);
}

/* ---- recovery ------------------------------------------------------- */

/* Supervisors for workload directories no document names: stopping them
 * ends a worker a killed agent left behind (worker.pid). */
static void adopt_leftovers(struct cairn_reconcile *rec)
{
    char *dir = cairn_xasprintf("%s/workloads", rec->state_dir);
    struct cairn_rec_workload *wl;
    struct cairn_diag d;
    struct dirent *de;
    DIR *dh = opendir(dir);

    while (dh && (de = readdir(dh)) != NULL) {
        if (!cairn_apply_name_ok(de->d_name) ||
            doc_entry(rec->st->applied, de->d_name) ||
            doc_entry(rec->st->desired, de->d_name) ||
            doc_entry(rec->st->lkg, de->d_name))
            continue;
        cairn_diag_init(&d);
        wl = wl_get(rec, de->d_name, &d);
        if (wl && cairn_worker_stop(wl->worker, NULL, NULL) != 0)
            LOG_DEBUG("reconcile: workload %s: nothing to stop", wl->name);
    }
    if (dh)
        closedir(dh);
    free(dir);
}

static void recover(struct cairn_reconcile *rec)
{
    struct cairn_state *st = rec->st;

    switch (st->phase) {
    case CAIRN_PHASE_NONE:
    case CAIRN_PHASE_FETCH:
        if (st->applied) {
            set_target(rec, st->applied, MODE_RESTORE);
            rec->step = CAIRN_REC_STOP;
        } else {
            after_restore(rec);
        }
        break;
    case CAIRN_PHASE_APPLY:
    case CAIRN_PHASE_GATE:
        if (st->attempts >= rec->cfg->apply_attempts) {
            char why[256];
            snprintf(why, sizeof(why),
                     "the apply was interrupted %" PRId64 " times",
                     st->attempts);
            begin_rollback(rec, why);
            break;
        }
        LOG_INFO("reconcile: resuming the update to generation %" PRId64
                 " (%s)",
                 st->pending_gen, cairn_phase_name(st->phase));
        set_target(rec, st->desired, MODE_FORWARD);
        rec->step = CAIRN_REC_FETCH;
        break;
    case CAIRN_PHASE_ROLLBACK:
        LOG_INFO("reconcile: resuming the rollback of generation %" PRId64,
                 st->pending_gen);
        set_target(rec, st->lkg, MODE_ROLLBACK);
        rec->step = CAIRN_REC_FETCH;
        break;
    }
}

int cairn_reconcile_start(
    struct cairn_reconcile *rec, const struct cairn_agent_config *cfg,
    struct cairn_state *st, const struct cairn_seckey *site_key,
    const struct cairn_keyset *publishers, struct cairn_httpc *http,
    const struct cairn_reconcile_hooks *hooks, struct cairn_diag *d)
{
    char real[PATH_MAX];
    int rc;

    memset(rec, 0, sizeof(*rec));
    rec->loop = cairn_httpc_loop(http);
    uv_timer_init(rec->loop, &rec->retry);
    rc = cairn_fs_mkdir_p(cfg->state_dir, 0700, d);
    if (rc)
        return rc;
    if (!realpath(cfg->state_dir, real))
        return cairn_diag_set(d, CAIRN_EIO, "%s: %s", cfg->state_dir,
                              strerror(errno));
    rec->state_dir = cairn_xstrdup(real);
    rec->cfg = cfg;
    rec->st = st;
    rec->site_key = site_key;
    rec->publishers = publishers;
    rec->http = http;
    rec->hooks = *hooks;
    adopt_leftovers(rec);
    recover(rec);
    run(rec);
    return 0;
}

/* ---- refresh (probes and metrics for reports) ----------------------- */

static void refreshed_one(struct cairn_reconcile *rec)
{
    void (*cb)(void *) = rec->refresh_cb;

    if (--rec->refreshing > 0)
        return;
    rec->refresh_cb = NULL;
    if (rec->stopping) {
        maybe_stopped(rec);
        return;
    }
    if (cb)
        cb(rec->refresh_arg);
}

static void probe_done(struct cairn_health_req *r, enum cairn_health h,
                       const char *detail, void *arg)
{
    struct cairn_rec_workload *wl = arg;

    (void)r;
    (void)detail;
    wl->probe = NULL;
    if (wl->closing) {
        struct cairn_reconcile *rec = wl->rec;
        wl_release(wl);
        refreshed_one(rec);
        return;
    }
    if (h != CAIRN_HEALTH_UNKNOWN && h != wl->health) {
        wl->health = h;
        LOG_INFO("workload %s: %s (%s)", wl->name, cairn_health_name(h),
                 detail);
    }
    refreshed_one(wl->rec);
}

static void scrape_done(struct cairn_health_req *r, int err, json_t *metrics,
                        size_t dropped, const char *detail, void *arg)
{
    struct cairn_rec_workload *wl = arg;

    (void)r;
    (void)dropped;
    wl->scrape = NULL;
    if (wl->closing) {
        struct cairn_reconcile *rec = wl->rec;
        wl_release(wl);
        refreshed_one(rec);
        return;
    }
    json_decref(wl->metrics);
    wl->metrics = err ? NULL : json_incref(metrics);
    if (err && err != CAIRN_ECANCELED)
        LOG_DEBUG("workload %s: metrics: %s", wl->name, detail);
    refreshed_one(wl->rec);
}

static void refresh_one(struct cairn_reconcile *rec,
                        struct cairn_rec_workload *wl)
{
    const char *url = json_string_value(
        json_object_get(json_object_get(wl->entry, "health"), "http"));
    struct cairn_worker_status ws;

    cairn_worker_status(wl->worker, &ws);
    if (!url || ws.state != CAIRN_WORKER_RUNNING || wl->gate)
        return;
    if (!wl->probe && cairn_health_probe_start(rec->http, url, 0, probe_done,
                                               wl, &wl->probe, NULL) == 0)
        rec->refreshing++;
    if (!wl->scrape && cairn_health_scrape_start(rec->http, url, 0, scrape_done,
                                                 wl, &wl->scrape, NULL) == 0)
        rec->refreshing++;
}

void cairn_reconcile_refresh(struct cairn_reconcile *rec, void (*cb)(void *arg),
                             void *arg)
{
    rec->refresh_cb = cb;
    rec->refresh_arg = arg;
    if (rec->refreshing || rec->stopping)
        return;
    rec->refreshing = 1; /* hold: callbacks never fire from inside the starts */
    for (size_t i = 0; i < rec->nw; i++)
        if (rec->w[i]->entry)
            refresh_one(rec, rec->w[i]);
    refreshed_one(rec);
}

/* ---- status --------------------------------------------------------- */

static json_t *workload_json(const struct cairn_rec_workload *wl)
{
    json_t *o = json_object(), *model = json_object_get(wl->entry, "model");
    struct cairn_worker_status ws;

    cairn_worker_status(wl->worker, &ws);
    json_object_set_new(o, "name", json_string(wl->name));
    if (model)
        json_object_set_new(
            o, "model",
            json_pack("{s:O,s:O,s:O}", "name", json_object_get(model, "name"),
                      "version", json_object_get(model, "version"), "sha256",
                      json_object_get(model, "sha256")));
    json_object_set_new(o, "state",
                        json_string(cairn_worker_state_name(ws.state)));
    json_object_set_new(o, "restarts", json_integer(ws.restarts));
    json_object_set_new(o, "lastExit",
                        ws.last_exit[0] ? json_string(ws.last_exit)
                                        : json_null());
    json_object_set_new(
        o, "health",
        json_string(cairn_health_name(ws.state == CAIRN_WORKER_RUNNING
                                          ? wl->health
                                          : CAIRN_HEALTH_UNKNOWN)));
    if (wl->metrics && ws.state == CAIRN_WORKER_RUNNING)
        json_object_set(o, "metrics", wl->metrics);
    return o;
}

json_t *cairn_reconcile_workloads_json(const struct cairn_reconcile *rec)
{
    json_t *a = json_array();

    for (size_t i = 0; i < rec->nw; i++)
        if (rec->w[i]->entry && json_array_size(a) < 32)
            json_array_append_new(a, workload_json(rec->w[i]));
    return a;
}

/* ---- stop ----------------------------------------------------------- */

static void maybe_stopped(struct cairn_reconcile *rec)
{
    void (*cb)(void *) = rec->stop_cb;

    if (rec->pending || rec->refreshing || rec->pending_close || rec->nw || !cb)
        return;
    rec->stop_cb = NULL;
    uv_close((uv_handle_t *)&rec->retry, NULL);
    free(rec->state_dir);
    rec->state_dir = NULL;
    json_decref(rec->target);
    rec->target = NULL;
    cb(rec->stop_arg);
}

void cairn_reconcile_stop(struct cairn_reconcile *rec, void (*cb)(void *arg),
                          void *arg)
{
    if (!rec->loop) { /* never started */
        cb(arg);
        return;
    }
    rec->stopping = 1;
    rec->stop_cb = cb;
    rec->stop_arg = arg;
    uv_timer_stop(&rec->retry);
    cancel_downloads(rec);
    for (size_t i = 0; i < rec->nw; i++) {
        if (rec->w[i]->gate)
            cairn_health_gate_cancel(rec->w[i]->gate);
        if (rec->w[i]->probe)
            cairn_health_req_cancel(rec->w[i]->probe);
        if (rec->w[i]->scrape)
            cairn_health_req_cancel(rec->w[i]->scrape);
    }
    while (rec->nw)
        wl_drop(rec, rec->nw - 1);
    maybe_stopped(rec);
}
