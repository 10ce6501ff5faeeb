/*
 * Files compiled into libcairn: the JSON Schemas under schemas/ (looked up
 * by file name, e.g. "site.schema.json"). Static data; never freed.
 */
#ifndef CAIRN_EMBEDDED_H
#define CAIRN_EMBEDDED_H

#include <stddef.h>

/* Text of an embedded file, or NULL when there is none by that name.
 * len_out (may be NULL) receives its length. */
const char *cairn_embedded_get(const char *name, size_t *len_out);

#endif
