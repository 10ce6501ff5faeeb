/*
 * Canonical JSON and capped, strict parsing (jansson). Everything cairn
 * signs is rendered by cairn_json_canonical, so the same document always
 * gives the same bytes (DESIGN.md "Signed documents").
 */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include "cairn/diag.h"
#include "cairn/mem.h"
#include <jansson.h>
#include <stddef.h>

/* Canonical text of v: no whitespace, object members sorted by the bytes of
 * their keys, strings as UTF-8 with only '"', '\' and control characters
 * escaped (\b \f \n \r \t, else \u00XX), integers exact, reals in the
 * shortest form that reads back to the same double, written like Python's
 * repr ("0.8", "100.0", "1e+16", "1.5e-07"); so the output equals Python's
 * json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
 * Fresh NUL-terminated string (free()); NULL when v is NULL; aborts on OOM.
 * Any thread; v is not modified. */
char *cairn_json_canonical(const json_t *v);

/* Append to b the canonical text of the string s (n bytes of valid UTF-8,
 * not checked; NUL bytes allowed), quotes included: the bytes
 * cairn_json_canonical writes for it. For writers that emit a fixed shape
 * of canonical JSON without building a jansson tree. 0, or CAIRN_ETOOBIG
 * when b's cap is reached (b is then as it was). Any thread. */
CAIRN_WUR int cairn_json_append_string(struct cairn_buf *b, const char *s,
                                       size_t n);

/* Parse exactly len bytes of buf as one JSON value (any type at the top).
 * Refuses: len > cap (CAIRN_ETOOBIG), NUL bytes raw or as \u0000, duplicate
 * object keys, invalid UTF-8, integers outside int64, trailing data
 * (CAIRN_EPARSE, the diag says "line L column C: why"). *out (a new
 * reference, json_decref it) is written only on success. */
CAIRN_WUR int cairn_json_parse(const char *buf, size_t len, size_t cap,
                               json_t **out, struct cairn_diag *d);

#endif
