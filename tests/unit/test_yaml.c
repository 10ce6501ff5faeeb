#include "cairn/diag.h"
#include "cairn/error.h"
#include "cairn/mem.h"
#include "cairn/yaml.h"
#include "test.h"

#include <math.h>

/* Parse s (a C string); NULL on error, with the message in d. */
static struct cairn_yaml_doc *parse_lim(const char *s, size_t len,
                                        const struct cairn_yaml_limits *lim,
                                        struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = NULL;

    cairn_diag_init(d);
    if (cairn_yaml_parse("t.yaml", s, len, lim, &doc, d) != 0)
        return NULL;
    return doc;
}

static struct cairn_yaml_doc *parse(const char *s, struct cairn_diag *d)
{
    return parse_lim(s, strlen(s), NULL, d);
}

/* The error message parsing s gives (d keeps the code). */
static const char *parse_err(const char *s, struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = parse(s, d);

    if (doc) {
        cairn_yaml_free(doc);
        return "(parsed fine)";
    }
    return cairn_diag_msg(d);
}

static int loc_is(const struct cairn_yaml_doc *doc, const char *ptr, int line,
                  int col)
{
    struct cairn_loc l = cairn_yaml_locate(doc, ptr);

    if (l.line == line && l.col == col && l.file &&
        strcmp(l.file, "t.yaml") == 0)
        return 1;
    fprintf(stderr, "  locate(\"%s\") = %d:%d, want %d:%d\n", ptr, l.line,
            l.col, line, col);
    return 0;
}

/* ---- scalar typing ---- */

struct typed {
    const char *text; /* a value as written after "v: " */
    json_type type;   /* JSON_* */
    const char *str;  /* JSON_STRING: expected text */
    long long i;      /* JSON_INTEGER, JSON_TRUE/FALSE unused */
    double r;         /* JSON_REAL */
};

static const struct typed typing[] = {
    {"", JSON_NULL, NULL, 0, 0},
    {"~", JSON_NULL, NULL, 0, 0},
    {"null", JSON_NULL, NULL, 0, 0},
    {"Null", JSON_NULL, NULL, 0, 0},
    {"NULL", JSON_NULL, NULL, 0, 0},
    {"nULL", JSON_STRING, "nULL", 0, 0},
    {"true", JSON_TRUE, NULL, 0, 0},
    {"True", JSON_TRUE, NULL, 0, 0},
    {"TRUE", JSON_TRUE, NULL, 0, 0},
    {"false", JSON_FALSE, NULL, 0, 0},
    {"False", JSON_FALSE, NULL, 0, 0},
    {"FALSE", JSON_FALSE, NULL, 0, 0},
    {"tRUE", JSON_STRING, "tRUE", 0, 0},
    /* YAML 1.1 booleans are strings in 1.2 (the Norway problem). */
    {"yes", JSON_STRING, "yes", 0, 0},
    {"No", JSON_STRING, "No", 0, 0},
    {"NO", JSON_STRING, "NO", 0, 0},
    {"on", JSON_STRING, "on", 0, 0},
    {"off", JSON_STRING, "off", 0, 0},
    {"y", JSON_STRING, "y", 0, 0},
    {"0", JSON_INTEGER, NULL, 0, 0},
    {"42", JSON_INTEGER, NULL, 42, 0},
    {"-17", JSON_INTEGER, NULL, -17, 0},
    {"+5", JSON_INTEGER, NULL, 5, 0},
    {"007", JSON_INTEGER, NULL, 7, 0},
    {"0o17", JSON_INTEGER, NULL, 15, 0},
    {"0x1F", JSON_INTEGER, NULL, 31, 0},
    {"0xff", JSON_INTEGER, NULL, 255, 0},
    {"9223372036854775807", JSON_INTEGER, NULL, INT64_MAX, 0},
    {"-9223372036854775808", JSON_INTEGER, NULL, INT64_MIN, 0},
    {"0x7fffffffffffffff", JSON_INTEGER, NULL, INT64_MAX, 0},
    {"-0x10", JSON_STRING, "-0x10", 0, 0},
    {"0o8", JSON_STRING, "0o8", 0, 0},
    {"0x", JSON_STRING, "0x", 0, 0},
    {"0b101", JSON_STRING, "0b101", 0, 0},
    {"1_000", JSON_STRING, "1_000", 0, 0},
    {"12abc", JSON_STRING, "12abc", 0, 0},
    {"1:30", JSON_STRING, "1:30", 0, 0},
    {"1.5", JSON_REAL, NULL, 0, 1.5},
    {"-.5", JSON_REAL, NULL, 0, -0.5},
    {"1.", JSON_REAL, NULL, 0, 1.0},
    {"1e3", JSON_REAL, NULL, 0, 1000.0},
    {"2.5E-1", JSON_REAL, NULL, 0, 0.25},
    {"+1.0e+2", JSON_REAL, NULL, 0, 100.0},
    {".", JSON_STRING, ".", 0, 0},
    {"1e", JSON_STRING, "1e", 0, 0},
    {"e3", JSON_STRING, "e3", 0, 0},
    {".inf_", JSON_STRING, ".inf_", 0, 0},
    {"hello world", JSON_STRING, "hello world", 0, 0},
    {"\"true\"", JSON_STRING, "true", 0, 0},
    {"'123'", JSON_STRING, "123", 0, 0},
    {"\"\"", JSON_STRING, "", 0, 0},
    {"'null'", JSON_STRING, "null", 0, 0},
    {"|\n  12\n", JSON_STRING, "12\n", 0, 0},
    {">-\n  a\n  b\n", JSON_STRING, "a b", 0, 0},
    {"\"caf\\u00e9\"", JSON_STRING, "caf\xc3\xa9", 0, 0},
    {"!!str 123", JSON_STRING, "123", 0, 0},
    {"!!str", JSON_STRING, "", 0, 0},
    {"!!int \"42\"", JSON_INTEGER, NULL, 42, 0},
    {"!!float 1", JSON_REAL, NULL, 0, 1.0},
    {"!!bool 'true'", JSON_TRUE, NULL, 0, 0},
    {"!!null ''", JSON_NULL, NULL, 0, 0},
    {"!<tag:yaml.org,2002:int> 0x10", JSON_INTEGER, NULL, 16, 0},
};

static int typed_ok(const struct typed *t, json_t *v)
{
    if (!v || json_typeof(v) != t->type)
        return 0;
    if (t->type == JSON_STRING)
        return strcmp(json_string_value(v), t->str) == 0;
    if (t->type == JSON_INTEGER)
        return json_integer_value(v) == t->i;
    if (t->type == JSON_REAL)
        return json_real_value(v) == t->r;
    return 1;
}

static void test_scalar_typing(void)
{
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(typing); i++) {
        struct cairn_diag d;
        char *src = cairn_xasprintf("v: %s\n", typing[i].text);
        struct cairn_yaml_doc *doc = parse(src, &d);
        json_t *v = doc ? json_object_get(cairn_yaml_root(doc), "v") : NULL;
        int ok = typed_ok(&typing[i], v);

        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  typing of \"%s\" (%s)\n", typing[i].text,
                    doc ? "wrong value" : cairn_diag_msg(&d));
        cairn_yaml_free(doc);
        free(src);
    }
}

static void test_keys_are_strings(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc =
        parse("1: a\ntrue: b\nnull: c\n~: d\n1.5: e\n99999999999999999999: f\n"
              "!!int 7: g\n? \n: h\n",
              &d);
    json_t *r;

    REQUIRE(doc != NULL);
    r = cairn_yaml_root(doc);
    CHECK_INT_EQ(json_object_size(r), 8);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "1")), "a");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "true")), "b");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "null")), "c");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "~")), "d");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "1.5")), "e");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "99999999999999999999")),
                 "f");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "7")), "g");
    CHECK_STR_EQ(json_string_value(json_object_get(r, "")), "h");
    cairn_yaml_free(doc);
}

static void test_bad_scalars(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("n: 9223372036854775808\n", &d),
                 "t.yaml:1:4: integer out of the 64-bit range: "
                 "\"9223372036854775808\"");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_HAS(parse_err("n: -9223372036854775809\n", &d),
                  "t.yaml:1:4: integer out of the 64-bit range");
    CHECK_STR_HAS(parse_err("n: 0x8000000000000000\n", &d),
                  "t.yaml:1:4: integer out of the 64-bit range");
    CHECK_STR_HAS(parse_err("- 1\n- .inf\n", &d),
                  "t.yaml:2:3: .inf and .nan cannot be represented in JSON");
    CHECK_STR_HAS(parse_err("- -.Inf\n", &d), "t.yaml:1:3: .inf and .nan");
    CHECK_STR_HAS(parse_err("- .NaN\n", &d), "t.yaml:1:3: .inf and .nan");
    CHECK_STR_HAS(parse_err("x: 1e999\n", &d),
                  "t.yaml:1:4: float out of range");
    CHECK_STR_EQ(parse_err("x: !!int abc\n", &d),
                 "t.yaml:1:4: not a valid !!int value: \"abc\"");
    CHECK_STR_HAS(parse_err("x: !!bool yes\n", &d),
                  "t.yaml:1:4: not a valid !!bool value: \"yes\"");
    CHECK_STR_HAS(parse_err("x: !!null 0\n", &d),
                  "t.yaml:1:4: not a valid !!null value");
    CHECK_STR_HAS(parse_err("x: !!float abc\n", &d),
                  "t.yaml:1:4: not a valid !!float value");
    CHECK_STR_HAS(parse_err("x: !!seq abc\n", &d),
                  "t.yaml:1:4: tag !!seq on a scalar");
    CHECK_STR_HAS(parse_err("!!int abc: 1\n", &d),
                  "t.yaml:1:1: not a valid !!int value");
}

static void test_unknown_tags(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: 1\nb: !foo x\n", &d),
                 "t.yaml:2:4: unknown tag \"!foo\" (allowed: !!str !!int "
                 "!!float !!bool !!null !!map !!seq)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_HAS(parse_err("a: !!binary aGk=\n", &d),
                  "t.yaml:1:4: unknown tag \"!!binary\"");
    CHECK_STR_HAS(parse_err("a: ! x\n", &d), "t.yaml:1:4: unknown tag \"!\"");
    CHECK_STR_HAS(parse_err("a: !!set {x: null}\n", &d),
                  "t.yaml:1:4: tag \"!!set\" is not allowed "
                  "on a mapping");
    CHECK_STR_HAS(parse_err("a: !!map [1]\n", &d),
                  "t.yaml:1:4: tag \"!!map\" is not allowed "
                  "on a sequence");
    CHECK_STR_HAS(
        parse_err("%TAG !! tag:example.com,2000:\n---\na: !!str x\n", &d),
        "t.yaml:3:4: unknown tag \"tag:example.com,2000:str\"");
    CHECK_STR_HAS(parse_err("!foo 1: x\n", &d), "t.yaml:1:1: unknown tag");
}

static void test_tagged_collections_ok(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse("!!map\na: !!seq [1]\n", &d);

    REQUIRE(doc != NULL);
    CHECK(json_is_array(json_object_get(cairn_yaml_root(doc), "a")));
    cairn_yaml_free(doc);
}

/* ---- refused structure, with exact positions ---- */

static void test_syntax_error(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: [1\nb: 2\n", &d),
                 "t.yaml:2:2: did not find expected ',' or ']' (while "
                 "parsing a flow sequence started at 1:4)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_HAS(parse_err("a: 1\n b: 2\n", &d), "t.yaml:2:3: ");
    CHECK_STR_HAS(parse_err("a: \"open\n", &d), "t.yaml:2:1: found unexpected "
                                                "end of stream");
    CHECK_STR_HAS(parse_err("a:\tb\n\t- x\n", &d), "t.yaml:2:1: found a tab");
}

static void test_duplicate_keys(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: 1\nb: 2\na: 3\n", &d),
                 "t.yaml:3:1: duplicate key \"a\" (first defined at 1:1)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_EQ(parse_err("top:\n  k: 1\n  j: [1, 2]\n  k: 2\n", &d),
                 "t.yaml:4:3: duplicate key \"k\" (first defined at 2:3)");
    /* The same string spelled two ways is the same key. */
    CHECK_STR_EQ(parse_err("1: a\n\"1\": b\n", &d),
                 "t.yaml:2:1: duplicate key \"1\" (first defined at 1:1)");
    CHECK_STR_EQ(parse_err("{x: 1, y: 2, x: 3}", &d),
                 "t.yaml:1:14: duplicate key \"x\" (first defined at 1:2)");
    /* Same key in sibling maps is fine. */
    CHECK_STR_EQ(parse_err("a: {k: 1}\nb: {k: 2}\n", &d), "(parsed fine)");
    /* Control characters in keys do not reach the message. */
    CHECK_STR_EQ(parse_err("\"a\\nb\": 1\n\"a\\nb\": 2\n", &d),
                 "t.yaml:2:1: duplicate key \"a?b\" (first defined at 1:1)");
}

static void test_long_key_in_message(void)
{
    /* 2 + 61 + 4 bytes: byte 64 is inside the second "\xc3\xa4". */
    char key[68], *src, *want;
    struct cairn_diag d;

    memcpy(key, "\xc3\xa4", 2);
    memset(key + 2, 'a', 61);
    memcpy(key + 63, "\xc3\xa4\xc3\xa4", 5);
    src = cairn_xasprintf("%s: 1\n%s: 2\n", key, key);
    key[63] = '\0';
    want = cairn_xasprintf("t.yaml:2:1: duplicate key \"%s...\" (first defined "
                           "at 1:1)",
                           key);
    CHECK_STR_EQ(parse_err(src, &d), want);
    free(src);
    free(want);
}

static void test_non_scalar_keys(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: 1\n? [x, y]\n: 2\n", &d),
                 "t.yaml:2:3: a sequence cannot be a mapping key (keys must be "
                 "scalars)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_HAS(parse_err("{{a: 1}: 2}", &d),
                  "t.yaml:1:2: a mapping cannot be a mapping key");
    CHECK_STR_EQ(parse_err("a: &x k\n*x : 1\n", &d),
                 "t.yaml:2:1: an alias cannot be a mapping key");
    CHECK_STR_EQ(parse_err("&k a: 1\n", &d),
                 "t.yaml:1:1: anchors on mapping keys are not supported");
}

static void test_multiple_documents(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: 1\n---\nb: 2\n", &d),
                 "t.yaml:2:1: more than one document (a file holds exactly "
                 "one)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_HAS(parse_err("--- 1\n--- 2\n", &d), "t.yaml:2:1: more than one");
    CHECK_STR_HAS(parse_err("a: 1\n...\n---\nb: 2\n", &d),
                  "t.yaml:3:1: more than one");
    /* An explicit end marker alone is still one document. */
    CHECK_STR_EQ(parse_err("---\na: 1\n...\n", &d), "(parsed fine)");
}

static void test_merge_key_refused(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc;

    CHECK_STR_EQ(parse_err("base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n", &d),
                 "t.yaml:3:3: merge keys (<<) are not supported: write the "
                 "keys out (quote \"<<\" for a literal key)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    doc = parse("\"<<\": 1\n", &d);
    REQUIRE(doc != NULL);
    CHECK_INT_EQ(
        json_integer_value(json_object_get(cairn_yaml_root(doc), "<<")), 1);
    cairn_yaml_free(doc);
}

static void test_nul_and_utf8(void)
{
    static const char nul[] = "a: 1\nb: x\0y\n";
    struct cairn_diag d;

    CHECK(parse_lim(nul, sizeof(nul) - 1, NULL, &d) == NULL);
    CHECK_STR_EQ(cairn_diag_msg(&d),
                 "t.yaml:2:5: control characters are not allowed (0x00)");
    CHECK_INT_EQ(d.code, CAIRN_EPARSE);
    CHECK_STR_EQ(parse_err("a: \"x\\0y\"\n", &d),
                 "t.yaml:1:4: NUL character in a scalar (\\0 escape) is not "
                 "allowed");
    CHECK_STR_EQ(parse_err("a: ok\nb: \xff\n", &d),
                 "t.yaml:2:4: invalid leading UTF-8 octet (0xff)");
    /* The reader points at the offending byte: here the newline cutting
     * a three-byte sequence short. */
    CHECK_STR_EQ(parse_err("\xc3\xa4: \xe2\x82\n", &d),
                 "t.yaml:1:5: invalid trailing UTF-8 octet (0x0a)");
    CHECK_STR_HAS(parse_err("a: \"\\ud800\"\n", &d), "t.yaml:1:");
    /* Columns count characters: "äö" is two columns, four bytes. */
    CHECK_STR_HAS(parse_err("\xc3\xa4\xc3\xb6: !foo x\n", &d),
                  "t.yaml:1:5: unknown tag");
}

static void test_undefined_alias(void)
{
    struct cairn_diag d;

    CHECK_STR_EQ(parse_err("a: 1\nb: *nope\n", &d),
                 "t.yaml:2:4: alias *nope refers to no anchor defined before "
                 "it");
    /* An anchor cannot be used inside itself (JSON has no cycles). */
    CHECK_STR_HAS(parse_err("a: &s [1, *s]\n", &d),
                  "t.yaml:1:11: alias *s refers to no anchor");
}

/* ---- caps ---- */

/* The classic: each level nine aliases of the one before. Fully expanded,
 * "i" alone would be over 400 million nodes. */
static const char laughs[] = "a: &a "
                             "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
                             "\"lol\",\"lol\",\"lol\"]\n"
                             "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                             "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                             "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                             "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                             "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                             "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                             "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                             "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";

static void test_billion_laughs(void)
{
    struct cairn_diag d;

    /* Nodes before f: 1 + 10 + 91 + 820 + 7381 + 66430 = 74733; f's
     * sequence and its first *e (66430 more) cross 100000. */
    CHECK_STR_EQ(parse_err(laughs, &d),
                 "t.yaml:6:8: document has more than 100000 nodes (aliases "
                 "expanded)");
    CHECK_INT_EQ(d.code, CAIRN_ETOOBIG);
}

/* The node cap alone does not bound memory: each alias of one long
 * scalar is a single node but a full copy of its text. A 130 KB file of
 * one 128 KiB string and 2048 aliases of it would hold 256 MiB; the text
 * after expansion is capped at 8 times the input cap. */
static void test_alias_text_bomb(void)
{
    const size_t big = (size_t)1 << 17, aliases = 2048;
    struct cairn_yaml_limits lim = {big + aliases * 3 + 64, 0, 0};
    char *s = cairn_xmalloc(lim.max_bytes);
    struct cairn_yaml_doc *doc;
    struct cairn_diag d;
    size_t n = 0;

    memcpy(s, "a: &x ", 6);
    n = 6;
    memset(s + n, 'x', big);
    n += big;
    memcpy(s + n, "\nb: [", 5);
    n += 5;
    for (size_t i = 0; i < aliases; i++, n += 3)
        memcpy(s + n, "*x,", 3);
    s[n++] = ']';
    doc = parse_lim(s, n, &lim, &d);
    CHECK(doc == NULL);
    CHECK_INT_EQ(d.code, CAIRN_ETOOBIG);
    CHECK_STR_HAS(cairn_diag_msg(&d), "bytes of text (aliases expanded)");
    cairn_yaml_free(doc);
    /* A few copies stay well inside the cap. */
    n = 6 + big;
    memcpy(s + n, "\nb: [*x, *x, *x]\n", 17);
    n += 17;
    doc = parse_lim(s, n, &lim, &d);
    CHECK(doc != NULL);
    cairn_yaml_free(doc);
    free(s);
}

static void test_node_cap_exact(void)
{
    static const char s[] = "a: &a [1, 2]\nb: [*a, *a]\n"; /* 11 nodes */
    struct cairn_yaml_limits lim = {0, 11, 0};
    struct cairn_yaml_doc *doc;
    struct cairn_diag d;

    doc = parse_lim(s, strlen(s), &lim, &d);
    CHECK(doc != NULL);
    cairn_yaml_free(doc);
    lim.max_nodes = 10;
    CHECK(parse_lim(s, strlen(s), &lim, &d) == NULL);
    CHECK_STR_EQ(cairn_diag_msg(&d), "t.yaml:2:9: document has more than 10 "
                                     "nodes (aliases expanded)");
    CHECK_INT_EQ(d.code, CAIRN_ETOOBIG);
    lim.max_nodes = 3;
    CHECK(parse_lim("[1, 2, 3]", 9, &lim, &d) == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "t.yaml:1:8: document has more than 3");
}

static void test_size_cap(void)
{
    char buf[101];
    struct cairn_yaml_limits lim = {99, 0, 0};
    struct cairn_yaml_doc *doc = NULL, *sentinel = (void *)buf;
    struct cairn_diag d;

    memset(buf, 'x', 100);
    buf[100] = '\0';
    doc = sentinel;
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_parse("t.yaml", buf, 100, &lim, &doc, &d),
                 CAIRN_ETOOBIG);
    CHECK_STR_EQ(cairn_diag_msg(&d),
                 "t.yaml: 100 bytes is over the 99-byte cap");
    CHECK(doc == sentinel); /* out-param untouched on error */
    lim.max_bytes = 100;
    doc = parse_lim(buf, 100, &lim, &d);
    REQUIRE(doc != NULL);
    CHECK_INT_EQ(strlen(json_string_value(cairn_yaml_root(doc))), 100);
    cairn_yaml_free(doc);
}

static void test_depth_cap(void)
{
    static const char s[] = "a:\n  b:\n    c:\n      d: 1\n";
    struct cairn_yaml_limits lim = {0, 0, 3};
    struct cairn_yaml_doc *doc;
    struct cairn_diag d;
    char deep[200];

    CHECK(parse_lim(s, strlen(s), &lim, &d) == NULL);
    CHECK_STR_EQ(cairn_diag_msg(&d),
                 "t.yaml:4:7: nesting deeper than 3 levels");
    CHECK_INT_EQ(d.code, CAIRN_ETOOBIG);
    lim.max_depth = 4;
    doc = parse_lim(s, strlen(s), &lim, &d);
    CHECK(doc != NULL);
    cairn_yaml_free(doc);
    lim.max_depth = 3;
    CHECK(parse_lim("[[[[1]]]]", 9, &lim, &d) == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "t.yaml:1:4: nesting deeper than 3");
    /* Default cap 64: 64 levels parse, 65 do not. */
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    doc = parse_lim(deep, 128, NULL, &d);
    CHECK(doc != NULL);
    cairn_yaml_free(doc);
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    CHECK(parse_lim(deep, 130, NULL, &d) == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "t.yaml:1:65: nesting deeper than 64");
}

static void test_depth_cap_through_alias(void)
{
    static const char s[] = "a: &x [[1]]\nb: [*x]\n"; /* *x reaches depth 4 */
    struct cairn_yaml_limits lim = {0, 0, 3};
    struct cairn_yaml_doc *doc;
    struct cairn_diag d;

    CHECK(parse_lim(s, strlen(s), &lim, &d) == NULL);
    CHECK_STR_EQ(cairn_diag_msg(&d),
                 "t.yaml:2:5: alias *x nests deeper than 3 levels");
    CHECK_INT_EQ(d.code, CAIRN_ETOOBIG);
    lim.max_depth = 4;
    doc = parse_lim(s, strlen(s), &lim, &d);
    CHECK(doc != NULL);
    cairn_yaml_free(doc);
}

/* ---- locations ---- */

static const char site[] = "name: web\n"                 /* 1 */
                           "ports:\n"                    /* 2 */
                           "  - 80\n"                    /* 3 */
                           "  - {host: h, port: 8080}\n" /* 4 */
                           "env:\n"                      /* 5 */
                           "  A/B: x\n"                  /* 6 */
                           "  \"m~n\": y\n"              /* 7 */
                           "nested:\n"                   /* 8 */
                           "  deep:\n"                   /* 9 */
                           "    - - inner\n"             /* 10 */
                           "text: |\n"                   /* 11 */
                           "  hello\n"                   /* 12 */
                           "empty:\n"                    /* 13 */
                           "\"\": root-empty-key\n";     /* 14 */

static void test_locate_nested(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse(site, &d);

    REQUIRE(doc != NULL);
    CHECK(loc_is(doc, "", 1, 1));
    CHECK(loc_is(doc, "/name", 1, 7));
    CHECK(loc_is(doc, "/ports", 3, 3));
    CHECK(loc_is(doc, "/ports/0", 3, 5));
    CHECK(loc_is(doc, "/ports/1", 4, 5));
    CHECK(loc_is(doc, "/ports/1/host", 4, 12));
    CHECK(loc_is(doc, "/ports/1/port", 4, 21));
    CHECK(loc_is(doc, "/env", 6, 3));
    CHECK(loc_is(doc, "/nested/deep", 10, 5));
    CHECK(loc_is(doc, "/nested/deep/0", 10, 7));
    CHECK(loc_is(doc, "/nested/deep/0/0", 10, 9));
    CHECK(loc_is(doc, "/text", 11, 7));
    CHECK(loc_is(doc, "/empty", 13, 7));
    CHECK(json_is_null(json_object_get(cairn_yaml_root(doc), "empty")));
    CHECK(loc_is(doc, "/", 14, 5));
    CHECK_STR_EQ(cairn_yaml_file(doc), "t.yaml");
    cairn_yaml_free(doc);
}

static void test_locate_escapes_and_missing(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse(site, &d);

    REQUIRE(doc != NULL);
    CHECK(loc_is(doc, "/env/A~1B", 6, 8));
    CHECK(loc_is(doc, "/env/m~0n", 7, 10));
    CHECK(loc_is(doc, "/env/A/B", 6, 3));  /* no key "A": /env */
    CHECK(loc_is(doc, "/env/m~2n", 6, 3)); /* bad escape: /env */
    CHECK(loc_is(doc, "/env/m~", 6, 3));   /* dangling ~: /env */
    CHECK(loc_is(doc, "/env/m~1n", 6, 3)); /* "m/n" is not a key */
    CHECK(loc_is(doc, "/ports/2", 3, 3));  /* past the end */
    CHECK(loc_is(doc, "/ports/01", 3, 3)); /* leading zero */
    CHECK(loc_is(doc, "/ports/-", 3, 3));  /* "-" names no element */
    CHECK(loc_is(doc, "/ports/99999999999", 3, 3));
    CHECK(loc_is(doc, "/name/x", 1, 7)); /* scalars have no children */
    CHECK(loc_is(doc, "/ports/1/host/", 4, 12));
    CHECK(loc_is(doc, "/nope/deeper", 1, 1));
    CHECK(loc_is(doc, "name", 1, 1)); /* malformed: the root */
    cairn_yaml_free(doc);
}

static void test_locate_key(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse(site, &d);
    struct cairn_loc l;

    REQUIRE(doc != NULL);
    l = cairn_yaml_locate_key(doc, "/nested");
    CHECK(l.line == 8 && l.col == 1);
    l = cairn_yaml_locate_key(doc, "/ports/1/port");
    CHECK(l.line == 4 && l.col == 15);
    l = cairn_yaml_locate_key(doc, "/ports/0"); /* no key: the node */
    CHECK(l.line == 3 && l.col == 5);
    l = cairn_yaml_locate_key(doc, "");
    CHECK(l.line == 1 && l.col == 1);
    l = cairn_yaml_locate_key(doc, "/env/nope"); /* ancestor's key */
    CHECK(l.line == 5 && l.col == 1);
    cairn_yaml_free(doc);
}

static void test_locate_long_pointer(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc;
    char *src, *ptr, key[401];

    memset(key, 'k', 400);
    key[400] = '\0';
    src = cairn_xasprintf("a:\n  %s: 1\n", key);
    ptr = cairn_xasprintf("/a/%s", key);
    doc = parse(src, &d);
    REQUIRE(doc != NULL);
    CHECK(loc_is(doc, ptr, 2, 405));
    cairn_yaml_free(doc);
    free(src);
    free(ptr);
}

static void test_crlf_and_scalar_root(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc;

    CHECK_STR_HAS(parse_err("a: 1\r\nb: !foo x\r\n", &d), "t.yaml:2:4: ");
    CHECK_STR_HAS(parse_err("a: 1\r\nb: \xff\r\n", &d), "t.yaml:2:4: ");
    CHECK_STR_HAS(parse_err("a: 1\rb: \xff\r", &d), "t.yaml:2:4: ");
    doc = parse("  hello\n", &d);
    REQUIRE(doc != NULL);
    CHECK_STR_EQ(json_string_value(cairn_yaml_root(doc)), "hello");
    CHECK(loc_is(doc, "", 1, 3));
    CHECK(loc_is(doc, "/x", 1, 3));
    cairn_yaml_free(doc);
}

static void test_empty_containers(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse("[]", &d);

    REQUIRE(doc != NULL);
    CHECK(json_is_array(cairn_yaml_root(doc)));
    CHECK(loc_is(doc, "/0", 1, 1));
    cairn_yaml_free(doc);
    doc = parse("a: {}\nb: []\nc: [{}]\n", &d);
    REQUIRE(doc != NULL);
    CHECK(loc_is(doc, "/b", 2, 4));
    CHECK(loc_is(doc, "/b/0", 2, 4));
    CHECK(loc_is(doc, "/c/0/x", 3, 5));
    cairn_yaml_free(doc);
}

/* ---- aliases ---- */

static const char aliased[] = "defaults: &d\n"   /* 1 */
                              "  port: 80\n"     /* 2 */
                              "  tags: [a, b]\n" /* 3 */
                              "svc:\n"           /* 4 */
                              "  cfg: *d\n"      /* 5 */
                              "list: [*d, *d]\n" /* 6 */
                              "x: &x {a: 1}\n"   /* 7 */
                              "y: &y {b: *x}\n"  /* 8 */
                              "z: *y\n";         /* 9 */

static void test_alias_values_and_locations(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse(aliased, &d);
    json_t *r, *cfg;

    REQUIRE(doc != NULL);
    r = cairn_yaml_root(doc);
    cfg = json_object_get(json_object_get(r, "svc"), "cfg");
    CHECK(json_equal(cfg, json_object_get(r, "defaults")));
    /* Copies, not shared: editing one leaves the others alone. */
    json_integer_set(json_object_get(cfg, "port"), 81);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(r, "defaults"), "port")),
                 80);
    CHECK(json_array_get(json_object_get(r, "list"), 0) !=
          json_array_get(json_object_get(r, "list"), 1));
    CHECK_INT_EQ(json_integer_value(json_object_get(
                     json_object_get(json_object_get(r, "z"), "b"), "a")),
                 1);
    CHECK(loc_is(doc, "/svc/cfg", 5, 8));      /* the alias itself */
    CHECK(loc_is(doc, "/svc/cfg/port", 2, 9)); /* where it is written */
    CHECK(loc_is(doc, "/svc/cfg/tags/1", 3, 13));
    CHECK(loc_is(doc, "/svc/cfg/nope", 5, 8));
    CHECK(loc_is(doc, "/list/1", 6, 12));
    CHECK(loc_is(doc, "/list/1/port", 2, 9));
    CHECK(loc_is(doc, "/z/b/a", 7, 11)); /* alias inside an alias */
    CHECK(loc_is(doc, "/z/b", 8, 11));
    cairn_yaml_free(doc);
}

static void test_anchor_redefined(void)
{
    struct cairn_diag d;
    struct cairn_yaml_doc *doc = parse("a: &v 1\nb: *v\nc: &v 2\nd: *v\n", &d);
    json_t *r;

    REQUIRE(doc != NULL);
    r = cairn_yaml_root(doc);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "b")), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "d")), 2);
    CHECK(loc_is(doc, "/d", 4, 4));
    cairn_yaml_free(doc);
}

/* ---- empty documents, files, arguments ---- */

static void test_empty_documents(void)
{
    static const struct {
        const char *text;
        int line, col; /* where the (null) root is, or 1:1 without one */
    } empties[] = {
        {"", 1, 1},
        {"# only\n# comments\n", 1, 1},
        {"\n\n", 1, 1},
        {"\xef\xbb\xbf", 1, 1}, /* a BOM alone */
        {"~\n", 1, 1},
        {"---\n", 2, 1}, /* the empty node sits after the marker */
        {"--- # c\n...\n", 2, 1},
    };

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(empties); i++) {
        struct cairn_diag d;
        struct cairn_yaml_doc *doc = parse(empties[i].text, &d);

        CHECK(doc != NULL);
        if (!doc) {
            fprintf(stderr, "  empty case %zu: %s\n", i, cairn_diag_msg(&d));
            continue;
        }
        CHECK(json_is_null(cairn_yaml_root(doc)));
        CHECK(loc_is(doc, "/a", empties[i].line, empties[i].col));
        cairn_yaml_free(doc);
    }
}

static void test_load(void)
{
    char *dir = test_tmpdir();
    char *ok = cairn_xasprintf("%s/site.yaml", dir);
    char *big = cairn_xasprintf("%s/big.yaml", dir);
    char *none = cairn_xasprintf("%s/missing.yaml", dir);
    struct cairn_yaml_limits lim = {16, 0, 0};
    struct cairn_yaml_doc *doc = NULL;
    struct cairn_diag d;
    struct cairn_loc l;

    test_write_file(ok, "a: 1\nb: [x]\n", 12);
    test_write_file(big, "a: 1\nb: 2\nc: 3\nd: 4\n", 20);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_load(ok, &lim, &doc, &d), 0);
    l = cairn_yaml_locate(doc, "/b/0");
    CHECK_STR_EQ(l.file, ok);
    CHECK(l.line == 2 && l.col == 5);
    cairn_yaml_free(doc);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_load(big, &lim, &doc, &d), CAIRN_ETOOBIG);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "big.yaml: 20 bytes, over its cap of 16 bytes");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_load(none, NULL, &doc, &d), CAIRN_ENOENT);
    CHECK_STR_HAS(cairn_diag_msg(&d), "missing.yaml: open: No such file");
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_load(dir, NULL, &doc, &d), CAIRN_EIO);
    test_write_file(ok, "a: 1\na: 2\n", 10);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_load(ok, NULL, &doc, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "/site.yaml:2:1: duplicate key \"a\"");
    test_rm_rf(dir);
    free(dir);
    free(ok);
    free(big);
    free(none);
}

static void test_arguments(void)
{
    struct cairn_yaml_doc *doc = NULL;
    struct cairn_diag d;
    struct cairn_loc l;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_yaml_parse(NULL, "a", 1, NULL, &doc, &d), CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_yaml_parse("f", NULL, 1, NULL, &doc, NULL),
                 CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_yaml_parse("f", "a", 1, NULL, NULL, NULL), CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_yaml_load(NULL, NULL, &doc, NULL), CAIRN_EINVAL);
    CHECK(doc == NULL);
    /* NULL data with zero length is an empty document. */
    CHECK_INT_EQ(cairn_yaml_parse("f", NULL, 0, NULL, &doc, NULL), 0);
    CHECK(json_is_null(cairn_yaml_root(doc)));
    cairn_yaml_free(doc);
    CHECK_INT_EQ(cairn_yaml_parse("f", "a: a: a", 7, NULL, &doc, NULL),
                 CAIRN_EPARSE);
    cairn_yaml_free(NULL);
    CHECK(cairn_yaml_root(NULL) == NULL);
    CHECK(cairn_yaml_file(NULL) == NULL);
    l = cairn_yaml_locate(NULL, "/a");
    CHECK(l.file == NULL && l.line == 1 && l.col == 1);
}

/* ---- scale (correctness at size; timing lives in tests/bench) ---- */

static void test_many_small_documents(void)
{
    static const char one[] =
        "kind: Site\nname: s-0042\nlabels:\n  region: eu-west\n  tier: edge\n"
        "publicKey: \"ssh-ed25519 AAAA k\"\nvalues:\n  replicas: 2\n"
        "  ratio: 0.5\n  debug: false\n  workloads: [xray, triage]\n"
        "  env: {A: \"1\", B: two}\n";
    int bad = 0;

    for (int i = 0; i < 10000; i++) {
        struct cairn_diag d;
        struct cairn_yaml_doc *doc = parse(one, &d);
        struct cairn_loc l = cairn_yaml_locate(doc, "/values/workloads/1");

        if (!doc || l.line != 11 || l.col != 21)
            bad++;
        cairn_yaml_free(doc);
    }
    CHECK_INT_EQ(bad, 0);
}

static struct cairn_yaml_doc *parse_buf(struct cairn_buf *b, int rc,
                                        struct cairn_diag *d)
{
    if (rc != 0)
        return NULL;
    return parse_lim(b->data, b->len, NULL, d);
}

static void test_wide_and_long(void)
{
    struct cairn_buf b;
    struct cairn_yaml_doc *doc;
    struct cairn_diag d;
    int rc = 0;

    /* 50,000 keys: a quadratic source map would crawl here. */
    cairn_buf_init(&b, 0);
    for (int i = 0; i < 50000 && rc == 0; i++)
        rc = cairn_buf_appendf(&b, "k%d: %d\n", i, i);
    doc = parse_buf(&b, rc, &d);
    CHECK(doc != NULL);
    if (doc) {
        CHECK(loc_is(doc, "/k31337", 31338, 9));
        CHECK(loc_is(doc, "/k49999", 50000, 9));
    }
    cairn_yaml_free(doc);
    /* A long key over many children: memory stays linear (no stored
     * pointer strings repeating the key). */
    cairn_buf_reset(&b);
    rc = cairn_buf_appendf(&b, "? %0200000d\n:\n", 7);
    for (int i = 0; i < 20000 && rc == 0; i++)
        rc = cairn_buf_appendf(&b, "  c%d: %d\n", i, i);
    doc = parse_buf(&b, rc, &d);
    CHECK(doc != NULL);
    if (doc)
        CHECK_INT_EQ(json_object_size(json_object_iter_value(
                         json_object_iter(cairn_yaml_root(doc)))),
                     20000);
    cairn_yaml_free(doc);
    cairn_buf_free(&b);
}

int main(void)
{
    RUN(test_scalar_typing);
    RUN(test_keys_are_strings);
    RUN(test_bad_scalars);
    RUN(test_unknown_tags);
    RUN(test_tagged_collections_ok);
    RUN(test_syntax_error);
    RUN(test_duplicate_keys);
    RUN(test_long_key_in_message);
    RUN(test_non_scalar_keys);
    RUN(test_multiple_documents);
    RUN(test_merge_key_refused);
    RUN(test_nul_and_utf8);
    RUN(test_undefined_alias);
    RUN(test_billion_laughs);
    RUN(test_alias_text_bomb);
    RUN(test_node_cap_exact);
    RUN(test_size_cap);
    RUN(test_depth_cap);
    RUN(test_depth_cap_through_alias);
    RUN(test_locate_nested);
    RUN(test_locate_escapes_and_missing);
    RUN(test_locate_key);
    RUN(test_locate_long_pointer);
    RUN(test_crlf_and_scalar_root);
    RUN(test_empty_containers);
    RUN(test_alias_values_and_locations);
    RUN(test_anchor_redefined);
    RUN(test_empty_documents);
    RUN(test_load);
    RUN(test_arguments);
    RUN(test_many_small_documents);
    RUN(test_wide_and_long);
    return test_done();
}
