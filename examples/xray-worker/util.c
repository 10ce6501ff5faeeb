#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn/mem.h"

void xray_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int errno_code(int e)
{
    if (e == ENOENT || e == ENOTDIR)
        return CAIRN_ENOENT;
    if (e == EACCES || e == EPERM || e == ELOOP)
        return CAIRN_EPERM;
    return CAIRN_EIO;
}

int xray_read_file(const char *path, size_t cap, uint8_t **out, size_t *out_len,
                   struct cairn_diag *d)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd, err = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return cairn_diag_set(d, errno_code(errno), "%s: %s", path,
                              strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = cairn_diag_set(d, CAIRN_EPERM, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > cap) {
        err = cairn_diag_set(d, CAIRN_ETOOBIG,
                             "%s: %lld bytes, over the %zu byte cap", path,
                             (long long)st.st_size, cap);
        goto out;
    }
    buf = cairn_xmalloc((size_t)st.st_size + 1);
    /* Read to EOF but never past the cap: the file may grow meanwhile. */
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = cairn_diag_set(d, CAIRN_EIO, "%s: read: %s", path,
                                 strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > (size_t)st.st_size) {
            err = cairn_diag_set(d, CAIRN_EIO, "%s: file grew while being read",
                                 path);
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return err;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

static char *dir_of(const char *path)
{
    char *tmp = cairn_xstrdup(path);
    char *dir = cairn_xstrdup(dirname(tmp));

    free(tmp);
    return dir;
}

int xray_write_atomic(const char *path, const void *data, size_t n, mode_t mode,
                      struct cairn_diag *d)
{
    char *dir = dir_of(path), *tmp;
    const char *base = strrchr(path, '/');
    const uint8_t *p = data;
    int fd, err = 0;

    base = base ? base + 1 : path;
    tmp = cairn_xasprintf("%s/.%s.tmp", dir, base);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        err = cairn_diag_set(d, CAIRN_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = cairn_diag_set(d, CAIRN_EIO, "%s: write: %s", tmp,
                                 strerror(errno));
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (!err && fsync(fd) != 0)
        err =
            cairn_diag_set(d, CAIRN_EIO, "%s: fsync: %s", tmp, strerror(errno));
    close(fd);
    if (!err && rename(tmp, path) != 0)
        err = cairn_diag_set(d, CAIRN_EIO, "rename %s: %s", path,
                             strerror(errno));
    if (!err && fsync_dir(dir) != 0)
        err =
            cairn_diag_set(d, CAIRN_EIO, "%s: fsync: %s", dir, strerror(errno));
    if (err)
        unlink(tmp);
out:
    free(tmp);
    free(dir);
    return err;
}

int xray_mkdir_p(const char *path, struct cairn_diag *d)
{
    char *p = cairn_xstrdup(path);
    int err = 0;

    for (char *s = p + 1;; s++) {
        char c = *s;

        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            err = cairn_diag_set(d, CAIRN_EIO, "mkdir %s: %s", p,
                                 strerror(errno));
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    if (!err) {
        struct stat st;

        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            err = cairn_diag_set(d, CAIRN_EIO, "%s: not a directory", path);
    }
    free(p);
    return err;
}

int xray_move_aside(const char *dir_from, const char *name, const char *dir_to,
                    struct cairn_diag *d)
{
    char *from = cairn_xasprintf("%s/%s", dir_from, name), *to = NULL;
    const char *dot = strrchr(name, '.');
    int stem = dot && dot != name ? (int)(dot - name) : (int)strlen(name);
    int err = 0;

    for (unsigned n = 0; n < 10000; n++) {
        free(to);
        if (n == 0)
            to = cairn_xasprintf("%s/%s", dir_to, name);
        else
            to = cairn_xasprintf("%s/%.*s.%u%s", dir_to, stem, name, n,
                                 dot && dot != name ? dot : "");
        /* Never replace an existing file: RENAME_NOREPLACE, or link+unlink
         * where the filesystem lacks it. */
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
            goto out;
        if (errno == EINVAL && link(from, to) == 0) {
            if (unlink(from) != 0)
                err = cairn_diag_set(d, CAIRN_EIO, "unlink %s: %s", from,
                                     strerror(errno));
            goto out;
        }
        if (errno != EEXIST)
            break;
    }
    err = cairn_diag_set(d, CAIRN_EIO, "move %s to %s: %s", from, dir_to,
                         strerror(errno));
out:
    if (!err && fsync_dir(dir_to) != 0)
        err = cairn_diag_set(d, CAIRN_EIO, "%s: fsync: %s", dir_to,
                             strerror(errno));
    free(from);
    free(to);
    return err;
}

void xray_sql_time(int64_t t, char out[20])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

void xray_rfc3339(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double xray_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t xray_wall(void)
{
    return (int64_t)time(NULL);
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void xray_rng_seed(struct xray_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t xray_rng_next(struct xray_rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double xray_rng_unit(struct xray_rng *r)
{
    return (double)(xray_rng_next(r) >> 11) * 0x1.0p-53;
}

double xray_rng_range(struct xray_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * xray_rng_unit(r);
}

uint32_t xray_rng_below(struct xray_rng *r, uint32_t n)
{
    return (uint32_t)(xray_rng_unit(r) * n);
}

double xray_rng_normal(struct xray_rng *r)
{
    double u = xray_rng_unit(r), v = xray_rng_unit(r);

    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

int xray_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int xray_text_ok(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;

    while (*p) {
        uint32_t cp;
        int n;

        if (*p < 0x20 || *p == 0x7f)
            return 0;
        if (*p < 0x80) {
            p++;
            continue;
        }
        if ((*p & 0xe0) == 0xc0)
            n = 1, cp = *p & 0x1f;
        else if ((*p & 0xf0) == 0xe0)
            n = 2, cp = *p & 0x0f;
        else if ((*p & 0xf8) == 0xf0)
            n = 3, cp = *p & 0x07;
        else
            return 0;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
            (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
            cp > 0x10ffff)
            return 0;
        p += n + 1;
    }
    return 1;
}
