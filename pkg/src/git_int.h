/*
 * Internal to the git module: who the fetches trust (git_trust.c), used by
 * git.c's fetch callbacks. See docs/internals/git.md, "Trust".
 */
#ifndef CAIRN_GIT_INT_H
#define CAIRN_GIT_INT_H

#include <git2.h>

#include "cairn/diag.h"
#include "cairn/git.h"

struct cairn_knownhosts;

struct cairn__git_trust {
    unsigned port; /* ssh port from the URL (22 when none is given) */
    struct cairn_knownhosts *known_hosts; /* NULL: none configured */
    int insecure_host_key;                /* accept any ssh host key */
};

/* What one fetch's certificate callback decided, for fetch's error. */
struct cairn__git_cert_state {
    const struct cairn__git_trust *trust;
    struct cairn_diag refused; /* ssh host key refused: why */
    int tls_untrusted;         /* the TLS certificate did not verify */
};

/* Fill t for url from opts: parse the ssh port, load the known_hosts file,
 * put opts->https_ca_file in force (process-wide). CAIRN_EINVAL, and what
 * cairn_knownhosts_load returns. Free with cairn__git_trust_free. */
int cairn__git_trust_init(struct cairn__git_trust *t, const char *url,
                          const struct cairn_git_opts *opts,
                          struct cairn_diag *d);
void cairn__git_trust_free(struct cairn__git_trust *t);

/* libgit2's certificate_check callback body (payload: the state). */
int cairn__git_cert_check(git_cert *cert, int valid, const char *host,
                          struct cairn__git_cert_state *st);

#endif
