#include "uploads.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/log.h"
#include "cairn/mem.h"

#define MIN_AGE_S 2
#define ANSWER_CAP (16 * 1024)
#define UPLOAD_TIMEOUT_MS 300000

static void send_next(struct cairn_uploader *u);

int cairn_upload_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 255 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void cairn_uploader_init(struct cairn_uploader *u,
                         const struct cairn_agent_config *cfg,
                         const char *state_dir, struct cairn_httpc *http,
                         struct cairn_sync *sync)
{
    memset(u, 0, sizeof(*u));
    u->cfg = cfg;
    u->state_dir = cairn_xstrdup(state_dir);
    u->http = http;
    u->sync = sync;
}

void cairn_uploader_free(struct cairn_uploader *u)
{
    json_decref(u->doc);
    free(u->path);
    free(u->state_dir);
    u->doc = NULL;
    u->path = NULL;
    u->state_dir = NULL;
}

void cairn_uploader_stop(struct cairn_uploader *u)
{
    u->stopped = 1;
    if (u->req)
        cairn_httpc_cancel(u->req);
}

/* Too big to send: park it where scans do not look. */
static void park(const char *dir, const char *name)
{
    char *from = cairn_xasprintf("%s/%s", dir, name);
    char *to = cairn_xasprintf("%s/.%s.too-big", dir, name);

    if (rename(from, to) == 0)
        LOG_WARN("uploads: %s is over uploadMaxBytes; left as %s", from, to);
    free(from);
    free(to);
}

/* The first sendable file in dir ("" none) into *out (fresh path). */
static int first_file(const struct cairn_uploader *u, const char *dir,
                      char **out)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    struct stat sb;
    char *p;
    time_t now = time(NULL);

    while (dh && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!cairn_upload_name_ok(de->d_name)) {
            LOG_WARN(
                "uploads: %s/%s: name not sendable (use A-Z a-z 0-9 . _ -)",
                dir, de->d_name);
            continue;
        }
        p = cairn_xasprintf("%s/%s", dir, de->d_name);
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) &&
            now - sb.st_mtime >= MIN_AGE_S) {
            if ((uint64_t)sb.st_size > (uint64_t)u->cfg->upload_max_bytes) {
                park(dir, de->d_name);
                free(p);
                continue;
            }
            closedir(dh);
            *out = p;
            return 1;
        }
        free(p);
    }
    if (dh)
        closedir(dh);
    return 0;
}

static void done(struct cairn_httpc_req *rq, const struct cairn_httpc_result *r,
                 void *arg)
{
    struct cairn_uploader *u = arg;

    (void)rq;
    u->req = NULL;
    if (u->stopped)
        return;
    if (r->err == 0 && (r->head.status == 200 || r->head.status == 201)) {
        if (unlink(u->path) != 0)
            LOG_WARN("uploads: sent but cannot remove %s: %s", u->path,
                     strerror(errno));
        u->sent++;
        u->last_error[0] = '\0';
        LOG_INFO("uploads: sent %s (HTTP %ld)", u->path, r->head.status);
        send_next(u);
        return;
    }
    if (r->err == 0 && r->head.status == 401)
        cairn_sync_renew(u->sync, u->token_used);
    snprintf(u->last_error, sizeof(u->last_error), "%s: %s", u->path,
             r->err ? r->msg : "refused by the controller");
    if (r->err == 0)
        snprintf(u->last_error, sizeof(u->last_error), "%s: HTTP %ld", u->path,
                 r->head.status);
    LOG_WARN("uploads: %s; trying again at the next interval", u->last_error);
}

static const char *model_version(const json_t *entry)
{
    return json_string_value(
        json_object_get(json_object_get(entry, "model"), "version"));
}

/* Start the POST of path for the workload entry. 0 or an error. */
static int post_file(struct cairn_uploader *u, const json_t *entry,
                     const char *path)
{
    const char *name = strrchr(path, '/') + 1, *version = model_version(entry);
    char *data = NULL, *url, *auth, *ver = NULL, hex[CAIRN_SHA256_HEX_LEN + 1];
    const char *headers[4] = {"Content-Type: application/octet-stream", NULL,
                              NULL, NULL};
    uint8_t digest[CAIRN_SHA256_LEN];
    struct cairn_httpc_request rq;
    size_t len = 0;
    int rc;

    rc = cairn_fs_read(path, (size_t)u->cfg->upload_max_bytes, &data, &len,
                       NULL);
    if (rc)
        return rc;
    cairn_sha256(data, len, digest);
    cairn_hex_encode(digest, sizeof(digest), hex);
    url = cairn_xasprintf("%s/v1/sites/%s/uploads?name=%s&sha256=%s",
                          u->cfg->controller, u->cfg->site, name, hex);
    snprintf(u->token_used, sizeof(u->token_used), "%s",
             cairn_sync_token(u->sync));
    auth = cairn_xasprintf("Authorization: Bearer %s", u->token_used);
    headers[1] = auth;
    if (version && cairn_upload_name_ok(version)) {
        ver = cairn_xasprintf("X-Cairn-Model-Version: %s", version);
        headers[2] = ver;
    }
    memset(&rq, 0, sizeof(rq));
    rq.method = "POST";
    rq.url = url;
    rq.headers = headers;
    rq.body = data;
    rq.body_len = len;
    rq.max_body = ANSWER_CAP;
    rq.timeout_ms = UPLOAD_TIMEOUT_MS;
    rc = cairn_httpc_start(u->http, &rq, done, u, &u->req, NULL);
    free(data);
    free(url);
    free(auth);
    free(ver);
    return rc;
}

static void send_next(struct cairn_uploader *u)
{
    json_t *e;
    size_t i;
    char *dir, *path;

    if (u->stopped || u->req || !cairn_sync_token(u->sync)[0])
        return;
    json_array_foreach(json_object_get(u->doc, "workloads"), i, e)
    {
        dir = NULL;
        if (cairn_apply_upload_dir(u->state_dir, e, &dir, NULL) != 0 || !dir)
            continue;
        path = NULL;
        if (first_file(u, dir, &path)) {
            free(u->path);
            u->path = path;
            if (post_file(u, e, path) != 0)
                LOG_WARN("uploads: cannot send %s", path);
            free(dir);
            return;
        }
        free(dir);
    }
}

void cairn_uploader_scan(struct cairn_uploader *u, json_t *doc)
{
    if (u->stopped || u->req)
        return;
    json_decref(u->doc);
    u->doc = json_incref(doc);
    send_next(u);
}
