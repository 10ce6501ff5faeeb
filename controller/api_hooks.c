/*
 * POST /v1/hooks/git: a Git host's push notification. The body is signed
 * X-Hub-Signature-256 style (sha256=<hex HMAC-SHA-256 of the body under the
 * webhook secret>), compared in constant time; a good one asks the render
 * lane to fetch now (202). Without a webhookSecretFile the hook is off.
 */
#include <string.h>

#include "cairn/hash.h"
#include "cairn/log.h"
#include "daemon_int.h"

#define HOOK_MAX (4u << 20)

/* The hook is on and the signature header well formed; 0, or the
 * response is sent. got: the signature's bytes. */
static int check_header(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                        uint8_t got[CAIRN_HMAC_SHA256_LEN])
{
    const char *sig = cairn_httpd_req_header(req, "X-Hub-Signature-256");

    if (!c->webhook_secret) {
        cairn_httpd_forbidden(
            req, "the git hook is disabled (no webhookSecretFile)");
        return -1;
    }
    if (!sig || strncmp(sig, "sha256=", 7) != 0 || strlen(sig + 7) != 64 ||
        cairn_hex_decode(sig + 7, got, CAIRN_HMAC_SHA256_LEN) != 0) {
        cairn_httpd_unauthorized(
            req, "X-Hub-Signature-256: want sha256=<64 hex digits>");
        return -1;
    }
    return 0;
}

/* Head hook: refused before the body (up to 4 MiB) is read. */
static void on_hook_head(struct cairn_httpd_req *req, void *arg)
{
    uint8_t got[CAIRN_HMAC_SHA256_LEN];

    (void)check_header(arg, req, got);
}

static void on_hook(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    uint8_t mac[CAIRN_HMAC_SHA256_LEN], got[CAIRN_HMAC_SHA256_LEN];
    size_t len;
    const char *body = cairn_httpd_req_body(req, &len);

    if (check_header(c, req, got) != 0)
        return;
    cairn_hmac_sha256(c->webhook_secret, c->webhook_secret_len, body, len, mac);
    if (cairn_memeq_ct(mac, got, sizeof(mac)) != 0) {
        cairn_httpd_unauthorized(req, "bad signature");
        return;
    }
    c->m.hooks++;
    cairn__request_fetch(c, "git hook");
    cairn__respond_json(req, 202, json_pack("{s:s}", "fetch", "queued"));
}

int cairn__api_hooks(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {HOOK_MAX, "hooks"};
    struct cairn_httpd_route_hooks h = {on_hook_head, NULL, NULL};

    return cairn_httpd_route_hooks(c->srv, CAIRN_HTTPD_POST, "/v1/hooks/git",
                                   on_hook, c, &o, &h, d);
}
