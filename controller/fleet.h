/*
 * The fleet of one commit: every file of the fleet repository that means
 * something (docs/formats.md), parsed from YAML, checked against its
 * schema, names checked against paths, indexed by name.
 *
 * Files reach the loader through a `struct cairn_src` (a commit's tree in
 * the controller, an in-memory list in tests), and parsed files are cached
 * by (path, blob id) in a `struct cairn_loader`, so loading the next commit
 * only parses the files that changed. Parsed documents are immutable and
 * shared (reference counted) between the fleets that use them.
 *
 * Threads: a loader and its fleets belong to one thread at a time.
 */
#ifndef CAIRN_FLEET_H
#define CAIRN_FLEET_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/keys.h"
#include "cairn/yaml.h"
#include "errlist.h"
#include "selector.h"
#include "strmap.h"

#define CAIRN_OID_HEX 40

/* Caps on what a fleet repository may hold (CAIRN_ETOOBIG past them). */
#define CAIRN_FLEET_MAX_YAML (1u << 20) /* one YAML file */
#define CAIRN_FLEET_MAX_ATT (64u << 10) /* one attestation */
#define CAIRN_FLEET_MAX_SEALED                                                 \
    (1400u << 10)                       /* one sealed secret (1 MiB, base64) */
#define CAIRN_FLEET_MAX_FROM (1u << 20) /* one files[].from file */

/* ---- where files come from ------------------------------------------ */

struct cairn_src_file {
    char *path;                   /* '/'-separated, relative */
    char blob[CAIRN_OID_HEX + 1]; /* git blob id (or any content id) */
    size_t size;
};

struct cairn_src;
/* Read file i of src: a fresh NUL-terminated buffer (free()). */
typedef int (*cairn_src_read_fn)(struct cairn_src *src, size_t i, size_t cap,
                                 uint8_t **data, size_t *len,
                                 struct cairn_diag *d);
/* Read a file the list does not hold (a files[].from outside the fleet
 * folders); id receives a content id for caching. CAIRN_ENOENT. */
typedef int (*cairn_src_read_path_fn)(struct cairn_src *src, const char *path,
                                      size_t cap, uint8_t **data, size_t *len,
                                      char id[CAIRN_OID_HEX + 1],
                                      struct cairn_diag *d);

struct cairn_src {
    char commit[CAIRN_OID_HEX + 1];
    int64_t time;                 /* commit time (unix), 0 unknown */
    struct cairn_src_file *files; /* sorted by path (strcmp) */
    size_t n;
    cairn_src_read_fn read;
    cairn_src_read_path_fn read_path;    /* NULL: the list is the whole tree */
    int threadsafe;                      /* read() may run on several threads */
    void (*free)(struct cairn_src *src); /* frees everything; NULL: nothing */
    void *arg;                           /* for read and free */
};

/* Index of path in src, or -1. Binary search. */
long cairn_src_find(const struct cairn_src *src, const char *path);
/* src->free(src) when set; NULL ok. */
void cairn_src_free(struct cairn_src *src);

/* ---- parsed documents ----------------------------------------------- */

enum cairn_kind {
    CAIRN_KIND_FLEET,
    CAIRN_KIND_GROUP,
    CAIRN_KIND_SITE,
    CAIRN_KIND_MODEL,
    CAIRN_KIND_WORKLOAD,
    CAIRN_KIND_COUNT
};

struct cairn_fdoc {
    int refs;
    enum cairn_kind kind;
    char *path;
    char blob[CAIRN_OID_HEX + 1];
    struct cairn_yaml_doc *yaml;
    json_t *root;     /* borrowed from yaml */
    const char *name; /* borrowed from root */
    json_t *values;   /* borrowed; NULL when absent */
    union {
        struct {
            json_t *labels; /* borrowed; NULL when absent */
            struct cairn_pubkey key;
        } site;
        struct {
            struct cairn_selector sel;
        } group;
        struct {
            const char *version;
            const char *sha256;
            int64_t size;
        } model;
    } u;
    uint64_t used; /* loader epoch that last used it */
};

/* A blob read from the commit (secrets, files[].from, attestations). */
struct cairn_blob {
    int refs;
    uint8_t *data; /* NUL-terminated */
    size_t len;
    uint64_t used;
    json_t *b64; /* see cairn_fleet_blob_encoded */
    char sha256[65];
};

/* A model release with its verified attestation. */
struct cairn_fleet_model {
    struct cairn_fdoc *doc;
    char *att_path; /* models/<m>/<file>.att.json */
    json_t *att;    /* the envelope as JSON (embedded in payloads) */
    char signer[CAIRN_KEYID_LEN + 1]; /* publisher key id, "" until verified */
};

struct cairn_loader;

struct cairn_fleet {
    char commit[CAIRN_OID_HEX + 1];
    struct cairn_loader *ld;  /* borrowed */
    struct cairn_src *src;    /* borrowed; valid while rendering */
    struct cairn_fdoc *fleet; /* NULL when fleet.yaml is missing/bad */
    const char *name;
    int64_t ttl_hours;           /* policy.desiredStateTTLHours (168) */
    int64_t report_interval;     /* policy.reportIntervalSeconds (30) */
    struct cairn_keyset trusted; /* policy.trustedPublishers */
    struct cairn_fdoc **groups;  /* sorted by name */
    size_t ngroups;
    struct cairn_fdoc **sites; /* sorted by name */
    size_t nsites;
    struct cairn_fleet_model *models; /* sorted by name, then version */
    size_t nmodels;
    struct cairn_fdoc **workloads; /* sorted by name */
    size_t nworkloads;
    struct cairn__strmap site_idx, model_idx, workload_idx, group_idx;
    struct cairn__strmap held;  /* blob id -> struct cairn_blob read */
    struct cairn__strmap extra; /* path -> blob id, for read_path files */
    pthread_mutex_t lock;       /* for cairn_fleet_read from workers */
};

/* ---- loading --------------------------------------------------------- */

/* A loader: the compiled schemas and the parse cache. CAIRN_ESCHEMA when
 * an embedded schema does not compile (a build defect). */
CAIRN_WUR int cairn_loader_new(struct cairn_loader **out, struct cairn_diag *d);
void cairn_loader_free(struct cairn_loader *ld); /* NULL ok */
/* Drop cached files no fleet loaded since `keep` loads ago (0: all not
 * used by the latest load). */
void cairn_loader_sweep(struct cairn_loader *ld, unsigned keep);
/* Cached documents and blobs (for tests and metrics). */
size_t cairn_loader_cached(const struct cairn_loader *ld);
/* Documents parsed (cache misses) since the loader was made. */
uint64_t cairn_loader_parsed(const struct cairn_loader *ld);

/*
 * Load the fleet of src: every fleet, group, site, model and workload file
 * parsed and schema-checked, names checked against paths and for
 * duplicates, selectors compiled, site keys and trusted publisher keys
 * parsed, attestation files read (verification is attest.c's). Every
 * problem found is added to errs, located; the result is then
 * CAIRN_ESCHEMA / CAIRN_EPARSE (the first error's code) and *out is NULL.
 * src must outlive the fleet's rendering. Free with cairn_fleet_free.
 */
CAIRN_WUR int cairn_fleet_load(struct cairn_loader *ld, struct cairn_src *src,
                               struct cairn_errlist *errs,
                               struct cairn_fleet **out);
void cairn_fleet_free(struct cairn_fleet *f); /* NULL ok */

/* Look-ups by name (NULL when absent). */
struct cairn_fdoc *cairn_fleet_site(const struct cairn_fleet *f,
                                    const char *name);
struct cairn_fdoc *cairn_fleet_workload(const struct cairn_fleet *f,
                                        const char *name);
struct cairn_fdoc *cairn_fleet_group(const struct cairn_fleet *f,
                                     const char *name);
struct cairn_fleet_model *cairn_fleet_model(const struct cairn_fleet *f,
                                            const char *name,
                                            const char *version);

/*
 * Read a file of the fleet's commit through the loader's blob cache (any
 * thread: serialised by the fleet's lock).
 * *out is borrowed from the cache and valid while the fleet lives.
 * CAIRN_ENOENT (no such file), CAIRN_ETOOBIG (over cap), read errors.
 */
CAIRN_WUR int cairn_fleet_read(struct cairn_fleet *f, const char *path,
                               size_t cap, const struct cairn_blob **out,
                               struct cairn_diag *d);

/* The base64 text (a JSON string, borrowed: json_incref to keep it) and
 * SHA-256 (hex) of a blob read with cairn_fleet_read, computed once and
 * kept with the blob: a files[].from file is usually the same for every
 * site, and every site's document then shares one string. Valid while
 * the fleet lives. */
void cairn_fleet_blob_encoded(struct cairn_fleet *f, const struct cairn_blob *b,
                              json_t **b64, const char **sha256);

/* The location of ptr in doc ({path, 0, 0} for a doc without source). */
struct cairn_loc cairn_fdoc_loc(const struct cairn_fdoc *doc, const char *ptr);

#endif
