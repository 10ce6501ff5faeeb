/* Health: the gate, probe and scrape against the real testworker over
 * loopback HTTP; the Prometheus parser against valid and hostile text. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <uv.h>

#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/httpc.h"
#include "cairn/mem.h"
#include "health.h"
#include "supervise.h"

#define TESTWORKER CAIRN_BINARY_DIR "/tests/testworker"

struct hctx {
    uv_loop_t loop;
    uv_timer_t tick;
    struct cairn_httpc *http;
    struct cairn_worker *w;
    struct cairn_health_gate *gate;
    char *state;
    int port;
    char base[64];
    int done, err;
    char reason[1024];
    uint64_t started, done_at;
    int probe_done;
    enum cairn_health h;
    char detail[512];
    int scrape_done, scrape_err;
    json_t *metrics;
    size_t dropped;
    int closed;
};

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void on_worker_event(struct cairn_worker *w,
                            const struct cairn_worker_event *ev, void *arg)
{
    struct hctx *h = arg;

    (void)w;
    /* What the agent does: a worker exit ends a running gate. */
    if (ev->type == CAIRN_WORKER_EV_EXITED && h->gate)
        cairn_health_gate_worker_exited(h->gate, ev->reason);
}

static void hctx_init(struct hctx *h)
{
    struct cairn_worker_opts o = {0};

    memset(h, 0, sizeof(*h));
    REQUIRE(uv_loop_init(&h->loop) == 0);
    uv_timer_init(&h->loop, &h->tick);
    uv_timer_start(&h->tick, tick_cb, 10, 10);
    uv_unref((uv_handle_t *)&h->tick);
    REQUIRE(cairn_httpc_new(&h->loop, NULL, &h->http, NULL) == 0);
    h->state = test_tmpdir();
    o.state_dir = h->state;
    o.name = "tw";
    o.grace_ms = 2000;
    o.backoff_initial_ms = 5000;
    REQUIRE(cairn_worker_new(&h->loop, &o, on_worker_event, h, &h->w, NULL) ==
            0);
    h->port = free_port();
    snprintf(h->base, sizeof(h->base), "http://127.0.0.1:%d", h->port);
}

static int run_until(struct hctx *h, int (*pred)(struct hctx *),
                     uint64_t timeout_ms)
{
    uint64_t end;

    uv_update_time(&h->loop);
    end = uv_now(&h->loop) + timeout_ms;
    uv_ref((uv_handle_t *)&h->tick);
    while (!pred(h) && uv_now(&h->loop) < end)
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_unref((uv_handle_t *)&h->tick);
    return pred(h);
}

static void closed_cb(void *arg)
{
    ((struct hctx *)arg)->closed++;
}

static int both_closed(struct hctx *h)
{
    return h->closed == 2;
}

static void hctx_free(struct hctx *h)
{
    cairn_worker_close(h->w, closed_cb, h);
    cairn_httpc_close(h->http, closed_cb, h);
    CHECK(run_until(h, both_closed, 10000));
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&h->loop), 0);
    json_decref(h->metrics);
    test_rm_rf(h->state);
    free(h->state);
}

/* Start testworker on h->port with extra TW_* settings. */
static void worker_start(struct hctx *h, const char *const *env)
{
    struct cairn_worker_spec s;
    size_t n = 0;

    while (env && env[n])
        n++;
    memset(&s, 0, sizeof(s));
    s.argv = cairn_xcalloc(2, sizeof(char *));
    s.argv[0] = cairn_xstrdup(TESTWORKER);
    s.env = cairn_xcalloc(n + 3, sizeof(char *));
    s.env[0] = cairn_xstrdup("PATH=/usr/bin:/bin");
    s.env[1] = cairn_xasprintf("TW_PORT=%d", h->port);
    for (size_t i = 0; i < n; i++)
        s.env[i + 2] = cairn_xstrdup(env[i]);
    s.policy = CAIRN_RESTART_ALWAYS;
    s.backoff_max_ms = 5000;
    CHECK_INT_EQ(cairn_worker_start(h->w, &s, NULL), 0);
    cairn_worker_spec_free(&s);
}

static void on_gate(struct cairn_health_gate *g, int err, const char *reason,
                    void *arg)
{
    struct hctx *h = arg;

    CHECK(g == h->gate);
    h->gate = NULL;
    h->done++;
    h->err = err;
    h->done_at = uv_now(&h->loop);
    snprintf(h->reason, sizeof(h->reason), "%s", reason);
}

static int gate_done(struct hctx *h)
{
    return h->done > 0;
}

static const struct cairn_health_opts fast = {200, 1000, 300, 0, 0};

/* Run a gate on health (JSON text, "%s" = base URL) to its result. */
static void gate(struct hctx *h, const char *health_fmt, const char *config_dir)
{
    char text[2048];
    json_t *health = NULL;
    struct cairn_diag d;

    if (health_fmt) {
        char *at = strstr(health_fmt, "%s"), *at2;

        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - health_fmt),
                 health_fmt, h->base, at + 2);
        at2 = strstr(text, "%s"); /* a second URL (golden) */
        if (at2) {
            char tail[2048];

            snprintf(tail, sizeof(tail), "%s", at2 + 2);
            snprintf(at2, sizeof(text) - (size_t)(at2 - text), "%s%s", h->base,
                     tail);
        }
        health = json_loads(text, 0, NULL);
        REQUIRE(health != NULL);
    }
    cairn_diag_init(&d);
    h->started = uv_now(&h->loop);
    REQUIRE(cairn_health_gate_start(h->http, health, config_dir, &fast, on_gate,
                                    h, &h->gate, &d) == 0);
    json_decref(health); /* the gate keeps copies */
    CHECK_INT_EQ(h->done, 0);
    REQUIRE(run_until(h, gate_done, 20000));
    CHECK_INT_EQ(h->done, 1);
}

static void test_gate_healthy(void)
{
    static const char *const env[] = {"TW_HEALTHY_AFTER_MS=1000", NULL};
    struct hctx h;
    char want[128];

    hctx_init(&h);
    worker_start(&h, env);
    gate(&h, "{\"http\":\"%s/healthz\",\"timeoutSeconds\":10}", NULL);
    CHECK_INT_EQ(h.err, 0);
    CHECK(h.done_at - h.started >= 900);
    CHECK_STR_HAS(h.reason, "healthy after");
    snprintf(want, sizeof(want), "(HTTP 200 from %s/healthz)", h.base);
    CHECK_STR_HAS(h.reason, want);
    hctx_free(&h);
}

static void test_gate_timeout(void)
{
    static const char *const env[] = {"TW_NEVER_HEALTHY=1", NULL};
    struct hctx h;
    char want[256];

    hctx_init(&h);
    worker_start(&h, env);
    gate(&h, "{\"http\":\"%s/healthz\",\"timeoutSeconds\":1}", NULL);
    CHECK_INT_EQ(h.err, CAIRN_ETIMEOUT);
    CHECK(h.done_at - h.started >= 990);
    CHECK(h.done_at - h.started < 3000);
    snprintf(want, sizeof(want),
             "no healthy answer from %s/healthz within 1 s (last: HTTP 503)",
             h.base);
    CHECK_STR_EQ(h.reason, want);
    hctx_free(&h);
}

static void test_gate_nothing_listening(void)
{
    struct hctx h;
    char want[256];

    hctx_init(&h);
    gate(&h, "{\"http\":\"%s/healthz\",\"timeoutSeconds\":1}", NULL);
    CHECK_INT_EQ(h.err, CAIRN_ETIMEOUT);
    snprintf(want, sizeof(want),
             "no healthy answer from %s/healthz within 1 s (last: ", h.base);
    CHECK_STR_HAS(h.reason, want);
    CHECK_STR_HAS(h.reason, "(last: couldn't connect to server)");
    hctx_free(&h);
}

static void test_gate_worker_exits(void)
{
    static const char *const env[] = {
        "TW_NEVER_HEALTHY=1", "TW_EXIT_AFTER_MS=400", "TW_EXIT_CODE=4", NULL};
    struct hctx h;

    hctx_init(&h);
    worker_start(&h, env);
    gate(&h, "{\"http\":\"%s/healthz\",\"timeoutSeconds\":30}", NULL);
    CHECK_INT_EQ(h.err, CAIRN_ESTATE);
    CHECK_STR_EQ(h.reason, "worker exited during the health gate: exit 4");
    CHECK(h.done_at - h.started < 3000); /* at once, not at the deadline */
    hctx_free(&h);
}

static void test_gate_crash_at_start(void)
{
    static const char *const env[] = {"TW_EXIT_AFTER_MS=0", "TW_EXIT_SIGNAL=6",
                                      NULL};
    struct hctx h;

    hctx_init(&h);
    worker_start(&h, env);
    gate(&h, "{\"http\":\"%s/healthz\",\"timeoutSeconds\":30}", NULL);
    CHECK_INT_EQ(h.err, CAIRN_ESTATE);
    CHECK_STR_HAS(h.reason, "signal 6");
    hctx_free(&h);
}

static char *golden_dir(struct hctx *h, char *sha_out)
{
    static const uint8_t img[] = {0x89, 'P', 'N',  'G',  '\r', '\n', 0x1a,
                                  '\n', 0,   0,    0,    13,   'I',  'H',
                                  'D',  'R', 0xff, 0x00, 0x7f, 0x80};
    char *dir = cairn_xasprintf("%s/config.1", h->state), *path;
    uint8_t sum[CAIRN_SHA256_LEN];

    if (cairn_fs_mkdir_p(dir, 0755, NULL) != 0)
        abort();
    path = cairn_xasprintf("%s/golden.png", dir);
    test_write_file(path, img, sizeof(img));
    free(path);
    cairn_sha256(img, sizeof(img), sum);
    cairn_hex_encode(sum, sizeof(sum), sha_out);
    return dir;
}

static void golden_case(const char *reply, const char *expect_json,
                        int want_err, const char *want_reason)
{
    char sha[65], health[2048], env_reply[512], expect[1024];
    const char *env[] = {env_reply, NULL};
    struct hctx h;
    char *dir;

    hctx_init(&h);
    dir = golden_dir(&h, sha);
    snprintf(env_reply, sizeof(env_reply), "%s", reply);
    /* "@SHA@" in the expectation stands for the input's digest. */
    {
        const char *at = strstr(expect_json, "@SHA@");

        if (at)
            snprintf(expect, sizeof(expect), "%.*s%s%s",
                     (int)(at - expect_json), expect_json, sha, at + 5);
        else
            snprintf(expect, sizeof(expect), "%s", expect_json);
    }
    snprintf(
        health, sizeof(health),
        "{\"http\":\"%%s/healthz\",\"timeoutSeconds\":2,\"golden\":{\"url\":"
        "\"%%s/v1/score\",\"input\":\"golden.png\",\"contentType\":\"image/"
        "png\","
        "\"expect\":%s}}",
        expect);
    worker_start(&h, env);
    gate(&h, health, dir);
    CHECK_INT_EQ(h.err, want_err);
    CHECK_STR_HAS(h.reason, want_reason);
    free(dir);
    hctx_free(&h);
}

static void test_golden(void)
{
    /* Right: the worker got our exact input (its digest) and answered. */
    golden_case(
        "TW_GOLDEN_REPLY={\"band\":\"Pneumonia\",\"p\":0.93,\"n\":3,\"ok\":"
        "true}",
        "{\"band\":\"Pneumonia\",\"inputSha256\":\"@SHA@\",\"inputBytes\":20,"
        "\"p\":0.9300000000001,\"ok\":true,\"n\":3}",
        0, "golden check passed");
    /* Wrong band. */
    golden_case("TW_GOLDEN_REPLY={\"band\":\"Normal\",\"p\":0.2}",
                "{\"band\":\"Pneumonia\"}", CAIRN_EPOLICY,
                "golden check: band is \"Normal\", expected \"Pneumonia\"");
    /* Numbers beyond the tolerance, integers exactly, types. */
    golden_case("TW_GOLDEN_REPLY={\"p\":0.93}", "{\"p\":0.93001}",
                CAIRN_EPOLICY, "golden check: p is 0.93, expected 0.93001");
    golden_case("TW_GOLDEN_REPLY={\"n\":3}", "{\"n\":4}", CAIRN_EPOLICY,
                "golden check: n is 3, expected 4");
    golden_case("TW_GOLDEN_REPLY={\"n\":\"3\"}", "{\"n\":3}", CAIRN_EPOLICY,
                "golden check: n is \"3\", expected 3");
    golden_case("TW_GOLDEN_REPLY={\"ok\":false}", "{\"ok\":true}",
                CAIRN_EPOLICY, "golden check: ok is false, expected true");
    golden_case(
        "TW_GOLDEN_REPLY={\"band\":\"Normal\"}", "{\"risk\":\"high\"}",
        CAIRN_EPOLICY,
        "golden check: the reply has no field \"risk\" (expected \"high\")");
    golden_case("TW_GOLDEN_RAW=<html>oops</html>", "{\"band\":\"Pneumonia\"}",
                CAIRN_EPOLICY, "is not a JSON object");
    golden_case("TW_GOLDEN_RAW=[1,2]", "{\"band\":\"Pneumonia\"}",
                CAIRN_EPOLICY, "is not a JSON object");
    /* A failing endpoint is retried until the deadline. */
    golden_case("TW_GOLDEN_STATUS=500", "{\"band\":\"Pneumonia\"}",
                CAIRN_ETIMEOUT, "/v1/score within 2 s (last: HTTP 500)");
}

static void test_golden_input_problems(void)
{
    struct hctx h;
    char sha[65], *dir;

    hctx_init(&h);
    dir = golden_dir(&h, sha);
    worker_start(&h, NULL);
    gate(&h,
         "{\"http\":\"%s/healthz\",\"timeoutSeconds\":5,\"golden\":{\"url\":"
         "\"%s/v1/score\",\"input\":\"missing.png\",\"expect\":{}}}",
         dir);
    CHECK_INT_EQ(h.err, CAIRN_ENOENT);
    CHECK_STR_HAS(h.reason, "golden check: input missing.png");
    h.done = 0;
    gate(&h,
         "{\"http\":\"%s/healthz\",\"timeoutSeconds\":5,\"golden\":{\"url\":"
         "\"%s/v1/score\",\"input\":\"../../etc/passwd\",\"expect\":{}}}",
         dir);
    CHECK_INT_EQ(h.err, CAIRN_EPATH);
    h.done = 0;
    {
        struct cairn_health_opts small = fast;
        json_t *health = json_pack(
            "{s:s, s:i, s:{s:s, s:s, s:{}}}", "http",
            "http://127.0.0.1:1/healthz", "timeoutSeconds", 5, "golden", "url",
            "http://127.0.0.1:1/v1/score", "input", "golden.png", "expect");

        small.golden_input_max = 8;
        REQUIRE(cairn_health_gate_start(h.http, health, dir, &small, on_gate,
                                        &h, &h.gate, NULL) == 0);
        REQUIRE(run_until(&h, gate_done, 5000));
        CHECK_INT_EQ(h.err, CAIRN_ETOOBIG);
        json_decref(health);
    }
    free(dir);
    hctx_free(&h);
}

static void test_gate_without_health(void)
{
    struct hctx h;

    hctx_init(&h);
    worker_start(&h, NULL);
    gate(&h, NULL, NULL);
    CHECK_INT_EQ(h.err, 0);
    CHECK(h.done_at - h.started >= 290);
    CHECK_STR_HAS(h.reason, "no health check configured");
    hctx_free(&h);
    /* ... but a worker that dies in the settle time fails it. */
    {
        static const char *const env[] = {"TW_EXIT_AFTER_MS=50", NULL};

        hctx_init(&h);
        worker_start(&h, env);
        gate(&h, NULL, NULL);
        CHECK_INT_EQ(h.err, CAIRN_ESTATE);
        CHECK_STR_HAS(h.reason, "exit 1");
        hctx_free(&h);
    }
}

static void test_gate_cancel_and_bad_args(void)
{
    struct hctx h;
    json_t *health;
    struct cairn_diag d;

    hctx_init(&h);
    health = json_pack("{s:s, s:i}", "http", "http://127.0.0.1:1/healthz",
                       "timeoutSeconds", 30);
    REQUIRE(cairn_health_gate_start(h.http, health, NULL, &fast, on_gate, &h,
                                    &h.gate, NULL) == 0);
    cairn_health_gate_cancel(h.gate);
    cairn_health_gate_worker_exited(h.gate,
                                    "exit 1"); /* the first result wins */
    CHECK_INT_EQ(h.done, 0);
    REQUIRE(run_until(&h, gate_done, 5000));
    CHECK_INT_EQ(h.err, CAIRN_ECANCELED);
    json_decref(health);

    {
        const char *bad[] = {
            "{\"http\":\"ftp://x/healthz\",\"timeoutSeconds\":1}",
            "{\"http\":\"http://x/healthz\",\"timeoutSeconds\":0}",
            "{\"http\":\"http://x/healthz\",\"timeoutSeconds\":\"5\"}",
            "{\"http\":\"http://x/"
            "healthz\",\"timeoutSeconds\":1,\"golden\":{\"url\":"
            "\"http://x/s\",\"input\":\"a\",\"expect\":[]}}",
            "{\"http\":\"http://x/"
            "healthz\",\"timeoutSeconds\":1,\"golden\":{\"url\":"
            "\"http://x/"
            "s\",\"input\":\"a\",\"expect\":{},\"contentType\":\"a\\r\\nX: "
            "y\"}}",
            "[]",
        };

        for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
            health = json_loads(bad[i], 0, NULL);
            REQUIRE(health != NULL);
            cairn_diag_init(&d);
            CHECK_INT_EQ(cairn_health_gate_start(h.http, health, "/tmp", &fast,
                                                 on_gate, &h, NULL, &d),
                         CAIRN_EINVAL);
            json_decref(health);
        }
    }
    h.done = 0;
    run_until(&h, gate_done, 200); /* no callback for refused starts */
    CHECK_INT_EQ(h.done, 0);
    hctx_free(&h);
}

/* ---- probe and scrape ---- */

static void on_probe(struct cairn_health_req *r, enum cairn_health hl,
                     const char *detail, void *arg)
{
    struct hctx *h = arg;

    (void)r;
    h->probe_done++;
    h->h = hl;
    snprintf(h->detail, sizeof(h->detail), "%s", detail);
}

static int probe_done(struct hctx *h)
{
    return h->probe_done > 0;
}

static void probe(struct hctx *h, const char *path)
{
    char url[128];

    snprintf(url, sizeof(url), "%s%s", h->base, path);
    h->probe_done = 0;
    REQUIRE(cairn_health_probe_start(h->http, url, 1000, on_probe, h, NULL,
                                     NULL) == 0);
    REQUIRE(run_until(h, probe_done, 5000));
}

static void on_scrape(struct cairn_health_req *r, int err, json_t *metrics,
                      size_t dropped, const char *detail, void *arg)
{
    struct hctx *h = arg;

    (void)r;
    h->scrape_done++;
    h->scrape_err = err;
    json_decref(h->metrics);
    h->metrics = metrics ? json_incref(metrics) : NULL;
    h->dropped = dropped;
    snprintf(h->detail, sizeof(h->detail), "%s", detail);
}

static int scrape_done(struct hctx *h)
{
    return h->scrape_done > 0;
}

static void test_probe(void)
{
    static const char *const env[] = {"TW_HEALTHY_AFTER_MS=60000", NULL};
    struct hctx h;

    hctx_init(&h);
    probe(&h, "/healthz");
    CHECK_INT_EQ(h.h, CAIRN_HEALTH_UNHEALTHY);
    CHECK_STR_EQ(h.detail, "couldn't connect to server");
    worker_start(&h, env);
    for (int i = 0; i < 50; i++) {
        probe(&h, "/healthz");
        if (!strstr(h.detail, "connect"))
            break;
        usleep(20000); /* not listening yet */
    }
    CHECK_INT_EQ(h.h, CAIRN_HEALTH_UNHEALTHY);
    CHECK_STR_EQ(h.detail, "HTTP 503");
    probe(&h, "/nothing");
    CHECK_STR_EQ(h.detail, "HTTP 404");
    CHECK_STR_EQ(cairn_health_name(CAIRN_HEALTH_HEALTHY), "healthy");
    CHECK_STR_EQ(cairn_health_name(CAIRN_HEALTH_UNKNOWN), "unknown");
    CHECK_INT_EQ(cairn_health_probe_start(h.http, "file:///etc/passwd", 0,
                                          on_probe, &h, NULL, NULL),
                 CAIRN_EINVAL);
    hctx_free(&h);

    hctx_init(&h);
    worker_start(&h, NULL);
    for (int i = 0; i < 50; i++) {
        probe(&h, "/healthz");
        if (h.h == CAIRN_HEALTH_HEALTHY)
            break;
        usleep(20000);
    }
    CHECK_INT_EQ(h.h, CAIRN_HEALTH_HEALTHY);
    hctx_free(&h);
}

static void scrape(struct hctx *h)
{
    char url[128];

    snprintf(url, sizeof(url), "%s/healthz?x=1", h->base);
    for (int i = 0; i < 50; i++) {
        h->scrape_done = 0;
        REQUIRE(cairn_health_scrape_start(h->http, url, 1000, on_scrape, h,
                                          NULL, NULL) == 0);
        REQUIRE(run_until(h, scrape_done, 5000));
        if (h->scrape_err != CAIRN_ENET)
            break;
        usleep(20000); /* not listening yet */
    }
}

static void test_scrape(void)
{
    static const char *const env[] = {
        "TW_METRICS=# HELP xray_images_total Images scored.\n"
        "# TYPE xray_images_total counter\n"
        "xray_images_total{band=\"high\"} 3\n"
        "xray_images_total{band=\"low\"} 10\n"
        "xray_latency_seconds_sum 1.25\n",
        NULL};
    static const char *const bad[] = {
        "TW_METRICS=xray_images_total{band=high} 3\n", NULL};
    struct hctx h;

    hctx_init(&h);
    worker_start(&h, env);
    scrape(&h);
    CHECK_INT_EQ(h.scrape_err, 0);
    REQUIRE(h.metrics != NULL);
    CHECK_INT_EQ(json_object_size(h.metrics), 3);
    CHECK(json_real_value(json_object_get(
              h.metrics, "xray_images_total{band=\"high\"}")) == 3.0);
    CHECK(json_real_value(
              json_object_get(h.metrics, "xray_latency_seconds_sum")) == 1.25);
    hctx_free(&h);

    hctx_init(&h);
    worker_start(&h, bad);
    scrape(&h);
    CHECK_INT_EQ(h.scrape_err, CAIRN_EPARSE);
    CHECK(h.metrics == NULL);
    CHECK_STR_HAS(h.detail, "metrics line 1");
    hctx_free(&h);
}

/* ---- pure helpers ---- */

static void test_metrics_url(void)
{
    struct {
        const char *in, *out;
    } ok[] = {
        {"http://127.0.0.1:8081/healthz", "http://127.0.0.1:8081/metrics"},
        {"http://127.0.0.1:8081", "http://127.0.0.1:8081/metrics"},
        {"https://[::1]:9/h?x#y", "https://[::1]:9/metrics"},
        {"HTTP://localhost/a/b", "HTTP://localhost/metrics"},
    };
    const char *bad[] = {"ftp://x/",  "http://",      "http://user:pw@host/h",
                         "http:///x", "http://:80/x", "127.0.0.1:8081/healthz"};
    char *out;

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ok); i++) {
        REQUIRE(cairn_metrics_url(ok[i].in, &out, NULL) == 0);
        CHECK_STR_EQ(out, ok[i].out);
        free(out);
    }
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++)
        CHECK_INT_EQ(cairn_metrics_url(bad[i], &out, NULL), CAIRN_EINVAL);
}

static json_t *parse_ok(const char *text, size_t max, size_t *dropped)
{
    json_t *out = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_metrics_parse(text, strlen(text), max, &out, dropped, &d) != 0) {
        fprintf(stderr, "unexpected parse error: %s\n", d.msg);
        return NULL;
    }
    return out;
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return v ? json_number_value(v) : -12345.0;
}

static void test_metrics_parse_valid(void)
{
    const char *text =
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{code=\"400\",method=\"post\"}    3   "
        "1395066363000\n"
        "\n"
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error="
        "\"Cannot find "
        "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\r\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "  indented_metric   -3.5e-2  \n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        "not_a_number NaN\n"
        "rpc_duration_seconds{quantile=\"0.5\",} 4773\n"
        "empty_labels{} 7\n"
        "label_utf8{site=\"Zürich ✓\"} 1\n"
        "colon:name 0.5\n"
        "xray_latency_bucket{le=\"+Inf\"} 144320\n"
        "# EOF";
    size_t dropped = 99;
    json_t *m = parse_ok(text, 64, &dropped);

    REQUIRE(m != NULL);
    CHECK_INT_EQ(dropped, 0);
    /* Labels sorted by name, so both orders give one series each. */
    CHECK(num(m, "http_requests_total{code=\"200\",method=\"post\"}") == 1027);
    CHECK(num(m, "http_requests_total{code=\"400\",method=\"post\"}") == 3);
    CHECK(num(m, "msdos_file_access_time_seconds{error=\"Cannot find "
                 "file:\\n\\\"FILE.TXT\\\"\","
                 "path=\"C:\\\\DIR\\\\FILE.TXT\"}") == 1.458255915e9);
    CHECK(num(m, "metric_without_timestamp_and_labels") == 12.47);
    CHECK(num(m, "indented_metric") == -3.5e-2);
    CHECK(num(m, "rpc_duration_seconds{quantile=\"0.5\"}") == 4773);
    CHECK(num(m, "empty_labels") == 7);
    CHECK(num(m, "label_utf8{site=\"Zürich ✓\"}") == 1);
    CHECK(num(m, "colon:name") == 0.5);
    CHECK(num(m, "xray_latency_bucket{le=\"+Inf\"}") == 144320);
    /* JSON has no Inf/NaN: those samples are skipped. */
    CHECK(json_object_get(m, "something_weird{problem=\"division by zero\"}") ==
          NULL);
    CHECK(json_object_get(m, "not_a_number") == NULL);
    CHECK_INT_EQ(json_object_size(m), 10);
    json_decref(m);
    m = parse_ok("", 64, NULL);
    REQUIRE(m != NULL);
    CHECK_INT_EQ(json_object_size(m), 0);
    json_decref(m);
}

static void test_metrics_caps(void)
{
    struct cairn_buf b;
    size_t dropped = 0;
    json_t *m;
    char *big;

    cairn_buf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        CHECK(cairn_buf_appendf(&b, "m_%03d %d\n", i, i) == 0);
    m = parse_ok(b.data, CAIRN_METRICS_MAX_SAMPLES, &dropped);
    REQUIRE(m != NULL);
    CHECK_INT_EQ(json_object_size(m), 64);
    CHECK_INT_EQ(dropped, 36);
    CHECK(num(m, "m_063") == 63);
    CHECK(json_object_get(m, "m_064") == NULL);
    json_decref(m);
    cairn_buf_free(&b);

    big = cairn_xmalloc(CAIRN_METRICS_BODY_MAX + 2);
    memset(big, '#', CAIRN_METRICS_BODY_MAX + 1);
    big[CAIRN_METRICS_BODY_MAX + 1] = '\0';
    CHECK_INT_EQ(cairn_metrics_parse(big, CAIRN_METRICS_BODY_MAX + 1, 64, &m,
                                     NULL, NULL),
                 CAIRN_ETOOBIG);
    /* One line over the line cap. */
    big[0] = 'a';
    big[1] = ' ';
    memset(big + 2, '1', CAIRN_METRICS_LINE_MAX);
    CHECK_INT_EQ(cairn_metrics_parse(big, CAIRN_METRICS_LINE_MAX + 2, 64, &m,
                                     NULL, NULL),
                 CAIRN_EPARSE);
    free(big);
}

static void hostile(const char *text, size_t len, const char *why)
{
    struct cairn_diag d;
    json_t *m = (json_t *)0x1;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_metrics_parse(text, len, 64, &m, NULL, &d),
                 CAIRN_EPARSE);
    CHECK(m == (json_t *)0x1); /* untouched on error */
    CHECK_STR_HAS(d.msg, why);
}

#define HOSTILE(lit, why) hostile(lit, sizeof(lit) - 1, why)

static void test_metrics_hostile(void)
{
    char key[CAIRN_METRICS_KEY_MAX + 64];

    HOSTILE("a 1\na 2\n", "line 2: duplicate series a");
    HOSTILE("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n", "duplicate series");
    HOSTILE("1abc 1\n", "expected a metric name");
    HOSTILE("a{x=1} 1\n", "expected '\"'");
    HOSTILE("a{x=\"1} 1\n", "unterminated label value");
    HOSTILE("a{x=\"\\t\"} 1\n", "bad escape");
    HOSTILE("a{x=\"1\" 1\n", "expected ',' or '}'");
    HOSTILE("a{x=\"1\",x=\"2\"} 1\n", "duplicate label name");
    HOSTILE("a{1x=\"1\"} 1\n", "expected a label name");
    HOSTILE("a{x:y=\"1\"} 1\n", "expected '='");
    HOSTILE("a\n", "missing sample value");
    HOSTILE("a{x=\"1\"}\n", "missing sample value");
    HOSTILE("a 0x10\n", "bad sample value");
    HOSTILE("a 1.2.3\n", "bad sample value");
    HOSTILE("a inf\n", "bad sample value");
    HOSTILE("a 1e\n", "bad sample value");
    HOSTILE("a 1 2 3\n", "trailing data");
    HOSTILE("a 1 12.5\n", "bad timestamp");
    HOSTILE("a{x=\"1\"}1\n", "expected a blank");
    HOSTILE("a 1\nb\x01 2\n", "line 2: control characters");
    HOSTILE("a{x=\"\xff\"} 1\n", "invalid UTF-8");
    HOSTILE("a{x=\"\xc0\xaf\"} 1\n", "invalid UTF-8");     /* overlong '/' */
    HOSTILE("a{x=\"\xed\xa0\x80\"} 1\n", "invalid UTF-8"); /* surrogate */
    HOSTILE("a 1\0\n", "control characters");
    HOSTILE("a{a=\"\",b=\"\",c=\"\",d=\"\",e=\"\",f=\"\",g=\"\",h=\"\",i=\"\","
            "j=\"\","
            "k=\"\",l=\"\",m=\"\",n=\"\",o=\"\",p=\"\",q=\"\"} 1\n",
            "more than 16 labels");
    memset(key, 'k', sizeof(key));
    memcpy(key + CAIRN_METRICS_KEY_MAX + 1, " 1\n", 3);
    hostile(key, CAIRN_METRICS_KEY_MAX + 4, "series name over");
}

int main(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    RUN(test_metrics_url);
    RUN(test_metrics_parse_valid);
    RUN(test_metrics_caps);
    RUN(test_metrics_hostile);
    RUN(test_gate_healthy);
    RUN(test_gate_timeout);
    RUN(test_gate_nothing_listening);
    RUN(test_gate_worker_exits);
    RUN(test_gate_crash_at_start);
    RUN(test_golden);
    RUN(test_golden_input_problems);
    RUN(test_gate_without_health);
    RUN(test_gate_cancel_and_bad_args);
    RUN(test_probe);
    RUN(test_scrape);
    return test_done();
}
