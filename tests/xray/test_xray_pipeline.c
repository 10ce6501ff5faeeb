/*
 * The per-image pipeline against a real data directory: each band's side
 * effects (processed copy, anonymized copy, queued notification, rows),
 * and every way an inbox file can be bad - each one recorded and moved
 * aside, none of them fatal. Models with all-zero weights and a chosen
 * output bias give a fixed p, so each band is reached on purpose.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "cairn/mem.h"
#include "config.h"
#include "pipeline.h"
#include "sim.h"
#include "test.h"
#include "util.h"

static const char *good_name =
    "demo_Barbara Campbell_5798_1962-07-16_2016-11-07.jpeg";

struct fixture {
    char *dir;
    struct xray_config cfg;
    struct xray_model *model;
    struct xray_pipeline pipe;
};

static struct xray_model *fixed_model(double p)
{
    struct xray_shape s = {.in_h = 24,
                           .in_w = 24,
                           .in_c = 3,
                           .n_conv = 2,
                           .filters = {2, 2},
                           .dense = 3};
    struct xray_model *m = xray_model_new(&s, "fixed");
    uint8_t *buf;
    size_t len;

    m->d2_b[0] = (float)log(p / (1.0 - p));
    xray_model_prepare(m);
    xray_model_serialize(m, &buf, &len); /* fills sha256_hex */
    free(buf);
    return m;
}

static int setup(struct fixture *f, double p, const char *extra_env)
{
    f->dir = test_tmpdir();
    setenv("CAIRN_MODEL_PATH", "/unused", 1);
    setenv("XRAY_DATA_DIR", f->dir, 1);
    setenv("XRAY_WEBHOOK_URL", "http://127.0.0.1:9/hook", 1);
    setenv("XRAY_SITE", "test-site", 1);
    if (extra_env)
        setenv(extra_env, "2048", 1);
    if (xray_config_load(&f->cfg, NULL) != 0)
        return -1;
    if (extra_env)
        unsetenv(extra_env);
    f->model = fixed_model(p);
    return xray_pipeline_init(&f->pipe, &f->cfg, f->model, "v9", NULL);
}

static void teardown(struct fixture *f)
{
    xray_pipeline_free(&f->pipe);
    xray_model_free(f->model);
    xray_config_free(&f->cfg);
    test_rm_rf(f->dir);
    free(f->dir);
}

static void drop_image(struct fixture *f, const char *name, uint64_t seed)
{
    struct xray_rng r;
    struct xray_patient pt;
    struct xray_image im;
    uint8_t *buf;
    size_t len;
    char *path = cairn_xasprintf("%s/%s", f->cfg.inbox, name);

    xray_rng_seed(&r, seed);
    xray_sim_patient(&r, &pt);
    xray_sim_render(&r, 1, 320, &pt, &im);
    if (xray_image_encode(&im, xray_image_fmt_of_name(name), 90, &buf, &len,
                          NULL) != 0)
        abort();
    test_write_file(path, buf, len);
    free(buf);
    free(path);
    xray_image_free(&im);
}

static void drop_bytes(struct fixture *f, const char *name, const char *bytes,
                       int age)
{
    char *path = cairn_xasprintf("%s/%s", f->cfg.inbox, name);
    struct utimbuf t;

    test_write_file(path, bytes, strlen(bytes));
    if (age) {
        t.actime = t.modtime = time(NULL) - age;
        utime(path, &t);
    }
    free(path);
}

static int exists(const char *dir, const char *name)
{
    char *p = cairn_xasprintf("%s/%s", dir, name);
    struct stat st;
    int r = lstat(p, &st) == 0;

    free(p);
    return r;
}

static int64_t q(struct fixture *f, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int64_t n = -1;

    sqlite3_open(f->cfg.db_path, &h);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void test_high_risk(void)
{
    struct fixture f;
    struct xray_result r;
    FILE *t;

    REQUIRE(setup(&f, 0.93, NULL) == 0);
    t = fopen(f.cfg.truth_file, "w");
    fprintf(t, "name,truth\n%s,PNEUMONIA\n", good_name);
    fclose(t);
    drop_image(&f, good_name, 1);
    xray_pipeline_process(&f.pipe, good_name, &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_PROCESSED);
    CHECK_INT_EQ(r.band, XRAY_BAND_HIGH);
    CHECK(fabsf(r.p - 0.93f) < 1e-4f);
    CHECK_INT_EQ(r.notified, 1);
    CHECK_INT_EQ(r.anonymized, 0);
    CHECK_STR_EQ(r.truth, "PNEUMONIA");
    CHECK(!exists(f.cfg.inbox, good_name));
    CHECK(exists(f.cfg.done_dir, good_name));
    CHECK(exists(
        f.cfg.processed_dir,
        "demo_Barbara Campbell_5798_1962-07-16_2016-11-07-processed.jpeg"));
    CHECK_INT_EQ(
        q(&f,
          "SELECT count(*) FROM images_processed WHERE label='Pneumonia' AND "
          "model='v9' AND truth='PNEUMONIA' AND name="
          "'demo_Barbara Campbell_5798_1962-07-16_2016-11-07-processed.jpeg'"),
        1);
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_uploaded"), 1);
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_anonymized"), 0);
    CHECK_INT_EQ(q(&f,
                   "SELECT count(*) FROM notifications WHERE "
                   "json_extract(body,'$.site')='test-site' AND "
                   "json_extract(body,'$.label')='Pneumonia, risk=93.00%' AND "
                   "json_extract(body,'$.model_version')='v9' AND "
                   "json_extract(body,'$.image')='"
                   "demo_Barbara Campbell_5798_1962-07-16_2016-11-07.jpeg"
                   "' AND "
                   "abs(json_extract(body,'$.p') - 0.93) < 1e-4 AND "
                   "json_extract(body,'$.time') LIKE '20__-__-__T__:__:__Z'"),
                 1);
    /* The same bytes again, under another name: recorded once. */
    drop_image(&f, "again.jpeg", 1);
    xray_pipeline_process(&f.pipe, "again.jpeg", &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_DUPLICATE);
    CHECK(exists(f.cfg.done_dir, "again.jpeg"));
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_processed"), 1);
    /* A name already in done/ gets a numbered sibling, never overwrites. */
    drop_image(&f, good_name, 2);
    xray_pipeline_process(&f.pipe, good_name, &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_PROCESSED);
    CHECK(exists(f.cfg.done_dir,
                 "demo_Barbara Campbell_5798_1962-07-16_2016-11-07.1.jpeg"));
    teardown(&f);
}

static void test_unsure_is_anonymized(void)
{
    struct fixture f;
    struct xray_result r;

    REQUIRE(setup(&f, 0.7, NULL) == 0);
    drop_image(&f, good_name, 3);
    xray_pipeline_process(&f.pipe, good_name, &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_PROCESSED);
    CHECK_INT_EQ(r.band, XRAY_BAND_UNKNOWN);
    CHECK_INT_EQ(r.anonymized, 1);
    CHECK_INT_EQ(r.notified, 0);
    CHECK(exists(f.cfg.outbox,
                 "demo_XXXXXXXX_e6bcdde4_XXXX-XX-XX_2016-11-07.jpeg"));
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_anonymized WHERE name="
                       "'demo_XXXXXXXX_e6bcdde4_XXXX-XX-XX_2016-11-07.jpeg'"),
                 1);
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM notifications"), 0);
    /* A name without the pattern's layout is never forwarded. */
    drop_image(&f, "scan-0001.png", 4);
    xray_pipeline_process(&f.pipe, "scan-0001.png", &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_PROCESSED);
    CHECK_INT_EQ(r.anon_refused, 1);
    CHECK_INT_EQ(r.anonymized, 0);
    CHECK(exists(f.cfg.processed_dir, "scan-0001-processed.png"));
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_anonymized"), 1);
    teardown(&f);
}

static void test_low_risk(void)
{
    struct fixture f;
    struct xray_result r;

    REQUIRE(setup(&f, 0.2, NULL) == 0);
    drop_image(&f, "x.png", 5);
    xray_pipeline_process(&f.pipe, "x.png", &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_PROCESSED);
    CHECK_INT_EQ(r.band, XRAY_BAND_LOW);
    CHECK(r.truth == NULL);
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_processed WHERE "
                       "label='Normal' AND truth IS NULL"),
                 1);
    teardown(&f);
}

static void expect_failed(struct fixture *f, const char *name, const char *why)
{
    struct xray_result r;

    xray_pipeline_process(&f->pipe, name, &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_FAILED);
    CHECK_STR_HAS(r.msg, why);
    CHECK(!exists(f->cfg.inbox, name));
    CHECK(exists(f->cfg.failed_dir, name));
}

static void test_bad_inputs(void)
{
    struct fixture f;
    struct xray_result r;
    char *link, *big;

    REQUIRE(setup(&f, 0.2, "XRAY_MAX_IMAGE_BYTES") == 0);
    drop_bytes(&f, "old-garbage.jpeg", "this is not a jpeg", 60);
    expect_failed(&f, "old-garbage.jpeg", "undecodable: not a JPEG or PNG");
    drop_bytes(&f, "trunc.jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF", 60);
    expect_failed(&f, "trunc.jpeg", "undecodable: JPEG:");
    drop_bytes(&f, "notes.txt", "hello", 60);
    expect_failed(&f, "notes.txt", "not a .jpeg, .jpg or .png");
    drop_bytes(&f, "bad\xff\xfename.jpeg", "x", 60);
    expect_failed(&f, "bad\xff\xfename.jpeg", "not printable UTF-8");
    link = cairn_xasprintf("%s/link.jpeg", f.cfg.inbox);
    REQUIRE(symlink("/etc/passwd", link) == 0);
    expect_failed(&f, "link.jpeg", "not a regular file");
    big = cairn_xmalloc(4000);
    memset(big, 'a', 3999);
    big[3999] = '\0';
    drop_bytes(&f, "big.png", big, 60);
    expect_failed(&f, "big.png", "over the 2048 byte cap");
    CHECK_INT_EQ(q(&f, "SELECT count(*) FROM images_failed"), 6);
    /* Young and undecodable: maybe still being written, so left alone. */
    drop_bytes(&f, "young.jpeg", "\xff\xd8\xff", 0);
    xray_pipeline_process(&f.pipe, "young.jpeg", &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_DEFERRED);
    CHECK(exists(f.cfg.inbox, "young.jpeg"));
    /* Vanished between scan and processing. */
    xray_pipeline_process(&f.pipe, "never-there.jpeg", &r);
    CHECK_INT_EQ(r.outcome, XRAY_OUT_GONE);
    free(big);
    free(link);
    teardown(&f);
}

static void test_names(void)
{
    char out[300];

    xray_processed_name("a.b.jpeg", out, sizeof(out));
    CHECK_STR_EQ(out, "a.b-processed.jpeg");
    xray_processed_name("noext", out, sizeof(out));
    CHECK_STR_EQ(out, "noext-processed");
}

int main(void)
{
    unsetenv("XRAY_CONFIG");
    unsetenv("CAIRN_CONFIG_DIR");
    RUN(test_high_risk);
    RUN(test_unsure_is_anonymized);
    RUN(test_low_risk);
    RUN(test_bad_inputs);
    RUN(test_names);
    return test_done();
}
