/*
 * xray-worker: argv -> config -> model -> xray_worker_run(). A model that
 * is missing, truncated, corrupt or not the digest the agent deployed stops
 * the worker here with a clear message and exit status 1, which is what
 * the agent's health gate sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cairn/diag.h"
#include "cairn/log.h"
#include "config.h"
#include "model.h"
#include "pipeline.h"
#include "util.h"
#include "worker.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xray-worker                 run (configured by the "
            "environment)\n"
            "       xray-worker --check-model FILE   validate a model file and "
            "print it\n"
            "       xray-worker --help-config   list configuration keys\n"
            "       xray-worker --bench-score MODEL IMAGE [N]   time the "
            "scoring path\n"
            "       xray-worker --version\n"
            "The agent sets CAIRN_MODEL_PATH, CAIRN_MODEL_SHA256, "
            "CAIRN_MODEL_VERSION,\n"
            "CAIRN_WORKLOAD and CAIRN_CONFIG_DIR; see docs/xray-worker.md.\n");
}

static int check_model(const char *path)
{
    struct xray_model *m = NULL;
    struct cairn_diag d;
    const struct xray_shape *s;

    cairn_diag_init(&d);
    if (xray_model_load(path, &m, &d) != 0) {
        fprintf(stderr, "xray-worker: %s\n", cairn_diag_msg(&d));
        return 1;
    }
    s = &m->shape;
    printf("model %s: version %s, input %ux%ux%u, conv", path, m->version,
           s->in_h, s->in_w, s->in_c);
    for (uint32_t i = 0; i < s->n_conv; i++)
        printf("%c%u", i ? '/' : ' ', s->filters[i]);
    printf(", dense %u, %zu weights, sha256 %s\n", s->dense, m->n_weights,
           m->sha256_hex);
    xray_model_free(m);
    return 0;
}

/* The worker's scoring path (decode, resample, forward pass) on one image,
 * N times, on this thread: what tests/bench/xray/run reports. */
static int bench_score(const char *model, const char *image, int n)
{
    struct xray_decode_limits lim = {XRAY_DEFAULT_MAX_SIDE,
                                     XRAY_DEFAULT_MAX_PIXELS};
    struct xray_model *m = NULL;
    struct xray_ws *ws;
    struct xray_image im;
    struct rusage ru;
    struct cairn_diag d;
    uint8_t *buf = NULL;
    size_t len;
    float p = 0, *input;
    double t0, t_full, t_fwd;

    cairn_diag_init(&d);
    if (xray_model_load(model, &m, &d) != 0 ||
        xray_read_file(image, 1u << 28, &buf, &len, &d) != 0 ||
        xray_score_encoded(m, (ws = xray_ws_new(m)), &lim, buf, len, &im, &p,
                           &d) != 0) {
        fprintf(stderr, "xray-worker: %s\n", cairn_diag_msg(&d));
        return 1; /* a benchmark tool: the OS reclaims the rest */
    }
    t0 = xray_mono();
    for (int i = 0; i < n; i++)
        if (xray_score_encoded(m, ws, &lim, buf, len, NULL, &p, NULL) != 0)
            return 1;
    t_full = (xray_mono() - t0) / n;
    input = calloc((size_t)m->shape.in_h * m->shape.in_w * m->shape.in_c,
                   sizeof(float));
    xray_image_to_input(&im, m->shape.in_w, m->shape.in_h, m->shape.in_c,
                        input);
    t0 = xray_mono();
    for (int i = 0; i < n; i++)
        p = xray_model_forward(m, ws, input, NULL, NULL);
    t_fwd = (xray_mono() - t0) / n;
    getrusage(RUSAGE_SELF, &ru);
    printf("image %ux%u (%zu bytes), model %ux%ux%u %zu weights, p=%.4f\n",
           im.w, im.h, len, m->shape.in_h, m->shape.in_w, m->shape.in_c,
           m->n_weights, p);
    printf("scoring path: %.2f ms/image, %.1f images/s (decode + resample + "
           "forward)\n",
           t_full * 1e3, 1.0 / t_full);
    printf("forward pass: %.2f ms/image, %.1f images/s\n", t_fwd * 1e3,
           1.0 / t_fwd);
    printf("peak RSS: %ld KiB\n", ru.ru_maxrss);
    free(input);
    free(buf);
    xray_image_free(&im);
    xray_ws_free(ws);
    xray_model_free(m);
    return 0;
}

/* The model as the agent deployed it, or a message and NULL. */
static struct xray_model *load_model(const struct xray_config *cfg,
                                     const char **version)
{
    struct xray_model *m = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (xray_model_load(cfg->model_path, &m, &d) != 0) {
        LOG_ERROR("refusing to start: %s", cairn_diag_msg(&d));
        return NULL;
    }
    if (cfg->model_sha256 &&
        strcasecmp(cfg->model_sha256, m->sha256_hex) != 0) {
        LOG_ERROR("refusing to start: model %s hashes to sha256 %s, but "
                  "CAIRN_MODEL_SHA256 "
                  "is %s",
                  cfg->model_path, m->sha256_hex, cfg->model_sha256);
        xray_model_free(m);
        return NULL;
    }
    *version = cfg->model_version ? cfg->model_version : m->version;
    if (cfg->model_version && strcmp(cfg->model_version, m->version) != 0)
        LOG_WARN(
            "CAIRN_MODEL_VERSION=%s but the model header says %s; reporting %s",
            cfg->model_version, m->version, cfg->model_version);
    return m;
}

int main(int argc, char **argv)
{
    struct xray_config cfg;
    struct xray_model *m;
    struct cairn_diag d;
    const char *version = NULL;
    int rc;

    if (argc == 3 && strcmp(argv[1], "--check-model") == 0)
        return check_model(argv[2]);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "--bench-score") == 0)
        return bench_score(argv[2], argv[3],
                           argc == 5 ? (int)strtol(argv[4], NULL, 10) : 50);
    if (argc == 2 && strcmp(argv[1], "--help-config") == 0) {
        xray_config_describe(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("xray-worker %s (model format %d)\n", CAIRN_VERSION,
               XRAY_MODEL_FORMAT);
        return 0;
    }
    if (argc != 1) {
        usage(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    cairn_log_init(getenv("CAIRN_WORKLOAD") ? getenv("CAIRN_WORKLOAD")
                                            : "xray-worker");
    /* Inbox images, processed copies and the database carry patient data:
     * nothing the worker creates is readable by other users. */
    umask(027);
    cairn_diag_init(&d);
    if (xray_config_load(&cfg, &d) != 0) {
        LOG_ERROR("configuration: %s", cairn_diag_msg(&d));
        return 2;
    }
    m = load_model(&cfg, &version);
    if (!m) {
        xray_config_free(&cfg);
        return 1;
    }
    rc = xray_worker_run(&cfg, m, version);
    xray_model_free(m);
    xray_config_free(&cfg);
    return rc;
}
