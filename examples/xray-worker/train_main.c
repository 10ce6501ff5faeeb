/*
 * xray-train: fit model versions on simulator images (see train.h), write a
 * random-weight model of any topology (benchmarks), or write a deliberately
 * corrupt one (the quickstart's rollback demo).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/diag.h"
#include "cairn/mem.h"
#include "sim.h"
#include "train.h"
#include "util.h"

#define TEST_SEED 20240601u

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: xray-train --preset v1|v2 -o FILE     fit a quickstart model\n"
        "       xray-train [fit options] -o FILE      fit with explicit "
        "options\n"
        "       xray-train --random -o FILE           random weights "
        "(benchmarks)\n"
        "       xray-train --corrupt -o FILE          a model whose checksum "
        "fails\n"
        "options:\n"
        "  --version V       version string stored in the header\n"
        "  --input N         input side (default 64; --random: 150)\n"
        "  --filters A,B,C   conv filter counts (default 8,8,16; --random: "
        "32,32,64)\n"
        "  --dense N         dense layer size (default 64)\n"
        "  --train N         training images (default 1200)\n"
        "  --test N          held-out images (default 400)\n"
        "  --epochs N        epochs over the training images (default 30)\n"
        "  --lr X            Adam step size (default 0.001)\n"
        "  --seed N          weights and training images (default 1)\n"
        "  --size N          simulator image side in pixels (default %d)\n"
        "  --verbose         per-epoch loss\n",
        XRAY_SIM_DEFAULT_SIZE);
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_filters(const char *s, struct xray_shape *sh)
{
    char *copy = cairn_xstrdup(s), *save = NULL, *tok;
    uint32_t n = 0;
    int err = 0;

    memset(sh->filters, 0, sizeof(sh->filters));
    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == XRAY_MODEL_MAX_CONV ||
            parse_u32(tok, 1, 1024, &sh->filters[n]) != 0) {
            err = -1;
            break;
        }
        n++;
    }
    sh->n_conv = n;
    free(copy);
    return err || n == 0 ? -1 : 0;
}

enum mode { MODE_FIT, MODE_RANDOM, MODE_CORRUPT };

struct cli {
    enum mode mode;
    struct xray_train_opts o;
    const char *out;
    int shape_set, filters_set;
};

static int apply_preset(struct cli *c, const char *name)
{
    if (strcmp(name, "v1") == 0) {
        /* Deliberately under-fitted: little data, few epochs. */
        c->o.n_train = 120;
        c->o.epochs = 3;
        c->o.seed = 101;
    } else if (strcmp(name, "v2") == 0) {
        c->o.n_train = 1200;
        c->o.epochs = 30;
        c->o.seed = 202;
    } else {
        return -1;
    }
    if (!c->o.version)
        c->o.version = name;
    return 0;
}

/* Options that take a value; returns -1 after printing what is wrong. */
static int set_value(struct cli *c, int ch, const char *arg)
{
    char *end;
    uint32_t v;

    switch (ch) {
    case 'p':
        if (apply_preset(c, arg) == 0)
            return 0;
        fprintf(stderr, "xray-train: unknown preset %s (v1, v2)\n", arg);
        return -1;
    case 'V':
        c->o.version = arg;
        return 0;
    case 'i':
        if (parse_u32(arg, 4, 4096, &v) != 0)
            break;
        c->o.shape.in_h = c->o.shape.in_w = v;
        c->shape_set = 1;
        return 0;
    case 'f':
        c->filters_set = 1;
        return parse_filters(arg, &c->o.shape) == 0
                   ? 0
                   : (fprintf(stderr, "xray-train: bad --filters %s\n", arg),
                      -1);
    case 'd':
        return parse_u32(arg, 1, 4096, &c->o.shape.dense) == 0
                   ? 0
                   : (fprintf(stderr, "xray-train: bad --dense %s\n", arg), -1);
    case 'l':
        c->o.lr = strtof(arg, &end);
        if (*end == '\0' && c->o.lr > 0 && c->o.lr < 1)
            return 0;
        break;
    case 's':
        c->o.seed = strtoull(arg, &end, 10);
        if (*arg && *end == '\0')
            return 0;
        break;
    default: /* t T e z: counts */
        if (parse_u32(arg, ch == 'T' ? 0 : 1, 1000000, &v) != 0)
            break;
        *(ch == 't'   ? &c->o.n_train
          : ch == 'T' ? &c->o.n_test
          : ch == 'e' ? &c->o.epochs
                      : &c->o.image_size) = v;
        return 0;
    }
    fprintf(stderr, "xray-train: bad value %s\n", arg);
    return -1;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    static const struct option opts[] = {{"preset", required_argument, 0, 'p'},
                                         {"random", no_argument, 0, 'R'},
                                         {"corrupt", no_argument, 0, 'C'},
                                         {"version", required_argument, 0, 'V'},
                                         {"input", required_argument, 0, 'i'},
                                         {"filters", required_argument, 0, 'f'},
                                         {"dense", required_argument, 0, 'd'},
                                         {"train", required_argument, 0, 't'},
                                         {"test", required_argument, 0, 'T'},
                                         {"epochs", required_argument, 0, 'e'},
                                         {"lr", required_argument, 0, 'l'},
                                         {"seed", required_argument, 0, 's'},
                                         {"size", required_argument, 0, 'z'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;

    while ((ch = getopt_long(argc, argv, "o:hv", opts, NULL)) != -1) {
        if (ch == 'R' || ch == 'C') {
            c->mode = ch == 'R' ? MODE_RANDOM : MODE_CORRUPT;
        } else if (ch == 'v') {
            c->o.verbose = 1;
        } else if (ch == 'o') {
            c->out = optarg;
        } else if (ch == 'h') {
            usage(stdout);
            exit(0);
        } else if (ch == '?' || ch == ':') {
            usage(stderr);
            return -1;
        } else if (set_value(c, ch, optarg) != 0) {
            return -1;
        }
    }
    if (optind != argc || !c->out) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static void print_result(const struct cli *c, const struct xray_model *m,
                         const struct xray_train_result *r)
{
    const struct xray_shape *s = &m->shape;

    printf("xray-train: %s: %ux%ux%u conv", m->version, s->in_h, s->in_w,
           s->in_c);
    for (uint32_t i = 0; i < s->n_conv; i++)
        printf("%c%u", i ? '/' : ' ', s->filters[i]);
    printf(" dense %u; %u images x %u epochs\n", s->dense, c->o.n_train,
           c->o.epochs);
    printf(
        "xray-train: %s: held-out accuracy %.1f%% (%u images, threshold 0.5)\n",
        m->version, 100.0 * r->accuracy, r->n_test);
    for (int b = XRAY_BAND_HIGH; b >= XRAY_BAND_LOW; b--)
        printf("xray-train: %s:   %-9s %4u images, %u truly pneumonia\n",
               m->version, xray_band_class((enum xray_band)b), r->band_total[b],
               r->band_pneumonia[b]);
    printf("xray-train: %s: %.1f s; sha256 %s; wrote %s\n", m->version,
           r->seconds, m->sha256_hex, c->out);
}

/* A well-formed model with one weight byte flipped after sealing. */
static int write_corrupt(struct xray_model *m, const char *path,
                         struct cairn_diag *d)
{
    uint8_t *buf;
    size_t len;
    int err;

    xray_model_serialize(m, &buf, &len);
    buf[len - 2] ^= 0x40;
    err = xray_write_atomic(path, buf, len, 0644, d);
    free(buf);
    return err;
}

int main(int argc, char **argv)
{
    struct cli c = {.mode = MODE_FIT,
                    .o = {.shape = {.in_h = 64,
                                    .in_w = 64,
                                    .in_c = 3,
                                    .n_conv = 3,
                                    .filters = {8, 8, 16},
                                    .dense = 64},
                          .version = NULL,
                          .n_train = 1200,
                          .n_test = 400,
                          .epochs = 30,
                          .lr = 0.001f,
                          .seed = 1,
                          .test_seed = TEST_SEED,
                          .image_size = XRAY_SIM_DEFAULT_SIZE}};
    struct xray_model *m = NULL;
    struct xray_train_result res;
    struct cairn_diag d;
    int err;

    cairn_diag_init(&d);
    if (parse_args(argc, argv, &c) != 0)
        return 2;
    if (c.mode == MODE_RANDOM) {
        if (!c.shape_set)
            c.o.shape.in_h = c.o.shape.in_w = 150;
        if (!c.filters_set)
            parse_filters("32,32,64", &c.o.shape);
    }
    if (!c.o.version)
        c.o.version = c.mode == MODE_RANDOM    ? "random"
                      : c.mode == MODE_CORRUPT ? "v3"
                                               : "custom";
    err = xray_shape_check(&c.o.shape, &d);
    if (err) {
        fprintf(stderr, "xray-train: %s\n", cairn_diag_msg(&d));
        return 2;
    }
    if (c.mode == MODE_FIT) {
        err = xray_train(&c.o, &m, &res, &d);
        if (!err)
            err = xray_model_save(m, c.out, &d);
        if (!err)
            print_result(&c, m, &res);
    } else {
        m = xray_model_new(&c.o.shape, c.o.version);
        xray_model_randomize(m, c.o.seed);
        err = c.mode == MODE_RANDOM ? xray_model_save(m, c.out, &d)
                                    : write_corrupt(m, c.out, &d);
        if (!err)
            printf("xray-train: %s model %s written to %s\n",
                   c.mode == MODE_RANDOM ? "random"
                                         : "corrupt (checksum fails)",
                   c.o.version, c.out);
    }
    xray_model_free(m);
    if (err) {
        fprintf(stderr, "xray-train: %s\n", cairn_diag_msg(&d));
        return 1;
    }
    return 0;
}
