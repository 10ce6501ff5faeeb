/*
 * GET /v1/artifacts/sha256/{hex}: content-addressed blobs from
 * <artifactDir>/sha256/<hex>, with ETag "<hex>", If-None-Match and Range,
 * sent from the page cache with sendfile(2) (cairn_httpd_respond_file).
 * Any site's token opens it (agents download models by digest); so does
 * the operator token.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/hash.h"
#include "cairn/mem.h"
#include "daemon_int.h"

static void on_artifact(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *hex = cairn_httpd_req_param(req, "hex");
    char etag[CAIRN_SHA256_HEX_LEN + 3], *path;
    int rc;

    if (cairn__auth_any(c, req) != 0)
        return;
    if (!cairn_is_sha256_hex(hex)) {
        cairn_httpd_not_found(
            req, "artifacts are named by 64 lower-case hex digits");
        return;
    }
    snprintf(etag, sizeof(etag), "\"%s\"", hex);
    /* the digest never changes what it names */
    (void)!cairn_httpd_resp_header(req, "Cache-Control",
                                   "public, max-age=31536000, immutable");
    path = cairn_xasprintf("%s/sha256/%s", c->cfg.artifact_dir, hex);
    rc = cairn_httpd_respond_file(req, path, "application/octet-stream", etag);
    free(path);
    if (rc == CAIRN_ENOENT)
        cairn_httpd_not_found(req, "no such artifact");
    else if (rc == CAIRN_EPERM)
        cairn_httpd_forbidden(req, "artifact not readable by the controller");
    else if (rc)
        cairn_httpd_respond_error(req, 500, "cannot read the artifact");
}

int cairn__api_artifacts(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {0, "artifacts"};

    return cairn_httpd_route(c->srv, CAIRN_HTTPD_GET,
                             "/v1/artifacts/sha256/{hex}", on_artifact, c, &o,
                             d);
}
