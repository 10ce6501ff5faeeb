/*
 * testworker: a configurable fake workload for the supervisor and health
 * gate tests. Blocking code on purpose (it is a separate process); it
 * binds only to 127.0.0.1. Everything is set through the environment:
 *
 *   TW_PORT=N              serve HTTP on 127.0.0.1:N:
 *                            GET /healthz   200 "ok" once healthy, else 503
 *                            POST /v1/score 200 + TW_GOLDEN_REPLY (a JSON
 *                                           object, default
 *                                           {"band":"Pneumonia","p":0.93})
 *                                           with "inputSha256" and
 *                                           "inputBytes" of the body added;
 *                                           status TW_GOLDEN_STATUS; or
 *                                           TW_GOLDEN_RAW as is
 *                            GET /metrics   200 + TW_METRICS
 *   TW_HEALTHY_AFTER_MS=N  /healthz is 503 for the first N ms
 *   TW_NEVER_HEALTHY=1     /healthz is always 503
 *   TW_EXIT_AFTER_MS=N     exit after N ms with TW_EXIT_CODE (default 1),
 *                          or by signal TW_EXIT_SIGNAL when set
 *   TW_SEQ_FILE=P          count starts in file P; with
 *   TW_EXIT_AFTER_SEQ=a,b  the Nth start exits after the Nth value (ms; the
 *                          last value repeats; -1: never)
 *   TW_IGNORE_TERM=1       ignore SIGTERM (the supervisor must SIGKILL)
 *   TW_TERM_EXIT=C         on SIGTERM exit with status C
 *   TW_CHILD_PIDFILE=P     fork a child in the same process group that
 *                          sleeps forever; write its pid to P
 *   TW_PIDFILE=P           write our own pid to P
 *   TW_PRINT_ENV=1         print "env K=V" for every variable and "cwd D"
 *   TW_LINES=N             print N lines "line I" on stdout at start
 *   TW_LINE_LEN=L          ... each padded with 'x' to L bytes
 *   TW_STDERR=TEXT         print TEXT and a newline on stderr
 *   TW_CTRL=1              print a line holding an escape sequence and a CR
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn/hash.h"

extern char **environ;

static volatile sig_atomic_t got_term;

static long env_num(const char *name, long def)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (!v || !*v)
        return def;
    n = strtol(v, &end, 10);
    return *end ? def : n;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void write_pid(const char *path, pid_t pid)
{
    FILE *f = fopen(path, "w");

    if (f) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *type, const char *body,
                    size_t n)
{
    char head[256];
    int hn =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, n);

    write_all(fd, head, (size_t)hn);
    write_all(fd, body, n);
}

/* Read one request: head up to 64 KiB, body by Content-Length up to 32 MiB. */
static char *read_request(int fd, size_t *head_len, size_t *total)
{
    size_t cap = 1 << 16, len = 0, want = 0;
    char *buf = malloc(cap + 1), *end = NULL;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t r;

        if (end && len >= want)
            break;
        if (poll(&p, 1, 5000) <= 0)
            goto fail;
        if (len == cap) {
            if (cap >= (32u << 20) + (1u << 16))
                goto fail;
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        r = read(fd, buf + len, cap - len);
        if (r <= 0)
            goto fail;
        len += (size_t)r;
        buf[len] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");

            *head_len = (size_t)(end - buf) + 4;
            want =
                *head_len + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
    }
    *total = want;
    return buf;
fail:
    free(buf);
    return NULL;
}

static void score(int fd, const char *body, size_t n)
{
    const char *reply = getenv("TW_GOLDEN_REPLY");
    uint8_t sum[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1], *out;
    size_t cap;
    int len;

    if (getenv("TW_GOLDEN_RAW")) {
        respond(fd, 200, "application/json", getenv("TW_GOLDEN_RAW"),
                strlen(getenv("TW_GOLDEN_RAW")));
        return;
    }
    if (!reply)
        reply = "{\"band\":\"Pneumonia\",\"p\":0.93}";
    cairn_sha256(body, n, sum);
    cairn_hex_encode(sum, sizeof(sum), hex);
    cap = strlen(reply) + 200;
    out = malloc(cap);
    /* Insert our fields after the opening brace. */
    len = snprintf(out, cap, "{\"inputSha256\":\"%s\",\"inputBytes\":%zu%s%s",
                   hex, n, strcmp(reply, "{}") && reply[0] == '{' ? "," : "",
                   reply[0] == '{' ? reply + 1 : "}");
    respond(fd, (int)env_num("TW_GOLDEN_STATUS", 200), "application/json", out,
            (size_t)len);
    free(out);
}

static void serve_one(int lfd, long long started)
{
    int fd = accept(lfd, NULL, NULL);
    size_t head_len = 0, total = 0;
    char *req;

    if (fd < 0)
        return;
    req = read_request(fd, &head_len, &total);
    if (!req) {
        close(fd);
        return;
    }
    if (strncmp(req, "GET /healthz ", 13) == 0) {
        int healthy = !getenv("TW_NEVER_HEALTHY") &&
                      now_ms() - started >= env_num("TW_HEALTHY_AFTER_MS", 0);

        respond(fd, healthy ? 200 : 503, "text/plain",
                healthy ? "ok\n" : "starting\n", healthy ? 3 : 9);
    } else if (strncmp(req, "POST /v1/score ", 15) == 0) {
        score(fd, req + head_len, total - head_len);
    } else if (strncmp(req, "GET /metrics ", 13) == 0) {
        const char *m = getenv("TW_METRICS");

        respond(fd, 200, "text/plain; version=0.0.4", m ? m : "",
                m ? strlen(m) : 0);
    } else {
        respond(fd, 404, "text/plain", "no\n", 3);
    }
    free(req);
    close(fd);
}

static int listen_on(long port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 16) != 0) {
        fprintf(stderr, "testworker: cannot listen on 127.0.0.1:%ld: %s\n",
                port, strerror(errno));
        exit(3);
    }
    return fd;
}

static void print_start(void)
{
    long lines = env_num("TW_LINES", 0), len = env_num("TW_LINE_LEN", 0);
    char cwd[4096];

    if (getenv("TW_PRINT_ENV")) {
        for (char **e = environ; *e; e++)
            printf("env %s\n", *e);
        if (getcwd(cwd, sizeof(cwd)))
            printf("cwd %s\n", cwd);
    }
    for (long i = 0; i < lines; i++) {
        int n = printf("line %ld", i);

        for (long k = n; k < len; k++)
            putchar('x');
        putchar('\n');
    }
    if (getenv("TW_CTRL"))
        printf("evil \033[31mred\033[0m\rcarriage\n");
    fflush(stdout);
    if (getenv("TW_STDERR"))
        fprintf(stderr, "%s\n", getenv("TW_STDERR"));
}

static void start_child(const char *pidfile)
{
    pid_t pid = fork();

    if (pid == 0) {
        for (;;)
            pause();
    }
    if (pid > 0)
        write_pid(pidfile, pid);
}

static void finish(void)
{
    long sig = env_num("TW_EXIT_SIGNAL", 0);

    if (sig) {
        signal((int)sig, SIG_DFL);
        raise((int)sig);
    }
    exit((int)env_num("TW_EXIT_CODE", 1));
}

/* The Nth start (counted in TW_SEQ_FILE) takes the Nth TW_EXIT_AFTER_SEQ
 * value, so that one test can script a run of crashes and a stable run. */
static long seq_exit_after(long def)
{
    const char *path = getenv("TW_SEQ_FILE"),
               *seq = getenv("TW_EXIT_AFTER_SEQ");
    long n = 0, v = def;
    FILE *f;

    if (!path || !seq)
        return def;
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = 0;
        fclose(f);
    }
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld\n", n + 1);
        fclose(f);
    }
    for (long i = 0; i <= n && *seq; i++) {
        char *end;

        v = strtol(seq, &end, 10);
        seq = *end == ',' ? end + 1 : end;
    }
    return v;
}

int main(void)
{
    long long started = now_ms();
    long exit_after = seq_exit_after(env_num("TW_EXIT_AFTER_MS", -1));
    long port = env_num("TW_PORT", 0);
    int lfd = -1;

    if (getenv("TW_PIDFILE"))
        write_pid(getenv("TW_PIDFILE"), getpid());
    if (getenv("TW_IGNORE_TERM"))
        signal(SIGTERM, SIG_IGN);
    else if (getenv("TW_TERM_EXIT"))
        signal(SIGTERM, on_term);
    if (getenv("TW_CHILD_PIDFILE"))
        start_child(getenv("TW_CHILD_PIDFILE"));
    print_start();
    if (port > 0)
        lfd = listen_on(port);
    for (;;) {
        struct pollfd p = {lfd, POLLIN, 0};
        long long left =
            exit_after >= 0 ? started + exit_after - now_ms() : 1000;

        if (got_term)
            exit((int)env_num("TW_TERM_EXIT", 0));
        if (exit_after >= 0 && left <= 0)
            finish();
        if (left > 200)
            left = 200;
        if (poll(&p, lfd >= 0 ? 1 : 0, (int)left) > 0)
            serve_one(lfd, started);
    }
}
