/*
 * Apply: put one workload's generation on disk and switch to it.
 *
 * Layout under the agent state directory STATE (DESIGN.md "Agent state"),
 * for workload NAME and generation G:
 *
 *   workloads/NAME/current   -> ../../blobs/sha256/HEX  the model blob of
 *                               the generation in effect (no link: no model)
 *   workloads/NAME/config    -> config.G                the generation in
 * effect workloads/NAME/config.G/   the entry's `files` (dir 0755, file modes
 * as the entry says); CAIRN_CONFIG_DIR workloads/NAME/secrets.G/  the entry's
 * opened `secrets` (dir 0700, files 0600); CAIRN_SECRETS_DIR
 *   workloads/NAME/work/       the worker's working directory, kept across
 *                               generations (its databases, queues)
 *   workloads/NAME/work/DIR/   `uploads.dir`: files the worker hands to the
 *                               agent for the central lab; CAIRN_UPLOAD_DIR
 *   workloads/NAME/worker.pid  written by supervise.h
 *
 * Steps, each idempotent so that reconcile can simply redo them after a
 * crash:
 *   1. cairn_apply_prepare(G): config.G and secrets.G are built in hidden
 *      temp directories and renamed into place (a crash leaves either no
 *      directory or a complete one; temp leftovers are removed on the next
 *      call). An existing config.G / secrets.G is verified against the entry
 *      (digests, modes, secret contents) and rebuilt only when it differs.
 *   2. The downloader installs the verified blob (not this module).
 *   3. cairn_apply_switch(G, HEX): `config` and `current` are each replaced
 *      by a temp symlink renamed over them (rename(2) is atomic), then the
 *      directory is fsync'd. `current` is only ever pointed at an existing
 *      regular file under blobs/sha256/, so it always names a complete,
 *      verified blob (DESIGN.md invariant 2).
 *   Rollback is cairn_apply_switch to the last-known-good generation and
 *   its blob: config.LKG is still on disk because cleanup keeps it.
 *   4. cairn_apply_cleanup: remove config.N / secrets.N not listed as kept
 *      (current, last-known-good, pending) and temp leftovers.
 *
 * Context: blocking file-system calls (small files, a few fsyncs; no
 * network), no loop state, no logging (secret contents never leave this
 * module). Safe on the loop thread or inside uv_queue_work, one call per
 * workload at a time. Every function returns 0 or a negative CAIRN_E*
 * code with the detail in d (may be NULL; entry errors name the field, e.g.
 * "files[2].path: ..."). Workload names must be DNS labels
 * (`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`), else CAIRN_EINVAL.
 */
#ifndef CAIRN_AGENT_APPLY_H
#define CAIRN_AGENT_APPLY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/error.h"
#include "cairn/keys.h"

/* Caps on what one entry may put on disk. */
#define CAIRN_APPLY_FILE_MAX (16u << 20)   /* decoded bytes per file */
#define CAIRN_APPLY_FILES_MAX 256          /* entries in `files` */
#define CAIRN_APPLY_SECRET_MAX (64u << 10) /* opened bytes per secret */
#define CAIRN_APPLY_SECRETS_MAX 64         /* entries in `secrets` */

/* Paths, as fresh strings (free()); they are built from state_dir as given,
 * so pass an absolute one when the result goes to a worker. NULL name or a
 * non-hex blob id is a caller bug (abort). hex: 64 lower-case hex digits. */
char *cairn_apply_workload_dir(const char *state_dir, const char *name);
char *cairn_apply_config_dir(const char *state_dir, const char *name,
                             uint64_t gen);
char *cairn_apply_secrets_dir(const char *state_dir, const char *name,
                              uint64_t gen);
char *cairn_apply_work_dir(const char *state_dir, const char *name);
char *cairn_apply_blob_path(const char *state_dir, const char *hex);

/* True when name is a DNS label (a safe single path component). */
int cairn_apply_name_ok(const char *name);

/* Check a desired workload entry (jansson object, schemas/desired.schema.json
 * "workload") without touching the disk: name, every `files` entry (path
 * confined: no "..", no absolute path, no empty or "." component, no
 * duplicates; mode "0NNN"; encoding; content decodes and its sha256 equals
 * the entry's), `secrets` names (one plain file name each, no duplicates;
 * sealed is base64) and `uploads.dir` (confined relative path).
 * CAIRN_EINVAL (wrong type / missing field), CAIRN_EPATH (path escapes),
 * CAIRN_EPARSE (bad base64 or mode), CAIRN_EDIGEST (content digest differs
 * from the entry's sha256), CAIRN_ETOOBIG (past the caps above). */
CAIRN_WUR int cairn_apply_check(const json_t *wl, struct cairn_diag *d);

/* Step 1 for generation gen (>= 1): run cairn_apply_check, create
 * workloads/NAME/, work/ and the uploads dir, and make config.G and
 * secrets.G match the entry (see above). Secrets are opened with site_key
 * (may be NULL when the entry has no secrets: CAIRN_EKEY otherwise); a box
 * that does not open (sealed to another site, altered) is CAIRN_ESIG naming
 * the secret, never its content. Plaintext buffers are wiped. Errors: those
 * of cairn_apply_check, CAIRN_EKEY, CAIRN_ESIG, and file-system errors
 * (CAIRN_EIO, CAIRN_EPERM, CAIRN_ENOSPC, CAIRN_ENOENT when state_dir does
 * not exist). On error nothing in effect changed (only temp leftovers). */
CAIRN_WUR int cairn_apply_prepare(const char *state_dir, const json_t *wl,
                                  uint64_t gen,
                                  const struct cairn_seckey *site_key,
                                  struct cairn_diag *d);

/* Step 3: point `config` at config.G and `current` at blobs/sha256/HEX
 * (hex NULL: the workload has no model, `current` is removed), each by a
 * temp symlink and rename, then fsync workloads/NAME. A link that already
 * has the right target is left alone. Refuses with CAIRN_ENOENT, before
 * changing anything, when config.G, secrets.G or the blob (a regular file,
 * not a symlink) is missing; CAIRN_EINVAL for a bad name, gen 0 or a hex
 * that is not 64 lower-case hex digits; CAIRN_EIO otherwise. Rollback is
 * this call with the last-known-good generation and its blob. */
CAIRN_WUR int cairn_apply_switch(const char *state_dir, const char *name,
                                 uint64_t gen, const char *hex,
                                 struct cairn_diag *d);

/* What is in effect on disk: *gen from `config` (CAIRN_ENOENT when there is
 * no `config` link yet) and hex_out from `current` ("" when there is no
 * `current` link). A link whose target is not what cairn_apply_switch
 * writes is CAIRN_EPARSE. Out-params written only on success. */
CAIRN_WUR int cairn_apply_read(const char *state_dir, const char *name,
                               uint64_t *gen, char hex_out[65],
                               struct cairn_diag *d);

/* Step 4: remove config.N and secrets.N for every N not in keep[0..nkeep)
 * (keep may be NULL when nkeep is 0) and not the target of `config` (never
 * removed, whatever keep says), and temp leftovers of earlier crashes.
 * work/, worker.pid and the links are untouched. A missing workload
 * directory is success. CAIRN_EIO / CAIRN_EPERM. */
CAIRN_WUR int cairn_apply_cleanup(const char *state_dir, const char *name,
                                  const uint64_t *keep, size_t nkeep,
                                  struct cairn_diag *d);

/* A workload left the desired state (stop its worker first): remove its
 * links, generations, secrets and worker.pid. work/ is kept (it may hold
 * results not yet reviewed or uploaded); delete it by hand. Missing is
 * success. CAIRN_EIO / CAIRN_EPERM. */
CAIRN_WUR int cairn_apply_remove(const char *state_dir, const char *name,
                                 struct cairn_diag *d);

/* The resolved uploads directory of an entry ("STATE/workloads/NAME/work/
 * DIR"), or *out = NULL when the entry has no `uploads`. Fresh string.
 * CAIRN_EINVAL / CAIRN_EPATH as cairn_apply_check. */
CAIRN_WUR int cairn_apply_upload_dir(const char *state_dir, const json_t *wl,
                                     char **out, struct cairn_diag *d);

#endif
