/*
 * Small helpers the cairnctl verbs share: one-line errors, option errors,
 * capped reads and durable, no-clobber writes of output files.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/mem.h"
#include "ctl.h"

void cairn__ctl_err(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cairnctl %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cairn__ctl_bad_option(const char *verb, char **argv, int optind_now, int optopt_now)
{
    const char *arg = optind_now > 0 ? argv[optind_now - 1] : "?";

    if (optopt_now && strncmp(arg, "--", 2) != 0)
        cairn__ctl_err(verb, "bad or incomplete option -%c (see cairnctl %s --help)",
                       optopt_now, verb);
    else
        cairn__ctl_err(verb, "bad or incomplete option %s (see cairnctl %s --help)", arg, verb);
    return 2;
}

int cairn__ctl_read(const char *path, size_t cap, char **out, size_t *out_len,
                    struct cairn_diag *d)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return cairn_diag_set(d, errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO, "%s: %s", path,
                              strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: not a regular file", path);
        goto out;
    }
    /* One allocation of the cap, never grown: the contents may be secret
     * and a realloc would leave copies behind. */
    buf = cairn_xmalloc(cap + 1);
    for (;;) {
        ssize_t got = read(fd, buf + n, cap + 1 - n);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = cairn_diag_set(d, CAIRN_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > cap) {
            rc = cairn_diag_set(d, CAIRN_ETOOBIG, "%s: larger than %zu bytes", path, cap);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    buf = NULL;
out:
    if (buf) {
        explicit_bzero(buf, cap + 1);
        free(buf);
    }
    close(fd);
    return rc;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, p + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

/* Move tmp to path: replacing only with force. */
static int place(const char *tmp, const char *path, int force, struct cairn_diag *d)
{
    if (force ? rename(tmp, path) == 0
              : renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (!force && (errno == EINVAL || errno == ENOSYS) && link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno == EEXIST)
        return cairn_diag_set(d, CAIRN_EEXIST, "%s exists (use --force to replace it)", path);
    return cairn_diag_set(d, CAIRN_EIO, "%s: %s", path, strerror(errno));
}

int cairn__ctl_write(const char *path, const void *data, size_t n, mode_t mode, int force,
                     struct cairn_diag *d)
{
    char *tmp = cairn_xasprintf("%s.tmp.XXXXXX", path), *dir = cairn_xstrdup(path);
    int fd, dfd, rc;

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = cairn_diag_set(d, errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO,
                            "%s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    rc = place(tmp, path, force, d);
    if (rc) {
        unlink(tmp);
        goto out;
    }
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: the file itself is complete */
        close(dfd);
    }
out:
    free(tmp);
    free(dir);
    return rc;
}
