/* The daemon's table of sites (daemon_int.h): what each one is served and
 * what it last reported. Loop thread only, except the envelope helpers. */
#include <stdlib.h>
#include <string.h>

#include "cairn/json.h"
#include "cairn/mem.h"
#include "daemon_int.h"

/* ---- envelopes
 * ------------------------------------------------------------------ */

struct cairn__env *cairn__env_new(int64_t generation, int64_t issued,
                                  const char *json, size_t len)
{
    struct cairn__env *e = cairn_xmalloc(sizeof(*e) + len + 1);

    e->refs = 1;
    e->generation = generation;
    e->issued = issued;
    snprintf(e->etag, sizeof(e->etag), "\"%lld.%lld\"", (long long)generation,
             (long long)issued);
    e->len = len;
    memcpy(e->data, json, len);
    e->data[len] = '\0';
    return e;
}

void cairn__env_ref(struct cairn__env *e)
{
    e->refs++;
}

void cairn__env_unref(struct cairn__env *e)
{
    if (e && --e->refs == 0)
        free(e);
}

/* ---- the table
 * -------------------------------------------------------------------- */

struct cairn__site *cairn__site_get(struct cairn__ctrl *c, const char *name)
{
    return cairn__strmap_get(&c->sites, name);
}

struct cairn__site *cairn__site_get_or_add(struct cairn__ctrl *c,
                                           const char *name)
{
    struct cairn__site *s = cairn__strmap_get(&c->sites, name);

    if (s)
        return s;
    s = cairn_xcalloc(1, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->models = cairn_xstrdup("");
    cairn__strmap_put(&c->sites, s->name, s);
    c->sorted_dirty = 1;
    return s;
}

void cairn__site_set_env(struct cairn__ctrl *c, struct cairn__site *s,
                         struct cairn__env *env, const char *commit,
                         const char *models)
{
    int had = s->env != NULL;

    cairn__env_unref(s->env);
    s->env = env;
    snprintf(s->commit, sizeof(s->commit), "%s", commit ? commit : "");
    free(s->models);
    s->models = cairn_xstrdup(models ? models : "");
    if (had != (env != NULL))
        c->sorted_dirty = 1;
    if (env && s->waiters)
        cairn__desired_wake(c, s);
}

void cairn__site_add_seq(struct cairn__site *s, int64_t seq, const char *sha)
{
    struct cairn__seq *e = &s->recent[s->recent_pos];

    e->seq = seq;
    snprintf(e->sha, sizeof(e->sha), "%s", sha);
    s->recent_pos = (s->recent_pos + 1) % CAIRN__RECENT_SEQS;
    if (s->nrecent < CAIRN__RECENT_SEQS)
        s->nrecent++;
    if (seq > s->high_seq)
        s->high_seq = seq;
}

const char *cairn__site_seq_sha(const struct cairn__site *s, int64_t seq)
{
    for (unsigned i = 0; i < s->nrecent; i++)
        if (s->recent[i].seq == seq)
            return s->recent[i].sha;
    return NULL;
}

/* ---- status
 * ------------------------------------------------------------------------ */

static int workload_unhealthy(json_t *w)
{
    const char *state = json_string_value(json_object_get(w, "state"));
    const char *health = json_string_value(json_object_get(w, "health"));

    return (state && (strcmp(state, "failed") == 0 ||
                      strcmp(state, "crashloop") == 0)) ||
           (health && strcmp(health, "unhealthy") == 0);
}

/* The report's "Updating" condition is True: the agent applied a document
 * and its health gate has not decided yet. */
static int updating_condition(json_t *conditions)
{
    json_t *c;
    size_t i;

    json_array_foreach(conditions, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));

        if (type && st && strcmp(type, "Updating") == 0)
            return strcmp(st, "True") == 0;
    }
    return 0;
}

/* "name@version ..." of the running workloads' models. */
static char *running_models(json_t *workloads)
{
    struct cairn_buf b;
    json_t *w;
    size_t i;

    cairn_buf_init(&b, 64u << 10);
    json_array_foreach(workloads, i, w)
    {
        json_t *m = json_object_get(w, "model");
        const char *state = json_string_value(json_object_get(w, "state"));
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *ver = json_string_value(json_object_get(m, "version"));

        if (!name || !ver || !state || strcmp(state, "running") != 0)
            continue;
        if (cairn_buf_appendf(&b, "%s%s@%s", b.len ? " " : "", name, ver) != 0)
            break;
    }
    if (!b.data)
        return cairn_xstrdup("");
    return cairn_buf_steal(&b, NULL);
}

/* ---- failures
 *
 * A failure record says that a generation the controller served failed at
 * the site: {"type", "generation", "reason"?, "time", "seq"} from the
 * report's event. It is kept apart from last_error (which a later CrashLoop
 * or an expiry warning replaces) and never cleared: whether it still
 * describes the site is decided when the state is asked for, against what
 * is served and applied then. */

static enum cairn__site_state failure_kind(const char *type)
{
    if (!type)
        return CAIRN__ST_OK;
    if (strcmp(type, "RolledBack") == 0)
        return CAIRN__ST_ROLLEDBACK;
    if (strcmp(type, "DownloadFailed") == 0 || strcmp(type, "Rejected") == 0 ||
        strcmp(type, "DesiredStateExpired") == 0)
        return CAIRN__ST_FAILED;
    return CAIRN__ST_OK;
}

char *cairn__failure_of(const char *payload, int64_t served)
{
    json_t *p = json_loads(payload, 0, NULL), *ev = json_object_get(p, "event");
    json_t *reason = json_object_get(ev, "reason"), *f;
    const char *type = json_string_value(json_object_get(ev, "type"));
    int64_t gen = json_integer_value(json_object_get(ev, "generation"));
    int64_t applied = json_integer_value(
        json_object_get(json_object_get(p, "generation"), "applied"));
    char *out = NULL;

    if (failure_kind(type) == CAIRN__ST_OK)
        goto out;
    /* A refused document: agents name the generation the ETag gave for
     * it; one that sends 0 is taken to mean the one served now. An event
     * about the generation the site runs (its document expired) is a
     * warning, not a failed update. */
    if (gen <= 0)
        gen = served;
    if (gen <= 0 || gen <= applied)
        goto out;
    f = json_pack("{s:s,s:I,s:O?,s:O?}", "type", type, "generation",
                  (json_int_t)gen, "time", json_object_get(p, "time"), "seq",
                  json_object_get(p, "seq"));
    if (f && json_is_string(reason))
        json_object_set(f, "reason", reason);
    out = f ? cairn_json_canonical(f) : NULL;
    json_decref(f);
out:
    json_decref(p);
    return out;
}

static void take_failure(struct cairn__site *s, const char *failure)
{
    json_t *f = json_loads(failure, 0, NULL);

    free(s->failure);
    s->failure = cairn_xstrdup(failure);
    s->failed_gen = json_integer_value(json_object_get(f, "generation"));
    s->failed_as = failure_kind(json_string_value(json_object_get(f, "type")));
    json_decref(f);
}

/* The failure is the site's state: it is about the generation served now,
 * and no report since has applied it (a newer one served: "updating"
 * until the site reports on that one). */
static int failure_current(const struct cairn__site *s)
{
    return s->failure && s->failed_as != CAIRN__ST_OK && s->env &&
           s->failed_gen == s->env->generation && s->applied < s->failed_gen;
}

json_t *cairn__site_failure_json(const struct cairn__ctrl *c,
                                 const struct cairn__site *s, int64_t now)
{
    enum cairn__site_state st = cairn__site_state(c, s, now);

    if (st != CAIRN__ST_ROLLEDBACK && st != CAIRN__ST_FAILED)
        return NULL;
    return json_loads(s->failure, 0, NULL);
}

void cairn__site_set_status(struct cairn__site *s, int64_t seq,
                            int64_t received, const char *payload,
                            const char *last_error, const char *failure)
{
    json_t *p = json_loads(payload, 0, NULL), *w;
    size_t i;

    free(s->status);
    s->status = cairn_xstrdup(payload);
    if (last_error) {
        free(s->last_error);
        s->last_error = cairn_xstrdup(last_error);
    }
    if (failure)
        take_failure(s, failure);
    s->status_seq = seq;
    s->report_received = received;
    s->applied = json_integer_value(
        json_object_get(json_object_get(p, "generation"), "applied"));
    free(s->running);
    s->running = running_models(json_object_get(p, "workloads"));
    s->unhealthy = 0;
    json_array_foreach(json_object_get(p, "workloads"), i, w) s->unhealthy |=
        workload_unhealthy(w);
    s->in_update = updating_condition(json_object_get(p, "conditions"));
    json_decref(p);
}

enum cairn__site_state cairn__site_state(const struct cairn__ctrl *c,
                                         const struct cairn__site *s,
                                         int64_t now)
{
    if (!s->status)
        return CAIRN__ST_UNKNOWN;
    if (now - s->report_received > 3 * c->cfg.report_interval)
        return CAIRN__ST_OFFLINE;
    /* before degraded: what the operator must act on is the update that
     * did not land (the site runs its last-known-good, or the old one) */
    if (failure_current(s))
        return s->failed_as;
    if (s->unhealthy)
        return CAIRN__ST_DEGRADED;
    /* applied but not yet through its health gate: not "ok" yet */
    if (s->in_update || (s->env && s->applied < s->env->generation))
        return CAIRN__ST_UPDATING;
    return CAIRN__ST_OK;
}

const char *cairn__site_state_name(enum cairn__site_state st)
{
    static const char *const names[CAIRN__ST_COUNT] = {
        "ok",      "updating",   "degraded", "offline",
        "unknown", "rolledback", "failed"};

    return (unsigned)st < CAIRN__ST_COUNT ? names[st] : "unknown";
}

/* ---- the sorted view
 * ------------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(struct cairn__site *const *)a)->name,
                  (*(struct cairn__site *const *)b)->name);
}

struct cairn__site **cairn__sites_sorted(struct cairn__ctrl *c, size_t *n)
{
    size_t pos = 0, k = 0;
    const char *key;
    void *v;

    if (c->sorted_dirty || !c->sorted) {
        free(c->sorted);
        c->sorted = cairn_xcalloc(c->sites.n + 1, sizeof(*c->sorted));
        while (cairn__strmap_next(&c->sites, &pos, &key, &v)) {
            struct cairn__site *s = v;

            if (s->has_key || s->env)
                c->sorted[k++] = s;
        }
        qsort(c->sorted, k, sizeof(*c->sorted), by_name);
        c->nsorted = k;
        c->sorted_dirty = 0;
    }
    *n = c->nsorted;
    return c->sorted;
}

void cairn__sites_free(struct cairn__ctrl *c)
{
    size_t pos = 0;
    const char *key;
    void *v;

    while (cairn__strmap_next(&c->sites, &pos, &key, &v)) {
        struct cairn__site *s = v;

        cairn__env_unref(s->env);
        free(s->models);
        free(s->status);
        free(s->last_error);
        free(s->failure);
        free(s->running);
        free(s);
    }
    cairn__strmap_free(&c->sites);
    free(c->sorted);
    c->sorted = NULL;
}
