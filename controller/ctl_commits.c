/* cairnctl commits: the commits the controller has judged, newest first,
 * from /v1/commits: accepted or refused, who signed them, how many sites
 * they changed, and for a refused one every error with its location. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "ctl.h"

#define VERB "commits"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairnctl commits [--controller URL] [--token-file FILE] "
            "[--limit N] [--json]\n"
            "\n"
            "List the commits the controller has judged, newest first: "
            "accepted or\n"
            "REFUSED, the signer, the sites changed, and for a refused "
            "commit every\n"
            "error with its file:line.\n"
            "\n"
            "  --controller URL   default $CAIRN_CONTROLLER or "
            "http://127.0.0.1:8440\n"
            "  --token-file FILE  the operator token (default "
            "$CAIRN_OPERATOR_TOKEN_FILE)\n"
            "  --limit N          at most N commits (default 20)\n"
            "  --json             the controller's /v1/commits answer\n");
}

struct opts {
    const char *controller, *token_file;
    long limit;
    int json;
};

static int parse_limit(const char *s, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 1 || v > 100000) {
        cairn__ctl_err(VERB, "--limit '%s': want a number from 1 to 100000", s);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"controller", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 't'},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 0;

    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (c == 'c')
            o->controller = optarg;
        else if (c == 't')
            o->token_file = optarg;
        else if (c == 'n')
            rc = parse_limit(optarg, &o->limit);
        else if (c == 'j')
            o->json = 1;
        else if (c == 'h')
            return usage(stdout), -1;
        else
            return cairn__ctl_bad_option(VERB, argv, optind, optopt);
    }
    if (rc == 0 && optind != argc) {
        cairn__ctl_err(VERB, "unexpected argument '%s'", argv[optind]);
        rc = 2;
    }
    return rc;
}

static void print_commit(json_t *k)
{
    int ok = json_is_true(json_object_get(k, "accepted"));
    const char *who = cairn__ctl_str(k, "principal", NULL),
               *key = cairn__ctl_str(k, "signer", NULL);
    char sites[24] = "-", signer[160];

    if (ok)
        snprintf(
            sites, sizeof(sites), "%lld",
            (long long)json_integer_value(json_object_get(k, "sitesChanged")));
    if (who && key)
        snprintf(signer, sizeof(signer), "%s (key %s)", who, key);
    else
        snprintf(signer, sizeof(signer), "%s", key ? key : "none verified");
    printf("%-12.12s  %-20s  %-8s  %5s  %s\n", cairn__ctl_str(k, "sha", "?"),
           cairn__ctl_str(k, "seen", "-"), ok ? "accepted" : "REFUSED", sites,
           signer);
    if (!ok)
        cairn__ctl_print_lines(
            cairn__ctl_str(k, "error", "(no error recorded)"), "    ", 50,
            "--json");
}

int cairn__ctl_commits(int argc, char **argv)
{
    struct opts o = {NULL, NULL, 20, 0};
    char *base = NULL, *auth = NULL, path[64];
    json_t *r = NULL, *k;
    size_t i;
    int rc = parse_args(argc, argv, &o);

    if (rc == 0)
        rc = cairn__ctl_operator_auth(VERB, o.token_file, &auth);
    if (rc)
        goto out;
    base = cairn__ctl_controller_url(o.controller);
    snprintf(path, sizeof(path), "/v1/commits?limit=%ld", o.limit);
    rc = cairn__ctl_get_json(VERB, base, auth, path, &r);
    if (rc == 0 && o.json) {
        json_dumpf(r, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
    } else if (rc == 0) {
        printf("controller %s, serving commit %.12s\n", base,
               cairn__ctl_str(r, "accepted", "(none)"));
        printf("%-12s  %-20s  %-8s  %5s  %s\n", "COMMIT", "SEEN", "RESULT",
               "SITES", "SIGNER");
        json_array_foreach(json_object_get(r, "commits"), i, k) print_commit(k);
    }
out:
    json_decref(r);
    free(base);
    free(auth);
    return rc < 0 ? 0 : rc;
}
