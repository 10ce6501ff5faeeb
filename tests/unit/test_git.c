/*
 * cairn_git_* against repositories made by the real git CLI.
 */
#include <sys/stat.h>

#include "cairn/git.h"
#include "cairn/mem.h"
#include "gitutil.h"
#include "test.h"

static char *tmp;  /* test root, also $HOME */
static char *repo; /* a work repository with a few commits */
static struct cairn_git_oid c1, c2, c3;

static char *path_in(const char *name)
{
    return cairn_xasprintf("%s/%s", tmp, name);
}

static void write_at(const char *dir, const char *rel, const char *text)
{
    char *p = cairn_xasprintf("%s/%s", dir, rel);

    SH_OK("mkdir -p \"$(dirname '%s')\"", p);
    test_write_file(p, text, strlen(text));
    free(p);
}

/* c1: fleet.yaml, sites/a.yaml, sites/b.yaml, models/m/1.yaml, run.sh (+x)
 * c2: modifies sites/a.yaml, deletes sites/b.yaml, adds models/m/2.yaml
 * c3: touches only README */
static void make_repo(void)
{
    repo = path_in("work");
    SH_OK("git init -q -b main '%s'", repo);
    write_at(repo, "fleet.yaml", "kind: Fleet\nname: demo\n");
    write_at(repo, "sites/a.yaml", "kind: Site\nname: a\n");
    write_at(repo, "sites/b.yaml", "kind: Site\nname: b\n");
    write_at(repo, "models/m/1.yaml", "kind: Model\nversion: 1\n");
    write_at(repo, "run.sh", "#!/bin/sh\n");
    SH_OK("chmod +x '%s/run.sh'", repo);
    setenv("GIT_AUTHOR_DATE", "1700000000 +0200", 1);
    setenv("GIT_COMMITTER_DATE", "1700000100 +0000", 1);
    c1 = commit_all(repo, "First fleet\n\nWith a body line.");
    unsetenv("GIT_AUTHOR_DATE");
    unsetenv("GIT_COMMITTER_DATE");
    write_at(repo, "sites/a.yaml", "kind: Site\nname: a\nlabels: {x: 1}\n");
    SH_OK("git -C '%s' rm -q sites/b.yaml", repo);
    write_at(repo, "models/m/2.yaml", "kind: Model\nversion: 2\n");
    c2 = commit_all(repo, "Second");
    write_at(repo, "README", "hello\n");
    c3 = commit_all(repo, "Readme");
}

static struct cairn_git *open_work(void)
{
    struct cairn_git *g = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_git_open(repo, NULL, NULL, &g, &d) != 0)
        fprintf(stderr, "open: %s\n", cairn_diag_msg(&d));
    return g;
}

static void test_open_resolve(void)
{
    struct cairn_git *g = open_work(), *g2 = NULL;
    struct cairn_git_oid o, tree;
    struct cairn_diag d;
    char shortsha[8];

    REQUIRE(g);
    CHECK_STR_EQ(cairn_git_branch(g), "main");
    CHECK_INT_EQ(cairn_git_fetch(g, &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c3.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, NULL, &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c3.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, "HEAD", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c3.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, "main~2", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c1.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, "refs/heads/main", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c3.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, c2.hex, &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c2.hex);
    snprintf(shortsha, sizeof(shortsha), "%.7s", c1.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, shortsha, &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c1.hex);
    /* A tag is peeled to its commit. */
    SH_OK("git -C '%s' tag -a -m release v1 %s", repo, c2.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, "v1", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c2.hex);

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_resolve(g, "no-such-branch", &o, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "no-such-branch");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_resolve(g, "main^{tree}", &tree, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "not a commit");

    /* Remote URLs need a mirror; missing repositories are ENOENT. */
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn_git_open("https://example.com/fleet.git", NULL, NULL, &g2, &d),
        CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "mirror");
    CHECK_INT_EQ(
        cairn_git_open("git@example.com:fleet.git", NULL, NULL, &g2, NULL),
        CAIRN_EINVAL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_open("/nonexistent/repo", NULL, NULL, &g2, &d),
                 CAIRN_ENOENT);
    CHECK(g2 == NULL);
    {
        struct cairn_git_opts bad = {.branch = "bad..name"};
        CHECK_INT_EQ(cairn_git_open(repo, NULL, &bad, &g2, NULL), CAIRN_EINVAL);
    }
    cairn_git_free(g);
    cairn_git_free(NULL);
}

static void test_tree_read(void)
{
    struct cairn_git *g = open_work();
    struct cairn_git_tree *t = NULL;
    const struct cairn_git_file *f;
    struct cairn_diag d;

    REQUIRE(g);
    cairn_diag_init(&d);
    REQUIRE(cairn_git_tree_read(g, &c1, NULL, NULL, CAIRN_GIT_CONTENT, &t,
                                &d) == 0);
    REQUIRE(t->n == 5);
    CHECK_STR_EQ(t->files[0].path, "fleet.yaml");
    CHECK_STR_EQ(t->files[1].path, "models/m/1.yaml");
    CHECK_STR_EQ(t->files[2].path, "run.sh");
    CHECK_STR_EQ(t->files[3].path, "sites/a.yaml");
    CHECK_STR_EQ(t->files[4].path, "sites/b.yaml");
    CHECK_STR_EQ((char *)t->files[0].data, "kind: Fleet\nname: demo\n");
    CHECK_INT_EQ(t->files[0].size, strlen("kind: Fleet\nname: demo\n"));
    CHECK_INT_EQ(t->files[0].mode, 0100644);
    CHECK_INT_EQ(t->files[2].mode, 0100755);
    CHECK_STR_EQ(t->commit.hex, c1.hex);
    SH_OK("git -C '%s' rev-parse %s:sites/a.yaml", repo, c1.hex);
    CHECK_STR_EQ(t->files[3].blob.hex, sh_out);
    CHECK_INT_EQ(t->nskipped, 0);
    f = cairn_git_tree_find(t, "sites/b.yaml");
    REQUIRE(f);
    CHECK_STR_EQ((char *)f->data, "kind: Site\nname: b\n");
    CHECK(cairn_git_tree_find(t, "sites") == NULL);
    CHECK(cairn_git_tree_find(t, "zzz") == NULL);
    CHECK_INT_EQ(t->total, 23 + 23 + 19 + 19 + 10);
    cairn_git_tree_free(t);

    /* Listing only: no contents. A prefix limits the walk. */
    t = NULL;
    REQUIRE(cairn_git_tree_read(g, &c2, "/sites/", NULL, 0, &t, NULL) == 0);
    REQUIRE(t->n == 1);
    CHECK_STR_EQ(t->files[0].path, "sites/a.yaml");
    CHECK(t->files[0].data == NULL);
    cairn_git_tree_free(t);
    t = NULL;
    REQUIRE(cairn_git_tree_read(g, &c2, "nothing-here", NULL, 0, &t, NULL) ==
            0);
    CHECK_INT_EQ(t->n, 0);
    cairn_git_tree_free(t);
    t = NULL;
    REQUIRE(cairn_git_tree_read(g, &c2, "fleet.yaml", NULL, 0, &t, NULL) == 0);
    CHECK_INT_EQ(t->n, 1);
    cairn_git_tree_free(t);
    cairn_git_tree_free(NULL);
    cairn_git_free(g);
}

static void test_read_file(void)
{
    struct cairn_git *g = open_work();
    struct cairn_diag d;
    uint8_t *data = NULL;
    size_t len = 0;

    REQUIRE(g);
    REQUIRE(cairn_git_read_file(g, &c2, "models/m/2.yaml", 0, &data, &len,
                                NULL) == 0);
    CHECK_INT_EQ(len, strlen("kind: Model\nversion: 2\n"));
    CHECK_STR_EQ((char *)data, "kind: Model\nversion: 2\n");
    free(data);
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn_git_read_file(g, &c2, "sites/b.yaml", 0, &data, &len, &d),
        CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "sites/b.yaml");
    CHECK_INT_EQ(cairn_git_read_file(g, &c2, "models", 0, &data, &len, NULL),
                 CAIRN_EINVAL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_read_file(g, &c2, "fleet.yaml", 5, &data, &len, &d),
                 CAIRN_ETOOBIG);
    CHECK_STR_HAS(d.msg, "fleet.yaml");
    {
        struct cairn_git_oid bogus = {
            "0123456789012345678901234567890123456789"};
        struct cairn_git_oid junk = {"not-hex"};
        CHECK_INT_EQ(
            cairn_git_read_file(g, &bogus, "fleet.yaml", 0, &data, &len, NULL),
            CAIRN_ENOENT);
        CHECK_INT_EQ(
            cairn_git_read_file(g, &junk, "fleet.yaml", 0, &data, &len, NULL),
            CAIRN_EINVAL);
    }
    cairn_git_free(g);
}

/* Symlinks and submodules are listed as skipped, never read. */
static void test_symlink_submodule(void)
{
    char *r = path_in("links");
    struct cairn_git *g = NULL;
    struct cairn_git_tree *t = NULL;
    struct cairn_git_oid c;
    uint8_t *data;
    size_t len;

    SH_OK("git init -q -b main '%s'", r);
    write_at(r, "real.yaml", "a: 1\n");
    SH_OK("ln -s /etc/passwd '%s/escape'", r);
    SH_OK("git -C '%s' add -A && git -C '%s' update-index --add "
          "--cacheinfo 160000,%s,vendor/sub && git -C '%s' commit -q -m l",
          r, r, c1.hex, r);
    c = rev_parse(r, "HEAD");
    REQUIRE(cairn_git_open(r, NULL, NULL, &g, NULL) == 0);
    REQUIRE(cairn_git_tree_read(g, &c, NULL, NULL, CAIRN_GIT_CONTENT, &t,
                                NULL) == 0);
    REQUIRE(t->n == 1);
    CHECK_STR_EQ(t->files[0].path, "real.yaml");
    REQUIRE(t->nskipped == 2);
    CHECK_STR_EQ(t->skipped[0].path, "escape");
    CHECK_STR_EQ(t->skipped[0].why, "symlink");
    CHECK_STR_EQ(t->skipped[1].path, "vendor/sub");
    CHECK_STR_EQ(t->skipped[1].why, "submodule");
    CHECK_INT_EQ(cairn_git_read_file(g, &c, "escape", 0, &data, &len, NULL),
                 CAIRN_EINVAL);
    cairn_git_tree_free(t);
    cairn_git_free(g);
    free(r);
}

static void test_caps(void)
{
    char *r = path_in("caps");
    struct cairn_git *g = NULL;
    struct cairn_git_tree *t = NULL;
    struct cairn_git_limits lim = {0};
    struct cairn_git_oid c;
    struct cairn_diag d;
    char *big = cairn_xmalloc(5001);

    SH_OK("git init -q -b main '%s'", r);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    write_at(r, "big/blob.bin", big);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many/f%d", i);
        write_at(r, name, "small\n");
    }
    c = commit_all(r, "caps");
    REQUIRE(cairn_git_open(r, NULL, NULL, &g, NULL) == 0);

    lim.max_file = 4096;
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_tree_read(g, &c, NULL, &lim, 0, &t, &d),
                 CAIRN_ETOOBIG);
    CHECK(t == NULL);
    CHECK_STR_HAS(d.msg, "big/blob.bin");
    CHECK_STR_HAS(d.msg, "4096");
    lim.max_file = 0;
    lim.max_files = 4;
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_tree_read(g, &c, "many", &lim, 0, &t, &d),
                 CAIRN_ETOOBIG);
    CHECK_STR_HAS(d.msg, "more than 4 entries");
    lim.max_files = 5;
    CHECK_INT_EQ(cairn_git_tree_read(g, &c, "many", &lim, 0, &t, NULL), 0);
    cairn_git_tree_free(t);
    t = NULL;
    lim.max_files = 0;
    lim.max_total = 5020;
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn_git_tree_read(g, &c, NULL, &lim, CAIRN_GIT_CONTENT, &t, &d),
        CAIRN_ETOOBIG);
    CHECK_STR_HAS(d.msg, "5020-byte total cap");
    lim.max_total = 5030;
    CHECK_INT_EQ(
        cairn_git_tree_read(g, &c, NULL, &lim, CAIRN_GIT_CONTENT, &t, NULL), 0);
    CHECK_INT_EQ(t ? t->total : 0, 5030);
    cairn_git_tree_free(t);
    cairn_git_free(g);
    free(big);
    free(r);
}

/* Trees written with `git mktree`-style raw bytes: names git itself would
 * never write, which libgit2 reads without complaint. */
static void test_hostile_tree(void)
{
    char *r = path_in("hostile");
    struct cairn_git *g = NULL;
    struct cairn_git_tree *t = NULL;
    struct cairn_git_oid c;
    struct cairn_diag d;
    char blob[41], tree[41];

    SH_OK("git init -q -b main '%s'", r);
    SH_OK("printf 'x' | git -C '%s' hash-object -w --stdin", r);
    snprintf(blob, sizeof(blob), "%.40s", sh_out);
    REQUIRE(cairn_git_open(r, NULL, NULL, &g, NULL) == 0);

    SH_OK("/usr/bin/python3 -c \"import sys,binascii;"
          "sys.stdout.buffer.write(b'100644 ..\\0'+binascii.unhexlify('%s'))\""
          " | git -C '%s' hash-object -t tree -w --literally --stdin",
          blob, r);
    snprintf(tree, sizeof(tree), "%.40s", sh_out);
    SH_OK("git -C '%s' commit-tree -m evil %s", r, tree);
    snprintf(c.hex, sizeof(c.hex), "%.40s", sh_out);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_tree_read(g, &c, NULL, NULL, 0, &t, &d),
                 CAIRN_EPATH);
    CHECK_STR_HAS(d.msg, "'..'");

    SH_OK(
        "/usr/bin/python3 -c \"import sys,binascii;b=binascii.unhexlify('%s');"
        "sys.stdout.buffer.write(b'100644 a\\0'+b+b'100644 a\\0'+b)\""
        " | git -C '%s' hash-object -t tree -w --literally --stdin",
        blob, r);
    snprintf(tree, sizeof(tree), "%.40s", sh_out);
    SH_OK("git -C '%s' commit-tree -m dup %s", r, tree);
    snprintf(c.hex, sizeof(c.hex), "%.40s", sh_out);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_tree_read(g, &c, NULL, NULL, 0, &t, &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(d.msg, "twice");
    CHECK(t == NULL);
    cairn_git_free(g);
    free(r);
}

static void test_diff(void)
{
    struct cairn_git *g = open_work();
    struct cairn_git_diff *df = NULL;
    struct cairn_diag d;

    REQUIRE(g);
    REQUIRE(cairn_git_diff(g, &c1, &c2, 0, &df, NULL) == 0);
    REQUIRE(df->n == 3);
    CHECK_STR_EQ(df->v[0].path, "models/m/2.yaml");
    CHECK_INT_EQ(df->v[0].change, CAIRN_GIT_ADDED);
    CHECK_STR_EQ(df->v[1].path, "sites/a.yaml");
    CHECK_INT_EQ(df->v[1].change, CAIRN_GIT_MODIFIED);
    CHECK_STR_EQ(df->v[2].path, "sites/b.yaml");
    CHECK_INT_EQ(df->v[2].change, CAIRN_GIT_DELETED);
    /* git's own view agrees */
    SH_OK(
        "git -C '%s' diff --no-renames --name-status %s %s | tr '\\t\\n' ' ;'",
        repo, c1.hex, c2.hex);
    CHECK_STR_EQ(sh_out, "A models/m/2.yaml;M sites/a.yaml;D sites/b.yaml;");
    cairn_git_diff_free(df);

    df = NULL;
    REQUIRE(cairn_git_diff(g, NULL, &c1, 0, &df, NULL) == 0);
    CHECK_INT_EQ(df->n, 5);
    for (size_t i = 0; i < df->n; i++)
        CHECK_INT_EQ(df->v[i].change, CAIRN_GIT_ADDED);
    cairn_git_diff_free(df);
    df = NULL;
    REQUIRE(cairn_git_diff(g, &c3, &c3, 0, &df, NULL) == 0);
    CHECK_INT_EQ(df->n, 0);
    cairn_git_diff_free(df);
    df = NULL;
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_diff(g, &c1, &c2, 2, &df, &d), CAIRN_ETOOBIG);
    CHECK_STR_HAS(d.msg, "3 changed paths");
    CHECK(df == NULL);
    cairn_git_diff_free(NULL);
    cairn_git_free(g);
}

static void test_commit_meta(void)
{
    struct cairn_git *g = open_work();
    struct cairn_git_commit *c = NULL;
    uint8_t *raw = NULL;
    size_t len = 0;
    char *sig, *data;
    size_t slen, dlen;
    struct cairn_diag d;

    REQUIRE(g);
    REQUIRE(cairn_git_commit_get(g, &c1, &c, NULL) == 0);
    CHECK_STR_EQ(c->id.hex, c1.hex);
    CHECK_STR_EQ(c->author.name, "Alice Engineer");
    CHECK_STR_EQ(c->author.email, "alice@example.com");
    CHECK_INT_EQ(c->author.time, 1700000000);
    CHECK_INT_EQ(c->author.tz_minutes, 120);
    CHECK_STR_EQ(c->committer.name, "Carol Committer");
    CHECK_STR_EQ(c->committer.email, "carol@example.com");
    CHECK_INT_EQ(c->committer.time, 1700000100);
    CHECK_STR_EQ(c->summary, "First fleet");
    CHECK_STR_EQ(c->message, "First fleet\n\nWith a body line.\n");
    CHECK_INT_EQ(c->nparents, 0);
    CHECK_INT_EQ(c->has_signature, 0);
    SH_OK("git -C '%s' rev-parse %s^{tree}", repo, c1.hex);
    CHECK_STR_EQ(c->tree.hex, sh_out);
    cairn_git_commit_free(c);
    c = NULL;
    REQUIRE(cairn_git_commit_get(g, &c2, &c, NULL) == 0);
    REQUIRE(c->nparents == 1);
    CHECK_STR_EQ(c->parents[0].hex, c1.hex);
    cairn_git_commit_free(c);
    cairn_git_commit_free(NULL);

    REQUIRE(cairn_git_commit_raw(g, &c1, &raw, &len, NULL) == 0);
    {
        /* byte for byte what `git cat-file commit` prints */
        char *p = path_in("raw.bin");
        test_write_file(p, raw, len);
        CHECK_INT_EQ(
            sh("git -C '%s' cat-file commit %s | cmp - '%s'", repo, c1.hex, p),
            0);
        free(p);
    }
    CHECK(memcmp(raw, "tree ", 5) == 0);
    free(raw);
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn_git_commit_signature(g, &c1, &sig, &slen, &data, &dlen, &d),
        CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "not signed");
    {
        /* a blob's id is not a commit */
        struct cairn_git_oid blob = rev_parse(repo, "main:fleet.yaml");
        CHECK_INT_EQ(cairn_git_commit_raw(g, &blob, &raw, &len, NULL),
                     CAIRN_EINVAL);
    }
    cairn_git_free(g);
}

/* Same commits as `git log [-- prefix]`; in the same order when the
 * history is linear (parallel lines may interleave differently). */
static void check_log_matches_git(struct cairn_git *g, const char *dir,
                                  const struct cairn_git_oid *from,
                                  const char *prefix, int linear)
{
    struct cairn_git_log *l = NULL;
    struct cairn_buf want;
    int trunc = -1;

    REQUIRE(cairn_git_log_walk(g, from, prefix, 0, &l, &trunc, NULL) == 0);
    CHECK_INT_EQ(trunc, 0);
    cairn_buf_init(&want, 1 << 16);
    for (size_t i = 0; i < l->n; i++)
        REQUIRE(cairn_buf_appendf(&want, "%s;", l->v[i].hex) == 0);
    if (!linear && want.data) {
        char *p = cairn_xasprintf("%s/log.txt", tmp);
        test_write_file(p, want.data, want.len);
        SH_OK("tr ';' '\\n' < '%s' | sort | tr '\\n' ';'", p);
        snprintf(want.data, want.len + 1, "%s", sh_out);
        free(p);
    }
    SH_OK("git -C '%s' log --format=%%H %s %s %s | %s tr '\\n' ';'", dir,
          from->hex, prefix ? "--" : "", prefix ? prefix : "",
          linear ? "" : "sort |");
    CHECK_STR_EQ(want.data ? want.data : "", sh_out);
    cairn_buf_free(&want);
    cairn_git_log_free(l);
}

static void test_log(void)
{
    struct cairn_git *g = open_work();
    struct cairn_git_log *l = NULL;
    int trunc = 0;

    REQUIRE(g);
    check_log_matches_git(g, repo, &c3, NULL, 1);
    check_log_matches_git(g, repo, &c3, "models", 1);
    check_log_matches_git(g, repo, &c3, "sites/b.yaml", 1);
    check_log_matches_git(g, repo, &c3, "README", 1);
    REQUIRE(cairn_git_log_walk(g, &c3, "models/", 0, &l, NULL, NULL) == 0);
    REQUIRE(l->n == 2);
    CHECK_STR_EQ(l->v[0].hex, c2.hex);
    CHECK_STR_EQ(l->v[1].hex, c1.hex);
    cairn_git_log_free(l);
    l = NULL;
    REQUIRE(cairn_git_log_walk(g, &c3, NULL, 2, &l, &trunc, NULL) == 0);
    CHECK_INT_EQ(l->n, 2);
    CHECK_INT_EQ(trunc, 1);
    CHECK_STR_EQ(l->v[0].hex, c3.hex);
    cairn_git_log_free(l);
    cairn_git_log_free(NULL);
    cairn_git_free(g);
}

/* A merge: the side branch's change to models/ shows, the merge itself
 * (same as its side parent there) does not. */
static void test_log_merge(void)
{
    char *r = path_in("merge");
    struct cairn_git *g = NULL;
    struct cairn_git_oid tip;

    SH_OK("git init -q -b main '%s'", r);
    write_at(r, "models/a", "1\n");
    commit_all(r, "base");
    SH_OK("git -C '%s' checkout -q -b side", r);
    write_at(r, "models/a", "2\n");
    commit_all(r, "side model change");
    SH_OK("git -C '%s' checkout -q main", r);
    write_at(r, "sites/x", "1\n");
    commit_all(r, "main site change");
    SH_OK("git -C '%s' merge -q --no-edit side", r);
    tip = rev_parse(r, "HEAD");
    REQUIRE(cairn_git_open(r, NULL, NULL, &g, NULL) == 0);
    check_log_matches_git(g, r, &tip, NULL, 0);
    check_log_matches_git(g, r, &tip, "models", 0);
    check_log_matches_git(g, r, &tip, "sites", 0);
    cairn_git_free(g);
    free(r);
}

static void test_mirror(void)
{
    char *origin = path_in("origin"), *mirror = path_in("mirror");
    char *url = cairn_xasprintf("file://%s", origin);
    struct cairn_git *g = NULL, *g2 = NULL;
    struct cairn_git_oid o1, o2, tip, o;
    struct cairn_diag d;

    SH_OK("git init -q -b main '%s'", origin);
    write_at(origin, "fleet.yaml", "v: 1\n");
    o1 = commit_all(origin, "one");
    cairn_diag_init(&d);
    REQUIRE(cairn_git_open(url, mirror, NULL, &g, &d) == 0);
    CHECK_STR_EQ(cairn_git_url(g), url);
    /* nothing fetched yet */
    CHECK_INT_EQ(cairn_git_resolve(g, NULL, &o, NULL), CAIRN_ENOENT);
    cairn_diag_init(&d);
    REQUIRE(cairn_git_fetch(g, &tip, &d) == 0);
    CHECK_STR_EQ(tip.hex, o1.hex);
    /* bare mirror, no working tree */
    SH_OK("git -C '%s' rev-parse --is-bare-repository", mirror);
    CHECK_STR_EQ(sh_out, "true");

    write_at(origin, "fleet.yaml", "v: 2\n");
    o2 = commit_all(origin, "two");
    CHECK_INT_EQ(cairn_git_resolve(g, "main", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, o1.hex);
    REQUIRE(cairn_git_fetch(g, &tip, NULL) == 0);
    CHECK_STR_EQ(tip.hex, o2.hex);
    CHECK_INT_EQ(cairn_git_resolve(g, "HEAD", &o, NULL), 0);
    CHECK_STR_EQ(o.hex, o2.hex);
    CHECK_INT_EQ(cairn_git_is_ancestor(g, &o1, &o2, NULL), 1);
    CHECK_INT_EQ(cairn_git_is_ancestor(g, &o2, &o1, NULL), 0);
    CHECK_INT_EQ(cairn_git_is_ancestor(g, &o2, &o2, NULL), 1);
    {
        uint8_t *data;
        size_t len;
        REQUIRE(cairn_git_read_file(g, &tip, "fleet.yaml", 0, &data, &len,
                                    NULL) == 0);
        CHECK_STR_EQ((char *)data, "v: 2\n");
        free(data);
    }

    /* A rewritten branch is followed; ancestry tells. */
    SH_OK("git -C '%s' reset -q --hard %s", origin, o1.hex);
    write_at(origin, "fleet.yaml", "v: 3\n");
    o = commit_all(origin, "rewritten");
    REQUIRE(cairn_git_fetch(g, &tip, NULL) == 0);
    CHECK_STR_EQ(tip.hex, o.hex);
    CHECK_INT_EQ(cairn_git_is_ancestor(g, &o2, &tip, NULL), 0);
    cairn_git_free(g);
    g = NULL;

    /* Reopen: same URL fine, another URL refused. */
    REQUIRE(cairn_git_open(url, mirror, NULL, &g, NULL) == 0);
    CHECK_INT_EQ(cairn_git_resolve(g, NULL, &o2, NULL), 0);
    CHECK_STR_EQ(o2.hex, o.hex);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_open("file:///elsewhere", mirror, NULL, &g2, &d),
                 CAIRN_EEXIST);
    CHECK_STR_HAS(d.msg, "follows");

    /* A branch deleted upstream is gone after the next fetch. */
    {
        struct cairn_git_opts o_rel = {.branch = "release"};
        SH_OK("git -C '%s' branch release", origin);
        char *mrel = path_in("mirror-rel");
        REQUIRE(cairn_git_open(url, mrel, &o_rel, &g2, NULL) == 0);
        free(mrel);
        CHECK_STR_EQ(cairn_git_branch(g2), "release");
        CHECK_INT_EQ(cairn_git_fetch(g2, &tip, NULL), 0);
        SH_OK("git -C '%s' branch -D release", origin);
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_git_fetch(g2, &tip, &d), CAIRN_ENOENT);
        CHECK_STR_HAS(d.msg, "release");
        cairn_git_free(g2);
        g2 = NULL;
    }
    cairn_git_free(g);
    free(url);
    free(origin);
    free(mirror);
}

/* No branch configured: a local repository is followed on the branch its
 * HEAD names; a mirror asks the remote once and remembers the answer. */
static void test_default_branch(void)
{
    char *local = path_in("on-master"), *origin = path_in("origin-trunk");
    char *mirror = path_in("mirror-trunk");
    char *url = cairn_xasprintf("file://%s", origin);
    struct cairn_git *g = NULL;
    struct cairn_git_oid c, tip, o;
    struct cairn_diag d;

    SH_OK("git init -q -b master '%s'", local);
    write_at(local, "fleet.yaml", "v: 1\n");
    c = commit_all(local, "on master");
    cairn_diag_init(&d);
    REQUIRE(cairn_git_open(local, NULL, NULL, &g, &d) == 0);
    CHECK_STR_EQ(cairn_git_branch(g), "master");
    CHECK_INT_EQ(cairn_git_fetch(g, &tip, NULL), 0);
    CHECK_STR_EQ(tip.hex, c.hex);
    cairn_git_free(g);
    g = NULL;
    /* a detached HEAD names no branch: say what to set */
    SH_OK("git -C '%s' checkout -q --detach", local);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_open(local, NULL, NULL, &g, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "detached");
    CHECK(g == NULL);

    SH_OK("git init -q -b trunk '%s'", origin);
    write_at(origin, "fleet.yaml", "v: 2\n");
    c = commit_all(origin, "on trunk");
    SH_OK("git -C '%s' branch other", origin);
    REQUIRE(cairn_git_open(url, mirror, NULL, &g, NULL) == 0);
    CHECK_STR_HAS(cairn_git_branch(g), "default");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_resolve(g, NULL, &o, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "not fetched yet");
    cairn_diag_init(&d);
    REQUIRE(cairn_git_fetch(g, &tip, &d) == 0);
    CHECK_STR_EQ(tip.hex, c.hex);
    CHECK_STR_EQ(cairn_git_branch(g), "trunk");
    cairn_git_free(g);
    g = NULL;
    /* reopened (say, offline after a restart): the branch is remembered */
    REQUIRE(cairn_git_open(url, mirror, NULL, &g, NULL) == 0);
    CHECK_STR_EQ(cairn_git_branch(g), "trunk");
    CHECK_INT_EQ(cairn_git_resolve(g, NULL, &o, NULL), 0);
    CHECK_STR_EQ(o.hex, c.hex);
    cairn_git_free(g);
    free(url);
    free(local);
    free(origin);
    free(mirror);
}

static void test_mirror_errors(void)
{
    char *junk = path_in("junkdir"), *mirror = path_in("mirror-bad");
    struct cairn_git *g = NULL;
    struct cairn_git_opts small = {.max_fetch_bytes = 100};
    char *url = cairn_xasprintf("file://%s", repo);
    struct cairn_git_oid tip;
    struct cairn_diag d;

    /* a non-empty directory that is not a mirror */
    write_at(junk, "something", "x");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_open(url, junk, NULL, &g, &d), CAIRN_EEXIST);
    CHECK_STR_HAS(d.msg, "not a git mirror");
    CHECK(g == NULL);

    /* a fetch that passes its byte cap */
    REQUIRE(cairn_git_open(url, mirror, &small, &g, NULL) == 0);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_fetch(g, &tip, &d), CAIRN_ETOOBIG);
    CHECK_STR_HAS(d.msg, "100 bytes");
    cairn_git_free(g);
    g = NULL;

    /* an unreachable remote */
    free(mirror);
    mirror = path_in("mirror-none");
    REQUIRE(cairn_git_open("file:///nonexistent/repo.git", mirror, NULL, &g,
                           NULL) == 0);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_git_fetch(g, &tip, &d), CAIRN_EGIT);
    CHECK_STR_HAS(d.msg, "fetch file:///nonexistent/repo.git");
    cairn_git_free(g);
    free(url);
    free(junk);
    free(mirror);
}

int main(void)
{
    if (sh("git --version") != 0) {
        fprintf(stderr, "git not installed\n");
        return 1;
    }
    tmp = test_tmpdir();
    git_env(tmp);
    make_repo();
    RUN(test_open_resolve);
    RUN(test_tree_read);
    RUN(test_read_file);
    RUN(test_symlink_submodule);
    RUN(test_caps);
    RUN(test_hostile_tree);
    RUN(test_diff);
    RUN(test_commit_meta);
    RUN(test_log);
    RUN(test_log_merge);
    RUN(test_mirror);
    RUN(test_default_branch);
    RUN(test_mirror_errors);
    test_rm_rf(tmp);
    free(repo);
    free(tmp);
    return test_done();
}
