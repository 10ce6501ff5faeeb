/*
 * JPEG and PNG codecs. Both libraries report fatal errors by calling a
 * handler that must not return; ours longjmp back to the decode call, which
 * frees what it allocated and returns an error. Anything written between
 * setjmp and longjmp that the cleanup reads lives in a heap struct (not a
 * register), so it survives the jump.
 */
#include "image.h"

#include <setjmp.h>
#include <stdio.h>
/* jpeglib.h needs FILE and size_t declared first. */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "util.h"

#define MAX_JPEG_SCANS 300 /* progressive JPEGs use ~10; more is abuse */
#define JPEG_MAX_MEMORY (512L << 20)
#define PNG_MAX_CHUNK (8u << 20) /* ancillary chunks (iCCP, text, ...) */
#define ENCODE_CAP (256u << 20)

enum xray_image_fmt xray_image_sniff(const void *buf, size_t len)
{
    const uint8_t *b = buf;

    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return XRAY_FMT_JPEG;
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return XRAY_FMT_PNG;
    return XRAY_FMT_UNKNOWN;
}

enum xray_image_fmt xray_image_fmt_of_name(const char *name)
{
    if (xray_has_suffix(name, ".jpg") || xray_has_suffix(name, ".jpeg"))
        return XRAY_FMT_JPEG;
    if (xray_has_suffix(name, ".png"))
        return XRAY_FMT_PNG;
    return XRAY_FMT_UNKNOWN;
}

void xray_image_alloc(struct xray_image *im, uint32_t w, uint32_t h, uint32_t c)
{
    im->w = w;
    im->h = h;
    im->c = c;
    im->px = cairn_xcalloc((size_t)w * h, c);
}

void xray_image_free(struct xray_image *im)
{
    if (!im)
        return;
    free(im->px);
    memset(im, 0, sizeof(*im));
}

static int check_dims(uint64_t w, uint64_t h,
                      const struct xray_decode_limits *lim,
                      struct cairn_diag *d)
{
    if (w == 0 || h == 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "image has zero size %llux%llu",
                              (unsigned long long)w, (unsigned long long)h);
    if (w > lim->max_side || h > lim->max_side || w * h > lim->max_pixels)
        return cairn_diag_set(
            d, CAIRN_ETOOBIG,
            "image %llux%llu exceeds the cap (%u per side, %llu pixels)",
            (unsigned long long)w, (unsigned long long)h, lim->max_side,
            (unsigned long long)lim->max_pixels);
    return 0;
}

/* ---- JPEG ---- */

struct jpeg_ctx {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int code;
    uint8_t *px;
};

static void jpeg_fail(j_common_ptr cinfo)
{
    struct jpeg_ctx *c = (struct jpeg_ctx *)(void *)cinfo->err;

    cinfo->err->format_message(cinfo, c->msg);
    longjmp(c->jb, 1);
}

/* Level -1 is "corrupt data" (truncation, bad Huffman codes): libjpeg would
 * carry on and return a partly gray picture; we refuse it instead. */
static void jpeg_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        jpeg_fail(cinfo);
}

static void jpeg_progress(j_common_ptr cinfo)
{
    struct jpeg_ctx *c = (struct jpeg_ctx *)(void *)cinfo->err;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;

    if (cinfo->is_decompressor && dinfo->input_scan_number > MAX_JPEG_SCANS) {
        snprintf(c->msg, sizeof(c->msg), "more than %d scans", MAX_JPEG_SCANS);
        longjmp(c->jb, 1);
    }
}

static int jpeg_decode(const void *buf, size_t len,
                       const struct xray_decode_limits *lim,
                       struct xray_image *out, struct cairn_diag *d)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_ctx *c = cairn_xcalloc(1, sizeof(*c));
    int err = 0;

    cinfo.err = jpeg_std_error(&c->pub);
    c->pub.error_exit = jpeg_fail;
    c->pub.emit_message = jpeg_message;
    c->code = CAIRN_EPARSE;
    if (setjmp(c->jb)) {
        err = cairn_diag_set(d, c->code, "JPEG: %s", c->msg);
        goto out;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    c->progress.progress_monitor = jpeg_progress;
    cinfo.progress = &c->progress;
    jpeg_mem_src(&cinfo, buf, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    err = check_dims(cinfo.image_width, cinfo.image_height, lim, d);
    if (err)
        goto out;
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    c->px = cairn_xmalloc((size_t)cinfo.output_width * cinfo.output_height * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row =
            c->px + (size_t)cinfo.output_scanline * cinfo.output_width * 3;

        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    out->w = cinfo.output_width;
    out->h = cinfo.output_height;
    out->c = 3;
    out->px = c->px;
    c->px = NULL;
out:
    jpeg_destroy_decompress(&cinfo);
    free(c->px);
    free(c);
    return err;
}

static int jpeg_encode(const struct xray_image *im, int quality, uint8_t **out,
                       size_t *out_len, struct cairn_diag *d)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_ctx *c = cairn_xcalloc(1, sizeof(*c));
    unsigned char *mem = NULL;
    unsigned long mem_len = 0;
    int err = 0;

    cinfo.err = jpeg_std_error(&c->pub);
    c->pub.error_exit = jpeg_fail;
    if (setjmp(c->jb)) {
        err = cairn_diag_set(d, CAIRN_EIO, "JPEG encode: %s", c->msg);
        goto out;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &mem, &mem_len);
    cinfo.image_width = im->w;
    cinfo.image_height = im->h;
    cinfo.input_components = (int)im->c;
    cinfo.in_color_space = im->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = im->px + (size_t)cinfo.next_scanline * im->w * im->c;

        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    *out = cairn_xmalloc(mem_len);
    memcpy(*out, mem, mem_len);
    *out_len = mem_len;
out:
    jpeg_destroy_compress(&cinfo);
    free(mem);
    free(c);
    return err;
}

/* ---- PNG ---- */

struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    char msg[256];
    uint8_t *px;
    png_bytep *rows;
    uint8_t *enc;
    size_t enc_len, enc_alloc;
};

static void png_fail(png_structp png, png_const_charp msg)
{
    struct png_ctx *c = png_get_error_ptr(png);

    snprintf(c->msg, sizeof(c->msg), "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    struct png_ctx *c = png_get_io_ptr(png);

    if (n > c->len - c->pos)
        png_error(png, "truncated (unexpected end of data)");
    memcpy(dst, c->buf + c->pos, n);
    c->pos += n;
}

/* Ask libpng for 8-bit RGB whatever the file holds. */
static void png_want_rgb8(png_structp png, png_infop info)
{
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

static int png_decode(const void *buf, size_t len,
                      const struct xray_decode_limits *lim,
                      struct xray_image *out, struct cairn_diag *d)
{
    struct png_ctx *c = cairn_xcalloc(1, sizeof(*c));
    png_structp png;
    png_infop info = NULL;
    uint32_t w = 0, h = 0;
    int err = 0;

    c->buf = buf;
    c->len = len;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, png_fail, png_warn);
    if (!png || !(info = png_create_info_struct(png))) {
        err = cairn_diag_set(d, CAIRN_ENOMEM, "PNG: cannot create decoder");
        goto out;
    }
    if (setjmp(png_jmpbuf(png))) {
        err = cairn_diag_set(d, CAIRN_EPARSE, "PNG: %s", c->msg);
        goto out;
    }
    png_set_benign_errors(png, 0);
    /* Dimensions are checked by check_dims() below, before any pixel
     * memory exists, so that every format reports them the same way. */
    png_set_chunk_malloc_max(png, PNG_MAX_CHUNK);
    png_set_chunk_cache_max(png, 256);
    png_set_read_fn(png, c, png_read_mem);
    png_read_info(png, info);
    w = png_get_image_width(png, info);
    h = png_get_image_height(png, info);
    err = check_dims(w, h, lim, d);
    if (err)
        goto out;
    png_want_rgb8(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after conversion");
    c->px = cairn_xmalloc((size_t)w * h * 3);
    c->rows = cairn_xmalloc(h * sizeof(*c->rows));
    for (uint32_t y = 0; y < h; y++)
        c->rows[y] = c->px + (size_t)y * w * 3;
    png_read_image(png, c->rows);
    png_read_end(png, NULL);
    out->w = w;
    out->h = h;
    out->c = 3;
    out->px = c->px;
    c->px = NULL;
out:
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    free(c->rows);
    free(c->px);
    free(c);
    return err;
}

static void png_write_mem(png_structp png, png_bytep src, size_t n)
{
    struct png_ctx *c = png_get_io_ptr(png);

    if (n > ENCODE_CAP - c->enc_len)
        png_error(png, "encoded image over the cap");
    if (c->enc_len + n > c->enc_alloc) {
        c->enc_alloc = (c->enc_len + n) * 2;
        c->enc = cairn_xrealloc(c->enc, c->enc_alloc);
    }
    memcpy(c->enc + c->enc_len, src, n);
    c->enc_len += n;
}

static void png_flush_mem(png_structp png)
{
    (void)png;
}

static int png_encode(const struct xray_image *im, uint8_t **out,
                      size_t *out_len, struct cairn_diag *d)
{
    struct png_ctx *c = cairn_xcalloc(1, sizeof(*c));
    png_structp png;
    png_infop info = NULL;
    int err = 0;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, png_fail, png_warn);
    if (!png || !(info = png_create_info_struct(png))) {
        err = cairn_diag_set(d, CAIRN_ENOMEM, "PNG: cannot create encoder");
        goto out;
    }
    if (setjmp(png_jmpbuf(png))) {
        err = cairn_diag_set(d, CAIRN_EIO, "PNG encode: %s", c->msg);
        goto out;
    }
    png_set_write_fn(png, c, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, im->w, im->h, 8,
                 im->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < im->h; y++)
        png_write_row(png, im->px + (size_t)y * im->w * im->c);
    png_write_end(png, NULL);
    *out = c->enc;
    *out_len = c->enc_len;
    c->enc = NULL;
out:
    png_destroy_write_struct(&png, info ? &info : NULL);
    free(c->enc);
    free(c);
    return err;
}

int xray_image_decode(const void *buf, size_t len,
                      const struct xray_decode_limits *lim,
                      struct xray_image *out, struct cairn_diag *d)
{
    switch (xray_image_sniff(buf, len)) {
    case XRAY_FMT_JPEG:
        return jpeg_decode(buf, len, lim, out, d);
    case XRAY_FMT_PNG:
        return png_decode(buf, len, lim, out, d);
    default:
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED, "not a JPEG or PNG image");
    }
}

int xray_image_encode(const struct xray_image *im, enum xray_image_fmt fmt,
                      int quality, uint8_t **out, size_t *out_len,
                      struct cairn_diag *d)
{
    if (im->c != 1 && im->c != 3)
        return cairn_diag_set(d, CAIRN_EINVAL, "cannot encode %u channels",
                              im->c);
    if (fmt == XRAY_FMT_PNG)
        return png_encode(im, out, out_len, d);
    if (fmt != XRAY_FMT_JPEG || quality < 1 || quality > 100)
        return cairn_diag_set(d, CAIRN_EINVAL, "bad image format or quality %d",
                              quality);
    return jpeg_encode(im, quality, out, out_len, d);
}
