/*
 * cairnctl audit export: one site's evidence bundle (docs/audit.md
 * "Evidence bundles"), a single canonical JSON file holding
 *   - the controller's signed desired states of the site and its signed
 *     receipts (which generations and reports it holds),
 *   - the site's signed reports as received,
 *   - the raw commit objects the desired states were rendered from, byte
 *     for byte, with the tree and blob objects that prove fleet.yaml (the
 *     trusted publishers) and sites/<site>.yaml (the site key) at each,
 *   - the model attestations those desired states carry.
 * Records come from the controller; git objects come from the auditor's
 * own clone (--repo), never from the controller. Nothing here is checked:
 * that is `audit verify`'s job, offline.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "cairn/dsse.h"
#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/mem.h"

struct bctx {
    const struct cairn__audit_export_opts *o;
    struct cairn_git *g;
    json_t *commits, *objects, *files, *desired, *atts;
    json_t *seen_commits, *seen_objects, *seen_atts; /* sets (keys only) */
};

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static json_t *b64(const uint8_t *data, size_t len)
{
    char *t = cairn_base64_encode(data, len);
    json_t *v = json_string(t);

    free(t);
    return v;
}

/* The payload of an envelope given as JSON (new reference) or NULL. */
static json_t *payload_of(json_t *env, const char *type)
{
    char *text = cairn_json_canonical(env);
    struct cairn_dsse *e = NULL;
    json_t *p = NULL;

    if (text && cairn_dsse_parse(text, strlen(text), CAIRN_AUDIT_MAX_ENVELOPE,
                                 type, &e, NULL) == 0)
        (void)!cairn_json_parse((const char *)e->payload, e->payload_len,
                                CAIRN_AUDIT_MAX_ENVELOPE, &p, NULL);
    cairn_dsse_free(e);
    free(text);
    return p;
}

/* ---- git objects ------------------------------------------------------------
 */

static int add_object(struct bctx *b, const char *sha, const char *type,
                      struct cairn_diag *d)
{
    struct cairn_git_oid id;
    uint8_t *data = NULL;
    size_t len;
    int rc;

    if (json_object_get(b->seen_objects, sha))
        return 0;
    snprintf(id.hex, sizeof(id.hex), "%s", sha);
    rc = cairn_git_object_raw(b->g, &id, type, CAIRN_AUDIT_MAX_TREE, &data,
                              &len, d);
    if (rc)
        return rc;
    json_object_set_new(b->seen_objects, sha, json_true());
    json_array_append_new(b->objects,
                          json_pack("{s:s,s:s,s:o}", "sha", sha, "type", type,
                                    "data", b64(data, len)));
    free(data);
    return 0;
}

/* path at commit (whose tree is tree), with every tree on the way and the
 * blob. A missing file is not an error: the bundle lacks it, and verify
 * says what that costs. */
static int prove_file(struct bctx *b, const char *commit, const char *tree,
                      const char *path, struct cairn_diag *d)
{
    char cur[CAIRN_GIT_OID_HEXLEN + 1];
    const char *p = path;
    int rc = 0;

    snprintf(cur, sizeof(cur), "%s", tree);
    while (rc == 0) {
        const char *slash = strchr(p, '/');
        char *name =
            slash ? cairn_xstrndup(p, (size_t)(slash - p)) : cairn_xstrdup(p);
        struct cairn_git_oid id;
        uint8_t *raw = NULL;
        size_t len;
        unsigned mode = 0;

        snprintf(id.hex, sizeof(id.hex), "%s", cur);
        rc = add_object(b, cur, "tree", d);
        if (rc == 0)
            rc = cairn_git_object_raw(b->g, &id, "tree", CAIRN_AUDIT_MAX_TREE,
                                      &raw, &len, d);
        if (rc == 0)
            rc = cairn__tree_entry(raw, len, name, cur, &mode, NULL);
        free(raw);
        free(name);
        if (rc == CAIRN_ENOENT || (rc == 0 && slash && mode != 040000))
            return 0;
        if (rc == 0 && !slash) {
            rc = add_object(b, cur, "blob", d);
            if (rc == 0)
                json_array_append_new(
                    b->files, json_pack("{s:s,s:s,s:s}", "commit", commit,
                                        "path", path, "blob", cur));
            return rc;
        }
        p = slash ? slash + 1 : p;
    }
    return rc;
}

static int add_commit(struct bctx *b, const char *sha, struct cairn_diag *d)
{
    struct cairn__commit_obj c;
    struct cairn_git_oid id;
    uint8_t *raw = NULL;
    size_t len;
    char *site_path;
    int rc;

    if (json_object_get(b->seen_commits, sha))
        return 0;
    json_object_set_new(b->seen_commits, sha, json_true());
    snprintf(id.hex, sizeof(id.hex), "%s", sha);
    rc = cairn_git_commit_raw(b->g, &id, &raw, &len, d);
    if (rc) {
        cairn_diag_prefix(d, "%s (is the repository up to date?)", b->o->repo);
        return rc;
    }
    json_array_append_new(b->commits, json_pack("{s:s,s:o}", "sha", sha,
                                                "object", b64(raw, len)));
    rc = cairn__commit_obj_parse(raw, len, &c, d);
    free(raw);
    if (rc)
        return rc;
    site_path = cairn_xasprintf("sites/%s.yaml", b->o->site);
    rc = prove_file(b, sha, c.tree, "fleet.yaml", d);
    if (rc == 0)
        rc = prove_file(b, sha, c.tree, site_path, d);
    free(site_path);
    cairn__commit_obj_free(&c);
    return rc;
}

/* ---- desired states and their attestations
 * ------------------------------------- */

static void add_attestations(struct bctx *b, json_t *p)
{
    const char *commit = str(json_object_get(p, "source"), "commit");
    json_t *w;
    size_t i;

    json_array_foreach(json_object_get(p, "workloads"), i, w)
    {
        json_t *m = json_object_get(w, "model");
        char *key;

        if (!json_is_object(json_object_get(m, "attestation")))
            continue;
        key = cairn_xasprintf("%s/%s", commit, str(m, "sha256"));
        if (!json_object_get(b->seen_atts, key)) {
            json_object_set_new(b->seen_atts, key, json_true());
            json_array_append_new(
                b->atts,
                json_pack("{s:s,s:O,s:O,s:O,s:O}", "commit", commit, "model",
                          json_object_get(m, "name"), "version",
                          json_object_get(m, "version"), "sha256",
                          json_object_get(m, "sha256"), "envelope",
                          json_object_get(m, "attestation")));
        }
        free(key);
    }
}

static int add_generations(struct bctx *b, json_t *history,
                           struct cairn_diag *d)
{
    json_t *g;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(history, "generations"), i, g)
    {
        json_t *env = json_object_get(g, "envelope"), *p;

        if (rc || !json_is_object(env))
            continue;
        json_array_append_new(b->desired,
                              json_pack("{s:O,s:O}", "generation",
                                        json_object_get(g, "generation"),
                                        "envelope", env));
        rc = add_commit(b, str(g, "commit"), d);
        p = payload_of(env, CAIRN_DSSE_DESIRED);
        /* the signed commit, should the record and the document disagree */
        if (rc == 0 && p &&
            strlen(str(json_object_get(p, "source"), "commit")) == 40)
            rc = add_commit(b, str(json_object_get(p, "source"), "commit"), d);
        if (p)
            add_attestations(b, p);
        json_decref(p);
    }
    return rc;
}

/* ---- the verb
 * ---------------------------------------------------------------------- */

static json_t *bundle(struct bctx *b, json_t *history, json_t *reports)
{
    char now[32];
    json_t *receipts = json_array();

    cairn__audit_time((int64_t)time(NULL), now);
    json_array_extend(receipts, json_object_get(history, "receipts"));
    json_array_extend(receipts, json_object_get(reports, "receipts"));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:o}",
                     "kind", CAIRN_BUNDLE_KIND, "site", b->o->site, "created",
                     now, "controller", b->o->remote.base, "repo", b->o->repo,
                     "commits", b->commits, "objects", b->objects, "files",
                     b->files, "desired", b->desired, "attestations", b->atts,
                     "reports", json_object_get(reports, "reports"), "receipts",
                     receipts);
}

static int write_out(const struct cairn__audit_export_opts *o, json_t *v,
                     struct cairn_diag *d)
{
    struct stat st;
    char *text, *line;
    int rc;

    if (!o->force && lstat(o->out, &st) == 0)
        return cairn_diag_set(d, CAIRN_EEXIST,
                              "%s exists (use --force to replace it)", o->out);
    text = cairn_json_canonical(v);
    line = cairn_xasprintf("%s\n", text);
    rc = cairn_fs_write_durable(o->out, line, strlen(line), 0644, d);
    free(line);
    free(text);
    return rc;
}

int cairn__audit_export(const struct cairn__audit_export_opts *o, FILE *out)
{
    struct bctx b;
    struct cairn_diag d;
    json_t *history = NULL, *reports = NULL, *v = NULL;
    int rc;

    memset(&b, 0, sizeof(b));
    b.o = o;
    b.commits = json_array(), b.objects = json_array(), b.files = json_array();
    b.desired = json_array(), b.atts = json_array();
    b.seen_commits = json_object(), b.seen_objects = json_object(),
    b.seen_atts = json_object();
    cairn_diag_init(&d);
    rc = cairn_git_open(o->repo, NULL, NULL, &b.g, &d);
    if (rc == 0)
        rc = cairn__audit_fetch(&o->remote, o->site, &history, &reports, &d);
    if (rc == 0)
        rc = add_generations(&b, history, &d);
    if (rc == 0) {
        v = bundle(&b, history, reports);
        rc = write_out(o, v, &d);
    }
    if (rc == 0)
        fprintf(
            out,
            "%s: site %s, %zu desired state(s), %zu report(s), %zu commit(s), "
            "%zu attestation(s)\n",
            o->out, o->site, json_array_size(b.desired),
            json_array_size(json_object_get(v, "reports")),
            json_array_size(b.commits), json_array_size(b.atts));
    else
        fprintf(stderr, "cairnctl audit export: %s\n", cairn_diag_msg(&d));
    json_decref(v);
    json_decref(history);
    json_decref(reports);
    json_decref(b.commits), json_decref(b.objects), json_decref(b.files);
    json_decref(b.desired), json_decref(b.atts);
    json_decref(b.seen_commits), json_decref(b.seen_objects),
        json_decref(b.seen_atts);
    cairn_git_free(b.g);
    return rc ? 2 : 0;
}
