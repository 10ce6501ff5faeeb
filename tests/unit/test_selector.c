/* Group label selectors (controller/selector.c). */
#include "test.h"

#include <jansson.h>

#include "errlist.h"
#include "selector.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v)
        abort();
    return v;
}

static void test_match(void)
{
    json_t *sel = J("{\"matchLabels\":{\"region\":\"east\",\"tier\":\"1\"}}");
    json_t *l1 = J("{\"region\":\"east\",\"tier\":\"1\",\"extra\":\"x\"}");
    json_t *l2 = J("{\"region\":\"east\"}");
    json_t *l3 = J("{\"region\":\"west\",\"tier\":\"1\"}");
    struct cairn_errlist errs;
    struct cairn_selector s;

    cairn_errlist_init(&errs, 0);
    REQUIRE(cairn_selector_compile(sel, NULL, "/selector", &errs, &s) == 0);
    CHECK_INT_EQ(s.n, 2);
    CHECK_STR_EQ(s.keys[0], "region");
    CHECK_STR_EQ(s.keys[1], "tier");
    CHECK(cairn_selector_matches(&s, l1));
    CHECK(!cairn_selector_matches(&s, l2));
    CHECK(!cairn_selector_matches(&s, l3));
    CHECK(!cairn_selector_matches(&s, NULL));
    cairn_selector_free(&s);
    cairn_errlist_free(&errs);
    json_decref(sel);
    json_decref(l1);
    json_decref(l2);
    json_decref(l3);
}

static void test_empty_matches_all(void)
{
    json_t *sel = J("{\"matchLabels\":{}}");
    struct cairn_errlist errs;
    struct cairn_selector s;

    cairn_errlist_init(&errs, 0);
    REQUIRE(cairn_selector_compile(sel, NULL, "/selector", &errs, &s) == 0);
    CHECK(cairn_selector_matches(&s, NULL));
    cairn_selector_free(&s);
    cairn_selector_free(NULL);
    cairn_errlist_free(&errs);
    json_decref(sel);
}

static char *compile_err(const char *text)
{
    static char out[2048];
    json_t *sel = J(text);
    struct cairn_errlist errs;
    struct cairn_selector s;
    char *f;

    cairn_errlist_init(&errs, 0);
    if (cairn_selector_compile(sel, NULL, "/selector", &errs, &s) == 0) {
        cairn_selector_free(&s);
        snprintf(out, sizeof(out), "ok");
    } else {
        f = cairn_errlist_format(&errs, 0);
        snprintf(out, sizeof(out), "%s", f);
        free(f);
    }
    cairn_errlist_free(&errs);
    json_decref(sel);
    return out;
}

static void test_syntax_errors(void)
{
    CHECK_STR_EQ(compile_err("{}"), "/selector: a selector needs matchLabels "
                                    "(a map; {} selects every site)\n");
    CHECK_STR_EQ(
        compile_err("{\"matchLabels\":\"region=east\"}"),
        "/selector/matchLabels: matchLabels must be a map of label: value\n");
    CHECK_STR_EQ(
        compile_err("{\"matchLabels\":{\"region\":[\"east\"],\"-x\":\"y\"}}"),
        "/selector/matchLabels/-x: \"-x\" is not a label name "
        "([A-Za-z0-9][A-Za-z0-9._/-]{0,62})\n"
        "/selector/matchLabels/region: label value must be a string of at most "
        "63 characters\n");
    CHECK_STR_EQ(compile_err("{\"matchLabels\":{\"a/b\":\"c\"}}"), "ok");
}

static void test_label_key(void)
{
    char long_key[70];

    CHECK(cairn_label_key_ok("region"));
    CHECK(cairn_label_key_ok("topology.io/zone"));
    CHECK(cairn_label_key_ok("A_b-c.d"));
    CHECK(!cairn_label_key_ok(""));
    CHECK(!cairn_label_key_ok("_x"));
    CHECK(!cairn_label_key_ok("a b"));
    CHECK(!cairn_label_key_ok("a:b"));
    memset(long_key, 'a', 64);
    long_key[64] = '\0';
    CHECK(!cairn_label_key_ok(long_key));
    long_key[63] = '\0';
    CHECK(cairn_label_key_ok(long_key));
}

int main(void)
{
    RUN(test_match);
    RUN(test_empty_matches_all);
    RUN(test_syntax_errors);
    RUN(test_label_key);
    return test_done();
}
