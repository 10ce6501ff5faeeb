#include "pipeline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build.h"
#include "cairn/mem.h"
#include "publish.h"
#include "render.h"

/* What the pipeline remembers of a site's last accepted render. */
struct site_state {
    char sha[CAIRN_SHA256_HEX_LEN + 1]; /* content hash */
    int64_t gen;
    char **deps; /* paths its render read */
    size_t ndeps;
};

/* A state change that applies only once the transaction has committed. */
struct pending {
    char *site;
    struct site_state *st; /* NULL: the site was removed */
    int64_t floor;         /* removed: the generation it used */
};

/* A site's new signed document, made on a build worker. */
struct prepared {
    int64_t gen;
    struct cairn_signed sig;
    char *models;
    double sign_ms;
};

struct cairn_pipeline {
    struct cairn_pipeline_opts o;
    struct cairn_loader *ld;
    struct cairn__strmap sites;  /* name -> struct site_state */
    struct cairn__strmap floors; /* removed site -> its last generation */
    int deps_known;              /* every state has its deps */
    struct cairn_src *src;       /* of the last accepted commit */
    struct cairn_fleet *fleet;   /* of the last accepted commit */
    char last[CAIRN_OID_HEX + 1];
};

/* One commit being processed. */
struct run {
    struct cairn_pipeline *p;
    struct cairn_src *src;
    const struct cairn_commit_meta *meta;
    struct cairn_pipeline_result *res;
    int all;                       /* render every site */
    struct cairn__strmap changed;  /* changed paths */
    struct cairn__strmap affected; /* sites to render */
    int planned;
    int64_t now;
    struct pending *pend;
    size_t npend, apend;
    struct cairn_diag infra; /* a store failure (not the commit's) */
};

static void state_free(struct site_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ndeps; i++)
        free(st->deps[i]);
    free(st->deps);
    free(st);
}

static int64_t now_s(const struct cairn_pipeline *p)
{
    return p->o.now ? p->o.now(p->o.now_arg) : (int64_t)time(NULL);
}

static int load_state(const struct cairn_render_rec *r, void *arg)
{
    struct cairn_pipeline *p = arg;
    struct site_state *st = cairn_xcalloc(1, sizeof(*st));

    memcpy(st->sha, r->content_sha256, sizeof(st->sha));
    st->gen = r->generation;
    state_free(cairn__strmap_put(&p->sites, r->site, st));
    return 0;
}

/* Sites with a history but no current document (they left the fleet):
 * a return continues above their last generation. */
static int load_floor(const char *site, int64_t gen, void *arg)
{
    struct cairn_pipeline *p = arg;

    if (!cairn__strmap_get(&p->sites, site))
        cairn__strmap_put(&p->floors, site, (void *)(intptr_t)gen);
    return 0;
}

int cairn_pipeline_new(const struct cairn_pipeline_opts *o,
                       struct cairn_pipeline **out, struct cairn_diag *d)
{
    struct cairn_pipeline *p = cairn_xcalloc(1, sizeof(*p));
    int rc;

    p->o = *o;
    cairn__strmap_init(&p->sites);
    cairn__strmap_init(&p->floors);
    rc = cairn_loader_new(&p->ld, d);
    if (rc == 0)
        rc = cairn_store_render_scan(o->store, 0, 0, 0, load_state, p, d);
    if (rc == 0)
        rc = cairn_store_generations_scan(o->store, load_floor, p, d);
    if (rc) {
        cairn_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cairn_pipeline_free(struct cairn_pipeline *p)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (!p)
        return;
    while (cairn__strmap_next(&p->sites, &pos, &k, &v))
        state_free(v);
    cairn__strmap_free(&p->sites);
    cairn__strmap_free(&p->floors);
    cairn_fleet_free(p->fleet);
    cairn_src_free(p->src);
    cairn_loader_free(p->ld);
    free(p);
}

const char *cairn_pipeline_last(const struct cairn_pipeline *p)
{
    return p->last[0] ? p->last : NULL;
}

const struct cairn_fleet *cairn_pipeline_fleet(const struct cairn_pipeline *p)
{
    return p->fleet;
}

const struct cairn_src *cairn_pipeline_src(const struct cairn_pipeline *p)
{
    return p->src;
}

void cairn_pipeline_result_free(struct cairn_pipeline_result *res)
{
    if (res)
        cairn_errlist_free(&res->errs);
}

char *cairn_content_models(json_t *content)
{
    struct cairn_buf b;
    json_t *w;
    size_t i;

    cairn_buf_init(&b, 0);
    if (cairn_buf_append(&b, "", 0) != 0)
        abort();
    json_array_foreach(json_object_get(content, "workloads"), i, w)
    {
        json_t *m = json_object_get(w, "model");

        if (m && cairn_buf_appendf(
                     &b, "%s%s@%s", b.len ? " " : "",
                     json_string_value(json_object_get(m, "name")),
                     json_string_value(json_object_get(m, "version"))) != 0)
            abort();
    }
    return cairn_buf_steal(&b, NULL);
}

/* ---- which sites a change can affect ---------------------------------- */

static int has_changed_dep(const struct run *r, const struct site_state *st)
{
    for (size_t i = 0; i < st->ndeps; i++)
        if (cairn__strmap_get(&r->changed, st->deps[i]))
            return 1;
    return 0;
}

/* Sites whose last render read a changed path, sites new to the fleet,
 * and sites that a changed group file now selects. */
static void plan(struct run *r, const struct cairn_fleet *f)
{
    size_t pos = 0;
    const char *k;
    void *v;

    while (cairn__strmap_next(&r->p->sites, &pos, &k, &v))
        if (has_changed_dep(r, v))
            cairn__strmap_put(&r->affected, k, (void *)1);
    for (size_t i = 0; i < f->nsites; i++)
        if (!cairn__strmap_get(&r->p->sites, f->sites[i]->name))
            cairn__strmap_put(&r->affected, f->sites[i]->name, (void *)1);
    for (size_t g = 0; g < f->ngroups; g++) {
        if (!cairn__strmap_get(&r->changed, f->groups[g]->path))
            continue;
        for (size_t i = 0; i < f->nsites; i++)
            if (cairn_group_matches(f->groups[g], f->sites[i]))
                cairn__strmap_put(&r->affected, f->sites[i]->name, (void *)1);
    }
    r->planned = 1;
}

static int select_site(const struct cairn_fleet *f,
                       const struct cairn_fdoc *site, void *arg)
{
    struct run *r = arg;

    if (r->all)
        return 1;
    if (!r->planned)
        plan(r, f);
    return cairn__strmap_get(&r->affected, site->name) != NULL;
}

/* ---- publishing --------------------------------------------------------- */

static void push_pending(struct run *r, const char *site, struct site_state *st,
                         int64_t floor)
{
    if (r->npend == r->apend) {
        r->apend = r->apend ? r->apend * 2 : 64;
        r->pend = cairn_xrealloc(r->pend, r->apend * sizeof(*r->pend));
    }
    r->pend[r->npend].site = cairn_xstrdup(site);
    r->pend[r->npend].floor = floor;
    r->pend[r->npend++].st = st;
}

static void prepared_free(void *arg)
{
    struct prepared *pr = arg;

    cairn_signed_free(&pr->sig);
    free(pr->models);
    free(pr);
}

/* The next generation of a site: one above anything it ever had. The
 * pipeline's memory is not written while a build runs, so workers may
 * read it. */
static int64_t next_generation(const struct cairn_pipeline *p, const char *site,
                               const struct site_state *old)
{
    return old ? old->gen + 1
               : (int64_t)(intptr_t)cairn__strmap_get(&p->floors, site) + 1;
}

/* Build worker: sign a new generation when the content changed. */
static void prepare_site(const struct cairn_fleet *f, struct cairn_rendered *rd,
                         void *arg)
{
    struct run *r = arg;
    const struct site_state *old = cairn__strmap_get(&r->p->sites, rd->site);
    struct cairn_source src = {r->p->o.repo, r->meta->sha, r->meta->signer};
    struct prepared *pr;
    double t0 = cairn__now_ms();

    if (!old || strcmp(old->sha, rd->sha256) != 0) {
        pr = cairn_xcalloc(1, sizeof(*pr));
        pr->gen = next_generation(r->p, rd->site, old);
        cairn_publish_sign_content(rd->canon, rd->size, rd->site, pr->gen,
                                   r->now, r->now + f->ttl_hours * 3600, &src,
                                   r->p->o.key, &pr->sig);
        pr->models = cairn_content_models(rd->content);
        pr->sign_ms = cairn__now_ms() - t0;
        rd->extra = pr;
        rd->extra_free = prepared_free;
    }
    /* publish_site needs neither. Freed here, on the thread that made
     * them (a few hundred jansson nodes a site), they go back to this
     * thread's malloc arena and cache instead of the calling thread
     * taking the arena's lock against this worker for each one. */
    json_decref(rd->content);
    rd->content = NULL;
    free(rd->canon);
    rd->canon = NULL;
}

static int store_render(struct run *r, const struct cairn_fleet *f,
                        struct cairn_rendered *rd, const struct prepared *pr,
                        struct cairn_diag *d)
{
    struct cairn_render_rec rec;
    int64_t expires = r->now + f->ttl_hours * 3600;
    double t0 = cairn__now_ms();
    int rc;

    memset(&rec, 0, sizeof(rec));
    snprintf(rec.site, sizeof(rec.site), "%s", rd->site);
    rec.generation = pr->gen;
    memcpy(rec.commit, r->meta->sha, sizeof(rec.commit));
    memcpy(rec.content_sha256, rd->sha256, sizeof(rec.content_sha256));
    memcpy(rec.payload_sha256, pr->sig.payload_sha256,
           sizeof(rec.payload_sha256));
    rec.issued = r->now;
    rec.expires = expires;
    rec.refresh_at = cairn_publish_refresh_at(rd->site, r->now, expires);
    rec.models = pr->models;
    rec.envelope = pr->sig.envelope;
    rec.envelope_len = pr->sig.envelope_len;
    rc = cairn_store_render_put(r->p->o.store, &rec, 1, d);
    r->res->store_ms += cairn__now_ms() - t0;
    r->res->sign_ms += pr->sign_ms;
    return rc;
}

/* on_site (the pipeline's thread): store the new generation, if any, and
 * remember the site's new dependencies either way. */
static int publish_site(const struct cairn_fleet *f, struct cairn_rendered *rd,
                        void *arg)
{
    struct run *r = arg;
    const struct prepared *pr = rd->extra;
    struct site_state *st = cairn_xcalloc(1, sizeof(*st));
    const struct site_state *old = cairn__strmap_get(&r->p->sites, rd->site);
    struct cairn_diag d;
    int rc = 0;

    memcpy(st->sha, rd->sha256, sizeof(st->sha));
    st->deps = rd->deps;
    st->ndeps = rd->ndeps;
    rd->deps = NULL;
    rd->ndeps = 0;
    st->gen = pr ? pr->gen : old->gen;
    cairn_diag_init(&d);
    if (pr) {
        rc = store_render(r, f, rd, pr, &d);
        if (rc == 0)
            r->res->changed++;
    }
    if (rc) {
        /* the store failed, not the commit: retry it later */
        cairn_diag_set(&r->infra, rc, "site %s: %s", rd->site,
                       cairn_diag_msg(&d));
        state_free(st);
    } else {
        push_pending(r, rd->site, st, 0);
    }
    cairn_rendered_free(rd);
    return rc;
}

/* Sites the pipeline knows that the new fleet no longer has. */
static int remove_gone(struct run *r, const struct cairn_fleet *f,
                       struct cairn_diag *d)
{
    size_t pos = 0;
    const char *k;
    void *v;
    int rc;

    while (cairn__strmap_next(&r->p->sites, &pos, &k, &v)) {
        if (cairn_fleet_site(f, k))
            continue;
        rc = cairn_store_render_remove(r->p->o.store, k, r->meta->sha, d);
        if (rc && rc != CAIRN_ENOENT)
            return rc;
        cairn_diag_init(d);
        /* the store's removal row takes the next generation */
        push_pending(r, k, NULL, ((const struct site_state *)v)->gen + 1);
        r->res->removed++;
    }
    return 0;
}

/* ---- one commit ---------------------------------------------------------- */

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->npend; i++) {
        free(r->pend[i].site);
        state_free(r->pend[i].st);
    }
    free(r->pend);
    cairn__strmap_free(&r->changed);
    cairn__strmap_free(&r->affected);
}

static int record_commit(struct run *r, int accepted, struct cairn_diag *d)
{
    struct cairn_commit_rec c;
    char *err = NULL;
    int rc;

    memset(&c, 0, sizeof(c));
    memcpy(c.sha, r->meta->sha, sizeof(c.sha));
    c.seen = r->now;
    memcpy(c.signer, r->meta->signer, sizeof(c.signer));
    c.principal = r->meta->principal;
    c.accepted = accepted;
    c.sites_changed = (int64_t)r->res->changed;
    if (!accepted)
        c.error = err = cairn_errlist_format(
            &r->res->errs,
            r->p->o.max_error_bytes ? r->p->o.max_error_bytes : 64u << 10);
    rc = cairn_store_commit_put(r->p->o.store, &c, d);
    if (rc == 0 && accepted)
        rc = cairn_store_head_set(r->p->o.store, "accepted", r->meta->sha, d);
    free(err);
    return rc;
}

/* Nothing of the commit is published: only its refusal is recorded. */
static int refuse(struct run *r, struct cairn_diag *d)
{
    int rc;

    cairn_store_rollback(r->p->o.store);
    r->res->accepted = 0;
    r->res->changed = r->res->removed = 0;
    rc = cairn_store_begin(r->p->o.store, d);
    if (rc == 0)
        rc = record_commit(r, 0, d);
    if (rc == 0)
        rc = cairn_store_commit(r->p->o.store, d);
    else
        cairn_store_rollback(r->p->o.store);
    return rc;
}

/* The transaction committed: the pipeline's memory follows it. */
static void adopt(struct run *r, struct cairn_fleet *f)
{
    struct cairn_pipeline *p = r->p;

    for (size_t i = 0; i < r->npend; i++) {
        state_free(cairn__strmap_del(&p->sites, r->pend[i].site));
        cairn__strmap_del(&p->floors, r->pend[i].site);
        if (r->pend[i].st)
            cairn__strmap_put(&p->sites, r->pend[i].site, r->pend[i].st);
        else
            cairn__strmap_put(&p->floors, r->pend[i].site,
                              (void *)(intptr_t)r->pend[i].floor);
        r->pend[i].st = NULL;
    }
    if (r->all)
        p->deps_known = 1;
    cairn_fleet_free(p->fleet);
    cairn_src_free(p->src);
    p->fleet = f;
    p->src = r->src;
    r->src = NULL;
    memcpy(p->last, r->meta->sha, sizeof(p->last));
    cairn_loader_sweep(p->ld, 1);
}

static void plan_changes(struct run *r, const struct cairn_changes *ch)
{
    cairn__strmap_init(&r->changed);
    cairn__strmap_init(&r->affected);
    r->all = !ch || !r->p->last[0] || !r->p->deps_known;
    for (size_t i = 0; ch && i < ch->n; i++)
        cairn__strmap_put(&r->changed, ch->paths[i], (void *)1);
}

static void fill_stats(struct cairn_pipeline_result *res,
                       const struct cairn_build_stats *st)
{
    res->sites = st->sites;
    res->rendered = st->rendered;
    res->load_ms = st->load_ms;
    res->attest_ms = st->attest_ms;
    res->render_ms = st->render_ms;
}

/* Build inside the open transaction, then finish it: 0 accepted, 1 the
 * commit is refused (errors listed), negative: store failure. */
static int build_and_store(struct run *r, struct cairn_fleet **fleet,
                           struct cairn_diag *d)
{
    struct cairn_build_hooks h = {select_site,  r, prepare_site,   r,
                                  publish_site, r, r->p->o.threads};
    struct cairn_build_stats st;
    int rc;

    rc = cairn_build_run(r->p->ld, r->src, &h, &r->res->errs, &st, fleet);
    fill_stats(r->res, &st);
    if (rc && r->infra.code)
        return cairn_diag_set(d, r->infra.code, "%s",
                              cairn_diag_msg(&r->infra));
    if (rc)
        return 1;
    rc = remove_gone(r, *fleet, d);
    if (rc == 0)
        rc = record_commit(r, 1, d);
    if (rc == 0)
        rc = cairn_store_commit(r->p->o.store, d);
    return rc;
}

int cairn_pipeline_process(struct cairn_pipeline *p, struct cairn_src *src,
                           const struct cairn_commit_meta *meta,
                           const struct cairn_changes *changes,
                           struct cairn_pipeline_result *res,
                           struct cairn_diag *d)
{
    struct run r = {0};
    struct cairn_fleet *f = NULL;
    double t0 = cairn__now_ms();
    int rc;

    memset(res, 0, sizeof(*res));
    cairn_errlist_init(&res->errs, p->o.max_errors);
    r.p = p;
    r.src = src;
    r.meta = meta;
    r.res = res;
    r.now = now_s(p);
    cairn_diag_init(&r.infra);
    plan_changes(&r, changes);
    if (meta->refused) {
        cairn_errlist_add(&res->errs, CAIRN_EPOLICY, NULL, NULL, 0, 0, NULL,
                          "commit %s: %s", meta->sha, meta->why);
        rc = refuse(&r, d);
        goto out;
    }
    rc = cairn_store_begin(p->o.store, d);
    if (rc == 0)
        rc = build_and_store(&r, &f, d);
    if (rc == 1) {
        rc = refuse(&r, d);
    } else if (rc < 0) {
        cairn_store_rollback(p->o.store);
    } else {
        res->accepted = 1;
        adopt(&r, f);
        f = NULL;
    }
out:
    cairn_fleet_free(f);
    cairn_src_free(r.src);
    run_free(&r);
    res->total_ms = cairn__now_ms() - t0;
    return rc;
}

/* ---- refreshing documents before they expire ------------------------------
 */

struct due {
    struct cairn_render_rec *v;
    size_t n, alloc;
};

static int collect_due(const struct cairn_render_rec *r, void *arg)
{
    struct due *due = arg;
    struct cairn_render_rec *c;

    if (due->n == due->alloc) {
        due->alloc = due->alloc ? due->alloc * 2 : 64;
        due->v = cairn_xrealloc(due->v, due->alloc * sizeof(*due->v));
    }
    c = &due->v[due->n++];
    *c = *r;
    c->models = cairn_xstrdup(r->models ? r->models : "");
    c->envelope = cairn_xmalloc(r->envelope_len + 1);
    memcpy(c->envelope, r->envelope, r->envelope_len + 1);
    return 0;
}

static int reissue_one(struct cairn_pipeline *p, struct cairn_render_rec *r,
                       int64_t now, struct cairn_diag *d)
{
    struct cairn_signed sig;
    int64_t life = r->expires - r->issued;
    int rc;

    memset(&sig, 0, sizeof(sig));
    rc = cairn_publish_reissue(r->envelope, r->envelope_len, now, p->o.key,
                               &sig, NULL, d);
    if (rc) {
        cairn_diag_prefix(d, "site %s", r->site);
        return rc;
    }
    free(r->envelope);
    r->envelope = sig.envelope;
    r->envelope_len = sig.envelope_len;
    sig.envelope = NULL;
    memcpy(r->payload_sha256, sig.payload_sha256, sizeof(r->payload_sha256));
    r->issued = now;
    r->expires = now + life;
    r->refresh_at = cairn_publish_refresh_at(r->site, r->issued, r->expires);
    return cairn_store_render_put(p->o.store, r, 0, d);
}

int cairn_pipeline_refresh(struct cairn_pipeline *p, size_t max, size_t *n,
                           struct cairn_diag *d)
{
    int64_t now = now_s(p);
    struct due due = {0};
    int rc;

    /* read first, write after: no writes under a running scan */
    rc = cairn_store_render_scan(p->o.store, 1, now + 1, max, collect_due, &due,
                                 d);
    if (rc == 0 && due.n)
        rc = cairn_store_begin(p->o.store, d);
    for (size_t i = 0; rc == 0 && i < due.n; i++)
        rc = reissue_one(p, &due.v[i], now, d);
    if (rc == 0 && due.n)
        rc = cairn_store_commit(p->o.store, d);
    else if (rc && due.n)
        cairn_store_rollback(p->o.store);
    if (rc == 0 && n)
        *n = due.n;
    for (size_t i = 0; i < due.n; i++)
        cairn_render_rec_free(&due.v[i]);
    free(due.v);
    return rc;
}
