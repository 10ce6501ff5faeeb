#include "cairn/config.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/yaml.h"

#define CONFIG_MAX_BYTES (256 * 1024)

static void *field(void *target, const struct cairn_config_row *r)
{
    return (char *)target + r->offset;
}

static const struct cairn_config_row *
find_row(const struct cairn_config_row *rows, const char *key)
{
    for (; rows->key; rows++)
        if (strcmp(rows->key, key) == 0)
            return rows;
    return NULL;
}

static void set_string(void *target, const struct cairn_config_row *r,
                       const char *v)
{
    char **p = field(target, r);

    free(*p);
    *p = v ? cairn_xstrdup(v) : NULL;
}

static int parse_int(const struct cairn_config_row *r, const char *text,
                     int64_t *out, struct cairn_diag *d)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno || end == text || *end)
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: \"%s\" is not an integer",
                              r->key, text);
    if (v < r->min || v > r->max)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "%s: %lld is out of range [%" PRId64 ", %" PRId64
                              "]",
                              r->key, v, r->min, r->max);
    *out = v;
    return 0;
}

static int parse_enum(const struct cairn_config_row *r, const char *text,
                      int *out, struct cairn_diag *d)
{
    char allowed[256] = "";
    size_t used = 0;

    for (int i = 0; r->choices[i]; i++) {
        if (strcmp(r->choices[i], text) == 0) {
            *out = i;
            return 0;
        }
        used += (size_t)snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
                                 i ? ", " : "", r->choices[i]);
        if (used >= sizeof(allowed))
            used = sizeof(allowed) - 1;
    }
    return cairn_diag_set(d, CAIRN_EINVAL, "%s: \"%s\" is not one of: %s",
                          r->key, text, allowed);
}

static int parse_bool(const struct cairn_config_row *r, const char *text,
                      int *out, struct cairn_diag *d)
{
    if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0) {
        *out = 0;
        return 0;
    }
    return cairn_diag_set(d, CAIRN_EINVAL, "%s: \"%s\" is not true or false",
                          r->key, text);
}

/* A value checked against its row, not yet stored: parsing and storing are
 * apart so that a file is checked whole before any of it is stored. */
struct value {
    const char *text; /* STRING, PATH; NULL: unset */
    int64_t i;        /* INT */
    int n;            /* BOOL, ENUM */
};

static int parse_value(const struct cairn_config_row *r, const char *text,
                       struct value *v, struct cairn_diag *d)
{
    memset(v, 0, sizeof(*v));
    v->text = text;
    if (!text)
        return 0;
    switch (r->type) {
    case CAIRN_CFG_INT:
        return parse_int(r, text, &v->i, d);
    case CAIRN_CFG_BOOL:
        return parse_bool(r, text, &v->n, d);
    case CAIRN_CFG_ENUM:
        return parse_enum(r, text, &v->n, d);
    case CAIRN_CFG_STRING:
    case CAIRN_CFG_PATH:
        break;
    }
    return 0;
}

/* Store a parsed value; base_dir resolves relative CAIRN_CFG_PATH values.
 * A NULL text leaves a number as it is and unsets a string. */
static void store_value(const struct cairn_config_row *r, void *target,
                        const struct value *v, const char *base_dir)
{
    switch (r->type) {
    case CAIRN_CFG_STRING:
        set_string(target, r, v->text);
        break;
    case CAIRN_CFG_PATH:
        if (v->text && v->text[0] != '/' && base_dir) {
            char *p = cairn_xasprintf("%s/%s", base_dir, v->text);
            set_string(target, r, p);
            free(p);
        } else {
            set_string(target, r, v->text);
        }
        break;
    case CAIRN_CFG_INT:
        if (v->text)
            *(int64_t *)field(target, r) = v->i;
        break;
    case CAIRN_CFG_BOOL:
    case CAIRN_CFG_ENUM:
        if (v->text)
            *(int *)field(target, r) = v->n;
        break;
    }
}

static int apply_text(const struct cairn_config_row *r, void *target,
                      const char *text, const char *base_dir,
                      struct cairn_diag *d)
{
    struct value v;
    int rc = parse_value(r, text, &v, d);

    if (rc == 0)
        store_value(r, target, &v, base_dir);
    return rc;
}

void cairn_config_defaults(const struct cairn_config_row *rows, void *target)
{
    for (; rows->key; rows++) {
        if (rows->type == CAIRN_CFG_STRING || rows->type == CAIRN_CFG_PATH)
            *(char **)field(target, rows) = NULL;
        if (apply_text(rows, target, rows->def, NULL, NULL) != 0)
            abort(); /* a bad default is a programming error */
    }
}

/* The YAML scalar as text, checking that its JSON type suits the row. */
static int scalar_text(const struct cairn_config_row *r, json_t *v, char *buf,
                       size_t len, const char **out, struct cairn_diag *d)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (r->type == CAIRN_CFG_INT || r->type == CAIRN_CFG_BOOL)
            break;
        *out = json_string_value(v);
        return 0;
    case JSON_INTEGER:
        if (r->type != CAIRN_CFG_INT)
            break;
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        if (r->type != CAIRN_CFG_BOOL)
            break;
        *out = json_is_true(v) ? "true" : "false";
        return 0;
    case JSON_NULL:
        *out = NULL;
        return 0;
    default:
        break;
    }
    return cairn_diag_set(d, CAIRN_EINVAL, "%s: wrong type (expected %s)",
                          r->key,
                          r->type == CAIRN_CFG_INT    ? "an integer"
                          : r->type == CAIRN_CFG_BOOL ? "true or false"
                                                      : "a string");
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return cairn_xstrdup(".");
    if (slash == path)
        return cairn_xstrdup("/");
    return cairn_xstrndup(path, (size_t)(slash - path));
}

/* "/key" with RFC 6901 escapes (~0, ~1), truncated to fit. */
static void pointer_of(const char *key, char *out, size_t len)
{
    size_t o = 0;

    out[o++] = '/';
    for (; *key && o + 3 < len; key++) {
        if (*key == '~' || *key == '/') {
            out[o++] = '~';
            out[o++] = *key == '~' ? '0' : '1';
        } else {
            out[o++] = *key;
        }
    }
    out[o] = '\0';
}

/* Check one key of the file; with target, store it too (target NULL: only
 * check). */
static int load_key(const struct cairn_config_row *rows, void *target,
                    struct cairn_yaml_doc *doc, const char *key, json_t *v,
                    const char *base, struct cairn_diag *d)
{
    const struct cairn_config_row *r = find_row(rows, key);
    char ptr[512], num[32];
    const char *text = NULL;
    struct cairn_loc loc;
    struct value val;
    int rc;

    pointer_of(key, ptr, sizeof(ptr));
    /* An unknown key is pointed at by its name, a bad value by the value. */
    loc = r ? cairn_yaml_locate(doc, ptr) : cairn_yaml_locate_key(doc, ptr);
    if (!r)
        rc = cairn_diag_set(d, CAIRN_EINVAL, "unknown key \"%s\"", key);
    else if ((rc = scalar_text(r, v, num, sizeof(num), &text, d)) == 0 &&
             (rc = parse_value(r, text, &val, d)) == 0 && target)
        store_value(r, target, &val, base);
    if (rc)
        cairn_diag_prefix(d, "%s:%d:%d", loc.file, loc.line, loc.col);
    return rc;
}

int cairn_config_load(const struct cairn_config_row *rows, void *target,
                      const char *path, struct cairn_diag *d)
{
    struct cairn_yaml_limits lim = {CONFIG_MAX_BYTES, 10000, 16};
    struct cairn_yaml_doc *doc = NULL;
    char *base = NULL;
    const char *key;
    json_t *root, *v;
    int rc;

    rc = cairn_yaml_load(path, &lim, &doc, d);
    if (rc)
        return rc;
    root = cairn_yaml_root(doc);
    if (json_is_null(root))
        goto out;
    if (!json_is_object(root)) {
        rc = cairn_diag_set(d, CAIRN_EINVAL,
                            "%s:1:1: expected a map of settings", path);
        goto out;
    }
    base = dir_of(path);
    /* All or nothing: every key is checked before the first is stored, so
     * that a file with an error leaves target as it was. */
    json_object_foreach(root, key, v)
    {
        rc = load_key(rows, NULL, doc, key, v, base, d);
        if (rc)
            goto out;
    }
    json_object_foreach(root, key, v)
    {
        rc = load_key(rows, target, doc, key, v, base, d);
        if (rc)
            break;
    }
out:
    free(base);
    cairn_yaml_free(doc);
    return rc;
}

int cairn_config_set(const struct cairn_config_row *rows, void *target,
                     const char *key, const char *value, struct cairn_diag *d)
{
    const struct cairn_config_row *r = find_row(rows, key);

    if (!r)
        return cairn_diag_set(d, CAIRN_EINVAL, "unknown key \"%s\"", key);
    return apply_text(r, target, value, NULL, d);
}

static void print_value(const struct cairn_config_row *r, const void *target,
                        FILE *out)
{
    const void *f = (const char *)target + r->offset;

    switch (r->type) {
    case CAIRN_CFG_STRING:
    case CAIRN_CFG_PATH: {
        const char *s = *(char *const *)f;
        if (s) {
            json_t *j = json_string(s);
            char *q = json_dumps(j, JSON_ENCODE_ANY);
            fputs(q ? q : "null", out);
            free(q);
            json_decref(j);
        } else {
            fputs("null", out);
        }
        break;
    }
    case CAIRN_CFG_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)f);
        break;
    case CAIRN_CFG_BOOL:
        fputs(*(const int *)f ? "true" : "false", out);
        break;
    case CAIRN_CFG_ENUM:
        fputs(r->choices[*(const int *)f], out);
        break;
    }
}

void cairn_config_print(const struct cairn_config_row *rows, const void *target,
                        FILE *out)
{
    for (; rows->key; rows++) {
        fprintf(out, "%s: ", rows->key);
        print_value(rows, target, out);
        fprintf(out, "   # %s\n", rows->doc);
    }
}

static const char *type_name(const struct cairn_config_row *r)
{
    static const char *const names[] = {"string", "path", "integer", "boolean",
                                        "enum"};
    return names[r->type];
}

void cairn_config_print_doc(const struct cairn_config_row *rows, FILE *out)
{
    fprintf(out,
            "| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
    for (; rows->key; rows++) {
        fprintf(out, "| `%s` | %s", rows->key, type_name(rows));
        if (rows->type == CAIRN_CFG_INT)
            fprintf(out, " (%" PRId64 "..%" PRId64 ")", rows->min, rows->max);
        if (rows->type == CAIRN_CFG_ENUM)
            for (int i = 0; rows->choices[i]; i++)
                fprintf(out, "%s`%s`", i ? ", " : ": ", rows->choices[i]);
        fprintf(out, " | %s | %s |\n", rows->def ? rows->def : "(none)",
                rows->doc);
    }
}

void cairn_config_free(const struct cairn_config_row *rows, void *target)
{
    for (; rows->key; rows++) {
        if (rows->type == CAIRN_CFG_STRING || rows->type == CAIRN_CFG_PATH) {
            char **p = field(target, rows);
            free(*p);
            *p = NULL;
        }
    }
}
