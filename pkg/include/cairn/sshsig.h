/*
 * SSH signatures (OpenSSH's SSHSIG format) as git writes them for
 * `git commit -S` with gpg.format=ssh, and allowed_signers files in the
 * format of ssh-keygen(1) "ALLOWED SIGNERS", which git's
 * gpg.ssh.allowedSignersFile points at.
 *
 * Only Ed25519 keys are supported (DESIGN.md "Keys and trust"); other key
 * types are refused in signatures and skipped with a warning in
 * allowed_signers files. Signatures and allowed_signers files are
 * untrusted input: every length is checked, every error says where.
 *
 * Pure computation, no global state: any thread.
 */
#ifndef CAIRN_SSHSIG_H
#define CAIRN_SSHSIG_H

#include "cairn/diag.h"
#include "cairn/error.h"
#include "cairn/keys.h"
#include <stddef.h>
#include <stdint.h>

#define CAIRN_SSHSIG_NS_GIT "git"
/* Armored signatures longer than this are refused (an Ed25519 one is
 * about 300 bytes). */
#define CAIRN_SSHSIG_MAX_ARMOR 8192u
#define CAIRN_SSHSIG_MAX_NAMESPACE 64u
/* allowed_signers caps: whole file, one line, number of entries. */
#define CAIRN_SSHSIG_MAX_FILE (1u << 20)
#define CAIRN_SSHSIG_MAX_LINE 8192u
#define CAIRN_SSHSIG_MAX_SIGNERS 10000u
/* "SHA256:" + 43 unpadded base64 chars, as ssh-keygen -l prints. */
#define CAIRN_SSHSIG_FP_LEN 50

enum cairn_sshsig_hash {
    CAIRN_SSHSIG_SHA256 = 1,
    CAIRN_SSHSIG_SHA512 = 2,
};

/* A parsed signature. */
struct cairn_sshsig {
    struct cairn_pubkey key;                 /* signer (comment empty) */
    char ns[CAIRN_SSHSIG_MAX_NAMESPACE + 1]; /* namespace, e.g. "git" */
    enum cairn_sshsig_hash hash;
    uint8_t sig[CAIRN_ED25519_SIG_LEN];
};

/*
 * Parse an armored signature ("-----BEGIN SSH SIGNATURE-----", base64
 * lines, "-----END SSH SIGNATURE-----", optional final newline) of len
 * bytes (need not be NUL-terminated). *out written only on success.
 * CAIRN_EPARSE (armor, base64 or blob malformed; the diag names the
 * field), CAIRN_EUNSUPPORTED (version, key type or hash algorithm other
 * than v1 / ssh-ed25519 / sha256|sha512), CAIRN_ETOOBIG.
 */
CAIRN_WUR int cairn_sshsig_parse(const char *armored, size_t len,
                                 struct cairn_sshsig *out,
                                 struct cairn_diag *d);

/*
 * Check sig over msg: its namespace must equal ns (CAIRN_ESIG otherwise)
 * and the Ed25519 signature must verify over the SSHSIG signed data
 * ("SSHSIG", namespace, reserved, hash algorithm, H(msg)). This checks
 * the mathematics only; who may sign is the allowed_signers' business.
 * 0 or CAIRN_ESIG.
 */
CAIRN_WUR int cairn_sshsig_check(const struct cairn_sshsig *sig, const char *ns,
                                 const void *msg, size_t n,
                                 struct cairn_diag *d);

/* "SHA256:<base64 of SHA-256 of the public key blob>" as ssh-keygen and
 * git print it, NUL-terminated. */
void cairn_sshsig_fingerprint(const struct cairn_pubkey *k,
                              char out[CAIRN_SSHSIG_FP_LEN + 1]);

/* ---- allowed_signers ------------------------------------------------ */

struct cairn_sshsig_signer {
    char *principals;     /* pattern-list as written ("a@x,*@y.org") */
    char *namespaces;     /* pattern-list, NULL when the line has none */
    int64_t valid_after;  /* unix time; 0 = no bound */
    int64_t valid_before; /* unix time; 0 = no bound */
    struct cairn_pubkey key;
    unsigned line;
};

struct cairn_sshsig_signers {
    char *source;                  /* name used in messages */
    struct cairn_sshsig_signer *v; /* in file order */
    size_t n;
    char **warnings; /* "file:line: ... skipped" lines */
    size_t nwarnings;
};

/*
 * Parse an allowed_signers text of len bytes; source names it in
 * messages ("allowed_signers:12: ..."). Comments (#), blank lines and
 * CRLF endings are accepted. Options: namespaces="...", valid-after="...",
 * valid-before="..." (YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]; local time
 * without Z, as ssh-keygen reads them); cert-authority lines and keys
 * other than ssh-ed25519 are skipped with a warning (in ->warnings).
 * Anything else malformed fails the whole file: CAIRN_EPARSE naming
 * source:line and the field; CAIRN_ETOOBIG past the caps. *out written
 * only on success; free with cairn_sshsig_signers_free().
 */
CAIRN_WUR int cairn_sshsig_signers_parse(const char *text, size_t len,
                                         const char *source,
                                         struct cairn_sshsig_signers **out,
                                         struct cairn_diag *d);
/* Read and parse a file (capped at CAIRN_SSHSIG_MAX_FILE). Adds
 * CAIRN_ENOENT / CAIRN_EIO to the codes above. */
CAIRN_WUR int cairn_sshsig_signers_load(const char *path,
                                        struct cairn_sshsig_signers **out,
                                        struct cairn_diag *d);
void cairn_sshsig_signers_free(struct cairn_sshsig_signers *s); /* NULL ok */

/* 1 when s matches the OpenSSH pattern-list (comma-separated patterns
 * with * and ?, a leading ! negates and vetoes), else 0. Case-sensitive.
 * For checking a commit's author against the principals of its signer. */
int cairn_sshsig_pattern_match(const char *patterns, const char *s);

/* ---- verification of a signed object (a git commit) ------------------ */

enum cairn_sshsig_status {
    CAIRN_SSHSIG_VERIFIED = 0,    /* good signature by an allowed key */
    CAIRN_SSHSIG_UNSIGNED,        /* no signature at all */
    CAIRN_SSHSIG_UNKNOWN_KEY,     /* signer's key is not in allowed_signers */
    CAIRN_SSHSIG_KEY_NOT_ALLOWED, /* key listed, but not for this namespace
                                     or not at this time */
    CAIRN_SSHSIG_BAD,             /* malformed, unsupported, wrong
                                     namespace, or the signature does not
                                     verify (tampered object) */
};

struct cairn_sshsig_result {
    enum cairn_sshsig_status status;
    char keyid[CAIRN_KEYID_LEN + 1];           /* cairn key id, "" if none */
    char fingerprint[CAIRN_SSHSIG_FP_LEN + 1]; /* "SHA256:...", "" if none */
    char principal[256]; /* principals of the matching allowed_signers
                            line (VERIFIED, KEY_NOT_ALLOWED), else "" */
    unsigned line;       /* that line, else 0 */
    char text[512];      /* one line for logs and `cairnctl audit` */
};

/* Short name: "verified", "unsigned", "unknown-key", "key-not-allowed",
 * "bad"; never NULL. */
const char *cairn_sshsig_status_name(enum cairn_sshsig_status s);

/*
 * Decide whether msg carries a good signature from an allowed signer for
 * namespace ns, as `git verify-commit` does with ssh-keygen: the first
 * allowed_signers line with the signer's key whose namespaces match ns
 * and whose validity window contains `at` (git uses the committer time)
 * decides. sig NULL (or sig_len 0) means unsigned; signers NULL trusts
 * no one. Always fills *res; never fails.
 */
void cairn_sshsig_verify(const struct cairn_sshsig_signers *signers,
                         const char *sig, size_t sig_len, const void *msg,
                         size_t n, const char *ns, int64_t at,
                         struct cairn_sshsig_result *res);

#endif
