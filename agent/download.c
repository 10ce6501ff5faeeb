/*
 * Artifact download. See download.h for the contract and
 * docs/internals/download.md for the design.
 *
 * Threads: the loop receives bytes from httpc into 1 MiB buffers. Full
 * buffers pass, in order, through two stages on the libuv thread pool that
 * run in parallel when the pool has two threads: one hashes, one writes
 * (both only read the buffer). A buffer is free again when both are done
 * with it. The hash state belongs to the hash stage, fd, `written` and the
 * direct I/O state to the write stage, while a job of that stage runs, and
 * to the loop otherwise; uv_queue_work's after-callback orders each
 * hand-over. Other jobs (prepare, discard, finalize) run only while both
 * stages are idle.
 *
 * Writes: a buffer that starts and ends on the file system's direct I/O
 * alignment is written with O_DIRECT, straight from our buffer to the
 * disk; others (the first one after resuming at an odd offset, the last
 * one) go through the page cache with write-back started at once.
 */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cairn/hash.h"
#include "cairn/log.h"
#include "cairn/mem.h"

#define NBUF 8
#define BUF_SIZE (1u << 20)
#define DIO_ALIGN_MAX 4096u /* buffers are aligned to this */
#define RECV_BUFFER (512L * 1024)
#define MSG_MAX 512
#define MAX_DELAY_MS 30000u
#define MAX_RETRY_AFTER_S 300u
#define PROGRESS_MIN (64u * 1024) /* an attempt that got less used a try */
#define SRC_NONE (-1)             /* the partial is empty */
#define SRC_MIXED (-2) /* bytes from several URLs, or from before a restart */

enum state {
    ST_PREPARING,
    ST_FETCHING,
    ST_WAITING,
    ST_FINALIZING,
    ST_DISCARDING,
    ST_DONE
};
enum job { J_NONE, J_PREPARE, J_WRITE, J_DISCARD, J_FINALIZE };

struct chunk {
    uint8_t *data; /* BUF_SIZE bytes, DIO_ALIGN_MAX-aligned */
    size_t len;
    size_t cap; /* bytes up to the next BUF_SIZE boundary of the file */
    uint64_t off;
    int restart; /* truncate the partial and restart the hash first */
    int src;     /* URL index the bytes came from */
    int hashed, written;
    struct chunk *next;
};

struct cairn_download {
    struct cairn_httpc *c;
    uv_loop_t *loop;
    uv_work_t work;  /* write stage and the other jobs */
    uv_work_t hwork; /* hash stage */
    uv_timer_t timer;
    enum state st;
    cairn_download_cb cb;
    void *arg;
    /* options */
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    uint8_t digest[CAIRN_SHA256_LEN];
    uint64_t size;
    char **urls;
    size_t n_urls;
    char **headers;
    unsigned max_tries, max_attempts;
    uint64_t margin;
    long ls_limit, ls_time;
    uint32_t delay0;
    char *dl_dir, *blob_dir, *partial, *blob;
    /* owned by the running job, else by the loop */
    enum job job;
    struct chunk *job_chunk, *hash_chunk;
    int fd;
    uint32_t dio_align; /* 0: page cache only */
    int dio_on;         /* fd has O_DIRECT now */
    int buffered_only;  /* option */
    uint64_t direct_bytes;
    struct cairn_sha256 *h;
    uint64_t written, hashed;
    int job_err;
    char job_msg[MSG_MAX];
    int present;
    /* loop side */
    int busy, hbusy;
    struct chunk bufs[NBUF];
    struct chunk *free_list, *fill, *qhead, *qtail;
    struct chunk *wnext, *hnext; /* next in the queue for each stage */
    unsigned nfree;
    struct cairn_httpc_req *req;
    int paused;
    uint64_t recv_off, expect_end;
    int restart_pending;
    size_t url_i;
    uint32_t bad;
    int src;
    unsigned tries, attempts;
    uint32_t delay_ms;
    /* the current attempt */
    int att_err, att_bad, att_discard;
    char att_msg[MSG_MAX];
    uint64_t att_bytes;
    uint32_t att_retry_ms;
    /* outcome */
    int io_err;
    char io_msg[MSG_MAX];
    int canceled;
    int last_err;
    char last_msg[MSG_MAX];
    uint64_t fetched, resumed_from;
};

static void begin_attempt(struct cairn_download *dl);
static void attempt_over(struct cairn_download *dl);
static void kick(struct cairn_download *dl);
static void after_hash(uv_work_t *w, int status);

/* Both stages idle and nothing left to write (or an I/O error). */
static int drained(const struct cairn_download *dl)
{
    return !dl->busy && !dl->hbusy && (dl->io_err || !dl->qhead);
}

/* ---- paths and small helpers -------------------------------------------- */

char *cairn_download_blob_path(const char *state_dir, const char *hex)
{
    return cairn_xasprintf("%s/blobs/sha256/%s", state_dir, hex);
}

char *cairn_download_partial_path(const char *state_dir, const char *hex)
{
    return cairn_xasprintf("%s/downloads/%s.partial", state_dir, hex);
}

static void setmsg(char *dst, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void setmsg(char *dst, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, MSG_MAX, fmt, ap);
    va_end(ap);
}

static int errno_to_cairn(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return CAIRN_ENOSPC;
    case EACCES:
    case EPERM:
    case EROFS:
        return CAIRN_EPERM;
    case ENOENT:
        return CAIRN_ENOENT;
    default:
        return CAIRN_EIO;
    }
}

/* A BUF_SIZE buffer aligned for direct I/O; aborts on OOM like
 * cairn_xmalloc. */
static uint8_t *xalloc_buf(void)
{
    void *p = NULL;

    if (posix_memalign(&p, DIO_ALIGN_MAX, BUF_SIZE) != 0)
        abort();
    return p;
}

/* Record a job failure (worker side): first one wins. */
static int job_fail(struct cairn_download *dl, int err, const char *what)
{
    if (!dl->job_err) {
        dl->job_err = err;
        setmsg(dl->job_msg, "%s %s: %s", what, dl->partial, strerror(errno));
    }
    return err;
}

static int mkdirs(const char *path, mode_t mode)
{
    char *p = cairn_xstrdup(path), *s;
    int rc = 0;

    for (s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    if (mkdir(p, mode) != 0 && errno != EEXIST)
        rc = -1;
    free(p);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static void close_partial(struct cairn_download *dl)
{
    if (dl->fd >= 0)
        close(dl->fd); /* also drops the flock */
    dl->fd = -1;
    dl->dio_on = 0;
}

/* Direct I/O when the file system offers it: the bytes go from our buffer
 * to the disk without a copy into the page cache, which halves the CPU a
 * large model costs and leaves no gigabyte of dirty pages behind; the
 * final fsync still makes them durable. The alignment comes from statx
 * (Linux 6.1); without it 4096 is tried, and a refusal falls back to the
 * page cache (set_direct, write_chunk). */
static void setup_direct(struct cairn_download *dl)
{
    uint32_t align = 4096;
#ifdef STATX_DIOALIGN
    struct statx sx;

    if (statx(dl->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN)) {
        align = sx.stx_dio_offset_align > sx.stx_dio_mem_align
                    ? sx.stx_dio_offset_align
                    : sx.stx_dio_mem_align;
        if (sx.stx_dio_offset_align == 0)
            align = 0; /* no direct I/O on this file */
    }
#endif
    dl->dio_align = 0;
    if (!dl->buffered_only && align && align <= DIO_ALIGN_MAX &&
        BUF_SIZE % align == 0)
        dl->dio_align = align;
}

/* Switch O_DIRECT on fd; 0 or -1 (then direct I/O is given up). */
static int set_direct(struct cairn_download *dl, int on)
{
    int fl;

    if (dl->dio_on == on)
        return 0;
    fl = fcntl(dl->fd, F_GETFL);
    if (fl < 0 ||
        fcntl(dl->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) != 0) {
        dl->dio_align = 0;
        return -1;
    }
    dl->dio_on = on;
    return 0;
}

/* ---- jobs (thread pool) ---------------------------------------------------
 */

/* Open and lock the partial, check space, rebuild the hash state from what
 * is already on disk. */
static int open_partial(struct cairn_download *dl, struct stat *st)
{
    int tries;

    for (tries = 0; tries < 2; tries++) {
        dl->fd =
            open(dl->partial, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dl->fd >= 0)
            break;
        /* A symlink is never followed; a 0444 partial is left by an install
         * whose rename failed. */
        if (!(errno == ELOOP && unlink(dl->partial) == 0) &&
            !(errno == EACCES && chmod(dl->partial, 0600) == 0))
            break;
    }
    if (dl->fd < 0)
        return job_fail(dl, errno_to_cairn(errno), "open");
    if (flock(dl->fd, LOCK_EX | LOCK_NB) != 0) {
        close_partial(dl);
        dl->job_err = CAIRN_EAGAIN;
        setmsg(dl->job_msg,
               "%s is locked: another download of this blob "
               "is running",
               dl->partial);
        return CAIRN_EAGAIN;
    }
    if (fstat(dl->fd, st) != 0)
        return job_fail(dl, CAIRN_EIO, "fstat");
    if (!S_ISREG(st->st_mode)) {
        dl->job_err = CAIRN_EIO;
        setmsg(dl->job_msg, "%s is not a regular file", dl->partial);
        return CAIRN_EIO;
    }
    /* Never executable, whatever was there before. */
    if ((st->st_mode & 07777) != 0600 && fchmod(dl->fd, 0600) != 0)
        return job_fail(dl, CAIRN_EIO, "fchmod");
    if ((uint64_t)st->st_size > dl->size) {
        if (ftruncate(dl->fd, 0) != 0)
            return job_fail(dl, CAIRN_EIO, "ftruncate");
        st->st_size = 0;
    }
    return 0;
}

static int check_space(struct cairn_download *dl, uint64_t have)
{
    struct statvfs vs;
    uint64_t avail, need;

    if (fstatvfs(dl->fd, &vs) != 0)
        return job_fail(dl, CAIRN_EIO, "statvfs");
    avail = (uint64_t)vs.f_bavail * vs.f_frsize;
    need = dl->size - have;
    need = need > UINT64_MAX - dl->margin ? UINT64_MAX : need + dl->margin;
    if (avail < need) {
        dl->job_err = CAIRN_ENOSPC;
        setmsg(dl->job_msg,
               "%s: %" PRIu64 " bytes free, need %" PRIu64 " (%" PRIu64
               " to fetch + %" PRIu64 " margin)",
               dl->dl_dir, avail, need, dl->size - have, dl->margin);
        return CAIRN_ENOSPC;
    }
    /* Reserve the blocks now so a full disk shows here, not mid-way;
     * KEEP_SIZE leaves the length (our resume offset) alone. */
    if (fallocate(dl->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)dl->size) != 0 &&
        errno == ENOSPC)
        return job_fail(dl, CAIRN_ENOSPC, "fallocate");
    return 0;
}

static int rehash(struct cairn_download *dl, uint64_t len)
{
    uint8_t *buf = cairn_xmalloc(BUF_SIZE);
    uint64_t off = 0;
    ssize_t n = 0;

    cairn_sha256_reset(dl->h);
    posix_fadvise(dl->fd, 0, (off_t)len, POSIX_FADV_SEQUENTIAL);
    while (off < len) {
        size_t want = len - off < BUF_SIZE ? (size_t)(len - off) : BUF_SIZE;
        n = pread(dl->fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        cairn_sha256_update(dl->h, buf, (size_t)n);
        off += (uint64_t)n;
    }
    free(buf);
    if (n < 0)
        return job_fail(dl, CAIRN_EIO, "read");
    if (off < len && ftruncate(dl->fd, (off_t)off) != 0)
        return job_fail(dl, CAIRN_EIO, "ftruncate");
    dl->written = dl->hashed = off;
    return 0;
}

static void job_prepare(struct cairn_download *dl)
{
    struct stat st;

    if (mkdirs(dl->dl_dir, 0700) != 0 || mkdirs(dl->blob_dir, 0755) != 0) {
        job_fail(dl, errno_to_cairn(errno), "mkdir for");
        return;
    }
    if (lstat(dl->blob, &st) == 0) {
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == dl->size) {
            dl->present = 1;
            return;
        }
        unlink(dl->blob); /* not ours: a blob is only installed verified */
    }
    if (open_partial(dl, &st) != 0 ||
        check_space(dl, (uint64_t)st.st_size) != 0 ||
        rehash(dl, (uint64_t)st.st_size) != 0) {
        if (dl->fd >= 0 && st.st_size == 0)
            unlink(dl->partial); /* we just made it: leave nothing behind */
        close_partial(dl);
        return;
    }
    setup_direct(dl);
}

static int write_all(struct cairn_download *dl, const uint8_t *p, size_t n,
                     uint64_t off)
{
    ssize_t w;

    while (n) {
        w = pwrite(dl->fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return job_fail(dl, errno_to_cairn(w < 0 ? errno : EIO), "write");
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* One buffer to the file: direct when it is aligned, else (or when the
 * file system refuses after all) through the page cache. */
static int write_chunk(struct cairn_download *dl, const struct chunk *ch)
{
    size_t done = 0;
    ssize_t w;

    if (dl->dio_align && ch->off % dl->dio_align == 0 &&
        ch->len % dl->dio_align == 0 && set_direct(dl, 1) == 0) {
        do
            w = pwrite(dl->fd, ch->data, ch->len, (off_t)ch->off);
        while (w < 0 && errno == EINTR);
        if (w == (ssize_t)ch->len) {
            dl->direct_bytes += ch->len;
            return 0;
        }
        if (w < 0 && errno != EINVAL)
            return job_fail(dl, errno_to_cairn(errno), "write");
        if (w < 0)
            dl->dio_align = 0; /* refused: the page cache from now on */
        else
            done = (size_t)w; /* short (a full disk?): the rest buffered */
    }
    if (set_direct(dl, 0) != 0)
        return job_fail(dl, CAIRN_EIO, "fcntl");
    if (write_all(dl, ch->data + done, ch->len - done, ch->off + done) != 0)
        return dl->job_err;
    /* Start write-back now, so that the final fsync finds little to do.
     * Only a hint: waiting here for older ranges (to bound dirty memory)
     * measured slower on a busy disk, and the kernel's dirty limits bound
     * it anyway. */
    sync_file_range(dl->fd, (off_t)ch->off, (off_t)ch->len,
                    SYNC_FILE_RANGE_WRITE);
    return 0;
}

static void job_write(struct cairn_download *dl, struct chunk *ch)
{
    if (ch->restart) {
        if (ftruncate(dl->fd, 0) != 0) {
            job_fail(dl, CAIRN_EIO, "ftruncate");
            return;
        }
        dl->written = 0;
    }
    if (ch->off != dl->written) {
        dl->job_err = CAIRN_EIO;
        setmsg(dl->job_msg, "internal: chunk at %" PRIu64 ", file at %" PRIu64,
               ch->off, dl->written);
        return;
    }
    if (ch->len == 0 || write_chunk(dl, ch) != 0)
        return;
    dl->written += ch->len;
}

/* The hash stage: in order, in parallel with the write stage. */
static void hash_cb(uv_work_t *w)
{
    struct cairn_download *dl =
        cairn_container_of(w, struct cairn_download, hwork);
    struct chunk *ch = dl->hash_chunk;

    if (ch->restart) {
        cairn_sha256_reset(dl->h);
        dl->hashed = 0;
    }
    cairn_sha256_update(dl->h, ch->data, ch->len);
    dl->hashed += ch->len;
}

static void job_discard(struct cairn_download *dl)
{
    if (unlink(dl->partial) != 0 && errno != ENOENT)
        job_fail(dl, CAIRN_EIO, "unlink");
    close_partial(dl);
    cairn_sha256_reset(dl->h);
    dl->written = dl->hashed = 0;
}

static void job_finalize(struct cairn_download *dl)
{
    uint8_t got[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    struct stat st;

    if (fstat(dl->fd, &st) != 0 || (uint64_t)st.st_size != dl->size ||
        dl->hashed != dl->size) {
        dl->job_err = CAIRN_ESIZE;
        setmsg(dl->job_msg, "%s is %jd bytes, signed size %" PRIu64,
               dl->partial, (intmax_t)st.st_size, dl->size);
        return;
    }
    cairn_sha256_final(dl->h, got);
    if (memcmp(got, dl->digest, sizeof(got)) != 0) {
        cairn_hex_encode(got, sizeof(got), hex);
        job_discard(dl);
        dl->job_err = CAIRN_EDIGEST;
        setmsg(dl->job_msg, "downloaded bytes have sha256 %s, signed %s", hex,
               dl->hex);
        return;
    }
    /* Read-only and durable before the name appears under blobs/. */
    if (fchmod(dl->fd, 0444) != 0 || fsync(dl->fd) != 0) {
        job_fail(dl, errno_to_cairn(errno), "fsync");
        return;
    }
    if (rename(dl->partial, dl->blob) != 0) {
        job_fail(dl, errno_to_cairn(errno), "rename");
        return;
    }
    if (fsync_dir(dl->blob_dir) != 0 || fsync_dir(dl->dl_dir) != 0)
        job_fail(dl, CAIRN_EIO, "fsync directory of");
    close_partial(dl);
}

static void work_cb(uv_work_t *w)
{
    struct cairn_download *dl =
        cairn_container_of(w, struct cairn_download, work);

    switch (dl->job) {
    case J_PREPARE:
        job_prepare(dl);
        break;
    case J_WRITE:
        job_write(dl, dl->job_chunk);
        break;
    case J_DISCARD:
        job_discard(dl);
        break;
    case J_FINALIZE:
        job_finalize(dl);
        break;
    case J_NONE:
        break;
    }
}

static void after_work(uv_work_t *w, int status);

static void run_job(struct cairn_download *dl, enum job j)
{
    dl->job = j;
    dl->job_err = 0;
    dl->job_msg[0] = '\0';
    dl->busy = 1;
    uv_queue_work(dl->loop, &dl->work, work_cb, after_work);
}

/* ---- finishing -------------------------------------------------------------
 */

static void free_dl(uv_handle_t *h)
{
    struct cairn_download *dl = h->data;
    size_t i;

    for (i = 0; i < dl->n_urls; i++)
        free(dl->urls[i]);
    free(dl->urls);
    for (i = 0; dl->headers && dl->headers[i]; i++)
        free(dl->headers[i]);
    free(dl->headers);
    for (i = 0; i < NBUF; i++)
        free(dl->bufs[i].data);
    cairn_sha256_free(dl->h);
    free(dl->dl_dir);
    free(dl->blob_dir);
    free(dl->partial);
    free(dl->blob);
    free(dl);
}

/* Only when no job runs and no request is active. */
static void finish(struct cairn_download *dl, int err, const char *msg)
{
    struct cairn_download_result res;
    char full[2 * MSG_MAX];

    dl->st = ST_DONE;
    if (err && dl->fd >= 0 && dl->written == 0)
        unlink(dl->partial); /* an empty partial holds nothing to resume */
    close_partial(dl);
    uv_timer_stop(&dl->timer);
    memset(&res, 0, sizeof(res));
    res.err = err;
    if (err) {
        snprintf(full, sizeof(full),
                 "download sha256:%.12s (%" PRIu64 " bytes, %u attempt(s)): %s",
                 dl->hex, dl->size, dl->attempts, msg);
        res.msg = full;
    } else {
        res.msg = "";
        res.blob_path = dl->blob;
    }
    res.bytes_fetched = dl->fetched;
    res.attempts = dl->attempts;
    res.bad_urls = dl->bad;
    res.resumed_from = dl->resumed_from;
    res.direct_bytes = dl->direct_bytes;
    res.already_present = dl->present;
    dl->cb(dl, &res, dl->arg);
    uv_close((uv_handle_t *)&dl->timer, free_dl);
}

static int all_bad(const struct cairn_download *dl)
{
    return dl->bad == (dl->n_urls >= 32 ? UINT32_MAX : (1u << dl->n_urls) - 1);
}

static void on_retry(uv_timer_t *t)
{
    struct cairn_download *dl = t->data;

    if (dl->canceled) {
        finish(dl, CAIRN_ECANCELED, "canceled");
        return;
    }
    if (dl->fd < 0) {
        dl->st = ST_PREPARING;
        run_job(dl, J_PREPARE);
        return;
    }
    begin_attempt(dl);
}

/* The attempt failed: count it, pick the next URL, wait, or give up. */
static void schedule_next(struct cairn_download *dl, int progress)
{
    uint32_t delay = 0;
    size_t i;

    dl->last_err = dl->att_err ? dl->att_err : CAIRN_ENET;
    setmsg(dl->last_msg, "%s", dl->att_msg[0] ? dl->att_msg : "failed");
    if (!progress)
        dl->tries++;
    LOG_INFO("download %.12s: attempt %u failed (%s)", dl->hex, dl->attempts,
             dl->last_msg);
    if (all_bad(dl)) {
        finish(dl, dl->last_err, dl->last_msg);
        return;
    }
    if (dl->tries >= dl->max_tries || dl->attempts >= dl->max_attempts) {
        char msg[MSG_MAX + 64];
        snprintf(msg, sizeof(msg),
                 "gave up after %u attempts (%u without "
                 "progress); last: %s",
                 dl->attempts, dl->tries, dl->last_msg);
        finish(dl, dl->last_err, msg);
        return;
    }
    if (!progress) {
        delay = dl->delay_ms;
        dl->delay_ms =
            dl->delay_ms > MAX_DELAY_MS / 2 ? MAX_DELAY_MS : dl->delay_ms * 2;
        dl->url_i = (dl->url_i + 1) % dl->n_urls;
    } else {
        dl->delay_ms = dl->delay0;
    }
    if (dl->att_retry_ms > delay)
        delay = dl->att_retry_ms;
    for (i = 0; i < dl->n_urls && (dl->bad >> dl->url_i & 1u); i++)
        dl->url_i = (dl->url_i + 1) % dl->n_urls;
    dl->st = ST_WAITING;
    uv_timer_start(&dl->timer, on_retry, delay, 0);
}

/* ---- the transfer
 * ------------------------------------------------------------ */

static void att_fail(struct cairn_download *dl, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void att_fail(struct cairn_download *dl, int err, const char *fmt, ...)
{
    va_list ap;

    if (dl->att_err)
        return;
    dl->att_err = err;
    va_start(ap, fmt);
    vsnprintf(dl->att_msg, sizeof(dl->att_msg), fmt, ap);
    va_end(ap);
}

static int head_206(struct cairn_download *dl, const struct cairn_httpc_head *h)
{
    const char *url = dl->urls[dl->url_i];
    uint64_t first, last, total;

    if (dl->recv_off == 0 ||
        cairn_httpc_parse_content_range(h->content_range, &first, &last,
                                        &total) != 0 ||
        first != dl->recv_off || last >= dl->size ||
        (total != dl->size && total != UINT64_MAX) ||
        (h->content_length >= 0 &&
         (uint64_t)h->content_length != last - first + 1)) {
        att_fail(dl, CAIRN_EHTTP,
                 "%s: 206 with Content-Range \"%s\", asked "
                 "bytes=%" PRIu64 "- of %" PRIu64,
                 url, h->content_range, dl->recv_off, dl->size);
        return CAIRN_EHTTP;
    }
    dl->expect_end = last + 1;
    return 0;
}

static int head_200(struct cairn_download *dl, const struct cairn_httpc_head *h)
{
    const char *url = dl->urls[dl->url_i];

    if (h->content_length >= 0 && (uint64_t)h->content_length != dl->size) {
        /* Content-addressed: another length is another object. */
        dl->att_bad = 1;
        dl->att_discard = (uint64_t)h->content_length > dl->size;
        att_fail(dl,
                 (uint64_t)h->content_length > dl->size ? CAIRN_ETOOBIG
                                                        : CAIRN_ESIZE,
                 "%s: Content-Length %" PRId64 ", signed size %" PRIu64, url,
                 h->content_length, dl->size);
        return dl->att_err;
    }
    if (dl->recv_off > 0) {
        /* The server ignored our Range: start over from byte 0. */
        dl->restart_pending = 1;
        dl->recv_off = 0;
    }
    dl->expect_end = dl->size;
    return 0;
}

static int on_head(struct cairn_httpc_req *r, const struct cairn_httpc_head *h,
                   void *arg)
{
    struct cairn_download *dl = arg;
    const char *url = dl->urls[dl->url_i];
    uint32_t secs;

    (void)r;
    if (h->status == 206)
        return head_206(dl, h);
    if (h->status == 200)
        return head_200(dl, h);
    if (h->status == 416)
        dl->att_discard = 1; /* our partial does not fit what it serves */
    if ((h->status == 503 || h->status == 429) && h->retry_after[0] &&
        cairn_httpc_parse_retry_after(h->retry_after, (int64_t)time(NULL),
                                      MAX_RETRY_AFTER_S, &secs) == 0)
        dl->att_retry_ms = secs * 1000u;
    att_fail(dl, CAIRN_EHTTP, "%s: HTTP %ld", url, h->status);
    return CAIRN_EHTTP;
}

static struct chunk *take_buffer(struct cairn_download *dl)
{
    struct chunk *ch = dl->free_list;

    dl->free_list = ch->next;
    dl->nfree--;
    ch->next = NULL;
    ch->len = 0;
    ch->off = dl->recv_off;
    /* Buffers end on BUF_SIZE boundaries of the file, so that after a
     * resume at an odd offset only the first one is unaligned. */
    ch->cap = BUF_SIZE - (size_t)(dl->recv_off % BUF_SIZE);
    ch->restart = dl->restart_pending;
    ch->src = (int)dl->url_i;
    ch->hashed = ch->written = 0;
    dl->restart_pending = 0;
    return ch;
}

static void queue_fill(struct cairn_download *dl)
{
    struct chunk *ch = dl->fill;

    if (!ch)
        return;
    dl->fill = NULL;
    if (ch->len == 0 && !ch->restart) {
        ch->next = dl->free_list;
        dl->free_list = ch;
        dl->nfree++;
        return;
    }
    if (dl->qtail)
        dl->qtail->next = ch;
    else
        dl->qhead = ch;
    dl->qtail = ch;
    if (!dl->hnext)
        dl->hnext = ch;
    if (!dl->wnext)
        dl->wnext = ch;
}

/* Bytes the buffers can still take: the rest of the one being filled, then
 * the free ones (the first of which may end early, at a BUF_SIZE boundary
 * of the file, when no buffer is being filled). */
static uint64_t room_for(const struct cairn_download *dl)
{
    uint64_t first;

    if (dl->fill)
        return dl->fill->cap - dl->fill->len + (uint64_t)dl->nfree * BUF_SIZE;
    if (!dl->nfree)
        return 0;
    first = BUF_SIZE - dl->recv_off % BUF_SIZE;
    return first + (uint64_t)(dl->nfree - 1) * BUF_SIZE;
}

static int on_data(struct cairn_httpc_req *r, const void *data, size_t n,
                   void *arg)
{
    struct cairn_download *dl = arg;
    const uint8_t *p = data;
    size_t k;

    (void)r;
    if (dl->canceled || dl->io_err)
        return CAIRN_ECANCELED;
    if (n > dl->expect_end - dl->recv_off) {
        dl->att_bad = 1;
        dl->att_discard = 1;
        att_fail(dl, CAIRN_ETOOBIG,
                 "%s: server sent more than the %" PRIu64 " bytes expected",
                 dl->urls[dl->url_i], dl->expect_end);
        return CAIRN_ETOOBIG;
    }
    if (room_for(dl) < n) {
        dl->paused = 1; /* the disk is behind: hold the network */
        return CAIRN_HTTPC_PAUSE;
    }
    dl->att_bytes += n;
    while (n) {
        if (!dl->fill)
            dl->fill = take_buffer(dl);
        k = dl->fill->cap - dl->fill->len < n ? dl->fill->cap - dl->fill->len
                                              : n;
        memcpy(dl->fill->data + dl->fill->len, p, k);
        dl->fill->len += k;
        dl->recv_off += k;
        p += k;
        n -= k;
        if (dl->fill->len == dl->fill->cap)
            queue_fill(dl);
    }
    kick(dl);
    return 0;
}

static void on_req_done(struct cairn_httpc_req *r,
                        const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_download *dl = arg;

    (void)r;
    dl->req = NULL;
    dl->paused = 0;
    dl->fetched += res->body_bytes;
    if (res->err)
        att_fail(dl, res->err, "%s", res->msg);
    else if (dl->recv_off < dl->expect_end)
        att_fail(dl, CAIRN_ENET,
                 "%s: connection closed after %" PRIu64 " of %" PRIu64 " bytes",
                 dl->urls[dl->url_i], dl->recv_off, dl->expect_end);
    queue_fill(dl);
    kick(dl);
    if (drained(dl))
        attempt_over(dl);
}

static void begin_attempt(struct cairn_download *dl)
{
    struct cairn_httpc_request rq = {0};
    struct cairn_diag d;
    int rc;

    dl->st = ST_FETCHING;
    dl->attempts++;
    dl->att_err = dl->att_bad = dl->att_discard = 0;
    dl->att_msg[0] = '\0';
    dl->att_bytes = 0;
    dl->att_retry_ms = 0;
    dl->recv_off = dl->written;
    dl->expect_end = dl->size;
    dl->restart_pending = 0;
    rq.url = dl->urls[dl->url_i];
    rq.headers = (const char *const *)dl->headers;
    rq.on_head = on_head;
    rq.on_data = on_data;
    rq.max_body = 0; /* on_head/on_data hold the exact limit themselves */
    rq.range_start = dl->written;
    rq.low_speed_limit = dl->ls_limit;
    rq.low_speed_time = dl->ls_time;
    rq.recv_buffer = RECV_BUFFER;
    rq.follow_redirects = 1;
    cairn_diag_init(&d);
    rc = cairn_httpc_start(dl->c, &rq, on_req_done, dl, &dl->req, &d);
    if (rc) {
        /* A URL curl refuses stays refused: bad for this generation. */
        dl->att_bad = rc == CAIRN_EINVAL;
        att_fail(dl, rc, "%s", cairn_diag_msg(&d));
        attempt_over(dl);
    }
}

/* The request is over and every byte it brought is on disk. */
static void attempt_over(struct cairn_download *dl)
{
    if (dl->io_err) {
        finish(dl, dl->io_err, dl->io_msg);
        return;
    }
    if (dl->canceled) {
        finish(dl, CAIRN_ECANCELED, "canceled");
        return;
    }
    if (dl->att_bad)
        dl->bad |= 1u << dl->url_i;
    if (dl->att_discard) {
        /* Even when the first size bytes were fine: a server that sends
         * more is not serving this object. */
        dl->st = ST_DISCARDING;
        run_job(dl, J_DISCARD);
        return;
    }
    if (dl->written == dl->size) {
        dl->st = ST_FINALIZING;
        run_job(dl, J_FINALIZE);
        return;
    }
    schedule_next(dl, dl->att_bytes >= PROGRESS_MIN && !dl->att_bad);
}

/* ---- job completions -------------------------------------------------------
 */

/* Start each stage on its next chunk, if it is idle. */
static void kick(struct cairn_download *dl)
{
    struct chunk *ch;

    if (dl->io_err)
        return; /* the download ends once both stages are idle */
    if (!dl->hbusy && (ch = dl->hnext) != NULL) {
        dl->hnext = ch->next;
        dl->hash_chunk = ch;
        dl->hbusy = 1;
        uv_queue_work(dl->loop, &dl->hwork, hash_cb, after_hash);
    }
    if (!dl->busy && (ch = dl->wnext) != NULL) {
        dl->wnext = ch->next;
        dl->job_chunk = ch;
        run_job(dl, J_WRITE);
    }
}

/* Give back the buffers both stages are done with, start more work,
 * release a paused transfer, and end the attempt once all is on disk. */
static void chunks_moved(struct cairn_download *dl)
{
    struct chunk *ch;

    while ((ch = dl->qhead) != NULL && ch->hashed && ch->written) {
        dl->qhead = ch->next;
        if (!dl->qhead)
            dl->qtail = NULL;
        ch->next = dl->free_list;
        dl->free_list = ch;
        dl->nfree++;
    }
    kick(dl);
    if (dl->paused && dl->req && !dl->io_err && dl->nfree) {
        dl->paused = 0;
        cairn_httpc_resume(dl->req);
    }
    if (!dl->req && drained(dl))
        attempt_over(dl);
}

static void after_hash(uv_work_t *w, int status)
{
    struct cairn_download *dl =
        cairn_container_of(w, struct cairn_download, hwork);

    (void)status;
    dl->hbusy = 0;
    dl->hash_chunk->hashed = 1;
    dl->hash_chunk = NULL;
    chunks_moved(dl);
}

static void write_done(struct cairn_download *dl)
{
    struct chunk *ch = dl->job_chunk;

    dl->job_chunk = NULL;
    ch->written = 1;
    if (ch->restart || ch->off == 0)
        dl->src = ch->src;
    else if (dl->src != ch->src)
        dl->src = SRC_MIXED;
    if (dl->job_err && !dl->io_err) {
        /* Disk trouble ends the download: stop the request. */
        dl->io_err = dl->job_err;
        setmsg(dl->io_msg, "%s", dl->job_msg);
        if (dl->req)
            cairn_httpc_cancel(dl->req);
    }
    chunks_moved(dl);
}

static void prepare_done(struct cairn_download *dl)
{
    if (dl->job_err) {
        finish(dl, dl->job_err, dl->job_msg);
        return;
    }
    if (dl->canceled) {
        finish(dl, CAIRN_ECANCELED, "canceled");
        return;
    }
    if (dl->present) {
        finish(dl, 0, "");
        return;
    }
    if (dl->attempts == 0) {
        dl->resumed_from = dl->written;
        dl->src = dl->written ? SRC_MIXED : SRC_NONE; /* origin unknown */
    } else {
        dl->src = SRC_NONE;
    }
    if (dl->written == dl->size) {
        dl->st = ST_FINALIZING;
        run_job(dl, J_FINALIZE);
        return;
    }
    begin_attempt(dl);
}

static void finalize_done(struct cairn_download *dl)
{
    if (!dl->job_err) {
        finish(dl, 0, "");
        return;
    }
    if (dl->job_err != CAIRN_EDIGEST) {
        finish(dl, dl->job_err, dl->job_msg);
        return;
    }
    /* Wrong bytes: the partial is gone. Blame the URL only when it alone
     * supplied them. */
    if (dl->src >= 0)
        dl->bad |= 1u << dl->src;
    dl->att_err = CAIRN_EDIGEST;
    if (dl->src >= 0)
        setmsg(dl->att_msg, "%s: %s", dl->urls[dl->src], dl->job_msg);
    else
        setmsg(dl->att_msg, "%s", dl->job_msg);
    dl->src = SRC_NONE;
    if (dl->canceled) {
        finish(dl, CAIRN_ECANCELED, "canceled");
        return;
    }
    schedule_next(dl, 0);
}

static void after_work(uv_work_t *w, int status)
{
    struct cairn_download *dl =
        cairn_container_of(w, struct cairn_download, work);
    enum job j = dl->job;

    (void)status;
    dl->busy = 0;
    dl->job = J_NONE;
    switch (j) {
    case J_PREPARE:
        prepare_done(dl);
        break;
    case J_WRITE:
        write_done(dl);
        break;
    case J_DISCARD:
        if (dl->job_err)
            finish(dl, dl->job_err, dl->job_msg);
        else if (dl->canceled)
            finish(dl, CAIRN_ECANCELED, "canceled");
        else
            schedule_next(dl, 0);
        break;
    case J_FINALIZE:
        finalize_done(dl);
        break;
    case J_NONE:
        break;
    }
}

/* ---- public -------------------------------------------------------------- */

static int validate(const struct cairn_download_opts *o, struct cairn_diag *d)
{
    size_t i;

    if (!o || !o->state_dir || !o->state_dir[0])
        return cairn_diag_set(d, CAIRN_EINVAL, "download: no state directory");
    if (!o->sha256 || !cairn_is_sha256_hex(o->sha256))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "download: sha256 \"%.80s\" is not "
                              "64 lower-case hex digits",
                              o->sha256 ? o->sha256 : "");
    if (o->size == 0 || o->size > (uint64_t)INT64_MAX)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "download: size %" PRIu64 " out of range",
                              o->size);
    if (!o->urls || o->n_urls == 0 || o->n_urls > CAIRN_DOWNLOAD_MAX_URLS)
        return cairn_diag_set(d, CAIRN_EINVAL, "download: %zu URLs (1..%d)",
                              o->n_urls, CAIRN_DOWNLOAD_MAX_URLS);
    for (i = 0; i < o->n_urls; i++)
        if (!o->urls[i])
            return cairn_diag_set(d, CAIRN_EINVAL, "download: URL %zu is NULL",
                                  i);
    if (o->low_speed_limit < 0 || o->low_speed_time < 0)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "download: negative low-speed option");
    return 0;
}

static void copy_opts(struct cairn_download *dl,
                      const struct cairn_download_opts *o)
{
    size_t i, n = 0;

    memcpy(dl->hex, o->sha256, CAIRN_SHA256_HEX_LEN + 1);
    if (cairn_hex_decode(dl->hex, dl->digest, CAIRN_SHA256_LEN) != 0)
        abort(); /* validated above */
    dl->size = o->size;
    dl->n_urls = o->n_urls;
    dl->urls = cairn_xcalloc(o->n_urls, sizeof(char *));
    for (i = 0; i < o->n_urls; i++)
        dl->urls[i] = cairn_xstrdup(o->urls[i]);
    while (o->headers && o->headers[n])
        n++;
    dl->headers = cairn_xcalloc(n + 1, sizeof(char *));
    for (i = 0; i < n; i++)
        dl->headers[i] = cairn_xstrdup(o->headers[i]);
    dl->max_tries = o->max_tries ? o->max_tries : 3 * (unsigned)o->n_urls;
    dl->max_attempts = o->max_attempts ? o->max_attempts : 64;
    dl->margin = o->space_margin ? o->space_margin : 64ull << 20;
    dl->ls_limit = o->low_speed_limit ? o->low_speed_limit : 1024;
    dl->ls_time = o->low_speed_time ? o->low_speed_time : 30;
    dl->delay0 = o->retry_delay_ms ? o->retry_delay_ms : 1000;
    dl->delay_ms = dl->delay0;
    dl->buffered_only = o->buffered_only;
    dl->dl_dir = cairn_xasprintf("%s/downloads", o->state_dir);
    dl->blob_dir = cairn_xasprintf("%s/blobs/sha256", o->state_dir);
    dl->partial = cairn_download_partial_path(o->state_dir, dl->hex);
    dl->blob = cairn_download_blob_path(o->state_dir, dl->hex);
}

int cairn_download_start(struct cairn_httpc *c,
                         const struct cairn_download_opts *o,
                         cairn_download_cb cb, void *arg,
                         struct cairn_download **out, struct cairn_diag *d)
{
    struct cairn_download *dl;
    size_t i;
    int rc;

    if (!c || !cb)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "download: no client or callback");
    rc = validate(o, d);
    if (rc)
        return rc;
    dl = cairn_xcalloc(1, sizeof(*dl));
    dl->c = c;
    dl->loop = cairn_httpc_loop(c);
    dl->cb = cb;
    dl->arg = arg;
    dl->fd = -1;
    dl->src = SRC_NONE;
    dl->h = cairn_sha256_new();
    copy_opts(dl, o);
    for (i = 0; i < NBUF; i++) {
        dl->bufs[i].data = xalloc_buf();
        dl->bufs[i].next = dl->free_list;
        dl->free_list = &dl->bufs[i];
    }
    dl->nfree = NBUF;
    uv_timer_init(dl->loop, &dl->timer);
    dl->timer.data = dl;
    dl->st = ST_PREPARING;
    run_job(dl, J_PREPARE);
    if (out)
        *out = dl;
    return 0;
}

void cairn_download_cancel(struct cairn_download *dl)
{
    if (!dl || dl->st == ST_DONE || dl->canceled)
        return;
    dl->canceled = 1;
    if (dl->req)
        cairn_httpc_cancel(dl->req);
    else if (dl->st == ST_WAITING)
        uv_timer_start(&dl->timer, on_retry, 0, 0);
}
