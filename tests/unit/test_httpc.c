/*
 * httpc against tests/tools/fakeserver.py over loopback: bodies, caps,
 * timeouts, cancel, headers, pause/resume, keep-alive, close, pinned CA.
 */
#include "test.h"
#include "tools/fakeserver.h"

#include <inttypes.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "cairn/httpc.h"
#include "cairn/mem.h"

static struct fakeserver srv;
static char *root;
static uint8_t *blob;
static const size_t blob_len = 3 * 1024 * 1024 + 777;

/* What one request produced (copied out of the done callback). */
struct got {
    int fired;
    int err;
    char msg[512];
    long status;
    int64_t content_length;
    char etag[256], content_range[256], retry_after[256];
    char *body;
    size_t body_len;
    uint64_t body_bytes;
    /* streaming */
    uint8_t *stream;
    size_t stream_len;
    int head_calls;
    long head_status;
    int pause_every; /* on_data pauses every Nth call */
    int calls;
    struct cairn_httpc_req *req;
    uv_timer_t resume_timer;
    /* > 0: cancel the request after this long (a test that would
     * otherwise hang fails instead); the resume timer is used for it. */
    uint64_t watchdog_ms;
    int watchdog_fired;
};

static void got_free(struct got *g)
{
    free(g->body);
    free(g->stream);
}

static void on_done(struct cairn_httpc_req *r,
                    const struct cairn_httpc_result *res, void *arg)
{
    struct got *g = arg;

    (void)r;
    g->fired++;
    g->err = res->err;
    snprintf(g->msg, sizeof(g->msg), "%s", res->msg);
    g->status = res->head.status;
    g->content_length = res->head.content_length;
    snprintf(g->etag, sizeof(g->etag), "%s", res->head.etag);
    snprintf(g->content_range, sizeof(g->content_range), "%s",
             res->head.content_range);
    snprintf(g->retry_after, sizeof(g->retry_after), "%s",
             res->head.retry_after);
    g->body = cairn_xstrndup(res->body, res->body_len);
    g->body_len = res->body_len;
    g->body_bytes = res->body_bytes;
    g->req = NULL;
    if (g->watchdog_ms)
        uv_timer_stop(&g->resume_timer);
}

static int on_head(struct cairn_httpc_req *r, const struct cairn_httpc_head *h,
                   void *arg)
{
    struct got *g = arg;

    (void)r;
    g->head_calls++;
    g->head_status = h->status;
    return 0;
}

static void resume_later(uv_timer_t *t)
{
    struct got *g = t->data;

    if (g->req)
        cairn_httpc_resume(g->req);
}

static int on_data(struct cairn_httpc_req *r, const void *data, size_t n,
                   void *arg)
{
    struct got *g = arg;

    g->calls++;
    if (g->pause_every && g->calls % g->pause_every == 0) {
        g->req = r;
        uv_timer_start(&g->resume_timer, resume_later, 1, 0);
        return CAIRN_HTTPC_PAUSE;
    }
    g->stream = cairn_xrealloc(g->stream, g->stream_len + n);
    memcpy(g->stream + g->stream_len, data, n);
    g->stream_len += n;
    return 0;
}

static void watchdog_fire(uv_timer_t *t)
{
    struct got *g = t->data;

    g->watchdog_fired = 1;
    if (g->req)
        cairn_httpc_cancel(g->req);
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

/* Run one request to completion on a fresh loop and client. */
static int run(const struct cairn_httpc_opts *o, struct cairn_httpc_request *rq,
               struct got *g)
{
    uv_loop_t loop;
    struct cairn_httpc *c = NULL;
    struct cairn_diag d;
    int rc, closed = 0;

    uv_loop_init(&loop);
    uv_timer_init(&loop, &g->resume_timer);
    g->resume_timer.data = g;
    cairn_diag_init(&d);
    rc = cairn_httpc_new(&loop, o, &c, &d);
    if (rc == 0) {
        rc = cairn_httpc_start(c, rq, on_done, g, &g->req, &d);
        if (rc)
            fprintf(stderr, "start: %s\n", cairn_diag_msg(&d));
        if (rc == 0 && g->watchdog_ms)
            uv_timer_start(&g->resume_timer, watchdog_fire, g->watchdog_ms, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        cairn_httpc_close(c, closed_cb, &closed);
    }
    uv_close((uv_handle_t *)&g->resume_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(rc != 0 || closed == 1);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    return rc;
}

static char *url(const char *path)
{
    return cairn_xasprintf("%s%s", srv.base, path);
}

static void test_get_memory(void)
{
    const char *hdrs[] = {"X-Cairn-Test: yes", "If-None-Match: \"7.99\"", NULL};
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/echo");
    rq.headers = hdrs;
    rq.on_head = on_head;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.fired, 1);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 200);
    CHECK_INT_EQ(g.head_calls, 1);
    CHECK_INT_EQ(g.head_status, 200);
    CHECK_STR_HAS(g.body, "\"method\": \"GET\"");
    CHECK_STR_HAS(g.body, "\"x-cairn-test\": \"yes\"");
    CHECK_STR_HAS(g.body, "\"if-none-match\": \"\\\"7.99\\\"\"");
    CHECK_STR_HAS(g.body, "\"user-agent\": \"cairn/");
    CHECK_INT_EQ(g.content_length, (int64_t)g.body_len);
    free((char *)rq.url);
    got_free(&g);
}

static void test_post_body_and_agent(void)
{
    struct cairn_httpc_opts o = {.user_agent = "probe/1"};
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/echo?status=201");
    rq.method = "POST";
    rq.body = "{\"seq\":1}";
    rq.body_len = 9;
    REQUIRE(run(&o, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 201);
    CHECK_STR_HAS(g.body, "\"method\": \"POST\"");
    CHECK_STR_HAS(g.body, "\"body\": \"{\\\"seq\\\":1}\"");
    CHECK_STR_HAS(g.body, "\"user-agent\": \"probe/1\"");
    free((char *)rq.url);
    got_free(&g);

    memset(&g, 0, sizeof(g));
    memset(&rq, 0, sizeof(rq));
    rq.url = url("/echo");
    rq.method = "PUT";
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_STR_HAS(g.body, "\"method\": \"PUT\"");
    free((char *)rq.url);
    got_free(&g);
}

static void test_memory_cap(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    /* Content-Length over the cap: refused before the body. */
    rq.url = url("/echo?size=5000");
    rq.max_body = 1000;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ETOOBIG);
    CHECK_STR_HAS(g.msg, "Content-Length 5000");
    CHECK(g.body_len <= 1000);
    free((char *)rq.url);
    got_free(&g);

    /* No Content-Length: cut while reading. */
    memset(&g, 0, sizeof(g));
    rq.url = url("/f/blob?nolen=1");
    rq.max_body = 100000;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ETOOBIG);
    CHECK(g.body_len <= 100000);
    free((char *)rq.url);
    got_free(&g);

    /* At the cap exactly: fine. */
    memset(&g, 0, sizeof(g));
    rq.url = url("/echo?size=1000");
    rq.max_body = 1000;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.body_len, 1000);
    free((char *)rq.url);
    got_free(&g);
}

static void test_streaming_and_pause(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/f/blob");
    rq.on_data = on_data;
    rq.on_head = on_head;
    rq.recv_buffer = 256 * 1024;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.stream_len, blob_len);
    CHECK(g.stream && memcmp(g.stream, blob, blob_len) == 0);
    CHECK_INT_EQ(g.body_bytes, blob_len);
    CHECK_INT_EQ(g.body_len, 0); /* streamed, not collected */
    CHECK_INT_EQ(g.head_calls, 1);
    got_free(&g);

    /* Pause every third chunk, resume from a timer: the same bytes come
     * again, nothing lost or doubled. */
    memset(&g, 0, sizeof(g));
    g.pause_every = 3;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.stream_len, blob_len);
    CHECK(g.stream && memcmp(g.stream, blob, blob_len) == 0);
    CHECK(g.calls > 10);
    free((char *)rq.url);
    got_free(&g);
}

static void test_streaming_cap(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/f/blob?nolen=1");
    rq.on_data = on_data;
    rq.max_body = 200000;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ETOOBIG);
    CHECK(g.stream_len <= 200000);
    CHECK(g.stream_len > 0);
    CHECK(memcmp(g.stream, blob, g.stream_len) == 0);
    free((char *)rq.url);
    got_free(&g);
}

static void test_error_status_streaming(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/f/blob?status=503&retry_after=7");
    rq.on_data = on_data;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0); /* transport fine; the status tells */
    CHECK_INT_EQ(g.status, 503);
    CHECK_STR_EQ(g.retry_after, "7");
    CHECK_INT_EQ(g.stream_len, 0); /* error bodies never reach on_data */
    CHECK_STR_HAS(g.body, "fake error 503");
    free((char *)rq.url);
    got_free(&g);
}

/* A streaming request without a timeout and an error body that never
 * ends: the error body is read only up to a cap (64 KiB), then the
 * transfer ends and done reports the status with the start of the body.
 * Before the cap the request never completed (the watchdog cancels it). */
static void test_error_body_endless(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    rq.url = url("/f/blob?status=502&endless=1");
    rq.on_data = on_data;
    rq.timeout_ms = 0;
    g.watchdog_ms = 5000;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.watchdog_fired, 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 502);
    CHECK_INT_EQ(g.stream_len, 0);
    CHECK_STR_HAS(g.body, "fake error 502");
    CHECK(g.body_len <= 4096);
    CHECK(g.body_bytes >= 64 * 1024);
    CHECK(g.body_bytes <= 64 * 1024 + 256 * 1024); /* one curl buffer more */
    free((char *)rq.url);
    got_free(&g);
}

static void test_headers_and_range(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};
    uint64_t f, l, t;

    rq.url = url("/f/blob?etag=%22g7%22");
    rq.range_start = 1000;
    rq.on_data = on_data;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 206);
    CHECK_STR_EQ(g.etag, "\"g7\"");
    CHECK_INT_EQ(g.content_length, (int64_t)(blob_len - 1000));
    REQUIRE(cairn_httpc_parse_content_range(g.content_range, &f, &l, &t) == 0);
    CHECK_INT_EQ(f, 1000);
    CHECK_INT_EQ(l, blob_len - 1);
    CHECK_INT_EQ(t, blob_len);
    CHECK_INT_EQ(g.stream_len, blob_len - 1000);
    CHECK(memcmp(g.stream, blob + 1000, blob_len - 1000) == 0);
    CHECK_INT_EQ(fakeserver_count(&srv, " bytes=1000-"), 1);
    free((char *)rq.url);
    got_free(&g);

    /* HEAD: headers, no body, Content-Length not taken as a body size. */
    memset(&g, 0, sizeof(g));
    memset(&rq, 0, sizeof(rq));
    rq.url = url("/f/blob");
    rq.method = "HEAD";
    rq.max_body = 10;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 200);
    CHECK_INT_EQ(g.content_length, (int64_t)blob_len);
    CHECK_INT_EQ(g.body_len, 0);
    free((char *)rq.url);
    got_free(&g);
}

static void test_timeout(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};
    uint64_t t0 = uv_hrtime();

    rq.url = url("/echo?delay=3");
    rq.timeout_ms = 300;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ETIMEOUT);
    CHECK((uv_hrtime() - t0) / 1000000 < 2500);
    CHECK_STR_HAS(g.msg, "/echo?delay=3");
    free((char *)rq.url);
    got_free(&g);
}

static void test_low_speed(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};
    uint64_t t0 = uv_hrtime();

    rq.url = url("/f/blob?rate=1");
    rq.on_data = on_data;
    rq.low_speed_limit = 100;
    rq.low_speed_time = 1;
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ETIMEOUT);
    CHECK((uv_hrtime() - t0) / 1000000 < 5000);
    CHECK(g.stream_len < 10);
    free((char *)rq.url);
    got_free(&g);
}

static void test_refused(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);

    /* A port that was just free: bind, read it, close. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    REQUIRE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    rq.url = cairn_xasprintf("http://127.0.0.1:%d/x", ntohs(sa.sin_port));
    REQUIRE(run(NULL, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ENET);
    CHECK_INT_EQ(g.status, 0);
    free((char *)rq.url);
    got_free(&g);
}

static void test_bad_requests(void)
{
    const char *bad_hdr[] = {"X-A: 1\r\nX-Injected: 2", NULL};
    const char *no_colon[] = {"NoColon", NULL};
    struct cairn_httpc_request rq = {0};
    struct got g = {0};
    uv_loop_t loop;
    struct cairn_httpc *c;
    struct cairn_diag d;
    int closed = 0;

    uv_loop_init(&loop);
    REQUIRE(cairn_httpc_new(&loop, NULL, &c, NULL) == 0);
    cairn_diag_init(&d);
    rq.url = "ftp://127.0.0.1/x";
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, &d),
                 CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "scheme ftp");
    rq.url = "http://[::1";
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, NULL),
                 CAIRN_EINVAL);
    rq.url = "http://127.0.0.1/x";
    rq.headers = bad_hdr;
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, NULL),
                 CAIRN_EINVAL);
    rq.headers = no_colon;
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, NULL),
                 CAIRN_EINVAL);
    rq.headers = NULL;
    rq.method = "get";
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, NULL),
                 CAIRN_EINVAL);
    rq.method = NULL;
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, NULL, &g, NULL, NULL), CAIRN_EINVAL);
    cairn_httpc_close(c, closed_cb, &closed);
    CHECK_INT_EQ(cairn_httpc_start(c, &rq, on_done, &g, NULL, NULL),
                 CAIRN_ESTATE);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(closed, 1);
    CHECK_INT_EQ(g.fired, 0); /* an error return never fires the callback */
    CHECK_INT_EQ(uv_loop_close(&loop), 0);

    uv_loop_init(&loop);
    c = NULL;
    struct cairn_httpc_opts o = {.ca_file = "/nonexistent/ca.pem"};
    CHECK_INT_EQ(cairn_httpc_new(&loop, &o, &c, NULL), CAIRN_ENOENT);
    CHECK(c == NULL);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* Cancel: right after start, and from a timer mid-request. */
static void cancel_from_timer(uv_timer_t *t)
{
    cairn_httpc_cancel(t->data);
}

static void test_cancel(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g1 = {0}, g2 = {0};
    struct cairn_httpc_req *r1, *r2;
    struct cairn_httpc *c;
    uv_loop_t loop;
    uv_timer_t t;
    uint64_t t0 = uv_hrtime();
    int closed = 0;

    uv_loop_init(&loop);
    REQUIRE(cairn_httpc_new(&loop, NULL, &c, NULL) == 0);
    rq.url = url("/echo?delay=3");
    REQUIRE(cairn_httpc_start(c, &rq, on_done, &g1, &r1, NULL) == 0);
    REQUIRE(cairn_httpc_start(c, &rq, on_done, &g2, &r2, NULL) == 0);
    cairn_httpc_cancel(r1);
    cairn_httpc_cancel(r1);    /* idempotent */
    CHECK_INT_EQ(g1.fired, 0); /* never from inside cancel */
    uv_timer_init(&loop, &t);
    t.data = r2;
    uv_timer_start(&t, cancel_from_timer, 200, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(g1.fired, 1);
    CHECK_INT_EQ(g1.err, CAIRN_ECANCELED);
    CHECK_INT_EQ(g2.fired, 1);
    CHECK_INT_EQ(g2.err, CAIRN_ECANCELED);
    CHECK((uv_hrtime() - t0) / 1000000 < 2000);
    cairn_httpc_close(c, closed_cb, &closed);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(closed, 1);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    free((char *)rq.url);
    got_free(&g1);
    got_free(&g2);
}

/* Closing a client with requests in flight cancels them and frees all. */
static void test_close_pending(void)
{
    struct cairn_httpc_request rq = {0};
    struct got g[3] = {{0}};
    struct cairn_httpc *c;
    uv_loop_t loop;
    int i, closed = 0;

    uv_loop_init(&loop);
    REQUIRE(cairn_httpc_new(&loop, NULL, &c, NULL) == 0);
    rq.url = url("/echo?delay=2");
    for (i = 0; i < 3; i++)
        REQUIRE(cairn_httpc_start(c, &rq, on_done, &g[i], NULL, NULL) == 0);
    /* Let the requests reach the server, then close. */
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    cairn_httpc_close(c, closed_cb, &closed);
    CHECK_INT_EQ(closed, 0); /* never synchronous */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (i = 0; i < 3; i++) {
        CHECK_INT_EQ(g[i].fired, 1);
        CHECK_INT_EQ(g[i].err, CAIRN_ECANCELED);
        got_free(&g[i]);
    }
    CHECK_INT_EQ(closed, 1);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    free((char *)rq.url);
}

/* Sequential requests reuse the connection; a start from inside on_data is
 * queued and runs. */
struct chain {
    struct cairn_httpc *c;
    struct cairn_httpc_request rq;
    struct got first, second;
    int started;
};

static int chain_data(struct cairn_httpc_req *r, const void *p, size_t n,
                      void *arg)
{
    struct chain *ch = cairn_container_of(arg, struct chain, first);

    (void)r, (void)p, (void)n;
    if (!ch->started) {
        ch->started = 1;
        CHECK_INT_EQ(
            cairn_httpc_start(ch->c, &ch->rq, on_done, &ch->second, NULL, NULL),
            0);
    }
    return 0;
}

static void test_keepalive_and_nested_start(void)
{
    struct cairn_httpc_request rq = {0};
    struct chain ch;
    struct got a = {0}, b = {0};
    char *pa, *pb;
    uv_loop_t loop;
    int closed = 0;

    memset(&ch, 0, sizeof(ch));
    uv_loop_init(&loop);
    REQUIRE(cairn_httpc_new(&loop, NULL, &ch.c, NULL) == 0);
    rq.url = url("/echo");
    REQUIRE(cairn_httpc_start(ch.c, &rq, on_done, &a, NULL, NULL) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    REQUIRE(cairn_httpc_start(ch.c, &rq, on_done, &b, NULL, NULL) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    pa = strstr(a.body ? a.body : "", "\"peer_port\"");
    pb = strstr(b.body ? b.body : "", "\"peer_port\"");
    REQUIRE(pa && pb);
    CHECK(strncmp(pa, pb, 20) == 0); /* same client port: one connection */

    ch.rq.url = rq.url;
    rq.on_data = chain_data;
    REQUIRE(cairn_httpc_start(ch.c, &rq, on_done, &ch.first, NULL, NULL) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(ch.first.fired, 1);
    CHECK_INT_EQ(ch.second.fired, 1);
    CHECK_INT_EQ(ch.second.err, 0);
    CHECK_STR_HAS(ch.second.body, "\"method\": \"GET\"");
    cairn_httpc_close(ch.c, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(closed, 1);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    free((char *)rq.url);
    got_free(&a);
    got_free(&b);
    got_free(&ch.first);
    got_free(&ch.second);
}

static void test_parsers(void)
{
    uint64_t f = 0, l = 0, t = 0;
    uint32_t s = 0;

    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes 0-99/100", &f, &l, &t),
                 0);
    CHECK(f == 0 && l == 99 && t == 100);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes 5-9/*", &f, &l, &t), 0);
    CHECK(f == 5 && l == 9 && t == UINT64_MAX);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes 5-4/100", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes 0-100/100", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes */100", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes -1-5/10", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("bytes 1-5/10x", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("items 1-5/10", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range(
                     "bytes 0-1/99999999999999999999999", &f, &l, &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_content_range("", &f, &l, &t), CAIRN_EPARSE);

    CHECK_INT_EQ(cairn_httpc_parse_retry_after("120", 0, 3600, &s), 0);
    CHECK_INT_EQ(s, 120);
    CHECK_INT_EQ(cairn_httpc_parse_retry_after("99999", 0, 3600, &s), 0);
    CHECK_INT_EQ(s, 3600);
    /* 1994-11-06 08:49:37 UTC = 784111777 */
    CHECK_INT_EQ(cairn_httpc_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                                               784111777 - 30, 3600, &s),
                 0);
    CHECK_INT_EQ(s, 30);
    CHECK_INT_EQ(cairn_httpc_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT",
                                               784111777 + 30, 3600, &s),
                 0);
    CHECK_INT_EQ(s, 0);
    CHECK_INT_EQ(cairn_httpc_parse_retry_after("soon", 0, 3600, &s),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_httpc_parse_retry_after("12x", 0, 3600, &s),
                 CAIRN_EPARSE);
}

/* ---- https with a pinned CA (self-signed, made with openssl req) ------ */

static int sh(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char buf[256];

    if (!p)
        return -1;
    while (fgets(buf, sizeof(buf), p))
        ;
    return pclose(p);
}

static int make_ca(const char *dir, const char *name, char **ca_out)
{
    char cmd[4096];

    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=%s-ca "
             "-keyout %s-ca.key -out %s-ca.pem 2>&1",
             dir, name, name, name);
    if (sh(cmd) != 0)
        return -1;
    *ca_out = cairn_xasprintf("%s/%s-ca.pem", dir, name);
    return 0;
}

static void test_https_pinned_ca(void)
{
    char cmd[4096], *ca_good = NULL, *ca_other = NULL, *cert, *key;
    struct fakeserver tls = {0};
    struct cairn_httpc_opts o = {0};
    struct cairn_httpc_request rq = {0};
    struct got g = {0};

    if (make_ca(root, "good", &ca_good) != 0 ||
        make_ca(root, "other", &ca_other) != 0) {
        fprintf(stderr, "skip: openssl could not make a CA\n");
        return;
    }
    snprintf(
        cmd, sizeof(cmd),
        "cd '%s' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -subj /CN=127.0.0.1 -keyout srv.key -out srv.csr 2>&1 && "
        "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
        "openssl x509 -req -in srv.csr -CA good-ca.pem -CAkey good-ca.key "
        "-CAcreateserial -days 2 -extfile ext.cnf -out srv.pem 2>&1",
        root);
    REQUIRE(sh(cmd) == 0);
    cert = cairn_xasprintf("%s/srv.pem", root);
    key = cairn_xasprintf("%s/srv.key", root);
    REQUIRE(fakeserver_start(&tls, root, cert, key) == 0);

    rq.url = cairn_xasprintf("%s/echo", tls.base);
    o.ca_file = ca_good;
    REQUIRE(run(&o, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, 0);
    CHECK_INT_EQ(g.status, 200);
    CHECK_STR_HAS(g.body, "\"method\": \"GET\"");
    got_free(&g);

    memset(&g, 0, sizeof(g));
    o.ca_file = ca_other; /* a different CA: the server is not trusted */
    REQUIRE(run(&o, &rq, &g) == 0);
    CHECK_INT_EQ(g.err, CAIRN_ENET);
    CHECK_INT_EQ(g.status, 0);
    CHECK_STR_HAS(g.msg, "certificate");
    got_free(&g);

    fakeserver_stop(&tls);
    free((char *)rq.url);
    free(ca_good);
    free(ca_other);
    free(cert);
    free(key);
}

int main(void)
{
    char *path;
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    root = test_tmpdir();
    blob = malloc(blob_len);
    for (i = 0; i < blob_len; i++)
        blob[i] = (uint8_t)((i * 2654435761u) >> 13);
    path = cairn_xasprintf("%s/blob", root);
    test_write_file(path, blob, blob_len);
    free(path);
    if (fakeserver_start(&srv, root, NULL, NULL) != 0) {
        fprintf(stderr, "cannot start the fake server\n");
        return 1;
    }
    RUN(test_parsers);
    RUN(test_get_memory);
    RUN(test_post_body_and_agent);
    RUN(test_memory_cap);
    RUN(test_streaming_and_pause);
    RUN(test_streaming_cap);
    RUN(test_error_status_streaming);
    RUN(test_error_body_endless);
    RUN(test_headers_and_range);
    RUN(test_timeout);
    RUN(test_low_speed);
    RUN(test_refused);
    RUN(test_bad_requests);
    RUN(test_cancel);
    RUN(test_close_pending);
    RUN(test_keepalive_and_nested_start);
    RUN(test_https_pinned_ca);
    fakeserver_stop(&srv);
    test_rm_rf(root);
    free(root);
    free(blob);
    return test_done();
}
