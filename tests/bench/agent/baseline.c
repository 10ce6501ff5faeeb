/*
 * agent_baseline: the peer of cairn-agent in tests/bench/agent. A bare C
 * program that links what the agent links (libcurl with OpenSSL, libuv,
 * libsodium, jansson, libyaml), makes one https request and then idles on
 * a libuv loop with the connection kept open, so that its RSS, PSS and
 * private memory show what those libraries cost before any agent code.
 *
 *   agent_baseline URL CAFILE
 *
 * Prints "ready STATUS" on stdout once the answer is in, then waits for
 * SIGTERM or SIGINT. Exit 0 after a signal, 1 when the request failed.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <uv.h>
#include <yaml.h>

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    size_t *total = arg;

    (void)p;
    *total += size * n;
    return size * n;
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_stop(s->loop);
}

/* Touch each library once, as the agent does at start, so that --as-needed
 * keeps it and its start-up cost is paid. */
static int touch_libraries(void)
{
    yaml_parser_t parser;
    json_t *j;
    int rc = 0;

    if (sodium_init() < 0)
        rc = -1;
    if (!yaml_parser_initialize(&parser))
        rc = -1;
    else
        yaml_parser_delete(&parser);
    j = json_loads("{\"ok\": true}", 0, NULL);
    if (!j)
        rc = -1;
    json_decref(j);
    return rc;
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    uv_signal_t sig_term, sig_int;
    CURL *h;
    CURLcode rc;
    long status = 0;
    size_t total = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: agent_baseline URL CAFILE\n");
        return 2;
    }
    if (touch_libraries() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "agent_baseline: library start-up failed\n");
        return 1;
    }
    h = curl_easy_init();
    if (!h)
        return 1;
    curl_easy_setopt(h, CURLOPT_URL, argv[1]);
    curl_easy_setopt(h, CURLOPT_CAINFO, argv[2]);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &total);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "agent_baseline: %s: %s\n", argv[1],
                curl_easy_strerror(rc));
        return 1;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    printf("ready %ld %zu\n", status, total);
    fflush(stdout);
    /* Idle with the connection cached in the handle, like an agent
     * between requests. */
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return 0;
}
