/*
 * cairnctl audit: which model ran where, approved by whom (docs/audit.md).
 * This file only parses options; the work is in audit_*.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "ctl.h"

#define MAX_KEYS 16

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl audit models --repo PATH [--rev REV] [--model NAME]\n"
        "                             [--since DATE] [--allowed-signers FILE] "
        "[--json]\n"
        "       cairnctl audit site SITE --controller URL [--token-file F] "
        "[--repo PATH]\n"
        "                             [--controller-key PUB]... [--json]\n"
        "       cairnctl audit export --site SITE --controller URL --repo "
        "PATH\n"
        "                             --out BUNDLE [--token-file F] [--force]\n"
        "       cairnctl audit verify BUNDLE --allowed-signers FILE\n"
        "                             --controller-key PUB... [--json]\n"
        "\n"
        "models  every commit that changed a model release or a site's model: "
        "who\n"
        "        signed it, the model's digest and publisher, the sites it "
        "changed\n"
        "site    a site's timeline from the controller: generations served, "
        "the\n"
        "        site's own signed reports, which model ran from when to when\n"
        "export  an evidence bundle (one JSON file) of a site's signed "
        "records\n"
        "verify  check a bundle offline: every commit, desired state, report "
        "and\n"
        "        attestation signature, and that what ran was what was "
        "approved\n"
        "\n"
        "DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC). Exit codes: 0 ok, 1 "
        "a\n"
        "check found a problem, 2 usage or input error. See docs/audit.md.\n");
}

enum {
    O_REPO = 1,
    O_REV,
    O_MODEL,
    O_SINCE,
    O_SIGNERS,
    O_JSON,
    O_CTRL,
    O_TOKEN,
    O_KEY,
    O_SITE,
    O_OUT,
    O_FORCE,
    O_HELP
};

static const struct option longs[] = {
    {"repo", required_argument, NULL, O_REPO},
    {"rev", required_argument, NULL, O_REV},
    {"model", required_argument, NULL, O_MODEL},
    {"since", required_argument, NULL, O_SINCE},
    {"allowed-signers", required_argument, NULL, O_SIGNERS},
    {"json", no_argument, NULL, O_JSON},
    {"controller", required_argument, NULL, O_CTRL},
    {"token-file", required_argument, NULL, O_TOKEN},
    {"controller-key", required_argument, NULL, O_KEY},
    {"site", required_argument, NULL, O_SITE},
    {"out", required_argument, NULL, O_OUT},
    {"force", no_argument, NULL, O_FORCE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

struct aopts {
    const char *repo, *rev, *model, *since, *signers, *ctrl, *token, *site,
        *out;
    const char *keys[MAX_KEYS + 1];
    size_t nkeys;
    int json, force;
    unsigned seen; /* bit per option given */
};

/* Options of any subverb; which ones a subverb accepts is checked after. */
static int parse(const char *verb, int argc, char **argv, struct aopts *o)
{
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        o->seen |= c > 0 && c < 32 ? 1u << c : 0;
        switch (c) {
        case O_REPO:
            o->repo = optarg;
            break;
        case O_REV:
            o->rev = optarg;
            break;
        case O_MODEL:
            o->model = optarg;
            break;
        case O_SINCE:
            o->since = optarg;
            break;
        case O_SIGNERS:
            o->signers = optarg;
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_CTRL:
            o->ctrl = optarg;
            break;
        case O_TOKEN:
            o->token = optarg;
            break;
        case O_SITE:
            o->site = optarg;
            break;
        case O_OUT:
            o->out = optarg;
            break;
        case O_FORCE:
            o->force = 1;
            break;
        case O_KEY:
            if (o->nkeys == MAX_KEYS) {
                cairn__ctl_err(verb, "at most %d --controller-key", MAX_KEYS);
                return 2;
            }
            o->keys[o->nkeys++] = optarg;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option(verb, argv, optind, optopt);
        }
    }
    return 0;
}

/* Options given that this subverb does not take. */
static int only(const char *verb, const struct aopts *o, unsigned allowed)
{
    for (const struct option *l = longs; l->name; l++) {
        if ((o->seen & (1u << l->val)) && !(allowed & (1u << l->val))) {
            cairn__ctl_err(
                verb, "--%s does not apply here (see cairnctl audit --help)",
                l->name);
            return 2;
        }
    }
    return 0;
}

#define B(x) (1u << (x))

static int run_models(struct aopts *o, int rest)
{
    struct cairn__audit_models_opts m = {o->repo, o->rev,     o->model,
                                         0,       o->signers, o->json};

    if (only("audit models", o,
             B(O_REPO) | B(O_REV) | B(O_MODEL) | B(O_SINCE) | B(O_SIGNERS) |
                 B(O_JSON)))
        return 2;
    if (!o->repo || rest) {
        cairn__ctl_err("audit models",
                       "use --repo PATH (see cairnctl audit --help)");
        return 2;
    }
    if (o->since && cairn__audit_parse_time(o->since, &m.since) != 0) {
        cairn__ctl_err("audit models",
                       "--since %s: not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                       o->since);
        return 2;
    }
    return cairn__audit_models(&m, stdout);
}

static int remote(const char *verb, const struct aopts *o,
                  struct cairn__audit_remote *r)
{
    struct cairn_diag d;
    size_t n = o->ctrl ? strlen(o->ctrl) : 0;

    memset(r, 0, sizeof(*r));
    if (!o->ctrl || (strncmp(o->ctrl, "http://", 7) != 0 &&
                     strncmp(o->ctrl, "https://", 8))) {
        cairn__ctl_err(verb,
                       "--controller URL (http:// or https://) is required");
        return 2;
    }
    if (o->ctrl[n - 1] == '/') {
        cairn__ctl_err(verb,
                       "--controller %s: give the URL without a trailing /",
                       o->ctrl);
        return 2;
    }
    r->base = o->ctrl;
    r->timeout_ms = 60000;
    cairn_diag_init(&d);
    if (o->token && cairn__audit_token(r, o->token, &d) != 0) {
        cairn__ctl_err(verb, "%s", cairn_diag_msg(&d));
        return 2;
    }
    return 0;
}

static int run_site(struct aopts *o, int argc, char **argv)
{
    struct cairn__audit_site_opts s;
    int rc;

    if (only("audit site", o,
             B(O_CTRL) | B(O_TOKEN) | B(O_REPO) | B(O_KEY) | B(O_JSON)))
        return 2;
    if (optind != argc - 1) {
        cairn__ctl_err("audit site",
                       "give exactly one SITE (see cairnctl audit --help)");
        return 2;
    }
    memset(&s, 0, sizeof(s));
    if (remote("audit site", o, &s.remote))
        return 2;
    s.site = argv[optind];
    s.repo = o->repo;
    s.controller_keys = o->nkeys ? o->keys : NULL;
    s.json = o->json;
    rc = cairn__audit_site(&s, stdout);
    free(s.remote.token);
    return rc;
}

static int run_export(struct aopts *o, int rest)
{
    struct cairn__audit_export_opts e;
    int rc;

    if (only("audit export", o,
             B(O_SITE) | B(O_CTRL) | B(O_TOKEN) | B(O_REPO) | B(O_OUT) |
                 B(O_FORCE)))
        return 2;
    if (rest || !o->site || !o->repo || !o->out) {
        cairn__ctl_err("audit export",
                       "use --site SITE --controller URL --repo PATH --out "
                       "BUNDLE (see cairnctl audit --help)");
        return 2;
    }
    memset(&e, 0, sizeof(e));
    if (remote("audit export", o, &e.remote))
        return 2;
    e.site = o->site;
    e.repo = o->repo;
    e.out = o->out;
    e.force = o->force;
    rc = cairn__audit_export(&e, stdout);
    free(e.remote.token);
    return rc;
}

static int run_verify(struct aopts *o, int argc, char **argv)
{
    struct cairn__audit_verify_opts v;

    if (only("audit verify", o, B(O_SIGNERS) | B(O_KEY) | B(O_JSON)))
        return 2;
    if (optind != argc - 1 || !o->signers || !o->nkeys) {
        cairn__ctl_err("audit verify",
                       "use BUNDLE --allowed-signers FILE --controller-key "
                       "PUB (see cairnctl audit --help)");
        return 2;
    }
    v.bundle = argv[optind];
    v.allowed_signers = o->signers;
    v.controller_keys = o->keys;
    v.json = o->json;
    return cairn__audit_verify(&v, stdout);
}

int cairn__ctl_audit(int argc, char **argv)
{
    struct aopts o;
    const char *sub;
    char verb[32];
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sub = argv[1];
    memset(&o, 0, sizeof(o));
    snprintf(verb, sizeof(verb), "audit %.16s", sub);
    rc = parse(verb, argc - 1, argv + 1, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    argc--, argv++;
    if (strcmp(sub, "models") == 0)
        return run_models(&o, optind != argc);
    if (strcmp(sub, "site") == 0)
        return run_site(&o, argc, argv);
    if (strcmp(sub, "export") == 0)
        return run_export(&o, optind != argc);
    if (strcmp(sub, "verify") == 0)
        return run_verify(&o, argc, argv);
    cairn__ctl_err(
        "audit", "unknown subcommand '%s' (models, site, export, verify)", sub);
    return 2;
}
