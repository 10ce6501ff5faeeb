/*
 * HTTP server: listener, connections, the read path, the write path,
 * timeouts, graceful stop and statistics. Parsing and routing live in
 * httpd_req.c, responses and files in httpd_resp.c. Design notes:
 * docs/internals/httpd.md.
 */
#include "httpd_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/log.h"

struct httpd_write {
    uv_write_t req;
    struct httpd_conn *conn;
    cairn_httpd_release_fn release;
    void *arg;
    char data[];
};

#define REJECT_BODY "{\"error\":\"too many connections\",\"status\":503}"

static void maybe_finish(struct cairn_httpd *srv);
static void conn_resume(struct httpd_conn *c);

void cairn_httpd_config_default(struct cairn_httpd_config *cfg)
{
    cfg->max_connections = 16384;
    cfg->max_header_bytes = 16384;
    cfg->max_headers = HTTPD_MAX_HEADERS;
    cfg->max_body_bytes = 1u << 20;
    cfg->max_body_total = 256u << 20;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 75000;
    cfg->body_timeout_ms = 30000;
    cfg->body_min_rate = 16384;
    cfg->write_timeout_ms = 60000;
    cfg->linger_ms = 2000;
    cfg->stop_grace_ms = 10000;
}

/* Zero fields take defaults; the two structural caps are clamped so that
 * 16-bit offsets into a request's head store cannot overflow. */
static void config_apply(struct cairn_httpd_config *dst,
                         const struct cairn_httpd_config *src)
{
    struct cairn_httpd_config def;

    cairn_httpd_config_default(&def);
    *dst = src ? *src : def;
#define DEF(f)                                                                 \
    if (!dst->f)                                                               \
    dst->f = def.f
    DEF(max_connections);
    DEF(max_header_bytes);
    DEF(max_headers);
    DEF(max_body_bytes);
    DEF(max_body_total);
    DEF(header_timeout_ms);
    DEF(idle_timeout_ms);
    DEF(body_timeout_ms);
    DEF(body_min_rate);
    DEF(write_timeout_ms);
    DEF(linger_ms);
    DEF(stop_grace_ms);
#undef DEF
    if (dst->max_header_bytes > 32768)
        dst->max_header_bytes = 32768;
    if (dst->max_headers > HTTPD_MAX_HEADERS)
        dst->max_headers = HTTPD_MAX_HEADERS;
}

struct cairn_httpd *cairn_httpd_new(uv_loop_t *loop,
                                    const struct cairn_httpd_config *cfg)
{
    struct cairn_httpd *srv = cairn_xcalloc(1, sizeof(*srv));

    srv->loop = loop;
    config_apply(&srv->cfg, cfg);
    return srv;
}

void cairn_httpd_free(struct cairn_httpd *srv)
{
    struct cairn_httpd_req *r;
    size_t i;

    if (!srv)
        return;
    /* Handles embedded in srv must be closed first (done callback). */
    if (srv->listening && (!srv->finishing || srv->handles_open)) {
        LOG_ERROR("cairn_httpd_free before its stop is done: leaking it");
        return;
    }
    for (i = 0; i < srv->nroutes; i++)
        cairn__httpd_route_free(&srv->routes[i]);
    free(srv->routes);
    while ((r = srv->pool) != NULL) {
        srv->pool = r->next_free;
        cairn_buf_free(&r->head);
        cairn_buf_free(&r->body);
        cairn_buf_free(&r->rhead);
        free(r);
    }
    free(srv);
}

uint16_t cairn_httpd_port(const struct cairn_httpd *srv)
{
    return srv && srv->listening ? srv->port : 0;
}

int cairn__httpd_stream_fd(struct httpd_conn *c)
{
    uv_os_fd_t fd = -1;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return -1;
    return fd;
}

/* --- timers --------------------------------------------------------- */

static uint64_t now_ms(struct cairn_httpd *srv)
{
    return uv_now(srv->loop);
}

void cairn__httpd_touch_write(struct httpd_conn *c)
{
    c->wdeadline = now_ms(c->srv) + c->srv->cfg.write_timeout_ms;
}

static void conn_idle(struct httpd_conn *c)
{
    c->state = C_IDLE;
    c->deadline = now_ms(c->srv) + c->srv->cfg.idle_timeout_ms;
}

static void on_deadline(struct httpd_conn *c)
{
    struct cairn_httpd *srv = c->srv;

    switch (c->state) {
    case C_IDLE:
        if (c->writes) { /* the write timeout governs */
            c->deadline = c->wdeadline;
            return;
        }
        cairn__httpd_conn_close(c);
        return;
    case C_HEAD:
    case C_BODY:
        srv->stats.timeouts++;
        LOG_DEBUG("httpd: %s timeout, closing",
                  c->state == C_HEAD ? "header" : "body");
        c->timed_out = 1;
        cairn__httpd_conn_close(c);
        return;
    case C_PARKED:
        cairn__httpd_park_event(c, srv->stopping ? CAIRN_HTTPD_PARK_STOPPING
                                                 : CAIRN_HTTPD_PARK_TIMEOUT);
        return;
    case C_LINGER:
        cairn__httpd_conn_close(c);
        return;
    default:
        c->deadline = 0;
        return;
    }
}

/* One timer for every connection: deadlines are plain fields set with a
 * store, checked here a few times per shortest timeout. Parked requests
 * thus cost no timer handle and no heap operation each. */
static void on_sweep(uv_timer_t *t)
{
    struct cairn_httpd *srv = cairn_container_of(t, struct cairn_httpd, sweep);
    uint64_t now = now_ms(srv);
    struct httpd_conn *c, *next;
    int force = srv->stopping && now >= srv->stop_deadline;

    for (c = srv->conns; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (force) {
            cairn__httpd_conn_close(c);
        } else if ((c->writes || c->sf) && c->wdeadline &&
                   now >= c->wdeadline) {
            srv->stats.timeouts++;
            LOG_DEBUG("httpd: write timeout, closing");
            cairn__httpd_conn_close(c);
        } else if (c->deadline && now >= c->deadline) {
            on_deadline(c);
        }
    }
}

static uint64_t sweep_interval(const struct cairn_httpd_config *cfg)
{
    uint32_t m = cfg->header_timeout_ms;

    if (cfg->idle_timeout_ms < m)
        m = cfg->idle_timeout_ms;
    if (cfg->body_timeout_ms < m)
        m = cfg->body_timeout_ms;
    if (cfg->write_timeout_ms < m)
        m = cfg->write_timeout_ms;
    if (cfg->linger_ms < m)
        m = cfg->linger_ms;
    m /= 4;
    return m < 10 ? 10 : m > 1000 ? 1000 : m;
}

/* --- closing -------------------------------------------------------- */

static void unqueue_resume(struct httpd_conn *c)
{
    struct httpd_conn **pp;

    for (pp = &c->srv->resume; *pp; pp = &(*pp)->resume_next) {
        if (*pp == c) {
            *pp = c->resume_next;
            break;
        }
    }
    c->resume_queued = 0;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct httpd_conn *c = cairn_container_of(h, struct httpd_conn, tcp);
    struct cairn_httpd *srv = c->srv;

    if (c->resume_queued)
        unqueue_resume(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats.connections--;
    srv->live--;
    free(c);
    maybe_finish(srv);
}

static void stash_free(struct httpd_conn *c)
{
    c->srv->stats.stashed -= c->stash_len;
    free(c->stash);
    c->stash = NULL;
    c->stash_len = c->stash_cap = 0;
}

void cairn__httpd_conn_close(struct httpd_conn *c)
{
    struct cairn_httpd_req *req = c->req;

    if (c->closing)
        return;
    c->closing = 1;
    c->req = NULL;
    if (req && req->state == R_PARKED) {
        c->srv->stats.parked--;
        req->state = R_DEAD;
        req->conn = NULL;
        req->park_fn(req, CAIRN_HTTPD_PARK_ABORTED, req->park_arg);
    } else if (req) {
        cairn__httpd_req_abort(req, c->timed_out ? CAIRN_HTTPD_ABORT_TIMEOUT
                                                 : CAIRN_HTTPD_ABORT_CLOSED);
    }
    if (req)
        cairn__httpd_req_put(c->srv, req);
    if (c->sf)
        cairn__httpd_sendfile_abort(c);
    stash_free(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void start_reading(struct httpd_conn *c);

/* After a closing response: send FIN, then read and discard what the
 * client still sends for a while. Closing with unread input would make
 * the kernel send RST, which can destroy the response before the client
 * read it. */
static void start_linger(struct httpd_conn *c)
{
    int fd = cairn__httpd_stream_fd(c);

    if (c->eof || fd < 0) {
        cairn__httpd_conn_close(c);
        return;
    }
    shutdown(fd, SHUT_WR);
    c->state = C_LINGER;
    c->deadline = now_ms(c->srv) + c->srv->cfg.linger_ms;
    stash_free(c);
    start_reading(c);
}

/* Close once every queued byte is written. */
static void conn_end(struct httpd_conn *c)
{
    c->close_after = 1;
    if (!c->writes && !c->sf && c->state != C_LINGER)
        start_linger(c);
}

/* --- the write path -------------------------------------------------- */

static void on_write(uv_write_t *wr, int status)
{
    struct httpd_write *w = cairn_container_of(wr, struct httpd_write, req);
    struct httpd_conn *c = w->conn;

    if (w->release)
        w->release(w->arg);
    free(w);
    c->writes--;
    if (c->closing)
        return;
    if (status < 0) {
        LOG_DEBUG("httpd: write: %s", uv_strerror(status));
        cairn__httpd_conn_close(c);
        return;
    }
    cairn__httpd_touch_write(c);
    if (c->writes)
        return;
    if (c->sf)
        cairn__httpd_sendfile_pump(c);
    else if (c->close_after)
        start_linger(c);
    else if (c->state == C_DRAIN && c->srv->stopping)
        conn_end(c);
    else if (c->state == C_DRAIN) {
        conn_idle(c);
        conn_resume(c);
    }
}

/* Queue what uv_try_write could not send: the head's rest is always
 * copied (it lives in the server's scratch buffer); the body's rest is
 * copied or, when borrowed, referenced until written. */
static void queue_rest(struct httpd_conn *c, const char *head, size_t hlen,
                       const char *body, size_t blen, size_t done,
                       cairn_httpd_release_fn release, void *arg, int copy)
{
    size_t hrest = done < hlen ? hlen - done : 0;
    size_t boff = done > hlen ? done - hlen : 0;
    size_t brest = blen - boff;
    struct httpd_write *w =
        cairn_xmalloc(sizeof(*w) + hrest + (copy ? brest : 0));
    uv_buf_t b[2];
    unsigned nb = 0;
    int rc;

    w->conn = c;
    memcpy(w->data, head + hlen - hrest, hrest);
    if (hrest)
        b[nb++] = uv_buf_init(w->data, (unsigned)hrest);
    if (copy && brest)
        memcpy(w->data + hrest, body + boff, brest);
    if (brest)
        b[nb++] = uv_buf_init(copy ? w->data + hrest : (char *)body + boff,
                              (unsigned)brest);
    w->release = release;
    w->arg = arg;
    if (copy && release) {
        release(arg);
        w->release = NULL;
    }
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, b, nb, on_write);
    if (rc) {
        if (w->release)
            w->release(w->arg);
        free(w);
        cairn__httpd_conn_close(c);
        return;
    }
    c->writes++;
    cairn__httpd_touch_write(c);
}

void cairn__httpd_conn_write(struct httpd_conn *c, const char *head,
                             size_t hlen, const char *body, size_t blen,
                             cairn_httpd_release_fn release, void *arg,
                             int copy)
{
    uv_buf_t b[2];
    unsigned nb = 0;
    int r;

    if (c->closing || hlen + blen == 0) {
        if (release)
            release(arg);
        return;
    }
    if (hlen)
        b[nb++] = uv_buf_init((char *)head, (unsigned)hlen);
    if (blen)
        b[nb++] = uv_buf_init((char *)body, (unsigned)blen);
    /* Fast path: straight into the socket, no allocation. libuv refuses it
     * (EAGAIN) while earlier writes are queued, which keeps responses in
     * order. */
    r = uv_try_write((uv_stream_t *)&c->tcp, b, nb);
    if (r < 0 && r != UV_EAGAIN) {
        if (release)
            release(arg);
        cairn__httpd_conn_close(c);
        return;
    }
    if (r >= 0 && (size_t)r == hlen + blen) {
        if (release)
            release(arg);
        return;
    }
    queue_rest(c, head, hlen, body, blen, r > 0 ? (size_t)r : 0, release, arg,
               copy);
}

/* --- the read path --------------------------------------------------- */

static int conn_busy(const struct httpd_conn *c)
{
    return c->closing || c->close_after || c->state > C_BODY;
}

/* How much one read may take. Input that cannot be parsed yet (it
 * follows a request that is being answered) goes to the connection's
 * stash, so reads are sized to keep the stash within HTTPD_STASH_CAP:
 * while busy, only the stash's free room; between requests and in a
 * chunked body, HTTPD_STASH_CAP (a request that completes inside the
 * read leaves at most that much behind it); in a body of known length,
 * the rest of the body plus HTTPD_STASH_CAP, at most the whole buffer,
 * so that uploads still move in 64 KiB reads. (A streamed body paused
 * mid-read stashes that read's rest, < 64 KiB: its owner chose it.) */
static size_t read_size(const struct httpd_conn *c)
{
    uint64_t n;

    if (c->state == C_LINGER)
        return HTTPD_READ_BUF; /* discarded */
    if (conn_busy(c))
        return c->stash_len < HTTPD_STASH_CAP ? HTTPD_STASH_CAP - c->stash_len
                                              : 0;
    if (c->state != C_BODY || (c->parser.flags & F_CHUNKED))
        return HTTPD_STASH_CAP;
    n = c->parser.content_length + HTTPD_STASH_CAP;
    return n < HTTPD_READ_BUF ? (size_t)n : HTTPD_READ_BUF;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct httpd_conn *c = cairn_container_of(h, struct httpd_conn, tcp);

    (void)hint;
    /* One buffer per server: libuv calls read_cb right after each read,
     * and every byte is parsed (or stashed) before returning. A zero
     * length makes libuv report UV_ENOBUFS (on_read stops reading). */
    *buf = uv_buf_init(c->srv->rbuf, (unsigned)read_size(c));
}

static void parse_error(struct httpd_conn *c, enum http_errno e)
{
    struct cairn_httpd_req *req = c->req;
    const char *msg = http_errno_description(e);
    int status = 400;

    if (req && req->fail_status) {
        status = req->fail_status;
        msg = req->fail_msg;
    } else if (e == HPE_HEADER_OVERFLOW) {
        status = 431;
        msg = "request header section too large";
    }
    cairn__httpd_fail(c, status, msg);
}

/* Parse data until it is used up or the connection becomes busy (a
 * request is being handled, parked, streamed, or the connection ends).
 * Returns the bytes consumed. */
static size_t conn_feed(struct httpd_conn *c, const char *data, size_t len)
{
    size_t off = 0;

    c->in_feed = 1;
    while (off < len && !conn_busy(c)) {
        size_t n = http_parser_execute(
            &c->parser, &cairn__httpd_parser_settings, data + off, len - off);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

        off += n;
        if (e == HPE_PAUSED) { /* a request is complete, or its body paused */
            http_parser_pause(&c->parser, 0);
            if (c->complete) {
                c->complete = 0;
                cairn__httpd_dispatch(c);
            }
        } else if (e != HPE_OK) {
            if (!c->early) /* else a callback answered and stopped it */
                parse_error(c, e);
            c->early = 0;
            break;
        } else if (n == 0) {
            break;
        }
    }
    c->in_feed = 0;
    return off;
}

static void start_reading(struct httpd_conn *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void stop_reading(struct httpd_conn *c)
{
    if (c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

static void start_reading(struct httpd_conn *c)
{
    if (c->reading || c->eof || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        cairn__httpd_conn_close(c);
        return;
    }
    c->reading = 1;
}

/* Keep input that arrives while a request is busy; once the stash is
 * full stop reading (TCP pushes back on the client). */
static void stash_append(struct httpd_conn *c, const char *data, size_t n)
{
    if (c->stash_len + n > c->stash_cap) {
        c->stash_cap = (uint32_t)(c->stash_len + n);
        c->stash = cairn_xrealloc(c->stash, c->stash_cap);
    }
    memcpy(c->stash + c->stash_len, data, n);
    c->stash_len += (uint32_t)n;
    c->srv->stats.stashed += n;
    if (c->stash_len >= HTTPD_STASH_CAP)
        stop_reading(c);
}

static void drain_stash(struct httpd_conn *c)
{
    while (c->stash_len && !conn_busy(c)) {
        char *buf = c->stash;
        size_t len = c->stash_len, used;
        uint32_t cap = c->stash_cap;

        c->stash = NULL;
        c->stash_len = c->stash_cap = 0;
        c->srv->stats.stashed -= len;
        used = conn_feed(c, buf, len);
        if (used < len && !c->closing && !c->close_after) {
            memmove(buf, buf + used, len - used);
            c->stash = buf;
            c->stash_len = (uint32_t)(len - used);
            c->stash_cap = cap;
            c->srv->stats.stashed += c->stash_len;
        } else {
            free(buf);
        }
    }
}

/* Parse what was stashed, then read again, unless a streamed body is
 * paused: its owner holds the connection still. (Parked requests keep
 * reading, so that a client that leaves is noticed at once.) */
static void conn_resume(struct httpd_conn *c)
{
    drain_stash(c);
    if (!c->closing && c->state != C_PAUSED && c->stash_len < HTTPD_STASH_CAP)
        start_reading(c);
}

static void on_eof(struct httpd_conn *c, ssize_t nread)
{
    if (nread != UV_EOF) {
        LOG_DEBUG("httpd: read: %s", uv_strerror((int)nread));
        cairn__httpd_conn_close(c);
        return;
    }
    c->eof = 1;
    stop_reading(c);
    /* A half-closed client may still read: finish what is being written,
     * then close. A parked or half-received request is abandoned
     * (docs/internals/httpd.md). */
    if (c->state == C_PARKED || c->state == C_HEAD || c->state == C_BODY ||
        c->state == C_PAUSED || c->state == C_LINGER || (!c->writes && !c->sf))
        cairn__httpd_conn_close(c);
    else
        c->close_after = 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct httpd_conn *c = cairn_container_of(s, struct httpd_conn, tcp);
    size_t n, used;

    if (nread == 0 || c->closing)
        return;
    if (nread == UV_ENOBUFS) { /* the stash is full: read_size said 0 */
        stop_reading(c);
        return;
    }
    if (nread < 0) {
        on_eof(c, nread);
        return;
    }
    if (c->state == C_LINGER)
        return; /* discarded */
    n = (size_t)nread;
    if (conn_busy(c)) {
        if (!c->close_after)
            stash_append(c, buf->base, n);
        return;
    }
    used = conn_feed(c, buf->base, n);
    if (used < n && !c->closing && !c->close_after)
        stash_append(c, buf->base + used, n - used);
}

/* --- after a response ----------------------------------------------- */

static void on_resume_idle(uv_idle_t *h)
{
    struct cairn_httpd *srv =
        cairn_container_of(h, struct cairn_httpd, resume_idle);
    struct httpd_conn *list = srv->resume, *c;

    srv->resume = NULL;
    uv_idle_stop(h);
    while ((c = list) != NULL) {
        list = c->resume_next;
        c->resume_queued = 0;
        if (!c->closing)
            conn_resume(c);
    }
}

/* Resume on the next loop turn, not inside whatever callback answered a
 * parked request: that caller may be walking its own waiter list, and the
 * next pipelined request could park and join that list under it. */
static void queue_resume(struct httpd_conn *c)
{
    struct cairn_httpd *srv = c->srv;

    if (c->resume_queued)
        return;
    c->resume_queued = 1;
    c->resume_next = srv->resume;
    srv->resume = c;
    uv_idle_start(&srv->resume_idle, on_resume_idle);
}

/* --- streamed bodies: pause and resume ------------------------------- */

/* While paused, the body's clock stops: a busy consumer is not a slow
 * client. body_start holds the time already used until the resume. */
void cairn__httpd_pause_apply(struct httpd_conn *c)
{
    stop_reading(c);
    c->state = C_PAUSED;
    c->deadline = 0;
    if (c->req)
        c->req->body_start = now_ms(c->srv) - c->req->body_start;
}

void cairn__httpd_body_deadline(struct httpd_conn *c, uint64_t bytes)
{
    struct cairn_httpd_req *req = c->req;
    uint64_t rate = c->srv->cfg.body_min_rate, ms;

    /* bytes * 1000 / rate without overflow; past ~35 years, clamp. */
    ms = bytes / rate > UINT64_C(1) << 40
             ? UINT64_C(1) << 50
             : bytes / rate * 1000 + bytes % rate * 1000 / rate;
    req->body_allow = c->srv->cfg.body_timeout_ms + ms;
    c->deadline = req->body_start + req->body_allow;
}

/* A streamed request whose head stage or body is in progress. */
static int streaming(const struct cairn_httpd_req *req)
{
    return req && req->stream && req->conn && !req->conn->closing &&
           (req->state == R_HEAD || req->state == R_READING);
}

void cairn_httpd_req_pause(struct cairn_httpd_req *req)
{
    if (!streaming(req)) {
        LOG_WARN("httpd: pause of a request that is not streaming: ignored");
        return;
    }
    if (req->paused)
        return;
    req->paused = 1;
    /* Inside its own head or body callback, the server applies it when the
     * callback returns, at a point where the parser can stop. */
    if (!req->conn->in_feed && req->conn->state == C_BODY)
        cairn__httpd_pause_apply(req->conn);
}

void cairn_httpd_req_resume(struct cairn_httpd_req *req)
{
    struct httpd_conn *c;

    if (!req || !req->paused || !streaming(req))
        return;
    req->paused = 0;
    c = req->conn;
    if (c->state != C_PAUSED)
        return; /* not applied yet: nothing stopped */
    c->state = C_BODY;
    req->body_start = now_ms(c->srv) - req->body_start; /* see pause_apply */
    c->deadline = req->body_start + req->body_allow;
    queue_resume(c);
}

void cairn__httpd_response_done(struct httpd_conn *c, int keep_alive)
{
    if (c->closing)
        return;
    if (!keep_alive || c->srv->stopping || c->eof) {
        conn_end(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >
        HTTPD_WRITE_HIGH) {
        c->state = C_DRAIN;
        c->deadline = 0;
        return;
    }
    conn_idle(c);
    if (!c->in_feed)
        queue_resume(c);
}

/* --- accepting ------------------------------------------------------- */

static void on_reject_closed(uv_handle_t *h)
{
    struct cairn_httpd *srv = h->data;

    free(h);
    srv->live--;
    maybe_finish(srv);
}

/* Over the connection limit: accept, answer 503 best effort, close. Not
 * accepting would leave clients waiting in the backlog with no answer. */
static void reject(struct cairn_httpd *srv, uv_stream_t *ls)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: application/json\r\n"
                              "Retry-After: 1\r\nConnection: close\r\n";
    char head[256];
    uv_tcp_t *t = cairn_xmalloc(sizeof(*t));
    uv_buf_t b[2];
    int n;

    uv_tcp_init(srv->loop, t);
    t->data = srv;
    srv->live++;
    srv->stats.accepted++;
    srv->stats.rejected++;
    if (uv_accept(ls, (uv_stream_t *)t) == 0) {
        n = snprintf(head, sizeof(head), "%sContent-Length: %zu\r\n\r\n", msg,
                     sizeof(REJECT_BODY) - 1);
        b[0] = uv_buf_init(head, (unsigned)n);
        b[1] = uv_buf_init((char *)REJECT_BODY, sizeof(REJECT_BODY) - 1);
        (void)uv_try_write((uv_stream_t *)t, b, 2);
    }
    uv_close((uv_handle_t *)t, on_reject_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct cairn_httpd *srv =
        cairn_container_of(ls, struct cairn_httpd, listener);
    struct httpd_conn *c;

    if (status < 0) {
        LOG_WARN("httpd: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->stopping)
        return;
    if (srv->stats.connections >= srv->cfg.max_connections) {
        reject(srv, ls);
        return;
    }
    c = cairn_xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->live++;
    srv->stats.connections++;
    srv->stats.accepted++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        cairn__httpd_conn_close(c);
        return;
    }
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    /* Responses are whole messages written at once: never wait for Nagle. */
    uv_tcp_nodelay(&c->tcp, 1);
    c->state = C_IDLE;
    c->deadline = now_ms(srv) + srv->cfg.header_timeout_ms;
    start_reading(c);
}

/* The listening socket is made here, not with uv_tcp_bind: a failure then
 * leaves no libuv handle behind, so a server that failed to listen can be
 * freed at once. */
static int open_listener(const char *host, uint16_t port, int *out,
                         struct cairn_diag *d)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0)
        len = sizeof(struct sockaddr_in);
    else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0)
        len = sizeof(struct sockaddr_in6);
    else
        return cairn_diag_set(d, CAIRN_EINVAL, "httpd: %s: not an IP address",
                              host);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cairn_diag_set(d, CAIRN_ENET, "httpd: socket: %s",
                              strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;

        close(fd);
        return cairn_diag_set(d, CAIRN_ENET, "httpd: listen on %s port %u: %s",
                              host, (unsigned)port, strerror(e));
    }
    *out = fd;
    return 0;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int cairn_httpd_listen(struct cairn_httpd *srv, const char *host, uint16_t port,
                       struct cairn_diag *d)
{
    int fd = -1, rc;

    if (!srv || !host)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpd: NULL argument");
    if (srv->listening || srv->stopping)
        return cairn_diag_set(d, CAIRN_ESTATE,
                              "httpd: already listening or stopped");
    rc = open_listener(host, port, &fd, d);
    if (rc)
        return rc;
    srv->port = bound_port(fd);
    /* None of these can fail on a valid, listening socket. */
    if (uv_tcp_init(srv->loop, &srv->listener) ||
        uv_tcp_open(&srv->listener, fd) ||
        uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection) ||
        uv_timer_init(srv->loop, &srv->sweep) ||
        uv_idle_init(srv->loop, &srv->resume_idle)) {
        LOG_ERROR("httpd: libuv refused a listening socket");
        abort();
    }
    srv->live = 1; /* the listener */
    srv->handles_open = 1;
    srv->listening = 1;
    uv_timer_start(&srv->sweep, on_sweep, sweep_interval(&srv->cfg),
                   sweep_interval(&srv->cfg));
    return 0;
}

/* --- stopping -------------------------------------------------------- */

static void on_final_close(uv_handle_t *h)
{
    struct cairn_httpd *srv = h->data;

    if (--srv->handles_open > 0)
        return;
    srv->handles_open = 0;
    if (srv->done)
        srv->done(srv, srv->done_arg);
}

static void maybe_finish(struct cairn_httpd *srv)
{
    if (!srv->stopping || srv->finishing || srv->live)
        return;
    srv->finishing = 1;
    srv->handles_open = 2;
    srv->sweep.data = srv;
    srv->resume_idle.data = srv;
    uv_close((uv_handle_t *)&srv->sweep, on_final_close);
    uv_close((uv_handle_t *)&srv->resume_idle, on_final_close);
}

void cairn__httpd_handle_closed(struct cairn_httpd *srv)
{
    srv->live--;
    maybe_finish(srv);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct cairn_httpd *srv =
        cairn_container_of(h, struct cairn_httpd, listener);

    srv->live--;
    maybe_finish(srv);
}

void cairn_httpd_stop(struct cairn_httpd *srv, cairn_httpd_done_fn done,
                      void *arg)
{
    struct httpd_conn *c, *next;

    if (!srv || srv->stopping)
        return;
    srv->stopping = 1;
    srv->done = done;
    srv->done_arg = arg;
    if (!srv->listening) { /* nothing was ever opened */
        srv->finishing = 1;
        if (done)
            done(srv, arg);
        return;
    }
    srv->stop_deadline = now_ms(srv) + srv->cfg.stop_grace_ms;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    for (c = srv->conns; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->state == C_PARKED)
            cairn__httpd_park_event(c, CAIRN_HTTPD_PARK_STOPPING);
        else if (c->state == C_IDLE && !c->writes)
            cairn__httpd_conn_close(c);
        else if (c->state == C_IDLE || c->state == C_DRAIN)
            conn_end(c); /* a response is still being written */
    }
}

/* --- statistics ------------------------------------------------------ */

void cairn__httpd_count(struct cairn_httpd *srv, struct httpd_route *route,
                        int status)
{
    struct httpd_counts *k = route ? &route->counts : &srv->unmatched;
    size_t i;

    for (i = 0; i < HTTPD_STATUS_SLOTS; i++) {
        if (k->slot[i].status == status || k->slot[i].status == 0) {
            k->slot[i].status = (uint16_t)status;
            k->slot[i].count++;
            return;
        }
    }
    /* More distinct codes than slots: the last slot absorbs the rest. */
    k->slot[HTTPD_STATUS_SLOTS - 1].count++;
}

void cairn_httpd_stats(const struct cairn_httpd *srv,
                       struct cairn_httpd_stats *out)
{
    *out = srv->stats;
}

static void each_count(const struct httpd_counts *k, const char *name,
                       cairn_httpd_metric_fn fn, void *arg)
{
    size_t i;

    for (i = 0; i < HTTPD_STATUS_SLOTS && k->slot[i].status; i++)
        fn(name, k->slot[i].status, k->slot[i].count, arg);
}

void cairn_httpd_metrics_foreach(const struct cairn_httpd *srv,
                                 cairn_httpd_metric_fn fn, void *arg)
{
    size_t i;

    for (i = 0; i < srv->nroutes; i++)
        each_count(&srv->routes[i].counts, srv->routes[i].name, fn, arg);
    each_count(&srv->unmatched, "-", fn, arg);
}

struct prom_ctx {
    struct cairn_buf *out;
    const char *prefix;
    int rc;
};

/* Label values escape backslash, quote and newline. */
static void prom_line(const char *route, int status, uint64_t count, void *arg)
{
    struct prom_ctx *p = arg;
    const char *s;

    if (p->rc)
        return;
    p->rc =
        cairn_buf_appendf(p->out, "%s_http_requests_total{route=\"", p->prefix);
    for (s = route; *s && !p->rc; s++) {
        if (*s == '\\' || *s == '"')
            p->rc = cairn_buf_appendf(p->out, "\\%c", *s);
        else if (*s == '\n')
            p->rc = cairn_buf_append(p->out, "\\n", 2);
        else
            p->rc = cairn_buf_append(p->out, s, 1);
    }
    if (!p->rc)
        p->rc = cairn_buf_appendf(p->out, "\",code=\"%d\"} %llu\n", status,
                                  (unsigned long long)count);
}

int cairn_httpd_metrics_prometheus(const struct cairn_httpd *srv,
                                   const char *prefix, struct cairn_buf *out)
{
    struct prom_ctx p = {out, prefix, 0};
    const struct cairn_httpd_stats *s = &srv->stats;

    p.rc = cairn_buf_appendf(
        out,
        "# HELP %s_http_requests_total HTTP requests by route "
        "and status code.\n"
        "# TYPE %s_http_requests_total counter\n",
        prefix, prefix);
    cairn_httpd_metrics_foreach(srv, prom_line, &p);
    if (p.rc)
        return p.rc;
    return cairn_buf_appendf(
        out,
        "# TYPE %s_http_connections gauge\n%s_http_connections %u\n"
        "# TYPE %s_http_parked_requests gauge\n%s_http_parked_requests %u\n"
        "# TYPE %s_http_connections_accepted_total counter\n"
        "%s_http_connections_accepted_total %llu\n"
        "# TYPE %s_http_connections_rejected_total counter\n"
        "%s_http_connections_rejected_total %llu\n"
        "# TYPE %s_http_parse_errors_total counter\n"
        "%s_http_parse_errors_total %llu\n"
        "# TYPE %s_http_timeouts_total counter\n%s_http_timeouts_total %llu\n",
        prefix, prefix, s->connections, prefix, prefix, s->parked, prefix,
        prefix, (unsigned long long)s->accepted, prefix, prefix,
        (unsigned long long)s->rejected, prefix, prefix,
        (unsigned long long)s->parse_errors, prefix, prefix,
        (unsigned long long)s->timeouts);
}
