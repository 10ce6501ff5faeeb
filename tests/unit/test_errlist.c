/* Located error lists, the string map and JSON pointers (controller). */
#include "test.h"

#include <stdint.h>

#include "errlist.h"
#include "jptr.h"
#include "strmap.h"

static void test_sorted_and_located(void)
{
    struct cairn_errlist l;
    char *s;

    cairn_errlist_init(&l, 0);
    cairn_errlist_add(&l, CAIRN_ESCHEMA, NULL, "workloads/x.yaml", 12, 13,
                      "/restart/policy", "must be one of %s",
                      "always, on-failure, never");
    cairn_errlist_add(&l, CAIRN_EPARSE, NULL, "sites/b.yaml", 10, 1, NULL,
                      "ten");
    cairn_errlist_add(&l, CAIRN_EPARSE, NULL, "sites/b.yaml", 9, 1, "", "nine");
    cairn_errlist_add(&l, CAIRN_EPOLICY, NULL, NULL, 0, 0, NULL,
                      "commit unsigned");
    cairn_errlist_add(&l, CAIRN_ENOENT, NULL, "models/m/v.att.json", 0, 0, NULL,
                      "missing");
    cairn_errlist_add_raw(&l, CAIRN_EPARSE, NULL,
                          "groups/g.yaml:3:5: mapping values not allowed");
    cairn_errlist_add_raw(&l, CAIRN_EPARSE, NULL, "no location here: at all");
    CHECK_INT_EQ(cairn_errlist_count(&l), 7);
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_EQ(
        s, "commit unsigned\n"
           "no location here: at all\n"
           "groups/g.yaml:3:5: mapping values not allowed\n"
           "models/m/v.att.json: missing\n"
           "sites/b.yaml:9:1: /: nine\n"
           "sites/b.yaml:10:1: ten\n"
           "workloads/x.yaml:12:13: /restart/policy: must be one of always, "
           "on-failure, never\n");
    free(s);
    CHECK_INT_EQ(cairn_errlist_code(&l), CAIRN_EPOLICY);
    cairn_errlist_free(&l);
    cairn_errlist_free(NULL);
}

static void test_sites_aggregate(void)
{
    struct cairn_errlist l, other;
    char *s;

    cairn_errlist_init(&l, 0);
    cairn_errlist_add(&l, CAIRN_ETEMPLATE, "a", "w.yaml", 1, 2, "/x", "bad");
    cairn_errlist_add(&l, CAIRN_ETEMPLATE, "a", "w.yaml", 1, 2, "/x",
                      "bad"); /* same site */
    cairn_errlist_add(&l, CAIRN_ETEMPLATE, "one", "w.yaml", 5, 2, "/y",
                      "only one");
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_EQ(
        s,
        "w.yaml:1:2: /x: bad (site a)\nw.yaml:5:2: /y: only one (site one)\n");
    free(s);
    cairn_errlist_add(&l, CAIRN_ETEMPLATE, "b", "w.yaml", 1, 2, "/x", "bad");
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_HAS(s, "w.yaml:1:2: /x: bad (sites a and b)\n");
    free(s);
    cairn_errlist_init(&other, 0);
    for (int i = 0; i < 10; i++) {
        char site[16];

        snprintf(site, sizeof(site), "s%d", i);
        cairn_errlist_add(&other, CAIRN_ETEMPLATE, site, "w.yaml", 1, 2, "/x",
                          "bad");
    }
    cairn_errlist_merge(&l, &other);
    CHECK_INT_EQ(cairn_errlist_count(&other), 0);
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_HAS(s, "w.yaml:1:2: /x: bad (sites a, b, s0 and 9 more)\n");
    free(s);
    /* the names shown are the first by name, whatever the order */
    cairn_errlist_add(&l, CAIRN_ETEMPLATE, "0-first", "w.yaml", 1, 2, "/x",
                      "bad");
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_HAS(s, "w.yaml:1:2: /x: bad (sites 0-first, a, b and 10 more)\n");
    free(s);
    cairn_errlist_free(&l);
    cairn_errlist_free(&other);
}

static void test_caps(void)
{
    struct cairn_errlist l;
    char *s;

    cairn_errlist_init(&l, 3);
    for (int i = 1; i <= 5; i++)
        cairn_errlist_add(&l, CAIRN_EPARSE, NULL, "f.yaml", i, 1, NULL,
                          "error %d", i);
    CHECK_INT_EQ(cairn_errlist_count(&l), 5);
    s = cairn_errlist_format(&l, 0);
    CHECK_STR_EQ(
        s, "f.yaml:1:1: error 1\nf.yaml:2:1: error 2\nf.yaml:3:1: error 3\n"
           "... and 2 more error(s)\n");
    free(s);
    s = cairn_errlist_format(&l, 30);
    CHECK_STR_EQ(s, "f.yaml:1:1: error 1\n... and 4 more error(s)\n");
    free(s);
    cairn_errlist_free(&l);
}

static void test_strmap(void)
{
    struct cairn__strmap m;
    char key[32];
    size_t pos = 0, seen = 0;
    const char *k;
    void *v;

    cairn__strmap_init(&m);
    CHECK(cairn__strmap_get(&m, "x") == NULL);
    CHECK(cairn__strmap_del(&m, "x") == NULL);
    for (uintptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "site-%lu", (unsigned long)i);
        CHECK(cairn__strmap_put(&m, key, (void *)i) == NULL);
    }
    CHECK_INT_EQ(m.n, 5000);
    CHECK((uintptr_t)cairn__strmap_get(&m, "site-4321") == 4321);
    CHECK((uintptr_t)cairn__strmap_put(&m, "site-7", (void *)70) == 7);
    CHECK((uintptr_t)cairn__strmap_get(&m, "site-7") == 70);
    for (uintptr_t i = 1; i <= 5000; i += 2) {
        snprintf(key, sizeof(key), "site-%lu", (unsigned long)i);
        CHECK(cairn__strmap_del(&m, key) != NULL);
    }
    CHECK_INT_EQ(m.n, 2500);
    CHECK(cairn__strmap_get(&m, "site-1") == NULL);
    CHECK((uintptr_t)cairn__strmap_get(&m, "site-2") == 2);
    /* re-adding after deletes reuses tombstones */
    for (int round = 0; round < 3; round++) {
        CHECK(cairn__strmap_put(&m, "again", (void *)1) == NULL);
        CHECK(cairn__strmap_del(&m, "again") != NULL);
    }
    while (cairn__strmap_next(&m, &pos, &k, &v))
        seen++;
    CHECK_INT_EQ(seen, 2500);
    cairn__strmap_free(&m);
    cairn__strmap_free(NULL);
}

static void test_pointers(void)
{
    json_error_t e;
    json_t *v = json_loads("{\"a/b\":{\"c~d\":[10,{\"e\":1}]},\"\":2}", 0, &e);
    struct cairn_buf b;

    CHECK(cairn__ptr_get(v, "") == v);
    CHECK_INT_EQ(json_integer_value(cairn__ptr_get(v, "/a~1b/c~0d/0")), 10);
    CHECK_INT_EQ(json_integer_value(cairn__ptr_get(v, "/a~1b/c~0d/1/e")), 1);
    CHECK_INT_EQ(json_integer_value(cairn__ptr_get(v, "/")), 2);
    CHECK(cairn__ptr_get(v, "/a~1b/c~0d/01") == NULL);
    CHECK(cairn__ptr_get(v, "/a~1b/c~0d/2") == NULL);
    CHECK(cairn__ptr_get(v, "/a~2b") == NULL);
    CHECK(cairn__ptr_get(v, "a") == NULL);
    cairn_buf_init(&b, 0);
    cairn__ptr_push(&b, "a/b");
    cairn__ptr_push(&b, "c~d");
    cairn__ptr_push_index(&b, 1);
    CHECK_STR_EQ(b.data, "/a~1b/c~0d/1");
    cairn_buf_free(&b);
    {
        char *s = cairn__json_canon(v, NULL);

        CHECK_STR_EQ(s, "{\"\":2,\"a/b\":{\"c~d\":[10,{\"e\":1}]}}");
        free(s);
    }
    json_decref(v);
}

static void leaf(const char *ptr, json_t *v, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 512 - n, "%s=%d;", ptr, (int)json_typeof(v));
}

static void test_leaves(void)
{
    json_error_t e;
    json_t *v = json_loads(
        "{\"z\":1,\"a\":{\"m\":{},\"l\":[],\"k\":[true,{\"x\":null}]}}", 0, &e);
    char buf[512] = "";

    cairn__json_leaves(v, leaf, buf);
    CHECK_STR_EQ(buf, "/a/k/0=5;/a/k/1/x=7;/a/l=1;/a/m=0;/z=3;");
    json_decref(v);
}

int main(void)
{
    RUN(test_sorted_and_located);
    RUN(test_sites_aggregate);
    RUN(test_caps);
    RUN(test_strmap);
    RUN(test_pointers);
    RUN(test_leaves);
    return test_done();
}
