/*
 * Allocation that aborts on out-of-memory, so that callers carry no
 * untested NULL branches, and a growable byte buffer with a hard cap.
 */
#ifndef CAIRN_MEM_H
#define CAIRN_MEM_H

#include "cairn/error.h"
#include <stddef.h>

void *cairn_xmalloc(size_t n);
void *cairn_xcalloc(size_t count, size_t size);
void *cairn_xrealloc(void *p, size_t n);
char *cairn_xstrdup(const char *s);
char *cairn_xstrndup(const char *s, size_t n);
/* printf into a fresh string; aborts on OOM. */
char *cairn_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#define CAIRN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define cairn_container_of(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Growable buffer; data is always NUL-terminated (not counted in len).
 * Appends past cap fail with CAIRN_ETOOBIG and leave the buffer as it was. */
struct cairn_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
};

void cairn_buf_init(struct cairn_buf *b, size_t cap);
void cairn_buf_free(struct cairn_buf *b);
void cairn_buf_reset(struct cairn_buf *b);
CAIRN_WUR int cairn_buf_append(struct cairn_buf *b, const void *data, size_t n);
CAIRN_WUR int cairn_buf_appendf(struct cairn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hand the data to the caller (free() it) and reset the buffer. */
char *cairn_buf_steal(struct cairn_buf *b, size_t *len);

#endif
