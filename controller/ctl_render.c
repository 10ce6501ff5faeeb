/*
 * cairnctl render: print what the controller would publish for a site
 * (or write every site's), optionally explaining where each value came
 * from. Offline: unsigned, generation 0 (docs/cairnctl.md "render").
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn/mem.h"
#include "ctl.h"
#include "explain.h"
#include "jptr.h"
#include "offline.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl render --repo PATH [--rev REV] --site SITE "
        "[--explain]\n"
        "       cairnctl render --repo PATH [--rev REV] --all --out DIR\n"
        "\n"
        "Render desired states as the controller would, without signing them:\n"
        "generation 0, issued = the commit's time, expires = issued + the "
        "fleet's\n"
        "TTL. The same commit always gives the same bytes.\n"
        "\n"
        "  --repo PATH   the fleet repository (working tree or bare)\n"
        "  --rev REV     commit to render (default HEAD)\n"
        "  --site SITE   print SITE's payload (canonical JSON) on stdout\n"
        "  --explain     instead, print every leaf of the site's merged values "
        "and\n"
        "                payload with the file:line:col and layer that set it\n"
        "  --all         render every site ...\n"
        "  --out DIR     ... into DIR/SITE.json (DIR is created when "
        "missing)\n");
}

struct ropts {
    const char *repo, *rev, *site, *out;
    int all, explain;
};

static int parse(int argc, char **argv, struct ropts *o)
{
    const struct option longs[] = {
        {"repo", required_argument, NULL, 'r'},
        {"rev", required_argument, NULL, 'v'},
        {"site", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"all", no_argument, NULL, 'a'},
        {"explain", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->repo = optarg;
            break;
        case 'v':
            o->rev = optarg;
            break;
        case 's':
            o->site = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'a':
            o->all = 1;
            break;
        case 'e':
            o->explain = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option("render", argv, optind, optopt);
        }
    }
    if (!o->repo || optind != argc || (!o->site == !o->all) ||
        (o->all && !o->out) || (o->site && o->out) ||
        (o->explain && !o->site)) {
        cairn__ctl_err(
            "render", "use --repo with either --site SITE [--explain] or --all "
                      "--out DIR (see cairnctl render --help)");
        return 2;
    }
    return 0;
}

struct outs {
    struct cairn_offline *o;
    const struct ropts *opt;
    char **site, **text;
    size_t n, alloc;
};

static int only_site(const struct cairn_fleet *f, const struct cairn_fdoc *site,
                     void *arg)
{
    (void)f;
    return strcmp(site->name, (const char *)arg) == 0;
}

static int keep(const struct cairn_fleet *f, struct cairn_rendered *r,
                void *arg)
{
    struct outs *s = arg;
    json_t *p = cairn_offline_payload(s->o, f, r->content);

    if (s->opt->explain) {
        cairn_explain_site(f, cairn_fleet_site(f, r->site), p, stdout);
    } else {
        if (s->n == s->alloc) {
            s->alloc = s->alloc ? s->alloc * 2 : 64;
            s->site = cairn_xrealloc(s->site, s->alloc * sizeof(char *));
            s->text = cairn_xrealloc(s->text, s->alloc * sizeof(char *));
        }
        s->site[s->n] = cairn_xstrdup(r->site);
        s->text[s->n++] = cairn__json_canon(p, NULL);
    }
    json_decref(p);
    cairn_rendered_free(r);
    return 0;
}

/* One file per site. Plain writes, not fsync'd one by one: 10,000 files
 * would take minutes, and the output can always be rendered again. */
static int write_one(const char *dir, const char *site, const char *text)
{
    char *path = cairn_xasprintf("%s/%s.json", dir, site);
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;

    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        cairn__ctl_err("render", "%s: %s", path, strerror(errno));
    free(path);
    return ok ? 0 : 2;
}

static int write_all(const struct outs *s, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cairn__ctl_err("render", "%s: %s", dir, strerror(errno));
        return 2;
    }
    for (size_t i = 0; i < s->n; i++)
        if (write_one(dir, s->site[i], s->text[i]) != 0)
            return 2;
    printf("%s: %zu site(s) rendered from commit %s\n", dir, s->n,
           s->o->meta.sha);
    return 0;
}

static int finish(struct outs *s, const struct ropts *opt,
                  struct cairn_errlist *errs, int rc, struct cairn_diag *d)
{
    if (cairn_errlist_count(errs) > 0) {
        cairn_errlist_print(errs, stderr);
        cairn__ctl_err("render", "commit %s: %zu error(s)", s->o->meta.sha,
                       cairn_errlist_count(errs));
        return 1;
    }
    if (rc) {
        cairn__ctl_err("render", "%s", cairn_diag_msg(d));
        return 2;
    }
    if (opt->site && !cairn_fleet_site(s->o->fleet, opt->site)) {
        cairn__ctl_err("render", "commit %s has no site %s (sites/.../%s.yaml)",
                       s->o->meta.sha, opt->site, opt->site);
        return 1;
    }
    if (opt->all)
        return write_all(s, opt->out);
    if (s->n)
        printf("%s\n", s->text[0]);
    return 0;
}

int cairn__ctl_render(int argc, char **argv)
{
    struct ropts opt = {0};
    struct outs s = {0};
    struct cairn_errlist errs;
    struct cairn_diag d;
    int rc = parse(argc, argv, &opt);

    if (rc)
        return rc < 0 ? 0 : rc;
    cairn_diag_init(&d);
    if (cairn_offline_open(opt.repo, opt.rev, NULL, &s.o, &d) != 0) {
        cairn__ctl_err("render", "%s", cairn_diag_msg(&d));
        return 2;
    }
    s.opt = &opt;
    cairn_errlist_init(&errs, 0);
    rc = cairn_offline_build(s.o, opt.site ? only_site : NULL, (void *)opt.site,
                             keep, &s, &errs, NULL, &d);
    rc = finish(&s, &opt, &errs, rc, &d);
    for (size_t i = 0; i < s.n; i++) {
        free(s.site[i]);
        free(s.text[i]);
    }
    free(s.site);
    free(s.text);
    cairn_errlist_free(&errs);
    cairn_offline_free(s.o);
    return rc;
}
