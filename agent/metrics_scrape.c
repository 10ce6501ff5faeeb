/*
 * The worker's /metrics: URL derivation and a strict, capped parser of the
 * Prometheus text exposition (see health.h and docs/internals/health.md).
 * Pure functions: no loop, no I/O.
 */
#include "health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cairn/mem.h"

#define MAX_LABELS 16

/* ---- URL ---- */

int cairn_metrics_url(const char *health_url, char **out, struct cairn_diag *d)
{
    const char *p, *auth;
    size_t scheme_len, n;

    if (!health_url || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "metrics url: NULL argument");
    if (strncasecmp(health_url, "http://", 7) == 0)
        scheme_len = 7;
    else if (strncasecmp(health_url, "https://", 8) == 0)
        scheme_len = 8;
    else
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: not an http(s) URL",
                              health_url);
    auth = health_url + scheme_len;
    n = strcspn(auth, "/?#");
    for (p = auth; p < auth + n; p++)
        if (*p == '@' || (unsigned char)*p <= 0x20 || *p == 0x7f)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s: user info or blanks in the host",
                                  health_url);
    if (n == 0 || auth[0] == ':')
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: no host", health_url);
    *out = cairn_xasprintf("%.*s%.*s/metrics", (int)scheme_len, health_url,
                           (int)n, auth);
    return 0;
}

/* ---- parser ---- */

struct label {
    const char *name, *value; /* value: raw, escapes not yet resolved */
    size_t name_len, value_len;
};

struct sample {
    const char *name;
    size_t name_len;
    struct label labels[MAX_LABELS];
    size_t nlabels;
    double value;
};

struct cursor {
    const char *p, *end;
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_blanks(struct cursor *c)
{
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
}

static int name_char(char ch, int first, int colon)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
        return 1;
    if (colon && ch == ':')
        return 1;
    return !first && ch >= '0' && ch <= '9';
}

/* A metric (colon) or label name; 0 when none is there. */
static size_t take_name(struct cursor *c, int colon)
{
    const char *s = c->p;

    while (c->p < c->end && name_char(*c->p, c->p == s, colon))
        c->p++;
    return (size_t)(c->p - s);
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) and no control characters but tab. */
static int text_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;

        if (b < 0x80) {
            if ((b < 0x20 && b != '\t') || b == 0x7f)
                return 0;
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf)
            len = 2, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
            len = 3, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf4)
            len = 4, cp = b & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return 0;
        i += len;
    }
    return 1;
}

/* A quoted label value; only \\ \" \n escapes. */
static const char *take_value(struct cursor *c, struct label *l)
{
    if (c->p >= c->end || *c->p != '"')
        return "expected '\"' before the label value";
    l->value = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\') {
            if (c->p + 1 >= c->end || !strchr("\\\"n", c->p[1]))
                return "bad escape in a label value (only \\\\ \\\" \\n)";
            c->p++;
        }
        c->p++;
    }
    if (c->p >= c->end)
        return "unterminated label value";
    l->value_len = (size_t)(c->p - l->value);
    c->p++;
    return NULL;
}

static const char *take_labels(struct cursor *c, struct sample *s)
{
    const char *why;

    c->p++; /* '{' */
    for (;;) {
        struct label *l;

        skip_blanks(c);
        if (c->p < c->end && *c->p == '}')
            break;
        if (s->nlabels == MAX_LABELS)
            return "more than 16 labels";
        l = &s->labels[s->nlabels];
        l->name = c->p;
        l->name_len = take_name(c, 0);
        if (!l->name_len)
            return "expected a label name";
        skip_blanks(c);
        if (c->p >= c->end || *c->p != '=')
            return "expected '=' after the label name";
        c->p++;
        skip_blanks(c);
        if ((why = take_value(c, l)))
            return why;
        for (size_t i = 0; i < s->nlabels; i++)
            if (s->labels[i].name_len == l->name_len &&
                memcmp(s->labels[i].name, l->name, l->name_len) == 0)
                return "duplicate label name";
        s->nlabels++;
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p >= c->end || *c->p != '}')
            return "expected ',' or '}' after a label";
        break;
    }
    c->p++; /* '}' */
    return NULL;
}

/* A float as the exposition writes it: [+-]digits[.digits][e[+-]digits]
 * (or .digits), or +Inf / -Inf / Inf / NaN. No hex, no "infinity". */
static int parse_value(const char *s, size_t n, double *out)
{
    char buf[64], *end;
    size_t i = 0, digits = 0;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "Inf") || !strcmp(buf, "-Inf") ||
        !strcmp(buf, "NaN")) {
        *out = buf[0] == '-' ? -INFINITY : buf[0] == 'N' ? NAN : INFINITY;
        return 0;
    }
    if (buf[i] == '+' || buf[i] == '-')
        i++;
    for (; buf[i] >= '0' && buf[i] <= '9'; i++)
        digits++;
    if (buf[i] == '.')
        for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
            digits++;
    if (!digits)
        return -1;
    if (buf[i] == 'e' || buf[i] == 'E') {
        size_t exp_digits = 0;

        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        for (; buf[i] >= '0' && buf[i] <= '9'; i++)
            exp_digits++;
        if (!exp_digits)
            return -1;
    }
    if (i != n)
        return -1;
    *out = strtod(buf, &end);
    return end == buf + n ? 0 : -1;
}

static int parse_timestamp(const char *s, size_t n)
{
    size_t i = (n && s[0] == '-') ? 1 : 0;

    if (i == n || n - i > 19)
        return -1;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    return 0;
}

static size_t token(struct cursor *c)
{
    const char *s = c->p;

    while (c->p < c->end && !is_blank(*c->p))
        c->p++;
    return (size_t)(c->p - s);
}

static const char *parse_sample(const char *line, size_t n, struct sample *s)
{
    struct cursor c = {line, line + n};
    const char *why, *v, *mark;
    size_t vn;

    memset(s, 0, sizeof(*s));
    s->name = c.p;
    s->name_len = take_name(&c, 1);
    if (!s->name_len)
        return "expected a metric name";
    mark = c.p;
    skip_blanks(&c);
    if (c.p < c.end && *c.p == '{') {
        if ((why = take_labels(&c, s)))
            return why;
        mark = c.p;
        skip_blanks(&c);
    }
    if (c.p >= c.end)
        return "missing sample value";
    if (c.p == mark)
        return "expected a blank before the value";
    v = c.p;
    vn = token(&c);
    if (parse_value(v, vn, &s->value))
        return "bad sample value";
    skip_blanks(&c);
    if (c.p < c.end) {
        const char *ts = c.p;
        size_t tn = token(&c);

        if (parse_timestamp(ts, tn))
            return "bad timestamp";
        skip_blanks(&c);
        if (c.p < c.end)
            return "trailing data after the timestamp";
    }
    return NULL;
}

static int label_cmp(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int r = memcmp(x->name, y->name, n);

    return r ? r : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* name{a="x",b="y"} with labels sorted and values re-escaped the way the
 * exposition writes them; -1 past the key cap. */
static int flatten(struct sample *s, char *out, size_t cap)
{
    struct cairn_buf b;
    int rc = 0;

    cairn_buf_init(&b, cap - 1); /* room for the NUL in out */
    qsort(s->labels, s->nlabels, sizeof(s->labels[0]), label_cmp);
    rc |= cairn_buf_append(&b, s->name, s->name_len);
    for (size_t i = 0; i < s->nlabels && !rc; i++) {
        rc |= cairn_buf_appendf(&b, "%s%.*s=\"", i ? "," : "{",
                                (int)s->labels[i].name_len, s->labels[i].name);
        /* The raw value already holds exactly the three escapes. */
        rc |= cairn_buf_append(&b, s->labels[i].value, s->labels[i].value_len);
        rc |= cairn_buf_append(&b, "\"", 1);
    }
    if (s->nlabels && !rc)
        rc |= cairn_buf_append(&b, "}", 1);
    if (!rc)
        memcpy(out, b.data, b.len + 1);
    cairn_buf_free(&b);
    return rc ? -1 : 0;
}

struct parse_state {
    json_t *obj, *seen;
    size_t kept, dropped, max;
};

static int take_line(struct parse_state *st, const char *line, size_t n,
                     size_t lineno, struct cairn_diag *d)
{
    char key[CAIRN_METRICS_KEY_MAX + 1];
    struct sample s;
    const char *why;

    while (n && is_blank(line[n - 1]))
        n--;
    while (n && is_blank(*line))
        line++, n--;
    if (n == 0 || line[0] == '#')
        return 0;
    if ((why = parse_sample(line, n, &s)))
        return cairn_diag_set(d, CAIRN_EPARSE, "metrics line %zu: %s", lineno,
                              why);
    if (flatten(&s, key, sizeof(key)))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "metrics line %zu: series name over %d "
                              "bytes",
                              lineno, CAIRN_METRICS_KEY_MAX);
    if (json_object_get(st->seen, key))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "metrics line %zu: duplicate series %s", lineno,
                              key);
    json_object_set_new(st->seen, key, json_true());
    if (!isfinite(s.value))
        return 0;
    if (st->kept == st->max) {
        st->dropped++;
        return 0;
    }
    json_object_set_new(st->obj, key, json_real(s.value));
    st->kept++;
    return 0;
}

int cairn_metrics_parse(const char *text, size_t len, size_t max_samples,
                        json_t **out, size_t *dropped, struct cairn_diag *d)
{
    struct parse_state st = {json_object(), json_object(), 0, 0, max_samples};
    size_t lineno = 0, pos = 0;
    int rc = 0;

    if ((!text && len) || !out)
        rc = cairn_diag_set(d, CAIRN_EINVAL, "metrics: NULL argument");
    else if (len > CAIRN_METRICS_BODY_MAX)
        rc = cairn_diag_set(d, CAIRN_ETOOBIG, "metrics: %zu bytes, over %u",
                            len, CAIRN_METRICS_BODY_MAX);
    while (!rc && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t raw = nl ? (size_t)(nl - (text + pos)) : len - pos, n = raw;

        lineno++;
        if (n && text[pos + n - 1] == '\r')
            n--;
        if (n > CAIRN_METRICS_LINE_MAX)
            rc = cairn_diag_set(d, CAIRN_EPARSE,
                                "metrics line %zu: over %d bytes", lineno,
                                CAIRN_METRICS_LINE_MAX);
        else if (!text_ok((const unsigned char *)text + pos, n))
            rc = cairn_diag_set(d, CAIRN_EPARSE,
                                "metrics line %zu: control characters or "
                                "invalid UTF-8",
                                lineno);
        else
            rc = take_line(&st, text + pos, n, lineno, d);
        pos += raw + (nl ? 1 : 0);
    }
    json_decref(st.seen);
    if (rc) {
        json_decref(st.obj);
        return rc;
    }
    *out = st.obj;
    if (dropped)
        *dropped = st.dropped;
    return 0;
}
