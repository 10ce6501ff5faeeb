/*
 * The audit verbs' pure parts: time parsing, model intervals from reports
 * (controller/audit_site.c), the fleet-file readers and the attestation
 * verdict (controller/audit_fleet.c). Every malformed input gets a message
 * naming what is wrong.
 */
#include "test.h"

#include "audit.h"
#include "cairn/dsse.h"
#include "cairn/json.h"

static void test_time(void)
{
    int64_t t = 0;
    char buf[32];

    CHECK(cairn__audit_parse_time("2026-01-02", &t) == 0);
    CHECK_INT_EQ(t, 1767312000);
    CHECK(cairn__audit_parse_time("2026-01-02T03:04:05Z", &t) == 0);
    CHECK_INT_EQ(t, 1767312000 + 3 * 3600 + 4 * 60 + 5);
    cairn__audit_time(t, buf);
    CHECK_STR_EQ(buf, "2026-01-02T03:04:05Z");
    CHECK_INT_EQ(cairn__audit_parse_time("2026-01-02T03:04:05", &t),
                 CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__audit_parse_time("2026-13-02", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__audit_parse_time("yesterday", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__audit_parse_time("1960-01-01", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__audit_parse_time("2026-01-02 ", &t), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn__audit_parse_time("", &t), CAIRN_EPARSE);
}

/* ---- intervals --------------------------------------------------------------
 */

static json_t *payloads(const char *text)
{
    json_t *v = NULL;

    if (cairn_json_parse(text, strlen(text), 1 << 20, &v, NULL) != 0)
        abort();
    return v;
}

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define W(name, state, ver, sha)                                               \
    "{\"name\":\"" name "\",\"state\":\"" state                                \
    "\",\"model\":{\"name\":\"m\","                                            \
    "\"version\":\"" ver "\",\"sha256\":\"" sha "\"}}"
#define R(seq, time, ...)                                                      \
    "{\"seq\":" #seq ",\"time\":\"" time "\",\"workloads\":[" __VA_ARGS__ "]}"

static char *show(json_t *iv)
{
    static char buf[2048];
    size_t off = 0;
    json_t *x;
    size_t i;

    buf[0] = '\0';
    json_array_foreach(iv, i, x)
    {
        off += (size_t)snprintf(
            buf + off, sizeof(buf) - off, "%s %s %lld-%lld%s;",
            json_string_value(json_object_get(x, "workload")),
            json_string_value(json_object_get(x, "version")),
            (long long)json_integer_value(json_object_get(x, "fromSeq")),
            (long long)json_integer_value(json_object_get(x, "toSeq")),
            json_is_true(json_object_get(x, "open")) ? "+" : "");
    }
    return buf;
}

static void test_intervals(void)
{
    json_t *p = payloads("[" R(1, "t1", W("risk", "running", "v1", A)) "," R(
        2, "t2",
        W("risk", "starting", "v2",
          B)) "," R(3, "t3",
                    W("risk", "running", "v2",
                      B) "," W("lab", "running", "v7",
                               A)) "," R(4, "t4",
                                         W("risk", "failed", "v2", B) "," W(
                                             "lab", "running", "v7",
                                             A)) "," R(5, "t5",
                                                       W("risk", "running",
                                                         "v1", A)) "]");
    json_t *iv = cairn__audit_intervals(p), *first = json_array_get(iv, 0);

    /* a starting worker has its model loaded; a failed one runs nothing; a
     * workload missing from a report stopped; the last stays open */
    CHECK_STR_EQ(show(iv), "risk v1 1-2;risk v2 2-4;lab v7 3-5;risk v1 5-5+;");
    CHECK_STR_EQ(json_string_value(json_object_get(first, "from")), "t1");
    CHECK_STR_EQ(json_string_value(json_object_get(first, "to")), "t2");
    CHECK_STR_EQ(json_string_value(json_object_get(first, "sha256")), A);
    json_decref(iv);
    json_decref(p);
    /* no digest, no interval; nothing at all, nothing */
    p = payloads(
        "[" R(1, "t1", "{\"name\":\"risk\",\"state\":\"running\"}") "]");
    iv = cairn__audit_intervals(p);
    CHECK_INT_EQ(json_array_size(iv), 0);
    json_decref(iv);
    json_decref(p);
    p = json_array();
    iv = cairn__audit_intervals(p);
    CHECK_INT_EQ(json_array_size(iv), 0);
    json_decref(iv);
    json_decref(p);
}

/* ---- fleet files
 * ----------------------------------------------------------------- */

static const char *pk1 =
    "ssh-ed25519 "
    "AAAAC3NzaC1lZDI1NTE5AAAAII00IXZFqpqgEVUV8YIlr+RfKc5mMjMFD1INEf8KdsA0 e";

static int trusted(const char *yaml, struct cairn_keyset *ks,
                   struct cairn_diag *d)
{
    cairn_diag_init(d);
    cairn_keyset_init(ks);
    return cairn__audit_trusted("fleet.yaml", yaml, strlen(yaml), ks, d);
}

static void test_fleet_files(void)
{
    struct cairn_keyset ks;
    struct cairn_diag d;
    struct cairn_pubkey pk;
    struct cairn__model_file m;
    char yaml[512];

    snprintf(yaml, sizeof(yaml),
             "kind: Fleet\npolicy:\n  trustedPublishers: [\"%s\"]\n", pk1);
    CHECK(trusted(yaml, &ks, &d) == 0);
    CHECK_INT_EQ(ks.n, 1);
    CHECK_STR_EQ(ks.keys[0].id, "9fcd29788a729f03");
    cairn_keyset_free(&ks);
    CHECK(trusted("kind: Fleet\n", &ks, &d) == 0);
    CHECK_INT_EQ(ks.n, 0);
    CHECK_INT_EQ(trusted("policy: {trustedPublishers: x}\n", &ks, &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "fleet.yaml: policy.trustedPublishers is not a list");
    CHECK_INT_EQ(trusted("policy: {trustedPublishers: [1]}\n", &ks, &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "policy.trustedPublishers[0] is not a string");
    CHECK(trusted("policy: {trustedPublishers: [ssh-rsa AAAA]}\n", &ks, &d) !=
          0);
    CHECK_STR_HAS(cairn_diag_msg(&d),
                  "fleet.yaml: policy.trustedPublishers[0]");
    cairn_keyset_free(&ks);
    CHECK_INT_EQ(trusted("- a list\n", &ks, &d), CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "not a mapping");
    CHECK(trusted("a: [\n", &ks, &d) != 0);
    CHECK_STR_HAS(cairn_diag_msg(&d), "fleet.yaml:");

    snprintf(yaml, sizeof(yaml), "kind: Site\nname: a\npublicKey: %s\n", pk1);
    CHECK(cairn__audit_site_key("sites/a.yaml", yaml, strlen(yaml), &pk,
                                NULL) == 0);
    CHECK_STR_EQ(pk.id, "9fcd29788a729f03");
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn__audit_site_key("sites/a.yaml", "kind: Site\n", 11, &pk, &d),
        CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "sites/a.yaml: no publicKey");

    snprintf(yaml, sizeof(yaml),
             "name: m\nversion: \"1.10\"\nartifact: {sha256: %s, size: 1}\n"
             "attestation: v.att.json\n",
             A);
    CHECK(cairn__audit_model_file("models/m/1.10.yaml", yaml, strlen(yaml), &m,
                                  NULL) == 0);
    CHECK_STR_EQ(m.version, "1.10");
    CHECK_STR_EQ(m.sha256, A);
    CHECK_STR_EQ(m.attestation, "v.att.json");
    cairn_diag_init(&d);
    CHECK_INT_EQ(
        cairn__audit_model_file("x.yaml", "name: m\nversion: v\n", 19, &m, &d),
        CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "x.yaml: artifact.sha256 missing");
    cairn_diag_init(&d);
    snprintf(yaml, sizeof(yaml),
             "name: m\nversion: v\nartifact: {sha256: %s}\n"
             "attestation: ../x.att.json\n",
             A);
    CHECK_INT_EQ(cairn__audit_model_file("x.yaml", yaml, strlen(yaml), &m, &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(cairn_diag_msg(&d), "attestation is not a file name");
}

/* ---- attestations
 * --------------------------------------------------------------------- */

static char *attest(const struct cairn_seckey *k, const char *sha,
                    const char *name)
{
    char st[512];
    const struct cairn_seckey *keys[] = {k};

    snprintf(
        st, sizeof(st),
        "{\"_type\":\"https://in-toto.io/Statement/"
        "v1\",\"predicate\":{\"name\":\"%s\","
        "\"size\":4,\"version\":\"v1\"},\"predicateType\":\"cairn.dev/model/"
        "v1\","
        "\"subject\":[{\"digest\":{\"sha256\":\"%s\"},\"name\":\"m.bin\"}]}",
        name, sha);
    return cairn_dsse_sign(CAIRN_DSSE_INTOTO, (const uint8_t *)st, strlen(st),
                           keys, 1);
}

static void test_attestation(void)
{
    struct cairn_seckey pub, rogue;
    struct cairn_keyset ks;
    char who[CAIRN_KEYID_LEN + 1], why[512], *a;
    int ok = -1;

    REQUIRE(cairn_seckey_generate("publisher", &pub) == 0);
    REQUIRE(cairn_seckey_generate("rogue", &rogue) == 0);
    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, &pub.pub);
    a = attest(&pub, A, "m");
    cairn__audit_attestation(a, strlen(a), &ks, A, "m", "v1", who, &ok, why,
                             sizeof(why));
    CHECK_INT_EQ(ok, 1);
    CHECK_STR_EQ(who, pub.pub.id);
    CHECK_STR_EQ(why, "verified");
    /* another digest, another name */
    cairn__audit_attestation(a, strlen(a), &ks, B, "m", "v1", who, &ok, why,
                             sizeof(why));
    CHECK_INT_EQ(ok, 0);
    CHECK_STR_HAS(why, "attests sha256 " A ", not " B);
    cairn__audit_attestation(a, strlen(a), &ks, A, "other", "v1", who, &ok, why,
                             sizeof(why));
    CHECK_INT_EQ(ok, 0);
    CHECK_STR_HAS(why, "attests m@v1, not other@v1");
    free(a);
    /* a publisher the fleet does not trust: named, not verified */
    a = attest(&rogue, A, "m");
    cairn__audit_attestation(a, strlen(a), &ks, A, "m", "v1", who, &ok, why,
                             sizeof(why));
    CHECK_INT_EQ(ok, 0);
    CHECK_STR_EQ(who, rogue.pub.id);
    CHECK_STR_HAS(why, "not signed by a trusted publisher");
    free(a);
    cairn__audit_attestation("{", 1, &ks, A, NULL, NULL, who, &ok, why,
                             sizeof(why));
    CHECK_INT_EQ(ok, 0);
    CHECK_STR_EQ(who, "");
    CHECK(why[0] != '\0');
    cairn_keyset_free(&ks);
    cairn_seckey_wipe(&pub);
    cairn_seckey_wipe(&rogue);
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    RUN(test_time);
    RUN(test_intervals);
    RUN(test_fleet_files);
    RUN(test_attestation);
    return test_done();
}
