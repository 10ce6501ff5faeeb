#include "cairn/encoding.h"
#include "cairn/mem.h"
#include "test.h"

static int decodes_to(const char *b64, const char *want)
{
    uint8_t *out = NULL;
    size_t n = 0;
    int ok;

    if (cairn_base64_decode(b64, strlen(b64), &out, &n) != 0)
        return 0;
    ok = n == strlen(want) && memcmp(out, want, n) == 0 && out[n] == '\0';
    free(out);
    return ok;
}

static int refused(const char *b64, size_t len)
{
    uint8_t *out = (uint8_t *)"untouched";
    size_t n = 12345;
    int rc = cairn_base64_decode(b64, len, &out, &n);

    return rc == CAIRN_EPARSE && n == 12345 &&
           strcmp((char *)out, "untouched") == 0;
}

#define REFUSED(s) refused((s), sizeof(s) - 1)

/* RFC 4648 section 10. */
static void test_rfc4648_vectors(void)
{
    static const char *const v[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(v); i++) {
        char *enc =
            cairn_base64_encode((const uint8_t *)v[i][0], strlen(v[i][0]));

        CHECK_STR_EQ(enc, v[i][1]);
        CHECK_INT_EQ(cairn_base64_encoded_len(strlen(v[i][0])),
                     strlen(v[i][1]) + 1);
        CHECK(decodes_to(v[i][1], v[i][0]));
        free(enc);
    }
}

static void test_all_bytes_roundtrip(void)
{
    uint8_t data[300];
    int bad = 0;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(255 - i * 13);
    for (size_t n = 0; n <= sizeof(data); n++) {
        char *enc = cairn_base64_encode(data, n);
        uint8_t *dec = NULL;
        size_t m = 0;

        if (strlen(enc) != cairn_base64_encoded_len(n) - 1 ||
            cairn_base64_decode(enc, strlen(enc), &dec, &m) != 0 || m != n ||
            memcmp(dec, data, n) != 0)
            bad++;
        free(enc);
        free(dec);
    }
    CHECK_INT_EQ(bad, 0);
}

static void test_alphabet_edges(void)
{
    const uint8_t ff[] = {0xfb, 0xff, 0xbf, 0x00};
    char *enc = cairn_base64_encode(ff, 3);

    CHECK_STR_EQ(enc, "+/+/");
    free(enc);
    enc = cairn_base64_encode(ff + 3, 1);
    CHECK_STR_EQ(enc, "AA==");
    free(enc);
}

static void test_refuses_noncanonical(void)
{
    CHECK(REFUSED("Zg"));    /* missing padding */
    CHECK(REFUSED("Zg="));   /* short padding */
    CHECK(REFUSED("Zm9vY")); /* length not a multiple of 4 */
    CHECK(REFUSED("Z==="));  /* three pad chars */
    CHECK(REFUSED("===="));
    CHECK(REFUSED("Zg=a")); /* data after padding */
    CHECK(REFUSED("=Zg="));
    CHECK(REFUSED("Zg==Zm9v")); /* padding in the middle */
    CHECK(REFUSED("Zh=="));     /* non-zero trailing bits */
    CHECK(REFUSED("Zm9="));
    CHECK(REFUSED("Zm-v")); /* URL-safe alphabet */
    CHECK(REFUSED("Zm_v"));
    CHECK(REFUSED("Zm9v\n")); /* whitespace anywhere */
    CHECK(REFUSED("Zm9v    "));
    CHECK(REFUSED("Zm 9v"));
    CHECK(REFUSED(" Zm9"));
    CHECK(REFUSED("Zm9v\r\nYmFy"));
    CHECK(REFUSED("Zm\x80v")); /* high byte */
    CHECK(REFUSED("Zm\0v"));   /* NUL inside the given length */
}

static void test_len_bounds(void)
{
    uint8_t *out = NULL;
    size_t n = 7;

    /* Only len characters are read: a longer string decodes its prefix. */
    CHECK_INT_EQ(cairn_base64_decode("Zm9vYmFy", 4, &out, &n), 0);
    CHECK_INT_EQ(n, 3);
    CHECK(memcmp(out, "foo", 3) == 0);
    free(out);
    CHECK_INT_EQ(cairn_base64_decode("", 0, &out, &n), 0);
    CHECK_INT_EQ(n, 0);
    CHECK(out != NULL && out[0] == '\0');
    free(out);
}

int main(void)
{
    RUN(test_rfc4648_vectors);
    RUN(test_all_bytes_roundtrip);
    RUN(test_alphabet_edges);
    RUN(test_refuses_noncanonical);
    RUN(test_len_bounds);
    return test_done();
}
