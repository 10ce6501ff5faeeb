/*
 * cairn-agent's configuration file (YAML, default
 * /etc/cairn-agent/agent.yaml). One row per key in config.c drives parsing,
 * defaults, `cairn-agent config` printing and the table in docs/agent.md.
 * Unknown keys and bad values are errors that cite file:line:column.
 */
#ifndef CAIRN_AGENT_CONFIG_H
#define CAIRN_AGENT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cairn/config.h"
#include "cairn/diag.h"
#include "cairn/keys.h"

#define CAIRN_AGENT_DEFAULT_CONFIG "/etc/cairn-agent/agent.yaml"
#define CAIRN_AGENT_DEFAULT_STATE "/var/lib/cairn-agent"

struct cairn_agent_config {
    char *site;            /* DNS label, required */
    char *controller;      /* base URL, http:// or https://, required */
    char *ca_file;         /* PEM; NULL: system store */
    char *site_key;        /* NULL: <state_dir>/site.key after load */
    char *controller_keys; /* file of OpenSSH public key lines, required */
    char *publisher_keys;  /* same, required */
    char *state_dir;
    int64_t report_interval;    /* seconds */
    int64_t long_poll;          /* seconds, the wait= of GET desired */
    int64_t retry_min;          /* seconds, first backoff step */
    int64_t retry_max;          /* seconds, backoff cap */
    int64_t keep_blobs;         /* extra blobs kept beyond the needed ones */
    int64_t download_tries;     /* failed tries per URL per generation */
    int64_t download_low_speed; /* bytes/s under which a transfer is slow */
    int64_t download_low_speed_time; /* seconds slow before a cut */
    int64_t grace_period;            /* seconds between SIGTERM and SIGKILL */
    int64_t apply_attempts; /* crash-interrupted applies before rollback */
    int64_t max_desired_bytes;
    int64_t outbox_max; /* reports kept while the controller is away */
    int64_t upload_max_bytes;
    int log_level;     /* index into the choices: debug..error */
    char *config_path; /* the file read (not a config key) */
};

/* The table (ends with a NULL key): for docs and printing. */
extern const struct cairn_config_row cairn_agent_config_rows[];

/* Defaults, then path over them, then the checks that need every key
 * (required keys, site name, controller URL) and derived defaults
 * (site_key). Errors: the config module's (CAIRN_ENOENT, CAIRN_EPARSE,
 * CAIRN_EINVAL with "file:line:col: key: why"), CAIRN_EINVAL "file:
 * missing required key X". *out is filled only on success; free it with
 * cairn_agent_config_free. */
CAIRN_WUR int cairn_agent_config_load(const char *path,
                                      struct cairn_agent_config *out,
                                      struct cairn_diag *d);
/* Free the strings; NULL ok. */
void cairn_agent_config_free(struct cairn_agent_config *c);

/* Load a key file: one or more OpenSSH public key lines; blank lines and
 * lines starting with '#' are skipped; at least one key. Errors cite
 * "path:line: why" (CAIRN_EPARSE/CAIRN_EKEY), CAIRN_ENOENT, CAIRN_ETOOBIG
 * (over 64 KiB). ks is initialised by the caller and gets the keys only on
 * success. */
CAIRN_WUR int cairn_agent_load_keys(const char *path, struct cairn_keyset *ks,
                                    struct cairn_diag *d);

/* True when s is a DNS label (schemas: site and workload names). */
int cairn_agent_is_dns_label(const char *s);

#endif
