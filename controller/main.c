/* cairn-controller: argv -> options -> cairn_controller_run(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/log.h"
#include "cairn/mem.h"
#include "ctl.h"
#include "daemon.h"

#define MAX_SETTINGS 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairn-controller [--config FILE] [--repo PATH_OR_URL] "
            "[--listen HOST:PORT]\n"
            "                        [--state-dir DIR] [--set KEY=VALUE]... "
            "[--port-file FILE]\n"
            "       cairn-controller --print-config [options] | "
            "--print-config-doc\n"
            "\n"
            "Renders the fleet repository into signed desired states and "
            "serves them,\n"
            "with sessions, reports, uploads, artifacts and fleet status "
            "(docs/protocol.md).\n"
            "Settings come from the YAML --config file, then "
            "--repo/--listen/--state-dir/--set.\n"
            "  --print-config      print the effective configuration and exit\n"
            "  --print-config-doc  print the table of configuration keys "
            "(Markdown) and exit\n");
}

struct args {
    struct cairn_controller_opts o;
    struct cairn_ctrl_setting set[MAX_SETTINGS];
    int print, doc;
};

static int add_setting(struct args *a, const char *key, char *value)
{
    if (a->o.nset == MAX_SETTINGS) {
        fprintf(stderr, "cairn-controller: too many settings\n");
        return -1;
    }
    a->set[a->o.nset].key = key;
    a->set[a->o.nset++].value = value;
    return 0;
}

static int add_kv(struct args *a, char *kv)
{
    char *eq = strchr(kv, '=');

    if (!eq || eq == kv) {
        fprintf(stderr, "cairn-controller: --set wants KEY=VALUE, got '%s'\n",
                kv);
        return -1;
    }
    *eq = '\0';
    return add_setting(a, kv, eq + 1);
}

static int parse(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"repo", required_argument, NULL, 'r'},
        {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 's'},
        {"set", required_argument, NULL, 'S'},
        {"port-file", required_argument, NULL, 'p'},
        {"print-config", no_argument, NULL, 'P'},
        {"print-config-doc", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch, rc = 0;

    while (rc == 0 &&
           (ch = getopt_long(argc, argv, "c:r:l:s:S:p:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            a->o.config_path = optarg;
            break;
        case 'r':
            rc = add_setting(a, "repo", optarg);
            break;
        case 'l':
            rc = add_setting(a, "listen", optarg);
            break;
        case 's':
            rc = add_setting(a, "stateDir", optarg);
            break;
        case 'S':
            rc = add_kv(a, optarg);
            break;
        case 'p':
            a->o.port_file = optarg;
            break;
        case 'P':
            a->print = 1;
            break;
        case 'D':
            a->doc = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("cairn-controller %s\n", cairn__version());
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "cairn-controller: unexpected argument '%s'\n",
                argv[optind]);
        rc = -1;
    }
    return rc;
}

static int print_config(const struct args *a)
{
    struct cairn_ctrl_config cfg;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_ctrl_config_load(a->o.config_path, a->o.set, a->o.nset, &cfg,
                               &d) != 0) {
        fprintf(stderr, "cairn-controller: %s\n", cairn_diag_msg(&d));
        return 2;
    }
    cairn_ctrl_config_print(&cfg, stdout);
    cairn_ctrl_config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    struct args a;

    memset(&a, 0, sizeof(a));
    cairn_log_init("cairn-controller");
    if (parse(argc, argv, &a) != 0)
        return 2;
    a.o.set = a.set;
    if (a.doc) {
        cairn_ctrl_config_print_doc(stdout);
        return 0;
    }
    if (a.print)
        return print_config(&a);
    return cairn_controller_run(&a.o);
}
