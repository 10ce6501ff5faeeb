/*
 * HTTP/1.1 server on a libuv loop, parsing with http-parser. Used by
 * cairn-controller (agents' long-polls, reports, artifacts, /metrics) and
 * by the example worker's /healthz. See docs/internals/httpd.md.
 *
 * Threading: everything here runs on the loop thread that owns the server;
 * no function may be called from another thread.
 *
 * A request's life: the server parses it, routes it, and calls the route's
 * handler with a struct cairn_httpd_req. The handler then either
 *   - responds (cairn_httpd_respond*, the error helpers, respond_file), or
 *   - parks it (cairn_httpd_park) and responds later from any loop callback.
 * A handler that returns doing neither gets a 500 and a log line.
 *
 * A route may also have a head hook, run when the request's headers are
 * complete and before any body byte is read (to refuse it early: bad
 * token, unknown site), and may take its body as a stream of pieces
 * instead of one buffer (uploads). See cairn_httpd_route_hooks.
 *
 * A req pointer is valid from the handler call until the response call
 * returns, or until its park callback reports CAIRN_HTTPD_PARK_ABORTED; every
 * string the accessors return lives exactly as long. The response functions
 * return void: a failed write is the connection's problem, handled (and
 * counted) inside.
 */
#ifndef CAIRN_HTTPD_H
#define CAIRN_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "cairn/diag.h"
#include "cairn/mem.h"

struct cairn_httpd;
struct cairn_httpd_req;

/* Method bits for routes. A route with GET also answers HEAD (the body is
 * left out, Content-Length kept). */
enum cairn_httpd_method {
    CAIRN_HTTPD_GET = 1u << 0,
    CAIRN_HTTPD_HEAD = 1u << 1,
    CAIRN_HTTPD_POST = 1u << 2,
    CAIRN_HTTPD_PUT = 1u << 3,
    CAIRN_HTTPD_DELETE = 1u << 4,
    CAIRN_HTTPD_PATCH = 1u << 5,
    CAIRN_HTTPD_OPTIONS = 1u << 6,
};

/* Server limits. A zero field takes the default shown. */
struct cairn_httpd_config {
    uint32_t max_connections;  /* 16384; beyond: 503 and close */
    uint32_t max_header_bytes; /* 16384: request line + headers, 431 past
                                  it (414 for the URL alone); at most 32768 */
    uint32_t max_headers;      /* 64 header lines, 431 past it (max 64) */
    uint64_t max_body_bytes;   /* 1 MiB: body cap of routes without their own */
    uint64_t max_body_total;   /* 256 MiB: request body bytes held at once by
                                  all connections together (buffered bodies;
                                  streamed ones hold none); a request that
                                  would pass it gets 503 and its connection
                                  closes */
    uint32_t header_timeout_ms; /* 10000: from accept or a request's first
                                   byte until its headers are complete */
    uint32_t idle_timeout_ms;  /* 75000: keep-alive wait for the next request */
    uint32_t body_timeout_ms;  /* 30000: with body_min_rate, the total time a
                                  request body may take: body_timeout_ms +
                                  size / body_min_rate, from the end of the
                                  headers (size: the declared length; for
                                  chunked, the bytes arrived so far). Not
                                  reset by reads; stopped while the owner
                                  holds a streamed body paused. */
    uint32_t body_min_rate;    /* 16384 bytes/s: see body_timeout_ms */
    uint32_t write_timeout_ms; /* 60000: longest stall while a response is
                                  written (a client that does not read) */
    uint32_t linger_ms;        /* 2000: after a closing response, how long
                                  unread input is drained before close */
    uint32_t stop_grace_ms;    /* 10000: graceful stop, then force-close */
};

/* Fill cfg with every default. */
void cairn_httpd_config_default(struct cairn_httpd_config *cfg);

typedef void (*cairn_httpd_handler_fn)(struct cairn_httpd_req *req, void *arg);

/* Head hook: called once the request line and headers are complete and
 * routed, before any body byte is read (and before "100 Continue" is sent).
 * Every accessor but the body works. The hook either
 *   - returns without responding: the request goes on (body, handler), or
 *   - responds (any response function): the request ends there; no 100
 *     Continue is sent, the body is never read. A request that declared a
 *     body gets "Connection: close" and its connection is closed after the
 *     response (input that still arrives is discarded for linger_ms, never
 *     buffered); one without a body keeps its connection.
 * It must not park. It may attach its own state with cairn_httpd_req_set_data
 * (see the abort callback for who frees it) and, on a streaming route,
 * pause the body before it starts (cairn_httpd_req_pause). */
typedef void (*cairn_httpd_head_fn)(struct cairn_httpd_req *req, void *arg);

/* Streaming: one piece of the request body, in order, as it arrives
 * (Content-Length and chunked bodies alike; chunk framing and trailers are
 * the server's). data is valid only during the call: copy what is kept.
 * The callback may pause the body (cairn_httpd_req_pause) to push back
 * on the client, or respond to end the request early (e.g. 507 when the
 * disk is full): then the connection is closed after the response. */
typedef void (*cairn_httpd_body_fn)(struct cairn_httpd_req *req,
                                    const char *data, size_t len, void *arg);

/* Why a request ended before its handler ran. */
enum cairn_httpd_abort_reason {
    CAIRN_HTTPD_ABORT_CLOSED,  /* the client went away (EOF, reset), or the
                                  server force-closed the connection (stop) */
    CAIRN_HTTPD_ABORT_TIMEOUT, /* the body overran its deadline
                                  (body_timeout_ms, body_min_rate) */
    CAIRN_HTTPD_ABORT_REFUSED, /* the server answered an error itself: body
                                  over max_body, malformed chunked framing,
                                  no room in max_body_total */
};

/* Abort: called exactly once for a request that got past its head stage
 * (the head hook returned without responding, or the route has none) but
 * will never reach its handler, so that the owner of the request's data
 * (a temp file, a buffer) can release it. Not called when the owner
 * itself responded (from the head hook, a body callback or later). req is
 * valid during the call only: accessors work (not req_peer), responding
 * is refused. */
typedef void (*cairn_httpd_abort_fn)(struct cairn_httpd_req *req,
                                     enum cairn_httpd_abort_reason why,
                                     void *arg);

struct cairn_httpd_route_opts {
    uint64_t max_body; /* 0: the server's max_body_bytes; 413 past it (at
                          once for a declared Content-Length; a chunked
                          body when it passes it) */
    const char *name;  /* metrics label; NULL: the pattern */
};

/* A route's callbacks besides its handler; each may be NULL. All get the
 * route's arg and run on the loop thread. (A separate struct, so that the
 * many positional route_opts initializers stay complete.) */
struct cairn_httpd_route_hooks {
    cairn_httpd_head_fn head;   /* NULL: no head hook */
    cairn_httpd_body_fn body;   /* NULL: the body is buffered whole and read
                                   with cairn_httpd_req_body; else streamed
                                   to it (req_body is then "") and the
                                   handler runs once the body is complete */
    cairn_httpd_abort_fn abort; /* NULL: not told */
};

/* Create a server on loop with cfg (NULL: defaults; copied). Aborts on OOM.
 * Free with cairn_httpd_free once stopped (or if never listened). */
struct cairn_httpd *cairn_httpd_new(uv_loop_t *loop,
                                    const struct cairn_httpd_config *cfg);

/* Add a route. pattern is a path of '/'-separated segments: literals,
 * "{name}" (one non-empty segment, percent-decoded, read with
 * cairn_httpd_req_param), and optionally a last segment "*" that matches
 * the rest of the path, possibly empty (param "*"). Routes are tried in the
 * order added; the first whose pattern and method match wins. A path that
 * matches only with other methods gets 405 with Allow, no match 404.
 * methods: CAIRN_HTTPD_* bits. pattern is copied. Before listen only.
 * CAIRN_EINVAL (bad pattern, no methods), CAIRN_ESTATE (already listening). */
CAIRN_WUR int cairn_httpd_route(struct cairn_httpd *srv, unsigned methods,
                                const char *pattern, cairn_httpd_handler_fn fn,
                                void *arg,
                                const struct cairn_httpd_route_opts *opts,
                                struct cairn_diag *d);

/* cairn_httpd_route with a head hook, a streamed body and/or an abort
 * callback (hooks copied; NULL: same as cairn_httpd_route). Same errors. */
CAIRN_WUR int
cairn_httpd_route_hooks(struct cairn_httpd *srv, unsigned methods,
                        const char *pattern, cairn_httpd_handler_fn fn,
                        void *arg, const struct cairn_httpd_route_opts *opts,
                        const struct cairn_httpd_route_hooks *hooks,
                        struct cairn_diag *d);

/* Listen on host ("127.0.0.1", "::1", "0.0.0.0") and port (0: ephemeral,
 * see cairn_httpd_port). CAIRN_EINVAL (bad address), CAIRN_ENET (bind or
 * listen failed, e.g. port in use), CAIRN_ESTATE (listening or stopped). */
CAIRN_WUR int cairn_httpd_listen(struct cairn_httpd *srv, const char *host,
                                 uint16_t port, struct cairn_diag *d);

/* The bound port, 0 when not listening. */
uint16_t cairn_httpd_port(const struct cairn_httpd *srv);

typedef void (*cairn_httpd_done_fn)(struct cairn_httpd *srv, void *arg);

/* Graceful stop: close the listener and idle connections at once; let
 * requests in progress finish (their responses say Connection: close);
 * parked requests get CAIRN_HTTPD_PARK_STOPPING. After stop_grace_ms the
 * rest is closed. done (may be NULL) runs from a later loop callback once
 * every handle is closed; cairn_httpd_free may be called from it. A second
 * call is ignored. */
void cairn_httpd_stop(struct cairn_httpd *srv, cairn_httpd_done_fn done,
                      void *arg);

/* Free a server that was never listened on, or whose stop is done. NULL ok. */
void cairn_httpd_free(struct cairn_httpd *srv);

/* --- Request access (strings valid while req is) --- */

/* "GET", "POST", ... and the method's bit (0 for methods without one). */
const char *cairn_httpd_req_method(const struct cairn_httpd_req *req);
unsigned cairn_httpd_req_method_bit(const struct cairn_httpd_req *req);
/* The raw request target ("/v1/x?wait=30") and its path ("/v1/x"), both as
 * received (not decoded). Paths with "." or ".." segments never reach a
 * handler (400). */
const char *cairn_httpd_req_target(const struct cairn_httpd_req *req);
const char *cairn_httpd_req_path(const struct cairn_httpd_req *req);
/* A route parameter, percent-decoded, or NULL. "{name}" values never
 * contain '/' or NUL (such requests get 400); "*" may contain '/' but no
 * NUL and no "." or ".." segment. */
const char *cairn_httpd_req_param(const struct cairn_httpd_req *req,
                                  const char *name);
/* First query parameter called name, decoded ('+' is a space), "" for a
 * bare "name", NULL when absent. Malformed escapes or more than 32
 * parameters get 400 before the handler runs. */
const char *cairn_httpd_req_query(const struct cairn_httpd_req *req,
                                  const char *name);
/* First header called name (case-insensitive), whitespace-trimmed, or NULL. */
const char *cairn_httpd_req_header(const struct cairn_httpd_req *req,
                                   const char *name);
/* The body (NUL-terminated for convenience, not counted in *len; len may
 * be NULL). Never NULL: "" when there is no body. */
const char *cairn_httpd_req_body(const struct cairn_httpd_req *req,
                                 size_t *len);
/* The caller's pointer for this request (NULL until set): a head hook
 * hands its state to the body callback, abort callback and handler with
 * it. The server never dereferences or frees it. */
void cairn_httpd_req_set_data(struct cairn_httpd_req *req, void *data);
void *cairn_httpd_req_data(const struct cairn_httpd_req *req);
/* Bytes of body seen so far (streamed or buffered). */
uint64_t cairn_httpd_req_body_seen(const struct cairn_httpd_req *req);
/* Peer address into out (getpeername on demand). CAIRN_ENET when the
 * connection is gone. */
CAIRN_WUR int cairn_httpd_req_peer(const struct cairn_httpd_req *req,
                                   struct sockaddr_storage *out);
/* Peer as "1.2.3.4:5678" or "[::1]:5678" into buf (n >= 64 always fits);
 * "?" when unknown. Returns buf. */
const char *cairn_httpd_req_peer_str(const struct cairn_httpd_req *req,
                                     char *buf, size_t n);
/* The server the request arrived on. */
struct cairn_httpd *cairn_httpd_req_server(const struct cairn_httpd_req *req);

/* --- Responses: each completes the request (except resp_header) --- */

/* Add a response header for the coming response. name must be a token and
 * value free of control characters: CAIRN_EINVAL; CAIRN_ETOOBIG past 8 KiB
 * of added headers; CAIRN_ESTATE when req is answered or gone. Date,
 * Content-Length, Content-Type, Connection and Transfer-Encoding are the
 * server's and refused (CAIRN_EINVAL). */
CAIRN_WUR int cairn_httpd_resp_header(struct cairn_httpd_req *req,
                                      const char *name, const char *value);

/* Respond with a copy of body (len bytes; body may be NULL when len is 0).
 * content_type NULL: none sent. HEAD, 204 and 304 send no body. */
void cairn_httpd_respond(struct cairn_httpd_req *req, int status,
                         const char *content_type, const void *body,
                         size_t len);

typedef void (*cairn_httpd_release_fn)(void *arg);

/* Respond with body borrowed, not copied: release(arg) (may be NULL) is
 * called exactly once when the server no longer needs the bytes, possibly
 * before this returns (everything written at once) and also when the
 * connection dies first. */
void cairn_httpd_respond_borrowed(struct cairn_httpd_req *req, int status,
                                  const char *content_type, const void *body,
                                  size_t len, cairn_httpd_release_fn release,
                                  void *arg);

/* application/json with body. */
void cairn_httpd_respond_json(struct cairn_httpd_req *req, int status,
                              const char *json, size_t len);

/* {"error":msg,"status":status} (msg JSON-escaped, cut at 512 bytes;
 * invalid UTF-8 replaced by '?'). */
void cairn_httpd_respond_error(struct cairn_httpd_req *req, int status,
                               const char *msg);

/* The usual errors, each with its status and a JSON body as above. */
void cairn_httpd_bad_request(struct cairn_httpd_req *req,
                             const char *msg); /* 400 */
void cairn_httpd_unauthorized(struct cairn_httpd_req *req,
                              const char *msg); /* 401 */
void cairn_httpd_forbidden(struct cairn_httpd_req *req,
                           const char *msg); /* 403 */
void cairn_httpd_not_found(struct cairn_httpd_req *req,
                           const char *msg); /* 404 */
/* 405; allow: the Allow header value ("GET, HEAD"). */
void cairn_httpd_method_not_allowed(struct cairn_httpd_req *req,
                                    const char *allow);
void cairn_httpd_conflict(struct cairn_httpd_req *req,
                          const char *msg); /* 409 */
void cairn_httpd_too_large(struct cairn_httpd_req *req,
                           const char *msg); /* 413 */
/* 429 and 503 with Retry-After: retry_after_s when > 0. */
void cairn_httpd_too_many(struct cairn_httpd_req *req, unsigned retry_after_s,
                          const char *msg);
void cairn_httpd_unavailable(struct cairn_httpd_req *req,
                             unsigned retry_after_s, const char *msg);

/* 304 with ETag: etag. */
void cairn_httpd_respond_not_modified(struct cairn_httpd_req *req,
                                      const char *etag);

/* True when an If-None-Match value (a list of entity-tags, or "*") matches
 * etag, by weak comparison (W/ ignored), as for GET and HEAD. etag is a
 * complete entity-tag with quotes ("\"7.1700000000\""). NULL -> 0. */
int cairn_httpd_etag_match(const char *if_none_match, const char *etag);

/* Shorthand: the request's If-None-Match matches etag. */
int cairn_httpd_req_not_modified(const struct cairn_httpd_req *req,
                                 const char *etag);

/* Serve a regular file: ETag (etag, a complete entity-tag; NULL: derived
 * from size and mtime), If-None-Match -> 304, a single Range -> 206 with
 * Content-Range, unsatisfiable -> 416 with Content-Range "bytes *" "/size",
 * several ranges or a failed If-Range -> the whole file. The bytes go from
 * the page cache to the socket with sendfile(2), never through user space.
 * content_type NULL: application/octet-stream.
 * On error nothing is sent and the caller still owns the response:
 * CAIRN_ENOENT, CAIRN_EPERM, CAIRN_EIO, CAIRN_EINVAL (not a regular file,
 * malformed etag), CAIRN_ESTATE (req already answered or gone). */
CAIRN_WUR int cairn_httpd_respond_file(struct cairn_httpd_req *req,
                                       const char *path,
                                       const char *content_type,
                                       const char *etag);
/* Same with an open file; fd is owned by the call (closed on every path). */
CAIRN_WUR int cairn_httpd_respond_fd(struct cairn_httpd_req *req, int fd,
                                     const char *content_type,
                                     const char *etag);

/* --- Parking (long-poll) --- */

enum cairn_httpd_park_event {
    CAIRN_HTTPD_PARK_TIMEOUT,  /* timeout_ms passed: respond now (or park again)
                                */
    CAIRN_HTTPD_PARK_STOPPING, /* the server is stopping: respond now */
    CAIRN_HTTPD_PARK_ABORTED,  /* the client went away (or a forced close):
                                  drop req, do not respond */
};

typedef void (*cairn_httpd_park_fn)(struct cairn_httpd_req *req,
                                    enum cairn_httpd_park_event ev, void *arg);

/* Keep req open without responding; respond later from any loop callback.
 * fn(req, ev, arg) reports the events above; after TIMEOUT or STOPPING a
 * callback that neither responds nor parks again gets a 503 sent for it.
 * timeout_ms 0: no timeout. A parked request costs its connection (about
 * 1.5 KiB with the request's headers) and no timer. */
void cairn_httpd_park(struct cairn_httpd_req *req, uint32_t timeout_ms,
                      cairn_httpd_park_fn fn, void *arg);

/* --- Streamed bodies: backpressure --- */

/* Hand over no more body pieces of req (a request on a streaming route
 * whose body is still arriving) until cairn_httpd_req_resume: the server
 * stops reading the connection, so TCP pushes back on the client, and the
 * body timeout is suspended (a busy consumer is not a slow client). Bytes
 * already read stay in a per-connection stash (at most one read, 64 KiB).
 * Called from the body callback, it takes effect after that piece; from
 * the head hook, before the first. Ignored (with a warning) on other
 * requests; a second pause is a no-op. */
void cairn_httpd_req_pause(struct cairn_httpd_req *req);

/* Undo cairn_httpd_req_pause. Delivery restarts on a later loop turn,
 * never inside this call, so a consumer may resume from any callback
 * (a thread-pool job's after_work). No-op when not paused. */
void cairn_httpd_req_resume(struct cairn_httpd_req *req);

/* --- Statistics and metrics --- */

struct cairn_httpd_stats {
    uint64_t accepted;     /* connections accepted (including rejected) */
    uint64_t rejected;     /* connections refused over max_connections */
    uint64_t requests;     /* requests that reached routing */
    uint64_t parse_errors; /* malformed or over-cap requests */
    uint64_t timeouts; /* connections closed by a header/body/write timeout */
    uint32_t connections; /* open now */
    uint32_t parked;      /* parked now */
    uint64_t stashed;     /* input read ahead of the request being answered
                             (pipelined requests, a paused body's rest),
                             held now by all connections together */
};

void cairn_httpd_stats(const struct cairn_httpd *srv,
                       struct cairn_httpd_stats *out);

/* Calls fn for every (route, status) seen, in route order. route is the
 * route's name ("-" for requests that matched no route). */
typedef void (*cairn_httpd_metric_fn)(const char *route, int status,
                                      uint64_t count, void *arg);
void cairn_httpd_metrics_foreach(const struct cairn_httpd *srv,
                                 cairn_httpd_metric_fn fn, void *arg);

/* Append Prometheus text exposition to out: <prefix>_http_requests_total
 * {route,code}, <prefix>_http_connections, _http_parked_requests and the
 * totals of struct cairn_httpd_stats. prefix e.g. "cairn_controller".
 * CAIRN_ETOOBIG when out's cap is reached. */
CAIRN_WUR int cairn_httpd_metrics_prometheus(const struct cairn_httpd *srv,
                                             const char *prefix,
                                             struct cairn_buf *out);

#endif
