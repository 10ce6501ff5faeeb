/*
 * An in-memory fleet repository for controller tests: files by path, a
 * struct cairn_src over them (blob ids are content hashes, as in git),
 * keys made fresh per run, and the medical-diagnosis example fleet.
 */
#ifndef CAIRN_FLEET_FIXTURE_H
#define CAIRN_FLEET_FIXTURE_H

#include <jansson.h>

#include "cairn/dsse.h"
#include "cairn/encoding.h"
#include "cairn/hash.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "fleet.h"

struct fx_file {
    char *path;
    uint8_t *data;
    size_t len;
};

struct fx_repo {
    struct fx_file *f;
    size_t n;
    struct cairn_seckey publisher, site_olaf, site_mercy, other;
    char *publisher_pub, *olaf_pub, *mercy_pub, *other_pub;
};

static inline void fx_put_bytes(struct fx_repo *r, const char *path,
                                const void *data, size_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].path, path) == 0) {
            free(r->f[i].data);
            r->f[i].data = cairn_xmalloc(len + 1);
            memcpy(r->f[i].data, data, len);
            r->f[i].data[len] = 0;
            r->f[i].len = len;
            return;
        }
    r->f = cairn_xrealloc(r->f, (r->n + 1) * sizeof(*r->f));
    r->f[r->n].path = cairn_xstrdup(path);
    r->f[r->n].data = cairn_xmalloc(len + 1);
    memcpy(r->f[r->n].data, data, len);
    r->f[r->n].data[len] = 0;
    r->f[r->n].len = len;
    r->n++;
}

static inline void fx_put(struct fx_repo *r, const char *path, const char *text)
{
    fx_put_bytes(r, path, text, strlen(text));
}

static inline void fx_del(struct fx_repo *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].path, path) == 0) {
            free(r->f[i].path);
            free(r->f[i].data);
            r->f[i] = r->f[--r->n];
            return;
        }
}

/* ---- the src over a snapshot of the repo ---- */

struct fx_src {
    struct cairn_src src;
    uint8_t **data;
    size_t *len;
};

static inline int fx_read(struct cairn_src *src, size_t i, size_t cap,
                          uint8_t **data, size_t *len, struct cairn_diag *d)
{
    struct fx_src *s = (struct fx_src *)src;

    if (s->len[i] > cap)
        return cairn_diag_set(d, CAIRN_ETOOBIG, "%s: over %zu bytes",
                              src->files[i].path, cap);
    *data = cairn_xmalloc(s->len[i] + 1);
    memcpy(*data, s->data[i], s->len[i] + 1);
    *len = s->len[i];
    return 0;
}

static inline void fx_src_free(struct cairn_src *src)
{
    struct fx_src *s = (struct fx_src *)src;

    for (size_t i = 0; i < src->n; i++) {
        free(src->files[i].path);
        free(s->data[i]);
    }
    free(src->files);
    free(s->data);
    free(s->len);
    free(s);
}

static inline int fx_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fx_file *)a)->path,
                  ((const struct fx_file *)b)->path);
}

/* A snapshot of the repo as of "commit" c (any 40 hex chars made from n). */
static inline struct cairn_src *fx_src(struct fx_repo *r, unsigned commit)
{
    struct fx_src *s = cairn_xcalloc(1, sizeof(*s));

    qsort(r->f, r->n, sizeof(*r->f), fx_cmp);
    snprintf(s->src.commit, sizeof(s->src.commit), "%040x", commit);
    s->src.time = 1700000000 + commit;
    s->src.files = cairn_xcalloc(r->n + 1, sizeof(*s->src.files));
    s->data = cairn_xcalloc(r->n + 1, sizeof(*s->data));
    s->len = cairn_xcalloc(r->n + 1, sizeof(*s->len));
    for (size_t i = 0; i < r->n; i++) {
        uint8_t md[CAIRN_SHA256_LEN];
        char hex[65];

        cairn_sha256(r->f[i].data, r->f[i].len, md);
        cairn_hex_encode(md, sizeof(md), hex);
        s->src.files[i].path = cairn_xstrdup(r->f[i].path);
        memcpy(s->src.files[i].blob, hex, 40);
        s->src.files[i].size = r->f[i].len;
        s->data[i] = cairn_xmalloc(r->f[i].len + 1);
        memcpy(s->data[i], r->f[i].data, r->f[i].len + 1);
        s->len[i] = r->f[i].len;
    }
    s->src.n = r->n;
    s->src.read = fx_read;
    s->src.free = fx_src_free;
    s->src.threadsafe = 1;
    return &s->src;
}

/* ---- attestations and secrets ---- */

static inline char *fx_attestation(const struct cairn_seckey *k,
                                   const char *name, const char *ver,
                                   const char *sha, long long size)
{
    const struct cairn_seckey *keys[1] = {k};
    char *stmt = cairn_xasprintf(
        "{\"_type\":\"https://in-toto.io/Statement/"
        "v1\",\"predicate\":{\"name\":\"%s\","
        "\"size\":%lld,\"version\":\"%s\"},\"predicateType\":\"cairn.dev/model/"
        "v1\","
        "\"subject\":[{\"digest\":{\"sha256\":\"%s\"},\"name\":\"%s/%s\"}]}",
        name, size, ver, sha, name, ver);
    char *env = cairn_dsse_sign(CAIRN_DSSE_INTOTO, (const uint8_t *)stmt,
                                strlen(stmt), keys, 1);

    free(stmt);
    return env;
}

static inline void fx_model(struct fx_repo *r, const char *ver, const char *sha,
                            long long size, const struct cairn_seckey *signer)
{
    char path[256], *att, *yaml;

    yaml = cairn_xasprintf(
        "kind: Model\nname: pneumonia\nversion: %s\nartifact:\n"
        "  urls: [https://models.example/pneumonia/%s.bin]\n"
        "  sha256: %s\n  size: %lld\nattestation: %s.att.json\n",
        ver, ver, sha, size, ver);
    snprintf(path, sizeof(path), "models/pneumonia/%s.yaml", ver);
    fx_put(r, path, yaml);
    att = fx_attestation(signer, "pneumonia", ver, sha, size);
    snprintf(path, sizeof(path), "models/pneumonia/%s.att.json", ver);
    fx_put(r, path, att);
    free(att);
    free(yaml);
}

static inline void fx_secret(struct fx_repo *r, const char *site,
                             const struct cairn_pubkey *to, const char *name,
                             const char *value)
{
    uint8_t *box = NULL;
    size_t n = 0;
    char path[256], *b64, *line;

    if (cairn_seal(to, (const uint8_t *)value, strlen(value), &box, &n) != 0)
        abort();
    /* one line of base64, as cairnctl seal writes it */
    b64 = cairn_base64_encode(box, n);
    line = cairn_xasprintf("%s\n", b64);
    snprintf(path, sizeof(path), "secrets/%s/%s.sealed", site, name);
    fx_put(r, path, line);
    free(line);
    free(b64);
    free(box);
}

#define FX_SHA1                                                                \
    "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define FX_SHA2                                                                \
    "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

/* The example fleet: two sites (one in a sub-folder), a group that moves
 * the east region to model v2, one workload using every feature. */
static inline void fx_init(struct fx_repo *r)
{
    char *fleet, *olaf, *mercy;
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', 0, 1, 2, 3, 0xff};

    memset(r, 0, sizeof(*r));
    if (cairn_keys_init() != 0 ||
        cairn_seckey_generate("publisher", &r->publisher) ||
        cairn_seckey_generate("st-olaf", &r->site_olaf) ||
        cairn_seckey_generate("mercy", &r->site_mercy) ||
        cairn_seckey_generate("intruder", &r->other))
        abort();
    r->publisher_pub = cairn_pubkey_format(&r->publisher.pub);
    r->olaf_pub = cairn_pubkey_format(&r->site_olaf.pub);
    r->mercy_pub = cairn_pubkey_format(&r->site_mercy.pub);
    r->other_pub = cairn_pubkey_format(&r->other.pub);
    fleet = cairn_xasprintf(
        "kind: Fleet\nname: xraylab\nvalues:\n"
        "  workloads: [risk-assessment]\n"
        "  models: {pneumonia: v1}\n"
        "  xraylab:\n    inbox: /srv/xray/inbox\n    threshold: 0.8\n"
        "policy:\n  trustedPublishers:\n    - %s\n"
        "  desiredStateTTLHours: 24\n",
        r->publisher_pub);
    fx_put(r, "fleet.yaml", fleet);
    fx_put(r, "groups/east.yaml",
           "kind: Group\nname: east\nselector:\n"
           "  matchLabels: {region: east}\n"
           "values:\n  models: {pneumonia: v2}\n");
    olaf = cairn_xasprintf("kind: Site\nname: st-olaf\nlabels: {region: east}\n"
                           "publicKey: %s\nvalues:\n  xraylab:\n"
                           "    inbox: \"/data/{{ site.name }}/inbox\"\n",
                           r->olaf_pub);
    fx_put(r, "sites/st-olaf.yaml", olaf);
    mercy = cairn_xasprintf("kind: Site\nname: mercy\nlabels: {region: west}\n"
                            "publicKey: %s\n",
                            r->mercy_pub);
    fx_put(r, "sites/west/mercy.yaml", mercy);
    fx_put(
        r, "workloads/risk-assessment.yaml",
        "kind: Workload\n"
        "name: risk-assessment\n"
        "model: {name: pneumonia, version: \"{{ values.models.pneumonia }}\"}\n"
        "exec:\n"
        "  command: [/usr/local/bin/xray-worker, --site, \"{{ site.name }}\"]\n"
        "  env: {XRAY_INBOX: \"{{ values.xraylab.inbox }}\"}\n"
        "health:\n"
        "  http: http://127.0.0.1:8081/healthz\n"
        "restart: {policy: always, backoffMaxSeconds: 30}\n"
        "files:\n"
        "  - {path: worker.conf, content: \"threshold={{ "
        "values.xraylab.threshold }}\\n\"}\n"
        "  - {path: golden.png, from: workloads/golden/pneumonia.png, mode: "
        "\"0600\"}\n"
        "secrets: [webhook-token]\n"
        "uploads: {dir: outbox}\n");
    fx_put_bytes(r, "workloads/golden/pneumonia.png", png, sizeof(png));
    fx_put(r, "README.md", "not a fleet file\n");
    fx_model(r, "v1", FX_SHA1, 1000, &r->publisher);
    fx_model(r, "v2", FX_SHA2, 2000, &r->publisher);
    fx_secret(r, "st-olaf", &r->site_olaf.pub, "webhook-token", "olaf-secret");
    fx_secret(r, "mercy", &r->site_mercy.pub, "webhook-token", "mercy-secret");
    free(fleet);
    free(olaf);
    free(mercy);
}

static inline void fx_free(struct fx_repo *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].path);
        free(r->f[i].data);
    }
    free(r->f);
    free(r->publisher_pub);
    free(r->olaf_pub);
    free(r->mercy_pub);
    free(r->other_pub);
}

#endif
