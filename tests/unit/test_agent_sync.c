/* agent/sync.c: the backoff schedule (with an injected random source), the
 * session request payload and token checks. */
#include "cairn/mem.h"
#include "sync.h"
#include "test.h"

static uint32_t fixed_value;

static uint32_t fixed(void *arg)
{
    (void)arg;
    return fixed_value;
}

static uint32_t lcg_state = 12345;

static uint32_t lcg(void *arg)
{
    (void)arg;
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state;
}

/* With the lowest random value every pause is its window's floor, with the
 * highest its ceiling: 5 s doubling to 5 min, the floor half the ceiling. */
static void test_schedule_bounds(void)
{
    static const uint32_t low[] = {5000,  5000,  10000,  20000,
                                   40000, 80000, 150000, 150000};
    static const uint32_t high[] = {5000,  10000,  20000,  40000,
                                    80000, 160000, 300000, 300000};
    struct cairn_backoff b;

    fixed_value = 0;
    cairn_backoff_init(&b, 5000, 300000, fixed, NULL);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(low); i++)
        CHECK_INT_EQ(cairn_backoff_next(&b), low[i]);
    fixed_value = UINT32_MAX;
    cairn_backoff_init(&b, 5000, 300000, fixed, NULL);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(high); i++) {
        uint32_t want = high[i];
        uint32_t floor = want / 2 < 5000 ? 5000 : want / 2;
        /* UINT32_MAX % (span + 1) is deterministic: check the window */
        uint32_t got = cairn_backoff_next(&b);
        CHECK(got >= floor && got <= want);
        CHECK_INT_EQ(got, floor + UINT32_MAX % (want - floor + 1));
    }
}

static void test_reset_and_forever(void)
{
    struct cairn_backoff b;
    uint32_t got;

    cairn_backoff_init(&b, 5000, 300000, lcg, NULL);
    for (int i = 0; i < 1000; i++) { /* never gives up, never past the cap */
        got = cairn_backoff_next(&b);
        CHECK(got >= 5000 && got <= 300000);
        if (i > 10)
            CHECK(got >= 150000);
    }
    cairn_backoff_reset(&b);
    CHECK_INT_EQ(cairn_backoff_next(&b), 5000); /* first pause is the minimum */
    /* two agents failing together spread out */
    {
        struct cairn_backoff x, y;
        int differ = 0;
        cairn_backoff_init(&x, 5000, 300000, lcg, NULL);
        cairn_backoff_init(&y, 5000, 300000, lcg, NULL);
        for (int i = 0; i < 8; i++)
            differ += cairn_backoff_next(&x) != cairn_backoff_next(&y);
        CHECK(differ >= 6);
    }
    /* odd settings stay sane */
    cairn_backoff_init(&b, 0, 0, fixed, NULL);
    CHECK_INT_EQ(cairn_backoff_next(&b), 1);
    cairn_backoff_init(&b, 1000, 1000, fixed, NULL);
    CHECK_INT_EQ(cairn_backoff_next(&b), 1000);
    CHECK_INT_EQ(cairn_backoff_next(&b), 1000);
}

static void test_session_payload(void)
{
    char *p = cairn_sync_session_payload(
        "st-olaf", "0123456789abcdef0123456789abcdef", 1764201600);

    CHECK_STR_EQ(p, "{\"kind\":\"cairn.session/"
                    "v1\",\"nonce\":\"0123456789abcdef0123456789abcdef"
                    "\",\"site\":\"st-olaf\",\"time\":1764201600}");
    free(p);
}

static void test_token(void)
{
    const char *good = "v1.st-olaf.1764205200.AbC-_x";

    CHECK_INT_EQ(cairn_sync_check_token(good, strlen(good)), 0);
    CHECK_INT_EQ(cairn_sync_check_token("", 0), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_sync_check_token("a b", 3), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_sync_check_token("a\r\nX-Evil: 1", 12), CAIRN_EPARSE);
    CHECK_INT_EQ(cairn_sync_check_token("a\0b", 3), CAIRN_EPARSE);
    {
        char big[CAIRN_TOKEN_MAX + 1];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        CHECK_INT_EQ(cairn_sync_check_token(big, strlen(big)), CAIRN_EPARSE);
    }
}

int main(void)
{
    RUN(test_schedule_bounds);
    RUN(test_reset_and_forever);
    RUN(test_session_payload);
    RUN(test_token);
    return test_done();
}
