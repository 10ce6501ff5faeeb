/*
 * httpd_demo: a small server on cairn's httpd for integration tests and
 * benchmarks (not installed).
 *
 *   httpd_demo [--port N] [--root DIR] [--max-conns N]
 *
 * Prints "port N" on stdout once listening (N is the bound port; --port 0,
 * the default, picks one). Routes:
 *   GET /healthz        "ok"
 *   GET /small          a 13-byte text body from memory
 *   GET /static/<rel>   files under --root, with ETag/Range (sendfile)
 *   GET /park?t=MS      parked until t ms pass (0: until the client leaves)
 *   GET /metrics        Prometheus text
 * SIGTERM or SIGINT: graceful stop, exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/fs.h"
#include "cairn/httpd.h"
#include "cairn/log.h"

struct demo {
    uv_loop_t *loop;
    struct cairn_httpd *srv;
    uv_signal_t sigterm, sigint;
    const char *root;
};

static void h_healthz(struct cairn_httpd_req *req, void *arg)
{
    (void)arg;
    cairn_httpd_respond(req, 200, "text/plain", "ok\n", 3);
}

static void h_small(struct cairn_httpd_req *req, void *arg)
{
    static const char body[] = "hello, world\n";

    (void)arg;
    cairn_httpd_respond_borrowed(req, 200, "text/plain", body, sizeof(body) - 1,
                                 NULL, NULL);
}

static void h_static(struct cairn_httpd_req *req, void *arg)
{
    struct demo *d = arg;
    char *path = NULL;
    int rc;

    if (!d->root) {
        cairn_httpd_not_found(req, "no --root");
        return;
    }
    if (cairn_fs_join_safe(d->root, cairn_httpd_req_param(req, "*"), &path,
                           NULL)) {
        cairn_httpd_forbidden(req, "path outside the root");
        return;
    }
    rc = cairn_httpd_respond_file(req, path, NULL, NULL);
    if (rc == CAIRN_ENOENT)
        cairn_httpd_not_found(req, "no such file");
    else if (rc)
        cairn_httpd_respond_error(req, 500, cairn_strerror(rc));
    free(path);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    (void)arg;
    if (ev != CAIRN_HTTPD_PARK_ABORTED)
        cairn_httpd_respond(req, 200, "text/plain", "done\n", 5);
}

static void h_park(struct cairn_httpd_req *req, void *arg)
{
    const char *t = cairn_httpd_req_query(req, "t");

    (void)arg;
    cairn_httpd_park(req, t ? (uint32_t)strtoul(t, NULL, 10) : 0, on_park,
                     NULL);
}

static void h_metrics(struct cairn_httpd_req *req, void *arg)
{
    struct demo *d = arg;
    struct cairn_buf b;

    cairn_buf_init(&b, 1 << 20);
    if (cairn_httpd_metrics_prometheus(d->srv, "httpd_demo", &b) != 0)
        cairn_httpd_respond_error(req, 500, "metrics too large");
    else
        cairn_httpd_respond(req, 200, "text/plain; version=0.0.4", b.data,
                            b.len);
    cairn_buf_free(&b);
}

static void on_stopped(struct cairn_httpd *srv, void *arg)
{
    struct demo *d = arg;

    (void)srv;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct demo *d = s->data;

    (void)signum;
    cairn_httpd_stop(d->srv, on_stopped, d);
}

static int add_routes(struct demo *d)
{
    int rc = 0;

    rc |= cairn_httpd_route(d->srv, CAIRN_HTTPD_GET, "/healthz", h_healthz, d,
                            NULL, NULL);
    rc |= cairn_httpd_route(d->srv, CAIRN_HTTPD_GET, "/small", h_small, d, NULL,
                            NULL);
    rc |= cairn_httpd_route(d->srv, CAIRN_HTTPD_GET, "/static/*", h_static, d,
                            NULL, NULL);
    rc |= cairn_httpd_route(d->srv, CAIRN_HTTPD_GET, "/park", h_park, d, NULL,
                            NULL);
    rc |= cairn_httpd_route(d->srv, CAIRN_HTTPD_GET, "/metrics", h_metrics, d,
                            NULL, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    struct cairn_httpd_config cfg = {0};
    struct cairn_diag diag;
    struct demo d = {0};
    unsigned long port = 0;
    int i;

    cairn_log_init("httpd_demo");
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--root") == 0)
            d.root = argv[i + 1];
        else if (strcmp(argv[i], "--max-conns") == 0)
            cfg.max_connections = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (i < argc || port > 65535) {
        fprintf(stderr,
                "usage: httpd_demo [--port N] [--root DIR] [--max-conns N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    d.loop = uv_default_loop();
    d.srv = cairn_httpd_new(d.loop, &cfg);
    cairn_diag_init(&diag);
    if (add_routes(&d) ||
        cairn_httpd_listen(d.srv, "127.0.0.1", (uint16_t)port, &diag)) {
        fprintf(stderr, "httpd_demo: %s\n", cairn_diag_msg(&diag));
        cairn_httpd_free(d.srv);
        return 1;
    }
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    printf("port %u\n", (unsigned)cairn_httpd_port(d.srv));
    fflush(stdout);
    uv_run(d.loop, UV_RUN_DEFAULT);
    cairn_httpd_free(d.srv);
    uv_loop_close(d.loop);
    return 0;
}
