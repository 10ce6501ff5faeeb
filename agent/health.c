/*
 * Health: the gate, the probe and the metrics scrape over cairn_httpc (see
 * health.h and docs/internals/health.md).
 *
 * The gate is a small state machine driven by one timer: POLL (GET the
 * health URL each tick) -> GOLDEN (POST the golden input each tick until a
 * 2xx reply) -> decided. A decision cancels any request in flight and is
 * delivered from the timer once nothing is in flight, so the callback
 * never runs inside the call that caused it.
 */
#include "health.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/mem.h"

#define REASON_MAX 600
#define LAST_MAX 200
#define SHOW_MAX 120 /* a JSON value quoted in a reason */

const char *cairn_health_name(enum cairn_health h)
{
    switch (h) {
    case CAIRN_HEALTH_HEALTHY:
        return "healthy";
    case CAIRN_HEALTH_UNHEALTHY:
        return "unhealthy";
    case CAIRN_HEALTH_UNKNOWN:
        break;
    }
    return "unknown";
}

/* A short failure text from an httpc result: "connection refused",
 * "timed out", "HTTP 503". */
static void describe(const struct cairn_httpc_result *res, char *out,
                     size_t size)
{
    const char *m;

    if (res->err == 0) {
        snprintf(out, size, "HTTP %ld", res->head.status);
        return;
    }
    if (res->err == CAIRN_ETIMEOUT) {
        snprintf(out, size, "timed out");
        return;
    }
    /* httpc says "GET URL: curl text: detail"; the detail is the part a
     * reader needs. */
    m = strrchr(res->msg, ':');
    m = m && m[1] == ' ' ? m + 2 : res->msg;
    snprintf(out, size, "%s", *m ? m : cairn_strerror(res->err));
    if (isupper((unsigned char)out[0]) && !isupper((unsigned char)out[1]))
        out[0] = (char)tolower((unsigned char)out[0]);
}

static int http_url(const char *u)
{
    return u && (strncasecmp(u, "http://", 7) == 0 ||
                 strncasecmp(u, "https://", 8) == 0);
}

/* ---- gate ---- */

enum phase { PH_SETTLE, PH_POLL, PH_GOLDEN };

struct cairn_health_gate {
    struct cairn_httpc *c;
    uv_loop_t *loop;
    uv_timer_t timer;
    enum phase phase;
    char *url;
    uint64_t timeout_s, interval_ms, req_timeout_ms, settle_ms, started,
        deadline;
    char *golden_url, *content_type;
    json_t *expect;
    char *input;
    size_t input_len, reply_max;
    struct cairn_httpc_req *req;
    char last[LAST_MAX];
    int decided, delivered;
    int err;
    char reason[REASON_MAX];
    cairn_health_gate_cb cb;
    void *arg;
};

static void gate_tick(uv_timer_t *t);

static void gate_free_cb(uv_handle_t *h)
{
    struct cairn_health_gate *g = h->data;

    free(g->url);
    free(g->golden_url);
    free(g->content_type);
    free(g->input);
    json_decref(g->expect);
    free(g);
}

static void gate_deliver(struct cairn_health_gate *g)
{
    if (g->delivered || g->req)
        return;
    g->delivered = 1;
    uv_timer_stop(&g->timer);
    g->cb(g, g->err, g->reason, g->arg);
    uv_close((uv_handle_t *)&g->timer, gate_free_cb);
}

static void decide(struct cairn_health_gate *g, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* First decision wins; delivered from the timer once no request flies. */
static void decide(struct cairn_health_gate *g, int err, const char *fmt, ...)
{
    va_list ap;

    if (g->decided)
        return;
    g->decided = 1;
    g->err = err;
    va_start(ap, fmt);
    vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
    va_end(ap);
    if (g->req)
        cairn_httpc_cancel(g->req);
    uv_timer_start(&g->timer, gate_tick, 0, 0);
}

static double elapsed_s(const struct cairn_health_gate *g)
{
    return (double)(uv_now(g->loop) - g->started) / 1000.0;
}

static void show(const json_t *v, char *out, size_t size)
{
    char *s = v ? cairn_json_canonical(v) : NULL;

    if (!s)
        snprintf(out, size, "(nothing)");
    else if (strlen(s) > SHOW_MAX)
        snprintf(out, size, "%.*s...", SHOW_MAX, s);
    else
        snprintf(out, size, "%s", s);
    free(s);
}

static double absd(double x)
{
    return x < 0 ? -x : x;
}

/* Integers exactly; otherwise within 1e-9, relative past magnitude 1
 * (written without libm, which the agent does not link). */
static int numbers_match(const json_t *a, const json_t *b)
{
    double x, y, scale = 1.0;

    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    x = json_number_value(a);
    y = json_number_value(b);
    if (absd(x) > scale)
        scale = absd(x);
    if (absd(y) > scale)
        scale = absd(y);
    return absd(x - y) <= 1e-9 * scale;
}

/* Equal with the numeric tolerance, depth-bounded by the parser's caps. */
static int values_match(const json_t *want, const json_t *got)
{
    const char *k;
    json_t *v;

    if (json_is_number(want) || json_is_number(got))
        return json_is_number(want) && json_is_number(got) &&
               numbers_match(want, got);
    if (json_typeof(want) != json_typeof(got))
        return 0;
    if (json_is_object(want)) {
        if (json_object_size(want) != json_object_size(got))
            return 0;
        json_object_foreach((json_t *)want, k, v)
        {
            if (!json_object_get(got, k) ||
                !values_match(v, json_object_get(got, k)))
                return 0;
        }
        return 1;
    }
    if (json_is_array(want)) {
        if (json_array_size(want) != json_array_size(got))
            return 0;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!values_match(json_array_get(want, i), json_array_get(got, i)))
                return 0;
        return 1;
    }
    return json_equal((json_t *)want, (json_t *)got);
}

static void golden_verdict(struct cairn_health_gate *g, const char *body,
                           size_t len)
{
    char a[SHOW_MAX + 8], b[SHOW_MAX + 8];
    json_t *reply = NULL, *want;
    struct cairn_diag d;
    const char *k;

    cairn_diag_init(&d);
    if (cairn_json_parse(body, len, g->reply_max, &reply, &d) ||
        !json_is_object(reply)) {
        decide(g, CAIRN_EPOLICY,
               "golden check: the reply from %s is not a JSON object "
               "(%s)",
               g->golden_url,
               reply ? "another JSON value" : cairn_diag_msg(&d));
        goto out;
    }
    json_object_foreach(g->expect, k, want)
    {
        const json_t *got = json_object_get(reply, k);

        show(want, a, sizeof(a));
        if (!got) {
            decide(g, CAIRN_EPOLICY,
                   "golden check: the reply has no field \"%.64s\" "
                   "(expected %s)",
                   k, a);
            goto out;
        }
        if (!values_match(want, got)) {
            show(got, b, sizeof(b));
            decide(g, CAIRN_EPOLICY, "golden check: %.64s is %s, expected %s",
                   k, b, a);
            goto out;
        }
    }
    decide(g, 0, "healthy after %.1f s; golden check passed", elapsed_s(g));
out:
    json_decref(reply);
}

static void golden_done(struct cairn_httpc_req *r,
                        const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_health_gate *g = arg;

    (void)r;
    g->req = NULL;
    if (g->decided) {
        gate_deliver(g);
        return;
    }
    if (res->err == CAIRN_ECANCELED) {
        decide(g, CAIRN_ECANCELED, "health gate canceled");
        return;
    }
    if (res->err || res->head.status < 200 || res->head.status > 299) {
        describe(res, g->last, sizeof(g->last)); /* retried on the next tick */
        return;
    }
    golden_verdict(g, res->body, res->body_len);
}

static void start_golden(struct cairn_health_gate *g)
{
    char ct[300];
    const char *headers[] = {ct, NULL};
    uint64_t left =
        g->deadline > uv_now(g->loop) ? g->deadline - uv_now(g->loop) : 0;
    struct cairn_httpc_request rq = {0};
    struct cairn_diag d;

    snprintf(ct, sizeof(ct), "Content-Type: %s", g->content_type);
    rq.method = "POST";
    rq.url = g->golden_url;
    rq.headers = headers;
    rq.body = g->input;
    rq.body_len = g->input_len;
    rq.max_body = g->reply_max;
    rq.timeout_ms = (long)(left > 1000 ? left : 1000);
    cairn_diag_init(&d);
    if (cairn_httpc_start(g->c, &rq, golden_done, g, &g->req, &d))
        decide(g, CAIRN_EINVAL, "golden check: cannot send to %s: %s",
               g->golden_url, cairn_diag_msg(&d));
}

static void poll_done(struct cairn_httpc_req *r,
                      const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_health_gate *g = arg;

    (void)r;
    g->req = NULL;
    if (g->decided) {
        gate_deliver(g);
        return;
    }
    if (res->err == CAIRN_ECANCELED) {
        decide(g, CAIRN_ECANCELED, "health gate canceled");
        return;
    }
    if (res->err || res->head.status != 200) {
        describe(res, g->last, sizeof(g->last));
        return;
    }
    if (!g->golden_url) {
        decide(g, 0, "healthy after %.1f s (HTTP 200 from %s)", elapsed_s(g),
               g->url);
        return;
    }
    g->phase = PH_GOLDEN;
    snprintf(g->last, sizeof(g->last), "no reply yet");
    start_golden(g);
}

static void start_poll(struct cairn_health_gate *g)
{
    struct cairn_httpc_request rq = {0};
    struct cairn_diag d;

    rq.url = g->url;
    rq.max_body = 64 << 10;
    rq.timeout_ms = (long)g->req_timeout_ms;
    cairn_diag_init(&d);
    if (cairn_httpc_start(g->c, &rq, poll_done, g, &g->req, &d))
        decide(g, d.code == CAIRN_ESTATE ? CAIRN_ECANCELED : CAIRN_EINVAL,
               "health check: cannot send to %s: %s", g->url,
               cairn_diag_msg(&d));
}

static void gate_tick(uv_timer_t *t)
{
    struct cairn_health_gate *g =
        cairn_container_of(t, struct cairn_health_gate, timer);
    uint64_t now = uv_now(g->loop), next = g->interval_ms;

    if (!g->decided && g->phase == PH_SETTLE &&
        now >= g->started + g->settle_ms)
        decide(g, 0, "no health check configured; the worker stayed up %.1f s",
               elapsed_s(g));
    else if (!g->decided && g->phase != PH_SETTLE && now >= g->deadline)
        decide(g, CAIRN_ETIMEOUT, "%s %s within %" PRIu64 " s (last: %s)",
               g->phase == PH_POLL ? "no healthy answer from"
                                   : "golden check: no answer from",
               g->phase == PH_POLL ? g->url : g->golden_url, g->timeout_s,
               g->last);
    if (g->decided) {
        gate_deliver(g);
        return;
    }
    if (!g->req && g->phase == PH_POLL)
        start_poll(g);
    else if (!g->req && g->phase == PH_GOLDEN)
        start_golden(g);
    if (g->decided)
        return;
    if (g->phase == PH_SETTLE)
        next = g->started + g->settle_ms - now;
    else if (g->deadline - now < next)
        next = g->deadline - now;
    uv_timer_start(&g->timer, gate_tick, next, 0);
}

/* Copy golden's settings and read its input; an unreadable input is a
 * gate failure of this generation, decided once the gate runs. */
static int gate_golden(struct cairn_health_gate *g, const json_t *golden,
                       const char *config_dir, size_t input_max,
                       struct cairn_diag *d)
{
    const char *url = json_string_value(json_object_get(golden, "url"));
    const char *input = json_string_value(json_object_get(golden, "input"));
    const json_t *ct = json_object_get(golden, "contentType");
    const json_t *expect = json_object_get(golden, "expect");
    struct cairn_diag rd;
    char *path = NULL;
    int rc;

    if (!json_is_object(golden) || !http_url(url) || !input ||
        !json_is_object(expect) ||
        (ct && (!json_is_string(ct) || strpbrk(json_string_value(ct), "\r\n") ||
                strlen(json_string_value(ct)) > 200)) ||
        !config_dir)
        return cairn_diag_set(
            d, CAIRN_EINVAL,
            "health.golden: needs an http(s) url, an "
            "input file, an expect object and a one-line contentType");
    g->golden_url = cairn_xstrdup(url);
    g->content_type =
        cairn_xstrdup(ct ? json_string_value(ct) : "application/octet-stream");
    g->expect = json_deep_copy(expect);
    cairn_diag_init(&rd);
    rc = cairn_fs_join_safe(config_dir, input, &path, &rd);
    if (!rc)
        rc = cairn_fs_read(path, input_max, &g->input, &g->input_len, &rd);
    if (rc)
        decide(g, rc, "golden check: input %s: %s", input, cairn_diag_msg(&rd));
    free(path);
    return 0;
}

static int gate_config(struct cairn_health_gate *g, const json_t *health,
                       const char *config_dir, size_t input_max,
                       struct cairn_diag *d)
{
    const char *url = json_string_value(json_object_get(health, "http"));
    const json_t *to = json_object_get(health, "timeoutSeconds");
    const json_t *golden = json_object_get(health, "golden");

    if (!health) {
        g->phase = PH_SETTLE;
        return 0;
    }
    if (!json_is_object(health) || !http_url(url))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "health.http: not an http(s) URL");
    if (!json_is_integer(to) || json_integer_value(to) < 1 ||
        json_integer_value(to) > 86400)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "health.timeoutSeconds: not an integer in "
                              "1..86400");
    g->phase = PH_POLL;
    g->url = cairn_xstrdup(url);
    g->timeout_s = (uint64_t)json_integer_value(to);
    g->deadline = g->started + g->timeout_s * 1000;
    snprintf(g->last, sizeof(g->last), "no answer yet");
    return golden ? gate_golden(g, golden, config_dir, input_max, d) : 0;
}

int cairn_health_gate_start(struct cairn_httpc *c, const json_t *health,
                            const char *config_dir,
                            const struct cairn_health_opts *opts,
                            cairn_health_gate_cb cb, void *arg,
                            struct cairn_health_gate **out,
                            struct cairn_diag *d)
{
    struct cairn_health_opts o = {0};
    struct cairn_health_gate *g;
    int rc;

    if (!c || !cb)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "health gate: no client or callback");
    if (opts)
        o = *opts;
    g = cairn_xcalloc(1, sizeof(*g));
    g->c = c;
    g->loop = cairn_httpc_loop(c);
    g->cb = cb;
    g->arg = arg;
    g->interval_ms = o.interval_ms ? o.interval_ms : 1000;
    g->req_timeout_ms = o.request_timeout_ms ? o.request_timeout_ms : 2000;
    g->settle_ms = o.settle_ms ? o.settle_ms : 3000;
    g->reply_max = o.golden_reply_max ? o.golden_reply_max : (1u << 20);
    g->started = uv_now(g->loop);
    uv_timer_init(g->loop, &g->timer);
    g->timer.data = g;
    rc = gate_config(g, health, config_dir,
                     o.golden_input_max ? o.golden_input_max : (16u << 20), d);
    if (rc) {
        g->delivered = 1;
        uv_close((uv_handle_t *)&g->timer, gate_free_cb);
        return rc;
    }
    if (!g->decided)
        uv_timer_start(&g->timer, gate_tick, 0, 0);
    if (out)
        *out = g;
    return 0;
}

void cairn_health_gate_worker_exited(struct cairn_health_gate *g,
                                     const char *reason)
{
    decide(g, CAIRN_ESTATE, "worker exited during the health gate: %s",
           reason && *reason ? reason : "unknown reason");
}

void cairn_health_gate_cancel(struct cairn_health_gate *g)
{
    decide(g, CAIRN_ECANCELED, "health gate canceled");
}

/* ---- probe and scrape ---- */

struct cairn_health_req {
    struct cairn_httpc_req *hreq;
    cairn_health_probe_cb probe_cb;
    cairn_health_scrape_cb scrape_cb;
    void *arg;
    char *url;
};

static void req_free(struct cairn_health_req *r)
{
    free(r->url);
    free(r);
}

static void probe_done(struct cairn_httpc_req *hr,
                       const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_health_req *r = arg;
    char detail[LAST_MAX];

    (void)hr;
    describe(res, detail, sizeof(detail));
    if (res->err == CAIRN_ECANCELED)
        r->probe_cb(r, CAIRN_HEALTH_UNKNOWN, "canceled", r->arg);
    else if (res->err == 0 && res->head.status == 200)
        r->probe_cb(r, CAIRN_HEALTH_HEALTHY, "HTTP 200", r->arg);
    else
        r->probe_cb(r, CAIRN_HEALTH_UNHEALTHY, detail, r->arg);
    req_free(r);
}

static void scrape_done(struct cairn_httpc_req *hr,
                        const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_health_req *r = arg;
    char detail[LAST_MAX + 64];
    json_t *metrics = NULL;
    struct cairn_diag d;
    size_t dropped = 0;
    int err = res->err;

    (void)hr;
    cairn_diag_init(&d);
    if (err) {
        describe(res, detail, LAST_MAX);
    } else if (res->head.status != 200) {
        err = CAIRN_EHTTP;
        snprintf(detail, sizeof(detail), "HTTP %ld from %s", res->head.status,
                 r->url);
    } else if ((err = cairn_metrics_parse(res->body, res->body_len,
                                          CAIRN_METRICS_MAX_SAMPLES, &metrics,
                                          &dropped, &d))) {
        snprintf(detail, sizeof(detail), "%s", cairn_diag_msg(&d));
    } else {
        snprintf(detail, sizeof(detail),
                 "%zu samples, %zu dropped past the cap",
                 json_object_size(metrics), dropped);
    }
    r->scrape_cb(r, err, metrics, dropped, detail, r->arg);
    json_decref(metrics);
    req_free(r);
}

static int req_start(struct cairn_httpc *c, const char *url,
                     uint64_t timeout_ms, uint64_t max_body,
                     cairn_httpc_done_cb done, struct cairn_health_req *r,
                     struct cairn_health_req **out, struct cairn_diag *d)
{
    struct cairn_httpc_request rq = {0};
    int rc;

    rq.url = url;
    rq.max_body = max_body;
    rq.timeout_ms = (long)(timeout_ms ? timeout_ms : 2000);
    rc = cairn_httpc_start(c, &rq, done, r, &r->hreq, d);
    if (rc) {
        req_free(r);
        return rc;
    }
    if (out)
        *out = r;
    return 0;
}

int cairn_health_probe_start(struct cairn_httpc *c, const char *url,
                             uint64_t timeout_ms, cairn_health_probe_cb cb,
                             void *arg, struct cairn_health_req **out,
                             struct cairn_diag *d)
{
    struct cairn_health_req *r;

    if (!c || !cb || !http_url(url))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "health probe: no client, callback or "
                              "http(s) URL");
    r = cairn_xcalloc(1, sizeof(*r));
    r->probe_cb = cb;
    r->arg = arg;
    r->url = cairn_xstrdup(url);
    return req_start(c, url, timeout_ms, 64 << 10, probe_done, r, out, d);
}

int cairn_health_scrape_start(struct cairn_httpc *c, const char *health_url,
                              uint64_t timeout_ms, cairn_health_scrape_cb cb,
                              void *arg, struct cairn_health_req **out,
                              struct cairn_diag *d)
{
    struct cairn_health_req *r;
    char *url;
    int rc;

    if (!c || !cb)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "metrics scrape: no client or callback");
    if ((rc = cairn_metrics_url(health_url, &url, d)))
        return rc;
    r = cairn_xcalloc(1, sizeof(*r));
    r->scrape_cb = cb;
    r->arg = arg;
    r->url = url;
    return req_start(c, url, timeout_ms, CAIRN_METRICS_BODY_MAX, scrape_done, r,
                     out, d);
}

void cairn_health_req_cancel(struct cairn_health_req *r)
{
    if (r && r->hreq)
        cairn_httpc_cancel(r->hreq);
}
