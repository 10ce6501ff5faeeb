/*
 * Canonical JSON rendering and strict, capped parsing on top of jansson.
 * The renderer is written here rather than using json_dumps because the
 * exact bytes matter (they are signed): jansson prints reals with 17
 * significant digits ("0.80000000000000004") and sorts keys with strcmp.
 * See docs/internals/json.md.
 */
#include "cairn/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

static void put(struct cairn_buf *b, const char *s, size_t n)
{
    /* The buffer has no cap here, so only an absurd size can fail. */
    if (cairn_buf_append(b, s, n) != 0)
        abort();
}

static void puts_(struct cairn_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Eight bytes at once: non-zero when one of them is below 0x20, '"' or
 * '\\' (exact as a yes/no answer; which byte is found bytewise). Most
 * strings cairn signs are long runs of base64 with nothing to escape. */
static uint64_t needs_escape8(const char *s)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t x, q, bs;

    memcpy(&x, s, 8);
    q = x ^ (ones * '"');
    bs = x ^ (ones * '\\');
    /* (v - ones) & ~v & high is non-zero iff a byte of v is 0; with
     * ones * 0x20 in place of ones, iff a byte is below 0x20 */
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
            ((bs - ones) & ~bs)) &
           high;
}

/* The escape of c (one that needs it) into esc; its length. */
static size_t escape(unsigned char c, char esc[6])
{
    static const char hex[] = "0123456789abcdef";

    esc[0] = '\\';
    switch (c) {
    case '"':
        esc[1] = '"';
        return 2;
    case '\\':
        esc[1] = '\\';
        return 2;
    case '\b':
        esc[1] = 'b';
        return 2;
    case '\f':
        esc[1] = 'f';
        return 2;
    case '\n':
        esc[1] = 'n';
        return 2;
    case '\r':
        esc[1] = 'r';
        return 2;
    case '\t':
        esc[1] = 't';
        return 2;
    default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        return 6;
    }
}

/* Runs of bytes that need no escape are appended whole. */
static int string_rc(struct cairn_buf *b, const char *s, size_t n)
{
    size_t run = 0, i = 0;
    int rc = cairn_buf_append(b, "\"", 1);

    while (rc == 0 && i < n) {
        unsigned char c;
        char esc[6];

        if (n - i >= 8 && !needs_escape8(s + i)) {
            i += 8;
            continue;
        }
        c = (unsigned char)s[i++];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = cairn_buf_append(b, s + run, i - 1 - run);
        if (rc == 0)
            rc = cairn_buf_append(b, esc, escape(c, esc));
        run = i;
    }
    if (rc == 0)
        rc = cairn_buf_append(b, s + run, n - run);
    if (rc == 0)
        rc = cairn_buf_append(b, "\"", 1);
    return rc;
}

static void put_string(struct cairn_buf *b, const char *s, size_t n)
{
    if (string_rc(b, s, n) != 0)
        abort(); /* the buffer has no cap here */
}

int cairn_json_append_string(struct cairn_buf *b, const char *s, size_t n)
{
    size_t mark = b->len;
    int rc = string_rc(b, s, n);

    if (rc) {
        b->len = mark; /* as it was */
        if (b->data)
            b->data[mark] = '\0';
    }
    return rc;
}

/* Shortest "%.*e" text of v that reads back as exactly v. */
static void shortest_e(double v, char *out, size_t cap)
{
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(out, cap, "%.*e", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Digits d (nd of them, no trailing zeros) times 10^exp, fixed notation. */
static void put_fixed(struct cairn_buf *b, const char *d, size_t nd, long exp)
{
    if (exp < 0) {
        puts_(b, "0.");
        for (long i = -1; i > exp; i--)
            put(b, "0", 1);
        put(b, d, nd);
        return;
    }
    if (nd <= (size_t)exp + 1) {
        put(b, d, nd);
        for (size_t i = nd; i <= (size_t)exp; i++)
            put(b, "0", 1);
        puts_(b, ".0");
        return;
    }
    put(b, d, (size_t)exp + 1);
    put(b, ".", 1);
    put(b, d + exp + 1, nd - (size_t)exp - 1);
}

/* Python repr: shortest digits; exponent form below 1e-4 and from 1e16. */
static void put_real(struct cairn_buf *b, double v)
{
    char e[48], digits[24], tail[32];
    const char *p = e;
    size_t nd = 0;
    long exp;

    shortest_e(v, e, sizeof(e));
    if (*p == '-') {
        put(b, "-", 1);
        p++;
    }
    for (; *p && *p != 'e' && nd < sizeof(digits); p++)
        if (*p != '.')
            digits[nd++] = *p;
    exp = *p == 'e' ? strtol(p + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (exp >= -4 && exp < 16) {
        put_fixed(b, digits, nd, exp);
        return;
    }
    put(b, digits, 1);
    if (nd > 1) {
        put(b, ".", 1);
        put(b, digits + 1, nd - 1);
    }
    snprintf(tail, sizeof(tail), "e%c%02ld", exp < 0 ? '-' : '+',
             exp < 0 ? -exp : exp);
    puts_(b, tail);
}

struct member {
    const char *key;
    size_t len;
    json_t *val;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void put_value(struct cairn_buf *b, const json_t *v);

static void put_object(struct cairn_buf *b, const json_t *v)
{
    size_t n = json_object_size(v), i = 0;
    struct member *m = cairn_xmalloc(n * sizeof(*m));
    /* jansson's iteration API takes non-const pointers but does not write. */
    json_t *obj = (json_t *)v;

    for (void *it = json_object_iter(obj); it && i < n;
         it = json_object_iter_next(obj, it)) {
        m[i].key = json_object_iter_key(it);
        m[i].len = json_object_iter_key_len(it);
        m[i++].val = json_object_iter_value(it);
    }
    qsort(m, i, sizeof(*m), member_cmp);
    put(b, "{", 1);
    for (size_t k = 0; k < i; k++) {
        if (k)
            put(b, ",", 1);
        put_string(b, m[k].key, m[k].len);
        put(b, ":", 1);
        put_value(b, m[k].val);
    }
    put(b, "}", 1);
    free(m);
}

static void put_value(struct cairn_buf *b, const json_t *v)
{
    char num[32];

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        put_object(b, v);
        break;
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                put(b, ",", 1);
            put_value(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        puts_(b, num);
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        puts_(b, "true");
        break;
    case JSON_FALSE:
        puts_(b, "false");
        break;
    case JSON_NULL:
        puts_(b, "null");
        break;
    }
}

char *cairn_json_canonical(const json_t *v)
{
    struct cairn_buf b;

    if (!v)
        return NULL;
    cairn_buf_init(&b, 0);
    put_value(&b, v);
    return cairn_buf_steal(&b, NULL);
}

int cairn_json_parse(const char *buf, size_t len, size_t cap, json_t **out,
                     struct cairn_diag *d)
{
    const char *nul;
    json_error_t err;
    json_t *v;

    if (len > cap)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "JSON document is %zu bytes, over the cap of %zu",
                              len, cap);
    nul = memchr(buf, '\0', len);
    if (nul)
        return cairn_diag_set(d, CAIRN_EPARSE, "NUL byte at offset %zu",
                              (size_t)(nul - buf));
    /* Without JSON_ALLOW_NUL jansson also refuses "\u0000" in strings. */
    v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!v)
        return cairn_diag_set(d, CAIRN_EPARSE, "line %d column %d: %s",
                              err.line, err.column, err.text);
    *out = v;
    return 0;
}
