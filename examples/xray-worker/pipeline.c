#include "pipeline.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "anon.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "notify.h"
#include "util.h"

/* A file this young that fails to decode may still be being written. */
#define SETTLE_SECONDS 2

int xray_pipeline_init(struct xray_pipeline *p, const struct xray_config *cfg,
                       const struct xray_model *m, const char *model_version,
                       struct cairn_diag *d)
{
    const char *dirs[] = {cfg->data_dir, cfg->inbox,      cfg->outbox,
                          cfg->done_dir, cfg->failed_dir, cfg->processed_dir};
    int err = 0;

    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !err; i++)
        err = xray_mkdir_p(dirs[i], d);
    if (!err)
        err = xray_store_open(cfg->db_path, &p->store, d);
    if (err)
        return err;
    p->cfg = cfg;
    p->model = m;
    p->model_version = model_version;
    p->lim.max_side = (uint32_t)cfg->max_side;
    p->lim.max_pixels = cfg->max_pixels;
    p->truth = xray_truth_new(cfg->truth_file);
    p->ws = xray_ws_new(m);
    return 0;
}

void xray_pipeline_free(struct xray_pipeline *p)
{
    xray_store_close(p->store);
    xray_truth_free(p->truth);
    xray_ws_free(p->ws);
    memset(p, 0, sizeof(*p));
}

int xray_score_encoded(const struct xray_model *m, struct xray_ws *ws,
                       const struct xray_decode_limits *lim, const void *buf,
                       size_t len, struct xray_image *keep, float *p,
                       struct cairn_diag *d)
{
    const struct xray_shape *s = &m->shape;
    struct xray_image im;
    float *input;
    int err;

    err = xray_image_decode(buf, len, lim, &im, d);
    if (err)
        return err;
    input = cairn_xmalloc((size_t)s->in_h * s->in_w * s->in_c * sizeof(float));
    xray_image_to_input(&im, s->in_w, s->in_h, s->in_c, input);
    *p = xray_model_forward(m, ws, input, NULL, NULL);
    free(input);
    if (keep)
        *keep = im;
    else
        xray_image_free(&im);
    return 0;
}

void xray_processed_name(const char *name, char *out, size_t n)
{
    const char *dot = strrchr(name, '.');

    if (!dot || dot == name)
        snprintf(out, n, "%s-processed", name);
    else
        snprintf(out, n, "%.*s-processed%s", (int)(dot - name), name, dot);
}

void xray_draw_label(struct xray_image *im, const char *label)
{
    uint32_t scale = im->w / 160, tw, th;
    struct xray_box box;

    if (scale == 0)
        scale = 1;
    xray_text_size(label, scale, &tw, &th);
    box = (struct xray_box){0, 0, tw + 2 * scale, th + scale};
    xray_image_fill(im, &box, 0);
    xray_image_draw_text(im, scale, scale, scale, label, 255);
}

/* Encode in the format the name says and write it durably. */
static int write_image(const struct xray_pipeline *p,
                       const struct xray_image *im, const char *dir,
                       const char *name, struct cairn_diag *d)
{
    enum xray_image_fmt fmt = xray_image_fmt_of_name(name);
    uint8_t *buf = NULL;
    size_t len = 0;
    char *path;
    int err;

    err = xray_image_encode(im, fmt, (int)p->cfg->jpeg_quality, &buf, &len, d);
    if (err)
        return err;
    path = cairn_xasprintf("%s/%s", dir, name);
    err = xray_write_atomic(path, buf, len, 0644, d);
    free(path);
    free(buf);
    return err;
}

static void fail(struct xray_pipeline *p, const char *name,
                 struct xray_result *r, const char *prefix, const char *why)
{
    struct cairn_diag d;
    char now[20];

    cairn_diag_init(&d);
    r->outcome = XRAY_OUT_FAILED;
    snprintf(r->msg, sizeof(r->msg), "%s%s", prefix, why);
    xray_sql_time(xray_wall(), now);
    /* A name we cannot store as text is recorded by placeholder. */
    if (xray_store_record_failure(p->store, now,
                                  xray_text_ok(name) ? name : "(non-text name)",
                                  r->msg, &d) != 0 ||
        xray_move_aside(p->cfg->inbox, name, p->cfg->failed_dir, &d) != 0) {
        r->outcome = XRAY_OUT_ERROR;
        snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
    }
}

/* Outputs for a scored image: labelled copy, anonymized copy, body of the
 * notification. Returns 0 or an error in d (ours, not the image's). */
struct outputs {
    char processed[XRAY_NAME_MAX + 16];
    char anon[XRAY_NAME_MAX + 1];
    char *notify_body;
};

static int make_outputs(struct xray_pipeline *p, const char *name,
                        const char *digest, const struct xray_image *im,
                        struct xray_result *r, struct outputs *o,
                        struct cairn_diag *d)
{
    struct xray_image copy;
    char label[48], when[21];
    int err;

    xray_band_label(r->p, label, sizeof(label));
    xray_processed_name(name, o->processed, sizeof(o->processed));
    xray_image_alloc(&copy, im->w, im->h, im->c);
    memcpy(copy.px, im->px, (size_t)im->w * im->h * im->c);
    xray_draw_label(&copy, label);
    err = write_image(p, &copy, p->cfg->processed_dir, o->processed, d);
    xray_image_free(&copy);
    if (!err && r->band == XRAY_BAND_UNKNOWN) {
        struct cairn_diag nd;

        cairn_diag_init(&nd);
        if (xray_anon_name(name, o->anon, sizeof(o->anon), &nd) != 0) {
            /* Never forward a file whose PII layout we do not know. */
            r->anon_refused = 1;
            snprintf(r->msg, sizeof(r->msg), "not anonymized: %s",
                     cairn_diag_msg(&nd));
            o->anon[0] = '\0';
        } else {
            xray_image_alloc(&copy, im->w, im->h, im->c);
            memcpy(copy.px, im->px, (size_t)im->w * im->h * im->c);
            xray_anon_blur(&copy, p->cfg->anon_blur_sigma);
            err = write_image(p, &copy, p->cfg->outbox, o->anon, d);
            xray_image_free(&copy);
            r->anonymized = !err;
        }
    }
    if (!err && r->band == XRAY_BAND_HIGH && p->cfg->webhook_url) {
        xray_rfc3339(xray_wall(), when);
        o->notify_body = xray_webhook_body(
            p->cfg->site, name, label, r->p, p->model_version, when, digest,
            xray_band_risk(r->band), xray_band_class(r->band));
        r->notified = o->notify_body != NULL;
    }
    return err;
}

static int record(struct xray_pipeline *p, const char *name, const char *digest,
                  const struct stat *st, struct xray_result *r,
                  const struct outputs *o, struct cairn_diag *d)
{
    char up[20], now[20];
    struct xray_record rec = {.uploaded_time = up,
                              .time = now,
                              .source_name = name,
                              .processed_name = o->processed,
                              .model_version = p->model_version,
                              .model_sha256 = p->model->sha256_hex,
                              .label_class = xray_band_class(r->band),
                              .p = r->p,
                              .image_sha256 = digest,
                              .truth = r->truth,
                              .latency_ms = r->score_seconds * 1000.0,
                              .anon_name = o->anon[0] ? o->anon : NULL,
                              .notify_body = o->notify_body,
                              .notify_at_ms = xray_wall() * 1000};

    xray_sql_time((int64_t)st->st_mtime, up);
    xray_sql_time(xray_wall(), now);
    return xray_store_record(p->store, &rec, d);
}

static void score_and_record(struct xray_pipeline *p, const char *name,
                             const uint8_t *buf, size_t len,
                             const struct stat *st, const char *digest,
                             struct xray_result *r)
{
    struct outputs o = {.notify_body = NULL};
    struct xray_image im;
    struct cairn_diag d;
    double t0 = xray_mono();
    int err;

    cairn_diag_init(&d);
    err =
        xray_score_encoded(p->model, p->ws, &p->lim, buf, len, &im, &r->p, &d);
    if (err) {
        if (xray_wall() - (int64_t)st->st_mtime < SETTLE_SECONDS) {
            r->outcome = XRAY_OUT_DEFERRED;
            snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
        } else {
            fail(p, name, r, "undecodable: ", cairn_diag_msg(&d));
        }
        return;
    }
    r->score_seconds = xray_mono() - t0;
    r->band = xray_band_of(r->p);
    r->truth = xray_truth_lookup(p->truth, name);
    err = make_outputs(p, name, digest, &im, r, &o, &d);
    if (!err)
        err = record(p, name, digest, st, r, &o, &d);
    if (!err)
        err = xray_move_aside(p->cfg->inbox, name, p->cfg->done_dir, &d);
    r->outcome = err ? XRAY_OUT_ERROR : XRAY_OUT_PROCESSED;
    if (err)
        snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
    free(o.notify_body);
    xray_image_free(&im);
}

/* Checks on the name and file before any byte is decoded. Returns 1 when
 * the image may proceed, with its contents in *buf. */
static int admit(struct xray_pipeline *p, const char *name, struct stat *st,
                 uint8_t **buf, size_t *len, struct xray_result *r)
{
    char *path = cairn_xasprintf("%s/%s", p->cfg->inbox, name);
    struct cairn_diag d;
    int ok = 0, err;

    cairn_diag_init(&d);
    if (!xray_text_ok(name) || strlen(name) > XRAY_NAME_MAX)
        fail(p, name, r, "",
             "file name is not printable UTF-8 of at most 255 bytes");
    else if (xray_image_fmt_of_name(name) == XRAY_FMT_UNKNOWN)
        fail(p, name, r, "", "not a .jpeg, .jpg or .png file");
    else if (lstat(path, st) != 0)
        r->outcome = errno == ENOENT ? XRAY_OUT_GONE : XRAY_OUT_ERROR;
    else if (!S_ISREG(st->st_mode))
        fail(p, name, r, "", "not a regular file (symlink, directory, device)");
    else if ((err = xray_read_file(path, p->cfg->max_image_bytes, buf, len,
                                   &d)) != 0) {
        if (err == CAIRN_ENOENT)
            r->outcome = XRAY_OUT_GONE;
        else
            fail(p, name, r, "unreadable: ", cairn_diag_msg(&d));
    } else {
        ok = 1;
    }
    free(path);
    return ok;
}

void xray_pipeline_process(struct xray_pipeline *p, const char *name,
                           struct xray_result *r)
{
    uint8_t *buf = NULL, sum[32];
    char digest[65];
    struct stat st;
    struct cairn_diag d;
    size_t len = 0;
    int seen = 0;

    memset(r, 0, sizeof(*r));
    cairn_diag_init(&d);
    if (!admit(p, name, &st, &buf, &len, r))
        goto out;
    crypto_hash_sha256(sum, buf, len);
    xray_hex(sum, sizeof(sum), digest);
    if (xray_store_seen(p->store, digest, &seen, &d) != 0) {
        r->outcome = XRAY_OUT_ERROR;
        snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
    } else if (seen) {
        r->outcome = XRAY_OUT_DUPLICATE;
        if (xray_move_aside(p->cfg->inbox, name, p->cfg->done_dir, &d) != 0) {
            r->outcome = XRAY_OUT_ERROR;
            snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
        }
    } else {
        score_and_record(p, name, buf, len, &st, digest, r);
    }
out:
    free(buf);
}
