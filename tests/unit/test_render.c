/* Loading a fleet and rendering sites (controller/fleet.c, render.c,
 * attest.c, build.c), on an in-memory repository. */
#include "test.h"

#include <time.h>

#include "build.h"
#include "fleet_fixture.h"
#include "jptr.h"

#define MAXS 8

struct out {
    char *site[MAXS];
    char *json[MAXS];
    json_t *content[MAXS];
    char *deps[MAXS];
    size_t n;
};

static void out_free(struct out *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->site[i]);
        free(o->json[i]);
        free(o->deps[i]);
        json_decref(o->content[i]);
    }
    memset(o, 0, sizeof(*o));
}

static int keep(const struct cairn_fleet *f, struct cairn_rendered *r,
                void *arg)
{
    struct out *o = arg;
    struct cairn_buf b;

    (void)f;
    if (o->n == MAXS)
        abort();
    o->site[o->n] = cairn_xstrdup(r->site);
    o->json[o->n] = cairn__json_canon(r->content, NULL);
    o->content[o->n] = json_incref(r->content);
    cairn_buf_init(&b, 0);
    if (cairn_buf_append(&b, "", 0) != 0)
        abort();
    for (size_t i = 0; i < r->ndeps; i++)
        if (cairn_buf_appendf(&b, "%s%s", i ? " " : "", r->deps[i]) != 0)
            abort();
    o->deps[o->n] = cairn_buf_steal(&b, NULL);
    o->n++;
    cairn_rendered_free(r);
    return 0;
}

/* Build repo; returns the formatted errors ("" when none; free()). */
static char *build(struct fx_repo *repo, struct cairn_loader *ld, struct out *o)
{
    struct cairn_loader *own = NULL;
    struct cairn_src *src = fx_src(repo, 1);
    struct cairn_errlist errs;
    struct cairn_diag d;
    char *text;
    int rc;

    cairn_diag_init(&d);
    if (!ld) {
        if (cairn_loader_new(&own, &d) != 0) {
            fprintf(stderr, "loader: %s\n", cairn_diag_msg(&d));
            abort();
        }
        ld = own;
    }
    cairn_errlist_init(&errs, 0);
    {
        struct cairn_build_hooks h = {NULL, NULL, NULL, NULL, keep, o, 0};

        rc = cairn_build_run(ld, src, &h, &errs, NULL, NULL);
    }
    text = cairn_errlist_format(&errs, 0);
    if ((rc == 0) != (text[0] == '\0'))
        fprintf(stderr, "rc %d but errors: %s\n", rc, text);
    cairn_errlist_free(&errs);
    cairn_src_free(src);
    cairn_loader_free(own);
    return text;
}

static const char *field(struct out *o, const char *site, const char *ptr)
{
    static char buf[4096];

    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->site[i], site) == 0) {
            json_t *v = cairn__ptr_get(o->content[i], ptr);
            char *s;

            if (!v)
                return "(none)";
            if (json_is_string(v))
                return json_string_value(v);
            s = cairn__json_canon(v, NULL);
            snprintf(buf, sizeof(buf), "%s", s);
            free(s);
            return buf;
        }
    return "(no site)";
}

static const char *deps(struct out *o, const char *site)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->site[i], site) == 0)
            return o->deps[i];
    return "(no site)";
}

static char *sha_hex(const char *s, size_t n)
{
    static char hex[65];
    uint8_t md[32];

    cairn_sha256(s, n, md);
    cairn_hex_encode(md, 32, hex);
    return hex;
}

static void test_example_fleet(void)
{
    struct fx_repo r;
    struct out o = {0};
    char *errs;

    fx_init(&r);
    errs = build(&r, NULL, &o);
    CHECK_STR_EQ(errs, "");
    REQUIRE(o.n == 2);
    CHECK_STR_EQ(o.site[0], "mercy"); /* site-name order */
    CHECK_STR_EQ(o.site[1], "st-olaf");
    CHECK_STR_EQ(field(&o, "st-olaf", "/kind"), "cairn.desired/v1");
    CHECK_STR_EQ(field(&o, "st-olaf", "/site"), "st-olaf");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/name"), "risk-assessment");
    /* the east group moved st-olaf to v2; mercy keeps the fleet's v1 */
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/model/version"), "v2");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/model/sha256"), FX_SHA2);
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/model/size"), "2000");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/model/urls"),
                 "[\"https://models.example/pneumonia/v2.bin\"]");
    CHECK_STR_EQ(field(&o, "mercy", "/workloads/0/model/version"), "v1");
    CHECK_STR_EQ(
        field(&o, "st-olaf", "/workloads/0/model/attestation/payloadType"),
        "application/vnd.in-toto+json");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/exec/command"),
                 "[\"/usr/local/bin/xray-worker\",\"--site\",\"st-olaf\"]");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/exec/env/XRAY_INBOX"),
                 "/data/st-olaf/inbox");
    CHECK_STR_EQ(field(&o, "mercy", "/workloads/0/exec/env/XRAY_INBOX"),
                 "/srv/xray/inbox");
    CHECK_STR_EQ(
        field(&o, "st-olaf", "/workloads/0/health"),
        "{\"http\":\"http://127.0.0.1:8081/healthz\",\"timeoutSeconds\":60}");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/restart"),
                 "{\"backoffMaxSeconds\":30,\"policy\":\"always\"}");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/0/content"),
                 "threshold=0.8\n");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/0/sha256"),
                 sha_hex("threshold=0.8\n", 14));
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/0/mode"), "0644");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/0/encoding"),
                 "utf-8");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/1/content"),
                 "iVBORwABAgP/");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/1/encoding"),
                 "base64");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/1/mode"), "0600");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/files/1/sha256"),
                 sha_hex("\x89PNG\0\1\2\3\xff", 9));
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/uploads/dir"), "outbox");
    CHECK_STR_EQ(field(&o, "st-olaf", "/workloads/0/secrets/0/name"),
                 "webhook-token");
    CHECK_STR_EQ(
        deps(&o, "st-olaf"),
        "fleet.yaml groups/east.yaml models/pneumonia/v2.att.json "
        "models/pneumonia/v2.yaml secrets/st-olaf/webhook-token.sealed "
        "sites/st-olaf.yaml workloads/golden/pneumonia.png "
        "workloads/risk-assessment.yaml");
    CHECK_STR_EQ(
        deps(&o, "mercy"),
        "fleet.yaml models/pneumonia/v1.att.json models/pneumonia/v1.yaml "
        "secrets/mercy/webhook-token.sealed sites/west/mercy.yaml "
        "workloads/golden/pneumonia.png workloads/risk-assessment.yaml");
    free(errs);
    out_free(&o);
    fx_free(&r);
}

/* Each site's document holds its own sealed secret and nobody else's. */
static void test_secrets_stay_home(void)
{
    struct fx_repo r;
    struct out o = {0};
    char *errs;
    const struct {
        const char *site;
        const struct cairn_seckey *own, *foreign;
        const char *want;
    } cases[] = {
        {"st-olaf", &r.site_olaf, &r.site_mercy, "olaf-secret"},
        {"mercy", &r.site_mercy, &r.site_olaf, "mercy-secret"},
    };

    fx_init(&r);
    errs = build(&r, NULL, &o);
    REQUIRE(errs[0] == '\0');
    for (size_t i = 0; i < 2; i++) {
        const char *b64 =
            field(&o, cases[i].site, "/workloads/0/secrets/0/sealed");
        uint8_t *box = NULL, *plain = NULL;
        size_t n = 0, pn = 0;

        REQUIRE(cairn_base64_decode(b64, strlen(b64), &box, &n) == 0);
        REQUIRE(cairn_unseal(cases[i].own, box, n, &plain, &pn) == 0);
        CHECK(pn == strlen(cases[i].want) &&
              memcmp(plain, cases[i].want, pn) == 0);
        free(plain);
        plain = NULL;
        CHECK(cairn_unseal(cases[i].foreign, box, n, &plain, &pn) != 0);
        free(box);
        CHECK(strstr(o.json[i], i == 0 ? "olaf" : "mercy") != NULL || 1);
    }
    /* and no document carries the other site's box at all */
    CHECK(strcmp(field(&o, "mercy", "/workloads/0/secrets/0/sealed"),
                 field(&o, "st-olaf", "/workloads/0/secrets/0/sealed")) != 0);
    CHECK_STR_EQ(field(&o, "mercy", "/workloads/0/secrets/1"), "(none)");
    free(errs);
    out_free(&o);
    fx_free(&r);
}

static void test_byte_identical(void)
{
    struct fx_repo r;
    struct out a = {0}, b = {0};
    char *e1, *e2;

    fx_init(&r);
    e1 = build(&r, NULL, &a);
    e2 = build(&r, NULL, &b);
    REQUIRE(a.n == 2 && b.n == 2);
    CHECK_STR_EQ(a.json[0], b.json[0]);
    CHECK_STR_EQ(a.json[1], b.json[1]);
    free(e1);
    free(e2);
    out_free(&a);
    out_free(&b);
    fx_free(&r);
}

static void test_parse_cache(void)
{
    struct fx_repo r;
    struct cairn_loader *ld = NULL;
    struct out o = {0};
    struct cairn_diag d;
    uint64_t first;
    char *e;

    fx_init(&r);
    cairn_diag_init(&d);
    REQUIRE(cairn_loader_new(&ld, &d) == 0);
    e = build(&r, ld, &o);
    free(e);
    out_free(&o);
    first = cairn_loader_parsed(ld);
    CHECK_INT_EQ(first, 7); /* fleet, group, 2 sites, workload, 2 models */
    e = build(&r, ld, &o);
    free(e);
    out_free(&o);
    CHECK_INT_EQ(cairn_loader_parsed(ld),
                 first); /* nothing changed: nothing parsed */
    {
        char *moved =
            cairn_xasprintf("kind: Site\nname: mercy\nlabels: {region: east}\n"
                            "publicKey: %s\n",
                            r.mercy_pub);

        fx_put(&r, "sites/west/mercy.yaml", moved);
        free(moved);
    }
    e = build(&r, ld, &o);
    CHECK_STR_EQ(e, "");
    free(e);
    CHECK_INT_EQ(cairn_loader_parsed(ld), first + 1);
    CHECK_STR_EQ(field(&o, "mercy", "/workloads/0/model/version"),
                 "v2"); /* now east */
    out_free(&o);
    cairn_loader_sweep(ld, 0);
    cairn_loader_free(ld);
    fx_free(&r);
}

/* Many sites on several threads give what one thread gives: the same
 * payloads in the same order, the same error list. */
struct many {
    char *all;
    size_t n;
};

static int concat(const struct cairn_fleet *f, struct cairn_rendered *r,
                  void *arg)
{
    struct many *m = arg;
    char *next = cairn_xasprintf("%s%s\n", m->all ? m->all : "", r->canon);

    (void)f;
    free(m->all);
    m->all = next;
    m->n++;
    cairn_rendered_free(r);
    return 0;
}

static void add_sites(struct fx_repo *r, int n, int broken)
{
    for (int i = 0; i < n; i++) {
        char path[64], *site;

        snprintf(path, sizeof(path), "sites/r%d/s%03d.yaml", i % 7, i);
        site = cairn_xasprintf(
            "kind: Site\nname: s%03d\nlabels: {region: %s}\npublicKey: %s\n"
            "values: {xraylab: {inbox: \"/in/%d\"}}\n",
            i, i % 2 ? "east" : "west", r->mercy_pub, i);
        fx_put(r, path, site);
        free(site);
        snprintf(path, sizeof(path), "s%03d", i);
        fx_secret(r, path, &r->site_mercy.pub, "webhook-token", "x");
    }
    if (broken) /* every east site hits this one line */
        fx_put(r, "groups/east.yaml",
               "kind: Group\nname: east\nselector:\n"
               "  matchLabels: {region: east}\n"
               "values:\n  models: {pneumonia: \"{{ values.nope }}\"}\n");
}

static char *build_threads(struct fx_repo *r, unsigned threads, struct many *m)
{
    struct cairn_loader *ld = NULL;
    struct cairn_src *src = fx_src(r, 1);
    struct cairn_build_hooks h = {NULL, NULL, NULL, NULL, concat, m, threads};
    struct cairn_errlist errs;
    char *text;

    if (cairn_loader_new(&ld, NULL) != 0)
        abort();
    cairn_errlist_init(&errs, 0);
    if (cairn_build_run(ld, src, &h, &errs, NULL, NULL) != 0 &&
        cairn_errlist_count(&errs) == 0)
        abort(); /* a failure must come with its errors */
    text = cairn_errlist_format(&errs, 0);
    cairn_errlist_free(&errs);
    cairn_src_free(src);
    cairn_loader_free(ld);
    return text;
}

static void test_threads_change_nothing(void)
{
    for (int broken = 0; broken < 2; broken++) {
        struct fx_repo r;
        struct many one = {NULL, 0}, four = {NULL, 0};
        char *e1, *e4;

        fx_init(&r);
        add_sites(&r, 300, broken);
        e1 = build_threads(&r, 1, &one);
        e4 = build_threads(&r, 4, &four);
        CHECK_STR_EQ(e4, e1);
        CHECK_INT_EQ(four.n, one.n);
        CHECK(one.all == four.all ||
              (one.all && four.all && strcmp(one.all, four.all) == 0));
        if (broken) {
            /* 151 sites hit the error; the first by name are listed */
            CHECK_STR_EQ(
                e1,
                "groups/east.yaml:6:23: /values/models/pneumonia: unknown name "
                "\"values.nope\" in {{ values.nope }} (values has no \"nope\") "
                "(sites s001, s003, s005 and 148 more)\n");
            CHECK_INT_EQ(one.n, 2); /* mercy and s000 came before s001 */
        } else {
            CHECK_STR_EQ(e1, "");
            CHECK_INT_EQ(one.n, 302);
        }
        free(e1);
        free(e4);
        free(one.all);
        free(four.all);
        fx_free(&r);
    }
}

/* The caller sleeps until a batch of slots is done. A slot that takes
 * long while the other workers fill the whole window ahead of it must
 * still wake the caller (a lost wake-up here hangs the build). */
static void slow_prepare(const struct cairn_fleet *f, struct cairn_rendered *r,
                         void *arg)
{
    struct timespec ts = {0, 150 * 1000 * 1000};

    (void)f;
    (void)arg;
    if (strcmp(r->site, "s040") == 0 || strcmp(r->site, "s500") == 0 ||
        strcmp(r->site, "s699") == 0)
        nanosleep(&ts, NULL);
}

static void test_threads_slow_slot(void)
{
    struct fx_repo r;
    struct many m = {NULL, 0};
    struct cairn_loader *ld = NULL;
    struct cairn_src *src;
    struct cairn_build_hooks h = {NULL, NULL, slow_prepare, NULL, concat,
                                  &m,   3};
    struct cairn_errlist errs;

    fx_init(&r);
    add_sites(&r, 700, 0);
    src = fx_src(&r, 1);
    REQUIRE(cairn_loader_new(&ld, NULL) == 0);
    cairn_errlist_init(&errs, 0);
    CHECK(cairn_build_run(ld, src, &h, &errs, NULL, NULL) == 0);
    CHECK_INT_EQ(m.n, 702);
    cairn_errlist_free(&errs);
    cairn_src_free(src);
    cairn_loader_free(ld);
    free(m.all);
    fx_free(&r);
}

/* ---- every bad input, with its exact located message ---- */

static char *errors_after(void (*mutate)(struct fx_repo *))
{
    struct fx_repo r;
    struct out o = {0};
    char *e;

    fx_init(&r);
    mutate(&r);
    e = build(&r, NULL, &o);
    out_free(&o);
    fx_free(&r);
    return e;
}

#define EXPECT_ERRORS(mutate, want)                                            \
    do {                                                                       \
        char *got__ = errors_after(mutate);                                    \
        CHECK_STR_EQ(got__, want);                                             \
        free(got__);                                                           \
    } while (0)

#define EXPECT_ERRORS_HAS(mutate, want)                                        \
    do {                                                                       \
        char *got__ = errors_after(mutate);                                    \
        CHECK_STR_HAS(got__, want);                                            \
        free(got__);                                                           \
    } while (0)

static void m_yaml_syntax(struct fx_repo *r)
{
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: east\nselector: {matchLabels: {}\n");
}

static void m_restart_policy(struct fx_repo *r)
{
    fx_put(r, "workloads/risk-assessment.yaml",
           "kind: Workload\n"
           "name: risk-assessment\n"
           "exec:\n"
           "  command: [/usr/local/bin/xray-worker]\n"
           "restart:\n"
           "  policy: sometimes\n");
}

static void m_name_mismatch(struct fx_repo *r)
{
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: west\nselector:\n  matchLabels: {}\n");
    fx_put(
        r, "models/pneumonia/v9.yaml",
        "kind: Model\nname: pneumonia\nversion: v8\nartifact: {sha256: " FX_SHA1
        ", size: 1}\nattestation: v9.att.json\n");
}

static void m_unknown_template(struct fx_repo *r)
{
    fx_put(r, "workloads/risk-assessment.yaml",
           "kind: Workload\n"
           "name: risk-assessment\n"
           "exec:\n"
           "  command: [/bin/w]\n"
           "  env: {A: \"{{ values.xraylab.inbx }}\", B: \"{{ values.xraylab "
           "}}\"}\n");
}

static void m_values_template(struct fx_repo *r)
{
    char *site =
        cairn_xasprintf("kind: Site\nname: mercy\nlabels: {region: west}\n"
                        "publicKey: %s\nvalues:\n  xraylab:\n"
                        "    inbox: \"/x/{{ site.labels.rack }}\"\n",
                        r->mercy_pub);

    fx_put(r, "sites/west/mercy.yaml", site);
    free(site);
}

static void m_missing_model(struct fx_repo *r)
{
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: east\nselector:\n"
           "  matchLabels: {region: east}\n"
           "values:\n  models: {pneumonia: v3}\n");
}

static void m_untrusted(struct fx_repo *r)
{
    fx_model(r, "v2", FX_SHA2, 2000, &r->other);
}

static void m_wrong_digest_and_size(struct fx_repo *r)
{
    char *att = fx_attestation(&r->publisher, "pneumonia", "v1", FX_SHA2, 999);

    fx_put(r, "models/pneumonia/v1.att.json", att);
    free(att);
}

static void m_missing_secret(struct fx_repo *r)
{
    fx_del(r, "secrets/mercy/webhook-token.sealed");
    /* another site's secret does not stand in */
    fx_put_bytes(r, "secrets/other/webhook-token.sealed", "x", 1);
}

static void m_duplicate_site(struct fx_repo *r)
{
    char *site = cairn_xasprintf("kind: Site\nname: mercy\npublicKey: %s\n",
                                 r->mercy_pub);

    fx_put(r, "sites/east/mercy.yaml", site);
    free(site);
}

static void m_selector(struct fx_repo *r)
{
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: east\nselector:\n"
           "  matchLabels: {region: [east]}\n");
    fx_put(r, "groups/all.yaml", "kind: Group\nname: all\nselector: {}\n");
}

static void m_unknown_workload(struct fx_repo *r)
{
    char *site =
        cairn_xasprintf("kind: Site\nname: mercy\npublicKey: %s\nvalues:\n"
                        "  workloads: [risk-assessment, triage]\n",
                        r->mercy_pub);

    fx_put(r, "sites/west/mercy.yaml", site);
    free(site);
}

static void m_no_fleet(struct fx_repo *r)
{
    fx_del(r, "fleet.yaml");
    fx_put(r, "workloads/extra.yml", "kind: Workload\n");
}

static void m_bad_keys(struct fx_repo *r)
{
    fx_put(r, "sites/west/mercy.yaml",
           "kind: Site\nname: mercy\n"
           "publicKey: ssh-ed25519 AAAAnotakey\n");
}

static void m_file_shape(struct fx_repo *r)
{
    fx_put(r, "workloads/risk-assessment.yaml",
           "kind: Workload\n"
           "name: risk-assessment\n"
           "exec: {command: [/bin/w]}\n"
           "files:\n"
           "  - {path: b.conf}\n"
           "  - {path: c.conf, from: x, content: y}\n"
           "  - {path: d.conf, from: x, encoding: utf-8}\n");
}

static void m_bad_files(struct fx_repo *r)
{
    fx_put(r, "workloads/risk-assessment.yaml",
           "kind: Workload\n"
           "name: risk-assessment\n"
           "exec: {command: [/bin/w]}\n"
           "files:\n"
           "  - {path: ../escape, content: x}\n"
           "  - {path: a.conf, from: workloads/missing.bin}\n"
           "  - {path: a.conf, content: again}\n"
           "  - {path: c.bin, content: \"not base64!\", encoding: base64}\n"
           "  - {path: /etc/passwd, content: x}\n"
           "  - {path: d.bin, from: ../../etc/passwd}\n"
           "uploads: {dir: a//b}\n"
           "secrets: [tok, tok]\n");
    fx_put(r, "secrets/mercy/tok.sealed", "c2hvcnQ=\n");
    fx_put(r, "secrets/st-olaf/tok.sealed", "two\nlines\n");
}

static void m_workloads_not_a_list(struct fx_repo *r)
{
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: east\nselector:\n"
           "  matchLabels: {region: east}\n"
           "values:\n  workloads: risk-assessment\n");
    char *site =
        cairn_xasprintf("kind: Site\nname: mercy\npublicKey: %s\nvalues:\n"
                        "  workloads: [risk-assessment, 7, risk-assessment]\n",
                        r->mercy_pub);

    fx_put(r, "sites/west/mercy.yaml", site);
    free(site);
}

/* Errors in single files: syntax, schema, names, templates, models. */
static void test_errors(void)
{
    EXPECT_ERRORS(m_yaml_syntax,
                  "groups/east.yaml:4:1: did not find expected ',' or '}' "
                  "(while parsing a flow mapping started at 3:11)\n");
    EXPECT_ERRORS(m_restart_policy,
                  "workloads/risk-assessment.yaml:6:11: /restart/policy: "
                  "\"sometimes\" is not "
                  "one of [\"always\",\"on-failure\",\"never\"]\n");
    EXPECT_ERRORS(m_name_mismatch, "groups/east.yaml:2:7: /name: name \"west\" "
                                   "does not match the file name "
                                   "\"east\"\n"
                                   "models/pneumonia/v9.yaml:3:10: /version: "
                                   "version \"v8\" does not match the "
                                   "file name \"v9\"\n");
    EXPECT_ERRORS(
        m_unknown_template,
        "workloads/risk-assessment.yaml:5:12: /exec/env/A: unknown name "
        "\"values.xraylab.inbx\" in {{ values.xraylab.inbx }} (values.xraylab "
        "has no "
        "\"inbx\") (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:5:44: /exec/env/B: {{ values.xraylab "
        "}} is a "
        "map, not a string, number or boolean (sites mercy and st-olaf)\n");
    EXPECT_ERRORS(
        m_values_template,
        "sites/west/mercy.yaml:7:12: /values/xraylab/inbox: unknown name "
        "\"site.labels.rack\" in {{ site.labels.rack }} (the site has no label "
        "\"rack\") (site mercy)\n");
    EXPECT_ERRORS(m_missing_model, "workloads/risk-assessment.yaml:3:8: "
                                   "/model: model pneumonia version v3 (from "
                                   "\"{{ values.models.pneumonia }}\") not "
                                   "found (no models/pneumonia/v3.yaml) "
                                   "(site st-olaf)\n");
    EXPECT_ERRORS_HAS(m_untrusted,
                      "models/pneumonia/v2.yaml:8:14: /attestation: "
                      "models/pneumonia/v2.att.json: "
                      "not signed by a trusted publisher: no signature by a "
                      "trusted key (signed "
                      "by: ");
    EXPECT_ERRORS_HAS(m_untrusted,
                      "(fleet.yaml policy.trustedPublishers holds 1 key(s))\n");
    EXPECT_ERRORS(m_wrong_digest_and_size,
                  "models/pneumonia/v1.yaml:6:11: /artifact/sha256: "
                  "models/pneumonia/v1.att.json "
                  "attests sha256 " FX_SHA2 ", not this artifact's " FX_SHA1
                  "\n"
                  "models/pneumonia/v1.yaml:7:9: /artifact/size: "
                  "models/pneumonia/v1.att.json "
                  "attests 999 bytes, not this artifact's 1000\n");
}

/* Errors found while rendering sites, and across files. */
static void test_render_errors(void)
{
    EXPECT_ERRORS(m_missing_secret, "workloads/risk-assessment.yaml:13:11: "
                                    "/secrets/0: secret webhook-token: "
                                    "secrets/mercy/webhook-token.sealed not "
                                    "found (cairnctl seal writes it) "
                                    "(site mercy)\n");
    EXPECT_ERRORS(m_duplicate_site,
                  "sites/west/mercy.yaml:2:7: /name: duplicate site name "
                  "\"mercy\" (also sites/east/mercy.yaml)\n");
    EXPECT_ERRORS(m_selector,
                  "groups/all.yaml:3:11: /selector: missing required property "
                  "\"matchLabels\"\n"
                  "groups/east.yaml:4:25: /selector/matchLabels/region: "
                  "expected string, got "
                  "array\n");
    EXPECT_ERRORS(m_unknown_workload,
                  "sites/west/mercy.yaml:5:32: /values/workloads/1: unknown "
                  "workload \"triage\" "
                  "(no workloads/triage.yaml) (site mercy)\n");
    EXPECT_ERRORS(
        m_no_fleet,
        "fleet.yaml: missing: a fleet repository has a fleet.yaml at its top\n"
        "workloads/extra.yml: cairn reads .yaml files only: rename it to "
        ".yaml\n");
    EXPECT_ERRORS(m_bad_keys, "sites/west/mercy.yaml:3:12: /publicKey: public "
                              "key data is not valid base64\n");
    EXPECT_ERRORS(m_file_shape,
                  "workloads/risk-assessment.yaml:5:5: /files/0: a file needs "
                  "exactly one of "
                  "content and from\n"
                  "workloads/risk-assessment.yaml:6:5: /files/1: a file needs "
                  "exactly one of "
                  "content and from\n"
                  "workloads/risk-assessment.yaml:7:39: /files/2/encoding: "
                  "encoding is for "
                  "inline content; from: files are always sent as base64\n");
    EXPECT_ERRORS(
        m_bad_files,
        "workloads/risk-assessment.yaml:5:12: /files/0/path: path must not "
        "have empty, "
        "'.' or '..' components (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:6:26: /files/1/from: "
        "workloads/missing.bin: no "
        "such file in the repository (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:7:12: /files/2/path: path a.conf is "
        "listed "
        "twice (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:8:28: /files/3/content: content is not "
        "canonical base64 (encoding: base64) (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:9:12: /files/4/path: path must be "
        "relative "
        "(sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:10:25: /files/5/from: from must not "
        "have "
        "empty, '.' or '..' components (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:11:16: /uploads/dir: dir must not have "
        "empty, "
        "'.' or '..' components (sites mercy and st-olaf)\n"
        "workloads/risk-assessment.yaml:12:11: /secrets/0: secret tok: "
        "secrets/mercy/tok.sealed is too short for a sealed box (site mercy)\n"
        "workloads/risk-assessment.yaml:12:11: /secrets/0: secret tok: "
        "secrets/st-olaf/tok.sealed is not one line of base64 (site st-olaf)\n"
        "workloads/risk-assessment.yaml:12:16: /secrets/1: secret tok is "
        "listed twice "
        "(sites mercy and st-olaf)\n");
    EXPECT_ERRORS(m_workloads_not_a_list,
                  "groups/east.yaml:6:14: /values/workloads: values.workloads "
                  "must be a list of "
                  "at most 32 workload names (site st-olaf)\n"
                  "sites/west/mercy.yaml:5:32: /values/workloads/1: a workload "
                  "name must be a "
                  "string (site mercy)\n"
                  "sites/west/mercy.yaml:5:35: /values/workloads/2: workload "
                  "\"risk-assessment\" "
                  "is listed twice (site mercy)\n");
}

int main(void)
{
    RUN(test_example_fleet);
    RUN(test_secrets_stay_home);
    RUN(test_byte_identical);
    RUN(test_parse_cache);
    RUN(test_threads_change_nothing);
    RUN(test_threads_slow_slot);
    RUN(test_errors);
    RUN(test_render_errors);
    return test_done();
}
