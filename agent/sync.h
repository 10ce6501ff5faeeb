/*
 * Talking to the controller: a session token (POST /v1/sites/SITE/session
 * with a DSSE session request signed by the site key) and the long poll of
 * the desired state (GET /v1/sites/SITE/desired?wait=S with If-None-Match).
 * On any failure it backs off with jitter (retryMinSeconds doubling up to
 * retryMaxSeconds, Retry-After honoured within that cap) and tries again,
 * forever. It renews the token on 401, for itself and for the report and
 * upload senders (cairn_sync_renew).
 *
 * Loop context: every call and callback on the loop thread. The struct is
 * embedded in its owner and must outlive the loop run: a request cancelled
 * by cairn_sync_stop still completes (with CAIRN_ECANCELED) later.
 */
#ifndef CAIRN_AGENT_SYNC_H
#define CAIRN_AGENT_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/diag.h"
#include "cairn/httpc.h"
#include "cairn/keys.h"

#define CAIRN_SESSION_TYPE "application/vnd.cairn.session+json"
#define CAIRN_TOKEN_MAX 512
#define CAIRN_ETAG_MAX 128

/* ---- backoff ------------------------------------------------------------ */

/* Random source for jitter: a uniformly random 32-bit value. */
typedef uint32_t (*cairn_rand_fn)(void *arg);

struct cairn_backoff {
    uint32_t min_ms, max_ms;
    unsigned failures; /* consecutive */
    cairn_rand_fn rnd;
    void *rnd_arg;
};

/* rnd NULL: libsodium's random. */
void cairn_backoff_init(struct cairn_backoff *b, uint32_t min_ms,
                        uint32_t max_ms, cairn_rand_fn rnd, void *arg);
/* The pause before the next try after one more failure: with
 * ceiling = min(max, min * 2^(failures-1)), uniform in
 * [max(min, ceiling/2), ceiling]. So the first pause is min, the pauses
 * never exceed max, and two agents that failed together spread out. */
uint32_t cairn_backoff_next(struct cairn_backoff *b);
void cairn_backoff_reset(struct cairn_backoff *b);

/* ---- sync --------------------------------------------------------------- */

/* What a desired-state poll produced:
 *  err 0: an envelope (body, len: valid during the call);
 *  err CAIRN_ETOOBIG: the controller sent one over the cap (msg says so);
 * The ETag the next poll sends is the response's in both cases; the owner
 * may override it with cairn_sync_set_etag. */
typedef void (*cairn_sync_desired_cb)(void *arg, int err, const char *body,
                                      size_t len, const char *msg);
/* A new token is available (report and upload senders may go on). */
typedef void (*cairn_sync_token_cb)(void *arg);

struct cairn_sync_opts {
    const char *controller; /* base URL without a trailing slash */
    const char *site;
    const struct cairn_seckey *site_key; /* borrowed, outlives the sync */
    uint32_t long_poll_s;                /* wait= */
    uint32_t retry_min_ms, retry_max_ms;
    size_t max_desired_bytes;
    cairn_rand_fn rnd; /* NULL: libsodium */
    void *rnd_arg;
    int64_t (*now)(void); /* NULL: wall clock (session timestamps) */
    cairn_sync_desired_cb on_desired;
    cairn_sync_token_cb on_token;
    void *arg;
};

enum cairn_sync_phase {
    CAIRN_SYNC_IDLE,
    CAIRN_SYNC_SESSION,
    CAIRN_SYNC_POLL,
    CAIRN_SYNC_WAIT,
    CAIRN_SYNC_STOPPED,
};

/* Fields are private to sync.c. */
struct cairn_sync {
    struct cairn_sync_opts o;
    struct cairn_httpc *http;
    uv_timer_t timer;
    struct cairn_backoff backoff;
    enum cairn_sync_phase phase;
    struct cairn_httpc_req *req; /* the one request in flight */
    char token[CAIRN_TOKEN_MAX]; /* "" when none */
    char etag[CAIRN_ETAG_MAX];   /* "" when none */
    int fresh_token;             /* got since the last successful poll */
    int want_session;            /* renew requested while a poll ran */
    int connected;               /* the last request got an answer */
    uint64_t poll_started_ms;
    int64_t last_contact; /* wall clock of the last answer, 0 never */
    char last_error[256];
};

/* Start: session then long poll. The http client is borrowed. Returns 0 or
 * CAIRN_EINVAL (bad options); callbacks only after a 0. */
CAIRN_WUR int cairn_sync_start(struct cairn_sync *s, struct cairn_httpc *http,
                               const struct cairn_sync_opts *o,
                               struct cairn_diag *d);
/* Cancel the request in flight, close the timer. Idempotent. */
void cairn_sync_stop(struct cairn_sync *s);

/* The bearer token ("" when none yet). */
const char *cairn_sync_token(const struct cairn_sync *s);
/* Someone got 401 with `token`: when it is still the current one, drop it
 * and open a new session (once). */
void cairn_sync_renew(struct cairn_sync *s, const char *token);
/* The ETag the next poll sends ("" none); e.g. from state.json at start. */
void cairn_sync_set_etag(struct cairn_sync *s, const char *etag);
/* Skip the pause in progress and poll now (SIGHUP). */
void cairn_sync_poll_now(struct cairn_sync *s);
/* 1 when the controller answered the last request. */
int cairn_sync_connected(const struct cairn_sync *s);

/* The session request payload (canonical JSON, fresh string). */
char *cairn_sync_session_payload(const char *site, const char nonce_hex[33],
                                 int64_t now);
/* Check a token from the controller: 1..CAIRN_TOKEN_MAX-1 printable bytes,
 * no blanks. 0 or CAIRN_EPARSE. */
CAIRN_WUR int cairn_sync_check_token(const char *t, size_t len);

#endif
