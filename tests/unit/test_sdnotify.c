#include "cairn/sdnotify.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "test.h"

/* A datagram socket to play systemd; returns the fd. name starting with
 * '@' binds an abstract socket. */
static int bind_notify(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 5};
    size_t n = strlen(name);
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) != 0) {
        perror("bind");
        abort();
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Next datagram as a string ("" on timeout). */
static const char *next_msg(int fd)
{
    static char buf[8192];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_path_socket(void)
{
    char *dir = test_tmpdir(), path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/notify", dir);
    fd = bind_notify(path);
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK(cairn_sdnotify_enabled());
    CHECK_INT_EQ(cairn_sdnotify_ready(NULL), 0);
    CHECK_STR_EQ(next_msg(fd), "READY=1");
    CHECK_INT_EQ(cairn_sdnotify_watchdog(NULL), 0);
    CHECK_STR_EQ(next_msg(fd), "WATCHDOG=1");
    CHECK_INT_EQ(cairn_sdnotify_stopping(NULL), 0);
    CHECK_STR_EQ(next_msg(fd), "STOPPING=1");
    CHECK_INT_EQ(cairn_sdnotify_status(NULL, "serving %d sites", 12), 0);
    CHECK_STR_EQ(next_msg(fd), "STATUS=serving 12 sites");
    /* A newline must not smuggle in another assignment. */
    CHECK_INT_EQ(cairn_sdnotify_status(NULL, "bad\nMAINPID=1"), 0);
    CHECK_STR_EQ(next_msg(fd), "STATUS=bad MAINPID=1");
    CHECK_INT_EQ(cairn_sdnotify_send("READY=1\nSTATUS=up", NULL), 0);
    CHECK_STR_EQ(next_msg(fd), "READY=1\nSTATUS=up");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
    test_rm_rf(dir);
    free(dir);
}

static void test_abstract_socket(void)
{
    char name[64];
    int fd;

    snprintf(name, sizeof(name), "@cairn-test-notify-%d", (int)getpid());
    fd = bind_notify(name);
    setenv("NOTIFY_SOCKET", name, 1);
    CHECK_INT_EQ(cairn_sdnotify_ready(NULL), 0);
    CHECK_STR_EQ(next_msg(fd), "READY=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_errors(void)
{
    struct cairn_diag d;
    char big[CAIRN_SDNOTIFY_MAX + 2];

    unsetenv("NOTIFY_SOCKET");
    CHECK(!cairn_sdnotify_enabled());
    CHECK_INT_EQ(cairn_sdnotify_ready(NULL), 0); /* not under systemd */
    CHECK_INT_EQ(cairn_sdnotify_send("", NULL), CAIRN_EINVAL);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT_EQ(cairn_sdnotify_send(big, NULL), CAIRN_ETOOBIG);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_sdnotify_ready(&d), CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "NOTIFY_SOCKET");
    setenv("NOTIFY_SOCKET", "/nonexistent-cairn-dir/notify", 1);
    CHECK_INT_EQ(cairn_sdnotify_ready(NULL), CAIRN_EIO);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void)
{
    char pid[32];
    uint64_t us = 99;

    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), 0);
    CHECK_INT_EQ(us, 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), 0);
    CHECK_INT_EQ(us, 30000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), 0);
    CHECK_INT_EQ(us, 30000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), 0);
    CHECK_INT_EQ(us, 0); /* meant for another process */
    unsetenv("WATCHDOG_PID");
    us = 5;
    setenv("WATCHDOG_USEC", "12abc", 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), CAIRN_EPARSE);
    setenv("WATCHDOG_USEC", "-1", 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), CAIRN_EPARSE);
    setenv("WATCHDOG_USEC", "0", 1);
    CHECK_INT_EQ(cairn_sdnotify_watchdog_usec(&us, NULL), CAIRN_EPARSE);
    CHECK_INT_EQ(us, 5);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    RUN(test_path_socket);
    RUN(test_abstract_socket);
    RUN(test_errors);
    RUN(test_watchdog_usec);
    return test_done();
}
