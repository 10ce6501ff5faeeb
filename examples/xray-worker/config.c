#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/mem.h"
#include "util.h"

#define CONFIG_FILE_CAP (64u << 10)
#define TOKEN_FILE_CAP 4096u

enum kind { K_STR, K_DOUBLE, K_U64 };

struct key {
    const char *name; /* file key; env is XRAY_<NAME upper-cased> */
    enum kind kind;
    size_t off;
    const char *def; /* NULL: unset; "@..." derived below */
    double lo, hi;   /* numeric range */
    const char *help;
};

#define F(field) offsetof(struct xray_config, field)

static const struct key keys[] = {
    {"data_dir", K_STR, F(data_dir), "./xray-data", 0, 0,
     "state: xray.db, done/, failed/, processed/"},
    {"inbox", K_STR, F(inbox), "@data_dir/inbox", 0, 0,
     "directory watched for new images"},
    {"outbox", K_STR, F(outbox), "@data_dir/outbox", 0, 0,
     "anonymized Unsure images for the central lab (the agent uploads it)"},
    {"listen", K_STR, F(listen), "127.0.0.1:8090", 0, 0,
     "HTTP address for /healthz, /metrics, /v1/score"},
    {"site", K_STR, F(site), "@site", 0, 0,
     "site name in notifications (CAIRN_SITE, hostname)"},
    {"webhook_url", K_STR, F(webhook_url), NULL, 0, 0,
     "staff notification endpoint for high risk (unset: no notifications)"},
    {"webhook_token_file", K_STR, F(webhook_token_file), NULL, 0, 0,
     "file holding the bearer token (mode 0600 or stricter)"},
    {"truth_file", K_STR, F(truth_file), "@data_dir/truth.csv", 0, 0,
     "simulator ground truth CSV, used when present"},
    {"rescan_seconds", K_DOUBLE, F(rescan_seconds), "5", 0.05, 3600,
     "periodic inbox rescan (fallback for missed file events)"},
    {"retry_min_seconds", K_DOUBLE, F(retry_min_seconds), "1", 0.01, 3600,
     "first webhook retry delay (doubles per failure)"},
    {"retry_max_seconds", K_DOUBLE, F(retry_max_seconds), "300", 0.01, 86400,
     "longest webhook retry delay"},
    {"webhook_timeout_seconds", K_DOUBLE, F(webhook_timeout_seconds), "10", 0.1,
     300, "per-request webhook timeout"},
    {"anon_blur_sigma", K_DOUBLE, F(anon_blur_sigma), "5", 0.5, 200,
     "Gaussian blur of the PII box (the pattern's 5 leaves large text "
     "guessable)"},
    {"max_image_bytes", K_U64, F(max_image_bytes), "67108864", 1024, 1ull << 32,
     "larger inbox files are refused"},
    {"max_side", K_U64, F(max_side), "16384", 8, 65535,
     "largest image width or height"},
    {"max_pixels", K_U64, F(max_pixels), "67108864", 64, 1ull << 32,
     "largest image width*height"},
    {"jpeg_quality", K_U64, F(jpeg_quality), "90", 1, 100,
     "quality of written JPEGs (processed, anonymized)"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static char **str_field(struct xray_config *c, const struct key *k)
{
    return (char **)(void *)((char *)c + k->off);
}

static void env_name(const struct key *k, char *out, size_t n)
{
    size_t i = 0;

    snprintf(out, n, "XRAY_");
    for (i = 0; k->name[i] && i + 6 < n; i++)
        out[5 + i] = (char)toupper((unsigned char)k->name[i]);
    out[5 + i] = '\0';
}

static int set_value(struct xray_config *c, const struct key *k,
                     const char *val, const char *where, struct cairn_diag *d)
{
    char *end;

    if (k->kind == K_STR) {
        if (*val == '\0' || strlen(val) > 4096)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s: %s: empty or over 4096 bytes", where,
                                  k->name);
        free(*str_field(c, k));
        *str_field(c, k) = cairn_xstrdup(val);
        return 0;
    }
    errno = 0;
    if (k->kind == K_DOUBLE) {
        double v = strtod(val, &end);

        if (errno || end == val || *end || !(v >= k->lo && v <= k->hi))
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s: %s=%s: want a number in %g..%g", where,
                                  k->name, val, k->lo, k->hi);
        *(double *)(void *)((char *)c + k->off) = v;
    } else {
        unsigned long long v = strtoull(val, &end, 10);

        if (errno || end == val || *end || !isdigit((unsigned char)*val) ||
            (double)v < k->lo || (double)v > k->hi)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s: %s=%s: want an integer in %.0f..%.0f",
                                  where, k->name, val, k->lo, k->hi);
        *(uint64_t *)(void *)((char *)c + k->off) = v;
    }
    return 0;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* `key = value` lines; '#' starts a comment line. */
static int parse_file(struct xray_config *c, const char *path, const char *text,
                      struct cairn_diag *d)
{
    char *copy = cairn_xstrdup(text), *line = copy, *next;
    int lineno = 0, err = 0;

    for (; line && !err; line = next) {
        char where[512], *eq, *key;
        const struct key *k;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        key = trim(line);
        if (*key == '\0' || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            err = cairn_diag_set(d, CAIRN_EPARSE, "%s: expected key = value",
                                 where);
            break;
        }
        *eq = '\0';
        k = find_key(trim(key));
        if (!k)
            err = cairn_diag_set(d, CAIRN_EPARSE, "%s: unknown key '%s'", where,
                                 trim(key));
        else
            err = set_value(c, k, trim(eq + 1), where, d);
    }
    free(copy);
    return err;
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? cairn_xstrdup(v) : NULL;
}

static int load_file(struct xray_config *c, struct cairn_diag *d)
{
    char *path = env_dup("XRAY_CONFIG"), *text = NULL;
    uint8_t *buf = NULL;
    size_t len;
    int err;

    if (!path && c->config_dir) {
        path = cairn_xasprintf("%s/xray-worker.conf", c->config_dir);
        if (access(path, F_OK) != 0) {
            free(path);
            return 0;
        }
    }
    if (!path)
        return 0;
    err = xray_read_file(path, CONFIG_FILE_CAP, &buf, &len, d);
    if (!err && memchr(buf, '\0', len))
        err = cairn_diag_set(d, CAIRN_EPARSE, "%s: contains a NUL byte", path);
    text = (char *)buf;
    if (!err)
        err = parse_file(c, path, text, d);
    c->config_file = path;
    free(buf);
    return err;
}

static int apply_defaults(struct xray_config *c, struct cairn_diag *d)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        int err;

        if (!k->def || k->def[0] == '@')
            continue;
        err = set_value(c, k, k->def, "default", d);
        if (err)
            return err;
    }
    return 0;
}

static int apply_env(struct xray_config *c, struct cairn_diag *d)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char name[64];
        const char *v;
        int err;

        env_name(&keys[i], name, sizeof(name));
        v = getenv(name);
        if (!v || !*v)
            continue;
        err = set_value(c, &keys[i], v, name, d);
        if (err)
            return err;
    }
    return 0;
}

/* The bearer token: refused when the file is readable by group or other,
 * as every secret file in cairn is. */
static int read_token(struct xray_config *c, struct cairn_diag *d)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t len;
    int err;

    if (!c->webhook_token_file)
        return 0;
    if (stat(c->webhook_token_file, &st) != 0)
        return cairn_diag_set(d, CAIRN_ENOENT, "webhook_token_file %s: %s",
                              c->webhook_token_file, strerror(errno));
    if (st.st_mode & 077)
        return cairn_diag_set(
            d, CAIRN_EPERM,
            "webhook_token_file %s: mode %03o allows group/other access "
            "(want 0600)",
            c->webhook_token_file, st.st_mode & 0777);
    err = xray_read_file(c->webhook_token_file, TOKEN_FILE_CAP, &buf, &len, d);
    if (err)
        return err;
    c->webhook_token = cairn_xstrdup(trim((char *)buf));
    free(buf);
    for (const char *p = c->webhook_token; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return cairn_diag_set(
                d, CAIRN_EPARSE,
                "webhook_token_file %s: token has a non-printable byte",
                c->webhook_token_file);
    if (!*c->webhook_token)
        return cairn_diag_set(d, CAIRN_EPARSE, "webhook_token_file %s: empty",
                              c->webhook_token_file);
    return 0;
}

static void derive(struct xray_config *c)
{
    char host[256];

    if (!c->inbox)
        c->inbox = cairn_xasprintf("%s/inbox", c->data_dir);
    if (!c->outbox)
        c->outbox = cairn_xasprintf("%s/outbox", c->data_dir);
    if (!c->truth_file)
        c->truth_file = cairn_xasprintf("%s/truth.csv", c->data_dir);
    if (!c->site) {
        const char *s = getenv("CAIRN_SITE");

        if (s && *s)
            c->site = cairn_xstrdup(s);
        else if (gethostname(host, sizeof(host)) == 0 &&
                 (host[sizeof(host) - 1] = '\0', *host))
            c->site = cairn_xstrdup(host);
        else
            c->site = cairn_xstrdup("unknown");
    }
    c->db_path = cairn_xasprintf("%s/xray.db", c->data_dir);
    c->done_dir = cairn_xasprintf("%s/done", c->data_dir);
    c->failed_dir = cairn_xasprintf("%s/failed", c->data_dir);
    c->processed_dir = cairn_xasprintf("%s/processed", c->data_dir);
}

int xray_config_load(struct xray_config *c, struct cairn_diag *d)
{
    int err;

    memset(c, 0, sizeof(*c));
    c->model_path = env_dup("CAIRN_MODEL_PATH");
    c->model_sha256 = env_dup("CAIRN_MODEL_SHA256");
    c->model_version = env_dup("CAIRN_MODEL_VERSION");
    c->workload = env_dup("CAIRN_WORKLOAD");
    c->config_dir = env_dup("CAIRN_CONFIG_DIR");
    err = apply_defaults(c, d);
    if (!err)
        err = load_file(c, d);
    if (!err)
        err = apply_env(c, d);
    if (!err && !c->model_path)
        err = cairn_diag_set(d, CAIRN_EINVAL, "CAIRN_MODEL_PATH is not set");
    if (!err && c->retry_max_seconds < c->retry_min_seconds)
        err = cairn_diag_set(d, CAIRN_EINVAL,
                             "retry_max_seconds < retry_min_seconds");
    if (!err && c->webhook_url && strncmp(c->webhook_url, "http://", 7) != 0 &&
        strncmp(c->webhook_url, "https://", 8) != 0)
        err = cairn_diag_set(d, CAIRN_EINVAL,
                             "webhook_url must be http:// or https://");
    if (!err)
        err = read_token(c, d);
    if (!err)
        derive(c);
    if (err)
        xray_config_free(c);
    return err;
}

void xray_config_free(struct xray_config *c)
{
    char **strs[] = {&c->model_path,    &c->model_sha256, &c->model_version,
                     &c->workload,      &c->config_dir,   &c->webhook_token,
                     &c->db_path,       &c->done_dir,     &c->failed_dir,
                     &c->processed_dir, &c->config_file};

    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].kind == K_STR) {
            free(*str_field(c, &keys[i]));
            *str_field(c, &keys[i]) = NULL;
        }
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strs[i] == &c->webhook_token && *strs[i])
            memset(*strs[i], 0, strlen(*strs[i]));
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

void xray_config_describe(FILE *f)
{
    fprintf(f, "%-24s %-32s %-20s %s\n", "key", "environment", "default",
            "meaning");
    for (size_t i = 0; i < N_KEYS; i++) {
        char env[64];

        env_name(&keys[i], env, sizeof(env));
        fprintf(f, "%-24s %-32s %-20s %s\n", keys[i].name, env,
                keys[i].def ? keys[i].def : "(unset)", keys[i].help);
    }
}
