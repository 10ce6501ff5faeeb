/*
 * Filesystem helpers: capped reads, durable writes (temp file, fsync,
 * rename, fsync the directory), and joining an untrusted relative path under
 * a root without escaping it. Blocking calls: on a libuv loop, run them
 * through uv_queue_work when the disk may be slow. See docs/internals/fs.md.
 *
 * Every function returns 0 or a negative CAIRN_E* code; errors name the path
 * in d (may be NULL). Out-params are written only on success.
 */
#ifndef CAIRN_FS_H
#define CAIRN_FS_H

#include "cairn/diag.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole file of at most cap bytes into a fresh NUL-terminated buffer
 * (caller frees *out; out_len may be NULL). CAIRN_ENOENT, CAIRN_EPERM,
 * CAIRN_EIO, CAIRN_ETOOBIG (file over cap, checked while reading too). */
CAIRN_WUR int cairn_fs_read(const char *path, size_t cap, char **out,
                            size_t *out_len, struct cairn_diag *d);

/* Read a file that may hold secrets: a regular file of at most cap bytes
 * into ONE allocation of cap+1 bytes that is never grown (a realloc would
 * leave copies behind), NUL-terminated; wiped before it is freed on error.
 * With private_only, a file whose mode gives group or others any access is
 * refused with CAIRN_EPERM and a message naming the mode and the chmod fix.
 * The caller wipes (cairn_fs_wipe_free) and frees the buffer when done.
 * CAIRN_ENOENT, CAIRN_EIO (also: not a regular file), CAIRN_ETOOBIG. */
CAIRN_WUR int cairn_fs_read_secret(const char *path, size_t cap,
                                   int private_only, char **out,
                                   size_t *out_len, struct cairn_diag *d);

/* Zero n bytes of p (not optimized away) and free it; NULL ok. */
void cairn_fs_wipe_free(void *p, size_t n);

/* Replace path atomically and durably with data: a hidden temp file in the
 * same directory, fchmod to exactly mode (umask does not apply), write,
 * fsync, rename over path, fsync the directory. A crash leaves either the
 * old or the new content, never a mix. On error the temp file is removed.
 * CAIRN_ENOENT (no such directory), CAIRN_EPERM, CAIRN_ENOSPC, CAIRN_EIO. */
CAIRN_WUR int cairn_fs_write_durable(const char *path, const void *data,
                                     size_t n, mode_t mode,
                                     struct cairn_diag *d);

/* The same, but never replacing an existing file: CAIRN_EEXIST when path
 * exists (the check and the rename are one atomic step). For keys and other
 * files whose loss by accident would be worse than an error. */
CAIRN_WUR int cairn_fs_write_new(const char *path, const void *data, size_t n,
                                 mode_t mode, struct cairn_diag *d);

/* fsync a directory (after a rename or unlink in it). A filesystem that
 * cannot sync directories (EINVAL) counts as success. */
CAIRN_WUR int cairn_fs_fsync_dir(const char *dir, struct cairn_diag *d);

/* mkdir -p with mode (umask applies) for created directories; existing
 * directories are fine, an existing non-directory is CAIRN_EEXIST. */
CAIRN_WUR int cairn_fs_mkdir_p(const char *path, mode_t mode,
                               struct cairn_diag *d);

/* Join rel under root into a fresh string "root/rel" (caller frees *out).
 * Refuses, with CAIRN_EPATH: empty or absolute rel, empty components ("a//b",
 * trailing "/"), "." and "..", components over NAME_MAX, and symlinks in the
 * existing part of the path that do not resolve (completely) inside root.
 * Symlinks that stay inside root are allowed. The check is made now: the
 * caller must own root, so that nobody else can swap links in later.
 * CAIRN_EINVAL for NULL arguments. */
CAIRN_WUR int cairn_fs_join_safe(const char *root, const char *rel, char **out,
                                 struct cairn_diag *d);

/* Same, for a rel of rel_len bytes that came with an explicit length (JSON,
 * HTTP): an embedded NUL is refused with CAIRN_EPATH. */
CAIRN_WUR int cairn_fs_join_safe_n(const char *root, const char *rel,
                                   size_t rel_len, char **out,
                                   struct cairn_diag *d);

/* Remove a tree. Symlinks are removed, never followed (directories are
 * opened with O_NOFOLLOW relative to their parent). A missing path is
 * success. CAIRN_ETOOBIG past 128 levels of nesting; CAIRN_EPERM, CAIRN_EIO. */
CAIRN_WUR int cairn_fs_rm_rf(const char *path, struct cairn_diag *d);

/* Free bytes available to unprivileged users on the filesystem of path
 * (statvfs f_bavail * f_frsize). */
CAIRN_WUR int cairn_fs_free_bytes(const char *path, uint64_t *out,
                                  struct cairn_diag *d);

#endif
