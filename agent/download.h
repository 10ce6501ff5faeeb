/*
 * Artifact download: fetch a content-addressed blob into
 * STATE/downloads/<hex>.partial while hashing the stream, resume it with
 * Range after a cut or a crash, try each listed URL in turn, and install it
 * read-only and durably as STATE/blobs/sha256/<hex> only once its size and
 * SHA-256 match the signed ones.
 *
 * Loop context: called on the loop of the httpc client; the callback runs
 * there. Disk work (writes, hashing, fsync, re-hashing a partial) runs on
 * the libuv thread pool, one job at a time per download, so the loop never
 * blocks on the disk. One download per digest at a time: a second one (in
 * this or another process) fails with CAIRN_EAGAIN.
 *
 * Lifetime: a call that returns an error never fires its callback. After a
 * successful start the callback fires exactly once, never from inside
 * cairn_download_start/cancel, and the download is freed after it returns.
 */
#ifndef CAIRN_AGENT_DOWNLOAD_H
#define CAIRN_AGENT_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/httpc.h"

#define CAIRN_DOWNLOAD_MAX_URLS 32

struct cairn_download;

struct cairn_download_opts {
    const char *state_dir;   /* STATE: downloads/ and blobs/sha256/ under it */
    const char *sha256;      /* signed digest, 64 lower-case hex */
    uint64_t size;           /* signed size in bytes, > 0 */
    const char *const *urls; /* tried in turn, 1..CAIRN_DOWNLOAD_MAX_URLS */
    size_t n_urls;
    /* Extra request headers ("Authorization: Bearer ..."), NULL-terminated;
     * may be NULL. Copied. */
    const char *const *headers;
    /* Failed attempts that received nothing before giving up; 0: 3 per URL.
     * Attempts that made progress (a cut after some bytes) do not count. */
    unsigned max_tries;
    unsigned max_attempts;   /* hard cap on requests; 0: 64 */
    uint64_t space_margin;   /* free bytes to keep beyond the blob; 0: 64 MiB */
    long low_speed_limit;    /* bytes/s; 0: 1024 */
    long low_speed_time;     /* seconds below it before a cut; 0: 30 */
    uint32_t retry_delay_ms; /* first pause after a failed try, doubling up
                                to 30 s; 0: 1000 */
    /* 1: never write with O_DIRECT, always through the page cache (the
     * agent leaves it 0: direct I/O is used where the file system has it,
     * see docs/internals/download.md). */
    int buffered_only;
};

struct cairn_download_result {
    int err;                /* 0: installed (or was already) */
    const char *msg;        /* fit for a report; "" on success */
    const char *blob_path;  /* STATE/blobs/sha256/<hex> when err is 0 */
    uint64_t bytes_fetched; /* body bytes accepted from the network */
    unsigned attempts;      /* HTTP requests made */
    uint32_t bad_urls;      /* bit i: urls[i] served a wrong object */
    uint64_t resumed_from;  /* length of the .partial found at start */
    uint64_t direct_bytes;  /* bytes written with O_DIRECT (the rest went
                               through the page cache) */
    int already_present;    /* the blob was already installed */
};

/* Fires once; dl is freed when it returns. err codes: CAIRN_EDIGEST (every
 * URL served wrong bytes), CAIRN_ENET/ETIMEOUT/EHTTP/ETOOBIG/ESIZE (the
 * last attempt's failure when the tries ran out), CAIRN_ENOSPC, CAIRN_EIO,
 * CAIRN_EAGAIN (another download of this digest), CAIRN_ECANCELED. */
typedef void (*cairn_download_cb)(struct cairn_download *dl,
                                  const struct cairn_download_result *res,
                                  void *arg);

/* Start downloading. Copies opts. CAIRN_EINVAL (bad options: digest not
 * 64 lower-case hex, size 0, no or too many URLs) with no callback. *out
 * (may be NULL) gets the handle, valid until cb returns. */
CAIRN_WUR int cairn_download_start(struct cairn_httpc *c,
                                   const struct cairn_download_opts *o,
                                   cairn_download_cb cb, void *arg,
                                   struct cairn_download **out,
                                   struct cairn_diag *d);

/* Stop: cb fires later with CAIRN_ECANCELED (or 0 if the blob got
 * installed meanwhile). The .partial stays for a later resume. */
void cairn_download_cancel(struct cairn_download *dl);

/* "STATE/blobs/sha256/<hex>" and "STATE/downloads/<hex>.partial"; fresh
 * strings (free them). */
char *cairn_download_blob_path(const char *state_dir, const char *hex);
char *cairn_download_partial_path(const char *state_dir, const char *hex);

#endif
