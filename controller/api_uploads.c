/*
 * POST /v1/sites/{site}/uploads?name=N&sha256=HEX: files a workload hands
 * to the central lab (anonymized images for retraining). Stored as
 * <stateDir>/uploads/<site>/<model version>/<name>, and idempotent by
 * content hash: <site>/.sha256/<hex> marks what is stored.
 *
 * The body is streamed, never held whole (docs/protocol.md "Uploads"):
 *   head hook  token, query and the number of uploads in progress are
 *              checked before any body byte is read (401/403/400/429/503);
 *   body       pieces collect in a buffer; each full buffer is hashed and
 *              appended to a temp file under uploads/.tmp/ by a thread-pool
 *              job, while the next one fills; when both are full the
 *              request is paused, so a client faster than the disk is held
 *              back by TCP instead of by memory;
 *   handler    (body complete) the last job writes the rest, checks the
 *              digest, fsyncs, renames into place (fsync of the directory)
 *              and writes the mark; the loop records it and answers;
 *   abort      (client gone, body over the cap, stop) the temp file is
 *              removed.
 * One job at a time per upload, so the hash and file need no lock: the
 * loop owns the fields marked "loop", the running job those marked "job".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"

#define NAME_MAX_LEN 128
#define VERSION_MAX_LEN 64
/* Bytes per write job; an upload has two buffers of about this size. */
#define UP_CHUNK (256u << 10)

enum up_op { OP_WRITE, OP_FINISH, OP_DISCARD };

struct upload {
    uv_work_t w;
    struct cairn__ctrl *c;
    char site[CAIRN_SITE_MAX + 1];
    char name[NAME_MAX_LEN + 1];
    char version[VERSION_MAX_LEN + 1];
    char sha[CAIRN_SHA256_HEX_LEN + 1];
    char *root;                /* <stateDir>/uploads */
    struct cairn_sha256 *hash; /* job */
    char *tmp;                 /* job: the temp file, once made */
    int fd;                    /* job: -1 until made */
    int status;                /* job: 0, or the HTTP status of a failure;
                                  after OP_FINISH 200, 201 or the error */
    char msg[512];             /* job */
    char *out;                 /* job: the bytes being written */
    size_t out_len, out_cap;
    enum up_op op; /* set by the loop before each job */
    /* loop */
    struct cairn_httpd_req *req; /* NULL once answered or gone */
    char *fill;                  /* body bytes not yet handed to a job */
    size_t fill_len, fill_cap;
    uint64_t total;
    int busy;   /* a job runs */
    int paused; /* we paused the request */
    int ended;  /* the body is complete (the handler ran) */
    int gone;   /* the request ended without a complete body */
};

/* 1-128 of A-Z a-z 0-9 . _ -, not starting with '.'. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234"
                     "56789._-") == n;
}

/* A model version as docs/formats.md allows it. */
static int version_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > VERSION_MAX_LEN ||
        !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                "qrstuvwxyz0123456789",
                s[0]))
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234"
                     "56789._+-") == n;
}

static char *tmp_dir(const char *root)
{
    return cairn_xasprintf("%s/.tmp", root);
}

/* ---- on the thread pool ----------------------------------------------------
 */

__attribute__((format(printf, 3, 4))) static int
set(struct upload *u, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    u->status = status;
    vsnprintf(u->msg, sizeof(u->msg), fmt, ap);
    va_end(ap);
    return status;
}

/* A full disk is the client's to retry later (507), not a server bug. */
static int io_status(int e)
{
    return e == ENOSPC || e == EDQUOT ? 507 : 500;
}

static int open_tmp(struct upload *u)
{
    char *dir = tmp_dir(u->root);
    int rc = 0;

    if (cairn_fs_mkdir_p(dir, 0750, NULL) != 0) {
        rc = set(u, 500, "cannot create %s", dir);
        goto out;
    }
    u->tmp = cairn_xasprintf("%s/%s-XXXXXX", dir, u->site);
    u->fd = mkstemp(u->tmp);
    if (u->fd < 0) {
        rc = set(u, io_status(errno), "cannot create a file in %s: %s", dir,
                 strerror(errno));
        free(u->tmp);
        u->tmp = NULL;
    }
out:
    free(dir);
    return rc;
}

/* Hash and append out to the temp file. */
static int write_out(struct upload *u)
{
    size_t off = 0;

    if (u->fd < 0 && open_tmp(u) != 0)
        return u->status;
    cairn_sha256_update(u->hash, u->out, u->out_len);
    while (off < u->out_len) {
        ssize_t n = write(u->fd, u->out + off, u->out_len - off);

        if (n < 0 && errno != EINTR)
            return set(u, io_status(errno), "cannot write %s: %s", u->tmp,
                       strerror(errno));
        if (n > 0)
            off += (size_t)n;
    }
    return 0;
}

static void discard(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    if (u->tmp)
        unlink(u->tmp);
    free(u->tmp);
    u->tmp = NULL;
}

/* An existing file at path: the same content (200) or a conflict (409). */
static int existing(struct upload *u, const char *path)
{
    uint8_t md[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];

    if (cairn_sha256_file(path, md, NULL) != 0)
        return set(u, 500, "cannot read %s", path);
    cairn_hex_encode(md, sizeof(md), hex);
    if (strcmp(hex, u->sha) == 0)
        return set(u, 200, "already stored");
    return set(u, 409,
               "a different file named %s is already stored for version %s",
               u->name, u->version);
}

/* rename, then fsync the directory so that the new name is durable. */
static int move_into(struct upload *u, const char *dir, const char *path)
{
    if (rename(u->tmp, path) != 0)
        return set(u, 500, "cannot rename to %s: %s", path, strerror(errno));
    free(u->tmp);
    u->tmp = NULL;
    if (cairn_fs_fsync_dir(dir, NULL) != 0)
        return set(u, 500, "cannot sync %s", dir);
    return set(u, 201, "stored");
}

/* Move the complete, synced temp file into place (or find it stored). */
static int store(struct upload *u)
{
    char *dir = cairn_xasprintf("%s/%s/%s", u->root, u->site, u->version);
    char *marks = cairn_xasprintf("%s/%s/.sha256", u->root, u->site);
    char *mark = cairn_xasprintf("%s/%s", marks, u->sha);
    char *path = cairn_xasprintf("%s/%s", dir, u->name);
    char *rel = cairn_xasprintf("%s/%s\n", u->version, u->name);
    struct stat st;
    int rc;

    if (cairn_fs_mkdir_p(dir, 0750, NULL) != 0 ||
        cairn_fs_mkdir_p(marks, 0750, NULL) != 0)
        rc = set(u, 500, "cannot create %s", dir);
    else if (stat(mark, &st) == 0)
        rc = set(u, 200, "already stored");
    else if (lstat(path, &st) == 0)
        rc = existing(u, path);
    else
        rc = move_into(u, dir, path);
    if ((rc == 200 || rc == 201) &&
        cairn_fs_write_durable(mark, rel, strlen(rel), 0640, NULL) != 0)
        rc = set(u, 500, "cannot write %s", mark);
    free(dir);
    free(marks);
    free(mark);
    free(path);
    free(rel);
    return rc;
}

/* The last bytes, the digest, then durably into place. */
static void finish(struct upload *u)
{
    uint8_t md[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];

    if (write_out(u) != 0)
        return;
    cairn_sha256_final(u->hash, md);
    cairn_hex_encode(md, sizeof(md), hex);
    if (strcmp(hex, u->sha) != 0) {
        set(u, 400, "digest mismatch (want %s, got %s)", u->sha, hex);
        return;
    }
    if (fchmod(u->fd, 0640) != 0 || fsync(u->fd) != 0) {
        set(u, io_status(errno), "cannot sync %s: %s", u->tmp, strerror(errno));
        return;
    }
    if (close(u->fd) != 0) {
        u->fd = -1;
        set(u, io_status(errno), "cannot close %s: %s", u->tmp,
            strerror(errno));
        return;
    }
    u->fd = -1;
    (void)store(u);
}

static void on_work(uv_work_t *w)
{
    struct upload *u = cairn_container_of(w, struct upload, w);

    switch (u->op) {
    case OP_WRITE:
        (void)write_out(u);
        break;
    case OP_FINISH:
        finish(u);
        discard(u); /* whatever was not renamed into place */
        break;
    case OP_DISCARD:
        discard(u);
        break;
    }
}

/* ---- on the loop
 * ------------------------------------------------------------- */

static void on_after(uv_work_t *w, int status);

static void upload_free(struct upload *u)
{
    struct cairn__ctrl *c = u->c;

    cairn_sha256_free(u->hash);
    free(u->root);
    free(u->tmp);
    free(u->fill);
    free(u->out);
    free(u);
    c->uploads_busy--;
    if (c->stopping)
        cairn__maybe_finish(c);
}

/* Run op on the thread pool with what was filled so far; the emptied
 * buffer of the last job becomes the one to fill. */
static void submit(struct upload *u, enum up_op op)
{
    char *buf = u->out;
    size_t cap = u->out_cap;

    u->out = u->fill;
    u->out_cap = u->fill_cap;
    u->out_len = u->fill_len;
    u->fill = buf;
    u->fill_cap = cap;
    u->fill_len = 0;
    u->op = op;
    u->busy = 1;
    /* Fails only for a NULL loop or callback. */
    if (uv_queue_work(&u->c->loop, &u->w, on_work, on_after) != 0)
        abort();
}

static void respond_result(struct upload *u)
{
    if (u->status == 200 || u->status == 201)
        cairn__respond_json(u->req, u->status,
                            json_pack("{s:s,s:s,s:s,s:b}", "sha256", u->sha,
                                      "name", u->name, "version", u->version,
                                      "stored", u->status == 201));
    else
        cairn_httpd_respond_error(u->req, u->status, u->msg);
    u->req = NULL;
}

/* The last job is done: count, record and answer. */
static void finished(struct upload *u)
{
    struct cairn__ctrl *c = u->c;

    if (u->status == 201) {
        struct cairn__site *s = cairn__site_get_or_add(c, u->site);

        s->uploads++;
        s->upload_bytes += (int64_t)u->total;
        c->m.uploads_stored++;
        cairn_records_batch_upload(cairn__records_next(c), u->site, u->sha,
                                   u->name, u->version, (int64_t)u->total,
                                   cairn__now());
        cairn__records_kick(c);
        LOG_INFO("upload from %s stored: %s/%s (%llu bytes)", u->site,
                 u->version, u->name, (unsigned long long)u->total);
    } else if (u->status == 200) {
        c->m.uploads_duplicate++;
    } else if (u->status >= 500) {
        LOG_ERROR("upload from %s: %s", u->site, u->msg);
    }
    if (u->req)
        respond_result(u);
    upload_free(u);
}

/* After a write job: the next step, and the body goes on if it waited. */
static void next_step(struct upload *u)
{
    if (u->gone) {
        submit(u, OP_DISCARD);
    } else if (u->status) {
        /* A write failed while the body arrives: answer now (the server
         * then closes the connection, the rest is never read) and remove
         * what was written. */
        LOG_ERROR("upload from %s: %s", u->site, u->msg);
        if (u->req)
            respond_result(u);
        u->gone = 1;
        submit(u, OP_DISCARD);
    } else if (u->ended) {
        submit(u, OP_FINISH);
    } else {
        if (u->fill_len >= UP_CHUNK)
            submit(u, OP_WRITE);
        if (u->paused) {
            u->paused = 0;
            cairn_httpd_req_resume(u->req);
        }
    }
}

static void on_after(uv_work_t *w, int status)
{
    struct upload *u = cairn_container_of(w, struct upload, w);

    u->busy = 0;
    if (status != 0 && !u->status) /* not run: the loop is going away */
        set(u, 503, "the controller is stopping");
    if (u->op == OP_DISCARD)
        upload_free(u);
    else if (u->op == OP_FINISH)
        finished(u);
    else
        next_step(u);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct upload *u = arg;

    if (ev == CAIRN_HTTPD_PARK_ABORTED)
        u->req = NULL; /* the file is still stored: a retry gets 200 */
    else
        cairn_httpd_park(req, 0, on_park, u); /* the job ends, then we answer */
}

/* Query and header checks; 0 or the response is sent. */
static int check_args(struct cairn_httpd_req *req, struct upload *u)
{
    const char *name = cairn_httpd_req_query(req, "name");
    const char *sha = cairn_httpd_req_query(req, "sha256");
    const char *ver = cairn_httpd_req_header(req, "X-Cairn-Model-Version");

    if (!name || !name_ok(name)) {
        cairn_httpd_bad_request(
            req, "name: 1-128 of A-Z a-z 0-9 . _ -, not starting with .");
        return -1;
    }
    if (!sha || !cairn_is_sha256_hex(sha)) {
        cairn_httpd_bad_request(req, "sha256: 64 lower-case hex digits");
        return -1;
    }
    if (ver && !version_ok(ver)) {
        cairn_httpd_bad_request(req,
                                "X-Cairn-Model-Version: not a model version");
        return -1;
    }
    snprintf(u->name, sizeof(u->name), "%s", name);
    snprintf(u->sha, sizeof(u->sha), "%s", sha);
    snprintf(u->version, sizeof(u->version), "%s", ver ? ver : "unversioned");
    return 0;
}

/* Head hook: everything that can be refused is refused before the body. */
static void on_head(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");
    struct upload *u;

    if (cairn__auth_site(c, req, site) != 0)
        return;
    if (c->stopping) {
        cairn_httpd_unavailable(req, 5, "the controller is stopping");
        return;
    }
    if (c->uploads_busy >= CAIRN__MAX_UPLOADS) {
        cairn_httpd_too_many(req, 2, "too many uploads in progress");
        return;
    }
    u = cairn_xcalloc(1, sizeof(*u));
    if (check_args(req, u) != 0) {
        free(u);
        return;
    }
    u->c = c;
    u->req = req;
    u->fd = -1;
    u->hash = cairn_sha256_new();
    snprintf(u->site, sizeof(u->site), "%s", site);
    u->root = cairn_xasprintf("%s/uploads", c->cfg.state_dir);
    c->uploads_busy++;
    cairn_httpd_req_set_data(req, u);
}

static void on_body(struct cairn_httpd_req *req, const char *data, size_t len,
                    void *arg)
{
    struct upload *u = cairn_httpd_req_data(req);

    (void)arg;
    if (u->fill_len + len > u->fill_cap) {
        u->fill_cap =
            u->fill_len + len < UP_CHUNK ? UP_CHUNK : u->fill_len + len;
        u->fill = cairn_xrealloc(u->fill, u->fill_cap);
    }
    memcpy(u->fill + u->fill_len, data, len);
    u->fill_len += len;
    u->total += len;
    if (u->fill_len < UP_CHUNK)
        return;
    if (!u->busy) {
        submit(u, OP_WRITE);
    } else if (!u->paused) { /* both buffers full: wait for the disk */
        u->paused = 1;
        cairn_httpd_req_pause(req);
    }
}

static void on_abort(struct cairn_httpd_req *req,
                     enum cairn_httpd_abort_reason why, void *arg)
{
    struct upload *u = cairn_httpd_req_data(req);

    (void)arg;
    LOG_INFO("upload from %s: %s after %llu bytes, discarded", u->site,
             why == CAIRN_HTTPD_ABORT_TIMEOUT   ? "body timed out"
             : why == CAIRN_HTTPD_ABORT_REFUSED ? "refused"
                                                : "client went away",
             (unsigned long long)u->total);
    u->req = NULL;
    u->gone = 1;
    if (!u->busy)
        submit(u, OP_DISCARD);
}

/* The body is complete: the last job finishes the file, then we answer. */
static void on_upload(struct cairn_httpd_req *req, void *arg)
{
    struct upload *u = cairn_httpd_req_data(req);

    (void)arg;
    u->ended = 1;
    cairn_httpd_park(req, 0, on_park, u);
    if (!u->busy)
        submit(u, OP_FINISH);
}

int cairn__api_uploads(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {(uint64_t)c->cfg.upload_max, "uploads"};
    struct cairn_httpd_route_hooks h = {on_head, on_body, on_abort};
    char *tmp = cairn_xasprintf("%s/uploads/.tmp", c->cfg.state_dir);

    /* Temp files left by a crash are never finished: start clean. */
    if (cairn_fs_rm_rf(tmp, NULL) != 0)
        LOG_WARN("cannot remove %s", tmp);
    free(tmp);
    return cairn_httpd_route_hooks(c->srv, CAIRN_HTTPD_POST,
                                   "/v1/sites/{site}/uploads", on_upload, c, &o,
                                   &h, d);
}
