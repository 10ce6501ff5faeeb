#include "fleet.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cairn/embedded.h"
#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "cairn/schema.h"
#include "jptr.h"

struct cairn_loader {
    struct cairn_schema *schema[CAIRN_KIND_COUNT];
    struct cairn__strmap docs;  /* "<blob> <path>" -> struct cairn_fdoc */
    struct cairn__strmap blobs; /* "<blob>" -> struct cairn_blob */
    uint64_t epoch;             /* one per load */
    uint64_t parsed;
};

static const char *const schema_file[CAIRN_KIND_COUNT] = {
    "fleet.schema.json", "group.schema.json",    "site.schema.json",
    "model.schema.json", "workload.schema.json",
};

long cairn_src_find(const struct cairn_src *src, const char *path)
{
    size_t lo = 0, hi = src->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(src->files[mid].path, path);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void cairn_src_free(struct cairn_src *src)
{
    if (src && src->free)
        src->free(src);
}

/* ---- loader ---------------------------------------------------------- */

static int compile_embedded(const char *name, struct cairn_schema **out,
                            struct cairn_diag *d)
{
    size_t len;
    const char *text = cairn_embedded_get(name, &len);
    json_error_t je;
    json_t *doc;
    int rc;

    if (!text)
        return cairn_diag_set(d, CAIRN_ESCHEMA, "%s: not embedded", name);
    doc = json_loadb(text, len, 0, &je);
    if (!doc)
        return cairn_diag_set(d, CAIRN_ESCHEMA, "%s:%d:%d: %s", name, je.line,
                              je.column, je.text);
    rc = cairn_schema_compile(doc, out, d);
    json_decref(doc);
    if (rc)
        cairn_diag_prefix(d, "%s", name);
    return rc;
}

int cairn_loader_new(struct cairn_loader **out, struct cairn_diag *d)
{
    struct cairn_loader *ld = cairn_xcalloc(1, sizeof(*ld));
    int rc = 0;

    cairn__strmap_init(&ld->docs);
    cairn__strmap_init(&ld->blobs);
    for (int k = 0; k < CAIRN_KIND_COUNT && rc == 0; k++)
        rc = compile_embedded(schema_file[k], &ld->schema[k], d);
    if (rc) {
        cairn_loader_free(ld);
        return rc;
    }
    *out = ld;
    return 0;
}

static void fdoc_unref(struct cairn_fdoc *doc)
{
    if (!doc || --doc->refs > 0)
        return;
    if (doc->kind == CAIRN_KIND_GROUP)
        cairn_selector_free(&doc->u.group.sel);
    cairn_yaml_free(doc->yaml);
    free(doc->path);
    free(doc);
}

static void blob_unref(struct cairn_blob *b)
{
    if (!b || --b->refs > 0)
        return;
    free(b->data);
    json_decref(b->b64);
    free(b);
}

/* Drop the cache's reference to entries last used before `before`. */
static void sweep_map(struct cairn__strmap *m, uint64_t before, int docs)
{
    size_t pos = 0, n = 0;
    const char *k;
    void *v;
    char **dead = cairn_xcalloc(m->n ? m->n : 1, sizeof(char *));

    while (cairn__strmap_next(m, &pos, &k, &v)) {
        uint64_t used = docs ? ((struct cairn_fdoc *)v)->used
                             : ((struct cairn_blob *)v)->used;

        if (used < before)
            dead[n++] = cairn_xstrdup(k);
    }
    for (size_t i = 0; i < n; i++) {
        v = cairn__strmap_del(m, dead[i]);
        if (docs)
            fdoc_unref(v);
        else
            blob_unref(v);
        free(dead[i]);
    }
    free(dead);
}

void cairn_loader_sweep(struct cairn_loader *ld, unsigned keep)
{
    uint64_t before = ld->epoch > keep ? ld->epoch - keep : 0;

    sweep_map(&ld->docs, before, 1);
    sweep_map(&ld->blobs, before, 0);
}

void cairn_loader_free(struct cairn_loader *ld)
{
    if (!ld)
        return;
    sweep_map(&ld->docs, UINT64_MAX, 1);
    sweep_map(&ld->blobs, UINT64_MAX, 0);
    cairn__strmap_free(&ld->docs);
    cairn__strmap_free(&ld->blobs);
    for (int k = 0; k < CAIRN_KIND_COUNT; k++)
        cairn_schema_free(ld->schema[k]);
    free(ld);
}

size_t cairn_loader_cached(const struct cairn_loader *ld)
{
    return ld->docs.n + ld->blobs.n;
}

uint64_t cairn_loader_parsed(const struct cairn_loader *ld)
{
    return ld->parsed;
}

struct cairn_loc cairn_fdoc_loc(const struct cairn_fdoc *doc, const char *ptr)
{
    struct cairn_loc none = {doc ? doc->path : NULL, 0, 0};

    if (!doc || !doc->yaml)
        return none;
    return cairn_yaml_locate(doc->yaml, ptr);
}

/* ---- which files are documents ---------------------------------------- */

struct class
{
    enum cairn_kind kind;
    char name[256];    /* expected name: the file name without .yaml */
    char version[256]; /* models: the file name; name is the folder */
};

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);

    return n > m && strcmp(s + n - m, suf) == 0;
}

/* Copy the last path component without its extension (ext chars). */
static int stem(const char *path, size_t ext, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base) - ext;
    if (n >= cap)
        return -1;
    memcpy(out, base, n);
    out[n] = '\0';
    return 0;
}

/* 1: a document (c filled); 0: not one of ours; -1: error reported. */
static int classify(const char *path, struct class *c,
                    struct cairn_errlist *errs)
{
    int yml = has_suffix(path, ".yml"), depth = 0;
    const char *rest = NULL;

    for (const char *p = path; *p; p++)
        depth += *p == '/';
    if (strcmp(path, "fleet.yaml") == 0 || strcmp(path, "fleet.yml") == 0) {
        c->kind = CAIRN_KIND_FLEET;
        rest = path;
    } else if (strncmp(path, "groups/", 7) == 0 && depth == 1) {
        c->kind = CAIRN_KIND_GROUP;
        rest = path + 7;
    } else if (strncmp(path, "sites/", 6) == 0) {
        c->kind = CAIRN_KIND_SITE; /* sub-folders allowed: 10,000 sites */
        rest = path + 6;
    } else if (strncmp(path, "workloads/", 10) == 0 && depth == 1) {
        c->kind = CAIRN_KIND_WORKLOAD; /* sub-folders hold data files */
        rest = path + 10;
    } else if (strncmp(path, "models/", 7) == 0 && depth == 2) {
        c->kind = CAIRN_KIND_MODEL;
        rest = path + 7;
    }
    if (!rest || (!yml && !has_suffix(path, ".yaml")))
        return 0;
    if (yml) {
        cairn_errlist_add(errs, CAIRN_EPARSE, NULL, path, 0, 0, NULL,
                          "cairn reads .yaml files only: rename it to .yaml");
        return -1;
    }
    if (stem(path, 5, c->kind == CAIRN_KIND_MODEL ? c->version : c->name,
             256) != 0)
        return 0;
    if (c->kind == CAIRN_KIND_MODEL) {
        size_t n = (size_t)(strchr(rest, '/') - rest);

        if (n >= sizeof(c->name))
            return 0;
        memcpy(c->name, rest, n);
        c->name[n] = '\0';
    }
    return 1;
}

/* ---- parsing one document ----------------------------------------------- */

struct schema_ctx {
    struct cairn_errlist *errs;
    const char *path;
};

static int on_schema_error(const struct cairn_schema_error *e, void *arg)
{
    struct schema_ctx *c = arg;

    cairn_errlist_add(c->errs, CAIRN_ESCHEMA, NULL,
                      e->loc.file ? e->loc.file : c->path, e->loc.line,
                      e->loc.col, e->instance_ptr, "%s", e->message);
    return 0;
}

static const char *str_at(json_t *root, const char *key)
{
    return json_string_value(json_object_get(root, key));
}

/* The name (or version) must repeat the path: one source of truth for
 * where a document lives, so that a renamed file can't shadow another. */
static int check_name(struct cairn_fdoc *doc, const char *field,
                      const char *want, struct cairn_errlist *errs)
{
    const char *got = str_at(doc->root, field);
    char ptr[32];

    if (got && strcmp(got, want) == 0)
        return 0;
    snprintf(ptr, sizeof(ptr), "/%s", field);
    cairn_errlist_addloc(
        errs, CAIRN_ESCHEMA, NULL, cairn_fdoc_loc(doc, ptr), ptr,
        "%s \"%s\" does not match the %s name \"%s\"", field, got ? got : "",
        doc->kind == CAIRN_KIND_MODEL && strcmp(field, "name") == 0 ? "folder"
                                                                    : "file",
        want);
    return CAIRN_ESCHEMA;
}

static int extract_site(struct cairn_fdoc *doc, struct cairn_errlist *errs)
{
    struct cairn_diag d;

    doc->u.site.labels = json_object_get(doc->root, "labels");
    cairn_diag_init(&d);
    if (cairn_pubkey_parse(str_at(doc->root, "publicKey"), &doc->u.site.key,
                           &d) != 0) {
        cairn_errlist_addloc(errs, CAIRN_EKEY, NULL,
                             cairn_fdoc_loc(doc, "/publicKey"), "/publicKey",
                             "%s", cairn_diag_msg(&d));
        return CAIRN_EKEY;
    }
    return 0;
}

/* A file is inline text or a copy of a repository file, never both. */
static int check_workload_files(struct cairn_fdoc *doc,
                                struct cairn_errlist *errs)
{
    json_t *files = json_object_get(doc->root, "files"), *f;
    size_t i;
    int rc = 0;

    json_array_foreach(files, i, f)
    {
        int has_c = json_object_get(f, "content") != NULL;
        int has_f = json_object_get(f, "from") != NULL;
        char ptr[64];

        snprintf(ptr, sizeof(ptr), "/files/%zu", i);
        if (has_c == has_f) {
            cairn_errlist_addloc(
                errs, CAIRN_ESCHEMA, NULL, cairn_fdoc_loc(doc, ptr), ptr,
                "a file needs exactly one of content and from");
            rc = CAIRN_ESCHEMA;
        } else if (has_f && json_object_get(f, "encoding")) {
            snprintf(ptr, sizeof(ptr), "/files/%zu/encoding", i);
            cairn_errlist_addloc(
                errs, CAIRN_ESCHEMA, NULL, cairn_fdoc_loc(doc, ptr), ptr,
                "encoding is for inline content; from: files are "
                "always sent as base64");
            rc = CAIRN_ESCHEMA;
        }
    }
    return rc;
}

static int extract(struct cairn_fdoc *doc, const struct class *c,
                   struct cairn_errlist *errs)
{
    json_t *art = json_object_get(doc->root, "artifact");
    int rc = 0;

    doc->name = str_at(doc->root, "name");
    doc->values = json_object_get(doc->root, "values");
    switch (doc->kind) {
    case CAIRN_KIND_FLEET:
        return 0;
    case CAIRN_KIND_GROUP:
        rc = check_name(doc, "name", c->name, errs);
        if (cairn_selector_compile(json_object_get(doc->root, "selector"),
                                   doc->yaml, "/selector", errs,
                                   &doc->u.group.sel) != 0)
            rc = CAIRN_ESCHEMA;
        return rc;
    case CAIRN_KIND_SITE:
        rc = check_name(doc, "name", c->name, errs);
        return extract_site(doc, errs) ? CAIRN_EKEY : rc;
    case CAIRN_KIND_MODEL:
        rc = check_name(doc, "name", c->name, errs);
        if (check_name(doc, "version", c->version, errs) != 0)
            rc = CAIRN_ESCHEMA;
        doc->u.model.version = str_at(doc->root, "version");
        doc->u.model.sha256 = str_at(art, "sha256");
        doc->u.model.size = json_integer_value(json_object_get(art, "size"));
        return rc;
    case CAIRN_KIND_WORKLOAD:
        rc = check_name(doc, "name", c->name, errs);
        return check_workload_files(doc, errs) ? CAIRN_ESCHEMA : rc;
    case CAIRN_KIND_COUNT:
        break;
    }
    return CAIRN_EINVAL;
}

static struct cairn_fdoc *parse_doc(struct cairn_loader *ld,
                                    struct cairn_src *src, size_t i,
                                    const struct class *c,
                                    struct cairn_errlist *errs)
{
    const struct cairn_src_file *sf = &src->files[i];
    struct cairn_yaml_limits lim = {CAIRN_FLEET_MAX_YAML, 0, 0};
    struct schema_ctx sc = {errs, sf->path};
    struct cairn_fdoc *doc = NULL;
    struct cairn_diag d;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    cairn_diag_init(&d);
    rc = src->read(src, i, CAIRN_FLEET_MAX_YAML, &data, &len, &d);
    if (rc) {
        cairn_errlist_add(errs, rc, NULL, sf->path, 0, 0, NULL, "%s",
                          cairn_diag_msg(&d));
        return NULL;
    }
    doc = cairn_xcalloc(1, sizeof(*doc));
    doc->kind = c->kind;
    doc->path = cairn_xstrdup(sf->path);
    memcpy(doc->blob, sf->blob, sizeof(doc->blob));
    rc = cairn_yaml_parse(sf->path, (const char *)data, len, &lim, &doc->yaml,
                          &d);
    free(data);
    if (rc) {
        cairn_errlist_add_raw(errs, rc, NULL, cairn_diag_msg(&d));
        goto fail;
    }
    doc->root = cairn_yaml_root(doc->yaml);
    if (cairn_schema_validate(ld->schema[c->kind], doc->root, doc->yaml,
                              on_schema_error, &sc, NULL) != 0)
        goto fail;
    if (extract(doc, c, errs) != 0)
        goto fail;
    doc->refs = 1;
    return doc;
fail:
    if (doc->kind == CAIRN_KIND_GROUP)
        cairn_selector_free(&doc->u.group.sel);
    cairn_yaml_free(doc->yaml);
    free(doc->path);
    free(doc);
    return NULL;
}

static char *cache_key(const struct cairn_src_file *sf)
{
    return cairn_xasprintf("%s %s", sf->blob, sf->path);
}

/* A document from the cache (a new reference), or NULL. */
static struct cairn_fdoc *cached_doc(struct cairn_loader *ld,
                                     const struct cairn_src_file *sf)
{
    char *key = cache_key(sf);
    struct cairn_fdoc *doc = cairn__strmap_get(&ld->docs, key);

    free(key);
    if (doc) {
        doc->used = ld->epoch;
        doc->refs++;
    }
    return doc;
}

/* Files the cache did not have, parsed on worker threads: YAML, schema
 * and key checks are per file, and a first load of 10,000 sites is
 * mostly this. */
struct miss {
    size_t i;
    struct class c;
    struct cairn_fdoc *doc;
};

struct parse_job {
    struct cairn_loader *ld;
    struct cairn_src *src;
    struct miss *m;
    size_t n;
    size_t next;
    pthread_mutex_t lock;
};

struct parse_worker {
    pthread_t th;
    struct parse_job *job;
    struct cairn_errlist errs;
};

static void *parse_work(void *arg)
{
    struct parse_worker *w = arg;
    struct parse_job *j = w->job;

    for (;;) {
        size_t k;

        pthread_mutex_lock(&j->lock);
        k = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (k >= j->n)
            return NULL;
        j->m[k].doc = parse_doc(j->ld, j->src, j->m[k].i, &j->m[k].c, &w->errs);
    }
}

static void parse_misses(struct parse_job *j, struct cairn_errlist *errs)
{
    unsigned n = j->src->threadsafe ? cairn__threads(0, j->n) : 1;
    struct parse_worker *w = cairn_xcalloc(n, sizeof(*w));
    unsigned started = 0;

    pthread_mutex_init(&j->lock, NULL);
    for (unsigned t = 0; t < n; t++) {
        w[t].job = j;
        cairn_errlist_init(&w[t].errs, errs->max);
        if (n > 1 && pthread_create(&w[t].th, NULL, parse_work, &w[t]) == 0)
            started++;
    }
    if (started == 0)
        parse_work(&w[0]);
    for (unsigned t = 0; t < n; t++) {
        if (t < started)
            pthread_join(w[t].th, NULL);
        cairn_errlist_merge(errs, &w[t].errs);
        cairn_errlist_free(&w[t].errs);
    }
    pthread_mutex_destroy(&j->lock);
    free(w);
}

/* Parsed documents join the cache (one reference) and the fleet (one). */
static void cache_parsed(struct cairn_loader *ld, struct cairn_src *src,
                         struct miss *m)
{
    char *key;

    ld->parsed++;
    if (!m->doc)
        return;
    key = cache_key(&src->files[m->i]);
    cairn__strmap_put(&ld->docs, key, m->doc);
    free(key);
    m->doc->used = ld->epoch;
    m->doc->refs++;
}

/* ---- the fleet ------------------------------------------------------------
 */

struct vec {
    struct cairn_fdoc **v;
    size_t n, alloc;
};

static void vec_push(struct vec *v, struct cairn_fdoc *doc)
{
    if (v->n == v->alloc) {
        v->alloc = v->alloc ? v->alloc * 2 : 16;
        v->v = cairn_xrealloc(v->v, v->alloc * sizeof(*v->v));
    }
    v->v[v->n++] = doc;
}

static int cmp_doc(const void *a, const void *b)
{
    const struct cairn_fdoc *x = *(struct cairn_fdoc *const *)a;
    const struct cairn_fdoc *y = *(struct cairn_fdoc *const *)b;
    int c = strcmp(x->name, y->name);

    if (c == 0 && x->kind == CAIRN_KIND_MODEL)
        c = strcmp(x->u.model.version, y->u.model.version);
    return c ? c : strcmp(x->path, y->path);
}

/* Sort by name and index; a second document with a name already taken is
 * an error (only sites can collide: they may live in sub-folders). */
static void index_docs(struct vec *v, struct cairn__strmap *idx,
                       struct cairn_errlist *errs)
{
    if (v->n > 1)
        qsort(v->v, v->n, sizeof(*v->v), cmp_doc);
    for (size_t i = 0; i < v->n; i++) {
        struct cairn_fdoc *doc = v->v[i], *prev;
        char *key =
            doc->kind == CAIRN_KIND_MODEL
                ? cairn_xasprintf("%s/%s", doc->name, doc->u.model.version)
                : cairn_xstrdup(doc->name);

        prev = cairn__strmap_get(idx, key);
        if (prev)
            cairn_errlist_addloc(
                errs, CAIRN_EEXIST, NULL, cairn_fdoc_loc(doc, "/name"), "/name",
                "duplicate %s name \"%s\" (also %s)",
                doc->kind == CAIRN_KIND_SITE ? "site" : "document", doc->name,
                prev->path);
        else
            cairn__strmap_put(idx, key, doc);
        free(key);
    }
}

static void load_policy(struct cairn_fleet *f, struct cairn_errlist *errs)
{
    json_t *pol = json_object_get(f->fleet->root, "policy");
    json_t *ttl = json_object_get(pol, "desiredStateTTLHours");
    json_t *iv = json_object_get(pol, "reportIntervalSeconds"), *k;
    size_t i;

    f->name = f->fleet->name;
    f->ttl_hours = ttl ? json_integer_value(ttl) : 168;
    f->report_interval = iv ? json_integer_value(iv) : 30;
    json_array_foreach(json_object_get(pol, "trustedPublishers"), i, k)
    {
        struct cairn_pubkey pk;
        struct cairn_diag d;
        char ptr[64];

        cairn_diag_init(&d);
        snprintf(ptr, sizeof(ptr), "/policy/trustedPublishers/%zu", i);
        if (cairn_pubkey_parse(json_string_value(k), &pk, &d) != 0)
            cairn_errlist_addloc(errs, CAIRN_EKEY, NULL,
                                 cairn_fdoc_loc(f->fleet, ptr), ptr, "%s",
                                 cairn_diag_msg(&d));
        else
            cairn_keyset_add(&f->trusted, &pk);
    }
}

/* The attestation named by a model: read, parsed as JSON, kept for the
 * payloads. Verifying it is attest.c's job. */
static void load_attestation(struct cairn_fleet *f, struct cairn_fleet_model *m,
                             struct cairn_errlist *errs)
{
    const char *file = str_at(m->doc->root, "attestation");
    const char *slash = strrchr(m->doc->path, '/');
    struct cairn_loc at = cairn_fdoc_loc(m->doc, "/attestation");
    const struct cairn_blob *b;
    struct cairn_diag d;

    m->att_path = cairn_xasprintf("%.*s/%s", (int)(slash - m->doc->path),
                                  m->doc->path, file);
    cairn_diag_init(&d);
    if (cairn_fleet_read(f, m->att_path, CAIRN_FLEET_MAX_ATT, &b, &d) != 0) {
        cairn_errlist_addloc(
            errs, d.code, NULL, at, "/attestation", "%s: %s", m->att_path,
            d.code == CAIRN_ENOENT ? "not found" : cairn_diag_msg(&d));
        return;
    }
    cairn_diag_init(&d);
    if (cairn_json_parse((const char *)b->data, b->len, CAIRN_FLEET_MAX_ATT,
                         &m->att, &d)) {
        cairn_errlist_add(errs, d.code, NULL, m->att_path, 0, 0, NULL, "%s",
                          cairn_diag_msg(&d));
    } else if (!json_is_object(m->att)) {
        cairn_errlist_add(errs, CAIRN_EPARSE, NULL, m->att_path, 0, 0, NULL,
                          "an attestation is a JSON object (a DSSE envelope)");
        json_decref(m->att);
        m->att = NULL;
    }
}

static void build_models(struct cairn_fleet *f, struct vec *v,
                         struct cairn_errlist *errs)
{
    index_docs(v, &f->model_idx, errs);
    f->models = cairn_xcalloc(v->n ? v->n : 1, sizeof(*f->models));
    f->nmodels = v->n;
    for (size_t i = 0; i < v->n; i++) {
        f->models[i].doc = v->v[i];
        load_attestation(f, &f->models[i], errs);
    }
    /* the index now points at the fleet's model entries */
    for (size_t i = 0; i < f->nmodels; i++) {
        char *key = cairn_xasprintf("%s/%s", f->models[i].doc->name,
                                    f->models[i].doc->u.model.version);

        cairn__strmap_put(&f->model_idx, key, &f->models[i]);
        free(key);
    }
    free(v->v);
}

static struct cairn_fleet *fleet_new(struct cairn_loader *ld,
                                     struct cairn_src *src)
{
    struct cairn_fleet *f = cairn_xcalloc(1, sizeof(*f));

    memcpy(f->commit, src->commit, sizeof(f->commit));
    f->ld = ld;
    f->src = src;
    cairn_keyset_init(&f->trusted);
    cairn__strmap_init(&f->site_idx);
    cairn__strmap_init(&f->model_idx);
    cairn__strmap_init(&f->workload_idx);
    cairn__strmap_init(&f->group_idx);
    cairn__strmap_init(&f->held);
    cairn__strmap_init(&f->extra);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

/* Every document of src into per-kind lists: cache hits first, then the
 * misses parsed (in parallel) and cached. */
static void collect(struct cairn_fleet *f, struct vec *kinds,
                    struct cairn_errlist *errs)
{
    struct parse_job j;

    memset(&j, 0, sizeof(j));
    j.ld = f->ld;
    j.src = f->src;
    j.m = cairn_xcalloc(f->src->n ? f->src->n : 1, sizeof(*j.m));
    for (size_t i = 0; i < f->src->n; i++) {
        struct class c;
        struct cairn_fdoc *doc;

        memset(&c, 0, sizeof(c));
        if (classify(f->src->files[i].path, &c, errs) != 1)
            continue;
        doc = cached_doc(f->ld, &f->src->files[i]);
        if (doc) {
            vec_push(&kinds[c.kind], doc);
        } else {
            j.m[j.n].i = i;
            j.m[j.n++].c = c;
        }
    }
    if (j.n)
        parse_misses(&j, errs);
    for (size_t k = 0; k < j.n; k++) {
        cache_parsed(f->ld, f->src, &j.m[k]);
        if (j.m[k].doc)
            vec_push(&kinds[j.m[k].c.kind], j.m[k].doc);
    }
    free(j.m);
}

int cairn_fleet_load(struct cairn_loader *ld, struct cairn_src *src,
                     struct cairn_errlist *errs, struct cairn_fleet **out)
{
    struct cairn_fleet *f = fleet_new(ld, src);
    struct vec kinds[CAIRN_KIND_COUNT];
    size_t before = cairn_errlist_count(errs);

    ld->epoch++;
    memset(kinds, 0, sizeof(kinds));
    collect(f, kinds, errs);
    if (kinds[CAIRN_KIND_FLEET].n == 0 && cairn_src_find(src, "fleet.yaml") < 0)
        cairn_errlist_add(
            errs, CAIRN_ENOENT, NULL, "fleet.yaml", 0, 0, NULL,
            "missing: a fleet repository has a fleet.yaml at its top");
    if (kinds[CAIRN_KIND_FLEET].n) {
        f->fleet = kinds[CAIRN_KIND_FLEET].v[0];
        load_policy(f, errs);
    }
    free(kinds[CAIRN_KIND_FLEET].v);
    index_docs(&kinds[CAIRN_KIND_GROUP], &f->group_idx, errs);
    index_docs(&kinds[CAIRN_KIND_SITE], &f->site_idx, errs);
    index_docs(&kinds[CAIRN_KIND_WORKLOAD], &f->workload_idx, errs);
    f->groups = kinds[CAIRN_KIND_GROUP].v;
    f->ngroups = kinds[CAIRN_KIND_GROUP].n;
    f->sites = kinds[CAIRN_KIND_SITE].v;
    f->nsites = kinds[CAIRN_KIND_SITE].n;
    f->workloads = kinds[CAIRN_KIND_WORKLOAD].v;
    f->nworkloads = kinds[CAIRN_KIND_WORKLOAD].n;
    build_models(f, &kinds[CAIRN_KIND_MODEL], errs);
    if (cairn_errlist_count(errs) > before) {
        cairn_fleet_free(f);
        return cairn_errlist_code(errs) ? cairn_errlist_code(errs)
                                        : CAIRN_EPARSE;
    }
    *out = f;
    return 0;
}

void cairn_fleet_free(struct cairn_fleet *f)
{
    size_t pos = 0;
    const char *k;
    void *v;

    if (!f)
        return;
    fdoc_unref(f->fleet);
    for (size_t i = 0; i < f->ngroups; i++)
        fdoc_unref(f->groups[i]);
    for (size_t i = 0; i < f->nsites; i++)
        fdoc_unref(f->sites[i]);
    for (size_t i = 0; i < f->nworkloads; i++)
        fdoc_unref(f->workloads[i]);
    for (size_t i = 0; i < f->nmodels; i++) {
        fdoc_unref(f->models[i].doc);
        free(f->models[i].att_path);
        json_decref(f->models[i].att);
    }
    while (cairn__strmap_next(&f->held, &pos, &k, &v))
        blob_unref(v);
    pos = 0;
    while (cairn__strmap_next(&f->extra, &pos, &k, &v))
        free(v);
    free(f->groups);
    free(f->sites);
    free(f->workloads);
    free(f->models);
    cairn_keyset_free(&f->trusted);
    cairn__strmap_free(&f->site_idx);
    cairn__strmap_free(&f->model_idx);
    cairn__strmap_free(&f->workload_idx);
    cairn__strmap_free(&f->group_idx);
    cairn__strmap_free(&f->held);
    cairn__strmap_free(&f->extra);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

struct cairn_fdoc *cairn_fleet_site(const struct cairn_fleet *f,
                                    const char *name)
{
    return cairn__strmap_get(&f->site_idx, name);
}

struct cairn_fdoc *cairn_fleet_workload(const struct cairn_fleet *f,
                                        const char *name)
{
    return cairn__strmap_get(&f->workload_idx, name);
}

struct cairn_fdoc *cairn_fleet_group(const struct cairn_fleet *f,
                                     const char *name)
{
    return cairn__strmap_get(&f->group_idx, name);
}

struct cairn_fleet_model *cairn_fleet_model(const struct cairn_fleet *f,
                                            const char *name,
                                            const char *version)
{
    char *key = cairn_xasprintf("%s/%s", name, version);
    struct cairn_fleet_model *m = cairn__strmap_get(&f->model_idx, key);

    free(key);
    return m;
}

/* The blob with id from the fleet's or the loader's cache (a new hold
 * for the fleet), or NULL. */
static struct cairn_blob *cached_blob(struct cairn_fleet *f, const char *id)
{
    struct cairn_blob *b = cairn__strmap_get(&f->held, id);

    if (b)
        return b;
    b = cairn__strmap_get(&f->ld->blobs, id);
    if (!b)
        return NULL;
    b->refs++;
    b->used = f->ld->epoch;
    cairn__strmap_put(&f->held, id, b);
    return b;
}

static struct cairn_blob *add_blob(struct cairn_fleet *f, const char *id,
                                   uint8_t *data, size_t len)
{
    struct cairn_blob *b = cairn_xcalloc(1, sizeof(*b));

    b->data = data;
    b->len = len;
    b->refs = 2; /* the loader's cache and the fleet */
    b->used = f->ld->epoch;
    cairn__strmap_put(&f->ld->blobs, id, b);
    cairn__strmap_put(&f->held, id, b);
    return b;
}

/* A file outside the list (read_path): remembered per fleet by path. */
static int read_extra(struct cairn_fleet *f, const char *path, size_t cap,
                      struct cairn_blob **out, struct cairn_diag *d)
{
    const char *known = cairn__strmap_get(&f->extra, path);
    char id[CAIRN_OID_HEX + 1];
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    if (known && (*out = cached_blob(f, known)) != NULL)
        return 0;
    if (!f->src->read_path)
        return cairn_diag_set(d, CAIRN_ENOENT,
                              "%s: no such file in commit %.12s", path,
                              f->commit);
    rc = f->src->read_path(f->src, path, cap, &data, &len, id, d);
    if (rc)
        return rc;
    free(cairn__strmap_put(&f->extra, path, cairn_xstrdup(id)));
    *out = cached_blob(f, id);
    if (*out)
        free(data);
    else
        *out = add_blob(f, id, data, len);
    return 0;
}

static int fleet_read(struct cairn_fleet *f, const char *path, size_t cap,
                      const struct cairn_blob **out, struct cairn_diag *d)
{
    long i = cairn_src_find(f->src, path);
    struct cairn_blob *b = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    if (i < 0) {
        rc = read_extra(f, path, cap, &b, d);
        if (rc)
            return rc;
    } else if (!(b = cached_blob(f, f->src->files[i].blob))) {
        rc = f->src->read(f->src, (size_t)i, cap, &data, &len, d);
        if (rc)
            return rc;
        b = add_blob(f, f->src->files[i].blob, data, len);
    }
    if (b->len > cap)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s: %zu bytes, over the %zu-byte cap", path,
                              b->len, cap);
    *out = b;
    return 0;
}

int cairn_fleet_read(struct cairn_fleet *f, const char *path, size_t cap,
                     const struct cairn_blob **out, struct cairn_diag *d)
{
    int rc;

    pthread_mutex_lock(&f->lock);
    rc = fleet_read(f, path, cap, out, d);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void cairn_fleet_blob_encoded(struct cairn_fleet *f, const struct cairn_blob *b,
                              json_t **b64, const char **sha256)
{
    struct cairn_blob *m = (struct cairn_blob *)b;

    pthread_mutex_lock(&f->lock);
    if (!m->b64) {
        uint8_t md[CAIRN_SHA256_LEN];
        char *text = cairn_base64_encode(m->data, m->len);

        cairn_sha256(m->data, m->len, md);
        cairn_hex_encode(md, sizeof(md), m->sha256);
        /* base64 is ASCII: no UTF-8 check needed */
        m->b64 = json_stringn_nocheck(text, strlen(text));
        free(text);
    }
    pthread_mutex_unlock(&f->lock);
    *b64 = m->b64;
    *sha256 = m->sha256;
}
