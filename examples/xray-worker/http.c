/*
 * The worker's HTTP adapter over libcairn's server (see http.h).
 *
 * libcairn's request object is pooled and lives only until it is answered
 * or its client goes away, but a worker handler may hand the body to the
 * thread pool and answer much later. So each request becomes an exchange
 * that owns copies of everything the handler sees; the server's request is
 * parked meanwhile and the exchange forgets it the moment it is answered,
 * aborted or answered for (stop). The exchange itself is freed by the one
 * xray_http_reply() call, which is the handler's contract.
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/error.h"
#include "cairn/httpd.h"
#include "cairn/log.h"
#include "cairn/mem.h"

#define METRICS_CAP (256 * 1024)

struct route_ctx {
    struct xray_http_server *s;
    xray_http_handler fn;
};

struct xray_http_server {
    struct cairn_httpd *srv;
    void *arg;
    struct route_ctx *routes;
};

struct xray_http_exchange {
    struct xray_http_server *s;
    struct cairn_httpd_req *req; /* NULL once answered, aborted or stopped */
    int in_handler, replied;
    struct xray_http_req xr; /* strings point into the tail of this block */
};

static const char *query_of(const char *target)
{
    const char *q = strchr(target, '?');

    return q ? q + 1 : "";
}

/* One block: the exchange, then method, path, query, content type and body,
 * each NUL-terminated, so a handler's view survives the server's request. */
static struct xray_http_exchange *exchange_new(struct xray_http_server *s,
                                               struct cairn_httpd_req *req)
{
    const char *m = cairn_httpd_req_method(req), *p = cairn_httpd_req_path(req),
               *q = query_of(cairn_httpd_req_target(req)),
               *ct = cairn_httpd_req_header(req, "Content-Type");
    size_t blen, lm = strlen(m) + 1, lp = strlen(p) + 1, lq = strlen(q) + 1,
                 lct = ct ? strlen(ct) + 1 : 0;
    const char *body = cairn_httpd_req_body(req, &blen);
    struct xray_http_exchange *ex =
        cairn_xmalloc(sizeof(*ex) + lm + lp + lq + lct + blen + 1);
    char *t = (char *)(ex + 1);

    memset(ex, 0, sizeof(*ex));
    ex->s = s;
    ex->req = req;
    ex->xr.method = memcpy(t, m, lm);
    ex->xr.path = memcpy(t += lm, p, lp);
    ex->xr.query = memcpy(t += lp, q, lq);
    ex->xr.content_type = ct ? memcpy(t += lq, ct, lct) : NULL;
    t += ct ? lct : lq;
    memcpy(t, body, blen);
    t[blen] = '\0';
    ex->xr.body = t;
    ex->xr.body_len = blen;
    return ex;
}

/* The server forces an answer to parked requests when it stops (and a
 * re-park then is due at once), so work still in progress at a stop is
 * answered 503 here and its later reply is dropped. */
static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct xray_http_exchange *ex = arg;

    ex->req = NULL; /* the handler's later reply is dropped */
    if (ev != CAIRN_HTTPD_PARK_ABORTED)
        cairn_httpd_unavailable(req, 1, "stopping");
}

static void on_route(struct cairn_httpd_req *req, void *arg)
{
    struct route_ctx *rc = arg;
    struct xray_http_exchange *ex = exchange_new(rc->s, req);

    ex->in_handler = 1;
    rc->fn(ex, &ex->xr, rc->s->arg);
    ex->in_handler = 0;
    if (ex->replied)
        free(ex);
    else
        cairn_httpd_park(req, 0, on_park, ex);
}

void xray_http_reply(struct xray_http_exchange *ex, int status,
                     const char *content_type, const void *body, size_t len)
{
    if (ex->req)
        cairn_httpd_respond(ex->req, status, content_type, body, len);
    ex->req = NULL;
    if (ex->in_handler)
        ex->replied = 1; /* on_route frees it once the handler returns */
    else
        free(ex);
}

/* "host:port", "[v6]:port"; an empty host means 127.0.0.1. */
static int parse_listen(const char *spec, char *host, size_t hn, uint16_t *port,
                        struct cairn_diag *d)
{
    const char *colon = strrchr(spec, ':');
    char *end;
    unsigned long p;
    size_t hl;

    if (!colon)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: want host:port",
                              spec);
    p = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || p > 65535)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: bad port", spec);
    hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= hn)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: host too long",
                              spec);
    if (hl == 0)
        snprintf(host, hn, "127.0.0.1");
    else
        snprintf(host, hn, "%.*s", (int)hl, spec);
    *port = (uint16_t)p;
    return 0;
}

static struct cairn_httpd *server_new(uv_loop_t *loop,
                                      const struct xray_http_limits *lim)
{
    struct cairn_httpd_config cfg;

    cairn_httpd_config_default(&cfg);
    if (lim->max_header)
        cfg.max_header_bytes = (uint32_t)lim->max_header;
    if (lim->max_body)
        cfg.max_body_bytes = lim->max_body;
    if (lim->max_body_total)
        cfg.max_body_total = lim->max_body_total;
    if (lim->max_conns)
        cfg.max_connections = lim->max_conns;
    if (lim->timeout_ms)
        cfg.header_timeout_ms = cfg.body_timeout_ms = lim->timeout_ms;
    if (lim->idle_ms)
        cfg.idle_timeout_ms = lim->idle_ms;
    return cairn_httpd_new(loop, &cfg);
}

static void server_free(struct xray_http_server *s)
{
    if (!s)
        return;
    cairn_httpd_free(s->srv);
    free(s->routes);
    free(s);
}

int xray_http_start(uv_loop_t *loop, const char *listen,
                    const struct xray_http_limits *lim,
                    const struct xray_http_route *routes, size_t n, void *arg,
                    struct xray_http_server **out, struct cairn_diag *d)
{
    struct xray_http_server *s;
    char host[256];
    uint16_t port = 0;
    int err = parse_listen(listen, host, sizeof(host), &port, d);

    if (err)
        return err;
    s = cairn_xcalloc(1, sizeof(*s));
    s->arg = arg;
    s->srv = server_new(loop, lim);
    s->routes = cairn_xcalloc(n ? n : 1, sizeof(*s->routes));
    for (size_t i = 0; i < n && !err; i++) {
        struct cairn_httpd_route_opts o = {.name = routes[i].path};

        s->routes[i].s = s;
        s->routes[i].fn = routes[i].fn;
        err = cairn_httpd_route(s->srv, routes[i].methods, routes[i].path,
                                on_route, &s->routes[i], &o, d);
    }
    if (!err)
        err = cairn_httpd_listen(s->srv, host, port, d);
    if (err) {
        cairn_diag_prefix(d, "listen %s", listen);
        server_free(s);
        return err;
    }
    *out = s;
    return 0;
}

int xray_http_port(const struct xray_http_server *s)
{
    return cairn_httpd_port(s->srv);
}

void xray_http_metrics(const struct xray_http_server *s, FILE *out)
{
    struct cairn_buf b;

    if (!s)
        return;
    cairn_buf_init(&b, METRICS_CAP);
    if (cairn_httpd_metrics_prometheus(s->srv, "xray", &b) != 0)
        LOG_WARN("http metrics cut at %d bytes", METRICS_CAP);
    if (b.len)
        fwrite(b.data, 1, b.len, out);
    cairn_buf_free(&b);
}

static void on_stopped(struct cairn_httpd *srv, void *arg)
{
    (void)srv;
    server_free(arg);
}

void xray_http_stop(struct xray_http_server *s)
{
    if (s)
        cairn_httpd_stop(s->srv, on_stopped, s);
}
