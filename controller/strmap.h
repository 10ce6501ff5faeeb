/*
 * A string-keyed hash map (open addressing, linear probing) for the
 * controller's indexes: sites by name, the parse cache by blob id, the
 * render state by site. Keys are copied; values are borrowed pointers the
 * caller manages. The hash is seeded per process, so names chosen by a
 * committer cannot be crafted to collide.
 *
 * Not thread-safe; a map belongs to one pipeline at a time.
 */
#ifndef CAIRN_STRMAP_H
#define CAIRN_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct cairn__strmap_ent {
    char *key; /* NULL: empty slot */
    void *val;
    uint64_t hash;
};

struct cairn__strmap {
    struct cairn__strmap_ent *v;
    size_t cap;  /* power of two, or 0 */
    size_t n;    /* live entries */
    size_t used; /* live + tombstones */
};

void cairn__strmap_init(struct cairn__strmap *m);
/* Frees the keys; the values are the caller's. NULL ok. */
void cairn__strmap_free(struct cairn__strmap *m);

/* The value for key, or NULL when absent. */
void *cairn__strmap_get(const struct cairn__strmap *m, const char *key);
/* Insert or replace; returns the previous value (NULL when new). */
void *cairn__strmap_put(struct cairn__strmap *m, const char *key, void *val);
/* Remove; returns the value that was there (NULL when absent). */
void *cairn__strmap_del(struct cairn__strmap *m, const char *key);

/* Iterate: start with *pos = 0; returns 0 at the end. Order is arbitrary:
 * never let it reach output. */
int cairn__strmap_next(const struct cairn__strmap *m, size_t *pos,
                       const char **key, void **val);

#endif
