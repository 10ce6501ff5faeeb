/* Per-model-version statistics folded inside the records database
 * (modelstats.h, docs/model-versions.md). */
#include "modelstats.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/error.h"
#include "cairn/mem.h"

/* The counter's name without the model labels, which the row already
 * holds: both labels are removed, then the commas they leave (the agent
 * sorts labels, so model_sha256 and model_version are neighbours). */
#define STRIPPED_NAME                                                          \
    "replace(replace(replace(replace(replace(replace(replace(m.key,"           \
    " 'model_version=\"' || w.version || '\"', ''),"                           \
    " 'model_sha256=\"' || coalesce(w.sha, '') || '\"', ''),"                  \
    " ',,', ','), ',,', ','), '{,', '{'), ',}', '}'), '{}', '')"

/* One report's counters into the table; `excluded.last < last` is a worker
 * restart (its counters began again at zero). */
#define FOLD                                                                   \
    "INSERT INTO model_counters(site, workload, model, version, counter,"      \
    "  base, last, updated)"                                                   \
    " SELECT NEW.site, w.name, w.model, w.version, " STRIPPED_NAME ","         \
    "  0, m.value, NEW.received"                                               \
    " FROM (SELECT json_extract(value, '$.name') AS name,"                     \
    "   json_extract(value, '$.model.name') AS model,"                         \
    "   json_extract(value, '$.model.version') AS version,"                    \
    "   json_extract(value, '$.model.sha256') AS sha,"                         \
    "   json_extract(value, '$.metrics') AS metrics"                           \
    "   FROM json_each(NEW.payload, '$.workloads')) AS w,"                     \
    "  json_each(w.metrics) AS m"                                              \
    " WHERE w.name IS NOT NULL AND w.model IS NOT NULL"                        \
    "  AND w.version IS NOT NULL AND m.type IN ('integer', 'real')"            \
    "  AND instr(m.key, '_total{') > 0"                                        \
    "  AND (instr(m.key, '{model_version=\"' || w.version || '\"') > 0"        \
    "   OR instr(m.key, ',model_version=\"' || w.version || '\"') > 0)"        \
    " ON CONFLICT(site, workload, model, version, counter) DO UPDATE SET"      \
    "  base = base + CASE WHEN excluded.last < last THEN last ELSE 0 END,"     \
    "  last = excluded.last, updated = excluded.updated;"

/* The records lane writes site_status with INSERT OR REPLACE (a REPLACE is
 * a delete and an insert) or with an upsert (an update): both paths fold.
 * json_valid keeps a malformed payload from failing the daemon's batch. */
static const char install_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS model_counters("
    "  site TEXT NOT NULL, workload TEXT NOT NULL, model TEXT NOT NULL,"
    "  version TEXT NOT NULL, counter TEXT NOT NULL,"
    "  base REAL NOT NULL, last REAL NOT NULL, updated INTEGER NOT NULL,"
    "  PRIMARY KEY(site, workload, model, version, counter)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS model_counters_fold_insert"
    " AFTER INSERT ON site_status WHEN json_valid(NEW.payload)"
    " BEGIN " FOLD " END;"
    "CREATE TRIGGER IF NOT EXISTS model_counters_fold_update"
    " AFTER UPDATE OF payload ON site_status WHEN json_valid(NEW.payload)"
    " BEGIN " FOLD " END;"
    "COMMIT;";

static int db_err(sqlite3 *db, const char *what, struct cairn_diag *d)
{
    return cairn_diag_set(d, CAIRN_EDB, "model statistics: %s: %s", what,
                          db ? sqlite3_errmsg(db) : "out of memory");
}

static int open_db(const char *path, int flags, sqlite3 **out,
                   struct cairn_diag *d)
{
    sqlite3 *db = NULL;

    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        int rc = db_err(db, path, d);

        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    *out = db;
    return 0;
}

int cairn_modelstats_install(const char *records_path, struct cairn_diag *d)
{
    sqlite3 *db = NULL;
    int rc = open_db(records_path, SQLITE_OPEN_READWRITE, &db, d);

    if (rc)
        return rc;
    if (sqlite3_exec(db, install_sql, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(db, "install", d);
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(db);
    return rc;
}

/* ---- the view ----------------------------------------------------------- */

/* value of label `name` in a counter name, into buf ("" when absent) */
static const char *label(const char *counter, const char *name, char *buf,
                         size_t n)
{
    char pat[64];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "%s=\"", name);
    buf[0] = '\0';
    for (p = strstr(counter, pat); p; p = strstr(p + 1, pat)) {
        if (p[-1] != '{' && p[-1] != ',')
            continue;
        p += strlen(pat);
        e = strchr(p, '"');
        if (e && (size_t)(e - p) < n) {
            memcpy(buf, p, (size_t)(e - p));
            buf[e - p] = '\0';
        }
        break;
    }
    return buf;
}

static int family(const char *counter, const char *name)
{
    size_t n = strlen(name);

    return strncmp(counter, name, n) == 0 &&
           (counter[n] == '\0' || counter[n] == '{');
}

static void add_num(json_t *obj, const char *key, double v)
{
    json_t *old = json_object_get(obj, key);

    json_object_set_new(obj, key,
                        json_real((old ? json_number_value(old) : 0) + v));
}

/* Interpret the example pipeline's counters (docs/xray-worker.md). */
static void tally(json_t *e, const char *counter, double v)
{
    char band[32], truth[32];

    add_num(json_object_get(e, "counters"), counter, v);
    if (family(counter, "xray_images_processed_total"))
        add_num(e, "imagesProcessed", v);
    else if (family(counter, "xray_images_band_total") &&
             *label(counter, "band", band, sizeof(band)))
        add_num(json_object_get(e, "bands"), band, v);
    else if (family(counter, "xray_truth_total") &&
             *label(counter, "band", band, sizeof(band)) &&
             *label(counter, "truth", truth, sizeof(truth))) {
        json_t *r = json_object_get(e, "reviewed");

        add_num(r, "images", v);
        if (strcmp(band, "unknown") == 0)
            return;
        add_num(r, "decided", v);
        if ((strcmp(truth, "PNEUMONIA") == 0 && strcmp(band, "high") == 0) ||
            (strcmp(truth, "NORMAL") == 0 && strcmp(band, "low") == 0))
            add_num(r, "correct", v);
    }
}

static json_t *entry_new(const char *model, const char *version)
{
    return json_pack("{s:s?,s:s,s:[],s:[],s:{},s:f,s:{s:f,s:f,s:f},s:n,"
                     "s:{s:f,s:f,s:f,s:n},s:{s:I,s:I}}",
                     "model", model, "version", version, "sitesRunning",
                     "sitesReported", "counters", "imagesProcessed", 0.0,
                     "bands", "high", 0.0, "low", 0.0, "unknown", 0.0,
                     "unsureRate", "reviewed", "images", 0.0, "decided", 0.0,
                     "correct", 0.0, "accuracy", "uploads", "count",
                     (json_int_t)0, "bytes", (json_int_t)0);
}

/* Rows arrive sorted by (model, version): the entry is the last one or new. */
static json_t *entry_get(json_t *arr, const char *model, const char *version)
{
    json_t *e = json_array_get(arr, json_array_size(arr) - 1);
    const char *m = json_string_value(json_object_get(e, "model"));

    if (e && m && strcmp(m, model) == 0 &&
        strcmp(json_string_value(json_object_get(e, "version")), version) == 0)
        return e;
    e = entry_new(model, version);
    json_array_append_new(arr, e);
    return e;
}

/* Counter sums are whole numbers unless a worker exports fractions. */
static void integers(json_t *obj, const char *except)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v)
    {
        double x = json_number_value(v);

        if (!json_is_real(v))
            continue;
        /* (a hostile worker's 1e300 stays a real: the cast would overflow) */
        if ((!except || strcmp(k, except) != 0) && x > -9e15 && x < 9e15 &&
            x == (double)(json_int_t)x)
            json_object_set_new(obj, k, json_integer((json_int_t)x));
    }
}

/* Counts are whole numbers; JSON readers prefer integers for them. */
static void finish(json_t *e)
{
    json_t *r = json_object_get(e, "reviewed"),
           *b = json_object_get(e, "bands");
    double processed = json_number_value(json_object_get(e, "imagesProcessed"));
    double decided = json_number_value(json_object_get(r, "decided"));

    if (processed > 0)
        json_object_set_new(
            e, "unsureRate",
            json_real(json_number_value(json_object_get(b, "unknown")) /
                      processed));
    if (decided > 0)
        json_object_set_new(
            r, "accuracy",
            json_real(json_number_value(json_object_get(r, "correct")) /
                      decided));
    integers(e, "unsureRate");
    integers(b, NULL);
    integers(r, "accuracy");
    integers(json_object_get(e, "counters"), NULL);
}

static void note_site(json_t *e, const char *site)
{
    json_t *sites = json_object_get(e, "sitesReported");
    size_t n = json_array_size(sites);

    /* rows arrive sorted by site within an entry */
    if (n == 0 ||
        strcmp(json_string_value(json_array_get(sites, n - 1)), site) != 0)
        json_array_append_new(sites, json_string(site));
}

static int read_counters(sqlite3 *db, json_t *arr, struct cairn_diag *d)
{
    static const char sql[] =
        "SELECT model, version, site, counter, base + last FROM model_counters"
        " ORDER BY model, version, site, counter";
    sqlite3_stmt *st = NULL;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(db, "query", d);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *e = entry_get(arr, (const char *)sqlite3_column_text(st, 0),
                              (const char *)sqlite3_column_text(st, 1));

        note_site(e, (const char *)sqlite3_column_text(st, 2));
        tally(e, (const char *)sqlite3_column_text(st, 3),
              sqlite3_column_double(st, 4));
    }
    if (step != SQLITE_DONE)
        rc = db_err(db, "query", d);
    sqlite3_finalize(st);
    return rc;
}

static void add_uploads(json_t *arr, const char *version, json_int_t count,
                        json_int_t bytes)
{
    size_t i;
    json_t *e;
    int found = 0;

    json_array_foreach(arr, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "version")), version))
            continue;
        found = 1;
        json_object_set_new(
            e, "uploads",
            json_pack("{s:I,s:I}", "count", count, "bytes", bytes));
    }
    if (!found) {
        e = entry_new(NULL, version);
        json_object_set_new(
            e, "uploads",
            json_pack("{s:I,s:I}", "count", count, "bytes", bytes));
        json_array_append_new(arr, e);
    }
}

static int read_uploads(sqlite3 *db, json_t *arr, struct cairn_diag *d)
{
    static const char sql[] =
        "SELECT model_version, count(*), coalesce(sum(size), 0) FROM uploads"
        " GROUP BY model_version ORDER BY model_version";
    sqlite3_stmt *st = NULL;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(db, "uploads", d);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        add_uploads(arr, (const char *)sqlite3_column_text(st, 0),
                    sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
    if (step != SQLITE_DONE)
        rc = db_err(db, "uploads", d);
    sqlite3_finalize(st);
    return rc;
}

/* "model@version" -> sites, into the entries (new ones when a version runs
 * that has no counters yet, e.g. a worker that never started). */
static void add_running(json_t *arr, const json_t *running)
{
    const char *key;
    json_t *sites;

    json_object_foreach((json_t *)running, key, sites)
    {
        const char *at = strrchr(key, '@');
        char *model;
        size_t i;
        json_t *e, *hit = NULL;

        if (!at || at == key || !at[1])
            continue;
        model = cairn_xstrndup(key, (size_t)(at - key));
        json_array_foreach(arr, i, e)
        {
            const char *m = json_string_value(json_object_get(e, "model"));

            if (m && strcmp(m, model) == 0 &&
                strcmp(json_string_value(json_object_get(e, "version")),
                       at + 1) == 0)
                hit = e;
        }
        if (!hit) {
            hit = entry_new(model, at + 1);
            json_array_append_new(arr, hit);
        }
        json_object_set(hit, "sitesRunning", sites);
        free(model);
    }
}

static int by_model_version(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *mx = json_string_value(json_object_get(x, "model")),
               *my = json_string_value(json_object_get(y, "model"));
    int c = strcmp(mx ? mx : "", my ? my : "");

    return c ? c
             : strcmp(json_string_value(json_object_get(x, "version")),
                      json_string_value(json_object_get(y, "version")));
}

static json_t *sorted(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = cairn_xcalloc(n ? n : 1, sizeof(*v)), *out = json_array();

    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof(*v), by_model_version);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(arr);
    return out;
}

int cairn_modelstats_query(const char *records_path, const json_t *running,
                           json_t **out, struct cairn_diag *d)
{
    sqlite3 *db = NULL;
    json_t *arr = json_array(), *e;
    size_t i;
    int rc = open_db(records_path, SQLITE_OPEN_READONLY, &db, d);

    if (rc == 0)
        rc = read_counters(db, arr, d);
    if (rc == 0)
        rc = read_uploads(db, arr, d);
    sqlite3_close(db);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    if (running)
        add_running(arr, running);
    json_array_foreach(arr, i, e) finish(e);
    *out = sorted(arr);
    return 0;
}
