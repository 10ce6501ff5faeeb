/*
 * The anonymizer: the pattern's name vector, ids past its 2-byte limit
 * (checked against Python's hashlib at run time as well as by fixed
 * vectors), malformed names, and a blur that touches only the PII box.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "cairn/mem.h"
#include "image.h"
#include "test.h"
#include "util.h"

static void test_pattern_vector(void)
{
    char out[300];
    struct cairn_diag d;

    cairn_diag_init(&d);
    REQUIRE(
        xray_anon_name("demo_Barbara Campbell_5798_1962-07-16_2016-11-07.jpeg",
                       out, sizeof(out), &d) == 0);
    CHECK_STR_EQ(out, "demo_XXXXXXXX_e6bcdde4_XXXX-XX-XX_2016-11-07.jpeg");
    /* The pattern's test dashboard goes through the processed name. */
    REQUIRE(
        xray_anon_name(
            "demo_Barbara Campbell_5798_1962-07-16_2016-11-07-processed.jpeg",
            out, sizeof(out), &d) == 0);
    CHECK_STR_EQ(out, "demo_XXXXXXXX_e6bcdde4_XXXX-XX-XX_2016-11-07.jpeg");
    REQUIRE(xray_anon_name("scan_Jo Li_123456_2001-01-31_2024-02-29.PNG", out,
                           sizeof(out), &d) == 0);
    CHECK_STR_EQ(out, "scan_XXXXXXXX_6fab36b6_XXXX-XX-XX_2024-02-29.PNG");
}

static void test_study_ids(void)
{
    static const struct {
        const char *pid, *hex;
    } v[] = {{"0", "53e1ebe4"},        {"1", "8355f2d6"},
             {"255", "598113ea"},      {"256", "0bf83934"},
             {"5798", "e6bcdde4"},     {"005798", "e6bcdde4"},
             {"65535", "0fdfc00f"},    {"65536", "d7adfb42"},
             {"123456", "6fab36b6"},   {"999999", "cbae6a62"},
             {"16777216", "73a91ec4"}, {"18446744073709551615", "44ba3dfa"}};
    char id[9] = "";

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        CHECK_INT_EQ(xray_study_id(v[i].pid, strlen(v[i].pid), id), 0);
        CHECK_STR_EQ(id, v[i].hex);
    }
    memcpy(id, "untouch", 8);
    CHECK_INT_EQ(xray_study_id("", 0, id), -1);
    CHECK_INT_EQ(xray_study_id("12a", 3, id), -1);
    CHECK_STR_EQ(id, "untouch");
}

/* Random ids of 1 to XRAY_PID_MAX digits against Python: minimal
 * big-endian bytes, at least 2. */
static void test_study_ids_vs_python(void)
{
    enum { N = 40 };
    struct xray_rng r;
    char pids[N][XRAY_PID_MAX + 1];
    char *cmd, line[64], id[9];
    FILE *f;
    size_t k = 0;

    xray_rng_seed(&r, 99);
    for (size_t i = 0; i < N; i++) {
        size_t n = 1 + xray_rng_below(&r, i < N / 2 ? 20 : XRAY_PID_MAX);

        for (size_t j = 0; j < n; j++)
            pids[i][j] = (char)('0' + xray_rng_below(&r, 10));
        pids[i][n] = '\0';
    }
    cmd = cairn_xasprintf("/usr/bin/python3 -c \"import hashlib,sys\n"
                          "for a in sys.argv[1:]:\n"
                          " p=int(a); n=max(2,(p.bit_length()+7)//8)\n"
                          " print(hashlib.blake2b(p.to_bytes(n,'big'),digest_"
                          "size=4).hexdigest())\"");
    for (size_t i = 0; i < N; i++) {
        char *next = cairn_xasprintf("%s %s", cmd, pids[i]);

        free(cmd);
        cmd = next;
    }
    f = popen(cmd, "r");
    REQUIRE(f != NULL);
    while (k < N && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        CHECK_INT_EQ(xray_study_id(pids[k], strlen(pids[k]), id), 0);
        CHECK_STR_EQ(id, line);
        k++;
    }
    CHECK_INT_EQ(pclose(f), 0);
    CHECK_INT_EQ(k, N);
    free(cmd);
}

static void expect_bad(const char *name, const char *why)
{
    char out[300] = "untouched";
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_anon_name(name, out, sizeof(out), &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), why);
    CHECK_STR_EQ(out, "untouched");
}

static void test_malformed(void)
{
    char big[400];

    expect_bad("", "length 0");
    expect_bad("xray.jpeg", "expected 5");
    expect_bad("demo_Barbara Campbell_5798_1962-07-16.jpeg", "expected 5");
    expect_bad("demo_A_B_5798_1962-07-16_2016-11-07.jpeg", "expected 5");
    expect_bad("demo_Barbara Campbell_57x8_1962-07-16_2016-11-07.jpeg",
               "patient id");
    expect_bad("demo_Barbara Campbell__1962-07-16_2016-11-07.jpeg",
               "patient id");
    {
        char longid[300];

        memcpy(longid, "d_B_", 4);
        memset(longid + 4, '7', XRAY_PID_MAX + 1);
        snprintf(longid + 4 + XRAY_PID_MAX + 1,
                 sizeof(longid) - 4 - XRAY_PID_MAX - 1,
                 "_1962-07-16_2016-11-07.jpeg");
        expect_bad(longid, "patient id");
    }
    expect_bad("demo_Barbara Campbell_5798_1962-13-16_2016-11-07.jpeg",
               "birth date");
    expect_bad("demo_Barbara Campbell_5798_62-07-16_2016-11-07.jpeg",
               "birth date");
    expect_bad("demo_Barbara Campbell_5798_1962-07-16_2016-11-07.gif",
               "extension");
    expect_bad("demo_Barbara Campbell_5798_1962-07-16_2016-11-07",
               "study date");
    expect_bad("demo_Barbara Campbell_5798_1962-07-16_2016-11-07-x.jpeg",
               "extra text");
    expect_bad("demo_Barbara Campbell_5798_1962-07-16_20161107.jpeg",
               "study date");
    expect_bad("de mo_Barbara Campbell_5798_1962-07-16_2016-11-07.jpeg",
               "prefix");
    expect_bad("_Barbara Campbell_5798_1962-07-16_2016-11-07.jpeg", "prefix");
    expect_bad("demo__5798_1962-07-16_2016-11-07.jpeg", "patient name");
    expect_bad("demo_Bar\nbara_5798_1962-07-16_2016-11-07.jpeg",
               "control character");
    expect_bad("../demo_B C_5798_1962-07-16_2016-11-07.jpeg", "'/'");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    expect_bad(big, "name length");
}

static void test_parse_fields(void)
{
    struct xray_study_name sn;

    REQUIRE(xray_name_parse(
                "demo_Barbara Campbell_005798_1962-07-16_2016-11-07.jpg", &sn,
                NULL) == 0);
    CHECK_STR_EQ(sn.prefix, "demo");
    CHECK_STR_EQ(sn.patient, "Barbara Campbell");
    CHECK_STR_EQ(sn.pid, "005798");
    {
        /* an id far beyond 64 bits still gets its study id */
        char out[128];
        const char *id40 = "1234567890123456789012345678901234567890";
        char *name =
            cairn_xasprintf("demo_A B_%s_1962-07-16_2016-11-07.png", id40);
        char want[9];

        REQUIRE(xray_study_id(id40, strlen(id40), want) == 0);
        CHECK_INT_EQ(xray_anon_name(name, out, sizeof(out), NULL), 0);
        CHECK_STR_HAS(out, want);
        CHECK_STR_HAS(out, "demo_XXXXXXXX_");
        free(name);
    }
    CHECK_STR_EQ(sn.dob, "1962-07-16");
    CHECK_STR_EQ(sn.date, "2016-11-07");
    CHECK_STR_EQ(sn.ext, "jpg");
    CHECK_INT_EQ(sn.processed, 0);
}

static void textured(struct xray_image *im, uint32_t w, uint32_t h, uint32_t c)
{
    xray_image_alloc(im, w, h, c);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t k = 0; k < c; k++)
                im->px[((size_t)y * w + x) * c + k] =
                    (uint8_t)(((x / 3 + y / 2) % 2) * 200 + k);
}

/* Count changed pixels inside and outside box. */
static void diff(const struct xray_image *a, const struct xray_image *b,
                 const struct xray_box *box, size_t *in, size_t *out,
                 size_t *in_total)
{
    *in = *out = *in_total = 0;
    for (uint32_t y = 0; y < a->h; y++) {
        for (uint32_t x = 0; x < a->w; x++) {
            int inside =
                x >= box->x0 && x < box->x1 && y >= box->y0 && y < box->y1;
            size_t i = ((size_t)y * a->w + x) * a->c;
            int changed = memcmp(a->px + i, b->px + i, a->c) != 0;

            *in_total += (size_t)inside;
            if (inside)
                *in += (size_t)changed;
            else
                *out += (size_t)changed;
        }
    }
}

static void test_blur_region(void)
{
    struct xray_image orig, im;
    struct xray_box box;
    double sigma;
    size_t in, out, total;

    textured(&orig, 640, 480, 3);
    textured(&im, 640, 480, 3);
    xray_anon_blur(&im, 5.0);
    xray_pii_box(640, 480, &box, &sigma);
    CHECK_INT_EQ(box.x0, 0);
    CHECK_INT_EQ(box.y0, 380);
    CHECK_INT_EQ(box.x1, 300);
    CHECK_INT_EQ(box.y1, 480);
    CHECK(sigma == 5.0);
    diff(&orig, &im, &box, &in, &out, &total);
    CHECK_INT_EQ(out, 0);
    CHECK_INT_EQ(total, 300 * 100);
    CHECK(in > total * 9 / 10);
    /* The stripes are gone: inside the box every pixel is near the mean. */
    for (uint32_t y = 400; y < 460; y++)
        for (uint32_t x = 20; x < 280; x++)
            CHECK(abs((int)im.px[((size_t)y * 640 + x) * 3] - 100) < 12);
    xray_image_free(&orig);
    xray_image_free(&im);
}

static void test_blur_small_image(void)
{
    struct xray_image orig, im;
    struct xray_box box;
    double sigma;
    size_t in, out, total;

    /* Smaller than the box: the box (and sigma) scale by min(w/300, h/100). */
    textured(&orig, 150, 80, 1);
    textured(&im, 150, 80, 1);
    xray_anon_blur(&im, 5.0);
    xray_pii_box(150, 80, &box, &sigma);
    CHECK_INT_EQ(box.x1, 150);
    CHECK_INT_EQ(box.y1 - box.y0, 50);
    CHECK_INT_EQ(box.y0, 30);
    CHECK(sigma == 2.5);
    diff(&orig, &im, &box, &in, &out, &total);
    CHECK_INT_EQ(out, 0);
    CHECK(in > total * 9 / 10);
    xray_pii_box(1000, 60, &box, &sigma);
    CHECK_INT_EQ(box.x1, 180);
    CHECK_INT_EQ(box.y0, 0);
    CHECK_INT_EQ(box.y1, 60);
    xray_image_free(&orig);
    xray_image_free(&im);
}

int main(void)
{
    RUN(test_pattern_vector);
    RUN(test_study_ids);
    RUN(test_study_ids_vs_python);
    RUN(test_malformed);
    RUN(test_parse_fields);
    RUN(test_blur_region);
    RUN(test_blur_small_image);
    return test_done();
}
