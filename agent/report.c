#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/dsse.h"
#include "cairn/fs.h"
#include "cairn/json.h"
#include "cairn/log.h"
#include "cairn/mem.h"
#include "cairn/schema.h"
#include "util.h"

#define SEND_TIMEOUT_MS 60000
#define ANSWER_CAP (16 * 1024)

/* ---- outbox -------------------------------------------------------------- */

static char *entry_path(const struct cairn_outbox *ob, int64_t seq, int event)
{
    return cairn_xasprintf("%s/%020" PRId64 ".%c.dsse", ob->dir, seq,
                           event ? 'e' : 's');
}

/* "<20 digits>.<e|s>.dsse" -> seq, event; -1 for other names. */
static int parse_name(const char *name, int64_t *seq, int *event)
{
    int64_t v = 0;

    if (strlen(name) != 27 || name[20] != '.' ||
        (name[21] != 'e' && name[21] != 's') || strcmp(name + 22, ".dsse") != 0)
        return -1;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (name[i] - '0');
    }
    if (v < 1)
        return -1;
    *seq = v;
    *event = name[21] == 'e';
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct cairn_outbox_entry *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void push(struct cairn_outbox *ob, int64_t seq, int event)
{
    if (ob->n == ob->alloc) {
        ob->alloc = ob->alloc ? ob->alloc * 2 : 16;
        ob->e = cairn_xrealloc(ob->e, ob->alloc * sizeof(*ob->e));
    }
    ob->e[ob->n].seq = seq;
    ob->e[ob->n].event = event;
    ob->n++;
}

static int scan(struct cairn_outbox *ob, struct cairn_diag *d)
{
    DIR *dir = opendir(ob->dir);
    struct dirent *de;
    int64_t seq;
    int event;

    if (!dir)
        return cairn_diag_set(d, CAIRN_EIO, "%s: %s", ob->dir, strerror(errno));
    while ((de = readdir(dir)) != NULL) {
        if (parse_name(de->d_name, &seq, &event) == 0) {
            push(ob, seq, event);
        } else if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp.")) {
            /* a crash's leftover from a durable write: never complete */
            char *p = cairn_xasprintf("%s/%s", ob->dir, de->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(dir);
    if (ob->n > 1)
        qsort(ob->e, ob->n, sizeof(*ob->e), cmp_entry);
    return 0;
}

int cairn_outbox_open(struct cairn_outbox *ob, const char *dir, size_t max,
                      struct cairn_diag *d)
{
    int rc;

    memset(ob, 0, sizeof(*ob));
    ob->dir = cairn_xstrdup(dir);
    ob->max = max < 2 ? 2 : max;
    rc = cairn_fs_mkdir_p(dir, 0700, d);
    if (rc == 0)
        rc = scan(ob, d);
    if (rc)
        cairn_outbox_close(ob);
    return rc;
}

void cairn_outbox_close(struct cairn_outbox *ob)
{
    if (!ob)
        return;
    free(ob->dir);
    free(ob->e);
    memset(ob, 0, sizeof(*ob));
}

size_t cairn_outbox_count(const struct cairn_outbox *ob)
{
    return ob->n;
}

int64_t cairn_outbox_max_seq(const struct cairn_outbox *ob)
{
    return ob->n ? ob->e[ob->n - 1].seq : 0;
}

static int unlink_entry(struct cairn_outbox *ob, size_t i)
{
    char *p = entry_path(ob, ob->e[i].seq, ob->e[i].event);
    int rc = unlink(p) == 0 || errno == ENOENT ? 0 : CAIRN_EIO;

    free(p);
    if (rc == 0) {
        memmove(ob->e + i, ob->e + i + 1, (ob->n - i - 1) * sizeof(*ob->e));
        ob->n--;
    }
    return rc;
}

/* Older plain status reports say less than the newest: drop them. */
static void coalesce(struct cairn_outbox *ob)
{
    for (size_t i = 0; i + 1 < ob->n;) {
        if (!ob->e[i].event && ob->e[i].seq != ob->busy_seq &&
            unlink_entry(ob, i) == 0)
            continue;
        i++;
    }
}

/* Index of the oldest droppable entry of this kind, or n. */
static size_t oldest(const struct cairn_outbox *ob, int event)
{
    for (size_t i = 0; i + 1 < ob->n; i++) /* never the newest */
        if (ob->e[i].event == event && ob->e[i].seq != ob->busy_seq)
            return i;
    return ob->n;
}

static void apply_cap(struct cairn_outbox *ob)
{
    while (ob->n > ob->max) {
        size_t i = oldest(ob, 0);
        if (i == ob->n)
            i = oldest(ob, 1);
        if (i == ob->n || unlink_entry(ob, i) != 0)
            return;
        ob->dropped++;
    }
}

int cairn_outbox_put(struct cairn_outbox *ob, int64_t seq, int event,
                     const char *env, size_t len, struct cairn_diag *d)
{
    char *p;
    int rc;

    if (seq <= cairn_outbox_max_seq(ob))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "report seq %" PRId64
                              " is not above the outbox's %" PRId64,
                              seq, cairn_outbox_max_seq(ob));
    p = entry_path(ob, seq, event);
    rc = cairn_fs_write_durable(p, env, len, 0600, d);
    free(p);
    if (rc)
        return rc;
    push(ob, seq, event);
    if (!event)
        coalesce(ob);
    apply_cap(ob);
    /* One fsync of the directory covers the unlinks above. */
    return cairn_fs_fsync_dir(ob->dir, d);
}

int cairn_outbox_head(struct cairn_outbox *ob, int64_t *seq, char **env,
                      size_t *len, struct cairn_diag *d)
{
    char *p;
    int rc;

    if (ob->n == 0)
        return CAIRN_ENOENT;
    p = entry_path(ob, ob->e[0].seq, ob->e[0].event);
    rc = cairn_fs_read(p, CAIRN_REPORT_CAP, env, len, d);
    free(p);
    if (rc == 0)
        *seq = ob->e[0].seq;
    return rc;
}

int cairn_outbox_remove(struct cairn_outbox *ob, int64_t seq,
                        struct cairn_diag *d)
{
    for (size_t i = 0; i < ob->n; i++)
        if (ob->e[i].seq == seq) {
            if (unlink_entry(ob, i) != 0)
                return cairn_diag_set(d, CAIRN_EIO,
                                      "%s: cannot remove report %" PRId64,
                                      ob->dir, seq);
            return cairn_fs_fsync_dir(ob->dir, d);
        }
    return 0;
}

/* ---- payload ------------------------------------------------------------- */

/* Compiled for each report and freed after it, rather than kept: a few
 * hundred microseconds every reportIntervalSeconds against 50 KiB held for
 * good (docs/agent.md, "Footprint"). */
static struct cairn_schema *report_schema(void)
{
    struct cairn_schema *schema = NULL;

    return cairn_schema_embedded("report.schema.json", &schema, NULL) == 0
               ? schema
               : NULL;
}

/* A string cut to at most max bytes, at a UTF-8 character boundary. */
static json_t *cut_string(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return json_stringn(s, n);
}

static json_t *event_json(const struct cairn_report_event *ev)
{
    json_t *e = json_object();

    json_object_set_new(e, "type", json_string(ev->type));
    json_object_set_new(e, "generation", json_integer(ev->generation));
    if (ev->reason)
        json_object_set_new(e, "reason", cut_string(ev->reason, 2048));
    return e;
}

json_t *cairn_report_payload(const struct cairn_report_input *in,
                             struct cairn_diag *d)
{
    json_t *p = json_object(), *gen;
    struct cairn_schema *schema;
    char now[CAIRN_TIME_LEN];

    cairn__time_format(in->time, now);
    gen =
        json_pack("{s:I,s:I,s:I}", "applied", (json_int_t)in->applied, "served",
                  (json_int_t)in->served, "lastKnownGood", (json_int_t)in->lkg);
    json_object_set_new(gen, "commit",
                        in->commit ? json_string(in->commit) : json_null());
    json_object_set_new(p, "kind", json_string("cairn.report/v1"));
    json_object_set_new(p, "site", json_string(in->site));
    json_object_set_new(p, "seq", json_integer(in->seq));
    json_object_set_new(p, "time", json_string(now));
    json_object_set_new(p, "agentVersion", json_string(CAIRN_VERSION));
    json_object_set_new(p, "generation", gen);
    json_object_set_new(p, "workloads",
                        in->workloads ? json_incref(in->workloads)
                                      : json_array());
    if (in->event)
        json_object_set_new(p, "event", event_json(in->event));
    if (in->conditions && json_array_size(in->conditions))
        json_object_set(p, "conditions", in->conditions);
    if (in->free_bytes >= 0)
        json_object_set_new(
            p, "disk",
            json_pack("{s:I}", "freeBytes", (json_int_t)in->free_bytes));
    schema = report_schema();
    if (!schema || cairn_schema_validate(schema, p, NULL, NULL, NULL, d) != 0) {
        cairn_diag_set(d, CAIRN_ESCHEMA, "the built-in schema is broken");
        cairn_diag_prefix(d, "report does not match report.schema.json");
        cairn_schema_free(schema);
        json_decref(p);
        return NULL;
    }
    cairn_schema_free(schema);
    return p;
}

char *cairn_report_sign(const json_t *payload, const struct cairn_seckey *key)
{
    const struct cairn_seckey *keys[] = {key};
    char *text = cairn_json_canonical(payload);
    char *env = cairn_dsse_sign(CAIRN_DSSE_REPORT, (const uint8_t *)text,
                                strlen(text), keys, 1);

    free(text);
    return env;
}

/* ---- delivery ------------------------------------------------------------ */

static void send_head(struct cairn_reporter *r);

static void on_timer(uv_timer_t *t)
{
    struct cairn_reporter *r =
        cairn_container_of(t, struct cairn_reporter, timer);

    r->waiting = 0;
    send_head(r);
}

static void retry_later(struct cairn_reporter *r, const char *why)
{
    uint32_t delay = cairn_backoff_next(&r->backoff);

    snprintf(r->last_error, sizeof(r->last_error), "%.200s", why);
    LOG_WARN("reports: %s; %zu queued, retrying in %u ms", why,
             cairn_outbox_count(r->ob), delay);
    r->waiting = 1;
    uv_timer_start(&r->timer, on_timer, delay, 0);
}

/* The report with seq can never be delivered: drop it, go on. */
static void undeliverable(struct cairn_reporter *r, int64_t seq, long status,
                          const char *body)
{
    LOG_ERROR("reports: the controller refused report %" PRId64
              " (HTTP %ld: %.200s); "
              "dropping it",
              seq, status, body);
    if (cairn_outbox_remove(r->ob, seq, NULL) != 0)
        retry_later(r, "cannot remove a refused report");
    else
        send_head(r);
}

static void sent(struct cairn_httpc_req *rq,
                 const struct cairn_httpc_result *res, void *arg)
{
    struct cairn_reporter *r = arg;
    int64_t seq = r->ob->busy_seq;
    char why[320];

    (void)rq;
    r->req = NULL;
    r->ob->busy_seq = 0;
    if (r->stopped)
        return;
    if (res->err) {
        snprintf(why, sizeof(why), "%s", res->msg);
        retry_later(r, why);
    } else if (res->head.status == 200) {
        cairn_backoff_reset(&r->backoff);
        r->delivered++;
        r->last_error[0] = '\0';
        if (cairn_outbox_remove(r->ob, seq, NULL) != 0)
            retry_later(r, "cannot remove an acknowledged report");
        else
            send_head(r);
    } else if (res->head.status == 401) {
        cairn_sync_renew(r->sync, r->token_used);
        /* resumed by the next token (cairn_reporter_kick) */
    } else if ((res->head.status == 400 || res->head.status == 409 ||
                res->head.status == 413) &&
               strncmp(res->head.content_type, "application/json", 16) == 0) {
        /* The controller's own verdict on this report (a proxy's error
         * page is not): it will never be taken, so it must not block the
         * queue. */
        undeliverable(r, seq, res->head.status, res->body ? res->body : "");
    } else {
        snprintf(why, sizeof(why), "HTTP %ld", res->head.status);
        retry_later(r, why);
    }
}

static void send_head(struct cairn_reporter *r)
{
    const char *token = cairn_sync_token(r->sync);
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    struct cairn_httpc_request rq;
    struct cairn_diag d;
    char *env = NULL, *url, *auth;
    size_t len = 0;
    int64_t seq = 0;
    int rc;

    if (r->stopped || r->req || r->waiting || !token[0])
        return;
    cairn_diag_init(&d);
    rc = cairn_outbox_head(r->ob, &seq, &env, &len, &d);
    if (rc == CAIRN_ENOENT)
        return;
    if (rc) {
        retry_later(r, cairn_diag_msg(&d));
        return;
    }
    snprintf(r->token_used, sizeof(r->token_used), "%s", token);
    url = cairn_xasprintf("%s/v1/sites/%s/reports", r->o.controller, r->o.site);
    auth = cairn_xasprintf("Authorization: Bearer %s", token);
    headers[1] = auth;
    memset(&rq, 0, sizeof(rq));
    rq.method = "POST";
    rq.url = url;
    rq.headers = headers;
    rq.body = env;
    rq.body_len = len;
    rq.max_body = ANSWER_CAP;
    rq.timeout_ms = SEND_TIMEOUT_MS;
    r->ob->busy_seq = seq;
    rc = cairn_httpc_start(r->http, &rq, sent, r, &r->req, &d);
    if (rc) {
        r->ob->busy_seq = 0;
        retry_later(r, cairn_diag_msg(&d));
    }
    free(auth);
    free(url);
    free(env);
}

void cairn_reporter_start(struct cairn_reporter *r, struct cairn_outbox *ob,
                          struct cairn_httpc *http, struct cairn_sync *sync,
                          const struct cairn_reporter_opts *o)
{
    memset(r, 0, sizeof(*r));
    r->o = *o;
    r->ob = ob;
    r->http = http;
    r->sync = sync;
    cairn_backoff_init(&r->backoff, o->retry_min_ms, o->retry_max_ms, o->rnd,
                       o->rnd_arg);
    uv_timer_init(cairn_httpc_loop(http), &r->timer);
    send_head(r);
}

void cairn_reporter_kick(struct cairn_reporter *r, int force)
{
    if (r->stopped || !r->http)
        return;
    if (force && r->waiting) {
        uv_timer_stop(&r->timer);
        r->waiting = 0;
    }
    send_head(r);
}

void cairn_reporter_stop(struct cairn_reporter *r)
{
    if (r->stopped || !r->http)
        return;
    r->stopped = 1;
    if (r->req)
        cairn_httpc_cancel(r->req);
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
}
