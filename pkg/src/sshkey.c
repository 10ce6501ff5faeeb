/*
 * OpenSSH key formats for Ed25519 keys: public key lines ("ssh-ed25519
 * AAAA... comment") and unencrypted "openssh-key-v1" private key files,
 * byte for byte as ssh-keygen writes them, so that one key signs git commits
 * (gpg.format=ssh) and cairn documents. Format facts: OpenSSH PROTOCOL.key
 * and RFC 4251 (string = uint32 length + bytes). See docs/internals/keys.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/keys.h"
#include "cairn/mem.h"
#include "keys_internal.h"

#define KEY_TYPE "ssh-ed25519"
#define KEY_TYPE_LEN 11
#define AUTH_MAGIC "openssh-key-v1" /* followed by a NUL on the wire */
#define AUTH_MAGIC_LEN 15
#define ARMOR_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define ARMOR_END "-----END OPENSSH PRIVATE KEY-----"
#define ARMOR_WIDTH 70 /* base64 characters per line, as ssh-keygen wraps */
#define BLOCK_SIZE 8   /* cipher "none" pads the private section to 8 */
/* "string type, string pk" */
#define PUB_BLOB_LEN (4 + KEY_TYPE_LEN + 4 + CAIRN_ED25519_PK_LEN)

/* Caps: a real .pub line is ~100 bytes and an ed25519 private key file
 * ~400; anything far larger is not a key. */
#define PUB_FILE_CAP (16u * 1024)
#define SEC_FILE_CAP (16u * 1024)

/* ---- RFC 4251 wire reading and writing --------------------------------- */

int cairn__rd_u32(struct cairn__rd *r, uint32_t *v)
{
    if (r->n < 4)
        return -1;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
         (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->n -= 4;
    return 0;
}

int cairn__rd_string(struct cairn__rd *r, const uint8_t **s, size_t *len)
{
    struct cairn__rd at = *r;
    uint32_t n;

    if (cairn__rd_u32(&at, &n) != 0 || n > at.n)
        return -1;
    *s = at.p;
    *len = n;
    r->p = at.p + n;
    r->n = at.n - n;
    return 0;
}

int cairn__str_is(const uint8_t *s, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Writer into a buffer sized exactly beforehand (no realloc: it may hold
 * secret bytes that a realloc would leave behind in freed memory). */
struct wr {
    uint8_t *p;
    size_t n, cap;
};

static void wr_bytes(struct wr *w, const void *s, size_t n)
{
    if (n > w->cap - w->n)
        abort(); /* size computed wrongly: a bug, not an input error */
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                    (uint8_t)v};

    wr_bytes(w, b, 4);
}

static void wr_str(struct wr *w, const void *s, size_t n)
{
    wr_u32(w, (uint32_t)n);
    wr_bytes(w, s, n);
}

static void wr_pub_blob(struct wr *w, const uint8_t pk[CAIRN_ED25519_PK_LEN])
{
    wr_str(w, KEY_TYPE, KEY_TYPE_LEN);
    wr_str(w, pk, CAIRN_ED25519_PK_LEN);
}

/* Parse "string type, string pk" filling the whole of b. */
static int parse_pub_blob(const uint8_t *b, size_t n,
                          uint8_t pk[CAIRN_ED25519_PK_LEN],
                          struct cairn_diag *d)
{
    struct cairn__rd r = {b, n};
    const uint8_t *type, *key;
    size_t tlen, klen;

    if (cairn__rd_string(&r, &type, &tlen) != 0 ||
        cairn__rd_string(&r, &key, &klen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE, "truncated public key blob");
    if (!cairn__str_is(type, tlen, KEY_TYPE))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "key blob type is '%.*s', not " KEY_TYPE,
                              (int)(tlen > 40 ? 40 : tlen), (const char *)type);
    if (klen != CAIRN_ED25519_PK_LEN)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "ed25519 public key is %zu bytes, not 32", klen);
    if (r.n != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%zu stray bytes after the public key", r.n);
    memcpy(pk, key, CAIRN_ED25519_PK_LEN);
    return 0;
}

int cairn__key_comment_check(const char *c, size_t n, struct cairn_diag *d)
{
    if (n >= sizeof(((struct cairn_pubkey *)0)->comment))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "key comment is %zu bytes (at most %zu)", n,
                              sizeof(((struct cairn_pubkey *)0)->comment) - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            return cairn_diag_set(
                d, CAIRN_EINVAL,
                "key comment has a control character at byte %zu", i);
    return 0;
}

/* Fill id and comment of a key whose pk is set; checks the point. */
static int finish_pub(struct cairn_pubkey *k, const char *comment, size_t clen,
                      struct cairn_diag *d)
{
    int rc = cairn__key_comment_check(comment, clen, d);

    if (rc)
        return rc;
    if (!cairn__ed25519_pk_valid(k->pk))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "public key is not a valid Ed25519 point");
    memcpy(k->comment, comment, clen);
    k->comment[clen] = '\0';
    cairn_keyid(k->pk, k->id);
    return 0;
}

/* ---- public key lines --------------------------------------------------- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int is_space(char c)
{
    return is_blank(c) || c == '\r' || c == '\n';
}

static int unsupported_type(const char *t, size_t n)
{
    return (n > 4 && memcmp(t, "ssh-", 4) == 0) ||
           (n > 6 && memcmp(t, "ecdsa-", 6) == 0) ||
           (n > 3 && memcmp(t, "sk-", 3) == 0);
}

/* The base64 field of a key line into pk. */
static int parse_b64_field(const char *b64, size_t len,
                           uint8_t pk[CAIRN_ED25519_PK_LEN],
                           struct cairn_diag *d)
{
    uint8_t *blob = NULL;
    size_t blen = 0;
    int rc;

    if (len == 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "public key line has no key data");
    if (cairn_base64_decode(b64, len, &blob, &blen) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "public key data is not valid base64");
    rc = parse_pub_blob(blob, blen, pk, d);
    free(blob);
    return rc;
}

int cairn_pubkey_parse(const char *line, struct cairn_pubkey *out,
                       struct cairn_diag *d)
{
    struct cairn_pubkey k;
    const char *p = line, *type, *b64, *end;
    int rc;

    memset(&k, 0, sizeof(k));
    while (is_space(*p))
        p++;
    for (type = p; *p && !is_space(*p); p++)
        ;
    if (!cairn__str_is((const uint8_t *)type, (size_t)(p - type), KEY_TYPE)) {
        if (unsupported_type(type, (size_t)(p - type)))
            return cairn_diag_set(
                d, CAIRN_EKEY,
                "key type '%.*s' is not supported (cairn uses " KEY_TYPE ")",
                (int)(p - type > 40 ? 40 : p - type), type);
        return cairn_diag_set(
            d, CAIRN_EPARSE,
            "not an OpenSSH public key line (expected '" KEY_TYPE
            " AAAA... comment')");
    }
    while (is_blank(*p))
        p++;
    for (b64 = p; *p && !is_space(*p); p++)
        ;
    rc = parse_b64_field(b64, (size_t)(p - b64), k.pk, d);
    if (rc)
        return rc;
    while (is_blank(*p))
        p++;
    end = p + strlen(p);
    while (end > p && is_space(end[-1]))
        end--;
    rc = finish_pub(&k, p, (size_t)(end - p), d);
    if (rc == 0)
        *out = k;
    return rc;
}

char *cairn_pubkey_format(const struct cairn_pubkey *pk)
{
    uint8_t blob[PUB_BLOB_LEN];
    struct wr w = {blob, 0, sizeof(blob)};
    char *b64, *line;

    wr_pub_blob(&w, pk->pk);
    b64 = cairn_base64_encode(blob, w.n);
    line = cairn_xasprintf(KEY_TYPE " %s%s%s", b64, pk->comment[0] ? " " : "",
                           pk->comment);
    free(b64);
    return line;
}

/* ---- files -------------------------------------------------------------- */

/* Key files are read with cairn_fs_read_secret: no stray copies, and a
 * secret key readable by others is refused. */
static int read_key_file(const char *path, size_t cap, int secret, char **out,
                         size_t *out_len, struct cairn_diag *d)
{
    int rc = cairn_fs_read_secret(path, cap, secret, out, out_len, d);

    if (rc == CAIRN_ETOOBIG)
        cairn_diag_prefix(d, "not a key file");
    return rc;
}

int cairn_pubkey_load(const char *path, struct cairn_pubkey *out,
                      struct cairn_diag *d)
{
    struct cairn_diag local;
    struct cairn_pubkey k;
    char *text = NULL, *end;
    size_t n = 0;
    int rc;

    rc = read_key_file(path, PUB_FILE_CAP, 0, &text, &n, d);
    if (rc)
        return rc;
    cairn_diag_init(&local);
    end = text + n;
    while (end > text && is_space(end[-1]))
        end--;
    *end = '\0';
    if (memchr(text, '\0', (size_t)(end - text)))
        rc = cairn_diag_set(&local, CAIRN_EPARSE,
                            "NUL byte in a public key file");
    else if (strncmp(text, "-----BEGIN", 10) == 0)
        rc = cairn_diag_set(
            &local, CAIRN_EPARSE,
            "this is a private key file; pass the public key (.pub) file");
    else if (strchr(text, '\n'))
        rc = cairn_diag_set(&local, CAIRN_EPARSE,
                            "more than one line (a .pub file holds one key)");
    else
        rc = cairn_pubkey_parse(text, &k, &local);
    free(text);
    if (rc)
        return cairn_diag_set(d, rc, "%s:1: %s", path, cairn_diag_msg(&local));
    *out = k;
    return 0;
}

/* ---- private key files -------------------------------------------------- */

/* Next line of [*p, end) without its "\n" or "\r\n"; 0 at the end. */
static int next_line(const char **p, const char *end, const char **ls,
                     size_t *ll)
{
    const char *eol;

    if (*p >= end)
        return 0;
    eol = memchr(*p, '\n', (size_t)(end - *p));
    *ls = *p;
    *ll = (size_t)((eol ? eol : end) - *p);
    *p = eol ? eol + 1 : end;
    if (*ll > 0 && (*ls)[*ll - 1] == '\r')
        (*ll)--;
    return 1;
}

static int line_is(const char *ls, size_t ll, const char *want)
{
    return ll == strlen(want) && memcmp(ls, want, ll) == 0;
}

static int line_blank(const char *ls, size_t ll)
{
    for (size_t i = 0; i < ll; i++)
        if (!is_space(ls[i]))
            return 0;
    return 1;
}

static int is_b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

/* Strip the armor and decode the base64 body (line breaks removed, then the
 * strict decoder). Blank lines around the armor are tolerated. */
static int unarmor(const char *text, size_t n, uint8_t **bin, size_t *bin_len,
                   struct cairn_diag *d)
{
    enum { BEFORE, BODY, AFTER } state = BEFORE;
    const char *p = text, *end = text + n, *ls;
    char *b64 = cairn_xmalloc(n + 1);
    size_t ll, m = 0;
    int line = 0, rc = 0;

    while (rc == 0 && next_line(&p, end, &ls, &ll)) {
        line++;
        if (state == BEFORE && !line_blank(ls, ll)) {
            if (!line_is(ls, ll, ARMOR_BEGIN))
                rc = cairn_diag_set(d, CAIRN_EKEY,
                                    "not an OpenSSH private key "
                                    "(line %d is not '" ARMOR_BEGIN "')",
                                    line);
            state = BODY;
        } else if (state == BODY && line_is(ls, ll, ARMOR_END)) {
            state = AFTER;
        } else if (state == BODY) {
            for (size_t i = 0; i < ll && rc == 0; i++)
                if (!is_b64_char(ls[i]))
                    rc = cairn_diag_set(d, CAIRN_EPARSE,
                                        "line %d: unexpected character "
                                        "in the base64 key body",
                                        line);
            memcpy(b64 + m, ls, ll);
            m += ll;
        } else if (state == AFTER && !line_blank(ls, ll)) {
            rc = cairn_diag_set(d, CAIRN_EPARSE,
                                "line %d: data after '" ARMOR_END "'", line);
        }
    }
    if (rc == 0 && state == BEFORE)
        rc = cairn_diag_set(d, CAIRN_EKEY,
                            "not an OpenSSH private key (empty file)");
    if (rc == 0 && state == BODY)
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "truncated: no '" ARMOR_END "' line");
    if (rc == 0 && cairn_base64_decode(b64, m, bin, bin_len) != 0)
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "the key body is not valid base64 (truncated?)");
    cairn__wipe_free(b64, n + 1);
    return rc;
}

static int truncated(struct cairn_diag *d, const char *what)
{
    return cairn_diag_set(d, CAIRN_EPARSE,
                          "truncated or corrupt key data (at %s)", what);
}

/* The unencrypted outer layer: magic, cipher, kdf, one public key, and the
 * private section (returned in priv). */
static int parse_outer(const uint8_t *bin, size_t n,
                       uint8_t pk[CAIRN_ED25519_PK_LEN], struct cairn__rd *priv,
                       struct cairn_diag *d)
{
    struct cairn__rd r;
    const uint8_t *s;
    size_t len;
    uint32_t nkeys;
    int rc;

    if (n < AUTH_MAGIC_LEN || memcmp(bin, AUTH_MAGIC, AUTH_MAGIC_LEN) != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "bad magic: not an openssh-key-v1 key");
    r.p = bin + AUTH_MAGIC_LEN;
    r.n = n - AUTH_MAGIC_LEN;
    if (cairn__rd_string(&r, &s, &len) != 0)
        return truncated(d, "cipher name");
    if (!cairn__str_is(s, len, "none"))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "key is encrypted (cipher %.*s); cairn needs "
                              "an unencrypted key",
                              (int)(len > 40 ? 40 : len), (const char *)s);
    if (cairn__rd_string(&r, &s, &len) != 0)
        return truncated(d, "kdf name");
    if (!cairn__str_is(s, len, "none"))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "key uses a kdf; cairn needs an unencrypted key");
    if (cairn__rd_string(&r, &s, &len) != 0 || len != 0)
        return truncated(d, "kdf options");
    if (cairn__rd_u32(&r, &nkeys) != 0)
        return truncated(d, "key count");
    if (nkeys != 1)
        return cairn_diag_set(d, CAIRN_EKEY, "file holds %u keys, expected 1",
                              nkeys);
    if (cairn__rd_string(&r, &s, &len) != 0)
        return truncated(d, "public key");
    rc = parse_pub_blob(s, len, pk, d);
    if (rc)
        return rc;
    if (cairn__rd_string(&r, &priv->p, &priv->n) != 0)
        return truncated(d, "private section");
    if (r.n != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%zu stray bytes after the private section", r.n);
    if (priv->n % BLOCK_SIZE != 0)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "private section is not padded to %d bytes",
                              BLOCK_SIZE);
    return 0;
}

/* The private section: check ints, the key again, the comment, padding. */
static int parse_private(struct cairn__rd *r,
                         const uint8_t pk[CAIRN_ED25519_PK_LEN],
                         struct cairn_seckey *k, struct cairn_diag *d)
{
    const uint8_t *type, *pk2, *sk, *comment;
    size_t tlen, pklen, sklen, clen;
    uint32_t check1, check2;

    if (cairn__rd_u32(r, &check1) != 0 || cairn__rd_u32(r, &check2) != 0)
        return truncated(d, "check bytes");
    if (check1 != check2)
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "check bytes differ: corrupt key");
    if (cairn__rd_string(r, &type, &tlen) != 0)
        return truncated(d, "private key type");
    if (!cairn__str_is(type, tlen, KEY_TYPE))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "private key type is not " KEY_TYPE);
    if (cairn__rd_string(r, &pk2, &pklen) != 0 || pklen != CAIRN_ED25519_PK_LEN)
        return truncated(d, "private section public key");
    if (cairn__rd_string(r, &sk, &sklen) != 0 || sklen != CAIRN_ED25519_SK_LEN)
        return truncated(d, "secret key");
    if (cairn__rd_string(r, &comment, &clen) != 0)
        return truncated(d, "comment");
    /* Padding is 1, 2, 3, ... up to the block size. */
    if (r->n >= BLOCK_SIZE)
        return cairn_diag_set(d, CAIRN_EPARSE, "bad padding: corrupt key");
    for (size_t i = 0; i < r->n; i++)
        if (r->p[i] != i + 1)
            return cairn_diag_set(d, CAIRN_EPARSE, "bad padding: corrupt key");
    if (memcmp(pk, pk2, CAIRN_ED25519_PK_LEN) != 0 ||
        memcmp(pk, sk + CAIRN_ED25519_SK_LEN - CAIRN_ED25519_PK_LEN,
               CAIRN_ED25519_PK_LEN) != 0)
        return cairn_diag_set(
            d, CAIRN_EKEY, "the copies of the public key in the file differ");
    if (!cairn__ed25519_sk_consistent(sk))
        return cairn_diag_set(d, CAIRN_EKEY,
                              "secret key does not match its public key");
    memcpy(k->sk, sk, CAIRN_ED25519_SK_LEN);
    memcpy(k->pub.pk, pk, CAIRN_ED25519_PK_LEN);
    return finish_pub(&k->pub, (const char *)comment, clen, d);
}

static int parse_seckey_text(const char *text, size_t n, struct cairn_seckey *k,
                             struct cairn_diag *d)
{
    uint8_t *bin = NULL, pk[CAIRN_ED25519_PK_LEN];
    size_t bin_len = 0;
    struct cairn__rd priv = {NULL, 0};
    int rc;

    rc = unarmor(text, n, &bin, &bin_len, d);
    if (rc)
        return rc;
    rc = parse_outer(bin, bin_len, pk, &priv, d);
    if (rc == 0)
        rc = parse_private(&priv, pk, k, d);
    cairn__wipe_free(bin, bin_len);
    return rc;
}

int cairn_seckey_load(const char *path, struct cairn_seckey *out,
                      struct cairn_diag *d)
{
    struct cairn_diag local;
    struct cairn_seckey k;
    char *text = NULL;
    size_t n = 0;
    int rc;

    rc = read_key_file(path, SEC_FILE_CAP, 1, &text, &n, d);
    if (rc)
        return rc;
    cairn_diag_init(&local);
    memset(&k, 0, sizeof(k));
    rc = parse_seckey_text(text, n, &k, &local);
    cairn__wipe_free(text, SEC_FILE_CAP + 1);
    if (rc == 0)
        *out = k;
    else
        cairn_diag_set(d, rc, "%s: %s", path, cairn_diag_msg(&local));
    cairn__wipe(&k, sizeof(k));
    return rc;
}

/* The binary openssh-key-v1 form of k in a fresh buffer of *n bytes. */
static uint8_t *build_private(const struct cairn_seckey *k, size_t *n)
{
    size_t clen = strlen(k->pub.comment);
    size_t priv = 8 + (4 + KEY_TYPE_LEN) + (4 + CAIRN_ED25519_PK_LEN) +
                  (4 + CAIRN_ED25519_SK_LEN) + (4 + clen);
    size_t pad = (BLOCK_SIZE - priv % BLOCK_SIZE) % BLOCK_SIZE;
    size_t total = AUTH_MAGIC_LEN + (4 + 4) * 2 + 4 + 4 + (4 + PUB_BLOB_LEN) +
                   4 + priv + pad;
    struct wr w = {cairn_xmalloc(total), 0, total};
    uint32_t check;

    /* Random check ints, as ssh-keygen writes them: with an encrypted key
     * they detect a wrong passphrase; here they are only a checksum. */
    cairn_random(&check, sizeof(check));
    wr_bytes(&w, AUTH_MAGIC, AUTH_MAGIC_LEN);
    wr_str(&w, "none", 4);
    wr_str(&w, "none", 4);
    wr_str(&w, "", 0);
    wr_u32(&w, 1);
    wr_u32(&w, PUB_BLOB_LEN);
    wr_pub_blob(&w, k->pub.pk);
    wr_u32(&w, (uint32_t)(priv + pad));
    wr_u32(&w, check);
    wr_u32(&w, check);
    wr_pub_blob(&w, k->pub.pk);
    wr_str(&w, k->sk, CAIRN_ED25519_SK_LEN);
    wr_str(&w, k->pub.comment, clen);
    for (size_t i = 1; i <= pad; i++)
        wr_bytes(&w, &(uint8_t){(uint8_t)i}, 1);
    *n = w.n;
    return w.p;
}

/* Armored text: BEGIN line, base64 wrapped at 70 columns, END line. */
static char *armor(const uint8_t *bin, size_t n, size_t *text_len)
{
    char *b64 = cairn_base64_encode(bin, n);
    size_t blen = strlen(b64);
    size_t cap = strlen(ARMOR_BEGIN) + 1 + blen + blen / ARMOR_WIDTH + 1 +
                 strlen(ARMOR_END) + 2;
    struct wr w = {cairn_xmalloc(cap), 0, cap};

    wr_bytes(&w, ARMOR_BEGIN "\n", strlen(ARMOR_BEGIN) + 1);
    for (size_t i = 0; i < blen; i += ARMOR_WIDTH) {
        size_t len = blen - i < ARMOR_WIDTH ? blen - i : ARMOR_WIDTH;

        wr_bytes(&w, b64 + i, len);
        wr_bytes(&w, "\n", 1);
    }
    wr_bytes(&w, ARMOR_END "\n", strlen(ARMOR_END) + 1);
    w.p[w.n] = '\0';
    cairn__wipe_free(b64, blen);
    *text_len = w.n;
    return (char *)w.p;
}

int cairn_seckey_save(const struct cairn_seckey *sk, const char *path,
                      struct cairn_diag *d)
{
    uint8_t *bin;
    char *text;
    size_t n = 0, text_len = 0;
    int rc;

    if (cairn__key_comment_check(sk->pub.comment, strlen(sk->pub.comment), d) !=
        0)
        return CAIRN_EINVAL;
    bin = build_private(sk, &n);
    text = armor(bin, n, &text_len);
    cairn__wipe_free(bin, n);
    rc = cairn_fs_write_new(path, text, text_len, 0600, d);
    cairn__wipe_free(text, text_len);
    return rc;
}
