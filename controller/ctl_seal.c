/*
 * cairnctl seal / unseal: site secrets sealed to the site's key, so they
 * can be committed to the fleet repository and opened only by that site.
 * File format (docs/formats.md "Sealed secret"): base64 of the sealed box
 * and a newline.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "ctl.h"

#define SECRET_CAP (1u << 20) /* plaintext; secrets are keys and passwords */
#define SEALED_CAP (SECRET_CAP / 3 * 4 + 1024)

struct seal_opts {
    const char *key, *out, *file;
    int force;
};

static void seal_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl seal --to SITE.pub [--out OUT] [--force] FILE\n"
        "\n"
        "Seal FILE (at most 1 MiB) to a site's public key: only the holder of\n"
        "the site's private key can open it. Writes FILE.sealed (base64 of a\n"
        "libsodium sealed box), safe to commit.\n"
        "\n"
        "  --to SITE.pub  the site's OpenSSH ed25519 public key file\n"
        "  --out OUT      output path (default FILE.sealed)\n"
        "  --force        replace an existing output file\n");
}

static void unseal_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl unseal --key SITE.key [--out OUT] [--force] FILE\n"
        "\n"
        "Open a sealed secret with the site's private key and write the "
        "secret\n"
        "to stdout, or to OUT (mode 0600).\n"
        "\n"
        "  --key SITE.key  the site's OpenSSH ed25519 private key (mode 0600)\n"
        "  --out OUT       output path (default: stdout)\n"
        "  --force         replace an existing output file\n");
}

/* Shared option parsing; keyopt is "to" or "key". 0, -1 (help shown) or 2. */
static int parse_args(const char *verb, const char *keyopt,
                      void (*usage)(FILE *), int argc, char **argv,
                      struct seal_opts *o)
{
    const struct option longs[] = {
        {keyopt, required_argument, NULL, 'k'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'k':
            o->key = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option(verb, argv, optind, optopt);
        }
    }
    if (argc - optind != 1 || !o->key) {
        cairn__ctl_err(
            verb, "--%s and one FILE are required (see cairnctl %s --help)",
            keyopt, verb);
        return 2;
    }
    o->file = argv[optind];
    return 0;
}

static int seal_file(const struct seal_opts *o, const struct cairn_pubkey *to)
{
    struct cairn_diag d;
    char *plain = NULL, *b64 = NULL, *text = NULL, *out = NULL;
    uint8_t *box = NULL;
    size_t n = 0, blen = 0;
    int rc = 2;

    cairn_diag_init(&d);
    if (cairn__ctl_read(o->file, SECRET_CAP, &plain, &n, &d) != 0) {
        cairn__ctl_err("seal", "%s", cairn_diag_msg(&d));
        return 2;
    }
    if (cairn_seal(to, (const uint8_t *)plain, n, &box, &blen) != 0) {
        cairn__ctl_err("seal", "cannot seal to key %s", to->id);
        goto out;
    }
    b64 = cairn_base64_encode(box, blen);
    text = cairn_xasprintf("%s\n", b64);
    out =
        o->out ? cairn_xstrdup(o->out) : cairn_xasprintf("%s.sealed", o->file);
    if (cairn__ctl_write(out, text, strlen(text), 0644, o->force, &d) != 0) {
        cairn__ctl_err("seal", "%s", cairn_diag_msg(&d));
        goto out;
    }
    printf("%s: sealed to %s\n", out, to->id);
    rc = 0;
out:
    explicit_bzero(plain, SECRET_CAP + 1);
    free(plain);
    free(box);
    free(b64);
    free(text);
    free(out);
    return rc;
}

int cairn__ctl_seal(int argc, char **argv)
{
    struct seal_opts o = {NULL, NULL, NULL, 0};
    struct cairn_pubkey to;
    struct cairn_diag d;
    int rc = parse_args("seal", "to", seal_usage, argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0) {
        cairn__ctl_err("seal", "no source of randomness");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_pubkey_load(o.key, &to, &d) != 0) {
        cairn__ctl_err("seal", "%s", cairn_diag_msg(&d));
        return 2;
    }
    return seal_file(&o, &to);
}

/* Decode and open the sealed text; 0 or exit code 1 (printed). */
static int open_sealed(const char *file, char *text, size_t n,
                       const struct cairn_seckey *k, uint8_t **plain,
                       size_t *plen)
{
    uint8_t *box = NULL;
    size_t blen = 0;
    int rc;

    /* One trailing newline (LF or CRLF) is part of the format. */
    if (n > 0 && text[n - 1] == '\n')
        n--;
    if (n > 0 && text[n - 1] == '\r')
        n--;
    if (cairn_base64_decode(text, n, &box, &blen) != 0) {
        cairn__ctl_err("unseal",
                       "%s: not a sealed file (want one line of base64)", file);
        return 1;
    }
    rc = cairn_unseal(k, box, blen, plain, plen);
    free(box);
    if (rc) {
        cairn__ctl_err(
            "unseal",
            "%s: cannot open: sealed to another key than %s, or altered", file,
            k->pub.id);
        return 1;
    }
    return 0;
}

static int emit(const struct seal_opts *o, const uint8_t *plain, size_t n)
{
    struct cairn_diag d;

    if (!o->out) {
        if (fwrite(plain, 1, n, stdout) != n || fflush(stdout) != 0) {
            cairn__ctl_err("unseal", "cannot write to stdout");
            return 2;
        }
        return 0;
    }
    cairn_diag_init(&d);
    if (cairn__ctl_write(o->out, plain, n, 0600, o->force, &d) != 0) {
        cairn__ctl_err("unseal", "%s", cairn_diag_msg(&d));
        return 2;
    }
    return 0;
}

int cairn__ctl_unseal(int argc, char **argv)
{
    struct seal_opts o = {NULL, NULL, NULL, 0};
    struct cairn_seckey k;
    struct cairn_diag d;
    char *text = NULL;
    uint8_t *plain = NULL;
    size_t n = 0, plen = 0;
    int rc = parse_args("unseal", "key", unseal_usage, argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0) {
        cairn__ctl_err("unseal", "no source of randomness");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_seckey_load(o.key, &k, &d) != 0) {
        cairn__ctl_err("unseal", "%s", cairn_diag_msg(&d));
        return 2;
    }
    if (cairn__ctl_read(o.file, SEALED_CAP, &text, &n, &d) != 0) {
        cairn__ctl_err("unseal", "%s", cairn_diag_msg(&d));
        rc = 2;
    }
    if (rc == 0)
        rc = open_sealed(o.file, text, n, &k, &plain, &plen);
    if (rc == 0)
        rc = emit(&o, plain, plen);
    if (plain)
        explicit_bzero(plain, plen);
    free(plain);
    free(text);
    cairn_seckey_wipe(&k);
    return rc;
}
