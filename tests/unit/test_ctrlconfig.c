/* cairn-controller's configuration (controller/ctrlconfig.h): defaults,
 * derived paths, overrides, and every bad input located at file:line:col. */
#include "ctrlconfig.h"
#include "test.h"

static char *dir;

static int load_text(const char *text, const struct cairn_ctrl_setting *set,
                     size_t n, struct cairn_ctrl_config *cfg,
                     struct cairn_diag *d)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    test_write_file(path, text, strlen(text));
    cairn_diag_init(d);
    return cairn_ctrl_config_load(path, set, n, cfg, d);
}

static void test_defaults(void)
{
    struct cairn_ctrl_setting set[] = {{"repo", "/srv/fleet"}};
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;

    cairn_diag_init(&d);
    REQUIRE(cairn_ctrl_config_load(NULL, set, 1, &cfg, &d) == 0);
    CHECK_STR_EQ(cfg.repo, "/srv/fleet");
    CHECK(cfg.branch == NULL); /* the branch HEAD names */
    CHECK_STR_EQ(cfg.listen, "127.0.0.1:8440");
    CHECK_STR_EQ(cfg.state_dir, "./cairn-state");
    CHECK_STR_EQ(cfg.store, "sqlite:./cairn-state/cairn.db");
    CHECK_STR_EQ(cfg.key_file, "./cairn-state/controller.key");
    CHECK_STR_EQ(cfg.artifact_dir, "./cairn-state/artifacts");
    CHECK_INT_EQ(cfg.poll_interval, 60);
    CHECK_INT_EQ(cfg.report_interval, 30);
    CHECK_INT_EQ(cfg.token_ttl, 3600);
    CHECK_INT_EQ(cfg.commit_signatures, CAIRN_SIGMODE_AUTO);
    CHECK(cfg.operator_token_file == NULL);
    cairn_ctrl_config_free(&cfg);
}

static void test_file_and_overrides(void)
{
    struct cairn_ctrl_setting set[] = {{"retention", "5"},
                                       {"listen", "[::1]:0"}};
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;
    char want[4200];

    REQUIRE(
        load_text(
            "repo: fleet\nstateDir: st\nretention: 9\nallowedSigners: signers\n"
            "commitSignatures: require\noperatorTokenFile: /abs/tok\n",
            set, 2, &cfg, &d) == 0);
    snprintf(want, sizeof(want), "%s/fleet", dir);
    CHECK_STR_EQ(cfg.repo, want);
    snprintf(want, sizeof(want), "%s/st", dir);
    CHECK_STR_EQ(cfg.state_dir, want);
    snprintf(want, sizeof(want), "sqlite:%s/st/cairn.db", dir);
    CHECK_STR_EQ(cfg.store, want);
    snprintf(want, sizeof(want), "%s/signers", dir);
    CHECK_STR_EQ(cfg.allowed_signers, want);
    CHECK_STR_EQ(cfg.operator_token_file, "/abs/tok");
    CHECK_INT_EQ(cfg.retention, 5);
    CHECK_STR_EQ(cfg.listen, "[::1]:0");
    CHECK_INT_EQ(cfg.commit_signatures, CAIRN_SIGMODE_REQUIRE);
    cairn_ctrl_config_free(&cfg);
    /* URLs and scp-like repos are not paths */
    REQUIRE(load_text("repo: https://git.example/fleet.git\n", NULL, 0, &cfg,
                      &d) == 0);
    CHECK_STR_EQ(cfg.repo, "https://git.example/fleet.git");
    cairn_ctrl_config_free(&cfg);
    REQUIRE(load_text("repo: git@git.example:fleet.git\n", NULL, 0, &cfg, &d) ==
            0);
    CHECK_STR_EQ(cfg.repo, "git@git.example:fleet.git");
    cairn_ctrl_config_free(&cfg);
}

static void expect_err(const char *text, const char *want)
{
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;

    CHECK(load_text(text, NULL, 0, &cfg, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), want);
}

static void test_errors(void)
{
    char want[4200];

    snprintf(want, sizeof(want), "%s/c.yaml:2:1: unknown key \"polInterval\"",
             dir);
    expect_err("repo: r\npolInterval: 3\n", want);
    snprintf(want, sizeof(want), "%s/c.yaml:3:22:", dir);
    expect_err("repo: r\n\npollIntervalSeconds: 0\n", want);
    expect_err("repo: r\nretention: lots\n", "c.yaml:2:12:");
    expect_err("repo: r\ncommitSignatures: sometimes\n", "c.yaml:2:19:");
    expect_err("repo: r\nlisten: 127.0.0.1\n",
               "c.yaml:2:9: listen \"127.0.0.1\": want HOST:PORT");
    expect_err("repo: r\nlisten: host.example:80\n", "c.yaml:2:9:");
    expect_err("repo: r\nlisten: 127.0.0.1:70000\n", "c.yaml:2:9:");
    expect_err("repo: r\ncommitSignatures: require\n",
               "c.yaml:2:19: commitSignatures is require");
    expect_err("branch: main\n", "no repository");
    expect_err("repo: r\nstore: postgres://db/cairn\n", "c.yaml:2:8: store");
    expect_err("- a\n- b\n", "expected a map");
    expect_err("repo: [a, b]\n", "c.yaml:1:7:");
}

/* A reload loads over nothing: on error the configuration passed in is
 * not touched (not cleared, not freed, not partly overwritten). */
static void test_error_leaves_cfg(void)
{
    struct cairn_ctrl_setting bad[] = {{"retention", "0"}};
    struct cairn_ctrl_config cfg, before;
    struct cairn_diag d;

    REQUIRE(load_text("repo: /srv/a\nretention: 9\nreportIntervalSeconds: 7\n",
                      NULL, 0, &cfg, &d) == 0);
    before = cfg;
    CHECK(load_text("repo: /srv/b\nretention: 5\nreportIntervalSeconds: 11\n"
                    "maxWaitersPerSite: 0\n",
                    NULL, 0, &cfg, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "c.yaml:4:20: maxWaitersPerSite");
    CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
    CHECK(load_text("repo: /srv/b\ncommitSignatures: require\n", NULL, 0, &cfg,
                    &d) != 0);
    CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
    CHECK(load_text("repo: /srv/b\n", bad, 1, &cfg, &d) != 0);
    CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
    CHECK_STR_EQ(cfg.repo, "/srv/a");
    CHECK_INT_EQ(cfg.retention, 9);
    CHECK_INT_EQ(cfg.report_interval, 7);
    cairn_ctrl_config_free(&cfg);
}

/* An error in what a key names is located at the key. */
static void test_locate(void)
{
    struct cairn_ctrl_setting over[] = {{"allowedSigners", "/x"}};
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;
    char path[4096], want[4200];

    REQUIRE(load_text("repo: r\n\nallowedSigners: nope\n", NULL, 0, &cfg, &d) ==
            0);
    cairn_ctrl_config_free(&cfg);
    snprintf(path, sizeof(path), "%s/c.yaml", dir);
    cairn_diag_set(&d, CAIRN_EIO, "nope: open: No such file or directory");
    cairn_ctrl_config_locate(path, "allowedSigners", NULL, 0, &d);
    snprintf(want, sizeof(want),
             "%s:3:17: nope: open: No such file or directory", path);
    CHECK_STR_EQ(cairn_diag_msg(&d), want);
    /* set on the command line: the file is not to blame */
    cairn_diag_init(&d);
    cairn_diag_set(&d, CAIRN_EIO, "x");
    cairn_ctrl_config_locate(path, "allowedSigners", over, 1, &d);
    CHECK_STR_EQ(cairn_diag_msg(&d), "x");
    /* not in the file; no error; no file */
    cairn_ctrl_config_locate(path, "operatorTokenFile", NULL, 0, &d);
    CHECK_STR_EQ(cairn_diag_msg(&d), "x");
    cairn_ctrl_config_locate(NULL, "allowedSigners", NULL, 0, &d);
    CHECK_STR_EQ(cairn_diag_msg(&d), "x");
    cairn_diag_init(&d);
    cairn_ctrl_config_locate(path, "allowedSigners", NULL, 0, &d);
    CHECK_INT_EQ(d.code, 0);
    CHECK_STR_EQ(d.msg, "");
}

static void test_override_errors(void)
{
    struct cairn_ctrl_setting bad[] = {{"maxConnections", "1"}};
    struct cairn_ctrl_setting unk[] = {{"nope", "1"}};
    struct cairn_ctrl_setting lis[] = {{"repo", "r"}, {"listen", "nope"}};
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK(cairn_ctrl_config_load(NULL, bad, 1, &cfg, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "setting maxConnections");
    cairn_diag_init(&d);
    CHECK(cairn_ctrl_config_load(NULL, unk, 1, &cfg, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "unknown key \"nope\"");
    /* a bad override is blamed on the setting, not on the file */
    CHECK(load_text("listen: 127.0.0.1:1\n", lis, 2, &cfg, &d) != 0);
    CHECK_STR_EQ(cairn_diag_msg(&d), "listen \"nope\": want HOST:PORT");
}

static void test_listen(void)
{
    char host[64];
    uint16_t port = 0;

    CHECK_INT_EQ(cairn_ctrl_parse_listen("127.0.0.1:8440", host, sizeof(host),
                                         &port, NULL),
                 0);
    CHECK_STR_EQ(host, "127.0.0.1");
    CHECK_INT_EQ(port, 8440);
    CHECK_INT_EQ(
        cairn_ctrl_parse_listen("[::]:0", host, sizeof(host), &port, NULL), 0);
    CHECK_STR_EQ(host, "::");
    CHECK_INT_EQ(port, 0);
    CHECK(cairn_ctrl_parse_listen(":80", host, sizeof(host), &port, NULL) != 0);
    CHECK(cairn_ctrl_parse_listen("1.2.3.4:", host, sizeof(host), &port,
                                  NULL) != 0);
    CHECK(cairn_ctrl_parse_listen("1.2.3.4:-1", host, sizeof(host), &port,
                                  NULL) != 0);
    CHECK(cairn_ctrl_parse_listen("1.2.3.4:8x", host, sizeof(host), &port,
                                  NULL) != 0);
}

static void test_doc(void)
{
    char path[4096], *buf;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/doc.md", dir);
    f = fopen(path, "w+");
    REQUIRE(f);
    cairn_ctrl_config_print_doc(f);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    REQUIRE(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    for (const struct cairn_config_row *r = cairn_ctrl_config_rows; r->key; r++)
        CHECK_STR_HAS(buf, r->key);
    free(buf);
}

int main(void)
{
    dir = test_tmpdir();
    RUN(test_defaults);
    RUN(test_file_and_overrides);
    RUN(test_errors);
    RUN(test_error_leaves_cfg);
    RUN(test_locate);
    RUN(test_override_errors);
    RUN(test_listen);
    RUN(test_doc);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
