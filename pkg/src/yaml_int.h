/*
 * Internals shared by yaml.c (the event loop), yaml_scalar.c (core-schema
 * typing of scalars) and yaml_srcmap.c (the pointer -> file:line:col map).
 * Not installed; nothing outside the yaml module includes it.
 */
#ifndef CAIRN_YAML_INT_H
#define CAIRN_YAML_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- scalars (yaml_scalar.c) ---- */

enum cairn__ytag {
    CAIRN__YTAG_NONE, /* no tag: resolve by the core schema */
    CAIRN__YTAG_STR,
    CAIRN__YTAG_INT,
    CAIRN__YTAG_FLOAT,
    CAIRN__YTAG_BOOL,
    CAIRN__YTAG_NULL,
    CAIRN__YTAG_MAP,
    CAIRN__YTAG_SEQ,
    CAIRN__YTAG_UNKNOWN
};

/* Classify a resolved tag as libyaml reports it (NULL: no tag). */
enum cairn__ytag cairn__yaml_tag(const char *tag);

/* The JSON value of scalar text s (n bytes, NUL-terminated as libyaml
 * gives it). plain: written without quotes or block indicators, so the
 * core schema applies. Returns a new value, or NULL with *why set to a
 * static reason ("integer out of range", ...). */
json_t *cairn__yaml_scalar(const char *s, size_t n, int plain,
                           enum cairn__ytag tag, const char **why);

/* ---- source map (yaml_srcmap.c) ---- */

#define CAIRN__SRC_NONE UINT32_MAX

enum cairn__srckind { CAIRN__SRC_SCALAR, CAIRN__SRC_SEQ, CAIRN__SRC_MAP };

/* One node as written in the file (an alias is one node: its copy of the
 * anchored subtree is found through `alias`). */
struct cairn__srcent {
    uint32_t key_off, key_len; /* member key in keys[] (mapping members) */
    uint32_t kids, nkids;      /* children in kids[]; a map's sorted by key */
    uint32_t alias;            /* anchored entry this alias copies, or NONE */
    int line, col;             /* where the node starts, 1-based */
    int kline, kcol;           /* where its key starts (mapping members) */
    unsigned char kind;        /* enum cairn__srckind */
};

struct cairn__srcmap {
    struct cairn__srcent *ents; /* ents[0] is the root */
    size_t n, alloc;
    uint32_t *kids;
    size_t nkids, kids_alloc;
    char *keys;
    size_t keys_len, keys_alloc;
};

void cairn__srcmap_free(struct cairn__srcmap *m);
/* Append a node; returns its id (ids rise in document order). */
uint32_t cairn__srcmap_add(struct cairn__srcmap *m, int line, int col,
                           enum cairn__srckind kind);
/* Record the mapping key that names node id. */
void cairn__srcmap_set_key(struct cairn__srcmap *m, uint32_t id,
                           const char *key, size_t len, int kline, int kcol);
/* A container ended: copy its n children (document order) in. */
void cairn__srcmap_close(struct cairn__srcmap *m, uint32_t id,
                         const uint32_t *kids, size_t n);
/* The node a JSON pointer reaches, or its nearest existing ancestor; the
 * root when nothing matches. Requires m->n > 0. */
const struct cairn__srcent *cairn__srcmap_find(const struct cairn__srcmap *m,
                                               const char *ptr);

#endif
