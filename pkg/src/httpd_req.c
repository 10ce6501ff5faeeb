/*
 * Request side of the HTTP server: http-parser callbacks that copy what
 * a request needs into its small capped store, routing, percent-decoding
 * of the target, and the request accessors. See docs/internals/httpd.md.
 */
#include "httpd_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cairn/log.h"

/* --- request objects (pooled: no malloc per request once warm) --------- */

static void req_reset(struct cairn_httpd_req *req, struct cairn_httpd *srv)
{
    req->srv = srv;
    req->conn = NULL;
    req->next_free = NULL;
    req->route = NULL;
    cairn_buf_reset(&req->head);
    cairn_buf_reset(&req->body);
    cairn_buf_reset(&req->rhead);
    /* Decoded copies of the target are at most as long as it: 3x the head
     * cap bounds url + headers + path + query pairs + params. */
    req->head.cap = 3 * (size_t)srv->cfg.max_header_bytes + 512;
    req->body.cap = srv->cfg.max_body_bytes;
    req->rhead.cap = HTTPD_RHEAD_CAP;
    req->nhdr = req->url_len = 0;
    req->path = req->query = req->params = 0;
    req->nquery = req->nparams = 0;
    req->state = R_READING;
    req->last = L_NONE;
    req->method = 0;
    req->keep_alive = req->head_only = req->headers_done = req->http10 = 0;
    req->fail_status = req->allow = 0;
    req->trailer_bytes = 0;
    req->body_held = req->body_seen = 0;
    req->stream = req->paused = req->abort_pending = 0;
    req->data = NULL;
    req->fail_fatal = 0;
    req->fail_msg = NULL;
    req->park_fn = NULL; /* (also clears body_start, body_allow) */
    req->park_arg = NULL;
}

struct cairn_httpd_req *cairn__httpd_req_get(struct cairn_httpd *srv)
{
    struct cairn_httpd_req *req = srv->pool;

    if (req) {
        srv->pool = req->next_free;
        srv->pool_len--;
    } else {
        req = cairn_xcalloc(1, sizeof(*req));
        cairn_buf_init(&req->head, 0);
        cairn_buf_init(&req->body, 0);
        cairn_buf_init(&req->rhead, 0);
    }
    req_reset(req, srv);
    return req;
}

void cairn__httpd_req_put(struct cairn_httpd *srv, struct cairn_httpd_req *req)
{
    srv->body_held -= req->body_held;
    req->body_held = 0;
    /* Keep the common small buffers for reuse; give big ones back. */
    if (req->head.alloc > 8192)
        cairn_buf_free(&req->head);
    if (req->body.alloc > 65536)
        cairn_buf_free(&req->body);
    if (req->rhead.alloc > 4096)
        cairn_buf_free(&req->rhead);
    req->state = R_DEAD;
    req->conn = NULL;
    if (srv->pool_len >= HTTPD_POOL_MAX) {
        cairn_buf_free(&req->head);
        cairn_buf_free(&req->body);
        cairn_buf_free(&req->rhead);
        free(req);
        return;
    }
    req->next_free = srv->pool;
    srv->pool = req;
    srv->pool_len++;
}

/* --- methods ------------------------------------------------------------ */

unsigned cairn__httpd_method_bit(unsigned m)
{
    switch (m) {
    case HTTP_GET:
        return CAIRN_HTTPD_GET;
    case HTTP_HEAD:
        return CAIRN_HTTPD_HEAD;
    case HTTP_POST:
        return CAIRN_HTTPD_POST;
    case HTTP_PUT:
        return CAIRN_HTTPD_PUT;
    case HTTP_DELETE:
        return CAIRN_HTTPD_DELETE;
    case HTTP_PATCH:
        return CAIRN_HTTPD_PATCH;
    case HTTP_OPTIONS:
        return CAIRN_HTTPD_OPTIONS;
    default:
        return 0;
    }
}

size_t cairn__httpd_allow_str(unsigned methods, char *buf, size_t n)
{
    static const char *const names[] = {"GET",    "HEAD",  "POST",   "PUT",
                                        "DELETE", "PATCH", "OPTIONS"};
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < CAIRN_ARRAY_LEN(names); i++) {
        size_t k = strlen(names[i]);

        if (!(methods & (1u << i)) || len + k + 3 > n)
            continue;
        if (len) {
            memcpy(buf + len, ", ", 2);
            len += 2;
        }
        memcpy(buf + len, names[i], k + 1);
        len += k;
    }
    return len;
}

/* --- routes ------------------------------------------------------------- */

void cairn__httpd_route_free(struct httpd_route *r)
{
    size_t i;

    for (i = 0; i < r->nseg; i++) {
        free(r->seg[i].lit);
        free(r->seg[i].name);
    }
    free(r->seg);
    free(r->pattern);
    free(r->name);
}

/* Tell the route's owner that req will not reach its handler. State and
 * connection read as gone during the call, so that it cannot respond. */
void cairn__httpd_req_abort(struct cairn_httpd_req *req,
                            enum cairn_httpd_abort_reason why)
{
    struct httpd_conn *c = req->conn;
    uint8_t state = req->state;

    if (!req->abort_pending)
        return;
    req->abort_pending = 0;
    req->state = R_DEAD;
    req->conn = NULL;
    req->route->abort(req, why, req->route->arg);
    req->state = state;
    req->conn = c;
}

static int param_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 32)
        return 0;
    for (i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* One pattern segment [s, s+n); last: it is the pattern's last. */
static int parse_seg(struct httpd_route *r, const char *s, size_t n, int last,
                     size_t *nparams)
{
    struct httpd_seg *g;

    if (n == 1 && s[0] == '*') {
        if (!last)
            return -1;
        r->rest = 1;
        return 0;
    }
    r->seg = cairn_xrealloc(r->seg, (r->nseg + 1) * sizeof(*r->seg));
    g = &r->seg[r->nseg++];
    memset(g, 0, sizeof(*g));
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        if (!param_name_ok(s + 1, n - 2) || ++*nparams > HTTPD_MAX_PARAMS - 1)
            return -1;
        g->name = cairn_xstrndup(s + 1, n - 2);
        return 0;
    }
    if (memchr(s, '{', n) || memchr(s, '}', n) || memchr(s, '*', n) ||
        memchr(s, '%', n) || memchr(s, '?', n))
        return -1;
    g->lit = cairn_xstrndup(s, n);
    g->lit_len = n;
    return 0;
}

/* "/a/{b}/rest" -> segments after the leading '/', split on '/'. "/" is one
 * empty literal segment, like the path "/". */
static int parse_pattern(struct httpd_route *r, const char *pattern)
{
    const char *s = pattern + 1, *end;
    size_t nparams = 0;

    if (pattern[0] != '/')
        return -1;
    for (;;) {
        end = strchr(s, '/');
        if (parse_seg(r, s, end ? (size_t)(end - s) : strlen(s), !end,
                      &nparams))
            return -1;
        if (!end)
            return 0;
        s = end + 1;
    }
}

int cairn_httpd_route(struct cairn_httpd *srv, unsigned methods,
                      const char *pattern, cairn_httpd_handler_fn fn, void *arg,
                      const struct cairn_httpd_route_opts *opts,
                      struct cairn_diag *d)
{
    return cairn_httpd_route_hooks(srv, methods, pattern, fn, arg, opts, NULL,
                                   d);
}

int cairn_httpd_route_hooks(struct cairn_httpd *srv, unsigned methods,
                            const char *pattern, cairn_httpd_handler_fn fn,
                            void *arg,
                            const struct cairn_httpd_route_opts *opts,
                            const struct cairn_httpd_route_hooks *hooks,
                            struct cairn_diag *d)
{
    struct httpd_route r;

    if (!srv || !pattern || !fn || !(methods & 0x7fu))
        return cairn_diag_set(d, CAIRN_EINVAL, "httpd route: missing argument");
    if (srv->listening || srv->stopping)
        return cairn_diag_set(
            d, CAIRN_ESTATE, "httpd route %s: server already started", pattern);
    memset(&r, 0, sizeof(r));
    if (parse_pattern(&r, pattern)) {
        cairn__httpd_route_free(&r);
        return cairn_diag_set(d, CAIRN_EINVAL, "httpd route %s: bad pattern",
                              pattern);
    }
    r.pattern = cairn_xstrdup(pattern);
    r.name = cairn_xstrdup(opts && opts->name ? opts->name : pattern);
    /* A GET route also answers HEAD. */
    r.methods = methods & 0x7fu;
    if (r.methods & CAIRN_HTTPD_GET)
        r.methods |= CAIRN_HTTPD_HEAD;
    r.fn = fn;
    r.arg = arg;
    if (hooks) {
        r.head = hooks->head;
        r.body = hooks->body;
        r.abort = hooks->abort;
    }
    r.max_body =
        opts && opts->max_body ? opts->max_body : srv->cfg.max_body_bytes;
    srv->routes = cairn_xrealloc(srv->routes, (srv->nroutes + 1) * sizeof(r));
    srv->routes[srv->nroutes++] = r;
    return 0;
}

/* Match the raw path against r; the spans of parameters (offset, length
 * in path) go to sp. */
static int route_match(const struct httpd_route *r, const char *path,
                       size_t plen, uint32_t sp[][2], size_t *nsp)
{
    size_t pos = 1, i, k = 0;

    for (i = 0; i < r->nseg; i++) {
        const char *s, *slash;
        size_t len;

        if (pos > plen)
            return 0;
        s = path + pos;
        slash = memchr(s, '/', plen - pos);
        len = slash ? (size_t)(slash - s) : plen - pos;
        if (r->seg[i].lit) {
            if (len != r->seg[i].lit_len || memcmp(s, r->seg[i].lit, len) != 0)
                return 0;
        } else {
            if (len == 0)
                return 0;
            sp[k][0] = (uint32_t)pos;
            sp[k++][1] = (uint32_t)len;
        }
        pos += len + 1;
    }
    if (r->rest) {
        if (pos > plen)
            return 0;
        sp[k][0] = (uint32_t)pos;
        sp[k++][1] = (uint32_t)(plen - pos);
    } else if (pos != plen + 1) {
        return 0;
    }
    *nsp = k;
    return 1;
}

/* --- decoding ---------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) onto the end of b, NUL-terminated. The caller
 * reserved the room, so b->data does not move while s may point into it.
 * -1 on a malformed escape or a decoded NUL. */
static int pct_decode(struct cairn_buf *b, const char *s, size_t n, int plus)
{
    char *o = b->data + b->len;
    size_t i;

    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (ch == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            i += 2;
        } else if (plus && ch == '+') {
            ch = ' ';
        }
        *o++ = ch;
    }
    *o++ = '\0';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

static void head_reserve(struct cairn_buf *b, size_t extra)
{
    size_t want = b->len + extra + 1;

    if (want > b->alloc) {
        b->data = cairn_xrealloc(b->data, want);
        b->alloc = want;
    }
}

/* A segment "." or ".." anywhere in [s, s+n) ('/'-separated). */
static int has_dot_segment(const char *s, size_t n)
{
    size_t i, start = 0;

    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        if ((i - start == 1 && s[start] == '.') ||
            (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
            return 1;
        start = i + 1;
    }
    return 0;
}

static int decode_query(struct cairn_httpd_req *req, size_t qoff, size_t qlen)
{
    size_t i = 0;

    req->query = (uint32_t)req->head.len;
    while (i < qlen) {
        const char *s = req->head.data + qoff + i;
        const char *amp = memchr(s, '&', qlen - i);
        size_t n = amp ? (size_t)(amp - s) : qlen - i;
        const char *eq = memchr(s, '=', n);
        size_t kn = eq ? (size_t)(eq - s) : n;

        i += n + 1;
        if (n == 0)
            continue;
        if (req->nquery >= HTTPD_MAX_QUERY)
            return -1;
        if (pct_decode(&req->head, s, kn, 1) ||
            pct_decode(&req->head, eq ? eq + 1 : s, eq ? n - kn - 1 : 0, 1))
            return -1;
        req->nquery++;
    }
    return 0;
}

static int decode_params(struct cairn_httpd_req *req, size_t poff,
                         uint32_t sp[][2], size_t nsp)
{
    size_t i;

    req->params = (uint32_t)req->head.len;
    for (i = 0; i < nsp; i++) {
        const char *v = req->head.data + req->head.len;
        int rest = req->route->rest && i == nsp - 1;

        if (pct_decode(&req->head, req->head.data + poff + sp[i][0], sp[i][1],
                       0))
            return -1;
        if (rest ? has_dot_segment(v, strlen(v))
                 : (strchr(v, '/') || strcmp(v, ".") == 0 ||
                    strcmp(v, "..") == 0))
            return -1;
    }
    req->nparams = (uint8_t)nsp;
    return 0;
}

/* --- parsing callbacks --------------------------------------------------- */

static int req_fail(struct cairn_httpd_req *req, int status, const char *msg,
                    int fatal)
{
    if (!req->fail_status) {
        req->fail_status = (uint16_t)status;
        req->fail_msg = msg;
        req->fail_fatal = (uint8_t)fatal;
    }
    return fatal ? -1 : 0;
}

static int on_message_begin(http_parser *p)
{
    struct httpd_conn *c = p->data;

    if (c->req) {
        cairn__httpd_req_abort(c->req, CAIRN_HTTPD_ABORT_CLOSED);
        cairn__httpd_req_put(c->srv, c->req);
    }
    c->req = cairn__httpd_req_get(c->srv);
    c->req->conn = c;
    c->state = C_HEAD;
    c->deadline = uv_now(c->srv->loop) + c->srv->cfg.header_timeout_ms;
    return 0;
}

static int head_add(struct httpd_conn *c, const char *at, size_t n)
{
    struct cairn_httpd_req *req = c->req;

    if (req->head.len + n + 1 > c->srv->cfg.max_header_bytes)
        return -1;
    return cairn_buf_append(&req->head, at, n) ? -1 : 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct httpd_conn *c = p->data;

    if (head_add(c, at, n))
        return req_fail(c->req, 414, "request target too long", 1);
    c->req->url_len = (uint16_t)(c->req->url_len + n);
    c->req->last = L_URL;
    return 0;
}

/* End the item being stored: the URL or a header value (trimmed). */
static int end_item(struct httpd_conn *c)
{
    struct cairn_httpd_req *req = c->req;

    if (req->last == L_VALUE) {
        struct httpd_hdr *h = &req->hdr[req->nhdr - 1];

        while (h->value_len &&
               (req->head.data[h->value + h->value_len - 1] == ' ' ||
                req->head.data[h->value + h->value_len - 1] == '\t'))
            h->value_len--;
        req->head.len = h->value + (size_t)h->value_len;
    }
    return head_add(c, "", 1);
}

static int trailer(struct httpd_conn *c, size_t n)
{
    struct cairn_httpd_req *req = c->req;

    req->trailer_bytes += (uint32_t)n;
    if (req->trailer_bytes > c->srv->cfg.max_header_bytes)
        return req_fail(req, 431, "trailer section too large", 1);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct httpd_conn *c = p->data;
    struct cairn_httpd_req *req = c->req;

    if (req->headers_done) /* chunked trailers: counted, not kept */
        return trailer(c, n);
    /* http-parser (non-strict build) lets SP into field names and still
     * reads "Transfer-Encoding :" as framing; a proxy in front may drop
     * that line instead. RFC 9112 5.1: reject, and close, since the
     * framing of what follows is in doubt. */
    if (memchr(at, ' ', n))
        return req_fail(req, 400, "whitespace in a header field name", 1);
    if (req->last != L_FIELD) {
        if (end_item(c))
            return req_fail(req, 431, "request header section too large", 1);
        if (req->nhdr >= c->srv->cfg.max_headers)
            return req_fail(req, 431, "too many request header fields", 1);
        req->hdr[req->nhdr].name = (uint16_t)req->head.len;
        req->hdr[req->nhdr].name_len = 0;
        req->nhdr++;
        req->last = L_FIELD;
    }
    if (head_add(c, at, n))
        return req_fail(req, 431, "request header section too large", 1);
    req->hdr[req->nhdr - 1].name_len =
        (uint16_t)(req->hdr[req->nhdr - 1].name_len + n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct httpd_conn *c = p->data;
    struct cairn_httpd_req *req = c->req;
    struct httpd_hdr *h;

    if (req->headers_done)
        return trailer(c, n);
    if (!req->nhdr)
        return -1;
    h = &req->hdr[req->nhdr - 1];
    if (req->last != L_VALUE) {
        if (head_add(c, "", 1))
            return req_fail(req, 431, "request header section too large", 1);
        h->value = (uint16_t)req->head.len;
        h->value_len = 0;
        req->last = L_VALUE;
    }
    if (head_add(c, at, n))
        return req_fail(req, 431, "request header section too large", 1);
    h->value_len = (uint16_t)(h->value_len + n);
    return 0;
}

/* Split the target, check and copy the path, decode the query. */
static int parse_target(struct cairn_httpd_req *req)
{
    struct http_parser_url u;
    size_t poff, plen, qoff = 0, qlen = 0;

    http_parser_url_init(&u);
    if (http_parser_parse_url(req->head.data, req->url_len,
                              req->method == HTTP_CONNECT, &u) != 0 ||
        !(u.field_set & (1u << UF_PATH))) {
        req_fail(req, 400, "malformed request target", 0);
        return -1;
    }
    poff = u.field_data[UF_PATH].off;
    plen = u.field_data[UF_PATH].len;
    if (req->head.data[poff] != '/' ||
        has_dot_segment(req->head.data + poff + 1, plen - 1)) {
        req_fail(req, 400, "request path has \".\" or \"..\" segments", 0);
        return -1;
    }
    if (u.field_set & (1u << UF_QUERY)) {
        qoff = u.field_data[UF_QUERY].off;
        qlen = u.field_data[UF_QUERY].len;
    }
    /* Room for every decoded copy, so that sources inside the buffer stay
     * put while it is appended to. */
    head_reserve(&req->head, plen + 1 + qlen + 2 * HTTPD_MAX_QUERY + plen +
                                 HTTPD_MAX_PARAMS + 2);
    req->path = (uint32_t)req->head.len;
    memcpy(req->head.data + req->head.len, req->head.data + poff, plen);
    req->head.len += plen;
    req->head.data[req->head.len++] = '\0';
    req->head.data[req->head.len] = '\0';
    if (decode_query(req, qoff, qlen)) {
        req_fail(req, 400, "malformed query string", 0);
        return -1;
    }
    return 0;
}

static void route_request(struct cairn_httpd *srv, struct cairn_httpd_req *req)
{
    const char *path = req->head.data + req->path;
    size_t plen = strlen(path), i, nsp = 0;
    unsigned bit = cairn__httpd_method_bit(req->method), allow = 0;
    uint32_t sp[HTTPD_MAX_PARAMS][2], tmp[HTTPD_MAX_PARAMS][2];

    for (i = 0; i < srv->nroutes; i++) {
        size_t n;

        if (!route_match(&srv->routes[i], path, plen, tmp, &n))
            continue;
        allow |= srv->routes[i].methods;
        if (!req->route && (srv->routes[i].methods & bit)) {
            req->route = &srv->routes[i];
            memcpy(sp, tmp, sizeof(tmp));
            nsp = n;
        }
    }
    if (req->route) {
        if (decode_params(req, req->path, sp, nsp))
            req_fail(req, 400, "malformed path parameter", 0);
    } else if (allow) {
        /* Counted under the route whose path matched. */
        for (i = 0; i < srv->nroutes && !req->route; i++)
            if (route_match(&srv->routes[i], path, plen, tmp, &nsp))
                req->route = &srv->routes[i];
        req->allow = (uint16_t)allow;
        req_fail(req, 405, "method not allowed", 0);
    } else {
        req_fail(req, 404, "no such resource", 0);
    }
}

/* A Host value: uri-host [":" port] (RFC 3986 reg-name, IPv4 or an IP
 * literal in brackets), possibly empty. Only the character set is checked:
 * the value is not used for routing, but one with spaces, '/', '@' or
 * controls is not a host and may be read differently by a proxy. */
static int host_value_ok(const char *v)
{
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("-._~!$&'()*+,;=:[]%", ch)))
            return 0;
    }
    return 1;
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host, any request with more
 * than one, or one with a malformed value is 400. (HTTP/1.0 had no Host.)
 * Framing is not in doubt, so the connection may be kept. */
static void check_host(struct cairn_httpd_req *req, const http_parser *p)
{
    const char *host = NULL;
    size_t i, n = 0;

    for (i = 0; i < req->nhdr; i++) {
        if (strcasecmp(req->head.data + req->hdr[i].name, "Host") == 0) {
            host = req->head.data + req->hdr[i].value;
            n++;
        }
    }
    if (n > 1)
        req_fail(req, 400, "more than one Host header", 0);
    else if (n == 0 && (p->http_major > 1 || p->http_minor >= 1))
        req_fail(req, 400, "HTTP/1.1 request without a Host header", 0);
    else if (host && !host_value_ok(host))
        req_fail(req, 400, "malformed Host header", 0);
}

/* Expect: only 100-continue is known (curl sends it before large bodies).
 * Checked before the head hook; the 100 itself goes out after it, so that
 * a refused request gets its final answer instead. */
static void check_expect(struct cairn_httpd_req *req, int has_body)
{
    const char *e = cairn_httpd_req_header(req, "Expect");

    if (e && strcasecmp(e, "100-continue") != 0)
        req_fail(req, 417, "unsupported expectation", has_body);
}

static void send_continue(struct httpd_conn *c, struct cairn_httpd_req *req)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    if (!req->fail_status && c->parser.http_minor >= 1 &&
        cairn_httpd_req_header(req, "Expect"))
        cairn__httpd_conn_write(c, cont, sizeof(cont) - 1, NULL, 0, NULL, NULL,
                                0);
}

/* Make the request's share of the server-wide body budget at least total
 * bytes (the declared Content-Length, or what a chunked body has reached).
 * -1 when the budget has no room: answered 503 and closed, unread. */
static int body_reserve(struct httpd_conn *c, uint64_t total)
{
    struct cairn_httpd *srv = c->srv;
    struct cairn_httpd_req *req = c->req;
    uint64_t more;

    if (total <= req->body_held)
        return 0;
    more = total - req->body_held;
    if (more > srv->cfg.max_body_total - srv->body_held)
        return req_fail(req, 503, "too much request data in progress; retry",
                        1);
    srv->body_held += more;
    req->body_held = total;
    return 0;
}

/* The route's head hook. 1 when it answered: req is gone then. */
static int run_head(struct httpd_conn *c, struct cairn_httpd_req *req,
                    int has_body)
{
    struct httpd_route *r = req->route;
    uint8_t keep = req->keep_alive, cstate = c->state;
    uint64_t deadline = c->deadline;

    req->state = R_HEAD;
    c->state = C_HANDLING;
    c->deadline = 0;
    /* An answer now leaves the body unread, so the connection cannot carry
     * another request: it closes after the answer (RFC 9112 9.6). */
    if (has_body)
        req->keep_alive = 0;
    r->head(req, r->arg);
    if (c->req != req) {
        c->srv->stats.requests++;
        return 1;
    }
    req->keep_alive = keep;
    req->state = R_READING;
    c->state = cstate;
    c->deadline = deadline;
    return 0;
}

/* A routed request without errors: the head hook, then what its body
 * needs. 1 when the hook answered. */
static int head_stage(struct httpd_conn *c, struct cairn_httpd_req *req,
                      int has_body)
{
    struct httpd_route *r = req->route;

    req->stream = r->body != NULL;
    if (r->head && run_head(c, req, has_body))
        return 1;
    req->abort_pending = r->abort != NULL;
    /* Only buffered bodies are held, so only they count against the
     * server-wide budget. */
    if (!req->stream && (c->parser.flags & F_CONTENTLENGTH))
        body_reserve(c, c->parser.content_length);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    struct cairn_httpd *srv = c->srv;
    struct cairn_httpd_req *req = c->req;
    int has_body;
    uint64_t max;

    if (end_item(c))
        return req_fail(req, 431, "request header section too large", 1);
    req->headers_done = 1;
    req->method = (uint8_t)p->method;
    req->head_only = p->method == HTTP_HEAD;
    req->http10 = p->http_major == 1 && p->http_minor == 0;
    /* Upgrades (websocket, h2c) are not spoken here: answer, then close. */
    /* HTTP/1.0 has no chunked coding: such a message's framing is faulty
     * and the connection must end after it (RFC 9112 6.1). */
    req->keep_alive = (uint8_t)(http_should_keep_alive(p) && !p->upgrade &&
                                !(req->http10 && (p->flags & F_CHUNKED)));
    has_body = (p->flags & F_CHUNKED) ||
               ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    check_host(req, p);
    if (parse_target(req) == 0)
        route_request(srv, req);
    max = req->route ? req->route->max_body : srv->cfg.max_body_bytes;
    req->body.cap = max;
    if (req->fail_status && has_body)
        req->fail_fatal = 1; /* do not read a body nobody will use */
    else if ((p->flags & F_CONTENTLENGTH) && p->content_length > max)
        req_fail(req, 413, "request body too large", 1);
    check_expect(req, has_body);
    if (!req->fail_status && head_stage(c, req, has_body)) {
        /* Answered by the hook: with a body, stop the parser here (the
         * connection closes); without, the message ends normally. */
        if (!has_body)
            return 0;
        c->early = 1;
        return -1;
    }
    if (req->fail_fatal || c->closing)
        return -1;
    if (!has_body)
        return 0;
    send_continue(c, req);
    c->state = C_BODY;
    /* A total for the whole body, not reset by reads: a client trickling
     * a byte now and then must not hold the connection forever. Chunked
     * bodies earn time as their bytes arrive (on_body). */
    req->body_start = uv_now(srv->loop);
    cairn__httpd_body_deadline(
        c, (p->flags & F_CONTENTLENGTH) ? p->content_length : 0);
    if (req->paused) { /* by the head hook: before the first byte */
        cairn__httpd_pause_apply(c);
        http_parser_pause(p, 1);
    }
    return 0;
}

/* A piece of a streamed body to the route's callback. */
static int body_stream(struct httpd_conn *c, struct cairn_httpd_req *req,
                       const char *at, size_t n)
{
    struct httpd_route *r = req->route;

    if (n > r->max_body - req->body_seen)
        return req_fail(req, 413, "request body too large", 1);
    req->body_seen += n;
    if (c->parser.flags & F_CHUNKED)
        cairn__httpd_body_deadline(c, req->body_seen);
    r->body(req, at, n, r->arg);
    if (c->req != req) { /* answered: the rest of the body is not read */
        c->early = 1;
        return -1;
    }
    if (req->paused) {
        cairn__httpd_pause_apply(c);
        http_parser_pause(&c->parser, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct httpd_conn *c = p->data;

    if (c->closing)
        return -1;
    if (c->req->stream)
        return body_stream(c, c->req, at, n);
    if (cairn_buf_append(&c->req->body, at, n))
        return req_fail(c->req, 413, "request body too large", 1);
    c->req->body_seen += n;
    if (body_reserve(c, c->req->body.len))
        return -1;
    if (p->flags & F_CHUNKED)
        cairn__httpd_body_deadline(c, c->req->body_seen);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;

    /* Stop here: the request is handled before the next one is parsed, so
     * that responses go out in order (pipelining). */
    c->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

const http_parser_settings cairn__httpd_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --- accessors --------------------------------------------------------- */

const char *cairn_httpd_req_method(const struct cairn_httpd_req *req)
{
    return http_method_str((enum http_method)req->method);
}

unsigned cairn_httpd_req_method_bit(const struct cairn_httpd_req *req)
{
    return cairn__httpd_method_bit(req->method);
}

const char *cairn_httpd_req_target(const struct cairn_httpd_req *req)
{
    return req->head.data;
}

const char *cairn_httpd_req_path(const struct cairn_httpd_req *req)
{
    return req->head.data + req->path;
}

const char *cairn_httpd_req_param(const struct cairn_httpd_req *req,
                                  const char *name)
{
    const struct httpd_route *r = req->route;
    const char *v;
    size_t i, k = 0;

    if (!r || !name || !req->nparams)
        return NULL;
    for (i = 0; i < r->nseg; i++) {
        if (!r->seg[i].name)
            continue;
        if (strcmp(r->seg[i].name, name) == 0)
            break;
        k++;
    }
    if (i == r->nseg) {
        if (!r->rest || strcmp(name, "*") != 0)
            return NULL;
        k = (size_t)req->nparams - 1;
    }
    v = req->head.data + req->params;
    while (k--)
        v += strlen(v) + 1;
    return v;
}

const char *cairn_httpd_req_query(const struct cairn_httpd_req *req,
                                  const char *name)
{
    const char *k = req->head.data + req->query;
    size_t i;

    for (i = 0; name && i < req->nquery; i++) {
        const char *v = k + strlen(k) + 1;

        if (strcmp(k, name) == 0)
            return v;
        k = v + strlen(v) + 1;
    }
    return NULL;
}

const char *cairn_httpd_req_header(const struct cairn_httpd_req *req,
                                   const char *name)
{
    size_t i;

    for (i = 0; name && i < req->nhdr; i++)
        if (strcasecmp(req->head.data + req->hdr[i].name, name) == 0)
            return req->head.data + req->hdr[i].value;
    return NULL;
}

const char *cairn_httpd_req_body(const struct cairn_httpd_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

void cairn_httpd_req_set_data(struct cairn_httpd_req *req, void *data)
{
    req->data = data;
}

void *cairn_httpd_req_data(const struct cairn_httpd_req *req)
{
    return req->data;
}

uint64_t cairn_httpd_req_body_seen(const struct cairn_httpd_req *req)
{
    return req->body_seen;
}

int cairn_httpd_req_peer(const struct cairn_httpd_req *req,
                         struct sockaddr_storage *out)
{
    int len = sizeof(*out);

    if (!req->conn || req->conn->closing ||
        uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)out, &len) != 0)
        return CAIRN_ENET;
    return 0;
}

const char *cairn_httpd_req_peer_str(const struct cairn_httpd_req *req,
                                     char *buf, size_t n)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN];

    if (cairn_httpd_req_peer(req, &ss) != 0) {
        snprintf(buf, n, "?");
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(buf, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(buf, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    }
    return buf;
}

struct cairn_httpd *cairn_httpd_req_server(const struct cairn_httpd_req *req)
{
    return req->srv;
}
