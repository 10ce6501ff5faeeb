#include <stddef.h>
#include <stdint.h>

#include "cairn/config.h"
#include "test.h"

struct cfg {
    char *listen;
    char *state_dir;
    int64_t interval;
    int verbose;
    int policy;
};

static const char *const policies[] = {"require", "off", NULL};

static const struct cairn_config_row rows[] = {
    {"listen", CAIRN_CFG_STRING, offsetof(struct cfg, listen), "127.0.0.1:8440",
     0, 0, NULL, "address to listen on"},
    {"stateDir", CAIRN_CFG_PATH, offsetof(struct cfg, state_dir), "state", 0, 0,
     NULL, "state directory"},
    {"pollIntervalSeconds", CAIRN_CFG_INT, offsetof(struct cfg, interval), "30",
     1, 3600, NULL, "poll interval"},
    {"verbose", CAIRN_CFG_BOOL, offsetof(struct cfg, verbose), "false", 0, 0,
     NULL, "more logging"},
    {"commitSignatures", CAIRN_CFG_ENUM, offsetof(struct cfg, policy),
     "require", 0, 0, policies, "signature policy"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};

static char *write_cfg(const char *dir, const char *text)
{
    char *path = malloc(4096);

    snprintf(path, 4096, "%s/c.yaml", dir);
    test_write_file(path, text, strlen(text));
    return path;
}

static void test_defaults_and_load(void)
{
    char *dir = test_tmpdir();
    char *path = write_cfg(dir, "listen: 0.0.0.0:9000\n"
                                "stateDir: st\n"
                                "pollIntervalSeconds: 5\n"
                                "verbose: true\n"
                                "commitSignatures: off\n");
    struct cairn_diag d;
    struct cfg c;
    char want[4200];

    cairn_diag_init(&d);
    cairn_config_defaults(rows, &c);
    CHECK_STR_EQ(c.listen, "127.0.0.1:8440");
    CHECK_INT_EQ(c.interval, 30);
    CHECK_INT_EQ(c.policy, 0);
    CHECK_INT_EQ(cairn_config_load(rows, &c, path, &d), 0);
    CHECK_STR_EQ(c.listen, "0.0.0.0:9000");
    snprintf(want, sizeof(want), "%s/st", dir);
    CHECK_STR_EQ(c.state_dir, want);
    CHECK_INT_EQ(c.interval, 5);
    CHECK_INT_EQ(c.verbose, 1);
    CHECK_INT_EQ(c.policy, 1);
    cairn_config_free(rows, &c);
    CHECK(c.listen == NULL);
    test_rm_rf(dir);
    free(path);
    free(dir);
}

static void expect_error(const char *text, const char *msg)
{
    char *dir = test_tmpdir();
    char *path = write_cfg(dir, text);
    struct cairn_diag d;
    struct cfg c;

    cairn_diag_init(&d);
    cairn_config_defaults(rows, &c);
    CHECK(cairn_config_load(rows, &c, path, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), msg);
    cairn_config_free(rows, &c);
    test_rm_rf(dir);
    free(path);
    free(dir);
}

static void test_errors_are_located(void)
{
    expect_error("listen: x\nbogus: 1\n", "c.yaml:2:1: unknown key \"bogus\"");
    expect_error(
        "pollIntervalSeconds: 0\n",
        "c.yaml:1:22: pollIntervalSeconds: 0 is out of range [1, 3600]");
    expect_error(
        "pollIntervalSeconds: soon\n",
        "c.yaml:1:22: pollIntervalSeconds: wrong type (expected an integer)");
    expect_error("verbose: 1\n",
                 "verbose: wrong type (expected true or false)");
    expect_error("commitSignatures: maybe\n",
                 "commitSignatures: \"maybe\" is not one of: require, off");
    expect_error("listen: [a, b]\n", "c.yaml:1:9: listen: wrong type");
    expect_error("- a\n- b\n", "expected a map of settings");
    expect_error("listen: x\nlisten: y\n", "duplicate key");
}

/* A file with an error anywhere stores none of its keys, whatever their
 * order: target keeps every value it had (a reload keeps the running
 * configuration whole). */
static void expect_untouched(const char *text, const char *msg)
{
    char *dir = test_tmpdir();
    char *good = write_cfg(dir, "listen: 10.0.0.1:1\npollIntervalSeconds: 7\n");
    char *path, *listen, *state_dir;
    struct cairn_diag d;
    struct cfg c;

    cairn_diag_init(&d);
    cairn_config_defaults(rows, &c);
    REQUIRE(cairn_config_load(rows, &c, good, &d) == 0);
    listen = c.listen;
    state_dir = c.state_dir;
    path = write_cfg(dir, text);
    CHECK(cairn_config_load(rows, &c, path, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), msg);
    CHECK(c.listen == listen); /* not even replaced by an equal copy */
    CHECK(c.state_dir == state_dir);
    CHECK_STR_EQ(c.listen, "10.0.0.1:1");
    CHECK_STR_EQ(c.state_dir, "state");
    CHECK_INT_EQ(c.interval, 7);
    CHECK_INT_EQ(c.verbose, 0);
    CHECK_INT_EQ(c.policy, 0);
    /* a bad override is refused the same way */
    cairn_diag_init(&d);
    CHECK(cairn_config_set(rows, &c, "pollIntervalSeconds", "0", &d) != 0);
    CHECK_INT_EQ(c.interval, 7);
    cairn_config_free(rows, &c);
    test_rm_rf(dir);
    free(good);
    free(path);
    free(dir);
}

static void test_all_or_nothing(void)
{
    expect_untouched("listen: 0.0.0.0:9\nstateDir: st\npollIntervalSeconds: 9\n"
                     "verbose: true\ncommitSignatures: off\nbogus: 1\n",
                     "c.yaml:6:1: unknown key \"bogus\"");
    expect_untouched("stateDir: st\nverbose: true\npollIntervalSeconds: 0\n",
                     "c.yaml:3:22: pollIntervalSeconds: 0 is out of range");
    expect_untouched("listen: 0.0.0.0:9\ncommitSignatures: maybe\n"
                     "pollIntervalSeconds: 9\n",
                     "c.yaml:2:19: commitSignatures: \"maybe\"");
    expect_untouched("listen: 0.0.0.0:9\nverbose: 1\n", "c.yaml:2:10:");
}

static void test_set_and_print(void)
{
    struct cairn_diag d;
    struct cfg c;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    cairn_diag_init(&d);
    cairn_config_defaults(rows, &c);
    CHECK_INT_EQ(cairn_config_set(rows, &c, "pollIntervalSeconds", "60", &d),
                 0);
    CHECK_INT_EQ(c.interval, 60);
    CHECK(cairn_config_set(rows, &c, "nope", "1", &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "unknown key \"nope\"");
    f = open_memstream(&buf, &len);
    cairn_config_print(rows, &c, f);
    cairn_config_print_doc(rows, f);
    fclose(f);
    CHECK_STR_HAS(buf, "pollIntervalSeconds: 60");
    CHECK_STR_HAS(buf, "listen: \"127.0.0.1:8440\"");
    CHECK_STR_HAS(buf,
                  "| `commitSignatures` | enum: `require`, `off` | require |");
    free(buf);
    cairn_config_free(rows, &c);
}

static void test_empty_file_keeps_defaults(void)
{
    char *dir = test_tmpdir();
    char *path = write_cfg(dir, "# nothing\n");
    struct cairn_diag d;
    struct cfg c;

    cairn_diag_init(&d);
    cairn_config_defaults(rows, &c);
    CHECK_INT_EQ(cairn_config_load(rows, &c, path, &d), 0);
    CHECK_INT_EQ(c.interval, 30);
    cairn_config_free(rows, &c);
    test_rm_rf(dir);
    free(path);
    free(dir);
}

int main(void)
{
    RUN(test_defaults_and_load);
    RUN(test_errors_are_located);
    RUN(test_all_or_nothing);
    RUN(test_set_and_print);
    RUN(test_empty_file_keeps_defaults);
    return test_done();
}
