#include "strmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cairn/mem.h"

/* A tombstone keeps probe chains intact after a delete. */
static char tombstone[1];

static uint64_t seed(void)
{
    static uint64_t s;
    static int have;
    uint64_t v = 0;

    if (have)
        return s;
    /* getrandom never fails for 8 bytes once the pool is ready; when it
     * does anyway, a fixed seed still works, only less hardened. */
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
        v = 0x9e3779b97f4a7c15ull;
    s = v | 1;
    have = 1;
    return s;
}

/* FNV-1a over the key, mixed with the seed and a final avalanche. */
static uint64_t hash_str(const char *k)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed();

    for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

void cairn__strmap_init(struct cairn__strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void cairn__strmap_free(struct cairn__strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key && m->v[i].key != tombstone)
            free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Slot holding key, or the slot where it would go (first tombstone seen
 * or the empty slot ending the chain). */
static size_t find_slot(const struct cairn__strmap *m, const char *key,
                        uint64_t h, int *found)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask, grave = SIZE_MAX;

    for (;;) {
        struct cairn__strmap_ent *e = &m->v[i];

        if (!e->key) {
            *found = 0;
            return grave != SIZE_MAX ? grave : i;
        }
        if (e->key == tombstone) {
            if (grave == SIZE_MAX)
                grave = i;
        } else if (e->hash == h && strcmp(e->key, key) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void grow(struct cairn__strmap *m)
{
    struct cairn__strmap_ent *old = m->v;
    size_t oldcap = m->cap, ncap = m->cap ? m->cap : 16;

    while (m->n * 2 >= ncap)
        ncap *= 2;
    m->v = cairn_xcalloc(ncap, sizeof(*m->v));
    m->cap = ncap;
    m->used = m->n;
    for (size_t i = 0; i < oldcap; i++) {
        int found;
        size_t s;

        if (!old[i].key || old[i].key == tombstone)
            continue;
        s = find_slot(m, old[i].key, old[i].hash, &found);
        m->v[s] = old[i];
    }
    free(old);
}

void *cairn__strmap_get(const struct cairn__strmap *m, const char *key)
{
    int found;
    size_t s;

    if (!m->cap)
        return NULL;
    s = find_slot(m, key, hash_str(key), &found);
    return found ? m->v[s].val : NULL;
}

void *cairn__strmap_put(struct cairn__strmap *m, const char *key, void *val)
{
    uint64_t h = hash_str(key);
    int found;
    size_t s;
    void *prev;

    if ((m->used + 1) * 4 >= m->cap * 3)
        grow(m);
    s = find_slot(m, key, h, &found);
    if (found) {
        prev = m->v[s].val;
        m->v[s].val = val;
        return prev;
    }
    if (!m->v[s].key)
        m->used++;
    m->v[s].key = cairn_xstrdup(key);
    m->v[s].val = val;
    m->v[s].hash = h;
    m->n++;
    return NULL;
}

void *cairn__strmap_del(struct cairn__strmap *m, const char *key)
{
    int found;
    size_t s;
    void *prev;

    if (!m->cap)
        return NULL;
    s = find_slot(m, key, hash_str(key), &found);
    if (!found)
        return NULL;
    prev = m->v[s].val;
    free(m->v[s].key);
    m->v[s].key = tombstone;
    m->v[s].val = NULL;
    m->n--;
    return prev;
}

int cairn__strmap_next(const struct cairn__strmap *m, size_t *pos,
                       const char **key, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (!m->v[i].key || m->v[i].key == tombstone)
            continue;
        *key = m->v[i].key;
        if (val)
            *val = m->v[i].val;
        *pos = i + 1;
        return 1;
    }
    *pos = m->cap;
    return 0;
}
