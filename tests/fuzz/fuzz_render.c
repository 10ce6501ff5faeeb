/*
 * libFuzzer target: a hostile workload file rendered for a fixed fleet
 * (fleet values with templates, a group, two sites, a sealed secret):
 * schema checks, templates, file and secret rules, canonical JSON. Any
 * input must give either a payload or located errors, never a crash.
 * The input is workloads/w.yaml; a "\n---values---\n" line splits off
 * the site's values (YAML) to fuzz the merge too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cairn/mem.h"
#include "fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFILES 7

static const char *const paths[NFILES] = {
    "fleet.yaml",
    "groups/g.yaml",
    "secrets/s1/tok.sealed",
    "secrets/s2/tok.sealed",
    "sites/a/s1.yaml",
    "sites/s2.yaml",
    "workloads/w.yaml",
};

static int mem_read(struct cairn_src *src, size_t i, size_t cap, uint8_t **data,
                    size_t *len, struct cairn_diag *d)
{
    const char *const *texts = src->arg;
    size_t n = strlen(texts[i]);

    if (n > cap)
        return cairn_diag_set(d, CAIRN_ETOOBIG, "too big");
    *data = (uint8_t *)cairn_xstrndup(texts[i], n);
    *len = n;
    return 0;
}

static int drop(const struct cairn_fleet *f, struct cairn_rendered *r,
                void *arg)
{
    (void)f;
    (void)arg;
    cairn_rendered_free(r);
    return 0;
}

static void run(const char *workload, const char *values)
{
    static struct cairn_loader *ld;
    const char *texts[NFILES];
    struct cairn_src_file files[NFILES];
    struct cairn_src src;
    struct cairn_build_hooks h = {NULL, NULL, NULL, NULL, drop, NULL, 1};
    struct cairn_errlist errs;
    char *site1 = cairn_xasprintf(
        "kind: Site\nname: s1\nlabels: {r: e}\npublicKey: ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIBjbfmufDW/bVZiKyXccNI6DkDjYTn+I3VBPGsp+Y4Zi\n"
        "values:\n%s\n",
        values);

    if (!ld && cairn_loader_new(&ld, NULL) != 0)
        abort();
    texts[0] = "kind: Fleet\nname: f\nvalues:\n  workloads: [w]\n  a: {b: x, "
               "n: 3, l: [1]}\n"
               "  t: \"{{ site.name }}-{{ values.a.b }}\"\n";
    texts[1] = "kind: Group\nname: g\nselector: {matchLabels: {r: e}}\nvalues: "
               "{a: {b: y}}\n";
    texts[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
               "AAAAAAAAA\n";
    texts[3] = texts[2];
    texts[4] = site1;
    texts[5] = "kind: Site\nname: s2\nlabels: {r: w}\npublicKey: ssh-ed25519 "
               "AAAAC3NzaC1lZDI1NTE5AAAAIBjbfmufDW/"
               "bVZiKyXccNI6DkDjYTn+I3VBPGsp+Y4Zi\n";
    texts[6] = workload;
    memset(&src, 0, sizeof(src));
    for (size_t i = 0; i < NFILES; i++) {
        files[i].path = (char *)paths[i];
        /* contents change every run: an id that is never reused */
        snprintf(files[i].blob, sizeof(files[i].blob), "%040zx",
                 (size_t)rand());
        files[i].size = strlen(texts[i]);
    }
    src.files = files;
    src.n = NFILES;
    src.read = mem_read;
    src.arg = texts;
    cairn_errlist_init(&errs, 0);
    if (cairn_build_run(ld, &src, &h, &errs, NULL, NULL) != 0 &&
        cairn_errlist_count(&errs) == 0)
        abort(); /* a refusal must say why */
    if (getenv("FUZZ_RENDER_VERBOSE"))
        cairn_errlist_print(&errs, stderr);
    cairn_errlist_free(&errs);
    cairn_loader_sweep(ld, 0);
    free(site1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char mark[] = "\n---values---\n";
    char *text = cairn_xstrndup((const char *)data, size), *split;

    if (strlen(text) !=
        size) { /* NUL bytes: the YAML loader's fuzz target covers them */
        free(text);
        return 0;
    }
    split = strstr(text, mark);
    if (split) {
        *split = '\0';
        run(text, split + strlen(mark));
    } else {
        run(text, "  a: {n: 4}");
    }
    free(text);
    return 0;
}
