/*
 * Small helpers shared by the agent's modules: RFC 3339 times and a
 * non-durable "write then rename" for advisory files.
 */
#ifndef CAIRN_AGENT_UTIL_H
#define CAIRN_AGENT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"

#define CAIRN_TIME_LEN 21 /* "2026-11-27T01:00:00Z" and a NUL */

/* Parse an RFC 3339 date-time ("2026-11-27T01:00:00Z", optional fraction,
 * "Z" or "+HH:MM"/"-HH:MM") into Unix seconds (fraction dropped).
 * CAIRN_EPARSE for anything else, including out-of-range fields. */
CAIRN_WUR int cairn__time_parse(const char *s, int64_t *out);
/* UTC "YYYY-MM-DDTHH:MM:SSZ". */
void cairn__time_format(int64_t t, char out[CAIRN_TIME_LEN]);
/* Wall clock, seconds. */
int64_t cairn__time_now(void);

/* Replace path with data through a temp file and rename, without fsync:
 * for files that are refreshed often and only advisory (status.json).
 * 0 or CAIRN_EIO. */
CAIRN_WUR int cairn__write_replace(const char *path, const void *data,
                                   size_t n);

#endif
