/*
 * POST /v1/sites/{site}/session and the bearer-token checks every other
 * endpoint uses (docs/protocol.md "Sessions").
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"
#include "publish.h"

#define SESSION_TYPE "application/vnd.cairn.session+json"
#define SESSION_MAX 4096

/* ---- bearer tokens
 * ---------------------------------------------------------------- */

static void unauthorized(struct cairn_httpd_req *req, const char *msg)
{
    (void)!cairn_httpd_resp_header(req, "WWW-Authenticate", "Bearer");
    cairn_httpd_unauthorized(req, msg);
}

/* The token of "Authorization: Bearer <token>", or NULL. */
static const char *bearer(struct cairn_httpd_req *req, size_t *len)
{
    const char *h = cairn_httpd_req_header(req, "Authorization");

    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    *len = strlen(h);
    return *len ? h : NULL;
}

/* The site's cached token equals tok (constant time: the cache holds a
 * valid token, and a timing leak would hand it out) and has not expired. */
static int cached(struct cairn__ctrl *c, const char *tok, size_t len,
                  int64_t now, char site[CAIRN_SITE_MAX + 1])
{
    const char *s = tok + 3, *dot;
    struct cairn__site *st;
    size_t n;

    if (len < 4 || len > CAIRN_TOKEN_MAX || memcmp(tok, "v1.", 3) != 0)
        return 0;
    dot = memchr(s, '.', len - 3);
    n = dot ? (size_t)(dot - s) : 0;
    if (n == 0 || n > CAIRN_SITE_MAX)
        return 0;
    memcpy(site, s, n);
    site[n] = '\0';
    st = cairn__site_get(c, site);
    return st && st->toklen == len && st->tok_exp > now &&
           cairn_memeq_ct(st->tok, tok, len) == 0;
}

static void remember(struct cairn__ctrl *c, const char *site, const char *tok,
                     size_t len, int64_t exp)
{
    struct cairn__site *st = cairn__site_get(c, site);

    if (!st || len > sizeof(st->tok))
        return;
    memcpy(st->tok, tok, len);
    st->toklen = len;
    st->tok_exp = exp;
}

static int check_token(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                       char site[CAIRN_SITE_MAX + 1])
{
    size_t len = 0;
    const char *tok = bearer(req, &len);
    int64_t now = cairn__now(), exp = 0;
    int rc;

    if (!tok) {
        unauthorized(req, "missing bearer token");
        return -1;
    }
    if (cached(c, tok, len, now, site))
        return 0;
    rc = cairn_token_check(c->token_key, tok, len, now, site, &exp);
    if (rc == 0)
        remember(c, site, tok, len, exp);
    if (rc == CAIRN_EEXPIRED)
        unauthorized(req, "expired token: open a new session");
    else if (rc)
        unauthorized(req, "invalid token");
    return rc ? -1 : 0;
}

int cairn__auth_site(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                     const char *site)
{
    char tsite[CAIRN_SITE_MAX + 1];
    char msg[256];

    if (check_token(c, req, tsite) != 0)
        return -1;
    if (strcmp(tsite, site) != 0) {
        snprintf(msg, sizeof(msg), "the token of site %s does not open site %s",
                 tsite, site);
        cairn_httpd_forbidden(req, msg);
        return -1;
    }
    return 0;
}

static int is_operator(struct cairn__ctrl *c, struct cairn_httpd_req *req)
{
    size_t len = 0, n;
    const char *tok = bearer(req, &len);

    if (!c->operator_token || !tok)
        return 0;
    n = strlen(c->operator_token);
    return len == n && cairn_memeq_ct(tok, c->operator_token, n) == 0;
}

int cairn__auth_any(struct cairn__ctrl *c, struct cairn_httpd_req *req)
{
    char tsite[CAIRN_SITE_MAX + 1];

    if (is_operator(c, req))
        return 0;
    return check_token(c, req, tsite);
}

int cairn__auth_operator(struct cairn__ctrl *c, struct cairn_httpd_req *req)
{
    if (!c->operator_token || is_operator(c, req))
        return 0;
    unauthorized(req, "operator token required");
    return -1;
}

/* ---- nonces
 * ---------------------------------------------------------------------------
 */

int cairn__nonce_remember(struct cairn__ctrl *c, const char *site,
                          const char *nonce, int64_t expires)
{
    char key[CAIRN_SITE_MAX + 40];
    void *old;

    snprintf(key, sizeof(key), "%s/%s", site, nonce);
    old = cairn__strmap_get(&c->nonces, key);
    if (old && (int64_t)(intptr_t)old >= cairn__now())
        return CAIRN_EEXIST;
    if (!old && c->nonces.n >= CAIRN__MAX_NONCES)
        return CAIRN_EAGAIN;
    cairn__strmap_put(&c->nonces, key, (void *)(intptr_t)expires);
    return 0;
}

void cairn__nonces_sweep(struct cairn__ctrl *c, int64_t now)
{
    size_t pos = 0;
    const char *k;
    void *v;

    while (cairn__strmap_next(&c->nonces, &pos, &k, &v))
        if ((int64_t)(intptr_t)v < now)
            cairn__strmap_del(&c->nonces,
                              k); /* a tombstone: the walk goes on */
}

/* ---- the session request
 * ---------------------------------------------------------------- */

struct session_req {
    const char *site, *nonce;
    int64_t time;
};

static int is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Exactly {kind, nonce, site, time}. */
static int parse_payload(json_t *p, struct session_req *out, char *msg,
                         size_t n)
{
    json_t *kind = json_object_get(p, "kind"),
           *nonce = json_object_get(p, "nonce");
    json_t *site = json_object_get(p, "site"), *t = json_object_get(p, "time");

    if (!json_is_object(p) || json_object_size(p) != 4 || !kind || !nonce ||
        !site || !t) {
        snprintf(msg, n,
                 "session request: want exactly kind, nonce, site and time");
        return -1;
    }
    if (!json_is_string(kind) ||
        strcmp(json_string_value(kind), "cairn.session/v1") != 0) {
        snprintf(msg, n, "session request: kind must be cairn.session/v1");
        return -1;
    }
    if (!json_is_string(nonce) || !is_hex32(json_string_value(nonce))) {
        snprintf(msg, n,
                 "session request: nonce must be 32 lower-case hex digits");
        return -1;
    }
    if (!json_is_string(site) || !json_is_integer(t)) {
        snprintf(msg, n,
                 "session request: site must be a string and time an integer");
        return -1;
    }
    out->site = json_string_value(site);
    out->nonce = json_string_value(nonce);
    out->time = json_integer_value(t);
    return 0;
}

/* Envelope and signature: 0, or the response is sent. *payload on success. */
static int verify(struct cairn_httpd_req *req, struct cairn__site *s,
                  json_t **payload)
{
    struct cairn_dsse *env = NULL;
    struct cairn_keyset ks;
    struct cairn_diag d;
    size_t len;
    const char *body = cairn_httpd_req_body(req, &len);
    int rc;

    cairn_diag_init(&d);
    cairn_keyset_init(&ks);
    rc = cairn_dsse_parse(body, len, SESSION_MAX, SESSION_TYPE, &env, &d);
    if (rc) {
        cairn_httpd_bad_request(req, cairn_diag_msg(&d));
        goto out;
    }
    cairn_keyset_add(&ks, &s->key);
    rc = cairn_dsse_verify(env, &ks, 1, NULL, &d);
    if (rc) {
        unauthorized(req, cairn_diag_msg(&d));
        goto out;
    }
    rc = cairn_json_parse((const char *)env->payload, env->payload_len,
                          SESSION_MAX, payload, &d);
    if (rc)
        cairn_httpd_bad_request(req, cairn_diag_msg(&d));
out:
    cairn_keyset_free(&ks);
    cairn_dsse_free(env);
    return rc;
}

static void issue(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                  const char *site, int64_t now)
{
    int64_t exp = now + c->cfg.token_ttl;
    char *tok = cairn_token_mint(c->token_key, site, exp);
    char when[CAIRN_TIME_LEN + 1];

    cairn_time_format(exp, when);
    cairn__respond_json(req, 200,
                        json_pack("{s:s,s:s}", "token", tok, "expires", when));
    free(tok);
    c->m.sessions++;
}

/* The checks after the signature; 0 when a token may be issued. */
static int admit(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                 const char *path_site, json_t *p, int64_t now)
{
    struct session_req sr;
    char msg[256];
    int rc;

    if (parse_payload(p, &sr, msg, sizeof(msg)) != 0) {
        cairn_httpd_bad_request(req, msg);
        return -1;
    }
    if (strcmp(sr.site, path_site) != 0) {
        cairn_httpd_bad_request(
            req, "session request names another site than the path");
        return -1;
    }
    if (sr.time > now + CAIRN__CLOCK_SKEW ||
        sr.time < now - CAIRN__CLOCK_SKEW) {
        unauthorized(
            req,
            "stale timestamp: more than 300 s from the controller's clock");
        return -1;
    }
    rc = cairn__nonce_remember(c, path_site, sr.nonce, now + CAIRN__NONCE_TTL);
    if (rc == CAIRN_EEXIST) {
        unauthorized(req, "replayed nonce");
        return -1;
    }
    if (rc) {
        cairn_httpd_too_many(req, 60, "too many sessions opened recently");
        return -1;
    }
    cairn_records_batch_nonce(cairn__records_next(c), path_site, sr.nonce,
                              now + CAIRN__NONCE_TTL);
    cairn__records_kick(c);
    return 0;
}

/* The path's site with its key, or NULL when the response (404) is sent. */
static struct cairn__site *known_site(struct cairn__ctrl *c,
                                      struct cairn_httpd_req *req)
{
    const char *site = cairn_httpd_req_param(req, "site");
    struct cairn__site *s =
        cairn_site_name_ok(site) ? cairn__site_get(c, site) : NULL;
    char msg[128];

    if (s && s->has_key)
        return s;
    snprintf(msg, sizeof(msg), "unknown site %.63s", site);
    cairn_httpd_not_found(req, msg);
    c->m.sessions_refused++;
    return NULL;
}

/* Head hook: an unknown site is refused before its body is read. */
static void on_session_head(struct cairn_httpd_req *req, void *arg)
{
    (void)known_site(arg, req);
}

static void on_session(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");
    struct cairn__site *s = known_site(c, req); /* the fleet may have moved */
    json_t *p = NULL;
    int64_t now = cairn__now();

    if (!s)
        return;
    if (verify(req, s, &p) != 0 || admit(c, req, site, p, now) != 0) {
        c->m.sessions_refused++;
        json_decref(p);
        return;
    }
    json_decref(p);
    issue(c, req, site, now);
}

int cairn__api_session(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {SESSION_MAX, "session"};
    struct cairn_httpd_route_hooks h = {on_session_head, NULL, NULL};

    return cairn_httpd_route_hooks(c->srv, CAIRN_HTTPD_POST,
                                   "/v1/sites/{site}/session", on_session, c,
                                   &o, &h, d);
}

void cairn__respond_json(struct cairn_httpd_req *req, int status, json_t *v)
{
    char *s = cairn_json_canonical(v);

    cairn_httpd_respond_json(req, status, s, strlen(s));
    free(s);
    json_decref(v);
}
