/*
 * The source map: one entry per node as written, a container's children
 * stored contiguously (a mapping's sorted by key), so that a JSON pointer
 * is resolved one segment at a time with a binary search. Building costs
 * O(n log n) and memory linear in the input: no pointer strings are
 * stored, and nothing hashes attacker-chosen keys.
 */
#include "yaml_int.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

/* Grow *p (elements of size sz) to hold at least need elements. */
static void *grow(void *p, size_t *alloc, size_t need, size_t sz)
{
    size_t a = *alloc ? *alloc : 16;

    if (need <= *alloc)
        return p;
    while (a < need)
        a *= 2;
    *alloc = a;
    return cairn_xrealloc(p, a * sz);
}

void cairn__srcmap_free(struct cairn__srcmap *m)
{
    free(m->ents);
    free(m->kids);
    free(m->keys);
    memset(m, 0, sizeof(*m));
}

uint32_t cairn__srcmap_add(struct cairn__srcmap *m, int line, int col,
                           enum cairn__srckind kind)
{
    struct cairn__srcent *e;

    m->ents = grow(m->ents, &m->alloc, m->n + 1, sizeof(*m->ents));
    e = &m->ents[m->n];
    memset(e, 0, sizeof(*e));
    e->alias = CAIRN__SRC_NONE;
    e->line = line;
    e->col = col;
    e->kind = (unsigned char)kind;
    return (uint32_t)m->n++;
}

void cairn__srcmap_set_key(struct cairn__srcmap *m, uint32_t id,
                           const char *key, size_t len, int kline, int kcol)
{
    struct cairn__srcent *e = &m->ents[id];

    m->keys = grow(m->keys, &m->keys_alloc, m->keys_len + len + 1, 1);
    memcpy(m->keys + m->keys_len, key, len);
    e->key_off = (uint32_t)m->keys_len;
    e->key_len = (uint32_t)len;
    e->kline = kline;
    e->kcol = kcol;
    m->keys_len += len;
}

static int keycmp(const struct cairn__srcmap *m, const struct cairn__srcent *e,
                  const char *key, size_t len)
{
    size_t n = e->key_len < len ? e->key_len : len;
    int c = memcmp(m->keys + e->key_off, key, n);

    if (c != 0)
        return c;
    return e->key_len < len ? -1 : e->key_len > len ? 1 : 0;
}

static int kid_cmp(const void *a, const void *b, void *arg)
{
    const struct cairn__srcmap *m = arg;
    const struct cairn__srcent *y = &m->ents[*(const uint32_t *)b];

    return keycmp(m, &m->ents[*(const uint32_t *)a], m->keys + y->key_off,
                  y->key_len);
}

void cairn__srcmap_close(struct cairn__srcmap *m, uint32_t id,
                         const uint32_t *kids, size_t n)
{
    struct cairn__srcent *e = &m->ents[id];

    m->kids = grow(m->kids, &m->kids_alloc, m->nkids + n, sizeof(*m->kids));
    if (n)
        memcpy(m->kids + m->nkids, kids, n * sizeof(*kids));
    e->kids = (uint32_t)m->nkids;
    e->nkids = (uint32_t)n;
    m->nkids += n;
    if (e->kind == CAIRN__SRC_MAP && n > 1)
        qsort_r(m->kids + e->kids, n, sizeof(*m->kids), kid_cmp, m);
}

/* RFC 6901 array index: "0" or digits without a leading zero. */
static const struct cairn__srcent *seq_child(const struct cairn__srcmap *m,
                                             const struct cairn__srcent *e,
                                             const char *seg, size_t len)
{
    size_t idx = 0;

    if (len == 0 || len > 10 || (seg[0] == '0' && len > 1))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(seg[i] - '0');
    }
    return idx < e->nkids ? &m->ents[m->kids[e->kids + idx]] : NULL;
}

static const struct cairn__srcent *map_child(const struct cairn__srcmap *m,
                                             const struct cairn__srcent *e,
                                             const char *key, size_t len)
{
    size_t lo = 0, hi = e->nkids;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cairn__srcent *k = &m->ents[m->kids[e->kids + mid]];
        int c = keycmp(m, k, key, len);
        if (c == 0)
            return k;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Decode one escaped segment (up to '/' or the end) into buf, which has
 * room for it. Returns its decoded length, or -1 for a bad "~" escape. */
static long unescape(const char *seg, size_t raw, char *buf)
{
    size_t o = 0;

    for (size_t i = 0; i < raw; i++) {
        if (seg[i] != '~') {
            buf[o++] = seg[i];
            continue;
        }
        if (i + 1 >= raw || (seg[i + 1] != '0' && seg[i + 1] != '1'))
            return -1;
        buf[o++] = seg[i + 1] == '0' ? '~' : '/';
        i++;
    }
    return (long)o;
}

static const struct cairn__srcent *child(const struct cairn__srcmap *m,
                                         const struct cairn__srcent *e,
                                         const char *seg, size_t len)
{
    /* An alias owns no entries for its copy: look in what it copies. Alias
     * targets always come earlier in the file, so this ends. */
    while (e->alias != CAIRN__SRC_NONE)
        e = &m->ents[e->alias];
    if (e->kind == CAIRN__SRC_SEQ)
        return seq_child(m, e, seg, len);
    if (e->kind == CAIRN__SRC_MAP)
        return map_child(m, e, seg, len);
    return NULL;
}

const struct cairn__srcent *cairn__srcmap_find(const struct cairn__srcmap *m,
                                               const char *ptr)
{
    const struct cairn__srcent *cur = &m->ents[0], *next;
    char small[256], *buf = small;
    size_t plen = strlen(ptr);

    if (plen >= sizeof(small))
        buf = cairn_xmalloc(plen + 1);
    while (*ptr == '/') {
        size_t raw = strcspn(ptr + 1, "/");
        long len = unescape(ptr + 1, raw, buf);
        if (len < 0)
            break;
        next = child(m, cur, buf, (size_t)len);
        if (!next)
            break;
        cur = next;
        ptr += 1 + raw;
    }
    if (buf != small)
        free(buf);
    return cur;
}
