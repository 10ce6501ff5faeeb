/*
 * TEMPORARY, schema branch only: a do-nothing stand-in for cairn/yaml.h so
 * that libcairn links before the yaml module lands. DELETE THIS FILE when
 * merging the yaml module (pkg/src/yaml.c provides the real functions).
 */
#include "cairn/yaml.h"

#include <stddef.h>

int cairn_yaml_parse(const char *file, const char *data, size_t len,
                     const struct cairn_yaml_limits *lim,
                     struct cairn_yaml_doc **out, struct cairn_diag *d)
{
    (void)file, (void)data, (void)len, (void)lim, (void)out;
    return cairn_diag_set(d, CAIRN_EUNSUPPORTED, "yaml: stub (not merged)");
}

int cairn_yaml_load(const char *path, const struct cairn_yaml_limits *lim,
                    struct cairn_yaml_doc **out, struct cairn_diag *d)
{
    (void)path, (void)lim, (void)out;
    return cairn_diag_set(d, CAIRN_EUNSUPPORTED, "yaml: stub (not merged)");
}

void cairn_yaml_free(struct cairn_yaml_doc *doc)
{
    (void)doc;
}

json_t *cairn_yaml_root(const struct cairn_yaml_doc *doc)
{
    (void)doc;
    return NULL;
}

const char *cairn_yaml_file(const struct cairn_yaml_doc *doc)
{
    (void)doc;
    return NULL;
}

struct cairn_loc cairn_yaml_locate(const struct cairn_yaml_doc *doc,
                                   const char *ptr)
{
    struct cairn_loc none = {NULL, 0, 0};

    (void)doc, (void)ptr;
    return none;
}
