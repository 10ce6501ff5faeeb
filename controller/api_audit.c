/*
 * The audit endpoints (docs/protocol.md "Audit"), for operators:
 *   GET /v1/sites/{site}/history?after=G&limit=N  generations served, each
 *       with its signed desired-state envelope
 *   GET /v1/sites/{site}/reports?after=S&limit=N  the site's signed reports
 *       as received
 * Each page carries a receipt: a DSSE envelope signed by the controller
 * key listing exactly what the controller holds in the page's range, so
 * that an evidence bundle can prove it left nothing out (`cairnctl audit
 * verify`).
 *
 * The queries and the signing run on the thread pool, on read-only SQLite
 * connections of their own (store_audit.h), so a long history never
 * blocks the loop or the lanes.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"
#include "publish.h"
#include "store_audit.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define PAGE_BYTES (8u << 20) /* envelopes in one page, then `next` */
#define PARK_MS 60000u
#define ENVELOPE_MAX (4u << 20)

enum what { HISTORY, REPORTS };

struct ajob {
    uv_work_t w;
    struct cairn__ctrl *c;
    struct cairn_httpd_req *req; /* NULL once the client is gone */
    enum what what;
    char site[CAIRN_SITE_MAX + 1];
    int64_t after, now;
    size_t limit;
    int known;               /* the daemon knows the site */
    struct cairn_seckey key; /* a copy: the thread signs */
    char *store_path, *records_path;
    /* filled on the thread */
    json_t *items, *rcpt; /* listed items, receipt items */
    int64_t last;
    size_t bytes;
    int status;
    char msg[256];
    char *body;
};

static void job_free(struct ajob *j)
{
    cairn_seckey_wipe(&j->key);
    free(j->store_path);
    free(j->records_path);
    json_decref(j->items);
    json_decref(j->rcpt);
    free(j->body);
    free(j);
}

static json_t *time_json(int64_t t)
{
    char buf[CAIRN_TIME_LEN + 1];

    if (t <= 0)
        return json_null();
    cairn_time_format(t, buf);
    return json_string(buf);
}

/* A stored envelope as JSON, and the sha256 of its payload bytes (what a
 * receipt lists and `audit verify` recomputes). NULL when unreadable. */
static json_t *envelope_json(const char *text, size_t len, const char *type,
                             char sha[CAIRN_SHA256_HEX_LEN + 1])
{
    struct cairn_dsse *e = NULL;
    json_t *v = NULL;
    uint8_t md[CAIRN_SHA256_LEN];

    sha[0] = '\0';
    if (cairn_dsse_parse(text, len, ENVELOPE_MAX, type, &e, NULL) != 0 ||
        cairn_json_parse(text, len, ENVELOPE_MAX, &v, NULL) != 0) {
        cairn_dsse_free(e);
        return NULL;
    }
    cairn_sha256(e->payload, e->payload_len, md);
    cairn_hex_encode(md, sizeof(md), sha);
    cairn_dsse_free(e);
    return v;
}

/* ---- on the thread pool
 * ------------------------------------------------------------ */

/* 1 stops the listing: the page is full. */
static int on_gen(const struct cairn_audit_gen *g, void *arg)
{
    struct ajob *j = arg;
    char sha[CAIRN_SHA256_HEX_LEN + 1] = "";
    json_t *env = g->envelope ? envelope_json(g->envelope, g->envelope_len,
                                              CAIRN_DSSE_DESIRED, sha)
                              : NULL;

    if (j->bytes > PAGE_BYTES && json_array_size(j->items)) {
        json_decref(env);
        return 1;
    }
    j->bytes += g->envelope_len;
    j->last = g->generation;
    json_array_append_new(
        j->items,
        json_pack("{s:I,s:s,s:o,s:o,s:s,s:b,s:o}", "generation",
                  (json_int_t)g->generation, "commit", g->commit, "issued",
                  time_json(g->issued), "expires", time_json(g->expires),
                  "models", g->models, "removed", g->removed, "envelope",
                  env ? env : json_null()));
    json_array_append_new(
        j->rcpt,
        json_pack("{s:I,s:s,s:s?,s:b}", "generation", (json_int_t)g->generation,
                  "commit", g->commit, "payloadSha256", sha[0] ? sha : NULL,
                  "removed", g->removed));
    return 0;
}

static int on_report(const struct cairn_audit_report *r, void *arg)
{
    struct ajob *j = arg;
    char sha[CAIRN_SHA256_HEX_LEN + 1];
    json_t *env =
        envelope_json(r->envelope, r->envelope_len, CAIRN_DSSE_REPORT, sha);

    if (j->bytes > PAGE_BYTES && json_array_size(j->items)) {
        json_decref(env);
        return 1;
    }
    j->bytes += r->envelope_len;
    j->last = r->seq;
    json_array_append_new(j->items,
                          json_pack("{s:I,s:o,s:o}", "seq", (json_int_t)r->seq,
                                    "received", time_json(r->received),
                                    "envelope", env ? env : json_null()));
    json_array_append_new(j->rcpt,
                          json_pack("{s:I,s:s?,s:o}", "seq", (json_int_t)r->seq,
                                    "payloadSha256", sha[0] ? sha : NULL,
                                    "received", time_json(r->received)));
    return 0;
}

/* The controller's signed statement of what it holds in (after, last]. */
static json_t *receipt(struct ajob *j, int complete)
{
    const struct cairn_seckey *keys[] = {&j->key};
    json_t *p = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:b,s:o,s:O}", "kind", CAIRN_RECEIPT_KIND, "site",
        j->site, "of", j->what == HISTORY ? "generations" : "reports", "after",
        (json_int_t)j->after, "last", (json_int_t)j->last, "complete", complete,
        "issued", time_json(j->now), "items", j->rcpt);
    char *text = cairn_json_canonical(p), *env;
    json_t *v = NULL;

    env = cairn_dsse_sign(CAIRN_DSSE_RECEIPT, (const uint8_t *)text,
                          strlen(text), keys, 1);
    if (!env ||
        cairn_json_parse(env, strlen(env), ENVELOPE_MAX * 4, &v, NULL) != 0)
        v = NULL;
    free(env);
    free(text);
    json_decref(p);
    return v;
}

static int site_key(struct ajob *j, struct cairn_store_audit *a, json_t **out,
                    struct cairn_diag *d)
{
    char *key = NULL, commit[41];
    int rc = cairn_store_audit_site_key(a, j->site, &key, commit, d);

    if (rc == CAIRN_ENOENT) {
        *out = json_null();
        return 0;
    }
    if (rc == 0)
        *out = json_pack("{s:s,s:s}", "publicKey", key, "commit", commit);
    free(key);
    return rc;
}

static void on_work(uv_work_t *w)
{
    struct ajob *j = cairn_container_of(w, struct ajob, w);
    struct cairn_store_audit *a = NULL;
    struct cairn_diag d;
    json_t *sk = NULL, *res, *rc_env;
    int more = 0, rc;

    cairn_diag_init(&d);
    j->last = j->after;
    rc = cairn_store_audit_open(j->store_path, j->records_path, &a, &d);
    if (rc == 0 && j->what == HISTORY)
        rc = site_key(j, a, &sk, &d);
    if (rc == 0)
        rc = j->what == HISTORY
                 ? cairn_store_audit_generations(a, j->site, j->after, j->limit,
                                                 on_gen, j, &more, &d)
                 : cairn_store_audit_reports(a, j->site, j->after, j->limit,
                                             on_report, j, &more, &d);
    more |= rc > 0;
    cairn_store_audit_close(a);
    if (rc < 0) {
        j->status = 500;
        snprintf(j->msg, sizeof(j->msg), "%s", cairn_diag_msg(&d));
    } else if (!j->known && j->after == 0 && json_array_size(j->items) == 0 &&
               (!sk || json_is_null(sk))) {
        j->status = 404;
        snprintf(j->msg, sizeof(j->msg), "unknown site");
    } else if (!(rc_env = receipt(j, !more))) {
        j->status = 500;
        snprintf(j->msg, sizeof(j->msg), "cannot sign the receipt");
    } else {
        res = json_pack(
            "{s:s,s:O,s:o,s:o}", "site", j->site,
            j->what == HISTORY ? "generations" : "reports", j->items, "next",
            more ? json_integer(j->last) : json_null(), "receipt", rc_env);
        if (j->what == HISTORY)
            json_object_set(res, "siteKey", sk);
        j->body = cairn_json_canonical(res);
        json_decref(res);
    }
    json_decref(sk);
}

/* ---- on the loop
 * ----------------------------------------------------------------------- */

static void on_done(uv_work_t *w, int status)
{
    struct ajob *j = cairn_container_of(w, struct ajob, w);

    if (j->req) {
        if (status != 0)
            cairn_httpd_unavailable(j->req, 5, "the controller is stopping");
        else if (j->status)
            cairn_httpd_respond_error(j->req, j->status, j->msg);
        else
            cairn_httpd_respond_json(j->req, 200, j->body, strlen(j->body));
    }
    job_free(j);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct ajob *j = arg;

    if (ev == CAIRN_HTTPD_PARK_ABORTED) {
        j->req = NULL;
        return;
    }
    cairn_httpd_unavailable(req, 5,
                            ev == CAIRN_HTTPD_PARK_TIMEOUT
                                ? "audit query too slow"
                                : "the controller is stopping");
    j->req = NULL;
}

/* A non-negative integer query parameter (def when absent), -1 when
 * malformed. */
static int64_t query_num(struct cairn_httpd_req *req, const char *name,
                         int64_t def)
{
    const char *v = cairn_httpd_req_query(req, name);
    int64_t n = 0;

    if (!v)
        return def;
    if (!*v || strlen(v) > 18)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n;
}

static void start(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                  enum what what)
{
    const char *site = cairn_httpd_req_param(req, "site");
    int64_t after = query_num(req, "after", 0),
            limit = query_num(req, "limit", PAGE_DEFAULT);
    struct ajob *j;

    if (cairn__auth_operator(c, req) != 0)
        return;
    if (after < 0 || limit < 1) {
        cairn_httpd_bad_request(
            req, "after and limit are integers (limit at least 1)");
        return;
    }
    if (strlen(site) > CAIRN_SITE_MAX) {
        cairn_httpd_not_found(req, "unknown site");
        return;
    }
    j = cairn_xcalloc(1, sizeof(*j));
    j->c = c, j->req = req, j->what = what, j->after = after,
    j->now = cairn__now();
    j->limit = (size_t)(limit > PAGE_MAX ? PAGE_MAX : limit);
    snprintf(j->site, sizeof(j->site), "%s", site);
    j->known = cairn__site_get(c, site) != NULL;
    j->key = c->key;
    j->store_path = cairn_store_audit_path(c->cfg.store);
    j->records_path = cairn_xasprintf("%s/records.db", c->cfg.state_dir);
    j->items = json_array(), j->rcpt = json_array();
    if (!j->store_path) {
        cairn_httpd_respond_error(req, 501,
                                  "the audit trail needs the SQLite store");
        job_free(j);
        return;
    }
    if (uv_queue_work(&c->loop, &j->w, on_work, on_done) != 0) {
        cairn_httpd_unavailable(req, 5, "cannot run the audit query now");
        job_free(j);
        return;
    }
    cairn_httpd_park(req, PARK_MS, on_park, j);
}

static void on_history(struct cairn_httpd_req *req, void *arg)
{
    start(arg, req, HISTORY);
}

static void on_reports(struct cairn_httpd_req *req, void *arg)
{
    start(arg, req, REPORTS);
}

int cairn__api_audit(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts ho = {0, "audit_history"},
                                  ro = {0, "audit_reports"};
    char *path = cairn_store_audit_path(c->cfg.store);
    int rc = 0;

    /* before the first render, so that no generation goes unrecorded */
    if (path)
        rc = cairn_store_audit_install(path, d);
    else
        LOG_WARN("store %s is not SQLite: no audit trail of desired states",
                 c->cfg.store);
    free(path);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET,
                               "/v1/sites/{site}/history", on_history, c, &ho,
                               d);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET,
                               "/v1/sites/{site}/reports", on_reports, c, &ro,
                               d);
    return rc;
}
