/*
 * The few fleet-repository facts an audit needs, read straight from the
 * files' text: the trusted publishers of fleet.yaml, a site's public key,
 * a Model file's digest, and an attestation's verdict. The audit reads
 * them on their own (not through the fleet loader) because it must judge
 * commits the controller refused too: a commit that does not render still
 * has a fleet.yaml and Model files worth showing.
 */
#include <stdio.h>
#include <string.h>

#include "attest.h"
#include "audit.h"
#include "cairn/dsse.h"
#include "cairn/yaml.h"

static int load(const char *file, const char *text, size_t len,
                struct cairn_yaml_doc **doc, json_t **root,
                struct cairn_diag *d)
{
    int rc = cairn_yaml_parse(file, text, len, NULL, doc, d);

    if (rc)
        return rc;
    *root = cairn_yaml_root(*doc);
    if (!json_is_object(*root)) {
        cairn_yaml_free(*doc);
        return cairn_diag_set(d, CAIRN_EPARSE, "%s: not a mapping", file);
    }
    return 0;
}

int cairn__audit_trusted(const char *file, const char *text, size_t len,
                         struct cairn_keyset *ks, struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = NULL;
    json_t *root, *list, *k;
    size_t i;
    int rc = load(file, text, len, &doc, &root, d);

    if (rc)
        return rc;
    list =
        json_object_get(json_object_get(root, "policy"), "trustedPublishers");
    if (list && !json_is_array(list))
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "%s: policy.trustedPublishers is not a list", file);
    json_array_foreach(list, i, k)
    {
        struct cairn_pubkey pk;

        if (rc)
            break;
        if (!json_is_string(k)) {
            rc = cairn_diag_set(d, CAIRN_EPARSE,
                                "%s: policy.trustedPublishers[%zu] is not "
                                "a string",
                                file, i);
        } else if ((rc = cairn_pubkey_parse(json_string_value(k), &pk, d)) !=
                   0) {
            cairn_diag_prefix(d, "%s: policy.trustedPublishers[%zu]", file, i);
        } else {
            cairn_keyset_add(ks, &pk);
        }
    }
    cairn_yaml_free(doc);
    return rc;
}

int cairn__audit_site_key(const char *file, const char *text, size_t len,
                          struct cairn_pubkey *out, struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = NULL;
    struct cairn_pubkey pk;
    json_t *root, *k;
    int rc = load(file, text, len, &doc, &root, d);

    if (rc)
        return rc;
    k = json_object_get(root, "publicKey");
    if (!json_is_string(k))
        rc = cairn_diag_set(d, CAIRN_EPARSE, "%s: no publicKey", file);
    else if ((rc = cairn_pubkey_parse(json_string_value(k), &pk, d)) != 0)
        cairn_diag_prefix(d, "%s: publicKey", file);
    cairn_yaml_free(doc);
    if (rc == 0)
        *out = pk;
    return rc;
}

static int field(json_t *root, const char *a, const char *b, char *out,
                 size_t cap)
{
    json_t *v = json_object_get(root, a);
    const char *s;

    if (b)
        v = json_object_get(v, b);
    s = json_string_value(v);
    if (!s || strlen(s) >= cap)
        return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int cairn__audit_model_file(const char *file, const char *text, size_t len,
                            struct cairn__model_file *out, struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = NULL;
    struct cairn__model_file m;
    json_t *root;
    int rc = load(file, text, len, &doc, &root, d);

    if (rc)
        return rc;
    memset(&m, 0, sizeof(m));
    if (field(root, "name", NULL, m.name, sizeof(m.name)))
        rc = cairn_diag_set(d, CAIRN_EPARSE, "%s: name is not a short string",
                            file);
    else if (field(root, "version", NULL, m.version, sizeof(m.version)))
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "%s: version is not a short string", file);
    else if (field(root, "artifact", "sha256", m.sha256, sizeof(m.sha256)))
        rc = cairn_diag_set(d, CAIRN_EPARSE, "%s: artifact.sha256 missing",
                            file);
    else if (field(root, "attestation", NULL, m.attestation,
                   sizeof(m.attestation)) ||
             strchr(m.attestation, '/'))
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "%s: attestation is not a file name", file);
    cairn_yaml_free(doc);
    if (rc == 0)
        *out = m;
    return rc;
}

/* The first signature's key id, for naming who signed an attestation that
 * does not verify. */
static void first_signer(const char *json, size_t len,
                         char out[CAIRN_KEYID_LEN + 1])
{
    struct cairn_dsse *env = NULL;

    out[0] = '\0';
    if (cairn_dsse_parse(json, len, CAIRN_FLEET_MAX_ATT, NULL, &env, NULL) ==
            0 &&
        env->nsigs)
        memcpy(out, env->sigs[0].keyid, CAIRN_KEYID_LEN + 1);
    cairn_dsse_free(env);
}

void cairn__audit_attestation(const char *json, size_t len,
                              const struct cairn_keyset *trusted,
                              const char *sha256, const char *name,
                              const char *version,
                              char publisher[CAIRN_KEYID_LEN + 1], int *ok,
                              char *why, size_t why_len)
{
    struct cairn_model_claim c;
    struct cairn_diag d;

    cairn_diag_init(&d);
    *ok = 0;
    first_signer(json, len, publisher);
    if (cairn_attest_verify(json, len, trusted, &c, &d) != 0) {
        snprintf(why, why_len, "%s", cairn_diag_msg(&d));
        return;
    }
    memcpy(publisher, c.signer, CAIRN_KEYID_LEN + 1);
    if (strcmp(c.sha256, sha256) != 0)
        snprintf(why, why_len, "attests sha256 %s, not %s", c.sha256, sha256);
    else if ((name && c.name[0] && strcmp(c.name, name) != 0) ||
             (version && c.version[0] && strcmp(c.version, version) != 0))
        snprintf(why, why_len, "attests %s@%s, not %s@%s", c.name, c.version,
                 name ? name : "", version ? version : "");
    else {
        *ok = 1;
        snprintf(why, why_len, "verified");
    }
}
