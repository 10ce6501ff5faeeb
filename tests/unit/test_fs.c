#include "cairn/fs.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test.h"

static char *path_in(const char *dir, const char *rel)
{
    char *p = malloc(PATH_MAX);

    snprintf(p, PATH_MAX, "%s/%s", dir, rel);
    return p;
}

static int exists(const char *p)
{
    struct stat st;

    return lstat(p, &st) == 0;
}

static int count_entries(const char *dir)
{
    char cmd[PATH_MAX + 32];
    int n = -1;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    f = popen(cmd, "r");
    if (f && fscanf(f, "%d", &n) != 1)
        n = -1;
    if (f)
        pclose(f);
    return n;
}

static void test_read_cap(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "f"), *buf = NULL;
    struct cairn_diag d;
    size_t n = 0;

    test_write_file(p, "hello", 5);
    CHECK_INT_EQ(cairn_fs_read(p, 5, &buf, &n, NULL), 0);
    CHECK_INT_EQ(n, 5);
    CHECK_STR_EQ(buf, "hello");
    free(buf);
    buf = NULL;
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_fs_read(p, 4, &buf, &n, &d), CAIRN_ETOOBIG);
    CHECK(buf == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "/f");
    /* /proc files report size 0: the cap must hold while reading too. */
    CHECK_INT_EQ(cairn_fs_read("/proc/self/status", 16, &buf, &n, NULL),
                 CAIRN_ETOOBIG);
    free(p);
    p = path_in(dir, "missing");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_fs_read(p, 100, &buf, NULL, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "missing");
    CHECK_INT_EQ(cairn_fs_read(dir, 100, &buf, NULL, NULL), CAIRN_EIO);
    test_rm_rf(dir);
    free(p);
    free(dir);
}

/* Run one capped read of path in a child process, so that a read that
 * blocks (the bug: a FIFO with no writer) fails the test after 3 s instead
 * of hanging it. The child reports "rc message" through a pipe. Returns 0
 * and fills rc/msg when the child answered in time, -1 when it blocked. */
static int read_in_child(const char *path, int secret, int *rc, char *msg,
                         size_t n)
{
    int pfd[2], status;
    struct pollfd p;
    ssize_t got;
    pid_t pid;

    if (pipe(pfd) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        struct cairn_diag d;
        char *buf = NULL, out[600];
        size_t len = 0;
        int r;

        close(pfd[0]);
        cairn_diag_init(&d);
        r = secret ? cairn_fs_read_secret(path, 100, 0, &buf, &len, &d)
                   : cairn_fs_read(path, 100, &buf, &len, &d);
        snprintf(out, sizeof(out), "%d %s", r, cairn_diag_msg(&d));
        if (write(pfd[1], out, strlen(out)) < 0)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    p.fd = pfd[0];
    p.events = POLLIN;
    if (pid < 0 || poll(&p, 1, 3000) != 1) {
        if (pid > 0)
            kill(pid, SIGKILL);
        close(pfd[0]);
        if (pid > 0)
            waitpid(pid, &status, 0);
        return -1;
    }
    got = read(pfd[0], msg, n - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(pfd[0]);
    waitpid(pid, &status, 0);
    *rc = (int)strtol(msg, NULL, 10);
    return 0;
}

/* A FIFO (no writer) or a device at a path must be refused at once, with
 * the path in the message, never block the reader. */
static void test_read_not_regular(void)
{
    char *dir = test_tmpdir(), *fifo = path_in(dir, "fifo"), msg[600];
    int rc = 0, secret;

    REQUIRE(mkfifo(fifo, 0600) == 0);
    for (secret = 0; secret <= 1; secret++) {
        CHECK_INT_EQ(read_in_child(fifo, secret, &rc, msg, sizeof(msg)), 0);
        CHECK_INT_EQ(rc, CAIRN_EIO);
        CHECK_STR_HAS(msg, fifo);
        CHECK_STR_HAS(msg, "not a regular file (a FIFO)");
    }
    CHECK_INT_EQ(read_in_child("/dev/zero", 0, &rc, msg, sizeof(msg)), 0);
    CHECK_INT_EQ(rc, CAIRN_EIO);
    CHECK_STR_HAS(msg, "/dev/zero: not a regular file (a character device)");
    /* Regular files still read, and the fd is blocking again (a read
     * through it works like any other). */
    free(fifo);
    fifo = path_in(dir, "plain");
    test_write_file(fifo, "abc", 3);
    CHECK_INT_EQ(read_in_child(fifo, 0, &rc, msg, sizeof(msg)), 0);
    CHECK_INT_EQ(rc, 0);
    test_rm_rf(dir);
    free(fifo);
    free(dir);
}

static void test_write_durable_replaces(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "state.json"),
         *old = path_in(dir, "old-link"), *buf = NULL;
    struct stat a, b;

    test_write_file(p, "old content", 11);
    REQUIRE(link(p, old) == 0);
    REQUIRE(stat(p, &a) == 0);
    CHECK_INT_EQ(cairn_fs_write_durable(p, "new", 3, 0600, NULL), 0);
    REQUIRE(stat(p, &b) == 0);
    /* A new inode took the name: replaced by rename, not rewritten in place
     * (a reader holding the old file still sees the old bytes). */
    CHECK(a.st_ino != b.st_ino);
    CHECK_INT_EQ(cairn_fs_read(p, 100, &buf, NULL, NULL), 0);
    CHECK_STR_EQ(buf, "new");
    free(buf);
    CHECK_INT_EQ(cairn_fs_read(old, 100, &buf, NULL, NULL), 0);
    CHECK_STR_EQ(buf, "old content");
    free(buf);
    /* No temp file left behind: the two names only. */
    CHECK_INT_EQ(count_entries(dir), 2);
    CHECK_INT_EQ(cairn_fs_write_durable(p, NULL, 0, 0600, NULL), 0);
    REQUIRE(stat(p, &b) == 0);
    CHECK_INT_EQ(b.st_size, 0);
    test_rm_rf(dir);
    free(p);
    free(old);
    free(dir);
}

static void test_write_durable_mode(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "k");
    mode_t old = umask(077);
    struct stat st;

    CHECK_INT_EQ(cairn_fs_write_durable(p, "x", 1, 0644, NULL), 0);
    REQUIRE(stat(p, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 07777, 0644);
    CHECK_INT_EQ(cairn_fs_write_durable(p, "y", 1, 0600, NULL), 0);
    REQUIRE(stat(p, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 07777, 0600);
    umask(old);
    test_rm_rf(dir);
    free(p);
    free(dir);
}

static void test_write_durable_errors(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "nodir/f"),
         *sub = path_in(dir, "sub"), *buf = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_fs_write_durable(p, "x", 1, 0600, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "nodir");
    /* rename over a directory fails: the temp file must be gone and the
     * directory untouched. */
    REQUIRE(mkdir(sub, 0700) == 0);
    CHECK(cairn_fs_write_durable(sub, "x", 1, 0600, NULL) < 0);
    CHECK_INT_EQ(count_entries(dir), 1);
    CHECK_INT_EQ(cairn_fs_write_durable(dir, "x", 1, 0600, NULL) < 0, 1);
    CHECK_INT_EQ(cairn_fs_fsync_dir(dir, NULL), 0);
    CHECK_INT_EQ(cairn_fs_fsync_dir(p, NULL), CAIRN_ENOENT);
    (void)buf;
    test_rm_rf(dir);
    free(p);
    free(sub);
    free(dir);
}

static void test_mkdir_p(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "a/b//c/"),
         *f = path_in(dir, "file"), *under = path_in(dir, "file/x");
    struct stat st;

    CHECK_INT_EQ(cairn_fs_mkdir_p(p, 0750, NULL), 0);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT_EQ(cairn_fs_mkdir_p(p, 0750, NULL), 0);
    test_write_file(f, "", 0);
    CHECK_INT_EQ(cairn_fs_mkdir_p(f, 0750, NULL), CAIRN_EEXIST);
    CHECK(cairn_fs_mkdir_p(under, 0750, NULL) < 0);
    CHECK_INT_EQ(cairn_fs_mkdir_p("", 0750, NULL), CAIRN_EINVAL);
    test_rm_rf(dir);
    free(p);
    free(f);
    free(under);
    free(dir);
}

static int join_rc(const char *root, const char *rel)
{
    char *out = NULL;
    int rc = cairn_fs_join_safe(root, rel, &out, NULL);

    free(out);
    return rc;
}

static void test_join_lexical(void)
{
    char *out = NULL;
    struct cairn_diag d;

    CHECK_INT_EQ(cairn_fs_join_safe("/srv/root/", "a/b.txt", &out, NULL), 0);
    CHECK_STR_EQ(out, "/srv/root/a/b.txt");
    free(out);
    CHECK_INT_EQ(cairn_fs_join_safe("/", "etc-not-really", &out, NULL), 0);
    CHECK_STR_EQ(out, "/etc-not-really");
    free(out);
    out = NULL;
    CHECK_INT_EQ(join_rc("/srv/root", "/etc/passwd"), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", ".."), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "a/../../etc"), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "a/.."), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "./a"), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", ""), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "a//b"), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "a/"), CAIRN_EPATH);
    CHECK_INT_EQ(join_rc("/srv/root", "..."), 0); /* a legal name */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_fs_join_safe_n("/srv/root", "a\0/../x", 7, &out, &d),
                 CAIRN_EPATH);
    CHECK_STR_HAS(cairn_diag_msg(&d), "NUL");
    CHECK(out == NULL);
    CHECK_INT_EQ(cairn_fs_join_safe(NULL, "a", &out, NULL), CAIRN_EINVAL);
}

static void test_join_symlinks(void)
{
    char *root = test_tmpdir(), *outside = test_tmpdir(), *p, *out = NULL;
    struct cairn_diag d;

    p = path_in(root, "blobs");
    REQUIRE(mkdir(p, 0700) == 0);
    free(p);
    p = path_in(root, "blobs/abc");
    test_write_file(p, "model", 5);
    free(p);
    p = path_in(root, "workloads");
    REQUIRE(mkdir(p, 0700) == 0);
    free(p);
    /* In-root symlinks (the agent's `current`) are allowed. */
    p = path_in(root, "workloads/current");
    REQUIRE(symlink("../blobs/abc", p) == 0);
    free(p);
    CHECK_INT_EQ(cairn_fs_join_safe(root, "workloads/current", &out, NULL), 0);
    free(out);
    p = path_in(root, "esc");
    REQUIRE(symlink(outside, p) == 0);
    free(p);
    cairn_diag_init(&d);
    CHECK_INT_EQ(join_rc(root, "esc"), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_fs_join_safe(root, "esc/new-file", &out, &d),
                 CAIRN_EPATH);
    CHECK_STR_HAS(cairn_diag_msg(&d), "outside");
    p = path_in(root, "blobs/etc");
    REQUIRE(symlink("/etc", p) == 0);
    free(p);
    CHECK_INT_EQ(join_rc(root, "blobs/etc/passwd"), CAIRN_EPATH);
    /* A dangling link would let open(O_CREAT) create a file wherever it
     * points. */
    p = path_in(root, "dangling");
    REQUIRE(symlink("/nonexistent-cairn-dir/x", p) == 0);
    free(p);
    CHECK_INT_EQ(join_rc(root, "dangling"), CAIRN_EPATH);
    /* Missing parts are fine: they are created later under the root. */
    CHECK_INT_EQ(join_rc(root, "new/dir/file"), 0);
    CHECK_INT_EQ(join_rc(root, "blobs/abc/below-a-file"), 0);
    /* A root reached through a symlink still works for in-root links. */
    p = path_in(outside, "root-link");
    REQUIRE(symlink(root, p) == 0);
    CHECK_INT_EQ(join_rc(p, "workloads/current"), 0);
    CHECK_INT_EQ(join_rc(p, "esc/x"), CAIRN_EPATH);
    free(p);
    test_rm_rf(root);
    test_rm_rf(outside);
    free(root);
    free(outside);
}

static void test_rm_rf_no_follow(void)
{
    char *root = test_tmpdir(), *outside = test_tmpdir(), *p, *keep;

    keep = path_in(outside, "keep.txt");
    test_write_file(keep, "k", 1);
    p = path_in(root, "t/a/b");
    REQUIRE(cairn_fs_mkdir_p(p, 0700, NULL) == 0);
    free(p);
    p = path_in(root, "t/a/b/f");
    test_write_file(p, "f", 1);
    free(p);
    p = path_in(root, "t/a/link");
    REQUIRE(symlink(outside, p) == 0);
    free(p);
    p = path_in(root, "t");
    CHECK_INT_EQ(cairn_fs_rm_rf(p, NULL), 0);
    CHECK(!exists(p));
    CHECK(exists(keep));
    CHECK_INT_EQ(cairn_fs_rm_rf(p, NULL), 0); /* already gone */
    free(p);
    /* rm_rf of a symlink to a directory removes the link only. */
    p = path_in(root, "dirlink");
    REQUIRE(symlink(outside, p) == 0);
    CHECK_INT_EQ(cairn_fs_rm_rf(p, NULL), 0);
    CHECK(!exists(p));
    CHECK(exists(keep));
    free(p);
    CHECK_INT_EQ(cairn_fs_rm_rf("", NULL), CAIRN_EINVAL);
    test_rm_rf(root);
    test_rm_rf(outside);
    free(keep);
    free(root);
    free(outside);
}

static void test_free_bytes(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "missing");
    uint64_t n = 0;

    CHECK_INT_EQ(cairn_fs_free_bytes(dir, &n, NULL), 0);
    CHECK(n > 0);
    n = 7;
    CHECK_INT_EQ(cairn_fs_free_bytes(p, &n, NULL), CAIRN_ENOENT);
    CHECK_INT_EQ(n, 7);
    test_rm_rf(dir);
    free(p);
    free(dir);
}

int main(void)
{
    RUN(test_read_cap);
    RUN(test_read_not_regular);
    RUN(test_write_durable_replaces);
    RUN(test_write_durable_mode);
    RUN(test_write_durable_errors);
    RUN(test_mkdir_p);
    RUN(test_join_lexical);
    RUN(test_join_symlinks);
    RUN(test_rm_rf_no_follow);
    RUN(test_free_bytes);
    return test_done();
}
