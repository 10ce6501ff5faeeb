#include "cairn/dsse.h"
#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "test.h"

/* RFC 8032 TEST 1 and TEST 2 key pairs. */
#define SEED1 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define PK1 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define ID1 "21fe31dfa154a261"
#define SEED2 "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define PK2 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
#define ID2 "39f713d0a644253f"

/* Known answers computed independently with /usr/bin/python3 + PyNaCl:
 * nacl.signing.SigningKey(seed).sign(PAE), base64, and json.dumps(...,
 * sort_keys=True, separators=(",", ":")). */
static const char kat1[] =
    "{\"payload\":\"eyJoZWxsbyI6IndvcmxkIn0=\",\"payloadType\":\"application/"
    "vnd.in-toto+json\","
    "\"signatures\":[{\"keyid\":\"21fe31dfa154a261\",\"sig\":\"8Z+"
    "Ul4Od6melJRaAKdrZYj8OzivgSSf58nK"
    "SDtTcWMbnhOQqt8+DsTXKG1cCGOc7DQgIpg0/gZIp5vavhevKDA==\"}]}";
static const char kat2[] =
    "{\"payload\":\"eyJnZW5lcmF0aW9uIjo3LCJzaXRlIjoiaG9zcGl0YWwtYSJ9\","
    "\"payloadType\":"
    "\"application/"
    "vnd.cairn.desired+json\",\"signatures\":[{\"keyid\":\"21fe31dfa154a261\","
    "\"sig\":\"ip84GrCQUw25YjzmtMViMOGUG8CpbZkcU/"
    "0EEGWBHMymewcT+xHL7511KvcbUXYjKJ6XmX9ZZ0GqFmOn4"
    "kQMDw==\"},{\"keyid\":\"39f713d0a644253f\",\"sig\":"
    "\"dcTaFCzbOttBHmjVtEwwNI4NLTuRauPzojIRGUz"
    "z/u1aUgyL6UXZPvXCjKlXNPUyw6o1ahXZogtCkw6maOiNBQ==\"}]}";

static struct cairn_seckey key_from_seed(const char *seed_hex,
                                         const char *pk_hex)
{
    struct cairn_seckey k;

    memset(&k, 0, sizeof(k));
    if (cairn_hex_decode(seed_hex, k.sk, 32) != 0 ||
        cairn_hex_decode(pk_hex, k.sk + 32, 32))
        abort();
    memcpy(k.pub.pk, k.sk + 32, 32);
    cairn_keyid(k.pub.pk, k.pub.id);
    return k;
}

static struct cairn_seckey k1, k2;

static struct cairn_dsse *parse_ok(const char *json, const char *type)
{
    struct cairn_dsse *env = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_dsse_parse(json, strlen(json), 65536, type, &env, &d) != 0) {
        fprintf(stderr, "  parse failed: %s\n", cairn_diag_msg(&d));
        return NULL;
    }
    return env;
}

static void test_pae(void)
{
    size_t n = 0;
    uint8_t *p = cairn_dsse_pae("http://example.com/HelloWorld",
                                (const uint8_t *)"hello world", 11, &n);

    /* the example in the DSSE protocol description */
    CHECK_INT_EQ(
        n, strlen("DSSEv1 29 http://example.com/HelloWorld 11 hello world"));
    CHECK(memcmp(p, "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
                 n) == 0);
    free(p);
    p = cairn_dsse_pae("t", NULL, 0, &n);
    CHECK_INT_EQ(n, 13);
    CHECK(memcmp(p, "DSSEv1 1 t 0 ", n) == 0);
    free(p);
}

static void test_sign_known_answer(void)
{
    const struct cairn_seckey *one[] = {&k1}, *two[] = {&k1, &k2};
    const char *p1 = "{\"hello\":\"world\"}",
               *p2 = "{\"generation\":7,\"site\":\"hospital-a\"}";
    char *env;

    CHECK_STR_EQ(k1.pub.id, ID1);
    CHECK_STR_EQ(k2.pub.id, ID2);
    env = cairn_dsse_sign(CAIRN_DSSE_INTOTO, (const uint8_t *)p1, strlen(p1),
                          one, 1);
    CHECK_STR_EQ(env, kat1);
    free(env);
    env = cairn_dsse_sign(CAIRN_DSSE_DESIRED, (const uint8_t *)p2, strlen(p2),
                          two, 2);
    CHECK_STR_EQ(env, kat2);
    free(env);
}

/* The envelope is written without jansson: it must be, byte for byte,
 * the canonical JSON of the same object built as a tree (the way it was
 * made before), also for a type that needs escapes, an empty or binary
 * payload and several signers. */
static char *envelope_by_tree(const char *type, const uint8_t *payload,
                              size_t n, const struct cairn_seckey *const *keys,
                              size_t nkeys)
{
    size_t pae_len;
    uint8_t *pae = cairn_dsse_pae(type, payload, n, &pae_len);
    json_t *env = json_object(), *sigs = json_array();
    char *b64 = cairn_base64_encode(payload, n), *out;

    for (size_t i = 0; i < nkeys; i++) {
        uint8_t sig[CAIRN_ED25519_SIG_LEN];
        char *s64;

        cairn_ed25519_sign(keys[i], pae, pae_len, sig);
        s64 = cairn_base64_encode(sig, sizeof(sig));
        json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid",
                                              keys[i]->pub.id, "sig", s64));
        free(s64);
    }
    json_object_set_new(env, "payloadType", json_string(type));
    json_object_set_new(env, "payload", json_string(b64));
    json_object_set_new(env, "signatures", sigs);
    out = cairn_json_canonical(env);
    json_decref(env);
    free(b64);
    free(pae);
    return out;
}

static void test_sign_equals_tree(void)
{
    const struct cairn_seckey *one[] = {&k1}, *two[] = {&k2, &k1};
    static const char *const types[] = {CAIRN_DSSE_DESIRED,
                                        "q\"uote\\back\nnl\x01 é", ""};
    uint8_t bin[1000];
    const uint8_t *payloads[] = {(const uint8_t *)"",
                                 (const uint8_t *)"{\"a\":1}", bin};
    const size_t lens[] = {0, 7, sizeof(bin)};

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 7 + 3);
    for (size_t t = 0; t < CAIRN_ARRAY_LEN(types); t++)
        for (size_t p = 0; p < CAIRN_ARRAY_LEN(payloads); p++)
            for (size_t k = 1; k <= 2; k++) {
                const struct cairn_seckey *const *keys = k == 1 ? one : two;
                char *got =
                    cairn_dsse_sign(types[t], payloads[p], lens[p], keys, k);
                char *want =
                    envelope_by_tree(types[t], payloads[p], lens[p], keys, k);

                CHECK_STR_EQ(got, want);
                free(got);
                free(want);
            }
}

static void test_sign_refuses(void)
{
    const struct cairn_seckey *dup[] = {&k1, &k2, &k1},
                              *many[CAIRN_DSSE_MAX_SIGS + 1];

    CHECK(cairn_dsse_sign("t", (const uint8_t *)"x", 1, dup, 0) == NULL);
    CHECK(cairn_dsse_sign("t", (const uint8_t *)"x", 1, dup, 3) == NULL);
    CHECK(cairn_dsse_sign("bad \xff type", (const uint8_t *)"x", 1, dup, 1) ==
          NULL);
    CHECK(cairn_dsse_sign(NULL, (const uint8_t *)"x", 1, dup, 1) == NULL);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(many); i++)
        many[i] = &k1;
    CHECK(cairn_dsse_sign("t", (const uint8_t *)"x", 1, many,
                          CAIRN_ARRAY_LEN(many)) == NULL);
}

static void test_parse_fields(void)
{
    struct cairn_dsse *env = parse_ok(kat2, CAIRN_DSSE_DESIRED);

    REQUIRE(env != NULL);
    CHECK_STR_EQ(env->payload_type, CAIRN_DSSE_DESIRED);
    CHECK_INT_EQ(env->payload_len, 36);
    CHECK_STR_EQ((char *)env->payload,
                 "{\"generation\":7,\"site\":\"hospital-a\"}");
    CHECK_INT_EQ(env->nsigs, 2);
    CHECK_STR_EQ(env->sigs[0].keyid, ID1);
    CHECK_STR_EQ(env->sigs[1].keyid, ID2);
    cairn_dsse_free(env);
    /* no expected type: any */
    env = parse_ok(kat2, NULL);
    CHECK(env != NULL);
    cairn_dsse_free(env);
    cairn_dsse_free(NULL);
}

/* A valid sig value (64 bytes of zeros) for building bad envelopes. */
#define Z64                                                                    \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
    "AAAAAAAAAAAAAA=="
#define SIG(id) "{\"keyid\":\"" id "\",\"sig\":\"" Z64 "\"}"
#define ENV(type, payload, sigs)                                               \
    "{\"payloadType\":" type ",\"payload\":" payload ",\"signatures\":" sigs "}"
#define T "\"application/vnd.in-toto+json\""

static int parse_fails(const char *json, size_t max, const char *type, int rc,
                       const char *want)
{
    struct cairn_dsse *env = (struct cairn_dsse *)(uintptr_t)1;
    struct cairn_diag d;
    int got;

    cairn_diag_init(&d);
    got = cairn_dsse_parse(json, strlen(json), max, type, &env, &d);
    if (got != rc || !strstr(cairn_diag_msg(&d), want) ||
        env != (struct cairn_dsse *)(uintptr_t)1) {
        fprintf(stderr, "  %s\n  -> %s \"%s\"\n", json, cairn_errname(got),
                cairn_diag_msg(&d));
        return 0;
    }
    return 1;
}

#define REFUSED(json, want)                                                    \
    parse_fails((json), 65536, CAIRN_DSSE_INTOTO, CAIRN_EPARSE, (want))

static void test_parse_refuses(void)
{
    char many[4096];
    size_t o = 0;
    /* the fixture is valid, so each case below differs in one thing */
    struct cairn_dsse *valid =
        parse_ok(ENV(T, "\"e30=\"", "[" SIG(ID1) "]"), CAIRN_DSSE_INTOTO);

    CHECK(valid != NULL);
    cairn_dsse_free(valid);

    CHECK(parse_fails(kat1, strlen(kat1) - 1, NULL, CAIRN_ETOOBIG,
                      "over the cap"));
    CHECK(REFUSED("{", "malformed envelope: line 1"));
    CHECK(REFUSED("[]", "malformed envelope: not a JSON object"));
    CHECK(REFUSED(
        "{\"payloadType\":" T
        ",\"payload\":\"e30=\",\"signatures\":[" SIG(ID1) "],\"extra\":1}",
        "unknown field 'extra'"));
    CHECK(REFUSED("{\"payloadType\":" T ",\"payloadType\":" T
                  ",\"payload\":\"e30=\","
                  "\"signatures\":[" SIG(ID1) "]}",
                  "duplicate object key"));
    CHECK(REFUSED("{\"payload\":\"e30=\",\"signatures\":[" SIG(ID1) "]}",
                  "payloadType must be a string"));
    CHECK(REFUSED(ENV("7", "\"e30=\"", "[" SIG(ID1) "]"),
                  "payloadType must be a string"));
    CHECK(
        REFUSED(ENV("\"application/vnd.cairn.desired+json\"", "\"e30=\"",
                    "[" SIG(ID1) "]"),
                "payloadType is 'application/vnd.cairn.desired+json', expected "
                "'application/vnd.in-toto+json'"));
    CHECK(
        REFUSED(ENV(T, "null", "[" SIG(ID1) "]"), "payload must be a string"));
    CHECK(REFUSED(ENV(T, "\"e30\"", "[" SIG(ID1) "]"),
                  "payload is not valid base64"));
    CHECK(REFUSED(ENV(T, "\"e3 0=\"", "[" SIG(ID1) "]"),
                  "payload is not valid base64"));
    CHECK(REFUSED(ENV(T, "\"e31=\"", "[" SIG(ID1) "]"),
                  "payload is not valid base64"));
    CHECK(REFUSED("{\"payloadType\":" T ",\"payload\":\"e30=\"}",
                  "signatures must be a non-empty array"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[]"),
                  "signatures must be a non-empty array"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "{}"),
                  "signatures must be a non-empty array"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[7]"), "signatures[0] is not an object"));
    CHECK(REFUSED(ENV(T, "\"e30=\"",
                      "[" SIG(ID1) ",{\"keyid\":\"" ID2 "\",\"sig\":\"" Z64
                                   "\",\"alg\":\"x\"}]"),
                  "signatures[1]: unknown field 'alg'"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[{\"sig\":\"" Z64 "\"}]"),
                  "signatures[0].keyid must be"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[" SIG("21FE31DFA154A261") "]"),
                  "16 lower-case hex"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[" SIG("21fe31dfa154a26") "]"),
                  "keyid must be"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[" SIG("21fe31dfa154a2610") "]"),
                  "keyid must be"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[{\"keyid\":7,\"sig\":\"" Z64 "\"}]"),
                  "keyid must be"));
    CHECK(REFUSED(ENV(T, "\"e30=\"", "[{\"keyid\":\"" ID1 "\"}]"),
                  "signatures[0].sig must be base64 of a 64-byte signature"));
    CHECK(REFUSED(
        ENV(T, "\"e30=\"", "[{\"keyid\":\"" ID1 "\",\"sig\":\"AAAA\"}]"),
        "64-byte signature"));
    CHECK(REFUSED(
        ENV(T, "\"e30=\"", "[{\"keyid\":\"" ID1 "\",\"sig\":\"!!!!\"}]"),
        "64-byte signature"));
    CHECK(
        REFUSED(ENV(T, "\"e30=\"", "[" SIG(ID1) "," SIG(ID2) "," SIG(ID1) "]"),
                "signatures[2]: duplicate keyid " ID1));
    /* 17 signatures */
    o += (size_t)snprintf(many + o, sizeof(many) - o,
                          "{\"payloadType\":" T
                          ",\"payload\":\"e30=\",\"signatures\":[");
    for (int i = 0; i < CAIRN_DSSE_MAX_SIGS + 1; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o,
                              "%s{\"keyid\":\"%016x\",\"sig\":\"" Z64 "\"}",
                              i ? "," : "", i);
    snprintf(many + o, sizeof(many) - o, "]}");
    CHECK(REFUSED(many, "17 signatures (at most 16)"));
    {
        /* a raw NUL inside the given length */
        struct cairn_dsse *env = NULL;
        const char nul[] = "{\"payloadType\":\"a\0\"}";

        CHECK_INT_EQ(
            cairn_dsse_parse(nul, sizeof(nul) - 1, 100, NULL, &env, NULL),
            CAIRN_EPARSE);
        CHECK(env == NULL);
    }
}

static int verify_rc(const struct cairn_dsse *env,
                     const struct cairn_keyset *ks, size_t thr,
                     const char *want_msg)
{
    struct cairn_diag d;
    char signer[CAIRN_KEYID_LEN + 1] = "unchanged";
    int rc;

    cairn_diag_init(&d);
    rc = cairn_dsse_verify(env, ks, thr, signer, &d);
    if (rc == 0 && want_msg)
        fprintf(stderr, "  verify succeeded, wanted \"%s\"\n", want_msg);
    if (rc != 0 && (!want_msg || !strstr(cairn_diag_msg(&d), want_msg)))
        fprintf(stderr, "  verify: %s \"%s\"\n", cairn_errname(rc),
                cairn_diag_msg(&d));
    if (rc != 0 && strcmp(signer, "unchanged") != 0)
        return 12345;
    if (rc != 0 && want_msg && !strstr(cairn_diag_msg(&d), want_msg))
        return 54321;
    return rc;
}

static void test_verify(void)
{
    struct cairn_dsse *env = parse_ok(kat1, CAIRN_DSSE_INTOTO);
    struct cairn_keyset ks, only2, none;
    char signer[CAIRN_KEYID_LEN + 1];

    REQUIRE(env != NULL);
    cairn_keyset_init(&ks);
    cairn_keyset_init(&only2);
    cairn_keyset_init(&none);
    cairn_keyset_add(&ks, &k1.pub);
    cairn_keyset_add(&ks, &k2.pub);
    cairn_keyset_add(&only2, &k2.pub);
    CHECK_INT_EQ(cairn_dsse_verify(env, &ks, 1, signer, NULL), 0);
    CHECK_STR_EQ(signer, ID1);
    CHECK_INT_EQ(cairn_dsse_verify(env, &ks, 1, NULL, NULL), 0);
    CHECK_INT_EQ(verify_rc(env, &only2, 1,
                           "no signature by a trusted key (signed by: " ID1
                           ")"),
                 CAIRN_EKEY);
    CHECK_INT_EQ(verify_rc(env, &none, 1, "no signature by a trusted key"),
                 CAIRN_EKEY);
    CHECK_INT_EQ(verify_rc(env, &ks, 0, "at least 1"), CAIRN_EINVAL);
    CHECK_INT_EQ(verify_rc(env, &ks, 2, "only 1 of 2 required signatures"),
                 CAIRN_ESIG);
    /* altered payload, altered type (PAE binds both) */
    env->payload[2] ^= 1;
    CHECK_INT_EQ(verify_rc(env, &ks, 1, "bad signature by " ID1), CAIRN_ESIG);
    env->payload[2] ^= 1;
    env->payload_type[0] = 'b';
    CHECK_INT_EQ(verify_rc(env, &ks, 1, "bad signature by " ID1), CAIRN_ESIG);
    env->payload_type[0] = 'a';
    env->sigs[0].sig[63] ^= 0x10;
    CHECK_INT_EQ(verify_rc(env, &ks, 1, "bad signature by " ID1), CAIRN_ESIG);
    env->sigs[0].sig[63] ^= 0x10;
    CHECK_INT_EQ(verify_rc(env, &ks, 1, NULL), 0);
    cairn_dsse_free(env);
    cairn_keyset_free(&ks);
    cairn_keyset_free(&only2);
}

static void test_verify_threshold(void)
{
    struct cairn_dsse *env = parse_ok(kat2, CAIRN_DSSE_DESIRED);
    struct cairn_keyset ks, only1;
    char signer[CAIRN_KEYID_LEN + 1];

    REQUIRE(env != NULL);
    cairn_keyset_init(&ks);
    cairn_keyset_init(&only1);
    cairn_keyset_add(&ks, &k1.pub);
    cairn_keyset_add(&ks, &k2.pub);
    cairn_keyset_add(&only1, &k1.pub);
    CHECK_INT_EQ(verify_rc(env, &ks, 2, NULL), 0);
    CHECK_INT_EQ(verify_rc(env, &ks, 3, "only 2 of 3"), CAIRN_ESIG);
    /* an untrusted co-signer is skipped, not an error */
    CHECK_INT_EQ(cairn_dsse_verify(env, &only1, 1, signer, NULL), 0);
    CHECK_STR_EQ(signer, ID1);
    CHECK_INT_EQ(verify_rc(env, &only1, 2,
                           "only 1 of 2 required signatures by trusted keys "
                           "(signed by: " ID1 ", " ID2 ")"),
                 CAIRN_ESIG);
    /* one trusted signature bad, the other good: threshold 1 still met,
     * threshold 2 names the bad one */
    env->sigs[0].sig[0] ^= 1;
    CHECK_INT_EQ(cairn_dsse_verify(env, &ks, 1, signer, NULL), 0);
    CHECK_STR_EQ(signer, ID2);
    CHECK_INT_EQ(verify_rc(env, &ks, 2, "bad signature by " ID1), CAIRN_ESIG);
    /* the same key twice (a hand-built envelope) counts once */
    env->sigs[0] = env->sigs[1];
    CHECK_INT_EQ(verify_rc(env, &ks, 2, "only 1 of 2"), CAIRN_ESIG);
    cairn_dsse_free(env);
    cairn_keyset_free(&ks);
    cairn_keyset_free(&only1);
}

static void test_sign_parse_verify_many(void)
{
    struct cairn_seckey keys[CAIRN_DSSE_MAX_SIGS];
    const struct cairn_seckey *ptrs[CAIRN_DSSE_MAX_SIGS];
    struct cairn_keyset ks;
    struct cairn_dsse *env;
    char *json;
    uint8_t payload[300];

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i; /* binary payload incl. NUL bytes */
    cairn_keyset_init(&ks);
    for (int i = 0; i < CAIRN_DSSE_MAX_SIGS; i++) {
        REQUIRE(cairn_seckey_generate("k", &keys[i]) == 0);
        ptrs[i] = &keys[i];
        cairn_keyset_add(&ks, &keys[i].pub);
    }
    json = cairn_dsse_sign(CAIRN_DSSE_REPORT, payload, sizeof(payload), ptrs,
                           CAIRN_DSSE_MAX_SIGS);
    REQUIRE(json != NULL);
    env = parse_ok(json, CAIRN_DSSE_REPORT);
    REQUIRE(env != NULL);
    CHECK_INT_EQ(env->payload_len, sizeof(payload));
    CHECK(memcmp(env->payload, payload, sizeof(payload)) == 0);
    CHECK_INT_EQ(verify_rc(env, &ks, CAIRN_DSSE_MAX_SIGS, NULL), 0);
    cairn_dsse_free(env);
    free(json);
    cairn_keyset_free(&ks);
    for (int i = 0; i < CAIRN_DSSE_MAX_SIGS; i++)
        cairn_seckey_wipe(&keys[i]);
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    k1 = key_from_seed(SEED1, PK1);
    k2 = key_from_seed(SEED2, PK2);
    RUN(test_pae);
    RUN(test_sign_known_answer);
    RUN(test_sign_equals_tree);
    RUN(test_sign_refuses);
    RUN(test_parse_fields);
    RUN(test_parse_refuses);
    RUN(test_verify);
    RUN(test_verify_threshold);
    RUN(test_sign_parse_verify_many);
    return test_done();
}
