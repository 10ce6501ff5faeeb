/* One HTTP request for a cairnctl verb: libcairn's client on a private
 * loop, run to completion (cairnctl has nothing else to do meanwhile). */
#include <stdio.h>
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

int cairn__ctl_get_json(const char *verb, const char *base, const char *auth,
                        const char *path, json_t **out)
{
    const char *headers[] = {auth, NULL};
    char *url = cairn_xasprintf("%s%s", base, path), *body = NULL;
    long status = 0;
    struct cairn_diag d;
    json_error_t je;
    int rc = 0;

    cairn_diag_init(&d);
    if (cairn__ctl_http("GET", url, auth ? headers : NULL, NULL, 0, &status,
                        &body, NULL, &d) != 0) {
        cairn__ctl_err(verb, "%s", cairn_diag_msg(&d));
        rc = 2;
    } else if (status != 200) {
        json_t *e = json_loads(body, 0, NULL);
        const char *msg = json_string_value(json_object_get(e, "error"));

        cairn__ctl_err(verb, "%s: HTTP %ld: %.300s%s", url, status,
                       msg ? msg : body,
                       status == 401 ? " (operator token: --token-file)" : "");
        json_decref(e);
        rc = 1;
    } else if (!(*out = json_loads(body, 0, &je))) {
        cairn__ctl_err(verb, "%s: not JSON: %s", url, je.text);
        rc = 1;
    }
    free(url);
    free(body);
    return rc;
}

int cairn__ctl_operator_auth(const char *verb, const char *path, char **auth)
{
    struct cairn_diag d;
    char *tok = NULL;
    size_t len = 0;

    *auth = NULL;
    if (!path)
        path = getenv("CAIRN_OPERATOR_TOKEN_FILE");
    if (!path || !*path)
        return 0;
    cairn_diag_init(&d);
    if (cairn__ctl_read(path, 4096, &tok, &len, &d) != 0) {
        cairn__ctl_err(verb, "%s", cairn_diag_msg(&d));
        return 2;
    }
    tok[strcspn(tok, "\r\n")] = '\0';
    *auth = cairn_xasprintf("Authorization: Bearer %s", tok);
    free(tok);
    return 0;
}

void cairn__ctl_print_lines(const char *text, const char *indent, size_t max,
                            const char *hint)
{
    size_t shown = 0, more = 0;

    while (*text) {
        size_t n = strcspn(text, "\n");

        if (n && shown < max) {
            printf("%s%.*s\n", indent, (int)n, text);
            shown++;
        } else if (n) {
            more++;
        }
        text += n + (text[n] == '\n');
    }
    if (more)
        printf("%s... %zu more line(s) (see %s)\n", indent, more, hint);
}

const char *cairn__ctl_str(json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s && *s ? s : def;
}
