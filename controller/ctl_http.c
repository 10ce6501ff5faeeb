/* One HTTP request for a cairnctl verb: libcairn's client on a private
 * loop, run to completion (cairnctl has nothing else to do meanwhile). */
#include <stdlib.h>
#include <string.h>

#include "cairn/httpc.h"
#include "cairn/mem.h"
#include "ctl.h"

#define CTL_BODY_MAX (16u << 20)

struct call {
    int err;
    long status;
    char *body;
    size_t len;
    struct cairn_diag *d;
};

static void on_done(struct cairn_httpc_req *r,
                    const struct cairn_httpc_result *res, void *arg)
{
    struct call *c = arg;

    (void)r;
    c->err = res->err;
    c->status = res->head.status;
    if (res->err) {
        cairn_diag_set(c->d, res->err, "%s", res->msg);
        return;
    }
    c->body = cairn_xmalloc(res->body_len + 1);
    memcpy(c->body, res->body ? res->body : "", res->body_len);
    c->body[res->body_len] = '\0';
    c->len = res->body_len;
}

int cairn__ctl_http(const char *method, const char *url,
                    const char *const *headers, const void *body, size_t len,
                    long *status, char **out, size_t *out_len,
                    struct cairn_diag *d)
{
    struct cairn_httpc_request rq;
    struct cairn_httpc *h = NULL;
    struct call c = {0, 0, NULL, 0, d};
    uv_loop_t loop;
    int rc;

    uv_loop_init(&loop);
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.url = url;
    rq.headers = headers;
    rq.body = body;
    rq.body_len = len;
    rq.max_body = CTL_BODY_MAX;
    rq.timeout_ms = 30000;
    rc = cairn_httpc_new(&loop, NULL, &h, d);
    if (rc == 0)
        rc = cairn_httpc_start(h, &rq, on_done, &c, NULL, d);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    if (h)
        cairn_httpc_close(h, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    if (rc == 0)
        rc = c.err;
    if (rc) {
        free(c.body);
        return rc;
    }
    *status = c.status;
    *out = c.body;
    if (out_len)
        *out_len = c.len;
    return 0;
}

char *cairn__ctl_controller_url(const char *opt)
{
    const char *env = getenv("CAIRN_CONTROLLER");
    const char *u = opt ? opt : env && *env ? env : "http://127.0.0.1:8440";
    size_t n = strlen(u);

    while (n > 0 && u[n - 1] == '/')
        n--;
    return cairn_xstrndup(u, n);
}
