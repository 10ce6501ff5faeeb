/* The daemon's records in SQLite (records.h). */
#include "records.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

/* migrations[i] takes the schema from version i to i + 1 */
static const char *const migrations[] = {
    "CREATE TABLE reports("
    "  site TEXT NOT NULL, seq INTEGER NOT NULL, received INTEGER NOT NULL,"
    "  payload_sha256 TEXT NOT NULL, envelope TEXT NOT NULL,"
    "  PRIMARY KEY(site, seq)) WITHOUT ROWID;"
    "CREATE TABLE site_status("
    "  site TEXT PRIMARY KEY, seq INTEGER NOT NULL, received INTEGER NOT NULL,"
    "  payload TEXT NOT NULL, last_error TEXT);"
    "CREATE TABLE site_keys(site TEXT PRIMARY KEY, public_key TEXT NOT NULL,"
    "  commit_sha TEXT NOT NULL);"
    "CREATE TABLE nonces(site TEXT NOT NULL, nonce TEXT NOT NULL,"
    "  expires INTEGER NOT NULL, PRIMARY KEY(site, nonce)) WITHOUT ROWID;"
    "CREATE INDEX nonces_expires ON nonces(expires);"
    "CREATE TABLE uploads(site TEXT NOT NULL, sha256 TEXT NOT NULL, name TEXT "
    "NOT NULL,"
    "  model_version TEXT NOT NULL, size INTEGER NOT NULL, received INTEGER "
    "NOT NULL,"
    "  PRIMARY KEY(site, sha256));",
    /* 2: the site's last report that says a served generation failed there
     * (rolled back, not downloaded, refused), apart from last_error, which
     * any later error event replaces */
    "ALTER TABLE site_status ADD COLUMN failure TEXT;",
};

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_REPORT,
    S_STATUS,
    S_FAILURE,
    S_TRIM,
    S_NONCE,
    S_NONCE_PRUNE,
    S_UPLOAD,
    S_KEY_PUT,
    S_KEY_DEL,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_REPORT] =
        "INSERT OR REPLACE INTO reports(site, seq, received, payload_sha256,"
        " envelope) VALUES(?1, ?2, ?3, ?4, ?5)",
    /* an upsert, not a REPLACE, so that the failure column stays; no new
     * error (NULL): the previous last_error stays */
    [S_STATUS] =
        "INSERT INTO site_status(site, seq, received, payload, last_error)"
        " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(site) DO UPDATE SET"
        " seq = excluded.seq, received = excluded.received,"
        " payload = excluded.payload,"
        " last_error = coalesce(excluded.last_error, last_error)",
    [S_FAILURE] = "UPDATE site_status SET failure = ?2 WHERE site = ?1",
    [S_TRIM] = "DELETE FROM reports WHERE site = ?1 AND seq <= (SELECT seq "
               "FROM reports"
               " WHERE site = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    [S_NONCE] = "INSERT OR REPLACE INTO nonces(site, nonce, expires) "
                "VALUES(?1, ?2, ?3)",
    [S_NONCE_PRUNE] = "DELETE FROM nonces WHERE expires < ?1",
    [S_UPLOAD] = "INSERT OR REPLACE INTO uploads(site, sha256, name, "
                 "model_version, size,"
                 " received) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_KEY_PUT] =
        "INSERT OR REPLACE INTO site_keys(site, public_key, commit_sha)"
        " VALUES(?1, ?2, ?3)",
    [S_KEY_DEL] = "DELETE FROM site_keys WHERE site = ?1",
};

struct cairn_records {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[S_COUNT];
};

/* ---- batches ------------------------------------------------------------ */

enum op_kind { OP_REPORT, OP_NONCE, OP_UPLOAD, OP_KEY, OP_FAILURE };

struct op {
    enum op_kind kind;
    char *site;
    int64_t a, b,
        c; /* report: seq, received; nonce: expires; upload: size, received */
    char *s1, *s2, *s3, *s4; /* report: sha, payload, envelope, last_error;
                                nonce: nonce; upload: sha, name, version;
                                key: key, commit; failure: failure */
};

struct cairn_records_batch {
    struct op *v;
    size_t n, alloc;
};

struct cairn_records_batch *cairn_records_batch_new(void)
{
    return cairn_xcalloc(1, sizeof(struct cairn_records_batch));
}

void cairn_records_batch_free(struct cairn_records_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].site);
        free(b->v[i].s1);
        free(b->v[i].s2);
        free(b->v[i].s3);
        free(b->v[i].s4);
    }
    free(b->v);
    free(b);
}

size_t cairn_records_batch_len(const struct cairn_records_batch *b)
{
    return b ? b->n : 0;
}

static char *dup_or_null(const char *s)
{
    return s ? cairn_xstrdup(s) : NULL;
}

static struct op *push(struct cairn_records_batch *b, enum op_kind kind,
                       const char *site)
{
    struct op *o;

    if (b->n == b->alloc) {
        b->alloc = b->alloc ? b->alloc * 2 : 32;
        b->v = cairn_xrealloc(b->v, b->alloc * sizeof(*b->v));
    }
    o = &b->v[b->n++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->site = cairn_xstrdup(site);
    return o;
}

void cairn_records_batch_report(struct cairn_records_batch *b, const char *site,
                                int64_t seq, int64_t received,
                                const char *payload_sha256, const char *payload,
                                const char *envelope, const char *last_error)
{
    struct op *o = push(b, OP_REPORT, site);

    o->a = seq;
    o->b = received;
    o->s1 = cairn_xstrdup(payload_sha256);
    o->s2 = cairn_xstrdup(payload);
    o->s3 = cairn_xstrdup(envelope);
    o->s4 = dup_or_null(last_error);
}

void cairn_records_batch_failure(struct cairn_records_batch *b,
                                 const char *site, const char *failure)
{
    struct op *o = push(b, OP_FAILURE, site);

    o->s1 = cairn_xstrdup(failure);
}

void cairn_records_batch_nonce(struct cairn_records_batch *b, const char *site,
                               const char *nonce, int64_t expires)
{
    struct op *o = push(b, OP_NONCE, site);

    o->a = expires;
    o->s1 = cairn_xstrdup(nonce);
}

void cairn_records_batch_upload(struct cairn_records_batch *b, const char *site,
                                const char *sha256, const char *name,
                                const char *version, int64_t size,
                                int64_t received)
{
    struct op *o = push(b, OP_UPLOAD, site);

    o->a = size;
    o->b = received;
    o->s1 = cairn_xstrdup(sha256);
    o->s2 = cairn_xstrdup(name);
    o->s3 = cairn_xstrdup(version);
}

void cairn_records_batch_key(struct cairn_records_batch *b, const char *site,
                             const char *key, const char *commit)
{
    struct op *o = push(b, OP_KEY, site);

    o->s1 = dup_or_null(key);
    o->s2 = dup_or_null(commit);
}

/* ---- statements -----------------------------------------------------------
 */

static int db_err(struct cairn_records *r, struct cairn_diag *d,
                  const char *what)
{
    return cairn_diag_set(d, CAIRN_EDB, "%s: %s: %s", r->path, what,
                          sqlite3_errmsg(r->db));
}

static sqlite3_stmt *use(struct cairn_records *r, enum stmt i)
{
    sqlite3_reset(r->st[i]);
    sqlite3_clear_bindings(r->st[i]);
    return r->st[i];
}

static int run(struct cairn_records *r, sqlite3_stmt *st, const char *what,
               struct cairn_diag *d)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : db_err(r, d, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int apply_report(struct cairn_records *r, const struct op *o,
                        int64_t retention, struct cairn_diag *d)
{
    sqlite3_stmt *st = use(r, S_REPORT);
    int rc;

    bind_text(st, 1, o->site);
    sqlite3_bind_int64(st, 2, o->a);
    sqlite3_bind_int64(st, 3, o->b);
    bind_text(st, 4, o->s1);
    bind_text(st, 5, o->s3);
    rc = run(r, st, "store report", d);
    if (rc)
        return rc;
    st = use(r, S_STATUS);
    bind_text(st, 1, o->site);
    sqlite3_bind_int64(st, 2, o->a);
    sqlite3_bind_int64(st, 3, o->b);
    bind_text(st, 4, o->s2);
    bind_text(st, 5, o->s4);
    rc = run(r, st, "store status", d);
    if (rc)
        return rc;
    st = use(r, S_TRIM);
    bind_text(st, 1, o->site);
    sqlite3_bind_int64(st, 2, retention);
    return run(r, st, "trim reports", d);
}

static int apply_op(struct cairn_records *r, const struct op *o,
                    int64_t retention, struct cairn_diag *d)
{
    sqlite3_stmt *st;

    switch (o->kind) {
    case OP_REPORT:
        return apply_report(r, o, retention, d);
    case OP_NONCE:
        st = use(r, S_NONCE);
        bind_text(st, 1, o->site);
        bind_text(st, 2, o->s1);
        sqlite3_bind_int64(st, 3, o->a);
        return run(r, st, "store nonce", d);
    case OP_UPLOAD:
        st = use(r, S_UPLOAD);
        bind_text(st, 1, o->site);
        bind_text(st, 2, o->s1);
        bind_text(st, 3, o->s2);
        bind_text(st, 4, o->s3);
        sqlite3_bind_int64(st, 5, o->a);
        sqlite3_bind_int64(st, 6, o->b);
        return run(r, st, "store upload", d);
    case OP_KEY:
        st = use(r, o->s1 ? S_KEY_PUT : S_KEY_DEL);
        bind_text(st, 1, o->site);
        if (o->s1) {
            bind_text(st, 2, o->s1);
            bind_text(st, 3, o->s2 ? o->s2 : "");
        }
        return run(r, st, "store site key", d);
    case OP_FAILURE:
        st = use(r, S_FAILURE);
        bind_text(st, 1, o->site);
        bind_text(st, 2, o->s1);
        return run(r, st, "store site failure", d);
    }
    return cairn_diag_set(d, CAIRN_EINVAL, "unknown record kind");
}

int cairn_records_apply(struct cairn_records *r,
                        const struct cairn_records_batch *b, int64_t retention,
                        int64_t now, struct cairn_diag *d)
{
    sqlite3_stmt *st;
    int rc;

    if (retention < 1)
        retention = 1;
    rc = run(r, use(r, S_BEGIN), "begin", d);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = apply_op(r, &b->v[i], retention, d);
    if (rc == 0) {
        st = use(r, S_NONCE_PRUNE);
        sqlite3_bind_int64(st, 1, now);
        rc = run(r, st, "prune nonces", d);
    }
    if (rc == 0)
        rc = run(r, use(r, S_COMMIT), "commit", d);
    if (rc)
        (void)sqlite3_step(use(r, S_ROLLBACK));
    sqlite3_reset(r->st[S_ROLLBACK]);
    return rc;
}

/* ---- loading
 * ------------------------------------------------------------------ */

/* Run a query, calling row(st, arg) for each result row. */
static int query(struct cairn_records *r, const char *sql, int64_t p1,
                 int use_p1, int (*row)(sqlite3_stmt *st, void *arg), void *arg,
                 struct cairn_diag *d)
{
    sqlite3_stmt *st;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(r, d, "query");
    if (use_p1)
        sqlite3_bind_int64(st, 1, p1);
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = row(st, arg);
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(r, d, "query");
    sqlite3_finalize(st);
    return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? (const char *)t : "";
}

struct load {
    union {
        cairn_records_key_cb key;
        cairn_records_status_cb status;
        cairn_records_seq_cb seq;
        cairn_records_nonce_cb nonce;
        cairn_records_upload_cb upload;
    } cb;
    void *arg;
};

static int key_row(sqlite3_stmt *st, void *arg)
{
    struct load *l = arg;

    return l->cb.key(col(st, 0), col(st, 1), l->arg);
}

int cairn_records_load_keys(struct cairn_records *r, cairn_records_key_cb cb,
                            void *arg, struct cairn_diag *d)
{
    struct load l = {.cb.key = cb, .arg = arg};

    return query(r, "SELECT site, public_key FROM site_keys ORDER BY site", 0,
                 0, key_row, &l, d);
}

static int status_row(sqlite3_stmt *st, void *arg)
{
    struct load *l = arg;
    struct cairn_status_rec s;

    s.site = col(st, 0);
    s.seq = sqlite3_column_int64(st, 1);
    s.received = sqlite3_column_int64(st, 2);
    s.payload = col(st, 3);
    s.last_error = (const char *)sqlite3_column_text(st, 4);
    s.failure = (const char *)sqlite3_column_text(st, 5);
    return l->cb.status(&s, l->arg);
}

int cairn_records_load_status(struct cairn_records *r,
                              cairn_records_status_cb cb, void *arg,
                              struct cairn_diag *d)
{
    struct load l = {.cb.status = cb, .arg = arg};

    return query(r,
                 "SELECT site, seq, received, payload, last_error, failure"
                 " FROM site_status"
                 " ORDER BY site",
                 0, 0, status_row, &l, d);
}

static int seq_row(sqlite3_stmt *st, void *arg)
{
    struct load *l = arg;

    return l->cb.seq(col(st, 0), sqlite3_column_int64(st, 1), col(st, 2),
                     l->arg);
}

int cairn_records_load_recent(struct cairn_records *r, size_t n,
                              cairn_records_seq_cb cb, void *arg,
                              struct cairn_diag *d)
{
    struct load l = {.cb.seq = cb, .arg = arg};

    return query(
        r,
        "SELECT site, seq, payload_sha256 FROM (SELECT site, seq,"
        " payload_sha256, row_number() OVER (PARTITION BY site ORDER BY seq"
        " DESC) AS k FROM reports) WHERE k <= ?1 ORDER BY site, seq DESC",
        (int64_t)n, 1, seq_row, &l, d);
}

static int nonce_row(sqlite3_stmt *st, void *arg)
{
    struct load *l = arg;

    return l->cb.nonce(col(st, 0), col(st, 1), sqlite3_column_int64(st, 2),
                       l->arg);
}

int cairn_records_load_nonces(struct cairn_records *r, int64_t now,
                              cairn_records_nonce_cb cb, void *arg,
                              struct cairn_diag *d)
{
    struct load l = {.cb.nonce = cb, .arg = arg};

    return query(r,
                 "SELECT site, nonce, expires FROM nonces WHERE expires >= ?1",
                 now, 1, nonce_row, &l, d);
}

static int upload_row(sqlite3_stmt *st, void *arg)
{
    struct load *l = arg;

    return l->cb.upload(col(st, 0), sqlite3_column_int64(st, 1),
                        sqlite3_column_int64(st, 2), l->arg);
}

int cairn_records_load_uploads(struct cairn_records *r,
                               cairn_records_upload_cb cb, void *arg,
                               struct cairn_diag *d)
{
    struct load l = {.cb.upload = cb, .arg = arg};

    return query(r,
                 "SELECT site, count(*), sum(size) FROM uploads GROUP BY site",
                 0, 0, upload_row, &l, d);
}

static int count_row(sqlite3_stmt *st, void *arg)
{
    *(int64_t *)arg = sqlite3_column_int64(st, 0);
    return 0;
}

int cairn_records_count_reports(struct cairn_records *r, const char *site,
                                int64_t *out, struct cairn_diag *d)
{
    sqlite3_stmt *st;
    int rc;

    if (!site)
        return query(r, "SELECT count(*) FROM reports", 0, 0, count_row, out,
                     d);
    if (sqlite3_prepare_v2(r->db,
                           "SELECT count(*) FROM reports WHERE site = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(r, d, "count");
    bind_text(st, 1, site);
    rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_err(r, d, "count");
    if (rc == 0)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* ---- opening
 * ------------------------------------------------------------------ */

static int schema_version(struct cairn_records *r, int *out,
                          struct cairn_diag *d)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(r, d, "read schema version");
    rc = sqlite3_step(st) == SQLITE_ROW ? 0
                                        : db_err(r, d, "read schema version");
    if (rc == 0)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static int migrate(struct cairn_records *r, struct cairn_diag *d)
{
    int v = 0, rc = schema_version(r, &v, d);

    if (rc)
        return rc;
    if (v > CAIRN_RECORDS_SCHEMA_VERSION)
        return cairn_diag_set(d, CAIRN_EDB,
                              "%s: schema version %d is newer than this "
                              "controller's %d",
                              r->path, v, CAIRN_RECORDS_SCHEMA_VERSION);
    for (; v < CAIRN_RECORDS_SCHEMA_VERSION; v++) {
        char *sql = cairn_xasprintf(
            "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
            migrations[v], v + 1);
        char *err = NULL;

        rc = sqlite3_exec(r->db, sql, NULL, NULL, &err);
        free(sql);
        if (rc != SQLITE_OK) {
            rc = cairn_diag_set(d, CAIRN_EDB, "%s: migration to schema %d: %s",
                                r->path, v + 1, err ? err : "failed");
            sqlite3_free(err);
            sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

static int configure(struct cairn_records *r, struct cairn_diag *d)
{
    char *err = NULL;
    int rc = 0;

    sqlite3_busy_timeout(r->db, 10000);
    if (sqlite3_exec(r->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                     NULL, NULL, &err) != SQLITE_OK)
        rc = cairn_diag_set(d, CAIRN_EDB, "%s: %s", r->path,
                            err ? err : "pragma");
    sqlite3_free(err);
    return rc;
}

int cairn_records_open(const char *path, struct cairn_records **out,
                       struct cairn_diag *d)
{
    struct cairn_records *r = cairn_xcalloc(1, sizeof(*r));
    int rc;

    r->path = cairn_xstrdup(path);
    if (sqlite3_open_v2(path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_err(r, d, "open");
        goto fail;
    }
    rc = configure(r, d);
    if (rc == 0)
        rc = migrate(r, d);
    for (int i = 0; i < S_COUNT && rc == 0; i++)
        if (sqlite3_prepare_v3(r->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &r->st[i],
                               NULL) != SQLITE_OK)
            rc = db_err(r, d, "prepare");
    if (rc)
        goto fail;
    *out = r;
    return 0;
fail:
    cairn_records_close(r);
    return rc;
}

void cairn_records_close(struct cairn_records *r)
{
    if (!r)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(r->st[i]);
    sqlite3_close(r->db);
    free(r->path);
    free(r);
}
