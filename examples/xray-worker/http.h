/*
 * The worker's HTTP layer: a thin adapter over libcairn's HTTP/1.1 server
 * (cairn/httpd.h). It keeps the worker's handlers free of server details:
 * a handler sees a plain request struct and answers with xray_http_reply(),
 * now or later (after thread-pool work), exactly once.
 *
 * What the adapter adds to the server: "host:port" listen addresses, one
 * route per (method, path), and request bodies the handler owns until it
 * replies (so a thread may still read them after the client has gone or
 * the server has stopped). Loop thread only.
 */
#ifndef XRAY_HTTP_H
#define XRAY_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "cairn/diag.h"
#include "cairn/httpd.h"

struct xray_http_server;
struct xray_http_exchange; /* one request awaiting its reply */

struct xray_http_req {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* target without the query, starts with '/' */
    const char *query;        /* after '?', or "" */
    const char *content_type; /* NULL when absent */
    const void *body;         /* "" when there is none */
    size_t body_len;
};

/* Called once per request that matched its route. req and its strings stay
 * valid until xray_http_reply() is called for ex, which must happen exactly
 * once, now or later, on the loop thread. */
typedef void (*xray_http_handler)(struct xray_http_exchange *ex,
                                  const struct xray_http_req *req, void *arg);

/* A route: an exact path and the methods it answers. Other methods on the
 * path get 405 with Allow, other paths 404 (JSON bodies, from the server). */
struct xray_http_route {
    const char *path;
    unsigned methods; /* CAIRN_HTTPD_GET / CAIRN_HTTPD_POST bits; GET
                         also answers HEAD */
    xray_http_handler fn;
};

/* Zero fields take the server's defaults (cairn/httpd.h). */
struct xray_http_limits {
    size_t max_header;     /* request line + headers (431 past it) */
    size_t max_body;       /* 413 past it */
    size_t max_body_total; /* bodies held at once, all requests (503 past) */
    unsigned max_conns;    /* beyond: 503 and close */
    unsigned timeout_ms;   /* headers complete / longest body pause */
    unsigned idle_ms;      /* keep-alive wait for the next request */
};

/* Listen on "host:port" (IPv4 or [IPv6] literal; port 0 picks one) with
 * n routes, each handler called with arg. CAIRN_EINVAL for a bad address
 * or route, CAIRN_ENET when bind/listen fails. *out only on success. */
CAIRN_WUR int xray_http_start(uv_loop_t *loop, const char *listen,
                              const struct xray_http_limits *lim,
                              const struct xray_http_route *routes, size_t n,
                              void *arg, struct xray_http_server **out,
                              struct cairn_diag *d);

/* The bound port. */
int xray_http_port(const struct xray_http_server *s);

/* Answer and release ex. Safe after the client has gone or the server has
 * stopped (the answer is then dropped). */
void xray_http_reply(struct xray_http_exchange *ex, int status,
                     const char *content_type, const void *body, size_t len);

/* Append the server's own Prometheus metrics (requests per route and
 * code, connections, timeouts), names prefixed "xray_". NULL s: nothing. */
void xray_http_metrics(const struct xray_http_server *s, FILE *out);

/* Graceful stop: no new connections; requests still waiting for their
 * handler's reply are answered 503 (the reply, when it comes, is dropped);
 * everything is released once the last handle has closed (the loop keeps
 * running until then). NULL ok. */
void xray_http_stop(struct xray_http_server *s);

#endif
