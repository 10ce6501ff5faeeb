/*
 * Fleet status for operators, all from memory: GET /v1/fleet, /v1/sites
 * (paged), /v1/sites/{site} and /v1/commits. Behind the operator token
 * when one is configured.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "daemon_int.h"
#include "publish.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define OFFLINE_LISTED 1000

static json_t *time_or_null(int64_t t)
{
    char buf[CAIRN_TIME_LEN + 1];

    if (t <= 0)
        return json_null();
    cairn_time_format(t, buf);
    return json_string(buf);
}

/* A non-negative integer query parameter, def when absent, -1 malformed. */
static long query_num(struct cairn_httpd_req *req, const char *name, long def,
                      long max)
{
    const char *v = cairn_httpd_req_query(req, name);
    long n = 0;

    if (!v)
        return def;
    if (!*v || strlen(v) > 9)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        n = n * 10 + (*v - '0');
    }
    return n > max ? max : n;
}

/* ---- /v1/fleet
 * -------------------------------------------------------------------- */

/* running is "name@version name@version ...". */
static void count_models(json_t *models, const char *running)
{
    while (*running) {
        size_t len = strcspn(running, " ");
        char *m = cairn_xstrndup(running, len);
        json_t *n = json_object_get(models, m);

        if (len)
            json_object_set_new(
                models, m, json_integer(n ? json_integer_value(n) + 1 : 1));
        free(m);
        running += len;
        running += strspn(running, " ");
    }
}

static const char *generation_class(const struct cairn__site *s)
{
    if (!s->status)
        return "unreported";
    if (!s->env || s->applied == s->env->generation)
        return "current";
    return s->applied < s->env->generation ? "behind" : "ahead";
}

static json_t *last_commit(const struct cairn__ctrl *c)
{
    const struct cairn__commit *k = c->ncommits ? &c->commits[0] : NULL;

    return json_pack("{s:s?,s:o}", "accepted",
                     c->accepted_head[0] ? c->accepted_head : NULL, "last",
                     k ? json_pack("{s:s,s:b,s:o,s:s?}", "sha", k->sha,
                                   "accepted", k->accepted, "seen",
                                   time_or_null(k->seen), "error", k->error)
                       : json_null());
}

static void on_fleet(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    json_t *states = json_object(), *models = json_object(),
           *gens = json_object();
    json_t *offline = json_array();
    int64_t now = cairn__now();
    size_t n, counts[CAIRN__ST_COUNT] = {0};
    struct cairn__site **v;

    if (cairn__auth_operator(c, req) != 0)
        goto out;
    v = cairn__sites_sorted(c, &n);
    for (size_t i = 0; i < n; i++) {
        enum cairn__site_state st = cairn__site_state(c, v[i], now);
        const char *g = generation_class(v[i]);
        json_t *gc = json_object_get(gens, g);

        counts[st]++;
        if (st == CAIRN__ST_OFFLINE &&
            json_array_size(offline) < OFFLINE_LISTED)
            json_array_append_new(offline, json_string(v[i]->name));
        if (v[i]->running && st != CAIRN__ST_OFFLINE)
            count_models(models, v[i]->running);
        json_object_set_new(gens, g,
                            json_integer(gc ? json_integer_value(gc) + 1 : 1));
    }
    for (int s = 0; s < CAIRN__ST_COUNT; s++)
        json_object_set_new(states, cairn__site_state_name(s),
                            json_integer((json_int_t)counts[s]));
    cairn__respond_json(
        req, 200,
        json_pack("{s:I,s:O,s:O,s:O,s:O,s:o,s:I,s:I}", "sites", (json_int_t)n,
                  "states", states, "models", models, "generations", gens,
                  "offline", offline, "commit", last_commit(c),
                  "reportIntervalSeconds", (json_int_t)c->cfg.report_interval,
                  "waiters", (json_int_t)c->m.waiters));
out:
    json_decref(states);
    json_decref(models);
    json_decref(gens);
    json_decref(offline);
}

/* ---- /v1/sites and /v1/sites/{site}
 * ----------------------------------------------------- */

static json_t *site_summary(const struct cairn__ctrl *c,
                            const struct cairn__site *s, int64_t now)
{
    return json_pack(
        "{s:s,s:s,s:o,s:o,s:s?,s:s,s:s,s:o,s:o?}", "name", s->name, "state",
        cairn__site_state_name(cairn__site_state(c, s, now)), "served",
        s->env ? json_integer(s->env->generation) : json_null(), "applied",
        s->status ? json_integer(s->applied) : json_null(), "commit",
        s->commit[0] ? s->commit : NULL, "models", s->models ? s->models : "",
        "running", s->running ? s->running : "", "lastReport",
        time_or_null(s->report_received), "failure",
        cairn__site_failure_json(c, s, now));
}

static void on_sites(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    long off = query_num(req, "offset", 0, 1000000000), lim;
    int64_t now = cairn__now();
    struct cairn__site **v;
    json_t *arr;
    size_t n;

    if (cairn__auth_operator(c, req) != 0)
        return;
    lim = query_num(req, "limit", PAGE_DEFAULT, PAGE_MAX);
    if (off < 0 || lim < 0) {
        cairn_httpd_bad_request(
            req, "offset and limit must be non-negative integers");
        return;
    }
    v = cairn__sites_sorted(c, &n);
    arr = json_array();
    for (size_t i = (size_t)off; i < n && i < (size_t)off + (size_t)lim; i++)
        json_array_append_new(arr, site_summary(c, v[i], now));
    cairn__respond_json(req, 200,
                        json_pack("{s:I,s:I,s:I,s:o}", "total", (json_int_t)n,
                                  "offset", (json_int_t)off, "limit",
                                  (json_int_t)lim, "sites", arr));
}

static json_t *served(const struct cairn__site *s)
{
    char issued[CAIRN_TIME_LEN + 1];

    if (!s->env)
        return json_null();
    cairn_time_format(s->env->issued, issued);
    return json_pack("{s:I,s:s,s:s,s:s,s:s}", "generation",
                     (json_int_t)s->env->generation, "issued", issued, "etag",
                     s->env->etag, "commit", s->commit, "models", s->models);
}

static json_t *parse_or_null(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;

    return v ? v : json_null();
}

static json_t *site_detail(const struct cairn__ctrl *c,
                           const struct cairn__site *s, int64_t now)
{
    json_t *st = parse_or_null(s->status),
           *gen = json_object_get(st, "generation");
    json_t *out = json_pack(
        "{s:s,s:s,s:o?,s:b,s:o,s:o,s:s,s:O?,s:O?,s:O?,s:o,s:o,s:o,s:O?,"
        "s:{s:I,s:I},s:I}",
        "name", s->name, "state",
        cairn__site_state_name(cairn__site_state(c, s, now)), "failure",
        cairn__site_failure_json(c, s, now), "inFleet", s->has_key, "served",
        served(s), "applied",
        s->status ? json_integer(s->applied) : json_null(), "running",
        s->running ? s->running : "", "agentGeneration", gen, "workloads",
        json_object_get(st, "workloads"), "conditions",
        json_object_get(st, "conditions"), "lastError",
        parse_or_null(s->last_error), "lastReport",
        time_or_null(s->report_received), "lastSeq",
        s->status ? json_integer(s->status_seq) : json_null(), "agentVersion",
        json_object_get(st, "agentVersion"), "uploads", "count",
        (json_int_t)s->uploads, "bytes", (json_int_t)s->upload_bytes, "waiters",
        (json_int_t)s->nwaiters);

    json_decref(st);
    return out;
}

static void on_site(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *name = cairn_httpd_req_param(req, "site");
    struct cairn__site *s;

    if (cairn__auth_operator(c, req) != 0)
        return;
    s = cairn__site_get(c, name);
    if (!s || (!s->has_key && !s->env && !s->status)) {
        cairn_httpd_not_found(req, "unknown site");
        return;
    }
    cairn__respond_json(req, 200, site_detail(c, s, cairn__now()));
}

/* ---- /v1/commits
 * --------------------------------------------------------------------- */

static void on_commits(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    long lim;
    json_t *arr;

    if (cairn__auth_operator(c, req) != 0)
        return;
    lim = query_num(req, "limit", 20, CAIRN__COMMITS_KEPT);
    if (lim < 0) {
        cairn_httpd_bad_request(req, "limit must be a non-negative integer");
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < c->ncommits && i < (size_t)lim; i++) {
        const struct cairn__commit *k = &c->commits[i];

        json_array_append_new(
            arr,
            json_pack("{s:s,s:o,s:s?,s:s?,s:b,s:s?,s:I}", "sha", k->sha, "seen",
                      time_or_null(k->seen), "signer",
                      k->signer[0] ? k->signer : NULL, "principal",
                      k->principal, "accepted", k->accepted, "error", k->error,
                      "sitesChanged", (json_int_t)k->sites_changed));
    }
    cairn__respond_json(req, 200,
                        json_pack("{s:s?,s:o}", "accepted",
                                  c->accepted_head[0] ? c->accepted_head : NULL,
                                  "commits", arr));
}

int cairn__api_fleet(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts fo = {0, "fleet"}, so = {0, "sites"},
                                  to = {0, "site"};
    struct cairn_httpd_route_opts co = {0, "commits"};
    int rc;

    rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/v1/fleet", on_fleet, c,
                           &fo, d);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/v1/sites", on_sites,
                               c, &so, d);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/v1/sites/{site}",
                               on_site, c, &to, d);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/v1/commits",
                               on_commits, c, &co, d);
    return rc;
}
