/*
 * Internals shared by httpd.c (server, connections, timers), httpd_req.c
 * (parsing, routing, request access) and httpd_resp.c (responses, files).
 * See docs/internals/httpd.md for the design.
 */
#ifndef CAIRN_HTTPD_INT_H
#define CAIRN_HTTPD_INT_H

#include <http_parser.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/httpd.h"

#define HTTPD_MAX_HEADERS 64
#define HTTPD_MAX_QUERY 32
#define HTTPD_MAX_PARAMS 8
#define HTTPD_STATUS_SLOTS 16
#define HTTPD_RHEAD_CAP 8192    /* headers a handler may add */
#define HTTPD_READ_BUF 65536    /* the one read buffer per server */
#define HTTPD_HEAD_BUF 16384    /* response head scratch per server */
#define HTTPD_STASH_CAP 8192    /* input read ahead while busy, at most */
#define HTTPD_WRITE_HIGH 262144 /* stop parsing while this much is unsent */
#define HTTPD_POOL_MAX 256      /* idle request objects kept */

/* One header line: offsets into the request's head store. */
struct httpd_hdr {
    uint16_t name, name_len, value, value_len;
};

struct httpd_status_count {
    uint16_t status;
    uint64_t count;
};

struct httpd_counts {
    struct httpd_status_count slot[HTTPD_STATUS_SLOTS];
};

struct httpd_seg {
    char *lit;  /* literal segment, or NULL for "{name}" */
    char *name; /* parameter name, or NULL */
    size_t lit_len;
};

struct httpd_route {
    char *pattern, *name;
    unsigned methods;
    int rest; /* trailing "*" */
    size_t nseg;
    struct httpd_seg *seg;
    cairn_httpd_handler_fn fn;
    cairn_httpd_head_fn head;   /* NULL: none */
    cairn_httpd_body_fn body;   /* NULL: buffered body */
    cairn_httpd_abort_fn abort; /* NULL: none */
    void *arg;
    uint64_t max_body;
    struct httpd_counts counts;
};

/* R_HEAD: in the route's head hook. R_READING covers the head and the
 * body; a streamed request may be answered then (see can_respond). */
enum req_state { R_READING, R_HEAD, R_HANDLING, R_PARKED, R_DEAD };

enum req_last { L_NONE, L_URL, L_FIELD, L_VALUE };

struct cairn_httpd_req {
    struct cairn_httpd *srv;
    struct httpd_conn *conn;
    struct cairn_httpd_req *next_free;
    struct httpd_route *route;
    /* url '\0' (name '\0' value '\0')* path '\0' (key '\0' value '\0')*
     * (param '\0')*. Appended until the headers are complete, then fixed:
     * pointers handed out stay valid. */
    struct cairn_buf head;
    struct cairn_buf body;
    struct cairn_buf rhead; /* "Name: value\r\n" added by the handler */
    struct httpd_hdr hdr[HTTPD_MAX_HEADERS];
    uint16_t nhdr;
    uint16_t url_len;
    uint32_t path;   /* offset of the NUL-terminated path copy */
    uint32_t query;  /* offset of the decoded pairs */
    uint32_t params; /* offset of the decoded params */
    uint8_t nquery, nparams;
    uint8_t state, last;
    uint8_t method; /* enum http_method */
    uint8_t keep_alive, head_only, headers_done, http10;
    uint8_t stream;        /* the body goes to the route's body callback */
    uint8_t paused;        /* the owner asked for no more body pieces */
    uint8_t abort_pending; /* past the head stage, handler not yet run */
    uint16_t fail_status;  /* set while parsing: answer this, not the route */
    uint8_t fail_fatal;    /* ...and close (the body was not read) */
    uint16_t allow;        /* methods of routes matching the path, for 405 */
    uint32_t trailer_bytes;
    uint64_t body_held; /* bytes of srv->body_held this request reserved */
    uint64_t body_seen; /* body bytes received so far */
    void *data;         /* the owner's, cairn_httpd_req_set_data */
    const char *fail_msg;
    /* A request is parked only once its body is complete, so the body's
     * deadline and the park callback share their bytes: 10,000 parked
     * long-polls pay nothing for the deadline. */
    union {
        struct {
            /* The body's deadline is body_start + body_allow (loop ms), a
             * total (cairn__httpd_body_deadline). While paused, body_start
             * holds the time used so far instead. */
            uint64_t body_start, body_allow;
        };
        struct {
            cairn_httpd_park_fn park_fn;
            void *park_arg;
        };
    };
};

enum conn_state {
    C_IDLE,     /* between requests */
    C_HEAD,     /* a request's head is arriving */
    C_BODY,     /* its body is arriving */
    C_PAUSED,   /* a streamed body's owner paused it: not reading */
    C_HANDLING, /* its handler runs (transient) */
    C_PARKED,   /* handler parked it */
    C_SENDFILE, /* a file response streams */
    C_DRAIN,    /* waiting for the write queue to shrink */
    C_LINGER,   /* closing response sent: draining input before close */
};

struct httpd_sendfile;

struct httpd_conn {
    uv_tcp_t tcp;
    http_parser parser;
    struct cairn_httpd *srv;
    struct httpd_conn *prev, *next; /* srv->conns */
    struct httpd_conn *resume_next; /* srv->resume */
    struct cairn_httpd_req *req;
    struct httpd_sendfile *sf;
    char *stash; /* input that arrived while busy */
    uint32_t stash_len, stash_cap;
    uint32_t writes;              /* uv_write requests in flight */
    uint64_t deadline, wdeadline; /* loop ms; 0 = none */
    uint8_t state;
    unsigned closing : 1, in_feed : 1, reading : 1, eof : 1, close_after : 1,
        resume_queued : 1, keep_after : 1;
    unsigned complete : 1;  /* the parser paused at a message's end */
    unsigned early : 1;     /* a callback answered mid-parse: the parser
                               was stopped on purpose, not by an error */
    unsigned timed_out : 1; /* closing for the header/body timeout */
};

struct cairn_httpd {
    uv_loop_t *loop;
    struct cairn_httpd_config cfg;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_idle_t resume_idle;
    int listening, stopping, finishing, handles_open;
    uint64_t stop_deadline;
    uint32_t live; /* handles that must close before done */
    uint16_t port;
    cairn_httpd_done_fn done;
    void *done_arg;
    struct httpd_route *routes;
    size_t nroutes;
    struct httpd_counts unmatched;
    struct httpd_conn *conns;
    struct httpd_conn *resume;
    struct cairn_httpd_req *pool;
    uint32_t pool_len;
    struct cairn_httpd_stats stats;
    uint64_t body_held; /* request body bytes reserved, all connections */
    time_t date_sec;
    char date[96]; /* "Date: ...\r\n" */
    char rbuf[HTTPD_READ_BUF];
    char hbuf[HTTPD_HEAD_BUF];
};

/* httpd.c */
void cairn__httpd_conn_close(struct httpd_conn *c);
void cairn__httpd_conn_write(struct httpd_conn *c, const char *head,
                             size_t hlen, const char *body, size_t blen,
                             cairn_httpd_release_fn release, void *arg,
                             int copy);
void cairn__httpd_response_done(struct httpd_conn *c, int keep_alive);
void cairn__httpd_count(struct cairn_httpd *srv, struct httpd_route *route,
                        int status);
void cairn__httpd_touch_write(struct httpd_conn *c);
void cairn__httpd_handle_closed(struct cairn_httpd *srv);
void cairn__httpd_pause_apply(struct httpd_conn *c);
/* Set the request's body allowance for bytes (declared or so far) and the
 * connection's deadline from it. */
void cairn__httpd_body_deadline(struct httpd_conn *c, uint64_t bytes);
int cairn__httpd_stream_fd(struct httpd_conn *c);

/* httpd_req.c */
extern const http_parser_settings cairn__httpd_parser_settings;
struct cairn_httpd_req *cairn__httpd_req_get(struct cairn_httpd *srv);
void cairn__httpd_req_put(struct cairn_httpd *srv, struct cairn_httpd_req *req);
void cairn__httpd_route_free(struct httpd_route *r);
void cairn__httpd_req_abort(struct cairn_httpd_req *req,
                            enum cairn_httpd_abort_reason why);
unsigned cairn__httpd_method_bit(unsigned http_method);
size_t cairn__httpd_allow_str(unsigned methods, char *buf, size_t n);

/* httpd_resp.c */
void cairn__httpd_dispatch(struct httpd_conn *c);
void cairn__httpd_park_event(struct httpd_conn *c,
                             enum cairn_httpd_park_event ev);
void cairn__httpd_fail(struct httpd_conn *c, int status, const char *msg);
void cairn__httpd_sendfile_pump(struct httpd_conn *c);
void cairn__httpd_sendfile_abort(struct httpd_conn *c);

#endif
