/*
 * The audit trail in the controller's databases (controller/store_audit.c):
 * the envelope trigger on the real render store (first envelope of each
 * generation kept, re-issues not, kept in the render's transaction, old
 * renders copied in), paged listings, and the records' reports and site
 * keys.
 */
#include "test.h"

#include <sqlite3.h>

#include "records.h"
#include "store.h"
#include "store_audit.h"

static char *dir;

static char *path(const char *name)
{
    static char p[2][4200];
    static int k;

    k ^= 1;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

static struct cairn_render_rec rec(int64_t gen, const char *env, int64_t issued)
{
    struct cairn_render_rec r;

    memset(&r, 0, sizeof(r));
    snprintf(r.site, sizeof(r.site), "st-olaf");
    r.generation = gen;
    memset(r.commit, 'a' + (char)gen, 40);
    memset(r.content_sha256, 'c', 64);
    memset(r.payload_sha256, 'p', 64);
    r.issued = issued;
    r.expires = issued + 100;
    r.refresh_at = issued + 50;
    r.models = "pneumonia@v1";
    r.envelope = (char *)env;
    r.envelope_len = strlen(env);
    return r;
}

struct seen {
    char text[1024];
    size_t n;
};

static int on_gen(const struct cairn_audit_gen *g, void *arg)
{
    struct seen *s = arg;
    size_t off = strlen(s->text);

    snprintf(s->text + off, sizeof(s->text) - off, "%lld:%.1s:%s:%s:%lld;",
             (long long)g->generation, g->commit,
             g->removed ? "removed" : g->models,
             g->envelope ? g->envelope : "-", (long long)g->issued);
    s->n++;
    return 0;
}

static void list(struct cairn_store_audit *a, int64_t after, size_t limit,
                 struct seen *s, int *more)
{
    memset(s, 0, sizeof(*s));
    if (cairn_store_audit_generations(a, "st-olaf", after, limit, on_gen, s,
                                      more, NULL) != 0)
        snprintf(s->text, sizeof(s->text), "error");
}

static void test_envelope_trail(void)
{
    struct cairn_store *st = NULL;
    struct cairn_store_audit *a = NULL;
    struct cairn_render_rec r;
    struct cairn_diag d;
    struct seen s;
    int more = -1;

    cairn_diag_init(&d);
    REQUIRE(cairn_store_open(path("store.db"), &st, &d) == 0);
    /* a render from before the audit trail existed is copied in */
    r = rec(1, "env-1", 1000);
    REQUIRE(cairn_store_render_put(st, &r, 1, &d) == 0);
    REQUIRE(cairn_store_audit_install(path("store.db"), &d) == 0);
    REQUIRE(cairn_store_audit_install(path("store.db"), &d) ==
            0); /* idempotent */
    /* a re-issue of generation 1 keeps the first envelope */
    r = rec(1, "env-1-reissued", 1040);
    REQUIRE(cairn_store_render_put(st, &r, 0, &d) == 0);
    /* generation 2 in a transaction that rolls back: nothing kept */
    REQUIRE(cairn_store_begin(st, &d) == 0);
    r = rec(2, "env-2-lost", 1050);
    REQUIRE(cairn_store_render_put(st, &r, 1, &d) == 0);
    cairn_store_rollback(st);
    r = rec(2, "env-2", 1060);
    REQUIRE(cairn_store_render_put(st, &r, 1, &d) == 0);
    REQUIRE(cairn_store_render_remove(
                st, "st-olaf", "dddddddddddddddddddddddddddddddddddddddd",
                &d) == 0);
    REQUIRE(cairn_store_audit_open(path("store.db"), path("none.db"), &a, &d) ==
            0);
    list(a, 0, 2, &s, &more);
    CHECK_STR_EQ(s.text,
                 "1:b:pneumonia@v1:env-1:1000;2:c:pneumonia@v1:env-2:1060;");
    CHECK_INT_EQ(more, 1);
    list(a, 2, 2, &s, &more);
    CHECK_STR_EQ(s.text, "3:d:removed:-:0;");
    CHECK_INT_EQ(more, 0);
    list(a, 3, 10, &s, &more);
    CHECK_INT_EQ(s.n, 0);
    CHECK_INT_EQ(more, 0);
    cairn_store_audit_close(a);
    cairn_store_close(st);
    /* a missing store lists nothing; a store that is not SQLite has no path */
    REQUIRE(cairn_store_audit_open(path("x.db"), path("y.db"), &a, &d) == 0);
    list(a, 0, 10, &s, &more);
    CHECK_INT_EQ(s.n, 0);
    cairn_store_audit_close(a);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_store_audit_install(path("x.db"), &d), CAIRN_EDB);
    CHECK_STR_HAS(cairn_diag_msg(&d), "x.db: open");
    CHECK(cairn_store_audit_path("postgres://db/cairn") == NULL);
    {
        char *p = cairn_store_audit_path("sqlite:/var/lib/cairn/cairn.db");

        CHECK_STR_EQ(p, "/var/lib/cairn/cairn.db");
        free(p);
    }
}

static void test_uninstalled_store(void)
{
    struct cairn_store *st = NULL;
    struct cairn_store_audit *a = NULL;
    struct cairn_render_rec r = rec(1, "env-1", 1000);
    struct seen s;
    int more;

    REQUIRE(cairn_store_open(path("plain.db"), &st, NULL) == 0);
    REQUIRE(cairn_store_render_put(st, &r, 1, NULL) == 0);
    REQUIRE(cairn_store_audit_open(path("plain.db"), path("none.db"), &a,
                                   NULL) == 0);
    list(a, 0, 10, &s, &more);
    CHECK_STR_EQ(s.text,
                 "1:b:pneumonia@v1:-:1000;"); /* listed, no envelope kept */
    cairn_store_audit_close(a);
    cairn_store_close(st);
}

static int on_report(const struct cairn_audit_report *r, void *arg)
{
    struct seen *s = arg;
    size_t off = strlen(s->text);

    snprintf(s->text + off, sizeof(s->text) - off, "%lld@%lld:%s;",
             (long long)r->seq, (long long)r->received, r->envelope);
    return r->seq == 3 ? 7 : 0; /* a callback's result stops the listing */
}

static void test_records(void)
{
    struct cairn_records *rec_db = NULL;
    struct cairn_records_batch *b = cairn_records_batch_new();
    struct cairn_store_audit *a = NULL;
    struct seen s;
    char *key = NULL, commit[41];
    int more = -1;

    REQUIRE(cairn_records_open(path("records.db"), &rec_db, NULL) == 0);
    for (int i = 1; i <= 4; i++) {
        char env[16];

        snprintf(env, sizeof(env), "env-%d", i);
        cairn_records_batch_report(b, "st-olaf", i, 100 + i, "s", "{}", env,
                                   NULL);
    }
    cairn_records_batch_report(b, "st-paul", 1, 100, "s", "{}", "other", NULL);
    cairn_records_batch_key(b, "st-olaf", "ssh-ed25519 AAAA k",
                            "cccccccccccccccccccccccccccccccccccccccc");
    REQUIRE(cairn_records_apply(rec_db, b, 100, 1000, NULL) == 0);
    REQUIRE(cairn_store_audit_open(path("none.db"), path("records.db"), &a,
                                   NULL) == 0);
    memset(&s, 0, sizeof(s));
    CHECK(cairn_store_audit_reports(a, "st-olaf", 0, 2, on_report, &s, &more,
                                    NULL) == 0);
    CHECK_STR_EQ(s.text, "1@101:env-1;2@102:env-2;");
    CHECK_INT_EQ(more, 1);
    memset(&s, 0, sizeof(s));
    CHECK_INT_EQ(cairn_store_audit_reports(a, "st-olaf", 2, 10, on_report, &s,
                                           &more, NULL),
                 7);
    CHECK_STR_EQ(s.text, "3@103:env-3;");
    CHECK(cairn_store_audit_site_key(a, "st-olaf", &key, commit, NULL) == 0);
    CHECK_STR_EQ(key, "ssh-ed25519 AAAA k");
    CHECK_STR_EQ(commit, "cccccccccccccccccccccccccccccccccccccccc");
    free(key);
    CHECK_INT_EQ(cairn_store_audit_site_key(a, "st-paul", &key, commit, NULL),
                 CAIRN_ENOENT);
    cairn_store_audit_close(a);
    cairn_records_batch_free(b);
    cairn_records_close(rec_db);
}

int main(void)
{
    dir = test_tmpdir();
    RUN(test_envelope_trail);
    RUN(test_uninstalled_store);
    RUN(test_records);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
