/*
 * The worker's HTTP/1.1 responder, driven over real loopback sockets: the
 * server's loop runs in a thread, the test speaks raw HTTP to it, including
 * every malformed or oversized form the caps must stop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

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
};

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    struct later *l = t->data;

    xray_http_reply(l->ex, 200, "text/plain", "late\n", 5);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

static void handler(struct xray_http_exchange *ex,
                    const struct xray_http_req *req, void *arg)
{
    char body[512];
    int n;

    (void)arg;
    if (strcmp(req->path, "/slow") == 0) {
        struct later *l = cairn_xcalloc(1, sizeof(*l));

        l->ex = ex;
        uv_timer_init(&loop, &l->t);
        l->t.data = l;
        uv_timer_start(&l->t, on_later, 300, 0);
        return;
    }
    n = snprintf(body, sizeof(body), "%s %s q=%s ct=%s len=%zu", req->method,
                 req->path, req->query,
                 req->content_type ? req->content_type : "-", req->body_len);
    xray_http_reply(ex, 200, "text/plain", body, (size_t)n);
}

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

/* Read until EOF (the server always closes). */
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

static void test_requests(void)
{
    EXPECT("GET /echo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n",
           "GET /echo q=x=1 ct=- len=0");
    EXPECT("GET /echo HTTP/1.0\r\n\r\n", "Connection: close\r\n",
           "GET /echo q= ct=- len=0");
    EXPECT("POST /v1/score HTTP/1.1\r\nContent-Type: "
           "image/jpeg\r\nContent-Length: 5\r\n\r\nabcde",
           "Content-Length: 37\r\n", "POST /v1/score q= ct=image/jpeg len=5");
    EXPECT("POST /x HTTP/1.1\r\ncontent-length:   3  \r\n\r\nabc", "200 OK",
           "len=3");
}

static void test_malformed(void)
{
    EXPECT("GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "501 ", "");
    EXPECT("POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "413 ",
           "too large");
    EXPECT("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: "
           "4\r\n\r\nabcd",
           "400 ", "");
    EXPECT("POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n", "400 ", "");
    EXPECT("GET /x HTTP/2.0\r\n\r\n", "505 ", "");
    EXPECT("GET /x HTTP/1.10\r\n\r\n", "400 ", "");
    EXPECT("GET x HTTP/1.1\r\n\r\n", "400 ", "");
    EXPECT("get /x HTTP/1.1\r\n\r\n", "400 ", "");
    EXPECT("GET /x\r\n\r\n", "400 ", "");
    EXPECT("GET /x HTTP/1.1\r\nBad Header: 1\r\n\r\n", "400 ", "");
    EXPECT("GET /x HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "400 ", "");
    EXPECT("GET /x HTTP/1.1\r\nExpect: magic\r\n\r\n", "417 ", "");
    EXPECT("GET /x HTTP/1.1\r\nA: \x01\r\n\r\n", "400 ", "");
    {
        static const char nul[] = "GET /x HTTP/1.1\r\nA: b\0c\r\n\r\n";
        char *r = roundtrip(nul, sizeof(nul) - 1);

        CHECK_STR_HAS(r, "400 ");
        free(r);
    }
}

static void test_header_cap(void)
{
    size_t n = 3000;
    char *req = cairn_xmalloc(n + 64), *r;

    memcpy(req, "GET /x HTTP/1.1\r\nX: ", 20);
    memset(req + 20, 'a', n);
    memcpy(req + 20 + n, "\r\n\r\n", 5);
    r = roundtrip(req, strlen(req));
    CHECK_STR_HAS(r, "431 ");
    free(r);
    /* No terminator at all: cut off once past the cap. */
    req[20 + n] = 'a';
    r = roundtrip(req, 20 + n);
    CHECK_STR_HAS(r, "431 ");
    free(r);
    free(req);
}

static void test_expect_continue(void)
{
    static const char head[] =
        "POST /x HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
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

static void test_timeout_and_async(void)
{
    int fd = dial();
    char *r;

    REQUIRE(fd >= 0);
    send_all(fd, "GET /x HTTP/1.1\r\n", 17);
    r = read_all(fd); /* the server's 1.5 s deadline */
    CHECK_STR_HAS(r, "408 ");
    free(r);
    close(fd);
    EXPECT("GET /slow HTTP/1.1\r\n\r\n", "200 OK", "late");
    /* The client leaves before the late reply: dropped, nothing breaks. */
    fd = dial();
    REQUIRE(fd >= 0);
    send_all(fd, "GET /slow HTTP/1.1\r\n\r\n", 22);
    close(fd);
    usleep(500000);
    EXPECT("GET /still-alive HTTP/1.1\r\n\r\n", "200 OK", "/still-alive");
}

static void test_connection_cap(void)
{
    int fds[6], extra;
    char c;

    for (int i = 0; i < 6; i++)
        fds[i] = dial();
    usleep(100000);
    extra = dial();
    REQUIRE(extra >= 0);
    /* Over the cap of 6: closed without a reply. */
    CHECK(recv(extra, &c, 1, 0) <= 0);
    close(extra);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    /* Once the server has seen the closes, connections are served again. */
    for (int i = 0; i < 50; i++) {
        static const char req[] = "GET /after HTTP/1.1\r\n\r\n";
        char *r = roundtrip(req, sizeof(req) - 1);
        int ok = strstr(r, "200 OK") != NULL;

        free(r);
        if (ok)
            return;
        usleep(100000);
    }
    CHECK(!"served again after the idle connections closed");
}

int main(void)
{
    struct xray_http_limits lim = {.max_header = 1024,
                                   .max_body = 4096,
                                   .max_conns = 6,
                                   .timeout_ms = 1500};
    struct cairn_diag d;
    pthread_t th;

    cairn_diag_init(&d);
    uv_loop_init(&loop);
    CHECK_INT_EQ(xray_http_start(&loop, "127.0.0.1:notaport", &lim, handler,
                                 NULL, &srv, &d),
                 CAIRN_EINVAL);
    if (xray_http_start(&loop, "127.0.0.1:0", &lim, handler, NULL, &srv, &d) !=
        0) {
        fprintf(stderr, "start: %s\n", cairn_diag_msg(&d));
        return 1;
    }
    port = xray_http_port(srv);
    uv_async_init(&loop, &stopper, on_stop);
    pthread_create(&th, NULL, loop_main, NULL);
    RUN(test_requests);
    RUN(test_malformed);
    RUN(test_header_cap);
    RUN(test_expect_continue);
    RUN(test_timeout_and_async);
    RUN(test_connection_cap);
    uv_async_send(&stopper);
    pthread_join(th, NULL);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    return test_done();
}
