/* cairnctl: the operator's tool. main() only dispatches to a verb. */
#include <stdio.h>
#include <string.h>

#include "cairn/log.h"
#include "ctl.h"

/* One row per verb, in the order `cairnctl --help` lists them. */
static const struct cairn__ctl_verb verbs[] = {
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: cairnctl <verb> [options]   (cairnctl <verb> --help)\n\n"
                 "verbs:\n");
    for (size_t i = 0; verbs[i].name; i++)
        fprintf(out, "  %-14s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv)
{
    cairn_log_init("cairnctl");
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cairnctl %s\n", cairn__version());
        return 0;
    }
    for (size_t i = 0; verbs[i].name; i++)
        if (strcmp(argv[1], verbs[i].name) == 0)
            return verbs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cairnctl: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
