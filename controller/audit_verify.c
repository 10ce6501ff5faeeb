/*
 * cairnctl audit verify: check an evidence bundle offline (docs/audit.md
 * "audit verify"). Trust comes only from the two files the auditor gives:
 * the allowed_signers of the engineers who may approve, and the
 * controller's public key. From there every record must check out:
 *   commits       hash to their sha; signed by an allowed signer
 *   files         reachable from a commit's tree by hashes (site key,
 *                 trusted publishers)
 *   receipts      signed by the controller; together cover every
 *                 generation and report it holds, with no gap
 *   desired       signed by the controller, for this site, rendered from a
 *                 commit in the bundle, as the receipts list them; each
 *                 model's attestation signed by a publisher that commit's
 *                 fleet.yaml trusts
 *   attestations  the same check, and each is one a desired state carries
 *   reports       signed by the site key of a proven sites/<site>.yaml,
 *                 seqs rising and exactly those the receipts list, every
 *                 model a report shows running named by the generation it
 *                 applied (or was being served)
 * Every problem names its record ("reports[3] (seq 4)") and why.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "cairn/dsse.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

void cairn__v_problem(struct vctx *v, const char *record, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(
        v->problems, json_pack("{s:s,s:s}", "record", record, "problem", msg));
}

/*
 * Parse an envelope record (a JSON value) of type and verify it with keys;
 * the payload (JSON, new reference) and the sha256 hex of its bytes on
 * success, else NULL with the problem recorded.
 */
static json_t *open_envelope(struct vctx *v, const char *rec, json_t *env,
                             const char *type, const struct cairn_keyset *keys,
                             const char *whose,
                             char sha[CAIRN_SHA256_HEX_LEN + 1])
{
    char *text = json_is_object(env) ? cairn_json_canonical(env) : NULL;
    struct cairn_dsse *e = NULL;
    struct cairn_diag d;
    json_t *p = NULL;
    uint8_t md[CAIRN_SHA256_LEN];

    cairn_diag_init(&d);
    if (!text)
        cairn__v_problem(v, rec, "no envelope");
    else if (cairn_dsse_parse(text, strlen(text), CAIRN_AUDIT_MAX_ENVELOPE,
                              type, &e, &d) != 0)
        cairn__v_problem(v, rec, "%s", cairn_diag_msg(&d));
    else if (!keys || keys->n == 0)
        cairn__v_problem(v, rec, "no %s key to check the signature with",
                         whose);
    else if (cairn_dsse_verify(e, keys, 1, NULL, &d) != 0)
        cairn__v_problem(v, rec, "%s signature: %s", whose, cairn_diag_msg(&d));
    else if (cairn_json_parse((const char *)e->payload, e->payload_len,
                              CAIRN_AUDIT_MAX_ENVELOPE, &p, &d) != 0 ||
             !json_is_object(p))
        cairn__v_problem(v, rec, "payload: %s",
                         p ? "not an object" : cairn_diag_msg(&d));
    else {
        cairn_sha256(e->payload, e->payload_len, md);
        cairn_hex_encode(md, sizeof(md), sha);
    }
    if (p && !json_is_object(p)) {
        json_decref(p);
        p = NULL;
    }
    cairn_dsse_free(e);
    free(text);
    return p;
}

/* ---- receipts
 * ------------------------------------------------------------------ */

static void receipt_items(struct vctx *v, const char *rec, json_t *p, int gens)
{
    json_t *it, *map = gens ? v->rcpt_gen : v->rcpt_rep;
    size_t i;

    json_array_foreach(json_object_get(p, "items"), i, it)
    {
        json_t *n = json_object_get(it, gens ? "generation" : "seq"), *old;
        char key[32];

        if (!json_is_integer(n)) {
            cairn__v_problem(v, rec, "items[%zu] has no %s", i,
                             gens ? "generation" : "seq");
            continue;
        }
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(n));
        old = json_object_get(map, key);
        if (old && !json_equal(old, it))
            cairn__v_problem(v, rec, "%s %s listed twice, differently",
                             gens ? "generation" : "seq", key);
        else
            json_object_set(map, key, it);
    }
}

/* The receipts of one kind must cover (0, last] without a gap and end
 * with a complete one. spans: [[after, last, complete]...] */
static int cmp_span(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_array_get(*(json_t *const *)a, 0));
    json_int_t y = json_integer_value(json_array_get(*(json_t *const *)b, 0));

    return x < y ? -1 : x > y;
}

static void coverage(struct vctx *v, json_t *spans, const char *what)
{
    size_t n = json_array_size(spans);
    json_t **s = cairn_xcalloc(n + 1, sizeof(*s));
    json_int_t upto = 0;
    int complete = 0;
    char rec[64];

    snprintf(rec, sizeof(rec), "receipts (%s)", what);
    for (size_t i = 0; i < n; i++)
        s[i] = json_array_get(spans, i);
    qsort(s, n, sizeof(*s), cmp_span);
    for (size_t i = 0; i < n; i++) {
        json_int_t after = json_integer_value(json_array_get(s[i], 0));

        if (after != upto) {
            cairn__v_problem(v, rec,
                             "no receipt covers %s after %lld up to %lld", what,
                             (long long)upto, (long long)after);
            break;
        }
        upto = json_integer_value(json_array_get(s[i], 1));
        complete = json_is_true(json_array_get(s[i], 2));
    }
    if (!complete)
        cairn__v_problem(
            v, rec,
            "the receipts do not reach the end of the controller's %s "
            "(none says complete)",
            what);
    free(s);
}

static void check_receipts(struct vctx *v)
{
    json_t *env, *spans[2] = {json_array(), json_array()};
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "receipts"), i, env)
    {
        char rec[64], sha[CAIRN_SHA256_HEX_LEN + 1];
        json_t *p;
        int gens;

        snprintf(rec, sizeof(rec), "receipts[%zu]", i);
        p = open_envelope(v, rec, env, CAIRN_DSSE_RECEIPT, &v->ctrl,
                          "controller", sha);
        if (!p)
            continue;
        gens = strcmp(str(p, "of"), "generations") == 0;
        if (strcmp(str(p, "kind"), CAIRN_RECEIPT_KIND) != 0 ||
            strcmp(str(p, "site"), v->site) ||
            (!gens && strcmp(str(p, "of"), "reports") != 0) ||
            !json_is_integer(json_object_get(p, "after")) ||
            !json_is_integer(json_object_get(p, "last")))
            cairn__v_problem(
                v, rec, "not a receipt of this site's generations or reports");
        else {
            receipt_items(v, rec, p, gens);
            json_array_append_new(
                spans[gens ? 0 : 1],
                json_pack("[O,O,b]", json_object_get(p, "after"),
                          json_object_get(p, "last"),
                          json_is_true(json_object_get(p, "complete"))));
        }
        json_decref(p);
    }
    coverage(v, spans[0], "generations");
    coverage(v, spans[1], "reports");
    json_decref(spans[0]);
    json_decref(spans[1]);
}

/* ---- desired states
 * ------------------------------------------------------------ */

/* The commit a desired state names: in the bundle, signed by an allowed
 * signer, the signer the controller recorded, the one its receipt lists. */
static void check_source(struct vctx *v, const char *rec, json_t *p,
                         json_t *rcpt)
{
    json_t *src = json_object_get(p, "source");
    const char *commit = str(src, "commit");
    json_t *c = json_object_get(v->commits, commit);
    json_t *signer = json_object_get(src, "signer");

    if (!c) {
        cairn__v_problem(
            v, rec,
            "rendered from commit %s, which is not in the bundle (or was "
            "altered)",
            commit);
        return;
    }
    if (strcmp(str(c, "status"), "verified") != 0)
        cairn__v_problem(v, rec,
                         "rendered from commit %.12s, whose signature is %s",
                         commit, str(c, "status"));
    if (json_is_string(signer) &&
        strcmp(json_string_value(signer), str(c, "keyid")) != 0)
        cairn__v_problem(
            v, rec,
            "source.signer %s is not the key that signed commit %.12s (%s)",
            json_string_value(signer), commit, str(c, "keyid"));
    if (rcpt && strcmp(str(rcpt, "commit"), commit) != 0)
        cairn__v_problem(v, rec, "the controller's receipt gives commit %s",
                         str(rcpt, "commit"));
}

/* Each workload's model and the verdict on its attestation. */
static json_t *check_models(struct vctx *v, const char *rec, json_t *p)
{
    const char *commit = str(json_object_get(p, "source"), "commit");
    const struct cairn_keyset *trusted = cairn__v_trusted(v, commit);
    json_t *out = json_object(), *w;
    size_t i;

    json_array_foreach(json_object_get(p, "workloads"), i, w)
    {
        json_t *m = json_object_get(w, "model");
        char publisher[CAIRN_KEYID_LEN + 1] = "", why[512];
        char *att =
            json_is_object(m)
                ? cairn_json_canonical(json_object_get(m, "attestation"))
                : NULL;
        int ok = 0;

        if (!json_is_object(m))
            continue;
        if (!trusted)
            snprintf(why, sizeof(why),
                     "the bundle proves no fleet.yaml at commit %.12s", commit);
        else if (!att)
            snprintf(why, sizeof(why), "no attestation");
        else
            cairn__audit_attestation(
                att, strlen(att), trusted, str(m, "sha256"), str(m, "name"),
                str(m, "version"), publisher, &ok, why, sizeof(why));
        if (!ok)
            cairn__v_problem(
                v, rec, "workload %s: model %s@%s: attestation: %s",
                str(w, "name"), str(m, "name"), str(m, "version"), why);
        json_object_set_new(
            out, str(w, "name"),
            json_pack("{s:s,s:s,s:s,s:b,s:s,s:s}", "name", str(m, "name"),
                      "version", str(m, "version"), "sha256", str(m, "sha256"),
                      "attested", ok, "publisher", publisher, "attestation",
                      att ? att : ""));
        free(att);
    }
    return out;
}

static void one_desired(struct vctx *v, size_t i, json_t *ds, json_int_t *prev)
{
    json_int_t gen = json_integer_value(json_object_get(ds, "generation"));
    char rec[64], key[32], sha[CAIRN_SHA256_HEX_LEN + 1];
    json_t *p, *rcpt, *c;

    snprintf(rec, sizeof(rec), "desired[%zu] (generation %lld)", i,
             (long long)gen);
    snprintf(key, sizeof(key), "%lld", (long long)gen);
    p = open_envelope(v, rec, json_object_get(ds, "envelope"),
                      CAIRN_DSSE_DESIRED, &v->ctrl, "controller", sha);
    if (!p)
        return;
    rcpt = json_object_get(v->rcpt_gen, key);
    if (strcmp(str(p, "kind"), "cairn.desired/v1") != 0 ||
        strcmp(str(p, "site"), v->site) != 0)
        cairn__v_problem(v, rec, "not a desired state of site %s", v->site);
    else if (json_integer_value(json_object_get(p, "generation")) != gen ||
             gen <= *prev)
        cairn__v_problem(
            v, rec,
            "generation %lld out of place (signed: %lld, previous: %lld)",
            (long long)gen,
            (long long)json_integer_value(json_object_get(p, "generation")),
            (long long)*prev);
    else if (!rcpt)
        cairn__v_problem(v, rec, "not in the controller's receipts");
    else if (strcmp(str(rcpt, "payloadSha256"), sha) != 0)
        cairn__v_problem(v, rec,
                         "differs from the one the controller's receipt lists");
    else {
        check_source(v, rec, p, rcpt);
        c = json_object_get(v->commits,
                            str(json_object_get(p, "source"), "commit"));
        json_object_set_new(
            v->gens, key,
            json_pack("{s:I,s:s,s:s,s:o}", "index", (json_int_t)i, "commit",
                      str(json_object_get(p, "source"), "commit"), "principal",
                      str(c, "principal"), "models", check_models(v, rec, p)));
        *prev = gen;
    }
    json_decref(p);
}

static void check_desired(struct vctx *v)
{
    json_int_t prev = 0;
    json_t *ds, *it;
    const char *key;
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "desired"), i, ds)
        one_desired(v, i, ds, &prev);
    json_object_foreach(v->rcpt_gen, key, it)
    {
        if (json_is_string(json_object_get(it, "payloadSha256")) &&
            !json_object_get(v->gens, key))
            cairn__v_problem(v, "desired",
                             "generation %s, which the controller's receipts "
                             "list, is missing or did not verify",
                             key);
    }
}

/* ---- attestations
 * ---------------------------------------------------------------- */

/* A verified desired state from commit carrying exactly this attestation. */
static int carried(struct vctx *v, const char *commit, const char *sha256,
                   const char *att)
{
    json_t *g, *m;
    const char *k1, *k2;

    json_object_foreach(v->gens, k1, g)
    {
        if (strcmp(str(g, "commit"), commit) != 0)
            continue;
        json_object_foreach(json_object_get(g, "models"), k2, m)
        {
            if (strcmp(str(m, "sha256"), sha256) == 0 &&
                strcmp(str(m, "attestation"), att) == 0)
                return 1;
        }
    }
    return 0;
}

static void check_attestations(struct vctx *v)
{
    json_t *a;
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "attestations"), i, a)
    {
        const struct cairn_keyset *trusted =
            cairn__v_trusted(v, str(a, "commit"));
        char *att = json_is_object(json_object_get(a, "envelope"))
                        ? cairn_json_canonical(json_object_get(a, "envelope"))
                        : cairn_xstrdup("");
        char rec[200], publisher[CAIRN_KEYID_LEN + 1], why[512];
        int ok = 0;

        snprintf(rec, sizeof(rec), "attestations[%zu] (%.64s@%.64s)", i,
                 str(a, "model"), str(a, "version"));
        if (!trusted)
            snprintf(why, sizeof(why),
                     "the bundle proves no fleet.yaml at commit %.12s",
                     str(a, "commit"));
        else
            cairn__audit_attestation(
                att, strlen(att), trusted, str(a, "sha256"), str(a, "model"),
                str(a, "version"), publisher, &ok, why, sizeof(why));
        if (!ok)
            cairn__v_problem(v, rec, "%s", why);
        else if (!carried(v, str(a, "commit"), str(a, "sha256"), att))
            cairn__v_problem(
                v, rec, "no verified desired state carries this attestation");
        free(att);
    }
}

/* ---- reports
 * ------------------------------------------------------------------------ */

static json_t *gen_model(struct vctx *v, json_t *gen, const char *workload)
{
    char key[32];

    if (!json_is_integer(gen))
        return NULL;
    snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(gen));
    return json_object_get(
        json_object_get(json_object_get(v->gens, key), "models"), workload);
}

/* Every model the report shows loaded must be the one the generation it
 * applied names, or the one it was being served (a worker starting under
 * its health gate), and that model's attestation must have verified. */
static void check_ran(struct vctx *v, const char *rec, json_t *p)
{
    json_t *g = json_object_get(p, "generation"), *w;
    size_t i;

    json_array_foreach(json_object_get(p, "workloads"), i, w)
    {
        const char *st = str(w, "state"),
                   *sha = str(json_object_get(w, "model"), "sha256");
        json_t *a = gen_model(v, json_object_get(g, "applied"), str(w, "name"));
        json_t *s = gen_model(v, json_object_get(g, "served"), str(w, "name"));
        json_t *m = a && strcmp(str(a, "sha256"), sha) == 0   ? a
                    : s && strcmp(str(s, "sha256"), sha) == 0 ? s
                                                              : NULL;

        if (!sha[0] || strcmp(st, "stopped") == 0 || strcmp(st, "failed") == 0)
            continue;
        if (!m)
            cairn__v_problem(
                v, rec,
                "workload %s ran sha256 %s, which neither its applied "
                "generation %lld nor its served generation %lld names in a "
                "verified desired state",
                str(w, "name"), sha,
                (long long)json_integer_value(json_object_get(g, "applied")),
                (long long)json_integer_value(json_object_get(g, "served")));
        else if (!json_is_true(json_object_get(m, "attested")))
            cairn__v_problem(
                v, rec,
                "workload %s ran %s@%s, whose attestation did not verify",
                str(w, "name"), str(m, "name"), str(m, "version"));
    }
}

static void one_report(struct vctx *v, size_t i, json_t *r, json_int_t *prev)
{
    json_int_t seq = json_integer_value(json_object_get(r, "seq"));
    char rec[64], key[32], sha[CAIRN_SHA256_HEX_LEN + 1];
    json_t *p, *rcpt;

    snprintf(rec, sizeof(rec), "reports[%zu] (seq %lld)", i, (long long)seq);
    snprintf(key, sizeof(key), "%lld", (long long)seq);
    p = open_envelope(v, rec, json_object_get(r, "envelope"), CAIRN_DSSE_REPORT,
                      &v->site_keys, "site", sha);
    if (!p)
        return;
    rcpt = json_object_get(v->rcpt_rep, key);
    if (strcmp(str(p, "kind"), "cairn.report/v1") != 0 ||
        strcmp(str(p, "site"), v->site) != 0)
        cairn__v_problem(v, rec, "not a report of site %s", v->site);
    else if (json_integer_value(json_object_get(p, "seq")) != seq ||
             seq <= *prev)
        cairn__v_problem(
            v, rec, "seq %lld out of place (signed: %lld, previous: %lld)",
            (long long)seq,
            (long long)json_integer_value(json_object_get(p, "seq")),
            (long long)*prev);
    else if (!rcpt)
        cairn__v_problem(v, rec, "not in the controller's receipts");
    else if (strcmp(str(rcpt, "payloadSha256"), sha) != 0)
        cairn__v_problem(v, rec,
                         "differs from the one the controller's receipt lists");
    else {
        check_ran(v, rec, p);
        json_array_append(v->payloads, p);
        json_object_set_new(v->seen_seqs, key, json_true());
        *prev = seq;
    }
    json_decref(p);
}

static void check_reports(struct vctx *v)
{
    json_int_t prev = 0;
    json_t *r;
    const char *key;
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "reports"), i, r)
        one_report(v, i, r, &prev);
    /* the controller's receipts list every report it holds: none may be
     * left out of the bundle */
    json_object_foreach(v->rcpt_rep, key, r)
    {
        if (!json_object_get(v->seen_seqs, key))
            cairn__v_problem(v, "reports",
                             "seq %s, which the controller's receipts list, is "
                             "missing or did not verify",
                             key);
    }
}

/* ---- what ran, approved by whom
 * ------------------------------------------------------- */

/* Each interval with the generations that name its model and who approved
 * them (the principal of the commit's signer, the model's publisher). */
static json_t *approvals(struct vctx *v)
{
    json_t *iv = cairn__audit_intervals(v->payloads), *x, *g;
    const char *key;
    size_t i;

    json_array_foreach(iv, i, x)
    {
        json_t *by = json_array();

        json_object_foreach(v->gens, key, g)
        {
            json_t *m = json_object_get(json_object_get(g, "models"),
                                        str(x, "workload"));

            if (m && strcmp(str(m, "sha256"), str(x, "sha256")) == 0)
                json_array_append_new(
                    by, json_pack("{s:I,s:s,s:s,s:s}", "generation",
                                  (json_int_t)strtoll(key, NULL, 10), "commit",
                                  str(g, "commit"), "principal",
                                  str(g, "principal"), "publisher",
                                  str(m, "publisher")));
        }
        json_object_set_new(x, "approvedBy", by);
    }
    return iv;
}

/* ---- printing
 * -----------------------------------------------------------------------------
 */

static void print_counts(json_t *res, FILE *out)
{
    json_t *c = json_object_get(res, "counts"), *k;
    size_t i;

    fprintf(out, "bundle %s: site %s, created %s, controller %s\n",
            str(res, "bundle"), str(res, "site"), str(res, "created"),
            str(res, "controller"));
    fprintf(
        out,
        "  %-13s %lld\n  %-13s %lld\n  %-13s %lld\n  %-13s %lld\n  %-13s %lld\n"
        "  %-13s %lld\n  %-13s %lld\n",
        "commits", (long long)json_integer_value(json_object_get(c, "commits")),
        "objects", (long long)json_integer_value(json_object_get(c, "objects")),
        "files", (long long)json_integer_value(json_object_get(c, "files")),
        "receipts",
        (long long)json_integer_value(json_object_get(c, "receipts")),
        "desired", (long long)json_integer_value(json_object_get(c, "desired")),
        "attestations",
        (long long)json_integer_value(json_object_get(c, "attestations")),
        "reports",
        (long long)json_integer_value(json_object_get(c, "reports")));
    json_array_foreach(json_object_get(res, "siteKeys"), i, k)
        fprintf(out, "  site key %s from sites/%s.yaml at commit %s\n",
                str(k, "keyid"), str(res, "site"), str(k, "commit"));
}

static void print_intervals(json_t *iv, FILE *out)
{
    json_t *x, *a;
    size_t i, j;

    fprintf(out, "\nmodels run (from the verified reports)\n");
    json_array_foreach(iv, i, x)
    {
        fprintf(out,
                "  %s ran %s@%s sha256 %s\n    from %s (seq %lld) %s %s (seq "
                "%lld)\n",
                str(x, "workload"), str(x, "model"), str(x, "version"),
                str(x, "sha256"), str(x, "from"),
                (long long)json_integer_value(json_object_get(x, "fromSeq")),
                json_is_true(json_object_get(x, "open")) ? "and still at"
                                                         : "to",
                str(x, "to"),
                (long long)json_integer_value(json_object_get(x, "toSeq")));
        json_array_foreach(json_object_get(x, "approvedBy"), j, a) fprintf(
            out,
            "    approved: generation %lld, commit %s signed by %s; model "
            "published by %s\n",
            (long long)json_integer_value(json_object_get(a, "generation")),
            str(a, "commit"),
            str(a, "principal")[0] ? str(a, "principal") : "nobody allowed",
            str(a, "publisher")[0] ? str(a, "publisher")
                                   : "no trusted publisher");
        if (json_array_size(json_object_get(x, "approvedBy")) == 0)
            fprintf(out, "    approved: by no verified desired state\n");
    }
}

static void print_human(json_t *res, FILE *out)
{
    json_t *p;
    size_t i, n = json_array_size(json_object_get(res, "problems"));

    print_counts(res, out);
    print_intervals(json_object_get(res, "intervals"), out);
    fprintf(out, "\n");
    json_array_foreach(json_object_get(res, "problems"), i, p)
        fprintf(out, "PROBLEM %s: %s\n", str(p, "record"), str(p, "problem"));
    if (n)
        fprintf(out,
                "%zu problem(s): the bundle does not prove what it claims\n",
                n);
    else
        fprintf(out, "verified: every record checks out\n");
}

/* ---- the verb
 * -------------------------------------------------------------------------------
 */

static int load_inputs(struct vctx *v, const struct cairn__audit_verify_opts *o,
                       struct cairn_diag *d)
{
    char *text = NULL;
    size_t len;
    int rc = cairn_keys_init();

    for (size_t i = 0; rc == 0 && o->controller_keys[i]; i++) {
        struct cairn_pubkey pk;

        rc = cairn_pubkey_load(o->controller_keys[i], &pk, d);
        if (rc == 0)
            cairn_keyset_add(&v->ctrl, &pk);
    }
    if (rc == 0)
        rc = cairn_sshsig_signers_load(o->allowed_signers, &v->signers, d);
    if (rc == 0)
        rc = cairn_fs_read(o->bundle, CAIRN_AUDIT_MAX_BUNDLE, &text, &len, d);
    if (rc == 0 && (rc = cairn_json_parse(text, len, CAIRN_AUDIT_MAX_BUNDLE,
                                          &v->bundle, d)))
        cairn_diag_prefix(d, "%s", o->bundle);
    free(text);
    if (rc)
        return rc;
    v->site = json_string_value(json_object_get(v->bundle, "site"));
    if (strcmp(str(v->bundle, "kind"), CAIRN_BUNDLE_KIND) != 0 || !v->site)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s: not an evidence bundle (kind %s)", o->bundle,
                              CAIRN_BUNDLE_KIND);
    return 0;
}

static json_t *result(struct vctx *v, const struct cairn__audit_verify_opts *o)
{
    static const char *const sections[] = {
        "commits", "objects",      "files",  "receipts",
        "desired", "attestations", "reports"};
    json_t *counts = json_object();

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(sections); i++)
        json_object_set_new(counts, sections[i],
                            json_integer((json_int_t)json_array_size(
                                json_object_get(v->bundle, sections[i]))));
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:O,s:o,s:O,s:b}", "bundle",
                     o->bundle, "site", v->site, "created",
                     str(v->bundle, "created"), "controller",
                     str(v->bundle, "controller"), "counts", counts, "siteKeys",
                     v->site_key_info, "intervals", approvals(v), "problems",
                     v->problems, "ok", json_array_size(v->problems) == 0);
}

static void vctx_free(struct vctx *v)
{
    cairn__v_free_git(v);
    json_decref(v->bundle);
    json_decref(v->problems);
    json_decref(v->commits);
    json_decref(v->site_key_info);
    json_decref(v->rcpt_gen);
    json_decref(v->rcpt_rep);
    json_decref(v->gens);
    json_decref(v->payloads);
    json_decref(v->seen_seqs);
    cairn_keyset_free(&v->site_keys);
    cairn_keyset_free(&v->ctrl);
    cairn_sshsig_signers_free(v->signers);
}

int cairn__audit_verify(const struct cairn__audit_verify_opts *o, FILE *out)
{
    struct vctx v;
    struct cairn_diag d;
    json_t *res;
    int rc;

    memset(&v, 0, sizeof(v));
    v.problems = json_array(), v.commits = json_object(),
    v.site_key_info = json_array();
    v.rcpt_gen = json_object(), v.rcpt_rep = json_object(),
    v.gens = json_object();
    v.payloads = json_array(), v.seen_seqs = json_object();
    cairn_keyset_init(&v.site_keys);
    cairn_keyset_init(&v.ctrl);
    cairn_diag_init(&d);
    if (load_inputs(&v, o, &d) != 0) {
        fprintf(stderr, "cairnctl audit verify: %s\n", cairn_diag_msg(&d));
        vctx_free(&v);
        return 2;
    }
    cairn__v_commits(&v);
    cairn__v_objects(&v);
    cairn__v_files(&v);
    check_receipts(&v);
    check_desired(&v);
    check_attestations(&v);
    check_reports(&v);
    res = result(&v, o);
    if (o->json) {
        char *text = cairn_json_canonical(res);

        fprintf(out, "%s\n", text);
        free(text);
    } else {
        print_human(res, out);
    }
    rc = json_array_size(v.problems) ? 1 : 0;
    json_decref(res);
    vctx_free(&v);
    return rc;
}
