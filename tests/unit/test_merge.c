/* Deep merge with provenance (controller/merge.c). */
#include "test.h"

#include <jansson.h>

#include "jptr.h"
#include "merge.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

    if (!v) {
        fprintf(stderr, "bad test json: %s: %s\n", text, e.text);
        abort();
    }
    return v;
}

static int json_eq_text(json_t *v, const char *want)
{
    json_t *w = J(want);
    int eq = json_equal(v, w);

    if (!eq) {
        char *got = cairn__json_canon(v, NULL);

        fprintf(stderr, "  got:  %s\n  want: %s\n", got, want);
        free(got);
    }
    json_decref(w);
    return eq;
}

static void test_maps_merge_deeply(void)
{
    json_t *a = J("{\"x\":{\"a\":1,\"b\":{\"c\":2}},\"keep\":true}");
    json_t *b = J("{\"x\":{\"b\":{\"d\":3},\"e\":4}}");
    json_t *m = cairn_merge2(a, b);

    CHECK(json_eq_text(
        m, "{\"x\":{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":4},\"keep\":true}"));
    /* inputs untouched */
    CHECK(json_eq_text(a, "{\"x\":{\"a\":1,\"b\":{\"c\":2}},\"keep\":true}"));
    CHECK(json_eq_text(b, "{\"x\":{\"b\":{\"d\":3},\"e\":4}}"));
    /* an unchanged subtree is shared, not copied */
    CHECK(json_object_get(m, "keep") == json_object_get(a, "keep"));
    json_decref(m);
    json_decref(a);
    json_decref(b);
}

static void test_lists_and_scalars_replace(void)
{
    json_t *a = J("{\"l\":[1,2,3],\"s\":\"old\",\"m\":{\"k\":1},\"t\":5}");
    json_t *b =
        J("{\"l\":[9],\"s\":{\"now\":\"map\"},\"m\":\"scalar\",\"t\":[]}");
    json_t *m = cairn_merge2(a, b);

    CHECK(json_eq_text(
        m, "{\"l\":[9],\"s\":{\"now\":\"map\"},\"m\":\"scalar\",\"t\":[]}"));
    json_decref(m);
    json_decref(a);
    json_decref(b);
}

static void test_null_deletes(void)
{
    json_t *a = J("{\"a\":{\"b\":1,\"c\":2},\"d\":3}");
    json_t *b = J(
        "{\"a\":{\"b\":null},\"d\":null,\"e\":null,\"f\":{\"g\":null,\"h\":1},"
        "\"l\":[null]}");
    json_t *m = cairn_merge2(a, b);

    /* null deletes at any depth; nulls under new keys vanish; inside a
     * list null is a value */
    CHECK(json_eq_text(m, "{\"a\":{\"c\":2},\"f\":{\"h\":1},\"l\":[null]}"));
    json_decref(m);
    json_decref(a);
    json_decref(b);
}

static void test_layers_in_order(void)
{
    json_t *fleet = J("{\"workloads\":[\"a\"],\"v\":{\"x\":1,\"y\":1}}");
    json_t *g1 = J("{\"v\":{\"x\":2}}");
    json_t *g2 = J("{\"v\":{\"x\":3,\"z\":3}}");
    json_t *site = J("{\"v\":{\"y\":null},\"workloads\":[\"b\",\"c\"]}");
    struct cairn_layer L[] = {
        {CAIRN_LAYER_FLEET, NULL, fleet, NULL, "fleet.yaml", "/values"},
        {CAIRN_LAYER_GROUP, "east", g1, NULL, "groups/east.yaml", "/values"},
        {CAIRN_LAYER_GROUP, "west", g2, NULL, "groups/west.yaml", "/values"},
        {CAIRN_LAYER_SITE, NULL, site, NULL, "sites/s1.yaml", "/values"},
        {CAIRN_LAYER_SITE, NULL, NULL, NULL, "sites/none.yaml", "/values"},
    };
    json_t *m = cairn_merge_layers(L, 5);

    CHECK(json_eq_text(
        m, "{\"workloads\":[\"b\",\"c\"],\"v\":{\"x\":3,\"z\":3}}"));
    json_decref(m);
    m = cairn_merge_layers(L, 0);
    CHECK(json_eq_text(m, "{}"));
    json_decref(m);
    json_decref(fleet);
    json_decref(g1);
    json_decref(g2);
    json_decref(site);
}

/* origin's layer for ptr, or NULL when the merge has no such node */
static const char *who(const struct cairn_layer *L, size_t n, const char *ptr)
{
    struct cairn_origin o;
    static char buf[256];

    if (cairn_merge_origin(L, n, ptr, &o) != 0)
        return "none";
    cairn_origin_format(&o, buf, sizeof(buf));
    return buf;
}

static void test_origin(void)
{
    json_t *fleet =
        J("{\"a\":{\"b\":1,\"c\":1},\"l\":[1,2],\"gone\":1,\"m\":{\"k\":1},"
          "\"re\":{\"x\":1}}");
    json_t *g = J("{\"a\":{\"c\":2},\"gone\":null,\"m\":\"flat\",\"re\":null}");
    json_t *site = J("{\"l\":[3],\"m\":{\"k2\":3},\"re\":{\"y\":3},\"e\":{}}");
    struct cairn_layer L[] = {
        {CAIRN_LAYER_FLEET, NULL, fleet, NULL, "fleet.yaml", "/values"},
        {CAIRN_LAYER_GROUP, "east", g, NULL, "groups/east.yaml", "/values"},
        {CAIRN_LAYER_SITE, NULL, site, NULL, "sites/s1.yaml", "/values"},
    };

    CHECK_STR_EQ(who(L, 3, "/a/b"), "fleet.yaml (fleet)");
    CHECK_STR_EQ(who(L, 3, "/a/c"), "groups/east.yaml (group east)");
    CHECK_STR_EQ(who(L, 3, "/a"), "groups/east.yaml (group east)");
    CHECK_STR_EQ(who(L, 3, "/l/0"), "sites/s1.yaml (site)");
    CHECK_STR_EQ(who(L, 3, "/l/1"),
                 "none"); /* the site's list replaced [1,2] */
    CHECK_STR_EQ(who(L, 3, "/gone"), "none");
    /* the group flattened m, the site made it a map again: k is gone */
    CHECK_STR_EQ(who(L, 3, "/m/k"), "none");
    CHECK_STR_EQ(who(L, 3, "/m/k2"), "sites/s1.yaml (site)");
    CHECK_STR_EQ(who(L, 3, "/re/x"), "none");
    CHECK_STR_EQ(who(L, 3, "/re/y"), "sites/s1.yaml (site)");
    CHECK_STR_EQ(who(L, 3, "/e"), "sites/s1.yaml (site)");
    CHECK_STR_EQ(who(L, 3, "/missing"), "none");
    CHECK_STR_EQ(who(L, 3, "/l/x"), "none");
    CHECK_STR_EQ(who(L, 3, "/a/b/deeper"), "none");

    /* every leaf of the merge has an origin */
    {
        json_t *m = cairn_merge_layers(L, 3);

        CHECK_STR_EQ(who(L, 3, ""), "sites/s1.yaml (site)");
        CHECK(json_eq_text(
            m, "{\"a\":{\"b\":1,\"c\":2},\"l\":[3],\"m\":{\"k2\":3},"
               "\"re\":{\"y\":3},\"e\":{}}"));
        json_decref(m);
    }
    json_decref(fleet);
    json_decref(g);
    json_decref(site);
}

static void test_origin_escaped_keys(void)
{
    json_t *fleet = J("{\"topology.io/zone\":{\"a~b\":1}}");
    struct cairn_layer L[] = {
        {CAIRN_LAYER_FLEET, NULL, fleet, NULL, "fleet.yaml", "/values"},
    };

    CHECK_STR_EQ(who(L, 1, "/topology.io~1zone/a~0b"), "fleet.yaml (fleet)");
    CHECK_STR_EQ(who(L, 1, "/topology.io/zone"), "none");
    json_decref(fleet);
}

/* Origins carry file:line:col from the yaml source map. */
static void test_origin_locations(void)
{
    const char *fleet_y =
        "kind: Fleet\nname: f\nvalues:\n  a:\n    b: 1\n    c: [x, y]\n";
    const char *site_y = "kind: Site\nvalues:\n  a: {b: 2}\n";
    struct cairn_yaml_doc *fd = NULL, *sd = NULL;
    struct cairn_origin o;
    char buf[256];

    REQUIRE(cairn_yaml_parse("fleet.yaml", fleet_y, strlen(fleet_y), NULL, &fd,
                             NULL) == 0);
    REQUIRE(cairn_yaml_parse("sites/s.yaml", site_y, strlen(site_y), NULL, &sd,
                             NULL) == 0);
    {
        struct cairn_layer L[] = {
            {CAIRN_LAYER_FLEET, NULL,
             json_object_get(cairn_yaml_root(fd), "values"), fd, "fleet.yaml",
             "/values"},
            {CAIRN_LAYER_SITE, NULL,
             json_object_get(cairn_yaml_root(sd), "values"), sd, "sites/s.yaml",
             "/values"},
        };

        REQUIRE(cairn_merge_origin(L, 2, "/a/b", &o) == 0);
        cairn_origin_format(&o, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "sites/s.yaml:3:10 (site)");
        REQUIRE(cairn_merge_origin(L, 2, "/a/c/1", &o) == 0);
        cairn_origin_format(&o, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "fleet.yaml:6:12 (fleet)");
        REQUIRE(cairn_merge_origin(L, 2, "/a", &o) == 0);
        cairn_origin_format(&o, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "sites/s.yaml:3:6 (site)");
    }
    cairn_yaml_free(fd);
    cairn_yaml_free(sd);
}

int main(void)
{
    RUN(test_maps_merge_deeply);
    RUN(test_lists_and_scalars_replace);
    RUN(test_null_deletes);
    RUN(test_layers_in_order);
    RUN(test_origin);
    RUN(test_origin_escaped_keys);
    RUN(test_origin_locations);
    return test_done();
}
