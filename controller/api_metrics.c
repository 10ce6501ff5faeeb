/* GET /metrics: Prometheus text exposition (format 0.0.4). */
#include <inttypes.h>
#include <stdlib.h>

#include "cairn/mem.h"
#include "daemon_int.h"

#define P "cairn_controller"
#define METRICS_MAX (1u << 20)

static int hist(struct cairn_buf *b, const char *name, const char *help,
                const struct cairn__hist *h)
{
    int rc = cairn_buf_appendf(
        b, "# HELP " P "_%s %s\n# TYPE " P "_%s histogram\n", name, help, name);

    for (int i = 0; rc == 0 && i < CAIRN__HIST_BUCKETS; i++)
        rc = cairn_buf_appendf(b, P "_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                               cairn__hist_bounds[i], h->bucket[i]);
    if (rc == 0)
        rc = cairn_buf_appendf(b,
                               P "_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n" P
                                 "_%s_sum %g\n" P "_%s_count %" PRIu64 "\n",
                               name, h->count, name, h->sum, name, h->count);
    return rc;
}

static int counter(struct cairn_buf *b, const char *name, const char *help,
                   const char *label, const char *const *values,
                   const uint64_t *counts, size_t n)
{
    int rc = cairn_buf_appendf(
        b, "# HELP " P "_%s %s\n# TYPE " P "_%s counter\n", name, help, name);

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = label
                 ? cairn_buf_appendf(b, P "_%s{%s=\"%s\"} %" PRIu64 "\n", name,
                                     label, values[i], counts[i])
                 : cairn_buf_appendf(b, P "_%s %" PRIu64 "\n", name, counts[i]);
    return rc;
}

static int sites_by_state(struct cairn__ctrl *c, struct cairn_buf *b)
{
    uint64_t counts[CAIRN__ST_COUNT] = {0};
    int64_t now = cairn__now();
    size_t n;
    struct cairn__site **v = cairn__sites_sorted(c, &n);
    int rc = cairn_buf_appendf(
        b, "# HELP " P "_sites Sites by state.\n# TYPE " P "_sites gauge\n");

    for (size_t i = 0; i < n; i++)
        counts[cairn__site_state(c, v[i], now)]++;
    for (int s = 0; rc == 0 && s < CAIRN__ST_COUNT; s++)
        rc = cairn_buf_appendf(b, P "_sites{state=\"%s\"} %" PRIu64 "\n",
                               cairn__site_state_name(s), counts[s]);
    return rc;
}

static int commits(struct cairn__ctrl *c, struct cairn_buf *b)
{
    static const char *const res[] = {"accepted", "refused"};
    uint64_t n[] = {c->m.commits_accepted, c->m.commits_refused};
    int rc =
        counter(b, "commits_total", "Commits processed.", "result", res, n, 2);

    if (rc == 0 && c->m.last_commit_accepted >= 0)
        rc = cairn_buf_appendf(
            b,
            "# HELP " P "_last_commit_accepted 1 when the last commit "
            "processed was accepted.\n# TYPE " P
            "_last_commit_accepted gauge\n" P "_last_commit_accepted %d\n"
            "# TYPE " P "_last_commit_timestamp_seconds gauge\n" P
            "_last_commit_timestamp_seconds %lld\n",
            c->m.last_commit_accepted, (long long)c->m.last_commit_time);
    return rc;
}

static int counters(struct cairn__ctrl *c, struct cairn_buf *b)
{
    static const char *const ses[] = {"issued", "refused"};
    static const char *const rep[] = {"stored", "duplicate", "conflict",
                                      "refused"};
    static const char *const upl[] = {"stored", "duplicate"};
    uint64_t s[] = {c->m.sessions, c->m.sessions_refused};
    uint64_t r[] = {c->m.reports_stored, c->m.reports_duplicate,
                    c->m.reports_conflict, c->m.reports_refused};
    uint64_t u[] = {c->m.uploads_stored, c->m.uploads_duplicate};
    int rc =
        counter(b, "sessions_total", "Session requests.", "result", ses, s, 2);

    if (rc == 0)
        rc = counter(b, "reports_total", "Reports received.", "result", rep, r,
                     4);
    if (rc == 0)
        rc = counter(b, "uploads_total", "Uploads received.", "result", upl, u,
                     2);
    if (rc == 0)
        rc = counter(b, "fetch_errors_total", "Failed fetches.", NULL, NULL,
                     &c->m.fetch_errors, 1);
    if (rc == 0)
        rc =
            counter(b, "generations_published_total", "New generations served.",
                    NULL, NULL, &c->m.generations, 1);
    if (rc == 0)
        rc = counter(b, "documents_reissued_total", "Desired states re-signed.",
                     NULL, NULL, &c->m.reissued, 1);
    if (rc == 0)
        rc = counter(b, "longpoll_wakeups_total",
                     "Long-polls answered by a change.", NULL, NULL,
                     &c->m.waiters_woken, 1);
    if (rc == 0)
        rc = counter(b, "hooks_total", "Accepted git hooks.", NULL, NULL,
                     &c->m.hooks, 1);
    if (rc == 0)
        rc = counter(b, "record_batches_total", "Record batches written.", NULL,
                     NULL, &c->m.record_batches, 1);
    if (rc == 0)
        rc = counter(b, "record_errors_total", "Record batches that failed.",
                     NULL, NULL, &c->m.record_errors, 1);
    return rc;
}

static void on_metrics(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    struct cairn_buf b;
    int rc;

    cairn_buf_init(&b, METRICS_MAX);
    rc = cairn_httpd_metrics_prometheus(c->srv, P, &b);
    if (rc == 0)
        rc = cairn_buf_appendf(&b,
                               "# HELP " P
                               "_longpoll_waiters Long-polls parked now.\n"
                               "# TYPE " P "_longpoll_waiters gauge\n" P
                               "_longpoll_waiters %" PRIu64 "\n",
                               c->m.waiters);
    if (rc == 0)
        rc = hist(&b, "fetch_duration_seconds", "Git fetch time.", &c->m.fetch);
    if (rc == 0)
        rc = hist(&b, "render_duration_seconds",
                  "Commit processing and re-issue time.", &c->m.render);
    if (rc == 0)
        rc = commits(c, &b);
    if (rc == 0)
        rc = sites_by_state(c, &b);
    if (rc == 0)
        rc = counters(c, &b);
    if (rc)
        cairn_httpd_respond_error(req, 500, "metrics exceed their buffer");
    else
        cairn_httpd_respond(req, 200,
                            "text/plain; version=0.0.4; charset=utf-8", b.data,
                            b.len);
    cairn_buf_free(&b);
}

int cairn__api_metrics(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {0, "metrics"};

    return cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/metrics", on_metrics, c,
                             &o, d);
}
