/*
 * Validation: walks the instance and the compiled schema together.
 *
 * Errors go to a "sink". At the top the sink reports every error (callback,
 * first one into the diag). anyOf / oneOf / not / if / contains first try
 * their branches with a silent sink that stops at the first failure and
 * formats nothing, so that the common, valid case stays cheap; only when
 * the keyword itself fails are the branches run again with a sink that
 * keeps their first error, to build a message that says why.
 *
 * Instance paths are chains of cairn__seg on the C stack, formatted only
 * when an error is reported. Nothing is allocated while validating except
 * propertyNames' key strings, uniqueItems' index of large arrays and the
 * work space of a regular expression over 128 instructions.
 */
#include "schema_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

enum sink_kind {
    SINK_SILENT, /* stop at the first error, say nothing */
    SINK_FIRST,  /* stop at the first error, keep it in `first` */
    SINK_REPORT, /* the caller's: every error to the callback */
};

struct first {
    char ptr[512];
    char kw[32];
    char msg[512];
};

struct sink {
    enum sink_kind kind;
    bool halt;
    struct first *first;
};

/* A $ref being followed: (site, instance) seen twice on the stack is an
 * evaluation that can never finish. */
struct rframe {
    const struct rframe *up;
    const struct cairn__node *site;
    const json_t *inst;
};

struct vctx {
    const struct cairn_schema *s;
    const struct cairn_yaml_doc *src;
    cairn_schema_error_cb cb;
    void *arg;
    struct cairn_diag *d;
    struct sink *sink;
    size_t nerrors;
    unsigned depth;
    unsigned long steps;
    const struct rframe *refs;
    bool aborted; /* a limit was hit: the whole validation fails */
    char abort_kw[32];
    char abort_ptr[512];
    char abort_msg[256];
};

static bool validate(struct vctx *c, const struct cairn__node *n, json_t *v,
                     const struct cairn__seg *path);

static bool halted(const struct vctx *c)
{
    return c->aborted || c->sink->halt;
}

/* Does the current sink read messages? If not, skip building them. */
static bool wants(const struct vctx *c)
{
    return c->sink->kind != SINK_SILENT;
}

/* Failure in a silent sink: nothing to say, stop. */
static bool silent(struct vctx *c)
{
    c->sink->halt = true;
    return false;
}

/* The one place that turns an instance pointer into file:line:col. */
static struct cairn_loc locate(const struct cairn_yaml_doc *src,
                               const char *ptr)
{
    struct cairn_loc none = {NULL, 0, 0};

    return src ? cairn_yaml_locate(src, ptr) : none;
}

static void put_trunc(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);

    if (len < n) {
        memcpy(dst, src, len + 1);
        return;
    }
    memcpy(dst, src, n - 4);
    memcpy(dst + n - 4, "...", 4);
}

/* Deliver one error to the caller. loc_ptr (may equal ptr) is where the
 * source location is looked up: the offending key for an unknown
 * property, say, while ptr names the object. */
static void emit(struct vctx *c, const char *ptr, const char *loc_ptr,
                 const char *kw, const char *msg)
{
    struct cairn_schema_error e;

    put_trunc(e.instance_ptr, sizeof(e.instance_ptr), ptr);
    snprintf(e.keyword, sizeof(e.keyword), "%s", kw);
    snprintf(e.message, sizeof(e.message), "%s", msg);
    e.loc = locate(c->src, loc_ptr);
    if (c->nerrors++ == 0) {
        const char *shown = e.instance_ptr[0] ? e.instance_ptr : "/";
        if (e.loc.file)
            cairn_diag_set(c->d, CAIRN_ESCHEMA, "%s:%d:%d: %s: %s", e.loc.file,
                           e.loc.line, e.loc.col, shown, msg);
        else
            cairn_diag_set(c->d, CAIRN_ESCHEMA, "%s: %s", shown, msg);
    }
    /* Without a callback only the first error is wanted. */
    if (!c->cb || c->cb(&e, c->arg) != 0)
        c->sink->halt = true;
}

/* Record a failure of keyword kw at path. Always returns false (the check
 * failed); halted() then says whether to go on looking for more errors. */
__attribute__((format(printf, 5, 6))) static bool
report(struct vctx *c, const struct cairn__seg *path,
       const struct cairn__seg *loc_at, const char *kw, const char *fmt, ...)
{
    char msg[512], ptr[CAIRN__PTR_MAX], lptr[CAIRN__PTR_MAX];
    struct first *f = c->sink->first;
    va_list ap;

    if (!wants(c))
        return silent(c);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->sink->kind == SINK_FIRST) {
        cairn__seg_format(path, f->ptr, sizeof(f->ptr));
        snprintf(f->kw, sizeof(f->kw), "%s", kw);
        snprintf(f->msg, sizeof(f->msg), "%s", msg);
        return silent(c);
    }
    cairn__seg_format(path, ptr, sizeof(ptr));
    if (loc_at)
        cairn__seg_format(loc_at, lptr, sizeof(lptr));
    emit(c, ptr, loc_at ? lptr : ptr, kw, msg);
    return false;
}

/* A limit was hit: fail everything, whatever sink is active. */
__attribute__((format(printf, 4, 5))) static bool
abort_validation(struct vctx *c, const struct cairn__seg *path, const char *kw,
                 const char *fmt, ...)
{
    va_list ap;

    if (c->aborted)
        return false;
    c->aborted = true;
    cairn__seg_format(path, c->abort_ptr, sizeof(c->abort_ptr));
    snprintf(c->abort_kw, sizeof(c->abort_kw), "%s", kw);
    va_start(ap, fmt);
    vsnprintf(c->abort_msg, sizeof(c->abort_msg), fmt, ap);
    va_end(ap);
    return false;
}

/* Evaluate n without reporting: the result only, or (first != NULL) the
 * first error too. */
static bool trial(struct vctx *c, const struct cairn__node *n, json_t *v,
                  const struct cairn__seg *path, struct first *first)
{
    struct sink k = {first ? SINK_FIRST : SINK_SILENT, false, first};
    struct sink *saved = c->sink;
    bool ok;

    c->sink = &k;
    ok = validate(c, n, v, path);
    c->sink = saved;
    return ok;
}

/* Run one check; on failure mark the node invalid and leave when the sink
 * has halted. Needs `c` and `ok` in scope. */
#define STEP(call)                                                             \
    do {                                                                       \
        if (!(call)) {                                                         \
            ok = false;                                                        \
            if (halted(c))                                                     \
                return false;                                                  \
        }                                                                      \
    } while (0)

/* ---- generic: type, enum, const ---- */

static bool type_ok(unsigned types, const json_t *v)
{
    struct cairn__num x;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return types & CAIRN__T_OBJECT;
    case JSON_ARRAY:
        return types & CAIRN__T_ARRAY;
    case JSON_STRING:
        return types & CAIRN__T_STRING;
    case JSON_INTEGER:
        return types & (CAIRN__T_INTEGER | CAIRN__T_NUMBER);
    case JSON_REAL:
        cairn__num_get(v, &x);
        return (types & CAIRN__T_NUMBER) ||
               ((types & CAIRN__T_INTEGER) && cairn__num_integral(&x));
    case JSON_NULL:
        return types & CAIRN__T_NULL;
    default:
        return types & CAIRN__T_BOOLEAN;
    }
}

static bool type_fail(struct vctx *c, const struct cairn__node *n,
                      const json_t *v, const struct cairn__seg *path)
{
    static const char *const names[] = {"null",   "boolean", "object", "array",
                                        "number", "string",  "integer"};
    char want[96] = "", val[96] = "";
    size_t len = 0;

    if (!wants(c))
        return silent(c);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(names); i++)
        if (n->types & (1u << i))
            len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%s",
                                    len ? " or " : "", names[i]);
    if (!json_is_object(v) && !json_is_array(v)) {
        val[0] = ' ';
        cairn__render(v, val + 1, sizeof(val) - 1);
    }
    return report(c, path, NULL, "type", "expected %s, got %s%s", want,
                  cairn__json_type_name(v), val);
}

static bool check_values(struct vctx *c, const struct cairn__node *n, json_t *v,
                         const struct cairn__seg *path)
{
    char val[128], set[256];
    bool ok = true, found = false;
    size_t i;

    if (n->enumv) {
        for (i = 0; i < json_array_size(n->enumv) && !found; i++)
            found = cairn__json_eq(v, json_array_get(n->enumv, i));
        if (!found && !wants(c))
            return silent(c);
        if (!found) {
            cairn__render(v, val, sizeof(val));
            cairn__render(n->enumv, set, sizeof(set));
            STEP(
                report(c, path, NULL, "enum", "%s is not one of %s", val, set));
        }
    }
    if (n->constv && !cairn__json_eq(v, n->constv)) {
        if (!wants(c))
            return silent(c);
        cairn__render(n->constv, set, sizeof(set));
        cairn__render(v, val, sizeof(val));
        STEP(report(c, path, NULL, "const", "must be %s, got %s", set, val));
    }
    return ok;
}

/* ---- numbers ---- */

/* "<x> <relation> <limit><suffix>" */
static bool num_fail(struct vctx *c, const struct cairn__seg *path,
                     const char *kw, const struct cairn__num *x,
                     const char *relation, const struct cairn__num *limit,
                     const char *suffix)
{
    char a[40], b[40];

    if (!wants(c))
        return silent(c);
    cairn__render_num(x, a, sizeof(a));
    cairn__render_num(limit, b, sizeof(b));
    return report(c, path, NULL, kw, "%s %s %s%s", a, relation, b, suffix);
}

static bool check_number(struct vctx *c, const struct cairn__node *n,
                         const json_t *v, const struct cairn__seg *path)
{
    struct cairn__num x;
    unsigned f = n->numflags;
    bool ok = true;

    cairn__num_get(v, &x);
    if ((f & CAIRN__NUM_MIN) && cairn__num_cmp(&x, &n->minimum) < 0)
        STEP(num_fail(c, path, "minimum", &x, "is less than the minimum",
                      &n->minimum, ""));
    if ((f & CAIRN__NUM_MAX) && cairn__num_cmp(&x, &n->maximum) > 0)
        STEP(num_fail(c, path, "maximum", &x, "is greater than the maximum",
                      &n->maximum, ""));
    if ((f & CAIRN__NUM_XMIN) && cairn__num_cmp(&x, &n->xminimum) <= 0)
        STEP(num_fail(c, path, "exclusiveMinimum", &x, "is not greater than",
                      &n->xminimum, " (exclusiveMinimum)"));
    if ((f & CAIRN__NUM_XMAX) && cairn__num_cmp(&x, &n->xmaximum) >= 0)
        STEP(num_fail(c, path, "exclusiveMaximum", &x, "is not less than",
                      &n->xmaximum, " (exclusiveMaximum)"));
    if ((f & CAIRN__NUM_MULT) &&
        !cairn__num_multiple(&x, &n->multiple, &n->multiple_dec))
        STEP(num_fail(c, path, "multipleOf", &x, "is not a multiple of",
                      &n->multiple, ""));
    return ok;
}

/* ---- strings ---- */

/* 1 match, 0 no match. cairn_regex_search runs in linear time, so it has
 * no limit to hit. */
static int re_match(const struct cairn_regex *re, const char *s, size_t len)
{
    return cairn_regex_search(re, s, len);
}

static bool check_string(struct vctx *c, const struct cairn__node *n,
                         const json_t *v, const struct cairn__seg *path)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), cps;
    char val[96], pat[96];
    bool ok = true;
    int m;

    if (n->min_length > 0 || n->max_length != SIZE_MAX) {
        cps = cairn__utf8_len(s, len);
        if ((cps < n->min_length || cps > n->max_length) && !wants(c))
            return silent(c);
        if (cps < n->min_length || cps > n->max_length)
            cairn__render(v, val, sizeof(val));
        if (cps < n->min_length)
            STEP(report(c, path, NULL, "minLength",
                        "%s is too short: %zu characters, at least %zu "
                        "required",
                        val, cps, n->min_length));
        if (cps > n->max_length)
            STEP(report(c, path, NULL, "maxLength",
                        "%s is too long: %zu characters, at most %zu allowed",
                        val, cps, n->max_length));
    }
    if (n->pattern) {
        m = re_match(n->pattern, s, len);
        if (!m && !wants(c))
            return silent(c);
        if (!m) {
            cairn__render(v, val, sizeof(val));
            cairn__quote(n->pattern_src, strlen(n->pattern_src), pat,
                         sizeof(pat));
            STEP(report(c, path, NULL, "pattern",
                        "%s does not match the pattern %s", val, pat));
        }
    }
    if (n->format == CAIRN__F_DATE_TIME && !cairn__is_date_time(s, len)) {
        if (!wants(c))
            return silent(c);
        cairn__render(v, val, sizeof(val));
        STEP(report(c, path, NULL, "format", "%s is not an RFC 3339 date-time",
                    val));
    }
    return ok;
}

/* ---- arrays ---- */

struct hix {
    uint64_t h;
    size_t i;
};

static int hix_cmp(const void *a, const void *b)
{
    const struct hix *x = a, *y = b;

    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The duplicate pair (i < j) with the smallest j, or false. Large arrays
 * are sorted by hash so that a 100k-item array is not 5e9 comparisons. */
static bool find_duplicate(const json_t *v, size_t *di, size_t *dj)
{
    size_t n = json_array_size(v), bi = 0, bj = SIZE_MAX;
    struct hix *ix;

    if (n <= 16) {
        for (size_t j = 1; j < n; j++)
            for (size_t i = 0; i < j; i++)
                if (cairn__json_eq(json_array_get(v, i),
                                   json_array_get(v, j))) {
                    *di = i, *dj = j;
                    return true;
                }
        return false;
    }
    ix = cairn_xmalloc(n * sizeof(*ix));
    for (size_t i = 0; i < n; i++)
        ix[i] = (struct hix){cairn__json_hash(json_array_get(v, i)), i};
    qsort(ix, n, sizeof(*ix), hix_cmp);
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n && ix[b].h == ix[a].h; b++)
            if (ix[b].i < bj && cairn__json_eq(json_array_get(v, ix[a].i),
                                               json_array_get(v, ix[b].i))) {
                bi = ix[a].i;
                bj = ix[b].i;
            }
    free(ix);
    *di = bi, *dj = bj;
    return bj != SIZE_MAX;
}

static bool check_contains(struct vctx *c, const struct cairn__node *n,
                           json_t *v, const struct cairn__seg *path)
{
    size_t i;
    json_t *item;

    json_array_foreach(v, i, item)
    {
        struct cairn__seg el = {path, NULL, 0, i, false};
        if (trial(c, n->contains, item, &el, NULL))
            return true;
        if (c->aborted)
            return false;
    }
    return report(c, path, NULL, "contains",
                  json_array_size(v) ? "no item matches the \"contains\" "
                                       "schema"
                                     : "is empty, but must contain an item "
                                       "matching the \"contains\" schema");
}

static bool check_items(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    size_t i, len = json_array_size(v);
    const struct cairn__node *sub;
    bool ok = true;

    for (i = 0; i < len; i++) {
        struct cairn__seg el = {path, NULL, 0, i, false};
        if (!n->tuple_form)
            sub = n->items;
        else if (i < n->tuple.n)
            sub = n->tuple.v[i];
        else
            sub = n->additional_items;
        if (!sub || sub->kind == CAIRN__N_TRUE)
            continue;
        if (n->tuple_form && i >= n->tuple.n && sub->kind == CAIRN__N_FALSE)
            return report(c, path, &el, "additionalItems",
                          "has %zu items, but only %zu are allowed "
                          "(additionalItems is false)",
                          len, n->tuple.n);
        STEP(validate(c, sub, json_array_get(v, i), &el));
    }
    return ok;
}

static bool check_array(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    size_t len = json_array_size(v), i, j;
    bool ok = true;

    if (len < n->min_items)
        STEP(report(c, path, NULL, "minItems",
                    "has %zu item%s, at least %zu required", len,
                    len == 1 ? "" : "s", n->min_items));
    if (len > n->max_items)
        STEP(report(c, path, NULL, "maxItems",
                    "has %zu items, at most %zu allowed", len, n->max_items));
    if (n->items || n->tuple_form)
        STEP(check_items(c, n, v, path));
    if (n->contains)
        STEP(check_contains(c, n, v, path));
    if (n->unique && len > 1 && find_duplicate(v, &i, &j)) {
        struct cairn__seg el = {path, NULL, 0, j, false};
        STEP(report(c, path, &el, "uniqueItems",
                    "items %zu and %zu are equal (uniqueItems)", i, j));
    }
    return ok;
}

/* ---- objects ---- */

static const struct cairn__node *find_prop(const struct cairn__node *n,
                                           const char *key, size_t len)
{
    size_t lo = 0, hi = n->nprops;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cairn__str *k = &n->props[mid].key;
        int cmp =
            k->len != len ? (k->len < len ? -1 : 1) : memcmp(k->s, key, len);
        if (cmp == 0)
            return n->props[mid].node;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* properties, patternProperties and additionalProperties for one key. */
static bool check_member(struct vctx *c, const struct cairn__node *n,
                         const char *key, size_t klen, json_t *child,
                         const struct cairn__seg *path)
{
    struct cairn__seg el = {path, key, klen, 0, false};
    const struct cairn__node *sub = find_prop(n, key, klen);
    bool ok = true, matched = sub != NULL;
    char q[160];
    int m;

    if (sub)
        STEP(validate(c, sub, child, &el));
    for (size_t i = 0; i < n->npprops; i++) {
        m = re_match(n->pprops[i].re, key, klen);
        if (m) {
            matched = true;
            STEP(validate(c, n->pprops[i].node, child, &el));
        }
    }
    if (matched || !n->additional_props)
        return ok;
    if (n->additional_props->kind != CAIRN__N_FALSE)
        return validate(c, n->additional_props, child, &el) && ok;
    if (!wants(c))
        return silent(c);
    cairn__quote(key, klen, q, sizeof(q));
    return report(c, path, &el, "additionalProperties",
                  "unknown property %s (additionalProperties is false)", q);
}

static bool check_names(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    const char *key;
    size_t klen;
    json_t *child, *name;
    struct first f;
    char q[160];
    bool ok = true, good;

    json_object_keylen_foreach(v, key, klen, child)
    {
        struct cairn__seg el = {path, key, klen, 0, false};
        if (!(name = json_stringn_nocheck(key, klen)))
            abort(); /* out of memory */
        good = trial(c, n->property_names, name, &el, wants(c) ? &f : NULL);
        json_decref(name);
        if (good)
            continue;
        if (c->aborted)
            return false;
        if (!wants(c))
            return silent(c);
        cairn__quote(key, klen, q, sizeof(q));
        STEP(report(c, path, &el, "propertyNames",
                    "property name %s is invalid: %s", q, f.msg));
    }
    return ok;
}

static bool check_deps(struct vctx *c, const struct cairn__node *n, json_t *v,
                       const struct cairn__seg *path)
{
    char a[160], b[160];
    bool ok = true;

    for (size_t i = 0; i < n->ndeps; i++) {
        const struct cairn__dep *d = &n->deps[i];
        if (!json_object_getn(v, d->key.s, d->key.len))
            continue;
        if (d->node) {
            STEP(validate(c, d->node, v, path));
            continue;
        }
        for (size_t r = 0; r < d->nreq; r++) {
            if (json_object_getn(v, d->req[r].s, d->req[r].len))
                continue;
            if (!wants(c))
                return silent(c);
            cairn__quote(d->key.s, d->key.len, a, sizeof(a));
            cairn__quote(d->req[r].s, d->req[r].len, b, sizeof(b));
            STEP(report(c, path, NULL, "dependencies",
                        "property %s requires property %s", a, b));
        }
    }
    return ok;
}

static bool check_object(struct vctx *c, const struct cairn__node *n, json_t *v,
                         const struct cairn__seg *path)
{
    size_t count = json_object_size(v), klen;
    const char *key;
    json_t *child;
    char q[160];
    bool ok = true;

    if (count < n->min_props)
        STEP(report(c, path, NULL, "minProperties",
                    "has %zu propert%s, at least %zu required", count,
                    count == 1 ? "y" : "ies", n->min_props));
    if (count > n->max_props)
        STEP(report(c, path, NULL, "maxProperties",
                    "has %zu properties, at most %zu allowed", count,
                    n->max_props));
    /* Members first, in document order: for a oneOf over "kind"s the
     * first error of a branch is then its "kind" mismatch, not the
     * properties that kind would require. */
    if (n->nprops || n->npprops || n->additional_props)
        json_object_keylen_foreach(v, key, klen, child)
            STEP(check_member(c, n, key, klen, child, path));
    for (size_t i = 0; i < n->nrequired; i++) {
        const struct cairn__str *r = &n->required[i];
        if (json_object_getn(v, r->s, r->len))
            continue;
        if (!wants(c))
            return silent(c);
        cairn__quote(r->s, r->len, q, sizeof(q));
        STEP(report(c, path, NULL, "required", "missing required property %s",
                    q));
    }
    if (n->property_names && n->property_names->kind != CAIRN__N_TRUE)
        STEP(check_names(c, n, v, path));
    if (n->ndeps)
        STEP(check_deps(c, n, v, path));
    return ok;
}

/* ---- anyOf, oneOf, not, if ---- */

/* Why every branch failed: the first error of each, leaving out branches
 * that wanted another type of value when some did not (those are rarely
 * the one the author meant). */
static bool fail_branches(struct vctx *c, const struct cairn__nodes *br,
                          json_t *v, const struct cairn__seg *path,
                          const char *kw)
{
    struct first *f = cairn_xcalloc(br->n, sizeof(*f));
    char here[sizeof(f->ptr)], sum[480] = ""; /* cut like f->ptr */
    size_t len = 0, typed = 0, shown = 0;
    bool mismatch;

    cairn__seg_format(path, here, sizeof(here));
    for (size_t i = 0; i < br->n; i++) {
        if (trial(c, br->v[i], v, path, &f[i]) || c->aborted) {
            free(f);
            return c->aborted ? false : true; /* cannot happen twice */
        }
        typed += strcmp(f[i].kw, "type") == 0 && strcmp(f[i].ptr, here) == 0;
    }
    for (size_t i = 0; i < br->n && len < sizeof(sum) - 1; i++) {
        mismatch = strcmp(f[i].kw, "type") == 0 && strcmp(f[i].ptr, here) == 0;
        if (mismatch && typed < br->n)
            continue;
        /* a branch's error elsewhere than here names its own pointer */
        len += (size_t)snprintf(sum + len, sizeof(sum) - len, "%s#%zu: %s%s%s",
                                shown++ ? "; " : "", i,
                                strcmp(f[i].ptr, here) ? f[i].ptr : "",
                                strcmp(f[i].ptr, here) ? ": " : "", f[i].msg);
    }
    free(f);
    if (typed < br->n && typed > 0 && len < sizeof(sum) - 1)
        snprintf(sum + len, sizeof(sum) - len,
                 "; %zu schema%s for other types not shown", typed,
                 typed == 1 ? "" : "s");
    return report(c, path, NULL, kw, "matches none of the %s schemas: %s", kw,
                  sum);
}

static bool check_anyof(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    for (size_t i = 0; i < n->any.n; i++) {
        if (trial(c, n->any.v[i], v, path, NULL))
            return true;
        if (c->aborted)
            return false;
    }
    if (!wants(c))
        return silent(c);
    return fail_branches(c, &n->any, v, path, "anyOf");
}

static bool check_oneof(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    size_t first_ok = SIZE_MAX;

    for (size_t i = 0; i < n->one.n; i++) {
        if (!trial(c, n->one.v[i], v, path, NULL)) {
            if (c->aborted)
                return false;
            continue;
        }
        if (first_ok == SIZE_MAX) {
            first_ok = i;
            continue;
        }
        return report(c, path, NULL, "oneOf",
                      "matches more than one of the oneOf schemas (#%zu and "
                      "#%zu), but must match exactly one",
                      first_ok, i);
    }
    if (first_ok != SIZE_MAX)
        return true;
    if (!wants(c))
        return silent(c);
    return fail_branches(c, &n->one, v, path, "oneOf");
}

static bool check_logic(struct vctx *c, const struct cairn__node *n, json_t *v,
                        const struct cairn__seg *path)
{
    const struct cairn__node *next;
    bool ok = true;

    for (size_t i = 0; i < n->all.n; i++)
        STEP(validate(c, n->all.v[i], v, path));
    if (n->any.n)
        STEP(check_anyof(c, n, v, path));
    if (n->one.n)
        STEP(check_oneof(c, n, v, path));
    if (n->not_s) {
        if (trial(c, n->not_s, v, path, NULL))
            STEP(report(c, path, NULL, "not",
                        "must not match the \"not\" schema"));
        else if (c->aborted)
            return false;
    }
    if (n->if_s) {
        bool cond = trial(c, n->if_s, v, path, NULL);
        if (c->aborted)
            return false;
        next = cond ? n->then_s : n->else_s;
        if (next)
            STEP(validate(c, next, v, path));
    }
    return ok;
}

/* ---- nodes ---- */

static bool check_node(struct vctx *c, const struct cairn__node *n, json_t *v,
                       const struct cairn__seg *path)
{
    unsigned has = n->has;
    bool ok = true;

    if (n->types && !type_ok(n->types, v))
        return type_fail(c, n, v, path); /* the rest would only add noise */
    if (has & CAIRN__HAS_VALUES)
        STEP(check_values(c, n, v, path));
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL:
        if (n->numflags)
            STEP(check_number(c, n, v, path));
        break;
    case JSON_STRING:
        if (has & CAIRN__HAS_STRING)
            STEP(check_string(c, n, v, path));
        break;
    case JSON_ARRAY:
        if (has & CAIRN__HAS_ARRAY)
            STEP(check_array(c, n, v, path));
        break;
    case JSON_OBJECT:
        if (has & CAIRN__HAS_OBJECT)
            STEP(check_object(c, n, v, path));
        break;
    default:
        break;
    }
    if (has & CAIRN__HAS_LOGIC)
        STEP(check_logic(c, n, v, path));
    return ok;
}

static bool follow_ref(struct vctx *c, const struct cairn__node *n, json_t *v,
                       const struct cairn__seg *path)
{
    struct rframe fr = {c->refs, n, v};
    bool ok;

    for (const struct rframe *f = c->refs; f; f = f->up)
        if (f->site == n && f->inst == v)
            return abort_validation(c, path, "$ref",
                                    "the schema refers back to itself "
                                    "without looking inside the value "
                                    "(endless $ref recursion)");
    c->refs = &fr;
    ok = validate(c, n->ref, v, path);
    c->refs = fr.up;
    return ok;
}

static bool validate(struct vctx *c, const struct cairn__node *n, json_t *v,
                     const struct cairn__seg *path)
{
    bool ok;

    if (n->kind == CAIRN__N_TRUE)
        return true;
    if (n->kind == CAIRN__N_FALSE)
        return report(c, path, NULL, "false",
                      "no value is allowed here (the schema is false)");
    if (++c->steps > CAIRN__SCHEMA_STEPS)
        return abort_validation(c, path, "limit",
                                "validation takes more than %lu steps; is "
                                "the schema recursive?",
                                CAIRN__SCHEMA_STEPS);
    if (c->depth >= CAIRN__SCHEMA_EVAL_DEPTH)
        return abort_validation(c, path, "limit",
                                "schemas nest deeper than %d levels here; is "
                                "the schema recursive?",
                                CAIRN__SCHEMA_EVAL_DEPTH);
    c->depth++;
    ok = n->kind == CAIRN__N_REF ? follow_ref(c, n, v, path)
                                 : check_node(c, n, v, path);
    c->depth--;
    return ok;
}

int cairn_schema_validate(const struct cairn_schema *s, json_t *instance,
                          const struct cairn_yaml_doc *src,
                          cairn_schema_error_cb cb, void *arg,
                          struct cairn_diag *d)
{
    struct sink top = {SINK_REPORT, false, NULL};
    struct vctx ctx, *c = &ctx;
    bool ok;

    if (!s || !instance)
        return cairn_diag_set(d, CAIRN_EINVAL, "schema: nothing to validate");
    memset(c, 0, offsetof(struct vctx, abort_kw)); /* buffers: on abort */
    c->s = s;
    c->src = src;
    c->cb = cb;
    c->arg = arg;
    c->d = d;
    c->sink = &top;
    ok = validate(c, s->root, instance, NULL);
    if (c->aborted && !top.halt)
        emit(c, c->abort_ptr, c->abort_ptr, c->abort_kw, c->abort_msg);
    if (!ok && c->nerrors == 0) /* cannot happen; never report "valid" */
        cairn_diag_set(d, CAIRN_ESCHEMA, "/: invalid");
    return ok && !c->aborted ? 0 : CAIRN_ESCHEMA;
}
