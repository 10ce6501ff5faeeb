/*
 * Templates (docs/formats.md): substitution only. Inside a string,
 * "{{ values.a.b }}", "{{ site.name }}" and "{{ site.labels.k }}" are
 * replaced by the value they name, which must be a string, number or
 * boolean. An unknown name, a map, a list or null is an error, never an
 * empty string. Inserted text is not scanned again (not recursive).
 */
#ifndef CAIRN_TEMPLATE_H
#define CAIRN_TEMPLATE_H

#include <jansson.h>

#include "cairn/diag.h"

/* A string expands to at most this many bytes (CAIRN_ETOOBIG past it). */
#define CAIRN_TMPL_MAX_OUT (1u << 20)

struct cairn_tmpl_ctx {
    json_t *values;   /* borrowed; the merged values (may be NULL) */
    const char *site; /* site name */
    json_t *labels;   /* borrowed; the site's labels (may be NULL) */
};

/* True when s contains "{{" (cheap pre-check). */
int cairn_tmpl_has(const char *s);

/*
 * Expand s. *out receives a fresh string (free()) when s holds templates,
 * NULL when it holds none (use s as is). CAIRN_ETEMPLATE (unknown name,
 * map/list/null value, unterminated or unsupported expression) or
 * CAIRN_ETOOBIG, with a message naming the expression in d.
 */
CAIRN_WUR int cairn_tmpl_expand(const char *s, const struct cairn_tmpl_ctx *ctx,
                                char **out, struct cairn_diag *d);

/* Called for each string that failed; ptr is relative to the tree root. */
typedef void (*cairn_tmpl_err_fn)(const char *ptr, const struct cairn_diag *d,
                                  void *arg);

/*
 * Expand every string value in tree v (map keys are left alone). *out
 * receives a new reference: v itself when nothing changed, else a copy
 * that shares every unchanged subtree. Every failing string is reported to
 * on_err (may be NULL); then the result is CAIRN_ETEMPLATE and *out is
 * untouched.
 */
CAIRN_WUR int cairn_tmpl_expand_tree(json_t *v,
                                     const struct cairn_tmpl_ctx *ctx,
                                     cairn_tmpl_err_fn on_err, void *arg,
                                     json_t **out);

/* Call fn with each expression of s ("values.a.b", trimmed), for
 * --explain. Stops at the first malformed one. */
typedef void (*cairn_tmpl_expr_fn)(const char *expr, void *arg);
void cairn_tmpl_foreach(const char *s, cairn_tmpl_expr_fn fn, void *arg);

#endif
