/* cairn-controller's configuration table (ctrlconfig.h). */
#include "ctrlconfig.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/yaml.h"

#define OFF(f) offsetof(struct cairn_ctrl_config, f)

static const char *const sigmodes[] = {"auto", "require", "off", NULL};
static const char *const levels[] = {"debug", "info", "warn", "error", NULL};

const struct cairn_config_row cairn_ctrl_config_rows[] = {
    {"repo", CAIRN_CFG_STRING, OFF(repo), NULL, 0, 0, NULL,
     "fleet repository: a local path (followed in place) or a URL (mirrored "
     "under "
     "stateDir/mirror); required"},
    {"branch", CAIRN_CFG_STRING, OFF(branch), NULL, 0, 0, NULL,
     "branch to follow; unset: the branch the repository's HEAD names"},
    {"pollIntervalSeconds", CAIRN_CFG_INT, OFF(poll_interval), "60", 1, 86400,
     NULL, "how often the repository is fetched (a webhook fetches at once)"},
    {"allowedSigners", CAIRN_CFG_PATH, OFF(allowed_signers), NULL, 0, 0, NULL,
     "git allowed_signers file of the keys whose commits may be rendered"},
    {"commitSignatures", CAIRN_CFG_ENUM, OFF(commit_signatures), "auto", 0, 0,
     sigmodes,
     "require: only commits signed by allowedSigners; off: any commit; auto: "
     "require when "
     "allowedSigners is set, else off"},
    {"listen", CAIRN_CFG_STRING, OFF(listen), "127.0.0.1:8440", 0, 0, NULL,
     "HTTP address, HOST:PORT or [V6]:PORT (port 0: any free port)"},
    {"stateDir", CAIRN_CFG_PATH, OFF(state_dir), "./cairn-state", 0, 0, NULL,
     "databases, keys, mirror and uploads"},
    {"store", CAIRN_CFG_STRING, OFF(store), NULL, 0, 0, NULL,
     "render store, sqlite:PATH (default sqlite:<stateDir>/cairn.db)"},
    {"keyFile", CAIRN_CFG_PATH, OFF(key_file), NULL, 0, 0, NULL,
     "controller signing key, OpenSSH ed25519 (default "
     "<stateDir>/controller.key, created "
     "on first run)"},
    {"artifactDir", CAIRN_CFG_PATH, OFF(artifact_dir), NULL, 0, 0, NULL,
     "content-addressed blobs served at /v1/artifacts/sha256/HEX, stored as "
     "<artifactDir>/sha256/HEX (default <stateDir>/artifacts)"},
    {"operatorTokenFile", CAIRN_CFG_PATH, OFF(operator_token_file), NULL, 0, 0,
     NULL,
     "file holding the bearer token operator endpoints require (unset: open)"},
    {"webhookSecretFile", CAIRN_CFG_PATH, OFF(webhook_secret_file), NULL, 0, 0,
     NULL,
     "file holding the secret of /v1/hooks/git signatures (unset: hook "
     "disabled)"},
    {"reportIntervalSeconds", CAIRN_CFG_INT, OFF(report_interval), "30", 1,
     86400, NULL,
     "agents' report interval; a site silent for 3 intervals is offline"},
    {"retention", CAIRN_CFG_INT, OFF(retention), "100", 1, 1000000, NULL,
     "reports kept per site"},
    {"tokenTTLSeconds", CAIRN_CFG_INT, OFF(token_ttl), "3600", 1, 86400, NULL,
     "lifetime of a site's bearer token"},
    {"refreshIntervalSeconds", CAIRN_CFG_INT, OFF(refresh_interval), "60", 1,
     86400, NULL, "how often documents due for re-issue are re-signed"},
    {"uploadMaxBytes", CAIRN_CFG_INT, OFF(upload_max), "67108864", 1,
     1073741824, NULL, "largest upload body"},
    {"maxConnections", CAIRN_CFG_INT, OFF(max_connections), "16384", 16,
     1000000, NULL, "open connections; more are answered 503 and closed"},
    {"headerTimeoutMs", CAIRN_CFG_INT, OFF(header_timeout_ms), "10000", 100,
     600000, NULL,
     "time a client gets to send a request's headers (slowloris guard)"},
    {"bodyMinRate", CAIRN_CFG_INT, OFF(body_min_rate), "1024", 1, 1073741824,
     NULL,
     "bytes/s a request body must keep up on average: its deadline is 30 s "
     "plus its length at this rate (uploads from slow sites: keep it low)"},
    {"idleTimeoutMs", CAIRN_CFG_INT, OFF(idle_timeout_ms), "75000", 100,
     3600000, NULL, "keep-alive wait for the next request"},
    {"maxWaitersPerSite", CAIRN_CFG_INT, OFF(max_waiters_per_site), "16", 1,
     10000, NULL, "long-polls one site may have parked at once (429 past it)"},
    {"gitSshKey", CAIRN_CFG_PATH, OFF(git_ssh_key), NULL, 0, 0, NULL,
     "private key for ssh:// repositories (unset: ssh-agent)"},
    {"gitKnownHosts", CAIRN_CFG_PATH, OFF(git_known_hosts), NULL, 0, 0, NULL,
     "OpenSSH known_hosts file listing the ssh server's host key; an ssh "
     "fetch is refused without it (unless gitInsecureHostKey)"},
    {"gitInsecureHostKey", CAIRN_CFG_BOOL, OFF(git_insecure_host_key), "false",
     0, 0, NULL,
     "accept any ssh host key (only commit signatures then protect "
     "content)"},
    {"gitHttpsUser", CAIRN_CFG_STRING, OFF(git_https_user), NULL, 0, 0, NULL,
     "user for https:// repositories"},
    {"gitHttpsPasswordFile", CAIRN_CFG_PATH, OFF(git_https_password_file), NULL,
     0, 0, NULL,
     "file holding the password or token for https:// repositories"},
    {"gitCaFile", CAIRN_CFG_PATH, OFF(git_ca_file), NULL, 0, 0, NULL,
     "PEM bundle of the CAs https:// repositories are checked against, "
     "instead of the system's (a private CA)"},
    {"logLevel", CAIRN_CFG_ENUM, OFF(log_level), "info", 0, 0, levels,
     "log verbosity"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};

/* A repo that is a relative local path (not a URL, not scp-like host:path). */
static int relative_local(const char *repo)
{
    const char *colon = strchr(repo, ':'), *slash = strchr(repo, '/');

    if (repo[0] == '/' || strstr(repo, "://"))
        return 0;
    return !colon || (slash && slash < colon);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return cairn_xstrdup(".");
    if (slash == path)
        return cairn_xstrdup("/");
    return cairn_xstrndup(path, (size_t)(slash - path));
}

static int load_file(const char *path, struct cairn_ctrl_config *cfg,
                     struct cairn_diag *d)
{
    int rc = cairn_config_load(cairn_ctrl_config_rows, cfg, path, d);

    if (rc == 0 && cfg->repo && relative_local(cfg->repo)) {
        char *dir = dir_of(path), *p = cairn_xasprintf("%s/%s", dir, cfg->repo);

        free(cfg->repo);
        cfg->repo = p;
        free(dir);
    }
    return rc;
}

static void derive(struct cairn_ctrl_config *cfg)
{
    if (!cfg->store)
        cfg->store = cairn_xasprintf("sqlite:%s/cairn.db", cfg->state_dir);
    if (!cfg->key_file)
        cfg->key_file = cairn_xasprintf("%s/controller.key", cfg->state_dir);
    if (!cfg->artifact_dir)
        cfg->artifact_dir = cairn_xasprintf("%s/artifacts", cfg->state_dir);
}

int cairn_ctrl_parse_listen(const char *s, char *host, size_t hostlen,
                            uint16_t *port, struct cairn_diag *d)
{
    const char *colon = strrchr(s, ':'), *h = s;
    size_t hn;
    char *end;
    long p;
    unsigned char buf[sizeof(struct in6_addr)];

    if (!colon)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen \"%s\": want HOST:PORT",
                              s);
    hn = (size_t)(colon - s);
    if (hn >= 2 && s[0] == '[' && s[hn - 1] == ']') {
        h = s + 1;
        hn -= 2;
    }
    p = strtol(colon + 1, &end, 10);
    if (hn == 0 || hn >= hostlen || colon[1] == '\0' || *end || p < 0 ||
        p > 65535)
        return cairn_diag_set(d, CAIRN_EINVAL, "listen \"%s\": want HOST:PORT",
                              s);
    memcpy(host, h, hn);
    host[hn] = '\0';
    if (inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "listen \"%s\": the host must be an IP address",
                              s);
    *port = (uint16_t)p;
    return 0;
}

/* Checks over several keys; *key names the key to blame. */
static int check(const struct cairn_ctrl_config *cfg, const char **key,
                 struct cairn_diag *d)
{
    char host[64];
    uint16_t port;

    *key = "repo";
    if (!cfg->repo || !cfg->repo[0])
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "no repository: set repo (or --repo)");
    *key = "branch";
    if (cfg->branch && !cfg->branch[0])
        return cairn_diag_set(d, CAIRN_EINVAL, "branch is empty");
    *key = "store";
    if (strncmp(cfg->store, "sqlite:", 7) != 0 && strstr(cfg->store, "://"))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "store \"%s\": only sqlite:PATH is supported",
                              cfg->store);
    *key = "commitSignatures";
    if (cfg->commit_signatures == CAIRN_SIGMODE_REQUIRE &&
        !cfg->allowed_signers)
        return cairn_diag_set(
            d, CAIRN_EINVAL,
            "commitSignatures is require but allowedSigners is not set");
    *key = "listen";
    return cairn_ctrl_parse_listen(cfg->listen, host, sizeof(host), &port, d);
}

void cairn_ctrl_config_locate(const char *path, const char *key,
                              const struct cairn_ctrl_setting *set, size_t n,
                              struct cairn_diag *d)
{
    struct cairn_yaml_doc *doc = NULL;
    char ptr[128];
    struct cairn_loc loc;

    if (!d || !d->code || !key)
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i].key, key) == 0)
            return;
    if (!path || cairn_yaml_load(path, NULL, &doc, NULL) != 0)
        return;
    if (json_object_get(cairn_yaml_root(doc), key)) {
        snprintf(ptr, sizeof(ptr), "/%s", key);
        loc = cairn_yaml_locate(doc, ptr);
        cairn_diag_prefix(d, "%s:%d:%d", loc.file, loc.line, loc.col);
    }
    cairn_yaml_free(doc);
}

int cairn_ctrl_config_load(const char *path,
                           const struct cairn_ctrl_setting *set, size_t n,
                           struct cairn_ctrl_config *cfg, struct cairn_diag *d)
{
    struct cairn_ctrl_config c; /* built apart: *cfg only on success */
    const char *key = NULL;
    int rc = 0;

    memset(&c, 0, sizeof(c));
    cairn_config_defaults(cairn_ctrl_config_rows, &c);
    if (path)
        rc = load_file(path, &c, d);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cairn_config_set(cairn_ctrl_config_rows, &c, set[i].key,
                              set[i].value, d);
        if (rc)
            cairn_diag_prefix(d, "setting %s", set[i].key);
    }
    if (rc == 0) {
        derive(&c);
        rc = check(&c, &key, d);
        if (rc)
            cairn_ctrl_config_locate(path, key, set, n, d);
    }
    if (rc) {
        cairn_ctrl_config_free(&c);
        return rc;
    }
    *cfg = c;
    return 0;
}

void cairn_ctrl_config_free(struct cairn_ctrl_config *cfg)
{
    if (cfg)
        cairn_config_free(cairn_ctrl_config_rows, cfg);
}

void cairn_ctrl_config_print(const struct cairn_ctrl_config *cfg, FILE *out)
{
    cairn_config_print(cairn_ctrl_config_rows, cfg, out);
}

void cairn_ctrl_config_print_doc(FILE *out)
{
    cairn_config_print_doc(cairn_ctrl_config_rows, out);
}
