/*
 * sd_notify protocol (see docs/internals/sdnotify.md): a datagram of
 * newline-separated assignments to the AF_UNIX socket in $NOTIFY_SOCKET.
 */
#include "cairn/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int cairn_sdnotify_enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");

    return s && *s;
}

/* NOTIFY_SOCKET -> sockaddr: "/path" as is, "@name" as an abstract socket
 * (leading NUL, length counts exactly the name, no terminator). */
static int notify_addr(const char *s, struct sockaddr_un *sa, socklen_t *len,
                       struct cairn_diag *d)
{
    size_t n = strlen(s);

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if ((s[0] != '/' && s[0] != '@') || n < 2)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "NOTIFY_SOCKET=%s: not a path or @abstract name",
                              s);
    if (n > sizeof(sa->sun_path) - (s[0] == '/'))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "NOTIFY_SOCKET: longer than %zu bytes",
                              sizeof(sa->sun_path) - 1);
    memcpy(sa->sun_path, s, n);
    if (s[0] == '@')
        sa->sun_path[0] = '\0';
    *len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/'));
    return 0;
}

int cairn_sdnotify_send(const char *msg, struct cairn_diag *d)
{
    const char *env = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    socklen_t salen = 0;
    size_t n;
    ssize_t w;
    int fd, rc;

    if (!msg || !*msg)
        return cairn_diag_set(d, CAIRN_EINVAL, "sd_notify: empty message");
    n = strlen(msg);
    if (n > CAIRN_SDNOTIFY_MAX)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "sd_notify: message over %d bytes",
                              CAIRN_SDNOTIFY_MAX);
    if (!env || !*env)
        return 0;
    rc = notify_addr(env, &sa, &salen, d);
    if (rc)
        return rc;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return cairn_diag_set(d, CAIRN_EIO, "sd_notify: socket: %s",
                              strerror(errno));
    do
        w = sendto(fd, msg, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        rc = cairn_diag_set(d, errno == EAGAIN ? CAIRN_EAGAIN : CAIRN_EIO,
                            "sd_notify: send to %s: %s", env, strerror(errno));
    else if ((size_t)w != n)
        rc = cairn_diag_set(d, CAIRN_EIO, "sd_notify: short send to %s", env);
    close(fd);
    return rc;
}

int cairn_sdnotify_ready(struct cairn_diag *d)
{
    return cairn_sdnotify_send("READY=1", d);
}

int cairn_sdnotify_stopping(struct cairn_diag *d)
{
    return cairn_sdnotify_send("STOPPING=1", d);
}

int cairn_sdnotify_watchdog(struct cairn_diag *d)
{
    return cairn_sdnotify_send("WATCHDOG=1", d);
}

int cairn_sdnotify_status(struct cairn_diag *d, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    size_t i;
    int n;

    memcpy(buf, "STATUS=", 7);
    va_start(ap, fmt);
    n = vsnprintf(buf + 7, sizeof(buf) - 7, fmt, ap);
    va_end(ap);
    if (n < 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "sd_notify: bad status format");
    /* One assignment only: a newline in the text would start another
     * (say, MAINPID=...). Long texts are truncated, not refused. */
    for (i = 7; buf[i]; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    return cairn_sdnotify_send(buf, d);
}

/* A positive decimal number, digits only. */
static int parse_u64(const char *name, const char *s, uint64_t *out,
                     struct cairn_diag *d)
{
    unsigned long long v;
    char *end;

    if (!*s || s[0] < '0' || s[0] > '9')
        return cairn_diag_set(d, CAIRN_EPARSE, "%s=%s: not a number", name, s);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v == 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "%s=%s: not a positive number",
                              name, s);
    *out = v;
    return 0;
}

int cairn_sdnotify_watchdog_usec(uint64_t *usec, struct cairn_diag *d)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    uint64_t v = 0, p = 0;
    int rc;

    if (!usec)
        return cairn_diag_set(d, CAIRN_EINVAL, "watchdog_usec: NULL argument");
    if (!us) {
        *usec = 0;
        return 0;
    }
    rc = parse_u64("WATCHDOG_USEC", us, &v, d);
    if (rc)
        return rc;
    if (pid) {
        rc = parse_u64("WATCHDOG_PID", pid, &p, d);
        if (rc)
            return rc;
        /* The variables are inherited by children: only the named process
         * is watched. */
        if (p != (uint64_t)getpid())
            v = 0;
    }
    *usec = v;
    return 0;
}
