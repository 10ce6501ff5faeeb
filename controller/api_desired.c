/*
 * GET /v1/sites/{site}/desired[?wait=S]: the site's signed desired state,
 * from memory. The 200 and 304 paths cost one HMAC, one hash look-up and a
 * borrowed write (no copy, no SQL). With wait the request is parked on the
 * site's waiter list; when the render lane hands over a new envelope every
 * waiter of the site is answered at once.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"

#define WAIT_MAX_S 300

static void release_env(void *arg)
{
    cairn__env_unref(arg);
}

static void send_env(struct cairn_httpd_req *req, struct cairn__env *e)
{
    if (cairn_httpd_resp_header(req, "ETag", e->etag) != 0) {
        cairn_httpd_respond_error(req, 500, "cannot add ETag");
        return;
    }
    cairn__env_ref(e);
    cairn_httpd_respond_borrowed(req, 200, "application/json", e->data, e->len,
                                 release_env, e);
}

/* ?wait=S: seconds (capped at 300), 0 when absent, -1 when malformed. */
static long parse_wait(struct cairn_httpd_req *req)
{
    const char *w = cairn_httpd_req_query(req, "wait");
    long v = 0;

    if (!w)
        return 0;
    if (!*w || strlen(w) > 6)
        return -1;
    for (; *w; w++) {
        if (*w < '0' || *w > '9')
            return -1;
        v = v * 10 + (*w - '0');
    }
    return v > WAIT_MAX_S ? WAIT_MAX_S : v;
}

static void unlink_waiter(struct cairn__waiter *w)
{
    struct cairn__site *s = w->site;

    if (w->prev)
        w->prev->next = w->next;
    else
        s->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    s->nwaiters--;
    w->c->m.waiters--;
}

static void on_park(struct cairn_httpd_req *req, enum cairn_httpd_park_event ev,
                    void *arg)
{
    struct cairn__waiter *w = arg;
    struct cairn__site *s = w->site;

    unlink_waiter(w);
    free(w);
    switch (ev) {
    case CAIRN_HTTPD_PARK_TIMEOUT:
        if (s->env)
            cairn_httpd_respond_not_modified(req, s->env->etag);
        else
            cairn_httpd_not_found(req, "no desired state for this site yet");
        break;
    case CAIRN_HTTPD_PARK_STOPPING:
        cairn_httpd_unavailable(req, 5, "the controller is stopping");
        break;
    case CAIRN_HTTPD_PARK_ABORTED:
        break;
    }
}

void cairn__desired_wake(struct cairn__ctrl *c, struct cairn__site *s)
{
    struct cairn__waiter *w = s->waiters, *next;

    /* detach the whole list first: answering may not re-enter it */
    s->waiters = NULL;
    c->m.waiters -= s->nwaiters;
    s->nwaiters = 0;
    for (; w; w = next) {
        next = w->next;
        send_env(w->req, s->env);
        free(w);
        c->m.waiters_woken++;
    }
}

static void park(struct cairn__ctrl *c, struct cairn_httpd_req *req,
                 struct cairn__site *s, long wait)
{
    struct cairn__waiter *w;

    if (s->nwaiters >= (unsigned)c->cfg.max_waiters_per_site) {
        cairn_httpd_too_many(req, 5, "too many long-polls for this site");
        return;
    }
    w = cairn_xcalloc(1, sizeof(*w));
    w->req = req;
    w->c = c;
    w->site = s;
    w->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = w;
    s->waiters = w;
    s->nwaiters++;
    c->m.waiters++;
    cairn_httpd_park(req, (uint32_t)wait * 1000u, on_park, w);
}

static void on_desired(struct cairn_httpd_req *req, void *arg)
{
    struct cairn__ctrl *c = arg;
    const char *site = cairn_httpd_req_param(req, "site");
    struct cairn__site *s;
    long wait;

    if (cairn__auth_site(c, req, site) != 0)
        return;
    s = cairn__site_get(c, site);
    wait = parse_wait(req);
    if (wait < 0) {
        cairn_httpd_bad_request(
            req, "wait must be a whole number of seconds (0 answers at once; "
                 "above 300 waits 300)");
        return;
    }
    if (s && s->env && !cairn_httpd_req_not_modified(req, s->env->etag)) {
        send_env(req, s->env);
        return;
    }
    if (s && wait > 0 && !c->stopping) {
        park(c, req, s, wait);
        return;
    }
    if (s && s->env)
        cairn_httpd_respond_not_modified(req, s->env->etag);
    else
        cairn_httpd_not_found(req, "no desired state for this site");
}

int cairn__api_desired(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_route_opts o = {0, "desired"};

    return cairn_httpd_route(c->srv, CAIRN_HTTPD_GET,
                             "/v1/sites/{site}/desired", on_desired, c, &o, d);
}
