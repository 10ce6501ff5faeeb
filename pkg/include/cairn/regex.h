/*
 * Regular expressions for JSON Schema's "pattern" and "patternProperties":
 * the ECMA-262 syntax JSON Schema prescribes, minus the parts that need
 * backtracking, matched by a Thompson NFA (a Pike VM) in time linear in
 * the subject. docs/internals/regex.md lists the syntax and the limits.
 *
 * Supported: literals (any UTF-8 character; matching is per code point),
 * ".", classes "[a-z]", "[^...]", "[]", "[^]", escapes \d \D \w \W \s \S
 * \b \B \t \n \v \f \r \0 \xHH \uHHHH \cX and "\" before any ASCII
 * punctuation, groups "(...)" and "(?:...)", "|", quantifiers * + ? {n}
 * {n,} {n,m} (a trailing "?" is accepted; laziness does not change
 * whether a string matches), "^" (start of the subject) and "$" (its very
 * end). Refused at compile time, by name: back references, lookaround,
 * named groups, Unicode property escapes.
 *
 * A search is unanchored, as JSON Schema asks: "b+" matches "abbc".
 * A compiled regex is read-only: any number of threads may search it at
 * once.
 */
#ifndef CAIRN_REGEX_H
#define CAIRN_REGEX_H

#include <stddef.h>

#include "cairn/diag.h"

/* Limits: a hostile pattern is an error, never a hang or a huge program. */
#define CAIRN_REGEX_MAX_LEN 4096    /* bytes of pattern */
#define CAIRN_REGEX_MAX_DEPTH 64    /* nested groups */
#define CAIRN_REGEX_MAX_REPEAT 1000 /* n and m of {n,m} */
#define CAIRN_REGEX_MAX_INSNS 20000 /* program size after {n,m} expansion */

struct cairn_regex;

/* Compile src (len bytes, UTF-8, need not be NUL-terminated). On success
 * *out owns the program (cairn_regex_free). Errors, with "at offset N:
 * reason" in d: CAIRN_EPARSE (syntax, invalid UTF-8), CAIRN_EUNSUPPORTED
 * (valid ECMA-262 this engine does not run, e.g. "(?=" lookahead),
 * CAIRN_ETOOBIG (a limit above); CAIRN_EINVAL when src or out is NULL. */
CAIRN_WUR int cairn_regex_compile(const char *src, size_t len,
                                  struct cairn_regex **out,
                                  struct cairn_diag *d);

/* 1 when the regex matches somewhere in s (len bytes), else 0. Bytes that
 * are not UTF-8 each count as one character that no literal or class
 * range matches (only ".", negated classes, \D \W \S do). Time
 * O(len x program size); memory from the stack for small programs, else
 * one allocation per call (aborts on OOM, as cairn_xmalloc). */
int cairn_regex_search(const struct cairn_regex *re, const char *s, size_t len);

/* NULL is fine. */
void cairn_regex_free(struct cairn_regex *re);

#endif
