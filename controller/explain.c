#include "explain.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "jptr.h"
#include "merge.h"
#include "render.h"
#include "template.h"

#define SHOW_MAX 72 /* longer strings are cut in the listing */

struct ex {
    const struct cairn_fleet *f;
    const struct cairn_fdoc *site;
    struct cairn_layer *layers;
    size_t nlayers;
    json_t *raw; /* merged values before their templates */
    json_t *payload;
    FILE *out;
    struct cairn_buf line;
};

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);

    return n >= m && strcmp(s + n - m, suf) == 0;
}

static void add(struct ex *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(struct ex *x, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (cairn_buf_append(&x->line, tmp, strlen(tmp)) != 0)
        abort();
}

static void add_loc(struct ex *x, const struct cairn_fdoc *doc, const char *ptr,
                    const char *layer)
{
    struct cairn_loc l = cairn_fdoc_loc(doc, ptr);

    add(x, "%s:%d:%d (%s)", doc->path, l.line, l.col, layer);
}

static void add_values_origin(struct ex *x, const char *ptr)
{
    struct cairn_origin o;
    char buf[512];

    if (cairn_merge_origin(x->layers, x->nlayers, ptr, &o) != 0) {
        add(x, "(not set)");
        return;
    }
    cairn_origin_format(&o, buf, sizeof(buf));
    add(x, "%s", buf);
}

/* For "{{ values.a.b }}" in a source string: "; {{ values.a.b }} from ..." */
static void add_ref(const char *expr, void *arg)
{
    struct ex *x = arg;

    add(x, "; {{ %s }} from ", expr);
    if (strncmp(expr, "values.", 7) == 0) {
        struct cairn_buf p;
        const char *s = expr + 7;

        cairn_buf_init(&p, 0);
        while (*s) {
            size_t n = strcspn(s, ".");
            char *seg = cairn_xstrndup(s, n);

            cairn__ptr_push(&p, seg);
            free(seg);
            s += n + (s[n] == '.');
        }
        add_values_origin(x, p.data ? p.data : "");
        cairn_buf_free(&p);
    } else if (strcmp(expr, "site.name") == 0) {
        add_loc(x, x->site, "/name", "site");
    } else {
        struct cairn_buf p;

        cairn_buf_init(&p, 0);
        cairn__ptr_push(&p, "labels");
        cairn__ptr_push(&p, expr + strlen("site.labels."));
        add_loc(x, x->site, p.data, "site");
        cairn_buf_free(&p);
    }
}

static void add_refs(struct ex *x, json_t *raw)
{
    if (json_is_string(raw) && cairn_tmpl_has(json_string_value(raw)))
        cairn_tmpl_foreach(json_string_value(raw), add_ref, x);
}

/* "ptr = value  " with long strings cut. */
static void start_line(struct ex *x, const char *prefix, const char *ptr,
                       json_t *v)
{
    char *text = cairn__json_canon(v, NULL);
    size_t n = strlen(text);

    cairn_buf_reset(&x->line);
    if (json_is_string(v) && n > SHOW_MAX)
        add(x, "%s%s = %.*s...\" (%zu bytes)  ", prefix, ptr, SHOW_MAX - 12,
            text, json_string_length(v));
    else
        add(x, "%s%s = %s  ", prefix, ptr, text);
    free(text);
}

static void values_leaf(const char *ptr, json_t *v, void *arg)
{
    struct ex *x = arg;

    start_line(x, "/values", ptr, v);
    add_values_origin(x, ptr);
    add_refs(x, cairn__ptr_get(x->raw, ptr));
    fprintf(x->out, "%s\n", x->line.data);
}

/* /workloads/<i>/name: the values.workloads entry that named it. */
static void add_workload_name(struct ex *x, const char *name)
{
    json_t *list = json_object_get(x->raw, "workloads"), *n;
    char ptr[64];
    size_t k;

    json_array_foreach(list, k, n) if (json_is_string(n) &&
                                       strcmp(json_string_value(n), name) == 0)
    {
        snprintf(ptr, sizeof(ptr), "/workloads/%zu", k);
        add_values_origin(x, ptr);
        return;
    }
    add(x, "(controller)");
}

/* A model field: name/version from the workload, the rest from the
 * Model file and its attestation. */
static void add_model(struct ex *x, const struct cairn_fdoc *wl, json_t *pw,
                      const char *field, const char *rest, const char *wptr)
{
    json_t *m = json_object_get(pw, "model");
    const struct cairn_fleet_model *fm =
        cairn_fleet_model(x->f, json_string_value(json_object_get(m, "name")),
                          json_string_value(json_object_get(m, "version")));
    char *p;

    if (strcmp(field, "name") == 0 || strcmp(field, "version") == 0 || !fm) {
        add_loc(x, wl, wptr, "workload");
        add_refs(x, cairn__ptr_get(wl->root, wptr));
    } else if (strcmp(field, "attestation") == 0) {
        add(x, "%s (model)", fm->att_path);
    } else {
        p = cairn_xasprintf("/artifact/%s%s", field, rest);
        add_loc(x, fm->doc, p, "model");
        free(p);
    }
}

/* A files[] field: the workload's entry, or what the controller adds. */
static void add_file(struct ex *x, const struct cairn_fdoc *wl,
                     const char *wptr, const char *field)
{
    char *from =
        cairn_xasprintf("%.*sfrom", (int)(strrchr(wptr, '/') - wptr + 1), wptr);

    if (strcmp(field, "sha256") == 0)
        add(x, "(controller: sha256 of the content)");
    else if (strcmp(field, "content") == 0 && cairn__ptr_get(wl->root, from)) {
        add_loc(x, wl, from, "workload");
        add(x, "; the file %s",
            json_string_value(cairn__ptr_get(wl->root, from)));
    } else if (!cairn__ptr_get(wl->root, wptr)) {
        add(x, "(default)");
    } else {
        add_loc(x, wl, wptr, "workload");
        add_refs(x, cairn__ptr_get(wl->root, wptr));
    }
    free(from);
}

/* secrets/<j>/name is the workload's entry; secrets/<j>/sealed the file. */
static void add_secret(struct ex *x, const struct cairn_fdoc *wl, json_t *pw,
                       const char *wptr, const char *j)
{
    json_t *e = cairn__json_child(json_object_get(pw, "secrets"), j);
    char *entry = cairn_xasprintf("/secrets/%s", j);

    if (has_suffix(wptr, "/sealed"))
        add(x, "secrets/%s/%s.sealed (secret)", x->site->name,
            json_string_value(json_object_get(e, "name")));
    else
        add_loc(x, wl, entry, "workload");
    free(entry);
}

/* Everything under /workloads/<i>: wptr is the rest, the same pointer
 * in the workload file for most fields. */
static void add_workload(struct ex *x, const char *ptr)
{
    const char *idx = ptr + strlen("/workloads/"),
               *wptr = idx + strcspn(idx, "/");
    char *i = cairn_xstrndup(idx, (size_t)(wptr - idx));
    json_t *pw = cairn__json_child(json_object_get(x->payload, "workloads"), i);
    const struct cairn_fdoc *wl = cairn_fleet_workload(
        x->f, json_string_value(json_object_get(pw, "name")));
    char field[64] = "", sub[256] = "";
    const char *rest =
        *wptr ? cairn__ptr_next(wptr, field, sizeof(field)) : NULL;

    if (rest && *rest && !cairn__ptr_next(rest, sub, sizeof(sub)))
        sub[0] = '\0';
    if (!wl || !*wptr)
        add(x, "(controller)");
    else if (strcmp(field, "name") == 0)
        add_workload_name(x, wl->name);
    else if (strcmp(field, "model") == 0)
        add_model(x, wl, pw, sub, rest + 1 + strlen(sub), wptr);
    else if (strcmp(field, "secrets") == 0)
        add_secret(x, wl, pw, wptr, sub);
    else if (strcmp(field, "files") == 0)
        add_file(x, wl, wptr, strrchr(wptr, '/') + 1);
    else if (!cairn__ptr_get(wl->root, wptr))
        add(x, "(default)");
    else {
        add_loc(x, wl, wptr, "workload");
        add_refs(x, cairn__ptr_get(wl->root, wptr));
    }
    free(i);
}

static void payload_leaf(const char *ptr, json_t *v, void *arg)
{
    struct ex *x = arg;

    start_line(x, "", ptr, v);
    if (strncmp(ptr, "/workloads/", 11) == 0)
        add_workload(x, ptr);
    else if (strcmp(ptr, "/site") == 0)
        add_loc(x, x->site, "/name", "site");
    else if (strcmp(ptr, "/issued") == 0)
        add(x, "(controller: time of issue)");
    else if (strcmp(ptr, "/expires") == 0 &&
             cairn__ptr_get(x->f->fleet->root,
                            "/policy/desiredStateTTLHours")) {
        add(x, "(controller: issued + %lld h) ", (long long)x->f->ttl_hours);
        add_loc(x, x->f->fleet, "/policy/desiredStateTTLHours", "fleet");
    } else if (strcmp(ptr, "/expires") == 0)
        add(x, "(controller: issued + the default %lld h)",
            (long long)x->f->ttl_hours);
    else
        add(x, "(controller)");
    fprintf(x->out, "%s\n", x->line.data);
}

void cairn_explain_site(const struct cairn_fleet *f,
                        const struct cairn_fdoc *site, json_t *payload,
                        FILE *out)
{
    struct ex x;
    struct cairn_errlist errs;
    json_t *values = NULL;

    memset(&x, 0, sizeof(x));
    x.f = f;
    x.site = site;
    x.payload = payload;
    x.out = out;
    cairn_buf_init(&x.line, 0);
    cairn_site_layers(f, site, &x.layers, &x.nlayers);
    x.raw = cairn_merge_layers(x.layers, x.nlayers);
    fprintf(out, "# %s: merged values (fleet", site->name);
    for (size_t i = 1; i + 1 < x.nlayers; i++)
        fprintf(out, ", group %s", x.layers[i].name);
    fprintf(out, ", site)\n");
    cairn_errlist_init(&errs, 0);
    if (cairn_site_values(f, site, x.layers, x.nlayers, &errs, &values) == 0)
        cairn__json_leaves(values, values_leaf, &x);
    cairn_errlist_free(&errs);
    fprintf(out, "# %s: desired state\n", site->name);
    cairn__json_leaves(payload, payload_leaf, &x);
    json_decref(values);
    json_decref(x.raw);
    free(x.layers);
    cairn_buf_free(&x.line);
}
