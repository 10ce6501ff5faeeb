/*
 * Load client for tests/bench/serve (epoll, one thread, no libraries):
 *
 *   servebench longpoll PORT FILE REPEAT
 *     FILE lines: "PATH<TAB>TOKEN<TAB>ETAG". Opens REPEAT connections per
 *     line, each sending GET PATH?wait=300 with If-None-Match: ETAG, prints
 *     "ready N" once every request is written, then waits for the answers
 *     and prints "done ok200=N other=N errors=N first=T last=T" (T: Unix
 *     time of the first/last complete answer, microsecond resolution).
 *
 *   servebench post PORT FILE CONNS
 *     FILE lines: "KEY<TAB>PATH<TAB>TOKEN<TAB>BODY" (BODY on one line).
 *     Lines with the same KEY go, in file order, over the same keep-alive
 *     connection (one request at a time), so per-site order holds; CONNS
 *     connections in all. Prints "done ok200=N other=N errors=N seconds=S
 *     rate=R" with R the answered requests per second.
 *
 *   servebench get PORT FILE CONNS SECONDS [PIPELINE]
 *     FILE lines: "PATH<TAB>HEADER<TAB>HEADER..." (each HEADER "Name:
 *     value"). The requests are built once; CONNS keep-alive connections
 *     send them for SECONDS, rotating over the lines, PIPELINE requests at
 *     a time per connection (default 1: one request, its answer, the next).
 *     A line with If-None-Match must get 304, any other 200 (with the same
 *     body length every time). Prints "done ok=N other=N errors=N
 *     seconds=S rate=R cpu=C" (R: answers per second; C: this client's
 *     CPU share, 100 = one core) and exits 1 when any answer was other or
 *     any error happened.
 *
 * longpoll, post: exit status 0 when every request got an answer, 1
 * otherwise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536
#define MAX_CONNECTING 256

struct req {
    char *text; /* the whole request */
    size_t len;
};

struct conn {
    int fd;
    int state; /* 0 idle/unconnected, 1 connecting, 2 writing, 3 reading, 4 done
                */
    struct req *q; /* queue of requests (post) or one (longpoll) */
    size_t nq, next;
    size_t off; /* bytes of the current request written */
    char *buf;
    size_t blen;
};

static int port;
static long ok200, other, errs;
static double first_t, last_t;

static double now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int open_conn(void)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
        errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* A complete response in c->buf: its status and total length, else 0. */
static size_t response_len(struct conn *c, int *status)
{
    char *end = memmem(c->buf, c->blen, "\r\n\r\n", 4), *cl;
    size_t head, body = 0;

    if (!end)
        return 0;
    head = (size_t)(end - c->buf) + 4;
    *status = (int)strtol(c->buf + 9, NULL, 10); /* "HTTP/1.1 NNN" */
    cl = memmem(c->buf, head, "Content-Length:", 15);
    if (!cl)
        cl = memmem(c->buf, head, "content-length:", 15);
    if (cl)
        body = strtoul(cl + 15, NULL, 10);
    return c->blen >= head + body ? head + body : 0;
}

static void record(int status)
{
    double t = now_real();

    if (status == 200)
        ok200++;
    else
        other++;
    if (first_t == 0)
        first_t = t;
    last_t = t;
}

static int write_some(struct conn *c)
{
    struct req *r = &c->q[c->next];

    while (c->off < r->len) {
        ssize_t n = write(c->fd, r->text + c->off, r->len - c->off);

        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        c->off += (size_t)n;
    }
    c->state = 3;
    return 1;
}

/* Read what is there; 1 when a response completed, 0 more to come, -1 error. */
static int read_some(struct conn *c)
{
    int status = 0;
    size_t len;

    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->blen, RBUF - c->blen);

        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return -1;
        c->blen += (size_t)n;
        if (c->blen == RBUF)
            return -1;
    }
    len = response_len(c, &status);
    if (!len)
        return 0;
    record(status);
    memmove(c->buf, c->buf + len, c->blen - len);
    c->blen -= len;
    return 1;
}

static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- the event loop
 * ------------------------------------------------------------ */

struct run {
    int ep;
    struct conn *cs;
    size_t n, started, connecting, finished;
    int close_after; /* longpoll: one request per connection */
};

static void start_next(struct run *r)
{
    while (r->started < r->n && r->connecting < MAX_CONNECTING) {
        struct conn *c = &r->cs[r->started];
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};

        c->fd = open_conn();
        c->state = 1;
        c->buf = malloc(RBUF);
        if (!c->buf || epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl");
        r->started++;
        r->connecting++;
    }
}

static void finish_conn(struct run *r, struct conn *c, int failed)
{
    if (failed)
        errs += (long)(c->nq - c->next);
    epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    c->buf = NULL;
    c->state = 4;
    r->finished++;
}

static void on_event(struct run *r, struct conn *c, uint32_t events)
{
    int rc;

    if (c->state == 1) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

        r->connecting--;
        c->state = 2;
        epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    if (c->state == 2 && (rc = write_some(c)) < 0) {
        finish_conn(r, c, 1);
        return;
    }
    if (c->state != 3 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    rc = read_some(c);
    if (rc < 0) {
        finish_conn(r, c, 1);
    } else if (rc == 1) {
        c->next++;
        c->off = 0;
        if (c->next == c->nq || r->close_after) {
            finish_conn(r, c, 0);
        } else {
            c->state = 2;
            if (write_some(c) < 0)
                finish_conn(r, c, 1);
        }
    }
}

/* Run until every connection is done; ready: print when all are written. */
static void loop(struct run *r, int announce)
{
    struct epoll_event evs[512];
    int said = 0;

    r->ep = epoll_create1(0);
    start_next(r);
    while (r->finished < r->n) {
        int k = epoll_wait(r->ep, evs, 512, 1000);

        for (int i = 0; i < k; i++)
            on_event(r, evs[i].data.ptr, evs[i].events);
        start_next(r);
        if (announce && !said && r->started == r->n && r->connecting == 0) {
            size_t writing = 0;

            for (size_t i = 0; i < r->n; i++)
                writing += r->cs[i].state == 2;
            if (!writing) {
                printf("ready %zu\n", r->n);
                fflush(stdout);
                said = 1;
            }
        }
    }
}

/* ---- input
 * ----------------------------------------------------------------------- */

static char **split(char *line, int n)
{
    static char *f[8];

    for (int i = 0; i < n; i++) {
        f[i] = line;
        line = i + 1 < n ? strchr(line, '\t') : NULL;
        if (i + 1 < n) {
            if (!line)
                return NULL;
            *line++ = '\0';
        }
    }
    f[n - 1][strcspn(f[n - 1], "\r\n")] = '\0';
    return f;
}

static struct req make_req(const char *method, const char *path,
                           const char *token, const char *extra,
                           const char *body)
{
    struct req q;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(path) + strlen(token) + strlen(extra) + blen + 256;

    q.text = malloc(cap);
    if (!q.text)
        die("malloc");
    q.len = (size_t)snprintf(
        q.text, cap,
        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
        "%sContent-Length: %zu\r\n\r\n%s",
        method, path, token, extra, blen, body ? body : "");
    return q;
}

static int longpoll(FILE *f, int repeat)
{
    struct run r = {0};
    char line[8192];
    size_t alloc = 0;

    r.close_after = 1;
    while (fgets(line, sizeof(line), f)) {
        char **fl = split(line, 3), path[8300], hdr[8300];

        if (!fl)
            continue;
        snprintf(path, sizeof(path), "%s?wait=300", fl[0]);
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", fl[2]);
        for (int i = 0; i < repeat; i++) {
            if (r.n == alloc) {
                alloc = alloc ? alloc * 2 : 1024;
                r.cs = realloc(r.cs, alloc * sizeof(*r.cs));
                if (!r.cs)
                    die("realloc");
            }
            memset(&r.cs[r.n], 0, sizeof(r.cs[0]));
            r.cs[r.n].q = malloc(sizeof(struct req));
            r.cs[r.n].q[0] = make_req("GET", path, fl[1], hdr, NULL);
            r.cs[r.n].nq = 1;
            r.n++;
        }
    }
    loop(&r, 1);
    printf("done ok200=%ld other=%ld errors=%ld first=%.6f last=%.6f\n", ok200,
           other, errs, first_t, last_t);
    return errs || other ? 1 : 0;
}

/* FNV-1a of the key picks the connection. */
static size_t conn_of(const char *key, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return (size_t)(h % n);
}

static int post(FILE *f, size_t conns)
{
    struct run r = {0};
    char *line = NULL;
    size_t cap = 0;
    double t0, t1;
    size_t *alloc = calloc(conns, sizeof(size_t));

    r.n = conns;
    r.cs = calloc(conns, sizeof(*r.cs));
    while (getline(&line, &cap, f) > 0) {
        char **fl = split(line, 4);
        struct conn *c;

        if (!fl)
            continue;
        c = &r.cs[conn_of(fl[0], conns)];
        if (c->nq == alloc[c - r.cs]) {
            alloc[c - r.cs] = alloc[c - r.cs] ? alloc[c - r.cs] * 2 : 64;
            c->q = realloc(c->q, alloc[c - r.cs] * sizeof(struct req));
        }
        c->q[c->nq++] = make_req("POST", fl[1], fl[2],
                                 "Content-Type: application/json\r\n", fl[3]);
    }
    free(line);
    /* a connection no key hashed to has nothing to send: drop it */
    r.n = 0;
    for (size_t i = 0; i < conns; i++)
        if (r.cs[i].nq)
            r.cs[r.n++] = r.cs[i];
    t0 = now_real();
    loop(&r, 0);
    t1 = now_real();
    printf("done ok200=%ld other=%ld errors=%ld seconds=%.3f rate=%.0f\n",
           ok200, other, errs, t1 - t0, (double)(ok200 + other) / (t1 - t0));
    return errs || other ? 1 : 0;
}

/* ---- get: timed keep-alive GETs, optionally pipelined
 * ------------------------------------------------ */

#define GET_LINE_MAX 16384

/*
 * Every request is built once into one buffer, back to back, with the first
 * PIPELINE of them repeated at its end: a batch of PIPELINE requests
 * starting at any line is then one contiguous write. A connection sends a
 * batch, reads its PIPELINE answers, and takes the next batch from a shared
 * cursor, so together the connections rotate over every line.
 */
struct getset {
    char *text;    /* every request, back to back, then the wrap-around */
    size_t *off;   /* entry j spans off[j]..off[j + 1] (j < n + pipe) */
    int *want;     /* the status line i must get: 304 or 200 */
    size_t *bodyl; /* line i's body length, from its first 200 */
    size_t n, pipe, cursor;
    long ok, other, errs;
    int shown; /* mismatches printed so far */
};

struct gconn {
    int fd;
    int connecting, pollout, closing;
    size_t first, due; /* the batch's first line; answers still due */
    size_t wrote, wlen;
    size_t blen;
    char buf[RBUF];
};

/* Writes line's request ("PATH<TAB>Name: value<TAB>...") at out (room:
 * strlen(line) + 64); sets want[n] (304 when it has If-None-Match). */
static size_t get_build(struct getset *g, char *line, char *out, size_t room)
{
    char *h, *next;
    size_t len;

    line[strcspn(line, "\r\n")] = '\0';
    h = strchr(line, '\t');
    if (h)
        *h++ = '\0';
    g->want[g->n] = 200;
    len = (size_t)snprintf(out, room, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                           line); /* every step checks len < room */
    for (; h && *h; h = next) {
        next = strchr(h, '\t');
        if (next)
            *next++ = '\0';
        if (strncasecmp(h, "If-None-Match:", 14) == 0)
            g->want[g->n] = 304;
        if (len < room)
            len += (size_t)snprintf(out + len, room - len, "%s\r\n", h);
    }
    if (len < room)
        len += (size_t)snprintf(out + len, room - len, "\r\n");
    if (len >= room)
        die("request line too long for its buffer");
    return len;
}

/* Appends lines 0..pipe-1 (mod n) again after the last line. */
static void get_wrap(struct getset *g, size_t used)
{
    size_t extra = 0;

    for (size_t k = 0; k < g->pipe; k++)
        extra += g->off[k % g->n + 1] - g->off[k % g->n];
    g->text = realloc(g->text, used + extra);
    g->off = realloc(g->off, (g->n + g->pipe + 1) * sizeof(*g->off));
    g->bodyl = calloc(g->n, sizeof(*g->bodyl));
    if (!g->text || !g->off || !g->bodyl)
        die("malloc");
    for (size_t k = 0; k < g->pipe; k++) {
        size_t i = k % g->n, len = g->off[i + 1] - g->off[i];

        memcpy(g->text + used, g->text + g->off[i], len);
        used += len;
        g->off[g->n + k + 1] = used;
    }
}

static void get_load(struct getset *g, FILE *f)
{
    char line[GET_LINE_MAX];
    size_t cap = 1 << 20, used = 0, alloc = 1024;

    g->text = malloc(cap);
    g->off = malloc(alloc * sizeof(*g->off));
    g->want = malloc(alloc * sizeof(*g->want));
    while (g->text && g->off && g->want && fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "servebench get: a line over %d bytes\n",
                    GET_LINE_MAX);
            exit(2);
        }
        if (line[0] == '\n' || line[0] == '#')
            continue;
        if (used + strlen(line) + 64 > cap)
            g->text = realloc(g->text, cap *= 2);
        if (g->n + 1 == alloc) {
            alloc *= 2;
            g->off = realloc(g->off, alloc * sizeof(*g->off));
            g->want = realloc(g->want, alloc * sizeof(*g->want));
        }
        if (!g->text || !g->off || !g->want)
            break;
        g->off[g->n] = used;
        used += get_build(g, line, g->text + used, cap - used);
        g->n++;
    }
    if (!g->text || !g->off || !g->want)
        die("malloc");
    if (g->n == 0) {
        fprintf(stderr, "servebench get: no requests in the file\n");
        exit(2);
    }
    g->off[g->n] = used;
    get_wrap(g, used);
}

/* Case-insensitive: does the header block [h, end) have "name: value"?
 * value NULL: returns the value's start (or NULL) instead of matching. */
static const char *header_of(const char *h, const char *end, const char *name)
{
    size_t nl = strlen(name);

    while (h < end) {
        const char *eol = memchr(h, '\n', (size_t)(end - h));

        if (!eol)
            eol = end;
        if ((size_t)(eol - h) > nl && strncasecmp(h, name, nl) == 0 &&
            h[nl] == ':') {
            for (h += nl + 1; h < eol && (*h == ' ' || *h == '\t'); h++)
                ;
            return h;
        }
        h = eol + 1;
    }
    return NULL;
}

/*
 * The response at p (n bytes there): its length once complete, 0 while
 * incomplete, -1 when it cannot be framed (no status line, a body without
 * Content-Length). A 304 (or 1xx, 204) has no body whatever it says.
 */
static long get_frame(const char *p, size_t n, int *status, size_t *body,
                      int *close_after)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4), *v;
    size_t head;

    if (!end)
        return n >= RBUF / 2 ? -1 : 0;
    head = (size_t)(end - p) + 4;
    if (head < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    *body = 0;
    if (*status != 304 && *status != 204 && *status >= 200) {
        v = header_of(p, end, "Content-Length");
        if (!v || *v < '0' || *v > '9')
            return -1;
        *body = strtoul(v, NULL, 10);
        if (*body > RBUF / 2)
            return -1;
    }
    v = header_of(p, end, "Connection");
    *close_after = v && strncasecmp(v, "close", 5) == 0;
    return n >= head + *body ? (long)(head + *body) : 0;
}

/* Counts one answer to line i: ok when it has the status the line wants
 * and, for a 200, the same body length every time. */
static void get_record(struct getset *g, size_t i, int status, size_t body)
{
    int good = status == g->want[i];

    if (good && status == 200) {
        if (!g->bodyl[i])
            g->bodyl[i] = body;
        good = body > 0 && body == g->bodyl[i];
    }
    if (good) {
        g->ok++;
        return;
    }
    g->other++;
    if (g->shown++ < 5) {
        const char *r = g->text + g->off[i];

        fprintf(stderr,
                "servebench get: %.*s -> %d (%zu body bytes), want %d\n",
                (int)strcspn(r, "\r"), r, status, body, g->want[i]);
    }
}

static int get_write(int ep, struct gconn *c, const char *text)
{
    while (c->wrote < c->wlen) {
        ssize_t n = write(c->fd, text + c->wrote, c->wlen - c->wrote);

        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
                                     .data.ptr = c};

            c->pollout = 1;
            return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        if (n <= 0)
            return -1;
        c->wrote += (size_t)n;
    }
    if (c->pollout) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

        c->pollout = 0;
        return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return 0;
}

/* The next batch from the shared cursor. */
static int get_send(struct getset *g, int ep, struct gconn *c)
{
    c->first = g->cursor;
    g->cursor = (g->cursor + g->pipe) % g->n;
    c->due = g->pipe;
    c->wrote = 0;
    c->wlen = g->off[c->first + g->pipe] - g->off[c->first];
    return get_write(ep, c, g->text + g->off[c->first]);
}

/* One read, then every complete answer; -1 closes the connection. */
static int get_read(struct getset *g, struct gconn *c)
{
    ssize_t n = read(c->fd, c->buf + c->blen, RBUF - c->blen);
    size_t pos = 0;

    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0)
        return -1;
    c->blen += (size_t)n;
    while (c->due > 0) {
        int status, close_after;
        size_t body;
        long len = get_frame(c->buf + pos, c->blen - pos, &status, &body,
                             &close_after);

        if (len < 0)
            return -1;
        if (len == 0)
            break;
        get_record(g, (c->first + g->pipe - c->due) % g->n, status, body);
        c->due--;
        pos += (size_t)len;
        c->closing |= close_after;
    }
    memmove(c->buf, c->buf + pos, c->blen - pos);
    c->blen -= pos;
    return c->due == 0 && c->blen > 0 ? -1 : 0; /* bytes nobody asked for */
}

static void get_open(int ep, struct gconn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

    c->fd = open_conn();
    c->connecting = 1;
    c->pollout = 1;
    c->closing = 0;
    c->due = 0;
    c->blen = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* A connection that failed (or was told to close): what it still owed is
 * an error, unless the server said Connection: close after the last one. */
static void get_reopen(struct getset *g, int ep, struct gconn *c, int failed)
{
    if (failed)
        g->errs += c->due ? (long)c->due : 1;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    get_open(ep, c);
}

static void get_event(struct getset *g, int ep, struct gconn *c, uint32_t evs)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
            get_reopen(g, ep, c, 1);
            return;
        }
        c->connecting = 0;
        if (get_send(g, ep, c) != 0)
            get_reopen(g, ep, c, 1);
        return;
    }
    if ((evs & EPOLLOUT) && c->wrote < c->wlen &&
        get_write(ep, c, g->text + g->off[c->first]) != 0) {
        get_reopen(g, ep, c, 1);
        return;
    }
    if (!(evs & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    if (get_read(g, c) != 0) {
        get_reopen(g, ep, c, 1);
    } else if (c->due == 0 && c->closing) {
        get_reopen(g, ep, c, 0);
    } else if (c->due == 0 && get_send(g, ep, c) != 0) {
        get_reopen(g, ep, c, 1);
    }
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * CONNS connections for SECONDS; answers still due at the end are not
 * counted either way. Prints the figures and the client's own CPU share
 * (near 100 means the client, not the server, was the limit).
 */
static int get(FILE *f, size_t conns, double seconds, size_t pipe)
{
    struct getset g = {0};
    struct gconn *cs = calloc(conns, sizeof(*cs));
    struct epoll_event evs[512];
    int ep = epoll_create1(0);
    double t0, t1, c0;

    g.pipe = pipe;
    get_load(&g, f);
    if (!cs || ep < 0)
        die("calloc");
    c0 = cpu_seconds();
    t0 = now_real();
    for (size_t i = 0; i < conns; i++)
        get_open(ep, &cs[i]);
    for (t1 = t0; t1 - t0 < seconds; t1 = now_real()) {
        int k = epoll_wait(ep, evs, 512, 100);

        for (int i = 0; i < k; i++)
            get_event(&g, ep, evs[i].data.ptr, evs[i].events);
    }
    printf("done ok=%ld other=%ld errors=%ld seconds=%.3f rate=%.0f "
           "cpu=%.0f\n",
           g.ok, g.other, g.errs, t1 - t0, (double)(g.ok + g.other) / (t1 - t0),
           (cpu_seconds() - c0) / (t1 - t0) * 100);
    for (size_t i = 0; i < conns; i++)
        close(cs[i].fd);
    close(ep);
    free(cs);
    free(g.text);
    free(g.off);
    free(g.want);
    free(g.bodyl);
    return g.ok == 0 || g.other || g.errs ? 1 : 0;
}

int main(int argc, char **argv)
{
    FILE *f;
    int is_get = argc > 1 && strcmp(argv[1], "get") == 0;

    if (is_get ? argc != 6 && argc != 7 : argc != 5) {
        fprintf(stderr, "usage: servebench longpoll|post PORT FILE N\n"
                        "       servebench get PORT FILE CONNS SECONDS "
                        "[PIPELINE]\n");
        return 2;
    }
    raise_nofile();
    port = (int)strtol(argv[2], NULL, 10);
    f = fopen(argv[3], "r");
    if (!f)
        die(argv[3]);
    if (is_get) {
        long conns = strtol(argv[4], NULL, 10);
        long pipe = argc == 7 ? strtol(argv[6], NULL, 10) : 1;
        double secs = strtod(argv[5], NULL);

        if (conns < 1 || conns > 100000 || pipe < 1 || pipe > 64 || secs <= 0) {
            fprintf(stderr, "servebench get: CONNS 1..100000, SECONDS > 0, "
                            "PIPELINE 1..64\n");
            return 2;
        }
        return get(f, (size_t)conns, secs, (size_t)pipe);
    }
    if (strcmp(argv[1], "longpoll") == 0)
        return longpoll(f, (int)strtol(argv[4], NULL, 10));
    return post(f, (size_t)strtol(argv[4], NULL, 10));
}
