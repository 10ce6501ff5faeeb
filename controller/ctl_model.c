/*
 * cairnctl sign-model / verify-model: a model publisher's DSSE attestation
 * (an in-toto Statement v1 with predicateType cairn.dev/model/v1) over a
 * model artifact, and its verification against a pinned publisher key.
 */
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "ctl.h"

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define MODEL_PREDICATE "cairn.dev/model/v1"
#define ATT_CAP (1u << 20) /* an attestation is ~600 bytes */
#define MAX_URLS 16
#define MAX_URL_LEN 2048

/* ---- sign-model ---------------------------------------------------------- */

static void sign_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl sign-model --key KEY --name NAME --version VERSION\n"
        "                           [--url URL]... [--out ATT] [--force] FILE\n"
        "\n"
        "Sign a model artifact: writes FILE.att.json, a DSSE envelope around "
        "an\n"
        "in-toto Statement (predicateType " MODEL_PREDICATE ") naming FILE's\n"
        "sha256 and size, and prints the models/NAME/VERSION.yaml to commit.\n"
        "\n"
        "  --key KEY          publisher's OpenSSH ed25519 private key (mode "
        "0600)\n"
        "  --name NAME        model name: a DNS label (a-z 0-9 -)\n"
        "  --version VERSION  model version: A-Z a-z 0-9 . _ + -, starting "
        "alphanumeric\n"
        "  --url URL          where agents may download FILE (http:// or "
        "https://;\n"
        "                     repeatable, at most %d)\n"
        "  --out ATT          attestation path (default FILE.att.json)\n"
        "  --force            replace an existing attestation file\n",
        MAX_URLS);
}

struct sign_opts {
    const char *key, *name, *version, *out, *file;
    const char *urls[MAX_URLS];
    size_t nurls;
    int force;
};

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* schemas/model.schema.json: a DNS label (it is also a directory name). */
static int valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* ^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$ (also a file name). */
static int valid_version(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 ||
        !(is_lower_alnum(s[0]) || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && !(s[i] >= 'A' && s[i] <= 'Z') &&
            !strchr("._+-", s[i]))
            return 0;
    return 1;
}

/* http(s) URL without blanks, control characters, quotes or backslashes
 * (so it can be written in YAML double quotes as is). */
static int valid_url(const char *u)
{
    size_t n = strlen(u);

    if (n > MAX_URL_LEN ||
        (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
        return 0;
    if (n <= (u[4] == 's' ? 8u : 7u))
        return 0;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || *u == 0x7f || *u == '"' || *u == '\\')
            return 0;
    return 1;
}

static int check_sign_opts(const struct sign_opts *o)
{
    if (!o->key || !o->name || !o->version || !o->file) {
        cairn__ctl_err("sign-model",
                       "--key, --name, --version and FILE are required "
                       "(see cairnctl sign-model --help)");
        return 2;
    }
    if (!valid_name(o->name)) {
        cairn__ctl_err("sign-model",
                       "bad --name '%s': a DNS label (1-63 of a-z 0-9 -, "
                       "starting and ending with a letter or digit)",
                       o->name);
        return 2;
    }
    if (!valid_version(o->version)) {
        cairn__ctl_err("sign-model",
                       "bad --version '%s': 1-64 of A-Z a-z 0-9 . _ + -, "
                       "starting with a letter or digit",
                       o->version);
        return 2;
    }
    for (size_t i = 0; i < o->nurls; i++)
        if (!valid_url(o->urls[i])) {
            cairn__ctl_err(
                "sign-model",
                "bad --url '%s': need http:// or https://, no blanks, "
                "quotes or backslashes",
                o->urls[i]);
            return 2;
        }
    return 0;
}

static int parse_sign_args(int argc, char **argv, struct sign_opts *o)
{
    static const struct option longs[] = {
        {"key", required_argument, NULL, 'k'},
        {"name", required_argument, NULL, 'n'},
        {"version", required_argument, NULL, 'v'},
        {"url", required_argument, NULL, 'u'},
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
        case 'n':
            o->name = optarg;
            break;
        case 'v':
            o->version = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'f':
            o->force = 1;
            break;
        case 'h':
            sign_usage(stdout);
            return -1;
        case 'u':
            if (o->nurls == MAX_URLS) {
                cairn__ctl_err("sign-model", "at most %d --url", MAX_URLS);
                return 2;
            }
            o->urls[o->nurls++] = optarg;
            break;
        default:
            return cairn__ctl_bad_option("sign-model", argv, optind, optopt);
        }
    }
    if (argc - optind > 1) {
        cairn__ctl_err("sign-model", "one FILE only (got '%s' too)",
                       argv[optind + 1]);
        return 2;
    }
    o->file = optind < argc ? argv[optind] : NULL;
    return check_sign_opts(o);
}

/* The canonical in-toto Statement for the artifact; NULL when the file
 * name is not UTF-8. */
static char *statement(const char *subject, const char *hex,
                       const struct sign_opts *o, uint64_t size)
{
    json_t *st, *subj, *digest, *pred, *name = json_string(subject);
    char *out;

    if (!name)
        return NULL;
    digest = json_object();
    json_object_set_new(digest, "sha256", json_string(hex));
    subj = json_object();
    json_object_set_new(subj, "name", name);
    json_object_set_new(subj, "digest", digest);
    pred = json_object();
    json_object_set_new(pred, "name", json_string(o->name));
    json_object_set_new(pred, "version", json_string(o->version));
    json_object_set_new(pred, "size", json_integer((json_int_t)size));
    st = json_object();
    json_object_set_new(st, "_type", json_string(STATEMENT_TYPE));
    json_object_set_new(st, "subject", json_pack("[o]", subj));
    json_object_set_new(st, "predicateType", json_string(MODEL_PREDICATE));
    json_object_set_new(st, "predicate", pred);
    out = cairn_json_canonical(st);
    json_decref(st);
    return out;
}

static void print_stanza(const struct sign_opts *o, const char *hex,
                         uint64_t size)
{
    printf("kind: Model\nname: \"%s\"\nversion: \"%s\"\nartifact:\n", o->name,
           o->version);
    if (o->nurls == 0)
        printf("  urls: []\n");
    else
        printf("  urls:\n");
    for (size_t i = 0; i < o->nurls; i++)
        printf("    - \"%s\"\n", o->urls[i]);
    printf("  sha256: %s\n  size: %" PRIu64 "\nattestation: %s.att.json\n", hex,
           size, o->version);
}

/* Hash FILE; 0 or the exit code. */
static int hash_artifact(const char *verb, const char *file,
                         char hex[CAIRN_SHA256_HEX_LEN + 1], uint64_t *size)
{
    uint8_t digest[CAIRN_SHA256_LEN];
    int rc = cairn_sha256_file(file, digest, size);

    if (rc) {
        cairn__ctl_err(verb, "%s: %s", file,
                       rc == CAIRN_ENOENT ? "no such file"
                                          : "cannot read (not a readable "
                                            "regular file)");
        return 2;
    }
    cairn_hex_encode(digest, sizeof(digest), hex);
    return 0;
}

static int sign_and_write(const struct sign_opts *o,
                          const struct cairn_seckey *k, const char *hex,
                          uint64_t size)
{
    const struct cairn_seckey *keys[] = {k};
    char *copy = cairn_xstrdup(o->file), *payload, *env = NULL, *text = NULL,
         *out;
    struct cairn_diag d;
    int rc = 2;

    payload = statement(basename(copy), hex, o, size);
    if (!payload) {
        cairn__ctl_err("sign-model", "%s: file name is not valid UTF-8",
                       o->file);
        goto out;
    }
    env = cairn_dsse_sign(CAIRN_DSSE_INTOTO, (const uint8_t *)payload,
                          strlen(payload), keys, 1);
    text = cairn_xasprintf("%s\n", env);
    out = o->out ? cairn_xstrdup(o->out)
                 : cairn_xasprintf("%s.att.json", o->file);
    cairn_diag_init(&d);
    if (cairn__ctl_write(out, text, strlen(text), 0644, o->force, &d) != 0)
        cairn__ctl_err("sign-model", "%s", cairn_diag_msg(&d));
    else
        rc = 0;
    if (rc == 0)
        fprintf(stderr,
                "cairnctl sign-model: wrote %s (signed by %s); commit it as "
                "models/%s/%s.att.json next to this models/%s/%s.yaml:\n",
                out, k->pub.id, o->name, o->version, o->name, o->version);
    free(out);
out:
    free(copy);
    free(payload);
    free(env);
    free(text);
    return rc;
}

int cairn__ctl_sign_model(int argc, char **argv)
{
    struct sign_opts o;
    struct cairn_seckey k;
    struct cairn_diag d;
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    int rc;

    memset(&o, 0, sizeof(o));
    rc = parse_sign_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0) {
        cairn__ctl_err("sign-model", "no source of randomness");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_seckey_load(o.key, &k, &d) != 0) {
        cairn__ctl_err("sign-model", "%s", cairn_diag_msg(&d));
        return 2;
    }
    rc = hash_artifact("sign-model", o.file, hex, &size);
    if (rc == 0 && size == 0) {
        cairn__ctl_err("sign-model", "%s is empty: not a model", o.file);
        rc = 2;
    }
    if (rc == 0)
        rc = sign_and_write(&o, &k, hex, size);
    if (rc == 0)
        print_stanza(&o, hex, size);
    cairn_seckey_wipe(&k);
    return rc;
}

/* ---- verify-model -------------------------------------------------------- */

static void verify_usage(FILE *out)
{
    fprintf(
        out,
        "usage: cairnctl verify-model --pub PUBFILE --attestation ATT FILE\n"
        "\n"
        "Check that ATT is a model attestation signed by the key in PUBFILE "
        "and\n"
        "that its sha256 and size match FILE. Exit 0 when everything matches,\n"
        "1 with one line saying what failed, 2 for usage or unreadable "
        "inputs.\n"
        "\n"
        "  --pub PUBFILE      publisher's OpenSSH public key (.pub, one line)\n"
        "  --attestation ATT  the DSSE attestation (e.g. "
        "models/NAME/VERSION.att.json)\n");
}

struct verify_opts {
    const char *pub, *att, *file;
};

static int parse_verify_args(int argc, char **argv, struct verify_opts *o)
{
    static const struct option longs[] = {
        {"pub", required_argument, NULL, 'p'},
        {"attestation", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->pub = optarg;
            break;
        case 'a':
            o->att = optarg;
            break;
        case 'h':
            verify_usage(stdout);
            return -1;
        default:
            return cairn__ctl_bad_option("verify-model", argv, optind, optopt);
        }
    }
    if (argc - optind != 1 || !o->pub || !o->att) {
        cairn__ctl_err("verify-model",
                       "--pub, --attestation and one FILE are required "
                       "(see cairnctl verify-model --help)");
        return 2;
    }
    o->file = argv[optind];
    return 0;
}

/* What verify-model needs from the Statement. */
struct model_claim {
    const char *sha256, *name, *version;
    json_int_t size;
};

#define VFAIL(...) (cairn__ctl_err("verify-model", __VA_ARGS__), 1)

static int claim_subject(json_t *st, struct model_claim *c)
{
    json_t *subject = json_object_get(st, "subject"), *first, *sha;

    if (!json_is_array(subject) || json_array_size(subject) != 1)
        return VFAIL(
            "malformed statement: subject must be an array of one artifact");
    first = json_array_get(subject, 0);
    sha = json_object_get(json_object_get(first, "digest"), "sha256");
    if (!json_is_string(sha) || !cairn_is_sha256_hex(json_string_value(sha)))
        return VFAIL("malformed statement: subject[0].digest.sha256 must be 64 "
                     "lower-case "
                     "hex digits");
    c->sha256 = json_string_value(sha);
    return 0;
}

/* Read the claim out of the Statement; 0 or exit code 1 (printed). */
static int read_claim(json_t *st, struct model_claim *c)
{
    json_t *type = json_object_get(st, "_type"),
           *ptype = json_object_get(st, "predicateType");
    json_t *pred = json_object_get(st, "predicate"), *size;

    if (!json_is_object(st))
        return VFAIL("malformed statement: not a JSON object");
    if (!json_is_string(type) ||
        strcmp(json_string_value(type), STATEMENT_TYPE) != 0)
        return VFAIL("malformed statement: _type is not " STATEMENT_TYPE);
    if (!json_is_string(ptype) ||
        strcmp(json_string_value(ptype), MODEL_PREDICATE) != 0)
        return VFAIL("wrong predicateType (got %s, want " MODEL_PREDICATE ")",
                     json_is_string(ptype) ? json_string_value(ptype) : "none");
    if (claim_subject(st, c) != 0)
        return 1;
    size = json_object_get(pred, "size");
    c->name = json_string_value(json_object_get(pred, "name"));
    c->version = json_string_value(json_object_get(pred, "version"));
    if (!json_is_integer(size) || json_integer_value(size) < 0 || !c->name ||
        !c->version)
        return VFAIL(
            "malformed statement: predicate needs name, version and size");
    c->size = json_integer_value(size);
    return 0;
}

/* Signed by the pinned key? 0 or exit code 1 (printed). */
static int check_signature(const struct cairn_dsse *env,
                           const struct cairn_pubkey *pub)
{
    struct cairn_keyset ks;
    struct cairn_diag d;
    char signers[CAIRN_DSSE_MAX_SIGS * (CAIRN_KEYID_LEN + 1) + 1] = "";
    size_t o = 0;
    int rc, listed = 0;

    for (size_t i = 0; i < env->nsigs; i++) {
        listed |= strcmp(env->sigs[i].keyid, pub->id) == 0;
        o += (size_t)snprintf(signers + o, sizeof(signers) - o, "%s%s",
                              i ? " " : "", env->sigs[i].keyid);
    }
    if (!listed)
        return VFAIL("unknown key (signed by %s, trusted %s)", signers,
                     pub->id);
    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, pub);
    cairn_diag_init(&d);
    rc = cairn_dsse_verify(env, &ks, 1, NULL, &d);
    cairn_keyset_free(&ks);
    return rc ? VFAIL("%s", cairn_diag_msg(&d)) : 0;
}

/* The envelope in o->att, parsed; 0 or the exit code (printed). */
static int load_envelope(const char *path, struct cairn_dsse **env)
{
    struct cairn_diag d;
    char *text = NULL;
    size_t n = 0;
    int rc;

    cairn_diag_init(&d);
    rc = cairn__ctl_read(path, ATT_CAP, &text, &n, &d);
    if (rc == CAIRN_ETOOBIG)
        return VFAIL("malformed envelope: %s", cairn_diag_msg(&d));
    if (rc) {
        cairn__ctl_err("verify-model", "%s", cairn_diag_msg(&d));
        return 2;
    }
    rc = cairn_dsse_parse(text, n, ATT_CAP, CAIRN_DSSE_INTOTO, env, &d);
    free(text);
    return rc ? VFAIL("%s", cairn_diag_msg(&d)) : 0;
}

/* Statement checks and the artifact comparison; 0 or exit code. */
static int check_artifact(const struct cairn_dsse *env, const char *file,
                          const char *signer)
{
    struct model_claim c;
    struct cairn_diag d;
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    json_t *st = NULL;
    int rc;

    cairn_diag_init(&d);
    if (cairn_json_parse((const char *)env->payload, env->payload_len,
                         env->payload_len, &st, &d) != 0)
        return VFAIL("malformed statement: %s", cairn_diag_msg(&d));
    rc = read_claim(st, &c);
    if (rc == 0)
        rc = hash_artifact("verify-model", file, hex, &size);
    if (rc == 0 && (uint64_t)c.size != size)
        rc = VFAIL("size mismatch (want %" JSON_INTEGER_FORMAT ", got %" PRIu64
                   ")",
                   c.size, size);
    if (rc == 0 && strcmp(c.sha256, hex) != 0)
        rc = VFAIL("digest mismatch (want %s, got %s)", c.sha256, hex);
    if (rc == 0)
        printf("ok: %s %s sha256:%s size %" PRIu64 ", signed by %s\n", c.name,
               c.version, hex, size, signer);
    json_decref(st);
    return rc;
}

int cairn__ctl_verify_model(int argc, char **argv)
{
    struct verify_opts o = {NULL, NULL, NULL};
    struct cairn_pubkey pub;
    struct cairn_dsse *env = NULL;
    struct cairn_diag d;
    int rc = parse_verify_args(argc, argv, &o);

    if (rc)
        return rc < 0 ? 0 : rc;
    if (cairn_keys_init() != 0) {
        cairn__ctl_err("verify-model", "no source of randomness");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_pubkey_load(o.pub, &pub, &d) != 0) {
        cairn__ctl_err("verify-model", "%s", cairn_diag_msg(&d));
        return 2;
    }
    rc = load_envelope(o.att, &env);
    if (rc == 0)
        rc = check_signature(env, &pub);
    if (rc == 0)
        rc = check_artifact(env, o.file, pub.id);
    cairn_dsse_free(env);
    return rc;
}
