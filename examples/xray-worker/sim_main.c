/*
 * xray-sim: the x-ray machine stand-in (the pattern's image-generator).
 * Drip mode drops one synthetic study into the inbox every --interval
 * seconds (SECONDS_WAIT, default 10; 0 leaves it idle as in the pattern
 * unless --count is given); batch mode writes N at once. Each image appears
 * atomically (written as a dotfile, then renamed) and its ground truth is
 * appended to a CSV (name,truth) before the image appears.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn/diag.h"
#include "cairn/mem.h"
#include "sim.h"
#include "util.h"

struct cli {
    const char *dir, *truth, *ext;
    double interval;
    long count; /* -1: forever */
    uint64_t seed;
    uint32_t size;
    int batch;
    int quiet;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: xray-sim [--inbox DIR] [--interval S] [--count N] [options]\n"
        "       xray-sim --batch N --out DIR [options]\n"
        "  --inbox/--out DIR  where images go (default $XRAY_INBOX, else\n"
        "                     ${XRAY_DATA_DIR:-./xray-data}/inbox)\n"
        "  --interval S       seconds between images (default $SECONDS_WAIT or "
        "10;\n"
        "                     0 = idle unless --count is given, then no wait)\n"
        "  --count N          stop after N images (default: run forever)\n"
        "  --truth FILE       ground-truth CSV (default DIR/../truth.csv)\n"
        "  --seed N           reproducible run (default: time-based)\n"
        "  --size PX          image side (default %d)\n"
        "  --format jpeg|png  file format (default jpeg)\n"
        "  --quiet            no line per image\n",
        XRAY_SIM_DEFAULT_SIZE);
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    static const struct option opts[] = {
        {"inbox", required_argument, 0, 'o'},
        {"out", required_argument, 0, 'o'},
        {"interval", required_argument, 0, 'i'},
        {"count", required_argument, 0, 'n'},
        {"batch", required_argument, 0, 'b'},
        {"truth", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},
        {"size", required_argument, 0, 'z'},
        {"format", required_argument, 0, 'f'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    char *end;
    int ch;

    while ((ch = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            c->dir = optarg;
            break;
        case 'i':
            c->interval = strtod(optarg, &end);
            if (*end || c->interval < 0 || c->interval > 86400)
                return fprintf(stderr, "xray-sim: bad --interval %s\n", optarg),
                       -1;
            break;
        case 'n':
        case 'b':
            c->count = strtol(optarg, &end, 10);
            if (*end || c->count < 0 || c->count > 10000000)
                return fprintf(stderr, "xray-sim: bad count %s\n", optarg), -1;
            c->batch |= ch == 'b';
            break;
        case 't':
            c->truth = optarg;
            break;
        case 's':
            c->seed = strtoull(optarg, NULL, 10);
            break;
        case 'z':
            c->size = (uint32_t)strtoul(optarg, &end, 10);
            if (*end || c->size < 32 || c->size > 8192)
                return fprintf(stderr, "xray-sim: bad --size %s (32..8192)\n",
                               optarg),
                       -1;
            break;
        case 'f':
            if (strcmp(optarg, "jpeg") != 0 && strcmp(optarg, "png") != 0)
                return fprintf(stderr, "xray-sim: --format jpeg or png\n"), -1;
            c->ext = optarg;
            break;
        case 'q':
            c->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int append_truth(const char *path, const char *name, int pneumonia,
                        struct cairn_diag *d)
{
    struct stat st;
    int fresh = stat(path, &st) != 0;
    FILE *f = fopen(path, "a");

    if (!f)
        return cairn_diag_set(d, CAIRN_EIO, "%s: %s", path, strerror(errno));
    if (fresh)
        fputs("name,truth\n", f);
    fprintf(f, "%s,%s\n", name, pneumonia ? "PNEUMONIA" : "NORMAL");
    if (fclose(f) != 0)
        return cairn_diag_set(d, CAIRN_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* One study: pick an unused name, record the truth, write the image. */
static int drop_one(const struct cli *c, struct xray_rng *r,
                    struct cairn_diag *d)
{
    struct xray_patient p;
    struct xray_image im;
    char name[256], *path = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int pneumonia = xray_sim_draw_truth(r), err;

    for (int tries = 0;; tries++) {
        xray_sim_patient(r, &p);
        xray_sim_name(&p, c->ext, name, sizeof(name));
        free(path);
        path = cairn_xasprintf("%s/%s", c->dir, name);
        if (access(path, F_OK) != 0 || tries > 100)
            break;
    }
    xray_sim_render(r, pneumonia, c->size, &p, &im);
    err = xray_image_encode(
        &im, strcmp(c->ext, "png") == 0 ? XRAY_FMT_PNG : XRAY_FMT_JPEG, 90,
        &buf, &len, d);
    if (!err)
        err = append_truth(c->truth, name, pneumonia, d);
    if (!err)
        err = xray_write_atomic(path, buf, len, 0644, d);
    if (!err && !c->quiet)
        printf("xray-sim: %s %s\n", pneumonia ? "PNEUMONIA" : "NORMAL   ",
               name);
    fflush(stdout);
    xray_image_free(&im);
    free(buf);
    free(path);
    return err;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *default_dir(void)
{
    const char *inbox = getenv("XRAY_INBOX"), *data = getenv("XRAY_DATA_DIR");

    if (inbox && *inbox)
        return cairn_xstrdup(inbox);
    return cairn_xasprintf("%s/inbox", data && *data ? data : "./xray-data");
}

int main(int argc, char **argv)
{
    const char *wait = getenv("SECONDS_WAIT");
    struct cli c = {.interval = wait && *wait ? strtod(wait, NULL) : 10.0,
                    .count = -1,
                    .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32),
                    .size = XRAY_SIM_DEFAULT_SIZE,
                    .ext = "jpeg"};
    char *dir = NULL, *truth = NULL;
    struct xray_rng r;
    struct cairn_diag d;
    int err = 0;

    cairn_diag_init(&d);
    if (parse_args(argc, argv, &c) != 0)
        return 2;
    dir = c.dir ? cairn_xstrdup(c.dir) : default_dir();
    c.dir = dir;
    truth = c.truth ? cairn_xstrdup(c.truth)
                    : cairn_xasprintf("%s/../truth.csv", dir);
    c.truth = truth;
    xray_rng_seed(&r, c.seed);
    err = xray_mkdir_p(dir, &d);
    if (!err && !c.batch && c.interval == 0 && c.count < 0) {
        /* The pattern's SECONDS_WAIT=0: present but idle. */
        fprintf(stderr,
                "xray-sim: interval 0: idle (give --count or an interval)\n");
        for (;;)
            pause();
    }
    for (long i = 0; !err && (c.count < 0 || i < c.count); i++) {
        if (i > 0 && !c.batch && c.interval > 0)
            sleep_s(c.interval);
        err = drop_one(&c, &r, &d);
    }
    if (err)
        fprintf(stderr, "xray-sim: %s\n", cairn_diag_msg(&d));
    free(dir);
    free(truth);
    return err ? 1 : 0;
}
