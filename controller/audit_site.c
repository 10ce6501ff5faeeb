/*
 * cairnctl audit site: one site's timeline (docs/audit.md "audit site"):
 * the generations the controller served (commit, signer, issued time),
 * the site's own signed reports with each signature checked against the
 * site's key, and which model ran from when to when, derived from those
 * reports alone.
 *
 * The site key comes from the fleet repository when --repo is given
 * (sites/<site>.yaml at each served commit), else from what the controller
 * recorded (the same file at its last accepted commit); the output says
 * which. Controller signatures are checked when --controller-key is given.
 */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"

struct sctx {
    const struct cairn__audit_site_opts *o;
    struct cairn_keyset site_keys, ctrl_keys;
    json_t *keys; /* [{keyid, publicKey, path, commit}] */
    const char *key_source;
    int problems;
};

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static json_t *or_null(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

/* ---- model intervals ------------------------------------------------------
 */

/* A workload runs a model in every state but stopped and failed: a worker
 * that is starting (during its health gate) or crash-looping has had the
 * model loaded, and an audit must not hide that. */
static int runs(json_t *w)
{
    const char *st = str(w, "state");

    return strcmp(st, "stopped") != 0 && strcmp(st, "failed") != 0 &&
           cairn_is_sha256_hex(str(json_object_get(w, "model"), "sha256"));
}

static void close_interval(json_t *out, json_t *cur, json_t *p, int open)
{
    json_object_set(cur, "to", json_object_get(p, "time"));
    json_object_set(cur, "toSeq", json_object_get(p, "seq"));
    json_object_set_new(cur, "open", json_boolean(open));
    json_array_append(out, cur);
}

static json_t *find_workload(json_t *p, const char *name)
{
    json_t *w;
    size_t i;

    json_array_foreach(json_object_get(p, "workloads"), i,
                       w) if (strcmp(str(w, "name"), name) == 0) return w;
    return NULL;
}

static int by_from(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t s1 = json_integer_value(json_object_get(x, "fromSeq"));
    json_int_t s2 = json_integer_value(json_object_get(y, "fromSeq"));

    if (s1 != s2)
        return s1 < s2 ? -1 : 1;
    return strcmp(str(x, "workload"), str(y, "workload"));
}

static json_t *sorted(json_t *arr)
{
    size_t n = json_array_size(arr);
    json_t **v = cairn_xcalloc(n + 1, sizeof(*v)), *out = json_array();

    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof(*v), by_from);
    for (size_t i = 0; i < n; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(arr);
    return out;
}

json_t *cairn__audit_intervals(json_t *payloads)
{
    json_t *out = json_array(), *open = json_object(), *p, *w, *cur,
           *last = NULL, *tmp;
    const char *name;
    size_t i, j;

    json_array_foreach(payloads, i, p)
    {
        json_object_foreach_safe(open, tmp, name, cur)
        {
            json_t *now = find_workload(p, name);

            if (!now || !runs(now) ||
                strcmp(str(json_object_get(now, "model"), "sha256"),
                       str(cur, "sha256")) != 0) {
                close_interval(out, cur, p, 0);
                json_object_del(open, name);
            }
        }
        json_array_foreach(json_object_get(p, "workloads"), j, w)
        {
            json_t *m = json_object_get(w, "model");

            if (!runs(w) || json_object_get(open, str(w, "name")))
                continue;
            json_object_set_new(
                open, str(w, "name"),
                json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "workload",
                          str(w, "name"), "model", str(m, "name"), "version",
                          str(m, "version"), "sha256", str(m, "sha256"), "from",
                          json_object_get(p, "time"), "fromSeq",
                          json_object_get(p, "seq")));
        }
        last = p;
    }
    json_object_foreach(open, name, cur) close_interval(out, cur, last, 1);
    json_decref(open);
    return sorted(out);
}

/* ---- keys -----------------------------------------------------------------
 */

static void add_key(struct sctx *s, const struct cairn_pubkey *pk,
                    const char *commit)
{
    char *line = cairn_pubkey_format(pk);
    char *path = cairn_xasprintf("sites/%s.yaml", s->o->site);

    if (!cairn_keyset_find(&s->site_keys, pk->id)) {
        cairn_keyset_add(&s->site_keys, pk);
        json_array_append_new(s->keys,
                              json_pack("{s:s,s:s,s:s,s:s}", "keyid", pk->id,
                                        "publicKey", line, "path", path,
                                        "commit", commit));
    }
    free(path);
    free(line);
}

static int keys_from_controller(struct sctx *s, json_t *history,
                                struct cairn_diag *d)
{
    json_t *k = json_object_get(history, "siteKey");
    struct cairn_pubkey pk;

    s->key_source = "controller";
    if (!json_is_object(k))
        return 0;
    if (cairn_pubkey_parse(str(k, "publicKey"), &pk, d) != 0) {
        cairn_diag_prefix(d, "the controller's site key");
        return CAIRN_EPARSE;
    }
    add_key(s, &pk, str(k, "commit"));
    return 0;
}

/* sites/<site>.yaml at every commit the controller served from. */
static int keys_from_repo(struct sctx *s, json_t *history, struct cairn_diag *d)
{
    struct cairn_git *g = NULL;
    char *path = cairn_xasprintf("sites/%s.yaml", s->o->site);
    json_t *gen;
    size_t i;
    int rc = cairn_git_open(s->o->repo, NULL, NULL, &g, d);

    s->key_source = "repository";
    json_array_foreach(json_object_get(history, "generations"), i, gen)
    {
        struct cairn_git_oid id;
        struct cairn_pubkey pk;
        uint8_t *text = NULL;
        size_t len;

        if (rc || json_is_true(json_object_get(gen, "removed")))
            continue;
        snprintf(id.hex, sizeof(id.hex), "%s", str(gen, "commit"));
        rc = cairn_git_read_file(g, &id, path, 0, &text, &len, d);
        if (rc == 0)
            rc = cairn__audit_site_key(path, (const char *)text, len, &pk, d);
        if (rc == 0)
            add_key(s, &pk, id.hex);
        else
            cairn_diag_prefix(d, "commit %s", id.hex);
        free(text);
    }
    cairn_git_free(g);
    free(path);
    return rc;
}

static int controller_keys(struct sctx *s, struct cairn_diag *d)
{
    for (size_t i = 0; s->o->controller_keys && s->o->controller_keys[i]; i++) {
        struct cairn_pubkey pk;
        int rc = cairn_pubkey_load(s->o->controller_keys[i], &pk, d);

        if (rc)
            return rc;
        cairn_keyset_add(&s->ctrl_keys, &pk);
    }
    return 0;
}

/* ---- documents
 * ---------------------------------------------------------------- */

/* Parse and (with keys) verify an envelope given as a JSON value; the
 * payload as JSON in *payload (NULL on failure), the verdict in *status
 * and why. */
static void envelope(json_t *env, const char *type,
                     const struct cairn_keyset *keys, json_t **payload,
                     const char **status, char *why, size_t why_len,
                     char signer[CAIRN_KEYID_LEN + 1])
{
    char *text = cairn_json_canonical(env);
    struct cairn_dsse *e = NULL;
    struct cairn_diag d;

    *payload = NULL;
    signer[0] = '\0';
    cairn_diag_init(&d);
    why[0] = '\0';
    if (!text ||
        cairn_dsse_parse(text, strlen(text), CAIRN_AUDIT_MAX_ENVELOPE, type, &e,
                         &d) ||
        cairn_json_parse((const char *)e->payload, e->payload_len,
                         CAIRN_AUDIT_MAX_ENVELOPE, payload, &d)) {
        *status = "malformed";
        snprintf(why, why_len, "%s", cairn_diag_msg(&d));
    } else if (!keys) {
        *status = "not checked";
    } else if (cairn_dsse_verify(e, keys, 1, signer, &d) != 0) {
        *status = "bad";
        snprintf(why, why_len, "%s", cairn_diag_msg(&d));
    } else {
        *status = "verified";
    }
    cairn_dsse_free(e);
    free(text);
}

static json_t *desired_models(json_t *p)
{
    json_t *out = json_array(), *w;
    size_t i;

    json_array_foreach(json_object_get(p, "workloads"), i, w)
    {
        json_t *m = json_object_get(w, "model");

        if (json_is_object(m))
            json_array_append_new(
                out, json_pack("{s:s,s:s,s:s,s:s}", "workload", str(w, "name"),
                               "name", str(m, "name"), "version",
                               str(m, "version"), "sha256", str(m, "sha256")));
    }
    return out;
}

static json_t *generation(struct sctx *s, json_t *g)
{
    json_t *env = json_object_get(g, "envelope"), *p = NULL, *src, *out;
    const char *status = "no envelope";
    char why[512] = "", signer[CAIRN_KEYID_LEN + 1];

    if (json_is_object(env))
        envelope(env, CAIRN_DSSE_DESIRED, s->ctrl_keys.n ? &s->ctrl_keys : NULL,
                 &p, &status, why, sizeof(why), signer);
    src = json_object_get(p, "source");
    out = json_pack("{s:O,s:O,s:O,s:o,s:o,s:s,s:s}", "generation",
                    json_object_get(g, "generation"), "commit",
                    json_object_get(g, "commit"), "issued",
                    json_object_get(g, "issued"), "removed",
                    json_boolean(json_is_true(json_object_get(g, "removed"))),
                    "signer", or_null(json_object_get(src, "signer")),
                    "controllerSignature", status, "detail", why);
    json_object_set_new(out, "models", desired_models(p));
    if (p && strcmp(str(src, "commit"), str(g, "commit")) != 0) {
        json_object_set_new(out, "detail",
                            json_string("the envelope's source.commit differs "
                                        "from the controller's record"));
        status = "bad";
    }
    if (strcmp(status, "bad") == 0 || strcmp(status, "malformed") == 0)
        s->problems++;
    json_decref(p);
    return out;
}

static json_t *report(struct sctx *s, json_t *r, json_t *payloads)
{
    json_t *p = NULL, *out, *gen;
    const char *status;
    char why[512], signer[CAIRN_KEYID_LEN + 1];

    envelope(json_object_get(r, "envelope"), CAIRN_DSSE_REPORT, &s->site_keys,
             &p, &status, why, sizeof(why), signer);
    if (strcmp(status, "verified") != 0)
        s->problems++;
    else if (json_integer_value(json_object_get(p, "seq")) !=
                 json_integer_value(json_object_get(r, "seq")) ||
             strcmp(str(p, "site"), s->o->site) != 0) {
        status = "bad";
        snprintf(why, sizeof(why),
                 "the payload's site or seq differs from the listing");
        s->problems++;
    }
    gen = json_object_get(p, "generation");
    out = json_pack("{s:O,s:O,s:s,s:s?,s:s,s:o,s:o,s:o,s:o}", "seq",
                    json_object_get(r, "seq"), "received",
                    json_object_get(r, "received"), "signature", status,
                    "keyid", signer[0] ? signer : NULL, "detail", why, "time",
                    or_null(json_object_get(p, "time")), "applied",
                    or_null(json_object_get(gen, "applied")), "event",
                    or_null(json_object_get(p, "event")), "workloads",
                    or_null(json_object_get(p, "workloads")));
    if (strcmp(status, "verified") == 0)
        json_array_append(payloads, p);
    json_decref(p);
    return out;
}

/* ---- printing
 * ------------------------------------------------------------------- */

static void models_text(json_t *arr, int with_state, char *buf, size_t n)
{
    json_t *w;
    size_t i, off = 0;

    buf[0] = '\0';
    json_array_foreach(arr, i, w)
    {
        json_t *m = with_state ? json_object_get(w, "model") : w;
        const char *name = with_state ? str(w, "name") : str(w, "workload");
        int k;

        if (with_state && !json_is_object(m))
            k = snprintf(buf + off, n - off, "%s%s=none %s", i ? ", " : "",
                         name, str(w, "state"));
        else
            k = snprintf(buf + off, n - off, "%s%s=%s@%s (%.12s)%s%s%s%s",
                         i ? ", " : "", name, str(m, "name"), str(m, "version"),
                         str(m, "sha256"), with_state ? " " : "",
                         with_state ? str(w, "state") : "",
                         with_state && json_object_get(w, "health") ? " " : "",
                         with_state ? str(w, "health") : "");
        if (k < 0 || (size_t)k >= n - off)
            break;
        off += (size_t)k;
    }
}

static void print_generations(json_t *gens, FILE *out)
{
    json_t *g;
    size_t i;

    fprintf(out, "\ngenerations served\n  %-4s %-20s  %-12s  %-16s  %-14s %s\n",
            "GEN", "ISSUED", "COMMIT", "SIGNER", "CONTROLLER SIG", "MODELS");
    json_array_foreach(gens, i, g)
    {
        char models[1024];

        models_text(json_object_get(g, "models"), 0, models, sizeof(models));
        fprintf(out, "  %-4lld %-20s  %.12s  %-16s  %-14s %s\n",
                (long long)json_integer_value(json_object_get(g, "generation")),
                str(g, "issued"), str(g, "commit"),
                json_is_string(json_object_get(g, "signer")) ? str(g, "signer")
                                                             : "unsigned",
                str(g, "controllerSignature"),
                json_is_true(json_object_get(g, "removed")) ? "(site removed)"
                                                            : models);
        if (str(g, "detail")[0])
            fprintf(out, "       %s\n", str(g, "detail"));
    }
}

static void print_reports(json_t *reps, FILE *out)
{
    json_t *r;
    size_t i;

    fprintf(out, "\nreports\n  %-4s %-20s  %-10s %-7s  %-18s %s\n", "SEQ",
            "TIME", "SIGNATURE", "APPLIED", "EVENT", "WORKLOADS");
    json_array_foreach(reps, i, r)
    {
        json_t *ev = json_object_get(r, "event");
        char wl[1024];

        models_text(json_object_get(r, "workloads"), 1, wl, sizeof(wl));
        fprintf(out, "  %-4lld %-20s  %-10s %-7lld  %-18s %s\n",
                (long long)json_integer_value(json_object_get(r, "seq")),
                str(r, "time"), str(r, "signature"),
                (long long)json_integer_value(json_object_get(r, "applied")),
                json_is_object(ev) ? str(ev, "type") : "-", wl);
        if (json_is_object(ev) && str(ev, "reason")[0])
            fprintf(out, "       reason: %s\n", str(ev, "reason"));
        if (str(r, "detail")[0])
            fprintf(out, "       %s\n", str(r, "detail"));
    }
}

static void print_intervals(json_t *iv, FILE *out)
{
    json_t *v;
    size_t i;
    int w = 8; /* strlen("WORKLOAD"): the column fits the longest name */

    json_array_foreach(iv, i, v)
    {
        int n = (int)strlen(str(v, "workload"));
        w = n > w ? n : w;
    }
    fprintf(out,
            "\nmodels run (from the verified reports)\n  %-*s %-20s %-12s  "
            "%-30s %s\n",
            w, "WORKLOAD", "MODEL", "SHA256", "FROM", "TO");
    json_array_foreach(iv, i, v)
    {
        char model[160], from[64], to[80];

        snprintf(model, sizeof(model), "%s@%s", str(v, "model"),
                 str(v, "version"));
        snprintf(from, sizeof(from), "%s (seq %lld)", str(v, "from"),
                 (long long)json_integer_value(json_object_get(v, "fromSeq")));
        snprintf(to, sizeof(to), "%s%s (seq %lld)",
                 json_is_true(json_object_get(v, "open")) ? "still running at "
                                                          : "",
                 str(v, "to"),
                 (long long)json_integer_value(json_object_get(v, "toSeq")));
        fprintf(out, "  %-*s %-20s %.12s  %-30s %s\n", w, str(v, "workload"),
                model, str(v, "sha256"), from, to);
    }
}

static void print_human(json_t *res, FILE *out)
{
    json_t *k;
    size_t i;

    fprintf(out, "site %s (controller %s)\n", str(res, "site"),
            str(res, "controller"));
    if (json_array_size(json_object_get(res, "siteKeys")) == 0)
        fprintf(out, "site key: none known: reports cannot be verified\n");
    json_array_foreach(json_object_get(res, "siteKeys"), i, k)
        fprintf(out, "site key %s: %s at commit %s (from the %s)\n",
                str(k, "keyid"), str(k, "path"), str(k, "commit"),
                strcmp(str(res, "siteKeySource"), "repository") == 0
                    ? "repository"
                    : "controller's records, not checked against Git");
    print_generations(json_object_get(res, "generations"), out);
    print_reports(json_object_get(res, "reports"), out);
    print_intervals(json_object_get(res, "intervals"), out);
    fprintf(out, "\n%lld problem(s)\n",
            (long long)json_integer_value(json_object_get(res, "problems")));
}

/* ---- the verb
 * ---------------------------------------------------------------------- */

static json_t *timeline(struct sctx *s, json_t *history, json_t *reports)
{
    json_t *gens = json_array(), *reps = json_array(), *payloads = json_array(),
           *x;
    size_t i;

    json_array_foreach(json_object_get(history, "generations"), i, x)
        json_array_append_new(gens, generation(s, x));
    json_array_foreach(json_object_get(reports, "reports"), i, x)
        json_array_append_new(reps, report(s, x, payloads));
    x = json_pack("{s:s,s:s,s:s,s:O,s:o,s:o,s:o}", "site", s->o->site,
                  "controller", s->o->remote.base, "siteKeySource",
                  s->key_source, "siteKeys", s->keys, "generations", gens,
                  "reports", reps, "intervals",
                  cairn__audit_intervals(payloads));
    json_object_set_new(x, "problems", json_integer(s->problems));
    json_decref(payloads);
    return x;
}

int cairn__audit_site(const struct cairn__audit_site_opts *o, FILE *out)
{
    struct sctx s;
    struct cairn_diag d;
    json_t *history = NULL, *reports = NULL, *res = NULL;
    int rc;

    memset(&s, 0, sizeof(s));
    s.o = o;
    s.keys = json_array();
    cairn_keyset_init(&s.site_keys);
    cairn_keyset_init(&s.ctrl_keys);
    cairn_diag_init(&d);
    rc = cairn_keys_init();
    if (rc == 0)
        rc = controller_keys(&s, &d);
    if (rc == 0)
        rc = cairn__audit_fetch(&o->remote, o->site, &history, &reports, &d);
    if (rc == 0)
        rc = o->repo ? keys_from_repo(&s, history, &d)
                     : keys_from_controller(&s, history, &d);
    if (rc) {
        fprintf(stderr, "cairnctl audit site: %s\n", cairn_diag_msg(&d));
        rc = 2;
        goto out;
    }
    res = timeline(&s, history, reports);
    if (o->json) {
        char *text = cairn_json_canonical(res);

        fprintf(out, "%s\n", text);
        free(text);
    } else {
        print_human(res, out);
    }
    rc = s.problems ? 1 : 0;
out:
    json_decref(res);
    json_decref(history);
    json_decref(reports);
    json_decref(s.keys);
    cairn_keyset_free(&s.site_keys);
    cairn_keyset_free(&s.ctrl_keys);
    return rc;
}
