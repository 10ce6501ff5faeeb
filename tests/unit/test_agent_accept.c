/* agent/accept.c: every acceptance rule and each refusal, the model
 * attestation check, and relative paths. */
#include "accept.h"
#include "cairn/dsse.h"
#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "test.h"

#define NOW 1795741200 /* 2026-11-27T01:00:00Z */

static struct cairn_seckey ctl, rogue, publisher;
static struct cairn_keyset ctl_set, pub_set;

static char *hex_of(const char *s)
{
    uint8_t d[CAIRN_SHA256_LEN];
    char *h = cairn_xmalloc(65);

    cairn_sha256(s, strlen(s), d);
    cairn_hex_encode(d, sizeof(d), h);
    return h;
}

static json_t *attestation(const struct cairn_seckey *k, const char *sha,
                           int64_t size, const char *name)
{
    const struct cairn_seckey *keys[] = {k};
    json_t *st =
        json_pack("{s:s,s:s,s:{s:s,s:I,s:s},s:[{s:{s:s},s:s}]}", "_type",
                  "https://in-toto.io/Statement/v1", "predicateType",
                  "cairn.dev/model/v1", "predicate", "name", name, "size",
                  (json_int_t)size, "version", "v2", "subject", "digest",
                  "sha256", sha, "name", "model.bin");
    char *text = cairn_json_canonical(st), *env;
    json_t *out = NULL;

    env = cairn_dsse_sign(CAIRN_DSSE_INTOTO, (const uint8_t *)text,
                          strlen(text), keys, 1);
    if (cairn_json_parse(env, strlen(env), strlen(env), &out, NULL) != 0)
        abort();
    free(text);
    free(env);
    json_decref(st);
    return out;
}

static json_t *model(void)
{
    char *sha = hex_of("model bytes");
    json_t *m = json_pack(
        "{s:s,s:s,s:s,s:I,s:[s],s:o}", "name", "pneumonia", "version", "v2",
        "sha256", sha, "size", (json_int_t)11, "urls", "http://127.0.0.1:1/m",
        "attestation", attestation(&publisher, sha, 11, "pneumonia"));
    free(sha);
    return m;
}

static json_t *payload(const char *site, int64_t gen, const char *issued,
                       const char *expires)
{
    char *sha = hex_of("threshold=0.8\n");
    json_t *p = json_pack(
        "{s:s,s:s,s:I,s:s,s:s,s:{s:s,s:s,s:n},s:[{s:s,s:o,s:{s:[s],s:{}},s:[{s:"
        "s,s:s,s:s,"
        "s:s}]}]}",
        "kind", "cairn.desired/v1", "site", site, "generation", (json_int_t)gen,
        "issued", issued, "expires", expires, "source", "repo",
        "https://git.example/fleet", "commit",
        "0123456789abcdef0123456789abcdef01234567", "signer", "workloads",
        "name", "risk", "model", model(), "exec", "command", "/bin/true", "env",
        "files", "path", "conf/worker.conf", "mode", "0644", "sha256", sha,
        "content", "threshold=0.8\n");
    free(sha);
    return p;
}

static char *sign_payload(const json_t *p, const struct cairn_seckey *k,
                          const char *type)
{
    const struct cairn_seckey *keys[] = {k};
    char *text = cairn_json_canonical(p);
    char *env =
        cairn_dsse_sign(type, (const uint8_t *)text, strlen(text), keys, 1);

    free(text);
    return env;
}

static struct cairn_accept_ctx ctx(void)
{
    struct cairn_accept_ctx c;

    memset(&c, 0, sizeof(c));
    c.site = "st-olaf";
    c.controller_keys = &ctl_set;
    c.schema = cairn_accept_schema();
    c.max_bytes = 1 << 20;
    c.now = NOW;
    c.accepted_gen = 5;
    c.accepted_issued = NOW - 3600; /* 2026-11-27T00:00:00Z */
    return c;
}

/* Judge env under c: the code, and the diag message in msg. */
static int judge_env(const struct cairn_accept_ctx *c, const char *env,
                     char *msg, size_t n, struct cairn_accepted *out)
{
    struct cairn_accepted a;
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    rc = cairn_accept(c, env, strlen(env), &a, &d);
    snprintf(msg, n, "%s", rc ? cairn_diag_msg(&d) : "");
    if (rc == 0 && out)
        *out = a;
    else if (rc == 0)
        cairn_accepted_free(&a);
    return rc;
}

static int judge(json_t *p, const struct cairn_seckey *k, char *msg, size_t n)
{
    struct cairn_accept_ctx c = ctx();
    char *env = sign_payload(p, k, CAIRN_DSSE_DESIRED);
    int rc = judge_env(&c, env, msg, n, NULL);

    free(env);
    json_decref(p);
    return rc;
}

#define LATER "2026-11-27T00:30:00Z"
#define EXP "2026-12-04T00:00:00Z"

static void test_accepts_newer(void)
{
    struct cairn_accept_ctx c = ctx();
    json_t *p = payload("st-olaf", 6, LATER, EXP);
    char *env = sign_payload(p, &ctl, CAIRN_DSSE_DESIRED), msg[1100];
    struct cairn_accepted a;

    REQUIRE(cairn_accept_schema() != NULL);
    CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), &a), 0);
    CHECK_STR_EQ(msg, "");
    CHECK_INT_EQ(a.generation, 6);
    CHECK_INT_EQ(a.refresh, 0);
    CHECK_INT_EQ(a.expires, 1796342400);
    CHECK_STR_EQ(a.signer, ctl.pub.id);
    CHECK(json_equal(a.payload, p));
    cairn_accepted_free(&a);
    free(env);
    json_decref(p);
}

static void test_refresh_rules(void)
{
    char msg[1100];
    struct cairn_accept_ctx c = ctx();
    json_t *p = payload("st-olaf", 5, LATER, EXP);
    char *env = sign_payload(p, &ctl, CAIRN_DSSE_DESIRED);
    struct cairn_accepted a;

    /* equal generation with a later issued: a refresh */
    CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), &a), 0);
    CHECK_INT_EQ(a.refresh, 1);
    cairn_accepted_free(&a);
    /* the same issue again: already accepted (not an attack) */
    c.accepted_issued = a.issued;
    CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), NULL), CAIRN_EEXIST);
    /* an earlier issue of the same generation: stale */
    c.accepted_issued = a.issued + 1;
    CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), NULL), CAIRN_ESTALE);
    CHECK_STR_HAS(msg, "older than the accepted issue");
    free(env);
    json_decref(p);
}

static void test_refusals(void)
{
    char msg[1100];
    json_t *p;

    /* signed by a key that is not pinned */
    CHECK_INT_EQ(
        judge(payload("st-olaf", 6, LATER, EXP), &rogue, msg, sizeof(msg)),
        CAIRN_EKEY);
    CHECK_STR_HAS(msg, "not signed by a pinned controller key");
    /* for another site */
    CHECK_INT_EQ(
        judge(payload("st-anne", 6, LATER, EXP), &ctl, msg, sizeof(msg)),
        CAIRN_EPOLICY);
    CHECK_STR_HAS(msg, "for site \"st-anne\", this is \"st-olaf\"");
    /* a lower generation (rollback attack) */
    CHECK_INT_EQ(
        judge(payload("st-olaf", 4, LATER, EXP), &ctl, msg, sizeof(msg)),
        CAIRN_ESTALE);
    CHECK_STR_HAS(msg, "generation 4 is lower than the highest accepted (5)");
    /* expired (freeze attack) */
    CHECK_INT_EQ(judge(payload("st-olaf", 6, LATER, "2026-11-27T00:59:59Z"),
                       &ctl, msg, sizeof(msg)),
                 CAIRN_EEXPIRED);
    CHECK_STR_HAS(msg, "expired at 2026-11-27T00:59:59Z");
    /* schema-invalid: an unknown field */
    p = payload("st-olaf", 6, LATER, EXP);
    json_object_set_new(p, "extra", json_true());
    CHECK_INT_EQ(judge(p, &ctl, msg, sizeof(msg)), CAIRN_ESCHEMA);
    CHECK_STR_HAS(msg, "does not match its schema");
    /* schema-invalid: a missing field */
    p = payload("st-olaf", 6, LATER, EXP);
    json_object_del(p, "workloads");
    CHECK_INT_EQ(judge(p, &ctl, msg, sizeof(msg)), CAIRN_ESCHEMA);
    /* a file path escaping the workload's directory */
    p = payload("st-olaf", 6, LATER, EXP);
    json_object_set_new(
        json_array_get(
            json_object_get(json_array_get(json_object_get(p, "workloads"), 0),
                            "files"),
            0),
        "path", json_string("../../etc/cron.d/x"));
    CHECK_INT_EQ(judge(p, &ctl, msg, sizeof(msg)), CAIRN_EPATH);
    CHECK_STR_HAS(msg, "workloads[0].files[0] \"../../etc/cron.d/x\"");
    p = payload("st-olaf", 6, LATER, EXP);
    json_object_set_new(
        json_array_get(
            json_object_get(json_array_get(json_object_get(p, "workloads"), 0),
                            "files"),
            0),
        "path", json_string("/etc/passwd"));
    CHECK_INT_EQ(judge(p, &ctl, msg, sizeof(msg)), CAIRN_EPATH);
    /* a file whose content does not match its digest */
    p = payload("st-olaf", 6, LATER, EXP);
    json_object_set_new(
        json_array_get(
            json_object_get(json_array_get(json_object_get(p, "workloads"), 0),
                            "files"),
            0),
        "content", json_string("threshold=0.1\n"));
    CHECK_INT_EQ(judge(p, &ctl, msg, sizeof(msg)), CAIRN_EDIGEST);
    /* wrong payload type */
    {
        struct cairn_accept_ctx c = ctx();
        json_t *q = payload("st-olaf", 6, LATER, EXP);
        char *env = sign_payload(q, &ctl, CAIRN_DSSE_REPORT);
        CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), NULL), CAIRN_EPARSE);
        free(env);
        json_decref(q);
    }
}

static void test_oversized_and_tampered(void)
{
    struct cairn_accept_ctx c = ctx();
    json_t *p = payload("st-olaf", 6, LATER, EXP), *env_json = NULL;
    char *env = sign_payload(p, &ctl, CAIRN_DSSE_DESIRED), msg[1100], *text,
         *bad;
    const char *b64;
    uint8_t *raw;
    size_t n;

    c.max_bytes = strlen(env) - 1;
    CHECK_INT_EQ(judge_env(&c, env, msg, sizeof(msg), NULL), CAIRN_ETOOBIG);
    CHECK_STR_HAS(msg, "over the");
    /* one payload byte changed after signing */
    c = ctx();
    REQUIRE(cairn_json_parse(env, strlen(env), strlen(env), &env_json, NULL) ==
            0);
    b64 = json_string_value(json_object_get(env_json, "payload"));
    REQUIRE(cairn_base64_decode(b64, strlen(b64), &raw, &n) == 0);
    raw[n - 3] ^= 1;
    bad = cairn_base64_encode(raw, n);
    json_object_set_new(env_json, "payload", json_string(bad));
    text = json_dumps(env_json, JSON_COMPACT);
    CHECK_INT_EQ(judge_env(&c, text, msg, sizeof(msg), NULL), CAIRN_ESIG);
    free(text);
    free(bad);
    free(raw);
    json_decref(env_json);
    /* not JSON at all */
    CHECK_INT_EQ(judge_env(&c, "garbage", msg, sizeof(msg), NULL),
                 CAIRN_EPARSE);
    free(env);
    json_decref(p);
}

static void test_attestation(void)
{
    json_t *m = model();
    char *sha = cairn_xstrdup(json_string_value(json_object_get(m, "sha256")));
    char *other = hex_of("other bytes");
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), 0);
    /* attested by an unknown key */
    json_object_set_new(m, "attestation",
                        attestation(&rogue, sha, 11, "pneumonia"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), CAIRN_EKEY);
    CHECK_STR_HAS(cairn_diag_msg(&d), "not signed by a pinned publisher key");
    /* attests another digest */
    json_object_set_new(m, "attestation",
                        attestation(&publisher, other, 11, "pneumonia"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), CAIRN_EDIGEST);
    CHECK_STR_HAS(cairn_diag_msg(&d), "is not the signed sha256");
    /* another size */
    json_object_set_new(m, "attestation",
                        attestation(&publisher, sha, 12, "pneumonia"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), CAIRN_ESIZE);
    /* another model name */
    json_object_set_new(m, "attestation",
                        attestation(&publisher, sha, 11, "other"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), CAIRN_EPOLICY);
    /* not an envelope */
    json_object_set_new(m, "attestation", json_pack("{s:s}", "payload", "x"));
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_accept_attestation(m, &pub_set, &d), CAIRN_EPARSE);
    free(sha);
    free(other);
    json_decref(m);
}

static void test_relpath(void)
{
    CHECK_INT_EQ(cairn_accept_relpath("a", 1), 0);
    CHECK_INT_EQ(cairn_accept_relpath("a/b.c/d", 7), 0);
    CHECK_INT_EQ(cairn_accept_relpath("..a/b..", 7), 0);
    CHECK_INT_EQ(cairn_accept_relpath("", 0), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("/a", 2), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("..", 2), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a/../b", 6), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a/./b", 5), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a//b", 4), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a/", 2), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a\nb", 3), CAIRN_EPATH);
    CHECK_INT_EQ(cairn_accept_relpath("a\0b", 3), CAIRN_EPATH);
}

int main(void)
{
    if (cairn_keys_init() != 0 || cairn_seckey_generate("ctl", &ctl) != 0 ||
        cairn_seckey_generate("rogue", &rogue) != 0 ||
        cairn_seckey_generate("pub", &publisher) != 0)
        return 1;
    cairn_keyset_init(&ctl_set);
    cairn_keyset_add(&ctl_set, &ctl.pub);
    cairn_keyset_init(&pub_set);
    cairn_keyset_add(&pub_set, &publisher.pub);
    RUN(test_accepts_newer);
    RUN(test_refresh_rules);
    RUN(test_refusals);
    RUN(test_oversized_and_tampered);
    RUN(test_attestation);
    RUN(test_relpath);
    cairn_keyset_free(&ctl_set);
    cairn_keyset_free(&pub_set);
    return test_done();
}
