/*
 * HTTP client: libcurl multi interface on a libuv loop. See
 * docs/internals/httpc.md for the design and the lifetime rules.
 */
#include "cairn/httpc.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cairn/log.h"
#include "cairn/mem.h"

#define HDR_VALUE_MAX 256         /* per header of interest, with NUL */
#define HDR_TOTAL_MAX (64 * 1024) /* all response header lines together */
#define ERR_BODY_MAX 4096         /* non-2xx body kept in streaming mode */
#define ERR_BODY_READ (64 * 1024) /* ...and read at most, then hang up */
#define ERR_BODY_MS 30000         /* ...within this long of its first byte */
#define MEM_BODY_DEFAULT (1024 * 1024)
#define MSG_MAX 512

/* One socket curl asked us to watch. */
struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct cairn_httpc *c;
    struct sock *prev, *next;
};

enum deferred_op { OP_NONE, OP_ADD, OP_CANCEL };

struct hdrs {
    long status;
    int64_t content_length;
    char etag[HDR_VALUE_MAX];
    char content_range[HDR_VALUE_MAX];
    char content_type[HDR_VALUE_MAX];
    char retry_after[HDR_VALUE_MAX];
    int has_location;
};

struct cairn_httpc_req {
    struct cairn_httpc *c;
    CURL *easy;
    struct curl_slist *slist;
    char *method;
    char *url;
    cairn_httpc_head_cb on_head;
    cairn_httpc_data_cb on_data;
    cairn_httpc_done_cb done;
    void *arg;
    uint64_t max_body;
    uint64_t body_bytes;
    int nobody;
    int follow;
    struct cairn_buf body;
    struct hdrs h;
    size_t hdr_total;
    int head_done;
    int added;         /* attached to the multi handle */
    int completed;     /* done fired (or firing) */
    int cancel_req;    /* cancel asked */
    int err_cut;       /* a streamed error body hit ERR_BODY_READ: cut short */
    int64_t err_since; /* ms (monotonic) of its first byte, 0 before */
    int abort_err;     /* first error a callback of ours decided */
    char abort_msg[MSG_MAX];
    char errbuf[CURL_ERROR_SIZE];
    enum deferred_op op;
    struct cairn_httpc_req *prev, *next;   /* active list */
    struct cairn_httpc_req *dprev, *dnext; /* deferred list */
};

struct cairn_httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t idle;
    char *ca_file;
    char *user_agent;
    long connect_timeout_ms;
    struct cairn_httpc_req *active;
    struct cairn_httpc_req *dhead, *dtail;
    struct sock *socks;
    int in_curl; /* >0 while curl may be running our callbacks */
    int closing;
    int open_handles;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static void check_done(struct cairn_httpc *c);
static void finish_close(struct cairn_httpc *c);

/* ---- small helpers ---------------------------------------------------- */

static void req_abort(struct cairn_httpc_req *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void req_abort(struct cairn_httpc_req *r, int err, const char *fmt, ...)
{
    va_list ap;

    if (r->abort_err)
        return;
    r->abort_err = err;
    va_start(ap, fmt);
    vsnprintf(r->abort_msg, sizeof(r->abort_msg), fmt, ap);
    va_end(ap);
}

static int is_2xx(long status)
{
    return status >= 200 && status <= 299;
}

/* CURLcode -> cairn error. Callback aborts are resolved before this. */
static int map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return CAIRN_ETIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return CAIRN_ETOOBIG;
    case CURLE_OUT_OF_MEMORY:
        return CAIRN_ENOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return CAIRN_EINVAL;
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_WEIRD_SERVER_REPLY:
        return CAIRN_EHTTP;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return CAIRN_ECANCELED;
    default:
        return CAIRN_ENET;
    }
}

/* ---- deferred work (runs from an idle handle, outside curl) ----------- */

static void defer_unlink(struct cairn_httpc *c, struct cairn_httpc_req *r)
{
    if (r->op == OP_NONE)
        return;
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        c->dhead = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    else
        c->dtail = r->dprev;
    r->dprev = r->dnext = NULL;
    r->op = OP_NONE;
}

static void on_idle(uv_idle_t *h);

/* Queue r for op on the next loop turn (r NULL: just make sure the idle
 * pass runs). A request already queued keeps its slot: a queued ADD checks
 * the cancel flag when it runs. */
static void defer(struct cairn_httpc *c, struct cairn_httpc_req *r,
                  enum deferred_op op)
{
    if (r && r->op == OP_NONE) {
        r->op = op;
        r->dprev = c->dtail;
        r->dnext = NULL;
        if (c->dtail)
            c->dtail->dnext = r;
        else
            c->dhead = r;
        c->dtail = r;
    }
    if (!uv_is_active((uv_handle_t *)&c->idle))
        uv_idle_start(&c->idle, on_idle);
}

static void active_unlink(struct cairn_httpc *c, struct cairn_httpc_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (c->active == r)
        c->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void req_free(struct cairn_httpc_req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->slist);
    cairn_buf_free(&r->body);
    free(r->method);
    free(r->url);
    free(r);
}

/* Fire done once and free the request. Never called from inside curl. */
static void complete(struct cairn_httpc_req *r, int err, const char *msg)
{
    struct cairn_httpc *c = r->c;
    struct cairn_httpc_result res;

    if (r->completed)
        return;
    r->completed = 1;
    defer_unlink(c, r);
    active_unlink(c, r);
    if (r->added)
        curl_multi_remove_handle(c->multi, r->easy);
    r->added = 0;
    memset(&res, 0, sizeof(res));
    res.err = err;
    res.msg = err ? msg : "";
    res.head.status = r->h.status;
    res.head.content_length = r->h.content_length;
    res.head.etag = r->h.etag;
    res.head.content_range = r->h.content_range;
    res.head.content_type = r->h.content_type;
    res.head.retry_after = r->h.retry_after;
    res.body = r->body.data ? r->body.data : "";
    res.body_len = r->body.len;
    res.body_bytes = r->body_bytes;
    r->done(r, &res, r->arg);
    req_free(r);
}

static void complete_canceled(struct cairn_httpc_req *r)
{
    char msg[MSG_MAX];

    snprintf(msg, sizeof(msg), "%s %s: canceled", r->method, r->url);
    complete(r, CAIRN_ECANCELED, msg);
}

static void run_deferred(struct cairn_httpc *c)
{
    struct cairn_httpc_req *r;
    enum deferred_op op;
    CURLMcode mc;
    char msg[MSG_MAX];

    while ((r = c->dhead) != NULL) {
        op = r->op;
        defer_unlink(c, r);
        if (op == OP_CANCEL || r->cancel_req || c->closing) {
            complete_canceled(r);
            continue;
        }
        mc = curl_multi_add_handle(c->multi, r->easy);
        if (mc != CURLM_OK) {
            snprintf(msg, sizeof(msg), "%s %s: %s", r->method, r->url,
                     curl_multi_strerror(mc));
            complete(r, CAIRN_ENET, msg);
            continue;
        }
        r->added = 1;
    }
}

static void on_idle(uv_idle_t *h)
{
    struct cairn_httpc *c = cairn_container_of(h, struct cairn_httpc, idle);

    run_deferred(c);
    if (!c->dhead)
        uv_idle_stop(&c->idle);
    if (c->closing && !c->active && !c->dhead)
        finish_close(c);
}

/* ---- curl <-> libuv glue ---------------------------------------------- */

static void socket_action(struct cairn_httpc *c, curl_socket_t fd, int flags)
{
    int running = 0;

    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl--;
    check_done(c);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock *k = cairn_container_of(p, struct sock, poll);
    int flags = 0;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(k->c, k->fd, flags);
}

static void on_timer(uv_timer_t *t)
{
    struct cairn_httpc *c = cairn_container_of(t, struct cairn_httpc, timer);

    socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct cairn_httpc *c = h->data;

    if (h->type == UV_POLL)
        free(cairn_container_of((uv_poll_t *)h, struct sock, poll));
    if (--c->open_handles > 0)
        return;
    /* Last handle of the client: it can go now. */
    if (c->close_cb)
        c->close_cb(c->close_arg);
    free(c->ca_file);
    free(c->user_agent);
    free(c);
    curl_global_cleanup();
}

static void sock_close(struct cairn_httpc *c, struct sock *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        c->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    uv_close((uv_handle_t *)&k->poll, on_handle_closed);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *ud,
                          void *sockp)
{
    struct cairn_httpc *c = ud;
    struct sock *k = sockp;
    int events = 0;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (k) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_close(c, k);
        }
        return 0;
    }
    if (!k) {
        k = cairn_xcalloc(1, sizeof(*k));
        if (uv_poll_init_socket(c->loop, &k->poll, fd) != 0) {
            free(k);
            return -1;
        }
        k->fd = fd;
        k->c = c;
        k->poll.data = c;
        k->next = c->socks;
        if (c->socks)
            c->socks->prev = k;
        c->socks = k;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, k);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *ud)
{
    struct cairn_httpc *c = ud;

    (void)m;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- response headers and body ---------------------------------------- */

/* Value of "Name: value" when name matches, trimmed; NULL otherwise. */
static const char *header_value(const char *line, size_t n, const char *name,
                                size_t *vlen)
{
    size_t nl = strlen(name), i, end;

    if (n <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return NULL;
    i = nl + 1;
    end = n;
    while (end > i && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
                       line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    while (i < end && (line[i] == ' ' || line[i] == '\t'))
        i++;
    *vlen = end - i;
    return line + i;
}

static int store_value(struct cairn_httpc_req *r, char *dst, const char *name,
                       const char *v, size_t vlen)
{
    if (vlen >= HDR_VALUE_MAX) {
        req_abort(r, CAIRN_ETOOBIG, "%s %s: response header %s is %zu bytes",
                  r->method, r->url, name, vlen);
        return -1;
    }
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return 0;
}

static int64_t parse_length(const char *v, size_t n)
{
    uint64_t x = 0;
    size_t i;

    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    return (int64_t)x;
}

static int take_header(struct cairn_httpc_req *r, const char *line, size_t n)
{
    static const struct {
        const char *name;
        size_t off;
    } keep[] = {
        {"ETag", offsetof(struct hdrs, etag)},
        {"Content-Range", offsetof(struct hdrs, content_range)},
        {"Content-Type", offsetof(struct hdrs, content_type)},
        {"Retry-After", offsetof(struct hdrs, retry_after)},
    };
    const char *v;
    size_t vlen, i;

    if ((v = header_value(line, n, "Content-Length", &vlen)) != NULL) {
        r->h.content_length = parse_length(v, vlen);
        return 0;
    }
    if (header_value(line, n, "Location", &vlen) != NULL) {
        r->h.has_location = 1;
        return 0;
    }
    for (i = 0; i < CAIRN_ARRAY_LEN(keep); i++) {
        v = header_value(line, n, keep[i].name, &vlen);
        if (v)
            return store_value(r, (char *)&r->h + keep[i].off, keep[i].name, v,
                               vlen);
    }
    return 0;
}

/* "HTTP/1.1 200 OK" or "HTTP/2 200": starts a new header block. */
static void take_status_line(struct cairn_httpc_req *r, const char *line,
                             size_t n)
{
    size_t i = 5;
    long code = 0;
    int digits = 0;

    memset(&r->h, 0, sizeof(r->h));
    r->h.content_length = -1;
    while (i < n && line[i] != ' ')
        i++;
    while (i < n && line[i] == ' ')
        i++;
    while (i < n && digits < 3 && line[i] >= '0' && line[i] <= '9') {
        code = code * 10 + (line[i] - '0');
        i++;
        digits++;
    }
    r->h.status = digits == 3 ? code : 0;
}

/* The final response's headers are complete: check caps, tell the caller. */
static int head_final(struct cairn_httpc_req *r)
{
    struct cairn_httpc_head hd;
    int rc;

    r->head_done = 1;
    if (!r->nobody && r->h.content_length >= 0 && r->max_body &&
        (uint64_t)r->h.content_length > r->max_body &&
        (!r->on_data || is_2xx(r->h.status))) {
        req_abort(r, CAIRN_ETOOBIG,
                  "%s %s: Content-Length %" PRId64
                  " exceeds the cap of %" PRIu64,
                  r->method, r->url, r->h.content_length, r->max_body);
        return -1;
    }
    if (!r->on_head)
        return 0;
    hd.status = r->h.status;
    hd.content_length = r->h.content_length;
    hd.etag = r->h.etag;
    hd.content_range = r->h.content_range;
    hd.content_type = r->h.content_type;
    hd.retry_after = r->h.retry_after;
    rc = r->on_head(r, &hd, r->arg);
    if (rc < 0) {
        req_abort(r, rc, "%s %s: %s", r->method, r->url, cairn_strerror(rc));
        return -1;
    }
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct cairn_httpc_req *r = ud;
    size_t n = size * nmemb;

    if (r->cancel_req || r->abort_err)
        return 0;
    r->hdr_total += n;
    if (r->hdr_total > HDR_TOTAL_MAX) {
        req_abort(r, CAIRN_ETOOBIG, "%s %s: response headers exceed %d bytes",
                  r->method, r->url, HDR_TOTAL_MAX);
        return 0;
    }
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        take_status_line(r, p, n);
        return n;
    }
    if ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n')) {
        /* End of a block: interim (1xx) or a redirect curl will follow. */
        if (r->h.status >= 100 && r->h.status < 200)
            return n;
        if (r->follow && r->h.status >= 300 && r->h.status < 400 &&
            r->h.has_location)
            return n;
        return head_final(r) == 0 ? n : 0;
    }
    return take_header(r, p, n) == 0 ? n : 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct cairn_httpc_req *r = ud;
    size_t n = size * nmemb;
    int rc;

    if (r->cancel_req || r->abort_err)
        return 0;
    if (!r->head_done && head_final(r) != 0)
        return 0;
    if (r->on_data && is_2xx(r->h.status)) {
        if (r->max_body && n > r->max_body - r->body_bytes) {
            req_abort(r, CAIRN_ETOOBIG, "%s %s: body exceeds %" PRIu64 " bytes",
                      r->method, r->url, r->max_body);
            return 0;
        }
        rc = r->on_data(r, p, n, r->arg);
        if (rc == CAIRN_HTTPC_PAUSE)
            return CURL_WRITEFUNC_PAUSE;
        if (rc < 0) {
            req_abort(r, rc, "%s %s: %s", r->method, r->url,
                      cairn_strerror(rc));
            return 0;
        }
        r->body_bytes += n;
        return n;
    }
    r->body_bytes += n;
    if (r->on_data) {
        /* Error body in streaming mode: keep the start for messages. Read
         * no more than ERR_BODY_READ of it, for no longer than ERR_BODY_MS:
         * without a timeout (long polls, big downloads) a server could
         * otherwise keep the request busy forever with an endless or
         * trickling error body. (A silent one is the low-speed limit's.) */
        size_t room = ERR_BODY_MAX - r->body.len;
        if (room && cairn_buf_append(&r->body, p, n < room ? n : room) != 0)
            return 0;
        if (!r->err_since)
            r->err_since = mono_ms();
        if (r->body_bytes > ERR_BODY_READ ||
            mono_ms() - r->err_since > ERR_BODY_MS) {
            r->err_cut = 1;
            return 0;
        }
        return n;
    }
    if (cairn_buf_append(&r->body, p, n) != 0) {
        req_abort(r, CAIRN_ETOOBIG, "%s %s: body exceeds %" PRIu64 " bytes",
                  r->method, r->url, r->max_body);
        return 0;
    }
    return n;
}

/* ---- completion ------------------------------------------------------- */

static void finish_transfer(struct cairn_httpc_req *r, CURLcode cc)
{
    char msg[MSG_MAX];
    long status = 0;
    int err;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        r->h.status = status;
    if (r->cancel_req) {
        complete_canceled(r);
        return;
    }
    if (cc == CURLE_OK && !r->abort_err && !r->head_done)
        head_final(r);
    if (r->abort_err) {
        complete(r, r->abort_err, r->abort_msg);
        return;
    }
    /* Status and headers arrived whole; the caller wanted only the start
     * of this error body, and has it. */
    if (r->err_cut && cc == CURLE_WRITE_ERROR) {
        complete(r, 0, "");
        return;
    }
    err = map_curl(cc);
    if (err) {
        snprintf(msg, sizeof(msg), "%s %s: %s%s%s", r->method, r->url,
                 curl_easy_strerror(cc), r->errbuf[0] ? ": " : "", r->errbuf);
        complete(r, err, msg);
        return;
    }
    complete(r, 0, "");
}

static void check_done(struct cairn_httpc *c)
{
    CURLMsg *m;
    char *priv;
    int left;

    if (c->in_curl)
        return;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            finish_transfer((struct cairn_httpc_req *)(void *)priv,
                            m->data.result);
    }
}

/* ---- client ----------------------------------------------------------- */

int cairn_httpc_new(uv_loop_t *loop, const struct cairn_httpc_opts *opts,
                    struct cairn_httpc **out, struct cairn_diag *d)
{
    struct cairn_httpc_opts o = {0};
    struct cairn_httpc *c;

    if (opts)
        o = *opts;
    if (!loop || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: no loop");
    if (o.connect_timeout_ms < 0 || o.max_host_connections < 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: negative option");
    if (o.ca_file && access(o.ca_file, R_OK) != 0)
        return cairn_diag_set(d, CAIRN_ENOENT, "httpc: CA file %s not readable",
                              o.ca_file);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cairn_diag_set(d, CAIRN_ENET, "httpc: curl_global_init failed");
    c = cairn_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        curl_global_cleanup();
        return cairn_diag_set(d, CAIRN_ENET, "httpc: curl_multi_init failed");
    }
    c->ca_file = o.ca_file ? cairn_xstrdup(o.ca_file) : NULL;
    c->user_agent =
        cairn_xstrdup(o.user_agent ? o.user_agent : "cairn/" CAIRN_VERSION);
    c->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms : 10000;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      o.max_host_connections ? o.max_host_connections : 8L);
    uv_timer_init(loop, &c->timer);
    uv_idle_init(loop, &c->idle);
    c->timer.data = c;
    c->idle.data = c;
    c->open_handles = 2;
    *out = c;
    return 0;
}

uv_loop_t *cairn_httpc_loop(const struct cairn_httpc *c)
{
    return c->loop;
}

static void finish_close(struct cairn_httpc *c)
{
    struct sock *k;

    if (!c->multi)
        return;
    curl_multi_cleanup(c->multi); /* may REMOVE sockets through the callback */
    c->multi = NULL;
    while ((k = c->socks) != NULL)
        sock_close(c, k);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

void cairn_httpc_close(struct cairn_httpc *c, void (*close_cb)(void *arg),
                       void *arg)
{
    struct cairn_httpc_req *r;

    if (!c || c->closing)
        return;
    c->closing = 1;
    c->close_cb = close_cb;
    c->close_arg = arg;
    for (r = c->active; r; r = r->next) {
        r->cancel_req = 1;
        defer(c, r, OP_CANCEL);
    }
    defer(c, NULL, OP_NONE); /* the idle pass finishes the close */
}

/* ---- requests --------------------------------------------------------- */

static int valid_method(const char *m)
{
    size_t i, n = strlen(m);

    if (n == 0 || n > 16)
        return 0;
    for (i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return 0;
    return 1;
}

static int check_url(const char *url, struct cairn_diag *d)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int rc = 0;

    if (!u)
        return cairn_diag_set(d, CAIRN_ENOMEM, "httpc: curl_url failed");
    if (strlen(url) > 8192 ||
        curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        rc =
            cairn_diag_set(d, CAIRN_EINVAL, "httpc: malformed URL %.200s", url);
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        rc = cairn_diag_set(d, CAIRN_EINVAL,
                            "httpc: URL scheme %s not allowed "
                            "(http, https only)",
                            scheme);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

static int build_headers(struct cairn_httpc_req *r,
                         const struct cairn_httpc_request *rq,
                         struct cairn_diag *d)
{
    const char *const *h;
    struct curl_slist *n;

    for (h = rq->headers; h && *h; h++) {
        if (strlen(*h) > 8192 || strpbrk(*h, "\r\n") || !strchr(*h, ':') ||
            (*h)[0] == ':')
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "httpc: bad request header "
                                  "\"%.60s\"",
                                  *h);
        n = curl_slist_append(r->slist, *h);
        if (!n)
            return cairn_diag_set(d, CAIRN_ENOMEM, "httpc: header list");
        r->slist = n;
    }
    if (rq->body_len) {
        /* No 100-continue round trip: our servers answer at once. */
        n = curl_slist_append(r->slist, "Expect:");
        if (!n)
            return cairn_diag_set(d, CAIRN_ENOMEM, "httpc: header list");
        r->slist = n;
    }
    return 0;
}

static void set_body(struct cairn_httpc_req *r,
                     const struct cairn_httpc_request *rq)
{
    CURL *e = r->easy;

    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        r->nobody = 1;
        return;
    }
    if (rq->body_len || strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)rq->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                         rq->body_len ? (const char *)rq->body : "");
    }
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    else if (strcmp(r->method, "GET") == 0 && rq->body_len)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
}

static void set_transfer_opts(struct cairn_httpc *c, struct cairn_httpc_req *r,
                              const struct cairn_httpc_request *rq)
{
    CURL *e = r->easy;
    char range[48];

    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->slist);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE,
                     rq->recv_buffer > 0 ? rq->recv_buffer : 64L * 1024);
    if (rq->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
    if (rq->low_speed_limit > 0 && rq->low_speed_time > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, rq->low_speed_limit);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, rq->low_speed_time);
    }
    if (rq->range_start > 0) {
        snprintf(range, sizeof(range), "%" PRIu64 "-", rq->range_start);
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    }
    if (rq->follow_redirects) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    }
    set_body(r, rq);
}

static int validate_request(const struct cairn_httpc_request *rq,
                            cairn_httpc_done_cb done, struct cairn_diag *d)
{
    if (!rq || !rq->url || !done)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "httpc: request needs url and "
                              "done callback");
    if (rq->method && !valid_method(rq->method))
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: bad method \"%.20s\"",
                              rq->method);
    if (rq->body_len && !rq->body)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: body_len without body");
    if (rq->timeout_ms < 0 || rq->low_speed_limit < 0 ||
        rq->low_speed_time < 0 || rq->recv_buffer < 0 ||
        rq->recv_buffer > 10L * 1024 * 1024)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: option out of range");
    if (rq->range_start > (uint64_t)INT64_MAX)
        return cairn_diag_set(d, CAIRN_EINVAL, "httpc: range start too large");
    return check_url(rq->url, d);
}

static struct cairn_httpc_req *req_new(struct cairn_httpc *c,
                                       const struct cairn_httpc_request *rq,
                                       cairn_httpc_done_cb done, void *arg)
{
    struct cairn_httpc_req *r = cairn_xcalloc(1, sizeof(*r));

    r->c = c;
    r->method = cairn_xstrdup(rq->method ? rq->method : "GET");
    r->url = cairn_xstrdup(rq->url);
    r->on_head = rq->on_head;
    r->on_data = rq->on_data;
    r->done = done;
    r->arg = arg;
    r->follow = rq->follow_redirects;
    r->max_body = rq->max_body;
    if (!r->on_data && !r->max_body)
        r->max_body = MEM_BODY_DEFAULT;
    cairn_buf_init(&r->body, r->on_data ? ERR_BODY_MAX : (size_t)r->max_body);
    r->h.content_length = -1;
    return r;
}

int cairn_httpc_start(struct cairn_httpc *c,
                      const struct cairn_httpc_request *rq,
                      cairn_httpc_done_cb done, void *arg,
                      struct cairn_httpc_req **out, struct cairn_diag *d)
{
    struct cairn_httpc_req *r;
    int rc;

    if (!c || c->closing)
        return cairn_diag_set(d, CAIRN_ESTATE, "httpc: client is closing");
    rc = validate_request(rq, done, d);
    if (rc)
        return rc;
    r = req_new(c, rq, done, arg);
    r->easy = curl_easy_init();
    if (!r->easy) {
        rc = cairn_diag_set(d, CAIRN_ENET, "httpc: curl_easy_init failed");
        goto out;
    }
    rc = build_headers(r, rq, d);
    if (rc)
        goto out;
    set_transfer_opts(c, r, rq);
    if (c->in_curl) {
        defer(c, r, OP_ADD); /* curl refuses adds from its own callbacks */
    } else if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        rc = cairn_diag_set(d, CAIRN_ENET,
                            "httpc: curl_multi_add_handle failed");
        goto out;
    } else {
        r->added = 1;
    }
    r->next = c->active;
    if (c->active)
        c->active->prev = r;
    c->active = r;
    if (out)
        *out = r;
    return 0;
out:
    req_free(r);
    return rc;
}

void cairn_httpc_cancel(struct cairn_httpc_req *r)
{
    if (!r || r->completed || r->cancel_req)
        return;
    r->cancel_req = 1;
    defer(r->c, r, OP_CANCEL);
}

void cairn_httpc_resume(struct cairn_httpc_req *r)
{
    if (!r || r->completed || !r->added)
        return;
    r->c->in_curl++;
    curl_easy_pause(r->easy, CURLPAUSE_CONT);
    r->c->in_curl--;
    check_done(r->c);
}

/* ---- header value parsers --------------------------------------------- */

/* Decimal digits at *p into *out; no sign, no overflow. */
static int parse_u64(const char **p, uint64_t *out)
{
    uint64_t x = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *p = s;
    *out = x;
    return 0;
}

int cairn_httpc_parse_content_range(const char *v, uint64_t *first,
                                    uint64_t *last, uint64_t *total)
{
    uint64_t f, l, t;
    const char *p = v;

    if (!v || strncmp(p, "bytes ", 6) != 0)
        return CAIRN_EPARSE;
    p += 6;
    if (parse_u64(&p, &f) != 0 || *p++ != '-' || parse_u64(&p, &l) != 0 ||
        *p++ != '/')
        return CAIRN_EPARSE;
    if (*p == '*' && p[1] == '\0')
        t = UINT64_MAX;
    else if (parse_u64(&p, &t) != 0 || *p != '\0')
        return CAIRN_EPARSE;
    if (f > l || l >= t)
        return CAIRN_EPARSE;
    *first = f;
    *last = l;
    *total = t;
    return 0;
}

int cairn_httpc_parse_retry_after(const char *v, int64_t now, uint32_t cap,
                                  uint32_t *out)
{
    const char *p = v;
    uint64_t secs;
    time_t when;

    if (!v)
        return CAIRN_EPARSE;
    if (*p >= '0' && *p <= '9') {
        if (parse_u64(&p, &secs) != 0 || *p != '\0')
            return CAIRN_EPARSE;
    } else {
        when = curl_getdate(v, NULL);
        if (when == (time_t)-1)
            return CAIRN_EPARSE;
        secs = (int64_t)when > now ? (uint64_t)((int64_t)when - now) : 0;
    }
    *out = secs > cap ? cap : (uint32_t)secs;
    return 0;
}
