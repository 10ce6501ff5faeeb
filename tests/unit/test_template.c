/* Substitution templates (controller/template.c). */
#include "test.h"

#include <jansson.h>

#include "jptr.h"
#include "template.h"

static json_t *values, *labels;
static struct cairn_tmpl_ctx ctx;

static void setup(void)
{
    json_error_t e;

    values = json_loads(
        "{\"a\":{\"b\":\"deep\",\"n\":42,\"neg\":-7,\"r\":0.8,"
        "\"t\":true,\"f\":false,\"nul\":null,\"m\":{},\"l\":[\"x\",\"y\"],"
        "\"raw\":\"{{ site.name }}\",\"dash-key\":\"d\"},"
        "\"models\":{\"pneumonia\":\"v2\"}}",
        0, &e);
    labels =
        json_loads("{\"region\":\"east\",\"topology.io/zone\":\"z1\"}", 0, &e);
    ctx.values = values;
    ctx.site = "st-olaf";
    ctx.labels = labels;
}

/* expand s; "ERR: msg" on error */
static char *X(const char *s)
{
    static char out[4096];
    struct cairn_diag d;
    char *r = NULL;

    cairn_diag_init(&d);
    if (cairn_tmpl_expand(s, &ctx, &r, &d) != 0) {
        snprintf(out, sizeof(out), "ERR(%s): %s", cairn_errname(d.code),
                 cairn_diag_msg(&d));
        return out;
    }
    snprintf(out, sizeof(out), "%s", r ? r : s);
    if (!r)
        snprintf(out, sizeof(out), "(as is) %s", s);
    free(r);
    return out;
}

static void test_substitution(void)
{
    CHECK_STR_EQ(X("plain"), "(as is) plain");
    CHECK_STR_EQ(X("{{ values.a.b }}"), "deep");
    CHECK_STR_EQ(X("{{values.a.b}}"), "deep");
    CHECK_STR_EQ(X("x={{  values.a.n\t}};y={{ values.a.neg }}"), "x=42;y=-7");
    CHECK_STR_EQ(X("{{ values.a.r }}|{{ values.a.t }}|{{ values.a.f }}"),
                 "0.8|true|false");
    CHECK_STR_EQ(X("/srv/{{ site.name }}/{{ site.labels.region }}"),
                 "/srv/st-olaf/east");
    CHECK_STR_EQ(X("{{ site.labels.topology.io/zone }}"), "z1");
    CHECK_STR_EQ(X("{{ values.models.pneumonia }}"), "v2");
    CHECK_STR_EQ(X("{{ values.a.l.1 }}"), "y");
    CHECK_STR_EQ(X("{{ values.a.dash-key }}"), "d");
    /* not recursive: a value holding {{ is inserted as is */
    CHECK_STR_EQ(X("<{{ values.a.raw }}>"), "<{{ site.name }}>");
    /* a lone }} is text */
    CHECK_STR_EQ(X("a }} b {{ site.name }}"), "a }} b st-olaf");
}

static void test_errors(void)
{
    CHECK_STR_EQ(X("{{ values.a.bb }}"), "ERR(CAIRN_ETEMPLATE): unknown name "
                                         "\"values.a.bb\" in {{ values.a.bb }} "
                                         "(values.a has no \"bb\")");
    CHECK_STR_EQ(X("{{ values.nope.x }}"),
                 "ERR(CAIRN_ETEMPLATE): unknown name \"values.nope.x\" in {{ "
                 "values.nope.x }} "
                 "(values has no \"nope\")");
    CHECK_STR_EQ(X("{{ values.a.b.c }}"),
                 "ERR(CAIRN_ETEMPLATE): unknown name \"values.a.b.c\" in {{ "
                 "values.a.b.c }} "
                 "(values.a.b has no \"c\")");
    CHECK_STR_EQ(X("{{ values.a.l.2 }}"),
                 "ERR(CAIRN_ETEMPLATE): unknown name \"values.a.l.2\" in {{ "
                 "values.a.l.2 }} "
                 "(values.a.l has no \"2\")");
    CHECK_STR_EQ(X("{{ values.a.b. }}"),
                 "ERR(CAIRN_ETEMPLATE): unknown name \"values.a.b.\" in {{ "
                 "values.a.b. }}");
    CHECK_STR_EQ(
        X("{{ values. }}"),
        "ERR(CAIRN_ETEMPLATE): unknown name \"values.\" in {{ values. }}");
    CHECK_STR_EQ(X("{{ site.labels.rack }}"),
                 "ERR(CAIRN_ETEMPLATE): unknown name \"site.labels.rack\" in "
                 "{{ site.labels.rack }} (the site has no label \"rack\")");
    CHECK_STR_EQ(
        X("{{ env.HOME }}"),
        "ERR(CAIRN_ETEMPLATE): unknown name \"env.HOME\" in {{ env.HOME }} "
        "(names are values.*, site.name and site.labels.*)");
    CHECK_STR_EQ(X("{{ values.a }}"), "ERR(CAIRN_ETEMPLATE): {{ values.a }} is "
                                      "a map, not a string, number or boolean");
    CHECK_STR_EQ(X("{{ values.a.m }}"),
                 "ERR(CAIRN_ETEMPLATE): {{ values.a.m }} is a map, not a "
                 "string, number or boolean");
    CHECK_STR_EQ(X("{{ values.a.l }}"),
                 "ERR(CAIRN_ETEMPLATE): {{ values.a.l }} is a list, not a "
                 "string, number or boolean");
    CHECK_STR_EQ(X("{{ values.a.nul }}"),
                 "ERR(CAIRN_ETEMPLATE): {{ values.a.nul }} is null, not a "
                 "string, number or boolean");
    CHECK_STR_EQ(X("{{ site.labels }}"),
                 "ERR(CAIRN_ETEMPLATE): {{ site.labels }} is a map, not a "
                 "string, number or boolean");
    CHECK_STR_EQ(X("{{ values"),
                 "ERR(CAIRN_ETEMPLATE): unterminated {{ (no closing }})");
    CHECK_STR_EQ(X("{{ }}"),
                 "ERR(CAIRN_ETEMPLATE): empty template expression {{}}");
    CHECK_STR_EQ(X("{{ values.a.b | upper }}"),
                 "ERR(CAIRN_ETEMPLATE): unsupported template expression {{ "
                 "values.a.b | upper }}: "
                 "templates are substitution only (values.a.b, site.name, "
                 "site.labels.k)");
}

static void test_output_cap(void)
{
    /* 1 KiB value inserted 2000 times: over the 1 MiB cap */
    json_t *big = json_object();
    char *kb = malloc(1025), *s = malloc(2000 * 18 + 1);
    struct cairn_tmpl_ctx c = {big, "s", NULL};
    struct cairn_diag d;
    char *r = NULL;

    memset(kb, 'k', 1024);
    kb[1024] = '\0';
    json_object_set_new(big, "kb", json_string(kb));
    s[0] = '\0';
    for (int i = 0; i < 2000; i++)
        memcpy(s + (size_t)i * 17, "{{ values.kb }}xx", 17),
            s[(i + 1) * 17] = '\0';
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_tmpl_expand(s, &c, &r, &d), CAIRN_ETOOBIG);
    CHECK(r == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "past 1048576 bytes");
    json_decref(big);
    free(kb);
    free(s);
}

struct errs {
    char text[2048];
};

static void on_err(const char *ptr, const struct cairn_diag *d, void *arg)
{
    struct errs *e = arg;
    size_t n = strlen(e->text);

    snprintf(e->text + n, sizeof(e->text) - n, "%s: %s\n", ptr,
             cairn_diag_msg(d));
}

static void test_tree(void)
{
    json_error_t je;
    json_t *w = json_loads(
        "{\"exec\":{\"command\":[\"/bin/w\",\"--site={{ site.name }}\"],"
        "\"env\":{\"A\":\"{{ values.a.b }}\",\"B\":\"lit\"}},"
        "\"health\":{\"timeoutSeconds\":5}}",
        0, &je);
    json_t *out = NULL;
    struct errs e = {""};

    REQUIRE(cairn_tmpl_expand_tree(w, &ctx, on_err, &e, &out) == 0);
    {
        char *s = cairn__json_canon(out, NULL);

        CHECK_STR_EQ(s,
                     "{\"exec\":{\"command\":[\"/bin/w\",\"--site=st-olaf\"],"
                     "\"env\":{\"A\":\"deep\",\"B\":\"lit\"}},\"health\":{"
                     "\"timeoutSeconds\":5}}");
        free(s);
    }
    /* unchanged subtrees are shared, the input is untouched */
    CHECK(json_object_get(out, "health") == json_object_get(w, "health"));
    CHECK_STR_EQ(json_string_value(cairn__ptr_get(w, "/exec/env/A")),
                 "{{ values.a.b }}");
    json_decref(out);

    /* every failing string is reported with its pointer */
    json_object_set_new(json_object_get(json_object_get(w, "exec"), "env"), "C",
                        json_string("{{ values.x }}"));
    json_array_set_new(json_object_get(json_object_get(w, "exec"), "command"),
                       0, json_string("{{ values.a }}"));
    out = NULL;
    CHECK_INT_EQ(cairn_tmpl_expand_tree(w, &ctx, on_err, &e, &out),
                 CAIRN_ETEMPLATE);
    CHECK(out == NULL);
    CHECK_STR_HAS(e.text, "/exec/command/0: {{ values.a }} is a map");
    CHECK_STR_HAS(e.text, "/exec/env/C: unknown name \"values.x\"");
    json_decref(w);
}

static void collect(const char *expr, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 256 - n, "[%s]", expr);
}

static void test_foreach(void)
{
    char buf[256] = "";

    cairn_tmpl_foreach("a {{ values.x }} b {{site.name}} {{ bad", collect, buf);
    CHECK_STR_EQ(buf, "[values.x][site.name]");
}

int main(void)
{
    setup();
    RUN(test_substitution);
    RUN(test_errors);
    RUN(test_output_cap);
    RUN(test_tree);
    RUN(test_foreach);
    json_decref(values);
    json_decref(labels);
    return test_done();
}
