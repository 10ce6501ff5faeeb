/*
 * cairnctl audit models: every commit of the history that changed a model
 * release or what model a site runs, with who signed it and whether the
 * model's publisher did (docs/audit.md "audit models").
 *
 * A commit is looked at when it changed a file that can change a site's
 * model (fleet.yaml, groups/, sites/, models/, workloads/). Model releases
 * it changed are found by comparing each touched models/<name>/ folder
 * with the parent's: a Model file or its attestation with another blob id.
 * Site changes come from rendering the commit and its first parent as the
 * controller would and comparing each site's model per workload; when the
 * parent does not render (the controller refused it), the nearest
 * first-parent ancestor that renders is the base, since that is what the
 * sites kept running.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "offline.h"

#define CACHE_N 4
#define MAX_BASE_STEPS 64 /* first parents tried for a base that renders */

struct rcache {
    char sha[CAIRN_GIT_OID_HEXLEN + 1];
    json_t *map; /* {site: {workload: {name, version, sha256}}}; NULL: failed */
    char *error; /* why it did not render */
    unsigned used;
};

struct mctx {
    const struct cairn__audit_models_opts *o;
    struct cairn_offline *off;
    struct cairn_sshsig_signers *signers;
    struct rcache cache[CACHE_N];
    unsigned clock;
    int problems;
};

/* ---- rendering a commit into {site: {workload: model}} ---------------- */

static int on_site(const struct cairn_fleet *f, struct cairn_rendered *r,
                   void *arg)
{
    json_t *map = arg, *wl = json_object(), *w;
    size_t i;

    (void)f;
    json_array_foreach(json_object_get(r->content, "workloads"), i, w)
    {
        json_t *m = json_object_get(w, "model");

        if (json_is_object(m))
            json_object_set_new(
                wl, json_string_value(json_object_get(w, "name")),
                json_pack("{s:O,s:O,s:O}", "name", json_object_get(m, "name"),
                          "version", json_object_get(m, "version"), "sha256",
                          json_object_get(m, "sha256")));
    }
    json_object_set_new(map, r->site, wl);
    cairn_rendered_free(r);
    return 0;
}

static void first_line(char *s)
{
    s[strcspn(s, "\n")] = '\0';
}

static void render(struct mctx *m, const char *sha, struct rcache *e)
{
    struct cairn_errlist errs;
    struct cairn_diag d;
    json_t *map = json_object();
    int rc;

    cairn_errlist_init(&errs, 0);
    cairn_diag_init(&d);
    rc = cairn_offline_checkout(m->off, sha, &d);
    if (rc == 0)
        rc = cairn_offline_build(m->off, NULL, NULL, on_site, map, &errs, NULL,
                                 &d);
    if (rc || cairn_errlist_count(&errs)) {
        size_t n = cairn_errlist_count(&errs);
        char *text = n ? cairn_errlist_format(&errs, 0)
                       : cairn_xstrdup(cairn_diag_msg(&d));

        first_line(text);
        e->error =
            n > 1 ? cairn_xasprintf("%s (and %zu more)", text, n - 1) : text;
        if (n > 1)
            free(text);
        json_decref(map);
        map = NULL;
    }
    e->map = map;
    cairn_errlist_free(&errs);
}

/* The render of sha, from the cache when it is there. Borrowed. */
static struct rcache *rendered(struct mctx *m, const char *sha)
{
    struct rcache *e = &m->cache[0];

    for (size_t i = 0; i < CACHE_N; i++) {
        if (strcmp(m->cache[i].sha, sha) == 0) {
            m->cache[i].used = ++m->clock;
            return &m->cache[i];
        }
        if (m->cache[i].used < e->used)
            e = &m->cache[i];
    }
    json_decref(e->map);
    free(e->error);
    memset(e, 0, sizeof(*e));
    snprintf(e->sha, sizeof(e->sha), "%s", sha);
    e->used = ++m->clock;
    render(m, sha, e);
    return e;
}

/* ---- comparing two renders --------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of one or two objects, sorted and distinct (fresh array of
 * borrowed strings). */
static const char **keys_of(json_t *a, json_t *b, size_t *n)
{
    size_t cap = json_object_size(a) + json_object_size(b), k = 0, out = 0;
    const char **v = cairn_xcalloc(cap + 1, sizeof(*v));
    const char *key;
    json_t *x;

    json_object_foreach(a, key, x) v[k++] = key;
    json_object_foreach(b, key, x) v[k++] = key;
    qsort(v, k, sizeof(*v), cmp_str);
    for (size_t i = 0; i < k; i++)
        if (out == 0 || strcmp(v[out - 1], v[i]) != 0)
            v[out++] = v[i];
    *n = out;
    return v;
}

static int same_model(json_t *a, json_t *b)
{
    return a && b && json_equal(a, b);
}

static int model_named(json_t *m, const char *name)
{
    return !name || (m && strcmp(json_string_value(json_object_get(m, "name")),
                                 name) == 0);
}

static void site_changes(const struct mctx *m, json_t *base, json_t *cur,
                         json_t *out)
{
    size_t ns, nw;
    const char **sites = keys_of(base, cur, &ns);

    for (size_t i = 0; i < ns; i++) {
        json_t *bw = json_object_get(base, sites[i]),
               *cw = json_object_get(cur, sites[i]);
        const char **wls = keys_of(bw, cw, &nw);

        for (size_t j = 0; j < nw; j++) {
            json_t *b = json_object_get(bw, wls[j]),
                   *c = json_object_get(cw, wls[j]);

            if (same_model(b, c) ||
                (!model_named(b, m->o->model) && !model_named(c, m->o->model)))
                continue;
            json_array_append_new(out, json_pack("{s:s,s:s,s:O,s:O}", "site",
                                                 sites[i], "workload", wls[j],
                                                 "before", b ? b : json_null(),
                                                 "after", c ? c : json_null()));
        }
        free(wls);
    }
    free(sites);
}

/* Whether the controller would accept sha: it renders, and (when commit
 * signatures are checked) its signature verifies. */
static int accepted(struct mctx *m, const char *sha, struct rcache *e)
{
    struct cairn_sshsig_result r;
    struct cairn_git_oid id;

    if (!e->map)
        return 0;
    if (!m->signers)
        return 1;
    snprintf(id.hex, sizeof(id.hex), "%s", sha);
    return cairn_git_verify_commit(m->off->g, &id, m->signers, &r, NULL) == 0 &&
           r.status == CAIRN_SSHSIG_VERIFIED;
}

/* The render to compare a commit with: what the sites ran before it, i.e.
 * the render of the nearest first-parent ancestor the controller accepts
 * (its parent, unless the parent does not render or, with allowed
 * signers, is not signed by one). NULL: none (a root commit). */
static json_t *base_of(struct mctx *m, const char *parent, char base_sha[41],
                       json_t *res)
{
    char sha[CAIRN_GIT_OID_HEXLEN + 1];
    struct cairn_git_commit *c = NULL;
    struct cairn_git_oid id;

    snprintf(sha, sizeof(sha), "%s", parent);
    for (unsigned step = 0; sha[0] && step < MAX_BASE_STEPS; step++) {
        struct rcache *e = rendered(m, sha);

        if (accepted(m, sha, e)) {
            snprintf(base_sha, 41, "%s", sha);
            if (step > 0)
                json_object_set_new(
                    res, "baseNote",
                    json_sprintf("compared with %.12s, the last ancestor the "
                                 "controller accepts%s",
                                 sha,
                                 m->signers ? " (rendered and signed by an "
                                              "allowed signer)"
                                            : " (rendered)"));
            return e->map;
        }
        snprintf(id.hex, sizeof(id.hex), "%s", sha);
        sha[0] = '\0';
        if (cairn_git_commit_get(m->off->g, &id, &c, NULL) == 0 && c->nparents)
            snprintf(sha, sizeof(sha), "%s", c->parents[0].hex);
        cairn_git_commit_free(c);
        c = NULL;
    }
    base_sha[0] = '\0';
    return NULL;
}

/* ---- model releases a commit changed ---------------------------------- */

/* {version: {"yaml": blob, "att": blob, "file": Model fields | "error"}} of
 * models/<name>/ at commit (empty when absent). */
static json_t *model_dir(struct mctx *m, const struct cairn_git_oid *commit,
                         const char *name)
{
    struct cairn_git_tree *t = NULL;
    json_t *out = json_object();
    char *prefix = cairn_xasprintf("models/%s", name);

    if (commit && cairn_git_tree_read(m->off->g, commit, prefix, NULL,
                                      CAIRN_GIT_CONTENT, &t, NULL) == 0) {
        for (size_t i = 0; i < t->n; i++) {
            const struct cairn_git_file *f = &t->files[i];
            const char *base = f->path + strlen(prefix) + 1;
            size_t bl = strlen(base);
            struct cairn__model_file mf;
            struct cairn_diag d;
            json_t *v;

            if (strchr(base, '/') || bl <= 5 ||
                strcmp(base + bl - 5, ".yaml") != 0)
                continue;
            cairn_diag_init(&d);
            v = json_pack("{s:s,s:s}", "path", f->path, "yaml", f->blob.hex);
            if (cairn__audit_model_file(f->path, (const char *)f->data, f->size,
                                        &mf, &d) != 0) {
                json_object_set_new(v, "error",
                                    json_string(cairn_diag_msg(&d)));
            } else {
                char *ap = cairn_xasprintf("%s/%s", prefix, mf.attestation);
                const struct cairn_git_file *af = cairn_git_tree_find(t, ap);

                json_object_set_new(v, "sha256", json_string(mf.sha256));
                json_object_set_new(v, "attPath", json_string(ap));
                json_object_set_new(v, "att",
                                    json_string(af ? af->blob.hex : ""));
                if (af)
                    json_object_set_new(
                        v, "attText",
                        json_stringn((const char *)af->data, af->size));
                free(ap);
            }
            json_object_set_new(out,
                                json_string_value(json_object_get(v, "path")) +
                                    strlen(prefix) + 1,
                                v);
        }
    }
    cairn_git_tree_free(t);
    free(prefix);
    return out;
}

static json_t *attestation_verdict(json_t *cur,
                                   const struct cairn_keyset *trusted,
                                   const char *name, const char *version)
{
    const char *text = json_string_value(json_object_get(cur, "attText"));
    const char *sha = json_string_value(json_object_get(cur, "sha256"));
    char publisher[CAIRN_KEYID_LEN + 1] = "", why[512];
    int ok = 0;

    if (!text)
        snprintf(why, sizeof(why), "%s not found",
                 json_string_value(json_object_get(cur, "attPath")));
    else
        cairn__audit_attestation(text, strlen(text), trusted, sha, name,
                                 version, publisher, &ok, why, sizeof(why));
    return json_pack("{s:O,s:s?,s:b,s:s}", "file",
                     json_object_get(cur, "attPath"), "publisher",
                     publisher[0] ? publisher : NULL, "verified", ok, "detail",
                     why);
}

static void trusted_at(struct mctx *m, const struct cairn_git_oid *commit,
                       struct cairn_keyset *ks)
{
    uint8_t *text = NULL;
    size_t len;

    if (cairn_git_read_file(m->off->g, commit, "fleet.yaml", 0, &text, &len,
                            NULL) == 0 &&
        cairn__audit_trusted("fleet.yaml", (const char *)text, len, ks, NULL) !=
            0) {
        cairn_keyset_free(ks);
        cairn_keyset_init(ks);
    }
    free(text);
}

/* One model folder's changes into out. */
static void dir_changes(struct mctx *m, const char *name,
                        const struct cairn_git_oid *commit,
                        const struct cairn_git_oid *parent,
                        const struct cairn_keyset *trusted, json_t *out)
{
    json_t *cd = model_dir(m, commit, name), *pd = model_dir(m, parent, name);
    size_t n;
    const char **files = keys_of(pd, cd, &n);

    for (size_t i = 0; i < n; i++) {
        json_t *c = json_object_get(cd, files[i]),
               *p = json_object_get(pd, files[i]), *e;
        char *version = cairn_xstrndup(files[i], strlen(files[i]) - 5);
        const char *change = !p ? "added" : !c ? "removed" : "changed";

        if (c && p &&
            json_equal(json_object_get(c, "yaml"),
                       json_object_get(p, "yaml")) &&
            json_equal(json_object_get(c, "att"), json_object_get(p, "att"))) {
            free(version);
            continue;
        }
        e = json_pack("{s:s,s:s,s:s,s:O?}", "name", name, "version", version,
                      "change", change, "sha256",
                      json_object_get(c ? c : p, "sha256"));
        if (c && json_object_get(c, "error")) {
            json_object_set(e, "error", json_object_get(c, "error"));
            m->problems++;
        } else if (c) {
            json_t *v = attestation_verdict(c, trusted, name, version);

            if (!json_is_true(json_object_get(v, "verified")))
                m->problems++;
            json_object_set_new(e, "attestation", v);
        }
        json_array_append_new(out, e);
        free(version);
    }
    free(files);
    json_decref(cd);
    json_decref(pd);
}

/* Model folders (names) the diff touched, sorted, distinct. */
static json_t *touched_models(const struct cairn_git_diff *df)
{
    json_t *names = json_object(), *out = json_array();
    size_t n;
    const char **v;

    for (size_t i = 0; i < df->n; i++) {
        const char *p = df->v[i].path, *slash;

        if (strncmp(p, "models/", 7) != 0 || !(slash = strchr(p + 7, '/')))
            continue;
        json_object_setn_new(names, p + 7, (size_t)(slash - (p + 7)),
                             json_true());
    }
    v = keys_of(names, NULL, &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, json_string(v[i]));
    free(v);
    json_decref(names);
    return out;
}

static int relevant(const struct cairn_git_diff *df)
{
    static const char *const pre[] = {"fleet.yaml", "groups/", "sites/",
                                      "models/", "workloads/"};

    for (size_t i = 0; i < df->n; i++)
        for (size_t k = 0; k < CAIRN_ARRAY_LEN(pre); k++)
            if (strncmp(df->v[i].path, pre[k], strlen(pre[k])) == 0)
                return 1;
    return 0;
}

/* ---- one commit -------------------------------------------------------- */

static json_t *person(const struct cairn_git_person *p)
{
    char t[32];

    cairn__audit_time(p->time, t);
    return json_pack("{s:s,s:s,s:s}", "name", p->name ? p->name : "", "email",
                     p->email ? p->email : "", "date", t);
}

static json_t *signature(struct mctx *m, const struct cairn_git_commit *c)
{
    struct cairn_sshsig_result r;

    if (!m->signers)
        return json_pack("{s:s}", "status",
                         c->has_signature ? "unchecked" : "unsigned");
    if (cairn_git_verify_commit(m->off->g, &c->id, m->signers, &r, NULL) != 0) {
        r.status = CAIRN_SSHSIG_BAD;
        snprintf(r.text, sizeof(r.text), "commit unreadable");
    }
    if (r.status != CAIRN_SSHSIG_VERIFIED)
        m->problems++;
    return json_pack("{s:s,s:s?,s:s?,s:s?,s:s}", "status",
                     cairn_sshsig_status_name(r.status), "principal",
                     r.principal[0] ? r.principal : NULL, "keyid",
                     r.keyid[0] ? r.keyid : NULL, "fingerprint",
                     r.fingerprint[0] ? r.fingerprint : NULL, "detail", r.text);
}

static void sites_of(struct mctx *m, const struct cairn_git_commit *c,
                     json_t *e)
{
    struct rcache *cur = rendered(m, c->id.hex);
    json_t *sites = json_array(), *render = json_object(), *base = NULL;
    char base_sha[41] = "";

    if (!cur->map) {
        json_object_set_new(render, "ok", json_false());
        json_object_set_new(render, "error", json_string(cur->error));
    } else {
        /* cur may leave the cache while the base is found: keep a reference */
        json_t *map = json_incref(cur->map);

        if (c->nparents)
            base = base_of(m, c->parents[0].hex, base_sha, render);
        site_changes(m, base, map, sites);
        json_decref(map);
        json_object_set_new(render, "ok", json_true());
        json_object_set_new(render, "base",
                            base_sha[0] ? json_string(base_sha) : json_null());
    }
    json_object_set_new(e, "render", render);
    json_object_set_new(e, "sites", sites);
}

/* The entry of commit id, or NULL when it changed nothing the audit
 * shows. */
static json_t *one_commit(struct mctx *m, const struct cairn_git_oid *id)
{
    struct cairn_git_commit *c = NULL;
    struct cairn_git_diff *df = NULL;
    struct cairn_keyset trusted;
    json_t *e = NULL, *models, *names;
    size_t i;
    json_t *nm;

    cairn_keyset_init(&trusted);
    if (cairn_git_commit_get(m->off->g, id, &c, NULL) != 0 ||
        c->committer.time < m->o->since ||
        cairn_git_diff(m->off->g, c->nparents ? &c->parents[0] : NULL, id, 0,
                       &df, NULL) != 0)
        goto out;
    /* A commit that touches no fleet file changes no site, unless its
     * parent is one the controller refuses: then this commit is the one
     * that carries the parent's changes to the sites. */
    if (!relevant(df) &&
        (!c->nparents ||
         accepted(m, c->parents[0].hex, rendered(m, c->parents[0].hex))))
        goto out;
    models = json_array();
    names = touched_models(df);
    if (json_array_size(names))
        trusted_at(m, id, &trusted);
    json_array_foreach(names, i, nm)
    {
        if (!m->o->model || strcmp(json_string_value(nm), m->o->model) == 0)
            dir_changes(m, json_string_value(nm), id,
                        c->nparents ? &c->parents[0] : NULL, &trusted, models);
    }
    json_decref(names);
    e = json_pack("{s:s,s:s,s:o,s:o,s:o}", "commit", c->id.hex, "summary",
                  c->summary ? c->summary : "", "author", person(&c->author),
                  "committer", person(&c->committer), "models", models);
    sites_of(m, c, e);
    if (json_array_size(models) == 0 &&
        json_array_size(json_object_get(e, "sites")) == 0) {
        json_decref(e);
        e = NULL;
        goto out;
    }
    json_object_set_new(e, "signature", signature(m, c));
out:
    cairn_keyset_free(&trusted);
    cairn_git_diff_free(df);
    cairn_git_commit_free(c);
    return e;
}

/* ---- printing ---------------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static void print_signature(json_t *s, FILE *out)
{
    const char *st = str(s, "status");

    fprintf(out, "  signature  ");
    if (strcmp(st, "verified") == 0)
        fprintf(out, "verified: %s (key %s)\n", str(s, "principal"),
                str(s, "keyid"));
    else if (strcmp(st, "key-not-allowed") == 0)
        fprintf(out, "key-not-allowed: %s (key %s): %s\n", str(s, "principal"),
                str(s, "keyid"), str(s, "detail"));
    else if (strcmp(st, "unknown-key") == 0)
        fprintf(out, "unknown-key: key %s (%s)\n", str(s, "keyid"),
                str(s, "fingerprint"));
    else if (strcmp(st, "bad") == 0)
        fprintf(out, "bad: %s\n", str(s, "detail"));
    else if (strcmp(st, "unchecked") == 0)
        fprintf(out, "signed, not checked (no --allowed-signers)\n");
    else
        fprintf(out, "%s\n", st);
}

static void print_model(json_t *m, FILE *out)
{
    json_t *a = json_object_get(m, "attestation");

    fprintf(out, "  model      %s@%s %s", str(m, "name"), str(m, "version"),
            str(m, "change"));
    if (json_object_get(m, "error"))
        fprintf(out, ": unreadable: %s\n", str(m, "error"));
    else
        fprintf(out, ", sha256 %s\n", str(m, "sha256"));
    if (a)
        fprintf(out, "             attestation %s: publisher %s, %s%s\n",
                str(a, "file"),
                json_is_string(json_object_get(a, "publisher"))
                    ? str(a, "publisher")
                    : "none",
                json_is_true(json_object_get(a, "verified")) ? "verified"
                                                             : "NOT verified: ",
                json_is_true(json_object_get(a, "verified"))
                    ? ""
                    : str(a, "detail"));
}

static void model_text(json_t *m, char *buf, size_t n)
{
    if (!json_is_object(m))
        snprintf(buf, n, "none");
    else
        snprintf(buf, n, "%s@%s (%.12s)", str(m, "name"), str(m, "version"),
                 str(m, "sha256"));
}

static void print_sites(json_t *e, FILE *out)
{
    json_t *r = json_object_get(e, "render"), *s;
    const char *sig = str(json_object_get(e, "signature"), "status");
    size_t i;

    if (!json_is_true(json_object_get(r, "ok"))) {
        fprintf(out,
                "  sites      not rendered (the controller refuses this "
                "commit): %s\n",
                str(r, "error"));
        return;
    }
    if (json_object_get(r, "baseNote"))
        fprintf(out, "  note       %s\n", str(r, "baseNote"));
    if (json_array_size(json_object_get(e, "sites")) == 0)
        fprintf(out, "  sites      no site's model changed\n");
    else if (strcmp(sig, "verified") != 0 && strcmp(sig, "unchecked") != 0)
        fprintf(out, "  note       refused where commit signatures are "
                     "required: a later "
                     "signed commit carries these changes\n");
    json_array_foreach(json_object_get(e, "sites"), i, s)
    {
        char b[160], a[160];

        model_text(json_object_get(s, "before"), b, sizeof(b));
        model_text(json_object_get(s, "after"), a, sizeof(a));
        fprintf(out, "  site       %s/%s: %s -> %s\n", str(s, "site"),
                str(s, "workload"), b, a);
    }
}

static void print_human(json_t *res, FILE *out)
{
    json_t *e, *m;
    size_t i, j;

    json_array_foreach(json_object_get(res, "commits"), i, e)
    {
        json_t *au = json_object_get(e, "author");

        fprintf(out, "%scommit %s\n", i ? "\n" : "", str(e, "commit"));
        fprintf(out, "  date       %s\n",
                str(json_object_get(e, "committer"), "date"));
        fprintf(out, "  author     %s <%s>\n", str(au, "name"),
                str(au, "email"));
        print_signature(json_object_get(e, "signature"), out);
        fprintf(out, "  summary    %s\n", str(e, "summary"));
        json_array_foreach(json_object_get(e, "models"), j, m)
            print_model(m, out);
        print_sites(e, out);
    }
    fprintf(out, "%s%zu commit(s), %lld problem(s)\n",
            json_array_size(json_object_get(res, "commits")) ? "\n" : "",
            json_array_size(json_object_get(res, "commits")),
            (long long)json_integer_value(json_object_get(res, "problems")));
}

/* ---- the verb ------------------------------------------------------------ */

static int walk(struct mctx *m, const struct cairn_git_oid *head,
                json_t *commits, struct cairn_diag *d)
{
    struct cairn_git_log *log = NULL;
    int truncated = 0;
    int rc = cairn_git_log_walk(m->off->g, head, NULL, 0, &log, &truncated, d);

    if (rc)
        return rc;
    for (size_t i = 0; i < log->n; i++) {
        json_t *e = one_commit(m, &log->v[i]);

        if (e)
            json_array_append_new(commits, e);
    }
    cairn_git_log_free(log);
    if (truncated)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "history longer than %u commits",
                              CAIRN_GIT_MAX_LOG);
    return 0;
}

int cairn__audit_models(const struct cairn__audit_models_opts *o, FILE *out)
{
    struct mctx m;
    struct cairn_diag d;
    struct cairn_git_oid head;
    json_t *res = NULL, *commits = json_array();
    int rc;

    memset(&m, 0, sizeof(m));
    m.o = o;
    cairn_diag_init(&d);
    rc = cairn_offline_open(o->repo, o->rev, NULL, &m.off, &d);
    if (rc == 0 && o->allowed_signers)
        rc = cairn_sshsig_signers_load(o->allowed_signers, &m.signers, &d);
    if (rc == 0) {
        head = m.off->commit; /* rendering moves m.off->commit */
        rc = walk(&m, &head, commits, &d);
    }
    if (rc) {
        fprintf(stderr, "cairnctl audit models: %s\n", cairn_diag_msg(&d));
        rc = 2;
        goto out;
    }
    res = json_pack("{s:s,s:s,s:s?,s:s?,s:O,s:i}", "repo", o->repo, "head",
                    head.hex, "allowedSigners", o->allowed_signers, "model",
                    o->model, "commits", commits, "problems", m.problems);
    if (o->json) {
        char *text = cairn_json_canonical(res);

        fprintf(out, "%s\n", text);
        free(text);
    } else {
        print_human(res, out);
    }
    rc = m.problems ? 1 : 0;
out:
    for (size_t i = 0; i < CACHE_N; i++) {
        json_decref(m.cache[i].map);
        free(m.cache[i].error);
    }
    json_decref(res);
    json_decref(commits);
    cairn_sshsig_signers_free(m.signers);
    cairn_offline_free(m.off);
    return rc;
}
