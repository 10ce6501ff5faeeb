/*
 * known_hosts parsing and host-key checks. The keys, fingerprints and the
 * hashed line below were made by ssh-keygen (-t ed25519 / ecdsa, -l, -H),
 * so fingerprints and HashKnownHosts matching are checked against OpenSSH.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/knownhosts.h"
#include "test.h"

#define K1                                                                     \
    "AAAAC3NzaC1lZDI1NTE5AAAAINCjpKQsPpiHNlfXkJWh5IPHTLSCr/OJ219SQg/fXXOC"
#define K1_FP "SHA256:/9wDJew892ZiNrGwnDcIGPHRDBXMOR1bHT5KLvRimEI"
#define K2                                                                     \
    "AAAAC3NzaC1lZDI1NTE5AAAAIF0e6LVKCywu/CBgV11stpJ84nnnTKeh7xYRGpddT4mx"
#define K2_FP "SHA256:GDwjxz+cwZgeiPI884h6jsB60qb/93rzViBpRtX0cV8"
#define K3                                                                     \
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFOcKaiN9QgwhKLvJbzi" \
    "B5qnhfStlDInMYuUeWsMN/CrmzcI5dYYbizNSargHvPHrbIDCkS1CsyZXOhC4s/8oVM="
#define K3_FP "SHA256:3gbGK9vMSZeZz76p8/kVzceCrGYE22AwEC6ih6tsLXw"
/* ssh-keygen -H of "[127.0.0.1]:2222 ssh-ed25519 K1" */
#define HASHED_2222                                                            \
    "|1|dNHqtlmCUwnMXYo/I3L57+7bnxc=|rOKkhY5yRmz/vMRg0cqPJp8R6Yg= "            \
    "ssh-ed25519 " K1

static uint8_t *blob(const char *b64, size_t *n)
{
    uint8_t *out = NULL;

    if (cairn_base64_decode(b64, strlen(b64), &out, n) != 0)
        abort();
    return out;
}

static struct cairn_knownhosts *parse(const char *text)
{
    struct cairn_knownhosts *kh = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_knownhosts_parse(text, strlen(text), "kh", &kh, &d) != 0) {
        fprintf(stderr, "parse: %s\n", d.msg);
        return NULL;
    }
    return kh;
}

/* The result of checking key (base64) for host:port, message into d. */
static int check(const struct cairn_knownhosts *kh, const char *host,
                 unsigned port, const char *key, struct cairn_diag *d)
{
    size_t n = 0;
    uint8_t *b = blob(key, &n);
    int rc;

    cairn_diag_init(d);
    rc = cairn_knownhosts_check(kh, host, port, b, n, d);
    free(b);
    return rc;
}

static void test_fingerprint_and_type(void)
{
    char fp[CAIRN_SSH_FP_LEN + 1], type[64];
    size_t n = 0;
    uint8_t *b = blob(K1, &n);

    cairn_ssh_fingerprint(b, n, fp);
    CHECK_STR_EQ(fp, K1_FP);
    cairn_ssh_key_type(b, n, type, sizeof(type));
    CHECK_STR_EQ(type, "ssh-ed25519");
    cairn_ssh_key_type(b, 3, type, sizeof(type));
    CHECK_STR_EQ(type, "unknown");
    free(b);
    b = blob(K3, &n);
    cairn_ssh_fingerprint(b, n, fp);
    CHECK_STR_EQ(fp, K3_FP);
    cairn_ssh_key_type(b, n, type, sizeof(type));
    CHECK_STR_EQ(type, "ecdsa-sha2-nistp256");
    free(b);
}

static void test_plain_and_port(void)
{
    struct cairn_knownhosts *kh =
        parse("# comment\n\n"
              "git.example.org,10.0.0.5 ssh-ed25519 " K1 " host one\r\n"
              "[127.0.0.1]:2222 ssh-ed25519 " K2 "\n"
              "  [127.0.0.1]:2222 ecdsa-sha2-nistp256 " K3);
    struct cairn_diag d;

    REQUIRE(kh != NULL);
    CHECK_INT_EQ(check(kh, "git.example.org", 22, K1, &d), 0);
    CHECK_INT_EQ(check(kh, "GIT.example.ORG", 22, K1, &d), 0);
    CHECK_INT_EQ(check(kh, "10.0.0.5", 22, K1, &d), 0);
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2222, K2, &d), 0);
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2222, K3, &d), 0);
    /* Port 22 entries don't cover another port, nor the reverse. */
    CHECK_INT_EQ(check(kh, "git.example.org", 2222, K1, &d), CAIRN_EKEY);
    CHECK_STR_HAS(d.msg, "[git.example.org]:2222 is not in kh");
    CHECK_STR_HAS(d.msg, K1_FP);
    CHECK_INT_EQ(check(kh, "127.0.0.1", 22, K2, &d), CAIRN_EKEY);
    CHECK_STR_HAS(d.msg, "ssh host 127.0.0.1 is not in kh");
    /* A listed host offering another key: refused, naming both keys. */
    CHECK_INT_EQ(check(kh, "git.example.org", 22, K2, &d), CAIRN_EKEY);
    CHECK_STR_HAS(d.msg, "ssh host key of git.example.org is ssh-ed25519 " K2_FP
                         ", which kh does not list");
    CHECK_STR_HAS(d.msg, "line 3 (ssh-ed25519 " K1_FP ")");
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2222, K1, &d), CAIRN_EKEY);
    CHECK_STR_HAS(d.msg, "line 4 (ssh-ed25519 " K2_FP "), 5 (ecdsa");
    cairn_knownhosts_free(kh);
}

static void test_patterns_hashed_revoked(void)
{
    struct cairn_knownhosts *kh =
        parse("*.example.org,!bad.example.org ssh-ed25519 " K1 "\n"
              "git?.lab ssh-ed25519 " K2 "\n" HASHED_2222 "\n"
              "@revoked * ssh-ed25519 " K2 "\n"
              "@cert-authority *.example.org ssh-ed25519 " K2 "\n");
    struct cairn_diag d;

    REQUIRE(kh != NULL);
    CHECK_INT_EQ(check(kh, "git.example.org", 22, K1, &d), 0);
    CHECK_INT_EQ(check(kh, "bad.example.org", 22, K1, &d), CAIRN_EKEY);
    CHECK_INT_EQ(check(kh, "example.org", 22, K1, &d), CAIRN_EKEY);
    /* Hashed: only the exact name it was made from. */
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2222, K1, &d), 0);
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2223, K1, &d), CAIRN_EKEY);
    CHECK_INT_EQ(check(kh, "127.0.0.1", 2222, K3, &d), CAIRN_EKEY);
    CHECK_STR_HAS(d.msg, "does not list");
    /* Listed for git1.lab, but revoked for every host. */
    CHECK_INT_EQ(check(kh, "git1.lab", 22, K2, &d), CAIRN_EPOLICY);
    CHECK_STR_HAS(d.msg, "@revoked in kh:4");
    CHECK_STR_HAS(d.msg, K2_FP);
    /* A CA line is not a host key. */
    CHECK_INT_EQ(check(kh, "git.example.org", 22, K3, &d), CAIRN_EKEY);
    cairn_knownhosts_free(kh);
}

static void expect_bad(const char *text, int code, const char *msg)
{
    struct cairn_knownhosts *kh = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_knownhosts_parse(text, strlen(text), "f", &kh, &d),
                 code);
    CHECK(kh == NULL);
    CHECK_STR_HAS(d.msg, msg);
}

static void test_bad_lines(void)
{
    char *big;

    expect_bad("h ssh-ed25519\n", CAIRN_EPARSE, "f:1: want HOSTS KEYTYPE");
    expect_bad("\nh ssh-ed25519 AAAA!\n", CAIRN_EPARSE,
               "f:2: the key is not valid base64");
    expect_bad("h ssh-rsa " K1 "\n", CAIRN_EPARSE,
               "f:1: key type field says 'ssh-rsa' but the key is "
               "'ssh-ed25519'");
    expect_bad("@trusted h ssh-ed25519 " K1, CAIRN_EPARSE, "unknown marker");
    expect_bad("|2|abc|def ssh-ed25519 " K1, CAIRN_EPARSE, "only |1|");
    expect_bad("|1|AAAA|AAAA ssh-ed25519 " K1, CAIRN_EPARSE,
               "f:1: hashed host name");
    big = calloc(1, CAIRN_KNOWNHOSTS_MAX_LINE + 20);
    REQUIRE(big != NULL);
    memset(big, 'a', CAIRN_KNOWNHOSTS_MAX_LINE + 10);
    expect_bad(big, CAIRN_ETOOBIG, "f:1: line or entry cap");
    free(big);
}

static void test_nul_byte(void)
{
    static const char text[] = "h ssh-ed25519 " K1 "\nh\0x ssh-ed25519 " K1;
    struct cairn_knownhosts *kh = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_knownhosts_parse(text, sizeof(text) - 1, "f", &kh, &d),
                 CAIRN_EPARSE);
    CHECK_STR_HAS(d.msg, "f:2: NUL byte");
}

static void test_load(void)
{
    struct cairn_knownhosts *kh = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_knownhosts_load("/nonexistent/kh", &kh, &d),
                 CAIRN_ENOENT);
    CHECK_STR_HAS(d.msg, "/nonexistent/kh");
    /* An empty file trusts nobody. */
    REQUIRE((kh = parse("")) != NULL);
    CHECK_INT_EQ(check(kh, "h", 22, K1, &d), CAIRN_EKEY);
    cairn_knownhosts_free(kh);
}

int main(void)
{
    RUN(test_fingerprint_and_type);
    RUN(test_plain_and_port);
    RUN(test_patterns_hashed_revoked);
    RUN(test_bad_lines);
    RUN(test_nul_byte);
    RUN(test_load);
    return test_done();
}
