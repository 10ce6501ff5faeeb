/*
 * POST /v1/sites/{site}/uploads?name=N&sha256=HEX: files a workload hands
 * to the central lab (anonymized images for retraining). The body arrives
 * within the route's cap (uploadMaxBytes); hashing and the durable write
 * (temp file, fsync, rename, fsync of the directory) run on the thread
 * pool. Stored as <stateDir>/uploads/<site>/<model version>/<name>, and
 * idempotent by content hash: <site>/.sha256/<hex> marks what is stored.
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

struct upload {
    uv_work_t w;
    struct cairn__ctrl *c;
    struct cairn_httpd_req *req; /* NULL once gone */
    char site[CAIRN_SITE_MAX + 1];
    char name[NAME_MAX_LEN + 1];
    char version[VERSION_MAX_LEN + 1];
    char sha[CAIRN_SHA256_HEX_LEN + 1];
    char *root; /* <stateDir>/uploads */
    char *body;
    size_t len;
    int status; /* 200, 201 or the error */
    char msg[512];
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

/* ---- on the thread pool
 * ------------------------------------------------------------ */

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

/* Write the body to path durably: a temp file beside it, fsync, rename. */
static int write_file(struct upload *u, const char *dir, const char *path)
{
    char *tmp = cairn_xasprintf("%s/.upload-XXXXXX", dir);
    int fd = mkstemp(tmp), rc = 0;
    size_t off = 0;

    if (fd < 0) {
        free(tmp);
        return set(u, 500, "cannot create a file in %s: %s", dir,
                   strerror(errno));
    }
    while (off < u->len && rc == 0) {
        ssize_t n = write(fd, u->body + off, u->len - off);

        if (n < 0 && errno != EINTR)
            rc = set(u, 500, "cannot write %s: %s", tmp, strerror(errno));
        else if (n > 0)
            off += (size_t)n;
    }
    if (rc == 0 && (fchmod(fd, 0640) != 0 || fsync(fd) != 0))
        rc = set(u, 500, "cannot sync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = set(u, 500, "cannot close %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = set(u, 500, "cannot rename to %s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else if (cairn_fs_fsync_dir(dir, NULL) != 0)
        rc = set(u, 500, "cannot sync %s", dir);
    free(tmp);
    return rc;
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

static int store(struct upload *u)
{
    char *dir = cairn_xasprintf("%s/%s/%s", u->root, u->site, u->version);
    char *marks = cairn_xasprintf("%s/%s/.sha256", u->root, u->site);
    char *mark = cairn_xasprintf("%s/%s", marks, u->sha);
    char *path = cairn_xasprintf("%s/%s", dir, u->name);
    char *rel = cairn_xasprintf("%s/%s\n", u->version, u->name);
    struct stat st;
    int rc = 0;

    if (cairn_fs_mkdir_p(dir, 0750, NULL) != 0 ||
        cairn_fs_mkdir_p(marks, 0750, NULL) != 0)
        rc = set(u, 500, "cannot create %s", dir);
    else if (stat(mark, &st) == 0)
        rc = set(u, 200, "already stored");
    else if (lstat(path, &st) == 0)
        rc = existing(u, path);
    else if ((rc = write_file(u, dir, path)) == 0)
        rc = set(u, 201, "stored");
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

static void on_work(uv_work_t *w)
{
    struct upload *u = cairn_container_of(w, struct upload, w);
    uint8_t md[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];

    cairn_sha256(u->body, u->len, md);
    cairn_hex_encode(md, sizeof(md), hex);
    if (strcmp(hex, u->sha) != 0) {
        set(u, 400, "digest mismatch (want %s, got %s)", u->sha, hex);
        return;
    }
    (void)store(u);
}

/* ---- on the loop
 * -------------------------------------------------------------------- */

static void upload_free(struct upload *u)
{
    free(u->root);
    free(u->body);
    free(u);
}

static void on_after(uv_work_t *w, int status)
{
    struct upload *u = cairn_container_of(w, struct upload, w);
    struct cairn__ctrl *c = u->c;
    int ok = status == 0 && (u->status == 200 || u->status == 201);

    c->uploads_busy--;
    if (ok && u->status == 201) {
        struct cairn__site *s = cairn__site_get_or_add(c, u->site);

        s->uploads++;
        s->upload_bytes += (int64_t)u->len;
        c->m.uploads_stored++;
        cairn_records_batch_upload(cairn__records_next(c), u->site, u->sha,
                                   u->name, u->version, (int64_t)u->len,
                                   cairn__now());
        cairn__records_kick(c);
        LOG_INFO("upload from %s stored: %s/%s (%zu bytes)", u->site,
                 u->version, u->name, u->len);
    } else if (ok) {
        c->m.uploads_duplicate++;
    } else if (u->status >= 500) {
        LOG_ERROR("upload from %s: %s", u->site, u->msg);
    }
    if (u->req && ok)
        cairn__respond_json(u->req, u->status,
                            json_pack("{s:s,s:s,s:s,s:b}", "sha256", u->sha,
                                      "name", u->name, "version", u->version,
                                      "stored", u->status == 201));
    else if (u->req)
        cairn_httpd_respond_error(u->req, status ? 503 : u->status,
                                  status ? "the controller is stopping"
                                         : u->msg);
    upload_free(u);
    if (c->stopping)
        cairn__maybe_finish(c);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct upload *u = arg;

    if (ev == CAIRN_HTTPD_PARK_ABORTED)
        u->req = NULL;
    else
        cairn_httpd_park(req, 0, on_park,
                         u); /* the write finishes, then we answer */
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

static void on_upload(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");
    struct upload *u;
    const char *body;

    if (cairn__auth_site(c, req, site) != 0)
        return;
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
    snprintf(u->site, sizeof(u->site), "%s", site);
    u->root = cairn_xasprintf("%s/uploads", c->cfg.state_dir);
    body = cairn_httpd_req_body(req, &u->len);
    u->body = cairn_xmalloc(u->len + 1);
    memcpy(u->body, body, u->len);
    if (uv_queue_work(&c->loop, &u->w, on_work, on_after) != 0) {
        upload_free(u);
        cairn_httpd_unavailable(req, 5, "cannot store the upload now");
        return;
    }
    c->uploads_busy++;
    cairn_httpd_park(req, 0, on_park, u);
}

int cairn__api_uploads(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {(uint64_t)c->cfg.upload_max, "uploads"};

    return cairn_httpd_route(c->srv, CAIRN_HTTPD_POST,
                             "/v1/sites/{site}/uploads", on_upload, c, &o, d);
}
