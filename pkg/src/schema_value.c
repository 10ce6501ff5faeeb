/*
 * Value helpers for the schema validator: exact number comparison across
 * jansson's integer and real types, multipleOf on decimal forms, JSON
 * equality (1 == 1.0) with a matching hash, code-point length, RFC 3339
 * date-time, and short renderings of values for messages.
 */
#include "schema_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

/* 2^63 as a double: the first value above every json_int_t. */
#define TWO63 9223372036854775808.0

/* trunc_() without libm (libcairn does not link it): every double of
 * magnitude 2^52 or more is already an integer. */
static double trunc_(double r)
{
    if (r >= 4503599627370496.0 || r <= -4503599627370496.0)
        return r;
    return (double)(long long)r;
}

void cairn__num_get(const json_t *v, struct cairn__num *out)
{
    out->is_int = json_is_integer(v);
    out->i = out->is_int ? json_integer_value(v) : 0;
    out->r = out->is_int ? (double)out->i : json_real_value(v);
}

/* Compare an integer with a finite double without rounding either. */
static int cmp_int_real(json_int_t i, double r)
{
    double t;
    json_int_t ti;

    if (r >= TWO63)
        return -1;
    if (r < -TWO63)
        return 1;
    t = trunc_(r);
    ti = (json_int_t)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    if (r > t)
        return -1;
    return r < t ? 1 : 0;
}

int cairn__num_cmp(const struct cairn__num *a, const struct cairn__num *b)
{
    if (a->is_int && b->is_int)
        return a->i < b->i ? -1 : a->i > b->i;
    if (a->is_int)
        return cmp_int_real(a->i, b->r);
    if (b->is_int)
        return -cmp_int_real(b->i, a->r);
    return a->r < b->r ? -1 : a->r > b->r;
}

bool cairn__num_integral(const struct cairn__num *x)
{
    return x->is_int || x->r == trunc_(x->r);
}

/* The shortest form that reads back as the same double: the decimal the
 * author most likely wrote. sci: "%e" form (for parsing), else "%g". */
static void shortest(double r, char *buf, size_t n, bool sci)
{
    for (int digits = 1; digits <= 17; digits++) {
        if (sci)
            snprintf(buf, n, "%.*e", digits - 1, r);
        else
            snprintf(buf, n, "%.*g", digits, r);
        if (strtod(buf, NULL) == r)
            return;
    }
}

void cairn__num_dec(const struct cairn__num *x, struct cairn__dec *out)
{
    char buf[40];
    const char *p;
    uint64_t m = 0;
    int e = 0, frac = 0;
    bool dot = false;

    if (x->is_int) {
        m = x->i < 0 ? 0 - (uint64_t)x->i : (uint64_t)x->i;
    } else {
        shortest(x->r < 0 ? -x->r : x->r, buf, sizeof(buf), true);
        for (p = buf; *p && *p != 'e'; p++) {
            if (*p == '.') {
                dot = true;
                continue;
            }
            m = m * 10 + (uint64_t)(*p - '0');
            frac += dot;
        }
        e = (*p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0) - frac;
    }
    while (m != 0 && m % 10 == 0) {
        m /= 10;
        e++;
    }
    out->m = m;
    out->e = m ? e : 0;
}

/* x is a multiple of m (m > 0). Both are taken as their decimal forms,
 * so 0.0075 is a multiple of 0.0001 although the doubles are not. With
 * trailing zeros stripped, x = a*10^p is a multiple of m = b*10^q exactly
 * when p >= q and b divides a*10^(p-q). */
bool cairn__num_multiple(const struct cairn__num *x, const struct cairn__num *m,
                         const struct cairn__dec *mdec)
{
    struct cairn__dec xd;
    uint64_t r;
    double q;

    if (x->is_int && m->is_int)
        return x->i % m->i == 0;
    cairn__num_dec(x, &xd);
    if (xd.m == 0)
        return true;
    if (mdec->m < (1ULL << 59)) {
        if (xd.e < mdec->e)
            return false;
        r = xd.m % mdec->m;
        for (int k = xd.e - mdec->e; k > 0 && r != 0; k--)
            r = r * 10 % mdec->m; /* r < 2^59: no overflow */
        return r == 0;
    }
    /* A multipleOf with 19+ significant digits: fall back to doubles. */
    q = x->r / m->r;
    return isfinite(q) && q == trunc_(q);
}

static bool eq_depth(const json_t *a, const json_t *b, int depth);

static bool eq_object(const json_t *a, const json_t *b, int depth)
{
    const char *key;
    size_t klen;
    json_t *va, *vb;

    if (json_object_size(a) != json_object_size(b))
        return false;
    json_object_keylen_foreach((json_t *)a, key, klen, va)
    {
        vb = json_object_getn(b, key, klen);
        if (!vb || !eq_depth(va, vb, depth + 1))
            return false;
    }
    return true;
}

static bool eq_depth(const json_t *a, const json_t *b, int depth)
{
    struct cairn__num x, y;
    size_t n;

    if (depth > CAIRN__SCHEMA_EQ_DEPTH)
        return false;
    if (json_is_number(a) && json_is_number(b)) {
        cairn__num_get(a, &x);
        cairn__num_get(b, &y);
        return cairn__num_cmp(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        n = json_string_length(a);
        return n == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), n) == 0;
    case JSON_ARRAY:
        n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!eq_depth(json_array_get(a, i), json_array_get(b, i),
                          depth + 1))
                return false;
        return true;
    case JSON_OBJECT:
        return eq_object(a, b, depth);
    default: /* true, false, null: the type is the value */
        return true;
    }
}

bool cairn__json_eq(const json_t *a, const json_t *b)
{
    return a == b || eq_depth(a, b, 0);
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return mix(h);
}

/* Equal numbers must hash alike: an integral real in range hashes as the
 * integer it equals. */
static uint64_t hash_num(const json_t *v)
{
    struct cairn__num x;
    uint64_t bits;

    cairn__num_get(v, &x);
    if (x.is_int)
        return mix((uint64_t)x.i ^ 0x10);
    if (x.r == trunc_(x.r) && x.r >= -TWO63 && x.r < TWO63)
        return mix((uint64_t)(json_int_t)x.r ^ 0x10);
    memcpy(&bits, &x.r, sizeof(bits));
    return mix(bits ^ 0x20);
}

static uint64_t hash_depth(const json_t *v, int depth)
{
    const char *key;
    size_t klen, i;
    json_t *item;
    uint64_t h;

    if (depth > CAIRN__SCHEMA_EQ_DEPTH)
        return 0;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return hash_num(v);
    case JSON_STRING:
        return hash_bytes(json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        h = 0x40;
        for (i = 0; i < json_array_size(v); i++)
            h = mix(h * 31 + hash_depth(json_array_get(v, i), depth + 1));
        return h;
    case JSON_OBJECT:
        /* A sum, so that key order does not matter. */
        h = 0x50 + json_object_size(v);
        json_object_keylen_foreach((json_t *)v, key, klen, item) h +=
            mix(hash_bytes(key, klen) ^ (hash_depth(item, depth + 1) * 3));
        return h;
    default:
        return (uint64_t)json_typeof(v);
    }
}

uint64_t cairn__json_hash(const json_t *v)
{
    return hash_depth(v, 0);
}

size_t cairn__utf8_len(const char *s, size_t n)
{
    size_t count = 0;

    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* time-offset of RFC 3339 at s[*i]: "Z" or +hh:mm / -hh:mm, in minutes. */
static bool parse_offset(const char *s, size_t n, size_t *i, int *minutes)
{
    int oh, om, sign;

    if (*i < n && (s[*i] == 'Z' || s[*i] == 'z')) {
        *minutes = 0;
        (*i)++;
        return true;
    }
    if (*i + 6 != n || (s[*i] != '+' && s[*i] != '-'))
        return false;
    sign = s[*i] == '+' ? 1 : -1;
    if (!digits(s + *i + 1, 2, &oh) || s[*i + 3] != ':' ||
        !digits(s + *i + 4, 2, &om) || oh > 23 || om > 59)
        return false;
    *minutes = sign * (oh * 60 + om);
    *i += 6;
    return true;
}

/* RFC 3339 date-time (section 5.6): full-date "T" full-time, T and Z in
 * either case, a leap second only where the UTC time is 23:59. */
bool cairn__is_date_time(const char *s, size_t n)
{
    int y, mo, d, h, mi, sec, off, utc;
    size_t i = 19, start;

    if (n < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (s[i] == '.') {
        start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (!parse_offset(s, n, &i, &off) || i != n)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return false;
    utc = ((h * 60 + mi - off) % 1440 + 1440) % 1440;
    return sec < 60 || utc == 23 * 60 + 59;
}

void cairn__render_num(const struct cairn__num *x, char *buf, size_t n)
{
    if (x->is_int)
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, x->i);
    else
        shortest(x->r, buf, n, false);
}

/* Append to a fixed buffer, remembering that something did not fit. */
struct fixbuf {
    char *p;
    size_t n, len;
    bool cut;
};

static void fb_put(struct fixbuf *b, const char *s, size_t n)
{
    size_t room = b->n - 1 - b->len;

    if (n > room) {
        n = room;
        b->cut = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* End a cut rendering with "..." (and the closing quote of a string). */
static void fb_finish(struct fixbuf *b, bool quoted)
{
    size_t tail = quoted ? 4 : 3;

    if (!b->cut)
        return;
    if (b->len > b->n - 1 - tail)
        b->len = b->n - 1 - tail;
    memcpy(b->p + b->len, quoted ? "...\"" : "...", tail + 1);
    b->len += tail;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    struct fixbuf *b = data;

    fb_put(b, buffer, size);
    return b->cut ? -1 : 0; /* stop jansson once the buffer is full */
}

const char *cairn__json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_NULL:
        return "null";
    default:
        return "boolean";
    }
}

void cairn__render(const json_t *v, char *buf, size_t n)
{
    struct fixbuf b = {buf, n, 0, false};
    struct cairn__num x;

    buf[0] = '\0';
    if (json_is_number(v)) {
        cairn__num_get(v, &x);
        cairn__render_num(&x, buf, n);
        return;
    }
    if (json_is_string(v)) {
        cairn__quote(json_string_value(v), json_string_length(v), buf, n);
        return;
    }
    (void)json_dump_callback(v, dump_cb, &b, JSON_COMPACT | JSON_ENCODE_ANY);
    fb_finish(&b, false);
}

void cairn__quote(const char *s, size_t len, char *buf, size_t n)
{
    struct fixbuf b = {buf, n, 0, false};
    char esc[8];

    fb_put(&b, "\"", 1);
    for (size_t i = 0; i < len && !b.cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            fb_put(&b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            fb_put(&b, esc, 6);
        } else {
            fb_put(&b, s + i, 1);
        }
    }
    fb_put(&b, "\"", 1);
    fb_finish(&b, true);
}

void cairn__seg_format(const struct cairn__seg *seg, char *buf, size_t n)
{
    const struct cairn__seg *chain[CAIRN__SCHEMA_EVAL_DEPTH * 2];
    struct fixbuf b = {buf, n, 0, false};
    size_t depth = 0;
    char num[24];

    buf[0] = '\0';
    for (; seg && depth < CAIRN_ARRAY_LEN(chain); seg = seg->up)
        chain[depth++] = seg;
    while (depth-- > 0 && !b.cut) {
        seg = chain[depth];
        if (seg->raw) {
            fb_put(&b, seg->key, seg->len);
            continue;
        }
        fb_put(&b, "/", 1);
        if (!seg->key) {
            snprintf(num, sizeof(num), "%zu", seg->idx);
            fb_put(&b, num, strlen(num));
            continue;
        }
        for (size_t i = 0; i < seg->len; i++) {
            char c = seg->key[i];
            fb_put(&b,
                   c == '~'   ? "~0"
                   : c == '/' ? "~1"
                              : &seg->key[i],
                   c == '~' || c == '/' ? 2 : 1);
        }
    }
    fb_finish(&b, false);
}
