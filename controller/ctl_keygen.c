/* cairnctl keygen: a new Ed25519 key pair in OpenSSH formats. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/keys.h"
#include "cairn/mem.h"
#include "ctl.h"

#define VERB "keygen"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl keygen --out PREFIX [--comment TEXT] [--force]\n"
        "\n"
        "Generate an Ed25519 key pair. Writes PREFIX.key (unencrypted OpenSSH\n"
        "private key, mode 0600) and PREFIX.pub (one OpenSSH public key "
        "line),\n"
        "and prints the key id. The files work with ssh-keygen and git SSH\n"
        "signing too.\n"
        "\n"
        "  --out PREFIX     path prefix of the two files (required)\n"
        "  --comment TEXT   key comment (default: the last part of PREFIX)\n"
        "  --force          replace existing PREFIX.key / PREFIX.pub\n");
}

struct opts {
    const char *out, *comment;
    int force;
};

/* 0 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"out", required_argument, NULL, 'o'},
        {"comment", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case 'c':
            o->comment = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option(VERB, argv, optind, optopt);
        }
    }
    if (optind != argc) {
        cairn__ctl_err(VERB,
                       "unexpected argument '%s' (see cairnctl keygen --help)",
                       argv[optind]);
        return 2;
    }
    if (!o->out || !*o->out) {
        cairn__ctl_err(VERB,
                       "--out PREFIX is required (see cairnctl keygen --help)");
        return 2;
    }
    return 0;
}

/* Without --force, refuse before writing anything; with it, clear the way
 * (cairn_seckey_save never replaces a file). */
static int prepare_paths(const char *key, const char *pub, int force)
{
    const char *paths[] = {key, pub};
    struct stat st;

    for (size_t i = 0; i < 2; i++) {
        if (!force && lstat(paths[i], &st) == 0) {
            cairn__ctl_err(VERB, "%s exists (use --force to replace it)",
                           paths[i]);
            return 2;
        }
        if (force && unlink(paths[i]) != 0 && errno != ENOENT) {
            cairn__ctl_err(VERB, "%s: cannot remove: %s", paths[i],
                           strerror(errno));
            return 2;
        }
    }
    return 0;
}

static int write_pair(const struct cairn_seckey *k, const char *keyp,
                      const char *pubp)
{
    struct cairn_diag d;
    char *line = cairn_pubkey_format(&k->pub), *text;
    int rc;

    cairn_diag_init(&d);
    rc = cairn_seckey_save(k, keyp, &d);
    if (rc == 0) {
        text = cairn_xasprintf("%s\n", line);
        rc = cairn__ctl_write(pubp, text, strlen(text), 0644, 1, &d);
        free(text);
    }
    free(line);
    if (rc)
        cairn__ctl_err(VERB, "%s", cairn_diag_msg(&d));
    return rc ? 2 : 0;
}

int cairn__ctl_keygen(int argc, char **argv)
{
    struct opts o = {NULL, NULL, 0};
    struct cairn_seckey k;
    char *keyp = NULL, *pubp = NULL, *base = NULL;
    int rc = parse_args(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0) {
        cairn__ctl_err(VERB, "no source of randomness");
        return 2;
    }
    base = cairn_xstrdup(o.out);
    if (!o.comment)
        o.comment = basename(base);
    if (cairn_seckey_generate(o.comment, &k) != 0) {
        cairn__ctl_err(
            VERB, "bad --comment: at most 127 bytes, no control characters");
        free(base);
        return 2;
    }
    keyp = cairn_xasprintf("%s.key", o.out);
    pubp = cairn_xasprintf("%s.pub", o.out);
    rc = prepare_paths(keyp, pubp, o.force);
    if (rc == 0)
        rc = write_pair(&k, keyp, pubp);
    if (rc == 0)
        printf("%s\n", k.pub.id);
    cairn_seckey_wipe(&k);
    free(keyp);
    free(pubp);
    free(base);
    return rc;
}
