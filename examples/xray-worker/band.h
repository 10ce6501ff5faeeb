/*
 * Risk bands, exactly as the Medical Diagnosis pattern draws them:
 * p > 0.80 Pneumonia (high risk), p < 0.60 Normal (low risk), otherwise
 * Unsure (unknown risk) - so 0.60 and 0.80 themselves are Unsure.
 */
#ifndef XRAY_BAND_H
#define XRAY_BAND_H

#include <stddef.h>

enum xray_band {
    XRAY_BAND_LOW = 0,
    XRAY_BAND_UNKNOWN = 1,
    XRAY_BAND_HIGH = 2,
};
#define XRAY_BAND_COUNT 3

#define XRAY_BAND_HIGH_ABOVE 0.80
#define XRAY_BAND_LOW_BELOW 0.60

/* Band of a probability; NaN is Unsure (never silently "Normal"). */
enum xray_band xray_band_of(double p);

/* "Normal" / "Unsure" / "Pneumonia": what images_processed.label stores. */
const char *xray_band_class(enum xray_band b);

/* "low" / "unknown" / "high": the risk level in JSON and metrics. */
const char *xray_band_risk(enum xray_band b);

/* "<Class>, risk=<pct>%" with pct = 100p to two decimals. Always
 * NUL-terminated; 40 bytes are always enough. */
void xray_band_label(double p, char *out, size_t n);

#endif
