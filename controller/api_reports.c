/*
 * POST /v1/sites/{site}/reports: a DSSE report signed by the site's key.
 *
 * The handler only checks the token and copies the body; parsing, the
 * signature, the schema and canonical hashing run on the thread pool. Back
 * on the loop the seq rules decide against the site's in-memory state
 * (highest seq and the payload hashes of its last few seqs):
 *   new seq above the highest -> stored (answered when its batch commits)
 *   a recent seq, same payload -> acknowledged, not stored twice
 *   anything else at or below the highest -> 409
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"

#define REPORT_MAX (256u << 10)
#define REPORT_PARK_MS 120000u

struct cairn__report {
    uv_work_t w;
    struct cairn__ctrl *c;
    struct cairn_httpd_req *req; /* NULL once answered or gone */
    char site[CAIRN_SITE_MAX + 1];
    struct cairn_pubkey key;
    char *body;
    size_t len;
    /* the verdict of the thread-pool check */
    int status; /* 0 ok, else the HTTP status to answer */
    char msg[512];
    int64_t seq;
    char sha[CAIRN_SHA256_HEX_LEN + 1];
    char *payload;    /* canonical JSON */
    char *last_error; /* JSON object when the report is an error event */
    int stored;       /* a new seq (else an acknowledged retry) */
    struct cairn__report *next; /* in the records lane's answer list */
};

struct cairn__report *cairn__report_next(struct cairn__report *r);
void cairn__report_set_next(struct cairn__report *r,
                            struct cairn__report *next);

struct cairn__report *cairn__report_next(struct cairn__report *r)
{
    return r->next;
}

void cairn__report_set_next(struct cairn__report *r, struct cairn__report *next)
{
    r->next = next;
}

static void report_free(struct cairn__report *r)
{
    free(r->body);
    free(r->payload);
    free(r->last_error);
    free(r);
}

/* Answer (when the client is still there) and free. */
static void finish(struct cairn__report *r, int status, const char *msg)
{
    if (r->req) {
        if (status == 200)
            cairn__respond_json(r->req, 200,
                                json_pack("{s:I,s:b}", "seq",
                                          (json_int_t)r->seq, "stored",
                                          r->stored));
        else
            cairn_httpd_respond_error(r->req, status, msg);
        r->req = NULL;
    }
    report_free(r);
}

/* ---- on the thread pool
 * ------------------------------------------------------------ */

static int is_error_event(const char *type)
{
    static const char *const errs[] = {"RolledBack", "DownloadFailed",
                                       "Rejected", "DesiredStateExpired",
                                       "CrashLoop"};

    for (size_t i = 0; type && i < CAIRN_ARRAY_LEN(errs); i++)
        if (strcmp(type, errs[i]) == 0)
            return 1;
    return 0;
}

/* The report's event as the site's last error, when it is one. */
static char *last_error_of(json_t *p)
{
    json_t *ev = json_object_get(p, "event"), *e;
    char *out;

    if (!is_error_event(json_string_value(json_object_get(ev, "type"))))
        return NULL;
    e = json_pack("{s:O,s:O,s:O}", "seq", json_object_get(p, "seq"), "time",
                  json_object_get(p, "time"), "type",
                  json_object_get(ev, "type"));
    if (json_object_get(ev, "reason"))
        json_object_set(e, "reason", json_object_get(ev, "reason"));
    if (json_object_get(ev, "generation"))
        json_object_set(e, "generation", json_object_get(ev, "generation"));
    out = cairn_json_canonical(e);
    json_decref(e);
    return out;
}

static int fail(struct cairn__report *r, int status, const char *what,
                struct cairn_diag *d)
{
    r->status = status;
    snprintf(r->msg, sizeof(r->msg), "%s%s", what, d ? cairn_diag_msg(d) : "");
    return -1;
}

/* The payload: schema-valid, for this site. */
static int check_payload(struct cairn__report *r, json_t *p)
{
    struct cairn_diag d;
    const char *site;
    uint8_t md[CAIRN_SHA256_LEN];

    cairn_diag_init(&d);
    if (cairn_schema_validate(r->c->report_schema, p, NULL, NULL, NULL, &d) !=
        0)
        return fail(r, 400, "report payload: ", &d);
    site = json_string_value(json_object_get(p, "site"));
    if (strcmp(site, r->site) != 0)
        return fail(r, 400, "report payload names another site than the path",
                    NULL);
    r->seq = json_integer_value(json_object_get(p, "seq"));
    r->payload = cairn_json_canonical(p);
    cairn_sha256(r->payload, strlen(r->payload), md);
    cairn_hex_encode(md, sizeof(md), r->sha);
    r->last_error = last_error_of(p);
    return 0;
}

static void on_check(uv_work_t *w)
{
    struct cairn__report *r = cairn_container_of(w, struct cairn__report, w);
    struct cairn_dsse *env = NULL;
    struct cairn_keyset ks;
    struct cairn_diag d;
    json_t *p = NULL;

    cairn_diag_init(&d);
    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, &r->key);
    if (cairn_dsse_parse(r->body, r->len, REPORT_MAX, CAIRN_DSSE_REPORT, &env,
                         &d) != 0)
        fail(r, 400, "", &d);
    else if (cairn_dsse_verify(env, &ks, 1, NULL, &d) != 0)
        fail(r, 401, "", &d);
    else if (cairn_json_parse((const char *)env->payload, env->payload_len,
                              REPORT_MAX, &p, &d) != 0)
        fail(r, 400, "report payload: ", &d);
    else
        (void)check_payload(r, p);
    json_decref(p);
    cairn_dsse_free(env);
    cairn_keyset_free(&ks);
}

/* ---- back on the loop
 * ---------------------------------------------------------------- */

static void accept_new(struct cairn__ctrl *c, struct cairn__site *s,
                       struct cairn__report *r)
{
    int64_t now = cairn__now();
    struct cairn_records_batch *b = cairn__records_next(c);
    char *failure = NULL;

    r->stored = 1;
    /* Only error events can be failures; a refused document is named by
     * what is served now, so this is decided here on the loop. */
    if (r->last_error)
        failure =
            cairn__failure_of(r->payload, s->env ? s->env->generation : 0);
    cairn__site_add_seq(s, r->seq, r->sha);
    cairn__site_set_status(s, r->seq, now, r->payload, r->last_error, failure);
    cairn_records_batch_report(b, r->site, r->seq, now, r->sha, r->payload,
                               r->body, r->last_error);
    if (failure)
        cairn_records_batch_failure(b, r->site, failure);
    free(failure);
    cairn__records_answer_later(c, r);
    cairn__records_kick(c);
    c->m.reports_stored++;
}

static void on_checked(uv_work_t *w, int status)
{
    struct cairn__report *r = cairn_container_of(w, struct cairn__report, w);
    struct cairn__ctrl *c = r->c;
    struct cairn__site *s = cairn__site_get(c, r->site);
    const char *prev;
    char msg[160];

    c->checking--;
    if (status != 0 && !r->status)
        fail(r, 503, "report not checked: the controller is stopping", NULL);
    if (r->status || !s) {
        c->m.reports_refused++;
        finish(r, r->status ? r->status : 404,
               r->status ? r->msg : "unknown site");
        return;
    }
    if (r->seq > s->high_seq) {
        accept_new(c, s, r);
        return;
    }
    prev = cairn__site_seq_sha(s, r->seq);
    if (prev && strcmp(prev, r->sha) == 0) {
        c->m.reports_duplicate++;
        if (r->seq <= s->stored_seq) {
            finish(r, 200, NULL);
            return;
        }
        /* a retry of a report still in a batch: answered once that commits */
        cairn__records_answer_later(c, r);
        cairn__records_kick(c);
        return;
    }
    c->m.reports_conflict++;
    snprintf(msg, sizeof(msg),
             "seq %lld is at or below the highest stored (%lld) with a "
             "different payload",
             (long long)r->seq, (long long)s->high_seq);
    finish(r, 409, msg);
}

/* Forget a seq whose batch failed, so that the agent's retry is new again. */
static void unaccept(struct cairn__ctrl *c, struct cairn__report *r)
{
    struct cairn__site *s = cairn__site_get(c, r->site);

    if (!s)
        return;
    s->high_seq = 0;
    for (unsigned i = 0; i < s->nrecent; i++) {
        if (s->recent[i].seq == r->seq)
            s->recent[i].seq = -1;
        if (s->recent[i].seq > s->high_seq)
            s->high_seq = s->recent[i].seq;
    }
}

void cairn__report_answer(struct cairn__ctrl *c, struct cairn__report *r,
                          int rc)
{
    struct cairn__site *s;

    if (rc) {
        if (r->stored)
            unaccept(c, r);
        finish(r, 503, "report not stored (database error); retry later");
        return;
    }
    s = cairn__site_get(c, r->site);
    if (s && r->stored && r->seq > s->stored_seq)
        s->stored_seq = r->seq;
    finish(r, 200, NULL);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct cairn__report *r = arg;

    switch (ev) {
    case CAIRN_HTTPD_PARK_ABORTED:
        r->req = NULL;
        break;
    case CAIRN_HTTPD_PARK_TIMEOUT:
        cairn_httpd_unavailable(req, 5,
                                "report not stored in time; retry later");
        r->req = NULL;
        break;
    case CAIRN_HTTPD_PARK_STOPPING:
        /* the last batch is being written: wait a little longer for it */
        cairn_httpd_park(req, 10000, on_park, r);
        break;
    }
}

/* The site and room for one more report; 0, or the response is sent. */
static int admit(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                 struct cairn__site *s)
{
    if (!s || !s->has_key) {
        cairn_httpd_not_found(req, "unknown site");
        return -1;
    }
    if (c->wl.pending >= CAIRN__MAX_PENDING_REPORTS || c->stopping) {
        cairn_httpd_unavailable(req, 5,
                                "too many reports waiting to be stored");
        return -1;
    }
    return 0;
}

/* Head hook: token, site and room are checked before the body is read, so
 * that a client without a token cannot make the controller hold bodies. */
static void on_report_head(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");

    if (cairn__auth_site(c, req, site) == 0)
        (void)admit(c, req, cairn__site_get(c, site));
}

static void on_report(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");
    struct cairn__site *s = cairn__site_get(c, site);
    struct cairn__report *r;
    size_t len;
    const char *body;

    /* The token passed the head hook; the fleet or the queue may have
     * changed while the body arrived. */
    if (admit(c, req, s) != 0)
        return;
    body = cairn_httpd_req_body(req, &len);
    r = cairn_xcalloc(1, sizeof(*r));
    r->c = c;
    r->req = req;
    snprintf(r->site, sizeof(r->site), "%s", site);
    r->key = s->key;
    r->body = cairn_xmalloc(len + 1);
    memcpy(r->body, body, len + 1); /* the body is NUL-terminated past len */
    r->len = len;
    if (uv_queue_work(&c->loop, &r->w, on_check, on_checked) != 0) {
        r->req = NULL;
        report_free(r);
        cairn_httpd_unavailable(req, 5, "cannot check the report now");
        return;
    }
    c->checking++;
    cairn_httpd_park(req, REPORT_PARK_MS, on_park, r);
}

int cairn__api_reports(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {REPORT_MAX, "reports"};
    struct cairn_httpd_route_hooks h = {on_report_head, NULL, NULL};

    return cairn_httpd_route_hooks(c->srv, CAIRN_HTTPD_POST,
                                   "/v1/sites/{site}/reports", on_report, c, &o,
                                   &h, d);
}
