/*
 * cairn-agent: argv -> config -> cairn_agent_run(). Subcommands init and
 * status live in init.c and status.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "cairn/hash.h"
#include "cairn/log.h"

/* libcurl's Debian build links librtmp, which links GnuTLS, whose library
 * constructor initialises GnuTLS in every process that maps it: about
 * 1 MiB of resident pages (and /dev/urandom, PKCS#11 set-up) for a TLS
 * library the agent never uses (its requests are http and https only,
 * through OpenSSL). GnuTLS's documented opt-out (GNUTLS_SKIP_GLOBAL_INIT
 * in gnutls.h) is this symbol in the program; the linker exports it
 * (agent/CMakeLists.txt) so that it overrides GnuTLS's weak default. */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
    return 1;
}

static int usage(FILE *out, int code)
{
    fprintf(out,
            "usage: cairn-agent [run] [--config FILE]      run the daemon\n"
            "       cairn-agent init --site SITE --controller URL "
            "--trust-controller PUB\n"
            "                        --trust-publisher PUB [--state DIR] "
            "[--config FILE]\n"
            "       cairn-agent status [--config FILE] [--json]\n"
            "       cairn-agent config [--config FILE]     print the effective "
            "config\n"
            "       cairn-agent config --doc              print the config "
            "keys (Markdown)\n"
            "       cairn-agent version\n"
            "default config: " CAIRN_AGENT_DEFAULT_CONFIG "\n");
    return code;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"doc", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};

    /* first: before libcurl initialises OpenSSL (docs/agent.md
     * "Footprint") */
    cairn_crypto_skip_error_strings();
    const char *verb = argc > 1 && argv[1][0] != '-' ? argv[1] : "run";
    const char *path = CAIRN_AGENT_DEFAULT_CONFIG;
    struct cairn_agent_config cfg;
    struct cairn_diag d;
    int c, doc = 0, rc;

    cairn_log_init("cairn-agent");
    if (strcmp(verb, "init") == 0)
        return cairn_agent_init_main(argc - 1, argv + 1);
    if (strcmp(verb, "status") == 0)
        return cairn_agent_status_main(argc - 1, argv + 1);
    if (strcmp(verb, "version") == 0)
        return printf("cairn-agent %s\n", CAIRN_VERSION) < 0;
    if (strcmp(verb, "run") != 0 && strcmp(verb, "config") != 0)
        return usage(stderr, 2);
    if (argv[1] && argv[1][0] != '-')
        argc--, argv++;
    while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'd')
            doc = 1;
        else
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
    }
    if (optind < argc)
        return usage(stderr, 2);
    if (doc) {
        cairn_config_print_doc(cairn_agent_config_rows, stdout);
        return 0;
    }
    cairn_diag_init(&d);
    if (cairn_agent_config_load(path, &cfg, &d) != 0) {
        fprintf(stderr, "cairn-agent: %s\n", cairn_diag_msg(&d));
        return 2;
    }
    if (strcmp(verb, "config") == 0)
        cairn_config_print(cairn_agent_config_rows, &cfg, stdout);
    rc = strcmp(verb, "config") == 0 ? 0 : cairn_agent_run(&cfg);
    cairn_agent_config_free(&cfg);
    return rc;
}
