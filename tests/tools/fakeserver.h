/*
 * Start and stop tests/tools/fakeserver.py from a C test, and read its
 * request log. Test-only helper (static functions, include once per test).
 */
#ifndef CAIRN_TEST_FAKESERVER_H
#define CAIRN_TEST_FAKESERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct fakeserver {
    pid_t pid;
    int stdin_fd; /* closing it makes the server exit */
    int port;
    char base[64]; /* "http://127.0.0.1:PORT" (https with TLS) */
};

/* Returns 0 on success. cert/key may be NULL (plain http). */
static inline int fakeserver_start(struct fakeserver *s, const char *root,
                                   const char *cert, const char *key)
{
    int in[2], out[2];
    char script[4096], line[64];
    struct pollfd pfd;
    size_t got = 0;
    ssize_t n;

    snprintf(script, sizeof(script), "%s/tests/tools/fakeserver.py",
             CAIRN_SOURCE_DIR);
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        if (cert)
            execl("/usr/bin/python3", "python3", script, "--root", root,
                  "--tls", cert, key, "--lifetime", "300", (char *)NULL);
        else
            execl("/usr/bin/python3", "python3", script, "--root", root,
                  "--lifetime", "300", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    pfd.fd = out[0];
    pfd.events = POLLIN;
    while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
        if (poll(&pfd, 1, 15000) <= 0)
            break;
        n = read(out[0], line + got, sizeof(line) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(out[0]);
    line[got] = '\0';
    if (sscanf(line, "PORT %d", &s->port) != 1) {
        fprintf(stderr, "fakeserver did not start: '%s'\n", line);
        return -1;
    }
    snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d",
             cert ? "https" : "http", s->port);
    return 0;
}

static inline void fakeserver_stop(struct fakeserver *s)
{
    int st;

    if (s->pid <= 0)
        return;
    close(s->stdin_fd);
    if (waitpid(s->pid, &st, 0) < 0)
        perror("waitpid");
    s->pid = 0;
}

/* Blocking plain-HTTP GET of path on the server (for /_log and /_reset).
 * Returns a malloc'd body or NULL. */
static inline char *fakeserver_get(const struct fakeserver *s, const char *path)
{
    struct sockaddr_in sa;
    char req[512], *buf, *body;
    size_t len = 0, cap = 1 << 20;
    ssize_t n;
    int fd;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    buf = malloc(cap + 1);
    while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
    if (!body) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, strlen(body + 4) + 1);
    return buf;
}

/* Count lines of the request log containing needle. */
static inline int fakeserver_count(const struct fakeserver *s,
                                   const char *needle)
{
    char *log = fakeserver_get(s, "/_log"), *p;
    int n = 0;

    if (!log)
        return -1;
    for (p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

static inline void fakeserver_reset(const struct fakeserver *s)
{
    free(fakeserver_get(s, "/_reset"));
}

#endif
