/* cairn_hmac_sha256 against the RFC 4231 test vectors (cases 1, 2, 3, 6, 7:
 * short, text, binary and keys longer than the 64-byte block). */
#include "cairn/hash.h"
#include "cairn/keys.h"
#include "test.h"

static void hmac_hex(const void *key, size_t klen, const void *msg, size_t n,
                     char out[65])
{
    uint8_t mac[CAIRN_HMAC_SHA256_LEN];

    cairn_hmac_sha256(key, klen, msg, n, mac);
    cairn_hex_encode(mac, sizeof(mac), out);
}

static void test_rfc4231(void)
{
    uint8_t k1[20], k3[20], d3[50], k6[131];
    char hex[65];

    memset(k1, 0x0b, sizeof(k1));
    hmac_hex(k1, sizeof(k1), "Hi There", 8, hex);
    CHECK_STR_EQ(
        hex,
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
    CHECK_STR_EQ(
        hex,
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(k3, 0xaa, sizeof(k3));
    memset(d3, 0xdd, sizeof(d3));
    hmac_hex(k3, sizeof(k3), d3, sizeof(d3), hex);
    CHECK_STR_EQ(
        hex,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    memset(k6, 0xaa, sizeof(k6));
    hmac_hex(k6, sizeof(k6),
             "Test Using Larger Than Block-Size Key - Hash Key First", 54, hex);
    CHECK_STR_EQ(
        hex,
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    {
        const char *m =
            "This is a test using a larger than block-size key and a larger "
            "than block-size data. The key needs to be hashed before being "
            "used by the HMAC algorithm.";
        hmac_hex(k6, sizeof(k6), m, strlen(m), hex);
        CHECK_STR_EQ(
            hex,
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
}

static void test_empty(void)
{
    char hex[65];

    /* an empty key and message: the well-known value */
    hmac_hex("", 0, "", 0, hex);
    CHECK_STR_EQ(
        hex,
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

int main(void)
{
    if (cairn_keys_init() != 0)
        return 1;
    RUN(test_rfc4231);
    RUN(test_empty);
    return test_done();
}
