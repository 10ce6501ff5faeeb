/*
 * SSHSIG parsing and verification, and allowed_signers files, checked
 * against real ssh-keygen signatures and real `git commit -S` commits;
 * `git verify-commit` must agree on every good and bad case.
 */
#include <stdint.h>
#include <time.h>

#include "cairn/encoding.h"
#include "cairn/git.h"
#include "cairn/mem.h"
#include "cairn/sshsig.h"
#include "gitutil.h"
#include "test.h"

static char *tmp;
static char *repo;
static char alice_b64[128], bob_b64[128];

static char *at(const char *name)
{
    return cairn_xasprintf("%s/%s", tmp, name);
}

static void keygen(const char *name, const char *type)
{
    SH_OK("ssh-keygen -q -t %s -N '' -C %s@example.com -f '%s/%s'", type, name,
          tmp, name);
}

static void pub_b64(const char *name, char *out, size_t n)
{
    SH_OK("cut -d' ' -f2 '%s/%s.pub'", tmp, name);
    snprintf(out, n, "%.100s", sh_out);
}

static void write_signers(const char *name, const char *text)
{
    char *p = at(name);

    test_write_file(p, text, strlen(text));
    free(p);
}

static struct cairn_sshsig_signers *signers_from(const char *text)
{
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_sshsig_signers_parse(text, strlen(text), "allowed_signers", &s,
                                   &d) != 0)
        fprintf(stderr, "signers: %s\n", d.msg);
    return s;
}

/* ---- commits ---------------------------------------------------------- */

static struct cairn_git_oid signed_commit(const char *key, const char *msg)
{
    SH_OK("cd '%s' && echo '%s' >> log.txt && git add -A && "
          "git -c gpg.format=ssh -c user.signingkey='%s/%s' commit -q -S "
          "-m '%s'",
          repo, msg, tmp, key, msg);
    return rev_parse(repo, "HEAD");
}

/* Write a commit object built by a shell pipeline and return its id. */
static struct cairn_git_oid hash_commit(const char *pipeline)
{
    SH_OK("cd '%s' && %s | git hash-object -t commit -w --stdin", repo,
          pipeline);
    {
        struct cairn_git_oid o;
        snprintf(o.hex, sizeof(o.hex), "%.40s", sh_out);
        return o;
    }
}

/* Insert a gpgsig header (from sigfile) into the commit object on stdin,
 * after the committer line, as git writes it. */
static const char *insert_sig_py =
    "import sys\n"
    "raw = sys.stdin.buffer.read()\n"
    "sig = open(sys.argv[1], 'rb').read().rstrip(b'\\n').split(b'\\n')\n"
    "head, body = raw.split(b'\\n\\n', 1)\n"
    "hdr = b'gpgsig ' + b'\\n '.join(sig)\n"
    "sys.stdout.buffer.write(head + b'\\n' + hdr + b'\\n\\n' + body)\n";

/* Result of cairn_git_verify_commit and whether `git verify-commit` with
 * the same allowed_signers file accepts the commit. */
static int verify(const struct cairn_git_oid *c, const char *signers_file,
                  struct cairn_sshsig_result *res, int *git_ok)
{
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_git *g = NULL;
    char *path = at(signers_file);
    int rc;

    if (cairn_sshsig_signers_load(path, &s, NULL) != 0 ||
        cairn_git_open(repo, NULL, NULL, &g, NULL) != 0)
        abort();
    rc = cairn_git_verify_commit(g, c, s, res, NULL);
    *git_ok = sh("git -C '%s' -c gpg.ssh.allowedSignersFile='%s' "
                 "verify-commit %s",
                 repo, path, c->hex) == 0;
    cairn_git_free(g);
    cairn_sshsig_signers_free(s);
    free(path);
    return rc;
}

static void test_commit_good(void)
{
    struct cairn_git_oid c = signed_commit("alice", "good message");
    struct cairn_sshsig_result res;
    char want_id[32];
    int git_ok = 0;

    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK_STR_EQ(res.principal, "alice@example.com");
    CHECK_INT_EQ(res.line, 2);
    CHECK_STR_HAS(res.text, "alice@example.com");
    CHECK_STR_EQ(cairn_sshsig_status_name(res.status), "verified");
    CHECK(git_ok);
    CHECK_STR_HAS(sh_out, "Good \"git\" signature for alice@example.com");
    /* The fingerprint ssh-keygen prints, and the cairn key id computed
     * independently: first 16 hex of SHA-256 of the raw key. */
    SH_OK("ssh-keygen -lf '%s/alice.pub' | cut -d' ' -f2", tmp);
    CHECK_STR_EQ(res.fingerprint, sh_out);
    SH_OK("/usr/bin/python3 -c \"import base64,hashlib;"
          "b=base64.b64decode('%s');"
          "print(hashlib.sha256(b[-32:]).hexdigest()[:16])\"",
          alice_b64);
    snprintf(want_id, sizeof(want_id), "%.16s", sh_out);
    CHECK_STR_EQ(res.keyid, want_id);
}

static void test_commit_unknown_signer(void)
{
    struct cairn_git_oid c = signed_commit("bob", "bob was here");
    struct cairn_sshsig_result res;
    int git_ok = 1;

    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_UNKNOWN_KEY);
    CHECK_STR_EQ(res.principal, "");
    CHECK_INT_EQ(strlen(res.keyid), 16);
    CHECK_STR_HAS(res.text, "not in");
    CHECK(!git_ok);
    SH_OK("ssh-keygen -lf '%s/bob.pub' | cut -d' ' -f2", tmp);
    CHECK_STR_EQ(res.fingerprint, sh_out);
}

/* Same gpgsig header, different message: the signature no longer covers
 * the object. */
static void test_commit_tampered(void)
{
    struct cairn_git_oid c = signed_commit("alice", "pay 10 dollars"), bad;
    struct cairn_sshsig_result res;
    char cmd[256];
    int git_ok = 1;

    snprintf(cmd, sizeof(cmd),
             "git cat-file commit %s | sed 's/pay 10 dollars/pay 1000 "
             "dollars/'",
             c.hex);
    bad = hash_commit(cmd);
    SH_OK("git -C '%s' branch -f tampered %s", repo, bad.hex);
    SH_OK("git -C '%s' cat-file commit tampered", repo);
    REQUIRE(strstr(sh_out, "gpgsig -----BEGIN SSH SIGNATURE-----"));
    REQUIRE(strstr(sh_out, "pay 1000 dollars"));
    REQUIRE(verify(&bad, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_BAD);
    CHECK_STR_HAS(res.text, "does not verify");
    CHECK(!git_ok);
    /* and the untampered original still verifies */
    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK(git_ok);
}

static void test_commit_unsigned(void)
{
    struct cairn_git_oid c = commit_all(repo, "unsigned");
    struct cairn_sshsig_result res;
    int git_ok = 1;

    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_UNSIGNED);
    CHECK_STR_EQ(res.keyid, "");
    CHECK(!git_ok);
}

/* A commit whose gpgsig is a valid signature by alice over the exact
 * commit bytes, but made for the "file" namespace. */
static void test_commit_wrong_namespace(void)
{
    struct cairn_git_oid u = commit_all(repo, "to be signed as a file"), c;
    struct cairn_sshsig_result res;
    char cmd[1024];
    int git_ok = 1;

    SH_OK("cd '%s' && git -C '%s' cat-file commit %s > payload && "
          "rm -f payload.sig && ssh-keygen -q -Y sign -n file -f alice payload",
          tmp, repo, u.hex);
    snprintf(cmd, sizeof(cmd),
             "git cat-file commit %s | /usr/bin/python3 '%s/insert_sig.py' "
             "'%s/payload.sig'",
             u.hex, tmp, tmp);
    c = hash_commit(cmd);
    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_BAD);
    CHECK_STR_HAS(res.text, "namespace \"file\"");
    CHECK(!git_ok);

    /* The same construction with namespace git is accepted by both, which
     * shows the insertion itself is faithful. */
    SH_OK("cd '%s' && rm -f payload.sig && "
          "ssh-keygen -q -Y sign -n git -f alice payload",
          tmp);
    c = hash_commit(cmd);
    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK(git_ok);
}

static void test_commit_malformed_armor(void)
{
    struct cairn_git_oid u = commit_all(repo, "garbage signature"), c;
    struct cairn_sshsig_result res;
    char cmd[1024];
    int git_ok = 1;
    char *sig = at("garbage.sig");
    const char *text = "-----BEGIN SSH SIGNATURE-----\n"
                       "U1NIU0lHAAAAAQ==!!\n"
                       "-----END SSH SIGNATURE-----\n";

    test_write_file(sig, text, strlen(text));
    snprintf(cmd, sizeof(cmd),
             "git cat-file commit %s | /usr/bin/python3 '%s/insert_sig.py' "
             "'%s'",
             u.hex, tmp, sig);
    c = hash_commit(cmd);
    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_BAD);
    CHECK_STR_HAS(res.text, "base64");
    CHECK(!git_ok);
    free(sig);
}

/* A commit object with a NUL byte in its message, signed correctly over
 * its exact bytes. The signed data must reach the verifier whole: a copy
 * cut at the NUL but reported with the full length was read past its end
 * (and, without a sanitizer, verified garbage). git accepts the commit. */
static void test_commit_nul_in_message(void)
{
    struct cairn_git_oid u = commit_all(repo, "nul follows"), c;
    struct cairn_sshsig_result res;
    char cmd[1024];
    int git_ok = 0;

    SH_OK("cd '%s' && git -C '%s' cat-file commit %s > nul.raw && "
          "printf 'tail\\000after the nul\\n' >> nul.raw && "
          "rm -f nul.raw.sig && ssh-keygen -q -Y sign -n git -f alice nul.raw",
          tmp, repo, u.hex);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 '%s/insert_sig.py' '%s/nul.raw.sig' "
             "< '%s/nul.raw' | git hash-object -t commit -w --literally "
             "--stdin > '%s/nul.id' && cat '%s/nul.id'",
             tmp, tmp, tmp, tmp, tmp);
    SH_OK("cd '%s' && %s", repo, cmd);
    snprintf(c.hex, sizeof(c.hex), "%.40s", sh_out);
    SH_OK("git -C '%s' cat-file commit %s | od -c | grep -c '\\0'", repo,
          c.hex);
    REQUIRE(verify(&c, "signers", &res, &git_ok) == 0);
    if (res.status != CAIRN_SSHSIG_VERIFIED)
        fprintf(stderr, "  %s\n", res.text);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK(git_ok);
}

/* The other way round: a good signed commit with bytes added after a NUL
 * at the end of its message. The signature does not cover them, so git
 * rejects the commit; a verifier that stops at the NUL would call this
 * new commit (another id, unsigned content) good. */
static void test_commit_nul_appended(void)
{
    struct cairn_git_oid c = signed_commit("alice", "signed as is"), bad;
    struct cairn_sshsig_result res;
    char cmd[256];
    int git_ok = 1;

    snprintf(cmd, sizeof(cmd),
             "{ git cat-file commit %s; printf '\\000unsigned tail\\n'; }",
             c.hex);
    SH_OK("cd '%s' && %s | git hash-object -t commit -w --literally --stdin",
          repo, cmd);
    snprintf(bad.hex, sizeof(bad.hex), "%.40s", sh_out);
    REQUIRE(strcmp(bad.hex, c.hex) != 0);
    REQUIRE(verify(&bad, "signers", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_BAD);
    CHECK(!git_ok);
}

/* valid-before / valid-after / namespaces options, with git agreeing. */
static void test_commit_key_windows(void)
{
    struct cairn_git_oid c = signed_commit("alice", "time matters");
    struct cairn_sshsig_result res;
    char text[512];
    int git_ok = 1;

    snprintf(text, sizeof(text),
             "alice@example.com valid-before=\"20200101Z\" ssh-ed25519 %s\n",
             alice_b64);
    write_signers("expired", text);
    REQUIRE(verify(&c, "expired", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_KEY_NOT_ALLOWED);
    CHECK_STR_HAS(res.text, "expired");
    CHECK_STR_EQ(res.principal, "alice@example.com");
    CHECK(!git_ok);

    snprintf(text, sizeof(text),
             "alice@example.com valid-after=\"20990101Z\" ssh-ed25519 %s\n",
             alice_b64);
    write_signers("future", text);
    REQUIRE(verify(&c, "future", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_KEY_NOT_ALLOWED);
    CHECK_STR_HAS(res.text, "not valid yet");
    CHECK(!git_ok);

    snprintf(text, sizeof(text),
             "alice@example.com namespaces=\"file,email\" ssh-ed25519 %s\n",
             alice_b64);
    write_signers("fileonly", text);
    REQUIRE(verify(&c, "fileonly", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_KEY_NOT_ALLOWED);
    CHECK_STR_HAS(res.text, "namespace");
    CHECK(!git_ok);

    /* an expired line first, then a current one: the current one wins */
    snprintf(text, sizeof(text),
             "old@example.com valid-before=\"20200101Z\" ssh-ed25519 %s\n"
             "alice@example.com valid-after=\"20200101\",Valid-Before="
             "\"20990101\",NAMESPACES=\"g*\" ssh-ed25519 %s\n",
             alice_b64, alice_b64);
    write_signers("window", text);
    REQUIRE(verify(&c, "window", &res, &git_ok) == 0);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK_INT_EQ(res.line, 2);
    CHECK_STR_EQ(res.principal, "alice@example.com");
    CHECK(git_ok);
}

/* ---- plain signatures made by ssh-keygen ------------------------------ */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = cairn_xmalloc(65536);

    if (!f)
        abort();
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static char *sign_file(const char *ns, const char *extra, size_t *len)
{
    char *p;
    char *sig;

    SH_OK("cd '%s' && printf 'hello world\\n' > msg.txt && rm -f msg.txt.sig "
          "&& ssh-keygen -q -Y sign -n %s %s -f alice msg.txt",
          tmp, ns, extra);
    p = at("msg.txt.sig");
    sig = slurp(p, len);
    free(p);
    return sig;
}

static void test_plain_signatures(void)
{
    const char *msg = "hello world\n";
    struct cairn_sshsig_signers *s;
    struct cairn_sshsig_result res;
    struct cairn_sshsig sig;
    char text[256];
    size_t len;
    char *armored;

    snprintf(text, sizeof(text), "*@example.com ssh-ed25519 %s\n", alice_b64);
    s = signers_from(text);
    REQUIRE(s);
    armored = sign_file("file", "", &len);
    REQUIRE(cairn_sshsig_parse(armored, len, &sig, NULL) == 0);
    CHECK_STR_EQ(sig.ns, "file");
    CHECK_INT_EQ(sig.hash, CAIRN_SSHSIG_SHA512); /* ssh-keygen's default */
    CHECK_INT_EQ(cairn_sshsig_check(&sig, "file", msg, strlen(msg), NULL), 0);
    CHECK_INT_EQ(cairn_sshsig_check(&sig, "file", msg, strlen(msg) - 1, NULL),
                 CAIRN_ESIG);
    CHECK_INT_EQ(cairn_sshsig_check(&sig, "git", msg, strlen(msg), NULL),
                 CAIRN_ESIG);
    cairn_sshsig_verify(s, armored, len, msg, strlen(msg), "file", 0, &res);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    CHECK_STR_EQ(res.principal, "*@example.com");
    cairn_sshsig_verify(s, armored, len, msg, strlen(msg), "git", 0, &res);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_BAD);
    CHECK_STR_HAS(res.text, "namespace");
    cairn_sshsig_verify(NULL, armored, len, msg, strlen(msg), "file", 0, &res);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_UNKNOWN_KEY);
    cairn_sshsig_verify(s, NULL, 0, msg, strlen(msg), "file", 0, &res);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_UNSIGNED);
    free(armored);

    armored = sign_file("file", "-O hashalg=sha256", &len);
    REQUIRE(cairn_sshsig_parse(armored, len, &sig, NULL) == 0);
    CHECK_INT_EQ(sig.hash, CAIRN_SSHSIG_SHA256);
    cairn_sshsig_verify(s, armored, len, msg, strlen(msg), "file", 0, &res);
    CHECK_INT_EQ(res.status, CAIRN_SSHSIG_VERIFIED);
    free(armored);
    cairn_sshsig_signers_free(s);
}

/* An ECDSA signature is refused as unsupported, naming its type. */
static void test_other_key_type(void)
{
    struct cairn_sshsig sig;
    struct cairn_diag d;
    size_t len;
    char *p, *armored;

    SH_OK("cd '%s' && printf x > e.txt && rm -f e.txt.sig && "
          "ssh-keygen -q -Y sign -n git -f ecdsa e.txt",
          tmp);
    p = at("e.txt.sig");
    armored = slurp(p, &len);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_sshsig_parse(armored, len, &sig, &d),
                 CAIRN_EUNSUPPORTED);
    CHECK_STR_HAS(d.msg, "ecdsa-sha2-nistp256");
    CHECK_STR_HAS(d.msg, "only ssh-ed25519");
    free(armored);
    free(p);
}

/* ---- hand-built blobs --------------------------------------------------- */

struct blob {
    uint8_t b[1024];
    size_t n;
};

static void put_raw(struct blob *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put_u32(struct blob *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                    (uint8_t)v};
    put_raw(b, x, 4);
}

static void put_str(struct blob *b, const void *p, size_t n)
{
    put_u32(b, (uint32_t)n);
    put_raw(b, p, n);
}

struct parts {
    uint32_t version;
    const char *keytype;
    size_t pklen;
    const char *ns;
    const char *reserved;
    const char *hash;
    const char *sigtype;
    size_t siglen;
    size_t trailing;
};

/* Armor as ssh-keygen writes it: base64 wrapped at 70 columns. */
static char *armor(const uint8_t *blob, size_t n)
{
    char *b64 = cairn_base64_encode(blob, n);
    struct cairn_buf b;
    size_t len = strlen(b64);

    cairn_buf_init(&b, 65536);
    if (cairn_buf_appendf(&b, "-----BEGIN SSH SIGNATURE-----\n") != 0)
        abort();
    for (size_t i = 0; i < len; i += 70)
        if (cairn_buf_appendf(&b, "%.70s\n", b64 + i) != 0)
            abort();
    if (cairn_buf_appendf(&b, "-----END SSH SIGNATURE-----\n") != 0)
        abort();
    free(b64);
    return cairn_buf_steal(&b, NULL);
}

/* Build an SSHSIG from parts around a real key and signature. */
static char *build(const struct parts *p, const struct cairn_sshsig *real)
{
    struct blob b = {.n = 0}, k = {.n = 0}, s = {.n = 0};
    uint8_t zeros[8] = {0};

    put_raw(&b, "SSHSIG", 6);
    put_u32(&b, p->version);
    put_str(&k, p->keytype, strlen(p->keytype));
    put_str(&k, real->key.pk, p->pklen);
    put_str(&b, k.b, k.n);
    put_str(&b, p->ns, strlen(p->ns));
    put_str(&b, p->reserved, strlen(p->reserved));
    put_str(&b, p->hash, strlen(p->hash));
    put_str(&s, p->sigtype, strlen(p->sigtype));
    put_str(&s, real->sig, p->siglen);
    put_str(&b, s.b, s.n);
    put_raw(&b, zeros, p->trailing);
    return armor(b.b, b.n);
}

static int parse_parts(const struct parts *p, const struct cairn_sshsig *real,
                       struct cairn_diag *d)
{
    struct cairn_sshsig out;
    char *a = build(p, real);
    int rc;

    cairn_diag_init(d);
    rc = cairn_sshsig_parse(a, strlen(a), &out, d);
    free(a);
    return rc;
}

static void test_blob_fields(void)
{
    const struct parts good = {1,        "ssh-ed25519", 32, "git", "",
                               "sha512", "ssh-ed25519", 64, 0};
    struct cairn_sshsig real, again;
    struct parts p;
    struct cairn_diag d;
    size_t len;
    char *armored = sign_file("git", "", &len), *a;

    REQUIRE(cairn_sshsig_parse(armored, len, &real, NULL) == 0);
    /* the builder reproduces ssh-keygen's bytes exactly */
    a = build(&good, &real);
    CHECK_STR_EQ(a, armored);
    CHECK_INT_EQ(cairn_sshsig_parse(a, strlen(a), &again, NULL), 0);
    CHECK(memcmp(&again, &real, sizeof(real)) == 0);
    free(a);

#define BAD(field, value, code, text)                                          \
    do {                                                                       \
        p = good;                                                              \
        p.field = value;                                                       \
        CHECK_INT_EQ(parse_parts(&p, &real, &d), code);                        \
        CHECK_STR_HAS(d.msg, text);                                            \
    } while (0)
    BAD(version, 2, CAIRN_EUNSUPPORTED, "version 2");
    BAD(keytype, "ssh-rsa", CAIRN_EUNSUPPORTED, "'ssh-rsa'");
    BAD(pklen, 31, CAIRN_EPARSE, "not 32 bytes");
    BAD(ns, "", CAIRN_EPARSE, "namespace");
    BAD(ns,
        "0123456789012345678901234567890123456789012345678901234567890"
        "12345",
        CAIRN_EPARSE, "namespace");
    BAD(reserved, "x", CAIRN_EPARSE, "reserved");
    BAD(hash, "md5", CAIRN_EUNSUPPORTED, "'md5'");
    BAD(sigtype, "rsa-sha2-512", CAIRN_EUNSUPPORTED, "rsa-sha2-512");
    BAD(siglen, 63, CAIRN_EPARSE, "not 64 bytes");
    BAD(trailing, 1, CAIRN_EPARSE, "stray");
#undef BAD
    {
        /* wrong magic */
        uint8_t *blob;
        size_t n;
        const char *body = strchr(armored, '\n') + 1;
        const char *end = strstr(body, "-----END");
        struct cairn_buf b64;

        cairn_buf_init(&b64, 4096);
        for (const char *c = body; c < end; c++)
            if (*c != '\n')
                REQUIRE(cairn_buf_append(&b64, c, 1) == 0);
        REQUIRE(cairn_base64_decode(b64.data, b64.len, &blob, &n) == 0);
        blob[0] = 'X';
        a = armor(blob, n);
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_sshsig_parse(a, strlen(a), &again, &d),
                     CAIRN_EPARSE);
        CHECK_STR_HAS(d.msg, "magic");
        free(a);
        blob[0] = 'S';
        /* every truncation fails cleanly */
        for (size_t cut = 0; cut < n; cut++) {
            a = armor(blob, cut);
            CHECK(cairn_sshsig_parse(a, strlen(a), &again, NULL) != 0);
            free(a);
        }
        free(blob);
        cairn_buf_free(&b64);
    }
    free(armored);
}

static void test_armor(void)
{
    struct cairn_sshsig sig;
    struct cairn_diag d;
    size_t len;
    char *armored = sign_file("git", "", &len);
    struct cairn_buf b;
    char *big;

#define ARMOR_BAD(text, code, want)                                            \
    do {                                                                       \
        cairn_diag_init(&d);                                                   \
        CHECK_INT_EQ(cairn_sshsig_parse(text, strlen(text), &sig, &d), code);  \
        CHECK_STR_HAS(d.msg, want);                                            \
    } while (0)
    ARMOR_BAD("", CAIRN_EPARSE, "does not start");
    ARMOR_BAD("-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----"
              "\n",
              CAIRN_EPARSE, "does not start");
    ARMOR_BAD(strchr(armored, '\n') + 1, CAIRN_EPARSE, "does not start");
    ARMOR_BAD("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n", CAIRN_EPARSE,
              "no '-----END");
    ARMOR_BAD("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
              CAIRN_EPARSE, "base64");
    ARMOR_BAD("-----BEGIN SSH SIGNATURE-----\nU1NI U0lH\n"
              "-----END SSH SIGNATURE-----\n",
              CAIRN_EPARSE, "base64");
    {
        char *trail = cairn_xasprintf("%sextra\n", armored);
        ARMOR_BAD(trail, CAIRN_EPARSE, "after the end");
        free(trail);
    }
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn_sshsig_parse("-----BEGIN SSH SIGNATURE-----\n\0", 31, &sig, &d),
        CAIRN_EPARSE);
    CHECK_STR_HAS(d.msg, "NUL");
    big = cairn_xmalloc(CAIRN_SSHSIG_MAX_ARMOR + 2);
    memset(big, 'A', CAIRN_SSHSIG_MAX_ARMOR + 1);
    big[CAIRN_SSHSIG_MAX_ARMOR + 1] = '\0';
    ARMOR_BAD(big, CAIRN_ETOOBIG, "cap");
    free(big);
#undef ARMOR_BAD

    /* CRLF line ends and a missing final newline are fine */
    cairn_buf_init(&b, 65536);
    for (const char *c = armored; *c; c++) {
        if (*c == '\n')
            REQUIRE(cairn_buf_append(&b, "\r", 1) == 0);
        REQUIRE(cairn_buf_append(&b, c, 1) == 0);
    }
    CHECK_INT_EQ(cairn_sshsig_parse(b.data, b.len, &sig, NULL), 0);
    CHECK_INT_EQ(cairn_sshsig_parse(armored, len - 1, &sig, NULL), 0);
    cairn_buf_free(&b);
    free(armored);
}

/* ---- allowed_signers ---------------------------------------------------- */

static void test_signers_file(void)
{
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_diag d;
    char *text;

    text = cairn_xasprintf(
        "# team keys\n"
        "\n"
        "   \t\n"
        "alice@example.com,*@ops.example.com ssh-ed25519 %s alice laptop\r\n"
        "\"bob@example.com\" namespaces=\"git\",valid-after=\"20240101Z\","
        "valid-before=\"202401011230Z\" ssh-ed25519 %s\n"
        "ca@example.com cert-authority ssh-ed25519 %s\n"
        "rsa@example.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ\n"
        "  eve@example.com valid-after=\"20240101123045Z\" ssh-ed25519 %s",
        alice_b64, bob_b64, alice_b64, bob_b64);
    cairn_diag_init(&d);
    REQUIRE(cairn_sshsig_signers_parse(text, strlen(text), "team", &s, &d) ==
            0);
    REQUIRE(s->n == 3);
    CHECK_STR_EQ(s->source, "team");
    CHECK_STR_EQ(s->v[0].principals, "alice@example.com,*@ops.example.com");
    CHECK(s->v[0].namespaces == NULL);
    CHECK_INT_EQ(s->v[0].line, 4);
    CHECK_STR_EQ(s->v[0].key.comment, "alice laptop");
    CHECK_INT_EQ(s->v[0].valid_after, 0);
    CHECK_STR_EQ(s->v[1].principals, "bob@example.com");
    CHECK_STR_EQ(s->v[1].namespaces, "git");
    CHECK_INT_EQ(s->v[1].valid_after, 1704067200);
    CHECK_INT_EQ(s->v[1].valid_before, 1704112200);
    CHECK_INT_EQ(s->v[1].line, 5);
    CHECK_INT_EQ(s->v[2].valid_after, 1704112245);
    CHECK_INT_EQ(s->v[2].line, 8);
    REQUIRE(s->nwarnings == 2);
    CHECK_STR_HAS(s->warnings[0], "team:6: cert-authority");
    CHECK_STR_HAS(s->warnings[1], "team:7: only ssh-ed25519");
    CHECK(memcmp(s->v[0].key.pk, s->v[1].key.pk, 32) != 0);
    cairn_sshsig_signers_free(s);
    cairn_sshsig_signers_free(NULL);
    free(text);
}

static void test_signers_local_time(void)
{
    struct cairn_sshsig_signers *s;
    char *text = cairn_xasprintf(
        "a@x valid-after=\"20240101\" ssh-ed25519 %s\n", alice_b64);
    const char *old = getenv("TZ");
    char *saved = old ? cairn_xstrdup(old) : NULL;

    setenv("TZ", "EST5", 1);
    tzset();
    s = signers_from(text);
    REQUIRE(s);
    CHECK_INT_EQ(s->v[0].valid_after, 1704067200 + 5 * 3600);
    cairn_sshsig_signers_free(s);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    free(text);
}

static void check_signers_error(const char *line, int code, const char *want)
{
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_diag d;
    char *text = cairn_xasprintf("# first\n%s\n", line);

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_sshsig_signers_parse(text, strlen(text), "as", &s, &d),
                 code);
    CHECK(s == NULL);
    if (!strstr(d.msg, "as:2: ") || !strstr(d.msg, want))
        fprintf(stderr, "  line: %s\n  msg:  %s\n", line, d.msg);
    CHECK_STR_HAS(d.msg, "as:2: ");
    CHECK_STR_HAS(d.msg, want);
    free(text);
}

static void test_signers_errors(void)
{
    char line[512];
    char ecdsa_b64[256];

#define E(fmt, want)                                                           \
    do {                                                                       \
        snprintf(line, sizeof(line), fmt, alice_b64);                          \
        check_signers_error(line, CAIRN_EPARSE, want);                         \
    } while (0)
    E("alice@x%.0s", "missing key");
    E("alice@x ssh-ed25519%.0s", "missing base64");
    E("alice@x ssh-ed25519 !!!%.0s", "base64");
    E("alice@x ssh-ed25519 %s=", "base64");
    E("alice@x foo=\"bar\" ssh-ed25519 %s", "unsupported option 'foo'");
    E("alice@x namespaces=git ssh-ed25519 %s", "double-quoted");
    E("alice@x namespaces=\"git ssh-ed25519 %s", "unterminated");
    E("alice@x namespaces=\"a\",namespaces=\"b\" ssh-ed25519 %s", "twice");
    E("alice@x valid-after=\"2024\" ssh-ed25519 %s", "YYYYMMDD");
    E("alice@x valid-after=\"2024010x\" ssh-ed25519 %s", "YYYYMMDD");
    E("alice@x valid-after=\"20241301Z\" ssh-ed25519 %s", "not a valid time");
    E("alice@x valid-before=\"20240230Z\" ssh-ed25519 %s", "not a valid time");
    E("alice@x valid-before=\"19000101Z\" ssh-ed25519 %s", "after 1970");
    E("alice@x namespaces=\"git\" %s", "missing base64");
    E("alice@x namespaces=\"git\",, ssh-ed25519 %s", "empty option");
    E("\"\" ssh-ed25519 %s", "empty principals");
    E("\"a\"b ssh-ed25519 %s", "double-quoted");
#undef E
    /* a valid key of another type under the ssh-ed25519 name */
    SH_OK("cut -d' ' -f2 '%s/ecdsa.pub'", tmp);
    snprintf(ecdsa_b64, sizeof(ecdsa_b64), "%.200s", sh_out);
    snprintf(line, sizeof(line), "e@x ssh-ed25519 %s", ecdsa_b64);
    check_signers_error(line, CAIRN_EPARSE, "ecdsa-sha2-nistp256");
    {
        /* the identity point: 32 bytes 01 00 .. 00 */
        struct blob k = {.n = 0};
        uint8_t ident[32] = {1};
        char *b64;
        put_str(&k, "ssh-ed25519", 11);
        put_str(&k, ident, 32);
        b64 = cairn_base64_encode(k.b, k.n);
        snprintf(line, sizeof(line), "id@x ssh-ed25519 %s", b64);
        check_signers_error(line, CAIRN_EPARSE, "not a valid Ed25519");
        free(b64);
    }
    {
        char *long_line = cairn_xmalloc(CAIRN_SSHSIG_MAX_LINE + 2);
        memset(long_line, 'a', CAIRN_SSHSIG_MAX_LINE + 1);
        long_line[CAIRN_SSHSIG_MAX_LINE + 1] = '\0';
        check_signers_error(long_line, CAIRN_ETOOBIG, "longer than");
        free(long_line);
    }
    {
        struct cairn_sshsig_signers *s = NULL;
        struct cairn_diag d;
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_sshsig_signers_parse("a\nb\nc\0d", 7, "nul", &s, &d),
                     CAIRN_EPARSE);
        CHECK_STR_HAS(d.msg, "nul:3: NUL byte");
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_sshsig_signers_load("/nonexistent/signers", &s, &d),
                     CAIRN_ENOENT);
        CHECK_STR_HAS(d.msg, "/nonexistent/signers");
        CHECK(s == NULL);
    }
    {
        /* A file one byte over the cap is refused while reading. */
        struct cairn_sshsig_signers *s = NULL;
        struct cairn_diag d;
        char *p = at("huge_signers");
        char *big = cairn_xmalloc(CAIRN_SSHSIG_MAX_FILE + 1);

        memset(big, '#', CAIRN_SSHSIG_MAX_FILE + 1);
        for (size_t i = 63; i <= CAIRN_SSHSIG_MAX_FILE; i += 64)
            big[i] = '\n'; /* comment lines, each under the line cap */
        test_write_file(p, big, CAIRN_SSHSIG_MAX_FILE + 1);
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_sshsig_signers_load(p, &s, &d), CAIRN_ETOOBIG);
        CHECK_STR_HAS(d.msg, "huge_signers");
        CHECK(s == NULL);
        test_write_file(p, big, CAIRN_SSHSIG_MAX_FILE);
        CHECK_INT_EQ(cairn_sshsig_signers_load(p, &s, NULL), 0);
        cairn_sshsig_signers_free(s);
        free(big);
        free(p);
    }
}

static void test_patterns(void)
{
    CHECK(cairn_sshsig_pattern_match("*@example.com", "a@example.com"));
    CHECK(!cairn_sshsig_pattern_match("*@example.com", "a@example.org"));
    CHECK(cairn_sshsig_pattern_match("a?c", "abc"));
    CHECK(!cairn_sshsig_pattern_match("a?c", "ac"));
    CHECK(cairn_sshsig_pattern_match("x,a*b*c", "aXbYc"));
    CHECK(!cairn_sshsig_pattern_match("a*b*c", "aXbY"));
    CHECK(cairn_sshsig_pattern_match("*", ""));
    CHECK(!cairn_sshsig_pattern_match("", "a"));
    CHECK(!cairn_sshsig_pattern_match("!bad@x,*@x", "bad@x"));
    CHECK(cairn_sshsig_pattern_match("!bad@x,*@x", "good@x"));
    CHECK(!cairn_sshsig_pattern_match("!bad@x", "good@x"));
    CHECK(cairn_sshsig_pattern_match("git,file", "file"));
    CHECK(!cairn_sshsig_pattern_match("git,file", "gi"));
    CHECK(!cairn_sshsig_pattern_match("Git", "git"));
    CHECK(cairn_sshsig_pattern_match("**a", "aaa"));
    CHECK(!cairn_sshsig_pattern_match(NULL, "a"));
}

static void test_fingerprint(void)
{
    struct cairn_sshsig_signers *s;
    char text[256], fp[CAIRN_SSHSIG_FP_LEN + 1];

    snprintf(text, sizeof(text), "b@x ssh-ed25519 %s\n", bob_b64);
    s = signers_from(text);
    REQUIRE(s);
    cairn_sshsig_fingerprint(&s->v[0].key, fp);
    SH_OK("ssh-keygen -lf '%s/bob.pub' | cut -d' ' -f2", tmp);
    CHECK_STR_EQ(fp, sh_out);
    CHECK_INT_EQ(strlen(fp), CAIRN_SSHSIG_FP_LEN);
    cairn_sshsig_signers_free(s);
}

static void setup(void)
{
    char text[512];
    char *py;

    tmp = test_tmpdir();
    git_env(tmp);
    keygen("alice", "ed25519");
    keygen("bob", "ed25519");
    keygen("ecdsa", "ecdsa");
    pub_b64("alice", alice_b64, sizeof(alice_b64));
    pub_b64("bob", bob_b64, sizeof(bob_b64));
    /* No blank line: ssh-keygen before 9.7 rejects them. */
    snprintf(text, sizeof(text),
             "# who may sign the fleet\n"
             "alice@example.com namespaces=\"git\" ssh-ed25519 %s\n",
             alice_b64);
    write_signers("signers", text);
    py = at("insert_sig.py");
    test_write_file(py, insert_sig_py, strlen(insert_sig_py));
    free(py);
    repo = at("repo");
    SH_OK("git init -q -b main '%s'", repo);
}

int main(void)
{
    if (sh("git --version && ssh-keygen -? 2>&1 | grep -q usage") != 0) {
        fprintf(stderr, "git or ssh-keygen missing\n");
        return 1;
    }
    setup();
    RUN(test_commit_good);
    RUN(test_commit_unknown_signer);
    RUN(test_commit_tampered);
    RUN(test_commit_unsigned);
    RUN(test_commit_wrong_namespace);
    RUN(test_commit_malformed_armor);
    RUN(test_commit_nul_in_message);
    RUN(test_commit_nul_appended);
    RUN(test_commit_key_windows);
    RUN(test_plain_signatures);
    RUN(test_other_key_type);
    RUN(test_blob_fields);
    RUN(test_armor);
    RUN(test_signers_file);
    RUN(test_signers_local_time);
    RUN(test_signers_errors);
    RUN(test_patterns);
    RUN(test_fingerprint);
    test_rm_rf(tmp);
    free(repo);
    free(tmp);
    return test_done();
}
