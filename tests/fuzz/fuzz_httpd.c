/*
 * Fuzz target: bytes from a client into cairn's HTTP server. Each input is
 * one connection to a fresh server on 127.0.0.1: written, half-closed, and
 * every response read until the server closes. Routes cover responses,
 * bodies, parameters, queries, headers, parking (aborted by the EOF), a
 * file with Range/If-None-Match handling, and a streamed body behind a head
 * hook that refuses, pauses and resumes (its per-request state is freed by
 * the handler or the abort callback: the leak check proves one runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cairn/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char file_path[64];

static void h_text(struct cairn_httpd_req *req, void *arg)
{
    size_t n;
    const char *b = cairn_httpd_req_body(req, &n);
    const char *v = cairn_httpd_req_query(req, "q");
    const char *h = cairn_httpd_req_header(req, "x-a");
    const char *p = cairn_httpd_req_param(req, "x");
    const char *r = cairn_httpd_req_param(req, "*");
    char out[128];
    int k =
        snprintf(out, sizeof(out), "%zu %zu %zu %zu %zu", n, v ? strlen(v) : 0,
                 h ? strlen(h) : 0, p ? strlen(p) : 0, r ? strlen(r) : 0);

    (void)arg;
    (void)b;
    if (cairn_httpd_resp_header(req, "X-Echo", h ? h : "-") != 0)
        cairn_httpd_bad_request(req, h);
    else
        cairn_httpd_respond(req, 200, "text/plain", out, (size_t)k);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    (void)arg;
    if (ev != CAIRN_HTTPD_PARK_ABORTED)
        cairn_httpd_respond(req, 204, NULL, NULL, 0);
}

static void h_park(struct cairn_httpd_req *req, void *arg)
{
    (void)arg;
    cairn_httpd_park(req, 0, on_park, NULL);
}

static void h_file(struct cairn_httpd_req *req, void *arg)
{
    const char *tag = cairn_httpd_req_query(req, "etag");

    (void)arg;
    if (cairn_httpd_respond_file(req, file_path, NULL, tag) != 0)
        cairn_httpd_not_found(req, "x");
}

/* --- the streamed route ---------------------------------------------- */

struct sstate {
    size_t bytes;
    struct cairn_httpd_req *paused;
};

static uv_timer_t resumer;
static struct sstate *resume_me;

static void on_resume(uv_timer_t *t)
{
    struct sstate *s = resume_me;

    (void)t;
    resume_me = NULL;
    if (s && s->paused) {
        struct cairn_httpd_req *req = s->paused;

        s->paused = NULL;
        cairn_httpd_req_resume(req);
    }
}

static void pause_now(struct cairn_httpd_req *req, struct sstate *s)
{
    s->paused = req;
    resume_me = s;
    cairn_httpd_req_pause(req);
    uv_timer_start(&resumer, on_resume, 0, 0);
}

static void s_head(struct cairn_httpd_req *req, void *arg)
{
    struct sstate *s;

    (void)arg;
    if (cairn_httpd_req_header(req, "x-no")) {
        cairn_httpd_unauthorized(req, "no");
        return;
    }
    s = calloc(1, sizeof(*s));
    cairn_httpd_req_set_data(req, s);
    if (cairn_httpd_req_query(req, "p"))
        pause_now(req, s);
}

static void s_body(struct cairn_httpd_req *req, const char *d, size_t n,
                   void *arg)
{
    struct sstate *s = cairn_httpd_req_data(req);

    (void)arg;
    (void)d;
    s->bytes += n;
    if (cairn_httpd_req_query(req, "fail") && s->bytes > 100) {
        if (resume_me == s)
            resume_me = NULL;
        free(s);
        cairn_httpd_respond_error(req, 507, "full");
        return;
    }
    if (s->bytes & 1)
        pause_now(req, s);
}

static void s_abort(struct cairn_httpd_req *req,
                    enum cairn_httpd_abort_reason why, void *arg)
{
    struct sstate *s = cairn_httpd_req_data(req);

    (void)why;
    (void)arg;
    if (resume_me == s)
        resume_me = NULL;
    free(s);
}

static void s_done(struct cairn_httpd_req *req, void *arg)
{
    struct sstate *s = cairn_httpd_req_data(req);
    char out[32];
    int k = snprintf(out, sizeof(out), "%zu", s->bytes);

    (void)arg;
    if (resume_me == s)
        resume_me = NULL;
    free(s);
    cairn_httpd_respond(req, 200, "text/plain", out, (size_t)k);
}

static int setup(uv_loop_t *loop, struct cairn_httpd **out)
{
    struct cairn_httpd_route_hooks sh = {s_head, s_body, s_abort};
    struct cairn_httpd_config cfg = {.max_header_bytes = 2048,
                                     .max_headers = 16,
                                     .max_body_bytes = 4096,
                                     .linger_ms = 200};
    struct cairn_httpd *srv = cairn_httpd_new(loop, &cfg);
    int rc = 0;

    rc |= cairn_httpd_route(srv, CAIRN_HTTPD_GET | CAIRN_HTTPD_POST, "/t/{x}/*",
                            h_text, NULL, NULL, NULL);
    rc |= cairn_httpd_route(srv, CAIRN_HTTPD_POST | CAIRN_HTTPD_PUT, "/e",
                            h_text, NULL, NULL, NULL);
    rc |=
        cairn_httpd_route(srv, CAIRN_HTTPD_GET, "/p", h_park, NULL, NULL, NULL);
    rc |=
        cairn_httpd_route(srv, CAIRN_HTTPD_GET, "/f", h_file, NULL, NULL, NULL);
    rc |= cairn_httpd_route_hooks(srv, CAIRN_HTTPD_POST, "/s", s_done, NULL,
                                  NULL, &sh, NULL);
    uv_timer_init(loop, &resumer);
    rc |= cairn_httpd_listen(srv, "127.0.0.1", 0, NULL);
    *out = srv;
    return rc;
}

/* A connected non-blocking socket. After a few hundred thousand inputs
 * the loopback's ephemeral ports are all in TIME_WAIT, and libFuzzer's
 * alarm can interrupt connect: retry rather than report the harness's
 * problem as a crash of the server. */
static int client(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 2000; tries++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
        /* EINTR: libFuzzer's timeout alarm interrupted connect. */
        if (errno != EADDRNOTAVAIL && errno != EADDRINUSE && errno != EAGAIN &&
            errno != EINTR)
            break;
        usleep(10000);
    }
    if (fd < 0) {
        perror("fuzz_httpd: connect to the server");
        abort();
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Drive the loop while feeding data and draining responses; 1 once the
 * server has closed. */
static int pump(uv_loop_t *loop, int fd, const uint8_t **data, size_t *left)
{
    char buf[65536];
    ssize_t n;

    uv_run(loop, UV_RUN_NOWAIT);
    if (*left) {
        n = send(fd, *data, *left, MSG_NOSIGNAL);
        if (n > 0) {
            *data += n;
            *left -= (size_t)n;
        }
        if (*left == 0)
            shutdown(fd, SHUT_WR);
    }
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    return n == 0 || (n < 0 && errno != EAGAIN);
}

static void remove_file(void)
{
    unlink(file_path);
}

static void make_file(void)
{
    FILE *f;

    snprintf(file_path, sizeof(file_path), "/tmp/cairn-fuzz-httpd-%d",
             (int)getpid());
    f = fopen(file_path, "w");
    if (!f || fputs("0123456789abcdefghijklmnopqrstuvwxyz", f) < 0)
        abort();
    fclose(f);
    atexit(remove_file);
}

static void on_done(struct cairn_httpd *srv, void *arg)
{
    (void)srv;
    *(int *)arg = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cairn_httpd *srv;
    uv_loop_t loop;
    int fd, i, done = 0;

    if (size > 65536)
        return 0;
    if (!file_path[0])
        make_file();
    uv_loop_init(&loop);
    if (setup(&loop, &srv) != 0)
        abort();
    fd = client(cairn_httpd_port(srv));
    if (size == 0)
        shutdown(fd, SHUT_WR);
    /* Bounded: the server closes soon after the client's EOF. */
    for (i = 0; i < 20000 && !pump(&loop, fd, &data, &size); i++)
        if (i > 100)
            usleep(100);
    close(fd);
    uv_close((uv_handle_t *)&resumer, NULL);
    resume_me = NULL;
    cairn_httpd_stop(srv, on_done, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!done)
        abort();
    cairn_httpd_free(srv);
    uv_loop_close(&loop);
    return 0;
}
