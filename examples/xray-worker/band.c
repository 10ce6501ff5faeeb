#include "band.h"

#include <math.h>
#include <stdio.h>

enum xray_band xray_band_of(double p)
{
    if (p > XRAY_BAND_HIGH_ABOVE)
        return XRAY_BAND_HIGH;
    if (p < XRAY_BAND_LOW_BELOW)
        return XRAY_BAND_LOW;
    return XRAY_BAND_UNKNOWN;
}

const char *xray_band_class(enum xray_band b)
{
    static const char *const names[] = {"Normal", "Unsure", "Pneumonia"};

    return (unsigned)b < XRAY_BAND_COUNT ? names[b] : "Unsure";
}

const char *xray_band_risk(enum xray_band b)
{
    static const char *const names[] = {"low", "unknown", "high"};

    return (unsigned)b < XRAY_BAND_COUNT ? names[b] : "unknown";
}

void xray_band_label(double p, char *out, size_t n)
{
    snprintf(out, n, "%s, risk=%.2f%%", xray_band_class(xray_band_of(p)),
             isnan(p) ? 0.0 : p * 100.0);
}
