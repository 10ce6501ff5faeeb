/*
 * OpenSSH known_hosts files (see docs/internals/knownhosts.md).
 */
#include "cairn/knownhosts.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/mem.h"

#define MAX_ENTRIES 100000u
#define MAX_HOSTNAME 1024u /* "[" host "]:" port, NUL included */
#define MAX_LISTED 4u      /* lines quoted in a refusal */

enum marker { MARK_NONE, MARK_REVOKED, MARK_CA };

struct entry {
    char *patterns; /* comma list; NULL for a hashed entry */
    uint8_t salt[CAIRN_SHA1_LEN];
    uint8_t hash[CAIRN_SHA1_LEN];
    enum marker mark;
    uint8_t *key; /* wire-format blob */
    size_t keylen;
    unsigned line;
};

struct cairn_knownhosts {
    char *name;
    struct entry *e;
    size_t n, cap;
};

void cairn_knownhosts_free(struct cairn_knownhosts *kh)
{
    if (!kh)
        return;
    for (size_t i = 0; i < kh->n; i++) {
        free(kh->e[i].patterns);
        free(kh->e[i].key);
    }
    free(kh->e);
    free(kh->name);
    free(kh);
}

/* ---- key blobs ------------------------------------------------------ */

void cairn_ssh_fingerprint(const uint8_t *blob, size_t n,
                           char out[CAIRN_SSH_FP_LEN + 1])
{
    uint8_t h[CAIRN_SHA256_LEN];
    char b64[48];

    cairn_sha256(blob, n, h);
    cairn_base64_encode_to(h, sizeof(h), b64);
    /* ssh drops the one '=' of padding: 7 + 43 characters. */
    memcpy(out, "SHA256:", 7);
    memcpy(out + 7, b64, 43);
    out[CAIRN_SSH_FP_LEN] = '\0';
}

void cairn_ssh_key_type(const uint8_t *blob, size_t n, char *out, size_t outlen)
{
    size_t len;

    if (n < 4 || outlen == 0)
        goto unknown;
    len = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 |
          blob[3];
    if (len == 0 || len > n - 4 || len >= outlen)
        goto unknown;
    for (size_t i = 0; i < len; i++)
        if (!isgraph(blob[4 + i]))
            goto unknown;
    memcpy(out, blob + 4, len);
    out[len] = '\0';
    return;
unknown:
    if (outlen)
        snprintf(out, outlen, "unknown");
}

/* ---- parsing -------------------------------------------------------- */

struct line {
    const char *name;
    unsigned no;
    char *f[5]; /* whitespace-separated fields */
    size_t nf;
};

static void split_fields(struct line *l, char *s)
{
    l->nf = 0;
    while (*s && l->nf < CAIRN_ARRAY_LEN(l->f)) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        l->f[l->nf++] = s;
        s += strcspn(s, " \t");
        if (*s)
            *s++ = '\0';
    }
}

static int bad(const struct line *l, struct cairn_diag *d, const char *why)
{
    return cairn_diag_set(d, CAIRN_EPARSE, "%s:%u: %s", l->name, l->no, why);
}

/* "|1|SALT|HASH": base64 of 20 bytes each (OpenSSH's HashKnownHosts). */
static int parse_hashed(const struct line *l, const char *s, struct entry *e,
                        struct cairn_diag *d)
{
    const char *bar = strchr(s + 3, '|');
    uint8_t *salt = NULL, *hash = NULL;
    size_t sn = 0, hn = 0;
    int rc = 0;

    if (!bar ||
        cairn_base64_decode(s + 3, (size_t)(bar - s - 3), &salt, &sn) != 0 ||
        cairn_base64_decode(bar + 1, strlen(bar + 1), &hash, &hn) != 0 ||
        sn != CAIRN_SHA1_LEN || hn != CAIRN_SHA1_LEN)
        rc = bad(l, d,
                 "hashed host name: want |1|SALT|HASH with 20-byte "
                 "base64 salt and hash");
    else {
        memcpy(e->salt, salt, sn);
        memcpy(e->hash, hash, hn);
    }
    free(salt);
    free(hash);
    return rc;
}

static int parse_key(const struct line *l, const char *type, const char *b64,
                     struct entry *e, struct cairn_diag *d)
{
    char inner[64];

    if (cairn_base64_decode(b64, strlen(b64), &e->key, &e->keylen) != 0)
        return bad(l, d, "the key is not valid base64");
    cairn_ssh_key_type(e->key, e->keylen, inner, sizeof(inner));
    if (strcmp(inner, type) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s:%u: key type field says '%s' but the key "
                              "is '%s'",
                              l->name, l->no, type, inner);
    return 0;
}

static int parse_line(struct line *l, char *s, struct entry *e,
                      struct cairn_diag *d)
{
    size_t k = 0;

    split_fields(l, s);
    if (l->nf == 0 || l->f[0][0] == '#')
        return 1; /* nothing here */
    if (l->f[0][0] == '@') {
        if (strcmp(l->f[0], "@revoked") == 0)
            e->mark = MARK_REVOKED;
        else if (strcmp(l->f[0], "@cert-authority") == 0)
            e->mark = MARK_CA;
        else
            return bad(l, d,
                       "unknown marker (want @revoked or "
                       "@cert-authority)");
        k = 1;
    }
    if (l->nf < k + 3)
        return bad(l, d, "want HOSTS KEYTYPE BASE64-KEY [comment]");
    if (strncmp(l->f[k], "|1|", 3) == 0) {
        if (parse_hashed(l, l->f[k], e, d))
            return CAIRN_EPARSE;
    } else if (l->f[k][0] == '|') {
        return bad(l, d, "unknown hashed host name format (only |1|)");
    } else {
        e->patterns = cairn_xstrdup(l->f[k]);
    }
    return parse_key(l, l->f[k + 1], l->f[k + 2], e, d);
}

static void push(struct cairn_knownhosts *kh, const struct entry *e)
{
    if (kh->n == kh->cap) {
        kh->cap = kh->cap ? kh->cap * 2 : 16;
        kh->e = cairn_xrealloc(kh->e, kh->cap * sizeof(*kh->e));
    }
    kh->e[kh->n++] = *e;
}

static int parse_all(struct cairn_knownhosts *kh, const char *text, size_t len,
                     struct cairn_diag *d)
{
    char *buf = cairn_xmalloc(CAIRN_KNOWNHOSTS_MAX_LINE + 1);
    struct line l = {.name = kh->name};
    size_t pos = 0;
    int rc = 0;

    while (rc == 0 && pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - text - pos) : len - pos;
        struct entry e = {0};

        l.no++;
        e.line = l.no;
        if (n > CAIRN_KNOWNHOSTS_MAX_LINE || kh->n >= MAX_ENTRIES) {
            rc = cairn_diag_set(d, CAIRN_ETOOBIG,
                                "%s:%u: line or entry cap "
                                "(%u bytes, %u entries)",
                                kh->name, l.no, CAIRN_KNOWNHOSTS_MAX_LINE,
                                MAX_ENTRIES);
            break;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        if (n && buf[n - 1] == '\r')
            buf[n - 1] = '\0';
        if (memchr(text + pos, '\0', n))
            rc = bad(&l, d, "NUL byte");
        else
            rc = parse_line(&l, buf, &e, d);
        if (rc == 0)
            push(kh, &e);
        else {
            free(e.patterns);
            free(e.key);
        }
        rc = rc > 0 ? 0 : rc;
        pos += n + 1;
    }
    free(buf);
    return rc;
}

int cairn_knownhosts_parse(const char *text, size_t len, const char *name,
                           struct cairn_knownhosts **out, struct cairn_diag *d)
{
    struct cairn_knownhosts *kh;
    int rc;

    if (!out || (!text && len))
        return cairn_diag_set(d, CAIRN_EINVAL, "known_hosts: no text");
    if (len > CAIRN_KNOWNHOSTS_MAX_BYTES)
        return cairn_diag_set(d, CAIRN_ETOOBIG, "%s: over %u bytes",
                              name ? name : "known_hosts",
                              CAIRN_KNOWNHOSTS_MAX_BYTES);
    kh = cairn_xcalloc(1, sizeof(*kh));
    kh->name = cairn_xstrdup(name ? name : "known_hosts");
    rc = parse_all(kh, text, len, d);
    if (rc) {
        cairn_knownhosts_free(kh);
        return rc;
    }
    *out = kh;
    return 0;
}

int cairn_knownhosts_load(const char *path, struct cairn_knownhosts **out,
                          struct cairn_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (!path)
        return cairn_diag_set(d, CAIRN_EINVAL, "known_hosts: no path");
    rc = cairn_fs_read(path, CAIRN_KNOWNHOSTS_MAX_BYTES, &text, &len, d);
    if (rc == 0)
        rc = cairn_knownhosts_parse(text, len, path, out, d);
    free(text);
    return rc;
}

/* ---- matching ------------------------------------------------------- */

/* OpenSSH's host patterns: '*' and '?' only, case-insensitive. */
static int glob(const char *p, size_t pn, const char *s)
{
    for (; pn; p++, pn--, s++) {
        if (*p == '*') {
            for (;; s++) {
                if (glob(p + 1, pn - 1, s))
                    return 1;
                if (!*s)
                    return 0;
            }
        }
        if (!*s || (*p != '?' &&
                    tolower((unsigned char)*p) != tolower((unsigned char)*s)))
            return 0;
    }
    return *s == '\0';
}

/* A negated pattern that matches rules the whole line out. */
static int patterns_match(const char *list, const char *name)
{
    int hit = 0;

    while (*list) {
        size_t n = strcspn(list, ",");
        int neg = list[0] == '!';

        if (glob(list + neg, n - (size_t)neg, name)) {
            if (neg)
                return 0;
            hit = 1;
        }
        list += n + (list[n] == ',');
    }
    return hit;
}

static int entry_names(const struct entry *e, const char *name)
{
    uint8_t h[CAIRN_SHA1_LEN];

    if (e->patterns)
        return patterns_match(e->patterns, name);
    cairn_hmac_sha1(e->salt, sizeof(e->salt), name, strlen(name), h);
    return memcmp(h, e->hash, sizeof(h)) == 0;
}

static int same_key(const struct entry *e, const uint8_t *key, size_t n)
{
    return e->keylen == n && memcmp(e->key, key, n) == 0;
}

/* "3 (ssh-ed25519 SHA256:...), 7 (...)": what the file lists instead. */
static void listed(const struct cairn_knownhosts *kh, const char *name,
                   char *out, size_t outlen)
{
    size_t used = 0, shown = 0;

    out[0] = '\0';
    for (size_t i = 0; i < kh->n && used < outlen; i++) {
        const struct entry *e = &kh->e[i];
        char fp[CAIRN_SSH_FP_LEN + 1], type[64];
        int w;

        if (e->mark != MARK_NONE || !entry_names(e, name))
            continue;
        if (shown++ == MAX_LISTED) {
            snprintf(out + used, outlen - used, ", ...");
            return;
        }
        cairn_ssh_fingerprint(e->key, e->keylen, fp);
        cairn_ssh_key_type(e->key, e->keylen, type, sizeof(type));
        w = snprintf(out + used, outlen - used, "%s%u (%s %s)",
                     used ? ", " : "", e->line, type, fp);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* How the entries for name relate to key: 2 trusted, 1 listed with other
 * keys only, 0 not listed; *revoked_line set when a @revoked line has it. */
static int classify(const struct cairn_knownhosts *kh, const char *name,
                    const uint8_t *key, size_t n, unsigned *revoked_line)
{
    int best = 0;

    for (size_t i = 0; i < kh->n; i++) {
        const struct entry *e = &kh->e[i];

        if (e->mark == MARK_CA || !entry_names(e, name))
            continue;
        if (e->mark == MARK_REVOKED) {
            if (same_key(e, key, n) && !*revoked_line)
                *revoked_line = e->line;
            continue;
        }
        if (same_key(e, key, n))
            best = 2;
        else if (best == 0)
            best = 1;
    }
    return best;
}

int cairn_knownhosts_check(const struct cairn_knownhosts *kh, const char *host,
                           unsigned port, const uint8_t *key, size_t keylen,
                           struct cairn_diag *d)
{
    char name[MAX_HOSTNAME], fp[CAIRN_SSH_FP_LEN + 1], type[64], other[600];
    unsigned revoked = 0;
    int how;

    if (!kh || !host || !key || keylen == 0)
        return cairn_diag_set(d, CAIRN_EINVAL, "known_hosts: no host or key");
    if (port == 22)
        snprintf(name, sizeof(name), "%s", host);
    else
        snprintf(name, sizeof(name), "[%s]:%u", host, port);
    /* host names are case-insensitive; ssh lowercases them before hashing
     * (the |1| entries), so we do too */
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    cairn_ssh_fingerprint(key, keylen, fp);
    cairn_ssh_key_type(key, keylen, type, sizeof(type));
    how = classify(kh, name, key, keylen, &revoked);
    if (revoked)
        return cairn_diag_set(d, CAIRN_EPOLICY,
                              "ssh host key of %s (%s %s) is @revoked in "
                              "%s:%u: refused",
                              name, type, fp, kh->name, revoked);
    if (how == 2)
        return 0;
    if (how == 1) {
        listed(kh, name, other, sizeof(other));
        return cairn_diag_set(
            d, CAIRN_EKEY,
            "ssh host key of %s is %s %s, which %s does not list for it "
            "(line %s): refused; if the host's key really changed, replace "
            "its line",
            name, type, fp, kh->name, other);
    }
    return cairn_diag_set(d, CAIRN_EKEY,
                          "ssh host %s is not in %s: refused; its key is %s "
                          "%s, check it out of band (ssh-keygen -lf on the "
                          "server) and add the host's line (ssh-keyscan)",
                          name, kh->name, type, fp);
}
