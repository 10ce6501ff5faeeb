#include "store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS images_uploaded("
    " time TIMESTAMP, name VARCHAR(255), image_sha256 TEXT);"
    "CREATE TABLE IF NOT EXISTS images_processed("
    " time TIMESTAMP, name VARCHAR(255), model VARCHAR(10), label VARCHAR(20),"
    " p REAL, model_sha256 TEXT, source_name VARCHAR(255), image_sha256 TEXT,"
    " truth TEXT, latency_ms REAL);"
    "CREATE INDEX IF NOT EXISTS images_processed_sha ON "
    "images_processed(image_sha256);"
    "CREATE TABLE IF NOT EXISTS images_anonymized("
    " time TIMESTAMP, name VARCHAR(255), source_name VARCHAR(255));"
    "CREATE TABLE IF NOT EXISTS images_failed("
    " time TIMESTAMP, name VARCHAR(255), reason TEXT);"
    "CREATE TABLE IF NOT EXISTS notifications("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, created TIMESTAMP, next_at_ms "
    "INTEGER,"
    " attempts INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL, last_error "
    "TEXT);"
    "CREATE INDEX IF NOT EXISTS notifications_due ON "
    "notifications(next_at_ms);";

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SEEN,
    S_UPLOADED,
    S_PROCESSED,
    S_ANONYMIZED,
    S_FAILED,
    S_NOTIFY,
    S_DUE,
    S_DELIVERED,
    S_RETRY,
    S_PENDING,
    S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SEEN] = "SELECT 1 FROM images_processed WHERE image_sha256 = ?1 LIMIT 1",
    [S_UPLOADED] = "INSERT INTO images_uploaded(time, name, image_sha256) "
                   "VALUES(?1, ?2, ?3)",
    [S_PROCESSED] = "INSERT INTO images_processed(time, name, model, label, p, "
                    "model_sha256,"
                    " source_name, image_sha256, truth, latency_ms)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_ANONYMIZED] = "INSERT INTO images_anonymized(time, name, source_name) "
                     "VALUES(?1, ?2, ?3)",
    [S_FAILED] =
        "INSERT INTO images_failed(time, name, reason) VALUES(?1, ?2, ?3)",
    [S_NOTIFY] = "INSERT INTO notifications(created, next_at_ms, body) "
                 "VALUES(?1, ?2, ?3)",
    [S_DUE] =
        "SELECT id, attempts, body FROM notifications WHERE next_at_ms <= ?1"
        " ORDER BY id LIMIT ?2",
    [S_DELIVERED] = "DELETE FROM notifications WHERE id = ?1",
    [S_RETRY] =
        "UPDATE notifications SET attempts = attempts + 1, next_at_ms = ?2,"
        " last_error = ?3 WHERE id = ?1",
    [S_PENDING] =
        "SELECT count(*), coalesce(min(next_at_ms), 0) FROM notifications",
};

struct xray_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT];
    char *path;
};

static int db_err(struct xray_store *s, struct cairn_diag *d, const char *what)
{
    return cairn_diag_set(d, CAIRN_EDB, "%s: %s: %s", s->path, what,
                          sqlite3_errmsg(s->db));
}

void xray_store_close(struct xray_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

int xray_store_open(const char *path, struct xray_store **out,
                    struct cairn_diag *d)
{
    struct xray_store *s = cairn_xcalloc(1, sizeof(*s));
    int err = 0;

    s->path = cairn_xstrdup(path);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = db_err(s, d, "open");
        goto out;
    }
    /* Another connection (the notifier's, a dashboard) may hold the write
     * lock briefly: wait instead of failing. */
    sqlite3_busy_timeout(s->db, 10000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        err = db_err(s, d, "schema");
        goto out;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &s->st[i], NULL) !=
            SQLITE_OK) {
            err = db_err(s, d, "prepare");
            goto out;
        }
    }
out:
    if (err) {
        xray_store_close(s);
        return err;
    }
    *out = s;
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Run a bound statement that returns no rows, then reset it. */
static int run(struct xray_store *s, enum stmt k, struct cairn_diag *d)
{
    int rc = sqlite3_step(s->st[k]);

    sqlite3_reset(s->st[k]);
    sqlite3_clear_bindings(s->st[k]);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(s, d, sql[k]);
    return 0;
}

int xray_store_seen(struct xray_store *s, const char *image_sha256, int *seen,
                    struct cairn_diag *d)
{
    sqlite3_stmt *st = s->st[S_SEEN];
    int rc;

    bind_text(st, 1, image_sha256);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_err(s, d, "seen");
    *seen = rc == SQLITE_ROW;
    return 0;
}

static int insert_record(struct xray_store *s, const struct xray_record *r,
                         struct cairn_diag *d)
{
    sqlite3_stmt *st = s->st[S_UPLOADED];
    int err;

    bind_text(st, 1, r->uploaded_time);
    bind_text(st, 2, r->source_name);
    bind_text(st, 3, r->image_sha256);
    err = run(s, S_UPLOADED, d);
    if (err)
        return err;
    st = s->st[S_PROCESSED];
    bind_text(st, 1, r->time);
    bind_text(st, 2, r->processed_name);
    bind_text(st, 3, r->model_version);
    bind_text(st, 4, r->label_class);
    sqlite3_bind_double(st, 5, r->p);
    bind_text(st, 6, r->model_sha256);
    bind_text(st, 7, r->source_name);
    bind_text(st, 8, r->image_sha256);
    bind_text(st, 9, r->truth);
    sqlite3_bind_double(st, 10, r->latency_ms);
    err = run(s, S_PROCESSED, d);
    if (err || !r->anon_name)
        return err;
    st = s->st[S_ANONYMIZED];
    bind_text(st, 1, r->time);
    bind_text(st, 2, r->anon_name);
    bind_text(st, 3, r->source_name);
    return run(s, S_ANONYMIZED, d);
}

int xray_store_record(struct xray_store *s, const struct xray_record *r,
                      struct cairn_diag *d)
{
    int err = run(s, S_BEGIN, d);

    if (err)
        return err;
    err = insert_record(s, r, d);
    if (!err && r->notify_body) {
        sqlite3_stmt *st = s->st[S_NOTIFY];

        bind_text(st, 1, r->time);
        sqlite3_bind_int64(st, 2, r->notify_at_ms);
        bind_text(st, 3, r->notify_body);
        err = run(s, S_NOTIFY, d);
    }
    if (!err)
        err = run(s, S_COMMIT, d);
    if (err && sqlite3_get_autocommit(s->db) == 0)
        (void)run(s, S_ROLLBACK, NULL);
    return err;
}

int xray_store_record_failure(struct xray_store *s, const char *time,
                              const char *name, const char *reason,
                              struct cairn_diag *d)
{
    int err = run(s, S_BEGIN, d);

    if (err)
        return err;
    bind_text(s->st[S_UPLOADED], 1, time);
    bind_text(s->st[S_UPLOADED], 2, name);
    err = run(s, S_UPLOADED, d);
    if (!err) {
        bind_text(s->st[S_FAILED], 1, time);
        bind_text(s->st[S_FAILED], 2, name);
        bind_text(s->st[S_FAILED], 3, reason);
        err = run(s, S_FAILED, d);
    }
    if (!err)
        err = run(s, S_COMMIT, d);
    if (err && sqlite3_get_autocommit(s->db) == 0)
        (void)run(s, S_ROLLBACK, NULL);
    return err;
}

void xray_notifications_free(struct xray_notification *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].body);
    free(v);
}

int xray_store_due(struct xray_store *s, int64_t now, int limit,
                   struct xray_notification **out, size_t *n,
                   struct cairn_diag *d)
{
    sqlite3_stmt *st = s->st[S_DUE];
    struct xray_notification *v = cairn_xcalloc((size_t)limit, sizeof(*v));
    size_t k = 0;
    int rc;

    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)limit) {
        const unsigned char *body = sqlite3_column_text(st, 2);

        v[k].id = sqlite3_column_int64(st, 0);
        v[k].attempts = sqlite3_column_int64(st, 1);
        v[k].body = cairn_xstrdup(body ? (const char *)body : "");
        k++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        xray_notifications_free(v, k);
        return db_err(s, d, "due");
    }
    *out = v;
    *n = k;
    return 0;
}

int xray_store_delivered(struct xray_store *s, int64_t id, struct cairn_diag *d)
{
    sqlite3_bind_int64(s->st[S_DELIVERED], 1, id);
    return run(s, S_DELIVERED, d);
}

int xray_store_retry(struct xray_store *s, int64_t id, int64_t next_at_ms,
                     const char *error, struct cairn_diag *d)
{
    sqlite3_bind_int64(s->st[S_RETRY], 1, id);
    sqlite3_bind_int64(s->st[S_RETRY], 2, next_at_ms);
    bind_text(s->st[S_RETRY], 3, error);
    return run(s, S_RETRY, d);
}

int xray_store_pending(struct xray_store *s, int64_t *count,
                       int64_t *next_at_ms, struct cairn_diag *d)
{
    sqlite3_stmt *st = s->st[S_PENDING];
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *next_at_ms = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return db_err(s, d, "pending");
    return 0;
}
