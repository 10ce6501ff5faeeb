/* cairnctl status: the fleet table from a controller's /v1/fleet and
 * /v1/sites (paged), or the same as JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "ctl.h"

#define VERB "status"
#define PAGE 1000

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl status [--controller URL] [--token-file FILE] "
        "[--json]\n"
        "\n"
        "Print the fleet: counts by state and by running model, the commit "
        "being\n"
        "served, and one line per site (state, served and applied generation,\n"
        "running models, last report); under a site whose served generation\n"
        "was rolled back or failed, which generation and why.\n"
        "\n"
        "  --controller URL   default $CAIRN_CONTROLLER or "
        "http://127.0.0.1:8440\n"
        "  --token-file FILE  the operator token (default "
        "$CAIRN_OPERATOR_TOKEN_FILE)\n"
        "  --json             {\"fleet\": ..., \"sites\": [...]} instead of "
        "the table\n");
}

struct opts {
    const char *controller, *token_file;
    int json;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"controller", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->controller = optarg;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option(VERB, argv, optind, optopt);
        }
    }
    if (optind != argc) {
        cairn__ctl_err(VERB, "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!o->token_file && getenv("CAIRN_OPERATOR_TOKEN_FILE"))
        o->token_file = getenv("CAIRN_OPERATOR_TOKEN_FILE");
    return 0;
}

struct conn {
    char *base;
    char *auth; /* "Authorization: Bearer ..." or NULL */
};

static int get_json(const struct conn *k, const char *path, json_t **out)
{
    return cairn__ctl_get_json(VERB, k->base, k->auth, path, out);
}

/* Every site, page by page. */
static int get_sites(const struct conn *k, json_t *all)
{
    for (size_t off = 0;;) {
        char path[64];
        json_t *page = NULL, *v = NULL;
        int rc;

        snprintf(path, sizeof(path), "/v1/sites?offset=%zu&limit=%d", off,
                 PAGE);
        rc = get_json(k, path, &page);
        if (rc)
            return rc;
        v = json_object_get(page, "sites");
        json_array_extend(all, v);
        off += json_array_size(v);
        rc = json_array_size(v) == 0 ||
             off >= (size_t)json_integer_value(json_object_get(page, "total"));
        json_decref(page);
        if (rc)
            return 0;
    }
}

static void print_counts(json_t *obj, const char *title)
{
    const char *k;
    json_t *v;
    int first = 1;

    printf("%s", title);
    json_object_foreach(obj, k, v)
    {
        printf("%s%s %lld", first ? " " : ", ", k,
               (long long)json_integer_value(v));
        first = 0;
    }
    printf("%s\n", first ? " none" : "");
}

static const char *failure_words(const char *type)
{
    static const char *const words[][2] = {
        {"RolledBack", "rolled back"},
        {"DownloadFailed", "not downloaded"},
        {"Rejected", "refused"},
        {"DesiredStateExpired", "refused as expired"}};

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(words); i++)
        if (strcmp(type, words[i][0]) == 0)
            return words[i][1];
    return type;
}

/* Under a rolledback or failed site's row: which generation and why, on
 * one line (the reason cut; --json and /v1/sites/SITE have all of it). */
static void print_failure(json_t *f)
{
    const char *type = cairn__ctl_str(f, "type", "?"),
               *reason = cairn__ctl_str(f, "reason", "");
    int len = (int)strcspn(reason, "\r\n");

    if (!json_is_object(f))
        return;
    printf("  ^ generation %lld %s%s%.*s%s\n",
           (long long)json_integer_value(json_object_get(f, "generation")),
           failure_words(type), *reason ? ": " : "", len > 160 ? 160 : len,
           reason, len > 160 ? "..." : "");
}

static void print_table(const char *base, json_t *fleet, json_t *sites)
{
    json_t *commit = json_object_get(fleet, "commit"),
           *last = json_object_get(commit, "last");
    json_t *s;
    size_t i;

    printf("controller %s, serving commit %.12s\n", base,
           cairn__ctl_str(commit, "accepted", "(none)"));
    if (json_is_object(last) &&
        !json_is_true(json_object_get(last, "accepted"))) {
        printf("last commit %.12s was REFUSED; every site keeps the last "
               "accepted one:\n",
               cairn__ctl_str(last, "sha", "?"));
        cairn__ctl_print_lines(
            cairn__ctl_str(last, "error", "(no error recorded)"), "  ", 10,
            "cairnctl commits");
    }
    printf("sites %lld:",
           (long long)json_integer_value(json_object_get(fleet, "sites")));
    print_counts(json_object_get(fleet, "states"), "");
    print_counts(json_object_get(fleet, "models"), "running:");
    printf("\n%-24s %-10s %8s %8s  %-28s %s\n", "SITE", "STATE", "SERVED",
           "APPLIED", "RUNNING", "LAST REPORT");
    json_array_foreach(sites, i, s)
    {
        json_t *sv = json_object_get(s, "served"),
               *ap = json_object_get(s, "applied");
        char served[24] = "-", applied[24] = "-";

        if (json_is_integer(sv))
            snprintf(served, sizeof(served), "%lld",
                     (long long)json_integer_value(sv));
        if (json_is_integer(ap))
            snprintf(applied, sizeof(applied), "%lld",
                     (long long)json_integer_value(ap));
        printf("%-24s %-10s %8s %8s  %-28s %s\n",
               cairn__ctl_str(s, "name", "?"), cairn__ctl_str(s, "state", "?"),
               served, applied, cairn__ctl_str(s, "running", "-"),
               cairn__ctl_str(s, "lastReport", "never"));
        print_failure(json_object_get(s, "failure"));
    }
}

int cairn__ctl_status(int argc, char **argv)
{
    struct opts o = {NULL, NULL, 0};
    struct conn k = {NULL, NULL};
    json_t *fleet = NULL, *sites = json_array();
    int rc = parse_args(argc, argv, &o);

    if (rc == 0)
        rc = cairn__ctl_operator_auth(VERB, o.token_file, &k.auth);
    if (rc)
        goto out;
    k.base = cairn__ctl_controller_url(o.controller);
    rc = get_json(&k, "/v1/fleet", &fleet);
    if (rc == 0)
        rc = get_sites(&k, sites);
    if (rc == 0 && o.json) {
        json_t *all = json_pack("{s:O,s:O}", "fleet", fleet, "sites", sites);

        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\n");
        json_decref(all);
    } else if (rc == 0) {
        print_table(k.base, fleet, sites);
    }
out:
    json_decref(fleet);
    json_decref(sites);
    free(k.base);
    free(k.auth);
    return rc < 0 ? 0 : rc;
}
