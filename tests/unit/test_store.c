/* The controller's SQLite store (controller/store_sqlite.c). */
#include "test.h"

#include <sqlite3.h>

#include "store.h"

static char *dir;

static char *db_path(const char *name)
{
    static char p[4200];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static struct cairn_render_rec rec(const char *site, int64_t gen,
                                   const char *env)
{
    struct cairn_render_rec r;

    memset(&r, 0, sizeof(r));
    snprintf(r.site, sizeof(r.site), "%s", site);
    r.generation = gen;
    memset(r.commit, 'a', 40);
    memset(r.content_sha256, 'c', 64);
    memset(r.payload_sha256, 'p', 64);
    r.issued = 1000;
    r.expires = 2000;
    r.refresh_at = 1500 + gen;
    r.models = "pneumonia@v1";
    r.envelope = (char *)env;
    r.envelope_len = strlen(env);
    return r;
}

static void test_open_and_migrate(void)
{
    struct cairn_store *s = NULL;
    struct cairn_diag d;
    sqlite3 *db;
    int64_t n = -1;

    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(db_path("a.db"), &s, &d) == 0);
    CHECK(cairn_store_count(s, "commits", &n, &d) == 0);
    CHECK_INT_EQ(n, 0);
    CHECK(cairn_store_count(s, "nope", &n, &d) == CAIRN_EINVAL);
    cairn_store_close(s);
    /* reopening an up-to-date store migrates nothing */
    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(db_path("a.db"), &s, &d) == 0);
    cairn_store_close(s);
    /* a store from a newer controller is refused */
    REQUIRE(sqlite3_open(db_path("a.db"), &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_store_open(db_path("a.db"), &s, &d), CAIRN_EDB);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "schema version 99 is newer than this controller's 1");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_store_open("postgres://x/y", &s, &d),
                 CAIRN_EUNSUPPORTED);
}

static void test_commits_and_heads(void)
{
    struct cairn_store *s = NULL;
    struct cairn_commit_rec c;
    struct cairn_diag d;
    char sha[41], *err = NULL;
    int acc = -1;

    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(db_path("b.db"), &s, &d) == 0);
    memset(&c, 0, sizeof(c));
    memset(c.sha, 'b', 40);
    c.seen = 42;
    c.accepted = 0;
    c.error = "sites/x.yaml:3:5: /labels: bad";
    REQUIRE(cairn_store_commit_put(s, &c, &d) == 0);
    REQUIRE(cairn_store_commit_get(s, c.sha, &acc, &err, &d) == 0);
    CHECK_INT_EQ(acc, 0);
    CHECK_STR_EQ(err, "sites/x.yaml:3:5: /labels: bad");
    free(err);
    CHECK_INT_EQ(cairn_store_commit_get(s, "ffff", &acc, NULL, &d),
                 CAIRN_ENOENT);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_store_head_get(s, "accepted", sha, &d), CAIRN_ENOENT);
    REQUIRE(cairn_store_head_set(s, "accepted", c.sha, &d) == 0);
    REQUIRE(cairn_store_head_get(s, "accepted", sha, &d) == 0);
    CHECK_STR_EQ(sha, c.sha);
    cairn_store_close(s);
}

static int collect(const struct cairn_render_rec *r, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 512 - n, "%s:%lld:%s;", r->site, (long long)r->generation,
             r->envelope ? r->envelope : "-");
    return 0;
}

static void test_renders(void)
{
    struct cairn_store *s = NULL;
    struct cairn_render_rec r, got;
    struct cairn_diag d;
    char buf[512] = "";
    int64_t g = -1, n = 0;

    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(db_path("c.db"), &s, &d) == 0);
    REQUIRE(cairn_store_begin(s, &d) == 0);
    r = rec("west", 1, "{\"env\":\"w1\"}");
    REQUIRE(cairn_store_render_put(s, &r, 1, &d) == 0);
    r = rec("east", 1, "{\"env\":\"e1\"}");
    REQUIRE(cairn_store_render_put(s, &r, 1, &d) == 0);
    r = rec("east", 2, "{\"env\":\"e2\"}");
    REQUIRE(cairn_store_render_put(s, &r, 1, &d) == 0);
    REQUIRE(cairn_store_commit(s, &d) == 0);

    REQUIRE(cairn_store_render_get(s, "east", &got, &d) == 0);
    CHECK_INT_EQ(got.generation, 2);
    CHECK_STR_EQ(got.envelope, "{\"env\":\"e2\"}");
    CHECK_STR_EQ(got.models, "pneumonia@v1");
    CHECK_INT_EQ(got.refresh_at, 1502);
    cairn_render_rec_free(&got);
    CHECK_INT_EQ(cairn_store_render_get(s, "north", &got, &d), CAIRN_ENOENT);

    REQUIRE(cairn_store_render_scan(s, 0, 0, 0, collect, buf, &d) == 0);
    CHECK_STR_EQ(buf, "east:2:-;west:1:-;");
    buf[0] = '\0';
    /* due: refresh_at < 1502 is west only (1501) */
    REQUIRE(cairn_store_render_scan(s, 1, 1502, 10, collect, buf, &d) == 0);
    CHECK_STR_EQ(buf, "west:1:{\"env\":\"w1\"};");

    CHECK(cairn_store_count(s, "history", &n, &d) == 0);
    CHECK_INT_EQ(n, 3);
    /* removing a site keeps its generations counting */
    cairn_diag_init(&d);
    REQUIRE(cairn_store_render_remove(s, "east", r.commit, &d) == 0);
    CHECK_INT_EQ(cairn_store_render_remove(s, "east", r.commit, &d),
                 CAIRN_ENOENT);
    cairn_diag_init(&d);
    REQUIRE(cairn_store_generation_max(s, "east", &g, &d) == 0);
    CHECK_INT_EQ(g, 3);
    REQUIRE(cairn_store_generation_max(s, "never", &g, &d) == 0);
    CHECK_INT_EQ(g, 0);
    cairn_store_close(s);
}

static void test_rollback_publishes_nothing(void)
{
    struct cairn_store *s = NULL;
    struct cairn_render_rec r, got;
    struct cairn_diag d;
    int64_t n = -1;

    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(db_path("d.db"), &s, &d) == 0);
    REQUIRE(cairn_store_begin(s, &d) == 0);
    CHECK_INT_EQ(cairn_store_begin(s, &d), CAIRN_ESTATE);
    r = rec("a", 1, "x");
    REQUIRE(cairn_store_render_put(s, &r, 1, &d) == 0);
    cairn_store_rollback(s);
    cairn_store_rollback(s); /* twice is harmless */
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_store_render_get(s, "a", &got, &d), CAIRN_ENOENT);
    CHECK(cairn_store_count(s, "history", &n, &d) == 0);
    CHECK_INT_EQ(n, 0);
    /* an open transaction at close is rolled back too */
    REQUIRE(cairn_store_begin(s, &d) == 0);
    REQUIRE(cairn_store_render_put(s, &r, 1, &d) == 0);
    cairn_store_close(s);
    REQUIRE(cairn_store_open(db_path("d.db"), &s, &d) == 0);
    CHECK(cairn_store_count(s, "renders", &n, &d) == 0);
    CHECK_INT_EQ(n, 0);
    cairn_store_close(s);
}

int main(void)
{
    dir = test_tmpdir();
    RUN(test_open_and_migrate);
    RUN(test_commits_and_heads);
    RUN(test_renders);
    RUN(test_rollback_publishes_nothing);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
