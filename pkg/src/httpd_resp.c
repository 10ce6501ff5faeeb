/*
 * Response side of the HTTP server: dispatch to handlers, parking,
 * response heads, memory bodies, JSON errors, ETag and Range handling, and
 * files streamed with sendfile(2). See docs/internals/httpd.md.
 */
#include "httpd_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn/log.h"

#define ETAG_MAX 128
#define SF_CHUNK (256u * 1024) /* bytes per sendfile call */
#define SF_BUDGET                                                              \
    (1024u * 1024) /* per loop turn, so one download cannot                    \
                      starve the other connections */

struct httpd_sendfile {
    uv_poll_t poll; /* on dup_fd: writability, only once needed */
    struct httpd_conn *conn;
    struct cairn_httpd *srv;
    int file_fd, dup_fd;
    int keep_alive;
    off_t off;
    uint64_t left;
};

struct resp_head {
    int status;
    const char *ctype;
    const char *extra; /* complete header lines */
    size_t elen;
    uint64_t clen;
    int no_clen;
    int keep_alive;
    int http10;
};

/* --- building a head --------------------------------------------------- */

struct out {
    char *p, *end;
};

static void put(struct out *o, const char *s, size_t n)
{
    if ((size_t)(o->end - o->p) < n)
        n = (size_t)(o->end - o->p);
    memcpy(o->p, s, n);
    o->p += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + i, sizeof(tmp) - i);
}

/* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", formatted once a second and
 * without strftime, whose names follow the locale. */
static const char *date_line(struct cairn_httpd *srv)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t t = time(NULL);
    struct tm tm;

    if (t != srv->date_sec && gmtime_r(&t, &tm)) {
        srv->date_sec = t;
        snprintf(srv->date, sizeof(srv->date),
                 "Date: %.3s, %02d %.3s %04d %02d:%02d:%02d GMT\r\n",
                 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    return srv->date;
}

static int header_value_ok(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 0;
    return 1;
}

static size_t build_head(struct cairn_httpd *srv, const struct cairn_buf *rhead,
                         const struct resp_head *h)
{
    struct out o = {srv->hbuf, srv->hbuf + sizeof(srv->hbuf) - 2};

    put(&o, "HTTP/1.1 ", 9);
    put_u64(&o, (uint64_t)h->status);
    put(&o, " ", 1);
    put_str(&o, http_status_str((enum http_status)h->status));
    put(&o, "\r\n", 2);
    put_str(&o, date_line(srv));
    if (h->ctype && strlen(h->ctype) < 256 && header_value_ok(h->ctype)) {
        put(&o, "Content-Type: ", 14);
        put_str(&o, h->ctype);
        put(&o, "\r\n", 2);
    }
    if (!h->no_clen) {
        put(&o, "Content-Length: ", 16);
        put_u64(&o, h->clen);
        put(&o, "\r\n", 2);
    }
    if (!h->keep_alive)
        put(&o, "Connection: close\r\n", 19);
    else if (h->http10)
        put(&o, "Connection: keep-alive\r\n", 24);
    put(&o, h->extra ? h->extra : "", h->elen);
    if (rhead && rhead->len)
        put(&o, rhead->data, rhead->len);
    o.end += 2; /* room kept for the final CRLF */
    put(&o, "\r\n", 2);
    return (size_t)(o.p - srv->hbuf);
}

/* --- finishing a request ---------------------------------------------- */

/* Handlers and parked requests may be answered; so may a request in its
 * head hook, and a streamed one while its body arrives. */
static int can_respond(const struct cairn_httpd_req *req)
{
    if (req && req->conn && !req->conn->closing &&
        (req->state == R_HANDLING || req->state == R_PARKED ||
         req->state == R_HEAD || (req->state == R_READING && req->stream)))
        return 1;
    LOG_WARN("httpd: response to a request that is finished or gone: ignored");
    return 0;
}

/* Format the head into the server's scratch buffer, count the response,
 * and give req back to the pool. Returns its connection. */
static struct httpd_conn *finish_req(struct cairn_httpd_req *req,
                                     struct resp_head *h, size_t *hlen)
{
    struct httpd_conn *c = req->conn;
    struct cairn_httpd *srv = req->srv;

    /* Answered before its body was read whole: the connection cannot be
     * reused (the rest of the body would parse as a request). */
    h->keep_alive =
        req->keep_alive && !srv->stopping && !c->eof && req->state != R_READING;
    h->http10 = req->http10;
    req->abort_pending = 0; /* the owner answered: it knows */
    *hlen = build_head(srv, &req->rhead, h);
    if (req->state == R_PARKED)
        srv->stats.parked--;
    cairn__httpd_count(srv, req->route, h->status);
    c->req = NULL;
    cairn__httpd_req_put(srv, req);
    return c;
}

static void respond_mem(struct cairn_httpd_req *req, int status,
                        const char *ctype, const char *extra, size_t elen,
                        const void *body, size_t len,
                        cairn_httpd_release_fn release, void *arg, int copy)
{
    struct resp_head h = {0};
    struct httpd_conn *c;
    size_t hlen;
    int no_body;

    if (!can_respond(req)) {
        if (release)
            release(arg);
        return;
    }
    if (status < 100 || status > 599 || len > UINT32_MAX) {
        LOG_ERROR("httpd: bad response (status %d, %zu bytes): sending 500",
                  status, len);
        status = 500;
        len = 0;
    }
    no_body = status < 200 || status == 204 || status == 304;
    h.status = status;
    h.ctype = no_body ? NULL : ctype;
    h.extra = extra;
    h.elen = elen;
    h.clen = len;
    h.no_clen = no_body;
    if (no_body || req->head_only)
        len = 0;
    c = finish_req(req, &h, &hlen);
    cairn__httpd_conn_write(c, c->srv->hbuf, hlen, body, len, release, arg,
                            copy);
    cairn__httpd_response_done(c, h.keep_alive);
}

void cairn_httpd_respond(struct cairn_httpd_req *req, int status,
                         const char *content_type, const void *body, size_t len)
{
    respond_mem(req, status, content_type, NULL, 0, body, len, NULL, NULL, 1);
}

void cairn_httpd_respond_borrowed(struct cairn_httpd_req *req, int status,
                                  const char *content_type, const void *body,
                                  size_t len, cairn_httpd_release_fn release,
                                  void *arg)
{
    respond_mem(req, status, content_type, NULL, 0, body, len, release, arg, 0);
}

void cairn_httpd_respond_json(struct cairn_httpd_req *req, int status,
                              const char *json, size_t len)
{
    respond_mem(req, status, "application/json", NULL, 0, json, len, NULL, NULL,
                1);
}

/* --- errors ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s, 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1fu;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0fu;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
        (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* {"error":"<msg>","status":N} into out (4096 bytes: 512 input bytes
 * escape to at most 3072). */
static size_t json_error(char *out, const char *msg, int status)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(msg ? msg : "");
    size_t o = 0, in = 0;

    memcpy(out, "{\"error\":\"", 10);
    o = 10;
    while (s[in] && in < 512) {
        size_t n = utf8_len(s + in);

        if (n == 0) {
            out[o++] = '?';
            in++;
        } else if (s[in] == '"' || s[in] == '\\') {
            out[o++] = '\\';
            out[o++] = (char)s[in++];
        } else if (s[in] < 0x20 || s[in] == 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[s[in] >> 4];
            out[o + 5] = hex[s[in] & 15];
            o += 6;
            in++;
        } else {
            memcpy(out + o, s + in, n);
            o += n;
            in += n;
        }
    }
    o += (size_t)snprintf(out + o, 32, "\",\"status\":%d}", status);
    return o;
}

static void error_with(struct cairn_httpd_req *req, int status, const char *msg,
                       const char *extra, size_t elen)
{
    char body[4096];
    size_t n = json_error(body, msg, status);

    respond_mem(req, status, "application/json", extra, elen, body, n, NULL,
                NULL, 1);
}

void cairn_httpd_respond_error(struct cairn_httpd_req *req, int status,
                               const char *msg)
{
    error_with(req, status, msg, NULL, 0);
}

void cairn_httpd_bad_request(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 400, msg ? msg : "bad request", NULL, 0);
}

void cairn_httpd_unauthorized(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 401, msg ? msg : "unauthorized", NULL, 0);
}

void cairn_httpd_forbidden(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 403, msg ? msg : "forbidden", NULL, 0);
}

void cairn_httpd_not_found(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 404, msg ? msg : "no such resource", NULL, 0);
}

void cairn_httpd_method_not_allowed(struct cairn_httpd_req *req,
                                    const char *allow)
{
    char extra[256];
    int n = 0;

    if (allow && strlen(allow) < 200 && header_value_ok(allow))
        n = snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
    error_with(req, 405, "method not allowed", extra, (size_t)n);
}

void cairn_httpd_conflict(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 409, msg ? msg : "conflict", NULL, 0);
}

void cairn_httpd_too_large(struct cairn_httpd_req *req, const char *msg)
{
    error_with(req, 413, msg ? msg : "request body too large", NULL, 0);
}

static void retry_error(struct cairn_httpd_req *req, int status, unsigned secs,
                        const char *msg)
{
    char extra[64];
    int n = 0;

    if (secs)
        n = snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", secs);
    error_with(req, status, msg, extra, (size_t)n);
}

void cairn_httpd_too_many(struct cairn_httpd_req *req, unsigned retry_after_s,
                          const char *msg)
{
    retry_error(req, 429, retry_after_s, msg ? msg : "too many requests");
}

void cairn_httpd_unavailable(struct cairn_httpd_req *req,
                             unsigned retry_after_s, const char *msg)
{
    retry_error(req, 503, retry_after_s, msg ? msg : "service unavailable");
}

/* A fatal request error found while parsing (no handler ran): answer and
 * close, since the rest of the input cannot be trusted to frame. */
void cairn__httpd_fail(struct httpd_conn *c, int status, const char *msg)
{
    struct cairn_httpd *srv = c->srv;
    struct cairn_httpd_req *req = c->req;
    struct resp_head h = {0};
    char body[4096], allow[160];
    size_t n, hlen;

    if (status != 404 && status != 405)
        srv->stats.parse_errors++;
    if (req)
        cairn__httpd_req_abort(req, CAIRN_HTTPD_ABORT_REFUSED);
    if (status == 503) {
        h.extra = "Retry-After: 1\r\n";
        h.elen = strlen(h.extra);
    }
    if (req && status == 405) {
        memcpy(allow, "Allow: ", 7);
        h.elen = 7 + cairn__httpd_allow_str(req->allow, allow + 7,
                                            sizeof(allow) - 9);
        memcpy(allow + h.elen, "\r\n", 2);
        h.elen += 2;
        h.extra = allow;
    }
    cairn__httpd_count(srv, req ? req->route : NULL, status);
    n = json_error(body, msg, status);
    h.status = status;
    h.ctype = "application/json";
    h.clen = n;
    hlen = build_head(srv, NULL, &h);
    c->req = NULL;
    if (req)
        cairn__httpd_req_put(srv, req);
    if (c->closing)
        return;
    cairn__httpd_conn_write(c, srv->hbuf, hlen, body, n, NULL, NULL, 1);
    cairn__httpd_response_done(c, 0);
}

/* --- handlers and parking ---------------------------------------------- */

void cairn__httpd_dispatch(struct httpd_conn *c)
{
    struct cairn_httpd_req *req = c->req;
    char allow[128];

    if (!req)
        return;
    req->state = R_HANDLING;
    c->state = C_HANDLING;
    c->deadline = 0;
    c->srv->stats.requests++;
    if (req->fail_status) /* (failures past the head stage are fatal) */
        cairn__httpd_req_abort(req, CAIRN_HTTPD_ABORT_REFUSED);
    req->abort_pending = 0;
    if (req->fail_status == 405) {
        cairn__httpd_allow_str(req->allow, allow, sizeof(allow));
        cairn_httpd_method_not_allowed(req, allow);
        return;
    }
    if (req->fail_status) {
        error_with(req, req->fail_status, req->fail_msg, NULL, 0);
        return;
    }
    req->route->fn(req, req->route->arg);
    if (c->req == req && req->state == R_HANDLING) {
        LOG_ERROR("httpd: handler for %s %s neither responded nor parked",
                  cairn_httpd_req_method(req), cairn_httpd_req_path(req));
        cairn_httpd_respond_error(req, 500, "internal error");
    }
}

void cairn_httpd_park(struct cairn_httpd_req *req, uint32_t timeout_ms,
                      cairn_httpd_park_fn fn, void *arg)
{
    struct httpd_conn *c;

    if (!req || req->state != R_HANDLING || !req->conn || req->conn->closing ||
        !fn) {
        LOG_WARN("httpd: park of a request that is not being handled: ignored");
        return;
    }
    c = req->conn;
    req->state = R_PARKED;
    req->park_fn = fn;
    req->park_arg = arg;
    c->state = C_PARKED;
    c->deadline = timeout_ms ? uv_now(c->srv->loop) + timeout_ms : 0;
    if (c->srv->stopping)
        c->deadline = 1; /* due at once: the sweep reports STOPPING */
    c->srv->stats.parked++;
}

void cairn__httpd_park_event(struct httpd_conn *c,
                             enum cairn_httpd_park_event ev)
{
    struct cairn_httpd_req *req = c->req;

    if (!req || req->state != R_PARKED)
        return;
    c->srv->stats.parked--;
    req->state = R_HANDLING;
    c->state = C_HANDLING;
    c->deadline = 0;
    req->park_fn(req, ev, req->park_arg);
    if (c->req == req && req->state == R_HANDLING)
        cairn_httpd_unavailable(req, 1,
                                ev == CAIRN_HTTPD_PARK_STOPPING
                                    ? "server stopping"
                                    : "timed out waiting");
}

/* --- response headers -------------------------------------------------- */

static int token_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

int cairn_httpd_resp_header(struct cairn_httpd_req *req, const char *name,
                            const char *value)
{
    static const char *const reserved[] = {"Content-Length", "Content-Type",
                                           "Connection", "Transfer-Encoding",
                                           "Date"};
    size_t i, nl, vl;

    if (!req || req->state == R_DEAD ||
        (req->state == R_READING && !req->stream))
        return CAIRN_ESTATE;
    if (!name || !value || !token_ok(name) || !header_value_ok(value))
        return CAIRN_EINVAL;
    /* The server frames the message: a second Content-Length or
     * Transfer-Encoding from a handler would desynchronize the client. */
    for (i = 0; i < CAIRN_ARRAY_LEN(reserved); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return CAIRN_EINVAL;
    nl = strlen(name);
    vl = strlen(value);
    if (req->rhead.len + nl + vl + 4 > req->rhead.cap)
        return CAIRN_ETOOBIG;
    if (cairn_buf_append(&req->rhead, name, nl) ||
        cairn_buf_append(&req->rhead, ": ", 2) ||
        cairn_buf_append(&req->rhead, value, vl) ||
        cairn_buf_append(&req->rhead, "\r\n", 2))
        return CAIRN_ETOOBIG;
    return 0;
}

/* --- ETags ----------------------------------------------------------- */

/* A complete entity-tag: W/"..." or "...", etagc characters inside. */
static int etag_valid(const char *t)
{
    size_t i, n = strlen(t);

    if (n > ETAG_MAX)
        return 0;
    if (t[0] == 'W' && t[1] == '/')
        t += 2, n -= 2;
    if (n < 2 || t[0] != '"' || t[n - 1] != '"')
        return 0;
    for (i = 1; i < n - 1; i++)
        if ((unsigned char)t[i] <= 0x20 || t[i] == '"' || t[i] == 0x7f)
            return 0;
    return 1;
}

static const char *opaque(const char *t)
{
    return (t[0] == 'W' && t[1] == '/') ? t + 2 : t;
}

int cairn_httpd_etag_match(const char *inm, const char *etag)
{
    const char *want, *p;
    size_t wn;

    if (!inm || !etag)
        return 0;
    want = opaque(etag);
    wn = strlen(want);
    p = inm + strspn(inm, " \t");
    if (*p == '*')
        return p[1 + strspn(p + 1, " \t")] == '\0';
    while (*p) {
        const char *q, *end;

        p += strspn(p, " \t,");
        if (!*p)
            break;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"' || !(end = strchr(p + 1, '"')))
            return 0; /* malformed list: no match */
        q = end + 1;
        if ((size_t)(q - p) == wn && memcmp(p, want, wn) == 0)
            return 1;
        p = q;
    }
    return 0;
}

int cairn_httpd_req_not_modified(const struct cairn_httpd_req *req,
                                 const char *etag)
{
    return cairn_httpd_etag_match(cairn_httpd_req_header(req, "If-None-Match"),
                                  etag);
}

void cairn_httpd_respond_not_modified(struct cairn_httpd_req *req,
                                      const char *etag)
{
    char extra[ETAG_MAX + 16];
    int n = 0;

    if (etag && etag_valid(etag))
        n = snprintf(extra, sizeof(extra), "ETag: %s\r\n", etag);
    respond_mem(req, 304, NULL, extra, (size_t)n, NULL, 0, NULL, NULL, 1);
}

/* --- ranges ------------------------------------------------------------ */

static const char *digits(const char *p, uint64_t *v, int *ok)
{
    uint64_t x = 0;
    int n = 0;

    while (*p >= '0' && *p <= '9') {
        if (++n > 18) { /* past 10^18: not a file size we serve */
            *ok = 0;
            return p;
        }
        x = x * 10 + (uint64_t)(*p++ - '0');
    }
    *ok = n > 0;
    *v = x;
    return p;
}

/* One "bytes=" range against size. 1: [*start, *start + *len) is to be
 * sent (206); 0: ignore the header and send everything (several ranges,
 * other units, bad syntax: RFC 9110 14.2); -1: unsatisfiable (416). */
static int parse_range(const char *h, uint64_t size, uint64_t *start,
                       uint64_t *len)
{
    uint64_t a = 0, b = 0;
    int has_a, has_b;
    const char *p = h + strspn(h, " \t");

    if (strncasecmp(p, "bytes=", 6) != 0 || strchr(p, ','))
        return 0;
    p += 6;
    p += strspn(p, " \t");
    p = digits(p, &a, &has_a);
    if (*p++ != '-')
        return 0;
    p = digits(p, &b, &has_b);
    if (p[strspn(p, " \t")] != '\0' || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *start = b < size ? size - b : 0;
        *len = size - *start;
        return 1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    if (!has_b || b >= size)
        b = size - 1;
    *start = a;
    *len = b - a + 1;
    return 1;
}

/* --- files ------------------------------------------------------------- */

static void sf_closed(uv_handle_t *h)
{
    struct httpd_sendfile *sf = h->data;
    struct cairn_httpd *srv = sf->srv;

    close(sf->dup_fd);
    free(sf);
    cairn__httpd_handle_closed(srv);
}

static void sf_release(struct httpd_sendfile *sf)
{
    close(sf->file_fd);
    sf->conn = NULL;
    if (sf->dup_fd < 0) {
        free(sf);
        return;
    }
    uv_close((uv_handle_t *)&sf->poll, sf_closed);
}

void cairn__httpd_sendfile_abort(struct httpd_conn *c)
{
    struct httpd_sendfile *sf = c->sf;

    c->sf = NULL;
    if (sf)
        sf_release(sf);
}

static void sf_writable(uv_poll_t *h, int status, int events)
{
    struct httpd_sendfile *sf = h->data;

    (void)events;
    if (!sf->conn)
        return;
    if (status < 0) {
        cairn__httpd_conn_close(sf->conn);
        return;
    }
    cairn__httpd_sendfile_pump(sf->conn);
}

/* Wait until the socket takes more. The connection's fd already belongs to
 * its uv_tcp_t, and libuv allows one watcher per fd, so the poll watches a
 * dup of it: the same socket under a second descriptor. Made only for
 * responses that do not fit the socket buffer at once. */
static int sf_wait(struct httpd_conn *c, struct httpd_sendfile *sf)
{
    if (sf->dup_fd < 0) {
        int fd = fcntl(cairn__httpd_stream_fd(c), F_DUPFD_CLOEXEC, 0);

        if (fd < 0)
            return -1;
        if (uv_poll_init(c->srv->loop, &sf->poll, fd) != 0) {
            close(fd);
            return -1;
        }
        sf->dup_fd = fd;
        sf->poll.data = sf;
        c->srv->live++;
    }
    return uv_poll_start(&sf->poll, UV_WRITABLE, sf_writable) == 0 ? 0 : -1;
}

static void sf_done(struct httpd_conn *c)
{
    struct httpd_sendfile *sf = c->sf;
    int keep = sf->keep_alive;

    c->sf = NULL;
    sf_release(sf);
    cairn__httpd_response_done(c, keep);
}

void cairn__httpd_sendfile_pump(struct httpd_conn *c)
{
    struct httpd_sendfile *sf = c->sf;
    int sock = cairn__httpd_stream_fd(c);
    size_t budget = SF_BUDGET;

    if (!sf || c->closing)
        return;
    while (sf->left > 0) {
        size_t chunk = sf->left < SF_CHUNK ? (size_t)sf->left : SF_CHUNK;
        ssize_t n = sendfile(sock, sf->file_fd, &sf->off, chunk);

        if (n > 0) {
            sf->left -= (uint64_t)n;
            cairn__httpd_touch_write(c);
            if ((size_t)n >= budget && sf->left > 0) {
                if (sf_wait(c, sf))
                    cairn__httpd_conn_close(c);
                return;
            }
            budget -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (sf_wait(c, sf))
                cairn__httpd_conn_close(c);
            return;
        }
        /* 0: the file shrank under us; the promised length cannot be kept,
         * so the connection must end. */
        LOG_WARN("httpd: sendfile: %s",
                 n == 0 ? "file shrank" : strerror(errno));
        cairn__httpd_conn_close(c);
        return;
    }
    if (sf->dup_fd >= 0)
        uv_poll_stop(&sf->poll);
    sf_done(c);
}

/* Send the head, then start streaming. With nothing queued, the head goes
 * out with MSG_MORE so that head and the first file bytes share a packet. */
static void sf_start(struct httpd_conn *c, const char *head, size_t hlen)
{
    ssize_t n = 0;

    if (!c->writes &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        n = send(cairn__httpd_stream_fd(c), head, hlen,
                 MSG_NOSIGNAL | MSG_MORE | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            cairn__httpd_conn_close(c);
            return;
        }
        if (n < 0)
            n = 0;
    }
    cairn__httpd_conn_write(c, head + n, hlen - (size_t)n, NULL, 0, NULL, NULL,
                            1);
    if (!c->closing && !c->writes)
        cairn__httpd_sendfile_pump(c);
    /* else: on_write pumps once the head is out */
}

/* The representation's validator when the caller has none: size and
 * modification time, like most static file servers. */
static void derive_etag(const struct stat *st, char *out, size_t n)
{
    snprintf(out, n, "\"%llx-%llx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st->st_mtim.tv_nsec);
}

/* Range, If-Range: 200, 206 or 416, with the extra header lines. */
static int file_range(const struct cairn_httpd_req *req, const char *tag,
                      uint64_t size, uint64_t *start, uint64_t *len,
                      char *extra, size_t *elen)
{
    const char *r = cairn_httpd_req_header(req, "Range");
    const char *ir = cairn_httpd_req_header(req, "If-Range");
    int k;

    *start = 0;
    *len = size;
    *elen = (size_t)snprintf(extra, 512, "ETag: %s\r\nAccept-Ranges: bytes\r\n",
                             tag);
    if (!r || (req->method != HTTP_GET && req->method != HTTP_HEAD))
        return 200;
    /* If-Range: only an identical strong tag keeps the range. */
    if (ir && (tag[0] == 'W' || strcmp(ir, tag) != 0))
        return 200;
    k = parse_range(r, size, start, len);
    if (k == 0)
        return 200;
    if (k < 0) {
        *elen += (size_t)snprintf(extra + *elen, 512 - *elen,
                                  "Content-Range: bytes */%llu\r\n",
                                  (unsigned long long)size);
        return 416;
    }
    *elen += (size_t)snprintf(
        extra + *elen, 512 - *elen, "Content-Range: bytes %llu-%llu/%llu\r\n",
        (unsigned long long)*start, (unsigned long long)(*start + *len - 1),
        (unsigned long long)size);
    return 206;
}

static void file_stream(struct cairn_httpd_req *req, int fd, int status,
                        const char *ctype, const char *extra, size_t elen,
                        uint64_t start, uint64_t len)
{
    struct resp_head h = {0};
    struct httpd_sendfile *sf;
    struct httpd_conn *c;
    size_t hlen;
    int head_only = req->head_only;

    h.status = status;
    h.ctype = ctype ? ctype : "application/octet-stream";
    h.extra = extra;
    h.elen = elen;
    h.clen = len;
    c = finish_req(req, &h, &hlen);
    if (head_only || len == 0) {
        close(fd);
        cairn__httpd_conn_write(c, c->srv->hbuf, hlen, NULL, 0, NULL, NULL, 1);
        cairn__httpd_response_done(c, h.keep_alive);
        return;
    }
    sf = cairn_xcalloc(1, sizeof(*sf));
    sf->conn = c;
    sf->srv = c->srv;
    sf->file_fd = fd;
    sf->dup_fd = -1;
    sf->keep_alive = h.keep_alive;
    sf->off = (off_t)start;
    sf->left = len;
    c->sf = sf;
    c->state = C_SENDFILE;
    c->deadline = 0;
    cairn__httpd_touch_write(c);
    sf_start(c, c->srv->hbuf, hlen);
}

/* Conditional, range and streaming for an open regular file whose stat
 * and validator are known. Owns fd. */
static void serve_fd(struct cairn_httpd_req *req, int fd, const struct stat *st,
                     const char *content_type, const char *tag)
{
    char extra[512];
    uint64_t start, len;
    size_t elen;
    int status;

    if (cairn_httpd_req_not_modified(req, tag)) {
        close(fd);
        cairn_httpd_respond_not_modified(req, tag);
        return;
    }
    status =
        file_range(req, tag, (uint64_t)st->st_size, &start, &len, extra, &elen);
    if (status == 416) {
        close(fd);
        error_with(req, 416, "range not satisfiable", extra, elen);
        return;
    }
    file_stream(req, fd, status, content_type, extra, elen, start, len);
}

int cairn_httpd_respond_fd(struct cairn_httpd_req *req, int fd,
                           const char *content_type, const char *etag)
{
    char tag[ETAG_MAX + 1];
    struct stat st;

    if (!can_respond(req)) {
        close(fd);
        return CAIRN_ESTATE;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return CAIRN_EIO;
    }
    if (!S_ISREG(st.st_mode) || (etag && !etag_valid(etag))) {
        close(fd);
        return CAIRN_EINVAL;
    }
    if (etag)
        snprintf(tag, sizeof(tag), "%s", etag);
    else
        derive_etag(&st, tag, sizeof(tag));
    serve_fd(req, fd, &st, content_type, tag);
    return 0;
}

static int errno_code(int e)
{
    if (e == ENOENT || e == ENOTDIR)
        return CAIRN_ENOENT;
    return e == EACCES || e == EPERM ? CAIRN_EPERM : CAIRN_EIO;
}

/* stat first: a revalidation that ends in 304 (the common case for
 * polling clients) then costs one stat and no open/close; with a caller's
 * etag, not even that. */
int cairn_httpd_respond_file(struct cairn_httpd_req *req, const char *path,
                             const char *content_type, const char *etag)
{
    char tag[ETAG_MAX + 1];
    struct stat st, st2;
    int fd;

    if (!can_respond(req))
        return CAIRN_ESTATE;
    if (!path || (etag && !etag_valid(etag)))
        return CAIRN_EINVAL;
    if (etag && cairn_httpd_req_not_modified(req, etag)) {
        cairn_httpd_respond_not_modified(req, etag);
        return 0;
    }
    if (stat(path, &st) != 0)
        return errno_code(errno);
    if (!S_ISREG(st.st_mode))
        return CAIRN_EINVAL;
    if (etag)
        snprintf(tag, sizeof(tag), "%s", etag);
    else
        derive_etag(&st, tag, sizeof(tag));
    if (cairn_httpd_req_not_modified(req, tag)) {
        cairn_httpd_respond_not_modified(req, tag);
        return 0;
    }
    /* O_NONBLOCK: a FIFO swapped in after the stat must not block the
     * loop in open(); the fstat below refuses it. (No effect on regular
     * files, so sendfile is unchanged.) */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno_code(errno);
    /* Replaced between stat and open: describe what was opened. */
    if (fstat(fd, &st2) != 0 || !S_ISREG(st2.st_mode)) {
        close(fd);
        return CAIRN_EIO;
    }
    if (!etag && (st2.st_ino != st.st_ino || st2.st_dev != st.st_dev ||
                  st2.st_size != st.st_size ||
                  st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
                  st2.st_mtim.tv_sec != st.st_mtim.tv_sec))
        derive_etag(&st2, tag, sizeof(tag));
    serve_fd(req, fd, &st2, content_type, tag);
    return 0;
}
