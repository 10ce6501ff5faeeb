/*
 * The worker's event loop. Everything here runs on the loop thread except
 * the three kinds of thread-pool work (pipeline, notifier, score), which
 * touch only their own job struct, their own SQLite connection and the
 * read-only model. Metrics are loop-thread only, updated in after-work
 * callbacks, so they need no locks.
 */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "cairn/log.h"
#include "cairn/mem.h"
#include "http.h"
#include "notify.h"
#include "pipeline.h"
#include "util.h"

#define QUEUE_CAP 10000 /* names taken per scan */
#define NOTIFY_BATCH 16
#define TICK_MS 200
#define DEBOUNCE_MS 50
#define STUCK_SECONDS 120.0 /* one image taking longer means trouble */
/* Golden checks are small and rare: 8 MiB per image, 32 MiB of bodies at
 * once (the server's budget), which the adapter's copies double: 64 MiB. */
#define MAX_SCORE_BODY (8u << 20)
#define MAX_SCORE_BODIES (32u << 20)

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,  1,     2.5,  5};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct metrics {
    uint64_t processed, band[XRAY_BAND_COUNT], failed, duplicate, deferred,
        errors;
    uint64_t anonymized, anon_refused;
    uint64_t notify_queued, notify_sent, notify_failed_attempts;
    int64_t notify_pending;
    uint64_t truth[2][XRAY_BAND_COUNT]; /* [pneumonia?][band] */
    uint64_t hist[N_BUCKETS + 1];
    double hist_sum;
    uint64_t golden_ok, golden_bad;
};

struct queued {
    char *name;
    double mtime;
};

struct worker {
    uv_loop_t loop;
    uv_fs_event_t fsev;
    uv_timer_t rescan, debounce, tick;
    uv_signal_t sigint, sigterm;
    struct xray_http_server *http;
    const struct xray_config *cfg;
    const struct xray_model *model;
    const char *version;
    struct xray_pipeline pipe;
    struct xray_store *notify_store;
    struct xray_webhook hook;
    struct queued *queue; /* [qhead, qlen) still to do */
    size_t qhead, qlen, qalloc;
    int scan_wanted;
    char *current;
    int busy, fsev_on, handles_on, stopping;
    double busy_since, started;
    int notify_busy, notify_kick;
    unsigned notify_failures;
    int64_t notify_next_ms;
    struct metrics m;
};

/* ---- inbox ---- */

static int by_age(const void *a, const void *b)
{
    const struct queued *x = a, *y = b;

    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Queue every visible file in the inbox, oldest first. Called only when
 * the queue has drained, so a backlog is never rescanned; files arriving
 * meanwhile are taken by the scan after it. Dotfiles are writers'
 * temporaries (xray-sim renames them into place). */
static void scan_inbox(struct worker *w)
{
    DIR *dir = opendir(w->cfg->inbox);
    struct dirent *e;

    for (size_t i = w->qhead; i < w->qlen; i++)
        free(w->queue[i].name);
    w->qhead = w->qlen = 0;
    if (!dir) {
        LOG_WARN("inbox %s: %s", w->cfg->inbox, strerror(errno));
        return;
    }
    while ((e = readdir(dir)) != NULL && w->qlen < QUEUE_CAP) {
        struct stat st;

        if (e->d_name[0] == '.' ||
            (w->current && strcmp(w->current, e->d_name) == 0))
            continue;
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (w->qlen == w->qalloc) {
            w->qalloc = w->qalloc ? 2 * w->qalloc : 64;
            w->queue = cairn_xrealloc(w->queue, w->qalloc * sizeof(*w->queue));
        }
        w->queue[w->qlen].name = cairn_xstrdup(e->d_name);
        w->queue[w->qlen].mtime =
            (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec * 1e-9;
        w->qlen++;
    }
    closedir(dir);
    if (w->qlen > 1)
        qsort(w->queue, w->qlen, sizeof(*w->queue), by_age);
}

struct job {
    uv_work_t req;
    struct worker *w;
    char *name;
    struct xray_result res;
};

static void job_work(uv_work_t *req)
{
    struct job *j = req->data;

    xray_pipeline_process(&j->w->pipe, j->name, &j->res);
}

static void maybe_notify(struct worker *w);
static void pump(struct worker *w);

static void account(struct worker *w, const struct job *j)
{
    const struct xray_result *r = &j->res;
    struct metrics *m = &w->m;
    size_t b = 0;

    switch (r->outcome) {
    case XRAY_OUT_PROCESSED:
        m->processed++;
        m->band[r->band]++;
        m->anonymized += (uint64_t)r->anonymized;
        m->anon_refused += (uint64_t)r->anon_refused;
        m->notify_queued += (uint64_t)r->notified;
        if (r->truth)
            m->truth[r->truth[0] == 'P'][r->band]++;
        while (b < N_BUCKETS && r->score_seconds > buckets[b])
            b++;
        m->hist[b]++;
        m->hist_sum += r->score_seconds;
        LOG_INFO("%s: %s, p=%.4f (%.1f ms)%s%s", j->name,
                 xray_band_class(r->band), r->p, r->score_seconds * 1000,
                 r->anonymized ? ", anonymized" : "",
                 r->notified ? ", staff notification queued" : "");
        if (r->anon_refused)
            LOG_WARN("%s: %s", j->name, r->msg);
        break;
    case XRAY_OUT_DUPLICATE:
        m->duplicate++;
        LOG_INFO("%s: already recorded, moved to done/", j->name);
        break;
    case XRAY_OUT_FAILED:
        m->failed++;
        LOG_WARN("%s: moved to failed/: %s", j->name, r->msg);
        break;
    case XRAY_OUT_DEFERRED:
        m->deferred++;
        LOG_DEBUG("%s: not decodable yet, retrying later: %s", j->name, r->msg);
        break;
    case XRAY_OUT_GONE:
        break;
    case XRAY_OUT_ERROR:
        m->errors++;
        LOG_ERROR("%s: %s (left in the inbox, retried at the next scan)",
                  j->name, r->msg);
        break;
    }
}

static void job_done(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct worker *w = j->w;

    (void)status;
    account(w, j);
    if (j->res.notified)
        w->notify_kick = 1;
    free(w->current);
    w->current = NULL;
    w->busy = 0;
    free(j->name);
    free(j);
    maybe_notify(w);
    pump(w);
}

static void pump(struct worker *w)
{
    struct job *j;

    if (w->busy || w->stopping)
        return;
    if (w->qhead == w->qlen && w->scan_wanted) {
        w->scan_wanted = 0;
        scan_inbox(w);
    }
    if (w->qhead == w->qlen)
        return;
    j = cairn_xcalloc(1, sizeof(*j));
    j->w = w;
    j->name = w->queue[w->qhead++].name;
    j->req.data = j;
    w->current = cairn_xstrdup(j->name);
    w->busy = 1;
    w->busy_since = xray_mono();
    if (uv_queue_work(&w->loop, &j->req, job_work, job_done) != 0)
        abort(); /* only fails for a NULL work callback */
}

static void request_scan(struct worker *w)
{
    w->scan_wanted = 1;
    pump(w);
}

static void on_debounce(uv_timer_t *t)
{
    request_scan(t->data);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events,
                        int status)
{
    struct worker *w = h->data;

    (void)filename;
    (void)events;
    if (status != 0)
        LOG_WARN("inbox watch: %s (periodic rescans continue)",
                 uv_strerror(status));
    /* Bursts of events (a file being written) collapse into one scan. */
    uv_timer_start(&w->debounce, on_debounce, DEBOUNCE_MS, 0);
}

static void on_rescan(uv_timer_t *t)
{
    on_debounce(t);
}

/* ---- notifier ---- */

struct notify_job {
    uv_work_t req;
    struct worker *w;
    unsigned sent, failed;
    int64_t pending, next_ms;
    char error[256];
};

static double backoff(const struct xray_config *c, unsigned n)
{
    double s = c->retry_min_seconds;

    while (n-- > 1 && s < c->retry_max_seconds)
        s *= 2;
    return s < c->retry_max_seconds ? s : c->retry_max_seconds;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deliver what is due, oldest first; the first failure ends the pass (the
 * receiver is probably down) and pushes that notification back. */
static void notify_work(uv_work_t *req)
{
    struct notify_job *j = req->data;
    struct worker *w = j->w;
    struct xray_notification *v = NULL;
    struct cairn_diag d;
    size_t n = 0;
    int64_t next;

    cairn_diag_init(&d);
    if (xray_store_due(w->notify_store, now_ms(), NOTIFY_BATCH, &v, &n, &d) !=
        0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char key[65];
        json_t *o = json_loads(v[i].body, 0, NULL);
        const char *id =
            o ? json_string_value(json_object_get(o, "event_id")) : NULL;

        snprintf(key, sizeof(key), "%s", id ? id : "");
        json_decref(o);
        cairn_diag_init(&d);
        if (xray_webhook_post(&w->hook, v[i].body, key[0] ? key : NULL, NULL,
                              &d) == 0) {
            j->sent++;
            cairn_diag_init(&d);
            if (xray_store_delivered(w->notify_store, v[i].id, &d) != 0)
                break;
            continue;
        }
        j->failed++;
        snprintf(j->error, sizeof(j->error), "%s", cairn_diag_msg(&d));
        cairn_diag_init(&d);
        next = now_ms() +
               (int64_t)(1000 * backoff(w->cfg, (unsigned)v[i].attempts + 1));
        if (xray_store_retry(w->notify_store, v[i].id, next, j->error, &d) != 0)
            LOG_ERROR("webhook queue: %s", cairn_diag_msg(&d));
        break;
    }
out:
    if (d.code)
        snprintf(j->error, sizeof(j->error), "%s", cairn_diag_msg(&d));
    cairn_diag_init(&d);
    if (xray_store_pending(w->notify_store, &j->pending, &j->next_ms, &d) != 0)
        LOG_ERROR("webhook queue: %s", cairn_diag_msg(&d));
    xray_notifications_free(v, n);
}

static void notify_done(uv_work_t *req, int status)
{
    struct notify_job *j = req->data;
    struct worker *w = j->w;

    (void)status;
    w->notify_busy = 0;
    w->m.notify_sent += j->sent;
    w->m.notify_failed_attempts += j->failed;
    w->m.notify_pending = j->pending;
    if (j->sent)
        LOG_INFO("webhook: delivered %u notification(s), %lld pending", j->sent,
                 (long long)j->pending);
    if (j->failed) {
        w->notify_failures++;
        w->notify_next_ms =
            now_ms() + (int64_t)(1000 * backoff(w->cfg, w->notify_failures));
        LOG_WARN("webhook: %s; %lld pending, retrying in %.1f s", j->error,
                 (long long)j->pending, backoff(w->cfg, w->notify_failures));
    } else {
        w->notify_failures = 0;
        /* More than one batch due: go again right away. */
        w->notify_next_ms = j->pending ? j->next_ms : 0;
        if (j->error[0])
            LOG_ERROR("webhook queue: %s", j->error);
    }
    free(j);
}

static void maybe_notify(struct worker *w)
{
    struct notify_job *j;
    int64_t now = now_ms();
    int due = w->notify_next_ms && now >= w->notify_next_ms;

    if (!w->notify_store || w->notify_busy || w->stopping)
        return;
    /* A fresh notification goes out at once, unless we are backing off. */
    if (w->notify_kick && w->notify_failures == 0)
        due = 1;
    if (!due)
        return;
    w->notify_kick = 0;
    j = cairn_xcalloc(1, sizeof(*j));
    j->w = w;
    j->req.data = j;
    w->notify_busy = 1;
    if (uv_queue_work(&w->loop, &j->req, notify_work, notify_done) != 0)
        abort();
}

static void on_tick(uv_timer_t *t)
{
    maybe_notify(t->data);
}

/* ---- HTTP ---- */

static void reply_json(struct xray_http_exchange *ex, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(o);
    if (!s) {
        xray_http_reply(ex, 500, "text/plain", "json\n", 5);
        return;
    }
    xray_http_reply(ex, status, "application/json", s, strlen(s));
    free(s);
}

static void handle_healthz(struct worker *w, struct xray_http_exchange *ex)
{
    const struct xray_shape *s = &w->model->shape;
    double stuck = w->busy ? xray_mono() - w->busy_since : 0.0;
    int ok = stuck < STUCK_SECONDS;
    json_t *o =
        json_pack("{s:s, s:{s:s, s:s, s:s, s:[i,i,i]}, s:i, s:b, s:f}",
                  "status", ok ? "ok" : "pipeline stuck", "model", "version",
                  w->version, "sha256", w->model->sha256_hex, "header_version",
                  w->model->version, "input", (int)s->in_h, (int)s->in_w,
                  (int)s->in_c, "queue", (int)(w->qlen - w->qhead), "busy",
                  w->busy, "uptime_seconds", xray_mono() - w->started);

    reply_json(ex, ok ? 200 : 503, o);
}

/* Prometheus label values escape backslash, quote and newline. */
static void label_value(FILE *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fputc('\\', b);
        if (*v == '\n')
            fputs("\\n", b);
        else
            fputc(*v, b);
    }
}

static void metric(FILE *b, const char *name, const char *type,
                   const char *help)
{
    fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_model(struct worker *w, FILE *b, char *ml, size_t mln)
{
    const struct xray_shape *s = &w->model->shape;
    char *l = NULL;
    size_t n = 0;
    FILE *lb = open_memstream(&l, &n);

    if (lb) {
        fputs("model_version=\"", lb);
        label_value(lb, w->version);
        fprintf(lb, "\",model_sha256=\"%s\"", w->model->sha256_hex);
        fclose(lb);
    }
    snprintf(ml, mln, "%s", l ? l : "");
    free(l);
    metric(b, "xray_model_info", "gauge", "The model being served (value 1).");
    fprintf(b, "xray_model_info{%s,header_version=\"", ml);
    label_value(b, w->model->version);
    fprintf(b, "\",input=\"%ux%ux%u\"} 1\n", s->in_h, s->in_w, s->in_c);
}

static void metrics_counters(struct worker *w, FILE *b, const char *ml)
{
    const struct metrics *m = &w->m;
    static const struct {
        const char *name, *help;
        size_t off;
    } plain[] = {
        {"xray_images_failed_total", "Images moved to failed/.",
         offsetof(struct metrics, failed)},
        {"xray_images_duplicate_total", "Images already recorded.",
         offsetof(struct metrics, duplicate)},
        {"xray_images_deferred_total",
         "Decode attempts deferred (file still being written?).",
         offsetof(struct metrics, deferred)},
        {"xray_pipeline_errors_total", "Local I/O or database errors.",
         offsetof(struct metrics, errors)},
        {"xray_images_anonymized_total",
         "Unsure images anonymized into the outbox.",
         offsetof(struct metrics, anonymized)},
        {"xray_images_anonymize_refused_total",
         "Unsure images not forwarded (unknown name layout).",
         offsetof(struct metrics, anon_refused)},
        {"xray_notifications_queued_total", "High-risk notifications queued.",
         offsetof(struct metrics, notify_queued)},
        {"xray_notifications_sent_total", "Notifications delivered (2xx).",
         offsetof(struct metrics, notify_sent)},
        {"xray_notifications_failed_attempts_total",
         "Failed delivery attempts.",
         offsetof(struct metrics, notify_failed_attempts)},
    };

    metric(b, "xray_images_processed_total", "counter",
           "Images scored and recorded.");
    fprintf(b, "xray_images_processed_total{%s} %llu\n", ml,
            (unsigned long long)m->processed);
    metric(b, "xray_images_band_total", "counter", "Images per risk band.");
    for (int i = 0; i < XRAY_BAND_COUNT; i++)
        fprintf(b, "xray_images_band_total{%s,band=\"%s\",class=\"%s\"} %llu\n",
                ml, xray_band_risk((enum xray_band)i),
                xray_band_class((enum xray_band)i),
                (unsigned long long)m->band[i]);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        metric(b, plain[i].name, "counter", plain[i].help);
        fprintf(b, "%s %llu\n", plain[i].name,
                (unsigned long long)*(
                    const uint64_t *)(const void *)((const char *)m +
                                                    plain[i].off));
    }
    metric(b, "xray_notifications_pending", "gauge",
           "Notifications waiting for delivery.");
    fprintf(b, "xray_notifications_pending %lld\n",
            (long long)m->notify_pending);
    metric(b, "xray_inbox_queue", "gauge",
           "Inbox images waiting for the pipeline.");
    fprintf(b, "xray_inbox_queue %zu\n", w->qlen - w->qhead + (size_t)w->busy);
}

static void metrics_quality(struct worker *w, FILE *b, const char *ml)
{
    const struct metrics *m = &w->m;
    uint64_t cum = 0;

    metric(b, "xray_truth_total", "counter",
           "Images with simulator ground truth, by truth and band (accuracy).");
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < XRAY_BAND_COUNT; i++)
            fprintf(b, "xray_truth_total{%s,truth=\"%s\",band=\"%s\"} %llu\n",
                    ml, t ? "PNEUMONIA" : "NORMAL",
                    xray_band_risk((enum xray_band)i),
                    (unsigned long long)m->truth[t][i]);
    metric(b, "xray_score_seconds", "histogram",
           "Decode, resample and forward pass time.");
    for (size_t i = 0; i <= N_BUCKETS; i++) {
        cum += m->hist[i];
        if (i < N_BUCKETS)
            fprintf(b, "xray_score_seconds_bucket{le=\"%g\"} %llu\n",
                    buckets[i], (unsigned long long)cum);
        else
            fprintf(b, "xray_score_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cum);
    }
    fprintf(b, "xray_score_seconds_sum %.6f\nxray_score_seconds_count %llu\n",
            m->hist_sum, (unsigned long long)cum);
    metric(b, "xray_golden_requests_total", "counter",
           "POST /v1/score requests.");
    fprintf(b, "xray_golden_requests_total{result=\"ok\"} %llu\n",
            (unsigned long long)m->golden_ok);
    fprintf(b, "xray_golden_requests_total{result=\"error\"} %llu\n",
            (unsigned long long)m->golden_bad);
    metric(b, "xray_uptime_seconds", "gauge", "Seconds since start.");
    fprintf(b, "xray_uptime_seconds %.1f\n", xray_mono() - w->started);
}

static void handle_metrics(struct worker *w, struct xray_http_exchange *ex)
{
    char ml[512], *s = NULL;
    size_t len = 0;
    FILE *b = open_memstream(&s, &len);

    if (!b) {
        xray_http_reply(ex, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    metrics_model(w, b, ml, sizeof(ml));
    metrics_counters(w, b, ml);
    metrics_quality(w, b, ml);
    xray_http_metrics(w->http, b);
    fclose(b);
    xray_http_reply(ex, 200, "text/plain; version=0.0.4; charset=utf-8", s,
                    len);
    free(s);
}

struct score_job {
    uv_work_t req;
    struct worker *w;
    struct xray_http_exchange *ex;
    const void *body;
    size_t len;
    int err;
    float p;
    char msg[256];
};

static void score_work(uv_work_t *req)
{
    struct score_job *j = req->data;
    struct xray_ws *ws = xray_ws_new(j->w->model);
    struct xray_decode_limits lim = {(uint32_t)j->w->cfg->max_side,
                                     j->w->cfg->max_pixels};
    struct cairn_diag d;

    cairn_diag_init(&d);
    j->err = xray_score_encoded(j->w->model, ws, &lim, j->body, j->len, NULL,
                                &j->p, &d);
    if (j->err)
        snprintf(j->msg, sizeof(j->msg), "%s", cairn_diag_msg(&d));
    xray_ws_free(ws);
}

static void score_done(uv_work_t *req, int status)
{
    struct score_job *j = req->data;
    struct worker *w = j->w;
    enum xray_band b = xray_band_of(j->p);
    char label[48];

    (void)status;
    if (j->err) {
        w->m.golden_bad++;
        reply_json(j->ex, 422, json_pack("{s:s}", "error", j->msg));
    } else {
        w->m.golden_ok++;
        xray_band_label(j->p, label, sizeof(label));
        reply_json(j->ex, 200,
                   json_pack("{s:f, s:s, s:s, s:s, s:s, s:s}", "p",
                             (double)j->p, "band", xray_band_risk(b), "class",
                             xray_band_class(b), "label", label,
                             "model_version", w->version, "model_sha256",
                             w->model->sha256_hex));
    }
    free(j);
}

static void handle_score(struct worker *w, struct xray_http_exchange *ex,
                         const struct xray_http_req *req)
{
    struct score_job *j;

    if (req->body_len == 0) {
        w->m.golden_bad++;
        reply_json(ex, 400,
                   json_pack("{s:s}", "error", "empty body: POST an image"));
        return;
    }
    j = cairn_xcalloc(1, sizeof(*j));
    j->w = w;
    j->ex = ex;
    j->body = req->body;
    j->len = req->body_len;
    j->req.data = j;
    if (uv_queue_work(&w->loop, &j->req, score_work, score_done) != 0)
        abort();
}

static void on_healthz(struct xray_http_exchange *ex,
                       const struct xray_http_req *req, void *arg)
{
    (void)req;
    handle_healthz(arg, ex);
}

static void on_metrics(struct xray_http_exchange *ex,
                       const struct xray_http_req *req, void *arg)
{
    (void)req;
    handle_metrics(arg, ex);
}

static void on_score(struct xray_http_exchange *ex,
                     const struct xray_http_req *req, void *arg)
{
    struct worker *w = arg;

    if (w->stopping)
        reply_json(ex, 503, json_pack("{s:s}", "error", "stopping"));
    else
        handle_score(w, ex, req);
}

static const struct xray_http_route routes[] = {
    {"/healthz", CAIRN_HTTPD_GET, on_healthz},
    {"/metrics", CAIRN_HTTPD_GET, on_metrics},
    {"/v1/score", CAIRN_HTTPD_POST, on_score},
};

/* ---- life cycle ---- */

static void stop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    LOG_INFO("stopping");
    if (w->fsev_on)
        uv_close((uv_handle_t *)&w->fsev, NULL);
    if (w->handles_on) {
        uv_close((uv_handle_t *)&w->rescan, NULL);
        uv_close((uv_handle_t *)&w->debounce, NULL);
        uv_close((uv_handle_t *)&w->tick, NULL);
        uv_close((uv_handle_t *)&w->sigint, NULL);
        uv_close((uv_handle_t *)&w->sigterm, NULL);
    }
    xray_http_stop(w->http);
    w->http = NULL;
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    stop(s->data);
}

static void start_handles(struct worker *w)
{
    uint64_t rescan_ms = (uint64_t)(w->cfg->rescan_seconds * 1000);

    uv_timer_init(&w->loop, &w->rescan);
    uv_timer_init(&w->loop, &w->debounce);
    uv_timer_init(&w->loop, &w->tick);
    uv_signal_init(&w->loop, &w->sigint);
    uv_signal_init(&w->loop, &w->sigterm);
    w->rescan.data = w->debounce.data = w->tick.data = w;
    w->sigint.data = w->sigterm.data = w;
    w->handles_on = 1;
    uv_timer_start(&w->rescan, on_rescan, rescan_ms, rescan_ms);
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_fs_event_init(&w->loop, &w->fsev);
    w->fsev.data = w;
    w->fsev_on = 1;
    if (uv_fs_event_start(&w->fsev, on_fs_event, w->cfg->inbox, 0) != 0)
        LOG_WARN("cannot watch %s; relying on rescans every %.1f s",
                 w->cfg->inbox, w->cfg->rescan_seconds);
}

static int open_all(struct worker *w, struct cairn_diag *d)
{
    struct xray_http_limits lim = {.max_header = 16384,
                                   .max_body = MAX_SCORE_BODY,
                                   .max_body_total = MAX_SCORE_BODIES,
                                   .max_conns = 16,
                                   .timeout_ms = 15000,
                                   .idle_ms = 30000};
    int err;

    err = xray_pipeline_init(&w->pipe, w->cfg, w->model, w->version, d);
    if (!err && w->cfg->webhook_url) {
        w->hook.url = w->cfg->webhook_url;
        w->hook.token = w->cfg->webhook_token;
        w->hook.timeout_ms = (long)(w->cfg->webhook_timeout_seconds * 1000);
        err = xray_store_open(w->cfg->db_path, &w->notify_store, d);
        w->notify_kick = 1; /* deliver what a previous run left queued */
    }
    if (!err)
        err = xray_http_start(&w->loop, w->cfg->listen, &lim, routes,
                              CAIRN_ARRAY_LEN(routes), w, &w->http, d);
    return err;
}

int xray_worker_run(const struct xray_config *cfg, const struct xray_model *m,
                    const char *model_version)
{
    struct worker *w = cairn_xcalloc(1, sizeof(*w));
    struct cairn_diag d;
    int err;

    cairn_diag_init(&d);
    w->cfg = cfg;
    w->model = m;
    w->version = model_version;
    w->started = xray_mono();
    xray_webhook_global_init();
    uv_loop_init(&w->loop);
    err = open_all(w, &d);
    if (err) {
        LOG_ERROR("cannot start: %s", cairn_diag_msg(&d));
        w->stopping = 1;
    } else {
        start_handles(w);
        LOG_INFO(
            "serving model %s (sha256 %s) on http://%s (port %d); inbox %s",
            w->version, m->sha256_hex, cfg->listen, xray_http_port(w->http),
            cfg->inbox);
        request_scan(w);
    }
    /* Runs until stop() closed every handle; after a failed start it only
     * completes the closes already requested. */
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    xray_pipeline_free(&w->pipe);
    xray_store_close(w->notify_store);
    for (size_t i = w->qhead; i < w->qlen; i++)
        free(w->queue[i].name);
    free(w->queue);
    free(w->current);
    free(w);
    return err ? 1 : 0;
}
