/* The daemon's records (controller/records.h): batches in one transaction,
 * history trimmed to the retention, latest status and last error, failure
 * records, keys, nonces, uploads, reopening, migrating schema 1, refusing a
 * newer schema. */
#include <sqlite3.h>

#include "records.h"
#include "test.h"

static char *dir, path[4096];

static struct cairn_records *open_rec(void)
{
    struct cairn_records *r = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_records_open(path, &r, &d) != 0)
        fprintf(stderr, "open: %s\n", cairn_diag_msg(&d));
    return r;
}

static int count_status(const struct cairn_status_rec *s, void *arg)
{
    char **out = arg;

    if (strcmp(s->site, "a") == 0) {
        snprintf(out[0], 256, "%lld %s", (long long)s->seq, s->payload);
        snprintf(out[1], 256, "%s", s->last_error ? s->last_error : "(null)");
    }
    return 0;
}

static void test_reports(void)
{
    struct cairn_records *r = open_rec();
    struct cairn_records_batch *b = cairn_records_batch_new();
    char s0[256], s1[256], *out[2] = {s0, s1};
    int64_t n = -1;

    REQUIRE(r);
    for (int seq = 1; seq <= 10; seq++) {
        char payload[64];

        snprintf(payload, sizeof(payload), "{\"seq\":%d}", seq);
        cairn_records_batch_report(b, "a", seq, 100 + seq, "h", payload, "env",
                                   seq == 4 ? "{\"type\":\"RolledBack\"}"
                                            : NULL);
    }
    cairn_records_batch_report(b, "b", 1, 1, "h", "{}", "env", NULL);
    CHECK_INT_EQ(cairn_records_batch_len(b), 11);
    CHECK_INT_EQ(cairn_records_apply(r, b, 3, 0, NULL), 0);
    CHECK_INT_EQ(cairn_records_count_reports(r, "a", &n, NULL), 0);
    CHECK_INT_EQ(n, 3);
    CHECK_INT_EQ(cairn_records_count_reports(r, NULL, &n, NULL), 0);
    CHECK_INT_EQ(n, 4);
    CHECK_INT_EQ(cairn_records_load_status(r, count_status, out, NULL), 0);
    CHECK_STR_EQ(s0, "10 {\"seq\":10}");
    /* the last error stays until a report brings a new one */
    CHECK_STR_EQ(s1, "{\"type\":\"RolledBack\"}");
    cairn_records_batch_free(b);
    cairn_records_close(r);
}

struct seqs {
    char buf[512];
};

static int seq_cb(const char *site, int64_t seq, const char *sha, void *arg)
{
    struct seqs *s = arg;
    size_t n = strlen(s->buf);

    snprintf(s->buf + n, sizeof(s->buf) - n, "%s:%lld:%s ", site,
             (long long)seq, sha);
    return 0;
}

static void test_recent(void)
{
    struct cairn_records *r = open_rec();
    struct seqs s = {""};

    REQUIRE(r);
    CHECK_INT_EQ(cairn_records_load_recent(r, 2, seq_cb, &s, NULL), 0);
    CHECK_STR_EQ(s.buf, "a:10:h a:9:h b:1:h ");
    cairn_records_close(r);
}

static int key_cb(const char *site, const char *key, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 256 - n, "%s=%s;", site, key);
    return 0;
}

static int nonce_cb(const char *site, const char *nonce, int64_t exp, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 256 - n, "%s/%s@%lld;", site, nonce, (long long)exp);
    return 0;
}

static int upload_cb(const char *site, int64_t count, int64_t bytes, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 256 - n, "%s:%lld:%lld;", site, (long long)count,
             (long long)bytes);
    return 0;
}

static void test_keys_nonces_uploads(void)
{
    struct cairn_records *r = open_rec();
    struct cairn_records_batch *b = cairn_records_batch_new();
    char buf[256] = "";

    REQUIRE(r);
    cairn_records_batch_key(b, "a", "ssh-ed25519 AAAA a", "c1");
    cairn_records_batch_key(b, "b", "ssh-ed25519 BBBB b", "c1");
    cairn_records_batch_nonce(b, "a", "n1", 50);
    cairn_records_batch_nonce(b, "a", "n2", 500);
    cairn_records_batch_upload(b, "a", "s1", "x.png", "v1", 10, 1);
    cairn_records_batch_upload(b, "a", "s2", "y.png", "v1", 5, 1);
    cairn_records_batch_upload(b, "a", "s2", "y.png", "v1", 5,
                               2); /* same hash: once */
    CHECK_INT_EQ(cairn_records_apply(r, b, 10, 100, NULL), 0);
    cairn_records_batch_free(b);
    b = cairn_records_batch_new();
    cairn_records_batch_key(b, "b", NULL, NULL); /* left the fleet */
    CHECK_INT_EQ(cairn_records_apply(r, b, 10, 100, NULL), 0);
    CHECK_INT_EQ(cairn_records_load_keys(r, key_cb, buf, NULL), 0);
    CHECK_STR_EQ(buf, "a=ssh-ed25519 AAAA a;");
    buf[0] = 0;
    /* n1 expired at 50 and was pruned by the apply at 100 */
    CHECK_INT_EQ(cairn_records_load_nonces(r, 0, nonce_cb, buf, NULL), 0);
    CHECK_STR_EQ(buf, "a/n2@500;");
    buf[0] = 0;
    CHECK_INT_EQ(cairn_records_load_nonces(r, 501, nonce_cb, buf, NULL), 0);
    CHECK_STR_EQ(buf, "");
    CHECK_INT_EQ(cairn_records_load_uploads(r, upload_cb, buf, NULL), 0);
    CHECK_STR_EQ(buf, "a:2:15;");
    cairn_records_batch_free(b);
    cairn_records_close(r);
}

static int stop_cb(const char *site, const char *key, void *arg)
{
    (void)site;
    (void)key;
    (void)arg;
    return 42;
}

/* A failing batch keeps nothing; a callback's non-zero return ends the walk. */
static void test_atomic(void)
{
    struct cairn_records *r = open_rec();
    struct cairn_records_batch *b = cairn_records_batch_new();
    sqlite3 *db;
    int64_t before = 0, after = 0;
    struct cairn_diag d;

    REQUIRE(r);
    CHECK_INT_EQ(cairn_records_load_keys(r, stop_cb, NULL, NULL), 42);
    CHECK_INT_EQ(cairn_records_count_reports(r, NULL, &before, NULL), 0);
    /* a trigger makes the second report fail */
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(
                db,
                "CREATE TRIGGER t BEFORE INSERT ON reports WHEN NEW.seq = 99"
                " BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    cairn_records_batch_report(b, "z", 98, 1, "h", "{}", "e", NULL);
    cairn_records_batch_report(b, "z", 99, 1, "h", "{}", "e", NULL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_records_apply(r, b, 10, 0, &d), CAIRN_EDB);
    CHECK_STR_HAS(cairn_diag_msg(&d), "boom");
    CHECK_INT_EQ(cairn_records_count_reports(r, NULL, &after, NULL), 0);
    CHECK_INT_EQ(after, before);
    cairn_records_batch_free(b);
    cairn_records_close(r);
}

static int failure_status(const struct cairn_status_rec *s, void *arg)
{
    char *out = arg;

    snprintf(out, 512, "%s %lld %s %s", s->site, (long long)s->seq,
             s->last_error ? s->last_error : "(null)",
             s->failure ? s->failure : "(null)");
    return 0;
}

/* A failure record outlives later reports and later error events. */
static void test_failure(void)
{
    char p2[4200], got[512];
    struct cairn_records *r = NULL;
    struct cairn_records_batch *b = cairn_records_batch_new();

    snprintf(p2, sizeof(p2), "%s/failure.db", dir);
    REQUIRE(cairn_records_open(p2, &r, NULL) == 0);
    cairn_records_batch_report(b, "m", 1, 1, "h", "{}", "e", "{\"e\":1}");
    cairn_records_batch_failure(b, "m", "{\"f\":1}");
    cairn_records_batch_report(b, "m", 2, 2, "h", "{}", "e", NULL);
    REQUIRE(cairn_records_apply(r, b, 10, 0, NULL) == 0);
    cairn_records_batch_free(b);
    REQUIRE(cairn_records_load_status(r, failure_status, got, NULL) == 0);
    CHECK_STR_EQ(got, "m 2 {\"e\":1} {\"f\":1}");
    b = cairn_records_batch_new();
    cairn_records_batch_report(b, "m", 3, 3, "h", "{}", "e", "{\"e\":2}");
    REQUIRE(cairn_records_apply(r, b, 10, 0, NULL) == 0);
    cairn_records_batch_free(b);
    REQUIRE(cairn_records_load_status(r, failure_status, got, NULL) == 0);
    CHECK_STR_EQ(got, "m 3 {\"e\":2} {\"f\":1}");
    cairn_records_close(r);
}

/* A database of schema 1 (before failure records) is migrated in place. */
static void test_migrate_v1(void)
{
    char p1[4200], got[512] = "";
    struct cairn_records *r = NULL;
    struct cairn_diag d;
    sqlite3 *db;

    snprintf(p1, sizeof(p1), "%s/v1.db", dir);
    REQUIRE(sqlite3_open(p1, &db) == SQLITE_OK);
    /* schema 1 as the previous controller created it */
    REQUIRE(
        sqlite3_exec(
            db,
            "CREATE TABLE reports(site TEXT NOT NULL, seq INTEGER NOT NULL,"
            " received INTEGER NOT NULL, payload_sha256 TEXT NOT NULL,"
            " envelope TEXT NOT NULL, PRIMARY KEY(site, seq)) WITHOUT ROWID;"
            "CREATE TABLE site_status(site TEXT PRIMARY KEY, seq INTEGER NOT"
            " NULL, received INTEGER NOT NULL, payload TEXT NOT NULL,"
            " last_error TEXT);"
            "CREATE TABLE site_keys(site TEXT PRIMARY KEY, public_key TEXT NOT"
            " NULL, commit_sha TEXT NOT NULL);"
            "CREATE TABLE nonces(site TEXT NOT NULL, nonce TEXT NOT NULL,"
            " expires INTEGER NOT NULL, PRIMARY KEY(site, nonce)) WITHOUT "
            "ROWID;"
            "CREATE INDEX nonces_expires ON nonces(expires);"
            "CREATE TABLE uploads(site TEXT NOT NULL, sha256 TEXT NOT NULL,"
            " name TEXT NOT NULL, model_version TEXT NOT NULL, size INTEGER"
            " NOT NULL, received INTEGER NOT NULL, PRIMARY KEY(site, "
            "sha256));"
            "INSERT INTO site_status VALUES('old', 5, 1, '{}', '{}');"
            "PRAGMA user_version = 1;",
            NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    cairn_diag_init(&d);
    if (cairn_records_open(p1, &r, &d) != 0)
        fprintf(stderr, "open: %s\n", cairn_diag_msg(&d));
    REQUIRE(r != NULL);
    REQUIRE(cairn_records_load_status(r, failure_status, got, NULL) == 0);
    CHECK_STR_EQ(got, "old 5 {} (null)");
    cairn_records_close(r);
}

static void test_newer_schema(void)
{
    struct cairn_records *r = NULL;
    struct cairn_diag d;
    sqlite3 *db;

    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_records_open(path, &r, &d), CAIRN_EDB);
    CHECK_STR_HAS(cairn_diag_msg(&d), "schema version 99 is newer");
    CHECK(r == NULL);
}

int main(void)
{
    dir = test_tmpdir();
    snprintf(path, sizeof(path), "%s/records.db", dir);
    RUN(test_reports);
    RUN(test_recent);
    RUN(test_keys_nonces_uploads);
    RUN(test_atomic);
    RUN(test_failure);
    RUN(test_migrate_v1);
    RUN(test_newer_schema);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
