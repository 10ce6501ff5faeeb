/*
 * Minimal HTTP/1.1 responder on libuv (see http.h). A connection lives in
 * one struct that is also the request's exchange handle; it is freed only
 * when both of its libuv handles have closed and no reply is outstanding,
 * so a late reply after the client vanished is harmless.
 */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cairn/log.h"
#include "cairn/mem.h"

#define READ_CHUNK 65536

enum state { ST_READING, ST_DISPATCHED, ST_WRITING };

struct xray_http_exchange {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr, wr_continue;
    uv_shutdown_t shut;
    struct xray_http_server *srv;
    struct xray_http_exchange *prev, *next;
    enum state state;
    int closing, open_handles, pending_reply, expect_continue;
    char *buf;
    size_t len, alloc;
    size_t head_len; /* request line + headers + CRLFCRLF; 0 until seen */
    size_t content_length;
    char *head; /* tokenized copy of the header block */
    char *out;
    struct xray_http_req req;
};

struct xray_http_server {
    uv_tcp_t listener;
    struct xray_http_limits lim;
    xray_http_handler fn;
    void *arg;
    struct xray_http_exchange *conns;
    unsigned nconns;
    int stopping, listener_closed, port;
    char scratch[READ_CHUNK];
};

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

static void maybe_free_server(struct xray_http_server *s)
{
    if (s->stopping && s->listener_closed && s->nconns == 0)
        free(s);
}

static void free_conn(struct xray_http_exchange *c)
{
    struct xray_http_server *s = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c->buf);
    free(c->head);
    free(c->out);
    free(c);
    maybe_free_server(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct xray_http_exchange *c = h->data;

    if (--c->open_handles == 0 && !c->pending_reply)
        free_conn(c);
}

static void close_conn(struct xray_http_exchange *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    close_conn(req->data);
}

static void on_written(uv_write_t *req, int status)
{
    struct xray_http_exchange *c = req->data;

    c->shut.data = c;
    if (status != 0 || c->closing ||
        uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        close_conn(c);
}

static void send_reply(struct xray_http_exchange *c, int status,
                       const char *ctype, const void *body, size_t len)
{
    int n;
    uv_buf_t b;

    n = snprintf(NULL, 0,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                 status, reason(status), ctype, len);
    c->out = cairn_xmalloc((size_t)n + len + 1);
    snprintf(c->out, (size_t)n + 1,
             "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
             status, reason(status), ctype, len);
    if (len)
        memcpy(c->out + n, body, len);
    c->state = ST_WRITING;
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* The same deadline bounds a client that never reads its answer. */
    uv_timer_again(&c->timer);
    b = uv_buf_init(c->out, (unsigned)((size_t)n + len));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        close_conn(c);
}

static void reply_error(struct xray_http_exchange *c, int status,
                        const char *msg)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "%s\n", msg);

    send_reply(c, status, "text/plain; charset=utf-8", body, (size_t)n);
}

void xray_http_reply(struct xray_http_exchange *c, int status,
                     const char *content_type, const void *body, size_t len)
{
    if (!c->pending_reply)
        return;
    c->pending_reply = 0;
    if (c->closing) {
        if (c->open_handles == 0)
            free_conn(c);
        return;
    }
    send_reply(c, status, content_type, body, len);
}

static void on_timeout(uv_timer_t *t)
{
    struct xray_http_exchange *c = t->data;

    if (c->state == ST_READING)
        reply_error(c, 408, "request not received in time");
    else if (c->state == ST_WRITING)
        close_conn(c);
}

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The request line, tokenized in place: "METHOD SP target SP HTTP/1.x". */
static int parse_request_line(struct xray_http_exchange *c, char *line)
{
    char *sp1 = strchr(line, ' '), *sp2, *q, *v;

    if (!sp1 || sp1 == line || sp1 - line > 16)
        return 400;
    for (char *p = line; p < sp1; p++)
        if (!isupper((unsigned char)*p))
            return 400;
    *sp1 = '\0';
    sp2 = strchr(sp1 + 1, ' ');
    if (!sp2 || sp1[1] != '/' || sp2 - sp1 - 1 > 2048)
        return 400;
    *sp2 = '\0';
    for (char *p = sp1 + 1; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return 400;
    v = sp2 + 1;
    if (strncmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) ||
        v[6] != '.' || !isdigit((unsigned char)v[7]) || v[8] != '\0')
        return 400;
    if (strcmp(v, "HTTP/1.1") != 0 && strcmp(v, "HTTP/1.0") != 0)
        return 505;
    c->req.method = line;
    c->req.path = sp1 + 1;
    q = strchr(sp1 + 1, '?');
    c->req.query = "";
    if (q) {
        *q = '\0';
        c->req.query = q + 1;
    }
    return 0;
}

static int header_field(struct xray_http_exchange *c, const char *name,
                        char *value, int *have_cl)
{
    if (strcasecmp(name, "Content-Length") == 0) {
        unsigned long long v = 0;
        size_t n = strlen(value);

        if (n == 0 || n > 18)
            return 400;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)value[i]))
                return 400;
            v = v * 10 + (unsigned)(value[i] - '0');
        }
        if (*have_cl && v != c->content_length)
            return 400;
        *have_cl = 1;
        c->content_length = (size_t)v;
        return v > c->srv->lim.max_body ? 413 : 0;
    }
    if (strcasecmp(name, "Transfer-Encoding") == 0)
        return 501;
    if (strcasecmp(name, "Expect") == 0) {
        if (strcasecmp(value, "100-continue") != 0)
            return 417;
        c->expect_continue = 1;
    }
    if (strcasecmp(name, "Content-Type") == 0)
        c->req.content_type = value;
    return 0;
}

static int parse_head(struct xray_http_exchange *c)
{
    char *line, *end;
    int have_cl = 0, st;

    c->head = cairn_xstrndup(c->buf, c->head_len - 4);
    if (strlen(c->head) != c->head_len - 4)
        return 400; /* a NUL byte in the header block */
    line = c->head;
    end = strstr(line, "\r\n");
    if (end)
        *end = '\0';
    st = parse_request_line(c, line);
    while (!st && end) {
        char *colon, *value, *tail;

        line = end + 2;
        end = strstr(line, "\r\n");
        if (end)
            *end = '\0';
        colon = strchr(line, ':');
        if (!colon || colon == line)
            return 400;
        *colon = '\0';
        for (char *p = line; *p; p++)
            if (!is_tchar((unsigned char)*p))
                return 400;
        value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        tail = value + strlen(value);
        while (tail > value && (tail[-1] == ' ' || tail[-1] == '\t'))
            *--tail = '\0';
        for (char *p = value; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                return 400;
        st = header_field(c, line, value, &have_cl);
    }
    return st;
}

static void dispatch(struct xray_http_exchange *c)
{
    c->state = ST_DISPATCHED;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    c->req.body = c->buf + c->head_len;
    c->req.body_len = c->content_length;
    c->pending_reply = 1;
    c->srv->fn(c, &c->req, c->srv->arg);
}

static void send_continue(struct xray_http_exchange *c)
{
    static char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);

    c->wr_continue.data = c;
    if (uv_write(&c->wr_continue, (uv_stream_t *)&c->tcp, &b, 1, NULL) != 0)
        close_conn(c);
}

/* New bytes arrived: find the header block, check it, wait for the body. */
static void advance(struct xray_http_exchange *c, size_t old_len)
{
    const struct xray_http_limits *lim = &c->srv->lim;

    if (c->head_len == 0) {
        size_t from = old_len > 3 ? old_len - 3 : 0;
        char *e = NULL;

        for (size_t i = from; i + 4 <= c->len; i++)
            if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
                e = c->buf + i;
                break;
            }
        if (!e) {
            if (c->len > lim->max_header)
                reply_error(c, 431, "request header block too large");
            return;
        }
        c->head_len = (size_t)(e - c->buf) + 4;
        if (c->head_len > lim->max_header) {
            reply_error(c, 431, "request header block too large");
            return;
        }
        int st = parse_head(c);
        if (st) {
            reply_error(c, st,
                        st == 413 ? "request body too large"
                                  : "malformed request");
            return;
        }
        if (c->expect_continue && c->len < c->head_len + c->content_length)
            send_continue(c);
    }
    if (c->len >= c->head_len + c->content_length)
        dispatch(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct xray_http_exchange *c = h->data;

    (void)hint;
    *buf = uv_buf_init(c->srv->scratch, sizeof(c->srv->scratch));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct xray_http_exchange *c = st->data;
    size_t cap = c->srv->lim.max_header + c->srv->lim.max_body, old = c->len;

    if (nread < 0) {
        close_conn(c);
        return;
    }
    if (nread == 0 || c->state != ST_READING)
        return;
    if ((size_t)nread > cap - c->len) {
        reply_error(c, c->head_len ? 413 : 431, "request too large");
        return;
    }
    if (c->len + (size_t)nread > c->alloc) {
        c->alloc =
            c->len + (size_t)nread + (c->alloc < 16384 ? 16384 : c->alloc);
        if (c->alloc > cap + 1)
            c->alloc = cap + 1;
        c->buf = cairn_xrealloc(c->buf, c->alloc);
    }
    memcpy(c->buf + c->len, buf->base, (size_t)nread);
    c->len += (size_t)nread;
    advance(c, old);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct xray_http_server *s = listener->data;
    struct xray_http_exchange *c;

    if (status != 0)
        return;
    c = cairn_xcalloc(1, sizeof(*c));
    c->srv = s;
    uv_tcp_init(listener->loop, &c->tcp);
    uv_timer_init(listener->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        s->nconns > s->lim.max_conns) {
        close_conn(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, s->lim.timeout_ms, s->lim.timeout_ms);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        close_conn(c);
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss,
                        struct cairn_diag *d)
{
    const char *colon = strrchr(spec, ':');
    char host[256];
    char *end;
    unsigned long port;
    size_t hl;

    if (!colon)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: want host:port",
                              spec);
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || port > 65535)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: bad port", spec);
    hl = (size_t)(colon - spec);
    if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
        snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), spec + 1);
        if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "listen %s: bad IPv6 address", spec);
        return 0;
    }
    snprintf(host, sizeof(host), "%.*s", (int)hl, spec);
    if (uv_ip4_addr(hl ? host : "127.0.0.1", (int)port,
                    (struct sockaddr_in *)ss) != 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen %s: bad IPv4 address",
                              spec);
    return 0;
}

int xray_http_start(uv_loop_t *loop, const char *listen,
                    const struct xray_http_limits *lim, xray_http_handler fn,
                    void *arg, struct xray_http_server **out,
                    struct cairn_diag *d)
{
    struct sockaddr_storage ss;
    struct xray_http_server *s;
    int namelen = sizeof(ss), rc, err;

    memset(&ss, 0, sizeof(ss));
    err = parse_listen(listen, &ss, d);
    if (err)
        return err;
    s = cairn_xcalloc(1, sizeof(*s));
    s->lim = *lim;
    s->fn = fn;
    s->arg = arg;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen);
    if (rc != 0) {
        s->stopping = 1;
        xray_http_stop(s);
        return cairn_diag_set(d, CAIRN_EIO, "listen %s: %s", listen,
                              uv_strerror(rc));
    }
    s->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

int xray_http_port(const struct xray_http_server *s)
{
    return s->port;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct xray_http_server *s = h->data;

    s->listener_closed = 1;
    maybe_free_server(s);
}

void xray_http_stop(struct xray_http_server *s)
{
    if (!s)
        return;
    s->stopping = 1;
    for (struct xray_http_exchange *c = s->conns; c; c = c->next)
        close_conn(c);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
