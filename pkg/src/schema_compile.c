/*
 * Schema compilation: a draft-07 schema document becomes a graph of
 * cairn__node, built once, so that validation never looks a keyword up,
 * compiles a regex or allocates per node. Keywords are driven by one table
 * (name, handler, field, group). $ref targets are resolved after the walk,
 * since a reference may point forward or at itself.
 */
#include "schema_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/embedded.h"
#include "cairn/fs.h"
#include "cairn/mem.h"

/* ---- arena: every node and array of a schema, freed at once ---- */

struct cairn__chunk {
    struct cairn__chunk *next;
    size_t cap, used;
    max_align_t data[];
};

#define ARENA_CHUNK 16384

static void *arena_alloc(struct cairn_schema *s, size_t n)
{
    struct cairn__chunk *c = s->arena;
    size_t align = sizeof(max_align_t);
    void *p;

    n = (n + align - 1) / align * align;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = cairn_xcalloc(1, sizeof(*c) + cap);
        c->cap = cap;
        c->next = s->arena;
        s->arena = c;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    return p; /* zeroed: chunks come from calloc */
}

#define ARENA_NEW(s, type, count)                                              \
    ((type *)arena_alloc((s), sizeof(type) * (count)))

/* ---- compile state ---- */

struct pending { /* a $ref to resolve once the whole document is walked */
    struct cairn__node *node;
    char *uri;   /* absolute: resolved against the base at the $ref */
    char *text;  /* as written, for messages */
    char *where; /* schema pointer of the $ref, for messages */
};

struct resource { /* a base URI ("" for the root) or "$id" in the document */
    char *uri;
    json_t *json;
};

struct cstate {
    struct cairn_schema *s;
    struct cairn_diag *d;
    /* json_t * -> node: each schema value compiles once, which makes
     * shared and recursive references finite */
    const json_t **mkey;
    struct cairn__node **mval;
    size_t mcap, mlen;
    struct pending *pend;
    size_t npend, apend;
    struct resource *res;
    size_t nres, ares;
    int depth;
};

static int compile_node(struct cstate *cs, json_t *js, const char *base,
                        const struct cairn__seg *path,
                        struct cairn__node **out);

__attribute__((format(printf, 3, 4))) static int
schema_err(struct cstate *cs, const struct cairn__seg *path, const char *fmt,
           ...)
{
    char ptr[512], msg[768];
    va_list ap;

    cairn__seg_format(path, ptr, sizeof(ptr));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cairn_diag_set(cs->d, CAIRN_ESCHEMA, "schema #%s: %s", ptr, msg);
}

static size_t ptr_hash(const json_t *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;

    return (size_t)(h >> 32) & (cap - 1);
}

static struct cairn__node *map_get(const struct cstate *cs, const json_t *js)
{
    size_t i;

    if (cs->mcap == 0)
        return NULL;
    for (i = ptr_hash(js, cs->mcap); cs->mkey[i]; i = (i + 1) & (cs->mcap - 1))
        if (cs->mkey[i] == js)
            return cs->mval[i];
    return NULL;
}

static void map_put(struct cstate *cs, const json_t *js, struct cairn__node *n)
{
    size_t i;

    if (2 * (cs->mlen + 1) > cs->mcap) {
        const json_t **okey = cs->mkey;
        struct cairn__node **oval = cs->mval;
        size_t ocap = cs->mcap;
        cs->mcap = ocap ? 2 * ocap : 64;
        cs->mkey = cairn_xcalloc(cs->mcap, sizeof(*cs->mkey));
        cs->mval = cairn_xcalloc(cs->mcap, sizeof(*cs->mval));
        cs->mlen = 0;
        for (i = 0; i < ocap; i++)
            if (okey[i])
                map_put(cs, okey[i], oval[i]);
        free(okey);
        free(oval);
    }
    for (i = ptr_hash(js, cs->mcap); cs->mkey[i]; i = (i + 1) & (cs->mcap - 1))
        ;
    cs->mkey[i] = js;
    cs->mval[i] = n;
    cs->mlen++;
}

static struct resource *find_resource(struct cstate *cs, const char *uri,
                                      size_t n)
{
    for (size_t i = 0; i < cs->nres; i++)
        if (strlen(cs->res[i].uri) == n && memcmp(cs->res[i].uri, uri, n) == 0)
            return &cs->res[i];
    return NULL;
}

static int add_resource(struct cstate *cs, const char *uri, json_t *js,
                        const struct cairn__seg *path)
{
    struct resource *r = find_resource(cs, uri, strlen(uri));

    if (r && r->json == js) /* {"$id": ""} at the root, say */
        return 0;
    if (r)
        return schema_err(cs, path, "$id \"%s\" is used twice", uri);
    if (cs->nres == cs->ares) {
        cs->ares = cs->ares ? 2 * cs->ares : 8;
        cs->res = cairn_xrealloc(cs->res, cs->ares * sizeof(*cs->res));
    }
    cs->res[cs->nres].uri = cairn_xstrdup(uri);
    cs->res[cs->nres++].json = js;
    return 0;
}

/* ---- keyword handlers ---- */

struct kwdef;
typedef int (*kw_fn)(struct cstate *cs, struct cairn__node *n, json_t *v,
                     const char *base, const struct cairn__seg *at,
                     const struct kwdef *k);

struct kwdef {
    const char *name;
    kw_fn fn;
    size_t off;     /* the node field the keyword fills */
    unsigned group; /* CAIRN__HAS_* it enables */
    unsigned flag;  /* CAIRN__NUM_* for numeric keywords */
};

#define FIELD(n, k, type) ((type *)(void *)((char *)(n) + (k)->off))

static int type_bit(const json_t *v)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    const char *s = json_string_value(v);

    for (size_t i = 0; s && i < CAIRN_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return 1 << i;
    return 0;
}

static int kw_type(struct cstate *cs, struct cairn__node *n, json_t *v,
                   const char *base, const struct cairn__seg *at,
                   const struct kwdef *k)
{
    size_t i;
    json_t *item;
    int bit;

    (void)base, (void)k;
    if (json_is_string(v)) {
        if (!(bit = type_bit(v)))
            return schema_err(cs, at, "unknown type \"%s\"",
                              json_string_value(v));
        n->types = (unsigned)bit;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return schema_err(cs, at,
                          "must be a type name or a non-empty array "
                          "of type names");
    json_array_foreach(v, i, item)
    {
        struct cairn__seg el = {at, NULL, 0, i, false};
        if (!(bit = type_bit(item)))
            return schema_err(cs, &el, "not a type name");
        if (n->types & (unsigned)bit)
            return schema_err(cs, &el, "type \"%s\" is listed twice",
                              json_string_value(item));
        n->types |= (unsigned)bit;
    }
    return 0;
}

static int kw_enum(struct cstate *cs, struct cairn__node *n, json_t *v,
                   const char *base, const struct cairn__seg *at,
                   const struct kwdef *k)
{
    (void)base, (void)k;
    if (!json_is_array(v))
        return schema_err(cs, at, "must be an array");
    n->enumv = v;
    return 0;
}

static int kw_const(struct cstate *cs, struct cairn__node *n, json_t *v,
                    const char *base, const struct cairn__seg *at,
                    const struct kwdef *k)
{
    (void)cs, (void)base, (void)at, (void)k;
    n->constv = v;
    return 0;
}

static int kw_number(struct cstate *cs, struct cairn__node *n, json_t *v,
                     const char *base, const struct cairn__seg *at,
                     const struct kwdef *k)
{
    struct cairn__num *x = FIELD(n, k, struct cairn__num);

    (void)base;
    if (!json_is_number(v))
        return schema_err(cs, at, "must be a number, got %s",
                          cairn__json_type_name(v));
    cairn__num_get(v, x);
    if (k->flag == CAIRN__NUM_MULT) {
        if (x->is_int ? x->i <= 0 : x->r <= 0)
            return schema_err(cs, at, "must be greater than 0");
        cairn__num_dec(x, &n->multiple_dec);
    }
    n->numflags |= k->flag;
    return 0;
}

/* minLength, maxItems, ...: a non-negative integer (2.0 counts). */
static int kw_size(struct cstate *cs, struct cairn__node *n, json_t *v,
                   const char *base, const struct cairn__seg *at,
                   const struct kwdef *k)
{
    struct cairn__num x;

    (void)base;
    if (!json_is_number(v))
        return schema_err(cs, at, "must be a non-negative integer, got %s",
                          cairn__json_type_name(v));
    cairn__num_get(v, &x);
    if (!cairn__num_integral(&x) || (x.is_int ? x.i < 0 : x.r < 0))
        return schema_err(cs, at, "must be a non-negative integer");
    if (x.is_int)
        *FIELD(n, k, size_t) = (size_t)x.i;
    else /* a huge bound is the same as none */
        *FIELD(n, k, size_t) = x.r >= 1e18 ? SIZE_MAX : (size_t)x.r;
    return 0;
}

static int kw_bool(struct cstate *cs, struct cairn__node *n, json_t *v,
                   const char *base, const struct cairn__seg *at,
                   const struct kwdef *k)
{
    (void)base;
    if (!json_is_boolean(v))
        return schema_err(cs, at, "must be a boolean, got %s",
                          cairn__json_type_name(v));
    *FIELD(n, k, bool) = json_is_true(v);
    return 0;
}

static int compile_regex(struct cstate *cs, const char *src, size_t len,
                         const struct cairn__seg *at,
                         const struct cairn_regex **out)
{
    struct cairn_schema *s = cs->s;
    struct cairn_regex *re;
    struct cairn_diag rd;
    char q[96];

    cairn__quote(src, len, q, sizeof(q));
    if (len > CAIRN__SCHEMA_PATTERN_MAX)
        return schema_err(cs, at,
                          "regular expression %s is longer than %d "
                          "bytes",
                          q, CAIRN__SCHEMA_PATTERN_MAX);
    cairn_diag_init(&rd);
    if (cairn_regex_compile(src, len, &re, &rd) != 0)
        return schema_err(cs, at, "invalid regular expression %s %s", q,
                          cairn_diag_msg(&rd));
    if (s->nregex == s->aregex) {
        s->aregex = s->aregex ? 2 * s->aregex : 8;
        s->regex = cairn_xrealloc(s->regex, s->aregex * sizeof(*s->regex));
    }
    s->regex[s->nregex++] = re;
    *out = re;
    return 0;
}

static int kw_pattern(struct cstate *cs, struct cairn__node *n, json_t *v,
                      const char *base, const struct cairn__seg *at,
                      const struct kwdef *k)
{
    (void)base, (void)k;
    if (!json_is_string(v))
        return schema_err(cs, at, "must be a string, got %s",
                          cairn__json_type_name(v));
    n->pattern_src = json_string_value(v);
    return compile_regex(cs, n->pattern_src, json_string_length(v), at,
                         &n->pattern);
}

static int kw_format(struct cstate *cs, struct cairn__node *n, json_t *v,
                     const char *base, const struct cairn__seg *at,
                     const struct kwdef *k)
{
    (void)base, (void)k;
    if (!json_is_string(v))
        return schema_err(cs, at, "must be a string, got %s",
                          cairn__json_type_name(v));
    /* Other formats are annotations: draft-07 lets a validator ignore them. */
    if (strcmp(json_string_value(v), "date-time") == 0)
        n->format = CAIRN__F_DATE_TIME;
    return 0;
}

static int kw_sub(struct cstate *cs, struct cairn__node *n, json_t *v,
                  const char *base, const struct cairn__seg *at,
                  const struct kwdef *k)
{
    return compile_node(cs, v, base, at, FIELD(n, k, struct cairn__node *));
}

static int compile_array(struct cstate *cs, json_t *v, const char *base,
                         const struct cairn__seg *at, struct cairn__nodes *out)
{
    size_t i;
    json_t *item;
    int rc;

    out->n = json_array_size(v);
    out->v = ARENA_NEW(cs->s, struct cairn__node *, out->n);
    json_array_foreach(v, i, item)
    {
        struct cairn__seg el = {at, NULL, 0, i, false};
        if ((rc = compile_node(cs, item, base, &el, &out->v[i])) != 0)
            return rc;
    }
    return 0;
}

static int kw_list(struct cstate *cs, struct cairn__node *n, json_t *v,
                   const char *base, const struct cairn__seg *at,
                   const struct kwdef *k)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return schema_err(cs, at, "must be a non-empty array of schemas");
    return compile_array(cs, v, base, at, FIELD(n, k, struct cairn__nodes));
}

static int kw_items(struct cstate *cs, struct cairn__node *n, json_t *v,
                    const char *base, const struct cairn__seg *at,
                    const struct kwdef *k)
{
    (void)k;
    if (!json_is_array(v))
        return compile_node(cs, v, base, at, &n->items);
    n->tuple_form = true;
    return compile_array(cs, v, base, at, &n->tuple);
}

/* An array of unique strings (required, a dependencies entry). */
static int compile_strings(struct cstate *cs, json_t *v,
                           const struct cairn__seg *at, struct cairn__str **out,
                           size_t *nout)
{
    size_t i, n = json_array_size(v);
    struct cairn__str *strs;
    json_t *item;

    if (!json_is_array(v))
        return schema_err(cs, at, "must be an array of strings");
    strs = ARENA_NEW(cs->s, struct cairn__str, n);
    json_array_foreach(v, i, item)
    {
        struct cairn__seg el = {at, NULL, 0, i, false};
        if (!json_is_string(item))
            return schema_err(cs, &el, "must be a string, got %s",
                              cairn__json_type_name(item));
        strs[i].s = json_string_value(item);
        strs[i].len = json_string_length(item);
    }
    *out = strs;
    *nout = n;
    return 0;
}

static int kw_required(struct cstate *cs, struct cairn__node *n, json_t *v,
                       const char *base, const struct cairn__seg *at,
                       const struct kwdef *k)
{
    (void)base, (void)k;
    return compile_strings(cs, v, at, &n->required, &n->nrequired);
}

static int prop_cmp(const void *a, const void *b)
{
    const struct cairn__str *x = &((const struct cairn__prop *)a)->key;
    const struct cairn__str *y = &((const struct cairn__prop *)b)->key;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->s, y->s, x->len);
}

static int kw_properties(struct cstate *cs, struct cairn__node *n, json_t *v,
                         const char *base, const struct cairn__seg *at,
                         const struct kwdef *k)
{
    const char *key;
    size_t klen, i = 0;
    json_t *sub;
    int rc;

    (void)k;
    if (!json_is_object(v))
        return schema_err(cs, at, "must be an object");
    n->nprops = json_object_size(v);
    n->props = ARENA_NEW(cs->s, struct cairn__prop, n->nprops);
    json_object_keylen_foreach(v, key, klen, sub)
    {
        struct cairn__seg el = {at, key, klen, 0, false};
        n->props[i].key.s = key;
        n->props[i].key.len = klen;
        if ((rc = compile_node(cs, sub, base, &el, &n->props[i++].node)))
            return rc;
    }
    qsort(n->props, n->nprops, sizeof(*n->props), prop_cmp);
    return 0;
}

static int kw_pattern_props(struct cstate *cs, struct cairn__node *n, json_t *v,
                            const char *base, const struct cairn__seg *at,
                            const struct kwdef *k)
{
    const char *key;
    size_t klen, i = 0;
    json_t *sub;
    int rc;

    (void)k;
    if (!json_is_object(v))
        return schema_err(cs, at, "must be an object");
    n->npprops = json_object_size(v);
    n->pprops = ARENA_NEW(cs->s, struct cairn__pprop, n->npprops);
    json_object_keylen_foreach(v, key, klen, sub)
    {
        struct cairn__seg el = {at, key, klen, 0, false};
        struct cairn__pprop *pp = &n->pprops[i++];
        if ((rc = compile_regex(cs, key, klen, &el, &pp->re)) ||
            (rc = compile_node(cs, sub, base, &el, &pp->node)))
            return rc;
    }
    return 0;
}

static int kw_dependencies(struct cstate *cs, struct cairn__node *n, json_t *v,
                           const char *base, const struct cairn__seg *at,
                           const struct kwdef *k)
{
    const char *key;
    size_t klen, i = 0;
    json_t *dep;
    int rc;

    (void)k;
    if (!json_is_object(v))
        return schema_err(cs, at, "must be an object");
    n->ndeps = json_object_size(v);
    n->deps = ARENA_NEW(cs->s, struct cairn__dep, n->ndeps);
    json_object_keylen_foreach(v, key, klen, dep)
    {
        struct cairn__seg el = {at, key, klen, 0, false};
        struct cairn__dep *d = &n->deps[i++];
        d->key.s = key;
        d->key.len = klen;
        rc = json_is_array(dep)
                 ? compile_strings(cs, dep, &el, &d->req, &d->nreq)
                 : compile_node(cs, dep, base, &el, &d->node);
        if (rc)
            return rc;
    }
    return 0;
}

/* Compiled for their errors and "$id"s; used through $ref. */
static int kw_definitions(struct cstate *cs, struct cairn__node *n, json_t *v,
                          const char *base, const struct cairn__seg *at,
                          const struct kwdef *k)
{
    const char *key;
    size_t klen;
    json_t *sub;
    struct cairn__node *unused;
    int rc;

    (void)n, (void)k;
    if (!json_is_object(v))
        return schema_err(cs, at, "must be an object");
    json_object_keylen_foreach(v, key, klen, sub)
    {
        struct cairn__seg el = {at, key, klen, 0, false};
        if ((rc = compile_node(cs, sub, base, &el, &unused)))
            return rc;
    }
    return 0;
}

#define OFF(field) offsetof(struct cairn__node, field)
#define NUM(name, field, flag)                                                 \
    {                                                                          \
        name, kw_number, OFF(field), CAIRN__HAS_NUMBER, flag                   \
    }

static const struct kwdef keywords[] = {
    {"type", kw_type, 0, 0, 0},
    {"enum", kw_enum, 0, CAIRN__HAS_VALUES, 0},
    {"const", kw_const, 0, CAIRN__HAS_VALUES, 0},
    NUM("minimum", minimum, CAIRN__NUM_MIN),
    NUM("maximum", maximum, CAIRN__NUM_MAX),
    NUM("exclusiveMinimum", xminimum, CAIRN__NUM_XMIN),
    NUM("exclusiveMaximum", xmaximum, CAIRN__NUM_XMAX),
    NUM("multipleOf", multiple, CAIRN__NUM_MULT),
    {"minLength", kw_size, OFF(min_length), CAIRN__HAS_STRING, 0},
    {"maxLength", kw_size, OFF(max_length), CAIRN__HAS_STRING, 0},
    {"pattern", kw_pattern, 0, CAIRN__HAS_STRING, 0},
    {"format", kw_format, 0, CAIRN__HAS_STRING, 0},
    {"items", kw_items, 0, CAIRN__HAS_ARRAY, 0},
    {"additionalItems", kw_sub, OFF(additional_items), CAIRN__HAS_ARRAY, 0},
    {"minItems", kw_size, OFF(min_items), CAIRN__HAS_ARRAY, 0},
    {"maxItems", kw_size, OFF(max_items), CAIRN__HAS_ARRAY, 0},
    {"uniqueItems", kw_bool, OFF(unique), CAIRN__HAS_ARRAY, 0},
    {"contains", kw_sub, OFF(contains), CAIRN__HAS_ARRAY, 0},
    {"minProperties", kw_size, OFF(min_props), CAIRN__HAS_OBJECT, 0},
    {"maxProperties", kw_size, OFF(max_props), CAIRN__HAS_OBJECT, 0},
    {"required", kw_required, 0, CAIRN__HAS_OBJECT, 0},
    {"properties", kw_properties, 0, CAIRN__HAS_OBJECT, 0},
    {"patternProperties", kw_pattern_props, 0, CAIRN__HAS_OBJECT, 0},
    {"additionalProperties", kw_sub, OFF(additional_props), CAIRN__HAS_OBJECT,
     0},
    {"propertyNames", kw_sub, OFF(property_names), CAIRN__HAS_OBJECT, 0},
    {"dependencies", kw_dependencies, 0, CAIRN__HAS_OBJECT, 0},
    {"allOf", kw_list, OFF(all), CAIRN__HAS_LOGIC, 0},
    {"anyOf", kw_list, OFF(any), CAIRN__HAS_LOGIC, 0},
    {"oneOf", kw_list, OFF(one), CAIRN__HAS_LOGIC, 0},
    {"not", kw_sub, OFF(not_s), CAIRN__HAS_LOGIC, 0},
    {"if", kw_sub, OFF(if_s), CAIRN__HAS_LOGIC, 0},
    {"then", kw_sub, OFF(then_s), 0, 0},
    {"else", kw_sub, OFF(else_s), 0, 0},
    {"definitions", kw_definitions, 0, 0, 0},
};

/* ---- nodes ---- */

/* "$id" changes the base URI of the schema and its children. *nbase is a
 * malloc'd new base, or NULL when unchanged. */
static int compile_id(struct cstate *cs, json_t *js, const char *base,
                      const struct cairn__seg *path, char **nbase)
{
    json_t *id = json_object_get(js, "$id");
    struct cairn__seg at = {path, "$id", 3, 0, false};
    char *uri, *hash;
    int rc;

    *nbase = NULL;
    if (!id)
        return 0;
    if (!json_is_string(id))
        return schema_err(cs, &at, "must be a string, got %s",
                          cairn__json_type_name(id));
    uri = cairn__uri_resolve(base, json_string_value(id));
    if ((rc = add_resource(cs, uri, js, &at)) != 0) {
        free(uri);
        return rc;
    }
    if ((hash = strchr(uri, '#')) != NULL) /* "#name": a plain-name anchor */
        *hash = '\0';
    *nbase = uri;
    return 0;
}

static int compile_ref(struct cstate *cs, struct cairn__node *n, json_t *ref,
                       const char *base, const struct cairn__seg *path)
{
    struct cairn__seg at = {path, "$ref", 4, 0, false};
    char where[512];
    struct pending *p;

    if (!json_is_string(ref))
        return schema_err(cs, &at, "must be a string, got %s",
                          cairn__json_type_name(ref));
    n->kind = CAIRN__N_REF;
    if (cs->npend == cs->apend) {
        cs->apend = cs->apend ? 2 * cs->apend : 16;
        cs->pend = cairn_xrealloc(cs->pend, cs->apend * sizeof(*cs->pend));
    }
    cairn__seg_format(&at, where, sizeof(where));
    p = &cs->pend[cs->npend++];
    p->node = n;
    p->uri = cairn__uri_resolve(base, json_string_value(ref));
    p->text = cairn_xstrdup(json_string_value(ref));
    p->where = cairn_xstrdup(where);
    return 0;
}

/* {"$ref": ...}: the other keywords are ignored (draft-07), but sibling
 * "definitions" are still compiled so that their "$id"s can be found. */
static int compile_ref_node(struct cstate *cs, struct cairn__node *n,
                            json_t *js, json_t *ref, const char *base,
                            const struct cairn__seg *path)
{
    static const struct kwdef defs = {"definitions", kw_definitions, 0, 0, 0};
    struct cairn__seg at = {path, "definitions", 11, 0, false};
    json_t *v = json_object_get(js, "definitions");
    int rc;

    if ((rc = compile_ref(cs, n, ref, base, path)) != 0 || !v)
        return rc;
    cs->depth++;
    rc = kw_definitions(cs, n, v, base, &at, &defs);
    cs->depth--;
    return rc;
}

static int compile_keywords(struct cstate *cs, struct cairn__node *n,
                            json_t *js, const char *base,
                            const struct cairn__seg *path)
{
    const struct kwdef *k;
    json_t *v;
    int rc;

    for (k = keywords; k < keywords + CAIRN_ARRAY_LEN(keywords); k++) {
        struct cairn__seg at = {path, k->name, strlen(k->name), 0, false};
        if (!(v = json_object_get(js, k->name)))
            continue;
        if ((rc = k->fn(cs, n, v, base, &at, k)) != 0)
            return rc;
        n->has |= k->group;
    }
    return 0;
}

static int compile_node(struct cstate *cs, json_t *js, const char *base,
                        const struct cairn__seg *path, struct cairn__node **out)
{
    struct cairn__node *n;
    json_t *ref;
    char *nbase = NULL;
    int rc;

    if (!json_is_object(js) && !json_is_boolean(js))
        return schema_err(cs, path,
                          "a schema must be an object or a boolean, "
                          "got %s",
                          cairn__json_type_name(js));
    if ((n = map_get(cs, js)) != NULL) {
        *out = n;
        return 0;
    }
    if (cs->depth >= CAIRN__SCHEMA_COMPILE_DEPTH)
        return schema_err(cs, path, "schemas nest deeper than %d levels",
                          CAIRN__SCHEMA_COMPILE_DEPTH);
    n = ARENA_NEW(cs->s, struct cairn__node, 1);
    n->max_length = n->max_items = n->max_props = SIZE_MAX;
    map_put(cs, js, n);
    *out = n;
    if (json_is_boolean(js)) {
        n->kind = json_is_true(js) ? CAIRN__N_TRUE : CAIRN__N_FALSE;
        return 0;
    }
    if ((ref = json_object_get(js, "$ref")) != NULL)
        return compile_ref_node(cs, n, js, ref, base, path);
    n->kind = CAIRN__N_OBJ;
    if ((rc = compile_id(cs, js, base, path, &nbase)) != 0)
        return rc;
    cs->depth++;
    rc = compile_keywords(cs, n, js, nbase ? nbase : base, path);
    cs->depth--;
    free(nbase);
    return rc;
}

/* ---- references ---- */

/* The JSON value a resolved $ref URI names: a resource, then a JSON
 * pointer or a plain-name "$id" anchor within it. */
static int ref_target(struct cstate *cs, const struct pending *p, json_t **out,
                      const char **frag)
{
    const char *hash = strchr(p->uri, '#');
    size_t doclen = hash ? (size_t)(hash - p->uri) : strlen(p->uri);
    struct resource *r = find_resource(cs, p->uri, doclen);
    char why[256];

    *frag = hash ? hash + 1 : "";
    if (!r)
        return cairn_diag_set(cs->d, CAIRN_ESCHEMA,
                              "schema #%s: \"%s\"%s%s%s is not in this "
                              "document (only references within the same "
                              "document are supported)",
                              p->where, p->text,
                              strcmp(p->text, p->uri) ? " (\"" : "",
                              strcmp(p->text, p->uri) ? p->uri : "",
                              strcmp(p->text, p->uri) ? "\")" : "");
    if (**frag != '\0' && **frag != '/') {
        r = find_resource(cs, p->uri, strlen(p->uri));
        if (!r)
            return cairn_diag_set(cs->d, CAIRN_ESCHEMA,
                                  "schema #%s: no \"$id\" names \"%s\"",
                                  p->where, p->text);
        *out = r->json;
        *frag = "";
        return 0;
    }
    if (cairn__pointer_eval(r->json, *frag, out, why, sizeof(why)) != 0)
        return cairn_diag_set(cs->d, CAIRN_ESCHEMA,
                              "schema #%s: cannot resolve \"%s\": %s", p->where,
                              p->text, why);
    return 0;
}

/* A chain of $ref that comes back to itself never reaches a real schema:
 * refuse it now rather than at every validation. */
static int check_ref_loops(struct cstate *cs)
{
    for (size_t i = 0; i < cs->npend; i++) {
        const struct cairn__node *n = cs->pend[i].node;
        size_t hops = 0;
        while (n->kind == CAIRN__N_REF && hops++ <= cs->npend)
            n = n->ref;
        if (n->kind == CAIRN__N_REF)
            return cairn_diag_set(cs->d, CAIRN_ESCHEMA,
                                  "schema #%s: $ref \"%s\" leads back to "
                                  "itself",
                                  cs->pend[i].where, cs->pend[i].text);
    }
    return 0;
}

static int resolve_refs(struct cstate *cs)
{
    /* Compiling a target may add references: npend grows in the loop. */
    for (size_t i = 0; i < cs->npend; i++) {
        struct pending p = cs->pend[i];
        const char *frag;
        json_t *target;
        int rc;
        if ((rc = ref_target(cs, &p, &target, &frag)) != 0)
            return rc;
        struct cairn__seg at = {NULL, frag, strlen(frag), 0, true};
        if ((rc = compile_node(cs, target, p.uri, &at, &p.node->ref)) != 0)
            return rc;
    }
    return check_ref_loops(cs);
}

/* Refuse documents written for another draft: their keywords would be
 * silently ignored or mean something else here. */
static int check_draft(struct cstate *cs, const json_t *root)
{
    const json_t *v =
        json_is_object(root) ? json_object_get(root, "$schema") : NULL;
    struct cairn__seg at = {NULL, "$schema", 7, 0, false};
    const char *s;

    if (!v)
        return 0;
    if (!json_is_string(v))
        return schema_err(cs, &at, "must be a string");
    s = json_string_value(v);
    if (strstr(s, "json-schema.org/draft-07/schema") ||
        strstr(s, "json-schema.org/draft-06/schema"))
        return 0;
    return schema_err(cs, &at,
                      "\"%s\" is not supported: cairn validates "
                      "JSON Schema draft-07",
                      s);
}

static void cstate_free(struct cstate *cs)
{
    for (size_t i = 0; i < cs->npend; i++) {
        free(cs->pend[i].uri);
        free(cs->pend[i].text);
        free(cs->pend[i].where);
    }
    for (size_t i = 0; i < cs->nres; i++)
        free(cs->res[i].uri);
    free(cs->pend);
    free(cs->res);
    free(cs->mkey);
    free(cs->mval);
}

int cairn_schema_compile(json_t *schema, struct cairn_schema **out,
                         struct cairn_diag *d)
{
    struct cstate cs = {0};
    struct cairn_schema *s;
    int rc;

    if (!schema || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "schema: no document");
    s = cairn_xcalloc(1, sizeof(*s));
    /* A private copy: nobody can change the strings the nodes point to. */
    s->doc = json_deep_copy(schema);
    if (!s->doc) {
        rc = cairn_diag_set(d, CAIRN_ENOMEM, "schema: out of memory");
        goto out;
    }
    cs.s = s;
    cs.d = d;
    if ((rc = check_draft(&cs, s->doc)) != 0 ||
        (rc = add_resource(&cs, "", s->doc, NULL)) != 0 ||
        (rc = compile_node(&cs, s->doc, "", NULL, &s->root)) != 0 ||
        (rc = resolve_refs(&cs)) != 0)
        goto out;
    *out = s;
    s = NULL;
out:
    cstate_free(&cs);
    cairn_schema_free(s);
    return rc;
}

void cairn_schema_free(struct cairn_schema *s)
{
    struct cairn__chunk *c, *next;

    if (!s)
        return;
    for (size_t i = 0; i < s->nregex; i++)
        cairn_regex_free(s->regex[i]);
    free(s->regex);
    for (c = s->arena; c; c = next) {
        next = c->next;
        free(c);
    }
    json_decref(s->doc);
    free(s);
}

int cairn_schema_load(const char *path, struct cairn_schema **out,
                      struct cairn_diag *d)
{
    json_error_t jerr;
    json_t *doc;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (!path || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "schema: no path");
    /* cairn_fs_read: capped, and a FIFO or device at path is refused
     * instead of blocking. */
    if ((rc = cairn_fs_read(path, CAIRN__SCHEMA_FILE_MAX, &buf, &len, d)) != 0)
        return rc;
    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (!doc)
        return cairn_diag_set(d, CAIRN_EPARSE, "%s:%d:%d: %s", path, jerr.line,
                              jerr.column, jerr.text);
    rc = cairn_schema_compile(doc, out, d);
    json_decref(doc);
    if (rc)
        cairn_diag_prefix(d, "%s", path);
    return rc;
}

int cairn_schema_embedded(const char *name, struct cairn_schema **out,
                          struct cairn_diag *d)
{
    size_t len = 0;
    const char *text = name ? cairn_embedded_get(name, &len) : NULL;
    json_error_t jerr;
    json_t *doc;
    int rc;

    if (!text || !out)
        return cairn_diag_set(d, CAIRN_ENOENT, "schema %s is not embedded",
                              name ? name : "(null)");
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return cairn_diag_set(d, CAIRN_EPARSE, "%s:%d:%d: %s", name, jerr.line,
                              jerr.column, jerr.text);
    rc = cairn_schema_compile(doc, out, d);
    json_decref(doc);
    if (rc)
        cairn_diag_prefix(d, "%s", name);
    return rc;
}
