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
 * Exit status 0 when every request got an answer, 1 otherwise.
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
    t0 = now_real();
    loop(&r, 0);
    t1 = now_real();
    printf("done ok200=%ld other=%ld errors=%ld seconds=%.3f rate=%.0f\n",
           ok200, other, errs, t1 - t0, (double)(ok200 + other) / (t1 - t0));
    return errs || other ? 1 : 0;
}

int main(int argc, char **argv)
{
    FILE *f;

    if (argc != 5) {
        fprintf(stderr, "usage: servebench longpoll|post PORT FILE N\n");
        return 2;
    }
    raise_nofile();
    port = (int)strtol(argv[2], NULL, 10);
    f = fopen(argv[3], "r");
    if (!f)
        die(argv[3]);
    if (strcmp(argv[1], "longpoll") == 0)
        return longpoll(f, (int)strtol(argv[4], NULL, 10));
    return post(f, (size_t)strtol(argv[4], NULL, 10));
}
