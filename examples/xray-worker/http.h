/*
 * The worker's HTTP layer: a thin adapter so that the worker can move to
 * libcairn's HTTP server (pkg httpd.h) once it lands, by rewriting this one
 * file. Until then it is a minimal HTTP/1.1 responder on libuv: one request
 * per connection, Content-Length bodies only (Transfer-Encoding is answered
 * 501), "Expect: 100-continue" honoured, every reply "Connection: close".
 *
 * Caps: header block, body, concurrent connections, and a deadline for
 * receiving the whole request. Loop thread only.
 */
#ifndef XRAY_HTTP_H
#define XRAY_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "cairn/diag.h"

struct xray_http_server;
struct xray_http_exchange; /* one request awaiting its reply */

struct xray_http_req {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* target without the query, starts with '/' */
    const char *query;        /* after '?', or "" */
    const char *content_type; /* NULL when absent */
    const void *body;
    size_t body_len;
};

/* Called once per complete request. req and its strings stay valid until
 * xray_http_reply() is called for ex, which must happen exactly once, now
 * or later (e.g. after thread-pool work), on the loop thread. */
typedef void (*xray_http_handler)(struct xray_http_exchange *ex,
                                  const struct xray_http_req *req, void *arg);

struct xray_http_limits {
    size_t max_header; /* request line + headers */
    size_t max_body;
    unsigned max_conns;
    unsigned timeout_ms; /* to receive the whole request */
};

/* Listen on "host:port" (IPv4 or [IPv6]; port 0 picks one). CAIRN_EINVAL
 * for a bad address, CAIRN_EIO when bind/listen fails. */
CAIRN_WUR int xray_http_start(uv_loop_t *loop, const char *listen,
                              const struct xray_http_limits *lim,
                              xray_http_handler fn, void *arg,
                              struct xray_http_server **out,
                              struct cairn_diag *d);

/* The bound port. */
int xray_http_port(const struct xray_http_server *s);

/* Send the reply and close the connection. Safe after the client has gone
 * (the reply is then dropped). */
void xray_http_reply(struct xray_http_exchange *ex, int status,
                     const char *content_type, const void *body, size_t len);

/* Stop listening and close every connection; memory is released as the
 * handles close (requests awaiting a reply are released by their reply). */
void xray_http_stop(struct xray_http_server *s);

#endif
