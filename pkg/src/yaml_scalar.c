/*
 * Typing of YAML scalars by the YAML 1.2 core schema (spec 10.3.2), the
 * only schema cairn accepts. Matching is done by hand, byte by byte, so
 * that neither the locale nor strtoll's leniency (spaces, "0x" with a sign)
 * leaks in; strtod_l in the C locale only converts text already matched.
 */
#include "yaml_int.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define CORE_TAG "tag:yaml.org,2002:"

/* Result of a matcher: the text is (not) of this type, or it is but its
 * value is unusable (out of range, not representable in JSON). */
enum match { NO_MATCH, MATCH, MATCH_BAD };

enum cairn__ytag cairn__yaml_tag(const char *tag)
{
    static const struct {
        const char *name;
        enum cairn__ytag tag;
    } core[] = {
        {"str", CAIRN__YTAG_STR},     {"int", CAIRN__YTAG_INT},
        {"float", CAIRN__YTAG_FLOAT}, {"bool", CAIRN__YTAG_BOOL},
        {"null", CAIRN__YTAG_NULL},   {"map", CAIRN__YTAG_MAP},
        {"seq", CAIRN__YTAG_SEQ},
    };
    size_t plen = sizeof(CORE_TAG) - 1;

    if (!tag)
        return CAIRN__YTAG_NONE;
    if (strncmp(tag, CORE_TAG, plen) != 0)
        return CAIRN__YTAG_UNKNOWN;
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
        if (strcmp(tag + plen, core[i].name) == 0)
            return core[i].tag;
    return CAIRN__YTAG_UNKNOWN;
}

static int is_word(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return 1;
    return 0;
}

static int is_null(const char *s, size_t n)
{
    static const char *const w[] = {"~", "null", "Null", "NULL", NULL};

    return n == 0 || is_word(s, n, w);
}

/* 1 true, 0 false, -1 not a core-schema boolean ("yes" is not one). */
static int bool_value(const char *s, size_t n)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};

    if (is_word(s, n, t))
        return 1;
    if (is_word(s, n, f))
        return 0;
    return -1;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* Digits of one base, at least one; their magnitude, saturating just past
 * 2^63 so that the caller can tell out-of-range. */
static enum match digits(const char *s, size_t n, unsigned base, uint64_t *mag)
{
    const uint64_t lim = (uint64_t)INT64_MAX + 1;
    uint64_t v = 0;
    int over = 0;

    if (n == 0)
        return NO_MATCH;
    for (size_t i = 0; i < n; i++) {
        unsigned dv = (unsigned)digit_value(s[i]);
        if (dv >= base)
            return NO_MATCH;
        if (v > (lim - dv) / base)
            over = 1;
        else
            v = v * base + dv;
    }
    *mag = v;
    return over ? MATCH_BAD : MATCH;
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+, in int64 range. */
static enum match match_int(const char *s, size_t n, json_int_t *out)
{
    unsigned base = 10;
    int neg = 0;
    uint64_t mag = 0;
    enum match m;

    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        s += 2, n -= 2;
    } else if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++, n--;
    }
    m = digits(s, n, base, &mag);
    if (m != MATCH)
        return m;
    if (!neg && mag > (uint64_t)INT64_MAX)
        return MATCH_BAD;
    if (neg)
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(json_int_t)mag;
    else
        *out = (json_int_t)mag;
    return MATCH;
}

static size_t span_digits(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int float_syntax(const char *s, size_t n)
{
    size_t i = 0, d;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    d = span_digits(s + i, n - i);
    i += d;
    if (i < n && s[i] == '.') {
        size_t f = span_digits(s + i + 1, n - i - 1);
        if (d == 0 && f == 0)
            return 0;
        i += 1 + f;
    } else if (d == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        d = span_digits(s + i, n - i);
        if (d == 0)
            return 0;
        i += d;
    }
    return i == n;
}

/* .inf and .nan in their core-schema spellings: valid YAML floats that
 * JSON (and jansson) cannot hold. */
static int special_float(const char *s, size_t n)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};

    if (is_word(s, n, nan))
        return 1;
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    return is_word(s, n, inf);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Each as_<type> returns the value, or NULL with *why NULL when the text
 * is not of that type, or NULL with *why set when it is but the value is
 * unusable. */

static json_t *as_null(const char *s, size_t n, const char **why)
{
    *why = NULL;
    return is_null(s, n) ? json_null() : NULL;
}

static json_t *as_bool(const char *s, size_t n, const char **why)
{
    int b = bool_value(s, n);

    *why = NULL;
    return b < 0 ? NULL : json_boolean(b);
}

static json_t *as_int(const char *s, size_t n, const char **why)
{
    json_int_t v = 0;
    enum match m = match_int(s, n, &v);

    *why = m == MATCH_BAD ? "integer out of the 64-bit range" : NULL;
    return m == MATCH ? json_integer(v) : NULL;
}

/* s is NUL-terminated after its n bytes (libyaml guarantees it). */
static json_t *as_float(const char *s, size_t n, const char **why)
{
    double v;

    *why = NULL;
    if (special_float(s, n)) {
        *why = ".inf and .nan cannot be represented in JSON";
        return NULL;
    }
    if (!float_syntax(s, n))
        return NULL;
    pthread_once(&c_locale_once, make_c_locale);
    v = c_locale ? strtod_l(s, NULL, c_locale) : strtod(s, NULL);
    if (!isfinite(v)) {
        *why = "float out of range";
        return NULL;
    }
    return json_real(v);
}

static json_t *as_str(const char *s, size_t n, const char **why)
{
    json_t *v = json_stringn(s, n);

    /* libyaml validates its input, but escapes are decoded after that. */
    *why = v ? NULL : "invalid UTF-8";
    return v;
}

/* A plain untagged scalar: the first core-schema type that matches. */
static json_t *resolve(const char *s, size_t n, const char **why)
{
    json_t *(*const order[])(const char *, size_t, const char **) = {
        as_null, as_bool, as_int, as_float};
    json_t *v;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        v = order[i](s, n, why);
        if (v || *why)
            return v;
    }
    return as_str(s, n, why);
}

/* An explicit tag: the text must be of that type. */
static json_t *tagged(const char *s, size_t n, enum cairn__ytag tag,
                      const char **why)
{
    static const struct {
        enum cairn__ytag tag;
        json_t *(*conv)(const char *, size_t, const char **);
        const char *bad;
    } rows[] = {
        {CAIRN__YTAG_STR, as_str, "invalid UTF-8"},
        {CAIRN__YTAG_NULL, as_null, "not a valid !!null value"},
        {CAIRN__YTAG_BOOL, as_bool, "not a valid !!bool value"},
        {CAIRN__YTAG_INT, as_int, "not a valid !!int value"},
        {CAIRN__YTAG_FLOAT, as_float, "not a valid !!float value"},
    };
    json_t *v;

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].tag != tag)
            continue;
        v = rows[i].conv(s, n, why);
        if (!v && !*why)
            *why = rows[i].bad;
        return v;
    }
    *why = tag == CAIRN__YTAG_MAP   ? "tag !!map on a scalar"
           : tag == CAIRN__YTAG_SEQ ? "tag !!seq on a scalar"
                                    : "unknown tag";
    return NULL;
}

json_t *cairn__yaml_scalar(const char *s, size_t n, int plain,
                           enum cairn__ytag tag, const char **why)
{
    *why = NULL;
    if (tag != CAIRN__YTAG_NONE)
        return tagged(s, n, tag, why);
    return plain ? resolve(s, n, why) : as_str(s, n, why);
}
