/*
 * JSON pointers (RFC 6901) over jansson values, and the canonical JSON
 * text the controller hashes and signs.
 */
#ifndef CAIRN_JPTR_H
#define CAIRN_JPTR_H

#include <jansson.h>
#include <stddef.h>

#include "cairn/error.h"
#include "cairn/mem.h"

/* Append "/" and token (escaped: ~ -> ~0, / -> ~1) to b. Pointers are
 * built in uncapped buffers: aborts only on OOM. */
void cairn__ptr_push(struct cairn_buf *b, const char *token);
void cairn__ptr_push_index(struct cairn_buf *b, size_t i);

/* The node ptr reaches in root ("" is root itself), or NULL. A token on an
 * array must be a decimal index without leading zeros. Borrowed. */
json_t *cairn__ptr_get(json_t *root, const char *ptr);

/* Member tok of an object, element tok (decimal, no leading zeros) of an
 * array, else NULL. Borrowed. */
json_t *cairn__json_child(json_t *v, const char *tok);

/* Next token of ptr (which starts at '/' or is empty): unescaped into
 * tok (cap bytes). Returns the rest of ptr, or NULL at the end or when the
 * token does not fit or has a bad escape. */
const char *cairn__ptr_next(const char *ptr, char *tok, size_t cap);

/* Canonical JSON (cairn_json_canonical: compact, keys sorted bytewise,
 * UTF-8 as is). Fresh string (free()), length in *len (may be NULL).
 * Aborts on OOM. */
char *cairn__json_canon(const json_t *v, size_t *len);

/* Leaf visitor: every scalar, every array element that is a scalar, and
 * every empty object/array, in canonical order (sorted keys). */
typedef void (*cairn__leaf_fn)(const char *ptr, json_t *leaf, void *arg);
void cairn__json_leaves(json_t *v, cairn__leaf_fn fn, void *arg);

#endif
