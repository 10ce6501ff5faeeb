#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cairn/json.h"
#include "cairn/mem.h"
#include "test.h"

/* canonical(parse(in)) */
static char *canon_of(const char *in)
{
    json_t *v = NULL;
    char *s;

    if (cairn_json_parse(in, strlen(in), 1 << 20, &v, NULL) != 0)
        return cairn_xstrdup("(parse error)");
    s = cairn_json_canonical(v);
    json_decref(v);
    return s;
}

#define CHECK_CANON(in, want)                                                  \
    do {                                                                       \
        char *got_ = canon_of(in);                                             \
        CHECK_STR_EQ(got_, want);                                              \
        free(got_);                                                            \
    } while (0)

static void test_compact_sorted(void)
{
    CHECK_CANON("{ \"b\" : 1 , \"a\" : [ true , false , null , \"x\" ] ,\n"
                "  \"c\" : { \"z\" : 1 , \"y\" : { } , \"x\" : [ ] } }",
                "{\"a\":[true,false,null,\"x\"],\"b\":1,\"c\":{\"x\":[],\"y\":{"
                "},\"z\":1}}");
    CHECK_CANON("[]", "[]");
    CHECK_CANON("42", "42");
    CHECK_CANON("\"s\"", "\"s\"");
    CHECK_CANON("null", "null");
}

static void test_keys_sorted_bytewise(void)
{
    /* bytes: "" < "B" < "Z" < "a" < "aa" < "ab" < "\xc3\xa9" (é) <
     * "\xe2\x82\xac" (€) */
    CHECK_CANON(
        "{\"€\":8,\"é\":7,\"ab\":6,\"aa\":5,\"a\":4,\"Z\":3,\"B\":2,\"\":1}",
        "{\"\":1,\"B\":2,\"Z\":3,\"a\":4,\"aa\":5,\"ab\":6,\"é\":7,\"€\":8}");
}

static void test_strings(void)
{
    /* UTF-8 kept as is (incl. escaped non-ASCII input); only ", \ and
     * control characters escaped; "/" and DEL are not. */
    CHECK_CANON("\"q\\\"b\\\\s\\/ \\u00e9 é € 😀 \\ud83d\\ude00\"",
                "\"q\\\"b\\\\s/ é é € 😀 😀\"");
    CHECK_CANON("\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"",
                "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
}

/* The reference escaper, one byte at a time (the spec in json.h). */
static void ref_string(struct cairn_buf *b, const char *s, size_t n)
{
    CHECK(cairn_buf_append(b, "\"", 1) == 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];

        if (c == '"' || c == '\\')
            snprintf(e, sizeof(e), "\\%c", c);
        else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            snprintf(e, sizeof(e), "\\%c",
                     "bfnrt"[strchr("\b\f\n\r\t", c) - "\b\f\n\r\t"]);
        else if (c < 0x20)
            snprintf(e, sizeof(e), "\\u%04x", c);
        else
            snprintf(e, sizeof(e), "%c", c);
        CHECK(cairn_buf_append(b, e, strlen(e)) == 0);
    }
    CHECK(cairn_buf_append(b, "\"", 1) == 0);
}

/* Strings are scanned eight bytes at a time: every byte that needs an
 * escape (and its neighbours that don't: 0x1f/0x20, '!'/'#', '['/']',
 * 0x7f, 0x80, 0xff), at every offset and length around the word size. */
static void test_append_string_every_offset(void)
{
    static const unsigned char probe[] = {
        0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x20, '!',
        '"',  '#',  '[',  '\\', ']',  0x7f, 0x80, 0xa2, 0xdc, 0xff};
    char s[40];
    struct cairn_buf got, want;

    cairn_buf_init(&got, 0);
    cairn_buf_init(&want, 0);
    for (size_t len = 0; len <= sizeof(s); len++)
        for (size_t at = 0; at < len || (len == 0 && at == 0); at++)
            for (size_t p = 0; p < sizeof(probe); p++) {
                memset(s, 'A' + (int)(len % 26), sizeof(s));
                if (len)
                    s[at] = (char)probe[p];
                if (len > 17)
                    s[len - 1] = '"'; /* a second escape in another word */
                cairn_buf_reset(&got);
                cairn_buf_reset(&want);
                CHECK(cairn_json_append_string(&got, s, len) == 0);
                ref_string(&want, s, len);
                CHECK_INT_EQ(got.len, want.len);
                CHECK(memcmp(got.data, want.data, want.len) == 0);
            }
    cairn_buf_free(&got);
    cairn_buf_free(&want);
}

static void test_append_string_cap(void)
{
    struct cairn_buf b;
    json_t *v =
        json_string("tab\there, quote \" and a long tail of plain text");
    char *canon = cairn_json_canonical(v);

    /* the same bytes as the canonical renderer */
    cairn_buf_init(&b, 0);
    CHECK(cairn_json_append_string(&b, json_string_value(v),
                                   json_string_length(v)) == 0);
    CHECK_STR_EQ(b.data, canon);
    cairn_buf_free(&b);
    /* past the cap: an error and the buffer as it was */
    cairn_buf_init(&b, 20);
    CHECK(cairn_buf_append(&b, "head:", 5) == 0);
    CHECK_INT_EQ(cairn_json_append_string(&b, json_string_value(v),
                                          json_string_length(v)),
                 CAIRN_ETOOBIG);
    CHECK_INT_EQ(b.len, 5);
    CHECK_STR_EQ(b.data, "head:");
    CHECK(cairn_json_append_string(&b, "ok", 2) == 0);
    CHECK_STR_EQ(b.data, "head:\"ok\"");
    cairn_buf_free(&b);
    free(canon);
    json_decref(v);
}

static void test_integers_exact(void)
{
    CHECK_CANON("[0,-0,1,-1,9223372036854775807,-9223372036854775808,1000000]",
                "[0,0,1,-1,9223372036854775807,-9223372036854775808,1000000]");
}

static void test_reals_shortest(void)
{
    static const char *const cases[][2] = {
        {"0.8", "0.8"},
        {"0.1", "0.1"},
        {"1.0", "1.0"},
        {"100.0", "100.0"},
        {"-0.0", "-0.0"},
        {"0.60", "0.6"},
        {"1e2", "100.0"},
        {"1.5e-7", "1.5e-07"},
        {"0.0001", "0.0001"},
        {"0.00001", "1e-05"},
        {"1e16", "1e+16"},
        {"1e15", "1000000000000000.0"},
        {"123456.789", "123456.789"},
        {"2.5e300", "2.5e+300"},
        {"5e-324", "5e-324"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"-12.5", "-12.5"},
        {"3.14159", "3.14159"},
    };

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++)
        CHECK_CANON(cases[i][0], cases[i][1]);
}

/* Our canonical form equals Python's json.dumps(sort_keys, compact,
 * ensure_ascii=False) of the same document: an independent renderer. */
static void test_matches_python(void)
{
    static const char doc[] =
        "{\"kind\":\"cairn.desired/"
        "v1\",\"generation\":12,\"z\":[0.8,0.6,1e-9,3.0,1e21,"
        "-7.25,0.1,2.675,1234567890.125],\"nested\":{\"b\":{\"é\":"
        "\"ünï\\u0001\\n\"},"
        "\"a\":[null,true,false,-9223372036854775808]},\"\":\"\\\"\\\\\",\"A\":"
        "\"x/y\"}";
    char *dir = test_tmpdir(), path[4200], cmd[8400], out[4096];
    char *ours = canon_of(doc);
    FILE *p;
    size_t n;

    snprintf(path, sizeof(path), "%s/doc.json", dir);
    test_write_file(path, doc, strlen(doc));
    snprintf(
        cmd, sizeof(cmd),
        "/usr/bin/python3 -c 'import json,sys; sys.stdout.write(json.dumps("
        "json.load(open(sys.argv[1], encoding=\"utf-8\")), sort_keys=True, "
        "separators=(\",\",\":\"), ensure_ascii=False))' '%s'",
        path);
    p = popen(cmd, "r");
    REQUIRE(p != NULL);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    CHECK_INT_EQ(pclose(p), 0);
    CHECK_STR_EQ(ours, out);
    free(ours);
    test_rm_rf(dir);
    free(dir);
}

/* Python's json.dumps of a file's JSON, into a fresh string. */
static char *python_dumps(const char *path)
{
    char cmd[4400];
    struct cairn_buf b;
    char chunk[4096];
    size_t n;
    FILE *p;

    snprintf(
        cmd, sizeof(cmd),
        "/usr/bin/python3 -c 'import json,sys; sys.stdout.write(json.dumps("
        "json.load(open(sys.argv[1], encoding=\"utf-8\")), sort_keys=True, "
        "separators=(\",\",\":\"), ensure_ascii=False))' '%s'",
        path);
    p = popen(cmd, "r");
    if (!p)
        return cairn_xstrdup("(popen failed)");
    cairn_buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        if (cairn_buf_append(&b, chunk, n) != 0)
            abort();
    pclose(p);
    return cairn_buf_steal(&b, NULL);
}

/* 3000 doubles from random bit patterns over the whole exponent range:
 * the shortest-repr rendering agrees with Python's float repr. */
static void test_random_reals_match_python(void)
{
    char *dir = test_tmpdir(), path[4200], *ours, *theirs;
    json_t *arr = json_array();
    uint64_t x = 0x9e3779b97f4a7c15u;
    FILE *f;

    for (int i = 0; i < 3000; i++) {
        double v;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        if (i % 3 == 0) /* plenty of "ordinary" magnitudes too */
            v = (double)(x % 100000000) / (double)(1 + x % 9973);
        json_array_append_new(arr, json_real(v));
    }
    ours = cairn_json_canonical(arr);
    snprintf(path, sizeof(path), "%s/reals.json", dir);
    f = fopen(path, "w");
    REQUIRE(f != NULL);
    /* jansson's own 17-digit dump as the input, so the two renderers start
     * from the same doubles */
    json_dumpf(arr, f, JSON_COMPACT);
    fclose(f);
    theirs = python_dumps(path);
    CHECK_INT_EQ(strlen(ours), strlen(theirs));
    CHECK(strcmp(ours, theirs) == 0);
    free(ours);
    free(theirs);
    json_decref(arr);
    test_rm_rf(dir);
    free(dir);
}

static void test_idempotent(void)
{
    static const char *const docs[] = {
        "{\"b\":[1.5,{\"d\":null,\"c\":\"\\u0000x\"}],\"a\":-0.0}",
        "[1e300,0.5e-5,\"\\t\",{}]",
    };

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(docs); i++) {
        json_t *v = json_loads(docs[i], JSON_ALLOW_NUL, NULL);
        char *one, *two;

        REQUIRE(v != NULL);
        one = cairn_json_canonical(v);
        json_decref(v);
        v = json_loads(one, JSON_ALLOW_NUL, NULL);
        REQUIRE(v != NULL);
        two = cairn_json_canonical(v);
        CHECK_STR_EQ(one, two);
        json_decref(v);
        free(one);
        free(two);
    }
}

/* Built in memory: keys with NUL bytes sort by all their bytes and are
 * escaped; integers and reals built directly. */
static void test_built_values(void)
{
    json_t *o = json_object();
    char *s;

    json_object_setn_new(o, "a\0b", 3, json_integer(2));
    json_object_setn_new(o, "a", 1, json_integer(1));
    json_object_setn_new(o, "a\0a", 3, json_real(0.25));
    json_object_set_new(o, "big", json_real(1e100));
    s = cairn_json_canonical(o);
    CHECK_STR_EQ(s,
                 "{\"a\":1,\"a\\u0000a\":0.25,\"a\\u0000b\":2,\"big\":1e+100}");
    free(s);
    json_decref(o);
    CHECK(cairn_json_canonical(NULL) == NULL);
}

static int parse_fails(const char *buf, size_t len, size_t cap, int rc,
                       const char *want)
{
    json_t *v = (json_t *)(uintptr_t)1;
    struct cairn_diag d;
    int got;

    cairn_diag_init(&d);
    got = cairn_json_parse(buf, len, cap, &v, &d);
    if (got != rc || !strstr(cairn_diag_msg(&d), want) ||
        v != (json_t *)(uintptr_t)1) {
        fprintf(stderr, "  parse %.*s: got %s \"%s\"\n", (int)len, buf,
                cairn_errname(got), cairn_diag_msg(&d));
        return 0;
    }
    return 1;
}

#define FAILS(s, rc, want) parse_fails((s), sizeof(s) - 1, 1000, (rc), (want))

static void test_parse_refuses(void)
{
    CHECK(FAILS("{\"a\":1,\"a\":2}", CAIRN_EPARSE, "duplicate object key"));
    CHECK(FAILS("{\"x\":{\"k\":1,\"k\":1}}", CAIRN_EPARSE, "duplicate"));
    CHECK(FAILS("{\"a\":\"x\0y\"}", CAIRN_EPARSE, "NUL byte at offset 7"));
    CHECK(
        FAILS("{\"a\":\"x\\u0000y\"}", CAIRN_EPARSE, "\\u0000 is not allowed"));
    CHECK(FAILS("{\"a\\u0000\":1}", CAIRN_EPARSE, "line 1"));
    CHECK(FAILS("{\"a\":1} x", CAIRN_EPARSE, "end of file expected"));
    CHECK(FAILS("{\"a\":1,}", CAIRN_EPARSE, "line 1 column"));
    CHECK(FAILS("{\n\"a\":\n tru }", CAIRN_EPARSE, "line 3"));
    CHECK(FAILS("", CAIRN_EPARSE, "line"));
    CHECK(FAILS("[9223372036854775808]", CAIRN_EPARSE, "too big integer"));
    CHECK(FAILS("[1e400]", CAIRN_EPARSE, "overflow"));
    CHECK(FAILS("\"\xc3\x28\"", CAIRN_EPARSE, "unable to decode byte 0xc3"));
    CHECK(FAILS("\"\\ud800\"", CAIRN_EPARSE, "invalid Unicode"));
    CHECK(FAILS("[NaN]", CAIRN_EPARSE, "line 1"));
    CHECK(parse_fails("[1,2,3]", 7, 6, CAIRN_ETOOBIG,
                      "7 bytes, over the cap of 6"));
}

static void test_parse_ok(void)
{
    json_t *v = NULL;

    /* exactly at the cap; only len bytes are read */
    REQUIRE(cairn_json_parse("[1,2,3]garbage", 7, 7, &v, NULL) == 0);
    CHECK_INT_EQ(json_array_size(v), 3);
    json_decref(v);
    REQUIRE(cairn_json_parse(" true ", 6, 6, &v, NULL) == 0);
    CHECK(json_is_true(v));
    json_decref(v);
}

int main(void)
{
    RUN(test_compact_sorted);
    RUN(test_keys_sorted_bytewise);
    RUN(test_strings);
    RUN(test_append_string_every_offset);
    RUN(test_append_string_cap);
    RUN(test_integers_exact);
    RUN(test_reals_shortest);
    RUN(test_matches_python);
    RUN(test_random_reals_match_python);
    RUN(test_idempotent);
    RUN(test_built_values);
    RUN(test_parse_refuses);
    RUN(test_parse_ok);
    return test_done();
}
