/*
 * The model file format and the forward pass: the C forward pass against an
 * independent float64 numpy implementation (tests/xray/cnn_ref.py) on the
 * same weights and inputs, and refusal of every kind of damaged file.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "model.h"
#include "test.h"
#include "util.h"

static struct xray_model *random_model(const struct xray_shape *s,
                                       uint64_t seed)
{
    struct xray_model *m = xray_model_new(s, "test-1");
    struct xray_rng r;
    uint32_t cin = s->in_c;

    xray_rng_seed(&r, seed);
    for (uint32_t i = 0; i < s->n_conv; i++) {
        size_t n = (size_t)s->filters[i] * 9 * cin;
        double sd = sqrt(2.0 / (9.0 * cin));

        for (size_t j = 0; j < n; j++)
            m->conv_w[i][j] = (float)(sd * xray_rng_normal(&r));
        for (uint32_t j = 0; j < s->filters[i]; j++)
            m->conv_b[i][j] = (float)xray_rng_range(&r, -0.05, 0.1);
        cin = s->filters[i];
    }
    for (size_t j = 0; j < (size_t)s->dense * m->flat; j++)
        m->d1_w[j] = (float)(sqrt(2.0 / m->flat) * xray_rng_normal(&r));
    for (uint32_t j = 0; j < s->dense; j++) {
        m->d1_b[j] = (float)xray_rng_range(&r, -0.05, 0.05);
        m->d2_w[j] = (float)(xray_rng_normal(&r) / sqrt((double)s->dense));
    }
    m->d2_b[0] = 0.1f;
    xray_model_prepare(m);
    return m;
}

static float *random_input(const struct xray_shape *s, uint64_t seed)
{
    size_t n = (size_t)s->in_h * s->in_w * s->in_c;
    float *x = cairn_xmalloc(n * sizeof(float));
    struct xray_rng r;

    xray_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)xray_rng_unit(&r);
    return x;
}

/* Runs the numpy reference; returns 0 and p, z on success. */
static int reference(const char *model, const char *input, double *p, double *z)
{
    char *cmd =
        cairn_xasprintf("/usr/bin/python3 %s/tests/xray/cnn_ref.py %s %s",
                        CAIRN_SOURCE_DIR, model, input);
    FILE *f = popen(cmd, "r");
    int n = f ? fscanf(f, "%lf %lf", p, z) : 0;
    int rc = f ? pclose(f) : -1;

    free(cmd);
    return n == 2 && rc == 0 ? 0 : -1;
}

static void check_against_numpy(const struct xray_shape *s, uint64_t seed)
{
    char *dir = test_tmpdir();
    char *mpath = cairn_xasprintf("%s/m.bin", dir),
         *ipath = cairn_xasprintf("%s/x.f32", dir);
    struct xray_model *m = random_model(s, seed), *loaded = NULL;
    float *x = random_input(s, seed + 1);
    struct xray_ws *ws;
    double p_ref = -1, z_ref = 0;
    float z = 0, p;

    REQUIRE(xray_model_save(m, mpath, NULL) == 0);
    REQUIRE(xray_model_load(mpath, &loaded, NULL) == 0);
    test_write_file(ipath, x,
                    (size_t)s->in_h * s->in_w * s->in_c * sizeof(float));
    ws = xray_ws_new(loaded);
    p = xray_model_forward(loaded, ws, x, &z, NULL);
    REQUIRE(reference(mpath, ipath, &p_ref, &z_ref) == 0);
    fprintf(stderr,
            "  %ux%ux%u n_conv=%u: C p=%.8f z=%.6f, numpy p=%.8f z=%.6f\n",
            s->in_h, s->in_w, s->in_c, s->n_conv, p, z, p_ref, z_ref);
    CHECK(fabs(p - p_ref) < 1e-5);
    CHECK(fabs(z - z_ref) < 1e-4 * (1.0 + fabs(z_ref)));
    /* A non-trivial output: neither saturated nor dead. */
    CHECK(p_ref > 0.01 && p_ref < 0.99);
    xray_ws_free(ws);
    xray_model_free(m);
    xray_model_free(loaded);
    free(x);
    test_rm_rf(dir);
    free(mpath);
    free(ipath);
    free(dir);
}

static void test_forward_small(void)
{
    struct xray_shape s = {.in_h = 32,
                           .in_w = 32,
                           .in_c = 3,
                           .n_conv = 3,
                           .filters = {4, 6, 8},
                           .dense = 16};

    check_against_numpy(&s, 1);
    check_against_numpy(&s, 2);
}

static void test_forward_quickstart_size(void)
{
    struct xray_shape s = {.in_h = 64,
                           .in_w = 64,
                           .in_c = 3,
                           .n_conv = 3,
                           .filters = {8, 8, 16},
                           .dense = 64};

    check_against_numpy(&s, 7);
}

static void test_forward_odd_shapes(void)
{
    /* Non-square, odd sizes (floor pooling), one channel, two layers. */
    struct xray_shape s = {.in_h = 41,
                           .in_w = 53,
                           .in_c = 1,
                           .n_conv = 2,
                           .filters = {5, 3},
                           .dense = 7};

    check_against_numpy(&s, 11);
}

static void test_forward_pattern_topology(void)
{
    struct xray_shape s = {.in_h = 150,
                           .in_w = 150,
                           .in_c = 3,
                           .n_conv = 3,
                           .filters = {32, 32, 64},
                           .dense = 64};

    CHECK_INT_EQ(xray_shape_flat(&s), 17 * 17 * 64);
    CHECK_INT_EQ(xray_shape_weights(&s), 1212513);
    check_against_numpy(&s, 3);
}

static uint8_t *saved(struct xray_model *m, size_t *len)
{
    uint8_t *b;

    xray_model_serialize(m, &b, len);
    return b;
}

static void expect_refused(const uint8_t *b, size_t len, int code,
                           const char *msg)
{
    struct xray_model *m = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_model_parse(b, len, &m, &d), code);
    CHECK(m == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), msg);
}

static void test_refuse_damaged(void)
{
    struct xray_shape s = {.in_h = 16,
                           .in_w = 16,
                           .in_c = 3,
                           .n_conv = 2,
                           .filters = {2, 3},
                           .dense = 4};
    struct xray_model *m = random_model(&s, 5), *ok = NULL;
    size_t len;
    uint8_t *b = saved(m, &len), *c = cairn_xmalloc(len + 1);

    REQUIRE(xray_model_parse(b, len, &ok, NULL) == 0);
    CHECK_STR_EQ(ok->version, "test-1");
    CHECK_STR_EQ(ok->sha256_hex, m->sha256_hex);
    CHECK(memcmp(ok->w, m->w, m->n_weights * sizeof(float)) == 0);
    xray_model_free(ok);

    expect_refused(b, 0, CAIRN_ESIZE, "truncated: 0 bytes");
    expect_refused(b, 100, CAIRN_ESIZE, "truncated: 100 bytes");
    expect_refused(b, 5, CAIRN_ESIZE, "truncated: 5 bytes");
    expect_refused((const uint8_t *)"PK\3\4", 4, CAIRN_EPARSE, "bad magic");
    expect_refused(b, len - 1, CAIRN_ESIZE, "truncated");
    memcpy(c, b, len);
    c[len] = 0;
    expect_refused(c, len + 1, CAIRN_ESIZE, "1 trailing bytes");
    /* One flipped bit in the weights, then in the header's version. */
    c[len - 3] ^= 0x10;
    expect_refused(c, len, CAIRN_EDIGEST, "checksum mismatch");
    memcpy(c, b, len);
    c[104] ^= 1;
    expect_refused(c, len, CAIRN_EDIGEST, "checksum mismatch");
    memcpy(c, b, len);
    c[0] = 'Y';
    expect_refused(c, len, CAIRN_EPARSE, "bad magic");
    memcpy(c, b, len);
    c[8] = 2;
    expect_refused(c, len, CAIRN_EUNSUPPORTED,
                   "format version 2 not supported");
    free(c);
    free(b);
    xray_model_free(m);
}

/* Re-seal a file after editing header fields (checksum = SHA-256 with the
 * checksum field zeroed), so the checks behind the checksum refuse it. */
static void reseal(uint8_t *b, size_t len)
{
    uint8_t sum[32];

    memset(b + 72, 0, 32);
    crypto_hash_sha256(sum, b, len);
    memcpy(b + 72, sum, 32);
}

static void test_refuse_inconsistent_fields(void)
{
    struct xray_shape s = {.in_h = 16,
                           .in_w = 16,
                           .in_c = 3,
                           .n_conv = 2,
                           .filters = {2, 3},
                           .dense = 4};
    struct xray_model *m = random_model(&s, 6);
    size_t len;
    uint8_t *b = saved(m, &len), *c = cairn_xmalloc(len);

    memcpy(c, b, len);
    c[24] = 2; /* in_c */
    reseal(c, len);
    expect_refused(c, len, CAIRN_EINVAL, "in_c=2 must be 1 or 3");
    memcpy(c, b, len);
    c[36] = 0; /* filters[1] */
    reseal(c, len);
    expect_refused(c, len, CAIRN_EINVAL, "filters[1]=0");
    memcpy(c, b, len);
    c[32] = 3; /* filters[0]: same length budget, wrong tensor table */
    reseal(c, len);
    expect_refused(c, len, CAIRN_EPARSE, "tensor 0 has");
    memcpy(c, b, len);
    c[105] = 0x01; /* version: control byte */
    reseal(c, len);
    expect_refused(c, len, CAIRN_EPARSE, "not printable");
    memcpy(c, b, len);
    {
        uint32_t nan_bits = 0x7fc00000u;

        memcpy(c + len - 4, &nan_bits, 4);
    }
    reseal(c, len);
    expect_refused(c, len, CAIRN_EPARSE, "not a finite number");
    free(c);
    free(b);
    xray_model_free(m);
}

static void test_load_errors(void)
{
    struct xray_model *m = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_model_load("/nonexistent/model.bin", &m, &d),
                 CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "model: /nonexistent/model.bin: No such file");
    CHECK(m == NULL);
}

int main(void)
{
    RUN(test_forward_small);
    RUN(test_forward_quickstart_size);
    RUN(test_forward_odd_shapes);
    RUN(test_forward_pattern_topology);
    RUN(test_refuse_damaged);
    RUN(test_refuse_inconsistent_fields);
    RUN(test_load_errors);
    return test_done();
}
