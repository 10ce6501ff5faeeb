/*
 * Image input: JPEG/PNG decode and encode, hostile inputs (truncated,
 * absurd dimensions, random corruption: errors, never crashes), the
 * resampler's arithmetic and the bitmap font.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cairn/mem.h"
#include "image.h"
#include "test.h"
#include "util.h"

static const struct xray_decode_limits lim = {16384, 64ull << 20};

static void noise_image(struct xray_image *im, uint32_t w, uint32_t h,
                        uint32_t c, uint64_t seed)
{
    struct xray_rng r;

    xray_rng_seed(&r, seed);
    xray_image_alloc(im, w, h, c);
    for (size_t i = 0; i < (size_t)w * h * c; i++)
        im->px[i] = (uint8_t)(xray_rng_next(&r) >> 56);
}

static void test_png_roundtrip(void)
{
    struct xray_image a, b;
    uint8_t *buf;
    size_t len;

    noise_image(&a, 37, 23, 3, 1);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_PNG, 0, &buf, &len, NULL) == 0);
    CHECK_INT_EQ(xray_image_sniff(buf, len), XRAY_FMT_PNG);
    REQUIRE(xray_image_decode(buf, len, &lim, &b, NULL) == 0);
    CHECK_INT_EQ(b.w, 37);
    CHECK_INT_EQ(b.h, 23);
    CHECK_INT_EQ(b.c, 3);
    CHECK(memcmp(a.px, b.px, (size_t)37 * 23 * 3) == 0);
    xray_image_free(&a);
    xray_image_free(&b);
    free(buf);
}

static void test_gray_becomes_rgb(void)
{
    struct xray_image a, b;
    uint8_t *buf;
    size_t len;

    for (int fmt = XRAY_FMT_JPEG; fmt <= XRAY_FMT_PNG; fmt++) {
        xray_image_alloc(&a, 16, 8, 1);
        memset(a.px, 120, 16 * 8);
        REQUIRE(xray_image_encode(&a, (enum xray_image_fmt)fmt, 95, &buf, &len,
                                  NULL) == 0);
        REQUIRE(xray_image_decode(buf, len, &lim, &b, NULL) == 0);
        CHECK_INT_EQ(b.c, 3);
        for (size_t i = 0; i < (size_t)16 * 8 * 3; i++)
            CHECK(abs((int)b.px[i] - 120) <= 2);
        xray_image_free(&a);
        xray_image_free(&b);
        free(buf);
    }
}

static void expect_refused(const void *buf, size_t len, int code,
                           const char *msg)
{
    struct xray_image im = {0, 0, 0, NULL};
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_image_decode(buf, len, &lim, &im, &d), code);
    CHECK(im.px == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), msg);
}

static void test_truncated(void)
{
    struct xray_image a;
    uint8_t *jpg, *png;
    size_t jl, pl;

    noise_image(&a, 64, 64, 3, 2);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_JPEG, 90, &jpg, &jl, NULL) == 0);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_PNG, 0, &png, &pl, NULL) == 0);
    expect_refused(jpg, jl / 2, CAIRN_EPARSE, "JPEG: ");
    expect_refused(jpg, 3, CAIRN_EPARSE, "JPEG: ");
    expect_refused(png, pl / 2, CAIRN_EPARSE, "PNG: ");
    expect_refused(png, 20, CAIRN_EPARSE, "PNG: ");
    expect_refused(png, pl - 5, CAIRN_EPARSE, "PNG: ");
    expect_refused("hello world", 11, CAIRN_EUNSUPPORTED, "not a JPEG or PNG");
    expect_refused("", 0, CAIRN_EUNSUPPORTED, "not a JPEG or PNG");
    xray_image_free(&a);
    free(jpg);
    free(png);
}

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A PNG whose IHDR claims w x h (valid CRCs), with no pixel data. */
static size_t png_header(uint8_t *b, uint32_t w, uint32_t h)
{
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    put32be(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put32be(b + 16, w);
    put32be(b + 20, h);
    memcpy(b + 24, "\x08\x00\x00\x00\x00", 5); /* 8-bit gray */
    put32be(b + 29, (uint32_t)crc32(0, b + 12, 17));
    /* An empty IDAT: png_read_info() stops at the first IDAT. */
    put32be(b + 33, 0);
    memcpy(b + 37, "IDAT", 4);
    put32be(b + 41, (uint32_t)crc32(0, b + 37, 4));
    put32be(b + 45, 0);
    memcpy(b + 49, "IEND", 4);
    put32be(b + 53, (uint32_t)crc32(0, b + 49, 4));
    return 57;
}

static void test_absurd_dimensions(void)
{
    struct xray_image a;
    uint8_t hdr[64], *jpg;
    size_t n = png_header(hdr, 100000, 100000), jl;

    expect_refused(hdr, n, CAIRN_ETOOBIG, "exceeds the cap");
    n = png_header(hdr, 16000, 16000); /* each side fine, pixel count not */
    expect_refused(hdr, n, CAIRN_ETOOBIG, "exceeds the cap");
    n = png_header(hdr, 0, 10);
    expect_refused(hdr, n, CAIRN_EPARSE, "PNG: ");
    /* A JPEG whose frame header claims 60000 x 60000. */
    noise_image(&a, 16, 16, 1, 3);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_JPEG, 90, &jpg, &jl, NULL) == 0);
    for (size_t i = 0; i + 9 < jl; i++) {
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            jpg[i + 5] = 0xea;
            jpg[i + 6] = 0x60;
            jpg[i + 7] = 0xea;
            jpg[i + 8] = 0x60;
            break;
        }
    }
    expect_refused(jpg, jl, CAIRN_ETOOBIG, "60000x60000 exceeds the cap");
    xray_image_free(&a);
    free(jpg);
}

/* Random corruption: every outcome is a clean success or a clean error
 * (ASan/UBSan watch the memory). */
static void test_corruption_never_crashes(void)
{
    struct xray_image a, b;
    struct xray_rng r;
    uint8_t *enc[2], *copy;
    size_t len[2];
    int errors = 0;

    noise_image(&a, 48, 40, 3, 4);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_JPEG, 80, &enc[0], &len[0], NULL) ==
            0);
    REQUIRE(xray_image_encode(&a, XRAY_FMT_PNG, 0, &enc[1], &len[1], NULL) ==
            0);
    xray_rng_seed(&r, 5);
    for (int i = 0; i < 400; i++) {
        int k = i % 2, flips = 1 + (int)xray_rng_below(&r, 8);

        copy = cairn_xmalloc(len[k]);
        memcpy(copy, enc[k], len[k]);
        for (int f = 0; f < flips; f++)
            copy[2 + xray_rng_below(&r, (uint32_t)len[k] - 2)] ^=
                (uint8_t)(1 + xray_rng_below(&r, 255));
        if (xray_image_decode(copy, len[k], &lim, &b, NULL) == 0)
            xray_image_free(&b);
        else
            errors++;
        free(copy);
    }
    CHECK(errors > 100);
    xray_image_free(&a);
    free(enc[0]);
    free(enc[1]);
}

static void test_resample_constant_and_luma(void)
{
    struct xray_image a;
    float out[10 * 7 * 3];

    xray_image_alloc(&a, 100, 80, 3);
    memset(a.px, 77, (size_t)100 * 80 * 3);
    xray_image_to_input(&a, 10, 7, 3, out);
    for (size_t i = 0; i < 10 * 7 * 3; i++)
        CHECK(out[i] > 77 / 255.0f - 1e-5f && out[i] < 77 / 255.0f + 1e-5f);
    for (size_t i = 0; i < (size_t)100 * 80; i++) {
        a.px[3 * i] = 255;
        a.px[3 * i + 1] = 0;
        a.px[3 * i + 2] = 0;
    }
    xray_image_to_input(&a, 10, 7, 1, out);
    CHECK(out[0] > 0.299f - 1e-5f && out[0] < 0.299f + 1e-5f);
    xray_image_free(&a);
}

static void test_resample_weights(void)
{
    struct xray_image a;
    float up[4], down[2];

    /* Enlarging 2 -> 4 is plain bilinear with pixel centres at i + 0.5. */
    xray_image_alloc(&a, 2, 1, 1);
    a.px[0] = 0;
    a.px[1] = 255;
    xray_image_to_input(&a, 4, 1, 1, up);
    CHECK(up[0] < 1e-6f);
    CHECK(up[1] > 0.25f - 1e-5f && up[1] < 0.25f + 1e-5f);
    CHECK(up[2] > 0.75f - 1e-5f && up[2] < 0.75f + 1e-5f);
    CHECK(up[3] > 1.0f - 1e-5f);
    xray_image_free(&a);
    /* Shrinking 4 -> 2: triangle of radius 2 input pixels around 1.0 and
     * 3.0: weights .75 .75 .25 (normalized) for the first output. */
    xray_image_alloc(&a, 4, 1, 1);
    a.px[0] = 0;
    a.px[1] = 100;
    a.px[2] = 200;
    a.px[3] = 255;
    xray_image_to_input(&a, 2, 1, 1, down);
    CHECK(down[0] * 255 > (100 * .75f + 200 * .25f) / 1.75f - 1e-3f);
    CHECK(down[0] * 255 < (100 * .75f + 200 * .25f) / 1.75f + 1e-3f);
    CHECK(down[1] * 255 >
          (100 * .25f + 200 * .75f + 255 * .75f) / 1.75f - 1e-3f);
    CHECK(down[1] * 255 <
          (100 * .25f + 200 * .75f + 255 * .75f) / 1.75f + 1e-3f);
    xray_image_free(&a);
}

static void test_font(void)
{
    struct xray_image a;
    uint32_t w, h;
    const char *all =
        "Pneumonia, risk=93.41% Normal Unsure ID DOB STUDY 0123456789-:";

    for (const char *p = all; *p; p++)
        CHECK(xray_font_glyph(*p) != NULL);
    CHECK(xray_font_glyph('\x01') == NULL);
    xray_image_alloc(&a, 20, 10, 1);
    xray_image_draw_text(&a, 0, 0, 1, "I", 255);
    /* 'I' is .###. over ..#.. */
    CHECK_INT_EQ(a.px[0], 0);
    CHECK_INT_EQ(a.px[1], 255);
    CHECK_INT_EQ(a.px[3], 255);
    CHECK_INT_EQ(a.px[4], 0);
    CHECK_INT_EQ(a.px[20 + 1], 0);
    CHECK_INT_EQ(a.px[20 + 2], 255);
    /* Clipped at the edges, never written past them. */
    xray_image_draw_text(&a, 18, 8, 3, "WWW", 255);
    xray_text_size("abc", 2, &w, &h);
    CHECK_INT_EQ(w, 36);
    CHECK_INT_EQ(h, 16);
    xray_image_free(&a);
}

int main(void)
{
    RUN(test_png_roundtrip);
    RUN(test_gray_becomes_rgb);
    RUN(test_truncated);
    RUN(test_absurd_dimensions);
    RUN(test_corruption_never_crashes);
    RUN(test_resample_constant_and_luma);
    RUN(test_resample_weights);
    RUN(test_font);
    return test_done();
}
