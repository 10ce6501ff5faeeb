/* Audit queries over the store and records databases (store_audit.h). */
#include "store_audit.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/mem.h"

#define BUSY_MS 5000

/* The trigger copies the envelope in the render's own transaction. Its
 * statement avoids any conflict clause of its own: a trigger fired by
 * INSERT OR REPLACE (the store's) would otherwise take REPLACE for it too,
 * and overwrite a generation's first envelope with its re-issues. */
static const char *const install_sql =
    "CREATE TABLE IF NOT EXISTS audit_desired("
    "  site TEXT NOT NULL, generation INTEGER NOT NULL, commit_sha TEXT NOT "
    "NULL,"
    "  issued INTEGER NOT NULL, envelope BLOB NOT NULL,"
    "  PRIMARY KEY(site, generation)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS audit_desired_keep AFTER INSERT ON renders"
    " BEGIN INSERT INTO audit_desired(site, generation, commit_sha, issued, "
    "envelope)"
    "  SELECT NEW.site, NEW.generation, NEW.commit_sha, NEW.issued, "
    "NEW.envelope"
    "  WHERE NOT EXISTS (SELECT 1 FROM audit_desired"
    "   WHERE site = NEW.site AND generation = NEW.generation); END;"
    "INSERT INTO audit_desired(site, generation, commit_sha, issued, envelope)"
    " SELECT site, generation, commit_sha, issued, envelope FROM renders r"
    " WHERE NOT EXISTS (SELECT 1 FROM audit_desired a"
    "  WHERE a.site = r.site AND a.generation = r.generation);";

char *cairn_store_audit_path(const char *url)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return cairn_xstrdup(url + 7);
    if (strstr(url, "://") || strncmp(url, "postgres", 8) == 0)
        return NULL;
    return cairn_xstrdup(url);
}

static int db_err(sqlite3 *db, const char *path, const char *what,
                  struct cairn_diag *d)
{
    return cairn_diag_set(d, CAIRN_EDB, "%s: %s: %s", path, what,
                          db ? sqlite3_errmsg(db) : "cannot open");
}

int cairn_store_audit_install(const char *path, struct cairn_diag *d)
{
    sqlite3 *db = NULL;
    int rc = 0;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        rc = db_err(db, path, "open", d);
    else if (sqlite3_busy_timeout(db, BUSY_MS) != SQLITE_OK ||
             sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(db, path, "begin", d);
    else if (sqlite3_exec(db, install_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(db, path, "install the audit trail", d);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    } else if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(db, path, "commit", d);
    sqlite3_close(db);
    return rc;
}

struct cairn_store_audit {
    sqlite3 *store, *records;
    char *store_path, *records_path;
};

static int open_ro(const char *path, sqlite3 **out, struct cairn_diag *d)
{
    sqlite3 *db = NULL;

    *out = NULL;
    if (access(path, F_OK) != 0)
        return 0; /* not created yet: nothing to list */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, BUSY_MS) != SQLITE_OK) {
        int rc = db_err(db, path, "open", d);

        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

int cairn_store_audit_open(const char *store_path, const char *records_path,
                           struct cairn_store_audit **out, struct cairn_diag *d)
{
    struct cairn_store_audit *a = cairn_xcalloc(1, sizeof(*a));
    int rc;

    a->store_path = cairn_xstrdup(store_path);
    a->records_path = cairn_xstrdup(records_path);
    rc = open_ro(store_path, &a->store, d);
    if (rc == 0)
        rc = open_ro(records_path, &a->records, d);
    if (rc) {
        cairn_store_audit_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void cairn_store_audit_close(struct cairn_store_audit *a)
{
    if (!a)
        return;
    sqlite3_close(a->store);
    sqlite3_close(a->records);
    free(a->store_path);
    free(a->records_path);
    free(a);
}

static const char *text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? (const char *)t : "";
}

/* Does db have table name (the audit table is missing on a store that was
 * never installed: generations are then listed without envelopes). */
static int has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int yes = 0;

    if (sqlite3_prepare_v2(
            db,
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

static int gen_row(sqlite3_stmt *st, cairn_audit_gen_cb cb, void *arg)
{
    struct cairn_audit_gen g;

    memset(&g, 0, sizeof(g));
    g.generation = sqlite3_column_int64(st, 0);
    g.commit = text(st, 1);
    g.issued = sqlite3_column_int64(st, 2);
    g.expires = sqlite3_column_int64(st, 3);
    g.models = text(st, 4);
    g.removed = sqlite3_column_int(st, 5);
    if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
        g.envelope = (const char *)sqlite3_column_blob(st, 6);
        g.envelope_len = (size_t)sqlite3_column_bytes(st, 6);
        g.envelope = g.envelope ? g.envelope : "";
    }
    return cb(&g, arg);
}

/* Run a listing query (?1 site, ?2 after, ?3 limit + 1): rows to row(),
 * one past the limit only sets *more. */
static int listing(sqlite3 *db, const char *path, const char *sql,
                   const char *site, int64_t after, size_t limit,
                   int (*row)(sqlite3_stmt *, void *, void *), void *cb,
                   void *arg, int *more, struct cairn_diag *d)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int rc = 0, step = SQLITE_DONE;

    *more = 0;
    if (!db)
        return 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(db, path, "audit query", d);
    sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == limit) {
            *more = 1;
            break;
        }
        rc = row(st, cb, arg);
    }
    if (rc == 0 && !*more && step != SQLITE_DONE)
        rc = db_err(db, path, "audit query", d);
    sqlite3_finalize(st);
    return rc;
}

static int gen_row_cb(sqlite3_stmt *st, void *cb, void *arg)
{
    return gen_row(st, *(cairn_audit_gen_cb *)cb, arg);
}

int cairn_store_audit_generations(struct cairn_store_audit *a, const char *site,
                                  int64_t after, size_t limit,
                                  cairn_audit_gen_cb cb, void *arg, int *more,
                                  struct cairn_diag *d)
{
    const char *sql =
        a->store && has_table(a->store, "audit_desired")
            ? "SELECT h.generation, h.commit_sha, coalesce(h.issued, 0), "
              "coalesce(h.expires, 0),"
              " coalesce(h.models, ''), h.removed, a.envelope FROM "
              "render_history h"
              " LEFT JOIN audit_desired a ON a.site = h.site AND a.generation "
              "= h.generation"
              " WHERE h.site = ?1 AND h.generation > ?2 ORDER BY h.generation "
              "LIMIT ?3"
            : "SELECT generation, commit_sha, coalesce(issued, 0), "
              "coalesce(expires, 0),"
              " coalesce(models, ''), removed, NULL FROM render_history"
              " WHERE site = ?1 AND generation > ?2 ORDER BY generation LIMIT "
              "?3";

    return listing(a->store, a->store_path, sql, site, after, limit, gen_row_cb,
                   &cb, arg, more, d);
}

static int report_row_cb(sqlite3_stmt *st, void *cb, void *arg)
{
    struct cairn_audit_report r;

    r.seq = sqlite3_column_int64(st, 0);
    r.received = sqlite3_column_int64(st, 1);
    r.envelope = text(st, 2);
    r.envelope_len = (size_t)sqlite3_column_bytes(st, 2);
    return (*(cairn_audit_report_cb *)cb)(&r, arg);
}

int cairn_store_audit_reports(struct cairn_store_audit *a, const char *site,
                              int64_t after, size_t limit,
                              cairn_audit_report_cb cb, void *arg, int *more,
                              struct cairn_diag *d)
{
    return listing(a->records, a->records_path,
                   "SELECT seq, received, envelope FROM reports WHERE site = "
                   "?1 AND seq > ?2"
                   " ORDER BY seq LIMIT ?3",
                   site, after, limit, report_row_cb, &cb, arg, more, d);
}

int cairn_store_audit_site_key(struct cairn_store_audit *a, const char *site,
                               char **key, char commit[41],
                               struct cairn_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc = CAIRN_ENOENT;

    if (!a->records)
        return rc;
    if (sqlite3_prepare_v2(a->records,
                           "SELECT public_key, commit_sha FROM site_keys"
                           " WHERE site = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(a->records, a->records_path, "site key", d);
    sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        *key = cairn_xstrdup(text(st, 0));
        snprintf(commit, 41, "%s", text(st, 1));
        rc = 0;
        break;
    case SQLITE_DONE:
        break;
    default:
        rc = db_err(a->records, a->records_path, "site key", d);
    }
    sqlite3_finalize(st);
    return rc;
}
