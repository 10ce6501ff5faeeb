/*
 * Group selectors: `selector.matchLabels` is a map of label -> value; a
 * site matches when it has every one of those labels with that value. An
 * empty map matches every site.
 */
#ifndef CAIRN_SELECTOR_H
#define CAIRN_SELECTOR_H

#include <jansson.h>
#include <stddef.h>

#include "cairn/error.h"
#include "cairn/yaml.h"
#include "errlist.h"

struct cairn_selector {
    char **keys; /* sorted */
    char **vals;
    size_t n;
};

/*
 * Compile a Group's `selector` object. Every problem (selector not a map,
 * no matchLabels, a label name that is not a label key, a value that is not
 * a string of at most 63 characters) is added to errs, located through doc
 * (may be NULL) at base ("/selector"). CAIRN_EPARSE when any was found;
 * *out is written only on success (free with cairn_selector_free).
 */
CAIRN_WUR int cairn_selector_compile(json_t *selector,
                                     const struct cairn_yaml_doc *doc,
                                     const char *base,
                                     struct cairn_errlist *errs,
                                     struct cairn_selector *out);
void cairn_selector_free(struct cairn_selector *s); /* NULL ok */

/* 1 when labels (an object, or NULL for none) satisfy s, else 0. */
int cairn_selector_matches(const struct cairn_selector *s, json_t *labels);

/* 1 when k is a valid label name: [A-Za-z0-9][A-Za-z0-9._/-]{0,62}. */
int cairn_label_key_ok(const char *k);

#endif
