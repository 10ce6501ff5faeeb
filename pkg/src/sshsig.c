/*
 * SSHSIG signatures and allowed_signers files (see docs/internals/sshsig.md).
 */
#include "cairn/sshsig.h"
#include "cairn/knownhosts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/knownhosts.h"
#include "cairn/mem.h"
#include "keys_internal.h"

#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END "-----END SSH SIGNATURE-----"
#define MAGIC "SSHSIG"
#define MAGIC_LEN 6
#define ED25519_NAME "ssh-ed25519"
#define ED25519_NAME_LEN 11

/* Printable copy of a wire string for messages. */
static void show(const uint8_t *s, size_t len, char *out, size_t outsz)
{
    size_t i, j = 0;

    for (i = 0; i < len && j + 1 < outsz && i < 40; i++)
        out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    out[j] = '\0';
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Append string(s) at buf+*off; the caller sized buf. */
static void put_string(uint8_t *buf, size_t *off, const void *s, size_t len)
{
    put_u32(buf + *off, (uint32_t)len);
    memcpy(buf + *off + 4, s, len);
    *off += 4 + len;
}

/*
 * An Ed25519 public key blob: string "ssh-ed25519", string key[32], and
 * nothing after. Other key types get CAIRN_EUNSUPPORTED.
 */
static int parse_key_blob(const uint8_t *blob, size_t len, uint8_t pk[32],
                          const char *what, struct cairn_diag *d)
{
    struct cairn__rd r = {blob, len};
    const uint8_t *type, *key;
    size_t tlen, klen;
    char shown[48];

    if (cairn__rd_string(&r, &type, &tlen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "%s: truncated key type", what);
    if (!cairn__str_is(type, tlen, ED25519_NAME)) {
        show(type, tlen, shown, sizeof(shown));
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED,
                              "%s: key type '%s' is not supported (only "
                              "ssh-ed25519)",
                              what, shown);
    }
    if (cairn__rd_string(&r, &key, &klen) != 0 || klen != CAIRN_ED25519_PK_LEN)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s: Ed25519 key is not 32 bytes", what);
    if (r.n != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s: %zu stray bytes after the key", what, r.n);
    memcpy(pk, key, CAIRN_ED25519_PK_LEN);
    return 0;
}

static void pubkey_init(struct cairn_pubkey *k, const uint8_t pk[32])
{
    memset(k, 0, sizeof(*k));
    memcpy(k->pk, pk, CAIRN_ED25519_PK_LEN);
    cairn_keyid(k->pk, k->id);
}

_Static_assert(CAIRN_SSHSIG_FP_LEN == CAIRN_SSH_FP_LEN, "one fingerprint form");

void cairn_sshsig_fingerprint(const struct cairn_pubkey *k,
                              char out[CAIRN_SSHSIG_FP_LEN + 1])
{
    uint8_t blob[4 + ED25519_NAME_LEN + 4 + CAIRN_ED25519_PK_LEN];
    size_t off = 0;

    put_string(blob, &off, ED25519_NAME, ED25519_NAME_LEN);
    put_string(blob, &off, k->pk, CAIRN_ED25519_PK_LEN);
    cairn_ssh_fingerprint(blob, off, out);
}

/* ---- armor ---------------------------------------------------------- */

/* Length of the line at p (up to, not including, '\n' or end). */
static size_t line_len(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));

    return nl ? (size_t)(nl - p) : (size_t)(end - p);
}

static int is_line(const char *p, size_t n, const char *want)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* Gather the base64 lines between the markers and decode them. */
static int dearmor(const char *a, size_t len, uint8_t **blob, size_t *blen,
                   struct cairn_diag *d)
{
    const char *p = a, *end = a + len;
    struct cairn_buf b64;
    size_t n;
    int rc = 0, ended = 0;

    if (len > CAIRN_SSHSIG_MAX_ARMOR)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "signature: %zu bytes, more than the %u-byte "
                              "cap",
                              len, CAIRN_SSHSIG_MAX_ARMOR);
    if (memchr(a, '\0', len))
        return cairn_diag_set(d, CAIRN_EPARSE, "signature: NUL byte");
    n = line_len(p, end);
    if (!is_line(p, n, ARMOR_BEGIN))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: does not start with '%s'",
                              ARMOR_BEGIN);
    p += n + (p + n < end);
    cairn_buf_init(&b64, len);
    while (p < end && !ended) {
        n = line_len(p, end);
        if (is_line(p, n, ARMOR_END))
            ended = 1;
        else if (cairn_buf_append(&b64, p, n && p[n - 1] == '\r' ? n - 1 : n) !=
                 0)
            break; /* can't happen: the cap is the input size */
        p += n + (p + n < end);
    }
    if (!ended)
        rc = cairn_diag_set(d, CAIRN_EPARSE, "signature: no '%s' line",
                            ARMOR_END);
    else if (p != end)
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "signature: data after the end line");
    else if (b64.len == 0 ||
             cairn_base64_decode(b64.data, b64.len, blob, blen) != 0)
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "signature: body is not valid base64");
    cairn_buf_free(&b64);
    return rc;
}

/* ---- signature blob ------------------------------------------------- */

static int parse_sig_field(struct cairn__rd *r, struct cairn_sshsig *out,
                           struct cairn_diag *d)
{
    const uint8_t *s, *type, *sig;
    size_t slen, tlen, siglen;
    struct cairn__rd in;
    char shown[48];

    if (cairn__rd_string(r, &s, &slen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated signature field");
    in.p = s;
    in.n = slen;
    if (cairn__rd_string(&in, &type, &tlen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated signature type");
    if (!cairn__str_is(type, tlen, ED25519_NAME)) {
        show(type, tlen, shown, sizeof(shown));
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED,
                              "signature: signature type '%s' is not "
                              "supported (only ssh-ed25519)",
                              shown);
    }
    if (cairn__rd_string(&in, &sig, &siglen) != 0 ||
        siglen != CAIRN_ED25519_SIG_LEN || in.n != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: Ed25519 signature is not 64 bytes");
    memcpy(out->sig, sig, CAIRN_ED25519_SIG_LEN);
    return 0;
}

static int parse_ns_and_hash(struct cairn__rd *r, struct cairn_sshsig *out,
                             struct cairn_diag *d)
{
    const uint8_t *s;
    size_t len;
    char shown[48];

    if (cairn__rd_string(r, &s, &len) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated namespace");
    if (len == 0 || len > CAIRN_SSHSIG_MAX_NAMESPACE || memchr(s, '\0', len))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: namespace empty, too long or "
                              "holding a NUL byte");
    memcpy(out->ns, s, len);
    out->ns[len] = '\0';
    if (cairn__rd_string(r, &s, &len) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated "
                              "reserved field");
    /* ssh-keygen signs an empty reserved field whatever the blob says;
     * refusing anything else keeps both readings the same. */
    if (len != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: reserved field is not empty");
    if (cairn__rd_string(r, &s, &len) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated hash algorithm");
    if (cairn__str_is(s, len, "sha256"))
        out->hash = CAIRN_SSHSIG_SHA256;
    else if (cairn__str_is(s, len, "sha512"))
        out->hash = CAIRN_SSHSIG_SHA512;
    else {
        show(s, len, shown, sizeof(shown));
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED,
                              "signature: hash algorithm '%s' is not "
                              "supported (sha256, sha512)",
                              shown);
    }
    return 0;
}

static int parse_blob(const uint8_t *blob, size_t len, struct cairn_sshsig *out,
                      struct cairn_diag *d)
{
    struct cairn__rd r = {blob, len};
    const uint8_t *s;
    size_t slen;
    uint32_t version;
    uint8_t pk[CAIRN_ED25519_PK_LEN];
    int rc;

    if (len < MAGIC_LEN || memcmp(blob, MAGIC, MAGIC_LEN) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "signature: no SSHSIG magic");
    r.p += MAGIC_LEN;
    r.n -= MAGIC_LEN;
    if (cairn__rd_u32(&r, &version) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "signature: truncated");
    if (version != 1)
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED,
                              "signature: SSHSIG version %u (only 1)",
                              (unsigned)version);
    if (cairn__rd_string(&r, &s, &slen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "signature: truncated public key");
    rc = parse_key_blob(s, slen, pk, "signature public key", d);
    if (rc == 0)
        rc = parse_ns_and_hash(&r, out, d);
    if (rc == 0)
        rc = parse_sig_field(&r, out, d);
    if (rc == 0 && r.n != 0)
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "signature: %zu stray bytes at the end", r.n);
    if (rc == 0)
        pubkey_init(&out->key, pk);
    return rc;
}

int cairn_sshsig_parse(const char *armored, size_t len,
                       struct cairn_sshsig *out, struct cairn_diag *d)
{
    struct cairn_sshsig tmp;
    uint8_t *blob = NULL;
    size_t blen = 0;
    int rc;

    if (!armored || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "signature: none given");
    memset(&tmp, 0, sizeof(tmp));
    rc = dearmor(armored, len, &blob, &blen, d);
    if (rc == 0)
        rc = parse_blob(blob, blen, &tmp, d);
    free(blob);
    if (rc == 0)
        *out = tmp;
    return rc;
}

int cairn_sshsig_check(const struct cairn_sshsig *sig, const char *ns,
                       const void *msg, size_t n, struct cairn_diag *d)
{
    /* "SSHSIG" string(ns) string("") string(alg) string(H(msg)) */
    uint8_t data[MAGIC_LEN + 4 + CAIRN_SSHSIG_MAX_NAMESPACE + 4 + 4 + 6 + 4 +
                 CAIRN_SHA512_LEN];
    uint8_t h[CAIRN_SHA512_LEN];
    const char *alg = sig->hash == CAIRN_SSHSIG_SHA512 ? "sha512" : "sha256";
    size_t hlen, off = MAGIC_LEN;

    if (!ns || strcmp(sig->ns, ns) != 0)
        return cairn_diag_set(d, CAIRN_ESIG,
                              "signature is for namespace \"%s\", not \"%s\"",
                              sig->ns, ns ? ns : "(none)");
    if (sig->hash == CAIRN_SSHSIG_SHA512) {
        cairn_sha512(msg, n, h);
        hlen = CAIRN_SHA512_LEN;
    } else {
        cairn_sha256(msg, n, h);
        hlen = CAIRN_SHA256_LEN;
    }
    memcpy(data, MAGIC, MAGIC_LEN);
    put_string(data, &off, sig->ns, strlen(sig->ns));
    put_string(data, &off, "", 0);
    put_string(data, &off, alg, strlen(alg));
    put_string(data, &off, h, hlen);
    if (cairn_ed25519_verify(&sig->key, data, off, sig->sig) != 0)
        return cairn_diag_set(
            d, CAIRN_ESIG, "signature by key %s does not verify", sig->key.id);
    return 0;
}

/* ---- patterns ------------------------------------------------------- */

/* Glob with * and ? over NUL-terminated s and the first plen bytes of pat;
 * one backtrack point suffices for these two wildcards. */
static int glob_match(const char *s, const char *pat, size_t plen)
{
    const char *star_s = NULL;
    size_t pi = 0, star_p = 0;

    while (*s) {
        if (pi < plen && pat[pi] == '*') {
            star_p = ++pi;
            star_s = s;
        } else if (pi < plen && (pat[pi] == '?' || pat[pi] == *s)) {
            pi++;
            s++;
        } else if (star_s) {
            pi = star_p;
            s = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

int cairn_sshsig_pattern_match(const char *patterns, const char *s)
{
    const char *p = patterns;
    int got = 0;

    if (!patterns || !s)
        return 0;
    while (*p) {
        size_t n = strcspn(p, ",");
        int neg = *p == '!';

        if (neg && glob_match(s, p + 1, n - 1))
            return 0;
        if (!neg && n > 0 && glob_match(s, p, n))
            got = 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return got;
}

/* ---- allowed_signers ------------------------------------------------ */

struct sp {
    const char *src;
    unsigned line;
    struct cairn_sshsig_signers *out;
    size_t alloc;
    struct cairn_diag *d;
};

/* Options of one line, before they are applied. */
struct line_opts {
    char *namespaces;
    int64_t valid_after;
    int64_t valid_before;
    int cert_authority;
};

void cairn_sshsig_signers_free(struct cairn_sshsig_signers *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].principals);
        free(s->v[i].namespaces);
    }
    for (size_t i = 0; i < s->nwarnings; i++)
        free(s->warnings[i]);
    free(s->v);
    free(s->warnings);
    free(s->source);
    free(s);
}

__attribute__((format(printf, 2, 3))) static int perr(struct sp *p,
                                                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cairn_diag_set(p->d, CAIRN_EPARSE, "%s:%u: %s", p->src, p->line,
                          msg);
}

static void pwarn(struct sp *p, const char *what)
{
    struct cairn_sshsig_signers *o = p->out;

    o->warnings =
        cairn_xrealloc(o->warnings, (o->nwarnings + 1) * sizeof(*o->warnings));
    o->warnings[o->nwarnings++] =
        cairn_xasprintf("%s:%u: %s, line skipped", p->src, p->line, what);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char *skip_blank(char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

/* Cut the next field at s: up to a blank outside double quotes. Returns
 * the field (NUL-terminated in place) and moves *s past it; NULL with a
 * message on an unterminated quote. */
static char *next_field(struct sp *p, char **s)
{
    char *start = skip_blank(*s), *q = start;
    int quoted = 0;

    while (*q && (quoted || !is_blank(*q))) {
        if (*q == '"')
            quoted = !quoted;
        q++;
    }
    if (quoted) {
        perr(p, "unterminated double quote");
        return NULL;
    }
    if (*q)
        *q++ = '\0';
    *s = q;
    return start;
}

/* Digits of v[at..at+n) as a number. */
static int digits(const char *v, size_t at, size_t n)
{
    int x = 0;

    for (size_t i = at; i < at + n; i++)
        x = x * 10 + (v[i] - '0');
    return x;
}

/* YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]; local time unless Z. */
static int parse_time(struct sp *p, const char *name, const char *v,
                      int64_t *out)
{
    size_t n = strlen(v);
    struct tm tm = {0}, back = {0};
    int utc = n > 0 && v[n - 1] == 'Z';
    time_t t;

    n -= (size_t)utc;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            n = 0;
    if (n != 8 && n != 12 && n != 14)
        return perr(p, "%s: '%s' is not YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]",
                    name, v);
    tm.tm_year = digits(v, 0, 4) - 1900;
    tm.tm_mon = digits(v, 4, 2) - 1;
    tm.tm_mday = digits(v, 6, 2);
    tm.tm_hour = n >= 12 ? digits(v, 8, 2) : 0;
    tm.tm_min = n >= 12 ? digits(v, 10, 2) : 0;
    tm.tm_sec = n == 14 ? digits(v, 12, 2) : 0;
    tm.tm_isdst = -1;
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return perr(p, "%s: '%s' is not a valid time", name, v);
    back = tm;
    t = utc ? timegm(&tm) : mktime(&tm);
    /* mktime/timegm roll Feb 30 into March: catch it by the day. */
    if (t <= 0 || tm.tm_mday != back.tm_mday || tm.tm_mon != back.tm_mon)
        return perr(p, "%s: '%s' is not a valid time after 1970", name, v);
    *out = (int64_t)t;
    return 0;
}

/* The value of name="value": the text between the quotes, NUL-cut. */
static char *quoted_value(struct sp *p, const char *name, char *v)
{
    size_t n = v ? strlen(v) : 0;

    if (n < 2 || v[0] != '"' || v[n - 1] != '"' || memchr(v + 1, '"', n - 2)) {
        perr(p, "%s: expected a double-quoted value", name);
        return NULL;
    }
    v[n - 1] = '\0';
    return v + 1;
}

static int parse_option(struct sp *p, char *opt, struct line_opts *o)
{
    char *eq = strchr(opt, '='), *v = NULL;

    if (eq) {
        *eq = '\0';
        v = eq + 1;
    }
    if (strcasecmp(opt, "cert-authority") == 0 && !v) {
        o->cert_authority = 1;
        return 0;
    }
    if (strcasecmp(opt, "namespaces") == 0) {
        if (o->namespaces)
            return perr(p, "option namespaces given twice");
        if (!(v = quoted_value(p, opt, v)))
            return CAIRN_EPARSE;
        o->namespaces = cairn_xstrdup(v);
        return 0;
    }
    if (strcasecmp(opt, "valid-after") == 0 ||
        strcasecmp(opt, "valid-before") == 0) {
        int64_t *t =
            opt[6] == 'a' || opt[6] == 'A' ? &o->valid_after : &o->valid_before;
        if (*t)
            return perr(p, "option %s given twice", opt);
        if (!(v = quoted_value(p, opt, v)))
            return CAIRN_EPARSE;
        return parse_time(p, opt, v, t);
    }
    return perr(p, "unsupported option '%.64s'", opt);
}

/* Comma-separated options; commas inside double quotes don't split. */
static int parse_options(struct sp *p, char *s, struct line_opts *o)
{
    int rc = 0;

    while (rc == 0) {
        char *q = s;
        int quoted = 0, last;

        while (*q && (quoted || *q != ',')) {
            if (*q == '"')
                quoted = !quoted;
            q++;
        }
        last = *q == '\0';
        *q = '\0';
        if (*s == '\0')
            return perr(p, "empty option");
        rc = parse_option(p, s, o);
        if (last)
            break;
        s = q + 1;
    }
    return rc;
}

static int looks_like_keytype(const char *s)
{
    return strncmp(s, "ssh-", 4) == 0 || strncmp(s, "ecdsa-", 6) == 0 ||
           strncmp(s, "sk-", 3) == 0;
}

static int decode_key(struct sp *p, const char *b64, struct cairn_pubkey *k)
{
    uint8_t *blob = NULL, pk[CAIRN_ED25519_PK_LEN];
    size_t blen = 0;
    struct cairn_diag kd;
    int rc;

    if (cairn_base64_decode(b64, strlen(b64), &blob, &blen) != 0)
        return perr(p, "key is not valid base64");
    cairn_diag_init(&kd);
    rc = parse_key_blob(blob, blen, pk, "key", &kd);
    free(blob);
    if (rc)
        return perr(p, "%s", kd.msg);
    /* Small-order points verify forged signatures in lax verifiers; say so
     * here rather than fail every signature later. */
    if (!cairn__ed25519_pk_valid(pk))
        return perr(p, "key is not a valid Ed25519 public key");
    pubkey_init(k, pk);
    return 0;
}

static int add_signer(struct sp *p, const char *principals, struct line_opts *o,
                      const char *b64, const char *comment)
{
    struct cairn_sshsig_signers *s = p->out;
    struct cairn_sshsig_signer *e;
    struct cairn_pubkey key;
    int rc = decode_key(p, b64, &key);

    if (rc)
        return rc;
    if (s->n >= CAIRN_SSHSIG_MAX_SIGNERS)
        return cairn_diag_set(p->d, CAIRN_ETOOBIG,
                              "%s:%u: more than %u signers (cap)", p->src,
                              p->line, CAIRN_SSHSIG_MAX_SIGNERS);
    if (s->n == p->alloc) {
        p->alloc = p->alloc ? 2 * p->alloc : 16;
        s->v = cairn_xrealloc(s->v, p->alloc * sizeof(*s->v));
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    snprintf(key.comment, sizeof(key.comment), "%s", comment);
    e->key = key;
    e->principals = cairn_xstrdup(principals);
    e->namespaces = o->namespaces;
    o->namespaces = NULL;
    e->valid_after = o->valid_after;
    e->valid_before = o->valid_before;
    e->line = p->line;
    return 0;
}

/* principals [options] keytype base64 [comment] */
static int parse_line(struct sp *p, char *s)
{
    struct line_opts o = {0};
    char *principals, *tok, *b64;
    int rc = CAIRN_EPARSE;

    s = skip_blank(s);
    if (*s == '\0' || *s == '#')
        return 0;
    if (!(principals = next_field(p, &s)))
        return CAIRN_EPARSE;
    if (principals[0] == '"' &&
        !(principals = quoted_value(p, "principals", principals)))
        return CAIRN_EPARSE;
    if (*principals == '\0')
        return perr(p, "empty principals");
    if (!(tok = next_field(p, &s)) || *tok == '\0')
        return perr(p, "missing key after the principals");
    if (!looks_like_keytype(tok)) {
        if ((rc = parse_options(p, tok, &o)) != 0)
            goto out;
        rc = CAIRN_EPARSE;
        if (!(tok = next_field(p, &s)) || *tok == '\0') {
            perr(p, "missing key type after the options");
            goto out;
        }
    }
    if (!(b64 = next_field(p, &s)) || *b64 == '\0') {
        perr(p, "missing base64 key after '%.32s'", tok);
        goto out;
    }
    rc = 0;
    if (o.cert_authority)
        pwarn(p, "cert-authority is not supported");
    else if (strcmp(tok, ED25519_NAME) != 0)
        pwarn(p, "only ssh-ed25519 keys are supported");
    else
        rc = add_signer(p, principals, &o, b64, skip_blank(s));
out:
    free(o.namespaces);
    return rc;
}

static int parse_lines(struct sp *p, char *text)
{
    char *cur = text, *nl;
    size_t n;
    int rc = 0;

    while (rc == 0 && *cur) {
        p->line++;
        nl = strchr(cur, '\n');
        if (nl)
            *nl = '\0';
        n = strlen(cur);
        if (n > 0 && cur[n - 1] == '\r')
            cur[--n] = '\0';
        if (n > CAIRN_SSHSIG_MAX_LINE)
            return cairn_diag_set(p->d, CAIRN_ETOOBIG,
                                  "%s:%u: line longer than %u bytes", p->src,
                                  p->line, CAIRN_SSHSIG_MAX_LINE);
        rc = parse_line(p, cur);
        if (!nl)
            break;
        cur = nl + 1;
    }
    return rc;
}

int cairn_sshsig_signers_parse(const char *text, size_t len, const char *source,
                               struct cairn_sshsig_signers **out,
                               struct cairn_diag *d)
{
    struct sp p = {.src = source ? source : "allowed_signers", .d = d};
    const char *nul;
    char *copy;
    int rc;

    if (!text || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: no text", p.src);
    if (len > CAIRN_SSHSIG_MAX_FILE)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s: %zu bytes, more than the %u-byte cap", p.src,
                              len, CAIRN_SSHSIG_MAX_FILE);
    if ((nul = memchr(text, '\0', len)) != NULL) {
        unsigned line = 1;
        for (const char *c = text; c < nul; c++)
            line += *c == '\n';
        return cairn_diag_set(d, CAIRN_EPARSE, "%s:%u: NUL byte", p.src, line);
    }
    p.out = cairn_xcalloc(1, sizeof(*p.out));
    p.out->source = cairn_xstrdup(p.src);
    p.src = p.out->source;
    copy = cairn_xstrndup(text, len);
    rc = parse_lines(&p, copy);
    free(copy);
    if (rc) {
        cairn_sshsig_signers_free(p.out);
        return rc;
    }
    *out = p.out;
    return 0;
}

int cairn_sshsig_signers_load(const char *path,
                              struct cairn_sshsig_signers **out,
                              struct cairn_diag *d)
{
    char *buf = NULL;
    size_t n = 0;
    int rc;

    if (!path)
        return cairn_diag_set(d, CAIRN_EINVAL, "allowed_signers: no path");
    rc = cairn_fs_read(path, CAIRN_SSHSIG_MAX_FILE, &buf, &n, d);
    if (rc == 0)
        rc = cairn_sshsig_signers_parse(buf, n, path, out, d);
    free(buf);
    return rc;
}

/* ---- verification --------------------------------------------------- */

const char *cairn_sshsig_status_name(enum cairn_sshsig_status s)
{
    switch (s) {
    case CAIRN_SSHSIG_VERIFIED:
        return "verified";
    case CAIRN_SSHSIG_UNSIGNED:
        return "unsigned";
    case CAIRN_SSHSIG_UNKNOWN_KEY:
        return "unknown-key";
    case CAIRN_SSHSIG_KEY_NOT_ALLOWED:
        return "key-not-allowed";
    case CAIRN_SSHSIG_BAD:
        return "bad";
    }
    return "bad";
}

/* Why line e does not allow a signature in ns at time at; NULL if it does. */
static const char *refusal(const struct cairn_sshsig_signer *e, const char *ns,
                           int64_t at)
{
    if (e->namespaces && !cairn_sshsig_pattern_match(e->namespaces, ns))
        return "not allowed for this namespace";
    if (e->valid_after && at < e->valid_after)
        return "not valid yet at the signing time";
    if (e->valid_before && at > e->valid_before)
        return "expired at the signing time";
    return NULL;
}

static void decide(const struct cairn_sshsig_signers *signers,
                   const struct cairn_sshsig *sig, const char *ns, int64_t at,
                   struct cairn_sshsig_result *res)
{
    const struct cairn_sshsig_signer *first = NULL;

    for (size_t i = 0; i < signers->n; i++) {
        const struct cairn_sshsig_signer *e = &signers->v[i];

        if (memcmp(e->key.pk, sig->key.pk, CAIRN_ED25519_PK_LEN) != 0)
            continue;
        if (!refusal(e, ns, at)) {
            res->status = CAIRN_SSHSIG_VERIFIED;
            snprintf(res->principal, sizeof(res->principal), "%s",
                     e->principals);
            res->line = e->line;
            snprintf(res->text, sizeof(res->text),
                     "good \"%s\" signature by %s with key %s (%s:%u)", ns,
                     e->principals, res->fingerprint, signers->source, e->line);
            return;
        }
        if (!first)
            first = e;
    }
    res->status = CAIRN_SSHSIG_KEY_NOT_ALLOWED;
    snprintf(res->principal, sizeof(res->principal), "%s", first->principals);
    res->line = first->line;
    snprintf(res->text, sizeof(res->text), "key %s of %s is %s (%s:%u)",
             res->fingerprint, first->principals, refusal(first, ns, at),
             signers->source, first->line);
}

static int key_listed(const struct cairn_sshsig_signers *signers,
                      const struct cairn_sshsig *sig)
{
    for (size_t i = 0; signers && i < signers->n; i++)
        if (memcmp(signers->v[i].key.pk, sig->key.pk, CAIRN_ED25519_PK_LEN) ==
            0)
            return 1;
    return 0;
}

void cairn_sshsig_verify(const struct cairn_sshsig_signers *signers,
                         const char *sig, size_t sig_len, const void *msg,
                         size_t n, const char *ns, int64_t at,
                         struct cairn_sshsig_result *res)
{
    struct cairn_sshsig s;
    struct cairn_diag d;

    memset(res, 0, sizeof(*res));
    cairn_diag_init(&d);
    if (!sig || sig_len == 0) {
        res->status = CAIRN_SSHSIG_UNSIGNED;
        snprintf(res->text, sizeof(res->text), "not signed");
        return;
    }
    res->status = CAIRN_SSHSIG_BAD;
    if (cairn_sshsig_parse(sig, sig_len, &s, &d) != 0) {
        snprintf(res->text, sizeof(res->text), "%.500s", d.msg);
        return;
    }
    memcpy(res->keyid, s.key.id, sizeof(res->keyid));
    cairn_sshsig_fingerprint(&s.key, res->fingerprint);
    if (!key_listed(signers, &s)) {
        res->status = CAIRN_SSHSIG_UNKNOWN_KEY;
        snprintf(res->text, sizeof(res->text),
                 "signed with key %s (id %s), which is not in %s",
                 res->fingerprint, res->keyid,
                 signers ? signers->source : "the allowed signers");
        return;
    }
    /* The mathematics first: a tampered object is "bad" whatever the
     * allowed_signers file says about the key. */
    if (cairn_sshsig_check(&s, ns, msg, n, &d) != 0) {
        snprintf(res->text, sizeof(res->text), "%.500s", d.msg);
        return;
    }
    decide(signers, &s, ns, at, res);
}
