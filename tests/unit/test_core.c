#include "cairn/diag.h"
#include "cairn/embedded.h"
#include "cairn/error.h"
#include "cairn/fs.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "test.h"

#include <fcntl.h>

static void test_strerror(void)
{
    CHECK_STR_EQ(cairn_strerror(0), "success");
    CHECK_STR_EQ(cairn_strerror(CAIRN_ESIG), "signature verification failed");
    CHECK_STR_EQ(cairn_errname(CAIRN_EPARSE), "CAIRN_EPARSE");
    CHECK_STR_EQ(cairn_strerror(12345), "unknown error");
    CHECK_STR_EQ(cairn_strerror(CAIRN__ERRBASE), "unknown error");
    CHECK(CAIRN_EINVAL < 0);
}

static void test_diag_first_wins(void)
{
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_STR_EQ(cairn_diag_msg(&d), "success");
    CHECK_INT_EQ(cairn_diag_set(&d, CAIRN_EPARSE, "line %d bad", 3),
                 CAIRN_EPARSE);
    cairn_diag_set(&d, CAIRN_EIO, "later error");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    cairn_diag_prefix(&d, "fleet.yaml");
    CHECK_STR_EQ(cairn_diag_msg(&d), "fleet.yaml: line 3 bad");
    CHECK_INT_EQ(cairn_diag_set(NULL, CAIRN_EIO, "x"), CAIRN_EIO);
    cairn_diag_prefix(NULL, "x");
}

static void test_diag_code_only(void)
{
    struct cairn_diag d;

    cairn_diag_init(&d);
    d.code = CAIRN_ETIMEOUT;
    CHECK_STR_EQ(cairn_diag_msg(&d), "timed out");
}

static void test_buf_cap(void)
{
    struct cairn_buf b;
    char *s;
    size_t n;

    cairn_buf_init(&b, 8);
    CHECK_INT_EQ(cairn_buf_append(&b, "abcd", 4), 0);
    CHECK_INT_EQ(cairn_buf_appendf(&b, "%d", 123), 0);
    CHECK_STR_EQ(b.data, "abcd123");
    CHECK_INT_EQ(cairn_buf_append(&b, "xy", 2), CAIRN_ETOOBIG);
    CHECK_STR_EQ(b.data, "abcd123");
    CHECK_INT_EQ(cairn_buf_appendf(&b, "%s", "zz"), CAIRN_ETOOBIG);
    CHECK_INT_EQ(b.len, 7);
    s = cairn_buf_steal(&b, &n);
    CHECK_INT_EQ(n, 7);
    CHECK_STR_EQ(s, "abcd123");
    free(s);
    CHECK(b.data == NULL);
    cairn_buf_free(&b);
}

static void test_buf_steal_empty(void)
{
    struct cairn_buf b;
    size_t n = 99;
    char *s;

    cairn_buf_init(&b, 0);
    s = cairn_buf_steal(&b, &n);
    CHECK_INT_EQ(n, 0);
    CHECK_STR_EQ(s, "");
    free(s);
}

static void test_xasprintf(void)
{
    char *s = cairn_xasprintf("%s-%03d", "gen", 7);

    CHECK_STR_EQ(s, "gen-007");
    free(s);
}

static void test_log_level(void)
{
    enum cairn_log_level lvl;

    CHECK_INT_EQ(cairn_log_parse_level("debug", &lvl), 0);
    CHECK_INT_EQ(lvl, CAIRN_LOG_DEBUG);
    CHECK_INT_EQ(cairn_log_parse_level("loud", &lvl), CAIRN_EINVAL);
}

/* A logged value from outside (a path, a parse error quoting input) must
 * not start a line of its own: with newlines, one log call could forge
 * entries that auditors and journald would take as cairn's. */
static void test_log_one_line(void)
{
    char *dir = test_tmpdir(), *path = cairn_xasprintf("%s/log", dir);
    char *text = NULL;
    size_t len = 0;
    int saved = dup(2), fd;

    REQUIRE(saved >= 0);
    fflush(stderr);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    dup2(fd, 2);
    close(fd);
    LOG_ERROR("bad name \"%s\"", "x\n2026-01-01T00:00:00.000Z cairn info: "
                                 "forged\r\x1b[2J");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    REQUIRE(cairn_fs_read(path, 4096, &text, &len, NULL) == 0);
    CHECK(len > 0 && text[len - 1] == '\n');
    CHECK(memchr(text, '\n', len - 1) == NULL);
    CHECK(memchr(text, '\r', len) == NULL);
    CHECK(memchr(text, 0x1b, len) == NULL);
    CHECK_STR_HAS(text, "bad name \"x?2026-01-01");
    free(text);
    free(path);
    test_rm_rf(dir);
    free(dir);
}

static void test_embedded_schemas(void)
{
    size_t len = 0;
    const char *s = cairn_embedded_get("site.schema.json", &len);

    REQUIRE(s != NULL);
    CHECK(len == strlen(s));
    CHECK_STR_HAS(s, "\"const\": \"Site\"");
    CHECK(cairn_embedded_get("nope.json", NULL) == NULL);
}

int main(void)
{
    RUN(test_strerror);
    RUN(test_diag_first_wins);
    RUN(test_diag_code_only);
    RUN(test_buf_cap);
    RUN(test_buf_steal_empty);
    RUN(test_xasprintf);
    RUN(test_log_level);
    RUN(test_log_one_line);
    RUN(test_embedded_schemas);
    return test_done();
}
