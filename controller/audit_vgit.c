/*
 * audit verify, git side: every commit object must hash to its sha and
 * carry a good signature by an allowed signer; every tree and blob object
 * must hash to its sha; every file the bundle proves must be reachable
 * from its commit's tree through those objects. Then fleet.yaml gives the
 * trusted publishers and sites/<site>.yaml the site key at that commit,
 * each tied to a signed commit by hashes alone.
 */
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "cairn/encoding.h"
#include "cairn/mem.h"

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static int is_hex40(const char *s)
{
    if (strlen(s) != CAIRN_GIT_OID_HEXLEN)
        return 0;
    for (size_t i = 0; i < CAIRN_GIT_OID_HEXLEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Decode a record's base64 field and check that it hashes to sha as an
 * object of type. 0, or -1 with the problem recorded. */
static int decode_object(struct vctx *v, const char *rec, const char *type,
                         const char *sha, const char *b64, uint8_t **data,
                         size_t *len)
{
    struct cairn_git_oid id;

    id.hex[0] = '\0';
    if (!is_hex40(sha)) {
        cairn__v_problem(v, rec, "no valid object id");
        return -1;
    }
    if (cairn_base64_decode(b64, strlen(b64), data, len) != 0) {
        cairn__v_problem(v, rec, "the object is not canonical base64");
        return -1;
    }
    if (cairn_git_object_id(type, *data, *len, &id, NULL) != 0 ||
        strcmp(id.hex, sha) != 0) {
        cairn__v_problem(
            v, rec,
            "the %s object does not hash to %s (it hashes to %s): it was "
            "altered",
            type, sha, id.hex);
        free(*data);
        return -1;
    }
    return 0;
}

/* ---- commits --------------------------------------------------------------
 */

static void one_commit(struct vctx *v, size_t i, json_t *c)
{
    const char *sha = str(c, "sha");
    struct cairn__commit_obj co;
    struct cairn_sshsig_result r;
    struct cairn_diag d;
    uint8_t *data;
    size_t len;
    char rec[80];

    snprintf(rec, sizeof(rec), "commits[%zu] (%.12s)", i, sha);
    cairn_diag_init(&d);
    if (decode_object(v, rec, "commit", sha, str(c, "object"), &data, &len) !=
        0)
        return;
    if (cairn__commit_obj_parse(data, len, &co, &d) != 0) {
        cairn__v_problem(v, rec, "%s", cairn_diag_msg(&d));
        free(data);
        return;
    }
    cairn__commit_obj_verify(&co, v->signers, &r);
    if (r.status != CAIRN_SSHSIG_VERIFIED)
        cairn__v_problem(v, rec, "commit signature %s: %s",
                         cairn_sshsig_status_name(r.status), r.text);
    if (json_object_get(v->commits, sha))
        cairn__v_problem(v, rec, "listed twice");
    else
        json_object_set_new(v->commits, sha,
                            json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "index",
                                      (json_int_t)i, "tree", co.tree, "status",
                                      cairn_sshsig_status_name(r.status),
                                      "keyid", r.keyid, "principal",
                                      r.principal, "time",
                                      (json_int_t)co.committer_time));
    cairn__commit_obj_free(&co);
    free(data);
}

void cairn__v_commits(struct vctx *v)
{
    json_t *c;
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "commits"), i, c)
        one_commit(v, i, c);
}

/* ---- trees and blobs --------------------------------------------------------
 */

static int cmp_obj(const void *a, const void *b)
{
    return strcmp(((const struct vobj *)a)->sha, ((const struct vobj *)b)->sha);
}

void cairn__v_objects(struct vctx *v)
{
    json_t *arr = json_object_get(v->bundle, "objects"), *o;
    size_t i;

    v->objs = cairn_xcalloc(json_array_size(arr) + 1, sizeof(*v->objs));
    json_array_foreach(arr, i, o)
    {
        const char *type = str(o, "type"), *sha = str(o, "sha");
        struct vobj *x = &v->objs[v->nobjs];
        char rec[80];

        snprintf(rec, sizeof(rec), "objects[%zu] (%.12s)", i, sha);
        if (strcmp(type, "tree") != 0 && strcmp(type, "blob") != 0) {
            cairn__v_problem(v, rec, "type is neither tree nor blob");
            continue;
        }
        if (decode_object(v, rec, type, sha, str(o, "data"), &x->data,
                          &x->len) != 0)
            continue;
        snprintf(x->sha, sizeof(x->sha), "%s", sha);
        snprintf(x->type, sizeof(x->type), "%s", type);
        v->nobjs++;
    }
    qsort(v->objs, v->nobjs, sizeof(*v->objs), cmp_obj);
}

static const struct vobj *object(const struct vctx *v, const char *sha,
                                 const char *type)
{
    struct vobj key;
    const struct vobj *o;

    snprintf(key.sha, sizeof(key.sha), "%s", sha);
    o = bsearch(&key, v->objs, v->nobjs, sizeof(*v->objs), cmp_obj);
    return o && strcmp(o->type, type) == 0 ? o : NULL;
}

/* ---- files
 * ----------------------------------------------------------------------- */

/* Walk path from tree; the blob object on success, else NULL with the
 * problem recorded. */
static const struct vobj *walk(struct vctx *v, const char *rec,
                               const char *tree, const char *path,
                               const char *blob)
{
    char cur[CAIRN_GIT_OID_HEXLEN + 1];
    const char *p = path;

    snprintf(cur, sizeof(cur), "%s", tree);
    for (;;) {
        const char *slash = strchr(p, '/');
        char *name =
            slash ? cairn_xstrndup(p, (size_t)(slash - p)) : cairn_xstrdup(p);
        const struct vobj *t = object(v, cur, "tree");
        unsigned mode = 0;
        int rc =
            t ? cairn__tree_entry(t->data, t->len, name, cur, &mode, NULL) : -1;

        if (!t)
            cairn__v_problem(
                v, rec, "tree %s on the path is missing or was altered", cur);
        else if (rc)
            cairn__v_problem(v, rec, "tree %s has no entry '%s'", t->sha, name);
        else if (slash ? mode != 040000 : (mode != 0100644 && mode != 0100755))
            cairn__v_problem(v, rec, "'%s' in tree %s has mode %o", name,
                             t->sha, mode);
        free(name);
        if (!t || rc ||
            (slash ? mode != 040000 : (mode != 0100644 && mode != 0100755)))
            return NULL;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (strcmp(cur, blob) != 0) {
        cairn__v_problem(v, rec, "the commit's tree names blob %s, not %s", cur,
                         blob);
        return NULL;
    }
    if (!object(v, blob, "blob"))
        cairn__v_problem(v, rec, "blob %s is missing or was altered", blob);
    return object(v, blob, "blob");
}

static void take_fleet(struct vctx *v, const char *rec, const char *commit,
                       const struct vobj *b)
{
    struct vtrust *t;
    struct cairn_diag d;

    v->trust = cairn_xrealloc(v->trust, (v->ntrust + 1) * sizeof(*v->trust));
    t = &v->trust[v->ntrust];
    snprintf(t->commit, sizeof(t->commit), "%s", commit);
    cairn_keyset_init(&t->keys);
    cairn_diag_init(&d);
    if (cairn__audit_trusted("fleet.yaml", (const char *)b->data, b->len,
                             &t->keys, &d) != 0) {
        cairn__v_problem(v, rec, "%s", cairn_diag_msg(&d));
        cairn_keyset_free(&t->keys);
        return;
    }
    v->ntrust++;
}

static void take_site(struct vctx *v, const char *rec, const char *path,
                      const char *commit, const struct vobj *b)
{
    struct cairn_pubkey pk;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn__audit_site_key(path, (const char *)b->data, b->len, &pk, &d) !=
        0) {
        cairn__v_problem(v, rec, "%s", cairn_diag_msg(&d));
        return;
    }
    if (!cairn_keyset_find(&v->site_keys, pk.id))
        cairn_keyset_add(&v->site_keys, &pk);
    json_array_append_new(v->site_key_info, json_pack("{s:s,s:s}", "keyid",
                                                      pk.id, "commit", commit));
}

void cairn__v_files(struct vctx *v)
{
    char *site_path = cairn_xasprintf("sites/%s.yaml", v->site);
    json_t *f;
    size_t i;

    json_array_foreach(json_object_get(v->bundle, "files"), i, f)
    {
        const char *commit = str(f, "commit"), *path = str(f, "path");
        json_t *c = json_object_get(v->commits, commit);
        const struct vobj *b;
        char rec[160];

        snprintf(rec, sizeof(rec), "files[%zu] (%.64s at %.12s)", i, path,
                 commit);
        if (!c) {
            cairn__v_problem(v, rec,
                             "commit %s is not in the bundle (or was altered)",
                             commit);
            continue;
        }
        if (strcmp(path, "fleet.yaml") != 0 && strcmp(path, site_path) != 0) {
            cairn__v_problem(v, rec, "not a file the audit uses");
            continue;
        }
        b = walk(v, rec, str(c, "tree"), path, str(f, "blob"));
        if (b && strcmp(path, "fleet.yaml") == 0)
            take_fleet(v, rec, commit, b);
        else if (b)
            take_site(v, rec, path, commit, b);
    }
    free(site_path);
}

const struct cairn_keyset *cairn__v_trusted(const struct vctx *v,
                                            const char *commit)
{
    for (size_t i = 0; i < v->ntrust; i++)
        if (strcmp(v->trust[i].commit, commit) == 0)
            return &v->trust[i].keys;
    return NULL;
}

void cairn__v_free_git(struct vctx *v)
{
    for (size_t i = 0; i < v->nobjs; i++)
        free(v->objs[i].data);
    free(v->objs);
    for (size_t i = 0; i < v->ntrust; i++)
        cairn_keyset_free(&v->trust[i].keys);
    free(v->trust);
}
