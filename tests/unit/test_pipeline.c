/* The all-or-nothing, incremental commit pipeline (controller/pipeline.c)
 * on an in-memory fleet and a real SQLite store. */
#include "test.h"

#include "cairn/json.h"
#include "fleet_fixture.h"
#include "pipeline.h"
#include "publish.h"

static char *dir;
static int64_t clock_now = 1700000000;
static struct cairn_seckey ctl_key;

static int64_t fake_now(void *arg)
{
    (void)arg;
    return clock_now;
}

/* A store whose render_put fails on the n-th call (a crash stand-in). */
static struct cairn_store_ops flaky_ops;
static const struct cairn_store_ops *real_ops;
static int fail_put_at;

static int flaky_put(struct cairn_store *s, const struct cairn_render_rec *r,
                     int history, struct cairn_diag *d)
{
    if (fail_put_at > 0 && --fail_put_at == 0)
        return cairn_diag_set(d, CAIRN_EDB, "injected failure");
    return real_ops->render_put(s, r, history, d);
}

static struct cairn_store *open_store(const char *name)
{
    char path[4200];
    struct cairn_store *s = NULL;
    struct cairn_diag d;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cairn_diag_init(&d);
    if (cairn_store_open(path, &s, &d) != 0) {
        fprintf(stderr, "%s\n", cairn_diag_msg(&d));
        abort();
    }
    real_ops = s->ops;
    flaky_ops = *s->ops;
    flaky_ops.render_put = flaky_put;
    s->ops = &flaky_ops;
    return s;
}

static struct cairn_pipeline *new_pipeline(struct cairn_store *s)
{
    struct cairn_pipeline_opts o = {
        "https://git.example/fleet.git", s, &ctl_key, fake_now, NULL, 0, 0, 0};
    struct cairn_pipeline *p = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_pipeline_new(&o, &p, &d) != 0) {
        fprintf(stderr, "%s\n", cairn_diag_msg(&d));
        abort();
    }
    return p;
}

/* Process commit n of repo with the given changed paths (NULL: full). */
static int process(struct cairn_pipeline *p, struct fx_repo *r, unsigned n,
                   const char *const *changed,
                   struct cairn_pipeline_result *res)
{
    struct cairn_src *src = fx_src(r, n);
    struct cairn_commit_meta meta;
    struct cairn_changes ch = {(char **)changed, 0};
    struct cairn_diag d;
    int rc;

    memset(&meta, 0, sizeof(meta));
    memcpy(meta.sha, src->commit, sizeof(meta.sha));
    meta.time = src->time;
    snprintf(meta.signer, sizeof(meta.signer), "0123456789abcdef");
    while (changed && changed[ch.n])
        ch.n++;
    cairn_diag_init(&d);
    rc = cairn_pipeline_process(p, src, &meta, changed ? &ch : NULL, res, &d);
    if (rc)
        fprintf(stderr, "process: %s\n", cairn_diag_msg(&d));
    return rc;
}

static struct cairn_render_rec get(struct cairn_store *s, const char *site)
{
    struct cairn_render_rec r;
    struct cairn_diag d;

    memset(&r, 0, sizeof(r));
    cairn_diag_init(&d);
    if (cairn_store_render_get(s, site, &r, &d) != 0)
        r.generation = -1;
    return r;
}

static int64_t gen(struct cairn_store *s, const char *site)
{
    struct cairn_render_rec r = get(s, site);
    int64_t g = r.generation;

    cairn_render_rec_free(&r);
    return g;
}

/* The verified payload of a site's stored envelope. */
static json_t *payload(struct cairn_store *s, const char *site)
{
    struct cairn_render_rec r = get(s, site);
    struct cairn_keyset ks;
    struct cairn_dsse *env = NULL;
    json_t *p = NULL;

    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, &ctl_key.pub);
    if (r.envelope &&
        cairn_dsse_parse(r.envelope, r.envelope_len, 1 << 22,
                         CAIRN_DSSE_DESIRED, &env, NULL) == 0 &&
        cairn_dsse_verify(env, &ks, 1, NULL, NULL) == 0 &&
        cairn_json_parse((const char *)env->payload, env->payload_len, 1 << 22,
                         &p, NULL) != 0)
        p = NULL;
    cairn_dsse_free(env);
    cairn_keyset_free(&ks);
    cairn_render_rec_free(&r);
    return p;
}

static const char *pstr(json_t *p, const char *k1, const char *k2)
{
    json_t *v = json_object_get(p, k1);

    if (k2)
        v = json_object_get(v, k2);
    return json_is_string(v) ? json_string_value(v)
           : json_is_null(v) ? "null"
                             : "(none)";
}

static void test_first_commit_publishes_signed_documents(void)
{
    struct cairn_store *s = open_store("first.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct fx_repo r;
    json_t *pl;

    fx_init(&r);
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.sites, 2);
    CHECK_INT_EQ(res.rendered, 2);
    CHECK_INT_EQ(res.changed, 2);
    CHECK_STR_EQ(cairn_pipeline_last(p),
                 "0000000000000000000000000000000000000001");
    pl = payload(s, "st-olaf");
    REQUIRE(pl != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(pl, "generation")), 1);
    CHECK_STR_EQ(pstr(pl, "issued", NULL), "2023-11-14T22:13:20Z");
    CHECK_STR_EQ(pstr(pl, "expires", NULL),
                 "2023-11-15T22:13:20Z"); /* TTL 24 h */
    CHECK_STR_EQ(pstr(pl, "source", "repo"), "https://git.example/fleet.git");
    CHECK_STR_EQ(pstr(pl, "source", "commit"),
                 "0000000000000000000000000000000000000001");
    CHECK_STR_EQ(pstr(pl, "source", "signer"), "0123456789abcdef");
    CHECK_STR_EQ(pstr(pl, "site", NULL), "st-olaf");
    json_decref(pl);
    {
        struct cairn_render_rec rr = get(s, "st-olaf");

        CHECK_STR_EQ(rr.models, "pneumonia@v2");
        CHECK(rr.refresh_at >= rr.issued + 12 * 3600 &&
              rr.refresh_at < rr.issued + 18 * 3600);
        cairn_render_rec_free(&rr);
    }
    cairn_pipeline_result_free(&res);
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_generation_rises_only_on_change(void)
{
    struct cairn_store *s = open_store("gen.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct fx_repo r;
    const char *none[] = {NULL};
    const char *readme[] = {"README.md", NULL};
    const char *mercy[] = {"sites/west/mercy.yaml", NULL};
    const char *east[] = {"groups/east.yaml", NULL};
    char *site;

    fx_init(&r);
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    cairn_pipeline_result_free(&res);
    /* same content, new commit: nothing rendered, nothing published */
    REQUIRE(process(p, &r, 2, none, &res) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.rendered, 0);
    CHECK_INT_EQ(res.changed, 0);
    cairn_pipeline_result_free(&res);
    fx_put(&r, "README.md", "changed\n");
    REQUIRE(process(p, &r, 3, readme, &res) == 0);
    CHECK_INT_EQ(res.rendered, 0);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), 1);
    /* one site file: only that site is rendered and gets a generation */
    site = cairn_xasprintf(
        "kind: Site\nname: mercy\nlabels: {region: west}\npublicKey: %s\n"
        "values: {xraylab: {inbox: /mnt/inbox}}\n",
        r.mercy_pub);
    fx_put(&r, "sites/west/mercy.yaml", site);
    free(site);
    REQUIRE(process(p, &r, 4, mercy, &res) == 0);
    CHECK_INT_EQ(res.rendered, 1);
    CHECK_INT_EQ(res.changed, 1);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), 2);
    CHECK_INT_EQ(gen(s, "st-olaf"), 1);
    /* the east group now selects every site: both re-rendered, only mercy
     * (moved to v2) changes */
    fx_put(&r, "groups/east.yaml",
           "kind: Group\nname: east\nselector:\n  matchLabels: {}\n"
           "values:\n  models: {pneumonia: v2}\n");
    REQUIRE(process(p, &r, 5, east, &res) == 0);
    CHECK_INT_EQ(res.rendered, 2);
    CHECK_INT_EQ(res.changed, 1);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), 3);
    CHECK_INT_EQ(gen(s, "st-olaf"), 1);
    /* a restarted controller renders everything once; unchanged content
     * keeps its generation */
    cairn_pipeline_free(p);
    p = new_pipeline(s);
    CHECK(cairn_pipeline_last(p) == NULL);
    REQUIRE(process(p, &r, 6, none, &res) == 0);
    CHECK_INT_EQ(res.rendered, 2);
    CHECK_INT_EQ(res.changed, 0);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), 3);
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_refused_commit_changes_nothing(void)
{
    struct cairn_store *s = open_store("refuse.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct cairn_render_rec before, after;
    struct fx_repo r;
    const char *wl[] = {"workloads/risk-assessment.yaml",
                        "sites/west/mercy.yaml", NULL};
    char *mercy;
    char head[41], *err = NULL;
    int accepted = -1;
    int64_t n = 0;
    struct cairn_diag d;

    fx_init(&r);
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    cairn_pipeline_result_free(&res);
    before = get(s, "st-olaf");
    /* a template only st-olaf can't resolve: mercy would render fine, but
     * no site gets any part of the commit */
    fx_put(&r, "workloads/risk-assessment.yaml",
           "kind: Workload\nname: risk-assessment\nexec:\n  command: [/bin/w]\n"
           "  env: {R: \"{{ site.labels.region }}\", X: \"{{ "
           "values.xraylab.inbox }}-2\"}\n"
           "health: {http: \"http://127.0.0.1:{{ values.port }}/\"}\n");
    mercy = cairn_xasprintf(
        "kind: Site\nname: mercy\nlabels: {region: west}\npublicKey: %s\n"
        "values: {port: 8081}\n",
        r.mercy_pub);
    fx_put(&r, "sites/west/mercy.yaml", mercy);
    free(mercy);
    clock_now += 100;
    REQUIRE(process(p, &r, 2, wl, &res) == 0);
    CHECK(!res.accepted);
    CHECK_INT_EQ(res.changed, 0);
    cairn_pipeline_result_free(&res);
    after = get(s, "st-olaf");
    CHECK_INT_EQ(after.generation, before.generation);
    CHECK(after.envelope_len == before.envelope_len &&
          memcmp(after.envelope, before.envelope, before.envelope_len) == 0);
    CHECK_INT_EQ(gen(s, "mercy"), 1);
    cairn_diag_init(&d);
    REQUIRE(cairn_store_head_get(s, "accepted", head, &d) == 0);
    CHECK_STR_EQ(head, "0000000000000000000000000000000000000001");
    REQUIRE(cairn_store_commit_get(s,
                                   "0000000000000000000000000000000000000002",
                                   &accepted, &err, &d) == 0);
    CHECK_INT_EQ(accepted, 0);
    CHECK_STR_EQ(
        err, "workloads/risk-assessment.yaml:6:16: /health/http: unknown name "
             "\"values.port\" in {{ values.port }} (values has no \"port\") "
             "(site st-olaf)\n");
    free(err);
    CHECK(cairn_store_count(s, "history", &n, &d) == 0);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(cairn_pipeline_last(p),
                 "0000000000000000000000000000000000000001");
    cairn_render_rec_free(&before);
    cairn_render_rec_free(&after);
    /* refused by the signature policy: recorded with the reason */
    {
        struct cairn_src *src = fx_src(&r, 3);
        struct cairn_commit_meta meta;

        memset(&meta, 0, sizeof(meta));
        memcpy(meta.sha, src->commit, sizeof(meta.sha));
        meta.refused = 1;
        snprintf(meta.why, sizeof(meta.why),
                 "refused by signature policy require: unsigned");
        REQUIRE(cairn_pipeline_process(p, src, &meta, NULL, &res, &d) == 0);
        CHECK(!res.accepted);
        cairn_pipeline_result_free(&res);
        REQUIRE(cairn_store_commit_get(s, meta.sha, &accepted, &err, &d) == 0);
        CHECK_STR_EQ(
            err, "commit 0000000000000000000000000000000000000003: refused by "
                 "signature policy require: unsigned\n");
        free(err);
    }
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_store_failure_mid_commit(void)
{
    struct cairn_store *s = open_store("crash.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct fx_repo r;
    struct cairn_diag d;
    int64_t n = -1;
    char head[41];

    fx_init(&r);
    fail_put_at = 2; /* the second site's write fails */
    CHECK_INT_EQ(process(p, &r, 1, NULL, &res), CAIRN_EDB);
    cairn_pipeline_result_free(&res);
    cairn_diag_init(&d);
    CHECK(cairn_store_count(s, "renders", &n, &d) == 0);
    CHECK_INT_EQ(n, 0); /* the first site's write was rolled back */
    CHECK(cairn_store_count(s, "commits", &n, &d) == 0);
    CHECK_INT_EQ(n, 0); /* not recorded: it will be retried */
    CHECK_INT_EQ(cairn_store_head_get(s, "accepted", head, &d), CAIRN_ENOENT);
    CHECK(cairn_pipeline_last(p) == NULL);
    /* the retry succeeds and starts at generation 1 */
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    CHECK(res.accepted);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), 1);
    CHECK_INT_EQ(gen(s, "st-olaf"), 1);
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_removed_site_and_back(void)
{
    struct cairn_store *s = open_store("remove.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct fx_repo r;
    const char *gone[] = {"sites/west/mercy.yaml", NULL};
    char *mercy;

    fx_init(&r);
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    cairn_pipeline_result_free(&res);
    mercy = cairn_xasprintf(
        "kind: Site\nname: mercy\nlabels: {region: west}\npublicKey: %s\n",
        r.mercy_pub);
    fx_del(&r, "sites/west/mercy.yaml");
    REQUIRE(process(p, &r, 2, gone, &res) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.removed, 1);
    cairn_pipeline_result_free(&res);
    CHECK_INT_EQ(gen(s, "mercy"), -1);
    fx_put(&r, "sites/west/mercy.yaml", mercy);
    free(mercy);
    REQUIRE(process(p, &r, 3, gone, &res) == 0);
    CHECK_INT_EQ(res.changed, 1);
    cairn_pipeline_result_free(&res);
    /* 1 published, 2 the removal: an agent that saw 1 accepts the new one */
    CHECK_INT_EQ(gen(s, "mercy"), 3);
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_refresh_before_expiry(void)
{
    struct cairn_store *s = open_store("refresh.db");
    struct cairn_pipeline *p = new_pipeline(s);
    struct cairn_pipeline_result res;
    struct fx_repo r;
    struct cairn_diag d;
    size_t n = 99;
    json_t *pl;

    fx_init(&r);
    clock_now = 1700000000;
    REQUIRE(process(p, &r, 1, NULL, &res) == 0);
    cairn_pipeline_result_free(&res);
    cairn_diag_init(&d);
    REQUIRE(cairn_pipeline_refresh(p, 0, &n, &d) == 0);
    CHECK_INT_EQ(n, 0);     /* nothing due yet */
    clock_now += 18 * 3600; /* past every site's refresh time (12 h + < 6 h) */
    REQUIRE(cairn_pipeline_refresh(p, 0, &n, &d) == 0);
    CHECK_INT_EQ(n, 2);
    pl = payload(s, "mercy");
    REQUIRE(pl != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(pl, "generation")), 1);
    CHECK_STR_EQ(pstr(pl, "issued", NULL), "2023-11-15T16:13:20Z");
    CHECK_STR_EQ(pstr(pl, "expires", NULL), "2023-11-16T16:13:20Z");
    json_decref(pl);
    REQUIRE(cairn_pipeline_refresh(p, 0, &n, &d) == 0);
    CHECK_INT_EQ(n, 0);
    cairn_pipeline_free(p);
    cairn_store_close(s);
    fx_free(&r);
}

static void test_refresh_schedule_spreads(void)
{
    int64_t lo = INT64_MAX, hi = 0;

    for (int i = 0; i < 1000; i++) {
        char site[32];
        int64_t t;

        snprintf(site, sizeof(site), "site-%d", i);
        t = cairn_publish_refresh_at(site, 0, 168 * 3600);
        CHECK(t >= 84 * 3600 && t < 126 * 3600);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    /* 1000 sites issued together come back spread over most of 42 hours */
    CHECK(hi - lo > 40 * 3600);
    CHECK_INT_EQ(cairn_publish_refresh_at("a", 100, 100), 100);
}

int main(void)
{
    dir = test_tmpdir();
    if (cairn_keys_init() != 0 ||
        cairn_seckey_generate("controller", &ctl_key) != 0)
        abort();
    RUN(test_first_commit_publishes_signed_documents);
    RUN(test_generation_rises_only_on_change);
    RUN(test_refused_commit_changes_nothing);
    RUN(test_store_failure_mid_commit);
    RUN(test_removed_site_and_back);
    RUN(test_refresh_before_expiry);
    RUN(test_refresh_schedule_spreads);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
