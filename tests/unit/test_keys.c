#include <stdarg.h>
#include <sys/stat.h>

#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    if (cairn_hex_decode(hex, out, n) != 0) {
        fprintf(stderr, "bad hex fixture: %s\n", hex);
        abort();
    }
}

static char *hexdup(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);

    cairn_hex_encode(b, n, s);
    return s;
}

/* Run a shell command; its stdout (first cap-1 bytes, trailing newline
 * removed) into out. Returns the exit status, -1 when it did not run. */
static int run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    FILE *p;
    size_t n = 0;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p)
        return -1;
    if (out) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
        while (n > 0 && out[n - 1] == '\n')
            out[--n] = '\0';
    }
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct cairn_seckey key_from_seed(const char *seed_hex,
                                         const char *pk_hex)
{
    struct cairn_seckey k;

    memset(&k, 0, sizeof(k));
    unhex(seed_hex, k.sk, 32);
    unhex(pk_hex, k.sk + 32, 32);
    memcpy(k.pub.pk, k.sk + 32, 32);
    cairn_keyid(k.pub.pk, k.pub.id);
    return k;
}

static char *path_in(const char *dir, const char *name)
{
    return cairn_xasprintf("%s/%s", dir, name);
}

/* A key written by `ssh-keygen -t ed25519 -N '' -C test@host` (test only). */
static const char fixture_key[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBX4E5rr3lPUHTrTI6PqxCzBwrkLdzDi/AvuuyUr575yQAAAJC0QiX7tEIl\n"
    "+wAAAAtzc2gtZWQyNTUxOQAAACBX4E5rr3lPUHTrTI6PqxCzBwrkLdzDi/AvuuyUr575yQ\n"
    "AAAEAKBflOHpPj5LfVo7e/J3uvHp7gnllY0ajSA35Md6J0aVfgTmuveU9QdOtMjo+rELMH\n"
    "CuQt3MOL8C+67JSvnvnJAAAACXRlc3RAaG9zdAECAwQ=\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
static const char fixture_pub[] = "ssh-ed25519 "
                                  "AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo+"
                                  "rELMHCuQt3MOL8C+67JSvnvnJ test@host";
#define FIXTURE_SEED                                                           \
    "0a05f94e1e93e3e4b7d5a3b7bf277baf1e9ee09e5958d1a8d2037e4c77a27469"
#define FIXTURE_PK                                                             \
    "57e04e6baf794f5074eb4c8e8fab10b3070ae42ddcc38bf02fbaec94af9ef9c9"

/* Offsets in the fixture's binary form (openssh-key-v1 layout). */
enum {
    OFF_CIPHER = 19,
    OFF_NKEYS = 35,
    OFF_CHECK1 = 98,
    OFF_PRIV_TYPE = 110,
    OFF_SEED = 161,
    OFF_PK_COPY = 193,
    OFF_PAD_LAST = 241,
    FIXTURE_BIN_LEN = 242,
};

/* The fixture's binary form. */
static uint8_t *fixture_bin(size_t *n)
{
    char b64[1024];
    size_t m = 0;
    uint8_t *bin = NULL;
    const char *p = strchr(fixture_key, '\n') + 1,
               *end = strstr(fixture_key, "-----END");

    for (; p < end; p++)
        if (*p != '\n')
            b64[m++] = *p;
    if (cairn_base64_decode(b64, m, &bin, n) != 0)
        abort();
    return bin;
}

static void write_armored(const char *path, const uint8_t *bin, size_t n)
{
    char *b64 = cairn_base64_encode(bin, n);
    char *text = cairn_xasprintf("-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n"
                                 "-----END OPENSSH PRIVATE KEY-----\n",
                                 b64);

    unlink(path);
    test_write_file(path, text, strlen(text));
    chmod(path, 0600);
    free(b64);
    free(text);
}

static void write_secret(const char *path, const char *text)
{
    unlink(path);
    test_write_file(path, text, strlen(text));
    chmod(path, 0600);
}

/* Load path expecting failure rc with a message containing want. */
static int load_fails(const char *path, int rc, const char *want)
{
    struct cairn_seckey k;
    struct cairn_diag d;
    int got;

    memset(&k, 0x5a, sizeof(k));
    cairn_diag_init(&d);
    got = cairn_seckey_load(path, &k, &d);
    if (got != rc || !strstr(cairn_diag_msg(&d), want) ||
        !strstr(cairn_diag_msg(&d), path) || k.sk[0] != 0x5a) {
        fprintf(stderr, "  load %s: got %s \"%s\", want %s \"%s\"\n", path,
                cairn_errname(got), cairn_diag_msg(&d), cairn_errname(rc),
                want);
        return 0;
    }
    return 1;
}

/* ---- RFC 8032 section 7.1 ----------------------------------------------- */

static const char test1024_msg[] =
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf0"
    "9efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e7"
    "73f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf5"
    "8c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344"
    "fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa621"
    "00ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116"
    "dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6"
    "c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44"
    "254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297ac"
    "bbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9"
    "187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad8"
    "78e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92"
    "dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab2"
    "7af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1a"
    "e0784504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcb"
    "aaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1"
    "ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd1"
    "5c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad68"
    "08d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e"
    "08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7"
    "dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b548"
    "0109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721a"
    "ac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797"
    "aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c"
    "7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933"
    "a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2ea"
    "aa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5"
    "ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0";

static const struct {
    const char *name, *seed, *pk, *msg, *sig;
} rfc8032[] = {
    {"TEST 1",
     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2",
     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3",
     "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST 1024",
     "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     test1024_msg,
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
     "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
};

static void test_rfc8032_vectors(void)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(rfc8032); i++) {
        struct cairn_seckey k = key_from_seed(rfc8032[i].seed, rfc8032[i].pk);
        size_t n = strlen(rfc8032[i].msg) / 2;
        uint8_t *msg = cairn_xmalloc(n), sig[64], want[64];

        unhex(rfc8032[i].msg, msg, n);
        unhex(rfc8032[i].sig, want, 64);
        cairn_ed25519_sign(&k, msg, n, sig);
        if (memcmp(sig, want, 64) != 0)
            fprintf(stderr, "  %s: signature differs\n", rfc8032[i].name);
        CHECK(memcmp(sig, want, 64) == 0);
        CHECK_INT_EQ(cairn_ed25519_verify(&k.pub, msg, n, want), 0);
        want[i * 7 % 64] ^= 0x01; /* any flipped bit breaks it */
        CHECK_INT_EQ(cairn_ed25519_verify(&k.pub, msg, n, want), CAIRN_ESIG);
        want[i * 7 % 64] ^= 0x01;
        if (n > 0) {
            msg[n - 1] ^= 0x80;
            CHECK_INT_EQ(cairn_ed25519_verify(&k.pub, msg, n, want),
                         CAIRN_ESIG);
        }
        free(msg);
    }
}

static void test_keyid(void)
{
    struct cairn_seckey k = key_from_seed(rfc8032[0].seed, rfc8032[0].pk);
    char id[CAIRN_KEYID_LEN + 1];

    /* /usr/bin/python3: hashlib.sha256(pk).hexdigest()[:16] */
    cairn_keyid(k.pub.pk, id);
    CHECK_STR_EQ(id, "21fe31dfa154a261");
    CHECK_STR_EQ(k.pub.id, "21fe31dfa154a261");
}

/* ---- public key lines --------------------------------------------------- */

static void test_pubkey_parse_format(void)
{
    struct cairn_pubkey k;
    struct cairn_diag d;
    uint8_t pk[32];
    char *line;

    unhex(FIXTURE_PK, pk, 32);
    cairn_diag_init(&d);
    REQUIRE(cairn_pubkey_parse(fixture_pub, &k, &d) == 0);
    CHECK(memcmp(k.pk, pk, 32) == 0);
    CHECK_STR_EQ(k.comment, "test@host");
    line = cairn_pubkey_format(&k);
    CHECK_STR_EQ(line, fixture_pub);
    free(line);

    /* blanks around, CRLF, multi-word comment, tabs */
    CHECK_INT_EQ(cairn_pubkey_parse(
                     "  ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo"
                     "+rELMHCuQt3MOL8C+67JSvnvnJ  ci key 2 \r\n",
                     &k, NULL),
                 0);
    CHECK_STR_EQ(k.comment, "ci key 2");
    CHECK(memcmp(k.pk, pk, 32) == 0);
    CHECK_INT_EQ(cairn_pubkey_parse(
                     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo"
                     "+rELMHCuQt3MOL8C+67JSvnvnJ",
                     &k, NULL),
                 0);
    CHECK_STR_EQ(k.comment, "");
    line = cairn_pubkey_format(&k);
    CHECK_STR_EQ(
        line,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo+rELMHCuQt3"
        "MOL8C+67JSvnvnJ");
    free(line);
}

/* parse must fail with rc, a message containing want, and leave out alone */
static int parse_fails(const char *line, int rc, const char *want)
{
    struct cairn_pubkey k;
    struct cairn_diag d;
    int got;

    memset(&k, 0x5a, sizeof(k));
    cairn_diag_init(&d);
    got = cairn_pubkey_parse(line, &k, &d);
    if (got != rc || !strstr(cairn_diag_msg(&d), want) || k.pk[0] != 0x5a) {
        fprintf(stderr, "  parse \"%s\": got %s \"%s\"\n", line,
                cairn_errname(got), cairn_diag_msg(&d));
        return 0;
    }
    return 1;
}

static void test_pubkey_parse_refuses(void)
{
    char line[400];
    /* blob "ssh-ed25519" + 32 zero bytes: a small-order point */
    const char *zero_pk =
        "ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    CHECK(parse_fails("", CAIRN_EPARSE, "not an OpenSSH public key"));
    CHECK(
        parse_fails("hello world", CAIRN_EPARSE, "not an OpenSSH public key"));
    CHECK(parse_fails("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x", CAIRN_EKEY,
                      "'ssh-rsa' is not supported"));
    CHECK(
        parse_fails("ecdsa-sha2-nistp256 AAAA x", CAIRN_EKEY, "not supported"));
    CHECK(parse_fails("ssh-ed25519", CAIRN_EPARSE, "no key data"));
    CHECK(parse_fails(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo+rELMHCuQt3MOL8C"
        "+67JSvnvn x",
        CAIRN_EPARSE, "not valid base64"));
    /* the label says ed25519, the blob says ssh-rsa */
    CHECK(parse_fails("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB", CAIRN_EKEY,
                      "blob type is 'ssh-rsa'"));
    /* truncated blob: type only */
    CHECK(parse_fails("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", CAIRN_EPARSE,
                      "truncated"));
    /* a 31-byte key */
    CHECK(parse_fails(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAHwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAA=",
        CAIRN_EPARSE, "31 bytes"));
    CHECK(parse_fails(zero_pk, CAIRN_EKEY, "not a valid Ed25519 point"));
    CHECK(parse_fails(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo+rELMHCuQt3MOL8C"
        "+67JSvnvnJ a\nssh-ed25519 AAAA",
        CAIRN_EINVAL, "control character"));
    snprintf(line, sizeof(line), "%s %0128d", fixture_pub, 0);
    CHECK(parse_fails(line, CAIRN_EINVAL, "comment is"));
    snprintf(line, sizeof(line),
             "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFfgTmuveU9QdOtMjo+rELMHCu"
             "Qt3MOL8C+67JSvnvnJ %0127d",
             0);
    CHECK_INT_EQ(cairn_pubkey_parse(line, &(struct cairn_pubkey){0}, NULL), 0);
}

static void test_pubkey_load(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "k.pub"), text[512];
    struct cairn_pubkey k;
    struct cairn_diag d;

    snprintf(text, sizeof(text), "%s\n", fixture_pub);
    test_write_file(p, text, strlen(text));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), 0);
    CHECK_STR_EQ(k.comment, "test@host");

    snprintf(text, sizeof(text), "%s\n%s\n", fixture_pub, fixture_pub);
    test_write_file(p, text, strlen(text));
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), ":1: more than one line");
    CHECK_STR_HAS(cairn_diag_msg(&d), p);

    test_write_file(p, "ssh-ed25519 !!!\n", 16);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "k.pub:1: public key data is not valid base64");

    test_write_file(p, fixture_key, strlen(fixture_key));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "k.pub:1: this is a private key file");

    test_write_file(p, "ssh-ed25519 AA\0A\n", 17);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "NUL byte");

    free(p);
    p = path_in(dir, "missing.pub");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_pubkey_load(p, &k, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "missing.pub");
    free(p);
    test_rm_rf(dir);
    free(dir);
}

/* ---- secret key files --------------------------------------------------- */

static void test_fixture_loads(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "id");
    struct cairn_seckey k, want = key_from_seed(FIXTURE_SEED, FIXTURE_PK);
    struct cairn_diag d;

    write_secret(p, fixture_key);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_seckey_load(p, &k, &d), 0);
    CHECK(memcmp(k.sk, want.sk, 64) == 0);
    CHECK(memcmp(k.pub.pk, want.pub.pk, 32) == 0);
    CHECK_STR_EQ(k.pub.id, want.pub.id);
    CHECK_STR_EQ(k.pub.comment, "test@host");
    cairn_seckey_wipe(&k);
    for (size_t i = 0; i < 64; i++)
        CHECK_INT_EQ(k.sk[i], 0);
    cairn_seckey_wipe(NULL);

    /* CRLF line ends and blank lines around the armor are fine */
    {
        char crlf[1024];
        size_t o = 0;

        crlf[o++] = '\n';
        for (const char *c = fixture_key; *c; c++) {
            if (*c == '\n')
                crlf[o++] = '\r';
            crlf[o++] = *c;
        }
        crlf[o++] = '\n';
        crlf[o] = '\0';
        write_secret(p, crlf);
        CHECK_INT_EQ(cairn_seckey_load(p, &k, NULL), 0);
        CHECK(memcmp(k.sk, want.sk, 64) == 0);
    }
    free(p);
    test_rm_rf(dir);
    free(dir);
}

static void test_real_ssh_keygen_key(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "id_ed25519"),
         *pubp = path_in(dir, "id_ed25519.pub");
    struct cairn_seckey k;
    struct cairn_pubkey pub;
    struct cairn_diag d;
    uint8_t sig[64];
    char *line, out[512];

    REQUIRE(run(NULL, 0, "ssh-keygen -q -t ed25519 -N '' -C 'ci@cairn' -f '%s'",
                p) == 0);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_seckey_load(p, &k, &d), 0);
    if (d.code)
        fprintf(stderr, "  %s\n", cairn_diag_msg(&d));
    CHECK_INT_EQ(cairn_pubkey_load(pubp, &pub, &d), 0);
    CHECK(memcmp(k.pub.pk, pub.pk, 32) == 0);
    CHECK_STR_EQ(k.pub.id, pub.id);
    CHECK_STR_EQ(pub.comment, "ci@cairn");
    cairn_ed25519_sign(&k, "hello", 5, sig);
    CHECK_INT_EQ(cairn_ed25519_verify(&pub, "hello", 5, sig), 0);
    line = cairn_pubkey_format(&pub);
    REQUIRE(run(out, sizeof(out), "cat '%s'", pubp) == 0);
    CHECK_STR_EQ(line, out);
    free(line);
    cairn_seckey_wipe(&k);
    free(p);
    free(pubp);
    test_rm_rf(dir);
    free(dir);
}

static void test_save_load_ssh_keygen_accepts(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "cairn.key"), out[512], *line;
    struct cairn_seckey k, back;
    struct cairn_diag d;
    struct stat st;

    REQUIRE(cairn_seckey_generate("site hospital-a", &k) == 0);
    CHECK_INT_EQ(strlen(k.pub.id), 16);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_seckey_save(&k, p, &d), 0);
    REQUIRE(stat(p, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 07777, 0600);
    CHECK_INT_EQ(cairn_seckey_load(p, &back, &d), 0);
    CHECK(memcmp(back.sk, k.sk, 64) == 0);
    CHECK_STR_EQ(back.pub.comment, "site hospital-a");
    /* ssh-keygen derives the same public line from our file */
    line = cairn_pubkey_format(&k.pub);
    CHECK_INT_EQ(run(out, sizeof(out), "ssh-keygen -y -f '%s' 2>&1", p), 0);
    CHECK_STR_EQ(out, line);
    free(line);
    /* never replaces an existing file */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_seckey_save(&k, p, &d), CAIRN_EEXIST);
    CHECK_STR_HAS(cairn_diag_msg(&d), "already exists");
    CHECK_INT_EQ(cairn_seckey_load(p, &back, NULL), 0);
    CHECK(memcmp(back.sk, k.sk, 64) == 0);
    /* no temp files left behind */
    CHECK_INT_EQ(run(out, sizeof(out), "ls -A '%s' | wc -l", dir), 0);
    CHECK_STR_EQ(out, "1");
    free(p);
    p = path_in(dir, "no/such/dir/k");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_seckey_save(&k, p, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "no/such/dir/k");
    cairn_seckey_wipe(&k);
    cairn_seckey_wipe(&back);
    free(p);
    test_rm_rf(dir);
    free(dir);
}

static void test_generate(void)
{
    struct cairn_seckey a, b;
    char big[200];

    CHECK_INT_EQ(cairn_seckey_generate(NULL, &a), 0);
    CHECK_STR_EQ(a.pub.comment, "");
    CHECK_INT_EQ(cairn_seckey_generate("x", &b), 0);
    CHECK(memcmp(a.sk, b.sk, 64) != 0);
    CHECK(strcmp(a.pub.id, b.pub.id) != 0);
    memset(big, 'c', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT_EQ(cairn_seckey_generate(big, &a), CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_seckey_generate("a\nb", &a), CAIRN_EINVAL);
    cairn_seckey_wipe(&a);
    cairn_seckey_wipe(&b);
}

static void test_mode_refused(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "id");

    write_secret(p, fixture_key);
    chmod(p, 0644);
    CHECK(load_fails(p, CAIRN_EPERM, "mode 0644"));
    CHECK(load_fails(p, CAIRN_EPERM, "chmod 600"));
    chmod(p, 0640);
    CHECK(load_fails(p, CAIRN_EPERM, "mode 0640"));
    chmod(p, 0601);
    CHECK(load_fails(p, CAIRN_EPERM, "readable by group or others"));
    chmod(p, 0400);
    CHECK_INT_EQ(cairn_seckey_load(p, &(struct cairn_seckey){0}, NULL), 0);
    free(p);
    test_rm_rf(dir);
    free(dir);
}

static void test_garbage_refused(void)
{
    char *dir = test_tmpdir(), *p = path_in(dir, "id"), *text;
    char big[20000];

    write_secret(p, "");
    CHECK(load_fails(p, CAIRN_EKEY, "not an OpenSSH private key"));
    write_secret(p, "hello\nworld\n");
    CHECK(load_fails(p, CAIRN_EKEY,
                     "line 1 is not '-----BEGIN OPENSSH PRIVATE KEY-----'"));
    write_secret(p, fixture_pub);
    CHECK(load_fails(p, CAIRN_EKEY, "not an OpenSSH private key"));
    write_secret(p, "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA "
                    "PRIVATE KEY-----\n");
    CHECK(load_fails(p, CAIRN_EKEY, "not an OpenSSH private key"));
    /* cut in the middle: no END line */
    text = cairn_xstrndup(fixture_key, 150);
    write_secret(p, text);
    CHECK(load_fails(p, CAIRN_EPARSE, "truncated: no '-----END"));
    free(text);
    /* a body line dropped: 70 chars is not a multiple of 4 */
    text = cairn_xasprintf("%.36s%s", fixture_key, fixture_key + 36 + 71);
    write_secret(p, text);
    CHECK(load_fails(p, CAIRN_EPARSE, "not valid base64"));
    free(text);
    /* body lines 3 and 4 dropped: valid base64, truncated data */
    text = cairn_xasprintf("%.107s%s", fixture_key, fixture_key + 107 + 142);
    write_secret(p, text);
    CHECK(load_fails(p, CAIRN_EPARSE, "truncated"));
    free(text);
    text = cairn_xasprintf("%.40s %s", fixture_key, fixture_key + 40);
    write_secret(p, text);
    CHECK(load_fails(p, CAIRN_EPARSE, "line 2: unexpected character"));
    free(text);
    text = cairn_xasprintf("%sextra\n", fixture_key);
    write_secret(p, text);
    CHECK(load_fails(p, CAIRN_EPARSE, "line 8: data after"));
    free(text);
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_secret(p, big);
    CHECK(load_fails(p, CAIRN_ETOOBIG, "larger than"));
    free(p);
    p = path_in(dir, "missing");
    CHECK(load_fails(p, CAIRN_ENOENT, "No such file"));
    CHECK(load_fails(dir, CAIRN_EIO, "not a regular file"));
    free(p);
    test_rm_rf(dir);
    free(dir);
}

/* Byte-level corruptions of the fixture, each caught by its own check. */
static void test_corrupt_fields_refused(void)
{
    static const struct {
        size_t off;
        uint8_t xor ;
        int rc;
        const char *want;
    } cases[] = {
        {0, 0x01, CAIRN_EPARSE, "bad magic"},
        {OFF_CIPHER + 3, 0x01, CAIRN_EKEY, "key is encrypted (cipher nond)"},
        {OFF_NKEYS + 3, 0x03, CAIRN_EKEY, "holds 2 keys"},
        {OFF_CHECK1, 0x01, CAIRN_EPARSE, "check bytes differ"},
        {OFF_PRIV_TYPE + 4, 0x01, CAIRN_EKEY, "private key type"},
        {OFF_SEED, 0x01, CAIRN_EKEY,
         "secret key does not match its public key"},
        {OFF_PK_COPY, 0x01, CAIRN_EKEY, "copies of the public key"},
        {OFF_PAD_LAST, 0x01, CAIRN_EPARSE, "bad padding"},
    };
    char *dir = test_tmpdir(), *p = path_in(dir, "id");
    size_t n = 0;
    uint8_t *bin = fixture_bin(&n);

    REQUIRE(n == FIXTURE_BIN_LEN);
    write_armored(p, bin, n);
    CHECK_INT_EQ(cairn_seckey_load(p, &(struct cairn_seckey){0}, NULL), 0);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        bin[cases[i].off] ^= cases[i].xor ;
        write_armored(p, bin, n);
        CHECK(load_fails(p, cases[i].rc, cases[i].want));
        bin[cases[i].off] ^= cases[i].xor ;
    }
    /* truncated binary at every length */
    {
        int bad = 0;

        for (size_t len = 0; len < n; len++) {
            write_armored(p, bin, len);
            bad += cairn_seckey_load(p, &(struct cairn_seckey){0}, NULL) == 0;
        }
        CHECK_INT_EQ(bad, 0);
    }
    /* an encrypted key from ssh-keygen itself */
    unlink(p);
    if (run(NULL, 0, "ssh-keygen -q -t ed25519 -N 'pass phrase' -f '%s'", p) ==
        0)
        CHECK(
            load_fails(p, CAIRN_EKEY, "key is encrypted (cipher aes256-ctr)"));
    /* another key type */
    unlink(p);
    if (run(NULL, 0, "ssh-keygen -q -t ecdsa -N '' -f '%s'", p) == 0)
        CHECK(load_fails(p, CAIRN_EKEY, "not ssh-ed25519"));
    free(bin);
    free(p);
    test_rm_rf(dir);
    free(dir);
}

/* ---- cross-checks with PyNaCl ------------------------------------------- */

#define PY "/usr/bin/python3 -c "

static void test_python_cross_check(void)
{
    struct cairn_seckey k;
    uint8_t sig[64], msg[100];
    char out[512], *pk, *m, *s, *seed;

    REQUIRE(cairn_seckey_generate("x", &k) == 0);
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 31);
    cairn_ed25519_sign(&k, msg, sizeof(msg), sig);
    pk = hexdup(k.pub.pk, 32);
    m = hexdup(msg, sizeof(msg));
    s = hexdup(sig, 64);
    seed = hexdup(k.sk, 32);
    /* PyNaCl verifies our signature ... */
    CHECK_INT_EQ(run(out, sizeof(out),
                     PY "'import sys, nacl.signing as s; "
                        "s.VerifyKey(bytes.fromhex(sys.argv[1])).verify(bytes."
                        "fromhex(sys.argv[2]), "
                        "bytes.fromhex(sys.argv[3])); print(\"ok\")' %s %s %s",
                     pk, m, s),
                 0);
    CHECK_STR_EQ(out, "ok");
    /* ... and rejects a forged one */
    s[0] = s[0] == '0' ? '1' : '0';
    CHECK(run(NULL, 0,
              PY "'import sys, nacl.signing as s; "
                 "s.VerifyKey(bytes.fromhex(sys.argv[1])).verify(bytes.fromhex("
                 "sys.argv[2]), "
                 "bytes.fromhex(sys.argv[3]))' %s %s %s 2>/dev/null",
              pk, m, s) != 0);
    free(s);
    /* ... and signing from the same seed gives the same (deterministic) bytes
     */
    s = hexdup(sig, 64);
    CHECK_INT_EQ(run(out, sizeof(out),
                     PY "'import sys, nacl.signing as s; "
                        "print(s.SigningKey(bytes.fromhex(sys.argv[1])).sign("
                        "bytes.fromhex(sys.argv[2])).signature.hex())' %s %s",
                     seed, m),
                 0);
    CHECK_STR_EQ(out, s);
    cairn_seckey_wipe(&k);
    free(pk);
    free(m);
    free(s);
    free(seed);
}

/* ---- sealed boxes ------------------------------------------------------- */

static void test_seal_roundtrip(void)
{
    struct cairn_seckey a, b;
    const char *secret = "db-password: hunter2";
    uint8_t *box = NULL, *plain = NULL;
    size_t blen = 0, plen = 0;

    REQUIRE(cairn_seckey_generate("a", &a) == 0 &&
            cairn_seckey_generate("b", &b) == 0);
    REQUIRE(cairn_seal(&a.pub, (const uint8_t *)secret, strlen(secret), &box,
                       &blen) == 0);
    CHECK_INT_EQ(blen, strlen(secret) + 48);
    CHECK_INT_EQ(cairn_unseal(&a, box, blen, &plain, &plen), 0);
    CHECK_INT_EQ(plen, strlen(secret));
    CHECK_STR_EQ((char *)plain, secret);
    free(plain);
    plain = (uint8_t *)"untouched";
    /* wrong key, altered box, short box */
    CHECK_INT_EQ(cairn_unseal(&b, box, blen, &plain, &plen), CAIRN_ESIG);
    box[blen - 1] ^= 1;
    CHECK_INT_EQ(cairn_unseal(&a, box, blen, &plain, &plen), CAIRN_ESIG);
    CHECK_INT_EQ(cairn_unseal(&a, box, 47, &plain, &plen), CAIRN_ESIG);
    CHECK_INT_EQ(cairn_unseal(&a, box, 0, &plain, &plen), CAIRN_ESIG);
    CHECK_STR_EQ((char *)plain, "untouched");
    free(box);
    /* empty message */
    REQUIRE(cairn_seal(&b.pub, (const uint8_t *)"", 0, &box, &blen) == 0);
    CHECK_INT_EQ(cairn_unseal(&b, box, blen, &plain, &plen), 0);
    CHECK_INT_EQ(plen, 0);
    free(plain);
    free(box);
    /* an unusable recipient key */
    memset(b.pub.pk, 0, 32);
    CHECK_INT_EQ(cairn_seal(&b.pub, (const uint8_t *)"x", 1, &box, &blen),
                 CAIRN_EKEY);
    cairn_seckey_wipe(&a);
    cairn_seckey_wipe(&b);
}

static void test_seal_python_cross_check(void)
{
    struct cairn_seckey k;
    uint8_t *box = NULL, *plain = NULL, raw[256];
    size_t blen = 0, plen = 0, rlen;
    char out[1024], *seed, *hbox, *pk;

    REQUIRE(cairn_seckey_generate("site", &k) == 0);
    REQUIRE(cairn_seal(&k.pub, (const uint8_t *)"sealed by cairn", 15, &box,
                       &blen) == 0);
    seed = hexdup(k.sk, 32);
    hbox = hexdup(box, blen);
    pk = hexdup(k.pub.pk, 32);
    /* PyNaCl opens our box with the X25519 form of the site key */
    CHECK_INT_EQ(run(out, sizeof(out),
                     PY
                     "'import sys, nacl.signing, nacl.public; "
                     "sk = nacl.signing.SigningKey(bytes.fromhex(sys.argv[1]))"
                     ".to_curve25519_private_key(); "
                     "print(nacl.public.SealedBox(sk).decrypt(bytes.fromhex("
                     "sys.argv[2]))"
                     ".decode())' %s %s",
                     seed, hbox),
                 0);
    CHECK_STR_EQ(out, "sealed by cairn");
    /* and we open a box PyNaCl sealed to the site's public key */
    CHECK_INT_EQ(run(out, sizeof(out),
                     PY
                     "'import sys, nacl.signing, nacl.public; "
                     "pk = nacl.signing.VerifyKey(bytes.fromhex(sys.argv[1]))"
                     ".to_curve25519_public_key(); "
                     "print(nacl.public.SealedBox(pk).encrypt(b\"sealed by "
                     "pynacl\").hex())' %s",
                     pk),
                 0);
    rlen = strlen(out) / 2;
    REQUIRE(rlen < sizeof(raw) && cairn_hex_decode(out, raw, rlen) == 0);
    CHECK_INT_EQ(cairn_unseal(&k, raw, rlen, &plain, &plen), 0);
    CHECK_INT_EQ(plen, 16);
    CHECK(plain && memcmp(plain, "sealed by pynacl", 16) == 0);
    cairn_seckey_wipe(&k);
    free(plain);
    free(box);
    free(seed);
    free(hbox);
    free(pk);
}

/* ---- HMAC, random, compare, keyset -------------------------------------- */

static void test_auth(void)
{
    /* RFC 4231 test case 2 (HMAC-SHA-512, key "Jefe"): HMAC pads the key
     * with zeros, so the zero-padded 32-byte key gives the same MAC, and
     * crypto_auth is its first 32 bytes. */
    uint8_t key[32] = {'J', 'e', 'f', 'e'}, tag[32], want[32];
    const char *msg = "what do ya want for nothing?";

    unhex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554",
          want, 32);
    cairn_auth(key, msg, strlen(msg), tag);
    CHECK(memcmp(tag, want, 32) == 0);
    CHECK_INT_EQ(cairn_auth_verify(key, msg, strlen(msg), tag), 0);
    tag[31] ^= 1;
    CHECK_INT_EQ(cairn_auth_verify(key, msg, strlen(msg), tag), CAIRN_ESIG);
    tag[31] ^= 1;
    CHECK_INT_EQ(cairn_auth_verify(key, msg, strlen(msg) - 1, tag), CAIRN_ESIG);
    key[0] = 'j';
    CHECK_INT_EQ(cairn_auth_verify(key, msg, strlen(msg), tag), CAIRN_ESIG);
}

static void test_random_and_compare(void)
{
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};

    cairn_random(a, sizeof(a));
    cairn_random(b, sizeof(b));
    CHECK(cairn_memeq_ct(a, b, 32) != 0);
    CHECK(cairn_memeq_ct(a, zero, 32) != 0);
    memcpy(b, a, 32);
    CHECK_INT_EQ(cairn_memeq_ct(a, b, 32), 0);
    b[31] ^= 0x80;
    CHECK(cairn_memeq_ct(a, b, 32) != 0);
    CHECK_INT_EQ(cairn_memeq_ct(a, b, 31), 0);
    CHECK_INT_EQ(cairn_memeq_ct(a, b, 0), 0);
}

static void test_keyset(void)
{
    struct cairn_keyset ks;
    struct cairn_seckey a, b;

    REQUIRE(cairn_seckey_generate("a", &a) == 0 &&
            cairn_seckey_generate("b", &b) == 0);
    cairn_keyset_init(&ks);
    CHECK(cairn_keyset_find(&ks, a.pub.id) == NULL);
    cairn_keyset_add(&ks, &a.pub);
    cairn_keyset_add(&ks, &b.pub);
    cairn_keyset_add(&ks, &a.pub);
    CHECK_INT_EQ(ks.n, 2);
    REQUIRE(cairn_keyset_find(&ks, b.pub.id) != NULL);
    CHECK(memcmp(cairn_keyset_find(&ks, b.pub.id)->pk, b.pub.pk, 32) == 0);
    CHECK(cairn_keyset_find(&ks, "0000000000000000") == NULL);
    CHECK(cairn_keyset_find(&ks, NULL) == NULL);
    CHECK(cairn_keyset_find(NULL, a.pub.id) == NULL);
    cairn_keyset_free(&ks);
    CHECK_INT_EQ(ks.n, 0);
    cairn_keyset_free(NULL);
    cairn_seckey_wipe(&a);
    cairn_seckey_wipe(&b);
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    CHECK_INT_EQ(cairn_keys_init(), 0); /* idempotent */
    RUN(test_rfc8032_vectors);
    RUN(test_keyid);
    RUN(test_pubkey_parse_format);
    RUN(test_pubkey_parse_refuses);
    RUN(test_pubkey_load);
    RUN(test_fixture_loads);
    RUN(test_real_ssh_keygen_key);
    RUN(test_save_load_ssh_keygen_accepts);
    RUN(test_generate);
    RUN(test_mode_refused);
    RUN(test_garbage_refused);
    RUN(test_corrupt_fields_refused);
    RUN(test_python_cross_check);
    RUN(test_seal_roundtrip);
    RUN(test_seal_python_cross_check);
    RUN(test_auth);
    RUN(test_random_and_compare);
    RUN(test_keyset);
    return test_done();
}
