/*
 * The list of every error found in one commit, each located
 * ("file:line:col: /pointer: message"). The same error met while rendering
 * many sites (a bad template in a workload that 10,000 sites run) is kept
 * once, with the sites it hit ("(sites a, b and 9998 more)").
 *
 * Errors are listed sorted by file, line, column, then text, so output is
 * deterministic whatever order the checks ran in.
 */
#ifndef CAIRN_ERRLIST_H
#define CAIRN_ERRLIST_H

#include <stddef.h>
#include <stdio.h>

#include "cairn/yaml.h"
#include "strmap.h"

#define CAIRN_ERRLIST_SITES_SHOWN 3

struct cairn_err {
    char *file;    /* "" when the error has no file */
    int line, col; /* 0 when unknown */
    char *text;    /* "/pointer: message" or "message" */
    int code;      /* CAIRN_E* */
    char *sites[CAIRN_ERRLIST_SITES_SHOWN]; /* first sites hit, by name */
    size_t nkept;                           /* names in sites[] */
    size_t nsites;   /* sites hit, counting those not kept */
    char *last_site; /* so one site hitting it twice counts once */
};

struct cairn_errlist {
    struct cairn_err *v;
    size_t n, alloc;
    size_t max;     /* distinct errors kept (0 = 1000) */
    size_t dropped; /* distinct errors past max */
    struct cairn__strmap index;
};

void cairn_errlist_init(struct cairn_errlist *l, size_t max);
void cairn_errlist_free(struct cairn_errlist *l); /* NULL ok */

/*
 * Record an error. file (NULL or "" for none), line/col (0 unknown), ptr
 * (NULL for none) locate it; site (may be NULL) is the site being rendered.
 * An error equal to one already listed only adds the site.
 */
void cairn_errlist_add(struct cairn_errlist *l, int code, const char *site,
                       const char *file, int line, int col, const char *ptr,
                       const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Same, located by a yaml source location. */
void cairn_errlist_addloc(struct cairn_errlist *l, int code, const char *site,
                          struct cairn_loc loc, const char *ptr,
                          const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Record a message that is already located ("file:line:col: ...", as the
 * yaml loader writes it) or carries no location. */
void cairn_errlist_add_raw(struct cairn_errlist *l, int code, const char *site,
                           const char *msg);

/* Move every error of src into dst (src is left empty). */
void cairn_errlist_merge(struct cairn_errlist *dst, struct cairn_errlist *src);

/* Number of errors (distinct, kept or not). */
size_t cairn_errlist_count(const struct cairn_errlist *l);
/* Code of the first error in sorted order; 0 when there is none. */
int cairn_errlist_code(struct cairn_errlist *l);

/* Sort, then format one error per line into a fresh string, at most
 * max_bytes (0 = unlimited) of whole lines, then "... and N more". */
char *cairn_errlist_format(struct cairn_errlist *l, size_t max_bytes);
void cairn_errlist_print(struct cairn_errlist *l, FILE *out);

#endif
