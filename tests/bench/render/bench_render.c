/*
 * Render benchmark driver: the controller pipeline over a generated
 * repository (gen_fleet.py). Processes HEAD~1 (every site: load, schema
 * checks, attestations, render, sign, store) and then HEAD (one site file
 * changed), and prints the times and the peak RSS.
 *
 *   bench_render REPO KEYS_DIR STORE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "build.h"
#include "cairn/git.h"
#include "cairn/keys.h"
#include "cairn/sshsig.h"
#include "pipeline.h"

static void die(const char *what, const struct cairn_diag *d)
{
    fprintf(stderr, "bench_render: %s: %s\n", what, cairn_diag_msg(d));
    exit(1);
}

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void report(const char *what, const struct cairn_pipeline_result *r,
                   double wall, double cpu)
{
    printf(
        "%-32s %8.1f ms wall, %8.1f ms CPU (all threads; git reads included)\n",
        what, wall, cpu);
    printf("  sites %zu, rendered %zu, new generations %zu; pipeline %.1f ms "
           "wall:\n"
           "  load %.1f, attest %.1f, render+sign %.1f (signing %.1f ms summed "
           "over "
           "the "
           "workers), of which store %.1f; commit and bookkeeping %.1f\n",
           r->sites, r->rendered, r->changed, r->total_ms, r->load_ms,
           r->attest_ms, r->render_ms, r->sign_ms, r->store_ms,
           r->total_ms - r->load_ms - r->attest_ms - r->render_ms);
}

int main(int argc, char **argv)
{
    struct cairn_sshsig_signers *signers = NULL;
    struct cairn_pipeline_result res;
    struct cairn_pipeline *p = NULL;
    struct cairn_store *s = NULL;
    struct cairn_git *g = NULL;
    struct cairn_git_oid c1, c2;
    struct cairn_seckey key;
    struct rusage ru;
    struct cairn_diag d;
    char path[4096];
    double t, c;

    if (argc != 4) {
        fprintf(stderr, "usage: bench_render REPO KEYS_DIR STORE\n");
        return 2;
    }
    cairn_diag_init(&d);
    if (cairn_keys_init() || cairn_seckey_generate("controller", &key))
        die("keys", &d);
    snprintf(path, sizeof(path), "%s/allowed_signers", argv[2]);
    if (cairn_sshsig_signers_load(path, &signers, &d) ||
        cairn_store_open(argv[3], &s, &d) ||
        cairn_git_open(argv[1], NULL, NULL, &g, &d) ||
        cairn_git_resolve(g, "HEAD~1", &c1, &d) ||
        cairn_git_resolve(g, "HEAD", &c2, &d))
        die("set-up", &d);
    {
        struct cairn_pipeline_opts o = {"file://bench", s, &key, NULL,
                                        NULL,           0, 0,    0};

        /* BENCH_THREADS=n: render workers (default one per CPU) */
        if (getenv("BENCH_THREADS"))
            o.threads = (unsigned)strtoul(getenv("BENCH_THREADS"), NULL, 10);

        if (cairn_pipeline_new(&o, &p, &d))
            die("pipeline", &d);
    }
    t = cairn__now_ms();
    c = cpu_ms();
    if (cairn_pipeline_process_commit(p, g, &c1, CAIRN_SIGPOLICY_REQUIRE,
                                      signers, &res, &d))
        die("full commit", &d);
    t = cairn__now_ms() - t;
    c = cpu_ms() - c;
    if (!res.accepted) {
        cairn_errlist_print(&res.errs, stderr);
        return 1;
    }
    report("full render (all sites):", &res, t, c);
    cairn_pipeline_result_free(&res);
    t = cairn__now_ms();
    c = cpu_ms();
    if (cairn_pipeline_process_commit(p, g, &c2, CAIRN_SIGPOLICY_REQUIRE,
                                      signers, &res, &d))
        die("one-site commit", &d);
    t = cairn__now_ms() - t;
    c = cpu_ms() - c;
    if (!res.accepted || res.rendered != 1 || res.changed != 1) {
        cairn_errlist_print(&res.errs, stderr);
        fprintf(stderr,
                "bench_render: one-site commit rendered %zu, changed %zu\n",
                res.rendered, res.changed);
        return 1;
    }
    report("commit changing one site file:", &res, t, c);
    cairn_pipeline_result_free(&res);
    getrusage(RUSAGE_SELF, &ru);
    printf("%-34s %8.1f MB\n",
           "peak RSS (ru_maxrss):", (double)ru.ru_maxrss / 1024.0);
    cairn_pipeline_free(p);
    cairn_git_free(g);
    cairn_store_close(s);
    cairn_sshsig_signers_free(signers);
    return 0;
}
