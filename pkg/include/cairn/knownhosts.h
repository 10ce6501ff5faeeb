/*
 * OpenSSH known_hosts files: which ssh host keys the controller trusts for
 * which hosts (see docs/internals/knownhosts.md). libgit2 hands the
 * server's raw host key to a callback; this module decides.
 *
 * Lines understood: `HOSTS KEYTYPE BASE64 [comment]`, where HOSTS is a
 * comma-separated list of names, `[name]:port` forms, `*`/`?` wildcards,
 * `!negations`, or one hashed `|1|SALT|HASH` entry (HashKnownHosts), and
 * the `@revoked` marker. `@cert-authority` lines are kept out of matching
 * (host certificates are not supported). Blank lines and `#` comments are
 * skipped; anything else is an error naming file:line.
 */
#ifndef CAIRN_KNOWNHOSTS_H
#define CAIRN_KNOWNHOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/error.h"

#define CAIRN_KNOWNHOSTS_MAX_BYTES (1u << 20) /* file size cap */
#define CAIRN_KNOWNHOSTS_MAX_LINE 16384u      /* one line */
/* "SHA256:" + 43 unpadded base64 characters, as ssh-keygen -l prints. */
#define CAIRN_SSH_FP_LEN 50u

struct cairn_knownhosts; /* opaque, immutable once parsed */

/*
 * Parse len bytes of known_hosts text; name (a file path) is used in error
 * messages only. *out is written only on success; free it with
 * cairn_knownhosts_free(). CAIRN_EPARSE (bad line, with name:line),
 * CAIRN_ETOOBIG (text or line over its cap).
 */
CAIRN_WUR int cairn_knownhosts_parse(const char *text, size_t len,
                                     const char *name,
                                     struct cairn_knownhosts **out,
                                     struct cairn_diag *d);

/* Read and parse a file (cap CAIRN_KNOWNHOSTS_MAX_BYTES). As above, plus
 * CAIRN_ENOENT / CAIRN_EIO naming the path. */
CAIRN_WUR int cairn_knownhosts_load(const char *path,
                                    struct cairn_knownhosts **out,
                                    struct cairn_diag *d);

void cairn_knownhosts_free(struct cairn_knownhosts *kh); /* NULL ok */

/*
 * Is key (the server's host key blob in SSH wire format, as libssh2 gives
 * it) trusted for host at port? Port 22 looks up `host`, any other port
 * `[host]:port`, as OpenSSH does. Thread-safe (kh is read only).
 * 0: an entry for the host lists this key and no @revoked line lists it.
 * CAIRN_EKEY: the host is listed with other keys only (a changed or
 * spoofed key) or not listed at all; CAIRN_EPOLICY: the key is @revoked.
 * Messages name the host, the key type and its SHA256 fingerprint, and the
 * file's lines that list the host.
 */
CAIRN_WUR int cairn_knownhosts_check(const struct cairn_knownhosts *kh,
                                     const char *host, unsigned port,
                                     const uint8_t *key, size_t keylen,
                                     struct cairn_diag *d);

/* "SHA256:<unpadded base64 of SHA-256 of blob>", as ssh-keygen -l and ssh
 * print it, into out (CAIRN_SSH_FP_LEN + 1 bytes). */
void cairn_ssh_fingerprint(const uint8_t *blob, size_t n,
                           char out[CAIRN_SSH_FP_LEN + 1]);

/* The key type named inside an SSH wire-format key blob ("ssh-ed25519"),
 * into out (size outlen, NUL-terminated); "unknown" when it can't be read. */
void cairn_ssh_key_type(const uint8_t *blob, size_t n, char *out,
                        size_t outlen);

#endif
