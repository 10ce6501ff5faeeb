/*
 * GET /v1/fleet/models: the fleet per model version (docs/model-versions.md):
 * sites running it now, images processed, band distribution, unsure rate,
 * accuracy against reviewed labels, uploads. Behind the operator token
 * when one is configured.
 *
 * What runs now is the loop's (each site's latest report); the counters
 * and uploads are in the records database, read on the thread pool with a
 * connection of the job's own, while the request waits parked.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"
#include "modelstats.h"
#include "publish.h"

#define PARK_MS 30000

struct mjob {
    uv_work_t w;
    struct cairn_httpd_req *req; /* NULL once answered for or gone */
    char *records_path;
    json_t *running; /* "model@version" -> [site, ...] */
    char *body;      /* the answer, or NULL with msg */
    char msg[256];
};

static void job_free(struct mjob *j)
{
    free(j->records_path);
    json_decref(j->running);
    free(j->body);
    free(j);
}

/* running is "name@version name@version ..." (sites.c). */
static void add_site(json_t *running, const char *models, const char *site)
{
    while (*models) {
        size_t len = strcspn(models, " ");
        char *k = cairn_xstrndup(models, len);
        json_t *a = json_object_get(running, k);

        if (len && !a)
            json_object_set_new(running, k, a = json_array());
        if (a)
            json_array_append_new(a, json_string(site));
        free(k);
        models += len;
        models += strspn(models, " ");
    }
}

/* Sites in order of name; offline ones do not count as running. */
static json_t *running_now(struct cairn__ctrl *c)
{
    json_t *running = json_object();
    int64_t now = cairn__now();
    size_t n;
    struct cairn__site **v = cairn__sites_sorted(c, &n);

    for (size_t i = 0; i < n; i++)
        if (v[i]->running &&
            cairn__site_state(c, v[i], now) != CAIRN__ST_OFFLINE)
            add_site(running, v[i]->running, v[i]->name);
    return running;
}

static void on_work(uv_work_t *w)
{
    struct mjob *j = cairn_container_of(w, struct mjob, w);
    struct cairn_diag d;
    json_t *models = NULL, *res;
    char issued[CAIRN_TIME_LEN + 1];

    cairn_diag_init(&d);
    if (cairn_modelstats_query(j->records_path, j->running, &models, &d) != 0) {
        snprintf(j->msg, sizeof(j->msg), "%s", cairn_diag_msg(&d));
        return;
    }
    cairn_time_format(cairn__now(), issued);
    res = json_pack("{s:o,s:s}", "models", models, "time", issued);
    j->body = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(res);
}

static void on_done(uv_work_t *w, int status)
{
    struct mjob *j = cairn_container_of(w, struct mjob, w);

    if (j->req) {
        if (status != 0)
            cairn_httpd_unavailable(j->req, 5, "the controller is stopping");
        else if (!j->body) {
            LOG_ERROR("GET /v1/fleet/models: %s", j->msg);
            cairn_httpd_respond_error(j->req, 500, j->msg);
        } else
            cairn_httpd_respond_json(j->req, 200, j->body, strlen(j->body));
    }
    job_free(j);
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct mjob *j = arg;

    j->req = NULL; /* the job frees itself when it is done */
    if (ev != CAIRN_HTTPD_PARK_ABORTED)
        cairn_httpd_unavailable(req, 5,
                                ev == CAIRN_HTTPD_PARK_TIMEOUT
                                    ? "model statistics too slow"
                                    : "the controller is stopping");
}

static void on_models(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    struct mjob *j;

    if (cairn__auth_operator(c, req) != 0)
        return;
    j = cairn_xcalloc(1, sizeof(*j));
    j->req = req;
    j->records_path = cairn_xasprintf("%s/records.db", c->cfg.state_dir);
    j->running = running_now(c);
    if (uv_queue_work(&c->loop, &j->w, on_work, on_done) != 0) {
        cairn_httpd_unavailable(req, 5, "cannot run the query now");
        job_free(j);
        return;
    }
    cairn_httpd_park(req, PARK_MS, on_park, j);
}

int cairn__api_models(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {0, "fleet_models"};
    char *path = cairn_xasprintf("%s/records.db", c->cfg.state_dir);
    /* The records are open (cairn__records_load runs first): the counters
     * are folded from the first report this process stores. */
    int rc = cairn_modelstats_install(path, d);

    free(path);
    if (rc == 0)
        rc = cairn_httpd_route(c->srv, CAIRN_HTTPD_GET, "/v1/fleet/models",
                               on_models, c, &o, d);
    return rc;
}
