/*
 * Simulator and trainer: simulator names follow the pattern's layout (so
 * the anonymizer accepts them), runs are reproducible from a seed, training
 * learns something real (beats always answering "Normal" on held-out
 * images), and the "corrupt" model of the rollback demo is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "anon.h"
#include "cairn/mem.h"
#include "sim.h"
#include "test.h"
#include "train.h"

static void test_sim_names_and_truth(void)
{
    struct xray_rng r;
    struct xray_patient p;
    char name[256], anon[300];
    int pneumonia = 0, big_ids = 0;

    xray_rng_seed(&r, 1);
    for (int i = 0; i < 2000; i++) {
        xray_sim_patient(&r, &p);
        xray_sim_name(&p, "jpeg", name, sizeof(name));
        CHECK(xray_anon_name(name, anon, sizeof(anon), NULL) == 0);
        CHECK(strncmp(name, "demo_", 5) == 0);
        big_ids += p.pid > 65535;
        pneumonia += xray_sim_draw_truth(&r);
    }
    /* 80/20 as the pattern's generator, ids beyond its 2-byte limit too. */
    CHECK(pneumonia > 330 && pneumonia < 470);
    CHECK(big_ids > 400);
}

static void test_sim_reproducible(void)
{
    struct xray_rng a, b;
    struct xray_patient p;
    struct xray_image x, y;

    xray_rng_seed(&a, 42);
    xray_rng_seed(&b, 42);
    xray_sim_patient(&a, &p);
    xray_sim_render(&a, 1, 200, &p, &x);
    xray_sim_patient(&b, &p);
    xray_sim_render(&b, 1, 200, &p, &y);
    CHECK(x.w == 200 && x.h == 200 && x.c == 1);
    CHECK(memcmp(x.px, y.px, 200 * 200) == 0);
    xray_image_free(&x);
    xray_image_free(&y);
}

static void test_training_learns(void)
{
    struct xray_train_opts o = {.shape = {.in_h = 32,
                                          .in_w = 32,
                                          .in_c = 3,
                                          .n_conv = 2,
                                          .filters = {6, 8},
                                          .dense = 16},
                                .version = "t1",
                                .n_train = 400,
                                .n_test = 200,
                                .epochs = 25,
                                .lr = 0.003f,
                                .seed = 7,
                                .test_seed = 8,
                                .image_size = 160};
    struct xray_model *m = NULL, *m2 = NULL;
    struct xray_train_result r, r2;
    uint32_t pneumonia = 0;

    REQUIRE(xray_train(&o, &m, &r, NULL) == 0);
    for (int b = 0; b < XRAY_BAND_COUNT; b++)
        pneumonia += r.band_pneumonia[b];
    fprintf(stderr, "  accuracy %.3f, %u/%u pneumonia in the test set\n",
            r.accuracy, pneumonia, r.n_test);
    /* Better than always answering Normal. */
    CHECK(r.accuracy > 1.0 - (double)pneumonia / r.n_test + 0.05);
    /* Same seed, same model, byte for byte. */
    REQUIRE(xray_train(&o, &m2, &r2, NULL) == 0);
    CHECK(memcmp(m->w, m2->w, m->n_weights * sizeof(float)) == 0);
    CHECK(r.accuracy == r2.accuracy);
    xray_model_free(m);
    xray_model_free(m2);
    o.n_train = 1;
    CHECK_INT_EQ(xray_train(&o, &m, &r, NULL), CAIRN_EINVAL);
}

static void test_corrupt_model_refused(void)
{
    char *dir = test_tmpdir();
    char *cmd = cairn_xasprintf("%s --corrupt -o %s/v3.model > /dev/null",
                                XRAY_TRAIN_BIN, dir);
    char *path = cairn_xasprintf("%s/v3.model", dir);
    struct xray_model *m = NULL;
    struct cairn_diag d;
    FILE *f = popen(cmd, "r");

    REQUIRE(f != NULL);
    CHECK_INT_EQ(pclose(f), 0);
    cairn_diag_init(&d);
    CHECK_INT_EQ(xray_model_load(path, &m, &d), CAIRN_EDIGEST);
    CHECK_STR_HAS(cairn_diag_msg(&d), "checksum mismatch");
    test_rm_rf(dir);
    free(cmd);
    free(path);
    free(dir);
}

int main(void)
{
    RUN(test_sim_names_and_truth);
    RUN(test_sim_reproducible);
    RUN(test_training_learns);
    RUN(test_corrupt_model_refused);
    return test_done();
}
