/*
 * Internals shared by the schema_*.c files: the compiled form of a draft-07
 * schema, its limits, and the value helpers validation needs. Not installed;
 * docs/internals/schema.md explains the design.
 */
#ifndef CAIRN_SCHEMA_INTERNAL_H
#define CAIRN_SCHEMA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/regex.h"
#include "cairn/schema.h"

/* Limits. Each one turns a hostile schema or instance into an error instead
 * of a stack overflow, a hang or an allocation storm. */
#define CAIRN__SCHEMA_COMPILE_DEPTH 128 /* nesting of schema objects */
#define CAIRN__SCHEMA_EVAL_DEPTH 512    /* nested evaluations, $ref included */
#define CAIRN__SCHEMA_STEPS 4000000UL   /* subschema evaluations per call */
#define CAIRN__SCHEMA_PATTERN_MAX 4096  /* bytes of one regular expression */
#define CAIRN__SCHEMA_FILE_MAX (4u << 20) /* cairn_schema_load() input */
#define CAIRN__SCHEMA_EQ_DEPTH 4096 /* nesting compared by JSON equality */
#define CAIRN__PTR_MAX 4096         /* formatted JSON pointers */

/* Instance types, as a mask ("type": ["string", "null"]). */
enum {
    CAIRN__T_NULL = 1 << 0,
    CAIRN__T_BOOLEAN = 1 << 1,
    CAIRN__T_OBJECT = 1 << 2,
    CAIRN__T_ARRAY = 1 << 3,
    CAIRN__T_NUMBER = 1 << 4,
    CAIRN__T_STRING = 1 << 5,
    CAIRN__T_INTEGER = 1 << 6,
};

/* Keyword groups present in a node, so validation skips absent ones. */
enum {
    CAIRN__HAS_VALUES = 1 << 0, /* enum, const */
    CAIRN__HAS_NUMBER = 1 << 1,
    CAIRN__HAS_STRING = 1 << 2,
    CAIRN__HAS_ARRAY = 1 << 3,
    CAIRN__HAS_OBJECT = 1 << 4,
    CAIRN__HAS_LOGIC = 1 << 5, /* allOf anyOf oneOf not if */
};

/* Numeric keywords present (cairn__node.numflags). */
enum {
    CAIRN__NUM_MIN = 1 << 0,
    CAIRN__NUM_MAX = 1 << 1,
    CAIRN__NUM_XMIN = 1 << 2,
    CAIRN__NUM_XMAX = 1 << 3,
    CAIRN__NUM_MULT = 1 << 4,
};

enum cairn__node_kind {
    CAIRN__N_TRUE,  /* boolean schema true: everything is valid */
    CAIRN__N_FALSE, /* boolean schema false: nothing is valid */
    CAIRN__N_REF,   /* {"$ref": ...}: siblings ignored (draft-07) */
    CAIRN__N_OBJ,   /* a schema object */
};

enum cairn__format {
    CAIRN__F_NONE, /* absent or an annotation-only format */
    CAIRN__F_DATE_TIME,
};

/* A JSON number kept exactly: jansson integers are 64-bit, reals double. */
struct cairn__num {
    bool is_int;
    json_int_t i;
    double r;
};

/* m * 10^e: a number's shortest decimal form, for multipleOf. */
struct cairn__dec {
    uint64_t m;
    int e;
};

struct cairn__str {
    const char *s; /* points into the compiled schema's document */
    size_t len;
};

struct cairn__nodes {
    struct cairn__node **v;
    size_t n;
};

struct cairn__prop {
    struct cairn__str key;
    struct cairn__node *node;
};

struct cairn__pprop {
    const struct cairn_regex *re;
    struct cairn__node *node;
};

struct cairn__dep {
    struct cairn__str key;
    struct cairn__str *req; /* array form, or */
    size_t nreq;
    struct cairn__node *node; /* schema form */
};

/* One compiled schema object. Everything lives in the schema's arena. */
struct cairn__node {
    enum cairn__node_kind kind;
    unsigned types; /* CAIRN__T_* mask; 0 when "type" is absent */
    unsigned has;   /* CAIRN__HAS_* */
    unsigned numflags;
    struct cairn__node *ref;
    const json_t *enumv;
    const json_t *constv;
    struct cairn__num minimum, maximum, xminimum, xmaximum, multiple;
    struct cairn__dec multiple_dec;
    size_t min_length, max_length; /* max: SIZE_MAX when absent */
    const struct cairn_regex *pattern;
    const char *pattern_src;
    enum cairn__format format;
    size_t min_items, max_items;
    bool unique;
    bool tuple_form; /* "items" is an array */
    struct cairn__node *items;
    struct cairn__nodes tuple;
    struct cairn__node *additional_items;
    struct cairn__node *contains;
    size_t min_props, max_props;
    struct cairn__prop *props; /* sorted by (len, bytes) */
    size_t nprops;
    struct cairn__pprop *pprops;
    size_t npprops;
    struct cairn__node *additional_props;
    struct cairn__node *property_names;
    struct cairn__str *required;
    size_t nrequired;
    struct cairn__dep *deps;
    size_t ndeps;
    struct cairn__nodes all, any, one;
    struct cairn__node *not_s, *if_s, *then_s, *else_s;
};

struct cairn__chunk;

struct cairn_schema {
    json_t *doc; /* private deep copy: strings and values point into it */
    struct cairn__node *root;
    struct cairn__chunk *arena;
    struct cairn_regex **regex;
    size_t nregex, aregex;
};

/* A step of a JSON pointer, chained through the C stack so that building
 * a path costs nothing until an error needs it formatted. */
struct cairn__seg {
    const struct cairn__seg *up; /* NULL: the root */
    const char *key;             /* NULL: array index idx */
    size_t len;
    size_t idx;
    bool raw; /* key is already a pointer: appended verbatim */
};

/* RFC 6901 pointer of seg into buf ("" for the root); a pointer longer
 * than n ends in "...". */
void cairn__seg_format(const struct cairn__seg *seg, char *buf, size_t n);

/* Numbers (schema_value.c). */
void cairn__num_get(const json_t *v, struct cairn__num *out);
int cairn__num_cmp(const struct cairn__num *a, const struct cairn__num *b);
bool cairn__num_integral(const struct cairn__num *x);
void cairn__num_dec(const struct cairn__num *x, struct cairn__dec *out);
bool cairn__num_multiple(const struct cairn__num *x, const struct cairn__num *m,
                         const struct cairn__dec *mdec);

/* JSON equality where 1 == 1.0, and a hash consistent with it. */
bool cairn__json_eq(const json_t *a, const json_t *b);
uint64_t cairn__json_hash(const json_t *v);

size_t cairn__utf8_len(const char *s, size_t n);
bool cairn__is_date_time(const char *s, size_t n);

/* JSON Schema's name of v's type ("integer" for whole numbers, "number"
 * for reals): for messages. */
const char *cairn__json_type_name(const json_t *v);

/* For messages: compact JSON of v, a number, or a quoted string, cut with
 * "..." to fit n bytes (n >= 16). */
void cairn__render(const json_t *v, char *buf, size_t n);
void cairn__render_num(const struct cairn__num *x, char *buf, size_t n);
void cairn__quote(const char *s, size_t len, char *buf, size_t n);

/* References (schema_ref.c). */
/* RFC 3986 resolution of ref against base; an empty fragment is dropped.
 * Returns a malloc'd string. */
char *cairn__uri_resolve(const char *base, const char *ref);
/* Evaluate the URI fragment frag (percent-encoded JSON pointer, "" = the
 * root) in root. 0, or CAIRN_ENOENT with a reason in why[n]. */
int cairn__pointer_eval(json_t *root, const char *frag, json_t **out, char *why,
                        size_t n);

#endif
