/* agent/config.c: the agent's config file and trusted key files. */
#include "config.h"
#include "test.h"

static char *write_in(const char *dir, const char *name, const char *text)
{
    char *path = malloc(4200);

    snprintf(path, 4200, "%s/%s", dir, name);
    test_write_file(path, text, strlen(text));
    return path;
}

#define BASE                                                                   \
    "site: st-olaf\ncontroller: \"http://127.0.0.1:8440/\"\n"                  \
    "controllerKeys: ctl.pub\npublisherKeys: /etc/p.pub\nstateDir: st/\n"

static void test_load_and_defaults(void)
{
    char *dir = test_tmpdir(),
         *path = write_in(dir, "agent.yaml",
                          BASE "reportIntervalSeconds: 5\nlogLevel: debug\n");
    struct cairn_agent_config c;
    struct cairn_diag d;
    char want[4300];

    cairn_diag_init(&d);
    REQUIRE(cairn_agent_config_load(path, &c, &d) == 0);
    CHECK_STR_EQ(c.site, "st-olaf");
    CHECK_STR_EQ(c.controller,
                 "http://127.0.0.1:8440"); /* trailing slash dropped */
    snprintf(want, sizeof(want), "%s/ctl.pub", dir);
    CHECK_STR_EQ(c.controller_keys, want);
    CHECK_STR_EQ(c.publisher_keys, "/etc/p.pub");
    snprintf(want, sizeof(want), "%s/st", dir);
    CHECK_STR_EQ(c.state_dir, want);
    snprintf(want, sizeof(want), "%s/st/site.key", dir);
    CHECK_STR_EQ(c.site_key, want);
    CHECK_INT_EQ(c.report_interval, 5);
    CHECK_INT_EQ(c.long_poll, 300);
    CHECK_INT_EQ(c.retry_min, 5);
    CHECK_INT_EQ(c.retry_max, 300);
    CHECK_INT_EQ(c.log_level, 0);
    CHECK(c.ca_file == NULL);
    cairn_agent_config_free(&c);
    test_rm_rf(dir);
    free(path);
    free(dir);
}

static void expect_bad(const char *text, const char *want)
{
    char *dir = test_tmpdir(), *path = write_in(dir, "agent.yaml", text);
    struct cairn_agent_config c;
    struct cairn_diag d;

    cairn_diag_init(&d);
    c.site = (char *)"untouched";
    CHECK(cairn_agent_config_load(path, &c, &d) != 0);
    CHECK_STR_EQ(c.site, "untouched");
    CHECK_STR_HAS(cairn_diag_msg(&d), "agent.yaml");
    CHECK_STR_HAS(cairn_diag_msg(&d), want);
    test_rm_rf(dir);
    free(path);
    free(dir);
}

static void test_errors_cite_line(void)
{
    expect_bad(BASE "reportIntervall: 5\n",
               "agent.yaml:6:1: unknown key \"reportIntervall\"");
    expect_bad(BASE "reportIntervalSeconds: 0\n", ":6:");
    expect_bad(BASE "reportIntervalSeconds: fast\n", "reportIntervalSeconds");
    expect_bad(BASE "logLevel: loud\n", "not one of: debug, info, warn, error");
    expect_bad("controller: http://x\ncontrollerKeys: a\npublisherKeys: b\n",
               "missing required key site");
    expect_bad("site: st-olaf\ncontrollerKeys: a\npublisherKeys: b\n",
               "missing required key controller");
    expect_bad("site: St_Olaf\ncontroller: http://x\ncontrollerKeys: "
               "a\npublisherKeys: b\n",
               "not a DNS label");
    expect_bad(
        "site: a\ncontroller: ftp://x\ncontrollerKeys: a\npublisherKeys: b\n",
        "not an http:// or https:// URL");
    expect_bad(BASE "retryMinSeconds: 60\nretryMaxSeconds: 10\n",
               "retryMaxSeconds");
    expect_bad(BASE "site: again\n", "agent.yaml:6:");
}

static void test_key_files(void)
{
    char *dir = test_tmpdir(), *good, *bad, *empty;
    struct cairn_keyset ks;
    struct cairn_diag d;
    struct cairn_seckey k1, k2;
    char *l1, *l2, text[1024];

    REQUIRE(cairn_keys_init() == 0);
    REQUIRE(cairn_seckey_generate("a", &k1) == 0 &&
            cairn_seckey_generate("b", &k2) == 0);
    l1 = cairn_pubkey_format(&k1.pub);
    l2 = cairn_pubkey_format(&k2.pub);
    snprintf(text, sizeof(text), "# controllers\n\n%s\n  %s\n", l1, l2);
    good = write_in(dir, "good.pub", text);
    snprintf(text, sizeof(text), "%s\n# next\nssh-rsa AAAAB3NzaC1yc2E x\n", l1);
    bad = write_in(dir, "bad.pub", text);
    empty = write_in(dir, "empty.pub", "# nothing\n\n");
    cairn_keyset_init(&ks);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_agent_load_keys(good, &ks, &d), 0);
    CHECK_INT_EQ(ks.n, 2);
    CHECK(cairn_keyset_find(&ks, k2.pub.id) != NULL);
    cairn_keyset_free(&ks);
    cairn_keyset_init(&ks);
    CHECK(cairn_agent_load_keys(bad, &ks, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "bad.pub:3:");
    CHECK_INT_EQ(ks.n, 0); /* nothing added on error */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_agent_load_keys(empty, &ks, &d), CAIRN_EKEY);
    CHECK_STR_HAS(cairn_diag_msg(&d), "no public key");
    cairn_keyset_free(&ks);
    CHECK(cairn_agent_is_dns_label("st-olaf"));
    CHECK(!cairn_agent_is_dns_label("-x"));
    CHECK(!cairn_agent_is_dns_label("x-"));
    CHECK(!cairn_agent_is_dns_label(""));
    CHECK(!cairn_agent_is_dns_label("UPPER"));
    free(l1);
    free(l2);
    free(good);
    free(bad);
    free(empty);
    test_rm_rf(dir);
    free(dir);
}

int main(void)
{
    RUN(test_load_and_defaults);
    RUN(test_errors_cite_line);
    RUN(test_key_files);
    return test_done();
}
