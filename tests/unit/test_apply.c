/* Apply: files, secrets, the symlink switch, rollback, redo and cleanup. */
#include "test.h"

#include <limits.h>
#include <sys/stat.h>

#include "apply.h"
#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/keys.h"
#include "cairn/mem.h"

static const char *HEX_A =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *HEX_B =
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static char *sha_hex(const void *data, size_t n)
{
    uint8_t sum[CAIRN_SHA256_LEN];
    char *hex = cairn_xmalloc(CAIRN_SHA256_HEX_LEN + 1);

    cairn_sha256(data, n, sum);
    cairn_hex_encode(sum, sizeof(sum), hex);
    return hex;
}

/* A files[] entry with the right digest. */
static json_t *file_entry(const char *path, const char *mode, const void *data,
                          size_t n, int b64)
{
    char *hex = sha_hex(data, n);
    json_t *f;

    if (b64) {
        char *enc = cairn_base64_encode(data, n);

        f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "path", path, "mode", mode,
                      "sha256", hex, "content", enc, "encoding", "base64");
        free(enc);
    } else {
        f = json_pack("{s:s, s:s, s:s, s:s%}", "path", path, "mode", mode,
                      "sha256", hex, "content", (const char *)data, n);
    }
    free(hex);
    return f;
}

static json_t *entry(const char *name)
{
    return json_pack("{s:s, s:{s:[s], s:{}}, s:[]}", "name", name, "exec",
                     "command", "/bin/true", "env", "files");
}

static void add_file(json_t *wl, json_t *f)
{
    json_array_append_new(json_object_get(wl, "files"), f);
}

static json_t *sample_entry(void)
{
    static const uint8_t png[] = {0x89, 'P', 'N',  'G',  0,
                                  1,    2,   0xff, 0xfe, '\n'};
    json_t *wl = entry("risk");

    add_file(wl, file_entry("worker.conf", "0644", "threshold=0.8\n", 14, 0));
    add_file(wl, file_entry("bin/deep/run.sh", "0755", "#!/bin/sh\nexit 0\n",
                            17, 0));
    add_file(wl, file_entry("golden.png", "0600", png, sizeof(png), 1));
    return wl;
}

/* root + "/" + pattern with its one "%s" replaced by a. */
static char *path_of(const char *root, const char *pattern, const char *a)
{
    const char *at = strstr(pattern, "%s");

    return cairn_xasprintf("%s/%.*s%s%s", root, (int)(at - pattern), pattern, a,
                           at + 2);
}

static int file_is(const char *path, const void *data, size_t n, mode_t mode)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int ok;

    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_mode & 07777) != mode)
        return 0;
    if (cairn_fs_read(path, 1 << 20, &buf, &len, NULL) != 0)
        return 0;
    ok = len == n && memcmp(buf, data, n) == 0;
    free(buf);
    return ok;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static int exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void install_blob(const char *state, const char *hex)
{
    char *dir = cairn_xasprintf("%s/blobs/sha256", state);
    char *blob = cairn_xasprintf("%s/%s", dir, hex);

    if (cairn_fs_mkdir_p(dir, 0755, NULL) != 0)
        abort();
    test_write_file(blob, "model", 5);
    free(blob);
    free(dir);
}

static void test_files_written(void)
{
    static const uint8_t png[] = {0x89, 'P', 'N',  'G',  0,
                                  1,    2,   0xff, 0xfe, '\n'};
    char *state = test_tmpdir(), *p;
    json_t *wl = sample_entry();
    struct cairn_diag d;

    cairn_diag_init(&d);
    REQUIRE(cairn_apply_prepare(state, wl, 7, NULL, &d) == 0);
    p = path_of(state, "workloads/%s/config.7/worker.conf", "risk");
    CHECK(file_is(p, "threshold=0.8\n", 14, 0644));
    free(p);
    p = path_of(state, "workloads/%s/config.7/bin/deep/run.sh", "risk");
    CHECK(file_is(p, "#!/bin/sh\nexit 0\n", 17, 0755));
    free(p);
    p = path_of(state, "workloads/%s/config.7/golden.png", "risk");
    CHECK(file_is(p, png, sizeof(png), 0600));
    free(p);
    p = path_of(state, "workloads/%s/config.7", "risk");
    CHECK_INT_EQ(mode_of(p), 0755);
    free(p);
    p = path_of(state, "workloads/%s/secrets.7", "risk");
    CHECK_INT_EQ(mode_of(p), 0700);
    free(p);
    p = path_of(state, "workloads/%s/work", "risk");
    CHECK(exists(p));
    free(p);
    /* No temp leftovers after success. */
    p = path_of(state, "workloads/%s/.config.7.tmp", "risk");
    CHECK(!exists(p));
    free(p);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_digest_mismatch(void)
{
    char *state = test_tmpdir(), *p;
    json_t *wl = entry("risk"),
           *f = file_entry("a.conf", "0644", "right", 5, 0);
    struct cairn_diag d;

    json_object_set_new(f, "content", json_string("wrong"));
    add_file(wl, f);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_prepare(state, wl, 1, NULL, &d), CAIRN_EDIGEST);
    CHECK_STR_HAS(d.msg, "files[0] (a.conf)");
    CHECK_STR_HAS(d.msg, "sha256");
    p = path_of(state, "workloads/%s/config.1", "risk");
    CHECK(!exists(p));
    free(p);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

/* One bad path: refused with CAIRN_EPATH by check and prepare alike. */
static void expect_path_refused(const char *path, const char *why)
{
    char *state = test_tmpdir(), *p;
    json_t *wl = entry("risk");
    struct cairn_diag d;

    add_file(wl, file_entry(path, "0644", "x", 1, 0));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EPATH);
    CHECK_STR_HAS(d.msg, why);
    CHECK_STR_HAS(d.msg, "files[0].path");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_prepare(state, wl, 1, NULL, &d), CAIRN_EPATH);
    p = path_of(state, "workloads/%s", "risk");
    CHECK(!exists(p)); /* refused before touching the disk */
    free(p);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_paths_refused(void)
{
    expect_path_refused("../escape.conf", "\"..\" component refused");
    expect_path_refused("a/../../escape", "\"..\"");
    expect_path_refused("/etc/passwd", "absolute path refused");
    expect_path_refused("a//b", "empty");
    expect_path_refused("./a", "\".\"");
    expect_path_refused("a/", "empty");
    expect_path_refused("", "empty path");
}

static void test_entry_refused(void)
{
    struct {
        const char *mode, *encoding, *content;
        int code;
        const char *why;
    } cases[] = {
        {"644", NULL, "x", CAIRN_EPARSE, "not an octal mode"},
        {"0999", NULL, "x", CAIRN_EPARSE, "not an octal mode"},
        {"04755", NULL, "x", CAIRN_EPARSE, "not an octal mode"},
        {"0644", "latin1", "x", CAIRN_EINVAL, "not utf-8 or base64"},
        {"0644", "base64", "eA", CAIRN_EPARSE, "not canonical base64"},
        {"0644", "base64", "e A=", CAIRN_EPARSE, "not canonical base64"},
    };

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        json_t *wl = entry("risk"), *f = file_entry("a", "0644", "x", 1, 0);
        struct cairn_diag d;

        json_object_set_new(f, "mode", json_string(cases[i].mode));
        json_object_set_new(f, "content", json_string(cases[i].content));
        if (cases[i].encoding)
            json_object_set_new(f, "encoding", json_string(cases[i].encoding));
        add_file(wl, f);
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_apply_check(wl, &d), cases[i].code);
        CHECK_STR_HAS(d.msg, cases[i].why);
        json_decref(wl);
    }
}

static void test_entry_structure_refused(void)
{
    struct cairn_diag d;
    json_t *wl;

    /* Duplicate path, and a file where another entry needs a directory. */
    wl = entry("risk");
    add_file(wl, file_entry("a.conf", "0644", "x", 1, 0));
    add_file(wl, file_entry("a.conf", "0644", "y", 1, 0));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "duplicate of files[0]");
    json_decref(wl);
    wl = entry("risk");
    add_file(wl, file_entry("a", "0644", "x", 1, 0));
    add_file(wl, file_entry("a/b", "0644", "y", 1, 0));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "is a file, not a directory");
    json_decref(wl);
    /* Bad names, a missing field, a non-array. */
    wl = entry("Risk_1");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "not a DNS label");
    json_decref(wl);
    wl = entry("risk");
    add_file(wl, json_pack("{s:s, s:s, s:s}", "path", "a", "mode", "0644",
                           "content", "x"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "files[0].sha256: missing");
    json_decref(wl);
    wl = entry("risk");
    json_object_set_new(wl, "files", json_string("nope"));
    CHECK_INT_EQ(cairn_apply_check(wl, NULL), CAIRN_EINVAL);
    json_object_set_new(wl, "files", json_array());
    json_object_set_new(wl, "uploads",
                        json_pack("{s:s}", "dir", "../../outside"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EPATH);
    CHECK_STR_HAS(d.msg, "uploads.dir");
    json_decref(wl);
    CHECK_INT_EQ(cairn_apply_check(NULL, NULL), CAIRN_EINVAL);
}

static json_t *secret_entry(const char *name, const struct cairn_pubkey *to,
                            const char *plain)
{
    uint8_t *box = NULL;
    size_t n = 0;
    char *b64;
    json_t *s;

    if (cairn_seal(to, (const uint8_t *)plain, strlen(plain), &box, &n) != 0)
        abort();
    b64 = cairn_base64_encode(box, n);
    s = json_pack("{s:s, s:s}", "name", name, "sealed", b64);
    free(b64);
    free(box);
    return s;
}

static void test_secrets(void)
{
    struct cairn_seckey site, other;
    char *state = test_tmpdir(), *p;
    json_t *wl = sample_entry(), *secrets = json_array();
    struct cairn_diag d;

    REQUIRE(cairn_keys_init() == 0);
    REQUIRE(cairn_seckey_generate("site", &site) == 0);
    REQUIRE(cairn_seckey_generate("other", &other) == 0);
    json_array_append_new(
        secrets, secret_entry("webhook-token", &site.pub, "s3cr3t-token"));
    json_array_append_new(secrets,
                          secret_entry("db.pass", &site.pub, "hunter2"));
    json_object_set_new(wl, "secrets", secrets);
    cairn_diag_init(&d);
    REQUIRE(cairn_apply_prepare(state, wl, 3, &site, &d) == 0);
    p = path_of(state, "workloads/%s/secrets.3", "risk");
    CHECK_INT_EQ(mode_of(p), 0700);
    free(p);
    p = path_of(state, "workloads/%s/secrets.3/webhook-token", "risk");
    CHECK(file_is(p, "s3cr3t-token", 12, 0600));
    free(p);
    p = path_of(state, "workloads/%s/secrets.3/db.pass", "risk");
    CHECK(file_is(p, "hunter2", 7, 0600));
    free(p);

    /* No key, wrong key: refused, and the message never shows the secret. */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_prepare(state, wl, 4, NULL, &d), CAIRN_EKEY);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_prepare(state, wl, 4, &other, &d), CAIRN_ESIG);
    CHECK_STR_HAS(d.msg, "secrets[0] (webhook-token)");
    CHECK(strstr(d.msg, "s3cr3t") == NULL);
    p = path_of(state, "workloads/%s/secrets.4", "risk");
    CHECK(!exists(p));
    free(p);

    /* An altered box. */
    json_array_set_new(secrets, 1,
                       json_pack("{s:s, s:s}", "name", "db.pass", "sealed",
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                 "AAAAAAAAAAAAAAAAAAA"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_prepare(state, wl, 5, &site, &d), CAIRN_ESIG);
    CHECK_STR_HAS(d.msg, "secrets[1] (db.pass)");

    /* Names that are not plain file names. */
    const char *bad[] = {"../x", ".hidden", "a/b", ""};
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(bad); i++) {
        json_array_set_new(secrets, 1, secret_entry(bad[i], &site.pub, "v"));
        cairn_diag_init(&d);
        CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EPATH);
        CHECK_STR_HAS(d.msg, "not a plain file name");
    }
    json_array_set_new(secrets, 1,
                       secret_entry("webhook-token", &site.pub, "v"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_check(wl, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, "duplicate");
    cairn_seckey_wipe(&site);
    cairn_seckey_wipe(&other);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static char *link_of(const char *state, const char *link)
{
    char *p = cairn_xasprintf("%s/workloads/risk/%s", state, link);
    char buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);

    free(p);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return cairn_xstrdup(buf);
}

static void check_links(const char *state, const char *cfg, const char *hex)
{
    char *c = link_of(state, "config"), *cur = link_of(state, "current");
    char *want = cairn_xasprintf("../../blobs/sha256/%s", hex);
    char *real = NULL,
         *blob = cairn_xasprintf("%s/blobs/sha256/%s", state, hex);
    char *curpath = cairn_xasprintf("%s/workloads/risk/current", state);

    CHECK_STR_EQ(c, cfg);
    CHECK_STR_EQ(cur, want);
    real = realpath(curpath, NULL);
    {
        char *rb = realpath(blob, NULL);

        CHECK_STR_EQ(real, rb);
        free(rb);
    }
    free(real);
    free(curpath);
    free(blob);
    free(want);
    free(cur);
    free(c);
}

static void test_switch_and_rollback(void)
{
    char *state = test_tmpdir(), hex[65];
    json_t *wl = sample_entry();
    struct cairn_diag d;
    uint64_t gen = 0;

    REQUIRE(cairn_apply_prepare(state, wl, 1, NULL, NULL) == 0);
    REQUIRE(cairn_apply_prepare(state, wl, 2, NULL, NULL) == 0);
    CHECK_INT_EQ(cairn_apply_read(state, "risk", &gen, hex, NULL),
                 CAIRN_ENOENT);

    /* The blob is not installed yet: refused, nothing switched. */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_switch(state, "risk", 1, HEX_A, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "blob missing");
    CHECK(link_of(state, "config") == NULL);
    install_blob(state, HEX_A);
    install_blob(state, HEX_B);
    REQUIRE(cairn_apply_switch(state, "risk", 1, HEX_A, NULL) == 0);
    check_links(state, "config.1", HEX_A);
    REQUIRE(cairn_apply_read(state, "risk", &gen, hex, NULL) == 0);
    CHECK_INT_EQ(gen, 1);
    CHECK_STR_EQ(hex, HEX_A);

    REQUIRE(cairn_apply_switch(state, "risk", 2, HEX_B, NULL) == 0);
    check_links(state, "config.2", HEX_B);
    /* Generation 3 was never prepared: refused, still on 2. */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_apply_switch(state, "risk", 3, HEX_A, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "config.3");
    check_links(state, "config.2", HEX_B);
    /* Rollback to last-known-good. */
    REQUIRE(cairn_apply_switch(state, "risk", 1, HEX_A, NULL) == 0);
    check_links(state, "config.1", HEX_A);
    /* Redo is a no-op; no temp links are left. */
    REQUIRE(cairn_apply_switch(state, "risk", 1, HEX_A, NULL) == 0);
    check_links(state, "config.1", HEX_A);
    CHECK(link_of(state, ".current.tmp") == NULL);
    CHECK(link_of(state, ".config.tmp") == NULL);
    /* A workload without a model: no current link. */
    REQUIRE(cairn_apply_switch(state, "risk", 2, NULL, NULL) == 0);
    CHECK(link_of(state, "current") == NULL);
    REQUIRE(cairn_apply_read(state, "risk", &gen, hex, NULL) == 0);
    CHECK_INT_EQ(gen, 2);
    CHECK_STR_EQ(hex, "");
    /* Bad arguments. */
    CHECK_INT_EQ(cairn_apply_switch(state, "risk", 0, HEX_A, NULL),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_apply_switch(state, "../x", 1, HEX_A, NULL),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_apply_switch(state, "risk", 1, "../../etc", NULL),
                 CAIRN_EINVAL);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_read_refuses_foreign_links(void)
{
    char *state = test_tmpdir(), hex[65], *p;
    json_t *wl = sample_entry();
    uint64_t gen;

    REQUIRE(cairn_apply_prepare(state, wl, 1, NULL, NULL) == 0);
    p = path_of(state, "workloads/%s/config", "risk");
    REQUIRE(symlink("/etc", p) == 0);
    CHECK_INT_EQ(cairn_apply_read(state, "risk", &gen, hex, NULL),
                 CAIRN_EPARSE);
    unlink(p);
    REQUIRE(symlink("config.01", p) == 0);
    CHECK_INT_EQ(cairn_apply_read(state, "risk", &gen, hex, NULL),
                 CAIRN_EPARSE);
    free(p);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_idempotent_redo(void)
{
    char *state = test_tmpdir(), *p, *junk;
    json_t *wl = sample_entry();
    struct stat st1, st2;

    REQUIRE(cairn_apply_prepare(state, wl, 5, NULL, NULL) == 0);
    p = path_of(state, "workloads/%s/config.5/worker.conf", "risk");
    REQUIRE(lstat(p, &st1) == 0);
    /* Redo: the verified directory is kept as is. */
    REQUIRE(cairn_apply_prepare(state, wl, 5, NULL, NULL) == 0);
    REQUIRE(lstat(p, &st2) == 0);
    CHECK_INT_EQ(st1.st_ino, st2.st_ino);
    /* Damaged (or half-written by hand): rebuilt. */
    test_write_file(p, "tampered", 8);
    REQUIRE(cairn_apply_prepare(state, wl, 5, NULL, NULL) == 0);
    CHECK(file_is(p, "threshold=0.8\n", 14, 0644));
    REQUIRE(chmod(p, 0666) == 0);
    REQUIRE(cairn_apply_prepare(state, wl, 5, NULL, NULL) == 0);
    CHECK_INT_EQ(mode_of(p), 0644);
    free(p);
    /* A crash's leftover temp directory does not get in the way. */
    junk = cairn_xasprintf("%s/workloads/risk/.config.6.tmp", state);
    REQUIRE(mkdir(junk, 0755) == 0);
    p = cairn_xasprintf("%s/worker.conf", junk);
    test_write_file(p, "junk", 4);
    free(p);
    REQUIRE(cairn_apply_prepare(state, wl, 6, NULL, NULL) == 0);
    CHECK(!exists(junk));
    p = path_of(state, "workloads/%s/config.6/worker.conf", "risk");
    CHECK(file_is(p, "threshold=0.8\n", 14, 0644));
    free(p);
    free(junk);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_cleanup_and_remove(void)
{
    char *state = test_tmpdir(), *p;
    json_t *wl = sample_entry();
    uint64_t keep[] = {2, 4};

    json_object_set_new(wl, "uploads", json_pack("{s:s}", "dir", "outbox"));
    for (uint64_t g = 1; g <= 4; g++)
        REQUIRE(cairn_apply_prepare(state, wl, g, NULL, NULL) == 0);
    install_blob(state, HEX_A);
    REQUIRE(cairn_apply_switch(state, "risk", 3, HEX_A, NULL) == 0);
    p = cairn_xasprintf("%s/workloads/risk/.secrets.9.tmp", state);
    REQUIRE(mkdir(p, 0700) == 0);
    free(p);
    REQUIRE(cairn_apply_cleanup(state, "risk", keep, 2, NULL) == 0);
    {
        const char *gone[] = {"config.1", "secrets.1", ".secrets.9.tmp"};
        const char *kept[] = {"config.2",    "secrets.2", "config.3",
                              "secrets.3",   "config.4",  "secrets.4",
                              "work/outbox", "config",    "current"};

        for (size_t i = 0; i < CAIRN_ARRAY_LEN(gone); i++) {
            p = path_of(state, "workloads/risk/%s", gone[i]);
            CHECK(!exists(p));
            free(p);
        }
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(kept); i++) {
            p = path_of(state, "workloads/risk/%s", kept[i]);
            CHECK(exists(p));
            free(p);
        }
    }
    /* Keep nothing: the generation in effect still stays. */
    REQUIRE(cairn_apply_cleanup(state, "risk", NULL, 0, NULL) == 0);
    p = path_of(state, "workloads/risk/%s", "config.3");
    CHECK(exists(p));
    free(p);
    p = path_of(state, "workloads/risk/%s", "config.2");
    CHECK(!exists(p));
    free(p);
    CHECK_INT_EQ(cairn_apply_cleanup(state, "absent", NULL, 0, NULL), 0);

    REQUIRE(cairn_apply_remove(state, "risk", NULL) == 0);
    p = path_of(state, "workloads/risk/%s", "config.3");
    CHECK(!exists(p));
    free(p);
    p = path_of(state, "workloads/risk/%s", "current");
    CHECK(!exists(p));
    free(p);
    p = path_of(state, "workloads/risk/%s", "work/outbox");
    CHECK(exists(p));
    free(p);
    CHECK_INT_EQ(cairn_apply_remove(state, "absent", NULL), 0);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_upload_dir_and_paths(void)
{
    json_t *wl = sample_entry();
    char *out = (char *)"unset", *p;

    CHECK_INT_EQ(cairn_apply_upload_dir("/s", wl, &out, NULL), 0);
    CHECK(out == NULL);
    json_object_set_new(wl, "uploads", json_pack("{s:s}", "dir", "lab/outbox"));
    CHECK_INT_EQ(cairn_apply_upload_dir("/s", wl, &out, NULL), 0);
    CHECK_STR_EQ(out, "/s/workloads/risk/work/lab/outbox");
    free(out);
    json_object_set_new(wl, "uploads", json_pack("{s:s}", "dir", "/tmp"));
    CHECK_INT_EQ(cairn_apply_upload_dir("/s", wl, &out, NULL), CAIRN_EPATH);
    p = cairn_apply_config_dir("/s", "risk", 12);
    CHECK_STR_EQ(p, "/s/workloads/risk/config.12");
    free(p);
    p = cairn_apply_blob_path("/s", HEX_A);
    CHECK_STR_HAS(p, "/s/blobs/sha256/aaaa");
    free(p);
    CHECK(cairn_apply_name_ok("risk-assessment"));
    CHECK(!cairn_apply_name_ok("-risk"));
    CHECK(!cairn_apply_name_ok("risk/x"));
    CHECK(!cairn_apply_name_ok(""));
    json_decref(wl);
}

int main(void)
{
    RUN(test_files_written);
    RUN(test_digest_mismatch);
    RUN(test_paths_refused);
    RUN(test_entry_refused);
    RUN(test_entry_structure_refused);
    RUN(test_secrets);
    RUN(test_switch_and_rollback);
    RUN(test_read_refuses_foreign_links);
    RUN(test_idempotent_redo);
    RUN(test_cleanup_and_remove);
    RUN(test_upload_dir_and_paths);
    return test_done();
}
