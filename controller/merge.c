#include "merge.h"

#include <stdio.h>
#include <string.h>

#include "cairn/mem.h"
#include "jptr.h"

const char *cairn_layer_kind_name(enum cairn_layer_kind k)
{
    switch (k) {
    case CAIRN_LAYER_FLEET:
        return "fleet";
    case CAIRN_LAYER_GROUP:
        return "group";
    case CAIRN_LAYER_SITE:
        return "site";
    case CAIRN_LAYER_WORKLOAD:
        return "workload";
    case CAIRN_LAYER_MODEL:
        return "model";
    case CAIRN_LAYER_SECRET:
        return "secret";
    case CAIRN_LAYER_CONTROLLER:
        return "controller";
    }
    return "?";
}

/* True when some map inside v has a null member: such a subtree must be
 * rebuilt even with nothing under it, so that the nulls vanish. */
static int has_null_member(json_t *v)
{
    const char *k;
    json_t *c;

    if (!json_is_object(v))
        return 0; /* nulls inside lists are values, not deletions */
    json_object_foreach(v, k,
                        c) if (json_is_null(c) || has_null_member(c)) return 1;
    return 0;
}

json_t *cairn_merge2(json_t *a, json_t *b)
{
    json_t *out, *c, *prev;
    const char *k;

    if (!json_is_object(b))
        return json_incref(b);
    if (!json_is_object(a) && !has_null_member(b))
        return json_incref(b);
    out = json_object();
    if (json_is_object(a) && json_object_update(out, a) != 0)
        abort(); /* only on OOM */
    json_object_foreach(b, k, c)
    {
        if (json_is_null(c)) {
            json_object_del(out, k);
            continue;
        }
        prev = json_object_get(out, k);
        if (json_is_object(c))
            json_object_set_new(out, k, cairn_merge2(prev, c));
        else
            json_object_set(out, k, c);
    }
    return out;
}

json_t *cairn_merge_layers(const struct cairn_layer *layers, size_t n)
{
    json_t *acc = json_object();

    for (size_t i = 0; i < n; i++) {
        json_t *next;

        if (!json_is_object(layers[i].values))
            continue;
        next = cairn_merge2(acc, layers[i].values);
        json_decref(acc);
        acc = next;
    }
    return acc;
}

struct contrib {
    size_t layer;
    json_t *v;
};

/* One pointer step over the contributors: all maps (their union is the
 * merged map) or a single non-map (the value that replaced the rest). */
static size_t step(struct contrib *c, size_t nc, const char *tok)
{
    size_t out = 0;

    for (size_t i = 0; i < nc; i++) {
        json_t *child = json_object_get(c[i].v, tok);
        size_t layer = c[i].layer;

        if (!child)
            continue;
        if (json_is_null(child)) {
            out = 0;
        } else if (json_is_object(child)) {
            if (out > 0 && !json_is_object(c[out - 1].v))
                out = 0;
            c[out].layer = layer;
            c[out++].v = child;
        } else {
            c[0].layer = layer;
            c[0].v = child;
            out = 1;
        }
    }
    return out;
}

static void locate(const struct cairn_layer *l, const char *ptr,
                   struct cairn_loc *loc)
{
    char *full;

    if (!l->doc) {
        loc->file = l->file;
        loc->line = loc->col = 0;
        return;
    }
    full = cairn_xasprintf("%s%s", l->base ? l->base : "", ptr);
    *loc = cairn_yaml_locate(l->doc, full);
    free(full);
}

int cairn_merge_origin(const struct cairn_layer *layers, size_t n,
                       const char *ptr, struct cairn_origin *out)
{
    struct contrib *c = cairn_xcalloc(n ? n : 1, sizeof(*c));
    const char *p = ptr;
    size_t nc = 0;
    char tok[1024];
    int rc = CAIRN_ENOENT;

    for (size_t i = 0; i < n; i++)
        if (json_is_object(layers[i].values)) {
            c[nc].layer = i;
            c[nc++].v = layers[i].values;
        }
    while (nc > 0 && *p) {
        struct contrib last = c[nc - 1];

        p = cairn__ptr_next(p, tok, sizeof(tok));
        if (!p) {
            nc = 0;
        } else if (json_is_object(last.v)) {
            nc = step(c, nc, tok);
        } else {
            /* inside a list: only the list that won counts */
            c[0].layer = last.layer;
            c[0].v = cairn__json_child(last.v, tok);
            nc = c[0].v ? 1 : 0;
        }
    }
    if (nc > 0) {
        out->layer = &layers[c[nc - 1].layer];
        locate(out->layer, ptr, &out->loc);
        rc = 0;
    }
    free(c);
    return rc;
}

void cairn_origin_format(const struct cairn_origin *o, char *buf, size_t cap)
{
    const struct cairn_layer *l = o->layer;
    const char *kind = l ? cairn_layer_kind_name(l->kind) : "controller";
    const char *file = o->loc.file ? o->loc.file : "";

    if (l && l->name && o->loc.line > 0)
        snprintf(buf, cap, "%s:%d:%d (%s %s)", file, o->loc.line, o->loc.col,
                 kind, l->name);
    else if (l && l->name)
        snprintf(buf, cap, "%s (%s %s)", file, kind, l->name);
    else if (o->loc.line > 0)
        snprintf(buf, cap, "%s:%d:%d (%s)", file, o->loc.line, o->loc.col,
                 kind);
    else if (*file)
        snprintf(buf, cap, "%s (%s)", file, kind);
    else
        snprintf(buf, cap, "(%s)", kind);
}
