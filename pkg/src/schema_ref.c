/*
 * $ref support: RFC 3986 reference resolution (so that "$id" bases and
 * relative references inside one document agree with other validators) and
 * RFC 6901 JSON pointers written as URI fragments ("#/definitions/a%25b").
 */
#include "schema_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

/* The five components of a URI reference (RFC 3986 section 3), as slices
 * of the parsed string. */
struct uri {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n, frag_n;
    bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_parse(const char *s, struct uri *u)
{
    const char *p = s, *q;

    memset(u, 0, sizeof(*u));
    if (isalpha((unsigned char)*p)) {
        q = p + 1;
        while (isalnum((unsigned char)*q) || (*q && strchr("+-.", *q)))
            q++;
        if (*q == ':') {
            u->has_scheme = true;
            u->scheme = p;
            u->scheme_n = (size_t)(q - p);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        u->has_auth = true;
        p += 2;
        u->auth = p;
        p += strcspn(p, "/?#");
        u->auth_n = (size_t)(p - u->auth);
    }
    u->path = p;
    p += strcspn(p, "?#");
    u->path_n = (size_t)(p - u->path);
    if (*p == '?') {
        u->has_query = true;
        u->query = ++p;
        p += strcspn(p, "#");
        u->query_n = (size_t)(p - u->query);
    }
    if (*p == '#') {
        u->has_frag = true;
        u->frag = ++p;
        u->frag_n = strlen(p);
    }
}

static bool starts(const char *in, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    return n >= k && memcmp(in, prefix, k) == 0;
}

static bool equals(const char *in, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(in, s, n) == 0;
}

/* Drop the last "/segment" written to out[start..*len). */
static void drop_last(char *out, size_t start, size_t *len)
{
    while (*len > start && out[*len - 1] != '/')
        (*len)--;
    if (*len > start)
        (*len)--;
}

/* RFC 3986 section 5.2.4, appending the result to out at *len. */
static void remove_dots(const char *in, size_t n, char *out, size_t *len)
{
    size_t start = *len, seg;

    while (n > 0) {
        if (starts(in, n, "../")) {
            in += 3, n -= 3;
        } else if (starts(in, n, "./") || starts(in, n, "/./")) {
            in += 2, n -= 2;
        } else if (equals(in, n, "/.")) {
            in = "/", n = 1;
        } else if (starts(in, n, "/../")) {
            in += 3, n -= 3;
            drop_last(out, start, len);
        } else if (equals(in, n, "/..")) {
            in = "/", n = 1;
            drop_last(out, start, len);
        } else if (equals(in, n, ".") || equals(in, n, "..")) {
            n = 0;
        } else {
            /* move "/segment" (or a leading "segment") to the output */
            for (seg = 1; seg < n && in[seg] != '/'; seg++)
                ;
            memcpy(out + *len, in, seg);
            *len += seg;
            in += seg, n -= seg;
        }
    }
}

static void put(char *out, size_t *len, const char *s, size_t n)
{
    memcpy(out + *len, s, n);
    *len += n;
}

/* RFC 3986 section 5.2.2 with the merge of 5.2.3. */
static void resolve_path(const struct uri *b, const struct uri *r, char *out,
                         size_t *len)
{
    size_t keep;

    if (r->has_auth || (r->path_n > 0 && r->path[0] == '/')) {
        remove_dots(r->path, r->path_n, out, len);
        return;
    }
    if (r->path_n == 0) {
        put(out, len, b->path, b->path_n);
        return;
    }
    if (b->has_auth && b->path_n == 0) {
        out[(*len)++] = '/';
        remove_dots(r->path, r->path_n, out, len);
        return;
    }
    /* merge: the base path up to its last "/", then the reference */
    keep = b->path_n;
    while (keep > 0 && b->path[keep - 1] != '/')
        keep--;
    {
        char *merged = cairn_xmalloc(keep + r->path_n + 1);
        memcpy(merged, b->path, keep);
        memcpy(merged + keep, r->path, r->path_n);
        remove_dots(merged, keep + r->path_n, out, len);
        free(merged);
    }
}

char *cairn__uri_resolve(const char *base, const char *ref)
{
    struct uri b, r;
    const struct uri *head, *q;
    char *out;
    size_t len = 0;

    uri_parse(base, &b);
    uri_parse(ref, &r);
    out = cairn_xmalloc(strlen(base) + strlen(ref) + 8);
    head = r.has_scheme ? &r : &b;
    if (head->has_scheme) {
        put(out, &len, head->scheme, head->scheme_n);
        out[len++] = ':';
    }
    if (!r.has_scheme && r.has_auth)
        head = &r;
    if (head->has_auth) {
        put(out, &len, "//", 2);
        put(out, &len, head->auth, head->auth_n);
    }
    if (r.has_scheme)
        remove_dots(r.path, r.path_n, out, &len);
    else
        resolve_path(&b, &r, out, &len);
    q = r.has_scheme || r.has_auth || r.path_n || r.has_query ? &r : &b;
    if (q->has_query) {
        out[len++] = '?';
        put(out, &len, q->query, q->query_n);
    }
    if (r.frag_n) {
        out[len++] = '#';
        put(out, &len, r.frag, r.frag_n);
    }
    out[len] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s into out (at least strlen(s)+1 bytes); -1 on a bad
 * escape. May produce NUL bytes, hence the length. */
static long pct_decode(const char *s, char *out)
{
    size_t n = 0;

    for (; *s; s++) {
        if (*s != '%') {
            out[n++] = *s;
            continue;
        }
        if (hexval(s[1]) < 0 || hexval(s[2]) < 0)
            return -1;
        out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
        s += 2;
    }
    out[n] = '\0';
    return (long)n;
}

/* One reference token: "~1" is "/", "~0" is "~", any other "~" is bad. */
static long unescape_token(const char *s, size_t n, char *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '~') {
            out[k++] = s[i];
            continue;
        }
        if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))
            return -1;
        out[k++] = s[++i] == '0' ? '~' : '/';
    }
    return (long)k;
}

static json_t *step(json_t *cur, const char *tok, size_t n)
{
    size_t idx = 0;

    if (json_is_object(cur))
        return json_object_getn(cur, tok, n);
    if (!json_is_array(cur) || n == 0 || n > 18 || (tok[0] == '0' && n > 1))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
    }
    return json_array_get(cur, idx);
}

int cairn__pointer_eval(json_t *root, const char *frag, json_t **out, char *why,
                        size_t n)
{
    char *ptr = cairn_xmalloc(strlen(frag) + 1);
    char *tok = cairn_xmalloc(strlen(frag) + 1);
    json_t *cur = root;
    long len = pct_decode(frag, ptr), tlen;
    size_t pos = 0, end;
    int rc = CAIRN_ENOENT;

    if (len < 0) {
        snprintf(why, n, "bad percent-escape in the fragment");
        goto out;
    }
    if (len > 0 && ptr[0] != '/') {
        snprintf(why, n, "the fragment is not a JSON pointer");
        goto out;
    }
    while (pos < (size_t)len) {
        end = pos + 1;
        while (end < (size_t)len && ptr[end] != '/')
            end++;
        tlen = unescape_token(ptr + pos + 1, end - pos - 1, tok);
        cur = tlen < 0 ? NULL : step(cur, tok, (size_t)tlen);
        if (!cur) {
            snprintf(why, n, "nothing at \"%.*s\"", (int)end, ptr);
            goto out;
        }
        pos = end;
    }
    *out = cur;
    rc = 0;
out:
    free(ptr);
    free(tok);
    return rc;
}
