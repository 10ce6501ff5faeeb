/* Site bearer tokens (controller/token.h): format, HMAC tag, expiry,
 * tampering, and names. */
#include "cairn/keys.h"
#include "test.h"
#include "token.h"

static uint8_t key[CAIRN_AUTH_KEY_LEN], other[CAIRN_AUTH_KEY_LEN];

static int check(const uint8_t *k, const char *t, int64_t now, char site[64])
{
    return cairn_token_check(k, t, strlen(t), now, site, NULL);
}

static void test_roundtrip(void)
{
    char *t = cairn_token_mint(key, "st-olaf", 2000);
    char site[64];
    int64_t exp = 0;

    CHECK(strncmp(t, "v1.st-olaf.2000.", 16) == 0);
    CHECK_INT_EQ(strlen(t), 16 + 43);
    CHECK(strchr(t + 16, '=') == NULL && strchr(t + 16, '+') == NULL &&
          strchr(t + 16, '/') == NULL);
    CHECK_INT_EQ(cairn_token_check(key, t, strlen(t), 1999, site, &exp), 0);
    CHECK_STR_EQ(site, "st-olaf");
    CHECK_INT_EQ(exp, 2000);
    CHECK_INT_EQ(check(key, t, 2000, site), CAIRN_EEXPIRED);
    CHECK_INT_EQ(check(other, t, 10, site), CAIRN_ESIG);
    free(t);
}

/* The tag is crypto_auth over "v1.<site>.<expiry>", base64url unpadded. */
static void test_tag_is_hmac(void)
{
    uint8_t tag[CAIRN_AUTH_TAG_LEN];
    char *t = cairn_token_mint(key, "a", 5);
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char want[44];
    size_t o = 0;
    uint32_t bits = 0;
    int nb = 0;

    cairn_auth(key, "v1.a.5", 6, tag);
    for (size_t i = 0; i < sizeof(tag); i++) {
        bits = bits << 8 | tag[i];
        nb += 8;
        while (nb >= 6) {
            want[o++] = b64[(bits >> (nb - 6)) & 63];
            nb -= 6;
        }
    }
    if (nb)
        want[o++] = b64[(bits << (6 - nb)) & 63];
    want[o] = 0;
    CHECK_STR_EQ(t + strlen("v1.a.5."), want);
    free(t);
}

static void test_tamper(void)
{
    char *t = cairn_token_mint(key, "site-a", 99999), site[64], buf[256];
    size_t n = strlen(t);

    for (size_t i = 0; i < n; i++) {
        memcpy(buf, t, n + 1);
        buf[i] = buf[i] == 'A' ? 'B' : 'A';
        CHECK(check(key, buf, 10, site) != 0);
    }
    snprintf(buf, sizeof(buf), "%s", t);
    buf[n - 1] = 0; /* one tag char short */
    CHECK_INT_EQ(check(key, buf, 10, site), CAIRN_EPARSE);
    snprintf(buf, sizeof(buf), "%sA", t);
    CHECK_INT_EQ(check(key, buf, 10, site), CAIRN_EPARSE);
    free(t);
}

static void test_malformed(void)
{
    const char *bad[] = {
        "",
        "v1",
        "v1.",
        "v2.a.1.AAAA",
        "v1..1.",
        "v1.a..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.A.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.-a.1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.a.1x.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.a.1234567890123.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    char site[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT_EQ(check(key, bad[i], 0, site), CAIRN_EPARSE);
    /* an embedded NUL within len is refused too */
    CHECK_INT_EQ(cairn_token_check(key, "v1.a\0b.1.x", 10, 0, site, NULL),
                 CAIRN_EPARSE);
}

static void test_site_names(void)
{
    char long64[65];

    CHECK(cairn_site_name_ok("a"));
    CHECK(cairn_site_name_ok("st-olaf-2"));
    CHECK(!cairn_site_name_ok(""));
    CHECK(!cairn_site_name_ok("-a"));
    CHECK(!cairn_site_name_ok("a-"));
    CHECK(!cairn_site_name_ok("A"));
    CHECK(!cairn_site_name_ok("a.b"));
    CHECK(!cairn_site_name_ok("a/b"));
    memset(long64, 'a', 64);
    long64[64] = 0;
    CHECK(!cairn_site_name_ok(long64));
    long64[63] = 0;
    CHECK(cairn_site_name_ok(long64));
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    cairn_random(key, sizeof(key));
    cairn_random(other, sizeof(other));
    RUN(test_roundtrip);
    RUN(test_tag_is_hmac);
    RUN(test_tamper);
    RUN(test_malformed);
    RUN(test_site_names);
    return test_done();
}
