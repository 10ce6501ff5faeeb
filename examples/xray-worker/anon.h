/*
 * Anonymization of Unsure images for the central lab, as the pattern does
 * it: blur the burnt-in PII box (bottom-left 300x100 px, Gaussian radius 5)
 * and rewrite the file name
 *   <prefix>_<First Last>_<pid>_<DOB>_<studydate>.<ext>
 *   -> <prefix>_XXXXXXXX_<studyid>_XXXX-XX-XX_<studydate>.<ext>
 * with studyid = hex(BLAKE2b, 4-byte digest, of the patient id as unsigned
 * big-endian bytes). The pattern uses exactly 2 bytes, which fails above
 * 65535; we use the minimal byte count but at least 2, so every id < 65536
 * keeps the pattern's value (5798 -> e6bcdde4) and an id of any size (up
 * to XRAY_PID_MAX decimal digits, more than a file name can hold) gets
 * one.
 */
#ifndef XRAY_ANON_H
#define XRAY_ANON_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "image.h"

#define XRAY_NAME_MAX 255
#define XRAY_PID_MAX 200 /* decimal digits of a patient id */

struct xray_study_name {
    char prefix[33];
    char patient[129];
    char pid[XRAY_PID_MAX + 1]; /* decimal digits, as written */
    char dob[11];
    char date[11];
    char ext[6];   /* as written: "jpeg", "JPG", "png" ... */
    int processed; /* the name carried "-processed" before the dot */
};

/* Parse a study file name. CAIRN_EPARSE naming the offending field. */
CAIRN_WUR int xray_name_parse(const char *name, struct xray_study_name *out,
                              struct cairn_diag *d);

/* The anonymized name of a study file (out_size >= 64 is always enough).
 * A "-processed" suffix is dropped. CAIRN_EPARSE as xray_name_parse;
 * CAIRN_EINVAL if out is too small. */
CAIRN_WUR int xray_anon_name(const char *name, char *out, size_t out_size,
                             struct cairn_diag *d);

/* The study id of a patient id given as n decimal digits: 8 hex digits +
 * NUL into out. -1 (out untouched) when n is 0 or above XRAY_PID_MAX or a
 * character is not a digit. */
int xray_study_id(const char *digits, size_t n, char out[9]);

/* The PII box and blur sigma for a w x h image: the pattern's
 * (0, h-100, 300, h) and 5, all scaled by min(1, w/300, h/100) when the
 * image is smaller than the box. */
void xray_pii_box(uint32_t w, uint32_t h, struct xray_box *box, double *sigma);

/* Blur the PII box of im in place with standard deviation `sigma` at full
 * scale (the pattern's is 5; scaled with the box on small images). */
void xray_anon_blur(struct xray_image *im, double sigma);

#endif
