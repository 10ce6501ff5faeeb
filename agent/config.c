#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/fs.h"
#include "cairn/log.h"
#include "cairn/mem.h"

#define KEYFILE_CAP (64 * 1024)

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};

#define OFF(f) offsetof(struct cairn_agent_config, f)

const struct cairn_config_row cairn_agent_config_rows[] = {
    {"site", CAIRN_CFG_STRING, OFF(site), NULL, 0, 0, NULL,
     "this site's name, as in the fleet repository's sites/<site>.yaml "
     "(required)"},
    {"controller", CAIRN_CFG_STRING, OFF(controller), NULL, 0, 0, NULL,
     "controller base URL, e.g. https://cairn.example (its TLS front) or "
     "http://127.0.0.1:8440 (required)"},
    {"caFile", CAIRN_CFG_PATH, OFF(ca_file), NULL, 0, 0, NULL,
     "PEM file of the CA(s) trusted for an https controller; only these are "
     "trusted (unset: the system store)"},
    {"siteKey", CAIRN_CFG_PATH, OFF(site_key), NULL, 0, 0, NULL,
     "the site's private key, mode 0600 (unset: <stateDir>/site.key)"},
    {"controllerKeys", CAIRN_CFG_PATH, OFF(controller_keys), NULL, 0, 0, NULL,
     "file of the controller public keys whose desired state is accepted, one "
     "OpenSSH line each (required)"},
    {"publisherKeys", CAIRN_CFG_PATH, OFF(publisher_keys), NULL, 0, 0, NULL,
     "file of the model publisher public keys whose attestations are accepted "
     "(required)"},
    {"stateDir", CAIRN_CFG_PATH, OFF(state_dir), CAIRN_AGENT_DEFAULT_STATE, 0,
     0, NULL, "state directory (state.json, blobs, outbox, workloads)"},
    {"reportIntervalSeconds", CAIRN_CFG_INT, OFF(report_interval), "30", 1,
     86400, NULL, "a status report at least this often"},
    {"longPollSeconds", CAIRN_CFG_INT, OFF(long_poll), "300", 1, 300, NULL,
     "how long one desired-state request waits for a change"},
    {"retryMinSeconds", CAIRN_CFG_INT, OFF(retry_min), "5", 1, 3600, NULL,
     "first pause after a failed request to the controller (then doubling)"},
    {"retryMaxSeconds", CAIRN_CFG_INT, OFF(retry_max), "300", 1, 86400, NULL,
     "longest pause between retries; the agent never gives up"},
    {"keepBlobs", CAIRN_CFG_INT, OFF(keep_blobs), "2", 0, 1000, NULL,
     "model blobs kept beyond those the applied, last-known-good and pending "
     "generations need"},
    {"downloadTries", CAIRN_CFG_INT, OFF(download_tries), "3", 1, 1000, NULL,
     "failed tries per artifact URL before DownloadFailed for that generation"},
    {"downloadLowSpeedBytes", CAIRN_CFG_INT, OFF(download_low_speed), "1024", 1,
     1000000000, NULL,
     "a download slower than this many bytes/s for downloadLowSpeedSeconds is "
     "cut (and resumed)"},
    {"downloadLowSpeedSeconds", CAIRN_CFG_INT, OFF(download_low_speed_time),
     "30", 1, 3600, NULL, "see downloadLowSpeedBytes"},
    {"gracePeriodSeconds", CAIRN_CFG_INT, OFF(grace_period), "10", 1, 3600,
     NULL, "time a worker gets between SIGTERM and SIGKILL"},
    {"applyAttempts", CAIRN_CFG_INT, OFF(apply_attempts), "3", 1, 100, NULL,
     "applies of one generation interrupted by agent crashes before it is "
     "rolled "
     "back"},
    {"maxDesiredBytes", CAIRN_CFG_INT, OFF(max_desired_bytes), "1048576", 4096,
     67108864, NULL, "largest desired-state envelope accepted"},
    {"outboxMax", CAIRN_CFG_INT, OFF(outbox_max), "256", 2, 100000, NULL,
     "reports kept while the controller cannot be reached; beyond, the oldest "
     "status, then the oldest event, is dropped"},
    {"uploadMaxBytes", CAIRN_CFG_INT, OFF(upload_max_bytes), "16777216", 1,
     67108864, NULL,
     "largest file sent from a workload's uploads directory (it is "
     "held in memory while it is sent)"},
    {"logLevel", CAIRN_CFG_ENUM, OFF(log_level), "info", 0, 0, log_levels,
     "most verbose log level printed"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};

int cairn_agent_is_dns_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

static int valid_url(const char *u)
{
    size_t skip = strncmp(u, "https://", 8) == 0  ? 8
                  : strncmp(u, "http://", 7) == 0 ? 7
                                                  : 0;

    if (skip == 0 || u[skip] == '\0' || u[skip] == '/')
        return 0;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || *u == 0x7f)
            return 0;
    return 1;
}

static int check_required(const struct cairn_agent_config *c, const char *path,
                          struct cairn_diag *d)
{
    const char *missing = !c->site              ? "site"
                          : !c->controller      ? "controller"
                          : !c->controller_keys ? "controllerKeys"
                          : !c->publisher_keys  ? "publisherKeys"
                                                : NULL;

    if (missing)
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: missing required key %s",
                              path, missing);
    if (!cairn_agent_is_dns_label(c->site))
        return cairn_diag_set(
            d, CAIRN_EINVAL,
            "%s: site \"%s\" is not a DNS label (a-z 0-9 -, at most "
            "63)",
            path, c->site);
    if (!valid_url(c->controller))
        return cairn_diag_set(
            d, CAIRN_EINVAL,
            "%s: controller \"%s\" is not an http:// or https:// URL", path,
            c->controller);
    if (c->retry_max < c->retry_min)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "%s: retryMaxSeconds is below retryMinSeconds",
                              path);
    return 0;
}

int cairn_agent_config_load(const char *path, struct cairn_agent_config *out,
                            struct cairn_diag *d)
{
    struct cairn_agent_config c;
    size_t n;
    int rc;

    memset(&c, 0, sizeof(c));
    cairn_config_defaults(cairn_agent_config_rows, &c);
    rc = cairn_config_load(cairn_agent_config_rows, &c, path, d);
    if (rc == 0)
        rc = check_required(&c, path, d);
    if (rc) {
        cairn_config_free(cairn_agent_config_rows, &c);
        return rc;
    }
    /* A trailing slash would give "//" in every derived path. */
    n = strlen(c.state_dir);
    while (n > 1 && c.state_dir[n - 1] == '/')
        c.state_dir[--n] = '\0';
    n = strlen(c.controller);
    while (n > 0 && c.controller[n - 1] == '/')
        c.controller[--n] = '\0';
    if (!c.site_key)
        c.site_key = cairn_xasprintf("%s/site.key", c.state_dir);
    c.config_path = cairn_xstrdup(path);
    *out = c;
    return 0;
}

void cairn_agent_config_free(struct cairn_agent_config *c)
{
    if (!c)
        return;
    cairn_config_free(cairn_agent_config_rows, c);
    free(c->config_path);
    c->config_path = NULL;
}

/* One line of a key file; 0 when skipped or added. */
static int key_line(char *line, const char *path, int lineno,
                    struct cairn_keyset *tmp, struct cairn_diag *d)
{
    struct cairn_pubkey pk;
    struct cairn_diag sub;
    char *p = line;

    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    cairn_diag_init(&sub);
    if (cairn_pubkey_parse(p, &pk, &sub) != 0)
        return cairn_diag_set(d, sub.code, "%s:%d: %s", path, lineno,
                              cairn_diag_msg(&sub));
    cairn_keyset_add(tmp, &pk);
    return 0;
}

int cairn_agent_load_keys(const char *path, struct cairn_keyset *ks,
                          struct cairn_diag *d)
{
    struct cairn_keyset tmp;
    char *text = NULL, *line, *next;
    int rc, lineno = 0;

    rc = cairn_fs_read(path, KEYFILE_CAP, &text, NULL, d);
    if (rc)
        return rc;
    cairn_keyset_init(&tmp);
    for (line = text; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = key_line(line, path, ++lineno, &tmp, d);
    }
    if (rc == 0 && tmp.n == 0)
        rc = cairn_diag_set(d, CAIRN_EKEY, "%s: no public key in the file",
                            path);
    if (rc == 0)
        for (size_t i = 0; i < tmp.n; i++)
            cairn_keyset_add(ks, &tmp.keys[i]);
    cairn_keyset_free(&tmp);
    free(text);
    return rc;
}
