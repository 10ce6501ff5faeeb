/*
 * cairn-controller's configuration: one table row per key
 * (pkg/include/cairn/config.h) drives parsing, defaults, `--print-config`
 * and the table in docs/controller-daemon.md. A YAML file (--config) is read
 * first, then command-line settings override it. Unknown keys and bad
 * values are errors citing file:line:column.
 */
#ifndef CAIRN_CTRLCONFIG_H
#define CAIRN_CTRLCONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cairn/config.h"
#include "cairn/diag.h"

enum cairn_ctrl_sigmode {
    CAIRN_SIGMODE_AUTO,
    CAIRN_SIGMODE_REQUIRE,
    CAIRN_SIGMODE_OFF
};

struct cairn_ctrl_config {
    char *repo;
    char *branch;
    int64_t poll_interval;
    char *allowed_signers;
    int commit_signatures; /* enum cairn_ctrl_sigmode */
    char *listen;
    char *state_dir;
    char *store;        /* NULL: sqlite:<stateDir>/cairn.db */
    char *key_file;     /* NULL: <stateDir>/controller.key */
    char *artifact_dir; /* NULL: <stateDir>/artifacts */
    char *operator_token_file;
    char *webhook_secret_file;
    int64_t report_interval;
    int64_t retention;
    int64_t token_ttl;
    int64_t refresh_interval;
    int64_t upload_max;
    int64_t max_connections;
    int64_t header_timeout_ms;
    int64_t body_min_rate;
    int64_t idle_timeout_ms;
    int64_t max_waiters_per_site;
    char *git_ssh_key;
    char *git_known_hosts;
    int git_insecure_host_key;
    char *git_https_user;
    char *git_https_password_file;
    char *git_ca_file;
    int log_level; /* index into "debug info warn error" */
};

/* The rows (NULL-terminated); for docs and tests. */
extern const struct cairn_config_row cairn_ctrl_config_rows[];

/* A "key=value" setting from the command line. */
struct cairn_ctrl_setting {
    const char *key;
    const char *value;
};

/*
 * Defaults, then the file at path (NULL: none), then settings (n of them,
 * in order), then the derived defaults (store, keyFile, artifactDir under
 * stateDir) and the checks that need several keys (repo set, listen
 * parses). A relative local `repo` in the file is taken relative to the
 * file's directory, like every path key. All or nothing: the result is
 * built apart and *cfg written only on success, so that a reload with a
 * broken file cannot touch the running configuration; on error the diag
 * names the file:line:column or the setting. Not thread-safe (loop).
 */
CAIRN_WUR int cairn_ctrl_config_load(const char *path,
                                     const struct cairn_ctrl_setting *set,
                                     size_t n, struct cairn_ctrl_config *cfg,
                                     struct cairn_diag *d);
void cairn_ctrl_config_free(struct cairn_ctrl_config *cfg); /* NULL ok */

/* Put "file:line:col: " of key in front of d's message when the file at
 * path (NULL: none) sets it and none of the n settings overrides it: for
 * errors found later in what a key names (a missing allowedSigners file).
 * Nothing when d holds no error or the file cannot be read. */
void cairn_ctrl_config_locate(const char *path, const char *key,
                              const struct cairn_ctrl_setting *set, size_t n,
                              struct cairn_diag *d);

/* "HOST:PORT" or "[V6]:PORT" -> host (without brackets) and port. */
CAIRN_WUR int cairn_ctrl_parse_listen(const char *s, char *host, size_t hostlen,
                                      uint16_t *port, struct cairn_diag *d);

/* Print the effective configuration (YAML) / the Markdown table of keys. */
void cairn_ctrl_config_print(const struct cairn_ctrl_config *cfg, FILE *out);
void cairn_ctrl_config_print_doc(FILE *out);

#endif
