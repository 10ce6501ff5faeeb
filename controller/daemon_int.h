/*
 * The daemon's insides, shared by daemon.c, lane_*.c, sites.c and the
 * api_*.c endpoint groups. Everything here belongs to the loop thread
 * unless a comment says otherwise: the two lanes (render, records) each
 * run one uv_queue_work job at a time and hand results back in their
 * after-work callbacks.
 */
#ifndef CAIRN_DAEMON_INT_H
#define CAIRN_DAEMON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/httpd.h"
#include "cairn/keys.h"
#include "cairn/schema.h"
#include "cairn/sshsig.h"
#include "commitpolicy.h"
#include "ctrlconfig.h"
#include "daemon.h"
#include "pipeline.h"
#include "records.h"
#include "store.h"
#include "strmap.h"
#include "token.h"

#define CAIRN__RECENT_SEQS                                                     \
    8 /* (seq, payload hash) kept per site for dedupe                          \
       */
#define CAIRN__COMMITS_KEPT 100 /* commits listed by /v1/commits */
#define CAIRN__NONCE_TTL 600    /* a session nonce is remembered this long */
#define CAIRN__CLOCK_SKEW 300   /* session timestamps this far off are stale */
#define CAIRN__MAX_NONCES 1000000
#define CAIRN__MAX_PENDING_REPORTS                                             \
    20000 /* waiting for their batch; 503 past it */
/* uploads streaming at once (under 1 MiB of buffers each); 429 past it */
#define CAIRN__MAX_UPLOADS 32

/* ---- served envelopes ------------------------------------------------------
 */

/* A site's signed desired state as served: immutable, reference counted so
 * that a response in flight keeps the bytes it borrowed while a newer
 * envelope replaces it. */
struct cairn__env {
    unsigned refs;
    int64_t generation, issued;
    char etag[48]; /* "\"<generation>.<issued>\"" */
    size_t len;
    char data[]; /* NUL-terminated */
};

/* A fresh envelope (refs 1) holding a copy of json. Any thread. */
struct cairn__env *cairn__env_new(int64_t generation, int64_t issued,
                                  const char *json, size_t len);
void cairn__env_ref(struct cairn__env *e);
void cairn__env_unref(struct cairn__env *e); /* NULL ok; frees at zero */

/* ---- sites
 * -------------------------------------------------------------------- */

struct cairn__site;
struct cairn__ctrl;

/* A parked GET desired?wait= (api_desired.c). */
struct cairn__waiter {
    struct cairn_httpd_req *req;
    struct cairn__ctrl *c;
    struct cairn__site *site;
    struct cairn__waiter *prev, *next;
};

struct cairn__seq {
    int64_t seq;
    char sha[CAIRN_SHA256_HEX_LEN + 1];
};

/* States a site is counted in (/v1/fleet, /metrics). */
enum cairn__site_state {
    CAIRN__ST_OK,       /* reporting, on the served generation, healthy */
    CAIRN__ST_UPDATING, /* applied generation below the served one */
    CAIRN__ST_DEGRADED, /* a workload failed, crashlooping or unhealthy */
    CAIRN__ST_OFFLINE,  /* no report for 3 report intervals */
    CAIRN__ST_UNKNOWN,  /* never reported */
    /* the served generation failed its health gate at the site, which
     * went back to its last-known-good */
    CAIRN__ST_ROLLEDBACK,
    /* the served generation could not be applied: its download failed or
     * the agent refused the document */
    CAIRN__ST_FAILED,
    CAIRN__ST_COUNT
};

struct cairn__site {
    char name[CAIRN_SITE_MAX + 1];
    /* desired state */
    struct cairn__env *env; /* NULL: no accepted document */
    char commit[41];
    char *models; /* "name@version ..." served, "" when none */
    /* identity */
    int has_key; /* in the last accepted fleet */
    struct cairn_pubkey key;
    /* the last token that verified for this site, so that an agent's
     * requests cost one constant-time compare instead of one HMAC */
    char tok[CAIRN_TOKEN_MAX];
    size_t toklen;
    int64_t tok_exp;
    /* long-poll waiters (a doubly linked list) */
    struct cairn__waiter *waiters;
    unsigned nwaiters;
    /* reports */
    int64_t high_seq;   /* highest accepted seq, stored or in a batch */
    int64_t stored_seq; /* highest seq whose batch has committed */
    struct cairn__seq recent[CAIRN__RECENT_SEQS]; /* ring of accepted seqs */
    unsigned nrecent, recent_pos;
    /* latest status, from the newest report */
    char *status;     /* canonical payload JSON, NULL before any */
    char *last_error; /* JSON object or NULL */
    int64_t status_seq, report_received;
    int64_t applied; /* generation the agent runs */
    char *running;   /* "name@version ..." the agent runs */
    int unhealthy;   /* a workload failed, crashlooping or unhealthy */
    int in_update;   /* the agent says an update is under way (its gate) */
    /* the last report saying a served generation failed at the site (a JSON
     * object, see sites.c; NULL: none), and what it says: the generation
     * and CAIRN__ST_ROLLEDBACK or CAIRN__ST_FAILED. It stays as history;
     * cairn__site_state() decides whether it still describes the site. */
    char *failure;
    int64_t failed_gen;
    enum cairn__site_state failed_as;
    /* uploads */
    int64_t uploads, upload_bytes;
};

/* A commit as /v1/commits lists it. */
struct cairn__commit {
    char sha[41];
    int64_t seen;
    char signer[CAIRN_KEYID_LEN + 1];
    char *principal; /* may be NULL */
    int accepted;
    char *error; /* may be NULL */
    int64_t sites_changed;
};

/* A latency histogram for /metrics (seconds). */
#define CAIRN__HIST_BUCKETS 10
struct cairn__hist {
    uint64_t
        bucket[CAIRN__HIST_BUCKETS]; /* cumulative counts per upper bound */
    uint64_t count;
    double sum, last;
};

struct cairn__metrics {
    struct cairn__hist fetch, render;
    uint64_t fetch_errors, commits_accepted, commits_refused, generations,
        reissued;
    int last_commit_accepted; /* -1: none processed yet */
    int64_t last_commit_time;
    uint64_t sessions, sessions_refused, waiters_woken, hooks;
    uint64_t waiters; /* parked now */
    uint64_t reports_stored, reports_duplicate, reports_conflict,
        reports_refused;
    uint64_t uploads_stored, uploads_duplicate, record_batches, record_errors;
};

/* ---- the render lane (git, pipeline, render store) --------------------------
 */

struct cairn__rjob;

struct cairn__render_lane {
    /* owned by whichever thread runs the lane's job (one at a time) */
    struct cairn_store *store;
    struct cairn_git *git;
    struct cairn_pipeline *pipeline;
    struct cairn__strmap
        published; /* site -> struct cairn__pub: what the loop serves */
    struct cairn__strmap keys; /* site -> struct cairn_pubkey in the records */
    char last_tip[41];         /* last commit processed ("" none) */
    /* loop side */
    struct cairn__rjob *job; /* running, or NULL */
    int want_fetch, want_refresh, force;
    enum cairn_sigpolicy policy;
    struct cairn_sshsig_signers *signers;
    int have_next; /* a reload brought a new policy */
    enum cairn_sigpolicy next_policy;
    struct cairn_sshsig_signers *next_signers;
};

/* ---- the records lane
 * ----------------------------------------------------------- */

struct cairn__report;
struct cairn__wjob;

struct cairn__record_lane {
    struct cairn_records *rec;        /* used by the running job's thread */
    struct cairn_records_batch *next; /* collecting while a batch is written */
    struct cairn__report *answers; /* reports to answer when `next` commits */
    struct cairn__report *answers_last;
    size_t pending;          /* reports waiting for a batch */
    struct cairn__wjob *job; /* running, or NULL */
};

/* ---- the daemon
 * ------------------------------------------------------------------- */

struct cairn__ctrl {
    uv_loop_t loop;
    struct cairn_controller_opts opts;
    struct cairn_ctrl_config cfg;
    struct cairn_seckey key;
    uint8_t token_key[CAIRN_AUTH_KEY_LEN];
    char *operator_token;    /* NULL: operator endpoints are open */
    uint8_t *webhook_secret; /* NULL: hook disabled */
    size_t webhook_secret_len;
    struct cairn_httpd *srv;
    struct cairn_schema *report_schema;
    char repo_label[512]; /* source.repo as published */

    struct cairn__strmap sites;  /* name -> struct cairn__site */
    struct cairn__site **sorted; /* by name, rebuilt when sorted_dirty */
    size_t nsorted;
    int sorted_dirty;
    struct cairn__strmap nonces; /* "site/nonce" -> expiry (intptr) */
    int64_t nonce_sweep_at;

    struct cairn__commit commits[CAIRN__COMMITS_KEPT];
    size_t ncommits;
    char accepted_head[41];

    struct cairn__render_lane rl;
    struct cairn__record_lane wl;
    size_t uploads_busy;
    size_t checking; /* reports on the thread pool */

    uv_timer_t poll_timer, refresh_timer, tick_timer, watchdog_timer;
    uv_signal_t sig_term, sig_int, sig_hup;
    uint64_t watchdog_usec;
    int stopping, http_done, exit_code;
    uint64_t started_ms;
    struct cairn__metrics m;
};

/* daemon.c */
int64_t cairn__now(void);
/* Stop when the lanes are idle and the server is down (called as they finish).
 */
void cairn__maybe_finish(struct cairn__ctrl *c);
void cairn__hist_add(struct cairn__hist *h, double seconds);
extern const double cairn__hist_bounds[CAIRN__HIST_BUCKETS];

/* sites.c */
struct cairn__site *cairn__site_get(struct cairn__ctrl *c, const char *name);
struct cairn__site *cairn__site_get_or_add(struct cairn__ctrl *c,
                                           const char *name);
/* Serve env (a reference is taken over; NULL: none) and wake the waiters. */
void cairn__site_set_env(struct cairn__ctrl *c, struct cairn__site *s,
                         struct cairn__env *env, const char *commit,
                         const char *models);
/* Take a report's payload as the site's latest status (JSON text);
 * last_error and failure (JSON objects) replace the site's when not NULL. */
void cairn__site_set_status(struct cairn__site *s, int64_t seq,
                            int64_t received, const char *payload,
                            const char *last_error, const char *failure);
/* The failure record of a report (payload: canonical JSON), or NULL when
 * its event does not say a generation failed: a RolledBack,
 * DownloadFailed, Rejected or DesiredStateExpired event about a generation
 * above the one the site runs, or about an unnamed one (0: a document the
 * agent refused). served is the generation the controller served when the
 * report arrived (0: none); it names the unnamed one. Any thread. */
char *cairn__failure_of(const char *payload, int64_t served);
/* The site's failure as the API shows it, when it is what its state says
 * (rolledback or failed), else NULL. New reference. */
json_t *cairn__site_failure_json(const struct cairn__ctrl *c,
                                 const struct cairn__site *s, int64_t now);
void cairn__site_add_seq(struct cairn__site *s, int64_t seq, const char *sha);
/* The payload hash stored for seq, or NULL when not among the recent. */
const char *cairn__site_seq_sha(const struct cairn__site *s, int64_t seq);
enum cairn__site_state cairn__site_state(const struct cairn__ctrl *c,
                                         const struct cairn__site *s,
                                         int64_t now);
const char *cairn__site_state_name(enum cairn__site_state st);
/* Sites that are in the fleet or have a document, sorted by name. */
struct cairn__site **cairn__sites_sorted(struct cairn__ctrl *c, size_t *n);
void cairn__sites_free(struct cairn__ctrl *c);

/* api_desired.c: answer every waiter of s with its new envelope. */
void cairn__desired_wake(struct cairn__ctrl *c, struct cairn__site *s);

/* lane_render.c */
void cairn__render_init_loaded(struct cairn__ctrl *c);
void cairn__request_fetch(struct cairn__ctrl *c, const char *why);
void cairn__request_refresh(struct cairn__ctrl *c);
void cairn__render_lane_free(struct cairn__ctrl *c);
CAIRN_WUR int cairn__render_load(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__policy_load(const struct cairn_ctrl_config *cfg,
                                 enum cairn_sigpolicy *pol,
                                 struct cairn_sshsig_signers **signers,
                                 struct cairn_diag *d);

/* lane_records.c */
CAIRN_WUR int cairn__records_load(struct cairn__ctrl *c, struct cairn_diag *d);
/* The batch being collected (written after the one in flight). */
struct cairn_records_batch *cairn__records_next(struct cairn__ctrl *c);
/* Answer r when the batch collecting now commits. */
void cairn__records_answer_later(struct cairn__ctrl *c,
                                 struct cairn__report *r);
/* Start writing the collected batch unless one is being written. */
void cairn__records_kick(struct cairn__ctrl *c);
int cairn__records_idle(const struct cairn__ctrl *c);
void cairn__records_lane_free(struct cairn__ctrl *c);

/* auth (api_session.c) */
/* Check the request's site token against site (the path's). On failure
 * the response is sent (401/403) and -1 returned. */
int cairn__auth_site(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                     const char *site);
/* Any site's token or the operator token (artifacts). */
int cairn__auth_any(struct cairn__ctrl *c, struct cairn_httpd_req *req);
/* The operator token when one is configured. */
int cairn__auth_operator(struct cairn__ctrl *c, struct cairn_httpd_req *req);
void cairn__nonces_sweep(struct cairn__ctrl *c, int64_t now);
CAIRN_WUR int cairn__nonce_remember(struct cairn__ctrl *c, const char *site,
                                    const char *nonce, int64_t expires);

/* api_reports.c: answer a report whose batch committed (rc 0) or failed. */
void cairn__report_answer(struct cairn__ctrl *c, struct cairn__report *r,
                          int rc);

/* Route registration, one per endpoint group. */
CAIRN_WUR int cairn__api_session(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_desired(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_reports(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_uploads(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_artifacts(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_fleet(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_hooks(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_metrics(struct cairn__ctrl *c, struct cairn_diag *d);
CAIRN_WUR int cairn__api_audit(struct cairn__ctrl *c,
                               struct cairn_diag *d); /* api_audit.c */
CAIRN_WUR int cairn__api_models(struct cairn__ctrl *c,
                                struct cairn_diag *d); /* api_models.c */

/* Respond with a JSON value (consumed) and status. */
void cairn__respond_json(struct cairn_httpd_req *req, int status, json_t *v);

#endif
