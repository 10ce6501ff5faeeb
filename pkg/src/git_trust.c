/*
 * Whom a fetch trusts: the ssh host key (checked here against a
 * known_hosts file, since what libgit2 1.5 checks depends on a home
 * directory we deliberately ignore) and the TLS certificate authorities
 * (see docs/internals/git.md, "Trust").
 */
#include "git_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/fs.h"
#include "cairn/knownhosts.h"
#include "cairn/mem.h"

#define MAX_CA_FILE (4u << 20)

static const char *const ssh_schemes[] = {"ssh://", "ssh+git://", "git+ssh://"};

/* "host:port" digits after the authority's host, or 22 when absent. */
static int parse_port(const char *s, size_t n, unsigned *port)
{
    unsigned long v = 0;

    if (n == 0) {
        *port = 22;
        return 0;
    }
    if (n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

/* The port of ssh://[user@]host[:port]/path or [user@][v6]:port forms. */
static int url_port(const char *auth, size_t n, unsigned *port)
{
    const char *at = NULL, *host, *end = auth + n, *colon;

    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    host = at ? at + 1 : auth;
    if (host < end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));

        if (!close)
            return -1;
        if (close + 1 == end)
            return parse_port(NULL, 0, port);
        if (close[1] != ':')
            return -1;
        return parse_port(close + 2, (size_t)(end - close - 2), port);
    }
    colon = memchr(host, ':', (size_t)(end - host));
    if (!colon)
        return parse_port(NULL, 0, port);
    return parse_port(colon + 1, (size_t)(end - colon - 1), port);
}

/* 1: an ssh URL (port set), 0: another kind, <0: a bad ssh URL. */
static int ssh_url(const char *url, unsigned *port, struct cairn_diag *d)
{
    const char *colon = strchr(url, ':'), *slash = strchr(url, '/');

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(ssh_schemes); i++) {
        size_t k = strlen(ssh_schemes[i]);
        const char *auth = url + k;

        if (strncmp(url, ssh_schemes[i], k) != 0)
            continue;
        if (url_port(auth, strcspn(auth, "/"), port) < 0)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s: bad host or port in the URL", url);
        return 1;
    }
    if (strstr(url, "://") || !colon || (slash && slash < colon))
        return 0;
    *port = 22; /* scp-like user@host:path has no port */
    return 1;
}

/* ---- TLS certificate authorities ------------------------------------ */

static pthread_mutex_t ca_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ca_in_force; /* lives as long as the process, like the CA */

/* A PEM bundle: readable, with at least one certificate. libgit2's mbedTLS
 * loader would accept a file without any and trust nothing. */
static int check_ca_file(const char *path, struct cairn_diag *d)
{
    char *text = NULL;
    int rc = cairn_fs_read(path, MAX_CA_FILE, &text, NULL, d);

    if (rc == 0 && !strstr(text, "-----BEGIN CERTIFICATE-----"))
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "no PEM certificate (-----BEGIN CERTIFICATE-----)"
                            " in it");
    free(text);
    return rc;
}

/* libgit2's TLS trust is process-wide: set it once, before any fetch (a
 * change while a fetch runs would free the chain under it). */
static int set_ca_file(const char *path, struct cairn_diag *d)
{
    const git_error *e;
    int rc = 0;

    pthread_mutex_lock(&ca_lock);
    if (ca_in_force) {
        if (strcmp(ca_in_force, path) != 0)
            rc = cairn_diag_set(d, CAIRN_EINVAL,
                                "another CA file (%s) is already in force in "
                                "this process",
                                ca_in_force);
        goto out;
    }
    rc = check_ca_file(path, d);
    if (rc)
        goto out;
    if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, path, NULL) < 0) {
        e = git_error_last();
        rc = cairn_diag_set(d, CAIRN_EPARSE, "%s",
                            e && e->message ? e->message : "not loaded");
        goto out;
    }
    ca_in_force = cairn_xstrdup(path);
out:
    pthread_mutex_unlock(&ca_lock);
    if (rc)
        cairn_diag_prefix(d, "CA file %s", path);
    return rc;
}

/* ---- set-up --------------------------------------------------------- */

int cairn__git_trust_init(struct cairn__git_trust *t, const char *url,
                          const struct cairn_git_opts *opts,
                          struct cairn_diag *d)
{
    int rc;

    memset(t, 0, sizeof(*t));
    rc = ssh_url(url, &t->port, d);
    if (rc < 0)
        return rc;
    if (opts->ssh_known_hosts && opts->ssh_insecure_host_key)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "a known_hosts file and 'accept any ssh host "
                              "key' are both set: choose one");
    t->insecure_host_key = opts->ssh_insecure_host_key;
    if (opts->ssh_known_hosts) {
        rc = cairn_knownhosts_load(opts->ssh_known_hosts, &t->known_hosts, d);
        if (rc)
            return rc;
    }
    if (opts->https_ca_file) {
        rc = set_ca_file(opts->https_ca_file, d);
        if (rc) {
            cairn__git_trust_free(t);
            return rc;
        }
    }
    return 0;
}

void cairn__git_trust_free(struct cairn__git_trust *t)
{
    cairn_knownhosts_free(t->known_hosts);
    memset(t, 0, sizeof(*t));
}

/* ---- the callback --------------------------------------------------- */

static int no_file(const struct cairn__git_trust *t, const char *host,
                   const uint8_t *key, size_t n, struct cairn_diag *d)
{
    char fp[CAIRN_SSH_FP_LEN + 1], type[64], name[600];

    if (t->port == 22)
        snprintf(name, sizeof(name), "%s", host);
    else
        snprintf(name, sizeof(name), "[%s]:%u", host, t->port);
    cairn_ssh_fingerprint(key, n, fp);
    cairn_ssh_key_type(key, n, type, sizeof(type));
    return cairn_diag_set(d, CAIRN_EKEY,
                          "ssh host key of %s (%s %s) cannot be checked: no "
                          "known_hosts file is configured (gitKnownHosts): "
                          "refused; give one (ssh-keyscan -p %u %s, checked "
                          "out of band), or accept any host key with "
                          "gitInsecureHostKey: true",
                          name, type, fp, t->port, host);
}

static int check_hostkey(const git_cert_hostkey *hk, const char *host,
                         struct cairn__git_cert_state *st)
{
    const struct cairn__git_trust *t = st->trust;
    const uint8_t *key = (const uint8_t *)hk->hostkey;
    int rc;

    if (!(hk->type & GIT_CERT_SSH_RAW) || !key || hk->hostkey_len == 0)
        rc = cairn_diag_set(&st->refused, CAIRN_EKEY,
                            "ssh host %s: no raw host key to check: refused",
                            host);
    else if (t->known_hosts)
        rc = cairn_knownhosts_check(t->known_hosts, host, t->port, key,
                                    hk->hostkey_len, &st->refused);
    else if (t->insecure_host_key)
        rc = 0;
    else
        rc = no_file(t, host, key, hk->hostkey_len, &st->refused);
    if (rc == 0)
        return 0;
    git_error_set_str(GIT_ERROR_SSH, cairn_diag_msg(&st->refused));
    return GIT_ECERTIFICATE;
}

int cairn__git_cert_check(git_cert *cert, int valid, const char *host,
                          struct cairn__git_cert_state *st)
{
    if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
        return check_hostkey((const git_cert_hostkey *)cert,
                             host ? host : "(unknown)", st);
    /* TLS: libgit2 has verified the chain against the CAs in force; only
     * remember the verdict, for a clearer error than mbedTLS's. */
    if (!valid)
        st->tls_untrusted = 1;
    return GIT_PASSTHROUGH;
}
