/*
 * ECMA-262 regular expressions without backtracking: a recursive-descent
 * parser builds a small tree, which is emitted as a program for a Pike VM
 * (Thompson's NFA simulation, every thread advanced in lock step), so a
 * search costs O(subject x program) whatever the pattern.
 * See regex.h for the contract and docs/internals/regex.md for the design.
 */
#include "cairn/regex.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

#define CP_MAX 0x10FFFFu
/* A byte that is not UTF-8 is the character CP_BAD + byte: it is never a
 * literal, so only ".", negated classes and \D \W \S match it. */
#define CP_BAD 0x110000u
#define CP_TOP (CP_BAD + 0xFFu)
#define CP_NONE UINT32_MAX /* before the start / after the end */
#define REP_INF UINT32_MAX
#define STACK_INSNS 128 /* programs this small search without malloc */

enum op {
    OP_CHAR,
    OP_ANY,
    OP_CLASS,
    OP_SPLIT,
    OP_JMP,
    OP_BOL,
    OP_EOL,
    OP_WORDB,
    OP_NWORDB,
    OP_MATCH
};

struct insn {
    uint8_t op;
    uint32_t a, b; /* CHAR: a = code point; CLASS: a = class; JMP: a;
                      SPLIT: a and b */
};

struct range {
    uint32_t lo, hi;
};

struct cls {
    uint32_t first, n; /* into ranges[] */
    int neg;
};

struct cairn_regex {
    struct insn *prog;
    uint32_t n;
    struct range *ranges;
    uint32_t nranges;
    struct cls *classes;
    uint32_t ncls;
    int anchored; /* every alternative starts with "^" */
};

/* ---- the tree ------------------------------------------------------------ */

enum kind {
    K_EMPTY,
    K_CHAR,
    K_ANY,
    K_CLASS,
    K_BOL,
    K_EOL,
    K_WORDB,
    K_NWORDB,
    K_CAT,
    K_ALT,
    K_REPEAT
};

struct node {
    enum kind k;
    uint32_t v;        /* K_CHAR: code point; K_CLASS: class index */
    uint32_t min, max; /* K_REPEAT */
    struct node *kids; /* K_CAT, K_ALT: list; K_REPEAT: the one child */
    struct node *next; /* next sibling */
};

struct parser {
    const unsigned char *s;
    size_t len, pos;
    struct node *nodes;
    size_t nnodes, anodes;
    struct range *ranges;
    uint32_t nranges, aranges;
    struct cls *classes;
    uint32_t ncls, acls;
    int depth;
    int err;
    size_t err_at;
    char msg[160];
};

static int fail(struct parser *p, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, int code, size_t at, const char *fmt, ...)
{
    va_list ap;

    if (!p->err) {
        p->err = code;
        p->err_at = at;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static struct node *new_node(struct parser *p, enum kind k)
{
    struct node *n;

    if (p->nnodes == p->anodes)
        abort(); /* sized from the pattern length: cannot happen */
    n = &p->nodes[p->nnodes++];
    memset(n, 0, sizeof(*n));
    n->k = k;
    return n;
}

/* Decode one UTF-8 character at s[*pos]; -1 when it is not UTF-8. */
static int utf8_next(const unsigned char *s, size_t len, size_t *pos,
                     uint32_t *cp)
{
    size_t i = *pos, n, k;
    uint32_t c = s[i], min;

    if (c < 0x80) {
        *cp = c;
        *pos = i + 1;
        return 0;
    }
    if (c >= 0xC2 && c <= 0xDF)
        n = 1, c &= 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 2, c &= 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 3, c &= 0x07, min = 0x10000;
    else
        return -1;
    if (len - i - 1 < n)
        return -1;
    for (k = 1; k <= n; k++) {
        if ((s[i + k] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (s[i + k] & 0x3Fu);
    }
    if (c < min || c > CP_MAX || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *cp = c;
    *pos = i + n + 1;
    return 0;
}

/* ---- character classes ------------------------------------------------------
 */

static const struct range R_DIGIT[] = {{'0', '9'}};
static const struct range R_WORD[] = {
    {'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
/* ECMA-262 WhiteSpace and LineTerminator. */
static const struct range R_SPACE[] = {
    {0x09, 0x0D},     {0x20, 0x20},     {0xA0, 0xA0},     {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
    {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

static void add_range(struct parser *p, uint32_t lo, uint32_t hi)
{
    if (p->nranges == p->aranges) {
        p->aranges = p->aranges ? 2 * p->aranges : 16;
        p->ranges = cairn_xrealloc(p->ranges, p->aranges * sizeof(*p->ranges));
    }
    p->ranges[p->nranges].lo = lo;
    p->ranges[p->nranges].hi = hi;
    p->nranges++;
}

/* Add a sorted range table, or its complement over every character. */
static void add_table(struct parser *p, const struct range *t, size_t n,
                      int neg)
{
    uint32_t lo = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!neg)
            add_range(p, t[i].lo, t[i].hi);
        else if (t[i].lo > lo)
            add_range(p, lo, t[i].lo - 1);
        lo = t[i].hi + 1;
    }
    if (neg)
        add_range(p, lo, CP_TOP);
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge the ranges added since first into a new class. */
static uint32_t end_class(struct parser *p, uint32_t first, int neg)
{
    uint32_t n = p->nranges - first, w = 0, i;
    struct range *r = n ? p->ranges + first : NULL;

    if (n > 1)
        qsort(r, n, sizeof(*r), cmp_range);
    for (i = 0; i < n; i++) {
        if (w > 0 && r[i].lo <= r[w - 1].hi + 1) {
            if (r[i].hi > r[w - 1].hi)
                r[w - 1].hi = r[i].hi;
        } else {
            r[w++] = r[i];
        }
    }
    p->nranges = first + w;
    if (p->ncls == p->acls) {
        p->acls = p->acls ? 2 * p->acls : 8;
        p->classes = cairn_xrealloc(p->classes, p->acls * sizeof(*p->classes));
    }
    p->classes[p->ncls].first = first;
    p->classes[p->ncls].n = w;
    p->classes[p->ncls].neg = neg;
    return p->ncls++;
}

static int class_has(const struct cairn_regex *re, uint32_t c, uint32_t cp)
{
    const struct cls *k = &re->classes[c];
    const struct range *r = k->n ? re->ranges + k->first : NULL; /* "[]" */
    uint32_t lo = 0, hi = k->n;

    while (lo < hi) { /* binary search over sorted, disjoint ranges */
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return !k->neg;
    }
    return k->neg;
}

/* ---- the parser
 * -------------------------------------------------------------- */

static int peek(const struct parser *p, char c)
{
    return p->pos < p->len && p->s[p->pos] == (unsigned char)c;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n hex digits at pos; -1 when absent. */
static int hex_digits(struct parser *p, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    size_t i;

    if (p->len - p->pos < n)
        return -1;
    for (i = 0; i < n; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0)
            return -1;
        v = v * 16 + (uint32_t)h;
    }
    p->pos += n;
    *out = v;
    return 0;
}

/* \d \D \w \W \s \S: the table, and whether it is negated; 0 if c is
 * not one of them. */
static int class_escape(unsigned char c, const struct range **t, size_t *nt,
                        int *neg)
{
    *neg = c == 'D' || c == 'W' || c == 'S';
    switch (c | 0x20) {
    case 'd':
        *t = R_DIGIT, *nt = sizeof(R_DIGIT) / sizeof(R_DIGIT[0]);
        return 1;
    case 'w':
        *t = R_WORD, *nt = sizeof(R_WORD) / sizeof(R_WORD[0]);
        return 1;
    case 's':
        *t = R_SPACE, *nt = sizeof(R_SPACE) / sizeof(R_SPACE[0]);
        return 1;
    default:
        return 0;
    }
}

/* \0 \cX \xHH \uHHHH, after the letter; 1 or -1 (error recorded). */
static int numeric_escape(struct parser *p, unsigned char c, size_t at,
                          uint32_t *cp)
{
    const unsigned char *s = p->s;

    if (c == '0') {
        if (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            return fail(p, CAIRN_EUNSUPPORTED, at,
                        "octal escapes are not supported");
        *cp = 0;
        return 1;
    }
    if (c == 'c') {
        if (p->pos < p->len && (s[p->pos] | 0x20) >= 'a' &&
            (s[p->pos] | 0x20) <= 'z') {
            *cp = s[p->pos++] & 0x1Fu;
            return 1;
        }
        return fail(p, CAIRN_EPARSE, at, "\\c must be followed by a letter");
    }
    if (c == 'x')
        return hex_digits(p, 2, cp) == 0
                   ? 1
                   : fail(p, CAIRN_EPARSE, at,
                          "\\x must be followed by two hex digits");
    if (hex_digits(p, 4, cp) != 0)
        return fail(p, CAIRN_EPARSE, at,
                    "\\u must be followed by four hex digits");
    if (*cp >= 0xD800 && *cp <= 0xDFFF)
        return fail(p, CAIRN_EPARSE, at,
                    "\\u%04X is a surrogate, not a character", (unsigned)*cp);
    return 1;
}

/* A character escape (after the backslash): its code point in *cp, or a
 * class table in *t / *nt / *neg for \d \D \w \W \s \S. in_class: \b is a
 * backspace there (outside, the caller has taken \b and \B as
 * assertions). 1 for a character, 2 for a table, -1 on error. */
static int escape(struct parser *p, int in_class, uint32_t *cp,
                  const struct range **t, size_t *nt, int *neg)
{
    static const char plain[] = "tnvfr", value[] = "\t\n\v\f\r";
    size_t at = p->pos - 1;
    const char *k;
    unsigned char c;

    if (p->pos >= p->len)
        return fail(p, CAIRN_EPARSE, at, "\\ at end of pattern");
    c = p->s[p->pos++];
    if (class_escape(c, t, nt, neg))
        return 2;
    if (c != 0 && (k = strchr(plain, c)) != NULL) {
        *cp = (unsigned char)value[k - plain];
        return 1;
    }
    if (c == 'b' && in_class) {
        *cp = '\b';
        return 1;
    }
    if (c == '0' || c == 'c' || c == 'x' || c == 'u')
        return numeric_escape(p, c, at, cp);
    if (c == 'k' || (c >= '1' && c <= '9'))
        return fail(p, CAIRN_EUNSUPPORTED, at,
                    "back references are not supported");
    if (c == 'p' || c == 'P')
        return fail(p, CAIRN_EUNSUPPORTED, at,
                    "Unicode property escapes are not supported");
    if (c >= 0x20 && c < 0x7F && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
        !(c >= '0' && c <= '9')) {
        *cp = c; /* \. \* \\ \/ \- ... stand for themselves */
        return 1;
    }
    if (c > 0x20 && c < 0x7F)
        return fail(p, CAIRN_EPARSE, at, "unrecognized escape \\%c", c);
    return fail(p, CAIRN_EPARSE, at, "unrecognized escape");
}

/* One class atom: a character in *cp (1), or a table added to the ranges
 * (2); -1 on error. */
static int class_atom(struct parser *p, uint32_t *cp)
{
    const struct range *t;
    size_t nt;
    int neg, r;

    if (p->s[p->pos] != '\\') {
        if (utf8_next(p->s, p->len, &p->pos, cp) != 0)
            return fail(p, CAIRN_EPARSE, p->pos, "invalid UTF-8");
        return 1;
    }
    p->pos++;
    r = escape(p, 1, cp, &t, &nt, &neg);
    if (r == 2)
        add_table(p, t, nt, neg);
    return r;
}

/* After "[": the class up to and including "]". */
static struct node *parse_class(struct parser *p)
{
    uint32_t first = p->nranges, lo, hi;
    int neg = 0, a, b;
    size_t at;
    struct node *n;

    if (peek(p, '^'))
        neg = 1, p->pos++;
    while (p->pos < p->len && p->s[p->pos] != ']') {
        at = p->pos;
        if ((a = class_atom(p, &lo)) < 0)
            return NULL;
        if (!peek(p, '-') || p->pos + 1 >= p->len || p->s[p->pos + 1] == ']') {
            if (a == 1)
                add_range(p, lo, lo);
            continue;
        }
        p->pos++; /* "-" between two atoms: a range */
        if ((b = class_atom(p, &hi)) < 0)
            return NULL;
        if (a != 1 || b != 1) {
            fail(p, CAIRN_EPARSE, at, "invalid range in character class");
            return NULL;
        }
        if (lo > hi) {
            fail(p, CAIRN_EPARSE, at, "range out of order in character class");
            return NULL;
        }
        add_range(p, lo, hi);
    }
    if (p->pos >= p->len) {
        fail(p, CAIRN_EPARSE, p->len,
             "missing terminating ] for character "
             "class");
        return NULL;
    }
    p->pos++;
    n = new_node(p, K_CLASS);
    n->v = end_class(p, first, neg);
    return n;
}

static struct node *table_node(struct parser *p, const struct range *t,
                               size_t nt, int neg)
{
    uint32_t first = p->nranges;
    struct node *n = new_node(p, K_CLASS);

    add_table(p, t, nt, 0);
    n->v = end_class(p, first, neg);
    return n;
}

static struct node *parse_alt(struct parser *p);

/* After "(": the group up to and including ")". */
static struct node *parse_group(struct parser *p)
{
    size_t at = p->pos - 1;
    struct node *n;

    if (peek(p, '?')) {
        const char *what = "an unknown group construct";
        if (p->pos + 1 < p->len && p->s[p->pos + 1] == ':') {
            p->pos += 2;
            goto body;
        }
        if (p->pos + 1 < p->len && p->s[p->pos + 1] == '=')
            what = "lookahead";
        else if (p->pos + 1 < p->len && p->s[p->pos + 1] == '!')
            what = "negative lookahead";
        else if (p->pos + 2 < p->len && p->s[p->pos + 1] == '<' &&
                 (p->s[p->pos + 2] == '=' || p->s[p->pos + 2] == '!'))
            what = "lookbehind";
        else if (p->pos + 1 < p->len && p->s[p->pos + 1] == '<')
            what = "a named group";
        fail(p, CAIRN_EUNSUPPORTED, at, "%s is not supported", what);
        return NULL;
    }
body:
    if (++p->depth > CAIRN_REGEX_MAX_DEPTH) {
        fail(p, CAIRN_ETOOBIG, at, "groups nested more than %d deep",
             CAIRN_REGEX_MAX_DEPTH);
        return NULL;
    }
    n = parse_alt(p);
    p->depth--;
    if (!n)
        return NULL;
    if (!peek(p, ')')) {
        fail(p, CAIRN_EPARSE, p->len, "missing closing parenthesis");
        return NULL;
    }
    p->pos++;
    return n;
}

/* "{n}", "{n,}" or "{n,m}" at pos: 1 with *min and *max set and pos moved, 0
 * when it is not a quantifier (then "{" is a literal), -1 on error. */
static int brace_quantifier(struct parser *p, uint32_t *min, uint32_t *max)
{
    size_t i = p->pos + 1, at = p->pos;
    uint64_t v[2] = {0, 0};
    int k = 0, digits = 0, comma = 0;

    for (; i < p->len && p->s[i] != '}'; i++) {
        unsigned char c = p->s[i];
        if (c >= '0' && c <= '9') {
            v[k] = v[k] * 10 + (uint64_t)(c - '0');
            if (v[k] > CAIRN_REGEX_MAX_REPEAT)
                v[k] = CAIRN_REGEX_MAX_REPEAT + 1;
            digits |= 1 << k;
        } else if (c == ',' && !comma) {
            comma = 1, k = 1;
        } else {
            return 0;
        }
    }
    if (i >= p->len || !(digits & 1))
        return 0;
    if (v[0] > CAIRN_REGEX_MAX_REPEAT || v[1] > CAIRN_REGEX_MAX_REPEAT)
        return fail(p, CAIRN_ETOOBIG, at, "repeat count over %d",
                    CAIRN_REGEX_MAX_REPEAT);
    *min = (uint32_t)v[0];
    *max = !comma ? *min : (digits & 2) ? (uint32_t)v[1] : REP_INF;
    if (*max < *min)
        return fail(p, CAIRN_EPARSE, at,
                    "numbers out of order in {} "
                    "quantifier");
    p->pos = i + 1;
    return 1;
}

/* A quantifier at pos: 1 (set), 0 (none), -1 (error). */
static int quantifier(struct parser *p, uint32_t *min, uint32_t *max)
{
    unsigned char c;
    int r;

    if (p->pos >= p->len)
        return 0;
    c = p->s[p->pos];
    if (c == '*' || c == '+' || c == '?') {
        *min = c == '+';
        *max = c == '?' ? 1 : REP_INF;
        p->pos++;
    } else if (c != '{' || (r = brace_quantifier(p, min, max)) == 0) {
        return 0;
    } else if (r < 0) {
        return -1;
    }
    if (peek(p, '?'))
        p->pos++; /* lazy: the same strings match */
    return 1;
}

/* An atom, or an assertion (*assertion set: it takes no quantifier). */
static struct node *parse_atom(struct parser *p, int *assertion)
{
    size_t at = p->pos;
    unsigned char c = p->s[p->pos];
    const struct range *t;
    struct node *n;
    uint32_t cp, mn, mx;
    size_t nt;
    int neg, r;

    *assertion = 0;
    switch (c) {
    case '^':
    case '$':
        p->pos++;
        *assertion = 1;
        return new_node(p, c == '^' ? K_BOL : K_EOL);
    case '.':
        p->pos++;
        return new_node(p, K_ANY);
    case '[':
        p->pos++;
        return parse_class(p);
    case '(':
        p->pos++;
        return parse_group(p);
    case ')':
        fail(p, CAIRN_EPARSE, at, "unmatched closing parenthesis");
        return NULL;
    case '*':
    case '+':
    case '?':
        fail(p, CAIRN_EPARSE, at,
             "quantifier does not follow a repeatable "
             "item");
        return NULL;
    case '{':
        if ((r = brace_quantifier(p, &mn, &mx)) != 0) {
            if (r > 0)
                fail(p, CAIRN_EPARSE, at,
                     "quantifier does not follow a "
                     "repeatable item");
            return NULL;
        }
        break; /* a literal "{" */
    case '\\':
        if (p->pos + 1 < p->len &&
            (p->s[p->pos + 1] == 'b' || p->s[p->pos + 1] == 'B')) {
            *assertion = 1;
            p->pos += 2;
            return new_node(p, p->s[p->pos - 1] == 'b' ? K_WORDB : K_NWORDB);
        }
        p->pos++;
        r = escape(p, 0, &cp, &t, &nt, &neg);
        if (r < 0)
            return NULL;
        if (r == 2)
            return table_node(p, t, nt, neg);
        n = new_node(p, K_CHAR);
        n->v = cp;
        return n;
    default:
        break;
    }
    if (utf8_next(p->s, p->len, &p->pos, &cp) != 0) {
        fail(p, CAIRN_EPARSE, at, "invalid UTF-8");
        return NULL;
    }
    n = new_node(p, K_CHAR);
    n->v = cp;
    return n;
}

/* A sequence of terms, up to "|" or ")" or the end. */
static struct node *parse_cat(struct parser *p)
{
    struct node *cat = new_node(p, K_CAT), **tail = &cat->kids, *a, *r;
    uint32_t min, max;
    int assertion, q;

    while (p->pos < p->len && p->s[p->pos] != '|' && p->s[p->pos] != ')') {
        size_t at = p->pos;
        if (!(a = parse_atom(p, &assertion)))
            return NULL;
        if ((q = quantifier(p, &min, &max)) < 0)
            return NULL;
        if (q && assertion) {
            fail(p, CAIRN_EPARSE, at, "an assertion cannot be repeated");
            return NULL;
        }
        if (q) {
            r = new_node(p, K_REPEAT);
            r->min = min, r->max = max, r->kids = a;
            a = r;
        }
        *tail = a;
        tail = &a->next;
    }
    return cat;
}

static struct node *parse_alt(struct parser *p)
{
    struct node *first = parse_cat(p), *alt, **tail;

    if (!first || !peek(p, '|'))
        return first;
    alt = new_node(p, K_ALT);
    alt->kids = first;
    tail = &first->next;
    while (peek(p, '|')) {
        p->pos++;
        if (!(*tail = parse_cat(p)))
            return NULL;
        tail = &(*tail)->next;
    }
    return alt;
}

/* ---- the program ------------------------------------------------------------
 */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;

    return s > CAIRN_REGEX_MAX_INSNS ? CAIRN_REGEX_MAX_INSNS + 1 : s;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > (CAIRN_REGEX_MAX_INSNS + 1) / b ? CAIRN_REGEX_MAX_INSNS + 1
                                                    : a * b;
}

/* Instructions node emits (saturated past the limit). */
static uint64_t size_of(const struct node *n)
{
    const struct node *k;
    uint64_t s = 0, e;

    switch (n->k) {
    case K_EMPTY:
        return 0;
    case K_CAT:
    case K_ALT:
        for (k = n->kids; k; k = k->next)
            s = sat_add(s,
                        sat_add(size_of(k), n->k == K_ALT && k->next ? 2 : 0));
        return s;
    case K_REPEAT:
        e = size_of(n->kids);
        s = sat_mul(e, n->min);
        if (n->max == REP_INF)
            return sat_add(s, n->min ? 1 : sat_add(e, 2));
        return sat_add(s, sat_mul(sat_add(e, 1), n->max - n->min));
    default:
        return 1;
    }
}

struct emitter {
    struct insn *prog;
    uint32_t n;
};

static uint32_t put(struct emitter *e, uint8_t op, uint32_t a, uint32_t b)
{
    e->prog[e->n].op = op;
    e->prog[e->n].a = a;
    e->prog[e->n].b = b;
    return e->n++;
}

static void emit(struct emitter *e, const struct node *n);

/* Jumps waiting for their target are chained through the target field
 * itself: it holds the previous waiting instruction's index + 1 (0 ends
 * the chain) until patch() writes the real target. */
static void patch(struct emitter *e, uint32_t chain, int field_b, uint32_t to)
{
    while (chain) {
        struct insn *in = &e->prog[chain - 1];
        uint32_t *f = field_b ? &in->b : &in->a;
        chain = *f;
        *f = to;
    }
}

static void emit_alt(struct emitter *e, const struct node *n)
{
    uint32_t chain = 0, split;
    const struct node *k;

    for (k = n->kids; k; k = k->next) {
        if (!k->next) {
            emit(e, k);
            break;
        }
        split = put(e, OP_SPLIT, e->n + 1, 0);
        emit(e, k);
        chain = put(e, OP_JMP, chain, 0) + 1; /* to the end */
        e->prog[split].b = e->n;              /* else the next branch */
    }
    patch(e, chain, 0, e->n);
}

static void emit_repeat(struct emitter *e, const struct node *n)
{
    uint32_t i, loop, split, chain = 0;

    for (i = 0; i + 1 < n->min; i++)
        emit(e, n->kids);
    if (n->max == REP_INF) {
        if (n->min) { /* x+ : x, then back to it or on */
            loop = e->n;
            emit(e, n->kids);
            put(e, OP_SPLIT, loop, e->n + 1);
        } else { /* x* */
            split = put(e, OP_SPLIT, e->n + 1, 0);
            emit(e, n->kids);
            put(e, OP_JMP, split, 0);
            e->prog[split].b = e->n;
        }
        return;
    }
    if (n->min)
        emit(e, n->kids);
    /* max - min optional copies; skipping one skips the rest */
    for (i = n->min; i < n->max; i++) {
        chain = put(e, OP_SPLIT, e->n + 1, chain) + 1;
        emit(e, n->kids);
    }
    patch(e, chain, 1, e->n);
}

static void emit(struct emitter *e, const struct node *n)
{
    const struct node *k;

    switch (n->k) {
    case K_EMPTY:
        break;
    case K_CHAR:
        put(e, OP_CHAR, n->v, 0);
        break;
    case K_ANY:
        put(e, OP_ANY, 0, 0);
        break;
    case K_CLASS:
        put(e, OP_CLASS, n->v, 0);
        break;
    case K_BOL:
        put(e, OP_BOL, 0, 0);
        break;
    case K_EOL:
        put(e, OP_EOL, 0, 0);
        break;
    case K_WORDB:
        put(e, OP_WORDB, 0, 0);
        break;
    case K_NWORDB:
        put(e, OP_NWORDB, 0, 0);
        break;
    case K_CAT:
        for (k = n->kids; k; k = k->next)
            emit(e, k);
        break;
    case K_ALT:
        emit_alt(e, n);
        break;
    case K_REPEAT:
        emit_repeat(e, n);
        break;
    }
}

/* Does every way through n start with "^"? */
static int starts_anchored(const struct node *n)
{
    const struct node *k;

    switch (n->k) {
    case K_BOL:
        return 1;
    case K_CAT:
        return n->kids && starts_anchored(n->kids);
    case K_ALT:
        for (k = n->kids; k; k = k->next)
            if (!starts_anchored(k))
                return 0;
        return 1;
    default:
        return 0;
    }
}

int cairn_regex_compile(const char *src, size_t len, struct cairn_regex **out,
                        struct cairn_diag *d)
{
    struct parser p;
    struct cairn_regex *re = NULL;
    struct emitter e;
    struct node *root;
    uint64_t size = 0;

    if (!src || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "regex: NULL argument");
    if (len > CAIRN_REGEX_MAX_LEN)
        return cairn_diag_set(d, CAIRN_ETOOBIG, "longer than %d bytes",
                              CAIRN_REGEX_MAX_LEN);
    memset(&p, 0, sizeof(p));
    p.s = (const unsigned char *)src;
    p.len = len;
    p.anodes = 3 * len + 4; /* at most an atom, a repeat and a list each */
    p.nodes = cairn_xcalloc(p.anodes, sizeof(*p.nodes));
    root = parse_alt(&p);
    if (root && p.pos < p.len)
        fail(&p, CAIRN_EPARSE, p.pos, "unmatched closing parenthesis");
    if (!p.err && (size = size_of(root)) + 1 > CAIRN_REGEX_MAX_INSNS)
        fail(&p, CAIRN_ETOOBIG, 0,
             "more than %d instructions once "
             "repetitions are expanded",
             CAIRN_REGEX_MAX_INSNS);
    if (p.err) {
        cairn_diag_set(d, p.err, "at offset %zu: %s", p.err_at, p.msg);
        goto out;
    }
    re = cairn_xcalloc(1, sizeof(*re));
    e.prog = cairn_xcalloc((size_t)size + 1, sizeof(*e.prog));
    e.n = 0;
    emit(&e, root);
    put(&e, OP_MATCH, 0, 0);
    re->prog = e.prog;
    re->n = e.n;
    re->ranges = p.ranges;
    re->nranges = p.nranges;
    re->classes = p.classes;
    re->ncls = p.ncls;
    re->anchored = starts_anchored(root);
    p.ranges = NULL;
    p.classes = NULL;
    *out = re;
out:
    free(p.nodes);
    free(p.ranges);
    free(p.classes);
    return re ? 0 : p.err;
}

void cairn_regex_free(struct cairn_regex *re)
{
    if (!re)
        return;
    free(re->prog);
    free(re->ranges);
    free(re->classes);
    free(re);
}

/* ---- the search --------------------------------------------------------- */

struct vm {
    const struct cairn_regex *re;
    uint32_t *cur, *nxt, *stack;
    uint32_t ncur, nnxt;
    uint32_t *mark; /* step at which each instruction was last queued */
    uint32_t step;
    /* the position the closure is computed at */
    uint32_t prev, next; /* characters either side, CP_NONE at the ends */
    int at_start, at_end;
};

static int is_word(uint32_t c)
{
    return c < 0x80 && (c == '_' || (c >= '0' && c <= '9') ||
                        ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

static void push(struct vm *v, uint32_t *sp, uint32_t pc)
{
    if (v->mark[pc] != v->step) {
        v->mark[pc] = v->step;
        v->stack[(*sp)++] = pc;
    }
}

/* Follow jumps, splits and assertions from pc at the current position;
 * queue the consuming instructions reached. 1 when MATCH is reached. */
static int add(struct vm *v, uint32_t pc)
{
    const struct insn *prog = v->re->prog;
    uint32_t sp = 0;

    push(v, &sp, pc);
    while (sp) {
        const struct insn *in = &prog[pc = v->stack[--sp]];
        switch (in->op) {
        case OP_MATCH:
            return 1;
        case OP_JMP:
            push(v, &sp, in->a);
            break;
        case OP_SPLIT:
            push(v, &sp, in->b);
            push(v, &sp, in->a);
            break;
        case OP_BOL:
            if (v->at_start)
                push(v, &sp, pc + 1);
            break;
        case OP_EOL:
            if (v->at_end)
                push(v, &sp, pc + 1);
            break;
        case OP_WORDB:
        case OP_NWORDB:
            if ((is_word(v->prev) != is_word(v->next)) == (in->op == OP_WORDB))
                push(v, &sp, pc + 1);
            break;
        default:
            v->nxt[v->nnxt++] = pc;
            break;
        }
    }
    return 0;
}

static int consumes(const struct cairn_regex *re, const struct insn *in,
                    uint32_t c)
{
    switch (in->op) {
    case OP_CHAR:
        return c == in->a;
    case OP_ANY: /* not a LineTerminator */
        return c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029;
    case OP_CLASS:
        return class_has(re, in->a, c);
    default:
        return 0;
    }
}

static uint32_t char_at(const char *s, size_t len, size_t pos, size_t *end)
{
    uint32_t c;

    *end = pos;
    if (pos >= len)
        return CP_NONE;
    if (utf8_next((const unsigned char *)s, len, end, &c) != 0) {
        *end = pos + 1;
        return CP_BAD + (unsigned char)s[pos];
    }
    return c;
}

static int run(struct vm *v, const char *s, size_t len)
{
    size_t pos = 0, end;
    uint32_t c = char_at(s, len, 0, &end), *t, i;

    v->prev = CP_NONE, v->next = c, v->at_start = 1, v->at_end = len == 0;
    v->step = 1;
    if (add(v, 0))
        return 1;
    for (;;) {
        t = v->cur, v->cur = v->nxt, v->nxt = t;
        v->ncur = v->nnxt, v->nnxt = 0;
        if (pos >= len || (v->ncur == 0 && v->re->anchored))
            return 0;
        /* advance every thread over c, to the next position */
        pos = end;
        v->prev = c;
        c = char_at(s, len, pos, &end);
        v->next = c, v->at_start = 0, v->at_end = pos >= len;
        if (++v->step == 0) { /* wrapped: forget every mark */
            memset(v->mark, 0, v->re->n * sizeof(*v->mark));
            v->step = 1;
        }
        for (i = 0; i < v->ncur; i++)
            if (consumes(v->re, &v->re->prog[v->cur[i]], v->prev) &&
                add(v, v->cur[i] + 1))
                return 1;
        if (!v->re->anchored && add(v, 0))
            return 1; /* a new thread starting here */
    }
}

int cairn_regex_search(const struct cairn_regex *re, const char *s, size_t len)
{
    uint32_t small[4 * STACK_INSNS], *mem = small;
    struct vm v;
    int rc;

    if (!re || (!s && len))
        return 0;
    if (re->n > STACK_INSNS)
        mem = cairn_xmalloc(4 * (size_t)re->n * sizeof(*mem));
    memset(&v, 0, sizeof(v));
    v.re = re;
    v.cur = mem;
    v.nxt = mem + re->n;
    v.stack = mem + 2 * (size_t)re->n;
    v.mark = mem + 3 * (size_t)re->n;
    memset(v.mark, 0, re->n * sizeof(*v.mark));
    rc = run(&v, s ? s : "", len);
    if (mem != small)
        free(mem);
    return rc;
}
