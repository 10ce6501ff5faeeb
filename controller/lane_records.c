/*
 * The records lane: the daemon's own SQLite writes (reports, status, keys,
 * nonces, uploads) as batches, one uv_queue_work job at a time. What
 * arrives while a batch is written collects in the next one (group
 * commit); reports are answered only once their batch has committed, so
 * an agent never drops a report the controller could still lose.
 */
#include <stdlib.h>
#include <string.h>

#include "cairn/log.h"
#include "cairn/mem.h"
#include "daemon_int.h"

struct cairn__wjob {
    uv_work_t w;
    struct cairn__ctrl *c;
    struct cairn_records_batch *b;
    struct cairn__report *answers;
    size_t nanswers;
    int64_t retention, now;
    int rc;
    struct cairn_diag d;
};

/* The report list links through this (api_reports.c owns the struct);
 * declared here to keep the lane independent of report internals. */
struct cairn__report *cairn__report_next(struct cairn__report *r);
void cairn__report_set_next(struct cairn__report *r,
                            struct cairn__report *next);

struct cairn_records_batch *cairn__records_next(struct cairn__ctrl *c)
{
    if (!c->wl.next)
        c->wl.next = cairn_records_batch_new();
    return c->wl.next;
}

void cairn__records_answer_later(struct cairn__ctrl *c, struct cairn__report *r)
{
    struct cairn__record_lane *wl = &c->wl;

    cairn__report_set_next(r, NULL);
    if (wl->answers)
        cairn__report_set_next(wl->answers_last, r);
    else
        wl->answers = r;
    wl->answers_last = r;
    wl->pending++;
}

int cairn__records_idle(const struct cairn__ctrl *c)
{
    return !c->wl.job && cairn_records_batch_len(c->wl.next) == 0 &&
           !c->wl.answers;
}

static void on_work(uv_work_t *w)
{
    struct cairn__wjob *j = cairn_container_of(w, struct cairn__wjob, w);

    j->rc =
        cairn_records_apply(j->c->wl.rec, j->b, j->retention, j->now, &j->d);
}

static void on_after(uv_work_t *w, int status)
{
    struct cairn__wjob *j = cairn_container_of(w, struct cairn__wjob, w);
    struct cairn__ctrl *c = j->c;
    struct cairn__report *r = j->answers, *next;

    c->wl.job = NULL;
    if (status == UV_ECANCELED && j->rc == 0)
        j->rc = cairn_diag_set(&j->d, CAIRN_ECANCELED, "canceled");
    c->m.record_batches++;
    if (j->rc) {
        c->m.record_errors++;
        LOG_ERROR("records: %s (%zu operations not stored)",
                  cairn_diag_msg(&j->d), cairn_records_batch_len(j->b));
    }
    for (; r; r = next) {
        next = cairn__report_next(r);
        cairn__report_answer(c, r, j->rc);
    }
    c->wl.pending -= j->nanswers;
    cairn_records_batch_free(j->b);
    free(j);
    cairn__records_kick(c);
    if (c->stopping)
        cairn__maybe_finish(c);
}

void cairn__records_kick(struct cairn__ctrl *c)
{
    struct cairn__record_lane *wl = &c->wl;
    struct cairn__wjob *j;
    size_t n = 0;
    int rc;

    if (wl->job || (cairn_records_batch_len(wl->next) == 0 && !wl->answers))
        return;
    j = cairn_xcalloc(1, sizeof(*j));
    j->c = c;
    j->b = wl->next ? wl->next : cairn_records_batch_new();
    j->answers = wl->answers;
    for (struct cairn__report *r = wl->answers; r; r = cairn__report_next(r))
        n++;
    j->nanswers = n;
    j->retention = c->cfg.retention;
    j->now = cairn__now();
    cairn_diag_init(&j->d);
    wl->next = NULL;
    wl->answers = NULL;
    wl->answers_last = NULL;
    rc = uv_queue_work(&c->loop, &j->w, on_work, on_after);
    if (rc) {
        /* only fails on a closing loop: answer with the error right away */
        j->rc = cairn_diag_set(&j->d, CAIRN_EIO, "cannot queue: %s",
                               uv_strerror(rc));
        wl->job = j;
        on_after(&j->w, 0);
        return;
    }
    wl->job = j;
}

/* ---- start-up
 * ------------------------------------------------------------------- */

static int key_cb(const char *site, const char *line, void *arg)
{
    struct cairn__ctrl *c = arg;
    struct cairn_pubkey k, *copy;
    struct cairn__site *s;

    if (cairn_pubkey_parse(line, &k, NULL) != 0) {
        LOG_WARN("records: unusable stored key of site %s ignored", site);
        return 0;
    }
    s = cairn__site_get_or_add(c, site);
    s->has_key = 1;
    s->key = k;
    copy = cairn_xmalloc(sizeof(*copy));
    *copy = k;
    free(cairn__strmap_put(&c->rl.keys, site, copy));
    return 0;
}

static int status_cb(const struct cairn_status_rec *st, void *arg)
{
    struct cairn__ctrl *c = arg;

    cairn__site_set_status(cairn__site_get_or_add(c, st->site), st->seq,
                           st->received, st->payload, st->last_error,
                           st->failure);
    return 0;
}

static int seq_cb(const char *site, int64_t seq, const char *sha, void *arg)
{
    struct cairn__ctrl *c = arg;

    struct cairn__site *s = cairn__site_get_or_add(c, site);

    /* newest first: the ring is filled oldest last, which only matters
     * for which entry the next report overwrites */
    cairn__site_add_seq(s, seq, sha);
    if (seq > s->stored_seq)
        s->stored_seq = seq;
    return 0;
}

static int nonce_cb(const char *site, const char *nonce, int64_t expires,
                    void *arg)
{
    /* a full table only means older nonces are not remembered */
    (void)!cairn__nonce_remember(arg, site, nonce, expires);
    return 0;
}

static int upload_cb(const char *site, int64_t count, int64_t bytes, void *arg)
{
    struct cairn__site *s = cairn__site_get_or_add(arg, site);

    s->uploads = count;
    s->upload_bytes = bytes;
    return 0;
}

int cairn__records_load(struct cairn__ctrl *c, struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/records.db", c->cfg.state_dir);
    int rc = cairn_records_open(path, &c->wl.rec, d);

    free(path);
    if (rc == 0)
        rc = cairn_records_load_keys(c->wl.rec, key_cb, c, d);
    if (rc == 0)
        rc = cairn_records_load_status(c->wl.rec, status_cb, c, d);
    if (rc == 0)
        rc = cairn_records_load_recent(c->wl.rec, CAIRN__RECENT_SEQS, seq_cb, c,
                                       d);
    if (rc == 0)
        rc = cairn_records_load_nonces(c->wl.rec, cairn__now(), nonce_cb, c, d);
    if (rc == 0)
        rc = cairn_records_load_uploads(c->wl.rec, upload_cb, c, d);
    return rc;
}

void cairn__records_lane_free(struct cairn__ctrl *c)
{
    cairn_records_batch_free(c->wl.next);
    c->wl.next = NULL;
    cairn_records_close(c->wl.rec);
    c->wl.rec = NULL;
}
