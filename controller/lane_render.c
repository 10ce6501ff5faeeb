/*
 * The render lane: git fetch, the pipeline (render, sign, store) and the
 * periodic re-issue, one uv_queue_work job at a time. A job's thread owns
 * the git handle, the pipeline and the render store while it runs; it
 * hands the loop what changed (new envelopes, removed sites, site keys, the
 * commits list) and the loop swaps them in and wakes long-polls.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cairn/fs.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"

/* What the loop serves for a site, as the lane last handed it over. */
struct cairn__pub {
    int64_t gen, issued;
    uint64_t epoch;
};

struct upd {
    char site[CAIRN_SITE_MAX + 1];
    struct cairn__env *env; /* NULL: the site has no document any more */
    char commit[41];
    char *models;
};

struct keyupd {
    char site[CAIRN_SITE_MAX + 1];
    int has; /* 0: left the fleet */
    struct cairn_pubkey key;
};

enum rjob_kind { RJ_FETCH, RJ_REFRESH };

struct cairn__rjob {
    uv_work_t w;
    struct cairn__ctrl *c;
    enum rjob_kind kind;
    enum cairn_sigpolicy policy;
    const struct cairn_sshsig_signers *signers;
    int force;
    /* results */
    int rc;
    struct cairn_diag d;
    int fetched, processed, accepted;
    char tip[41];
    size_t sites, changed, removed, reissued;
    double fetch_s, render_s, handover_s;
    char *errors;
    struct upd *u;
    size_t nu, au;
    struct keyupd *k;
    size_t nk, ak;
    struct cairn__commit commits[CAIRN__COMMITS_KEPT];
    size_t ncommits;
    int have_commits;
    char head[41];
};

static uint64_t epoch;

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- worker side: what changed
 * ------------------------------------------------ */

struct scan {
    struct cairn__rjob *j;
    struct cairn__strmap *published;
    char **changed;
    size_t n, alloc;
};

static int scan_cb(const struct cairn_render_rec *r, void *arg)
{
    struct scan *sc = arg;
    struct cairn__pub *p = cairn__strmap_get(sc->published, r->site);

    if (!p) {
        p = cairn_xcalloc(1, sizeof(*p));
        p->gen = -1;
        cairn__strmap_put(sc->published, r->site, p);
    }
    p->epoch = epoch;
    if (p->gen == r->generation && p->issued == r->issued)
        return 0;
    if (sc->n == sc->alloc) {
        sc->alloc = sc->alloc ? sc->alloc * 2 : 64;
        sc->changed = cairn_xrealloc(sc->changed, sc->alloc * sizeof(char *));
    }
    sc->changed[sc->n++] = cairn_xstrdup(r->site);
    return 0;
}

static struct upd *push_upd(struct cairn__rjob *j, const char *site)
{
    struct upd *u;

    if (j->nu == j->au) {
        j->au = j->au ? j->au * 2 : 64;
        j->u = cairn_xrealloc(j->u, j->au * sizeof(*j->u));
    }
    u = &j->u[j->nu++];
    memset(u, 0, sizeof(*u));
    snprintf(u->site, sizeof(u->site), "%s", site);
    return u;
}

/* Read the envelope of one changed site. */
static int read_changed(struct cairn__rjob *j, struct cairn__strmap *published,
                        const char *site)
{
    struct cairn_render_rec rec;
    struct cairn__pub *p = cairn__strmap_get(published, site);
    struct upd *u;
    int rc;

    memset(&rec, 0, sizeof(rec));
    rc = cairn_store_render_get(j->c->rl.store, site, &rec, &j->d);
    if (rc == CAIRN_ENOENT)
        return 0; /* gone between scan and read: the next scan sees it */
    if (rc)
        return rc;
    u = push_upd(j, site);
    u->env = cairn__env_new(rec.generation, rec.issued, rec.envelope,
                            rec.envelope_len);
    snprintf(u->commit, sizeof(u->commit), "%s", rec.commit);
    u->models = cairn_xstrdup(rec.models ? rec.models : "");
    p->gen = rec.generation;
    p->issued = rec.issued;
    cairn_render_rec_free(&rec);
    return 0;
}

/* Sites whose (generation, issued) differ from what the loop serves, and
 * sites that no longer have a document. */
static int collect_updates(struct cairn__rjob *j)
{
    struct cairn__render_lane *rl = &j->c->rl;
    struct scan sc = {j, &rl->published, NULL, 0, 0};
    size_t pos = 0;
    const char *k;
    void *v;
    int rc;

    epoch++;
    rc = cairn_store_render_scan(rl->store, 0, 0, 0, scan_cb, &sc, &j->d);
    for (size_t i = 0; rc == 0 && i < sc.n; i++)
        rc = read_changed(j, &rl->published, sc.changed[i]);
    for (size_t i = 0; i < sc.n; i++)
        free(sc.changed[i]);
    free(sc.changed);
    if (rc)
        return rc;
    while (cairn__strmap_next(&rl->published, &pos, &k, &v)) {
        struct cairn__pub *p = v;

        if (p->epoch == epoch)
            continue;
        push_upd(j, k);
        /* del leaves a tombstone, so the walk goes on from pos */
        free(cairn__strmap_del(&rl->published, k));
    }
    return 0;
}

static void push_key(struct cairn__rjob *j, const char *site,
                     const struct cairn_pubkey *key)
{
    struct keyupd *k;

    if (j->nk == j->ak) {
        j->ak = j->ak ? j->ak * 2 : 64;
        j->k = cairn_xrealloc(j->k, j->ak * sizeof(*j->k));
    }
    k = &j->k[j->nk++];
    memset(k, 0, sizeof(*k));
    snprintf(k->site, sizeof(k->site), "%s", site);
    k->has = key != NULL;
    if (key)
        k->key = *key;
}

/* Site keys of the accepted fleet that differ from those recorded. */
static void collect_keys(struct cairn__rjob *j)
{
    struct cairn__render_lane *rl = &j->c->rl;
    const struct cairn_fleet *f = cairn_pipeline_fleet(rl->pipeline);
    size_t pos = 0;
    const char *k;
    void *v;

    if (!f)
        return;
    for (size_t i = 0; i < f->nsites; i++) {
        const struct cairn_fdoc *s = f->sites[i];
        struct cairn_pubkey *old = cairn__strmap_get(&rl->keys, s->name);

        if (old && memcmp(old->pk, s->u.site.key.pk, sizeof(old->pk)) == 0)
            continue;
        if (!old)
            old = cairn_xmalloc(sizeof(*old));
        *old = s->u.site.key;
        cairn__strmap_put(&rl->keys, s->name, old);
        push_key(j, s->name, old);
    }
    while (cairn__strmap_next(&rl->keys, &pos, &k, &v)) {
        if (cairn_fleet_site(f, k))
            continue;
        push_key(j, k, NULL);
        free(cairn__strmap_del(&rl->keys, k));
    }
}

static int commit_cb(const struct cairn_commit_rec *r, void *arg)
{
    struct cairn__rjob *j = arg;
    struct cairn__commit *c = &j->commits[j->ncommits++];

    memcpy(c->sha, r->sha, sizeof(c->sha));
    c->seen = r->seen;
    memcpy(c->signer, r->signer, sizeof(c->signer));
    c->principal =
        r->principal && r->principal[0] ? cairn_xstrdup(r->principal) : NULL;
    c->accepted = r->accepted;
    c->error = r->error ? cairn_xstrdup(r->error) : NULL;
    c->sites_changed = r->sites_changed;
    return j->ncommits == CAIRN__COMMITS_KEPT;
}

static void collect_commits(struct cairn__rjob *j)
{
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    rc = cairn_store_commit_list(j->c->rl.store, CAIRN__COMMITS_KEPT, commit_cb,
                                 j, &d);
    j->have_commits = rc >= 0;
    if (cairn_store_head_get(j->c->rl.store, "accepted", j->head, &d) != 0)
        j->head[0] = '\0';
}

/* ---- worker side: the jobs
 * ---------------------------------------------------------- */

static void process(struct cairn__rjob *j, const struct cairn_git_oid *tip)
{
    struct cairn__render_lane *rl = &j->c->rl;
    struct cairn_pipeline_result res;
    double t0 = mono_s();

    j->rc = cairn_pipeline_process_commit(rl->pipeline, rl->git, tip, j->policy,
                                          j->signers, &res, &j->d);
    j->render_s = mono_s() - t0;
    if (j->rc == 0) {
        j->processed = 1;
        j->accepted = res.accepted;
        j->sites = res.sites;
        j->changed = res.changed;
        j->removed = res.removed;
        if (!res.accepted)
            j->errors = cairn_errlist_format(&res.errs, 4096);
        memcpy(rl->last_tip, tip->hex, sizeof(rl->last_tip));
        t0 = mono_s();
        collect_keys(j);
        collect_commits(j);
        j->rc = collect_updates(j);
        j->handover_s = mono_s() - t0;
    }
    cairn_pipeline_result_free(&res);
}

static void fetch_work(struct cairn__rjob *j)
{
    struct cairn__render_lane *rl = &j->c->rl;
    struct cairn_git_oid tip;
    double t0 = mono_s();

    j->rc = cairn_git_fetch(rl->git, &tip, &j->d);
    j->fetch_s = mono_s() - t0;
    j->fetched = 1;
    if (j->rc)
        return;
    memcpy(j->tip, tip.hex, sizeof(j->tip));
    if (!j->force && strcmp(tip.hex, rl->last_tip) == 0)
        return; /* nothing new */
    process(j, &tip);
}

static void refresh_work(struct cairn__rjob *j)
{
    size_t n = 0;
    double t0 = mono_s();

    j->rc = cairn_pipeline_refresh(j->c->rl.pipeline, 0, &n, &j->d);
    j->render_s = mono_s() - t0;
    j->reissued = n;
    if (j->rc == 0 && n > 0)
        j->rc = collect_updates(j);
}

static void on_work(uv_work_t *w)
{
    struct cairn__rjob *j = cairn_container_of(w, struct cairn__rjob, w);

    if (j->kind == RJ_FETCH)
        fetch_work(j);
    else
        refresh_work(j);
}

/* ---- loop side
 * ---------------------------------------------------------------------- */

static void job_free(struct cairn__rjob *j)
{
    for (size_t i = 0; i < j->nu; i++) {
        cairn__env_unref(j->u[i].env);
        free(j->u[i].models);
    }
    for (size_t i = 0; i < j->ncommits; i++) {
        free(j->commits[i].principal);
        free(j->commits[i].error);
    }
    free(j->u);
    free(j->k);
    free(j->errors);
    free(j);
}

static void apply_updates(struct cairn__ctrl *c, struct cairn__rjob *j)
{
    for (size_t i = 0; i < j->nu; i++) {
        struct upd *u = &j->u[i];
        struct cairn__site *s = cairn__site_get_or_add(c, u->site);

        if (u->env && (!s->env || s->env->generation != u->env->generation))
            c->m.generations++;
        cairn__site_set_env(c, s, u->env, u->commit, u->models);
        u->env = NULL;
    }
}

static void apply_keys(struct cairn__ctrl *c, struct cairn__rjob *j)
{
    struct cairn_records_batch *b = j->nk ? cairn__records_next(c) : NULL;

    for (size_t i = 0; i < j->nk; i++) {
        struct keyupd *k = &j->k[i];
        struct cairn__site *s = cairn__site_get_or_add(c, k->site);
        char *line = k->has ? cairn_pubkey_format(&k->key) : NULL;

        s->has_key = k->has;
        if (k->has)
            s->key = k->key;
        c->sorted_dirty = 1;
        cairn_records_batch_key(b, k->site, line, j->tip);
        free(line);
    }
    if (j->nk)
        cairn__records_kick(c);
}

static void apply_commits(struct cairn__ctrl *c, struct cairn__rjob *j)
{
    for (size_t i = 0; i < c->ncommits; i++) {
        free(c->commits[i].principal);
        free(c->commits[i].error);
    }
    memcpy(c->commits, j->commits, j->ncommits * sizeof(j->commits[0]));
    c->ncommits = j->ncommits;
    j->ncommits = 0;
    memcpy(c->accepted_head, j->head, sizeof(c->accepted_head));
}

/* The log keeps one record per line: each located error on its own. */
static void log_lines(const char *text)
{
    const char *p = text ? text : "";

    while (*p) {
        size_t n = strcspn(p, "\n");

        if (n)
            LOG_WARN("  %.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void log_result(struct cairn__ctrl *c, struct cairn__rjob *j)
{
    if (j->rc) {
        LOG_ERROR("%s: %s", j->kind == RJ_FETCH ? "fetch" : "re-issue",
                  cairn_diag_msg(&j->d));
        if (j->kind == RJ_FETCH)
            c->m.fetch_errors++;
        return;
    }
    if (j->processed && j->accepted) {
        LOG_INFO("commit %.12s accepted: %zu sites, %zu new generations, %zu "
                 "removed "
                 "(%.0f ms; hand-over %.0f ms)",
                 j->tip, j->sites, j->changed, j->removed, j->render_s * 1e3,
                 j->handover_s * 1e3);
    } else if (j->processed) {
        LOG_WARN("commit %.12s refused; still serving the last accepted commit "
                 "%.12s:",
                 j->tip, c->accepted_head[0] ? c->accepted_head : "(none)");
        log_lines(j->errors);
    }
    if (j->reissued)
        LOG_INFO("re-issued %zu desired states", j->reissued);
}

static void start_job(struct cairn__ctrl *c, enum rjob_kind kind);

static void on_after(uv_work_t *w, int status)
{
    struct cairn__rjob *j = cairn_container_of(w, struct cairn__rjob, w);
    struct cairn__ctrl *c = j->c;

    c->rl.job = NULL;
    if (status == UV_ECANCELED)
        j->rc = cairn_diag_set(&j->d, CAIRN_ECANCELED, "canceled");
    if (j->fetched && status == 0)
        cairn__hist_add(&c->m.fetch, j->fetch_s);
    if (j->processed || j->reissued)
        cairn__hist_add(&c->m.render, j->render_s);
    if (j->processed) {
        j->accepted ? c->m.commits_accepted++ : c->m.commits_refused++;
        c->m.last_commit_accepted = j->accepted;
        c->m.last_commit_time = cairn__now();
    }
    c->m.reissued += j->reissued;
    log_result(c, j);
    apply_updates(c, j);
    apply_keys(c, j);
    if (j->have_commits)
        apply_commits(c, j);
    job_free(j);
    if (c->stopping) {
        cairn__maybe_finish(c);
        return;
    }
    if (c->rl.want_fetch)
        start_job(c, RJ_FETCH);
    else if (c->rl.want_refresh)
        start_job(c, RJ_REFRESH);
}

static void adopt_next_policy(struct cairn__render_lane *rl)
{
    if (!rl->have_next)
        return;
    cairn_sshsig_signers_free(rl->signers);
    rl->signers = rl->next_signers;
    rl->policy = rl->next_policy;
    rl->next_signers = NULL;
    rl->have_next = 0;
    rl->force = 1; /* the same tip may now be judged differently */
}

static void start_job(struct cairn__ctrl *c, enum rjob_kind kind)
{
    struct cairn__render_lane *rl = &c->rl;
    struct cairn__rjob *j;
    int rc;

    if (rl->job || c->stopping)
        return;
    adopt_next_policy(rl);
    j = cairn_xcalloc(1, sizeof(*j));
    j->c = c;
    j->kind = kind;
    j->policy = rl->policy;
    j->signers = rl->signers;
    cairn_diag_init(&j->d);
    if (kind == RJ_FETCH) {
        rl->want_fetch = 0;
        j->force = rl->force;
        rl->force = 0;
    } else {
        rl->want_refresh = 0;
    }
    rc = uv_queue_work(&c->loop, &j->w, on_work, on_after);
    if (rc) {
        LOG_ERROR("cannot queue work: %s", uv_strerror(rc));
        free(j);
        return;
    }
    rl->job = j;
}

void cairn__request_fetch(struct cairn__ctrl *c, const char *why)
{
    LOG_DEBUG("fetch requested (%s)", why);
    c->rl.want_fetch = 1;
    start_job(c, RJ_FETCH);
}

void cairn__request_refresh(struct cairn__ctrl *c)
{
    c->rl.want_refresh = 1;
    start_job(c, RJ_REFRESH);
}

/* ---- start-up and shutdown
 * ------------------------------------------------------------ */

int cairn__policy_load(const struct cairn_ctrl_config *cfg,
                       enum cairn_sigpolicy *pol,
                       struct cairn_sshsig_signers **signers,
                       struct cairn_diag *d)
{
    struct cairn_sshsig_signers *s = NULL;
    int rc;

    if (cfg->allowed_signers && cfg->commit_signatures != CAIRN_SIGMODE_OFF) {
        rc = cairn_sshsig_signers_load(cfg->allowed_signers, &s, d);
        if (rc)
            return rc;
    }
    *pol = s ? CAIRN_SIGPOLICY_REQUIRE : CAIRN_SIGPOLICY_OFF;
    *signers = s;
    return 0;
}

/* Serve what the store holds right away (start-up, before listening). */
static int load_cb(const struct cairn_render_rec *r, void *arg)
{
    struct cairn__ctrl *c = arg;
    struct cairn__site *s = cairn__site_get_or_add(c, r->site);
    struct cairn__pub *p = cairn_xcalloc(1, sizeof(*p));

    cairn__site_set_env(
        c, s,
        cairn__env_new(r->generation, r->issued, r->envelope, r->envelope_len),
        r->commit, r->models);
    p->gen = r->generation;
    p->issued = r->issued;
    free(cairn__strmap_put(&c->rl.published, r->site, p));
    return 0;
}

static int open_git(struct cairn__ctrl *c, struct cairn_diag *d)
{
    const struct cairn_ctrl_config *cfg = &c->cfg;
    struct cairn_git_opts go;
    struct stat st;
    char *mirror = NULL, *pw = NULL;
    int local = strncmp(cfg->repo, "file://", 7) == 0 ||
                (stat(cfg->repo, &st) == 0 && S_ISDIR(st.st_mode));
    int rc = 0;

    memset(&go, 0, sizeof(go));
    go.branch = cfg->branch;
    go.ssh_key = cfg->git_ssh_key;
    go.ssh_known_hosts = cfg->git_known_hosts;
    go.ssh_insecure_host_key = cfg->git_insecure_host_key;
    go.https_user = cfg->git_https_user;
    go.https_ca_file = cfg->git_ca_file;
    if (cfg->git_https_password_file) {
        rc = cairn_fs_read(cfg->git_https_password_file, 4096, &pw, NULL, d);
        if (rc)
            return rc;
        pw[strcspn(pw, "\r\n")] = '\0';
        go.https_password = pw;
    }
    if (!local)
        mirror = cairn_xasprintf("%s/mirror", cfg->state_dir);
    if (!local && cfg->git_insecure_host_key)
        LOG_WARN("gitInsecureHostKey: any ssh host key is accepted; only "
                 "commit signatures protect what is fetched");
    rc = cairn_git_open(cfg->repo, mirror, &go, &c->rl.git, d);
    if (rc)
        cairn_diag_prefix(d, "repository %s", cfg->repo);
    free(mirror);
    free(pw);
    return rc;
}

int cairn__render_load(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn__render_lane *rl = &c->rl;
    struct cairn_pipeline_opts po;
    struct cairn__rjob j;
    int rc;

    cairn__strmap_init(&rl->published);
    cairn__strmap_init(&rl->keys);
    rc = cairn_store_open(c->cfg.store, &rl->store, d);
    if (rc == 0)
        rc = cairn_store_render_scan(rl->store, 1, 0, 0, load_cb, c, d);
    if (rc)
        return rc;
    memset(&j, 0, sizeof(j));
    j.c = c;
    collect_commits(&j);
    apply_commits(c, &j);
    memset(&po, 0, sizeof(po));
    po.repo = c->repo_label;
    po.store = rl->store;
    po.key = &c->key;
    rc = cairn_pipeline_new(&po, &rl->pipeline, d);
    if (rc == 0)
        rc = open_git(c, d);
    if (rc == 0)
        rc = cairn__policy_load(&c->cfg, &rl->policy, &rl->signers, d);
    return rc;
}

void cairn__render_lane_free(struct cairn__ctrl *c)
{
    struct cairn__render_lane *rl = &c->rl;
    size_t pos = 0;
    const char *k;
    void *v;

    while (cairn__strmap_next(&rl->published, &pos, &k, &v))
        free(v);
    pos = 0;
    while (cairn__strmap_next(&rl->keys, &pos, &k, &v))
        free(v);
    cairn__strmap_free(&rl->published);
    cairn__strmap_free(&rl->keys);
    cairn_pipeline_free(rl->pipeline);
    cairn_git_free(rl->git);
    cairn_store_close(rl->store);
    cairn_sshsig_signers_free(rl->signers);
    cairn_sshsig_signers_free(rl->next_signers);
    for (size_t i = 0; i < c->ncommits; i++) {
        free(c->commits[i].principal);
        free(c->commits[i].error);
    }
    c->ncommits = 0;
}
