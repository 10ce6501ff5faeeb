/*
 * Risk bands exactly as the pattern draws them: p > 0.80 Pneumonia,
 * p < 0.60 Normal, everything else (0.60 and 0.80 included) Unsure.
 */
#include <math.h>

#include "band.h"
#include "test.h"

static void test_edges(void)
{
    CHECK_INT_EQ(xray_band_of(0.60), XRAY_BAND_UNKNOWN);
    CHECK_INT_EQ(xray_band_of(0.80), XRAY_BAND_UNKNOWN);
    CHECK_INT_EQ(xray_band_of(nextafter(0.60, 0.0)), XRAY_BAND_LOW);
    CHECK_INT_EQ(xray_band_of(nextafter(0.60, 1.0)), XRAY_BAND_UNKNOWN);
    CHECK_INT_EQ(xray_band_of(nextafter(0.80, 0.0)), XRAY_BAND_UNKNOWN);
    CHECK_INT_EQ(xray_band_of(nextafter(0.80, 1.0)), XRAY_BAND_HIGH);
    CHECK_INT_EQ(xray_band_of(0.0), XRAY_BAND_LOW);
    CHECK_INT_EQ(xray_band_of(1.0), XRAY_BAND_HIGH);
    CHECK_INT_EQ(xray_band_of(0.5999), XRAY_BAND_LOW);
    CHECK_INT_EQ(xray_band_of(0.8001), XRAY_BAND_HIGH);
    CHECK_INT_EQ(xray_band_of(0.7), XRAY_BAND_UNKNOWN);
    /* NaN never lands in a confident band. */
    CHECK_INT_EQ(xray_band_of(NAN), XRAY_BAND_UNKNOWN);
}

static void test_names(void)
{
    CHECK_STR_EQ(xray_band_class(XRAY_BAND_HIGH), "Pneumonia");
    CHECK_STR_EQ(xray_band_class(XRAY_BAND_LOW), "Normal");
    CHECK_STR_EQ(xray_band_class(XRAY_BAND_UNKNOWN), "Unsure");
    CHECK_STR_EQ(xray_band_risk(XRAY_BAND_HIGH), "high");
    CHECK_STR_EQ(xray_band_risk(XRAY_BAND_LOW), "low");
    CHECK_STR_EQ(xray_band_risk(XRAY_BAND_UNKNOWN), "unknown");
}

static void test_labels(void)
{
    char l[48];

    xray_band_label(0.9341, l, sizeof(l));
    CHECK_STR_EQ(l, "Pneumonia, risk=93.41%");
    xray_band_label(0.80, l, sizeof(l));
    CHECK_STR_EQ(l, "Unsure, risk=80.00%");
    xray_band_label(0.60, l, sizeof(l));
    CHECK_STR_EQ(l, "Unsure, risk=60.00%");
    xray_band_label(0.0123, l, sizeof(l));
    CHECK_STR_EQ(l, "Normal, risk=1.23%");
    xray_band_label(1.0, l, sizeof(l));
    CHECK_STR_EQ(l, "Pneumonia, risk=100.00%");
    /* Truncation is safe. */
    xray_band_label(0.5, l, 8);
    CHECK_STR_EQ(l, "Normal,");
}

int main(void)
{
    RUN(test_edges);
    RUN(test_names);
    RUN(test_labels);
    return test_done();
}
