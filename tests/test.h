/*
 * cairn's in-house unit test harness: a few macros, no dependencies.
 *
 *   static void test_thing(void) { CHECK(x == 1); CHECK_STR_EQ(a, "b"); }
 *   int main(void) { RUN(test_thing); return test_done(); }
 *
 * A failed CHECK prints file:line and the expression, marks the test failed
 * and continues; REQUIRE returns from the test function instead.
 * CAIRN_SOURCE_DIR and CAIRN_BINARY_DIR are defined by the build.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test__failures;
static int test__checks;
static int test__cur_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        test__checks++;                                                        \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            test__cur_failed = 1;                                              \
        }                                                                      \
    } while (0)

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        test__checks++;                                                        \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            test__cur_failed = 1;                                              \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                     \
    do {                                                                       \
        long long test__a = (long long)(a), test__b = (long long)(b);          \
        test__checks++;                                                        \
        if (test__a != test__b) {                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, test__a, test__b);             \
            test__cur_failed = 1;                                              \
        }                                                                      \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                     \
    do {                                                                       \
        const char *test__a = (a), *test__b = (b);                             \
        test__checks++;                                                        \
        if (!test__a || !test__b || strcmp(test__a, test__b) != 0) {           \
            fprintf(stderr,                                                    \
                    "%s:%d: CHECK failed: %s == %s\n  got:  %s\n  want: %s\n", \
                    __FILE__, __LINE__, #a, #b, test__a ? test__a : "(null)",  \
                    test__b ? test__b : "(null)");                             \
            test__cur_failed = 1;                                              \
        }                                                                      \
    } while (0)

/* a contains b */
#define CHECK_STR_HAS(a, b)                                                    \
    do {                                                                       \
        const char *test__a = (a), *test__b = (b);                             \
        test__checks++;                                                        \
        if (!test__a || !strstr(test__a, test__b)) {                           \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n",   \
                    __FILE__, __LINE__, test__a ? test__a : "(null)",          \
                    test__b);                                                  \
            test__cur_failed = 1;                                              \
        }                                                                      \
    } while (0)

#define RUN(fn)                                                                \
    do {                                                                       \
        test__cur_failed = 0;                                                  \
        fn();                                                                  \
        fprintf(stderr, "%s %s\n", test__cur_failed ? "FAIL" : "ok  ", #fn);   \
        if (test__cur_failed)                                                  \
            test__failures++;                                                  \
    } while (0)

static inline int test_done(void)
{
    fprintf(stderr, "%d check(s), %d failed test(s)\n", test__checks,
            test__failures);
    return test__failures ? 1 : 0;
}

/* A fresh directory under $TMPDIR (or /tmp); caller owns the string. */
static inline char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);

    snprintf(p, 4096, "%s/cairn-test-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

/* Write a file (test helper; aborts on error). */
static inline void test_write_file(const char *path, const void *data,
                                   size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static inline void test_rm_rf(const char *path)
{
    char cmd[8192];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (path && strlen(path) > 5 && strstr(path, "cairn-test-")) {
        FILE *p = popen(cmd, "r");
        if (p)
            pclose(p);
    }
}

#endif
