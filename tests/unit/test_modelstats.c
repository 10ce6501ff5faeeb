/* Per-model-version statistics (controller/modelstats.h): counters folded
 * by the records database's triggers as reports are stored, through both
 * of the records lane's write paths, across worker restarts and version
 * switches, ignoring what is not a counter of the served version; then the
 * view: bands, unsure rate, reviewed accuracy, uploads. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "cairn/mem.h"
#include "modelstats.h"
#include "records.h"
#include "test.h"

static char *dir, path[4096];
static struct cairn_records *rec;
static int64_t seq_of[4];

#define SHA1 "1111111111111111111111111111111111111111111111111111111111111111"
#define SHA2 "2222222222222222222222222222222222222222222222222222222222222222"

/* A report payload for site `site` (index si) whose workload serves
 * `version` and whose worker's counters are the given values; metrics_ver
 * is the version the worker's labels carry (a stale scrape differs). */
static char *payload(const char *version, const char *sha,
                     const char *metrics_ver, int processed, int high, int low,
                     int unknown, int n_low, int p_high, int p_unknown)
{
    char ml[256];

    snprintf(ml, sizeof(ml), "model_sha256=\\\"%s\\\",model_version=\\\"%s\\\"",
             sha, metrics_ver);
    return cairn_xasprintf(
        "{\"kind\":\"cairn.report/v1\",\"workloads\":[{\"model\":{\"name\":"
        "\"pneumonia\",\"sha256\":\"%s\",\"version\":\"%s\"},\"name\":\"risk\","
        "\"state\":\"running\",\"metrics\":{"
        "\"xray_images_processed_total{%s}\":%d,"
        "\"xray_images_band_total{band=\\\"high\\\",class=\\\"Pneumonia\\\",%s}"
        "\":%d,"
        "\"xray_images_band_total{band=\\\"low\\\",class=\\\"Normal\\\",%s}\":%"
        "d,"
        "\"xray_images_band_total{band=\\\"unknown\\\",class=\\\"Unsure\\\",%s}"
        "\":%d,"
        "\"xray_truth_total{band=\\\"low\\\",%s,truth=\\\"NORMAL\\\"}\":%d,"
        "\"xray_truth_total{band=\\\"high\\\",%s,truth=\\\"PNEUMONIA\\\"}\":%d,"
        "\"xray_truth_total{band=\\\"unknown\\\",%s,truth=\\\"PNEUMONIA\\\"}\":"
        "%d,"
        "\"xray_truth_total{band=\\\"low\\\",%s,truth=\\\"PNEUMONIA\\\"}\":1,"
        "\"xray_inbox_queue{%s}\":99,"
        "\"xray_uptime_seconds\":5,"
        "\"xray_images_failed_total\":3}}]}",
        sha, version, ml, processed, ml, high, ml, low, ml, unknown, ml, n_low,
        ml, p_high, ml, p_unknown, ml, ml);
}

static void report(int si, char *p)
{
    struct cairn_records_batch *b = cairn_records_batch_new();
    const char *site = si == 0 ? "st-olaf" : "mercy";
    struct cairn_diag d;

    cairn_diag_init(&d);
    /* alternate the lane's two writes: with a last error (INSERT OR
     * REPLACE) and without (an upsert that updates) */
    seq_of[si]++;
    cairn_records_batch_report(
        b, site, seq_of[si], 1000 + seq_of[si], "h", p, "env",
        seq_of[si] % 2 ? "{\"type\":\"RolledBack\"}" : NULL);
    if (cairn_records_apply(rec, b, 100, 0, &d) != 0)
        fprintf(stderr, "apply: %s\n", cairn_diag_msg(&d));
    cairn_records_batch_free(b);
    free(p);
}

static json_t *view(void)
{
    json_t *v = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_modelstats_query(path, NULL, &v, &d) != 0)
        fprintf(stderr, "query: %s\n", cairn_diag_msg(&d));
    return v;
}

static json_t *find(json_t *v, const char *version)
{
    size_t i;
    json_t *e;

    json_array_foreach(v, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "version")), version) ==
            0)
            return e;
    }
    return NULL;
}

static json_int_t num(json_t *e, const char *a, const char *b)
{
    json_t *x = json_object_get(e, a);

    return b ? json_integer_value(json_object_get(x, b))
             : json_integer_value(x);
}

static void test_fold(void)
{
    json_t *v, *e1, *e2;
    char *dump;

    /* st-olaf on v1: two reports of one worker, then a restart (counters
     * fall back) and one more */
    report(0, payload("v1", SHA1, "v1", 5, 1, 3, 1, 2, 1, 1));
    report(0, payload("v1", SHA1, "v1", 10, 2, 6, 2, 4, 2, 1));
    report(0, payload("v1", SHA1, "v1", 3, 1, 2, 0, 2, 1, 0));
    /* st-olaf switches to v2; the first report still carries the v1
     * worker's counters (a stale scrape): not v2's */
    report(0, payload("v2", SHA2, "v1", 50, 50, 0, 0, 0, 50, 0));
    report(0, payload("v2", SHA2, "v2", 4, 1, 2, 1, 2, 1, 1));
    /* mercy on v2 */
    report(1, payload("v2", SHA2, "v2", 6, 0, 5, 1, 5, 0, 1));
    /* a payload that is not JSON must not fail the batch */
    report(1, cairn_xstrdup("not json"));
    v = view();
    REQUIRE(v != NULL);
    CHECK_INT_EQ(json_array_size(v), 2);
    e1 = find(v, "v1");
    e2 = find(v, "v2");
    REQUIRE(e1 && e2);
    CHECK_STR_EQ(json_string_value(json_object_get(e1, "model")), "pneumonia");
    /* v1: 10 before the restart + 3 after */
    CHECK_INT_EQ(num(e1, "imagesProcessed", NULL), 13);
    CHECK_INT_EQ(num(e1, "bands", "high"), 3);
    CHECK_INT_EQ(num(e1, "bands", "low"), 8);
    CHECK_INT_EQ(num(e1, "bands", "unknown"), 2);
    CHECK(json_real_value(json_object_get(e1, "unsureRate")) >
              2.0 / 13 - 1e-9 &&
          json_real_value(json_object_get(e1, "unsureRate")) < 2.0 / 13 + 1e-9);
    /* reviewed: NORMAL/low 4+2, PNEUMONIA/high 2+1, PNEUMONIA/unknown 1+0,
     * PNEUMONIA/low 1 (stays 1 after the restart: not a fall) */
    CHECK_INT_EQ(num(e1, "reviewed", "images"), 6 + 3 + 1 + 1);
    CHECK_INT_EQ(num(e1, "reviewed", "decided"), 6 + 3 + 1);
    CHECK_INT_EQ(num(e1, "reviewed", "correct"), 6 + 3);
    CHECK(json_real_value(json_object_get(json_object_get(e1, "reviewed"),
                                          "accuracy")) > 0.899 &&
          json_real_value(json_object_get(json_object_get(e1, "reviewed"),
                                          "accuracy")) < 0.901);
    CHECK_INT_EQ(json_array_size(json_object_get(e1, "sitesReported")), 1);
    /* v2: 4 at st-olaf (the stale v1 scrape ignored) + 6 at mercy */
    CHECK_INT_EQ(num(e2, "imagesProcessed", NULL), 10);
    CHECK_INT_EQ(num(e2, "bands", "high"), 1);
    dump = json_dumps(json_object_get(e2, "sitesReported"), JSON_COMPACT);
    CHECK_STR_EQ(dump, "[\"mercy\",\"st-olaf\"]");
    free(dump);
    /* counters keep their other labels; gauges and unlabelled ones are out */
    dump = json_dumps(json_object_get(e2, "counters"),
                      JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR_HAS(dump, "\"xray_images_processed_total\":10");
    CHECK_STR_HAS(dump, "\"xray_images_band_total{band=\\\"high\\\","
                        "class=\\\"Pneumonia\\\"}\":1");
    CHECK_STR_HAS(dump, "\"xray_truth_total{band=\\\"low\\\","
                        "truth=\\\"NORMAL\\\"}\":7");
    CHECK(strstr(dump, "inbox_queue") == NULL);
    CHECK(strstr(dump, "failed_total") == NULL);
    CHECK(strstr(dump, "model_version") == NULL);
    free(dump);
    CHECK_INT_EQ(num(e2, "uploads", "count"), 0);
    json_decref(v);
}

static void test_uploads_and_empty(void)
{
    struct cairn_records_batch *b = cairn_records_batch_new();
    json_t *v, *e;

    cairn_records_batch_upload(b, "st-olaf", SHA1, "a.jpeg", "v2", 100, 1);
    cairn_records_batch_upload(b, "mercy", SHA2, "b.jpeg", "v2", 50, 2);
    cairn_records_batch_upload(b, "mercy", SHA1, "c.jpeg", "v9", 7, 3);
    CHECK_INT_EQ(cairn_records_apply(rec, b, 100, 0, NULL), 0);
    cairn_records_batch_free(b);
    v = view();
    REQUIRE(v != NULL);
    e = find(v, "v2");
    REQUIRE(e != NULL);
    CHECK_INT_EQ(num(e, "uploads", "count"), 2);
    CHECK_INT_EQ(num(e, "uploads", "bytes"), 150);
    /* a version known only from uploads: no model name, no counters */
    e = find(v, "v9");
    REQUIRE(e != NULL);
    CHECK(json_is_null(json_object_get(e, "model")));
    CHECK(json_is_null(json_object_get(e, "unsureRate")));
    CHECK(json_is_null(
        json_object_get(json_object_get(e, "reviewed"), "accuracy")));
    CHECK_INT_EQ(num(e, "uploads", "count"), 1);
    json_decref(v);
}

/* What runs now joins the view, also a version without counters. */
static void test_running(void)
{
    json_t *running =
               json_pack("{s:[s,s],s:[s],s:[s]}", "pneumonia@v2", "mercy",
                         "st-olaf", "pneumonia@v3", "st-marys", "bogus", "x"),
           *v = NULL, *e;
    char *dump;

    REQUIRE(cairn_modelstats_query(path, running, &v, NULL) == 0);
    e = find(v, "v2");
    REQUIRE(e != NULL);
    dump = json_dumps(json_object_get(e, "sitesRunning"), JSON_COMPACT);
    CHECK_STR_EQ(dump, "[\"mercy\",\"st-olaf\"]");
    free(dump);
    e = find(v, "v3");
    REQUIRE(e != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(e, "model")), "pneumonia");
    CHECK_INT_EQ(json_integer_value(json_object_get(e, "imagesProcessed")), 0);
    CHECK_INT_EQ(
        json_array_size(json_object_get(find(v, "v1"), "sitesRunning")), 0);
    /* sorted by model, then version */
    dump = json_dumps(v, JSON_COMPACT);
    CHECK(strstr(dump, "\"v1\"") < strstr(dump, "\"v2\"") &&
          strstr(dump, "\"v2\"") < strstr(dump, "\"v3\""));
    free(dump);
    json_decref(v);
    json_decref(running);
}

/* A worker's absurd counter stays a number, never an overflowing cast. */
static void test_huge(void)
{
    json_t *v, *e;

    report(1, cairn_xstrdup(
                  "{\"workloads\":[{\"model\":{\"name\":\"pneumonia\","
                  "\"version\":\"v7\"},\"name\":\"risk\",\"metrics\":{"
                  "\"xray_images_processed_total{model_version=\\\"v7\\\"}"
                  "\":1e300}}]}"));
    v = view();
    REQUIRE(v != NULL);
    e = find(v, "v7");
    REQUIRE(e != NULL);
    CHECK(json_is_real(json_object_get(e, "imagesProcessed")));
    CHECK(json_real_value(json_object_get(e, "imagesProcessed")) == 1e300);
    CHECK(json_real_value(json_object_get(json_object_get(e, "counters"),
                                          "xray_images_processed_total")) ==
          1e300);
    json_decref(v);
}

static void test_errors(void)
{
    struct cairn_diag d;
    json_t *v = NULL;
    char *missing = cairn_xasprintf("%s/none/records.db", dir);

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_modelstats_query(missing, NULL, &v, &d), CAIRN_EDB);
    CHECK(v == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "model statistics");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_modelstats_install(missing, &d), CAIRN_EDB);
    free(missing);
}

int main(void)
{
    struct cairn_diag d;

    dir = test_tmpdir();
    snprintf(path, sizeof(path), "%s/records.db", dir);
    cairn_diag_init(&d);
    if (cairn_records_open(path, &rec, &d) != 0)
        return 1;
    /* stored before the install: not folded */
    report(0, payload("v0", SHA1, "v0", 9, 9, 0, 0, 0, 0, 0));
    if (cairn_modelstats_install(path, &d) != 0 ||
        cairn_modelstats_install(path, &d) != 0) { /* idempotent */
        fprintf(stderr, "install: %s\n", cairn_diag_msg(&d));
        return 1;
    }
    RUN(test_fold);
    RUN(test_uploads_and_empty);
    RUN(test_running);
    RUN(test_huge);
    RUN(test_errors);
    {
        json_t *v = view();

        CHECK(v && find(v, "v0") == NULL);
        json_decref(v);
    }
    cairn_records_close(rec);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
