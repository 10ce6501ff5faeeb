/* Publishing: times, the payload, spliced signing, re-issue
 * (controller/publish.c). */
#include "test.h"

#include "cairn/dsse.h"
#include "cairn/json.h"
#include "cairn/keys.h"
#include "jptr.h"
#include "publish.h"

static struct cairn_seckey key;

static void test_times(void)
{
    char buf[CAIRN_TIME_LEN + 1];
    int64_t t = -1;

    cairn_time_format(0, buf);
    CHECK_STR_EQ(buf, "1970-01-01T00:00:00Z");
    cairn_time_format(1700000000, buf);
    CHECK_STR_EQ(buf, "2023-11-14T22:13:20Z");
    CHECK(cairn_time_parse("2023-11-14T22:13:20Z", &t) == 0);
    CHECK_INT_EQ(t, 1700000000);
    CHECK(cairn_time_parse("2024-02-29T00:00:00Z", &t) == 0);
    CHECK_INT_EQ(cairn_time_parse("2023-02-29T00:00:00Z", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_time_parse("2023-11-14T22:13:20", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_time_parse("2023-11-14 22:13:20Z", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_time_parse("2023-11-14T22:13:2xZ", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_time_parse("", &t), CAIRN_EPARSE);
}

static json_t *content(void)
{
    json_error_t e;

    return json_loads(
        "{\"kind\":\"cairn.desired/v1\",\"site\":\"st-olaf\",\"workloads\":"
        "[{\"name\":\"w\",\"exec\":{\"command\":[\"/bin/w\"],\"env\":{}},"
        "\"files\":[{\"content\":\"a\\u00e9\\n\\\"q\\\"\"}],\"z\":0.8}]}",
        0, &e);
}

/* The spliced payload is byte for byte the canonical one. */
static void test_splice_equals_canonical(void)
{
    const struct cairn_source srcs[] = {
        {"https://git.example/fleet.git",
         "0123456789012345678901234567890123456789", "abcdef0123456789"},
        {"", "0123456789012345678901234567890123456789", NULL},
    };

    for (size_t i = 0; i < 2; i++) {
        json_t *c = content(), *p = cairn_publish_payload(c, 7, 1700000000,
                                                          1700086400, &srcs[i]);
        struct cairn_signed a, b;
        size_t len;
        char *canon = cairn__json_canon(c, &len);

        cairn_publish_sign(p, &key, &a);
        cairn_publish_sign_content(canon, len, "st-olaf", 7, 1700000000,
                                   1700086400, &srcs[i], &key, &b);
        CHECK_STR_EQ(a.payload_sha256, b.payload_sha256);
        CHECK_STR_EQ(a.envelope, b.envelope); /* Ed25519 is deterministic */
        /* a content of another shape takes the general path, same result */
        cairn_signed_free(&b);
        cairn_publish_sign_content(canon, len, "other", 7, 1700000000,
                                   1700086400, &srcs[i], &key, &b);
        CHECK(strcmp(a.payload_sha256, b.payload_sha256) == 0);
        cairn_signed_free(&a);
        cairn_signed_free(&b);
        free(canon);
        json_decref(p);
        json_decref(c);
    }
}

/* The splice escapes what canonical JSON escapes: a site name and a repo
 * URL with a quote, a backslash and a control character. */
static void test_splice_escapes(void)
{
    struct cairn_source src = {"file:///a \"b\"\\c\td",
                               "0123456789012345678901234567890123456789",
                               "abcdef0123456789"};
    json_t *c = json_pack("{s:s, s:s, s:[]}", "kind", "cairn.desired/v1",
                          "site", "q\"s\\\x01", "workloads");
    json_t *p = cairn_publish_payload(c, 2, 1700000000, 1700003600, &src);
    struct cairn_signed a, b;
    size_t len;
    char *canon = cairn__json_canon(c, &len);

    cairn_publish_sign(p, &key, &a);
    cairn_publish_sign_content(canon, len, "q\"s\\\x01", 2, 1700000000,
                               1700003600, &src, &key, &b);
    CHECK_STR_EQ(a.payload_sha256, b.payload_sha256);
    CHECK_STR_EQ(a.envelope, b.envelope);
    cairn_signed_free(&a);
    cairn_signed_free(&b);
    free(canon);
    json_decref(p);
    json_decref(c);
}

static void test_payload_fields(void)
{
    struct cairn_source src = {"r", "0123456789012345678901234567890123456789",
                               NULL};
    json_t *c = content(), *p = cairn_publish_payload(c, 3, 0, 3600, &src);
    char *s = cairn__json_canon(json_object_get(p, "source"), NULL);

    CHECK_INT_EQ(json_integer_value(json_object_get(p, "generation")), 3);
    CHECK_STR_EQ(json_string_value(json_object_get(p, "issued")),
                 "1970-01-01T00:00:00Z");
    CHECK_STR_EQ(json_string_value(json_object_get(p, "expires")),
                 "1970-01-01T01:00:00Z");
    CHECK_STR_EQ(s, "{\"commit\":\"0123456789012345678901234567890123456789\","
                    "\"repo\":\"r\","
                    "\"signer\":null}");
    CHECK(json_object_get(c, "generation") == NULL); /* content untouched */
    free(s);
    json_decref(p);
    json_decref(c);
}

static void test_reissue(void)
{
    struct cairn_source src = {"r", "0123456789012345678901234567890123456789",
                               "k"};
    json_t *c = content(),
           *p = cairn_publish_payload(c, 5, 1000, 1000 + 7200, &src),
           *np = NULL;
    struct cairn_signed a, b;
    struct cairn_keyset ks;
    struct cairn_dsse *env = NULL;

    cairn_publish_sign(p, &key, &a);
    REQUIRE(cairn_publish_reissue(a.envelope, a.envelope_len, 5000, &key, &b,
                                  &np, NULL) == 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(np, "generation")), 5);
    CHECK_STR_EQ(json_string_value(json_object_get(np, "issued")),
                 "1970-01-01T01:23:20Z");
    CHECK_STR_EQ(json_string_value(json_object_get(np, "expires")),
                 "1970-01-01T03:23:20Z");
    CHECK(json_equal(json_object_get(np, "workloads"),
                     json_object_get(p, "workloads")));
    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, &key.pub);
    REQUIRE(cairn_dsse_parse(b.envelope, b.envelope_len, 1 << 20,
                             CAIRN_DSSE_DESIRED, &env, NULL) == 0);
    CHECK(cairn_dsse_verify(env, &ks, 1, NULL, NULL) == 0);
    CHECK_INT_EQ(cairn_publish_reissue("{}", 2, 1, &key, &b, NULL, NULL),
                 CAIRN_EPARSE);
    cairn_dsse_free(env);
    cairn_keyset_free(&ks);
    cairn_signed_free(&a);
    cairn_signed_free(&b);
    json_decref(np);
    json_decref(p);
    json_decref(c);
}

int main(void)
{
    if (cairn_keys_init() != 0 ||
        cairn_seckey_generate("controller", &key) != 0)
        abort();
    RUN(test_times);
    RUN(test_splice_equals_canonical);
    RUN(test_splice_escapes);
    RUN(test_payload_fields);
    RUN(test_reissue);
    return test_done();
}
