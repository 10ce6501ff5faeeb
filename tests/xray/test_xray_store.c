/*
 * Records (SQLite), the durable notification queue, the ground-truth table
 * and configuration.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn/mem.h"
#include "config.h"
#include "store.h"
#include "test.h"
#include "truth.h"

static int64_t count(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int64_t n = -1;

    if (sqlite3_open(db, &h) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void test_record_and_seen(void)
{
    char *dir = test_tmpdir(), *db = cairn_xasprintf("%s/x.db", dir);
    struct xray_store *s;
    /* Quotes and SQL in a name are data, never SQL. */
    const char *evil = "demo_Robert'); DROP TABLE "
                       "images_processed;--_1_2000-01-01_2020-01-01.jpeg";
    struct xray_record r = {
        .uploaded_time = "2024-01-01 00:00:00",
        .time = "2024-01-01 00:00:01",
        .source_name = evil,
        .processed_name = "x-processed.jpeg",
        .model_version = "v1",
        .model_sha256 = "ab",
        .label_class = "Unsure",
        .p = 0.7,
        .image_sha256 = "1111",
        .truth = "NORMAL",
        .latency_ms = 3,
        .anon_name = "demo_XXXXXXXX_00000000_XXXX-XX-XX_2020-01-01.jpeg",
        .notify_body = NULL};
    int seen = -1;

    REQUIRE(xray_store_open(db, &s, NULL) == 0);
    REQUIRE(xray_store_seen(s, "1111", &seen, NULL) == 0);
    CHECK_INT_EQ(seen, 0);
    REQUIRE(xray_store_record(s, &r, NULL) == 0);
    REQUIRE(xray_store_seen(s, "1111", &seen, NULL) == 0);
    CHECK_INT_EQ(seen, 1);
    REQUIRE(xray_store_record_failure(s, "2024-01-01 00:00:02", "bad.jpeg",
                                      "undecodable", NULL) == 0);
    xray_store_close(s);
    CHECK_INT_EQ(
        count(db,
              "SELECT count(*) FROM images_processed WHERE label='Unsure' AND "
              "model='v1' AND name='x-processed.jpeg' AND truth='NORMAL'"),
        1);
    CHECK_INT_EQ(
        count(db,
              "SELECT count(*) FROM images_processed WHERE source_name LIKE "
              "'%DROP TABLE%'"),
        1);
    CHECK_INT_EQ(count(db, "SELECT count(*) FROM images_uploaded"), 2);
    CHECK_INT_EQ(count(db, "SELECT count(*) FROM images_anonymized"), 1);
    CHECK_INT_EQ(
        count(db,
              "SELECT count(*) FROM images_failed WHERE reason='undecodable'"),
        1);
    CHECK_INT_EQ(count(db, "SELECT count(*) FROM pragma_journal_mode WHERE "
                           "journal_mode='wal'"),
                 1);
    test_rm_rf(dir);
    free(db);
    free(dir);
}

static void test_notification_queue(void)
{
    char *dir = test_tmpdir(), *db = cairn_xasprintf("%s/x.db", dir);
    struct xray_store *s, *s2;
    struct xray_notification *v;
    struct xray_record r = {.time = "t",
                            .source_name = "a",
                            .processed_name = "b",
                            .model_version = "v1",
                            .model_sha256 = "x",
                            .label_class = "Pneumonia",
                            .p = 0.9,
                            .image_sha256 = "2",
                            .notify_body = "{\"n\":1}",
                            .notify_at_ms = 1000};
    int64_t pending, next;
    size_t n;

    REQUIRE(xray_store_open(db, &s, NULL) == 0);
    REQUIRE(xray_store_record(s, &r, NULL) == 0);
    r.image_sha256 = "3";
    r.notify_body = "{\"n\":2}";
    r.notify_at_ms = 2000;
    REQUIRE(xray_store_record(s, &r, NULL) == 0);
    /* A second connection (the notifier's) sees the committed rows. */
    REQUIRE(xray_store_open(db, &s2, NULL) == 0);
    REQUIRE(xray_store_due(s2, 500, 10, &v, &n, NULL) == 0);
    CHECK_INT_EQ(n, 0);
    xray_notifications_free(v, n);
    REQUIRE(xray_store_due(s2, 5000, 10, &v, &n, NULL) == 0);
    REQUIRE(n == 2);
    CHECK_STR_EQ(v[0].body, "{\"n\":1}");
    CHECK_STR_EQ(v[1].body, "{\"n\":2}");
    CHECK_INT_EQ(v[0].attempts, 0);
    REQUIRE(xray_store_retry(s2, v[0].id, 9000, "HTTP 503", NULL) == 0);
    REQUIRE(xray_store_delivered(s2, v[1].id, NULL) == 0);
    xray_notifications_free(v, n);
    REQUIRE(xray_store_pending(s2, &pending, &next, NULL) == 0);
    CHECK_INT_EQ(pending, 1);
    CHECK_INT_EQ(next, 9000);
    REQUIRE(xray_store_due(s2, 8999, 10, &v, &n, NULL) == 0);
    CHECK_INT_EQ(n, 0);
    xray_notifications_free(v, n);
    REQUIRE(xray_store_due(s2, 9000, 10, &v, &n, NULL) == 0);
    REQUIRE(n == 1);
    CHECK_INT_EQ(v[0].attempts, 1);
    xray_notifications_free(v, n);
    xray_store_close(s2);
    xray_store_close(s);
    /* Durable: a fresh open (a restarted worker) still has it. */
    REQUIRE(xray_store_open(db, &s, NULL) == 0);
    REQUIRE(xray_store_pending(s, &pending, &next, NULL) == 0);
    CHECK_INT_EQ(pending, 1);
    xray_store_close(s);
    test_rm_rf(dir);
    free(db);
    free(dir);
}

static void test_store_open_error(void)
{
    struct xray_store *s = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_store_open("/nonexistent/dir/x.db", &s, &d), CAIRN_EDB);
    CHECK(s == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "/nonexistent/dir/x.db");
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");

    REQUIRE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void test_truth_incremental(void)
{
    char *dir = test_tmpdir(), *csv = cairn_xasprintf("%s/truth.csv", dir);
    struct xray_truth *t = xray_truth_new(csv); /* file absent: empty */

    CHECK(xray_truth_lookup(t, "a.jpeg") == NULL);
    append(csv, "name,truth\na.jpeg,NORMAL\ndemo_B "
                "C_1_2000-01-01_2020-01-01.jpeg,PNEUMONIA\n");
    CHECK_STR_EQ(xray_truth_lookup(t, "a.jpeg"), "NORMAL");
    CHECK_STR_EQ(xray_truth_lookup(t, "demo_B C_1_2000-01-01_2020-01-01.jpeg"),
                 "PNEUMONIA");
    /* A partial last line waits for its newline. */
    append(csv, "c.jpeg,PNEU");
    CHECK(xray_truth_lookup(t, "c.jpeg") == NULL);
    append(csv, "MONIA\nbad line\nd.jpeg,MAYBE\n,NORMAL\n");
    CHECK_STR_EQ(xray_truth_lookup(t, "c.jpeg"), "PNEUMONIA");
    CHECK(xray_truth_lookup(t, "d.jpeg") == NULL);
    CHECK(xray_truth_lookup(t, "bad line") == NULL);
    for (int i = 0; i < 3000; i++) {
        char line[64];

        snprintf(line, sizeof(line), "n%d.jpeg,%s\n", i,
                 i % 5 ? "NORMAL" : "PNEUMONIA");
        append(csv, line);
    }
    CHECK_STR_EQ(xray_truth_lookup(t, "n2999.jpeg"), "NORMAL");
    CHECK_STR_EQ(xray_truth_lookup(t, "n1000.jpeg"), "PNEUMONIA");
    CHECK_STR_EQ(xray_truth_lookup(t, "a.jpeg"), "NORMAL");
    xray_truth_free(t);
    test_rm_rf(dir);
    free(csv);
    free(dir);
}

static const char *const env_keys[] = {"CAIRN_MODEL_PATH",
                                       "CAIRN_MODEL_SHA256",
                                       "CAIRN_MODEL_VERSION",
                                       "CAIRN_WORKLOAD",
                                       "CAIRN_CONFIG_DIR",
                                       "CAIRN_SITE",
                                       "XRAY_CONFIG",
                                       "XRAY_DATA_DIR",
                                       "XRAY_INBOX",
                                       "XRAY_OUTBOX",
                                       "XRAY_LISTEN",
                                       "XRAY_SITE",
                                       "XRAY_WEBHOOK_URL",
                                       "XRAY_WEBHOOK_TOKEN_FILE",
                                       "XRAY_TRUTH_FILE",
                                       "XRAY_RESCAN_SECONDS",
                                       "XRAY_RETRY_MIN_SECONDS",
                                       "XRAY_RETRY_MAX_SECONDS",
                                       "XRAY_MAX_IMAGE_BYTES",
                                       "XRAY_JPEG_QUALITY"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]); i++)
        unsetenv(env_keys[i]);
}

static void test_config_defaults_and_env(void)
{
    struct xray_config c;
    struct cairn_diag d;

    clear_env();
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "CAIRN_MODEL_PATH is not set");
    setenv("CAIRN_MODEL_PATH", "/m.bin", 1);
    setenv("XRAY_DATA_DIR", "/srv/x", 1);
    setenv("XRAY_RESCAN_SECONDS", "0.5", 1);
    setenv("CAIRN_SITE", "st-marys", 1);
    REQUIRE(xray_config_load(&c, NULL) == 0);
    CHECK_STR_EQ(c.inbox, "/srv/x/inbox");
    CHECK_STR_EQ(c.outbox, "/srv/x/outbox");
    CHECK_STR_EQ(c.db_path, "/srv/x/xray.db");
    CHECK_STR_EQ(c.listen, "127.0.0.1:8090");
    CHECK_STR_EQ(c.site, "st-marys");
    CHECK(c.rescan_seconds == 0.5);
    CHECK(c.webhook_url == NULL);
    CHECK_INT_EQ(c.jpeg_quality, 90);
    xray_config_free(&c);
    setenv("XRAY_JPEG_QUALITY", "101", 1);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "XRAY_JPEG_QUALITY: jpeg_quality=101");
    setenv("XRAY_JPEG_QUALITY", "9x", 1);
    CHECK_INT_EQ(xray_config_load(&c, NULL), CAIRN_EINVAL);
    unsetenv("XRAY_JPEG_QUALITY");
    setenv("XRAY_WEBHOOK_URL", "file:///etc/passwd", 1);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "http:// or https://");
    clear_env();
}

static void test_config_file(void)
{
    char *dir = test_tmpdir(),
         *conf = cairn_xasprintf("%s/xray-worker.conf", dir);
    char *tok = cairn_xasprintf("%s/token", dir);
    struct xray_config c;
    struct cairn_diag d;
    char *text = cairn_xasprintf(
        "# comment\n\ninbox = /in\nwebhook_url = http://127.0.0.1:1/h\n"
        "webhook_token_file = %s\nretry_max_seconds=2\n",
        tok);

    clear_env();
    setenv("CAIRN_MODEL_PATH", "/m.bin", 1);
    setenv("CAIRN_CONFIG_DIR", dir, 1);
    test_write_file(conf, text, strlen(text));
    test_write_file(tok, "s3cret-token\n", 13);
    chmod(tok, 0644);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EPERM);
    CHECK_STR_HAS(cairn_diag_msg(&d), "allows group/other access");
    chmod(tok, 0600);
    setenv("XRAY_INBOX", "/env-wins", 1);
    REQUIRE(xray_config_load(&c, NULL) == 0);
    CHECK_STR_EQ(c.inbox, "/env-wins");
    CHECK_STR_EQ(c.webhook_url, "http://127.0.0.1:1/h");
    CHECK_STR_EQ(c.webhook_token, "s3cret-token");
    CHECK(c.retry_max_seconds == 2.0);
    xray_config_free(&c);
    test_write_file(conf, "inbox = /in\ncolour = blue\n", 26);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "xray-worker.conf:2: unknown key 'colour'");
    test_write_file(conf, "inbox /in\n", 10);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "xray-worker.conf:1: expected key = value");
    test_write_file(conf, "rescan_seconds = 0\n", 19);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_config_load(&c, &d), CAIRN_EINVAL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "xray-worker.conf:1: rescan_seconds=0");
    clear_env();
    test_rm_rf(dir);
    free(text);
    free(tok);
    free(conf);
    free(dir);
}

int main(void)
{
    RUN(test_record_and_seen);
    RUN(test_notification_queue);
    RUN(test_store_open_error);
    RUN(test_truth_incremental);
    RUN(test_config_defaults_and_env);
    RUN(test_config_file);
    return test_done();
}
