/*
 * cairn-controller's life: start-up (configuration, keys, state, listen),
 * the timers (poll, re-issue, housekeeping, watchdog), signals (SIGTERM
 * and SIGINT drain and stop, SIGHUP reloads) and teardown.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "cairn/sdnotify.h"
#include "daemon_int.h"

#define TOKEN_KEY_FILE "token.key"
#define SECRET_FILE_MAX 4096
#define NONCE_SWEEP_S 60

const double cairn__hist_bounds[CAIRN__HIST_BUCKETS] = {
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

int64_t cairn__now(void)
{
    return (int64_t)time(NULL);
}

void cairn__hist_add(struct cairn__hist *h, double seconds)
{
    for (int i = 0; i < CAIRN__HIST_BUCKETS; i++)
        if (seconds <= cairn__hist_bounds[i])
            h->bucket[i]++;
    h->count++;
    h->sum += seconds;
    h->last = seconds;
}

/* ---- keys and secrets
 * ------------------------------------------------------------- */

static char *pub_path_of(const char *key_file)
{
    size_t n = strlen(key_file);

    if (n > 4 && strcmp(key_file + n - 4, ".key") == 0)
        return cairn_xasprintf("%.*s.pub", (int)(n - 4), key_file);
    return cairn_xasprintf("%s.pub", key_file);
}

/* The controller's signing key; created on first run at the default path. */
static int load_signing_key(struct cairn__ctrl *c, struct cairn_diag *d)
{
    char *def = cairn_xasprintf("%s/controller.key", c->cfg.state_dir);
    char *pub = pub_path_of(c->cfg.key_file), *line = NULL;
    struct cairn_diag ld;
    int rc;

    cairn_diag_init(&ld);
    rc = cairn_seckey_load(c->cfg.key_file, &c->key, &ld);
    if (rc == CAIRN_ENOENT && strcmp(def, c->cfg.key_file) == 0) {
        rc = cairn_seckey_generate("cairn-controller", &c->key);
        if (rc == 0)
            rc = cairn_seckey_save(&c->key, c->cfg.key_file, d);
        if (rc == 0) {
            char *k = cairn_pubkey_format(&c->key.pub);

            line = cairn_xasprintf("%s\n", k);
            free(k);
            rc = cairn_fs_write_durable(pub, line, strlen(line), 0644, d);
        }
        if (rc == 0)
            printf("cairn-controller: created the controller key %s (public "
                   "key %s, key id "
                   "%s); agents pin the public key\n",
                   c->cfg.key_file, pub, c->key.pub.id);
        fflush(stdout);
    } else if (rc) {
        cairn_diag_set(d, rc, "%s", cairn_diag_msg(&ld));
    }
    if (rc == 0)
        LOG_INFO("controller key %s, key id %s (public key %s)",
                 c->cfg.key_file, c->key.pub.id, pub);
    free(line);
    free(def);
    free(pub);
    return rc;
}

/* The secret bearer tokens are tagged with: 32 random bytes, mode 0600. */
static int load_token_key(struct cairn__ctrl *c, struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/" TOKEN_KEY_FILE, c->cfg.state_dir),
         *data = NULL;
    size_t len = 0;
    struct stat st;
    int rc = cairn_fs_read(path, 64, &data, &len, NULL);

    if (rc == CAIRN_ENOENT) {
        cairn_random(c->token_key, sizeof(c->token_key));
        rc = cairn_fs_write_durable(path, c->token_key, sizeof(c->token_key),
                                    0600, d);
    } else if (rc || len != sizeof(c->token_key)) {
        rc = cairn_diag_set(d, CAIRN_EKEY, "%s: want exactly %zu bytes", path,
                            sizeof(c->token_key));
    } else if (stat(path, &st) != 0 || (st.st_mode & 077)) {
        rc = cairn_diag_set(d, CAIRN_EPERM,
                            "%s: readable by group or others (chmod 600 %s)",
                            path, path);
    } else {
        memcpy(c->token_key, data, sizeof(c->token_key));
    }
    if (data)
        memset(data, 0, len);
    free(data);
    free(path);
    return rc;
}

/* A secret file's first line (trailing blanks cut); *out NULL when path is. */
static int read_secret(const char *path, char **out, size_t *len,
                       struct cairn_diag *d)
{
    char *data = NULL;
    size_t n = 0;
    int rc;

    *out = NULL;
    if (!path)
        return 0;
    rc = cairn_fs_read(path, SECRET_FILE_MAX, &data, &n, d);
    if (rc)
        return rc;
    n = strcspn(data, "\r\n");
    while (n > 0 && (data[n - 1] == ' ' || data[n - 1] == '\t'))
        n--;
    data[n] = '\0';
    if (n == 0) {
        free(data);
        return cairn_diag_set(d, CAIRN_EKEY, "%s: empty", path);
    }
    *out = data;
    if (len)
        *len = n;
    return 0;
}

/* An error in a file a configuration key names: say which key, and where
 * the configuration file sets it. */
static void blame_key(const struct cairn__ctrl *c, const char *key,
                      struct cairn_diag *d)
{
    cairn_diag_prefix(d, "%s", key);
    cairn_ctrl_config_locate(c->opts.config_path, key, c->opts.set,
                             c->opts.nset, d);
}

static int load_secrets(const struct cairn__ctrl *c,
                        const struct cairn_ctrl_config *cfg, char **op,
                        uint8_t **hook, size_t *hook_len, struct cairn_diag *d)
{
    char *h = NULL;
    int rc = read_secret(cfg->operator_token_file, op, NULL, d);

    if (rc) {
        blame_key(c, "operatorTokenFile", d);
        return rc;
    }
    rc = read_secret(cfg->webhook_secret_file, &h, hook_len, d);
    if (rc) {
        blame_key(c, "webhookSecretFile", d);
        free(*op);
        *op = NULL;
        return rc;
    }
    *hook = (uint8_t *)h;
    return 0;
}

/* ---- the HTTP server
 * ------------------------------------------------------------------ */

static int routes(struct cairn__ctrl *c, struct cairn_diag *d)
{
    int (*const groups[])(struct cairn__ctrl *, struct cairn_diag *) = {
        cairn__api_session, cairn__api_desired,   cairn__api_reports,
        cairn__api_uploads, cairn__api_artifacts, cairn__api_fleet,
        cairn__api_hooks,   cairn__api_metrics,   cairn__api_audit,
        cairn__api_models,
    };
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < CAIRN_ARRAY_LEN(groups); i++)
        rc = groups[i](c, d);
    return rc;
}

static int listen_http(struct cairn__ctrl *c, struct cairn_diag *d)
{
    struct cairn_httpd_config hc;
    char host[64];
    uint16_t port;
    int rc;

    cairn_httpd_config_default(&hc);
    hc.max_connections = (uint32_t)c->cfg.max_connections;
    hc.header_timeout_ms = (uint32_t)c->cfg.header_timeout_ms;
    hc.body_min_rate = (uint32_t)c->cfg.body_min_rate;
    hc.idle_timeout_ms = (uint32_t)c->cfg.idle_timeout_ms;
    c->srv = cairn_httpd_new(&c->loop, &hc);
    rc = routes(c, d);
    if (rc == 0)
        rc = cairn_ctrl_parse_listen(c->cfg.listen, host, sizeof(host), &port,
                                     d);
    if (rc == 0)
        rc = cairn_httpd_listen(c->srv, host, port, d);
    if (rc)
        return rc;
    port = cairn_httpd_port(c->srv);
    LOG_INFO("listening on %s%s%s:%u", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    if (c->opts.port_file) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%u\n", port);

        if (cairn_fs_write_durable(c->opts.port_file, buf, (size_t)n, 0644,
                                   d) != 0)
            LOG_WARN("cannot write the port file: %s", cairn_diag_msg(d));
        cairn_diag_init(d);
    }
    return 0;
}

/* ---- timers
 * -------------------------------------------------------------------------- */

static void on_poll(uv_timer_t *t)
{
    cairn__request_fetch(cairn_container_of(t, struct cairn__ctrl, poll_timer),
                         "poll");
}

static void on_refresh(uv_timer_t *t)
{
    cairn__request_refresh(
        cairn_container_of(t, struct cairn__ctrl, refresh_timer));
}

static void on_tick(uv_timer_t *t)
{
    struct cairn__ctrl *c =
        cairn_container_of(t, struct cairn__ctrl, tick_timer);
    int64_t now = cairn__now();

    if (now >= c->nonce_sweep_at) {
        cairn__nonces_sweep(c, now);
        c->nonce_sweep_at = now + NONCE_SWEEP_S;
    }
    cairn__records_kick(c);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    (void)!cairn_sdnotify_watchdog(NULL);
}

static void start_timers(struct cairn__ctrl *c)
{
    uint64_t poll = (uint64_t)c->cfg.poll_interval * 1000u;
    uint64_t refresh = (uint64_t)c->cfg.refresh_interval * 1000u;

    uv_timer_start(&c->poll_timer, on_poll, poll, poll);
    uv_timer_start(&c->refresh_timer, on_refresh, refresh, refresh);
    uv_timer_start(&c->tick_timer, on_tick, 1000, 1000);
}

static void init_timers(struct cairn__ctrl *c)
{
    struct cairn_diag d;

    uv_timer_init(&c->loop, &c->poll_timer);
    uv_timer_init(&c->loop, &c->refresh_timer);
    uv_timer_init(&c->loop, &c->tick_timer);
    uv_timer_init(&c->loop, &c->watchdog_timer);
    start_timers(c);
    cairn_diag_init(&d);
    if (cairn_sdnotify_watchdog_usec(&c->watchdog_usec, &d) != 0)
        LOG_WARN("watchdog: %s", cairn_diag_msg(&d));
    if (c->watchdog_usec) {
        uint64_t ms = c->watchdog_usec / 2000u ? c->watchdog_usec / 2000u : 1;

        uv_timer_start(&c->watchdog_timer, on_watchdog, ms, ms);
    }
}

/* ---- stopping
 * ------------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void cairn__maybe_finish(struct cairn__ctrl *c)
{
    if (!c->stopping || !c->http_done || c->rl.job || !cairn__records_idle(c) ||
        c->uploads_busy || c->checking)
        return;
    close_handle((uv_handle_t *)&c->poll_timer);
    close_handle((uv_handle_t *)&c->refresh_timer);
    close_handle((uv_handle_t *)&c->tick_timer);
    close_handle((uv_handle_t *)&c->watchdog_timer);
    close_handle((uv_handle_t *)&c->sig_term);
    close_handle((uv_handle_t *)&c->sig_int);
    close_handle((uv_handle_t *)&c->sig_hup);
}

static void on_http_stopped(struct cairn_httpd *srv, void *arg)
{
    struct cairn__ctrl *c = arg;

    (void)srv;
    c->http_done = 1;
    LOG_INFO("HTTP server stopped");
    cairn__records_kick(c);
    cairn__maybe_finish(c);
}

static void begin_stop(struct cairn__ctrl *c, const char *why)
{
    if (c->stopping)
        return;
    c->stopping = 1;
    LOG_INFO("%s: draining and stopping", why);
    (void)!cairn_sdnotify_stopping(NULL);
    uv_timer_stop(&c->poll_timer);
    uv_timer_stop(&c->refresh_timer);
    cairn_httpd_stop(c->srv, on_http_stopped, c);
    cairn__records_kick(c);
    cairn__maybe_finish(c);
}

/* ---- reloading
 * ------------------------------------------------------------------------- */

/* Keys read only at start: a reload keeps their running value. */
static void keep_restart_only(struct cairn_ctrl_config *nc,
                              struct cairn_ctrl_config *old)
{
    struct {
        const char *key;
        char **n, **o;
    } s[] = {{"repo", &nc->repo, &old->repo},
             {"branch", &nc->branch, &old->branch},
             {"listen", &nc->listen, &old->listen},
             {"stateDir", &nc->state_dir, &old->state_dir},
             {"store", &nc->store, &old->store},
             {"keyFile", &nc->key_file, &old->key_file},
             {"gitSshKey", &nc->git_ssh_key, &old->git_ssh_key},
             {"gitHttpsUser", &nc->git_https_user, &old->git_https_user},
             {"gitHttpsPasswordFile", &nc->git_https_password_file,
              &old->git_https_password_file},
             {"gitKnownHosts", &nc->git_known_hosts, &old->git_known_hosts},
             {"gitCaFile", &nc->git_ca_file, &old->git_ca_file}};

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(s); i++) {
        char *t = *s[i].n;

        if (!*s[i].n != !*s[i].o || (t && strcmp(t, *s[i].o) != 0))
            LOG_WARN("reload: %s changed; it takes effect after a restart",
                     s[i].key);
        *s[i].n = *s[i].o;
        *s[i].o = t;
    }
    if (nc->git_insecure_host_key != old->git_insecure_host_key)
        LOG_WARN("reload: gitInsecureHostKey changed; it takes effect after a "
                 "restart");
    nc->git_insecure_host_key = old->git_insecure_host_key;
    if (nc->max_connections != old->max_connections ||
        nc->header_timeout_ms != old->header_timeout_ms ||
        nc->body_min_rate != old->body_min_rate ||
        nc->idle_timeout_ms != old->idle_timeout_ms ||
        nc->upload_max != old->upload_max)
        LOG_WARN(
            "reload: HTTP limits changed; they take effect after a restart");
    nc->max_connections = old->max_connections;
    nc->header_timeout_ms = old->header_timeout_ms;
    nc->body_min_rate = old->body_min_rate;
    nc->idle_timeout_ms = old->idle_timeout_ms;
    nc->upload_max = old->upload_max;
}

static void set_log_level(const struct cairn_ctrl_config *cfg)
{
    static const enum cairn_log_level lv[] = {CAIRN_LOG_DEBUG, CAIRN_LOG_INFO,
                                              CAIRN_LOG_WARN, CAIRN_LOG_ERROR};

    if (!getenv("CAIRN_LOG_LEVEL"))
        cairn_log_set_level(lv[cfg->log_level]);
}

static void reload(struct cairn__ctrl *c)
{
    struct cairn_ctrl_config nc;
    struct cairn_sshsig_signers *signers = NULL;
    enum cairn_sigpolicy pol;
    char *op = NULL;
    uint8_t *hook = NULL;
    size_t hook_len = 0;
    struct cairn_diag d;

    cairn_diag_init(&d);
    (void)!cairn_sdnotify_send("RELOADING=1", NULL);
    if (cairn_ctrl_config_load(c->opts.config_path, c->opts.set, c->opts.nset,
                               &nc, &d) != 0) {
        LOG_ERROR("reload: %s; the running configuration stays",
                  cairn_diag_msg(&d));
        goto out;
    }
    if (cairn__policy_load(&nc, &pol, &signers, &d) != 0)
        blame_key(c, "allowedSigners", &d);
    if (d.code || load_secrets(c, &nc, &op, &hook, &hook_len, &d) != 0) {
        LOG_ERROR("reload: %s; the running configuration stays",
                  cairn_diag_msg(&d));
        cairn_sshsig_signers_free(signers);
        cairn_ctrl_config_free(&nc);
        goto out;
    }
    keep_restart_only(&nc, &c->cfg);
    cairn_ctrl_config_free(&c->cfg);
    c->cfg = nc;
    free(c->operator_token);
    c->operator_token = op;
    free(c->webhook_secret);
    c->webhook_secret = hook;
    c->webhook_secret_len = hook_len;
    cairn_sshsig_signers_free(c->rl.next_signers);
    c->rl.next_signers = signers;
    c->rl.next_policy = pol;
    c->rl.have_next = 1;
    set_log_level(&c->cfg);
    start_timers(c);
    LOG_INFO("configuration reloaded (commit signatures: %s)",
             cairn_sigpolicy_name(pol));
    cairn__request_fetch(c, "reload");
out:
    (void)!cairn_sdnotify_ready(NULL);
}

/* ---- signals
 * ------------------------------------------------------------------------------
 */

static void on_signal(uv_signal_t *h, int signum)
{
    struct cairn__ctrl *c = h->data;

    if (signum == SIGHUP) {
        if (!c->stopping)
            reload(c);
        return;
    }
    begin_stop(c, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void init_signals(struct cairn__ctrl *c)
{
    uv_signal_t *hs[] = {&c->sig_term, &c->sig_int, &c->sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};

    for (size_t i = 0; i < CAIRN_ARRAY_LEN(hs); i++) {
        uv_signal_init(&c->loop, hs[i]);
        hs[i]->data = c;
        uv_signal_start(hs[i], on_signal, nums[i]);
    }
}

/* ---- start and teardown
 * ------------------------------------------------------------------ */

static int compile_report_schema(struct cairn__ctrl *c, struct cairn_diag *d)
{
    return cairn_schema_embedded("report.schema.json", &c->report_schema, d);
}

static int prepare_state(struct cairn__ctrl *c, struct cairn_diag *d)
{
    int rc = cairn_keys_init();

    if (rc)
        return cairn_diag_set(d, rc, "no entropy source");
    rc = cairn_fs_mkdir_p(c->cfg.state_dir, 0700, d);
    if (rc == 0)
        rc = load_signing_key(c, d);
    if (rc == 0)
        rc = load_token_key(c, d);
    if (rc == 0)
        rc = load_secrets(c, &c->cfg, &c->operator_token, &c->webhook_secret,
                          &c->webhook_secret_len, d);
    if (rc == 0)
        rc = compile_report_schema(c, d);
    return rc;
}

static int start(struct cairn__ctrl *c, struct cairn_diag *d)
{
    int rc;

    snprintf(c->repo_label, sizeof(c->repo_label), "%s", c->cfg.repo);
    c->m.last_commit_accepted = -1;
    cairn__strmap_init(&c->sites);
    cairn__strmap_init(&c->nonces);
    rc = prepare_state(c, d);
    if (rc == 0)
        rc = cairn__render_load(c, d);
    if (rc == 0)
        rc = cairn__records_load(c, d);
    if (rc == 0)
        rc = listen_http(c, d);
    if (rc)
        return rc;
    init_signals(c);
    init_timers(c);
    c->started_ms = uv_now(&c->loop);
    LOG_INFO("serving %zu sites from %s (branch %s, commit signatures %s)",
             c->sites.n, c->cfg.repo, cairn_git_branch(c->rl.git),
             cairn_sigpolicy_name(c->rl.policy));
    (void)!cairn_sdnotify_ready(NULL);
    (void)!cairn_sdnotify_status(NULL, "serving %zu sites", c->sites.n);
    cairn__request_fetch(c, "start");
    return 0;
}

static void teardown(struct cairn__ctrl *c)
{
    cairn__render_lane_free(c);
    cairn__records_lane_free(c);
    cairn__sites_free(c);
    cairn__strmap_free(&c->nonces);
    cairn_httpd_free(c->srv);
    cairn_schema_free(c->report_schema);
    free(c->operator_token);
    free(c->webhook_secret);
    cairn_seckey_wipe(&c->key);
    memset(c->token_key, 0, sizeof(c->token_key));
    cairn_ctrl_config_free(&c->cfg);
    if (uv_loop_close(&c->loop) != 0)
        LOG_WARN("loop closed with handles still open");
}

int cairn_controller_run(const struct cairn_controller_opts *o)
{
    struct cairn__ctrl *c = cairn_xcalloc(1, sizeof(*c));
    struct cairn_diag d;
    int rc;

    cairn_diag_init(&d);
    c->opts = *o;
    if (cairn_ctrl_config_load(o->config_path, o->set, o->nset, &c->cfg, &d) !=
        0) {
        fprintf(stderr, "cairn-controller: %s\n", cairn_diag_msg(&d));
        free(c);
        return 2;
    }
    set_log_level(&c->cfg);
    /* the thread pool runs renders, report checks, uploads and disk writes */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&c->loop);
    rc = start(c, &d);
    if (rc) {
        LOG_ERROR("cannot start: %s", cairn_diag_msg(&d));
        c->exit_code = 1;
    }
    uv_run(&c->loop, UV_RUN_DEFAULT);
    teardown(c);
    rc = c->exit_code;
    free(c);
    return rc;
}
