/* cairnctl token: open a session as a site (the request an agent signs)
 * and print the bearer token, for curl, debugging and benchmarks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "ctl.h"
#include "token.h"

#define VERB "token"
#define SESSION_TYPE "application/vnd.cairn.session+json"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairnctl token --site SITE --key KEY [--controller URL]\n"
            "\n"
            "Sign a session request with the site's private key (as the agent "
            "does),\n"
            "send it to the controller and print the bearer token it returns.\n"
            "\n"
            "  --site SITE        the site (its publicKey in the fleet must "
            "match KEY)\n"
            "  --key KEY          the site's private key (OpenSSH ed25519)\n"
            "  --controller URL   default $CAIRN_CONTROLLER or "
            "http://127.0.0.1:8440\n");
}

struct opts {
    const char *site, *key, *controller;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {"controller", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->site = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'c':
            o->controller = optarg;
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
    if (!o->site || !o->key) {
        cairn__ctl_err(
            VERB, "--site and --key are required (see cairnctl token --help)");
        return 2;
    }
    if (!cairn_site_name_ok(o->site)) {
        cairn__ctl_err(VERB, "--site: '%s' is not a site name (a DNS label)",
                       o->site);
        return 2;
    }
    return 0;
}

/* The signed session request: {kind, nonce, site, time}. */
static char *session_request(const struct cairn_seckey *sk, const char *site)
{
    const struct cairn_seckey *keys[] = {sk};
    uint8_t nonce[16];
    char hex[33], *payload, *env;
    json_t *p;

    cairn_random(nonce, sizeof(nonce));
    cairn_hex_encode(nonce, sizeof(nonce), hex);
    p = json_pack("{s:s,s:s,s:s,s:I}", "kind", "cairn.session/v1", "nonce", hex,
                  "site", site, "time", (json_int_t)time(NULL));
    payload = cairn_json_canonical(p);
    env = cairn_dsse_sign(SESSION_TYPE, (const uint8_t *)payload,
                          strlen(payload), keys, 1);
    json_decref(p);
    free(payload);
    return env;
}

/* The answer's token, or the exit code after saying why. */
static int answer(long status, const char *body)
{
    json_t *doc = json_loads(body, 0, NULL);
    const char *tok = json_string_value(json_object_get(doc, "token"));
    const char *err = json_string_value(json_object_get(doc, "error"));
    int rc = 0;

    if (status == 200 && tok) {
        printf("%s\n", tok);
    } else {
        cairn__ctl_err(VERB, "HTTP %ld: %.300s", status, err ? err : body);
        rc = 1;
    }
    json_decref(doc);
    return rc;
}

int cairn__ctl_token(int argc, char **argv)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct opts o = {NULL, NULL, NULL};
    struct cairn_seckey sk;
    struct cairn_diag d;
    char *env = NULL, *url = NULL, *body = NULL, *base;
    long status = 0;
    int rc = parse_args(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    cairn_diag_init(&d);
    if (cairn_keys_init() != 0 || cairn_seckey_load(o.key, &sk, &d) != 0) {
        cairn__ctl_err(VERB, "%s", cairn_diag_msg(&d));
        return 2;
    }
    env = session_request(&sk, o.site);
    cairn_seckey_wipe(&sk);
    base = cairn__ctl_controller_url(o.controller);
    url = cairn_xasprintf("%s/v1/sites/%s/session", base, o.site);
    free(base);
    if (cairn__ctl_http("POST", url, headers, env, strlen(env), &status, &body,
                        NULL, &d) != 0) {
        cairn__ctl_err(VERB, "%s", cairn_diag_msg(&d));
        rc = 2;
    } else {
        rc = answer(status, body);
    }
    free(env);
    free(url);
    free(body);
    return rc;
}
