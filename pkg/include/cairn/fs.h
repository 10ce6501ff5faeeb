/*
 * Filesystem helpers: capped reads, durable writes (temp file, fsync,
 * rename, fsync the directory), and joining an untrusted relative path under
 * a root without escaping it.
 */
#ifndef CAIRN_FS_H
#define CAIRN_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cairn/diag.h"

/* Read a whole file of at most cap bytes into a fresh NUL-terminated buffer.
 * CAIRN_ENOENT, CAIRN_EPERM, CAIRN_EIO, CAIRN_ETOOBIG (file over cap). */
CAIRN_WUR int cairn_fs_read(const char *path, size_t cap, char **out, size_t *out_len,
                            struct cairn_diag *d);

/* Replace path atomically and durably with data, created with mode. */
CAIRN_WUR int cairn_fs_write_durable(const char *path, const void *data, size_t n,
                                     mode_t mode, struct cairn_diag *d);

/* fsync a directory (after a rename or unlink in it). */
CAIRN_WUR int cairn_fs_fsync_dir(const char *dir, struct cairn_diag *d);

/* mkdir -p with mode for created directories. */
CAIRN_WUR int cairn_fs_mkdir_p(const char *path, mode_t mode, struct cairn_diag *d);

/* Join rel under root. Refuses absolute rel, empty components, "..",
 * and (for the existing part of the path) symlinks that resolve outside
 * root: CAIRN_EPATH. Fresh string in *out. */
CAIRN_WUR int cairn_fs_join_safe(const char *root, const char *rel, char **out,
                                 struct cairn_diag *d);

/* Remove a tree (no symlink following). */
CAIRN_WUR int cairn_fs_rm_rf(const char *path, struct cairn_diag *d);

/* Free bytes available to unprivileged users on the filesystem of path. */
CAIRN_WUR int cairn_fs_free_bytes(const char *path, uint64_t *out, struct cairn_diag *d);

#endif
