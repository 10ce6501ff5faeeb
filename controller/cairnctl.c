/* cairnctl: the operator's tool. main() only dispatches to a verb. */
#include <stdio.h>
#include <string.h>

#include "cairn/log.h"
#include "ctl.h"

/* One row per verb, in the order `cairnctl --help` lists them. */
static const struct cairn__ctl_verb verbs[] = {
    {"keygen", "generate an Ed25519 key pair (OpenSSH formats)",
     cairn__ctl_keygen},
    {"sign-model", "sign a model artifact (DSSE in-toto attestation)",
     cairn__ctl_sign_model},
    {"verify-model", "verify a model artifact against its attestation",
     cairn__ctl_verify_model},
    {"seal", "seal a secret to a site's public key", cairn__ctl_seal},
    {"unseal", "open a sealed secret with a site's private key",
     cairn__ctl_unseal},
    {"validate",
     "check a commit of the fleet repository as the controller would",
     cairn__ctl_validate},
    {"render",
     "print the desired state the controller would publish for a site",
     cairn__ctl_render},
    {"diff", "which sites two commits change, and how", cairn__ctl_diff},
    {"status", "print the fleet's status from a controller", cairn__ctl_status},
    {"commits",
     "list the commits a controller accepted or refused, with errors",
     cairn__ctl_commits},
    {"token", "open a session as a site and print its bearer token",
     cairn__ctl_token},
    {"audit", "audit trail: models, site timeline, evidence bundles",
     cairn__ctl_audit},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairnctl <verb> [options]   (cairnctl <verb> --help)\n\n"
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
