#include "selector.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "jptr.h"

#define LABEL_MAX 63

int cairn_label_key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9');

        if (!alnum &&
            (i == 0 || (c != '.' && c != '_' && c != '/' && c != '-')))
            return 0;
    }
    return 1;
}

static struct cairn_loc where(const struct cairn_yaml_doc *doc, const char *ptr)
{
    struct cairn_loc none = {NULL, 0, 0};

    return doc ? cairn_yaml_locate(doc, ptr) : none;
}

struct pair {
    const char *k, *v;
};

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->k, ((const struct pair *)b)->k);
}

/* Sorted, so that --explain and messages list labels in a stable order. */
static void sorted_pairs(json_t *ml, struct cairn_selector *s)
{
    struct pair *p = cairn_xcalloc(s->n, sizeof(*p));
    const char *k;
    json_t *v;
    size_t i = 0;

    json_object_foreach(ml, k, v)
    {
        p[i].k = k;
        p[i++].v = json_string_value(v);
    }
    qsort(p, s->n, sizeof(*p), cmp_pair);
    for (i = 0; i < s->n; i++) {
        s->keys[i] = cairn_xstrdup(p[i].k);
        s->vals[i] = cairn_xstrdup(p[i].v);
    }
    free(p);
}

/* Check one matchLabels member; 0 or CAIRN_EPARSE (reported). */
static int check_pair(const char *k, json_t *v,
                      const struct cairn_yaml_doc *doc, const char *ml_ptr,
                      struct cairn_errlist *errs)
{
    struct cairn_buf p;
    int rc = 0;

    cairn_buf_init(&p, 0);
    if (cairn_buf_append(&p, ml_ptr, strlen(ml_ptr)) != 0)
        abort();
    cairn__ptr_push(&p, k);
    if (!cairn_label_key_ok(k)) {
        cairn_errlist_addloc(
            errs, CAIRN_EPARSE, NULL, where(doc, p.data), p.data,
            "\"%s\" is not a label name ([A-Za-z0-9][A-Za-z0-9._/-]{0,62})", k);
        rc = CAIRN_EPARSE;
    } else if (!json_is_string(v) || json_string_length(v) > LABEL_MAX) {
        cairn_errlist_addloc(
            errs, CAIRN_EPARSE, NULL, where(doc, p.data), p.data,
            "label value must be a string of at most %d characters", LABEL_MAX);
        rc = CAIRN_EPARSE;
    }
    cairn_buf_free(&p);
    return rc;
}

int cairn_selector_compile(json_t *selector, const struct cairn_yaml_doc *doc,
                           const char *base, struct cairn_errlist *errs,
                           struct cairn_selector *out)
{
    char *ml_ptr = cairn_xasprintf("%s/matchLabels", base);
    json_t *ml = json_object_get(selector, "matchLabels"), *v;
    struct cairn_selector s = {0};
    const char *k;
    int rc = 0;

    if (!json_is_object(ml)) {
        cairn_errlist_addloc(
            errs, CAIRN_EPARSE, NULL, where(doc, ml ? ml_ptr : base),
            ml ? ml_ptr : base, "%s",
            ml ? "matchLabels must be a map of label: value"
               : "a selector needs matchLabels (a map; {} selects every site)");
        rc = CAIRN_EPARSE;
        goto out;
    }
    json_object_foreach(ml, k, v) if (check_pair(k, v, doc, ml_ptr, errs) != 0)
        rc = CAIRN_EPARSE;
    if (rc)
        goto out;
    s.n = json_object_size(ml);
    s.keys = cairn_xcalloc(s.n, sizeof(char *));
    s.vals = cairn_xcalloc(s.n, sizeof(char *));
    sorted_pairs(ml, &s);
    *out = s;
out:
    free(ml_ptr);
    return rc;
}

void cairn_selector_free(struct cairn_selector *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i]);
        free(s->vals[i]);
    }
    free(s->keys);
    free(s->vals);
    memset(s, 0, sizeof(*s));
}

int cairn_selector_matches(const struct cairn_selector *s, json_t *labels)
{
    for (size_t i = 0; i < s->n; i++) {
        json_t *v = json_object_get(labels, s->keys[i]);

        if (!json_is_string(v) || strcmp(json_string_value(v), s->vals[i]) != 0)
            return 0;
    }
    return 1;
}
