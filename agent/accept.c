#include "accept.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/dsse.h"
#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "util.h"

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define MODEL_PREDICATE "cairn.dev/model/v1"
#define ATTESTATION_CAP (64 * 1024)
#define MAX_PATH_LEN 1024

struct cairn_schema *cairn_accept_schema_compile(void)
{
    struct cairn_schema *schema = NULL;

    return cairn_schema_embedded("desired.schema.json", &schema, NULL) == 0
               ? schema
               : NULL;
}

const struct cairn_schema *cairn_accept_schema(void)
{
    static struct cairn_schema *schema;

    if (!schema)
        schema = cairn_accept_schema_compile();
    return schema;
}

void cairn_accepted_free(struct cairn_accepted *a)
{
    if (!a)
        return;
    json_decref(a->payload);
    a->payload = NULL;
}

int cairn_accept_relpath(const char *p, size_t len)
{
    size_t comp = 0;

    if (!p || len == 0 || len > MAX_PATH_LEN || p[0] == '/')
        return CAIRN_EPATH;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '/') {
            size_t start = i - comp;
            if (comp == 0 || comp > 255 || (comp == 1 && p[start] == '.') ||
                (comp == 2 && p[start] == '.' && p[start + 1] == '.'))
                return CAIRN_EPATH;
            comp = 0;
            continue;
        }
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return CAIRN_EPATH;
        comp++;
    }
    return 0;
}

/* ---- payload checks beyond the schema ---------------------------------- */

static int check_path(json_t *v, const char *where, struct cairn_diag *d)
{
    if (cairn_accept_relpath(json_string_value(v), json_string_length(v)) != 0)
        return cairn_diag_set(
            d, CAIRN_EPATH,
            "%s \"%.200s\" is not a plain relative path inside the "
            "workload's directory (absolute, empty or '..' components "
            "are refused)",
            where, json_string_value(v));
    return 0;
}

/* The decoded content of a files[] entry matches its sha256. */
static int check_file_digest(json_t *f, const char *where, struct cairn_diag *d)
{
    const char *enc = json_string_value(json_object_get(f, "encoding"));
    json_t *content = json_object_get(f, "content");
    uint8_t *raw = NULL, digest[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];
    size_t n = 0;
    int rc = 0;

    if (enc && strcmp(enc, "base64") == 0) {
        if (cairn_base64_decode(json_string_value(content),
                                json_string_length(content), &raw, &n) != 0)
            return cairn_diag_set(d, CAIRN_EPARSE, "%s.content: not base64",
                                  where);
        cairn_sha256(raw, n, digest);
    } else {
        cairn_sha256(json_string_value(content), json_string_length(content),
                     digest);
    }
    cairn_hex_encode(digest, sizeof(digest), hex);
    if (strcmp(hex, json_string_value(json_object_get(f, "sha256"))) != 0)
        rc = cairn_diag_set(d, CAIRN_EDIGEST,
                            "%s.sha256 does not match its content", where);
    free(raw);
    return rc;
}

static int check_files(json_t *w, size_t wi, struct cairn_diag *d)
{
    json_t *files = json_object_get(w, "files"), *f, *g;
    char where[96];
    size_t i, j;
    int rc;

    json_array_foreach(files, i, f)
    {
        snprintf(where, sizeof(where), "workloads[%zu].files[%zu]", wi, i);
        if ((rc = check_path(json_object_get(f, "path"), where, d)) != 0 ||
            (rc = check_file_digest(f, where, d)) != 0)
            return rc;
        for (j = 0; j < i; j++) {
            g = json_array_get(files, j);
            if (json_equal(json_object_get(f, "path"),
                           json_object_get(g, "path")))
                return cairn_diag_set(d, CAIRN_ESCHEMA,
                                      "%s.path: duplicate of files[%zu]", where,
                                      j);
        }
    }
    return 0;
}

static int check_secrets(json_t *w, size_t wi, struct cairn_diag *d)
{
    json_t *secrets = json_object_get(w, "secrets"), *s;
    char where[96];
    size_t i;
    int rc;

    json_array_foreach(secrets, i, s)
    {
        json_t *name = json_object_get(s, "name");
        snprintf(where, sizeof(where), "workloads[%zu].secrets[%zu].name", wi,
                 i);
        if ((rc = check_path(name, where, d)) != 0)
            return rc;
        if (strchr(json_string_value(name), '/'))
            return cairn_diag_set(d, CAIRN_EPATH,
                                  "%s: a secret name has no '/'", where);
    }
    return 0;
}

static int check_workloads(json_t *payload, struct cairn_diag *d)
{
    json_t *ws = json_object_get(payload, "workloads"), *w, *up;
    char where[96];
    size_t i, j;
    int rc;

    json_array_foreach(ws, i, w)
    {
        for (j = 0; j < i; j++)
            if (json_equal(json_object_get(w, "name"),
                           json_object_get(json_array_get(ws, j), "name")))
                return cairn_diag_set(
                    d, CAIRN_ESCHEMA,
                    "workloads[%zu].name: duplicate of workloads[%zu]", i, j);
        if ((rc = check_files(w, i, d)) != 0 ||
            (rc = check_secrets(w, i, d)) != 0)
            return rc;
        up = json_object_get(json_object_get(w, "uploads"), "dir");
        snprintf(where, sizeof(where), "workloads[%zu].uploads.dir", i);
        if (up && (rc = check_path(up, where, d)) != 0)
            return rc;
    }
    return 0;
}

/* ---- the envelope ------------------------------------------------------ */

static int open_envelope(const struct cairn_accept_ctx *c, const char *env,
                         size_t len, struct cairn_dsse **out,
                         char signer[CAIRN_KEYID_LEN + 1], struct cairn_diag *d)
{
    struct cairn_dsse *e = NULL;
    int rc;

    if (len > c->max_bytes)
        return cairn_diag_set(
            d, CAIRN_ETOOBIG,
            "desired state of %zu bytes is over the %zu-byte cap", len,
            c->max_bytes);
    rc = cairn_dsse_parse(env, len, c->max_bytes, CAIRN_DSSE_DESIRED, &e, d);
    if (rc == 0)
        rc = cairn_dsse_verify(e, c->controller_keys, 1, signer, d);
    if (rc == CAIRN_EKEY)
        cairn_diag_prefix(
            d, "desired state not signed by a pinned controller key");
    else if (rc == CAIRN_ESIG)
        cairn_diag_prefix(d, "desired state signature");
    if (rc) {
        cairn_dsse_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

static int check_payload(const struct cairn_accept_ctx *c, json_t *p,
                         struct cairn_diag *d)
{
    const char *site;
    int rc;

    if (!c->schema)
        return cairn_diag_set(d, CAIRN_ESCHEMA,
                              "no compiled desired-state schema");
    rc = cairn_schema_validate(c->schema, p, NULL, NULL, NULL, d);
    if (rc) {
        cairn_diag_prefix(d, "desired state does not match its schema");
        return rc;
    }
    site = json_string_value(json_object_get(p, "site"));
    if (strcmp(site, c->site) != 0)
        return cairn_diag_set(
            d, CAIRN_EPOLICY,
            "desired state is for site \"%s\", this is \"%s\"", site, c->site);
    return check_workloads(p, d);
}

/* Rules 7 and 8 on a schema-valid payload. */
static int check_order(const struct cairn_accept_ctx *c, json_t *p,
                       struct cairn_accepted *a, struct cairn_diag *d)
{
    char t1[CAIRN_TIME_LEN], t2[CAIRN_TIME_LEN];

    a->generation = json_integer_value(json_object_get(p, "generation"));
    if (cairn__time_parse(json_string_value(json_object_get(p, "issued")),
                          &a->issued) ||
        cairn__time_parse(json_string_value(json_object_get(p, "expires")),
                          &a->expires))
        return cairn_diag_set(d, CAIRN_ESCHEMA,
                              "issued/expires: not RFC 3339 times");
    if (a->generation < c->accepted_gen)
        return cairn_diag_set(d, CAIRN_ESTALE,
                              "generation %" PRId64
                              " is lower than the highest accepted "
                              "(%" PRId64 ")",
                              a->generation, c->accepted_gen);
    if (a->generation == c->accepted_gen) {
        cairn__time_format(a->issued, t1);
        cairn__time_format(c->accepted_issued, t2);
        if (a->issued == c->accepted_issued)
            return cairn_diag_set(d, CAIRN_EEXIST,
                                  "generation %" PRId64
                                  " issued %s is already accepted",
                                  a->generation, t1);
        if (a->issued < c->accepted_issued)
            return cairn_diag_set(d, CAIRN_ESTALE,
                                  "generation %" PRId64
                                  " issued %s is older than the "
                                  "accepted issue (%s)",
                                  a->generation, t1, t2);
        a->refresh = 1;
    }
    if (a->expires <= c->now) {
        cairn__time_format(a->expires, t1);
        return cairn_diag_set(d, CAIRN_EEXPIRED,
                              "generation %" PRId64 " expired at %s",
                              a->generation, t1);
    }
    return 0;
}

int cairn_accept(const struct cairn_accept_ctx *c, const char *env, size_t len,
                 struct cairn_accepted *out, struct cairn_diag *d)
{
    struct cairn_accepted a;
    struct cairn_dsse *e = NULL;
    json_t *p = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = open_envelope(c, env, len, &e, a.signer, d);
    if (rc)
        return rc;
    rc = cairn_json_parse((const char *)e->payload, e->payload_len,
                          c->max_bytes, &p, d);
    if (rc)
        cairn_diag_prefix(d, "desired state payload");
    if (rc == 0)
        rc = check_payload(c, p, d);
    if (rc == 0)
        rc = check_order(c, p, &a, d);
    cairn_dsse_free(e);
    if (rc) {
        json_decref(p);
        return rc;
    }
    a.payload = p;
    *out = a;
    return 0;
}

/* ---- model attestation ------------------------------------------------- */

static int statement_claims(json_t *st, const json_t *model,
                            struct cairn_diag *d)
{
    json_t *subj = json_object_get(st, "subject"),
           *pred = json_object_get(st, "predicate");
    const char *type = json_string_value(json_object_get(st, "_type"));
    const char *ptype = json_string_value(json_object_get(st, "predicateType"));
    const char *sha,
        *want = json_string_value(json_object_get(model, "sha256"));
    json_t *size = json_object_get(pred, "size");

    if (!type || strcmp(type, STATEMENT_TYPE) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "statement _type is not " STATEMENT_TYPE);
    if (!ptype || strcmp(ptype, MODEL_PREDICATE) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "predicateType is not " MODEL_PREDICATE);
    if (!json_is_array(subj) || json_array_size(subj) != 1)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "statement needs exactly one subject");
    sha = json_string_value(json_object_get(
        json_object_get(json_array_get(subj, 0), "digest"), "sha256"));
    if (!sha || !want || strcmp(sha, want) != 0)
        return cairn_diag_set(
            d, CAIRN_EDIGEST,
            "attested digest %.64s is not the signed sha256 %.64s",
            sha ? sha : "(none)", want ? want : "(none)");
    if (!json_is_integer(size) ||
        !json_equal(size, json_object_get((json_t *)model, "size")))
        return cairn_diag_set(d, CAIRN_ESIZE,
                              "attested size differs from the signed size");
    if (!json_equal(json_object_get(pred, "name"),
                    json_object_get((json_t *)model, "name")) ||
        !json_equal(json_object_get(pred, "version"),
                    json_object_get((json_t *)model, "version")))
        return cairn_diag_set(
            d, CAIRN_EPOLICY,
            "attested model name/version differ from the desired state's");
    return 0;
}

int cairn_accept_attestation(const json_t *model,
                             const struct cairn_keyset *publishers,
                             struct cairn_diag *d)
{
    json_t *att = json_object_get(model, "attestation"), *st = NULL;
    struct cairn_dsse *e = NULL;
    char *text;
    int rc;

    if (!json_is_object(att))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "model attestation: not an object");
    text = cairn_json_canonical(att);
    rc = cairn_dsse_parse(text, strlen(text), ATTESTATION_CAP,
                          CAIRN_DSSE_INTOTO, &e, d);
    if (rc == 0)
        rc = cairn_dsse_verify(e, publishers, 1, NULL, d);
    if (rc == CAIRN_EKEY)
        cairn_diag_prefix(d, "not signed by a pinned publisher key");
    if (rc == 0)
        rc = cairn_json_parse((const char *)e->payload, e->payload_len,
                              ATTESTATION_CAP, &st, d);
    if (rc == 0)
        rc = statement_claims(st, model, d);
    cairn_diag_prefix(d, "model attestation");
    json_decref(st);
    cairn_dsse_free(e);
    free(text);
    return rc;
}
