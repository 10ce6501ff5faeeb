/*
 * The synthetic x-ray renderer. The picture is built in a float layer in
 * units of the image side (u, v in 0..1), so a data set looks the same at
 * any resolution, then noise is added and it is quantized to 8 bits.
 */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "cairn/mem.h"

static const char *const first_names[] = {
    "Barbara", "James", "Maria",  "Robert", "Linda", "Michael",
    "Susan",   "David", "Karen",  "Thomas", "Nancy", "Daniel",
    "Lisa",    "Paul",  "Sandra", "Mark",   "Aisha", "Kenji",
    "Ingrid",  "Mateo", "Priya",  "Olu",    "Chen",  "Fatima"};
static const char *const last_names[] = {
    "Campbell", "Smith",  "Garcia", "Johnson", "Brown",    "Miller",
    "Davis",    "Wilson", "Moore",  "Taylor",  "Anderson", "Thomas",
    "Jackson",  "White",  "Harris", "Martin",  "Okafor",   "Tanaka",
    "Larsen",   "Rossi",  "Patel",  "Nguyen",  "Kowalski", "Haddad"};

#define N_FIRST (sizeof(first_names) / sizeof(first_names[0]))
#define N_LAST (sizeof(last_names) / sizeof(last_names[0]))

static void random_date(struct xray_rng *r, int y0, int y1, char out[11])
{
    unsigned y = (unsigned)y0 + xray_rng_below(r, (uint32_t)(y1 - y0 + 1));
    unsigned m = 1 + xray_rng_below(r, 12), dd = 1 + xray_rng_below(r, 28);

    /* y < 10000, m <= 12, dd <= 28: always exactly 10 characters. */
    snprintf(out, 11, "%04u-%02u-%02u", y % 10000, m % 100, dd % 100);
}

void xray_sim_patient(struct xray_rng *r, struct xray_patient *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->first, sizeof(p->first), "%s",
             first_names[xray_rng_below(r, N_FIRST)]);
    snprintf(p->last, sizeof(p->last), "%s",
             last_names[xray_rng_below(r, N_LAST)]);
    if (xray_rng_unit(r) < 0.67)
        p->pid = 1000 + xray_rng_below(r, 64536);
    else
        p->pid = 65536 + xray_rng_below(r, 999999 - 65536 + 1);
    random_date(r, 1930, 2005, p->dob);
    random_date(r, 2015, 2024, p->date);
}

void xray_sim_name(const struct xray_patient *p, const char *ext, char *out,
                   size_t n)
{
    snprintf(out, n, "demo_%s %s_%u_%s_%s.%s", p->first, p->last, p->pid,
             p->dob, p->date, ext);
}

int xray_sim_draw_truth(struct xray_rng *r)
{
    return xray_rng_unit(r) < XRAY_SIM_PNEUMONIA_SHARE;
}

struct scene {
    uint32_t n;  /* side in pixels */
    float *f;    /* n*n intensities, 0..255-ish */
    float *lung; /* n*n lung-field mask 0..1 */
    float *body; /* n*n torso mask 0..1 */
};

static float smoothstep(float e0, float e1, float x)
{
    float t = (x - e0) / (e1 - e0);

    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return t * t * (3 - 2 * t);
}

/* Soft ellipse: 1 inside, 0 outside, blending over `soft` (relative).
 * Compared in squared distance: no square root per pixel. */
static float ellipse(float u, float v, float cu, float cv, float ru, float rv,
                     float soft)
{
    float du = (u - cu) / ru, dv = (v - cv) / rv;

    return 1.0f - smoothstep((1.0f - soft) * (1.0f - soft),
                             (1.0f + soft) * (1.0f + soft), du * du + dv * dv);
}

/* Cheap approximately normal noise: Irwin-Hall sum of four 16-bit uniforms
 * from one draw, scaled to unit variance. */
static float fast_normal(struct xray_rng *r)
{
    uint64_t x = xray_rng_next(r);
    float s = (float)(x & 0xffff) + (float)((x >> 16) & 0xffff) +
              (float)((x >> 32) & 0xffff) + (float)(x >> 48);

    return (s / 65536.0f - 2.0f) * 1.7320508f;
}

struct anatomy {
    float torso_cu, torso_ru, torso_rv;
    float lung_cu[2], lung_cv[2], lung_ru[2], lung_rv[2];
    float heart_cu, heart_cv, heart_r;
    float tissue, air, heart, spine;
};

static void random_anatomy(struct xray_rng *r, struct anatomy *a)
{
    float shift = (float)xray_rng_range(r, -0.03, 0.03);

    a->torso_cu = 0.5f + shift;
    a->torso_ru = (float)xray_rng_range(r, 0.40, 0.47);
    a->torso_rv = (float)xray_rng_range(r, 0.52, 0.60);
    for (int s = 0; s < 2; s++) {
        a->lung_cu[s] = a->torso_cu + (s ? 1.0f : -1.0f) *
                                          (float)xray_rng_range(r, 0.16, 0.19);
        a->lung_cv[s] = (float)xray_rng_range(r, 0.43, 0.48);
        a->lung_ru[s] = (float)xray_rng_range(r, 0.11, 0.14);
        a->lung_rv[s] = (float)xray_rng_range(r, 0.25, 0.30);
    }
    a->heart_cu = a->torso_cu + (float)xray_rng_range(r, 0.03, 0.08);
    a->heart_cv = (float)xray_rng_range(r, 0.58, 0.64);
    a->heart_r = (float)xray_rng_range(r, 0.10, 0.14);
    a->tissue = (float)xray_rng_range(r, 80, 110);
    a->air = (float)xray_rng_range(r, 25, 45);
    a->heart = (float)xray_rng_range(r, 100, 130);
    a->spine = (float)xray_rng_range(r, 135, 165);
}

/* Torso: a superellipse (flat flanks, shoulders) plus the neck. */
static float torso(float u, float v, const struct anatomy *a)
{
    float du = (u - a->torso_cu) / a->torso_ru, dv = (v - 0.66f) / a->torso_rv;
    float body =
        1.0f - smoothstep(0.85f, 1.15f, du * du * du * du + dv * dv * dv * dv);
    float neck = (1.0f - smoothstep(0.06f, 0.08f, fabsf(u - a->torso_cu))) *
                 (1.0f - smoothstep(0.14f, 0.2f, v));

    return fmaxf(body, neck);
}

/* A lung field: an ellipse narrowing towards the apex. */
static float lung_field(float u, float v, const struct anatomy *a, int s)
{
    float t;

    if (fabsf(u - a->lung_cu[s]) > a->lung_ru[s] * 1.1f ||
        fabsf(v - a->lung_cv[s]) > a->lung_rv[s] * 1.1f)
        return 0.0f;
    t = smoothstep(a->lung_cv[s] - a->lung_rv[s],
                   a->lung_cv[s] + 0.2f * a->lung_rv[s], v);

    return ellipse(u, v, a->lung_cu[s], a->lung_cv[s],
                   a->lung_ru[s] * (0.45f + 0.55f * t), a->lung_rv[s], 0.08f);
}

static void paint_body(struct scene *sc, const struct anatomy *a)
{
    float inv = 1.0f / (float)sc->n;

    for (uint32_t y = 0; y < sc->n; y++) {
        for (uint32_t x = 0; x < sc->n; x++) {
            float u = ((float)x + 0.5f) * inv, v = ((float)y + 0.5f) * inv;
            size_t i = (size_t)y * sc->n + x;
            float body = torso(u, v, a);
            float lung = fmaxf(lung_field(u, v, a, 0), lung_field(u, v, a, 1));
            float heart = fabsf(v - a->heart_cv) > a->heart_r * 1.2f
                              ? 0.0f
                              : ellipse(u, v, a->heart_cu, a->heart_cv,
                                        a->heart_r, a->heart_r * 0.9f, 0.15f);
            float spine =
                1.0f - smoothstep(0.025f, 0.035f, fabsf(u - a->torso_cu));
            float val = 12.0f + body * (a->tissue - 12.0f);

            lung *= body * (1.0f - heart);
            val += lung * (a->air - a->tissue);
            val += heart * body * (a->heart - val) * 0.8f;
            val += spine * body * (a->spine - val) * 0.6f;
            sc->f[i] = val;
            sc->lung[i] = lung;
            sc->body[i] = body;
        }
    }
}

/* Ribs: arcs that fall away from the spine, painted column by column. */
static void paint_ribs(struct scene *sc, const struct anatomy *a,
                       struct xray_rng *r)
{
    int count = 8 + (int)xray_rng_below(r, 3);
    float gain = (float)xray_rng_range(r, 18, 32), half = 0.008f;

    for (int side = 0; side < 2; side++) {
        for (int j = 0; j < count; j++) {
            float v0 = 0.22f + (float)j * 0.058f +
                       (float)xray_rng_range(r, -0.01, 0.01);
            float curve = (float)xray_rng_range(r, 0.9, 1.4);

            for (uint32_t x = 0; x < sc->n; x++) {
                float u = ((float)x + 0.5f) / (float)sc->n;
                float du = (u - a->torso_cu) * (side ? 1.0f : -1.0f);
                float vc, lo, hi;

                if (du < 0.03f || du > a->torso_ru * 0.92f)
                    continue;
                vc = v0 + curve * du * du - 0.12f * du;
                lo = (vc - 2 * half) * (float)sc->n;
                hi = (vc + 2 * half) * (float)sc->n;
                for (long y = lo < 0 ? 0 : (long)lo;
                     y <= (long)hi && y < (long)sc->n; y++) {
                    float v = ((float)y + 0.5f) / (float)sc->n;
                    float w = 1.0f - smoothstep(half * 0.6f, half * 1.4f,
                                                fabsf(v - vc));
                    size_t i = (size_t)y * sc->n + x;

                    sc->f[i] += gain * w * sc->body[i];
                }
            }
        }
    }
}

/* Gaussian blob of amplitude amp, painted within 3 sigma, weighted by a
 * mask (the lung fields) and by patchiness (pseudo-random modulation). */
static void paint_blob(struct scene *sc, float cu, float cv, float sigma,
                       float amp, float patch, struct xray_rng *r)
{
    float n = (float)sc->n, ph1 = (float)xray_rng_range(r, 0, 6.28),
          ph2 = (float)xray_rng_range(r, 0, 6.28),
          fr = (float)xray_rng_range(r, 25, 45);
    long x0 = (long)((cu - 3 * sigma) * n), x1 = (long)((cu + 3 * sigma) * n);
    long y0 = (long)((cv - 3 * sigma) * n), y1 = (long)((cv + 3 * sigma) * n);

    for (long y = y0 < 0 ? 0 : y0; y <= y1 && y < (long)sc->n; y++) {
        for (long x = x0 < 0 ? 0 : x0; x <= x1 && x < (long)sc->n; x++) {
            float u = ((float)x + 0.5f) / n, v = ((float)y + 0.5f) / n;
            float du = u - cu, dv = v - cv;
            float g = expf(-(du * du + dv * dv) / (2 * sigma * sigma));
            float m =
                1.0f -
                patch * 0.5f * (1.0f + sinf(fr * u + ph1) * sinf(fr * v + ph2));
            size_t i = (size_t)y * sc->n + (size_t)x;

            sc->f[i] += amp * g * m * sc->lung[i];
        }
    }
}

static void paint_findings(struct scene *sc, const struct anatomy *a,
                           int pneumonia, struct xray_rng *r)
{
    int blobs =
        pneumonia ? 1 + (int)xray_rng_below(r, 3) : xray_rng_unit(r) < 0.35;

    for (int b = 0; b < blobs; b++) {
        int s = (int)xray_rng_below(r, 2);
        float cu =
            a->lung_cu[s] + (float)xray_rng_range(r, -0.6, 0.6) * a->lung_ru[s];
        float cv =
            a->lung_cv[s] + (float)xray_rng_range(r, -0.5, 0.7) * a->lung_rv[s];

        if (pneumonia)
            paint_blob(sc, cu, cv, (float)xray_rng_range(r, 0.045, 0.09),
                       (float)xray_rng_range(r, 40, 90), 0.4f, r);
        else
            paint_blob(sc, cu, cv, (float)xray_rng_range(r, 0.015, 0.035),
                       (float)xray_rng_range(r, 8, 25), 0.2f, r);
    }
}

/* Smooth noise: a coarse random grid, bilinearly interpolated. */
static void add_noise(struct scene *sc, struct xray_rng *r, float low_amp,
                      float px_sd)
{
    enum { G = 9 };
    float grid[G][G];

    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++)
            grid[i][j] = (float)xray_rng_normal(r) * low_amp;
    for (uint32_t y = 0; y < sc->n; y++) {
        float gy = (float)y / (float)sc->n * (G - 1), fy = gy - floorf(gy);
        int iy = (int)gy;

        for (uint32_t x = 0; x < sc->n; x++) {
            float gx = (float)x / (float)sc->n * (G - 1), fx = gx - floorf(gx);
            int ix = (int)gx;
            float top = grid[iy][ix] * (1 - fx) +
                        grid[iy][ix + 1 < G ? ix + 1 : ix] * fx;
            int iy1 = iy + 1 < G ? iy + 1 : iy;
            float bot = grid[iy1][ix] * (1 - fx) +
                        grid[iy1][ix + 1 < G ? ix + 1 : ix] * fx;

            sc->f[(size_t)y * sc->n + x] +=
                top * (1 - fy) + bot * fy + px_sd * fast_normal(r);
        }
    }
}

/* The burnt-in patient label, in the box the anonymizer blurs. */
static void paint_pii(struct xray_image *im, const struct xray_patient *p)
{
    struct xray_box box;
    double sigma;
    char line[4][48];
    uint32_t scale, pad;

    xray_pii_box(im->w, im->h, &box, &sigma);
    xray_image_fill(im, &box, 0);
    scale = (box.y1 - box.y0) / 45;
    if (scale == 0)
        scale = 1;
    pad = 2 * scale;
    snprintf(line[0], sizeof(line[0]), "%s %s", p->first, p->last);
    snprintf(line[1], sizeof(line[1]), "ID %u", p->pid);
    snprintf(line[2], sizeof(line[2]), "DOB %s", p->dob);
    snprintf(line[3], sizeof(line[3]), "STUDY %s", p->date);
    for (uint32_t i = 0; i < 4; i++)
        xray_image_draw_text(im, box.x0 + pad, box.y0 + pad + i * 10 * scale,
                             scale, line[i], 235);
}

void xray_sim_render(struct xray_rng *r, int pneumonia, uint32_t size,
                     const struct xray_patient *p, struct xray_image *out)
{
    struct scene sc;
    struct anatomy a;
    float contrast = (float)xray_rng_range(r, 0.85, 1.15),
          offset = (float)xray_rng_range(r, -10, 10);
    size_t n = (size_t)size * size;

    sc.n = size;
    sc.f = cairn_xmalloc(n * sizeof(float));
    sc.lung = cairn_xmalloc(n * sizeof(float));
    sc.body = cairn_xmalloc(n * sizeof(float));
    random_anatomy(r, &a);
    paint_body(&sc, &a);
    paint_ribs(&sc, &a, r);
    paint_findings(&sc, &a, pneumonia, r);
    add_noise(&sc, r, 6.0f, 5.0f);
    xray_image_alloc(out, size, size, 1);
    for (size_t i = 0; i < n; i++) {
        float v = sc.f[i] * contrast + offset;

        out->px[i] = (uint8_t)lrintf(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    paint_pii(out, p);
    free(sc.f);
    free(sc.lung);
    free(sc.body);
}
