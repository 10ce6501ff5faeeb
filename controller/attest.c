#include "attest.h"

#include <stdio.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"

static int copy_str(json_t *v, char *out, size_t cap)
{
    const char *s = json_string_value(v);

    if (!s || strlen(s) >= cap)
        return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* The statement's fields cairn relies on, with one message per defect. */
static int read_statement(const struct cairn_dsse *env,
                          struct cairn_model_claim *c, struct cairn_diag *d)
{
    json_t *st = NULL, *subj, *pred, *digest, *size;
    int rc = cairn_json_parse((const char *)env->payload, env->payload_len,
                              CAIRN_FLEET_MAX_ATT, &st, d);

    if (rc)
        return rc;
    subj = json_object_get(st, "subject");
    pred = json_object_get(st, "predicate");
    digest = json_object_get(json_array_get(subj, 0), "digest");
    size = json_object_get(pred, "size");
    rc = CAIRN_EPARSE;
    if (!json_is_object(st))
        cairn_diag_set(d, rc, "the statement is not a JSON object");
    else if (!json_is_string(json_object_get(st, "_type")) ||
             strcmp(json_string_value(json_object_get(st, "_type")),
                    CAIRN_INTOTO_STATEMENT))
        cairn_diag_set(d, rc, "_type is not %s", CAIRN_INTOTO_STATEMENT);
    else if (!json_is_string(json_object_get(st, "predicateType")) ||
             strcmp(json_string_value(json_object_get(st, "predicateType")),
                    CAIRN_MODEL_PREDICATE))
        cairn_diag_set(d, rc, "predicateType is not %s", CAIRN_MODEL_PREDICATE);
    else if (json_array_size(subj) != 1)
        cairn_diag_set(d, rc, "a model statement has exactly one subject");
    else if (copy_str(json_object_get(digest, "sha256"), c->sha256,
                      sizeof(c->sha256)) ||
             !cairn_is_sha256_hex(c->sha256))
        cairn_diag_set(d, rc,
                       "subject digest.sha256 is not 64 lower-case hex digits");
    else if (!json_is_integer(size) || json_integer_value(size) < 1)
        cairn_diag_set(d, rc, "predicate.size is not a positive integer");
    else if ((json_object_get(pred, "name") &&
              copy_str(json_object_get(pred, "name"), c->name,
                       sizeof(c->name))) ||
             (json_object_get(pred, "version") &&
              copy_str(json_object_get(pred, "version"), c->version,
                       sizeof(c->version))))
        cairn_diag_set(
            d, rc,
            "predicate.name and predicate.version must be short strings");
    else
        rc = 0;
    if (rc == 0)
        c->size = json_integer_value(size);
    json_decref(st);
    return rc;
}

int cairn_attest_verify(const char *json, size_t len,
                        const struct cairn_keyset *trusted,
                        struct cairn_model_claim *out, struct cairn_diag *d)
{
    struct cairn_model_claim c;
    struct cairn_dsse *env = NULL;
    struct cairn_diag vd;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = cairn_dsse_parse(json, len, CAIRN_FLEET_MAX_ATT, CAIRN_DSSE_INTOTO,
                          &env, d);
    if (rc)
        return rc;
    cairn_diag_init(&vd);
    rc = cairn_dsse_verify(env, trusted, 1, c.signer, &vd);
    if (rc) {
        cairn_diag_set(d, rc,
                       "not signed by a trusted publisher: %s (fleet.yaml "
                       "policy.trustedPublishers holds %zu key(s))",
                       cairn_diag_msg(&vd), trusted->n);
        goto out;
    }
    rc = read_statement(env, &c, d);
    if (rc == 0)
        *out = c;
out:
    cairn_dsse_free(env);
    return rc;
}

/* The claim must describe this Model file's artifact. */
static int check_claim(struct cairn_fleet_model *m,
                       const struct cairn_model_claim *c,
                       struct cairn_errlist *errs)
{
    const struct cairn_fdoc *doc = m->doc;
    int rc = 0;

    if (strcmp(c->sha256, doc->u.model.sha256) != 0) {
        cairn_errlist_addloc(
            errs, CAIRN_EDIGEST, NULL, cairn_fdoc_loc(doc, "/artifact/sha256"),
            "/artifact/sha256", "%s attests sha256 %s, not this artifact's %s",
            m->att_path, c->sha256, doc->u.model.sha256);
        rc = CAIRN_EDIGEST;
    }
    if (c->size != doc->u.model.size) {
        cairn_errlist_addloc(
            errs, CAIRN_ESIZE, NULL, cairn_fdoc_loc(doc, "/artifact/size"),
            "/artifact/size", "%s attests %lld bytes, not this artifact's %lld",
            m->att_path, (long long)c->size, (long long)doc->u.model.size);
        rc = rc ? rc : CAIRN_ESIZE;
    }
    if ((c->name[0] && strcmp(c->name, doc->name) != 0) ||
        (c->version[0] && strcmp(c->version, doc->u.model.version) != 0)) {
        cairn_errlist_addloc(
            errs, CAIRN_EPARSE, NULL, cairn_fdoc_loc(doc, "/attestation"),
            "/attestation", "%s attests model %s version %s, not %s %s",
            m->att_path, c->name, c->version, doc->name, doc->u.model.version);
        rc = rc ? rc : CAIRN_EPARSE;
    }
    return rc;
}

int cairn_attest_fleet(struct cairn_fleet *f, struct cairn_errlist *errs)
{
    int first = 0;

    for (size_t i = 0; i < f->nmodels; i++) {
        struct cairn_fleet_model *m = &f->models[i];
        struct cairn_model_claim c;
        const struct cairn_blob *b;
        struct cairn_diag d;
        int rc;

        cairn_diag_init(&d);
        rc = cairn_fleet_read(f, m->att_path, CAIRN_FLEET_MAX_ATT, &b, &d);
        if (rc == 0)
            rc = cairn_attest_verify((const char *)b->data, b->len, &f->trusted,
                                     &c, &d);
        if (rc)
            cairn_errlist_addloc(
                errs, rc, NULL, cairn_fdoc_loc(m->doc, "/attestation"),
                "/attestation", "%s: %s", m->att_path, cairn_diag_msg(&d));
        else
            rc = check_claim(m, &c, errs);
        if (rc == 0)
            memcpy(m->signer, c.signer, sizeof(m->signer));
        if (rc && !first)
            first = rc;
    }
    return first;
}
