/*
 * Error detail travelling up from a boundary (config, schema, signature,
 * git, HTTP). The first error set wins; callers going up add context in
 * front with cairn_diag_prefix(). A NULL diag is accepted everywhere and
 * drops the detail.
 */
#ifndef CAIRN_DIAG_H
#define CAIRN_DIAG_H

#include "cairn/error.h"

#define CAIRN_DIAG_MAX 1024

struct cairn_diag {
    int code;                 /* 0 until the first error */
    char msg[CAIRN_DIAG_MAX]; /* NUL-terminated, truncated if long */
};

void cairn_diag_init(struct cairn_diag *d);

/* Record an error unless one is already recorded. Returns code, so that
 * `return cairn_diag_set(d, CAIRN_EPARSE, "...")` reads naturally. */
int cairn_diag_set(struct cairn_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Put "context: " in front of the recorded message (no-op when empty). */
void cairn_diag_prefix(struct cairn_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Message or the code's strerror when no message was set; never NULL. */
const char *cairn_diag_msg(const struct cairn_diag *d);

#endif
