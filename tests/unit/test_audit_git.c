/*
 * Git objects for evidence bundles: cairn_git_object_raw / object_id
 * (pkg/src/git.c) against the git CLI, and the offline commit and tree
 * parsers of controller/audit_gitobj.c against real signed, unsigned and
 * altered commits, and against malformed objects.
 */
#include "test.h"
#include "unit/gitutil.h"

#include "audit.h"
#include "cairn/keys.h"

static char *dir, repo[4200], signers_path[4200];

static void setup(void)
{
    dir = test_tmpdir();
    git_env(dir);
    snprintf(repo, sizeof(repo), "%s/repo", dir);
    snprintf(signers_path, sizeof(signers_path), "%s/allowed_signers", dir);
    SH_OK("cd '%s' && ssh-keygen -q -t ed25519 -N '' -C alice -f alice "
          "</dev/null && "
          "echo \"alice@example.com namespaces=\\\"git\\\" $(cat alice.pub)\" "
          ">allowed_signers",
          dir);
    SH_OK("git init -q -b main '%s' && mkdir -p '%s/sites' && echo 'kind: "
          "Site' >'%s/sites/a.yaml'"
          " && echo top >'%s/top.txt'",
          repo, repo, repo, repo);
    SH_OK("cd '%s' && git add -A && git -c gpg.format=ssh -c "
          "user.signingkey='%s/alice' "
          "commit -q -S -m signed",
          repo, dir);
}

/* raw bytes of an object via the CLI, hashed: their id */
static void test_object_raw_and_id(void)
{
    struct cairn_git *g = NULL;
    struct cairn_git_oid head = rev_parse(repo, "HEAD"), tree, blob, id;
    struct cairn_diag d;
    uint8_t *data = NULL;
    size_t len = 0;

    cairn_diag_init(&d);
    REQUIRE(cairn_git_open(repo, NULL, NULL, &g, &d) == 0);
    tree = rev_parse(repo, "HEAD^{tree}");
    blob = rev_parse(repo, "HEAD:sites/a.yaml");
    /* a commit, byte for byte what `git cat-file commit` prints */
    REQUIRE(cairn_git_object_raw(g, &head, "commit", 0, &data, &len, &d) == 0);
    CHECK(cairn_git_object_id("commit", data, len, &id, &d) == 0);
    CHECK_STR_EQ(id.hex, head.hex);
    SH_OK("git -C '%s' cat-file commit HEAD | wc -c", repo);
    CHECK_INT_EQ(strtol(sh_out, NULL, 10), len);
    free(data);
    /* a tree (binary entries) and a blob */
    REQUIRE(cairn_git_object_raw(g, &tree, "tree", 0, &data, &len, &d) == 0);
    CHECK(cairn_git_object_id("tree", data, len, &id, &d) == 0);
    CHECK_STR_EQ(id.hex, tree.hex);
    free(data);
    REQUIRE(cairn_git_object_raw(g, &blob, "blob", 0, &data, &len, &d) == 0);
    CHECK_INT_EQ(len, 11);
    CHECK(memcmp(data, "kind: Site\n", 11) == 0);
    CHECK(cairn_git_object_id("blob", data, len, &id, &d) == 0);
    CHECK_STR_EQ(id.hex, blob.hex);
    free(data);
    /* the empty blob is git's well-known id */
    CHECK(cairn_git_object_id("blob", NULL, 0, &id, &d) == 0);
    CHECK_STR_EQ(id.hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    /* wrong type, unknown type, over the cap, missing */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_object_raw(g, &head, "tree", 0, &data, &len, &d),
                 CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "is a commit");
    CHECK_INT_EQ(cairn_git_object_raw(g, &head, "tag", 0, &data, &len, NULL),
                 CAIRN_EINVAL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_object_raw(g, &blob, "blob", 5, &data, &len, &d),
                 CAIRN_ETOOBIG);
    CHECK_STR_HAS(cairn_diag_msg(&d), "more than the 5-byte cap");
    memset(id.hex, 'a', 40);
    CHECK_INT_EQ(cairn_git_object_raw(g, &id, "blob", 0, &data, &len, NULL),
                 CAIRN_ENOENT);
    CHECK_INT_EQ(cairn_git_object_id("tag", "x", 1, &id, NULL), CAIRN_EINVAL);
    cairn_git_free(g);
}

/* Read HEAD's raw commit and parse it. */
static int parse_head(struct cairn_git *g, struct cairn__commit_obj *c,
                      uint8_t **raw, size_t *len)
{
    struct cairn_git_oid head = rev_parse(repo, "HEAD");

    if (cairn_git_commit_raw(g, &head, raw, len, NULL) != 0)
        return -1;
    return cairn__commit_obj_parse(*raw, *len, c, NULL);
}

/* the offline verdict equals cairn_git_verify_commit's (and so git's) */
static void test_commit_parse_and_verify(void)
{
    struct cairn_sshsig_signers *s = NULL;
    struct cairn_sshsig_result r, rg;
    struct cairn__commit_obj c;
    struct cairn_git *g = NULL;
    struct cairn_git_oid head = rev_parse(repo, "HEAD");
    uint8_t *raw = NULL;
    size_t len;

    REQUIRE(cairn_sshsig_signers_load(signers_path, &s, NULL) == 0);
    REQUIRE(cairn_git_open(repo, NULL, NULL, &g, NULL) == 0);
    REQUIRE(parse_head(g, &c, &raw, &len) == 0);
    CHECK_STR_EQ(c.tree, rev_parse(repo, "HEAD^{tree}").hex);
    CHECK_STR_EQ(c.parent, "");
    SH_OK("git -C '%s' log -1 --format=%%ct", repo);
    CHECK_INT_EQ(c.committer_time, strtoll(sh_out, NULL, 10));
    REQUIRE(c.sig != NULL);
    CHECK(strncmp(c.sig, "-----BEGIN SSH SIGNATURE-----\n", 30) == 0);
    CHECK(strstr(c.signed_data, "gpgsig") == NULL);
    {
        /* the header was "gpgsig " + the value with a space after each
         * newline + a newline: all of it, and only it, left out */
        size_t nl = 0;

        for (size_t i = 0; i < c.sig_len; i++)
            nl += c.sig[i] == '\n';
        CHECK_INT_EQ(c.signed_len + 7 + c.sig_len + nl + 1, len);
    }
    cairn__commit_obj_verify(&c, s, &r);
    CHECK_INT_EQ(r.status, CAIRN_SSHSIG_VERIFIED);
    CHECK_STR_EQ(r.principal, "alice@example.com");
    REQUIRE(cairn_git_verify_commit(g, &head, s, &rg, NULL) == 0);
    CHECK_STR_EQ(r.keyid, rg.keyid);
    cairn__commit_obj_free(&c);
    /* one byte of the message changed: bad */
    raw[len - 2] ^= 1;
    REQUIRE(cairn__commit_obj_parse(raw, len, &c, NULL) == 0);
    cairn__commit_obj_verify(&c, s, &r);
    CHECK_INT_EQ(r.status, CAIRN_SSHSIG_BAD);
    cairn__commit_obj_free(&c);
    free(raw);
    /* an unsigned child: unsigned, parent set */
    SH_OK("echo more >>'%s/top.txt' && git -C '%s' commit -qam unsigned", repo,
          repo);
    REQUIRE(parse_head(g, &c, &raw, &len) == 0);
    CHECK_STR_EQ(c.parent, head.hex);
    CHECK(c.sig == NULL);
    CHECK_INT_EQ(c.signed_len, len);
    CHECK(memcmp(c.signed_data, raw, len) == 0);
    cairn__commit_obj_verify(&c, s, &r);
    CHECK_INT_EQ(r.status, CAIRN_SSHSIG_UNSIGNED);
    cairn__commit_obj_free(&c);
    free(raw);
    cairn_git_free(g);
    cairn_sshsig_signers_free(s);
}

static int parse_text(const char *text, struct cairn_diag *d)
{
    struct cairn__commit_obj c;
    int rc =
        cairn__commit_obj_parse((const uint8_t *)text, strlen(text), &c, d);

    if (rc == 0)
        cairn__commit_obj_free(&c);
    return rc;
}

#define TREE "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
#define WHO " <a@x> 1700000000 +0000\n"

static void test_commit_malformed(void)
{
    struct cairn__commit_obj c;
    struct cairn_diag d;
    const char *other = TREE "author A" WHO "committer C" WHO
                             "mergetag object 1\n type commit\n\nmessage\n";

    cairn_diag_init(&d);
    CHECK(parse_text(TREE "author A" WHO "committer C" WHO "\nmsg\n", &d) == 0);
    CHECK_INT_EQ(parse_text("author A" WHO "committer C" WHO "\nmsg\n", &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "no tree line");
    cairn_diag_init(&d);
    CHECK_INT_EQ(parse_text("tree 123\ncommitter C" WHO "\n", &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "bad tree line");
    cairn_diag_init(&d);
    CHECK_INT_EQ(parse_text(TREE "committer C" WHO, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "no message separator");
    cairn_diag_init(&d);
    CHECK_INT_EQ(parse_text(TREE "committer C <a@x> soon +0000\n\n", &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "bad committer line");
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        parse_text(TREE "committer C" WHO "gpgsig a\ngpgsig b\n\n", &d),
        CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "two gpgsig headers");
    cairn_diag_init(&d);
    CHECK_INT_EQ(parse_text(TREE "committer C" WHO "gpgsig a\n b", &d),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__commit_obj_parse((const uint8_t *)TREE "\0",
                                         sizeof(TREE), &c, &d),
                 CAIRN_EPARSE);
    /* other headers keep their continuation lines in the signed data */
    REQUIRE(cairn__commit_obj_parse((const uint8_t *)other, strlen(other), &c,
                                    NULL) == 0);
    CHECK_STR_EQ(c.signed_data, other);
    CHECK_INT_EQ(c.committer_time, 1700000000);
    cairn__commit_obj_free(&c);
    cairn__commit_obj_free(NULL);
}

static void test_tree_entry(void)
{
    struct cairn_git *g = NULL;
    struct cairn_git_oid tree = rev_parse(repo, "HEAD^{tree}");
    char oid[41];
    unsigned mode = 0;
    uint8_t *raw = NULL, bad[64];
    size_t len;
    struct cairn_diag d;

    REQUIRE(cairn_git_open(repo, NULL, NULL, &g, NULL) == 0);
    REQUIRE(cairn_git_object_raw(g, &tree, "tree", 0, &raw, &len, NULL) == 0);
    CHECK(cairn__tree_entry(raw, len, "sites", oid, &mode, NULL) == 0);
    CHECK_INT_EQ(mode, 040000);
    CHECK_STR_EQ(oid, rev_parse(repo, "HEAD:sites").hex);
    CHECK(cairn__tree_entry(raw, len, "top.txt", oid, &mode, NULL) == 0);
    CHECK_INT_EQ(mode, 0100644);
    CHECK_STR_EQ(oid, rev_parse(repo, "HEAD:top.txt").hex);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn__tree_entry(raw, len, "top", oid, &mode, &d),
                 CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "no entry 'top'");
    /* truncated in the middle of an id, bad mode */
    CHECK_INT_EQ(cairn__tree_entry(raw, len - 1, "zzz", oid, &mode, NULL),
                 CAIRN_EPARSE);
    memcpy(bad, "1006x4 a\0", 9);
    CHECK_INT_EQ(cairn__tree_entry(bad, 9, "a", oid, &mode, NULL),
                 CAIRN_EPARSE);
    memcpy(bad, "100644 \0", 8);
    memset(bad + 8, 1, 20);
    CHECK_INT_EQ(cairn__tree_entry(bad, 28, "", oid, &mode, NULL),
                 CAIRN_EPARSE);
    free(raw);
    cairn_git_free(g);
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    setup();
    RUN(test_object_raw_and_id);
    RUN(test_commit_parse_and_verify);
    RUN(test_commit_malformed);
    RUN(test_tree_entry);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
