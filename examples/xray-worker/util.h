/*
 * Small helpers the worker, simulator and trainer share: capped file reads,
 * durable writes, moving files aside, hex, time stamps, a seeded RNG.
 * (libcairn's fs module is being written in parallel; these stay local to
 * the example so that it builds on its own.)
 */
#ifndef XRAY_UTIL_H
#define XRAY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cairn/diag.h"

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void xray_hex(const uint8_t *in, size_t n, char *out);

/* Read a whole regular file of at most cap bytes into a fresh buffer
 * (NUL-terminated, the NUL not counted). Refuses symlinks and non-regular
 * files (CAIRN_EPERM). CAIRN_ENOENT, CAIRN_EIO, CAIRN_ETOOBIG. */
CAIRN_WUR int xray_read_file(const char *path, size_t cap, uint8_t **out,
                             size_t *out_len, struct cairn_diag *d);

/* Replace path durably: write "<dir>/.<base>.tmp", fsync, rename, fsync the
 * directory. CAIRN_EIO. */
CAIRN_WUR int xray_write_atomic(const char *path, const void *data, size_t n,
                                mode_t mode, struct cairn_diag *d);

/* mkdir -p (mode 0755 for created directories). CAIRN_EIO. */
CAIRN_WUR int xray_mkdir_p(const char *path, struct cairn_diag *d);

/* Move dir_from/name to dir_to/name; when that exists, to
 * dir_to/<stem>.<n><.ext> for the first free n. fsyncs dir_to. CAIRN_EIO. */
CAIRN_WUR int xray_move_aside(const char *dir_from, const char *name,
                              const char *dir_to, struct cairn_diag *d);

/* "YYYY-MM-DD HH:MM:SS" (UTC) of t, the SQL TIMESTAMP form. */
void xray_sql_time(int64_t t, char out[20]);
/* RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" of t. */
void xray_rfc3339(int64_t t, char out[21]);

/* Monotonic seconds (for latency) and wall-clock seconds. */
double xray_mono(void);
int64_t xray_wall(void);

/* splitmix64-seeded xoshiro256** - reproducible across platforms. */
struct xray_rng {
    uint64_t s[4];
};
void xray_rng_seed(struct xray_rng *r, uint64_t seed);
uint64_t xray_rng_next(struct xray_rng *r);
double xray_rng_unit(struct xray_rng *r); /* [0,1) */
double xray_rng_range(struct xray_rng *r, double lo, double hi);
uint32_t xray_rng_below(struct xray_rng *r, uint32_t n); /* [0,n) */
double xray_rng_normal(struct xray_rng *r);              /* N(0,1) */

/* True when s is valid UTF-8 without control characters (C0, DEL). */
int xray_text_ok(const char *s);

/* True when s ends with suffix (case-insensitive). */
int xray_has_suffix(const char *s, const char *suffix);

#endif
