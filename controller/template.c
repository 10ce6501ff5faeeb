#include "template.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/json.h"
#include "cairn/mem.h"
#include "jptr.h"

#define EXPR_MAX 512

int cairn_tmpl_has(const char *s)
{
    return strstr(s, "{{") != NULL;
}

static int expr_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
           c == '/';
}

/* Text of the expression between "{{" and "}}", trimmed, into expr.
 * Returns the position after "}}", or NULL (message in d). */
static const char *scan_expr(const char *open, char *expr, struct cairn_diag *d)
{
    const char *b = open + 2, *close = strstr(b, "}}"), *e;
    size_t n;

    if (!close)
        return cairn_diag_set(d, CAIRN_ETEMPLATE,
                              "unterminated {{ (no closing }})"),
               NULL;
    e = close;
    while (b < e && (*b == ' ' || *b == '\t'))
        b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    n = (size_t)(e - b);
    if (n == 0 || n >= EXPR_MAX)
        return cairn_diag_set(d, CAIRN_ETEMPLATE,
                              "%s template expression {{%.*s}}",
                              n ? "overlong" : "empty", n ? 40 : 0, b),
               NULL;
    for (size_t i = 0; i < n; i++)
        if (!expr_char_ok(b[i]))
            return cairn_diag_set(d, CAIRN_ETEMPLATE,
                                  "unsupported template expression {{ %.*s }}: "
                                  "templates are substitution only "
                                  "(values.a.b, site.name, site.labels.k)",
                                  (int)n, b),
                   NULL;
    memcpy(expr, b, n);
    expr[n] = '\0';
    return close + 2;
}

/* Walk "a.b.c" through values; names the first missing step in d. */
static json_t *lookup_values(json_t *values, const char *path, const char *expr,
                             struct cairn_diag *d)
{
    char seg[EXPR_MAX];
    json_t *cur = values;
    const char *p = path;

    if (!*p)
        return cairn_diag_set(d, CAIRN_ETEMPLATE,
                              "unknown name \"%s\" in {{ %s }}", expr, expr),
               NULL;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        json_t *next;

        memcpy(seg, p, n);
        seg[n] = '\0';
        next = n ? cairn__json_child(cur, seg) : NULL;
        if (!next) {
            int at = (int)(p - expr) - 1;

            return cairn_diag_set(
                       d, CAIRN_ETEMPLATE,
                       "unknown name \"%s\" in {{ %s }} (%.*s has no \"%s\")",
                       expr, expr, at, expr, seg),
                   NULL;
        }
        cur = next;
        p += n;
        if (*p == '.' && p[1] == '\0')
            return cairn_diag_set(d, CAIRN_ETEMPLATE,
                                  "unknown name \"%s\" in {{ %s }}", expr,
                                  expr),
                   NULL;
        if (*p == '.')
            p++;
    }
    return cur;
}

static json_t *resolve(const char *expr, const struct cairn_tmpl_ctx *ctx,
                       json_t **tmp, struct cairn_diag *d)
{
    if (strcmp(expr, "values") == 0)
        return ctx->values ? ctx->values : (*tmp = json_object());
    if (strncmp(expr, "values.", 7) == 0)
        return lookup_values(ctx->values, expr + 7, expr, d);
    if (strcmp(expr, "site.name") == 0)
        return *tmp = json_string(ctx->site ? ctx->site : "");
    if (strcmp(expr, "site") == 0 || strcmp(expr, "site.labels") == 0)
        return *tmp = json_object();
    if (strncmp(expr, "site.labels.", 12) == 0) {
        json_t *v = json_object_get(ctx->labels, expr + 12);

        if (!v)
            cairn_diag_set(d, CAIRN_ETEMPLATE,
                           "unknown name \"%s\" in {{ %s }} (the site has no "
                           "label \"%s\")",
                           expr, expr, expr + 12);
        return v;
    }
    return cairn_diag_set(
               d, CAIRN_ETEMPLATE,
               "unknown name \"%s\" in {{ %s }} (names are values.*, "
               "site.name and site.labels.*)",
               expr, expr),
           NULL;
}

static int append_value(struct cairn_buf *b, json_t *v, const char *expr,
                        struct cairn_diag *d)
{
    char num[64];
    const char *what = NULL;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return cairn_buf_append(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return cairn_buf_append(b, num, strlen(num));
    case JSON_REAL: {
        /* the same text the number has in the canonical payload */
        char *t = cairn_json_canonical(v);
        int rc = cairn_buf_append(b, t, strlen(t));

        free(t);
        return rc;
    }
    case JSON_TRUE:
        return cairn_buf_append(b, "true", 4);
    case JSON_FALSE:
        return cairn_buf_append(b, "false", 5);
    case JSON_OBJECT:
        what = "is a map";
        break;
    case JSON_ARRAY:
        what = "is a list";
        break;
    case JSON_NULL:
        what = "is null";
        break;
    }
    return cairn_diag_set(d, CAIRN_ETEMPLATE,
                          "{{ %s }} %s, not a string, number or boolean", expr,
                          what);
}

int cairn_tmpl_expand(const char *s, const struct cairn_tmpl_ctx *ctx,
                      char **out, struct cairn_diag *d)
{
    struct cairn_buf b;
    const char *p = s, *open;
    char expr[EXPR_MAX];
    int rc = 0;

    if (!cairn_tmpl_has(s)) {
        *out = NULL;
        return 0;
    }
    cairn_buf_init(&b, CAIRN_TMPL_MAX_OUT);
    while (rc == 0 && (open = strstr(p, "{{")) != NULL) {
        json_t *tmp = NULL, *v;

        rc = cairn_buf_append(&b, p, (size_t)(open - p));
        if (rc)
            break;
        p = scan_expr(open, expr, d);
        if (!p)
            return cairn_buf_free(&b), CAIRN_ETEMPLATE;
        v = resolve(expr, ctx, &tmp, d);
        rc = v ? append_value(&b, v, expr, d) : CAIRN_ETEMPLATE;
        json_decref(tmp);
    }
    if (rc == 0)
        rc = cairn_buf_append(&b, p, strlen(p));
    if (rc == CAIRN_ETOOBIG)
        cairn_diag_set(d, rc, "template expands past %u bytes",
                       CAIRN_TMPL_MAX_OUT);
    if (rc) {
        cairn_buf_free(&b);
        return rc;
    }
    *out = cairn_buf_steal(&b, NULL);
    return 0;
}

struct tree_ctx {
    const struct cairn_tmpl_ctx *ctx;
    cairn_tmpl_err_fn on_err;
    void *arg;
    int failed;
};

/* Where the walk is: a chain on the stack, made into a JSON pointer only
 * when an error needs it (the success path never formats pointers). */
struct frame {
    const struct frame *up;
    const char *key; /* NULL: an array element */
    size_t idx;
};

static void frame_ptr(const struct frame *f, struct cairn_buf *b)
{
    if (!f)
        return;
    frame_ptr(f->up, b);
    if (f->key)
        cairn__ptr_push(b, f->key);
    else
        cairn__ptr_push_index(b, f->idx);
}

static void report(struct tree_ctx *t, const struct frame *at,
                   const struct cairn_diag *d)
{
    struct cairn_buf b;

    t->failed = 1;
    if (!t->on_err)
        return;
    cairn_buf_init(&b, 0);
    if (cairn_buf_append(&b, "", 0) != 0)
        abort();
    frame_ptr(at, &b);
    t->on_err(b.data, d, t->arg);
    cairn_buf_free(&b);
}

static json_t *expand_node(json_t *v, struct tree_ctx *t,
                           const struct frame *at);

static json_t *expand_string(json_t *v, struct tree_ctx *t,
                             const struct frame *at)
{
    struct cairn_diag d;
    char *s = NULL;
    json_t *out;

    if (!cairn_tmpl_has(json_string_value(v)))
        return json_incref(v);
    cairn_diag_init(&d);
    if (cairn_tmpl_expand(json_string_value(v), t->ctx, &s, &d) != 0) {
        report(t, at, &d);
        return NULL;
    }
    out = json_string(s);
    free(s);
    if (!out) { /* never: pieces of valid UTF-8 joined stay valid */
        cairn_diag_set(&d, CAIRN_ETEMPLATE,
                       "template expands to invalid UTF-8");
        report(t, at, &d);
    }
    return out;
}

static json_t *expand_object(json_t *v, struct tree_ctx *t,
                             const struct frame *at)
{
    json_t *out = NULL, *c;
    const char *k;

    json_object_foreach(v, k, c)
    {
        struct frame f = {at, k, 0};
        json_t *nc = expand_node(c, t, &f);

        if (nc && nc != c && !out) {
            out = json_object();
            if (json_object_update(out, v) != 0)
                abort();
        }
        if (nc && out)
            json_object_set(out, k, nc);
        json_decref(nc);
    }
    return out ? out : json_incref(v);
}

static json_t *expand_array(json_t *v, struct tree_ctx *t,
                            const struct frame *at)
{
    json_t *out = NULL;

    for (size_t i = 0; i < json_array_size(v); i++) {
        struct frame f = {at, NULL, i};
        json_t *c = json_array_get(v, i), *nc = expand_node(c, t, &f);

        if (nc && nc != c && !out)
            out = json_copy(v);
        if (nc && out)
            json_array_set(out, i, nc);
        json_decref(nc);
    }
    return out ? out : json_incref(v);
}

/* New reference: v itself when unchanged. NULL only after an error. */
static json_t *expand_node(json_t *v, struct tree_ctx *t,
                           const struct frame *at)
{
    if (json_is_string(v))
        return expand_string(v, t, at);
    if (json_is_object(v))
        return expand_object(v, t, at);
    if (json_is_array(v))
        return expand_array(v, t, at);
    return json_incref(v);
}

int cairn_tmpl_expand_tree(json_t *v, const struct cairn_tmpl_ctx *ctx,
                           cairn_tmpl_err_fn on_err, void *arg, json_t **out)
{
    struct tree_ctx t = {ctx, on_err, arg, 0};
    json_t *r = expand_node(v, &t, NULL);

    if (t.failed) {
        json_decref(r);
        return CAIRN_ETEMPLATE;
    }
    *out = r;
    return 0;
}

void cairn_tmpl_foreach(const char *s, cairn_tmpl_expr_fn fn, void *arg)
{
    const char *open;
    char expr[EXPR_MAX];

    while ((open = strstr(s, "{{")) != NULL) {
        s = scan_expr(open, expr, NULL);
        if (!s)
            return;
        fn(expr, arg);
    }
}
