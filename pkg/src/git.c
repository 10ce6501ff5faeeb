/*
 * Git access through libgit2 (see docs/internals/git.md).
 */
#include "cairn/git.h"

#include <dirent.h>
#include <git2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/sshsig.h"
#include "git_int.h"

/* A commit object is a few hundred bytes; a signed one about a kilobyte. */
#define MAX_COMMIT_OBJECT (1u << 20)
#define MAX_PATH_LEN 4096u

struct cairn_git {
    git_repository *repo;
    char *url;
    char *branch;
    char *track_ref; /* refs/remotes/origin/<branch> or refs/heads/<branch> */
    int mirror;
    char *ssh_key;
    char *ssh_user;
    char *https_user;
    char *https_password;
    struct cairn__git_trust trust;
    uint64_t max_fetch;
};

/* ---- library set-up and errors -------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    static const int levels[] = {GIT_CONFIG_LEVEL_PROGRAMDATA,
                                 GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG,
                                 GIT_CONFIG_LEVEL_GLOBAL};

    if (git_libgit2_init() < 0) {
        lib_rc = -1;
        return;
    }
    /* What the controller reads must not depend on the gitconfig of
     * whoever runs it (url rewrites, proxies, hooks into credential
     * helpers): only the repository's own config counts. */
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(levels); i++)
        if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "") < 0)
            lib_rc = -1;
}

static int lib_ensure(struct cairn_diag *d)
{
    const git_error *e;

    pthread_once(&lib_once, lib_init);
    if (lib_rc == 0)
        return 0;
    e = git_error_last();
    return cairn_diag_set(d, CAIRN_EGIT, "libgit2 initialisation failed: %s",
                          e && e->message ? e->message : "unknown error");
}

/* Map a libgit2 return code, with libgit2's own text after ours. */
__attribute__((format(printf, 3, 4))) static int
gfail(struct cairn_diag *d, int gerr, const char *fmt, ...)
{
    const git_error *e = git_error_last();
    char what[512];
    va_list ap;
    int code = CAIRN_EGIT;

    if (gerr == GIT_ENOTFOUND)
        code = CAIRN_ENOENT;
    else if (gerr == GIT_EEXISTS)
        code = CAIRN_EEXIST;
    else if (gerr == GIT_EAMBIGUOUS)
        code = CAIRN_EINVAL;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return cairn_diag_set(d, code, "%s: %s", what,
                          e && e->message ? e->message : "libgit2 error");
}

static void oid_out(const git_oid *id, struct cairn_git_oid *out)
{
    git_oid_tostr(out->hex, sizeof(out->hex), id);
}

static int oid_in(const struct cairn_git_oid *in, git_oid *id,
                  struct cairn_diag *d)
{
    if (!in || strlen(in->hex) != CAIRN_GIT_OID_HEXLEN ||
        git_oid_fromstr(id, in->hex) < 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "not an object id: '%.48s'",
                              in ? in->hex : "(null)");
    return 0;
}

/* ---- open ----------------------------------------------------------- */

void cairn_git_free(struct cairn_git *g)
{
    if (!g)
        return;
    git_repository_free(g->repo);
    free(g->url);
    free(g->branch);
    free(g->track_ref);
    free(g->ssh_key);
    free(g->ssh_user);
    free(g->https_user);
    cairn__git_trust_free(&g->trust);
    if (g->https_password) {
        memset(g->https_password, 0, strlen(g->https_password));
        free(g->https_password);
    }
    free(g);
}

static char *dup_or_null(const char *s)
{
    return s ? cairn_xstrdup(s) : NULL;
}

static int set_branch(struct cairn_git *g, const char *branch,
                      struct cairn_diag *d)
{
    char *ref = cairn_xasprintf("refs/heads/%s", branch);
    int valid = 0;

    if (git_reference_name_is_valid(&valid, ref) < 0 || !valid ||
        strcmp(branch, "HEAD") == 0) {
        free(ref);
        return cairn_diag_set(d, CAIRN_EINVAL, "invalid branch name '%s'",
                              branch);
    }
    free(ref);
    g->branch = cairn_xstrdup(branch);
    return 0;
}

/* A URL that libgit2 would reach over the network. */
static int is_remote_url(const char *url)
{
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');

    if (strncmp(url, "file://", 7) == 0)
        return 0;
    if (strstr(url, "://"))
        return 1;
    /* scp-like "host:path" (a colon before any slash) */
    return colon && (!slash || colon < slash);
}

/* No branch configured, local repository: follow the branch its HEAD
 * names, as `git clone` would check out ("master" after a plain git init
 * on many systems, "main" on others). */
static int local_head_branch(struct cairn_git *g, struct cairn_diag *d)
{
    git_reference *head = NULL;
    const char *target = NULL;
    int rc, gr = git_reference_lookup(&head, g->repo, "HEAD");

    if (gr < 0)
        return gfail(d, gr, "%s: HEAD", g->url);
    if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC)
        target = git_reference_symbolic_target(head);
    if (!target || strncmp(target, "refs/heads/", 11) != 0)
        rc = cairn_diag_set(d, CAIRN_EINVAL,
                            "%s: HEAD is not on a branch (detached); set the "
                            "branch to follow",
                            g->url);
    else
        rc = set_branch(g, target + 11, d);
    git_reference_free(head);
    return rc;
}

static int open_local(struct cairn_git *g, struct cairn_diag *d)
{
    const char *path = g->url;
    int gr;

    if (is_remote_url(path))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "%s: a remote repository needs a mirror "
                              "directory",
                              g->url);
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    gr = git_repository_open_ext(&g->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                 NULL);
    if (gr < 0)
        return gfail(d, gr, "open %s", g->url);
    if (!g->branch) {
        int rc = local_head_branch(g, d);

        if (rc)
            return rc;
    }
    g->track_ref = cairn_xasprintf("refs/heads/%s", g->branch);
    return 0;
}

/* 1 when dir is missing or an empty directory, 0 otherwise. */
static int dir_is_fresh(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *e;
    int fresh = 1;

    if (!dh)
        return 1; /* missing; anything else fails in git_repository_init */
    while (fresh && (e = readdir(dh)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            fresh = 0;
    closedir(dh);
    return fresh;
}

static int create_mirror(struct cairn_git *g, const char *dir,
                         struct cairn_diag *d)
{
    git_config *cfg = NULL;
    char *spec;
    int gr;

    gr = git_repository_init(&g->repo, dir, 1);
    if (gr < 0)
        return gfail(d, gr, "create mirror %s", dir);
    /* Written as plain config (not git_remote_create, whose regex config
     * scans leak in libgit2 1.5 with PCRE2), so that `git fetch` by hand
     * in the mirror does what cairn does. */
    spec = g->branch
               ? cairn_xasprintf("+refs/heads/%s:%s", g->branch, g->track_ref)
               : cairn_xstrdup("+refs/heads/*:refs/remotes/origin/*");
    gr = git_repository_config(&cfg, g->repo);
    if (gr == 0)
        gr = git_config_set_string(cfg, "remote.origin.url", g->url);
    if (gr == 0)
        gr = git_config_set_string(cfg, "remote.origin.fetch", spec);
    git_config_free(cfg);
    free(spec);
    if (gr < 0)
        return gfail(d, gr, "mirror %s: remote %s", dir, g->url);
    return 0;
}

static int reopen_mirror(struct cairn_git *g, const char *dir,
                         struct cairn_diag *d)
{
    git_config *cfg = NULL;
    const char *have = NULL;
    int gr, rc = 0;

    gr = git_repository_open_bare(&g->repo, dir);
    if (gr < 0)
        return gfail(d, GIT_EEXISTS, "%s is not empty and not a git mirror",
                     dir);
    /* Read the URL straight from the config: git_remote_lookup's regex
     * config scan leaks in libgit2 1.5 with PCRE2. */
    gr = git_repository_config_snapshot(&cfg, g->repo);
    if (gr == 0)
        gr = git_config_get_string(&have, cfg, "remote.origin.url");
    if (gr < 0)
        rc = gfail(d, gr, "mirror %s has no origin remote", dir);
    else if (strcmp(have, g->url) != 0)
        rc = cairn_diag_set(d, CAIRN_EEXIST, "mirror %s follows %s, not %s",
                            dir, have, g->url);
    /* No branch configured: the remote's default branch learnt by an
     * earlier fetch, so that the mirror serves offline after a restart. */
    if (rc == 0 && !g->branch &&
        git_config_get_string(&have, cfg, "cairn.branch") == 0)
        rc = set_branch(g, have, d);
    git_config_free(cfg);
    return rc;
}

/* A mirror keeps the followed branch as refs/remotes/origin/<branch>:
 * set that once the branch is known (configured, remembered or learnt). */
static void track_remote_branch(struct cairn_git *g)
{
    if (g->branch && !g->track_ref)
        g->track_ref = cairn_xasprintf("refs/remotes/origin/%s", g->branch);
}

static int open_mirror(struct cairn_git *g, const char *dir,
                       struct cairn_diag *d)
{
    int rc;

    g->mirror = 1;
    track_remote_branch(g);
    if (dir_is_fresh(dir))
        return create_mirror(g, dir, d);
    rc = reopen_mirror(g, dir, d);
    if (rc == 0)
        track_remote_branch(g);
    return rc;
}

int cairn_git_open(const char *url, const char *mirror_dir,
                   const struct cairn_git_opts *opts, struct cairn_git **out,
                   struct cairn_diag *d)
{
    static const struct cairn_git_opts none;
    struct cairn_git *g = NULL;
    int rc;

    if (!url || !*url || !out || (mirror_dir && !*mirror_dir))
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no repository url");
    if (!opts)
        opts = &none;
    rc = lib_ensure(d);
    if (rc)
        return rc;
    g = cairn_xcalloc(1, sizeof(*g));
    g->url = cairn_xstrdup(url);
    g->ssh_key = dup_or_null(opts->ssh_key);
    g->ssh_user = dup_or_null(opts->ssh_user);
    g->https_user = dup_or_null(opts->https_user);
    g->https_password = dup_or_null(opts->https_password);
    g->max_fetch =
        opts->max_fetch_bytes ? opts->max_fetch_bytes : CAIRN_GIT_MAX_FETCH;
    rc = opts->branch ? set_branch(g, opts->branch, d) : 0;
    if (rc == 0 && mirror_dir)
        rc = cairn__git_trust_init(&g->trust, url, opts, d);
    if (rc)
        goto out;
    rc = mirror_dir ? open_mirror(g, mirror_dir, d) : open_local(g, d);
    if (rc)
        goto out;
    *out = g;
    g = NULL;
out:
    cairn_git_free(g);
    return rc;
}

const char *cairn_git_url(const struct cairn_git *g)
{
    return g->url;
}

const char *cairn_git_branch(const struct cairn_git *g)
{
    return g->branch ? g->branch : "(the remote's default branch)";
}

/* ---- fetch ---------------------------------------------------------- */

struct fetch_ctx {
    struct cairn_git *g;
    int too_big;
    int cred_calls;
    int no_user; /* the server asked for a password and none is set */
    struct cairn__git_cert_state cert;
};

static int on_progress(const git_indexer_progress *st, void *payload)
{
    struct fetch_ctx *c = payload;

    if (st->received_bytes > c->g->max_fetch) {
        c->too_big = 1;
        git_error_set_str(GIT_ERROR_NET, "fetch size cap reached");
        return -1;
    }
    return 0;
}

static int on_credentials(git_credential **out, const char *url,
                          const char *user_from_url, unsigned int allowed,
                          void *payload)
{
    struct fetch_ctx *c = payload;
    struct cairn_git *g = c->g;
    const char *user = g->ssh_user     ? g->ssh_user
                       : user_from_url ? user_from_url
                                       : "git";

    (void)url;
    /* libgit2 asks again after every rejection: stop after a few. */
    if (++c->cred_calls > 3) {
        git_error_set_str(GIT_ERROR_NET, "authentication failed");
        return GIT_EAUTH;
    }
    if (allowed & GIT_CREDENTIAL_USERNAME)
        return git_credential_username_new(out, user);
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        if (g->ssh_key)
            return git_credential_ssh_key_new(out, user, NULL, g->ssh_key,
                                              NULL);
        return git_credential_ssh_key_from_agent(out, user);
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && g->https_user)
        return git_credential_userpass_plaintext_new(
            out, g->https_user, g->https_password ? g->https_password : "");
    if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)
        c->no_user = 1;
    return GIT_PASSTHROUGH;
}

static int on_certificate(git_cert *cert, int valid, const char *host,
                          void *payload)
{
    struct fetch_ctx *c = payload;

    return cairn__git_cert_check(cert, valid, host, &c->cert);
}

/* A fetch's failure in the words an operator needs: whom we did not trust
 * or who did not accept us, then libgit2's own text. */
static int fetch_failed(struct cairn_git *g, const struct fetch_ctx *c, int gr,
                        struct cairn_diag *d)
{
    const git_error *e = git_error_last();
    const char *why = e && e->message ? e->message : "unknown error";

    if (c->too_big)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "fetch %s: more than %llu bytes received (cap)",
                              g->url, (unsigned long long)g->max_fetch);
    if (c->cert.refused.code)
        return cairn_diag_set(d, c->cert.refused.code, "fetch %s: %s", g->url,
                              c->cert.refused.msg);
    if (c->cert.tls_untrusted)
        return cairn_diag_set(d, CAIRN_EKEY,
                              "fetch %s: the server's TLS certificate is not "
                              "trusted (%s); if a private CA issued it, give "
                              "that CA's PEM bundle (gitCaFile)",
                              g->url, why);
    if (c->no_user)
        return cairn_diag_set(d, CAIRN_EPERM,
                              "fetch %s: the server asks for a user and "
                              "password and none is configured "
                              "(gitHttpsUser, gitHttpsPasswordFile)",
                              g->url);
    if (gr == GIT_EAUTH || c->cred_calls > 3)
        return cairn_diag_set(d, CAIRN_EPERM,
                              "fetch %s: the server refused our credentials "
                              "(user '%s'): %s",
                              g->url,
                              g->https_user ? g->https_user
                              : g->ssh_user ? g->ssh_user
                                            : "from the URL",
                              why);
    return gfail(d, gr == GIT_ENOTFOUND ? GIT_ERROR : gr, "fetch %s", g->url);
}

/* Keep what the remote's HEAD names in the mirror's config, for restarts. */
static int remember_branch(struct cairn_git *g, struct cairn_diag *d)
{
    git_config *cfg = NULL;
    int gr = git_repository_config(&cfg, g->repo);

    if (gr == 0)
        gr = git_config_set_string(cfg, "cairn.branch", g->branch);
    git_config_free(cfg);
    return gr < 0 ? gfail(d, gr, "mirror of %s: config", g->url) : 0;
}

/* No branch configured: ask the remote which branch its HEAD names. */
static int learn_default_branch(struct cairn_git *g, git_remote *rem,
                                const git_remote_callbacks *cb,
                                const struct fetch_ctx *ctx,
                                struct cairn_diag *d)
{
    git_buf head = {0};
    int rc, gr = git_remote_connect(rem, GIT_DIRECTION_FETCH, cb, NULL, NULL);

    if (gr < 0)
        rc = fetch_failed(g, ctx, gr, d);
    else if ((gr = git_remote_default_branch(&head, rem)) < 0)
        rc = gfail(d, gr, "fetch %s: default branch", g->url);
    else if (strncmp(head.ptr, "refs/heads/", 11) != 0)
        rc = cairn_diag_set(d, CAIRN_EINVAL,
                            "%s: HEAD names '%s', not a branch; set the "
                            "branch to follow",
                            g->url, head.ptr);
    else
        rc = set_branch(g, head.ptr + 11, d);
    if (rc == 0)
        rc = remember_branch(g, d);
    if (rc == 0) {
        track_remote_branch(g);
    } else {
        /* not learnt until it is also remembered: the next fetch asks
         * again, so a restart can still serve from the mirror */
        free(g->branch);
        g->branch = NULL;
    }
    git_remote_disconnect(rem);
    git_buf_dispose(&head);
    return rc;
}

static int fetch_mirror(struct cairn_git *g, struct cairn_diag *d)
{
    git_fetch_options fo;
    git_remote_create_options ro;
    struct fetch_ctx ctx = {.g = g, .cert.trust = &g->trust};
    git_remote *rem = NULL;
    char *spec = NULL;
    git_strarray specs = {.strings = &spec, .count = 1};
    int gr, rc = 0;

    gr = git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    if (gr == 0)
        gr = git_remote_create_options_init(&ro,
                                            GIT_REMOTE_CREATE_OPTIONS_VERSION);
    /* An in-memory remote for the URL checked at open: no insteadOf
     * rewriting, no configured refspecs, and none of git_remote_lookup's
     * regex config scans (they leak in libgit2 1.5 with PCRE2). */
    ro.repository = g->repo;
    ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
               GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    if (gr == 0)
        gr = git_remote_create_with_opts(&rem, g->url, &ro);
    if (gr < 0) {
        rc = gfail(d, gr, "fetch %s", g->url);
        goto out;
    }
    fo.callbacks.transfer_progress = on_progress;
    fo.callbacks.credentials = on_credentials;
    fo.callbacks.certificate_check = on_certificate;
    fo.callbacks.payload = &ctx;
    if (!g->track_ref) {
        rc = learn_default_branch(g, rem, &fo.callbacks, &ctx, d);
        if (rc)
            goto out;
        ctx.cred_calls = 0;
    }
    spec = cairn_xasprintf("+refs/heads/%s:%s", g->branch, g->track_ref);
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    fo.update_fetchhead = 0;
    /* A branch deleted upstream disappears here too, so that resolving
     * it fails instead of serving its last tip forever. */
    fo.prune = GIT_FETCH_PRUNE;
    gr = git_remote_fetch(rem, &specs, &fo, "cairn: fetch");
    if (gr < 0)
        rc = fetch_failed(g, &ctx, gr, d);
out:
    git_remote_free(rem);
    free(spec);
    return rc;
}

static int resolve_track(struct cairn_git *g, struct cairn_git_oid *tip,
                         struct cairn_diag *d)
{
    git_oid id;
    int gr;

    if (!g->track_ref)
        return cairn_diag_set(d, CAIRN_ENOENT,
                              "%s: not fetched yet (the branch to follow is "
                              "the remote's default)",
                              g->url);
    gr = git_reference_name_to_id(&id, g->repo, g->track_ref);

    if (gr == GIT_ENOTFOUND)
        return cairn_diag_set(d, CAIRN_ENOENT, "%s: no branch '%s'", g->url,
                              g->branch);
    if (gr < 0)
        return gfail(d, gr, "%s: branch '%s'", g->url, g->branch);
    if (tip)
        oid_out(&id, tip);
    return 0;
}

int cairn_git_fetch(struct cairn_git *g, struct cairn_git_oid *tip_out,
                    struct cairn_diag *d)
{
    int rc;

    if (!g)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no handle");
    if (g->mirror) {
        rc = fetch_mirror(g, d);
        if (rc)
            return rc;
    }
    return resolve_track(g, tip_out, d);
}

/* ---- resolve -------------------------------------------------------- */

static int is_plain_name(const char *rev)
{
    return strncmp(rev, "refs/", 5) != 0 && !strpbrk(rev, "~^:@{ ");
}

int cairn_git_resolve(struct cairn_git *g, const char *rev,
                      struct cairn_git_oid *out, struct cairn_diag *d)
{
    git_object *obj = NULL, *peeled = NULL;
    char *alt = NULL;
    git_oid id;
    int gr, rc = 0;

    if (!g || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no handle");
    if (!g->track_ref)
        return cairn_diag_set(d, CAIRN_ENOENT,
                              "%s: not fetched yet (the branch to follow is "
                              "the remote's default)",
                              g->url);
    if (!rev || strcmp(rev, g->branch) == 0 ||
        (g->mirror && strcmp(rev, "HEAD") == 0))
        return resolve_track(g, out, d);
    if (g->mirror && is_plain_name(rev)) {
        /* Branches live under refs/remotes/origin/ in a mirror. */
        alt = cairn_xasprintf("refs/remotes/origin/%s", rev);
        if (git_reference_name_to_id(&id, g->repo, alt) == 0)
            rev = alt;
    }
    gr = git_revparse_single(&obj, g->repo, rev);
    if (gr == GIT_ENOTFOUND)
        rc = cairn_diag_set(d, CAIRN_ENOENT, "revision '%s' not found", rev);
    else if (gr < 0)
        rc = gfail(d, gr, "revision '%s'", rev);
    else if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0)
        rc = cairn_diag_set(d, CAIRN_EINVAL, "revision '%s' is not a commit",
                            rev);
    else
        oid_out(git_object_id(peeled), out);
    git_object_free(peeled);
    git_object_free(obj);
    free(alt);
    return rc;
}

int cairn_git_is_ancestor(struct cairn_git *g, const struct cairn_git_oid *anc,
                          const struct cairn_git_oid *desc,
                          struct cairn_diag *d)
{
    git_oid a, b;
    int rc, gr;

    if (!g)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no handle");
    if ((rc = oid_in(anc, &a, d)) || (rc = oid_in(desc, &b, d)))
        return rc;
    if (git_oid_equal(&a, &b))
        return 1;
    gr = git_graph_descendant_of(g->repo, &b, &a);
    if (gr < 0)
        return gfail(d, gr, "ancestry of %s and %s", anc->hex, desc->hex);
    return gr ? 1 : 0;
}

/* ---- objects -------------------------------------------------------- */

/* Check an object's type and size from its header, before inflating it. */
static int check_object(struct cairn_git *g, const git_oid *id,
                        git_object_t want, size_t max, const char *what,
                        size_t *size, struct cairn_diag *d)
{
    git_odb *odb = NULL;
    git_object_t type;
    size_t len;
    int gr;
    char hex[GIT_OID_HEXSZ + 1];

    git_oid_tostr(hex, sizeof(hex), id);
    gr = git_repository_odb(&odb, g->repo);
    if (gr == 0)
        gr = git_odb_read_header(&len, &type, odb, id);
    git_odb_free(odb);
    if (gr == GIT_ENOTFOUND)
        return cairn_diag_set(d, CAIRN_ENOENT, "%s %s not found", what, hex);
    if (gr < 0)
        return gfail(d, gr, "%s %s", what, hex);
    if (type != want)
        return cairn_diag_set(d, CAIRN_EINVAL, "%s %s is a %s", what, hex,
                              git_object_type2string(type));
    if (len > max)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s %s: %zu bytes, more than the %zu-byte cap",
                              what, hex, len, max);
    if (size)
        *size = len;
    return 0;
}

static int lookup_commit(struct cairn_git *g, const struct cairn_git_oid *in,
                         git_commit **out, struct cairn_diag *d)
{
    git_oid id;
    int rc, gr;

    if (!g)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no handle");
    rc = oid_in(in, &id, d);
    if (rc == 0)
        rc = check_object(g, &id, GIT_OBJECT_COMMIT, MAX_COMMIT_OBJECT,
                          "commit", NULL, d);
    if (rc)
        return rc;
    gr = git_commit_lookup(out, g->repo, &id);
    if (gr < 0)
        return gfail(d, gr, "commit %s", in->hex);
    return 0;
}

/* Copy a blob into a fresh NUL-terminated buffer, size checked first. */
static int read_blob(struct cairn_git *g, const git_oid *id, const char *path,
                     size_t max, uint8_t **data, size_t *len,
                     struct cairn_diag *d)
{
    git_blob *blob = NULL;
    size_t n = 0;
    uint8_t *buf;
    int rc, gr;

    rc = check_object(g, id, GIT_OBJECT_BLOB, max, path, &n, d);
    if (rc)
        return rc;
    gr = git_blob_lookup(&blob, g->repo, id);
    if (gr < 0)
        return gfail(d, gr, "%s", path);
    if ((size_t)git_blob_rawsize(blob) != n) {
        git_blob_free(blob);
        return cairn_diag_set(d, CAIRN_EGIT, "%s: blob size changed", path);
    }
    buf = cairn_xmalloc(n + 1);
    memcpy(buf, git_blob_rawcontent(blob), n);
    buf[n] = '\0';
    git_blob_free(blob);
    *data = buf;
    *len = n;
    return 0;
}

/* ---- tree walk ------------------------------------------------------ */

struct walk {
    struct cairn_git *g;
    struct cairn_git_limits lim;
    unsigned flags;
    struct cairn_git_tree *t;
    size_t files_alloc;
    size_t entries; /* every entry seen, directories included */
    struct cairn_diag *d;
};

void cairn_git_tree_free(struct cairn_git_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->files[i].path);
        free(t->files[i].data);
    }
    for (size_t i = 0; i < t->nskipped; i++) {
        free(t->skipped[i].path);
        free(t->skipped[i].why);
    }
    free(t->files);
    free(t->skipped);
    free(t);
}

static int add_file(struct walk *w, const char *path, const git_tree_entry *e)
{
    struct cairn_git_tree *t = w->t;
    struct cairn_git_file *f;
    size_t size;
    int rc;

    rc = check_object(w->g, git_tree_entry_id(e), GIT_OBJECT_BLOB,
                      w->lim.max_file, path, &size, w->d);
    if (rc)
        return rc;
    if (size > w->lim.max_total - t->total)
        return cairn_diag_set(w->d, CAIRN_ETOOBIG,
                              "%s: files add up to more than the "
                              "%llu-byte total cap",
                              path, (unsigned long long)w->lim.max_total);
    if (t->n == w->files_alloc) {
        w->files_alloc = w->files_alloc ? 2 * w->files_alloc : 64;
        t->files = cairn_xrealloc(t->files, w->files_alloc * sizeof(*f));
    }
    f = &t->files[t->n];
    memset(f, 0, sizeof(*f));
    if (w->flags & CAIRN_GIT_CONTENT) {
        rc = read_blob(w->g, git_tree_entry_id(e), path, w->lim.max_file,
                       &f->data, &size, w->d);
        if (rc)
            return rc;
    }
    f->path = cairn_xstrdup(path);
    oid_out(git_tree_entry_id(e), &f->blob);
    f->mode = (unsigned)git_tree_entry_filemode(e);
    f->size = size;
    t->total += size;
    t->n++;
    return 0;
}

static void add_skip(struct walk *w, const char *path, const char *why)
{
    struct cairn_git_tree *t = w->t;

    /* Bounded by the entry cap, so growing one by one is fine. */
    t->skipped =
        cairn_xrealloc(t->skipped, (t->nskipped + 1) * sizeof(*t->skipped));
    t->skipped[t->nskipped].path = cairn_xstrdup(path);
    t->skipped[t->nskipped].why = cairn_xstrdup(why);
    t->nskipped++;
}

/* Tree objects are not validated by libgit2 on read: a crafted one could
 * hold names that would walk out of a directory. */
static int check_name(struct walk *w, const char *dir, const char *name)
{
    if (*name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
        !strchr(name, '/'))
        return 0;
    return cairn_diag_set(w->d, CAIRN_EPATH,
                          "tree entry '%s' in '%s' is not a safe name", name,
                          dir ? dir : "/");
}

static int walk_tree(struct walk *w, git_tree *tree, const char *dir,
                     unsigned depth);

static int walk_entry(struct walk *w, const git_tree_entry *e, const char *path,
                      unsigned depth)
{
    git_tree *sub = NULL;
    int gr, rc;

    switch (git_tree_entry_filemode(e)) {
    case GIT_FILEMODE_TREE:
        gr = git_tree_lookup(&sub, w->g->repo, git_tree_entry_id(e));
        if (gr < 0)
            return gfail(w->d, gr, "%s", path);
        rc = walk_tree(w, sub, path, depth + 1);
        git_tree_free(sub);
        return rc;
    case GIT_FILEMODE_BLOB:
    case GIT_FILEMODE_BLOB_EXECUTABLE:
        return add_file(w, path, e);
    case GIT_FILEMODE_LINK:
        add_skip(w, path, "symlink");
        return 0;
    case GIT_FILEMODE_COMMIT:
        add_skip(w, path, "submodule");
        return 0;
    default:
        return cairn_diag_set(w->d, CAIRN_EPARSE,
                              "%s: unknown tree entry mode %o", path,
                              (unsigned)git_tree_entry_filemode(e));
    }
}

static int walk_tree(struct walk *w, git_tree *tree, const char *dir,
                     unsigned depth)
{
    size_t n = git_tree_entrycount(tree);
    int rc = 0;

    if (depth > CAIRN_GIT_MAX_DEPTH)
        return cairn_diag_set(w->d, CAIRN_ETOOBIG,
                              "%s: directories nested more than %u deep", dir,
                              CAIRN_GIT_MAX_DEPTH);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        const char *name = git_tree_entry_name(e);
        char *path;

        if (++w->entries > w->lim.max_files)
            return cairn_diag_set(w->d, CAIRN_ETOOBIG,
                                  "%s: more than %zu entries in the tree "
                                  "(cap)",
                                  dir ? dir : "/", w->lim.max_files);
        rc = check_name(w, dir, name);
        if (rc)
            break;
        path = dir ? cairn_xasprintf("%s/%s", dir, name) : cairn_xstrdup(name);
        if (strlen(path) > MAX_PATH_LEN)
            rc = cairn_diag_set(w->d, CAIRN_ETOOBIG,
                                "%.64s...: path longer than %u bytes", path,
                                MAX_PATH_LEN);
        else
            rc = walk_entry(w, e, path, depth);
        free(path);
    }
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct cairn_git_file *)a)->path,
                  ((const struct cairn_git_file *)b)->path);
}

/* Sort for lookups; a crafted tree may be unsorted or repeat a name. */
static int sort_files(struct walk *w)
{
    struct cairn_git_tree *t = w->t;

    if (t->n > 1)
        qsort(t->files, t->n, sizeof(*t->files), cmp_file);
    for (size_t i = 1; i < t->n; i++)
        if (strcmp(t->files[i - 1].path, t->files[i].path) == 0)
            return cairn_diag_set(w->d, CAIRN_EPARSE,
                                  "%s: listed twice in the tree",
                                  t->files[i].path);
    return 0;
}

/* Strip leading and trailing '/' from a prefix; NULL when empty. */
static char *clean_prefix(const char *prefix)
{
    size_t n;

    if (!prefix)
        return NULL;
    while (*prefix == '/')
        prefix++;
    n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    return n ? cairn_xstrndup(prefix, n) : NULL;
}

/* Walk from prefix (a directory or one file) inside the commit's tree. */
static int walk_prefix(struct walk *w, git_tree *root, const char *prefix)
{
    git_tree_entry *e = NULL;
    git_tree *sub = NULL;
    int gr, rc;

    if (!prefix)
        return walk_tree(w, root, NULL, 0);
    gr = git_tree_entry_bypath(&e, root, prefix);
    if (gr == GIT_ENOTFOUND)
        return 0;
    if (gr < 0)
        return gfail(w->d, gr, "%s", prefix);
    if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
        rc = walk_entry(w, e, prefix, 0);
        git_tree_entry_free(e);
        return rc;
    }
    gr = git_tree_lookup(&sub, w->g->repo, git_tree_entry_id(e));
    git_tree_entry_free(e);
    if (gr < 0)
        return gfail(w->d, gr, "%s", prefix);
    rc = walk_tree(w, sub, prefix, 1);
    git_tree_free(sub);
    return rc;
}

static void limits_default(const struct cairn_git_limits *in,
                           struct cairn_git_limits *out)
{
    out->max_file = in && in->max_file ? in->max_file : CAIRN_GIT_MAX_FILE;
    out->max_files = in && in->max_files ? in->max_files : CAIRN_GIT_MAX_FILES;
    out->max_total = in && in->max_total ? in->max_total : CAIRN_GIT_MAX_TOTAL;
}

int cairn_git_tree_read(struct cairn_git *g, const struct cairn_git_oid *commit,
                        const char *prefix, const struct cairn_git_limits *lim,
                        unsigned flags, struct cairn_git_tree **out,
                        struct cairn_diag *d)
{
    struct walk w = {.g = g, .flags = flags, .d = d};
    git_commit *c = NULL;
    git_tree *root = NULL;
    char *pfx = clean_prefix(prefix);
    int gr, rc;

    limits_default(lim, &w.lim);
    rc = lookup_commit(g, commit, &c, d);
    if (rc)
        goto out;
    gr = git_commit_tree(&root, c);
    if (gr < 0) {
        rc = gfail(d, gr, "tree of commit %s", commit->hex);
        goto out;
    }
    w.t = cairn_xcalloc(1, sizeof(*w.t));
    w.t->commit = *commit;
    rc = walk_prefix(&w, root, pfx);
    if (rc == 0)
        rc = sort_files(&w);
    if (rc)
        goto out;
    *out = w.t;
    w.t = NULL;
out:
    cairn_git_tree_free(w.t);
    git_tree_free(root);
    git_commit_free(c);
    free(pfx);
    return rc;
}

const struct cairn_git_file *cairn_git_tree_find(const struct cairn_git_tree *t,
                                                 const char *path)
{
    struct cairn_git_file key = {.path = (char *)path};

    if (!t || !path || t->n == 0)
        return NULL;
    return bsearch(&key, t->files, t->n, sizeof(*t->files), cmp_file);
}

int cairn_git_read_file(struct cairn_git *g, const struct cairn_git_oid *commit,
                        const char *path, size_t max, uint8_t **data,
                        size_t *len, struct cairn_diag *d)
{
    git_commit *c = NULL;
    git_tree *root = NULL;
    git_tree_entry *e = NULL;
    int gr, rc;
    git_filemode_t mode;

    if (!path || !data || !len)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no path");
    rc = lookup_commit(g, commit, &c, d);
    if (rc)
        return rc;
    gr = git_commit_tree(&root, c);
    if (gr == 0)
        gr = git_tree_entry_bypath(&e, root, path);
    if (gr == GIT_ENOTFOUND)
        rc = cairn_diag_set(d, CAIRN_ENOENT, "%s: not in commit %.12s", path,
                            commit->hex);
    else if (gr < 0)
        rc = gfail(d, gr, "%s", path);
    else if ((mode = git_tree_entry_filemode(e)) != GIT_FILEMODE_BLOB &&
             mode != GIT_FILEMODE_BLOB_EXECUTABLE)
        rc = cairn_diag_set(d, CAIRN_EINVAL, "%s: not a regular file", path);
    else
        rc = read_blob(g, git_tree_entry_id(e), path,
                       max ? max : CAIRN_GIT_MAX_FILE, data, len, d);
    git_tree_entry_free(e);
    git_tree_free(root);
    git_commit_free(c);
    return rc;
}

/* ---- diff ----------------------------------------------------------- */

void cairn_git_diff_free(struct cairn_git_diff *df)
{
    if (!df)
        return;
    for (size_t i = 0; i < df->n; i++)
        free(df->v[i].path);
    free(df->v);
    free(df);
}

static int commit_tree(struct cairn_git *g, const struct cairn_git_oid *id,
                       git_tree **out, struct cairn_diag *d)
{
    git_commit *c = NULL;
    int gr, rc;

    rc = lookup_commit(g, id, &c, d);
    if (rc)
        return rc;
    gr = git_commit_tree(out, c);
    git_commit_free(c);
    if (gr < 0)
        return gfail(d, gr, "tree of commit %s", id->hex);
    return 0;
}

static int cmp_delta(const void *a, const void *b)
{
    return strcmp(((const struct cairn_git_delta *)a)->path,
                  ((const struct cairn_git_delta *)b)->path);
}

static struct cairn_git_diff *collect_deltas(git_diff *diff)
{
    struct cairn_git_diff *df = cairn_xcalloc(1, sizeof(*df));
    size_t n = git_diff_num_deltas(diff);

    df->v = cairn_xcalloc(n ? n : 1, sizeof(*df->v));
    for (size_t i = 0; i < n; i++) {
        const git_diff_delta *dd = git_diff_get_delta(diff, i);
        struct cairn_git_delta *o = &df->v[df->n];

        switch (dd->status) {
        case GIT_DELTA_ADDED:
            o->change = CAIRN_GIT_ADDED;
            break;
        case GIT_DELTA_DELETED:
            o->change = CAIRN_GIT_DELETED;
            break;
        case GIT_DELTA_MODIFIED:
        case GIT_DELTA_TYPECHANGE:
            o->change = CAIRN_GIT_MODIFIED;
            break;
        default: /* no rename/copy detection is asked for */
            continue;
        }
        o->path =
            cairn_xstrdup(dd->status == GIT_DELTA_DELETED ? dd->old_file.path
                                                          : dd->new_file.path);
        df->n++;
    }
    if (df->n > 1)
        qsort(df->v, df->n, sizeof(*df->v), cmp_delta);
    return df;
}

int cairn_git_diff(struct cairn_git *g, const struct cairn_git_oid *from,
                   const struct cairn_git_oid *to, size_t max,
                   struct cairn_git_diff **out, struct cairn_diag *d)
{
    git_diff_options opts;
    git_tree *a = NULL, *b = NULL;
    git_diff *diff = NULL;
    int gr, rc = 0;

    if (!out)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no output");
    if (from)
        rc = commit_tree(g, from, &a, d);
    if (rc == 0)
        rc = commit_tree(g, to, &b, d);
    if (rc)
        goto out;
    gr = git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
    opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
    if (gr == 0)
        gr = git_diff_tree_to_tree(&diff, g->repo, a, b, &opts);
    if (gr < 0) {
        rc = gfail(d, gr, "diff %s..%s", from ? from->hex : "(empty)", to->hex);
        goto out;
    }
    if (git_diff_num_deltas(diff) > (max ? max : CAIRN_GIT_MAX_FILES)) {
        rc = cairn_diag_set(d, CAIRN_ETOOBIG,
                            "diff %.12s..%.12s: %zu changed paths, more than "
                            "the cap of %zu",
                            from ? from->hex : "(empty)", to->hex,
                            git_diff_num_deltas(diff),
                            max ? max : (size_t)CAIRN_GIT_MAX_FILES);
        goto out;
    }
    *out = collect_deltas(diff);
out:
    git_diff_free(diff);
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

/* ---- commits -------------------------------------------------------- */

static void person_copy(const git_signature *s, struct cairn_git_person *p)
{
    p->name = cairn_xstrdup(s && s->name ? s->name : "");
    p->email = cairn_xstrdup(s && s->email ? s->email : "");
    p->time = s ? (int64_t)s->when.time : 0;
    p->tz_minutes = s ? s->when.offset : 0;
}

void cairn_git_commit_free(struct cairn_git_commit *c)
{
    if (!c)
        return;
    free(c->author.name);
    free(c->author.email);
    free(c->committer.name);
    free(c->committer.email);
    free(c->summary);
    free(c->message);
    free(c->parents);
    free(c);
}

int cairn_git_commit_get(struct cairn_git *g, const struct cairn_git_oid *id,
                         struct cairn_git_commit **out, struct cairn_diag *d)
{
    struct cairn_git_commit *o;
    git_commit *c = NULL;
    git_buf sig = {0};
    const char *s;
    int rc;

    if (!out)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no output");
    rc = lookup_commit(g, id, &c, d);
    if (rc)
        return rc;
    o = cairn_xcalloc(1, sizeof(*o));
    oid_out(git_commit_id(c), &o->id);
    oid_out(git_commit_tree_id(c), &o->tree);
    person_copy(git_commit_author(c), &o->author);
    person_copy(git_commit_committer(c), &o->committer);
    s = git_commit_summary(c);
    o->summary = cairn_xstrdup(s ? s : "");
    s = git_commit_message(c);
    o->message = cairn_xstrdup(s ? s : "");
    o->nparents = git_commit_parentcount(c);
    o->parents =
        cairn_xcalloc(o->nparents ? o->nparents : 1, sizeof(*o->parents));
    for (unsigned i = 0; i < o->nparents; i++)
        oid_out(git_commit_parent_id(c, i), &o->parents[i]);
    o->has_signature = git_commit_header_field(&sig, c, "gpgsig") == 0;
    git_buf_dispose(&sig);
    git_commit_free(c);
    *out = o;
    return 0;
}

/* Does the line [line, tail) start with prefix p? */
static int line_starts(const char *line, const char *tail, const char *p)
{
    size_t n = strlen(p);

    return (size_t)(tail - line) >= n && memcmp(line, p, n) == 0;
}

/* Split a raw commit object the way git does when it verifies one (its
 * parse_buffer_signed_by_header): in the header section, a "gpgsig " line
 * and the continuation lines after it (leading space) are the signature,
 * without "gpgsig " and those spaces; other "gpgsig..." headers
 * (gpgsig-sha256) and their continuations belong to neither; every other
 * byte, the whole message included, is the signed payload. Lengths
 * throughout: a commit object may hold NUL bytes, which libgit2's
 * git_commit_extract_signature stops at (so it verified a prefix of what
 * git verifies). sig and pay have room for n bytes. 1 when signed. */
static int split_signed(const char *raw, size_t n, char *sig, size_t *slen,
                        char *pay, size_t *plen)
{
    const char *line = raw, *tail = raw + n;
    int in_sig = 0, other = 0, saw = 0;

    *slen = *plen = 0;
    while (line < tail) {
        const char *nl = memchr(line, '\n', (size_t)(tail - line));
        const char *next = nl ? nl + 1 : tail, *s = NULL;

        if (in_sig && line[0] == ' ')
            s = line + 1;
        else if (line_starts(line, tail, "gpgsig "))
            s = line + 7, other = 0;
        else if (line_starts(line, tail, "gpgsig"))
            other = 1;
        else if (other && line[0] != ' ')
            other = 0;
        if (s) {
            memcpy(sig + *slen, s, (size_t)(next - s));
            *slen += (size_t)(next - s);
            saw = in_sig = 1;
        } else {
            if (line[0] == '\n')
                next = tail; /* end of the headers: the rest is message */
            if (!other) {
                memcpy(pay + *plen, line, (size_t)(next - line));
                *plen += (size_t)(next - line);
            }
            in_sig = 0;
        }
        line = next;
    }
    return saw;
}

int cairn_git_commit_signature(struct cairn_git *g,
                               const struct cairn_git_oid *id, char **sig,
                               size_t *sig_len, char **signed_data,
                               size_t *signed_len, struct cairn_diag *d)
{
    uint8_t *raw = NULL;
    char *s, *p;
    size_t n = 0, slen, plen;
    int rc;

    if (!g || !sig || !sig_len || !signed_data || !signed_len)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no output");
    rc = cairn_git_commit_raw(g, id, &raw, &n, d);
    if (rc)
        return rc;
    s = cairn_xmalloc(n + 1);
    p = cairn_xmalloc(n + 1);
    if (!split_signed((const char *)raw, n, s, &slen, p, &plen)) {
        rc =
            cairn_diag_set(d, CAIRN_ENOENT, "commit %s is not signed", id->hex);
        free(s);
        free(p);
    } else {
        s[slen] = '\0';
        p[plen] = '\0';
        *sig = s;
        *sig_len = slen;
        *signed_data = p;
        *signed_len = plen;
    }
    free(raw);
    return rc;
}

/* Read an object's bytes (no "<type> <len>\0" header) after checking its
 * type and size from the header. */
static int read_raw(struct cairn_git *g, const struct cairn_git_oid *id,
                    git_object_t want, size_t max, const char *what,
                    uint8_t **data, size_t *len, struct cairn_diag *d)
{
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    git_oid oid;
    size_t n;
    int gr, rc;

    if (!g || !data || !len)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no output");
    rc = oid_in(id, &oid, d);
    if (rc == 0)
        rc = check_object(g, &oid, want, max, what, NULL, d);
    if (rc)
        return rc;
    gr = git_repository_odb(&odb, g->repo);
    if (gr == 0)
        gr = git_odb_read(&obj, odb, &oid);
    if (gr < 0) {
        rc = gfail(d, gr, "%s %s", what, id->hex);
    } else {
        n = git_odb_object_size(obj);
        *data = cairn_xmalloc(n + 1);
        memcpy(*data, git_odb_object_data(obj), n);
        (*data)[n] = '\0';
        *len = n;
    }
    git_odb_object_free(obj);
    git_odb_free(odb);
    return rc;
}

int cairn_git_commit_raw(struct cairn_git *g, const struct cairn_git_oid *id,
                         uint8_t **data, size_t *len, struct cairn_diag *d)
{
    return read_raw(g, id, GIT_OBJECT_COMMIT, MAX_COMMIT_OBJECT, "commit", data,
                    len, d);
}

int cairn_git_object_raw(struct cairn_git *g, const struct cairn_git_oid *id,
                         const char *type, size_t max, uint8_t **data,
                         size_t *len, struct cairn_diag *d)
{
    git_object_t want =
        type ? git_object_string2type(type) : GIT_OBJECT_INVALID;

    if (want != GIT_OBJECT_COMMIT && want != GIT_OBJECT_TREE &&
        want != GIT_OBJECT_BLOB)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: object type %s",
                              type ? type : "(null)");
    return read_raw(g, id, want, max ? max : CAIRN_GIT_MAX_FILE, type, data,
                    len, d);
}

int cairn_git_object_id(const char *type, const void *data, size_t len,
                        struct cairn_git_oid *out, struct cairn_diag *d)
{
    git_object_t t = type ? git_object_string2type(type) : GIT_OBJECT_INVALID;
    git_oid oid;
    int rc = lib_ensure(d);

    if (rc)
        return rc;
    if (!out || (!data && len) ||
        (t != GIT_OBJECT_COMMIT && t != GIT_OBJECT_TREE &&
         t != GIT_OBJECT_BLOB))
        return cairn_diag_set(d, CAIRN_EINVAL, "git: object type %s",
                              type ? type : "(null)");
    if (git_odb_hash(&oid, data ? data : "", len, t) < 0)
        return gfail(d, -1, "hashing a %s object", type);
    oid_out(&oid, out);
    return 0;
}

int cairn_git_verify_commit(struct cairn_git *g, const struct cairn_git_oid *id,
                            const struct cairn_sshsig_signers *signers,
                            struct cairn_sshsig_result *res,
                            struct cairn_diag *d)
{
    struct cairn_git_commit *c = NULL;
    struct cairn_diag local;
    char *sig = NULL, *data = NULL;
    size_t sig_len = 0, data_len = 0;
    int rc;

    if (!res)
        return cairn_diag_set(d, CAIRN_EINVAL, "git: no result");
    rc = cairn_git_commit_get(g, id, &c, d);
    if (rc)
        return rc;
    /* The object exists (just read), so ENOENT here means unsigned: a
     * result, not an error. */
    cairn_diag_init(&local);
    rc = cairn_git_commit_signature(g, id, &sig, &sig_len, &data, &data_len,
                                    &local);
    if (rc == CAIRN_ENOENT)
        rc = 0;
    else if (rc)
        cairn_diag_set(d, rc, "%s", cairn_diag_msg(&local));
    if (rc == 0)
        cairn_sshsig_verify(signers, sig, sig_len, data, data_len,
                            CAIRN_SSHSIG_NS_GIT, c->committer.time, res);
    free(sig);
    free(data);
    cairn_git_commit_free(c);
    return rc;
}

/* ---- history -------------------------------------------------------- */

void cairn_git_log_free(struct cairn_git_log *l)
{
    if (!l)
        return;
    free(l->v);
    free(l);
}

/* The entry at prefix in a commit's tree: *found 0 when absent. */
static int prefix_entry(git_commit *c, const char *prefix, git_oid *id,
                        git_filemode_t *mode, int *found)
{
    git_tree *tree = NULL;
    git_tree_entry *e = NULL;
    int gr;

    gr = git_commit_tree(&tree, c);
    if (gr == 0)
        gr = git_tree_entry_bypath(&e, tree, prefix);
    *found = gr == 0;
    if (gr == 0) {
        git_oid_cpy(id, git_tree_entry_id(e));
        *mode = git_tree_entry_filemode(e);
    }
    git_tree_entry_free(e);
    git_tree_free(tree);
    return gr == GIT_ENOTFOUND ? 0 : gr;
}

/* 1 when c changed something under prefix compared with every parent. */
static int touches(git_commit *c, const char *prefix)
{
    git_oid self, other;
    git_filemode_t smode = 0, omode = 0;
    int found, ofound, gr;
    unsigned np = git_commit_parentcount(c);

    gr = prefix_entry(c, prefix, &self, &smode, &found);
    if (gr < 0)
        return gr;
    if (np == 0)
        return found;
    for (unsigned i = 0; i < np; i++) {
        git_commit *p = NULL;

        gr = git_commit_parent(&p, c, i);
        if (gr == 0)
            gr = prefix_entry(p, prefix, &other, &omode, &ofound);
        git_commit_free(p);
        if (gr < 0)
            return gr;
        if (found == ofound &&
            (!found || (git_oid_equal(&self, &other) && smode == omode)))
            return 0; /* same as this parent: the change came from it */
    }
    return 1;
}

static int keep_commit(struct cairn_git *g, const git_oid *id,
                       const char *prefix)
{
    git_commit *c = NULL;
    int gr;

    if (!prefix)
        return 1;
    gr = git_commit_lookup(&c, g->repo, id);
    if (gr == 0)
        gr = touches(c, prefix);
    git_commit_free(c);
    return gr;
}

static int walk_log(struct cairn_git *g, git_revwalk *rw, const char *prefix,
                    size_t max, struct cairn_git_log *l, int *truncated,
                    struct cairn_diag *d)
{
    size_t alloc = 0;
    git_oid id;
    int gr, keep;

    while ((gr = git_revwalk_next(&id, rw)) == 0) {
        keep = keep_commit(g, &id, prefix);
        if (keep < 0)
            return gfail(d, keep, "history: commit %.12s",
                         git_oid_tostr_s(&id));
        if (!keep)
            continue;
        if (l->n == max) {
            *truncated = 1;
            return 0;
        }
        if (l->n == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            l->v = cairn_xrealloc(l->v, alloc * sizeof(*l->v));
        }
        oid_out(&id, &l->v[l->n++]);
    }
    if (gr != GIT_ITEROVER)
        return gfail(d, gr, "history walk");
    return 0;
}

int cairn_git_log_walk(struct cairn_git *g, const struct cairn_git_oid *from,
                       const char *path_prefix, size_t max,
                       struct cairn_git_log **out, int *truncated,
                       struct cairn_diag *d)
{
    struct cairn_git_log *l = NULL;
    git_revwalk *rw = NULL;
    git_commit *c = NULL;
    char *prefix = clean_prefix(path_prefix);
    int gr, rc, trunc = 0;

    if (!out) {
        rc = cairn_diag_set(d, CAIRN_EINVAL, "git: no output");
        goto out;
    }
    rc = lookup_commit(g, from, &c, d);
    if (rc)
        goto out;
    gr = git_revwalk_new(&rw, g->repo);
    if (gr == 0)
        gr = git_revwalk_sorting(rw, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    if (gr == 0)
        gr = git_revwalk_push(rw, git_commit_id(c));
    if (gr < 0) {
        rc = gfail(d, gr, "history of %s", from->hex);
        goto out;
    }
    l = cairn_xcalloc(1, sizeof(*l));
    rc = walk_log(g, rw, prefix, max ? max : CAIRN_GIT_MAX_LOG, l, &trunc, d);
    if (rc)
        goto out;
    if (truncated)
        *truncated = trunc;
    *out = l;
    l = NULL;
out:
    cairn_git_log_free(l);
    git_revwalk_free(rw);
    git_commit_free(c);
    free(prefix);
    return rc;
}
