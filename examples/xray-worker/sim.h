/*
 * Synthetic chest x-rays, standing in for the pattern's image-generator
 * (which copies Kaggle images; we ship no patient data). A picture has a
 * torso, two dark lung fields crossed by ribs, spine, heart shadow,
 * clavicles, low-frequency and pixel noise, and the burnt-in PII box in the
 * bottom-left corner that the anonymizer blurs. Pneumonia pictures add one
 * to three diffuse, patchy opacities inside the lung fields; normal ones
 * sometimes carry a faint small shadow, so the task is not trivial.
 *
 * Everything is driven by the caller's RNG: a seed reproduces a data set.
 */
#ifndef XRAY_SIM_H
#define XRAY_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "util.h"

#define XRAY_SIM_DEFAULT_SIZE 384
#define XRAY_SIM_PNEUMONIA_SHARE 0.20

struct xray_patient {
    char first[16], last[16];
    uint32_t pid;
    char dob[11], date[11];
};

/* A random patient: name from a small list, id 1000..999999 (a third of
 * them above 65535, past the pattern's 2-byte limit), dates. */
void xray_sim_patient(struct xray_rng *r, struct xray_patient *p);

/* "demo_<First Last>_<pid>_<DOB>_<studydate>.jpeg" (or .png). */
void xray_sim_name(const struct xray_patient *p, const char *ext, char *out,
                   size_t n);

/* 1 with probability XRAY_SIM_PNEUMONIA_SHARE. */
int xray_sim_draw_truth(struct xray_rng *r);

/* Render a size x size gray image (c = 1) into out (allocated here). */
void xray_sim_render(struct xray_rng *r, int pneumonia, uint32_t size,
                     const struct xray_patient *p, struct xray_image *out);

#endif
