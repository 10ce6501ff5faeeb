/*
 * The audit verbs' shared pieces (docs/audit.md): `cairnctl audit models`
 * (audit_models.c), `audit site` (audit_site.c), `audit export`
 * (audit_bundle.c) and `audit verify` (audit_verify.c), with the helpers
 * they share: git objects read and checked without a repository
 * (audit_gitobj.c), the fleet files an audit needs (audit_fleet.c), and
 * the controller's audit endpoints (audit_client.c).
 *
 * Every verb builds its result as a JSON value first; the human table and
 * --json are two printings of the same value, so they never disagree.
 * Runners return the process exit code: 0 ok, 1 a check found a problem,
 * 2 usage or input error (the message is on stderr).
 *
 * Everything here runs on one thread (cairnctl's); nothing is shared.
 */
#ifndef CAIRN_AUDIT_H
#define CAIRN_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cairn/diag.h"
#include "cairn/git.h"
#include "cairn/keys.h"
#include "cairn/sshsig.h"

/* payloadType of the controller's receipts (docs/protocol.md "Audit"). */
#define CAIRN_DSSE_RECEIPT "application/vnd.cairn.receipt+json"
#define CAIRN_RECEIPT_KIND "cairn.receipt/v1"
#define CAIRN_BUNDLE_KIND "cairn.audit-bundle/v1"

/* Caps on what the audit reads. */
#define CAIRN_AUDIT_MAX_BUNDLE (512u << 20) /* a whole evidence bundle */
#define CAIRN_AUDIT_MAX_PAGE (16u << 20)    /* one controller response */
#define CAIRN_AUDIT_MAX_ENVELOPE (4u << 20) /* one signed document */
#define CAIRN_AUDIT_MAX_TREE (8u << 20)     /* one tree object */
#define CAIRN_AUDIT_MAX_PAGES 10000u        /* pages of one listing */

/* ---- time (audit_gitobj.c) ------------------------------------------ */

/* "2026-01-02T03:04:05Z" (UTC) into out. */
void cairn__audit_time(int64_t t, char out[32]);
/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ" -> unix time.
 * CAIRN_EPARSE otherwise. */
CAIRN_WUR int cairn__audit_parse_time(const char *s, int64_t *out);

/* ---- git objects without a repository (audit_gitobj.c) ------------- */

/* What a raw commit object says (the parts an audit checks). */
struct cairn__commit_obj {
    char tree[CAIRN_GIT_OID_HEXLEN + 1];
    char parent[CAIRN_GIT_OID_HEXLEN + 1]; /* first parent, "" for a root */
    int64_t committer_time;
    char *sig; /* gpgsig value, continuation lines joined; NULL */
    size_t sig_len;
    char *signed_data; /* the object without the gpgsig header */
    size_t signed_len;
};

/*
 * Parse len bytes of a raw commit object (`git cat-file commit`): the
 * tree, first parent and committer time, and the SSH signature with the
 * bytes it signs, split as git does for `verify-commit`. CAIRN_EPARSE
 * (names the header). *out written only on success; release it with
 * cairn__commit_obj_free.
 */
CAIRN_WUR int cairn__commit_obj_parse(const uint8_t *raw, size_t len,
                                      struct cairn__commit_obj *out,
                                      struct cairn_diag *d);
void cairn__commit_obj_free(
    struct cairn__commit_obj *c); /* contents; NULL ok */

/* Check the commit's signature like `git verify-commit` (namespace "git",
 * at the committer time). Always fills *res. */
void cairn__commit_obj_verify(const struct cairn__commit_obj *c,
                              const struct cairn_sshsig_signers *signers,
                              struct cairn_sshsig_result *res);

/* The entry called name in a raw tree object: its id and mode (octal
 * value, e.g. 0100644, 040000). CAIRN_ENOENT (no such entry),
 * CAIRN_EPARSE (malformed tree). */
CAIRN_WUR int cairn__tree_entry(const uint8_t *raw, size_t len,
                                const char *name,
                                char oid[CAIRN_GIT_OID_HEXLEN + 1],
                                unsigned *mode, struct cairn_diag *d);

/* ---- fleet files (audit_fleet.c) ------------------------------------ */

/* policy.trustedPublishers of a fleet.yaml text (file names it in
 * messages); keys are added to ks (initialised by the caller). A fleet
 * without the list adds none. CAIRN_EPARSE / CAIRN_EKEY. */
CAIRN_WUR int cairn__audit_trusted(const char *file, const char *text,
                                   size_t len, struct cairn_keyset *ks,
                                   struct cairn_diag *d);
/* publicKey of a sites/<site>.yaml text. CAIRN_EPARSE / CAIRN_EKEY. */
CAIRN_WUR int cairn__audit_site_key(const char *file, const char *text,
                                    size_t len, struct cairn_pubkey *out,
                                    struct cairn_diag *d);

/* A model release as its Model file states it. */
struct cairn__model_file {
    char name[64];
    char version[80];
    char sha256[65];
    char attestation[128]; /* file name next to the Model file */
};

/* Read the Model file fields the audit shows. CAIRN_EPARSE naming the
 * field. */
CAIRN_WUR int cairn__audit_model_file(const char *file, const char *text,
                                      size_t len, struct cairn__model_file *out,
                                      struct cairn_diag *d);

/*
 * An attestation envelope's verdict: publisher (the key id that verified,
 * else the first signature's), and 1 in *ok when a trusted key signed a
 * cairn.dev/model/v1 statement whose digest is sha256 (and, when given,
 * whose predicate name/version are these); else 0 and why (one line).
 * Never fails: a malformed envelope is a verdict.
 */
void cairn__audit_attestation(const char *json, size_t len,
                              const struct cairn_keyset *trusted,
                              const char *sha256, const char *name,
                              const char *version,
                              char publisher[CAIRN_KEYID_LEN + 1], int *ok,
                              char *why, size_t why_len);

/* ---- the controller's audit endpoints (audit_client.c) -------------- */

struct cairn__audit_remote {
    const char *base; /* "http://host:port" (no trailing path) */
    char *token;      /* operator token or NULL */
    long timeout_ms;  /* per request */
};

/* Read an operator token file (first line, at most 4 KiB) into r->token.
 * CAIRN_ENOENT / CAIRN_EIO / CAIRN_EPARSE (empty). */
CAIRN_WUR int cairn__audit_token(struct cairn__audit_remote *r,
                                 const char *path, struct cairn_diag *d);

/*
 * Everything the controller holds about site, every page followed:
 *   history:  {"site", "siteKey": {...}|null, "generations": [...],
 *              "receipts": [<DSSE>...]}
 *   reports:  {"reports": [...], "receipts": [<DSSE>...]}
 * as docs/protocol.md "Audit" defines the pages. *out (new reference)
 * only on success. CAIRN_ENET / CAIRN_EHTTP (status and the controller's
 * error text) / CAIRN_EPARSE / CAIRN_ETOOBIG.
 */
CAIRN_WUR int cairn__audit_fetch(const struct cairn__audit_remote *r,
                                 const char *site, json_t **history,
                                 json_t **reports, struct cairn_diag *d);

/* ---- the verbs ------------------------------------------------------- */

struct cairn__audit_models_opts {
    const char *repo;
    const char *rev;             /* NULL: HEAD */
    const char *model;           /* NULL: all */
    int64_t since;               /* committer time lower bound; 0 none */
    const char *allowed_signers; /* NULL: signatures not checked */
    int json;
};
int cairn__audit_models(const struct cairn__audit_models_opts *o, FILE *out);

struct cairn__audit_site_opts {
    const char *site;
    struct cairn__audit_remote remote;
    const char *repo;                   /* NULL: site key from the controller */
    const char *const *controller_keys; /* NULL-terminated; may be NULL */
    int json;
};
int cairn__audit_site(const struct cairn__audit_site_opts *o, FILE *out);

struct cairn__audit_export_opts {
    const char *site;
    struct cairn__audit_remote remote;
    const char *repo;
    const char *out;
    int force;
};
int cairn__audit_export(const struct cairn__audit_export_opts *o, FILE *out);

struct cairn__audit_verify_opts {
    const char *bundle;
    const char *allowed_signers;
    const char *const *controller_keys; /* NULL-terminated, at least one */
    int json;
};
int cairn__audit_verify(const struct cairn__audit_verify_opts *o, FILE *out);

/* ---- shared by the verbs (audit_site.c) ------------------------------ */

/*
 * Model intervals from reports (an array of report payloads in seq
 * order): for each workload, each run of reports showing it `running`
 * with one model sha256. Returns a new array of {"workload", "model",
 * "version", "sha256", "from", "fromSeq", "to", "toSeq", "open"}: `to` is
 * the first report that showed something else (open: false), or the last
 * report (open: true: still running then).
 */
json_t *cairn__audit_intervals(json_t *payloads);

#endif
