#include "sync.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "util.h"

#define SESSION_TIMEOUT_MS 30000
#define SESSION_BODY_CAP (16 * 1024)
#define POLL_MARGIN_MS 30000
#define FAST_ANSWER_MS 1000

/* ---- backoff ------------------------------------------------------------ */

static uint32_t sodium_rnd(void *arg)
{
    uint32_t v;

    (void)arg;
    cairn_random(&v, sizeof(v));
    return v;
}

void cairn_backoff_init(struct cairn_backoff *b, uint32_t min_ms,
                        uint32_t max_ms, cairn_rand_fn rnd, void *arg)
{
    b->min_ms = min_ms ? min_ms : 1;
    b->max_ms = max_ms < b->min_ms ? b->min_ms : max_ms;
    b->failures = 0;
    b->rnd = rnd ? rnd : sodium_rnd;
    b->rnd_arg = arg;
}

uint32_t cairn_backoff_next(struct cairn_backoff *b)
{
    uint64_t ceiling = b->min_ms, floor;
    unsigned i;

    for (i = 0; i < b->failures && ceiling < b->max_ms; i++)
        ceiling *= 2;
    if (ceiling > b->max_ms)
        ceiling = b->max_ms;
    if (b->failures < 64)
        b->failures++;
    floor = ceiling / 2 < b->min_ms ? b->min_ms : ceiling / 2;
    return (uint32_t)(floor + b->rnd(b->rnd_arg) % (ceiling - floor + 1));
}

void cairn_backoff_reset(struct cairn_backoff *b)
{
    b->failures = 0;
}

/* ---- helpers ------------------------------------------------------------ */

char *cairn_sync_session_payload(const char *site, const char nonce_hex[33],
                                 int64_t now)
{
    json_t *p =
        json_pack("{s:s,s:s,s:s,s:I}", "kind", "cairn.session/v1", "nonce",
                  nonce_hex, "site", site, "time", (json_int_t)now);
    char *out = cairn_json_canonical(p);

    json_decref(p);
    return out;
}

int cairn_sync_check_token(const char *t, size_t len)
{
    if (!t || len == 0 || len >= CAIRN_TOKEN_MAX || strlen(t) != len)
        return CAIRN_EPARSE;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return CAIRN_EPARSE;
    return 0;
}

const char *cairn_sync_token(const struct cairn_sync *s)
{
    return s->token;
}

int cairn_sync_connected(const struct cairn_sync *s)
{
    return s->connected;
}

void cairn_sync_set_etag(struct cairn_sync *s, const char *etag)
{
    if (!etag || strlen(etag) >= sizeof(s->etag))
        etag = "";
    memcpy(s->etag, etag, strlen(etag) + 1);
}

static void begin(struct cairn_sync *s);

static void on_timer(uv_timer_t *t)
{
    struct cairn_sync *s = cairn_container_of(t, struct cairn_sync, timer);

    if (s->phase == CAIRN_SYNC_WAIT)
        begin(s);
}

/* Pause, then begin again. retry_after: the server's wish in seconds, or
 * -1. */
static void fail(struct cairn_sync *s, int64_t retry_after, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

static void fail(struct cairn_sync *s, int64_t retry_after, const char *fmt,
                 ...)
{
    uint64_t delay = cairn_backoff_next(&s->backoff);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
    va_end(ap);
    if (retry_after >= 0) {
        uint64_t want = (uint64_t)retry_after * 1000;
        if (want > s->o.retry_max_ms)
            want = s->o.retry_max_ms;
        if (want > delay)
            delay = want;
    }
    LOG_WARN("controller: %s; retrying in %" PRIu64 " ms", s->last_error,
             delay);
    s->phase = CAIRN_SYNC_WAIT;
    uv_timer_start(&s->timer, on_timer, delay, 0);
}

static int64_t retry_after_of(const struct cairn_httpc_head *h, uint32_t cap_s)
{
    uint32_t v;

    if (h->retry_after[0] &&
        cairn_httpc_parse_retry_after(h->retry_after, cairn__time_now(), cap_s,
                                      &v) == 0)
        return v;
    return -1;
}

/* A short, printable excerpt of an error body for messages. */
static void excerpt(const struct cairn_httpc_result *r, char *out, size_t n)
{
    size_t j = 0;

    for (size_t i = 0; r->body && i < r->body_len && j + 1 < n && i < 200; i++)
        out[j++] = (r->body[i] >= 0x20 && r->body[i] < 0x7f) ? r->body[i] : ' ';
    out[j] = '\0';
}

/* ---- session ------------------------------------------------------------ */

static int take_token(struct cairn_sync *s, const struct cairn_httpc_result *r)
{
    json_t *doc = NULL, *tok;
    int rc = CAIRN_EPARSE;

    if (cairn_json_parse(r->body, r->body_len, SESSION_BODY_CAP, &doc, NULL) ==
        0) {
        tok = json_object_get(doc, "token");
        if (json_is_string(tok) &&
            cairn_sync_check_token(json_string_value(tok),
                                   json_string_length(tok)) == 0) {
            memcpy(s->token, json_string_value(tok),
                   json_string_length(tok) + 1);
            rc = 0;
        }
    }
    json_decref(doc);
    return rc;
}

static void session_done(struct cairn_httpc_req *rq,
                         const struct cairn_httpc_result *r, void *arg)
{
    struct cairn_sync *s = arg;
    char body[256];

    (void)rq;
    s->req = NULL;
    if (s->phase == CAIRN_SYNC_STOPPED)
        return;
    s->connected = r->err == 0 && r->head.status < 500;
    if (r->err) {
        fail(s, -1, "session: %s", r->msg);
        return;
    }
    excerpt(r, body, sizeof(body));
    if (r->head.status == 404) {
        fail(s, -1,
             "session: site %s is not known to the controller (is "
             "sites/%s.yaml with this key committed?): %s",
             s->o.site, s->o.site, body);
        return;
    }
    if (r->head.status != 200) {
        fail(s, retry_after_of(&r->head, s->o.retry_max_ms / 1000),
             "session: HTTP %ld: %s", r->head.status, body);
        return;
    }
    if (take_token(s, r) != 0) {
        fail(s, -1, "session: the answer holds no usable token");
        return;
    }
    s->last_contact = cairn__time_now();
    s->fresh_token = 1;
    s->want_session = 0;
    LOG_INFO("controller: session opened for site %s", s->o.site);
    if (s->o.on_token)
        s->o.on_token(s->o.arg);
    begin(s);
}

static void session(struct cairn_sync *s)
{
    const struct cairn_seckey *keys[] = {s->o.site_key};
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct cairn_httpc_request rq;
    uint8_t nonce[16];
    char hex[33], *payload, *env, *url;
    struct cairn_diag d;
    int rc;

    cairn_random(nonce, sizeof(nonce));
    cairn_hex_encode(nonce, sizeof(nonce), hex);
    payload = cairn_sync_session_payload(
        s->o.site, hex, s->o.now ? s->o.now() : cairn__time_now());
    env = cairn_dsse_sign(CAIRN_SESSION_TYPE, (const uint8_t *)payload,
                          strlen(payload), keys, 1);
    url = cairn_xasprintf("%s/v1/sites/%s/session", s->o.controller, s->o.site);
    memset(&rq, 0, sizeof(rq));
    rq.method = "POST";
    rq.url = url;
    rq.headers = headers;
    rq.body = env;
    rq.body_len = strlen(env);
    rq.max_body = SESSION_BODY_CAP;
    rq.timeout_ms = SESSION_TIMEOUT_MS;
    cairn_diag_init(&d);
    s->phase = CAIRN_SYNC_SESSION;
    rc = cairn_httpc_start(s->http, &rq, session_done, s, &s->req, &d);
    free(url);
    free(env);
    free(payload);
    if (rc)
        fail(s, -1, "session: %s", cairn_diag_msg(&d));
}

/* ---- long poll ---------------------------------------------------------- */

static void poll_unauthorized(struct cairn_sync *s, const char *body)
{
    s->token[0] = '\0';
    if (s->fresh_token) { /* a brand-new token refused: do not spin */
        fail(s, -1, "desired state: a fresh token was refused (401): %s", body);
        return;
    }
    LOG_INFO("controller: token refused, opening a new session");
    session(s);
}

static void poll_answer(struct cairn_sync *s,
                        const struct cairn_httpc_result *r)
{
    uint64_t took = uv_now(s->timer.loop) - s->poll_started_ms;
    char body[256];

    excerpt(r, body, sizeof(body));
    switch (r->head.status) {
    case 200:
        cairn_sync_set_etag(s, r->head.etag);
        cairn_backoff_reset(&s->backoff);
        s->fresh_token = 0;
        s->o.on_desired(s->o.arg, 0, r->body, r->body_len, "");
        break;
    case 304:
    case 404:
        cairn_backoff_reset(&s->backoff);
        s->fresh_token = 0;
        /* With wait= these come after the wait; an instant one would spin. */
        if (took < FAST_ANSWER_MS) {
            s->phase = CAIRN_SYNC_WAIT;
            uv_timer_start(&s->timer, on_timer, cairn_backoff_next(&s->backoff),
                           0);
            return;
        }
        break;
    case 401:
        poll_unauthorized(s, body);
        return;
    default:
        fail(s, retry_after_of(&r->head, s->o.retry_max_ms / 1000),
             "desired state: HTTP %ld: %s", r->head.status, body);
        return;
    }
    if (s->phase == CAIRN_SYNC_POLL)
        begin(s);
}

static void poll_done(struct cairn_httpc_req *rq,
                      const struct cairn_httpc_result *r, void *arg)
{
    struct cairn_sync *s = arg;

    (void)rq;
    s->req = NULL;
    if (s->phase == CAIRN_SYNC_STOPPED)
        return;
    s->connected = r->err == 0 ? r->head.status < 500 : r->head.status != 0;
    if (r->head.status)
        s->last_contact = cairn__time_now();
    if (r->err == CAIRN_ECANCELED && s->want_session) {
        session(s);
        return;
    }
    if (r->err == CAIRN_ETOOBIG && r->head.status == 200) {
        /* Remember its ETag so that the next poll does not fetch it again. */
        cairn_sync_set_etag(s, r->head.etag);
        s->o.on_desired(s->o.arg, CAIRN_ETOOBIG, NULL, 0, r->msg);
        fail(s, -1, "desired state: %s", r->msg);
        return;
    }
    if (r->err) {
        fail(s, -1, "desired state: %s", r->msg);
        return;
    }
    poll_answer(s, r);
}

static void poll(struct cairn_sync *s)
{
    char *url, *auth, *inm = NULL;
    const char *headers[3] = {NULL, NULL, NULL};
    struct cairn_httpc_request rq;
    struct cairn_diag d;
    int rc;

    url = cairn_xasprintf("%s/v1/sites/%s/desired?wait=%u", s->o.controller,
                          s->o.site, s->o.long_poll_s);
    auth = cairn_xasprintf("Authorization: Bearer %s", s->token);
    headers[0] = auth;
    if (s->etag[0]) {
        inm = cairn_xasprintf("If-None-Match: %s", s->etag);
        headers[1] = inm;
    }
    memset(&rq, 0, sizeof(rq));
    rq.url = url;
    rq.headers = headers;
    rq.max_body = s->o.max_desired_bytes;
    rq.timeout_ms = (long)s->o.long_poll_s * 1000 + POLL_MARGIN_MS;
    cairn_diag_init(&d);
    s->phase = CAIRN_SYNC_POLL;
    s->poll_started_ms = uv_now(s->timer.loop);
    rc = cairn_httpc_start(s->http, &rq, poll_done, s, &s->req, &d);
    free(url);
    free(auth);
    free(inm);
    if (rc)
        fail(s, -1, "desired state: %s", cairn_diag_msg(&d));
}

static void begin(struct cairn_sync *s)
{
    if (s->token[0] == '\0')
        session(s);
    else
        poll(s);
}

/* ---- public ------------------------------------------------------------- */

int cairn_sync_start(struct cairn_sync *s, struct cairn_httpc *http,
                     const struct cairn_sync_opts *o, struct cairn_diag *d)
{
    if (!o->controller || !o->site || !o->site_key || !o->on_desired ||
        o->long_poll_s == 0 || o->max_desired_bytes == 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "sync: missing options");
    memset(s, 0, sizeof(*s));
    s->o = *o;
    s->http = http;
    cairn_backoff_init(&s->backoff, o->retry_min_ms, o->retry_max_ms, o->rnd,
                       o->rnd_arg);
    uv_timer_init(cairn_httpc_loop(http), &s->timer);
    s->phase = CAIRN_SYNC_IDLE;
    begin(s);
    return 0;
}

void cairn_sync_stop(struct cairn_sync *s)
{
    if (s->phase == CAIRN_SYNC_STOPPED || !s->http)
        return;
    s->phase = CAIRN_SYNC_STOPPED;
    if (s->req)
        cairn_httpc_cancel(s->req);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, NULL);
}

void cairn_sync_renew(struct cairn_sync *s, const char *token)
{
    if (s->phase == CAIRN_SYNC_STOPPED || strcmp(token, s->token) != 0 ||
        !s->token[0])
        return;
    s->token[0] = '\0';
    switch (s->phase) {
    case CAIRN_SYNC_POLL:
        s->want_session = 1;
        cairn_httpc_cancel(s->req);
        break;
    case CAIRN_SYNC_WAIT:
        uv_timer_stop(&s->timer);
        session(s);
        break;
    default:
        break;
    }
}

void cairn_sync_poll_now(struct cairn_sync *s)
{
    if (s->phase != CAIRN_SYNC_WAIT)
        return;
    uv_timer_stop(&s->timer);
    begin(s);
}
