#include "anon.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* n decimal digits into big-endian bytes at the end of be[cap]. */
static int digits_to_be(const char *s, size_t n, uint8_t *be, size_t cap)
{
    memset(be, 0, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned carry;

        if (!isdigit((unsigned char)s[i]))
            return -1;
        carry = (unsigned)(s[i] - '0');
        for (size_t k = cap; k-- > 0;) {
            unsigned v = be[k] * 10u + carry;

            be[k] = (uint8_t)v;
            carry = v >> 8;
        }
    }
    return 0;
}

int xray_study_id(const char *digits, size_t n, char out[9])
{
    /* 10^200 < 2^665: 84 bytes hold every id */
    uint8_t be[84], digest[4];
    size_t first = 0;

    if (n == 0 || n > XRAY_PID_MAX || digits_to_be(digits, n, be, sizeof(be)))
        return -1;
    while (first < sizeof(be) - 2 && be[first] == 0)
        first++;
    crypto_generichash(digest, sizeof(digest), be + first, sizeof(be) - first,
                       NULL, 0);
    xray_hex(digest, sizeof(digest), out);
    return 0;
}

/* YYYY-MM-DD with a plausible month and day (no calendar check). */
static int is_date(const char *s, size_t n)
{
    int month, day;

    if (n != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    month = (s[5] - '0') * 10 + (s[6] - '0');
    day = (s[8] - '0') * 10 + (s[9] - '0');
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/* "<studydate>[-processed].<ext>" */
static int parse_last(const char *s, size_t n, struct xray_study_name *o,
                      struct cairn_diag *d)
{
    const char *dot = memchr(s, '.', n);
    size_t stem = dot ? (size_t)(dot - s) : n, ext = dot ? n - stem - 1 : 0;
    static const char *const exts[] = {"jpeg", "jpg", "png"};
    int ok = 0;

    if (!dot || !is_date(s, stem < 10 ? stem : 10))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "field 5 (study date) is not YYYY-MM-DD.<ext>");
    if (stem == 20 && memcmp(s + 10, "-processed", 10) == 0)
        o->processed = 1;
    else if (stem != 10)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "field 5 (study date) has extra text");
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
        if (ext == strlen(exts[i]) && strncasecmp(dot + 1, exts[i], ext) == 0)
            ok = 1;
    if (!ok)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "extension is not .jpeg, .jpg or .png");
    memcpy(o->date, s, 10);
    memcpy(o->ext, dot + 1, ext);
    return 0;
}

static int check_field(size_t idx, const char *s, size_t n,
                       struct xray_study_name *o, struct cairn_diag *d)
{
    switch (idx) {
    case 0:
        if (n == 0 || n >= sizeof(o->prefix))
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "field 1 (prefix) length %zu", n);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                return cairn_diag_set(d, CAIRN_EPARSE,
                                      "field 1 (prefix) has '%c'", s[i]);
        memcpy(o->prefix, s, n);
        return 0;
    case 1:
        if (n == 0 || n >= sizeof(o->patient))
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "field 2 (patient name) length %zu", n);
        memcpy(o->patient, s, n);
        return 0;
    case 2:
        if (n == 0 || n > XRAY_PID_MAX)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "field 3 (patient id) length %zu out of "
                                  "range 1..%d",
                                  n, XRAY_PID_MAX);
        for (size_t i = 0; i < n; i++)
            if (!isdigit((unsigned char)s[i]))
                return cairn_diag_set(d, CAIRN_EPARSE,
                                      "field 3 (patient id) is not a number");
        memcpy(o->pid, s, n);
        return 0;
    case 3:
        if (!is_date(s, n))
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "field 4 (birth date) is not YYYY-MM-DD");
        memcpy(o->dob, s, 10);
        return 0;
    default:
        return parse_last(s, n, o, d);
    }
}

int xray_name_parse(const char *name, struct xray_study_name *out,
                    struct cairn_diag *d)
{
    struct xray_study_name o;
    const char *s = name;
    size_t len = strlen(name), idx = 0;
    int err;

    memset(&o, 0, sizeof(o));
    if (len == 0 || len > XRAY_NAME_MAX)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "name length %zu out of range 1..%d", len,
                              XRAY_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == '/' || name[i] == 0x7f)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "name has a control character or '/'");
    for (size_t i = 0, n = 0; i <= len; i++) {
        if (name[i] == '_')
            n++;
        if (i == len && n != 4)
            return cairn_diag_set(
                d, CAIRN_EPARSE,
                "expected 5 '_'-separated fields "
                "<prefix>_<name>_<id>_<birth>_<date>.<ext>, found %zu",
                n + 1);
    }
    for (;; idx++) {
        const char *us = strchr(s, '_');
        size_t n = us ? (size_t)(us - s) : strlen(s);

        err = check_field(idx, s, n, &o, d);
        if (err)
            return err;
        if (!us)
            break;
        s = us + 1;
    }
    *out = o;
    return 0;
}

int xray_anon_name(const char *name, char *out, size_t out_size,
                   struct cairn_diag *d)
{
    struct xray_study_name sn;
    char id[9];
    int n, err;

    err = xray_name_parse(name, &sn, d);
    if (err)
        return err;
    if (xray_study_id(sn.pid, strlen(sn.pid), id) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "field 3 (patient id)");
    n = snprintf(out, out_size, "%s_XXXXXXXX_%s_XXXX-XX-XX_%s.%s", sn.prefix,
                 id, sn.date, sn.ext);
    if (n < 0 || (size_t)n >= out_size)
        return cairn_diag_set(d, CAIRN_EINVAL, "anonymized name too long");
    return 0;
}

void xray_pii_box(uint32_t w, uint32_t h, struct xray_box *box, double *sigma)
{
    double s = 1.0;
    uint32_t bw, bh;

    if (w < 300)
        s = w / 300.0;
    if (h < 100 && h / 100.0 < s)
        s = h / 100.0;
    bw = (uint32_t)lround(300 * s);
    bh = (uint32_t)lround(100 * s);
    if (bw > w)
        bw = w;
    if (bh > h)
        bh = h;
    box->x0 = 0;
    box->y0 = h - bh;
    box->x1 = bw;
    box->y1 = h;
    *sigma = 5.0 * s;
}

void xray_anon_blur(struct xray_image *im, double sigma)
{
    struct xray_box box;
    double scaled;

    xray_pii_box(im->w, im->h, &box, &scaled);
    xray_image_blur_box(im, &box, scaled / 5.0 * sigma);
}
