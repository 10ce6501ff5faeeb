/*
 * agent_dl_bench: one artifact download through the agent's own download
 * module (agent/download.c) and HTTP client, set up as cairn-agent sets
 * them up (same client options, same thread pool size, the agent's default
 * download limits), for tests/bench/agent. It times nothing itself: the
 * bench times the whole process, exactly as it times the curl pipelines.
 *
 *   agent_dl_bench STATE_DIR URL SHA256 SIZE
 *
 * On success the blob is installed, verified and durable as
 * STATE_DIR/blobs/sha256/SHA256; prints "ok PATH BYTES ATTEMPTS DIRECT"
 * (DIRECT: bytes written with O_DIRECT). Exit 1
 * on a failed download (the reason on stderr), 2 on usage errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "agent.h"
#include "cairn/httpc.h"
#include "download.h"

struct run {
    struct cairn_httpc *http;
    int rc;
};

static void on_done(struct cairn_download *dl,
                    const struct cairn_download_result *res, void *arg)
{
    struct run *r = arg;

    (void)dl;
    if (res->err) {
        fprintf(stderr, "agent_dl_bench: %s\n", res->msg);
        r->rc = 1;
    } else {
        printf("ok %s %" PRIu64 " %u %" PRIu64 "\n", res->blob_path,
               res->bytes_fetched, res->attempts, res->direct_bytes);
    }
    cairn_httpc_close(r->http, NULL, NULL);
}

int main(int argc, char **argv)
{
    struct cairn_httpc_opts ho = {0};
    struct cairn_download_opts o = {0};
    struct run r = {0};
    struct cairn_diag d;
    uv_loop_t loop;
    const char *url;
    char *end;

    if (argc != 5) {
        fprintf(stderr, "usage: agent_dl_bench STATE_DIR URL SHA256 SIZE\n");
        return 2;
    }
    url = argv[2];
    o.state_dir = argv[1];
    o.sha256 = argv[3];
    o.size = strtoull(argv[4], &end, 10);
    o.urls = &url;
    o.n_urls = 1;
    if (*end || o.size == 0) {
        fprintf(stderr, "agent_dl_bench: bad size %s\n", argv[4]);
        return 2;
    }
    cairn_agent_process_init(); /* the pool size cairn-agent runs with */
    if (uv_loop_init(&loop) != 0)
        return 1;
    ho.user_agent = "cairn-agent/" CAIRN_VERSION;
    cairn_diag_init(&d);
    if (cairn_httpc_new(&loop, &ho, &r.http, &d) != 0 ||
        cairn_download_start(r.http, &o, on_done, &r, NULL, &d) != 0) {
        fprintf(stderr, "agent_dl_bench: %s\n", cairn_diag_msg(&d));
        return 2;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "agent_dl_bench: the loop still had handles\n");
    return r.rc;
}
