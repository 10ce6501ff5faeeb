/*
 * cairn-agent init: enrol a site. Creates the site key (0600) in the state
 * directory, writes the trusted key files and the agent config, and prints
 * the sites/SITE.yaml stanza whose publicKey a platform engineer commits:
 * enrollment is a Git commit.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "cairn/fs.h"
#include "cairn/keys.h"
#include "cairn/mem.h"

#define MAX_TRUST 16

struct init_opts {
    const char *site, *controller, *state, *config, *ca_file;
    const char *ctl[MAX_TRUST], *pub[MAX_TRUST];
    size_t nctl, npub;
    int force;
};

static int init_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int init_err(const char *fmt, ...)
{
    va_list ap;

    fputs("cairn-agent init: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static void init_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairn-agent init --site SITE --controller URL "
        "--trust-controller PUB\n"
        "                        --trust-publisher PUB [--state DIR] [--config "
        "FILE]\n"
        "                        [--ca-file PEM] [--force]\n"
        "\n"
        "Enrol this machine as SITE: creates DIR/site.key (kept when it "
        "exists),\n"
        "writes FILE (default " CAIRN_AGENT_DEFAULT_CONFIG
        ") with controller.pub and\n"
        "publishers.pub next to it, and prints the sites/SITE.yaml to commit.\n"
        "PUB is a .pub file or an \"ssh-ed25519 AAAA...\" line; both options "
        "repeat.\n"
        "--force replaces an existing config file.\n");
}

static int add_trust(const char **list, size_t *n, const char *v,
                     const char *what)
{
    if (*n == MAX_TRUST)
        return init_err("at most %d %s", MAX_TRUST, what);
    list[(*n)++] = v;
    return 0;
}

static int parse_init(int argc, char **argv, struct init_opts *o)
{
    static const struct option longs[] = {
        {"site", required_argument, NULL, 's'},
        {"controller", required_argument, NULL, 'u'},
        {"state", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"ca-file", required_argument, NULL, 'a'},
        {"trust-controller", required_argument, NULL, 'C'},
        {"trust-publisher", required_argument, NULL, 'P'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;

    o->state = CAIRN_AGENT_DEFAULT_STATE;
    o->config = CAIRN_AGENT_DEFAULT_CONFIG;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->site = optarg;
            break;
        case 'u':
            o->controller = optarg;
            break;
        case 'd':
            o->state = optarg;
            break;
        case 'c':
            o->config = optarg;
            break;
        case 'a':
            o->ca_file = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'C':
            rc = add_trust(o->ctl, &o->nctl, optarg, "--trust-controller");
            break;
        case 'P':
            rc = add_trust(o->pub, &o->npub, optarg, "--trust-publisher");
            break;
        case 'h':
            init_usage(stdout);
            return -1;
        default:
            init_usage(stderr);
            return 2;
        }
    }
    if (rc)
        return rc;
    if (optind < argc || !o->site || !o->controller || !o->nctl || !o->npub) {
        init_usage(stderr);
        return 2;
    }
    if (!cairn_agent_is_dns_label(o->site))
        return init_err(
            "--site '%s' is not a DNS label (a-z 0-9 -, at most 63)", o->site);
    if (strncmp(o->controller, "http://", 7) != 0 &&
        strncmp(o->controller, "https://", 8) != 0)
        return init_err("--controller '%s' is not an http:// or https:// URL",
                        o->controller);
    return 0;
}

/* Parse each PUB (file or literal line) and write them, one per line. */
static int write_keys(const char *path, const char *const *list, size_t n)
{
    struct cairn_pubkey pk;
    struct cairn_diag d;
    char *text = cairn_xstrdup(""), *line, *next;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        cairn_diag_init(&d);
        if (strncmp(list[i], "ssh-", 4) == 0)
            rc = cairn_pubkey_parse(list[i], &pk, &d);
        else
            rc = cairn_pubkey_load(list[i], &pk, &d);
        if (rc) {
            init_err("%s: %s", list[i], cairn_diag_msg(&d));
            break;
        }
        line = cairn_pubkey_format(&pk);
        next = cairn_xasprintf("%s%s\n", text, line);
        free(line);
        free(text);
        text = next;
    }
    cairn_diag_init(&d);
    if (rc == 0 &&
        cairn_fs_write_durable(path, text, strlen(text), 0644, &d) != 0)
        rc = init_err("%s", cairn_diag_msg(&d));
    free(text);
    return rc ? 2 : 0;
}

/* The site key: kept when present (it is the site's identity). */
static int site_key(const char *path, const char *site, struct cairn_seckey *k)
{
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    if (access(path, F_OK) == 0) {
        if (cairn_seckey_load(path, k, &d) != 0)
            return init_err("%s", cairn_diag_msg(&d));
        fprintf(stderr, "cairn-agent init: keeping the existing site key %s\n",
                path);
        return 0;
    }
    rc = cairn_seckey_generate(site, k);
    if (rc == 0)
        rc = cairn_seckey_save(k, path, &d);
    if (rc)
        return init_err("%s: %s", path,
                        rc == CAIRN_EINVAL ? "bad comment"
                                           : cairn_diag_msg(&d));
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? cairn_xstrndup(path,
                                  slash == path ? 1 : (size_t)(slash - path))
                 : cairn_xstrdup(".");
}

static char *absolute(const char *p)
{
    char cwd[PATH_MAX];

    if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return cairn_xstrdup(p);
    return cairn_xasprintf("%s/%s", cwd, p);
}

static int write_config(const struct init_opts *o, const char *state,
                        const char *key, const char *ctl, const char *pub)
{
    struct cairn_diag d;
    char *ca = o->ca_file ? absolute(o->ca_file) : NULL;
    char *text = cairn_xasprintf(
        "# cairn-agent configuration (written by cairn-agent init)\n"
        "site: %s\ncontroller: \"%s\"\n%s%s%sstateDir: \"%s\"\nsiteKey: "
        "\"%s\"\n"
        "controllerKeys: \"%s\"\npublisherKeys: \"%s\"\n",
        o->site, o->controller, ca ? "caFile: \"" : "", ca ? ca : "",
        ca ? "\"\n" : "", state, key, ctl, pub);
    int rc = 0;

    cairn_diag_init(&d);
    if (!o->force && access(o->config, F_OK) == 0)
        rc = init_err("%s exists (use --force to replace it)", o->config);
    else if (cairn_fs_write_durable(o->config, text, strlen(text), 0644, &d) !=
             0)
        rc = init_err("%s", cairn_diag_msg(&d));
    free(text);
    free(ca);
    return rc;
}

static int has_quote(const char *s)
{
    return strpbrk(s, "\"\\\n") != NULL;
}

static int enrol(const struct init_opts *o)
{
    char *state = absolute(o->state), *cfgdir = dir_of(o->config),
         *dir = absolute(cfgdir);
    char *key = cairn_xasprintf("%s/site.key", state);
    char *ctl = cairn_xasprintf("%s/controller.pub", dir);
    char *pub = cairn_xasprintf("%s/publishers.pub", dir), *line;
    struct cairn_seckey k;
    struct cairn_diag d;
    int rc;

    memset(&k, 0, sizeof(k));
    cairn_diag_init(&d);
    if (has_quote(state) || has_quote(dir) || has_quote(o->controller))
        rc = init_err(
            "paths and the URL may not hold quotes, backslashes or newlines");
    else if ((rc = cairn_fs_mkdir_p(state, 0700, &d)) != 0 ||
             (rc = cairn_fs_mkdir_p(dir, 0755, &d)) != 0)
        rc = init_err("%s", cairn_diag_msg(&d));
    if (rc == 0 && (rc = write_config(o, state, key, ctl, pub)) == 0 &&
        (rc = site_key(key, o->site, &k)) == 0 &&
        (rc = write_keys(ctl, o->ctl, o->nctl)) == 0)
        rc = write_keys(pub, o->pub, o->npub);
    if (rc == 0) {
        line = cairn_pubkey_format(&k.pub);
        printf("kind: Site\nname: %s\nlabels: {}\npublicKey: %s\nvalues: {}\n",
               o->site, line);
        fprintf(stderr,
                "cairn-agent init: wrote %s; commit the stanza above as "
                "sites/%s.yaml "
                "in the fleet repository to enrol this site (key id %s)\n",
                o->config, o->site, k.pub.id);
        free(line);
    }
    cairn_seckey_wipe(&k);
    free(state);
    free(cfgdir);
    free(dir);
    free(key);
    free(ctl);
    free(pub);
    return rc;
}

int cairn_agent_init_main(int argc, char **argv)
{
    struct init_opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_init(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0)
        return init_err("no source of randomness");
    return enrol(&o);
}
