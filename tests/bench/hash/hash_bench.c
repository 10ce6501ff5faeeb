/*
 * Times cairn_sha256_file over one file: best wall-clock time of N runs.
 * Output (one line, for tests/bench/hash/run):
 *   sha256=<hex> bytes=<n> best_seconds=<s> sanitized=<0|1>
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cairn/hash.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) ||                                        \
    __has_feature(undefined_behavior_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint8_t digest[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    double best = -1;
    long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 3;

    if (argc < 2 || runs < 1) {
        fprintf(stderr, "usage: hash_bench FILE [RUNS]\n");
        return 2;
    }
    for (long i = 0; i < runs; i++) {
        double t0 = now(), dt;
        int rc = cairn_sha256_file(argv[1], digest, &size);

        dt = now() - t0;
        if (rc != 0) {
            fprintf(stderr, "hash_bench: %s: %s\n", argv[1],
                    cairn_strerror(rc));
            return 1;
        }
        if (best < 0 || dt < best)
            best = dt;
    }
    cairn_hex_encode(digest, sizeof(digest), hex);
    printf("sha256=%s bytes=%" PRIu64 " best_seconds=%.6f sanitized=%d\n", hex,
           size, best, SANITIZED);
    return 0;
}
