/*
 * SQLite backend of the store (store.h): one file, WAL journal so readers
 * (the HTTP side) never wait for the render transaction, synchronous=FULL
 * so a committed generation survives power loss. Schema versions are
 * PRAGMA user_version, migrated forward one step at a time.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

/* migrations[i] takes the schema from version i to i + 1 */
static const char *const migrations[] = {
    "CREATE TABLE commits("
    "  sha TEXT PRIMARY KEY, seen INTEGER NOT NULL, signer TEXT, principal "
    "TEXT,"
    "  accepted INTEGER NOT NULL, error TEXT, sites_changed INTEGER NOT NULL "
    "DEFAULT 0);"
    "CREATE TABLE heads(name TEXT PRIMARY KEY, sha TEXT NOT NULL);"
    "CREATE TABLE renders("
    "  site TEXT PRIMARY KEY, generation INTEGER NOT NULL, commit_sha TEXT NOT "
    "NULL,"
    "  content_sha256 TEXT NOT NULL, payload_sha256 TEXT NOT NULL,"
    "  issued INTEGER NOT NULL, expires INTEGER NOT NULL, refresh_at INTEGER "
    "NOT NULL,"
    "  models TEXT NOT NULL, envelope BLOB NOT NULL);"
    "CREATE INDEX renders_refresh ON renders(refresh_at);"
    "CREATE TABLE render_history("
    "  site TEXT NOT NULL, generation INTEGER NOT NULL, commit_sha TEXT NOT "
    "NULL,"
    "  content_sha256 TEXT, payload_sha256 TEXT, issued INTEGER, expires "
    "INTEGER,"
    "  models TEXT, removed INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(site, generation));",
};

enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COMMIT_PUT,
    S_COMMIT_GET,
    S_HEAD_GET,
    S_HEAD_SET,
    S_RENDER_GET,
    S_RENDER_PUT,
    S_HISTORY_PUT,
    S_RENDER_DEL,
    S_GEN_MAX,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_COMMIT_PUT] =
        "INSERT OR REPLACE INTO commits(sha, seen, signer, principal, accepted,"
        " error, sites_changed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_COMMIT_GET] = "SELECT accepted, error FROM commits WHERE sha = ?1",
    [S_HEAD_GET] = "SELECT sha FROM heads WHERE name = ?1",
    [S_HEAD_SET] = "INSERT OR REPLACE INTO heads(name, sha) VALUES(?1, ?2)",
    [S_RENDER_GET] =
        "SELECT site, generation, commit_sha, content_sha256, payload_sha256,"
        " issued, expires, refresh_at, models, envelope FROM renders"
        " WHERE site = ?1",
    [S_RENDER_PUT] =
        "INSERT OR REPLACE INTO renders(site, generation, commit_sha,"
        " content_sha256, payload_sha256, issued, expires, refresh_at, models,"
        " envelope) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_HISTORY_PUT] =
        "INSERT OR REPLACE INTO render_history(site, generation, commit_sha,"
        " content_sha256, payload_sha256, issued, expires, models, removed)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_RENDER_DEL] = "DELETE FROM renders WHERE site = ?1",
    [S_GEN_MAX] =
        "SELECT max(g) FROM (SELECT max(generation) AS g FROM renders WHERE"
        " site = ?1 UNION ALL SELECT max(generation) FROM render_history"
        " WHERE site = ?1)",
};

struct sq {
    struct cairn_store base;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[S_COUNT];
    int in_tx;
};

static struct sq *SQ(struct cairn_store *s)
{
    return cairn_container_of(s, struct sq, base);
}

static int db_err(struct sq *q, struct cairn_diag *d, const char *what)
{
    return cairn_diag_set(d, CAIRN_EDB, "%s: %s: %s", q->path, what,
                          sqlite3_errmsg(q->db));
}

/* Reset and clear a cached statement for its next use. */
static sqlite3_stmt *use(struct sq *q, enum stmt i)
{
    sqlite3_reset(q->st[i]);
    sqlite3_clear_bindings(q->st[i]);
    return q->st[i];
}

/* Run a statement that returns no rows. */
static int run(struct sq *q, sqlite3_stmt *st, const char *what,
               struct cairn_diag *d)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_err(q, d, what);
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? strlen((const char *)t) : 0;

    if (n >= cap)
        n = cap - 1;
    memcpy(out, t ? (const char *)t : "", n);
    out[n] = '\0';
}

/* ---- transactions and commits ----------------------------------------- */

static int sq_begin(struct cairn_store *s, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    int rc;

    if (q->in_tx)
        return cairn_diag_set(d, CAIRN_ESTATE, "%s: transaction already open",
                              q->path);
    rc = run(q, use(q, S_BEGIN), "begin", d);
    if (rc == 0)
        q->in_tx = 1;
    return rc;
}

static int sq_commit(struct cairn_store *s, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    int rc = run(q, use(q, S_COMMIT), "commit", d);

    if (rc)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
    q->in_tx = 0;
    return rc;
}

static void sq_rollback(struct cairn_store *s)
{
    struct sq *q = SQ(s);

    if (!q->in_tx)
        return;
    /* a failed statement may already have rolled back: ignore that error */
    sqlite3_step(use(q, S_ROLLBACK));
    sqlite3_reset(q->st[S_ROLLBACK]);
    q->in_tx = 0;
}

static int sq_commit_put(struct cairn_store *s,
                         const struct cairn_commit_rec *r, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_COMMIT_PUT);

    bind_text(st, 1, r->sha);
    sqlite3_bind_int64(st, 2, r->seen);
    bind_text(st, 3, r->signer[0] ? r->signer : NULL);
    bind_text(st, 4, r->principal && *r->principal ? r->principal : NULL);
    sqlite3_bind_int(st, 5, r->accepted ? 1 : 0);
    bind_text(st, 6, r->error);
    sqlite3_bind_int64(st, 7, r->sites_changed);
    return run(q, st, "record commit", d);
}

static int sq_commit_get(struct cairn_store *s, const char *sha, int *accepted,
                         char **error, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_COMMIT_GET);
    int rc;

    bind_text(st, 1, sha);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return cairn_diag_set(d, CAIRN_ENOENT, "commit %s: not seen", sha);
    }
    if (rc != SQLITE_ROW) {
        rc = db_err(q, d, "read commit");
        sqlite3_reset(st);
        return rc;
    }
    if (accepted)
        *accepted = sqlite3_column_int(st, 0);
    if (error)
        *error = sqlite3_column_text(st, 1)
                     ? cairn_xstrdup((const char *)sqlite3_column_text(st, 1))
                     : NULL;
    sqlite3_reset(st);
    return 0;
}

static int sq_head_get(struct cairn_store *s, const char *name, char sha[41],
                       struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_HEAD_GET);
    int rc;

    bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        copy_col(st, 0, sha, 41);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return cairn_diag_set(d, CAIRN_ENOENT, "no %s commit yet", name);
    return rc == SQLITE_ROW ? 0 : db_err(q, d, "read head");
}

static int sq_head_set(struct cairn_store *s, const char *name, const char *sha,
                       struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_HEAD_SET);

    bind_text(st, 1, name);
    bind_text(st, 2, sha);
    return run(q, st, "set head", d);
}

/* ---- renders ---------------------------------------------------------- */

/* Columns in S_RENDER_GET order; envelope only when asked. */
static void read_render(sqlite3_stmt *st, int with_envelope,
                        struct cairn_render_rec *r)
{
    const void *env;

    memset(r, 0, sizeof(*r));
    copy_col(st, 0, r->site, sizeof(r->site));
    r->generation = sqlite3_column_int64(st, 1);
    copy_col(st, 2, r->commit, sizeof(r->commit));
    copy_col(st, 3, r->content_sha256, sizeof(r->content_sha256));
    copy_col(st, 4, r->payload_sha256, sizeof(r->payload_sha256));
    r->issued = sqlite3_column_int64(st, 5);
    r->expires = sqlite3_column_int64(st, 6);
    r->refresh_at = sqlite3_column_int64(st, 7);
    r->models = cairn_xstrdup(sqlite3_column_text(st, 8)
                                  ? (const char *)sqlite3_column_text(st, 8)
                                  : "");
    if (!with_envelope)
        return;
    env = sqlite3_column_blob(st, 9);
    r->envelope_len = (size_t)sqlite3_column_bytes(st, 9);
    r->envelope = cairn_xmalloc(r->envelope_len + 1);
    if (r->envelope_len)
        memcpy(r->envelope, env, r->envelope_len);
    r->envelope[r->envelope_len] = '\0';
}

static int sq_render_get(struct cairn_store *s, const char *site,
                         struct cairn_render_rec *out, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_RENDER_GET);
    int rc;

    bind_text(st, 1, site);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_render(st, 1, out);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return cairn_diag_set(d, CAIRN_ENOENT, "site %s: no desired state",
                              site);
    return rc == SQLITE_ROW ? 0 : db_err(q, d, "read render");
}

static int history_put(struct sq *q, const struct cairn_render_rec *r,
                       int removed, struct cairn_diag *d)
{
    sqlite3_stmt *st = use(q, S_HISTORY_PUT);

    bind_text(st, 1, r->site);
    sqlite3_bind_int64(st, 2, r->generation);
    bind_text(st, 3, r->commit);
    bind_text(st, 4, removed ? NULL : r->content_sha256);
    bind_text(st, 5, removed ? NULL : r->payload_sha256);
    if (!removed) {
        sqlite3_bind_int64(st, 6, r->issued);
        sqlite3_bind_int64(st, 7, r->expires);
    }
    bind_text(st, 8, removed ? NULL : r->models);
    sqlite3_bind_int(st, 9, removed);
    return run(q, st, "record history", d);
}

static int sq_render_put(struct cairn_store *s,
                         const struct cairn_render_rec *r, int history,
                         struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_RENDER_PUT);
    int rc;

    bind_text(st, 1, r->site);
    sqlite3_bind_int64(st, 2, r->generation);
    bind_text(st, 3, r->commit);
    bind_text(st, 4, r->content_sha256);
    bind_text(st, 5, r->payload_sha256);
    sqlite3_bind_int64(st, 6, r->issued);
    sqlite3_bind_int64(st, 7, r->expires);
    sqlite3_bind_int64(st, 8, r->refresh_at);
    bind_text(st, 9, r->models ? r->models : "");
    sqlite3_bind_blob(st, 10, r->envelope, (int)r->envelope_len, SQLITE_STATIC);
    rc = run(q, st, "write render", d);
    if (rc == 0 && history)
        rc = history_put(q, r, 0, d);
    return rc;
}

static int sq_generation_max(struct cairn_store *s, const char *site,
                             int64_t *out, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = use(q, S_GEN_MAX);
    int rc;

    bind_text(st, 1, site);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0); /* NULL reads as 0 */
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : db_err(q, d, "read generations");
}

static int sq_render_remove(struct cairn_store *s, const char *site,
                            const char *commit, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    struct cairn_render_rec r;
    int64_t gen = 0;
    int rc;

    rc = sq_generation_max(s, site, &gen, d);
    if (rc)
        return rc;
    if (gen == 0)
        return cairn_diag_set(d, CAIRN_ENOENT, "site %s: no desired state",
                              site);
    bind_text(use(q, S_RENDER_DEL), 1, site);
    rc = run(q, q->st[S_RENDER_DEL], "remove render", d);
    if (rc)
        return rc;
    if (sqlite3_changes(q->db) == 0)
        return cairn_diag_set(d, CAIRN_ENOENT, "site %s: no desired state",
                              site);
    /* the removal takes a generation number of its own, so that the
     * history stays one row per (site, generation) */
    memset(&r, 0, sizeof(r));
    snprintf(r.site, sizeof(r.site), "%s", site);
    snprintf(r.commit, sizeof(r.commit), "%s", commit);
    r.generation = gen + 1;
    return history_put(q, &r, 1, d);
}

static int sq_render_scan(struct cairn_store *s, int with_envelope,
                          int64_t due_before, size_t max,
                          cairn_store_render_cb cb, void *arg,
                          struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = NULL;
    char *sql = cairn_xasprintf(
        "SELECT site, generation, commit_sha, content_sha256, payload_sha256, "
        "issued,"
        " expires, refresh_at, models%s FROM renders%s ORDER BY %s LIMIT %lld",
        with_envelope ? ", envelope" : "",
        due_before ? " WHERE refresh_at < ?1" : "",
        due_before ? "refresh_at, site" : "site", max ? (long long)max : -1LL);
    int rc = 0, step;

    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(q, d, "scan renders");
        goto out;
    }
    if (due_before)
        sqlite3_bind_int64(st, 1, due_before);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct cairn_render_rec r;

        read_render(st, with_envelope, &r);
        rc = cb(&r, arg);
        cairn_render_rec_free(&r);
        if (rc)
            goto out;
    }
    if (step != SQLITE_DONE)
        rc = db_err(q, d, "scan renders");
out:
    sqlite3_finalize(st);
    free(sql);
    return rc;
}

static int sq_generations_scan(struct cairn_store *s, cairn_store_gen_cb cb,
                               void *arg, struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    sqlite3_stmt *st = NULL;
    int rc = 0, step;

    if (sqlite3_prepare_v2(q->db,
                           "SELECT site, max(generation) FROM render_history"
                           " GROUP BY site ORDER BY site",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(q, d, "scan generations");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = cb((const char *)sqlite3_column_text(st, 0),
                sqlite3_column_int64(st, 1), arg);
        if (rc)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(q, d, "scan generations");
    sqlite3_finalize(st);
    return rc;
}

static int sq_count(struct cairn_store *s, const char *what, int64_t *out,
                    struct cairn_diag *d)
{
    static const char *const tables[][2] = {
        {"commits", "SELECT count(*) FROM commits"},
        {"renders", "SELECT count(*) FROM renders"},
        {"history", "SELECT count(*) FROM render_history"},
    };
    struct sq *q = SQ(s);
    sqlite3_stmt *st;
    int rc = CAIRN_EINVAL;

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(tables); i++) {
        if (strcmp(what, tables[i][0]) != 0)
            continue;
        if (sqlite3_prepare_v2(q->db, tables[i][1], -1, &st, NULL) != SQLITE_OK)
            return db_err(q, d, "count");
        rc = sqlite3_step(st) == SQLITE_ROW ? 0 : db_err(q, d, "count");
        if (rc == 0)
            *out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return rc;
    }
    return cairn_diag_set(d, rc, "count: unknown table %s", what);
}

static void sq_close(struct cairn_store *s)
{
    struct sq *q = SQ(s);

    sq_rollback(s);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

/* Most recently processed first: INSERT OR REPLACE gives a re-processed
 * commit a new rowid. */
static int sq_commit_list(struct cairn_store *s, size_t max,
                          cairn_store_commit_cb cb, void *arg,
                          struct cairn_diag *d)
{
    struct sq *q = SQ(s);
    struct cairn_commit_rec r;
    sqlite3_stmt *st;
    int rc = 0, step = SQLITE_DONE;

    if (sqlite3_prepare_v2(
            q->db,
            "SELECT sha, seen, signer, principal, accepted, error,"
            " sites_changed FROM commits ORDER BY rowid DESC LIMIT ?1",
            -1, &st, NULL) != SQLITE_OK)
        return db_err(q, d, "list commits");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(max ? max : 100));
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&r, 0, sizeof(r));
        copy_col(st, 0, r.sha, sizeof(r.sha));
        r.seen = sqlite3_column_int64(st, 1);
        copy_col(st, 2, r.signer, sizeof(r.signer));
        r.principal = (const char *)sqlite3_column_text(st, 3);
        r.accepted = sqlite3_column_int(st, 4);
        r.error = (const char *)sqlite3_column_text(st, 5);
        r.sites_changed = sqlite3_column_int64(st, 6);
        rc = cb(&r, arg);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(q, d, "list commits");
    sqlite3_finalize(st);
    return rc;
}

static const struct cairn_store_ops sqlite_ops = {
    "sqlite",          sq_begin,
    sq_commit,         sq_rollback,
    sq_commit_put,     sq_commit_get,
    sq_head_get,       sq_head_set,
    sq_render_get,     sq_render_put,
    sq_render_remove,  sq_render_scan,
    sq_generation_max, sq_generations_scan,
    sq_count,          sq_close,
    sq_commit_list,
};

/* ---- opening and migrating -------------------------------------------- */

static int user_version(struct sq *q, int *out, struct cairn_diag *d)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(q, d, "read schema version");
    rc = sqlite3_step(st) == SQLITE_ROW ? 0
                                        : db_err(q, d, "read schema version");
    if (rc == 0)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Each step and its new user_version commit together. */
static int migrate(struct sq *q, struct cairn_diag *d)
{
    int v = 0, rc = user_version(q, &v, d);

    if (rc)
        return rc;
    if (v > CAIRN_STORE_SCHEMA_VERSION)
        return cairn_diag_set(d, CAIRN_EDB,
                              "%s: schema version %d is newer than this "
                              "controller's %d",
                              q->path, v, CAIRN_STORE_SCHEMA_VERSION);
    for (; v < CAIRN_STORE_SCHEMA_VERSION; v++) {
        char *sql = cairn_xasprintf(
            "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
            migrations[v], v + 1);
        char *err = NULL;

        rc = sqlite3_exec(q->db, sql, NULL, NULL, &err);
        free(sql);
        if (rc != SQLITE_OK) {
            rc = cairn_diag_set(d, CAIRN_EDB, "%s: migration to schema %d: %s",
                                q->path, v + 1, err ? err : "failed");
            sqlite3_free(err);
            sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

static int configure(struct sq *q, struct cairn_diag *d)
{
    char *err = NULL;

    sqlite3_busy_timeout(q->db, 5000);
    if (sqlite3_exec(q->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     " PRAGMA foreign_keys=ON;",
                     NULL, NULL, &err) != SQLITE_OK) {
        int rc = cairn_diag_set(d, CAIRN_EDB, "%s: %s", q->path,
                                err ? err : "pragma");

        sqlite3_free(err);
        return rc;
    }
    return 0;
}

int cairn_store_sqlite_open(const char *path, struct cairn_store **out,
                            struct cairn_diag *d)
{
    struct sq *q = cairn_xcalloc(1, sizeof(*q));
    int rc;

    q->base.ops = &sqlite_ops;
    q->path = cairn_xstrdup(path);
    if (sqlite3_open_v2(path, &q->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_err(q, d, "open");
        goto fail;
    }
    rc = configure(q, d);
    if (rc == 0)
        rc = migrate(q, d);
    for (int i = 0; i < S_COUNT && rc == 0; i++)
        if (sqlite3_prepare_v3(q->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &q->st[i],
                               NULL) != SQLITE_OK)
            rc = db_err(q, d, "prepare");
    if (rc)
        goto fail;
    *out = &q->base;
    return 0;
fail:
    sq_close(&q->base);
    return rc;
}
