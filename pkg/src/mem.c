#include "cairn/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "cairn: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cairn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom(n);
    return p;
}

void *cairn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);

    if (!p)
        oom(count * size);
    return p;
}

void *cairn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        oom(n);
    return q;
}

char *cairn_xstrdup(const char *s)
{
    return cairn_xstrndup(s, strlen(s));
}

char *cairn_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cairn_xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cairn_xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    p = cairn_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void cairn_buf_init(struct cairn_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : SIZE_MAX / 2;
}

void cairn_buf_free(struct cairn_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void cairn_buf_reset(struct cairn_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int reserve(struct cairn_buf *b, size_t n)
{
    size_t want;

    if (n > b->cap || b->len > b->cap - n)
        return CAIRN_ETOOBIG;
    want = b->len + n + 1;
    if (want <= b->alloc)
        return 0;
    if (b->alloc < 64)
        b->alloc = 64;
    while (b->alloc < want)
        b->alloc *= 2;
    b->data = cairn_xrealloc(b->data, b->alloc);
    return 0;
}

int cairn_buf_append(struct cairn_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cairn_buf_appendf(struct cairn_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CAIRN_EINVAL;
    rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *cairn_buf_steal(struct cairn_buf *b, size_t *len)
{
    char *p;

    if (!b->data) {
        /* Nothing appended yet: hand out an empty string, not NULL. */
        b->data = cairn_xcalloc(1, 1);
        b->len = 0;
    }
    p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return p;
}
