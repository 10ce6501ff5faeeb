/*
 * Table-driven configuration files. One row per key drives parsing,
 * defaults, printing and the generated documentation. A config file is a
 * YAML map of those keys; unknown keys, wrong types and out-of-range values
 * are errors that cite file:line:column.
 */
#ifndef CAIRN_CONFIG_H
#define CAIRN_CONFIG_H

#include "cairn/diag.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cairn_config_type {
    CAIRN_CFG_STRING, /* char *, owned by the target struct (free with
                         cairn_config_free) */
    CAIRN_CFG_PATH,   /* char *; a relative path is taken relative to the
                         config file's directory */
    CAIRN_CFG_INT,    /* int64_t, within [min, max] */
    CAIRN_CFG_BOOL,   /* int, 0 or 1 */
    CAIRN_CFG_ENUM,   /* int, index into choices */
};

struct cairn_config_row {
    const char *key;
    enum cairn_config_type type;
    size_t offset;              /* offsetof(target struct, field) */
    const char *def;            /* default as text; NULL = unset/0 */
    int64_t min, max;           /* CAIRN_CFG_INT */
    const char *const *choices; /* CAIRN_CFG_ENUM, NULL-terminated */
    const char *doc;            /* one line for docs and --help */
};

/* Rows end with a row whose key is NULL. */

/* Write every default into target (strings duplicated). */
void cairn_config_defaults(const struct cairn_config_row *rows, void *target);

/* Read path (YAML map) over the defaults already in target. All or
 * nothing: every key is checked first, and on error target is left as it
 * was (it still owns its strings: free it as before). The diag cites
 * file:line:column. CAIRN_EINVAL, the yaml module's errors. */
CAIRN_WUR int cairn_config_load(const struct cairn_config_row *rows,
                                void *target, const char *path,
                                struct cairn_diag *d);

/* Set one key from text (command-line overrides); same checks as files;
 * on error target is unchanged. */
CAIRN_WUR int cairn_config_set(const struct cairn_config_row *rows,
                               void *target, const char *key, const char *value,
                               struct cairn_diag *d);

/* Print the effective configuration as YAML. */
void cairn_config_print(const struct cairn_config_row *rows, const void *target,
                        FILE *out);

/* Print a Markdown table of keys, types, defaults and docs. */
void cairn_config_print_doc(const struct cairn_config_row *rows, FILE *out);

/* Free the strings owned by target. */
void cairn_config_free(const struct cairn_config_row *rows, void *target);

#endif
