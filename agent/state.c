#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "util.h"

#define STATE_KIND "cairn.agent-state/v1"

static const char *const phase_names[] = {"none", "fetch", "apply", "gate",
                                          "rollback"};

const char *cairn_phase_name(enum cairn_phase p)
{
    return (unsigned)p < CAIRN_ARRAY_LEN(phase_names) ? phase_names[p] : "none";
}

void cairn_state_init(struct cairn_state *s)
{
    memset(s, 0, sizeof(*s));
}

void cairn_state_free(struct cairn_state *s)
{
    if (!s)
        return;
    json_decref(s->desired);
    json_decref(s->applied);
    json_decref(s->lkg);
    s->desired = s->applied = s->lkg = NULL;
}

void cairn_state_set_doc(json_t **slot, json_t *v)
{
    json_t *old = *slot;

    *slot = json_incref(v);
    json_decref(old);
}

int64_t cairn_state_doc_gen(const json_t *doc)
{
    json_t *g = json_object_get(doc, "generation");

    return json_is_integer(g) ? (int64_t)json_integer_value(g) : 0;
}

int cairn_state_is_failed(const struct cairn_state *s, int64_t gen)
{
    for (size_t i = 0; i < s->nfailed; i++)
        if (s->failed[i] == gen)
            return 1;
    return 0;
}

void cairn_state_add_failed(struct cairn_state *s, int64_t gen)
{
    if (cairn_state_is_failed(s, gen))
        return;
    if (s->nfailed == CAIRN_STATE_MAX_FAILED) {
        memmove(s->failed, s->failed + 1,
                (s->nfailed - 1) * sizeof(s->failed[0]));
        s->nfailed--;
    }
    s->failed[s->nfailed++] = gen;
}

static json_t *doc_or_null(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

char *cairn_state_render(const struct cairn_state *s)
{
    json_t *root = json_object(), *failed = json_array(), *pending;
    char issued[CAIRN_TIME_LEN];
    char *out;

    for (size_t i = 0; i < s->nfailed; i++)
        json_array_append_new(failed, json_integer(s->failed[i]));
    if (s->phase == CAIRN_PHASE_NONE) {
        pending = json_null();
    } else {
        pending = json_pack("{s:I,s:s,s:I,s:s}", "generation",
                            (json_int_t)s->pending_gen, "phase",
                            cairn_phase_name(s->phase), "attempts",
                            (json_int_t)s->attempts, "reason", s->reason);
    }
    cairn__time_format(s->accepted_issued, issued);
    json_object_set_new(root, "kind", json_string(STATE_KIND));
    json_object_set_new(root, "accepted",
                        json_pack("{s:I,s:s}", "generation",
                                  (json_int_t)s->accepted_gen, "issued",
                                  issued));
    json_object_set_new(root, "desired", doc_or_null(s->desired));
    json_object_set_new(root, "applied", doc_or_null(s->applied));
    json_object_set_new(root, "lastKnownGood", doc_or_null(s->lkg));
    json_object_set_new(root, "failed", failed);
    json_object_set_new(root, "pending", pending);
    json_object_set_new(root, "reportSeq", json_integer(s->report_seq));
    json_object_set_new(root, "lastError", json_string(s->last_error));
    out = cairn_json_canonical(root);
    json_decref(root);
    return out;
}

int cairn_state_save(const char *state_dir, const struct cairn_state *s,
                     struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/" CAIRN_STATE_FILE, state_dir);
    char *text = cairn_state_render(s);
    int rc = cairn_fs_write_durable(path, text, strlen(text), 0600, d);

    free(text);
    free(path);
    return rc;
}

/* ---- strict load ------------------------------------------------------- */

#define BAD(d, ...) cairn_diag_set((d), CAIRN_ESCHEMA, __VA_ARGS__)

static int get_int(json_t *obj, const char *key, int64_t min, int64_t *out,
                   struct cairn_diag *d)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < min)
        return BAD(d, "%s: expected an integer >= %lld", key, (long long)min);
    *out = json_integer_value(v);
    return 0;
}

static int get_text(json_t *obj, const char *key, char *out, size_t n,
                    struct cairn_diag *d)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v) || json_string_length(v) >= n)
        return BAD(d, "%s: expected a string under %zu bytes", key, n);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* Exactly the keys listed (NULL-terminated), no others. */
static int only_keys(json_t *obj, const char *where, const char *const *keys,
                     struct cairn_diag *d)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj))
        return BAD(d, "%s: expected an object", where);
    json_object_foreach(obj, k, v)
    {
        size_t i;
        for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
            ;
        if (!keys[i])
            return BAD(d, "%s: unknown field \"%s\"", where, k);
    }
    for (size_t i = 0; keys[i]; i++)
        if (!json_object_get(obj, keys[i]))
            return BAD(d, "%s: missing field \"%s\"", where, keys[i]);
    return 0;
}

static int load_doc(json_t *root, const char *key, json_t **slot,
                    struct cairn_diag *d)
{
    json_t *v = json_object_get(root, key);

    if (json_is_null(v))
        return 0;
    if (!json_is_object(v) || cairn_state_doc_gen(v) < 1)
        return BAD(d, "%s: expected a desired-state payload or null", key);
    *slot = json_incref(v);
    return 0;
}

static int load_failed(json_t *root, struct cairn_state *s,
                       struct cairn_diag *d)
{
    json_t *a = json_object_get(root, "failed"), *v;
    size_t i;

    if (!json_is_array(a) || json_array_size(a) > CAIRN_STATE_MAX_FAILED)
        return BAD(d, "failed: expected an array of at most %d generations",
                   CAIRN_STATE_MAX_FAILED);
    json_array_foreach(a, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return BAD(d, "failed[%zu]: expected a generation", i);
        s->failed[s->nfailed++] = json_integer_value(v);
    }
    return 0;
}

static int load_pending(json_t *root, struct cairn_state *s,
                        struct cairn_diag *d)
{
    static const char *const keys[] = {"generation", "phase", "attempts",
                                       "reason", NULL};
    json_t *p = json_object_get(root, "pending");
    const char *name;
    int rc;

    if (json_is_null(p))
        return 0;
    if ((rc = only_keys(p, "pending", keys, d)) != 0 ||
        (rc = get_int(p, "generation", 1, &s->pending_gen, d)) != 0 ||
        (rc = get_int(p, "attempts", 0, &s->attempts, d)) != 0 ||
        (rc = get_text(p, "reason", s->reason, sizeof(s->reason), d)) != 0)
        return rc;
    name = json_string_value(json_object_get(p, "phase"));
    for (size_t i = 1; name && i < CAIRN_ARRAY_LEN(phase_names); i++)
        if (strcmp(name, phase_names[i]) == 0)
            s->phase = (enum cairn_phase)i;
    if (s->phase == CAIRN_PHASE_NONE)
        return BAD(d, "pending.phase: expected fetch, apply, gate or rollback");
    if (!s->desired || cairn_state_doc_gen(s->desired) != s->pending_gen)
        return BAD(d, "pending.generation %lld is not the desired document's",
                   (long long)s->pending_gen);
    return 0;
}

static int load_accepted(json_t *root, struct cairn_state *s,
                         struct cairn_diag *d)
{
    static const char *const keys[] = {"generation", "issued", NULL};
    json_t *a = json_object_get(root, "accepted");
    char issued[64];
    int rc;

    if ((rc = only_keys(a, "accepted", keys, d)) != 0 ||
        (rc = get_int(a, "generation", 0, &s->accepted_gen, d)) != 0 ||
        (rc = get_text(a, "issued", issued, sizeof(issued), d)) != 0)
        return rc;
    if (cairn__time_parse(issued, &s->accepted_issued) != 0)
        return BAD(d, "accepted.issued: not an RFC 3339 time");
    if (s->desired && cairn_state_doc_gen(s->desired) != s->accepted_gen)
        return BAD(d, "accepted.generation %lld is not the desired document's",
                   (long long)s->accepted_gen);
    return 0;
}

static int load_root(json_t *root, struct cairn_state *s, struct cairn_diag *d)
{
    static const char *const keys[] = {
        "kind",   "accepted", "desired",   "applied",   "lastKnownGood",
        "failed", "pending",  "reportSeq", "lastError", NULL};
    char kind[64];
    int rc;

    if ((rc = only_keys(root, "top level", keys, d)) != 0 ||
        (rc = get_text(root, "kind", kind, sizeof(kind), d)) != 0)
        return rc;
    if (strcmp(kind, STATE_KIND) != 0)
        return BAD(d, "kind: \"%s\" is not " STATE_KIND, kind);
    if ((rc = load_doc(root, "desired", &s->desired, d)) != 0 ||
        (rc = load_doc(root, "applied", &s->applied, d)) != 0 ||
        (rc = load_doc(root, "lastKnownGood", &s->lkg, d)) != 0 ||
        (rc = load_accepted(root, s, d)) != 0 ||
        (rc = load_failed(root, s, d)) != 0 ||
        (rc = load_pending(root, s, d)) != 0 ||
        (rc = get_int(root, "reportSeq", 0, &s->report_seq, d)) != 0 ||
        (rc = get_text(root, "lastError", s->last_error, sizeof(s->last_error),
                       d)) != 0)
        return rc;
    return 0;
}

int cairn_state_load(const char *state_dir, struct cairn_state *out,
                     struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/" CAIRN_STATE_FILE, state_dir);
    struct cairn_state s;
    struct cairn_diag sub;
    char *text = NULL;
    size_t len = 0;
    json_t *root = NULL;
    int rc;

    cairn_state_init(&s);
    cairn_diag_init(&sub);
    rc = cairn_fs_read(path, CAIRN_STATE_CAP, &text, &len, &sub);
    if (rc == CAIRN_ENOENT) {
        *out = s; /* first start */
        rc = 0;
        goto out;
    }
    if (rc) {
        cairn_diag_set(d, rc, "%s", cairn_diag_msg(&sub));
        goto out;
    }
    rc = cairn_json_parse(text, len, CAIRN_STATE_CAP, &root, &sub);
    if (rc == 0)
        rc = load_root(root, &s, &sub);
    if (rc) {
        /* Never a silent fresh start: that would forget the highest
         * accepted generation. A person decides. */
        cairn_diag_set(
            d, rc,
            "%s is corrupt: %s (not starting: inspect it, restore it, or move "
            "it away to start over, which forgets the highest accepted "
            "generation)",
            path, cairn_diag_msg(&sub));
        cairn_state_free(&s);
        goto out;
    }
    *out = s;
out:
    json_decref(root);
    free(text);
    free(path);
    return rc;
}
