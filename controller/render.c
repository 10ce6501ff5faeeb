#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/mem.h"
#include "jptr.h"
#include "template.h"

/* Bytes of a sealed box's overhead (X25519 key + MAC): anything shorter
 * can't be one. */
#define SEALED_MIN 48

struct rctx {
    struct cairn_fleet *f;
    const struct cairn_fdoc *site;
    struct cairn_errlist *errs;
    const struct cairn_layer *layers;
    size_t nlayers;
    struct cairn__strmap deps;
    const struct cairn_fdoc *wl; /* workload being rendered */
    json_t *w;                   /* its expanded document */
    int failed;
    int code; /* the first error's */
};

void cairn_rendered_free(struct cairn_rendered *r)
{
    if (!r)
        return;
    free(r->site);
    free(r->canon);
    json_decref(r->content);
    for (size_t i = 0; i < r->ndeps; i++)
        free(r->deps[i]);
    free(r->deps);
    if (r->extra && r->extra_free)
        r->extra_free(r->extra);
    memset(r, 0, sizeof(*r));
}

int cairn_group_matches(const struct cairn_fdoc *g,
                        const struct cairn_fdoc *site)
{
    return cairn_selector_matches(&g->u.group.sel, site->u.site.labels);
}

void cairn_site_layers(const struct cairn_fleet *f,
                       const struct cairn_fdoc *site,
                       struct cairn_layer **layers, size_t *n)
{
    struct cairn_layer *l = cairn_xcalloc(f->ngroups + 2, sizeof(*l));
    size_t k = 0;

    l[k++] = (struct cairn_layer){CAIRN_LAYER_FLEET, NULL,
                                  f->fleet->values,  f->fleet->yaml,
                                  f->fleet->path,    "/values"};
    for (size_t i = 0; i < f->ngroups; i++)
        if (cairn_group_matches(f->groups[i], site))
            l[k++] = (struct cairn_layer){
                CAIRN_LAYER_GROUP,  f->groups[i]->name, f->groups[i]->values,
                f->groups[i]->yaml, f->groups[i]->path, "/values"};
    l[k++] = (struct cairn_layer){CAIRN_LAYER_SITE, NULL,       site->values,
                                  site->yaml,       site->path, "/values"};
    *layers = l;
    *n = k;
}

/* ---- errors ---------------------------------------------------------- */

/* An error about the merged values at ptr: located where the layer that
 * set it wrote it ("sites/x.yaml:9:12: /values/a: ..."). */
static void verr(struct rctx *c, int code, const char *ptr, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void verr(struct rctx *c, int code, const char *ptr, const char *fmt,
                 ...)
{
    struct cairn_origin o = {NULL, {c->site->path, 0, 0}};
    char msg[1024], *full;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cairn_merge_origin(c->layers, c->nlayers, ptr, &o) != 0)
        o.layer = &c->layers[c->nlayers - 1]; /* not set anywhere: the site's */
    full = cairn_xasprintf("%s%s", o.layer->base ? o.layer->base : "", ptr);
    if (o.loc.line == 0)
        o.loc = cairn_fdoc_loc(c->site, "/values");
    cairn_errlist_addloc(c->errs, code, c->site->name, o.loc, full, "%s", msg);
    free(full);
    c->failed = 1;
    if (!c->code)
        c->code = code;
}

/* An error about the workload file at ptr. */
static void werr(struct rctx *c, int code, const char *ptr, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void werr(struct rctx *c, int code, const char *ptr, const char *fmt,
                 ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cairn_errlist_addloc(c->errs, code, c->site->name,
                         cairn_fdoc_loc(c->wl, ptr), ptr, "%s", msg);
    c->failed = 1;
    if (!c->code)
        c->code = code;
}

static void dep(struct rctx *c, const char *path)
{
    if (path && !cairn__strmap_get(&c->deps, path))
        cairn__strmap_put(&c->deps, path, (void *)1);
}

/* ---- values -------------------------------------------------------------- */

static void on_values_tmpl(const char *ptr, const struct cairn_diag *d,
                           void *arg)
{
    struct rctx *c = arg;

    verr(c, d->code, ptr, "%s", cairn_diag_msg(d));
}

int cairn_site_values(const struct cairn_fleet *f,
                      const struct cairn_fdoc *site,
                      const struct cairn_layer *layers, size_t n,
                      struct cairn_errlist *errs, json_t **out)
{
    struct rctx c;
    json_t *merged = cairn_merge_layers(layers, n), *expanded = NULL;
    struct cairn_tmpl_ctx t = {merged, site->name, site->u.site.labels};
    int rc;

    memset(&c, 0, sizeof(c));
    c.f = (struct cairn_fleet *)f;
    c.site = site;
    c.errs = errs;
    c.layers = layers;
    c.nlayers = n;
    rc = cairn_tmpl_expand_tree(merged, &t, on_values_tmpl, &c, &expanded);
    json_decref(merged);
    if (rc)
        return rc;
    *out = expanded;
    return 0;
}

/* ---- one workload ----------------------------------------------------- */

/* What is wrong with a path the agent will create under a workload's
 * directory, or NULL when it is fine. */
static const char *relpath_problem(json_t *v)
{
    const char *s = json_string_value(v), *p;
    size_t n = json_string_length(v);

    if (strlen(s) != n)
        return "contains a NUL byte";
    if (n == 0 || n > 255)
        return "must be 1 to 255 characters";
    if (s[0] == '/')
        return "must be relative";
    for (p = s; *p;) {
        size_t len = strcspn(p, "/");

        if (len == 0 || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.'))
            return "must not have empty, '.' or '..' components";
        p += len;
        if (*p == '/')
            p++;
    }
    return NULL;
}

static json_t *model_obj(struct cairn_fleet_model *m)
{
    json_t *art = json_object_get(m->doc->root, "artifact");
    json_t *urls = json_object_get(art, "urls");

    return json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:O}", "name", m->doc->name, "version",
        m->doc->u.model.version, "sha256", m->doc->u.model.sha256, "size",
        (json_int_t)m->doc->u.model.size, "urls",
        urls ? json_incref(urls) : json_array(), "attestation", m->att);
}

static json_t *build_model(struct rctx *c)
{
    json_t *ref = json_object_get(c->w, "model"), *raw;
    const char *name, *version, *rawv;
    struct cairn_fleet_model *m;

    if (!ref)
        return NULL;
    name = json_string_value(json_object_get(ref, "name"));
    version = json_string_value(json_object_get(ref, "version"));
    m = cairn_fleet_model(c->f, name, version);
    if (!m) {
        raw = json_object_get(json_object_get(c->wl->root, "model"), "version");
        rawv = json_string_value(raw);
        werr(c, CAIRN_ENOENT, "/model",
             "model %s version %s%s%s%s not found (no models/%s/%s.yaml)", name,
             version, rawv && strcmp(rawv, version) ? " (from \"" : "",
             rawv && strcmp(rawv, version) ? rawv : "",
             rawv && strcmp(rawv, version) ? "\")" : "", name, version);
        return NULL;
    }
    dep(c, m->doc->path);
    dep(c, m->att_path);
    return model_obj(m);
}

static json_t *build_exec(struct rctx *c)
{
    json_t *e = json_object_get(c->w, "exec"), *env = json_object_get(e, "env");

    return json_pack("{s:O, s:o}", "command", json_object_get(e, "command"),
                     "env", env ? json_incref(env) : json_object());
}

static json_t *build_health(struct rctx *c)
{
    json_t *h = json_object_get(c->w, "health"), *out, *t, *g;

    if (!h)
        return NULL;
    t = json_object_get(h, "timeoutSeconds");
    out = json_pack(
        "{s:O, s:I}", "http", json_object_get(h, "http"), "timeoutSeconds",
        t ? json_integer_value(t) : (json_int_t)CAIRN_DEFAULT_HEALTH_TIMEOUT);
    g = json_object_get(h, "golden");
    if (g)
        json_object_set(out, "golden", g);
    return out;
}

static json_t *build_restart(struct rctx *c)
{
    json_t *r = json_object_get(c->w, "restart");
    json_t *p = json_object_get(r, "policy"),
           *b = json_object_get(r, "backoffMaxSeconds");

    return json_pack(
        "{s:s, s:I}", "policy",
        p ? json_string_value(p) : CAIRN_DEFAULT_RESTART, "backoffMaxSeconds",
        b ? json_integer_value(b) : (json_int_t)CAIRN_DEFAULT_BACKOFF_MAX);
}

static void sha256_hex(const void *data, size_t n,
                       char out[CAIRN_SHA256_HEX_LEN + 1])
{
    uint8_t md[CAIRN_SHA256_LEN];

    cairn_sha256(data, n, md);
    cairn_hex_encode(md, sizeof(md), out);
}

/* A from: file: the repository file's bytes, base64. */
static json_t *from_file(struct rctx *c, json_t *from, const char *ptr,
                         char *sha)
{
    const struct cairn_blob *b;
    const char *why = relpath_problem(from);
    const char *hex;
    struct cairn_diag d;
    json_t *b64;

    if (why) {
        werr(c, CAIRN_EPATH, ptr, "from %s", why);
        return NULL;
    }
    cairn_diag_init(&d);
    if (cairn_fleet_read(c->f, json_string_value(from), CAIRN_FLEET_MAX_FROM,
                         &b, &d) != 0) {
        if (d.code == CAIRN_ENOENT)
            werr(c, d.code, ptr, "%s: no such file in the repository",
                 json_string_value(from));
        else
            werr(c, d.code, ptr, "%s", cairn_diag_msg(&d));
        return NULL;
    }
    dep(c, json_string_value(from));
    cairn_fleet_blob_encoded(c->f, b, &b64, &hex);
    memcpy(sha, hex, CAIRN_SHA256_HEX_LEN + 1);
    return json_incref(b64);
}

/* Inline content: text as is, or base64 the engineer wrote (checked). */
static json_t *inline_content(struct rctx *c, json_t *content, const char *enc,
                              const char *ptr, char *sha)
{
    uint8_t *raw = NULL;
    size_t n = 0;

    if (strcmp(enc, "base64") == 0) {
        if (cairn_base64_decode(json_string_value(content),
                                json_string_length(content), &raw, &n) != 0) {
            werr(c, CAIRN_EPARSE, ptr,
                 "content is not canonical base64 (encoding: base64)");
            return NULL;
        }
        sha256_hex(raw, n, sha);
        free(raw);
    } else {
        sha256_hex(json_string_value(content), json_string_length(content),
                   sha);
    }
    return json_incref(content);
}

static json_t *file_entry(struct rctx *c, json_t *fe, size_t i)
{
    json_t *path = json_object_get(fe, "path"),
           *mode = json_object_get(fe, "mode");
    json_t *from = json_object_get(fe, "from"),
           *enc = json_object_get(fe, "encoding");
    const char *encoding = from  ? "base64"
                           : enc ? json_string_value(enc)
                                 : "utf-8";
    const char *why = relpath_problem(path);
    char ptr[64], sha[CAIRN_SHA256_HEX_LEN + 1];
    json_t *content;

    if (why) {
        snprintf(ptr, sizeof(ptr), "/files/%zu/path", i);
        werr(c, CAIRN_EPATH, ptr, "path %s", why);
        return NULL;
    }
    snprintf(ptr, sizeof(ptr), "/files/%zu/%s", i, from ? "from" : "content");
    content = from ? from_file(c, from, ptr, sha)
                   : inline_content(c, json_object_get(fe, "content"), encoding,
                                    ptr, sha);
    if (!content)
        return NULL;
    return json_pack("{s:O, s:s, s:s, s:o, s:s}", "path", path, "mode",
                     mode ? json_string_value(mode) : CAIRN_DEFAULT_MODE,
                     "sha256", sha, "content", content, "encoding", encoding);
}

static json_t *build_files(struct rctx *c)
{
    json_t *files = json_object_get(c->w, "files"), *fe, *out;
    struct cairn__strmap seen;
    size_t i;

    if (!files)
        return NULL;
    out = json_array();
    cairn__strmap_init(&seen);
    json_array_foreach(files, i, fe)
    {
        const char *p = json_string_value(json_object_get(fe, "path"));
        json_t *e;
        char ptr[64];

        if (cairn__strmap_put(&seen, p, (void *)1)) {
            snprintf(ptr, sizeof(ptr), "/files/%zu/path", i);
            werr(c, CAIRN_EEXIST, ptr, "path %s is listed twice", p);
            continue;
        }
        e = file_entry(c, fe, i);
        if (e)
            json_array_append_new(out, e);
    }
    cairn__strmap_free(&seen);
    return out;
}

/* A sealed file is one line of base64 (docs/formats.md "Sealed secret"):
 * the line without its end, or NULL with *why set. */
static char *sealed_text(const struct cairn_blob *b, const char **why)
{
    size_t n = b->len;
    uint8_t *box = NULL;
    size_t box_len = 0;

    if (n > 0 && b->data[n - 1] == '\n')
        n--;
    if (n > 0 && b->data[n - 1] == '\r')
        n--;
    if (memchr(b->data, '\n', n) || memchr(b->data, '\r', n) ||
        cairn_base64_decode((const char *)b->data, n, &box, &box_len) != 0) {
        *why = "is not one line of base64";
        return NULL;
    }
    free(box);
    if (box_len < SEALED_MIN) {
        *why = "is too short for a sealed box";
        return NULL;
    }
    return cairn_xstrndup((const char *)b->data, n);
}

static json_t *secret_entry(struct rctx *c, const char *name, size_t i)
{
    char *path = cairn_xasprintf("secrets/%s/%s.sealed", c->site->name, name);
    const struct cairn_blob *b;
    const char *why = NULL;
    struct cairn_diag d;
    json_t *out = NULL;
    char ptr[64], *b64;

    snprintf(ptr, sizeof(ptr), "/secrets/%zu", i);
    cairn_diag_init(&d);
    if (cairn_fleet_read(c->f, path, CAIRN_FLEET_MAX_SEALED, &b, &d) != 0) {
        if (d.code == CAIRN_ENOENT)
            werr(c, d.code, ptr,
                 "secret %s: %s not found (cairnctl seal writes it)", name,
                 path);
        else
            werr(c, d.code, ptr, "secret %s: %s", name, cairn_diag_msg(&d));
        goto out;
    }
    b64 = sealed_text(b, &why);
    if (!b64) {
        werr(c, CAIRN_EPARSE, ptr, "secret %s: %s %s", name, path, why);
        goto out;
    }
    dep(c, path);
    out = json_object();
    json_object_set_new(out, "name", json_string(name));
    json_object_set_new(out, "sealed", json_stringn_nocheck(b64, strlen(b64)));
    free(b64);
out:
    free(path);
    return out;
}

static json_t *build_secrets(struct rctx *c)
{
    json_t *names = json_object_get(c->w, "secrets"), *n, *out;
    struct cairn__strmap seen;
    size_t i;

    if (!names)
        return NULL;
    out = json_array();
    cairn__strmap_init(&seen);
    json_array_foreach(names, i, n)
    {
        json_t *e;

        if (cairn__strmap_put(&seen, json_string_value(n), (void *)1)) {
            char ptr[64];

            snprintf(ptr, sizeof(ptr), "/secrets/%zu", i);
            werr(c, CAIRN_EEXIST, ptr, "secret %s is listed twice",
                 json_string_value(n));
            continue;
        }
        e = secret_entry(c, json_string_value(n), i);
        if (e)
            json_array_append_new(out, e);
    }
    cairn__strmap_free(&seen);
    return out;
}

static json_t *build_uploads(struct rctx *c)
{
    json_t *u = json_object_get(c->w, "uploads");
    const char *why;

    if (!u)
        return NULL;
    why = relpath_problem(json_object_get(u, "dir"));
    if (why) {
        werr(c, CAIRN_EPATH, "/uploads/dir", "dir %s", why);
        return NULL;
    }
    return json_pack("{s:O}", "dir", json_object_get(u, "dir"));
}

static void on_workload_tmpl(const char *ptr, const struct cairn_diag *d,
                             void *arg)
{
    struct rctx *c = arg;

    werr(c, d->code, ptr, "%s", cairn_diag_msg(d));
}

static void set_opt(json_t *obj, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(obj, key, v);
}

static json_t *render_workload(struct rctx *c, const struct cairn_fdoc *wl,
                               json_t *values)
{
    struct cairn_tmpl_ctx t = {values, c->site->name, c->site->u.site.labels};
    int failed_before = c->failed;
    json_t *out;

    c->wl = wl;
    c->failed = 0;
    dep(c, wl->path);
    if (cairn_tmpl_expand_tree(wl->root, &t, on_workload_tmpl, c, &c->w) != 0) {
        c->failed = 1;
        return NULL;
    }
    out = json_pack("{s:s, s:o, s:o}", "name", wl->name, "exec", build_exec(c),
                    "restart", build_restart(c));
    set_opt(out, "model", build_model(c));
    set_opt(out, "health", build_health(c));
    set_opt(out, "files", build_files(c));
    set_opt(out, "secrets", build_secrets(c));
    set_opt(out, "uploads", build_uploads(c));
    json_decref(c->w);
    c->w = NULL;
    if (c->failed) {
        json_decref(out);
        out = NULL;
    }
    c->failed |= failed_before;
    return out;
}

/* The workloads values.workloads names, checked; NULL after errors. */
static json_t *workload_list(struct rctx *c, json_t *values)
{
    json_t *wl = json_object_get(values, "workloads"), *n, *out;
    struct cairn__strmap seen;
    size_t i;

    if (!wl)
        return json_array(); /* a site may run nothing */
    if (!json_is_array(wl) || json_array_size(wl) > CAIRN_MAX_WORKLOADS) {
        verr(c, CAIRN_ESCHEMA, "/workloads",
             "values.workloads must be a list of at most %d "
             "workload names",
             CAIRN_MAX_WORKLOADS);
        return NULL;
    }
    out = json_array();
    cairn__strmap_init(&seen);
    json_array_foreach(wl, i, n)
    {
        char ptr[64];

        snprintf(ptr, sizeof(ptr), "/workloads/%zu", i);
        if (!json_is_string(n))
            verr(c, CAIRN_ESCHEMA, ptr, "a workload name must be a string");
        else if (!cairn_fleet_workload(c->f, json_string_value(n)))
            verr(c, CAIRN_ENOENT, ptr,
                 "unknown workload \"%s\" (no workloads/%s.yaml)",
                 json_string_value(n), json_string_value(n));
        else if (cairn__strmap_put(&seen, json_string_value(n), (void *)1))
            verr(c, CAIRN_EEXIST, ptr, "workload \"%s\" is listed twice",
                 json_string_value(n));
        else
            json_array_append(out, n);
    }
    cairn__strmap_free(&seen);
    if (c->failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void take_deps(struct rctx *c, struct cairn_rendered *r)
{
    size_t pos = 0, i = 0;
    const char *k;

    dep(c, c->site->path);
    dep(c, c->f->fleet->path);
    for (size_t g = 1; g + 1 < c->nlayers; g++)
        dep(c, cairn_fleet_group(c->f, c->layers[g].name)->path);
    r->deps = cairn_xcalloc(c->deps.n ? c->deps.n : 1, sizeof(char *));
    while (cairn__strmap_next(&c->deps, &pos, &k, NULL))
        r->deps[i++] = cairn_xstrdup(k);
    r->ndeps = i;
    qsort(r->deps, r->ndeps, sizeof(char *), cmp_str);
}

/* Content hash and size cap. */
static int finish(struct rctx *c, json_t *workloads, struct cairn_rendered *r)
{
    size_t len;
    char *text;

    r->content = json_pack("{s:s, s:s, s:o}", "kind", CAIRN_DESIRED_KIND,
                           "site", c->site->name, "workloads", workloads);
    text = cairn__json_canon(r->content, &len);
    /* room is left for generation, times and source */
    if (len > CAIRN_DESIRED_MAX - 1024) {
        cairn_errlist_addloc(
            c->errs, CAIRN_ETOOBIG, c->site->name, cairn_fdoc_loc(c->site, ""),
            NULL, "the desired state is %zu bytes, over the %u-byte cap", len,
            CAIRN_DESIRED_MAX - 1024);
        free(text);
        return CAIRN_ETOOBIG;
    }
    sha256_hex(text, len, r->sha256);
    r->size = len;
    r->canon = text;
    r->site = cairn_xstrdup(c->site->name);
    take_deps(c, r);
    return 0;
}

int cairn_render_site(struct cairn_fleet *f, const struct cairn_fdoc *site,
                      struct cairn_errlist *errs, struct cairn_rendered *out)
{
    struct cairn_rendered r;
    struct cairn_layer *layers;
    struct rctx c;
    json_t *values = NULL, *names, *n, *workloads = NULL;
    size_t nl, i;
    int rc = CAIRN_ETEMPLATE;

    memset(&c, 0, sizeof(c));
    memset(&r, 0, sizeof(r));
    cairn_site_layers(f, site, &layers, &nl);
    c.f = f;
    c.site = site;
    c.errs = errs;
    c.layers = layers;
    c.nlayers = nl;
    cairn__strmap_init(&c.deps);
    if (cairn_site_values(f, site, layers, nl, errs, &values) != 0)
        goto out;
    names = workload_list(&c, values);
    if (!names)
        goto out;
    workloads = json_array();
    json_array_foreach(names, i, n)
    {
        json_t *w = render_workload(
            &c, cairn_fleet_workload(f, json_string_value(n)), values);

        if (w)
            json_array_append_new(workloads, w);
    }
    json_decref(names);
    if (c.failed)
        goto out;
    rc = finish(&c, workloads, &r);
    workloads = NULL;
    if (rc == 0) {
        *out = r;
        memset(&r, 0, sizeof(r));
    }
out:
    if (rc && c.code)
        rc = c.code;
    json_decref(workloads);
    json_decref(values);
    cairn_rendered_free(&r);
    cairn__strmap_free(&c.deps);
    free(layers);
    return rc;
}
