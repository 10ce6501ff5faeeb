/*
 * cairnctl diff: which sites two commits render differently, and how
 * (every changed leaf: pointer: old -> new), sites added and removed.
 * Compares content only: generation, times and source always differ.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "ctl.h"
#include "jptr.h"
#include "offline.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cairnctl diff --repo PATH REV1 REV2\n"
                 "\n"
                 "Render every site at both commits and print, for each site "
                 "whose desired\n"
                 "state differs, the changed leaves (pointer: old -> new), "
                 "then the sites\n"
                 "added and removed, then a summary line. Exit 0 whether or "
                 "not anything\n"
                 "changed; 1 when a commit does not validate (its errors are "
                 "listed).\n");
}

struct side {
    char **site;
    json_t **content;
    size_t n, alloc;
};

static int collect(const struct cairn_fleet *f, struct cairn_rendered *r,
                   void *arg)
{
    struct side *s = arg;

    (void)f;
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 64;
        s->site = cairn_xrealloc(s->site, s->alloc * sizeof(char *));
        s->content = cairn_xrealloc(s->content, s->alloc * sizeof(json_t *));
    }
    s->site[s->n] = cairn_xstrdup(r->site);
    s->content[s->n++] = json_incref(r->content);
    cairn_rendered_free(r);
    return 0;
}

static void side_free(struct side *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->site[i]);
        json_decref(s->content[i]);
    }
    free(s->site);
    free(s->content);
}

/* Leaves as "pointer\0value" strings in canonical (sorted) order. */
struct leaves {
    char **ptr, **val;
    size_t n, alloc;
};

static void leaf(const char *ptr, json_t *v, void *arg)
{
    struct leaves *l = arg;

    if (l->n == l->alloc) {
        l->alloc = l->alloc ? l->alloc * 2 : 64;
        l->ptr = cairn_xrealloc(l->ptr, l->alloc * sizeof(char *));
        l->val = cairn_xrealloc(l->val, l->alloc * sizeof(char *));
    }
    l->ptr[l->n] = cairn_xstrdup(ptr);
    l->val[l->n++] = cairn__json_canon(v, NULL);
}

static void leaves_free(struct leaves *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ptr[i]);
        free(l->val[i]);
    }
    free(l->ptr);
    free(l->val);
}

static struct cairn__strmap index_of(const struct leaves *l)
{
    struct cairn__strmap m;

    cairn__strmap_init(&m);
    for (size_t i = 0; i < l->n; i++)
        cairn__strmap_put(&m, l->ptr[i], l->val[i]);
    return m;
}

/* Changed and removed leaves in the old walk's order, then added ones in
 * the new walk's order. */
static void print_changes(json_t *a, json_t *b)
{
    struct leaves la = {0}, lb = {0};
    struct cairn__strmap ma, mb;

    cairn__json_leaves(a, leaf, &la);
    cairn__json_leaves(b, leaf, &lb);
    ma = index_of(&la);
    mb = index_of(&lb);
    for (size_t i = 0; i < la.n; i++) {
        const char *nv = cairn__strmap_get(&mb, la.ptr[i]);

        if (!nv)
            printf("  %s: %s -> (none)\n", la.ptr[i], la.val[i]);
        else if (strcmp(nv, la.val[i]) != 0)
            printf("  %s: %s -> %s\n", la.ptr[i], la.val[i], nv);
    }
    for (size_t j = 0; j < lb.n; j++)
        if (!cairn__strmap_get(&ma, lb.ptr[j]))
            printf("  %s: (none) -> %s\n", lb.ptr[j], lb.val[j]);
    cairn__strmap_free(&ma);
    cairn__strmap_free(&mb);
    leaves_free(&la);
    leaves_free(&lb);
}

static long find(const struct side *s, const char *site)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->site[i], site) == 0)
            return (long)i;
    return -1;
}

/* Both sides are in site-name order (the build renders in that order). */
static void print_diff(const struct side *a, const struct side *b)
{
    size_t changed = 0, added = 0, removed = 0;

    for (size_t i = 0; i < a->n; i++) {
        long j = find(b, a->site[i]);

        if (j >= 0 && !json_equal(a->content[i], b->content[j])) {
            printf("site %s: changed\n", a->site[i]);
            print_changes(a->content[i], b->content[j]);
            changed++;
        }
    }
    for (size_t j = 0; j < b->n; j++)
        if (find(a, b->site[j]) < 0) {
            printf("site %s: added\n", b->site[j]);
            added++;
        }
    for (size_t i = 0; i < a->n; i++)
        if (find(b, a->site[i]) < 0) {
            printf("site %s: removed\n", a->site[i]);
            removed++;
        }
    printf("%zu site(s) changed, %zu added, %zu removed\n", changed, added,
           removed);
}

static int render_rev(struct cairn_offline *o, const char *rev, struct side *s)
{
    struct cairn_errlist errs;
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    rc = cairn_offline_checkout(o, rev, &d);
    if (rc) {
        cairn__ctl_err("diff", "%s: %s", rev, cairn_diag_msg(&d));
        return 2;
    }
    cairn_errlist_init(&errs, 0);
    rc = cairn_offline_build(o, NULL, NULL, collect, s, &errs, NULL, &d);
    if (cairn_errlist_count(&errs) > 0) {
        cairn_errlist_print(&errs, stderr);
        cairn__ctl_err("diff", "%s (commit %s): %zu error(s)", rev, o->meta.sha,
                       cairn_errlist_count(&errs));
        rc = 1;
    } else if (rc) {
        cairn__ctl_err("diff", "%s: %s", rev, cairn_diag_msg(&d));
        rc = 2;
    }
    cairn_errlist_free(&errs);
    return rc;
}

int cairn__ctl_diff(int argc, char **argv)
{
    const struct option longs[] = {
        {"repo", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct side a = {0}, b = {0};
    struct cairn_offline *o = NULL;
    const char *repo = NULL;
    struct cairn_diag d;
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'r':
            repo = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return cairn__ctl_bad_option("diff", argv, optind, optopt);
        }
    }
    if (!repo || argc - optind != 2) {
        cairn__ctl_err(
            "diff", "--repo and two revisions are required (see cairnctl diff "
                    "--help)");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_offline_open(repo, argv[optind], NULL, &o, &d) != 0) {
        cairn__ctl_err("diff", "%s", cairn_diag_msg(&d));
        return 2;
    }
    rc = render_rev(o, argv[optind], &a);
    if (rc == 0)
        rc = render_rev(o, argv[optind + 1], &b);
    if (rc == 0)
        print_diff(&a, &b);
    side_free(&a);
    side_free(&b);
    cairn_offline_free(o);
    return rc;
}
