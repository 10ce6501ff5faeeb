/*
 * The worker's HTTP adapter over libcairn's server, driven over real
 * loopback sockets: the server's loop runs in a thread, the test speaks raw
 * HTTP to it. What is checked is the adapter's contract (http.h): routes,
 * the request view, replies now or later, bodies that outlive a departed
 * client or a stopped server (ASan would see a use after free), caps, and
 * a graceful stop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cairn/httpd.h"
#include "cairn/mem.h"
#include "http.h"
#include "test.h"

static uv_loop_t loop;
static uv_async_t stopper;
static struct xray_http_server *srv;
static int port;

struct later {
    uv_timer_t t;
    struct xray_http_exchange *ex;
    const struct xray_http_req *req;
};

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Reads the request's body long after the handler returned: the adapter
 * must have kept it alive even if the client is gone. */
static void on_later(uv_timer_t *t)
{
    struct later *l = t->data;
    char body[128];
    int n = snprintf(body, sizeof(body), "late %s len=%zu sum=%d", l->req->path,
                     l->req->body_len,
                     l->req->body_len ? ((const char *)l->req->body)[0] : 0);

    xray_http_reply(l->ex, 200, "text/plain", body, (size_t)n);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

static void defer(struct xray_http_exchange *ex,
                  const struct xray_http_req *req, uint64_t ms)
{
    struct later *l = cairn_xcalloc(1, sizeof(*l));

    l->ex = ex;
    l->req = req;
    uv_timer_init(&loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, on_later, ms, 0);
}

static void on_echo(struct xray_http_exchange *ex,
                    const struct xray_http_req *req, void *arg)
{
    char body[512];
    int n;

    CHECK(arg == &port);
    n = snprintf(body, sizeof(body), "%s %s q=%s ct=%s len=%zu", req->method,
                 req->path, req->query,
                 req->content_type ? req->content_type : "-", req->body_len);
    xray_http_reply(ex, 200, "text/plain", body, (size_t)n);
}

static void on_slow(struct xray_http_exchange *ex,
                    const struct xray_http_req *req, void *arg)
{
    (void)arg;
    defer(ex, req, 300);
}

static const struct xray_http_route routes[] = {
    {"/echo", CAIRN_HTTPD_GET | CAIRN_HTTPD_POST, on_echo},
    {"/v1/score", CAIRN_HTTPD_POST, on_echo},
    {"/slow", CAIRN_HTTPD_GET | CAIRN_HTTPD_POST, on_slow},
};

static void on_stop(uv_async_t *a)
{
    xray_http_stop(srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void *loop_main(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

/* Read until EOF: every request here asks for Connection: close. */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = cairn_xmalloc(cap);
    ssize_t r;

    while ((r = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
        len += (size_t)r;
        if (cap - len < 2)
            buf = cairn_xrealloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    return buf;
}

/* Read one response with a Content-Length body from a kept-alive socket. */
static char *read_one(int fd)
{
    char *buf = cairn_xcalloc(1, 8192), *end = NULL, *cl;
    size_t len = 0;
    ssize_t r;

    while (len < 8191 && (r = recv(fd, buf + len, 8191 - len, 0)) > 0) {
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        cl = strstr(buf, "Content-Length: ");
        if (end && cl &&
            (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10) <= len)
            break;
    }
    return buf;
}

static char *roundtrip(const char *req, size_t n)
{
    int fd = dial();
    char *resp;

    if (fd < 0)
        return cairn_xstrdup("(connect failed)");
    send_all(fd, req, n);
    resp = read_all(fd);
    close(fd);
    return resp;
}

#define EXPECT(req, status, body)                                              \
    do {                                                                       \
        char *r__ = roundtrip(req, sizeof(req) - 1);                           \
        CHECK_STR_HAS(r__, status);                                            \
        CHECK_STR_HAS(r__, body);                                              \
        free(r__);                                                             \
    } while (0)

#define CLOSE "Connection: close\r\n"

static void test_requests(void)
{
    EXPECT("GET /echo?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n",
           "HTTP/1.1 200 OK\r\n", "GET /echo q=x=1&y=%20 ct=- len=0");
    EXPECT("GET /echo HTTP/1.0\r\n\r\n", "200 OK", "GET /echo q= ct=- len=0");
    EXPECT("POST /v1/score HTTP/1.1\r\nHost: a\r\nContent-Type: "
           "image/jpeg\r\n" CLOSE "Content-Length: 5\r\n\r\nabcde",
           "Content-Length: 37\r\n", "POST /v1/score q= ct=image/jpeg len=5");
    /* Chunked bodies arrive whole. */
    EXPECT(
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" CLOSE
        "\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        "200 OK", "len=5");
    /* HEAD of a GET route: the head only. */
    {
        static const char head[] =
            "HEAD /echo HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n";
        char *r = roundtrip(head, sizeof(head) - 1);

        CHECK_STR_HAS(r, "200 OK");
        CHECK(strstr(r, "HEAD /echo") == NULL);
        free(r);
    }
}

static void test_keepalive(void)
{
    int fd = dial();
    char *a, *b;

    REQUIRE(fd >= 0);
    send_all(fd, "GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\n", 35);
    a = read_one(fd);
    send_all(fd, "GET /echo?n=2 HTTP/1.1\r\nHost: a\r\n\r\n", 35);
    b = read_one(fd);
    CHECK_STR_HAS(a, "q=n=1");
    CHECK_STR_HAS(b, "q=n=2");
    free(a);
    free(b);
    close(fd);
}

static void test_routing_and_malformed(void)
{
    EXPECT("GET /nope HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n", "404 ",
           "\"status\":404");
    EXPECT("GET /v1/score HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n", "405 ",
           "Allow: POST");
    EXPECT("DELETE /echo HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n", "405 ",
           "Allow: ");
    EXPECT("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
           "413 ", "");
    EXPECT("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: "
           "3\r\nContent-Length: "
           "4\r\n\r\nabcd",
           "400 ", "");
    EXPECT("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n",
           "400 ", "");
    EXPECT("GET x HTTP/1.1\r\nHost: a\r\n\r\n", "400 ", "");
    EXPECT("GET /../echo HTTP/1.1\r\nHost: a\r\n\r\n", "400 ", "");
    EXPECT("GET /echo?a=%zz HTTP/1.1\r\nHost: a\r\n\r\n", "400 ", "");
    EXPECT("GET /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
           "400 ", "");
    EXPECT("GET /echo HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", "417 ",
           "");
}

/* The adapter passes the server-wide body budget on: one 3500-byte body
 * fits the route's cap (4096) but not the budget (3000). */
static void test_body_budget(void)
{
    size_t n = 3500;
    char *req = cairn_xmalloc(n + 128), *r;
    int h = snprintf(
        req, 128,
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", n);

    memset(req + h, 'b', n);
    r = roundtrip(req, (size_t)h + n);
    CHECK_STR_HAS(r, "503 ");
    free(r);
    free(req);
    EXPECT("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n" CLOSE
           "\r\nabc",
           "200 OK", "len=3");
}

static void test_header_cap(void)
{
    size_t n = 3000;
    char *req = cairn_xmalloc(n + 64), *r;

    memcpy(req, "GET /echo HTTP/1.1\r\nHost: a\r\nX: ", 32);
    memset(req + 32, 'a', n);
    memcpy(req + 32 + n, "\r\n\r\n", 5);
    r = roundtrip(req, strlen(req));
    CHECK_STR_HAS(r, "431 ");
    free(r);
    free(req);
}

static void test_expect_continue(void)
{
    static const char head[] =
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        "Expect: 100-continue\r\n" CLOSE "\r\n";
    char buf[256] = "";
    int fd = dial();
    ssize_t r;
    char *rest;

    REQUIRE(fd >= 0);
    send_all(fd, head, sizeof(head) - 1);
    r = recv(fd, buf, sizeof(buf) - 1, 0);
    REQUIRE(r > 0);
    CHECK_STR_HAS(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    send_all(fd, "wxyz", 4);
    rest = read_all(fd);
    CHECK_STR_HAS(rest, "200 OK");
    CHECK_STR_HAS(rest, "len=4");
    free(rest);
    close(fd);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_timeout_and_async(void)
{
    double t0 = now_s();
    int fd = dial();
    char *r;

    REQUIRE(fd >= 0);
    send_all(fd, "GET /echo HTTP/1.1\r\nHost: a\r\n", 29);
    r = read_all(fd); /* the 1.5 s header deadline: closed, no answer */
    CHECK_STR_EQ(r, "");
    CHECK(now_s() - t0 >= 1.0);
    CHECK(now_s() - t0 < 4.5);
    free(r);
    close(fd);
    EXPECT("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n" CLOSE
           "\r\nxyz",
           "200 OK", "late /slow len=3 sum=120");
    /* The client leaves before the late reply; the handler still reads the
     * body afterwards, and the reply is dropped. */
    fd = dial();
    REQUIRE(fd >= 0);
    send_all(fd,
             "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab",
             53);
    usleep(50000);
    close(fd);
    usleep(500000);
    EXPECT("GET /echo?still=alive HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n",
           "200 OK", "still=alive");
}

static char *metrics_text(void)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);

    if (!f)
        abort();
    /* Read from this thread while the loop runs: the counters are plain
     * integers, and only their settled values are compared. */
    xray_http_metrics(srv, f);
    fclose(f);
    return text;
}

/* Earlier tests' connections close asynchronously (linger, timeouts). */
static void wait_no_connections(void)
{
    for (int i = 0; i < 100; i++) {
        char *m = metrics_text();
        int idle = strstr(m, "\nxray_http_connections 0\n") != NULL;

        free(m);
        if (idle)
            return;
        usleep(50000);
    }
    CHECK(!"connections from earlier tests closed");
}

static void test_connection_cap(void)
{
    int fds[6], extra;
    char *r;

    wait_no_connections();
    for (int i = 0; i < 6; i++)
        fds[i] = dial();
    usleep(100000);
    extra = dial();
    REQUIRE(extra >= 0);
    r = read_all(extra); /* over the cap of 6: 503 and closed */
    CHECK_STR_HAS(r, "503 ");
    free(r);
    close(extra);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    for (int i = 0; i < 50; i++) {
        static const char req[] =
            "GET /echo HTTP/1.1\r\nHost: a\r\n" CLOSE "\r\n";
        char *a = roundtrip(req, sizeof(req) - 1);
        int ok = strstr(a, "200 OK") != NULL;

        free(a);
        if (ok)
            return;
        usleep(100000);
    }
    CHECK(!"served again after the idle connections closed");
}

static void test_metrics(void)
{
    char *text = metrics_text();

    xray_http_metrics(NULL, stderr); /* nothing */
    CHECK_STR_HAS(text,
                  "xray_http_requests_total{route=\"/echo\",code=\"200\"}");
    CHECK_STR_HAS(text, "code=\"405\"");
    free(text);
}

/* Stop while a request is in progress: it is answered 503 at once, its
 * handler still reads the body and replies later (dropped), new
 * connections are refused, and the loop then ends on its own. */
static pthread_t loop_thread;

static void test_graceful_stop(void)
{
    static const char req[] =
        "POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nzz";
    int a = dial(), c;
    char *ra;

    REQUIRE(a >= 0);
    send_all(a, req, sizeof(req) - 1);
    usleep(100000);
    uv_async_send(&stopper);
    ra = read_all(a);
    CHECK_STR_HAS(ra, "503 ");
    CHECK_STR_HAS(ra, "stopping");
    free(ra);
    close(a);
    c = dial();
    CHECK(c < 0);
    if (c >= 0)
        close(c);
    pthread_join(loop_thread, NULL);
}

int main(void)
{
    struct xray_http_limits lim = {.max_header = 1024,
                                   .max_body = 4096,
                                   .max_body_total = 3000,
                                   .max_conns = 6,
                                   .timeout_ms = 1500};
    struct cairn_diag d;
    cairn_diag_init(&d);
    uv_loop_init(&loop);
    CHECK_INT_EQ(xray_http_start(&loop, "127.0.0.1:notaport", &lim, routes,
                                 CAIRN_ARRAY_LEN(routes), &port, &srv, &d),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(xray_http_start(&loop, "127.0.0.1", &lim, routes,
                                 CAIRN_ARRAY_LEN(routes), &port, &srv, &d),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(xray_http_start(&loop, "127.0.0.1:70000", &lim, routes,
                                 CAIRN_ARRAY_LEN(routes), &port, &srv, &d),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(xray_http_start(&loop, "not-an-ip:0", &lim, routes,
                                 CAIRN_ARRAY_LEN(routes), &port, &srv, &d),
                 CAIRN_EINVAL);
    if (xray_http_start(&loop, "127.0.0.1:0", &lim, routes,
                        CAIRN_ARRAY_LEN(routes), &port, &srv, &d) != 0) {
        fprintf(stderr, "start: %s\n", cairn_diag_msg(&d));
        return 1;
    }
    port = xray_http_port(srv);
    uv_async_init(&loop, &stopper, on_stop);
    pthread_create(&loop_thread, NULL, loop_main, NULL);
    RUN(test_requests);
    RUN(test_keepalive);
    RUN(test_routing_and_malformed);
    RUN(test_header_cap);
    RUN(test_body_budget);
    RUN(test_expect_continue);
    RUN(test_timeout_and_async);
    RUN(test_connection_cap);
    RUN(test_metrics);
    RUN(test_graceful_stop);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    return test_done();
}
