#include <sys/stat.h>

#include "cairn/hash.h"
#include "test.h"

/* FIPS 180-2 / NIST CSRC example vectors. */
#define ABC_256                                                                \
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_256                                                              \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TWO_BLOCK "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define TWO_BLOCK_256                                                          \
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLION_A_256                                                          \
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define ABC_512                                                                \
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"         \
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
#define EMPTY_512                                                              \
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"         \
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"

static void hex256(const uint8_t d[CAIRN_SHA256_LEN], char out[65])
{
    cairn_hex_encode(d, CAIRN_SHA256_LEN, out);
}

static void test_sha256_vectors(void)
{
    uint8_t d[CAIRN_SHA256_LEN];
    char hex[65];

    cairn_sha256("abc", 3, d);
    hex256(d, hex);
    CHECK_STR_EQ(hex, ABC_256);
    cairn_sha256("", 0, d);
    hex256(d, hex);
    CHECK_STR_EQ(hex, EMPTY_256);
    cairn_sha256(TWO_BLOCK, strlen(TWO_BLOCK), d);
    hex256(d, hex);
    CHECK_STR_EQ(hex, TWO_BLOCK_256);
}

static void test_sha256_stream_million_a(void)
{
    struct cairn_sha256 *h = cairn_sha256_new();
    uint8_t chunk[1000], d[CAIRN_SHA256_LEN];
    char hex[65];

    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 1000; i++)
        cairn_sha256_update(h, chunk, sizeof(chunk));
    cairn_sha256_final(h, d);
    hex256(d, hex);
    CHECK_STR_EQ(hex, MILLION_A_256);
    /* reset and reuse the same context */
    cairn_sha256_reset(h);
    cairn_sha256_update(h, "ab", 2);
    cairn_sha256_update(h, "", 0);
    cairn_sha256_update(h, "c", 1);
    cairn_sha256_final(h, d);
    hex256(d, hex);
    CHECK_STR_EQ(hex, ABC_256);
    cairn_sha256_free(h);
    cairn_sha256_free(NULL);
}

/* Every split point of a two-block message gives the one-shot digest. */
static void test_sha256_split_points(void)
{
    uint8_t msg[200], want[CAIRN_SHA256_LEN], got[CAIRN_SHA256_LEN];
    struct cairn_sha256 *h = cairn_sha256_new();
    int bad = 0;

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    cairn_sha256(msg, sizeof(msg), want);
    for (size_t cut = 0; cut <= sizeof(msg); cut++) {
        cairn_sha256_reset(h);
        cairn_sha256_update(h, msg, cut);
        cairn_sha256_update(h, msg + cut, sizeof(msg) - cut);
        cairn_sha256_final(h, got);
        bad += memcmp(want, got, sizeof(want)) != 0;
    }
    CHECK_INT_EQ(bad, 0);
    cairn_sha256_free(h);
}

static void test_sha512_vectors(void)
{
    uint8_t d[CAIRN_SHA512_LEN];
    char hex[129];

    cairn_sha512("abc", 3, d);
    cairn_hex_encode(d, sizeof(d), hex);
    CHECK_STR_EQ(hex, ABC_512);
    cairn_sha512("", 0, d);
    cairn_hex_encode(d, sizeof(d), hex);
    CHECK_STR_EQ(hex, EMPTY_512);
}

/* sha256sum's digest of path, as an independent reference. */
static void sha256sum_of(const char *path, char out[65])
{
    char cmd[4300];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    p = popen(cmd, "r");
    out[0] = '\0';
    if (!p)
        return;
    if (!fgets(out, 65, p))
        out[0] = '\0';
    pclose(p);
}

static void test_sha256_file(void)
{
    char *dir = test_tmpdir(), path[4200], hex[65], ref[65];
    /* 3 MiB + 7: crosses the 1 MiB read buffer boundaries unevenly. */
    size_t n = (3u << 20) + 7;
    uint8_t *data = malloc(n), d[CAIRN_SHA256_LEN], one[CAIRN_SHA256_LEN];
    uint64_t size = 0;

    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i ^ (i >> 9));
    snprintf(path, sizeof(path), "%s/blob", dir);
    test_write_file(path, data, n);
    CHECK_INT_EQ(cairn_sha256_file(path, d, &size), 0);
    CHECK_INT_EQ(size, n);
    cairn_sha256(data, n, one);
    CHECK(memcmp(d, one, sizeof(d)) == 0);
    hex256(d, hex);
    sha256sum_of(path, ref);
    CHECK_STR_EQ(hex, ref);
    CHECK_INT_EQ(cairn_sha256_file(path, d, NULL), 0);

    snprintf(path, sizeof(path), "%s/empty", dir);
    test_write_file(path, "", 0);
    size = 99;
    CHECK_INT_EQ(cairn_sha256_file(path, d, &size), 0);
    CHECK_INT_EQ(size, 0);
    hex256(d, hex);
    CHECK_STR_EQ(hex, EMPTY_256);
    free(data);
    test_rm_rf(dir);
    free(dir);
}

static void test_sha256_file_errors(void)
{
    char *dir = test_tmpdir(), path[4200];
    uint8_t d[CAIRN_SHA256_LEN];
    uint64_t size = 42;

    snprintf(path, sizeof(path), "%s/missing", dir);
    CHECK_INT_EQ(cairn_sha256_file(path, d, &size), CAIRN_ENOENT);
    CHECK_INT_EQ(size, 42);
    CHECK_INT_EQ(cairn_sha256_file(dir, d, &size), CAIRN_EIO);
    CHECK_INT_EQ(size, 42);
    snprintf(path, sizeof(path), "%s/fifo", dir);
    REQUIRE(mkfifo(path, 0600) == 0);
    CHECK_INT_EQ(cairn_sha256_file(path, d, &size), CAIRN_EIO);
    snprintf(path, sizeof(path), "%s/locked", dir);
    test_write_file(path, "x", 1);
    chmod(path, 0);
    if (geteuid() != 0) /* root reads regardless of mode */
        CHECK_INT_EQ(cairn_sha256_file(path, d, &size), CAIRN_EIO);
    test_rm_rf(dir);
    free(dir);
}

static void test_hex(void)
{
    const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
    uint8_t out[5], keep[5] = {9, 9, 9, 9, 9};
    char hex[11];

    cairn_hex_encode(bytes, sizeof(bytes), hex);
    CHECK_STR_EQ(hex, "0001abff7f");
    cairn_hex_encode(bytes, 0, hex);
    CHECK_STR_EQ(hex, "");
    CHECK_INT_EQ(cairn_hex_decode("0001ABff7F", out, 5), 0);
    CHECK(memcmp(out, bytes, 5) == 0);
    /* wrong length, bad digit: CAIRN_EPARSE and out untouched */
    memcpy(out, keep, 5);
    CHECK_INT_EQ(cairn_hex_decode("0001abff7", out, 5), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_hex_decode("0001abff7f00", out, 5), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_hex_decode("0001abff7g", out, 5), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_hex_decode("0001ab ff7f", out, 5), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_hex_decode("", out, 5), CAIRN_EPARSE);
    CHECK(memcmp(out, keep, 5) == 0);
    CHECK_INT_EQ(cairn_hex_decode("", out, 0), 0);
}

static void test_is_sha256_hex(void)
{
    CHECK(cairn_is_sha256_hex(EMPTY_256));
    CHECK(!cairn_is_sha256_hex(NULL));
    CHECK(!cairn_is_sha256_hex(""));
    CHECK(!cairn_is_sha256_hex(EMPTY_256 "0"));
    CHECK(!cairn_is_sha256_hex(
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    CHECK(!cairn_is_sha256_hex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    CHECK(!cairn_is_sha256_hex(
        "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

int main(void)
{
    RUN(test_sha256_vectors);
    RUN(test_sha256_stream_million_a);
    RUN(test_sha256_split_points);
    RUN(test_sha512_vectors);
    RUN(test_sha256_file);
    RUN(test_sha256_file_errors);
    RUN(test_hex);
    RUN(test_is_sha256_hex);
    return test_done();
}
