/*
 * Git access: the only module that touches libgit2.
 *
 * A handle follows one branch of one repository. Either a local repository
 * is opened in place (no mirror dir: engineers commit straight into it), or
 * a remote one (path, file://, https://, ssh:// or scp-like URL) is kept in
 * a bare mirror directory that cairn_git_fetch() brings up to date.
 * Everything else reads objects from the repository: files straight out of
 * a commit's tree (no checkout, no working tree), tree diffs, commit
 * metadata, signatures and history.
 *
 * Repository contents are untrusted input: every read has a cap, and a
 * repository that breaks one gets CAIRN_ETOOBIG naming the file and cap.
 *
 * Threads: calls block (disk, network). A handle is used by one thread at
 * a time (the controller runs them through uv_queue_work); different
 * handles may be used from different threads at once.
 *
 * Errors: libgit2 failures map to CAIRN_EGIT (CAIRN_ENOENT when the object
 * or reference does not exist) with libgit2's own text in the diag.
 */
#ifndef CAIRN_GIT_H
#define CAIRN_GIT_H

#include "cairn/diag.h"
#include "cairn/error.h"
#include <stddef.h>
#include <stdint.h>

struct cairn_sshsig_signers;
struct cairn_sshsig_result;

#define CAIRN_GIT_OID_HEXLEN 40

/* An object id as 40 lower-case hex digits, NUL-terminated. */
struct cairn_git_oid {
    char hex[CAIRN_GIT_OID_HEXLEN + 1];
};

/* Default caps (cairn_git_limits fields left 0 take these). */
#define CAIRN_GIT_MAX_FILE (4u << 20)    /* one blob */
#define CAIRN_GIT_MAX_FILES 100000u      /* entries in one tree walk */
#define CAIRN_GIT_MAX_TOTAL (256u << 20) /* all blobs of one walk */
#define CAIRN_GIT_MAX_DEPTH 64u          /* nested directories */
#define CAIRN_GIT_MAX_FETCH (1ull << 31) /* bytes received in one fetch */
#define CAIRN_GIT_MAX_LOG 100000u        /* commits in one history walk */

struct cairn_git_opts {
    const char *branch; /* branch to follow; NULL = the one HEAD names */
    /* ssh:// and scp-like URLs: private key file; NULL = ssh-agent. */
    const char *ssh_key;
    const char *ssh_user; /* NULL = user from the URL, else "git" */
    /* The server's host key must be listed for its host in this OpenSSH
     * known_hosts file (read at open). With none, an ssh fetch is refused
     * unless ssh_insecure_host_key accepts any key; both set is
     * CAIRN_EINVAL. */
    const char *ssh_known_hosts;
    int ssh_insecure_host_key;
    /* https:// with authentication: user and password (or token). */
    const char *https_user;
    const char *https_password;
    /* PEM bundle of the certificate authorities https servers are checked
     * against, instead of the system's. Process-wide (libgit2's TLS state):
     * put in force at the first open that names it; an open naming another
     * file afterwards is CAIRN_EINVAL. */
    const char *https_ca_file;
    uint64_t max_fetch_bytes; /* 0 = CAIRN_GIT_MAX_FETCH */
};

struct cairn_git; /* opaque handle */

/*
 * Open a repository and follow opts->branch (opts may be NULL).
 * mirror_dir NULL: url must name a local repository (path or file://),
 * opened in place; fetch then only re-reads the branch.
 * mirror_dir set: a bare mirror of url is created there when the directory
 * is missing or empty, or reopened when it already mirrors url (another
 * url: CAIRN_EEXIST). No network access happens here: call
 * cairn_git_fetch() to download.
 * The handle copies what it keeps of url and opts. *out is written only on
 * success; free it with cairn_git_free(). CAIRN_EINVAL, CAIRN_ENOENT,
 * CAIRN_EEXIST, CAIRN_EGIT, and for the known_hosts and CA files
 * CAIRN_EPARSE, CAIRN_ETOOBIG, CAIRN_EIO.
 */
CAIRN_WUR int cairn_git_open(const char *url, const char *mirror_dir,
                             const struct cairn_git_opts *opts,
                             struct cairn_git **out, struct cairn_diag *d);
void cairn_git_free(struct cairn_git *g); /* NULL ok */

/* The URL and branch the handle follows (owned by the handle). With no
 * branch configured on a remote, the branch is known after the first fetch
 * (asked from the remote, then kept in the mirror's config as cairn.branch);
 * until then cairn_git_branch says so in words. */
const char *cairn_git_url(const struct cairn_git *g);
const char *cairn_git_branch(const struct cairn_git *g);

/*
 * Mirror: fetch the followed branch from the remote (forced update, so a
 * rewritten branch is followed too; use cairn_git_is_ancestor to notice).
 * Local: re-read the branch. tip_out (may be NULL) receives the branch
 * tip. CAIRN_ETOOBIG past max_fetch_bytes, CAIRN_ENOENT when the remote
 * has no such branch, CAIRN_EKEY when the ssh host key or the TLS
 * certificate is not trusted (the message names the host and the key's
 * SHA256 fingerprint), CAIRN_EPOLICY for a @revoked host key, CAIRN_EPERM
 * when the server refuses the credentials, CAIRN_EGIT (network, protocol).
 */
CAIRN_WUR int cairn_git_fetch(struct cairn_git *g,
                              struct cairn_git_oid *tip_out,
                              struct cairn_diag *d);

/*
 * Resolve rev to a commit: NULL or the followed branch name (its tip in
 * the mirror), another branch name, "HEAD", a full or unique short sha,
 * "refs/...", or any git revision expression ("main~2"). Tags are peeled.
 * CAIRN_ENOENT (not found), CAIRN_EINVAL (ambiguous short sha, not a
 * commit), CAIRN_EGIT.
 */
CAIRN_WUR int cairn_git_resolve(struct cairn_git *g, const char *rev,
                                struct cairn_git_oid *oid_out,
                                struct cairn_diag *d);

/* 1 when anc is an ancestor of (or equal to) desc, 0 when not; negative
 * CAIRN_E* on error. */
CAIRN_WUR int cairn_git_is_ancestor(struct cairn_git *g,
                                    const struct cairn_git_oid *anc,
                                    const struct cairn_git_oid *desc,
                                    struct cairn_diag *d);

/* ---- files of a commit ---------------------------------------------- */

/* Caps on one tree walk; 0 fields take the CAIRN_GIT_MAX_* defaults. */
struct cairn_git_limits {
    size_t max_file;    /* bytes of one blob */
    size_t max_files;   /* number of entries listed */
    uint64_t max_total; /* bytes of all blobs together */
};

struct cairn_git_file {
    char *path; /* "dir/sub/name", '/'-separated, no leading / */
    struct cairn_git_oid blob;
    unsigned mode; /* 0100644 or 0100755 */
    size_t size;
    uint8_t *data; /* contents (NUL-terminated, not counted in
                      size); NULL when listed without content */
};

/* Entries the walk left out: symlinks and submodules (gitlinks), which a
 * commit's files can't meaningfully follow without a checkout. */
struct cairn_git_skip {
    char *path;
    char *why; /* "symlink", "submodule" */
};

struct cairn_git_tree {
    struct cairn_git_oid commit;
    struct cairn_git_file *files; /* sorted by path (strcmp) */
    size_t n;
    uint64_t total; /* sum of sizes */
    struct cairn_git_skip *skipped;
    size_t nskipped;
};

#define CAIRN_GIT_CONTENT 1u /* read blob contents too */

/*
 * Walk the whole tree of commit and list every regular file (recursive),
 * with contents when flags has CAIRN_GIT_CONTENT. prefix (NULL or "" for
 * all) limits the walk to one directory ("models"); a missing prefix gives
 * an empty list. Symlinks and submodules are skipped and listed in
 * ->skipped; the caller should log them. Sizes are checked from object
 * headers before any blob is read, so a huge blob is never inflated.
 * CAIRN_ETOOBIG (cap; the message names the file and cap), CAIRN_EPATH
 * (a tree entry named ".", ".." or holding '/'), CAIRN_ENOENT, CAIRN_EGIT.
 * *out is written only on success; free with cairn_git_tree_free().
 */
CAIRN_WUR int cairn_git_tree_read(struct cairn_git *g,
                                  const struct cairn_git_oid *commit,
                                  const char *prefix,
                                  const struct cairn_git_limits *lim,
                                  unsigned flags, struct cairn_git_tree **out,
                                  struct cairn_diag *d);
void cairn_git_tree_free(struct cairn_git_tree *t); /* NULL ok */
/* The entry for path in t, or NULL. Binary search. */
const struct cairn_git_file *cairn_git_tree_find(const struct cairn_git_tree *t,
                                                 const char *path);

/*
 * Read one file of commit by path. Contents go to a fresh buffer (*data,
 * free(); NUL-terminated, not counted in *len). CAIRN_ENOENT (no such
 * path), CAIRN_EINVAL (path is a directory, symlink or submodule),
 * CAIRN_ETOOBIG (bigger than max; 0 = CAIRN_GIT_MAX_FILE), CAIRN_EGIT.
 */
CAIRN_WUR int cairn_git_read_file(struct cairn_git *g,
                                  const struct cairn_git_oid *commit,
                                  const char *path, size_t max, uint8_t **data,
                                  size_t *len, struct cairn_diag *d);

/* ---- tree diff ------------------------------------------------------ */

enum cairn_git_change {
    CAIRN_GIT_ADDED = 'A',
    CAIRN_GIT_MODIFIED = 'M',
    CAIRN_GIT_DELETED = 'D',
};

struct cairn_git_delta {
    char *path;
    enum cairn_git_change change; /* a type change (file <-> symlink) is M */
};

struct cairn_git_diff {
    struct cairn_git_delta *v; /* sorted by path */
    size_t n;
};

/*
 * Paths that differ between the trees of commits from and to (files only,
 * recursive; no rename detection, so a rename is D + A). from NULL means
 * the empty tree (everything added). More than max changes (0 =
 * CAIRN_GIT_MAX_FILES): CAIRN_ETOOBIG. *out written only on success.
 */
CAIRN_WUR int cairn_git_diff(struct cairn_git *g,
                             const struct cairn_git_oid *from,
                             const struct cairn_git_oid *to, size_t max,
                             struct cairn_git_diff **out, struct cairn_diag *d);
void cairn_git_diff_free(struct cairn_git_diff *df); /* NULL ok */

/* ---- commits -------------------------------------------------------- */

struct cairn_git_person {
    char *name;
    char *email;
    int64_t time;   /* seconds since the epoch */
    int tz_minutes; /* offset from UTC as written in the commit */
};

struct cairn_git_commit {
    struct cairn_git_oid id;
    struct cairn_git_oid tree;
    struct cairn_git_person author;
    struct cairn_git_person committer;
    char *summary; /* first paragraph, on one line */
    char *message; /* whole message */
    struct cairn_git_oid *parents;
    size_t nparents;
    int has_signature; /* 1 when the commit carries a gpgsig header */
};

/* Metadata of one commit. *out written only on success; free with
 * cairn_git_commit_free(). CAIRN_ENOENT, CAIRN_EGIT. */
CAIRN_WUR int cairn_git_commit_get(struct cairn_git *g,
                                   const struct cairn_git_oid *id,
                                   struct cairn_git_commit **out,
                                   struct cairn_diag *d);
void cairn_git_commit_free(struct cairn_git_commit *c); /* NULL ok */

/*
 * The commit's signature (the gpgsig header, continuation lines joined:
 * "-----BEGIN SSH SIGNATURE-----\n...") and the data it signs (the commit
 * object without that header), split as git verify-commit splits it. Both
 * may hold NUL bytes (a commit object can): use the lengths. Fresh
 * NUL-terminated buffers (free()).
 * CAIRN_ENOENT when the commit is unsigned (or missing), CAIRN_EGIT.
 */
CAIRN_WUR int cairn_git_commit_signature(struct cairn_git *g,
                                         const struct cairn_git_oid *id,
                                         char **sig, size_t *sig_len,
                                         char **signed_data, size_t *signed_len,
                                         struct cairn_diag *d);

/* The raw commit object ("tree ...\nparent ...\n...") as stored, for
 * evidence bundles: `git cat-file commit <sha>` prints the same bytes.
 * Fresh buffer (free()), NUL-terminated. CAIRN_ENOENT, CAIRN_EGIT. */
CAIRN_WUR int cairn_git_commit_raw(struct cairn_git *g,
                                   const struct cairn_git_oid *id,
                                   uint8_t **data, size_t *len,
                                   struct cairn_diag *d);

/* Any object's bytes as stored, without git's "<type> <len>\0" header, so
 * that sha1("<type> <len>\0" + bytes) is its id: type "commit", "tree" or
 * "blob" (another: CAIRN_EINVAL), which the object must be (CAIRN_EINVAL
 * otherwise). At most max bytes (0 = CAIRN_GIT_MAX_FILE; past it
 * CAIRN_ETOOBIG, checked from the header before inflating). For evidence
 * bundles that prove a file through its commit's trees. Fresh buffer
 * (free()), NUL-terminated. CAIRN_ENOENT, CAIRN_EGIT. */
CAIRN_WUR int cairn_git_object_raw(struct cairn_git *g,
                                   const struct cairn_git_oid *id,
                                   const char *type, size_t max, uint8_t **data,
                                   size_t *len, struct cairn_diag *d);

/* The id git gives len bytes of data as an object of type ("commit",
 * "tree", "blob"): sha1("<type> <len>\0" + data) in a SHA-1 repository.
 * No repository needed (offline evidence checks). CAIRN_EINVAL (type),
 * CAIRN_EGIT. */
CAIRN_WUR int cairn_git_object_id(const char *type, const void *data,
                                  size_t len, struct cairn_git_oid *out,
                                  struct cairn_diag *d);

/*
 * Check the commit's SSH signature against an allowed_signers set
 * (sshsig.h), at the committer time as git verify-commit does. The result
 * is always filled (an unsigned commit is a result, not an error); the
 * return is 0, or CAIRN_ENOENT / CAIRN_EGIT when the commit can't be read.
 */
CAIRN_WUR int
cairn_git_verify_commit(struct cairn_git *g, const struct cairn_git_oid *id,
                        const struct cairn_sshsig_signers *signers,
                        struct cairn_sshsig_result *res, struct cairn_diag *d);

/* ---- history -------------------------------------------------------- */

struct cairn_git_log {
    struct cairn_git_oid *v; /* newest first */
    size_t n;
};

/*
 * Commits reachable from `from`, newest first (topological, then commit
 * time). With path_prefix (NULL or "" for all), only commits that changed
 * something under it: a commit is kept when the tree entry at the prefix
 * differs from that of every parent (a root commit: when the prefix
 * exists). At most max commits are returned (0 = CAIRN_GIT_MAX_LOG); a
 * walk that would return more stops there and sets *truncated (may be
 * NULL). *out written only on success. CAIRN_ENOENT, CAIRN_EGIT.
 */
CAIRN_WUR int cairn_git_log_walk(struct cairn_git *g,
                                 const struct cairn_git_oid *from,
                                 const char *path_prefix, size_t max,
                                 struct cairn_git_log **out, int *truncated,
                                 struct cairn_diag *d);
void cairn_git_log_free(struct cairn_git_log *l); /* NULL ok */

#endif
