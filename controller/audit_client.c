/*
 * The controller's audit endpoints from cairnctl (docs/protocol.md
 * "Audit"): GET .../history and .../reports, every page followed. The
 * HTTP client is libcairn's (libuv + libcurl); cairnctl runs a private
 * loop until each request completes, so the verbs read as plain blocking
 * code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "audit.h"
#include "cairn/fs.h"
#include "cairn/httpc.h"
#include "cairn/json.h"
#include "cairn/mem.h"

#define PAGE_LIMIT 500

int cairn__audit_token(struct cairn__audit_remote *r, const char *path,
                       struct cairn_diag *d)
{
    char *t = NULL;
    int rc = cairn_fs_read(path, 4096, &t, NULL, d);

    if (rc)
        return rc;
    t[strcspn(t, "\r\n")] = '\0';
    if (!t[0]) {
        free(t);
        return cairn_diag_set(d, CAIRN_EPARSE, "%s: empty token file", path);
    }
    r->token = t;
    return 0;
}

struct session {
    uv_loop_t loop;
    struct cairn_httpc *http;
    const struct cairn__audit_remote *r;
};

struct get {
    int done, err;
    long status;
    char *body;
    size_t len;
    char msg[512];
};

static void on_done(struct cairn_httpc_req *req,
                    const struct cairn_httpc_result *res, void *arg)
{
    struct get *g = arg;

    (void)req;
    g->done = 1;
    g->err = res->err;
    g->status = res->head.status;
    snprintf(g->msg, sizeof(g->msg), "%s", res->msg);
    g->body = cairn_xmalloc(res->body_len + 1);
    memcpy(g->body, res->body ? res->body : "", res->body_len);
    g->body[res->body_len] = '\0';
    g->len = res->body_len;
}

/* The controller's {"error": ...} text, or the body's start. */
static void error_text(const struct get *g, char *out, size_t n)
{
    json_t *v = NULL;

    if (cairn_json_parse(g->body, g->len, g->len, &v, NULL) == 0 &&
        json_is_string(json_object_get(v, "error")))
        snprintf(out, n, "%s", json_string_value(json_object_get(v, "error")));
    else
        snprintf(out, n, "%.200s", g->body);
    json_decref(v);
}

/* GET base+path as JSON. */
static int get_json(struct session *s, const char *path, json_t **out,
                    struct cairn_diag *d)
{
    char *url = cairn_xasprintf("%s%s", s->r->base, path);
    char *auth = s->r->token
                     ? cairn_xasprintf("Authorization: Bearer %s", s->r->token)
                     : NULL;
    const char *headers[] = {"Accept: application/json", auth, NULL};
    struct cairn_httpc_request rq;
    struct get g;
    char why[256];
    int rc;

    memset(&rq, 0, sizeof(rq));
    memset(&g, 0, sizeof(g));
    rq.url = url;
    rq.headers = headers;
    rq.max_body = CAIRN_AUDIT_MAX_PAGE;
    rq.timeout_ms = s->r->timeout_ms;
    rc = cairn_httpc_start(s->http, &rq, on_done, &g, NULL, d);
    while (rc == 0 && !g.done)
        uv_run(&s->loop, UV_RUN_ONCE);
    if (rc == 0 && g.err)
        rc = cairn_diag_set(d, g.err, "%s", g.msg);
    else if (rc == 0 && g.status != 200) {
        error_text(&g, why, sizeof(why));
        rc = cairn_diag_set(d, CAIRN_EHTTP, "GET %s: %ld %s", url, g.status,
                            why);
    } else if (rc == 0 && (rc = cairn_json_parse(g.body, g.len,
                                                 CAIRN_AUDIT_MAX_PAGE, out, d)))
        cairn_diag_prefix(d, "GET %s", url);
    free(g.body);
    free(auth);
    free(url);
    return rc;
}

static int valid_site(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-'))
            return 0;
    return 1;
}

static int is_hex40(const char *s)
{
    if (!s || strlen(s) != 40)
        return 0;
    for (size_t i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The shape the verbs rely on (docs/protocol.md "Audit"), so that they can
 * read fields without checking each. */
static int valid_item(const char *key, json_t *it)
{
    json_t *env = json_object_get(it, "envelope");

    if (!json_is_object(it))
        return 0;
    if (strcmp(key, "generations") == 0)
        return json_is_integer(json_object_get(it, "generation")) &&
               is_hex40(json_string_value(json_object_get(it, "commit"))) &&
               json_is_string(json_object_get(it, "issued")) &&
               json_is_boolean(json_object_get(it, "removed")) &&
               (json_is_null(env) || json_is_object(env));
    return json_is_integer(json_object_get(it, "seq")) &&
           json_is_string(json_object_get(it, "received")) &&
           json_is_object(env);
}

static int valid_page(const char *key, json_t *page)
{
    json_t *list = json_object_get(page, key), *it,
           *sk = json_object_get(page, "siteKey");
    size_t i;

    if (!json_is_array(list) ||
        !json_is_object(json_object_get(page, "receipt")))
        return 0;
    if (sk && !json_is_null(sk) &&
        (!json_is_string(json_object_get(sk, "publicKey")) ||
         !is_hex40(json_string_value(json_object_get(sk, "commit")))))
        return 0;
    json_array_foreach(list, i, it) if (!valid_item(key, it)) return 0;
    return 1;
}

/* Follow the pages of one listing: items of each page's `key` appended to
 * items, each page's receipt to receipts; the first page is kept in
 * *first (for fields outside the list). */
static int pages(struct session *s, const char *site, const char *what,
                 const char *key, json_t *items, json_t *receipts,
                 json_t **first, struct cairn_diag *d)
{
    json_int_t after = 0;
    int rc = 0;

    for (unsigned n = 0; rc == 0; n++) {
        char *path = cairn_xasprintf("/v1/sites/%s/%s?after=%lld&limit=%d",
                                     site, what, (long long)after, PAGE_LIMIT);
        json_t *page = NULL, *next;

        rc = n < CAIRN_AUDIT_MAX_PAGES
                 ? get_json(s, path, &page, d)
                 : cairn_diag_set(d, CAIRN_ETOOBIG, "%s: over %u pages", what,
                                  CAIRN_AUDIT_MAX_PAGES);
        free(path);
        if (rc)
            break;
        next = json_object_get(page, "next");
        if (!valid_page(key, page) ||
            !(json_is_null(next) ||
              (json_is_integer(next) && json_integer_value(next) > after)))
            rc =
                cairn_diag_set(d, CAIRN_EPARSE, "%s: malformed page after %lld",
                               what, (long long)after);
        else {
            json_array_extend(items, json_object_get(page, key));
            json_array_append(receipts, json_object_get(page, "receipt"));
        }
        if (rc == 0 && !*first)
            *first = json_incref(page);
        if (rc == 0 && json_is_null(next)) {
            json_decref(page);
            break;
        }
        after = rc ? after : json_integer_value(next);
        json_decref(page);
    }
    return rc;
}

static void closed(void *arg)
{
    (void)arg;
}

int cairn__audit_fetch(const struct cairn__audit_remote *r, const char *site,
                       json_t **history, json_t **reports, struct cairn_diag *d)
{
    struct session s;
    json_t *gens = json_array(), *reps = json_array(), *hr = json_array(),
           *rr = json_array();
    json_t *first = NULL, *rfirst = NULL;
    int rc;

    if (!valid_site(site)) {
        json_decref(gens), json_decref(reps), json_decref(hr), json_decref(rr);
        return cairn_diag_set(d, CAIRN_EINVAL, "'%s' is not a site name", site);
    }
    memset(&s, 0, sizeof(s));
    s.r = r;
    uv_loop_init(&s.loop);
    rc = cairn_httpc_new(&s.loop, NULL, &s.http, d);
    if (rc == 0)
        rc = pages(&s, site, "history", "generations", gens, hr, &first, d);
    if (rc == 0)
        rc = pages(&s, site, "reports", "reports", reps, rr, &rfirst, d);
    if (s.http) {
        cairn_httpc_close(s.http, closed, NULL);
        uv_run(&s.loop, UV_RUN_DEFAULT);
    }
    (void)uv_loop_close(&s.loop);
    if (rc == 0) {
        json_t *key = json_object_get(first, "siteKey");

        *history = json_pack("{s:s,s:O,s:O,s:O}", "site", site, "siteKey",
                             key ? key : json_null(), "generations", gens,
                             "receipts", hr);
        *reports = json_pack("{s:O,s:O}", "reports", reps, "receipts", rr);
    }
    json_decref(first);
    json_decref(rfirst);
    json_decref(gens);
    json_decref(reps);
    json_decref(hr);
    json_decref(rr);
    return rc;
}
