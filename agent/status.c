/*
 * cairn-agent status: what runs now, read from the state directory:
 * state.json (the durable truth: generations, pending update, failures),
 * status.json (refreshed by the daemon at every report: workers, health,
 * controller reachability) and outbox/ (reports not yet acknowledged).
 * Works whether or not the daemon runs; says which.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "state.h"

#define STATUS_CAP (1024 * 1024)

static size_t count_reports(const char *state_dir)
{
    char *dir = cairn_xasprintf("%s/outbox", state_dir);
    DIR *dh = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (dh && (de = readdir(dh)) != NULL)
        n += strlen(de->d_name) == 27 && strcmp(de->d_name + 22, ".dsse") == 0;
    if (dh)
        closedir(dh);
    free(dir);
    return n;
}

/* status.json or NULL when absent/unreadable. */
static json_t *load_status(const char *state_dir)
{
    char *path = cairn_xasprintf("%s/status.json", state_dir), *text = NULL;
    json_t *v = NULL;
    size_t len = 0;

    if (cairn_fs_read(path, STATUS_CAP, &text, &len, NULL) == 0 &&
        cairn_json_parse(text, len, STATUS_CAP, &v, NULL) != 0)
        v = NULL;
    free(text);
    free(path);
    return v;
}

static int daemon_alive(json_t *status)
{
    json_int_t pid = json_integer_value(json_object_get(status, "pid"));

    return pid > 0 && pid <= INT32_MAX &&
           (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static json_t *summary(const struct cairn_agent_config *cfg,
                       const struct cairn_state *st, json_t *status)
{
    json_t *failed = json_array(), *out;

    for (size_t i = 0; i < st->nfailed; i++)
        json_array_append_new(failed, json_integer(st->failed[i]));
    out = json_pack("{s:s,s:s,s:{s:I,s:I,s:I},s:o,s:I,s:s,s:b}", "site",
                    cfg->site, "controller", cfg->controller, "generation",
                    "applied", (json_int_t)cairn_state_doc_gen(st->applied),
                    "accepted", (json_int_t)st->accepted_gen, "lastKnownGood",
                    (json_int_t)cairn_state_doc_gen(st->lkg), "failed", failed,
                    "queuedReports", (json_int_t)count_reports(cfg->state_dir),
                    "lastError", st->last_error, "daemonRunning",
                    status && daemon_alive(status));
    if (st->phase != CAIRN_PHASE_NONE)
        json_object_set_new(out, "pending",
                            json_pack("{s:I,s:s,s:I,s:s}", "generation",
                                      (json_int_t)st->pending_gen, "phase",
                                      cairn_phase_name(st->phase), "attempts",
                                      (json_int_t)st->attempts, "reason",
                                      st->reason));
    if (status)
        json_object_set(out, "daemon", status);
    return out;
}

static void print_workload(json_t *w)
{
    json_t *m = json_object_get(w, "model"),
           *metrics = json_object_get(w, "metrics");
    const char *exitv = json_string_value(json_object_get(w, "lastExit"));
    const char *k;
    json_t *v;

    printf("  %s: ", json_string_value(json_object_get(w, "name")));
    if (m)
        printf("model %s %s (sha256 %.12s), ",
               json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "version")),
               json_string_value(json_object_get(m, "sha256")));
    printf("%s, %s, restarts %" JSON_INTEGER_FORMAT ", last exit %s\n",
           json_string_value(json_object_get(w, "state")),
           json_string_value(json_object_get(w, "health")),
           json_integer_value(json_object_get(w, "restarts")),
           exitv ? exitv : "-");
    json_object_foreach(metrics, k, v)
        printf("    %s %g\n", k, json_number_value(v));
}

static void print_head(json_t *s, int running)
{
    json_t *dmn = json_object_get(s, "daemon"),
           *ctl = json_object_get(dmn, "controller");
    const char *seen = running ? "" : "last known: ";

    printf("site:           %s\n",
           json_string_value(json_object_get(s, "site")));
    printf("daemon:         %s", running ? "running" : "not running");
    if (dmn)
        printf(" (status of %s)",
               json_string_value(json_object_get(dmn, "time")));
    printf("\ncontroller:     %s (%s%s)\n",
           json_string_value(json_object_get(s, "controller")), ctl ? seen : "",
           !ctl                                              ? "unknown"
           : json_is_true(json_object_get(ctl, "connected")) ? "connected"
                                                             : "unreachable");
}

static void print_text(json_t *s)
{
    json_t *g = json_object_get(s, "generation"),
           *p = json_object_get(s, "pending");
    json_t *dmn = json_object_get(s, "daemon"), *w, *f;
    int running = json_is_true(json_object_get(s, "daemonRunning"));
    size_t i;

    print_head(s, running);
    printf("generation:     applied %" JSON_INTEGER_FORMAT
           ", accepted %" JSON_INTEGER_FORMAT
           ", last-known-good %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(g, "applied")),
           json_integer_value(json_object_get(g, "accepted")),
           json_integer_value(json_object_get(g, "lastKnownGood")));
    if (p)
        printf("update:         generation %" JSON_INTEGER_FORMAT
               ": %s (attempt %" JSON_INTEGER_FORMAT ")%s%s\n",
               json_integer_value(json_object_get(p, "generation")),
               json_string_value(json_object_get(p, "phase")),
               json_integer_value(json_object_get(p, "attempts")),
               json_string_length(json_object_get(p, "reason")) ? ": " : "",
               json_string_value(json_object_get(p, "reason")));
    printf("failed:        ");
    json_array_foreach(json_object_get(s, "failed"), i, f)
        printf(" %" JSON_INTEGER_FORMAT, json_integer_value(f));
    printf("%s\nworkloads%s:\n",
           json_array_size(json_object_get(s, "failed")) ? "" : " none",
           running ? "" : " (as last reported by the daemon)");
    json_array_foreach(json_object_get(dmn, "workloads"), i, w)
        print_workload(w);
    printf("last error:     %s\n",
           json_string_length(json_object_get(s, "lastError"))
               ? json_string_value(json_object_get(s, "lastError"))
               : "none");
    printf("queued reports: %" JSON_INTEGER_FORMAT "\n",
           json_integer_value(json_object_get(s, "queuedReports")));
}

int cairn_agent_status_main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char usage[] =
        "usage: cairn-agent status [--config FILE] [--json]\n"
        "\n"
        "What this site runs now, from the agent's state directory: the\n"
        "generation applied, the model per workload, worker state, the last\n"
        "error and the reports still queued for the controller.\n"
        "\n"
        "  --config FILE  the agent's config "
        "(default " CAIRN_AGENT_DEFAULT_CONFIG ")\n"
        "  --json         one JSON object instead of the text\n";
    const char *path = CAIRN_AGENT_DEFAULT_CONFIG;
    struct cairn_agent_config cfg;
    struct cairn_state st;
    struct cairn_diag d;
    json_t *status, *s;
    char *text;
    int c, as_json = 0;

    while ((c = getopt_long(argc, argv, "c:jh", longs, NULL)) != -1) {
        if (c == 'c')
            path = optarg;
        else if (c == 'j')
            as_json = 1;
        else if (c == 'h')
            return fputs(usage, stdout), 0;
        else
            return fputs(usage, stderr), 2;
    }
    cairn_diag_init(&d);
    if (cairn_agent_config_load(path, &cfg, &d) != 0) {
        fprintf(stderr, "cairn-agent status: %s\n", cairn_diag_msg(&d));
        return 2;
    }
    if (cairn_state_load(cfg.state_dir, &st, &d) != 0) {
        fprintf(stderr, "cairn-agent status: %s\n", cairn_diag_msg(&d));
        cairn_agent_config_free(&cfg);
        return 1;
    }
    status = load_status(cfg.state_dir);
    s = summary(&cfg, &st, status);
    if (as_json) {
        text = cairn_json_canonical(s);
        printf("%s\n", text);
        free(text);
    } else {
        print_text(s);
    }
    json_decref(s);
    json_decref(status);
    cairn_state_free(&st);
    cairn_agent_config_free(&cfg);
    return 0;
}
