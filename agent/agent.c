#include "agent.h"

#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "accept.h"
#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "cairn/sdnotify.h"
#include "reconcile.h"
#include "report.h"
#include "state.h"
#include "sync.h"
#include "uploads.h"
#include "util.h"

#define CHANGE_DEBOUNCE_MS 1000

struct agent {
    const struct cairn_agent_config *cfg;
    uv_loop_t loop;
    struct cairn_seckey key;
    struct cairn_keyset ctl_keys, pub_keys;
    struct cairn_state st;
    struct cairn_httpc *http;
    struct cairn_sync sync;
    struct cairn_outbox ob;
    struct cairn_reporter rep;
    struct cairn_reconcile rec;
    struct cairn_uploader up;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick, soon, watchdog;
    uint64_t watchdog_ms;
    char *deferred; /* a desired state that arrived during an update */
    size_t deferred_len;
    int expired; /* the DesiredStateExpired condition */
    char *auth;
    const char *auth_headers[2];
    int stopping;
    int exit_code;
};

static const enum cairn_log_level levels[] = {CAIRN_LOG_DEBUG, CAIRN_LOG_INFO,
                                              CAIRN_LOG_WARN, CAIRN_LOG_ERROR};

/* ---- reports -------------------------------------------------------- */

static int64_t free_bytes(const struct agent *a)
{
    uint64_t v = 0;

    if (cairn_fs_free_bytes(a->cfg->state_dir, &v, NULL) != 0 || v > INT64_MAX)
        return -1;
    return (int64_t)v;
}

static json_t *condition(const char *type, int status, const char *reason,
                         const char *msg)
{
    json_t *c = json_pack("{s:s,s:s}", "type", type, "status",
                          status ? "True" : "False");

    if (reason)
        json_object_set_new(c, "reason", json_string(reason));
    if (msg && msg[0])
        json_object_set_new(c, "message",
                            json_stringn(msg, strnlen(msg, 1024)));
    return c;
}

static json_t *conditions(const struct agent *a)
{
    json_t *c = json_array();
    const struct cairn_state *st = &a->st;
    char msg[128];
    int connected = cairn_sync_connected(&a->sync);

    json_array_append_new(c, condition("ControllerReachable", connected,
                                       connected ? "Connected" : "Unreachable",
                                       connected ? NULL : a->sync.last_error));
    json_array_append_new(c, condition("DesiredStateExpired", a->expired,
                                       a->expired ? "Expired" : "Valid", NULL));
    snprintf(msg, sizeof(msg), "generation %" PRId64 ": %s", st->pending_gen,
             cairn_phase_name(st->phase));
    json_array_append_new(
        c, condition("Updating", st->phase != CAIRN_PHASE_NONE,
                     st->phase != CAIRN_PHASE_NONE ? "InProgress" : "Idle",
                     st->phase != CAIRN_PHASE_NONE ? msg : NULL));
    if (st->last_error[0])
        json_array_append_new(
            c, condition("Degraded", 1, "LastError", st->last_error));
    return c;
}

static const char *applied_commit(const struct agent *a)
{
    return json_string_value(
        json_object_get(json_object_get(a->st.applied, "source"), "commit"));
}

/* STATE/status.json for `cairn-agent status` (advisory, not fsync'd). */
static void write_status(struct agent *a, json_t *workloads, json_t *conds)
{
    json_t *s = json_object();
    char now[CAIRN_TIME_LEN], *text, *path;

    cairn__time_format(cairn__time_now(), now);
    json_object_set_new(s, "time", json_string(now));
    json_object_set_new(s, "pid", json_integer(getpid()));
    json_object_set_new(s, "step",
                        json_string(cairn_reconcile_step_name(a->rec.step)));
    json_object_set(s, "workloads", workloads);
    json_object_set(s, "conditions", conds);
    json_object_set_new(s, "queuedReports",
                        json_integer((json_int_t)cairn_outbox_count(&a->ob)));
    json_object_set_new(
        s, "controller",
        json_pack("{s:s,s:b,s:I,s:s,s:s}", "url", a->cfg->controller,
                  "connected", cairn_sync_connected(&a->sync), "lastContact",
                  (json_int_t)a->sync.last_contact, "lastError",
                  a->sync.last_error, "reportError", a->rep.last_error));
    text = cairn_json_canonical(s);
    path = cairn_xasprintf("%s/status.json", a->cfg->state_dir);
    if (cairn__write_replace(path, text, strlen(text)) != 0)
        LOG_DEBUG("cannot write %s", path);
    free(path);
    free(text);
    json_decref(s);
}

/* Build, sign, queue durably and send a report (ev NULL: plain status). */
static void emit(struct agent *a, const struct cairn_report_event *ev)
{
    struct cairn_report_input in;
    json_t *payload, *wls = cairn_reconcile_workloads_json(&a->rec),
                     *conds = conditions(a);
    struct cairn_diag d;
    char *env;

    memset(&in, 0, sizeof(in));
    in.site = a->cfg->site;
    in.seq = a->st.report_seq + 1;
    in.time = cairn__time_now();
    in.applied = cairn_state_doc_gen(a->st.applied);
    in.served = a->st.accepted_gen;
    in.lkg = cairn_state_doc_gen(a->st.lkg);
    in.commit = applied_commit(a);
    in.event = ev;
    in.workloads = wls;
    in.conditions = conds;
    in.free_bytes = free_bytes(a);
    write_status(a, wls, conds);
    cairn_diag_init(&d);
    payload = cairn_report_payload(&in, &d);
    if (!payload) {
        LOG_ERROR("report: %s", cairn_diag_msg(&d));
        goto out;
    }
    env = cairn_report_sign(payload, &a->key);
    if (cairn_outbox_put(&a->ob, in.seq, ev != NULL, env, strlen(env), &d) ==
        0) {
        a->st.report_seq = in.seq;
        if (cairn_state_save(a->cfg->state_dir, &a->st, &d) != 0)
            LOG_ERROR("state: %s", cairn_diag_msg(&d));
        cairn_reporter_kick(&a->rep, 0);
    } else {
        LOG_ERROR("report %" PRId64 " not queued: %s", in.seq,
                  cairn_diag_msg(&d));
    }
    free(env);
    json_decref(payload);
out:
    json_decref(wls);
    json_decref(conds);
    /* Reports come every reportIntervalSeconds while nothing else happens:
     * give the pages their temporary objects used back to the system, so
     * that the idle agent keeps only what it holds. */
    malloc_trim(0);
}

static void emit_event(struct agent *a, const char *type, int64_t gen,
                       const char *reason)
{
    struct cairn_report_event ev = {type, gen, reason};

    emit(a, &ev);
}

/* ---- expiry --------------------------------------------------------- */

/* The document the workers run: its latest issue when it was refreshed. */
static int64_t running_expires(const struct agent *a)
{
    const json_t *doc = a->st.applied;
    int64_t t = 0;

    if (!doc)
        return 0;
    if (a->st.desired &&
        cairn_state_doc_gen(a->st.desired) == cairn_state_doc_gen(doc))
        doc = a->st.desired;
    if (cairn__time_parse(json_string_value(json_object_get(doc, "expires")),
                          &t) != 0)
        return 0;
    return t;
}

static void check_expiry(struct agent *a)
{
    int64_t exp = running_expires(a);
    int now_expired = exp > 0 && exp <= cairn__time_now();
    char when[CAIRN_TIME_LEN], *why;

    if (now_expired && !a->expired) {
        cairn__time_format(exp, when);
        why = cairn_xasprintf(
            "the desired state in effect expired at %s; the workloads keep "
            "running it until the controller sends a newer one",
            when);
        LOG_WARN("%s", why);
        a->expired = 1;
        emit_event(a, "DesiredStateExpired", cairn_state_doc_gen(a->st.applied),
                   why);
        free(why);
    }
    a->expired = now_expired;
}

/* ---- desired state -------------------------------------------------- */

static void write_envelope(struct agent *a, const char *env, size_t len)
{
    char *path = cairn_xasprintf("%s/desired.dsse", a->cfg->state_dir);
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_fs_write_durable(path, env, len, 0600, &d) != 0)
        LOG_WARN("%s", cairn_diag_msg(&d));
    free(path);
}

static void take_accepted(struct agent *a, struct cairn_accepted *acc,
                          const char *env, size_t len)
{
    LOG_INFO("accepted generation %" PRId64 "%s (signed by %s)",
             acc->generation, acc->refresh ? " (refresh)" : "", acc->signer);
    a->st.accepted_gen = acc->generation;
    a->st.accepted_issued = acc->issued;
    cairn_state_set_doc(&a->st.desired, acc->payload);
    write_envelope(a, env, len);
    if (acc->refresh && acc->generation == cairn_state_doc_gen(a->st.applied))
        a->expired = 0; /* re-evaluated at the next interval */
    cairn_reconcile_desired_changed(&a->rec);
}

/* The generation the controller's ETag ("<generation>.<issued>") named for
 * the document just fetched: what a refusal event is about. Unverified,
 * like the document it came with: it only tells the controller which of
 * its generations the site refused; 0 when there is none. */
static int64_t etag_generation(const struct agent *a)
{
    const char *p = a->sync.etag;
    int64_t g = 0;

    if (*p == '"')
        p++;
    for (; *p >= '0' && *p <= '9' && g < INT64_MAX / 10; p++)
        g = g * 10 + (*p - '0');
    return *p == '.' ? g : 0;
}

static void judge(struct agent *a, const char *env, size_t len)
{
    struct cairn_accept_ctx ctx;
    struct cairn_accepted acc;
    struct cairn_schema *schema = cairn_accept_schema_compile();
    struct cairn_diag d;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.site = a->cfg->site;
    ctx.controller_keys = &a->ctl_keys;
    ctx.schema = schema; /* NULL: refused below, as a broken build */
    ctx.max_bytes = (size_t)a->cfg->max_desired_bytes;
    ctx.now = cairn__time_now();
    ctx.accepted_gen = a->st.accepted_gen;
    ctx.accepted_issued = a->st.accepted_issued;
    cairn_diag_init(&d);
    rc = cairn_accept(&ctx, env, len, &acc, &d);
    cairn_schema_free(schema);
    if (rc == 0) {
        take_accepted(a, &acc, env, len);
        cairn_accepted_free(&acc);
        return;
    }
    if (rc == CAIRN_EEXIST)
        return; /* the document we have */
    LOG_WARN("desired state refused: %s", cairn_diag_msg(&d));
    emit_event(a, rc == CAIRN_EEXPIRED ? "DesiredStateExpired" : "Rejected",
               etag_generation(a), cairn_diag_msg(&d));
}

static void on_desired(void *arg, int err, const char *body, size_t len,
                       const char *msg)
{
    struct agent *a = arg;

    if (a->stopping)
        return;
    if (err) {
        LOG_WARN("desired state refused: %s", msg);
        emit_event(a, "Rejected", etag_generation(a), msg);
        return;
    }
    if (cairn_reconcile_idle(&a->rec) || cairn_reconcile_fetching(&a->rec)) {
        judge(a, body, len);
        return;
    }
    /* An update is being applied or gated: judge this one when it is over. */
    free(a->deferred);
    a->deferred = cairn_xmalloc(len + 1);
    memcpy(a->deferred, body, len);
    a->deferred[len] = '\0';
    a->deferred_len = len;
}

/* ---- reconcile hooks ------------------------------------------------ */

static void hook_event(void *arg, const char *type, int64_t gen,
                       const char *reason)
{
    emit_event(arg, type, gen, reason);
}

static void on_soon(uv_timer_t *t)
{
    struct agent *a = cairn_container_of(t, struct agent, soon);

    emit(a, NULL);
}

static void hook_changed(void *arg)
{
    struct agent *a = arg;

    if (!a->stopping && !uv_is_active((uv_handle_t *)&a->soon))
        uv_timer_start(&a->soon, on_soon, CHANGE_DEBOUNCE_MS, 0);
}

static int hook_save(void *arg)
{
    struct agent *a = arg;
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    rc = cairn_state_save(a->cfg->state_dir, &a->st, &d);
    if (rc)
        LOG_ERROR("state: %s", cairn_diag_msg(&d));
    return rc;
}

static void hook_idle(void *arg)
{
    struct agent *a = arg;
    char *env = a->deferred;

    if (!env || a->stopping)
        return;
    a->deferred = NULL;
    judge(a, env, a->deferred_len);
    free(env);
}

static const char *const *hook_auth(void *arg)
{
    struct agent *a = arg;

    free(a->auth);
    a->auth =
        cairn_xasprintf("Authorization: Bearer %s", cairn_sync_token(&a->sync));
    a->auth_headers[0] = a->auth;
    a->auth_headers[1] = NULL;
    return a->auth_headers;
}

static void on_token(void *arg)
{
    struct agent *a = arg;

    cairn_reporter_kick(&a->rep, 1);
    cairn_uploader_scan(&a->up, a->st.applied);
}

/* ---- timers and signals --------------------------------------------- */

static void refreshed(void *arg)
{
    struct agent *a = arg;

    if (a->stopping)
        return;
    check_expiry(a);
    emit(a, NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct agent *a = cairn_container_of(t, struct agent, tick);

    cairn_reconcile_refresh(&a->rec, refreshed, a);
    cairn_uploader_scan(&a->up, a->st.applied);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    if (cairn_sdnotify_watchdog(NULL) != 0)
        LOG_DEBUG("sd_notify WATCHDOG failed");
}

static void reload(struct agent *a)
{
    struct cairn_agent_config c;
    struct cairn_keyset ctl, pub;
    struct cairn_diag d;

    cairn_diag_init(&d);
    cairn_keyset_init(&ctl);
    cairn_keyset_init(&pub);
    if (cairn_agent_config_load(a->cfg->config_path, &c, &d) != 0) {
        LOG_ERROR("reload: %s (keeping the running configuration)",
                  cairn_diag_msg(&d));
        return;
    }
    if (cairn_agent_load_keys(c.controller_keys, &ctl, &d) == 0 &&
        cairn_agent_load_keys(c.publisher_keys, &pub, &d) == 0) {
        /* Swap contents: reconcile holds pointers to these sets. */
        struct cairn_keyset t = a->ctl_keys;
        a->ctl_keys = ctl;
        ctl = t;
        t = a->pub_keys;
        a->pub_keys = pub;
        pub = t;
        cairn_log_set_level(levels[c.log_level]);
        LOG_INFO("reload: %zu controller and %zu publisher keys trusted",
                 a->ctl_keys.n, a->pub_keys.n);
    } else {
        LOG_ERROR("reload: %s (keeping the running keys)", cairn_diag_msg(&d));
    }
    cairn_keyset_free(&ctl);
    cairn_keyset_free(&pub);
    cairn_agent_config_free(&c);
}

static void on_rec_stopped(void *arg)
{
    struct agent *a = arg;

    cairn_httpc_close(a->http, NULL, NULL);
    a->http = NULL;
}

static void stop(struct agent *a)
{
    if (a->stopping)
        return;
    a->stopping = 1;
    LOG_INFO("stopping");
    if (cairn_sdnotify_stopping(NULL) != 0)
        LOG_DEBUG("sd_notify STOPPING failed");
    cairn_sync_stop(&a->sync);
    cairn_reporter_stop(&a->rep);
    cairn_uploader_stop(&a->up);
    uv_close((uv_handle_t *)&a->tick, NULL);
    uv_close((uv_handle_t *)&a->soon, NULL);
    uv_close((uv_handle_t *)&a->watchdog, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
    cairn_reconcile_stop(&a->rec, on_rec_stopped, a);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct agent *a = s->data;

    if (signum != SIGHUP) {
        stop(a);
        return;
    }
    LOG_INFO("SIGHUP: reloading keys, polling the controller, sending reports");
    reload(a);
    cairn_sync_poll_now(&a->sync);
    cairn_reporter_kick(&a->rep, 1);
}

/* ---- start ---------------------------------------------------------- */

static int load_identity(struct agent *a, struct cairn_diag *d)
{
    int rc = cairn_keys_init();
    struct cairn_schema *schema;

    if (rc)
        return cairn_diag_set(d, rc, "no source of randomness");
    if ((rc = cairn_seckey_load(a->cfg->site_key, &a->key, d)) != 0 ||
        (rc = cairn_agent_load_keys(a->cfg->controller_keys, &a->ctl_keys,
                                    d)) != 0 ||
        (rc = cairn_agent_load_keys(a->cfg->publisher_keys, &a->pub_keys, d)) !=
            0)
        return rc;
    schema = cairn_accept_schema_compile(); /* compiled again per document */
    if (!schema)
        return cairn_diag_set(d, CAIRN_ESCHEMA,
                              "the built-in desired-state schema is broken");
    cairn_schema_free(schema);
    return 0;
}

/* state.json and the outbox; a seq found in the outbox above the saved one
 * (a crash between the two writes) is taken over. */
static int load_state(struct agent *a, struct cairn_diag *d)
{
    char *dir = cairn_xasprintf("%s/outbox", a->cfg->state_dir);
    int rc = cairn_fs_mkdir_p(a->cfg->state_dir, 0700, d);

    if (rc == 0)
        rc = cairn_state_load(a->cfg->state_dir, &a->st, d);
    if (rc == 0)
        rc = cairn_outbox_open(&a->ob, dir, (size_t)a->cfg->outbox_max, d);
    free(dir);
    if (rc == 0 && cairn_outbox_max_seq(&a->ob) > a->st.report_seq) {
        a->st.report_seq = cairn_outbox_max_seq(&a->ob);
        rc = cairn_state_save(a->cfg->state_dir, &a->st, d);
    }
    return rc;
}

static int start_net(struct agent *a, struct cairn_diag *d)
{
    struct cairn_httpc_opts ho;
    struct cairn_sync_opts so;
    struct cairn_reporter_opts ro;
    char etag[64];
    int rc;

    memset(&ho, 0, sizeof(ho));
    ho.ca_file = a->cfg->ca_file;
    ho.user_agent = "cairn-agent/" CAIRN_VERSION;
    if ((rc = cairn_httpc_new(&a->loop, &ho, &a->http, d)) != 0)
        return rc;
    memset(&so, 0, sizeof(so));
    so.controller = a->cfg->controller;
    so.site = a->cfg->site;
    so.site_key = &a->key;
    so.long_poll_s = (uint32_t)a->cfg->long_poll;
    so.retry_min_ms = (uint32_t)a->cfg->retry_min * 1000;
    so.retry_max_ms = (uint32_t)a->cfg->retry_max * 1000;
    so.max_desired_bytes = (size_t)a->cfg->max_desired_bytes;
    so.on_desired = on_desired;
    so.on_token = on_token;
    so.arg = a;
    if ((rc = cairn_sync_start(&a->sync, a->http, &so, d)) != 0)
        return rc;
    if (a->st.accepted_gen > 0) {
        snprintf(etag, sizeof(etag), "\"%" PRId64 ".%" PRId64 "\"",
                 a->st.accepted_gen, a->st.accepted_issued);
        cairn_sync_set_etag(&a->sync, etag);
    }
    memset(&ro, 0, sizeof(ro));
    ro.controller = a->cfg->controller;
    ro.site = a->cfg->site;
    ro.retry_min_ms = so.retry_min_ms;
    ro.retry_max_ms = so.retry_max_ms;
    cairn_reporter_start(&a->rep, &a->ob, a->http, &a->sync, &ro);
    return 0;
}

static void start_handles(struct agent *a)
{
    uint64_t usec = 0;
    uint64_t every = (uint64_t)a->cfg->report_interval * 1000;

    uv_timer_init(&a->loop, &a->tick);
    uv_timer_init(&a->loop, &a->soon);
    uv_timer_init(&a->loop, &a->watchdog);
    uv_timer_start(&a->tick, on_tick, every, every);
    if (cairn_sdnotify_watchdog_usec(&usec, NULL) == 0 && usec > 0) {
        a->watchdog_ms = usec / 2000 ? usec / 2000 : 1;
        uv_timer_start(&a->watchdog, on_watchdog, a->watchdog_ms,
                       a->watchdog_ms);
    }
    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    uv_signal_init(&a->loop, &a->sig_hup);
    a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_signal_start(&a->sig_hup, on_signal, SIGHUP);
}

static int start(struct agent *a, struct cairn_diag *d)
{
    struct cairn_reconcile_hooks h = {hook_event, hook_changed, hook_save,
                                      hook_idle,  hook_auth,    a};
    int rc;

    start_handles(a);
    cairn_uploader_init(&a->up, a->cfg, a->cfg->state_dir, NULL, &a->sync);
    if ((rc = start_net(a, d)) != 0)
        return rc;
    a->up.http = a->http;
    if ((rc = cairn_reconcile_start(&a->rec, a->cfg, &a->st, &a->key,
                                    &a->pub_keys, a->http, &h, d)) != 0)
        return rc;
    free(a->up.state_dir);
    a->up.state_dir = cairn_xstrdup(a->rec.state_dir);
    LOG_INFO(
        "cairn-agent %s: site %s, controller %s, generation applied %" PRId64
        ", accepted %" PRId64 ", last-known-good %" PRId64,
        CAIRN_VERSION, a->cfg->site, a->cfg->controller,
        cairn_state_doc_gen(a->st.applied), a->st.accepted_gen,
        cairn_state_doc_gen(a->st.lkg));
    emit_event(a, "Started", cairn_state_doc_gen(a->st.applied),
               "cairn-agent " CAIRN_VERSION " started");
    if (cairn_sdnotify_ready(NULL) != 0)
        LOG_DEBUG("sd_notify READY failed");
    return 0;
}

static void agent_free(struct agent *a)
{
    cairn_uploader_free(&a->up);
    cairn_outbox_close(&a->ob);
    cairn_state_free(&a->st);
    cairn_keyset_free(&a->ctl_keys);
    cairn_keyset_free(&a->pub_keys);
    cairn_seckey_wipe(&a->key);
    free(a->deferred);
    free(a->auth);
    free(a);
}

void cairn_agent_process_init(void)
{
    /* One pool thread is plenty for the downloads' disk jobs. */
    setenv("UV_THREADPOOL_SIZE", "1", 0);
    /* glibc malloc: one arena, shared by the pool thread (a second arena
     * would hold on to its own free memory), and a fixed mmap threshold:
     * blocks of 128 KiB and more (download buffers, curl's receive
     * buffer) are mapped and unmapped, instead of glibc raising the
     * threshold after the first large free and keeping such blocks in the
     * heap for good. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

int cairn_agent_run(const struct cairn_agent_config *cfg)
{
    struct agent *a = cairn_xcalloc(1, sizeof(*a));
    struct cairn_diag d;
    int rc;

    a->cfg = cfg;
    cairn_log_set_level(levels[cfg->log_level]);
    cairn_keyset_init(&a->ctl_keys);
    cairn_keyset_init(&a->pub_keys);
    cairn_state_init(&a->st);
    cairn_diag_init(&d);
    cairn_agent_process_init();
    if ((rc = load_identity(a, &d)) != 0 || (rc = load_state(a, &d)) != 0) {
        LOG_ERROR("cannot start: %s", cairn_diag_msg(&d));
        agent_free(a);
        return 1;
    }
    if ((rc = uv_loop_init(&a->loop)) != 0) {
        LOG_ERROR("cannot start: uv_loop_init: %s", uv_strerror(rc));
        agent_free(a);
        return 1;
    }
    rc = start(a, &d);
    if (rc) {
        LOG_ERROR("cannot start: %s", cairn_diag_msg(&d));
        a->exit_code = 1;
        stop(a);
    }
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop) != 0)
        LOG_WARN("the event loop still had handles at exit");
    rc = a->exit_code;
    agent_free(a);
    return rc;
}
