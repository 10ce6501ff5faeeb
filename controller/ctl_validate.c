/*
 * cairnctl validate: check a commit of the fleet repository as the
 * controller would, listing every error located, for pre-merge CI.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/schema.h"
#include "ctl.h"
#include "offline.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl validate --repo PATH [--rev REV] [--allowed-signers "
        "FILE]\n"
        "\n"
        "Check a commit as the controller would: every file parsed and "
        "checked\n"
        "against its schema, names against paths, model attestations against\n"
        "fleet.yaml policy.trustedPublishers, every site rendered. Exit 0 when "
        "it\n"
        "would be accepted; else exit 1 listing every error as\n"
        "file:line:col: /pointer: message.\n"
        "\n"
        "  --repo PATH              the fleet repository (working tree or "
        "bare)\n"
        "  --rev REV                commit to check (default HEAD)\n"
        "  --allowed-signers FILE   require a good SSH signature by a key of "
        "FILE\n"
        "                           (git's allowed_signers format); without it "
        "the\n"
        "                           signer is only reported\n");
}

struct vopts {
    const char *repo, *rev, *signers;
};

static int parse(int argc, char **argv, struct vopts *o)
{
    const struct option longs[] = {
        {"repo", required_argument, NULL, 'r'},
        {"rev", required_argument, NULL, 'v'},
        {"allowed-signers", required_argument, NULL, 's'},
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
            o->signers = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option("validate", argv, optind, optopt);
        }
    }
    if (!o->repo || optind != argc) {
        cairn__ctl_err("validate", "--repo is required, and no other arguments "
                                   "(see cairnctl validate --help)");
        return 2;
    }
    return 0;
}

/* Each rendered document must also be one an agent accepts
 * (schemas/desired.schema.json): a check on the renderer itself. */
struct check {
    struct cairn_offline *o;
    struct cairn_schema *desired;
    struct cairn_errlist *errs;
};

static int schema_err(const struct cairn_schema_error *e, void *arg)
{
    struct cairn_errlist *errs = arg;

    cairn_errlist_add(errs, CAIRN_ESCHEMA, NULL, "(rendered desired state)", 0,
                      0, e->instance_ptr, "%s", e->message);
    return 0;
}

static int check_site(const struct cairn_fleet *f, struct cairn_rendered *r,
                      void *arg)
{
    struct check *c = arg;
    json_t *p = cairn_offline_payload(c->o, f, r->content);

    /* offline generation 0 is below the schema's minimum of a real one */
    json_object_set_new(p, "generation", json_integer(1));
    if (c->desired &&
        cairn_schema_validate(c->desired, p, NULL, schema_err, c->errs, NULL))
        cairn_errlist_add(c->errs, CAIRN_ESCHEMA, r->site, NULL, 0, 0, NULL,
                          "internal: the rendered desired state does not match "
                          "desired.schema.json");
    json_decref(p);
    cairn_rendered_free(r);
    return 0;
}

static struct cairn_schema *desired_schema(void)
{
    struct cairn_schema *s = NULL;

    return cairn_schema_embedded("desired.schema.json", &s, NULL) == 0 ? s
                                                                       : NULL;
}

static void report_ok(const struct cairn_offline *o,
                      const struct cairn_fleet *f)
{
    printf("ok: commit %s: %zu site(s), %zu group(s), %zu workload(s), %zu "
           "model(s); ",
           o->meta.sha, f->nsites, f->ngroups, f->nworkloads, f->nmodels);
    if (o->meta.signer[0])
        printf("signed by %s%s%s%s\n", o->meta.signer,
               o->meta.principal[0] ? " (" : "", o->meta.principal,
               o->meta.principal[0] ? ")" : "");
    else
        printf("not signed by a verifiable key\n");
}

int cairn__ctl_validate(int argc, char **argv)
{
    struct vopts opt = {NULL, NULL, NULL};
    struct cairn_offline *o = NULL;
    struct cairn_errlist errs;
    struct check c = {NULL, NULL, &errs};
    struct cairn_diag d;
    int rc = parse(argc, argv, &opt);

    if (rc)
        return rc < 0 ? 0 : rc;
    cairn_diag_init(&d);
    if (cairn_offline_open(opt.repo, opt.rev, opt.signers, &o, &d) != 0) {
        cairn__ctl_err("validate", "%s", cairn_diag_msg(&d));
        return 2;
    }
    cairn_errlist_init(&errs, 0);
    c.o = o;
    c.desired = desired_schema();
    rc = cairn_offline_build(o, NULL, NULL, check_site, &c, &errs, NULL, &d);
    if (rc && cairn_errlist_count(&errs) == 0) {
        cairn__ctl_err("validate", "%s", cairn_diag_msg(&d));
        rc = 2;
    } else if (cairn_errlist_count(&errs) > 0) {
        cairn_errlist_print(&errs, stderr);
        cairn__ctl_err("validate", "commit %s: %zu error(s)", o->meta.sha,
                       cairn_errlist_count(&errs));
        rc = 1;
    } else {
        report_ok(o, o->fleet);
    }
    cairn_schema_free(c.desired);
    cairn_errlist_free(&errs);
    cairn_offline_free(o);
    return rc;
}
