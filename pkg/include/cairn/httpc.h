/*
 * HTTP client on libuv: libcurl's multi interface driven by the caller's
 * uv loop (uv_poll per socket, one uv_timer). The only module that touches
 * libcurl; it maps CURLcode to CAIRN_E* codes.
 *
 * Loop context: every function here is called on the loop thread, and
 * every callback runs on it. Nothing here blocks the loop (name resolution
 * runs on curl's resolver thread).
 *
 * Lifetime rules (the libuv ones):
 *  - A call that returns an error never fires its callback.
 *  - A request started successfully fires its done callback exactly once,
 *    from the loop (never from inside cairn_httpc_start/cancel/resume/
 *    close). The request is freed right after done returns: the pointer is
 *    valid from start until then, and must not be used afterwards.
 *  - cairn_httpc_close cancels every pending request (their done callbacks
 *    fire with CAIRN_ECANCELED), closes the uv handles, and frees the
 *    client in the last close callback, then calls the caller's close_cb.
 *    The loop can run to completion (uv_loop_close succeeds) afterwards.
 *
 * Connections are kept alive and reused across requests of one client.
 */
#ifndef CAIRN_HTTPC_H
#define CAIRN_HTTPC_H

#include "cairn/diag.h"
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cairn_httpc;     /* a client bound to one loop */
struct cairn_httpc_req; /* one request in flight */

struct cairn_httpc_opts {
    /* PEM file of the CA(s) trusted for https. When set, only these are
     * trusted (the system store is not consulted). NULL: system store.
     * Peer and host name verification are always on. */
    const char *ca_file;
    long connect_timeout_ms;   /* 0: 10 s */
    const char *user_agent;    /* NULL: "cairn/<version>" */
    long max_host_connections; /* 0: 8 per host */
};

/* The final response's status line and the headers cairn acts on. Strings
 * are "" when the header is absent, never NULL; values over 255 bytes fail
 * the request with CAIRN_ETOOBIG. Valid only during the callback. */
struct cairn_httpc_head {
    long status;            /* 0 when no response arrived */
    int64_t content_length; /* -1 when absent or unparsable */
    const char *etag;
    const char *content_range;
    const char *content_type;
    const char *retry_after;
};

struct cairn_httpc_result {
    int err;         /* 0: a complete response arrived (any status) */
    const char *msg; /* "" when err is 0; else "GET URL: reason" */
    struct cairn_httpc_head head;
    /* Memory mode: the body (NUL-terminated, len excludes the NUL).
     * Streaming mode: at most the first 4 KiB of a non-2xx body, for error
     * messages; such a body is read up to 64 KiB, then the connection is
     * dropped and the request completes (err 0, the status) as if the body
     * had ended there. Owned by the request: copy it before done returns. */
    const char *body;
    size_t body_len;
    uint64_t body_bytes; /* body bytes received, both modes */
};

/* on_data return value: the bytes were NOT taken; pause the transfer and
 * deliver the same bytes again after cairn_httpc_resume(). */
#define CAIRN_HTTPC_PAUSE 1

/* Called once when the final response's headers are complete, before any
 * body byte, for every status. Return 0 to go on or a negative CAIRN_E* to
 * abort the request: done then reports that code. */
typedef int (*cairn_httpc_head_cb)(struct cairn_httpc_req *r,
                                   const struct cairn_httpc_head *head,
                                   void *arg);
/* Streaming mode: body bytes of a 2xx response, at most 16 KiB per call.
 * Return 0 (all taken), CAIRN_HTTPC_PAUSE, or a negative CAIRN_E* to abort.
 * May call cairn_httpc_cancel/cairn_httpc_close; a cairn_httpc_start from
 * here is queued and added on the next loop turn. */
typedef int (*cairn_httpc_data_cb)(struct cairn_httpc_req *r, const void *data,
                                   size_t n, void *arg);
/* Exactly once per started request; r is freed when it returns. */
typedef void (*cairn_httpc_done_cb)(struct cairn_httpc_req *r,
                                    const struct cairn_httpc_result *res,
                                    void *arg);

struct cairn_httpc_request {
    const char *method; /* NULL: "GET"; an upper-case token (HEAD: no body) */
    const char *url;    /* http:// or https:// only */
    /* NULL-terminated list of "Name: value" lines (no CR/LF); may be NULL.
     * Copied. */
    const char *const *headers;
    const void *body; /* request body, copied; NULL with body_len 0: none */
    size_t body_len;
    /* Memory mode (on_data NULL): cap on the collected body, 0: 1 MiB.
     * Streaming mode: cap on body bytes delivered, 0: none. Over the cap
     * (or a Content-Length over it): the request ends with CAIRN_ETOOBIG
     * and no byte past the cap is delivered. */
    uint64_t max_body;
    cairn_httpc_head_cb on_head; /* may be NULL */
    cairn_httpc_data_cb on_data; /* NULL: memory mode */
    long timeout_ms;             /* whole request; 0: no limit (long polls) */
    long low_speed_limit;        /* bytes/s; 0: off */
    long low_speed_time;         /* seconds below the limit before abort */
    uint64_t range_start;        /* > 0: sends "Range: bytes=N-" */
    long recv_buffer;            /* curl receive buffer; 0: 64 KiB */
    int follow_redirects;        /* up to 5, http(s) only */
};

/* Create a client on loop. Copies opts (may be NULL). CAIRN_EINVAL (bad
 * option), CAIRN_ENOENT (ca_file missing), CAIRN_ENET (curl init failed).
 * Free it with cairn_httpc_close. */
CAIRN_WUR int cairn_httpc_new(uv_loop_t *loop,
                              const struct cairn_httpc_opts *opts,
                              struct cairn_httpc **out, struct cairn_diag *d);

/* Cancel every request (done fires with CAIRN_ECANCELED), close the
 * handles, free the client, then call close_cb(arg) (may be NULL) from the
 * loop. NULL c is a no-op. Calling it twice is an error of the caller. */
void cairn_httpc_close(struct cairn_httpc *c, void (*close_cb)(void *arg),
                       void *arg);

uv_loop_t *cairn_httpc_loop(const struct cairn_httpc *c);

/* Start a request. Everything in rq is copied. On success *out (may be
 * NULL) gets the handle and done (required) will fire once. Errors, with no
 * callback: CAIRN_EINVAL (bad URL/scheme/method/header), CAIRN_ESTATE
 * (client closing), CAIRN_ENET (curl refused the handle). */
CAIRN_WUR int cairn_httpc_start(struct cairn_httpc *c,
                                const struct cairn_httpc_request *rq,
                                cairn_httpc_done_cb done, void *arg,
                                struct cairn_httpc_req **out,
                                struct cairn_diag *d);

/* Ask a pending request to stop: done fires later with CAIRN_ECANCELED
 * (unless it had already completed on its own). Idempotent until done. */
void cairn_httpc_cancel(struct cairn_httpc_req *r);

/* Resume a transfer paused by CAIRN_HTTPC_PAUSE. on_data is likely called
 * before this returns. No-op when not paused. Not from inside on_data of
 * the same request. */
void cairn_httpc_resume(struct cairn_httpc_req *r);

/* Parse "bytes FIRST-LAST/TOTAL" (TOTAL "*" gives UINT64_MAX). Requires
 * FIRST <= LAST < TOTAL. CAIRN_EPARSE otherwise. */
CAIRN_WUR int cairn_httpc_parse_content_range(const char *v, uint64_t *first,
                                              uint64_t *last, uint64_t *total);

/* Retry-After as seconds from now (delta-seconds or an HTTP-date), capped
 * at cap. CAIRN_EPARSE when neither form parses. */
CAIRN_WUR int cairn_httpc_parse_retry_after(const char *v, int64_t now,
                                            uint32_t cap, uint32_t *out);

#endif
