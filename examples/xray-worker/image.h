/*
 * Images: decode JPEG (libjpeg-turbo) and PNG (libpng) from memory into
 * 8-bit RGB, encode them back, resample to the model input, blur a box,
 * draw text with the built-in bitmap font.
 *
 * Decoders treat their input as hostile: dimensions are capped before any
 * pixel memory is allocated, libjpeg/libpng errors unwind through setjmp
 * handlers into an error return (never an exit or abort), corrupt-data
 * warnings are errors (a half-decoded x-ray must not be scored), and a JPEG
 * with an absurd number of progressive scans is refused.
 */
#ifndef XRAY_IMAGE_H
#define XRAY_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"

struct xray_image {
    uint32_t w, h, c; /* c = 1 (gray) or 3 (RGB), interleaved rows */
    uint8_t *px;      /* w*h*c bytes, owned */
};

enum xray_image_fmt {
    XRAY_FMT_UNKNOWN = 0,
    XRAY_FMT_JPEG,
    XRAY_FMT_PNG,
};

struct xray_decode_limits {
    uint32_t max_side;   /* each dimension at most this */
    uint64_t max_pixels; /* w*h at most this */
};
#define XRAY_DEFAULT_MAX_SIDE 16384u
#define XRAY_DEFAULT_MAX_PIXELS (64ull << 20)

/* By content (magic bytes), not by name. */
enum xray_image_fmt xray_image_sniff(const void *buf, size_t len);
/* By file name extension (.jpg .jpeg .png, any case). */
enum xray_image_fmt xray_image_fmt_of_name(const char *name);

/* Decode JPEG or PNG into a fresh 3-channel image. CAIRN_EUNSUPPORTED
 * (neither format), CAIRN_ETOOBIG (over the limits), CAIRN_EPARSE (corrupt,
 * truncated or unsupported variant; the codec's message is in d). *out is
 * written only on success; free it with xray_image_free. */
CAIRN_WUR int xray_image_decode(const void *buf, size_t len,
                                const struct xray_decode_limits *lim,
                                struct xray_image *out, struct cairn_diag *d);

/* Encode (JPEG at quality 1..100, or PNG) into a fresh malloc'd buffer.
 * CAIRN_EINVAL for a bad format or quality, CAIRN_EIO on codec failure. */
CAIRN_WUR int xray_image_encode(const struct xray_image *im,
                                enum xray_image_fmt fmt, int quality,
                                uint8_t **out, size_t *out_len,
                                struct cairn_diag *d);

/* A zeroed image (aborts on OOM). */
void xray_image_alloc(struct xray_image *im, uint32_t w, uint32_t h,
                      uint32_t c);
/* Frees the pixels (NULL px ok) and zeroes the struct. */
void xray_image_free(struct xray_image *im);

/* Resample to out_w x out_h with a triangle (bilinear) filter whose support
 * widens with the downscale factor, so that shrinking averages instead of
 * aliasing; write floats scaled by 1/255 in HWC order. out_c = 3 copies RGB
 * (gray is replicated), out_c = 1 takes ITU-R 601 luma. */
void xray_image_to_input(const struct xray_image *im, uint32_t out_w,
                         uint32_t out_h, uint32_t out_c, float *out);

/* Half-open rectangle. */
struct xray_box {
    uint32_t x0, y0, x1, y1;
};

/* Gaussian blur (standard deviation sigma, taps out to 3 sigma) of the
 * pixels inside box only; the box is blurred on its own, edges clamped, as
 * if cropped, blurred and pasted back. Pixels outside never change. */
void xray_image_blur_box(struct xray_image *im, const struct xray_box *box,
                         double sigma);

/* Fill a rectangle with a gray value (clipped to the image). */
void xray_image_fill(struct xray_image *im, const struct xray_box *box,
                     uint8_t v);

/* Draw text with the built-in 5x7 font scaled by `scale` (cell
 * 6*scale x 8*scale), top-left at (x, y), clipped to the image. Characters
 * the font lacks are drawn as a hollow box. */
void xray_image_draw_text(struct xray_image *im, uint32_t x, uint32_t y,
                          uint32_t scale, const char *text, uint8_t fg);

/* Width and height in pixels draw_text would cover. */
void xray_text_size(const char *text, uint32_t scale, uint32_t *w, uint32_t *h);

/* The 5x7 glyph for c: 7 rows, bit 4 = leftmost column. NULL if absent. */
const uint8_t *xray_font_glyph(char c);

#endif
