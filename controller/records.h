/*
 * The daemon's own records, next to the render store (store.h): signed
 * status reports (a bounded history per site), each site's latest status,
 * the site public keys of the last accepted commit, session nonces and the
 * uploads index. A separate SQLite file (WAL, synchronous=FULL), so that
 * report ingest never waits behind a long render transaction and a render
 * never waits behind ingest.
 *
 * Writes come in batches (struct cairn_records_batch) applied in one
 * transaction: the daemon collects what arrives while the previous batch
 * is being written and commits it with one fsync (group commit), so one
 * slow disk write never stalls serving and ingest rate is not one fsync
 * per report.
 *
 * Threads: a handle is used by one thread at a time (the daemon loads at
 * start-up on its loop thread, before serving, then applies batches from
 * one uv_queue_work job at a time). Errors: CAIRN_EDB with SQLite's text.
 */
#ifndef CAIRN_RECORDS_H
#define CAIRN_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/hash.h"

#define CAIRN_RECORDS_SCHEMA_VERSION 2

struct cairn_records;

/* Open (create, migrate) the records database at path. A database of a
 * newer schema is refused. *out only on success. CAIRN_EDB. */
CAIRN_WUR int cairn_records_open(const char *path, struct cairn_records **out,
                                 struct cairn_diag *d);
void cairn_records_close(struct cairn_records *r); /* NULL ok */

/* ---- batches ------------------------------------------------------------ */

struct cairn_records_batch;

/* An empty batch (aborts on OOM). Every add copies its strings. */
struct cairn_records_batch *cairn_records_batch_new(void);
void cairn_records_batch_free(struct cairn_records_batch *b); /* NULL ok */
/* Number of operations added. */
size_t cairn_records_batch_len(const struct cairn_records_batch *b);

/* A report: stored in the site's history (envelope as received, its
 * payload's sha256) and made the site's latest status (payload, canonical
 * JSON, and last_error, a JSON object or NULL to keep the previous one). */
void cairn_records_batch_report(struct cairn_records_batch *b, const char *site,
                                int64_t seq, int64_t received,
                                const char *payload_sha256, const char *payload,
                                const char *envelope, const char *last_error);
/* The site's failure record (a JSON object, see controller/sites.c): kept
 * apart from last_error, which later error events replace. Add it after the
 * report it comes from, in the same batch. */
void cairn_records_batch_failure(struct cairn_records_batch *b,
                                 const char *site, const char *failure);
/* A session nonce, remembered until expires. */
void cairn_records_batch_nonce(struct cairn_records_batch *b, const char *site,
                               const char *nonce, int64_t expires);
/* A stored upload. */
void cairn_records_batch_upload(struct cairn_records_batch *b, const char *site,
                                const char *sha256, const char *name,
                                const char *version, int64_t size,
                                int64_t received);
/* A site's public key line at commit; key NULL: the site left the fleet. */
void cairn_records_batch_key(struct cairn_records_batch *b, const char *site,
                             const char *key, const char *commit);

/*
 * Apply b in one transaction, then trim each reporting site's history to
 * its newest `retention` reports (>= 1) and forget nonces that expired
 * before now. On error nothing of b is kept. A report whose (site, seq) is
 * already stored replaces it (the daemon only sends new seqs).
 */
CAIRN_WUR int cairn_records_apply(struct cairn_records *r,
                                  const struct cairn_records_batch *b,
                                  int64_t retention, int64_t now,
                                  struct cairn_diag *d);

/* ---- loading at start-up ----------------------------------------------- */

struct cairn_status_rec {
    const char *site;
    int64_t seq, received;
    const char *payload;    /* canonical JSON of the latest report */
    const char *last_error; /* JSON object or NULL */
    const char *failure;    /* JSON object or NULL */
};

/* Callbacks get strings valid during the call; a non-zero return stops
 * the walk and becomes the result. */
typedef int (*cairn_records_key_cb)(const char *site, const char *key,
                                    void *arg);
typedef int (*cairn_records_status_cb)(const struct cairn_status_rec *s,
                                       void *arg);
typedef int (*cairn_records_seq_cb)(const char *site, int64_t seq,
                                    const char *payload_sha256, void *arg);
typedef int (*cairn_records_nonce_cb)(const char *site, const char *nonce,
                                      int64_t expires, void *arg);
typedef int (*cairn_records_upload_cb)(const char *site, int64_t count,
                                       int64_t bytes, void *arg);

CAIRN_WUR int cairn_records_load_keys(struct cairn_records *r,
                                      cairn_records_key_cb cb, void *arg,
                                      struct cairn_diag *d);
CAIRN_WUR int cairn_records_load_status(struct cairn_records *r,
                                        cairn_records_status_cb cb, void *arg,
                                        struct cairn_diag *d);
/* The newest n seqs of every site, newest first within a site. */
CAIRN_WUR int cairn_records_load_recent(struct cairn_records *r, size_t n,
                                        cairn_records_seq_cb cb, void *arg,
                                        struct cairn_diag *d);
/* Nonces that have not expired at now. */
CAIRN_WUR int cairn_records_load_nonces(struct cairn_records *r, int64_t now,
                                        cairn_records_nonce_cb cb, void *arg,
                                        struct cairn_diag *d);
/* Upload count and bytes per site. */
CAIRN_WUR int cairn_records_load_uploads(struct cairn_records *r,
                                         cairn_records_upload_cb cb, void *arg,
                                         struct cairn_diag *d);

/* Reports stored for site (all sites when NULL). */
CAIRN_WUR int cairn_records_count_reports(struct cairn_records *r,
                                          const char *site, int64_t *out,
                                          struct cairn_diag *d);

#endif
