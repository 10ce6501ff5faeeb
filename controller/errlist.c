#include "errlist.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

void cairn_errlist_init(struct cairn_errlist *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max ? max : 1000;
    cairn__strmap_init(&l->index);
}

static void err_free(struct cairn_err *e)
{
    free(e->file);
    free(e->text);
    for (size_t i = 0; i < e->nkept; i++)
        free(e->sites[i]);
    free(e->last_site);
}

void cairn_errlist_free(struct cairn_errlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        err_free(&l->v[i]);
    free(l->v);
    cairn__strmap_free(&l->index);
    memset(l, 0, sizeof(*l));
}

/* Keep the alphabetically first names, so that the message does not
 * depend on the order (or threads) the sites were rendered in. */
static void add_site(struct cairn_err *e, const char *site)
{
    size_t at;

    if (!site || (e->last_site && strcmp(e->last_site, site) == 0))
        return;
    free(e->last_site);
    e->last_site = cairn_xstrdup(site);
    for (at = 0; at < e->nkept; at++) {
        int c = strcmp(site, e->sites[at]);

        if (c == 0)
            return; /* seen before */
        if (c < 0)
            break;
    }
    e->nsites++;
    if (at == CAIRN_ERRLIST_SITES_SHOWN)
        return;
    if (e->nkept == CAIRN_ERRLIST_SITES_SHOWN)
        free(e->sites[--e->nkept]);
    memmove(&e->sites[at + 1], &e->sites[at], (e->nkept - at) * sizeof(char *));
    e->sites[at] = cairn_xstrdup(site);
    e->nkept++;
}

/* The error with this location and text, added when new (NULL when the
 * list is full). Takes ownership of text. */
static struct cairn_err *find_or_add(struct cairn_errlist *l, int code,
                                     const char *file, int line, int col,
                                     char *text)
{
    char *key =
        cairn_xasprintf("%s:%d:%d:%s", file ? file : "", line, col, text);
    uintptr_t idx = (uintptr_t)cairn__strmap_get(&l->index, key);
    struct cairn_err *e = NULL;

    if (idx) {
        e = &l->v[idx - 1];
        goto out;
    }
    if (l->n >= l->max) {
        l->dropped++;
        goto out;
    }
    if (l->n == l->alloc) {
        l->alloc = l->alloc ? l->alloc * 2 : 16;
        l->v = cairn_xrealloc(l->v, l->alloc * sizeof(*l->v));
    }
    e = &l->v[l->n++];
    memset(e, 0, sizeof(*e));
    e->file = cairn_xstrdup(file ? file : "");
    e->line = line;
    e->col = col;
    e->text = text;
    text = NULL;
    e->code = code;
    cairn__strmap_put(&l->index, key, (void *)(uintptr_t)l->n);
out:
    free(text);
    free(key);
    return e;
}

static void add(struct cairn_errlist *l, int code, const char *site,
                const char *file, int line, int col, char *text)
{
    struct cairn_err *e = find_or_add(l, code, file, line, col, text);

    if (e)
        add_site(e, site);
}

static char *vfmt(const char *ptr, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *vfmt(const char *ptr, const char *fmt, va_list ap)
{
    char msg[2048];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (ptr)
        return cairn_xasprintf("%s: %s", *ptr ? ptr : "/", msg);
    return cairn_xstrdup(msg);
}

void cairn_errlist_add(struct cairn_errlist *l, int code, const char *site,
                       const char *file, int line, int col, const char *ptr,
                       const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = vfmt(ptr, fmt, ap);
    va_end(ap);
    add(l, code, site, file, line, col, text);
}

void cairn_errlist_addloc(struct cairn_errlist *l, int code, const char *site,
                          struct cairn_loc loc, const char *ptr,
                          const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = vfmt(ptr, fmt, ap);
    va_end(ap);
    add(l, code, site, loc.file, loc.line, loc.col, text);
}

/* Split "file:line:col: rest" so that raw messages sort with the others. */
void cairn_errlist_add_raw(struct cairn_errlist *l, int code, const char *site,
                           const char *msg)
{
    const char *c1 = strchr(msg, ':'), *p;
    char *end;
    long line = 0, col = 0;
    char *file;

    if (!c1 || c1 == msg || memchr(msg, ' ', (size_t)(c1 - msg)))
        goto plain;
    line = strtol(c1 + 1, &end, 10);
    if (end == c1 + 1 || *end != ':' || line <= 0)
        goto plain;
    p = end;
    col = strtol(p + 1, &end, 10);
    if (end == p + 1 || *end != ':' || col <= 0)
        goto plain;
    p = end + 1;
    while (*p == ' ')
        p++;
    file = cairn_xstrndup(msg, (size_t)(c1 - msg));
    add(l, code, site, file, (int)line, (int)col, cairn_xstrdup(p));
    free(file);
    return;
plain:
    add(l, code, site, NULL, 0, 0, cairn_xstrdup(msg));
}

void cairn_errlist_merge(struct cairn_errlist *dst, struct cairn_errlist *src)
{
    for (size_t i = 0; i < src->n; i++) {
        struct cairn_err *e = &src->v[i], *to;

        to = find_or_add(dst, e->code, e->file, e->line, e->col,
                         cairn_xstrdup(e->text));
        if (!to)
            continue;
        for (size_t s = 0; s < e->nkept; s++)
            add_site(to, e->sites[s]);
        /* names past the kept ones were never stored: count them only */
        to->nsites += e->nsites - e->nkept;
    }
    dst->dropped += src->dropped;
    cairn_errlist_free(src);
    cairn_errlist_init(src, dst->max);
}

size_t cairn_errlist_count(const struct cairn_errlist *l)
{
    return l->n + l->dropped;
}

static int cmp_err(const void *pa, const void *pb)
{
    const struct cairn_err *a = pa, *b = pb;
    int c = strcmp(a->file, b->file);

    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    return strcmp(a->text, b->text);
}

static void sort(struct cairn_errlist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_err);
    /* the index maps to positions: rebuild it after sorting */
    cairn__strmap_free(&l->index);
    cairn__strmap_init(&l->index);
    for (size_t i = 0; i < l->n; i++) {
        struct cairn_err *e = &l->v[i];
        char *key =
            cairn_xasprintf("%s:%d:%d:%s", e->file, e->line, e->col, e->text);

        cairn__strmap_put(&l->index, key, (void *)(uintptr_t)(i + 1));
        free(key);
    }
}

int cairn_errlist_code(struct cairn_errlist *l)
{
    if (l->n == 0)
        return 0;
    sort(l);
    return l->v[0].code;
}

static void format_one(const struct cairn_err *e, struct cairn_buf *b)
{
    int rc = 0;

    if (e->file[0] && e->line > 0)
        rc |= cairn_buf_appendf(b, "%s:%d:%d: ", e->file, e->line, e->col);
    else if (e->file[0])
        rc |= cairn_buf_appendf(b, "%s: ", e->file);
    rc |= cairn_buf_appendf(b, "%s", e->text);
    if (e->nsites == 1 && e->nkept == 1)
        rc |= cairn_buf_appendf(b, " (site %s)", e->sites[0]);
    else if (e->nsites > 1) {
        rc |= cairn_buf_appendf(b, " (sites ");
        for (size_t i = 0; i < e->nkept; i++)
            rc |= cairn_buf_appendf(
                b, "%s%s", i == 0 ? "" : (i + 1 == e->nsites ? " and " : ", "),
                e->sites[i]);
        if (e->nsites > e->nkept)
            rc |= cairn_buf_appendf(b, " and %zu more", e->nsites - e->nkept);
        rc |= cairn_buf_appendf(b, ")");
    }
    rc |= cairn_buf_append(b, "\n", 1);
    if (rc)
        abort(); /* uncapped buffer */
}

char *cairn_errlist_format(struct cairn_errlist *l, size_t max_bytes)
{
    struct cairn_buf out, one;
    size_t left = 0;

    sort(l);
    cairn_buf_init(&out, 0);
    cairn_buf_init(&one, 0);
    /* an empty append allocates and terminates: steal() then gives "" */
    if (cairn_buf_append(&out, "", 0) != 0)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        cairn_buf_reset(&one);
        format_one(&l->v[i], &one);
        if (max_bytes && out.len + one.len > max_bytes) {
            left = l->n - i;
            break;
        }
        if (cairn_buf_append(&out, one.data, one.len) != 0)
            abort();
    }
    left += l->dropped;
    if (left &&
        cairn_buf_appendf(&out, "... and %zu more error(s)\n", left) != 0)
        abort();
    cairn_buf_free(&one);
    return cairn_buf_steal(&out, NULL);
}

void cairn_errlist_print(struct cairn_errlist *l, FILE *out)
{
    char *s = cairn_errlist_format(l, 0);

    fputs(s, out);
    free(s);
}
