/*
 * Filesystem helpers (see docs/internals/fs.md).
 *
 * Every function maps errno to a CAIRN_E* code once, in errno_code(), and
 * names the path in the diag message so that callers only add context.
 */
#include "cairn/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cairn/mem.h"

/* rm_rf holds one directory fd per level: bound the depth so a hostile tree
 * can exhaust neither fds nor stack. */
#define RM_MAX_DEPTH 128

static int errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CAIRN_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return CAIRN_EPERM;
    case EEXIST:
    case ENOTEMPTY:
        return CAIRN_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return CAIRN_ENOSPC;
    case ENAMETOOLONG:
    case ELOOP:
        return CAIRN_EPATH;
    case ENOMEM:
        return CAIRN_ENOMEM;
    default:
        return CAIRN_EIO;
    }
}

static int fail(struct cairn_diag *d, int e, const char *what, const char *path)
{
    return cairn_diag_set(d, errno_code(e), "%s: %s: %s", path, what,
                          strerror(e));
}

static int read_fd(int fd, const char *path, size_t cap, struct cairn_buf *b,
                   struct cairn_diag *d)
{
    char chunk[16384];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(d, errno, "read", path);
        if (n == 0)
            return 0;
        if (b->len + (size_t)n > cap || cairn_buf_append(b, chunk, (size_t)n))
            return cairn_diag_set(d, CAIRN_ETOOBIG,
                                  "%s: larger than its cap of %zu bytes", path,
                                  cap);
    }
}

/* Reads open without ever blocking in open() or read(): a FIFO opened for
 * reading waits for a writer, a device may wait forever, so the open is
 * non-blocking, then check_regular refuses anything but a regular file and
 * clears O_NONBLOCK again (it has no effect on regular files; clearing it
 * keeps reads plain). Symlinks are followed: no caller's contract says
 * otherwise, and mounted secrets (Kubernetes) are links. */
#define READ_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* fd was opened with READ_FLAGS; it is closed on error. With private_only,
 * a mode giving group or others access is CAIRN_EPERM. */
static int check_regular(int fd, const char *path, int private_only,
                         struct cairn_diag *d)
{
    struct stat st;
    int fl;

    if (fstat(fd, &st) != 0) {
        int e = errno;

        close(fd);
        return fail(d, e, "fstat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cairn_diag_set(d, CAIRN_EIO,
                              "%s: not a regular file (%s): refused", path,
                              S_ISDIR(st.st_mode)    ? "a directory"
                              : S_ISFIFO(st.st_mode) ? "a FIFO"
                              : S_ISCHR(st.st_mode)  ? "a character device"
                              : S_ISBLK(st.st_mode)  ? "a block device"
                              : S_ISSOCK(st.st_mode) ? "a socket"
                                                     : "another kind");
    }
    if (private_only && (st.st_mode & 077)) {
        close(fd);
        return cairn_diag_set(d, CAIRN_EPERM,
                              "%s: has mode %04o, readable by group or others; "
                              "fix: chmod 600 %s",
                              path, (unsigned)(st.st_mode & 07777), path);
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;

        close(fd);
        return fail(d, e, "fcntl", path);
    }
    return 0;
}

int cairn_fs_read(const char *path, size_t cap, char **out, size_t *out_len,
                  struct cairn_diag *d)
{
    struct cairn_buf b;
    struct stat st;
    int fd, rc;

    if (!path || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "cairn_fs_read: NULL argument");
    fd = open(path, READ_FLAGS);
    if (fd < 0)
        return fail(d, errno, "open", path);
    rc = check_regular(fd, path, 0, d);
    if (rc)
        return rc;
    cairn_buf_init(&b, 0);
    /* Refuse early on the stat size; the read loop re-checks because the
     * file may grow, and /proc files report 0. */
    if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > cap) {
        rc = cairn_diag_set(d, CAIRN_ETOOBIG,
                            "%s: %lld bytes, over its cap of %zu bytes", path,
                            (long long)st.st_size, cap);
        goto out;
    }
    rc = read_fd(fd, path, cap, &b, d);
    if (rc)
        goto out;
    *out = cairn_buf_steal(&b, out_len);
out:
    cairn_buf_free(&b);
    close(fd);
    return rc;
}

void cairn_fs_wipe_free(void *p, size_t n)
{
    if (!p)
        return;
    explicit_bzero(p, n);
    free(p);
}

int cairn_fs_read_secret(const char *path, size_t cap, int private_only,
                         char **out, size_t *out_len, struct cairn_diag *d)
{
    char *buf;
    size_t n = 0;
    int fd = -1, rc;

    fd = open(path, READ_FLAGS);
    if (fd < 0)
        return cairn_diag_set(d, errno_code(errno), "%s: %s", path,
                              strerror(errno));
    rc = check_regular(fd, path, private_only, d);
    if (rc)
        return rc;
    buf = cairn_xmalloc(cap + 1);
    for (;;) {
        ssize_t got = read(fd, buf + n, cap + 1 - n);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = fail(d, errno, "read", path);
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > cap) {
            rc = cairn_diag_set(d, CAIRN_ETOOBIG, "%s: larger than %zu bytes",
                                path, cap);
            break;
        }
    }
    close(fd);
    if (rc) {
        cairn_fs_wipe_free(buf, n < cap + 1 ? n : cap + 1);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* Split path into a fresh directory string ("." when there is none) and a
 * pointer to its last component inside path. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        *base = path;
        return cairn_xstrdup(".");
    }
    *base = slash + 1;
    if (slash == path)
        return cairn_xstrdup("/");
    return cairn_xstrndup(path, (size_t)(slash - path));
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cairn_fs_fsync_dir(const char *dir, struct cairn_diag *d)
{
    int fd, rc = 0;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(d, errno, "open directory", dir);
    /* EINVAL: the filesystem cannot sync directories (some FUSE and
     * network filesystems); there is nothing more we can do there. */
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = fail(d, errno, "fsync directory", dir);
    close(fd);
    return rc;
}

/* Move tmp into place: rename(2), or with noreplace a rename that fails
 * when path exists (link(2) where RENAME_NOREPLACE is unsupported; it never
 * replaces either). */
static int place(const char *tmp, const char *path, int noreplace,
                 struct cairn_diag *d)
{
    if (!noreplace)
        return rename(tmp, path) == 0
                   ? 0
                   : fail(d, errno, "rename into place", path);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if ((errno == EINVAL || errno == ENOSYS) && link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno == EEXIST)
        return cairn_diag_set(d, CAIRN_EEXIST, "%s: already exists", path);
    return fail(d, errno, "rename into place", path);
}

static int write_file(const char *path, const void *data, size_t n, mode_t mode,
                      int noreplace, struct cairn_diag *d)
{
    const char *base;
    char *dir, *tmp;
    int fd, rc = 0;

    if (!path || (!data && n))
        return cairn_diag_set(d, CAIRN_EINVAL, "cairn_fs_write: NULL argument");
    dir = dir_of(path, &base);
    if (!*base) {
        rc = cairn_diag_set(d, CAIRN_EINVAL, "%s: not a file name", path);
        free(dir);
        return rc;
    }
    /* Same directory, so that rename() is atomic; hidden, so that
     * directory scans skip a crash's leftovers. */
    tmp = cairn_xasprintf("%s/.%s.tmp.XXXXXX", dir, base);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = fail(d, errno, "cannot create", path);
        goto out;
    }
    /* fchmod, not the mode of open(): the result must not depend on the
     * caller's umask. */
    if (fchmod(fd, mode & 07777) != 0)
        rc = fail(d, errno, "chmod", tmp);
    else if (write_all(fd, data, n) != 0)
        rc = fail(d, errno, "write", tmp);
    else if (fsync(fd) != 0)
        rc = fail(d, errno, "fsync", tmp);
    if (close(fd) != 0 && !rc)
        rc = fail(d, errno, "close", tmp);
    if (!rc)
        rc = place(tmp, path, noreplace, d);
    if (rc)
        unlink(tmp);
    else
        rc = cairn_fs_fsync_dir(dir, d);
out:
    free(tmp);
    free(dir);
    return rc;
}

int cairn_fs_write_durable(const char *path, const void *data, size_t n,
                           mode_t mode, struct cairn_diag *d)
{
    return write_file(path, data, n, mode, 0, d);
}

int cairn_fs_write_new(const char *path, const void *data, size_t n,
                       mode_t mode, struct cairn_diag *d)
{
    return write_file(path, data, n, mode, 1, d);
}

static int mkdir_one(const char *path, mode_t mode, struct cairn_diag *d)
{
    struct stat st;

    if (mkdir(path, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return fail(d, errno, "mkdir", path);
    if (stat(path, &st) != 0)
        return fail(d, errno, "stat", path);
    if (!S_ISDIR(st.st_mode))
        return cairn_diag_set(d, CAIRN_EEXIST,
                              "%s: exists and is not a directory", path);
    return 0;
}

int cairn_fs_mkdir_p(const char *path, mode_t mode, struct cairn_diag *d)
{
    char *p;
    size_t i, len;
    int rc = 0;

    if (!path || !*path)
        return cairn_diag_set(d, CAIRN_EINVAL, "mkdir_p: empty path");
    p = cairn_xstrdup(path);
    len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    for (i = 1; i < len && !rc; i++) {
        if (p[i] != '/' || p[i - 1] == '/')
            continue;
        p[i] = '\0';
        rc = mkdir_one(p, mode, d);
        p[i] = '/';
    }
    if (!rc)
        rc = mkdir_one(p, mode, d);
    free(p);
    return rc;
}

/* The lexical rules: rel is relative, each component non-empty, not "." or
 * "..", within NAME_MAX, and rel has no NUL (a NUL would silently cut the
 * path short in every syscall). */
static int check_rel(const char *rel, size_t n, struct cairn_diag *d)
{
    size_t i, start = 0;

    if (n == 0)
        return cairn_diag_set(d, CAIRN_EPATH, "empty relative path");
    if (n >= PATH_MAX)
        return cairn_diag_set(
            d, CAIRN_EPATH, "relative path longer than %d bytes", PATH_MAX - 1);
    if (memchr(rel, '\0', n))
        return cairn_diag_set(d, CAIRN_EPATH, "path contains a NUL byte");
    if (rel[0] == '/')
        return cairn_diag_set(d, CAIRN_EPATH, "%.*s: absolute path", (int)n,
                              rel);
    for (i = 0; i <= n; i++) {
        size_t len;

        if (i < n && rel[i] != '/')
            continue;
        len = i - start;
        if (len == 0)
            return cairn_diag_set(d, CAIRN_EPATH, "%.*s: empty path component",
                                  (int)n, rel);
        if ((len == 1 && rel[start] == '.') ||
            (len == 2 && rel[start] == '.' && rel[start + 1] == '.'))
            return cairn_diag_set(
                d, CAIRN_EPATH, "%.*s: \".\" or \"..\" component", (int)n, rel);
        if (len > NAME_MAX)
            return cairn_diag_set(d, CAIRN_EPATH, "%.*s: component too long",
                                  (int)n, rel);
        start = i + 1;
    }
    return 0;
}

static int inside(const char *real, const char *root)
{
    size_t n = strlen(root);

    if (n == 1 && root[0] == '/')
        return 1;
    return strncmp(real, root, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

/* A symlink at prefix: it may stay (workloads/x/current points into blobs/)
 * only if it resolves, completely, inside root. */
static int check_link(const char *prefix, const char *root, char **real_root,
                      struct cairn_diag *d)
{
    char *real;
    int ok;

    if (!*real_root) {
        *real_root = realpath(root, NULL);
        if (!*real_root)
            return fail(d, errno, "resolve root", root);
    }
    real = realpath(prefix, NULL);
    if (!real)
        return cairn_diag_set(d, CAIRN_EPATH,
                              "%s: symlink does not resolve: %s", prefix,
                              strerror(errno));
    ok = inside(real, *real_root);
    free(real);
    if (!ok)
        return cairn_diag_set(d, CAIRN_EPATH, "%s: symlink leads outside %s",
                              prefix, root);
    return 0;
}

/* Walk the existing part of joined below root (root_len bytes), checking
 * every symlink met on the way. */
static int check_links(char *joined, size_t root_len, const char *root,
                       struct cairn_diag *d)
{
    char *real_root = NULL;
    size_t i, n = strlen(joined);
    struct stat st;
    int rc = 0;

    for (i = root_len + 1; i <= n && !rc; i++) {
        if (i < n && joined[i] != '/')
            continue;
        joined[i] = '\0';
        if (lstat(joined, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                rc = fail(d, errno, "lstat", joined);
            joined[i] = i < n ? '/' : '\0';
            break; /* nothing below a missing entry exists */
        }
        if (S_ISLNK(st.st_mode))
            rc = check_link(joined, root, &real_root, d);
        joined[i] = i < n ? '/' : '\0';
        if (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode))
            break;
    }
    free(real_root);
    return rc;
}

int cairn_fs_join_safe_n(const char *root, const char *rel, size_t rel_len,
                         char **out, struct cairn_diag *d)
{
    size_t root_len;
    char *joined;
    int rc;

    if (!root || !*root || !rel || !out)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "join_safe: NULL or empty argument");
    rc = check_rel(rel, rel_len, d);
    if (rc)
        return rc;
    root_len = strlen(root);
    while (root_len > 1 && root[root_len - 1] == '/')
        root_len--;
    if (root_len == 1 && root[0] == '/')
        root_len = 0; /* "/" + "/" + rel would start with "//" */
    joined =
        cairn_xasprintf("%.*s/%.*s", (int)root_len, root, (int)rel_len, rel);
    rc = check_links(joined, root_len, root, d);
    if (rc) {
        free(joined);
        return rc;
    }
    *out = joined;
    return 0;
}

int cairn_fs_join_safe(const char *root, const char *rel, char **out,
                       struct cairn_diag *d)
{
    return cairn_fs_join_safe_n(root, rel, rel ? strlen(rel) : 0, out, d);
}

static int rm_entries(int fd, const char *top, int depth, struct cairn_diag *d);

/* Remove one entry of the directory dfd; directories are opened with
 * O_NOFOLLOW relative to their parent, so a symlink swapped in is never
 * followed. */
static int rm_entry(int dfd, const char *name, const char *top, int depth,
                    struct cairn_diag *d)
{
    int child, rc;

    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return cairn_diag_set(d, errno_code(errno), "%s: remove %s: %s", top,
                              name, strerror(errno));
    if (depth >= RM_MAX_DEPTH)
        return cairn_diag_set(d, CAIRN_ETOOBIG, "%s: deeper than %d levels",
                              top, RM_MAX_DEPTH);
    child = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0)
        return cairn_diag_set(d, errno_code(errno), "%s: open %s: %s", top,
                              name, strerror(errno));
    rc = rm_entries(child, top, depth + 1, d);
    if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = cairn_diag_set(d, errno_code(errno), "%s: rmdir %s: %s", top, name,
                            strerror(errno));
    return rc;
}

/* Empty the directory fd (ownership of fd passes to the DIR stream). */
static int rm_entries(int fd, const char *top, int depth, struct cairn_diag *d)
{
    struct dirent *e;
    DIR *dir = fdopendir(fd);
    int rc = 0;

    if (!dir) {
        rc = fail(d, errno, "opendir", top);
        close(fd);
        return rc;
    }
    while (!rc && (errno = 0, e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        rc = rm_entry(dirfd(dir), e->d_name, top, depth, d);
    }
    if (!rc && errno != 0)
        rc = fail(d, errno, "readdir", top);
    closedir(dir);
    return rc;
}

int cairn_fs_rm_rf(const char *path, struct cairn_diag *d)
{
    struct stat st;
    int fd, rc;

    if (!path || !*path)
        return cairn_diag_set(d, CAIRN_EINVAL, "rm_rf: empty path");
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : fail(d, errno, "lstat", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return fail(d, errno, "unlink", path);
        return 0;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(d, errno, "open", path);
    rc = rm_entries(fd, path, 0, d);
    if (!rc && rmdir(path) != 0 && errno != ENOENT)
        rc = fail(d, errno, "rmdir", path);
    return rc;
}

int cairn_fs_free_bytes(const char *path, uint64_t *out, struct cairn_diag *d)
{
    struct statvfs sv;

    if (!path || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "free_bytes: NULL argument");
    if (statvfs(path, &sv) != 0)
        return fail(d, errno, "statvfs", path);
    *out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    return 0;
}
