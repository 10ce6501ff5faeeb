/* The daemon's site table (controller/sites.c): envelopes and ETags,
 * reported status, state classification, the seq window, sorting. */
#include "daemon_int.h"
#include "test.h"

static struct cairn__ctrl *new_ctrl(void)
{
    struct cairn__ctrl *c = calloc(1, sizeof(*c));

    cairn__strmap_init(&c->sites);
    c->cfg.report_interval = 30;
    return c;
}

static void free_ctrl(struct cairn__ctrl *c)
{
    cairn__sites_free(c);
    free(c);
}

/* sites.c wakes waiters through api_desired.c; none are parked here. */
static void test_env(void)
{
    struct cairn__env *e = cairn__env_new(7, 1700000000, "{\"a\":1}", 7);

    CHECK_STR_EQ(e->etag, "\"7.1700000000\"");
    CHECK_STR_EQ(e->data, "{\"a\":1}");
    CHECK_INT_EQ(e->len, 7);
    cairn__env_ref(e);
    cairn__env_unref(e);
    CHECK_INT_EQ(e->refs, 1);
    cairn__env_unref(e);
    cairn__env_unref(NULL);
}

static const char *report(const char *state, const char *health, int applied)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"generation\":{\"applied\":%d,\"served\":%d},\"workloads\":["
             "{\"model\":{\"name\":\"pneumonia\",\"version\":\"v2\"},\"name\":"
             "\"risk\","
             "\"state\":\"%s\",\"health\":\"%s\"},"
             "{\"model\":{\"name\":\"other\",\"version\":\"1\"},\"name\":\"b\","
             "\"state\":\"stopped\"}]}",
             applied, applied, state, health);
    return buf;
}

static void test_states(void)
{
    struct cairn__ctrl *c = new_ctrl();
    struct cairn__site *s = cairn__site_get_or_add(c, "st-olaf");
    int64_t now = 1000000;

    CHECK(cairn__site_get(c, "st-olaf") == s);
    CHECK(cairn__site_get_or_add(c, "st-olaf") == s);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_UNKNOWN);
    cairn__site_set_env(c, s, cairn__env_new(3, 5, "{}", 2), "abc",
                        "pneumonia@v2");
    cairn__site_set_status(s, 1, now - 10, report("running", "healthy", 3),
                           NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_OK);
    CHECK_STR_EQ(s->running, "pneumonia@v2");
    CHECK_INT_EQ(s->applied, 3);
    cairn__site_set_status(s, 2, now - 10, report("running", "healthy", 2),
                           NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_UPDATING);
    cairn__site_set_status(s, 3, now - 10, report("running", "unhealthy", 3),
                           "{\"e\":1}", NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_DEGRADED);
    cairn__site_set_status(s, 4, now - 10, report("crashloop", "unknown", 3),
                           NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_DEGRADED);
    CHECK_STR_EQ(s->running, "");
    CHECK_STR_EQ(s->last_error, "{\"e\":1}"); /* kept until a new one */
    /* silent for exactly 3 intervals: still counted; one second more: offline
     */
    cairn__site_set_status(s, 5, now - 90, report("running", "healthy", 3),
                           NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_OK);
    CHECK_INT_EQ(cairn__site_state(c, s, now + 1), CAIRN__ST_OFFLINE);
    CHECK_STR_EQ(cairn__site_state_name(CAIRN__ST_OFFLINE), "offline");
    /* generation 3 applied, its health gate still deciding: updating */
    cairn__site_set_status(
        s, 6, now - 10,
        "{\"generation\":{\"applied\":3,\"served\":3},\"workloads\":[],"
        "\"conditions\":[{\"type\":\"ControllerReachable\",\"status\":"
        "\"True\"},{\"type\":\"Updating\",\"status\":\"True\"}]}",
        NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_UPDATING);
    cairn__site_set_status(
        s, 7, now - 10,
        "{\"generation\":{\"applied\":3,\"served\":3},\"workloads\":[],"
        "\"conditions\":[{\"type\":\"Updating\",\"status\":\"False\"}]}",
        NULL, NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_OK);
    free_ctrl(c);
}

/* A report running generation applied with an event (type NULL: none). */
static const char *report_ev(int applied, const char *type, int gen,
                             const char *reason)
{
    static char buf[1024];
    char ev[512] = "";

    if (type)
        snprintf(ev, sizeof(ev),
                 ",\"event\":{\"generation\":%d,\"reason\":\"%s\","
                 "\"type\":\"%s\"}",
                 gen, reason, type);
    snprintf(buf, sizeof(buf),
             "{\"generation\":{\"applied\":%d,\"served\":%d},\"seq\":7,"
             "\"time\":\"2026-01-02T03:04:05Z\",\"workloads\":[{\"name\":"
             "\"risk\",\"state\":\"running\",\"health\":\"healthy\"}]%s}",
             applied, applied, ev);
    return buf;
}

/* Feed a report as the daemon does: the failure decided against served. */
static void feed(struct cairn__site *s, int64_t received, const char *payload,
                 int64_t served)
{
    char *f = cairn__failure_of(payload, served);

    cairn__site_set_status(s, 7, received, payload, NULL, f);
    free(f);
}

static void test_failure_records(void)
{
    char *f;

    f = cairn__failure_of(report_ev(2, "RolledBack", 3, "exit 1"), 3);
    CHECK_STR_EQ(f, "{\"generation\":3,\"reason\":\"exit 1\",\"seq\":7,"
                    "\"time\":\"2026-01-02T03:04:05Z\",\"type\":"
                    "\"RolledBack\"}");
    free(f);
    /* a refused document (no generation read): the one served now */
    f = cairn__failure_of(report_ev(2, "Rejected", 0, "bad signature"), 5);
    CHECK_STR_HAS(f, "\"generation\":5,");
    CHECK_STR_HAS(f, "\"type\":\"Rejected\"");
    free(f);
    f = cairn__failure_of(report_ev(2, "DesiredStateExpired", 0, "x"), 6);
    CHECK_STR_HAS(f, "\"generation\":6,");
    free(f);
    f = cairn__failure_of(report_ev(2, "DownloadFailed", 4, "404"), 4);
    CHECK_STR_HAS(f, "\"type\":\"DownloadFailed\"");
    free(f);
    /* not failures of a served generation */
    CHECK(cairn__failure_of(report_ev(2, "Rejected", 0, "x"), 0) == NULL);
    CHECK(cairn__failure_of(report_ev(4, "DesiredStateExpired", 4, "x"), 5) ==
          NULL); /* the document it runs expired: a warning */
    CHECK(cairn__failure_of(report_ev(3, "RolledBack", 3, "x"), 3) == NULL);
    CHECK(cairn__failure_of(report_ev(2, "CrashLoop", 3, "x"), 3) == NULL);
    CHECK(cairn__failure_of(report_ev(2, "Applied", 3, "x"), 3) == NULL);
    CHECK(cairn__failure_of(report_ev(2, NULL, 0, NULL), 3) == NULL);
    CHECK(cairn__failure_of("not json", 3) == NULL);
}

static void test_rollback_states(void)
{
    struct cairn__ctrl *c = new_ctrl();
    struct cairn__site *s = cairn__site_get_or_add(c, "mercy");
    int64_t now = 1000000;
    json_t *j;

    cairn__site_set_env(c, s, cairn__env_new(3, 5, "{}", 2), "abc", "");
    feed(s, now, report_ev(2, NULL, 0, NULL), 3);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_UPDATING);
    CHECK(cairn__site_failure_json(c, s, now) == NULL);
    feed(s, now, report_ev(2, "RolledBack", 3, "health gate: exit 1"), 3);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_ROLLEDBACK);
    CHECK_STR_EQ(cairn__site_state_name(CAIRN__ST_ROLLEDBACK), "rolledback");
    j = cairn__site_failure_json(c, s, now);
    REQUIRE(j != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "generation")), 3);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "reason")),
                 "health gate: exit 1");
    json_decref(j);
    /* later plain reports and another error event keep it */
    feed(s, now, report_ev(2, NULL, 0, NULL), 3);
    cairn__site_set_status(s, 8, now, report("crashloop", "unknown", 2),
                           "{\"type\":\"CrashLoop\"}", NULL);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_ROLLEDBACK);
    /* offline wins: the report is old news */
    CHECK_INT_EQ(cairn__site_state(c, s, now + 91), CAIRN__ST_OFFLINE);
    CHECK(cairn__site_failure_json(c, s, now + 91) == NULL);
    /* a newer generation served: updating until the site reports on it */
    cairn__site_set_env(c, s, cairn__env_new(4, 6, "{}", 2), "def", "");
    feed(s, now, report_ev(2, NULL, 0, NULL), 4);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_UPDATING);
    CHECK(cairn__site_failure_json(c, s, now) == NULL);
    feed(s, now, report_ev(4, "Applied", 4, ""), 4);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_OK);
    /* generation 5: its download fails, then a retry applies it */
    cairn__site_set_env(c, s, cairn__env_new(5, 7, "{}", 2), "0ab", "");
    feed(s, now, report_ev(4, "DownloadFailed", 5, "HTTP 404"), 5);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_FAILED);
    CHECK_STR_EQ(cairn__site_state_name(CAIRN__ST_FAILED), "failed");
    feed(s, now, report_ev(5, NULL, 0, NULL), 5);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_OK);
    /* generation 6 refused by the agent (no generation in the event) */
    cairn__site_set_env(c, s, cairn__env_new(6, 8, "{}", 2), "0ac", "");
    feed(s, now, report_ev(5, "Rejected", 0, "signature"), 6);
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_FAILED);
    /* the same generation re-issued (refreshed): still that failure */
    cairn__site_set_env(c, s, cairn__env_new(6, 9, "{}", 2), "0ac", "");
    CHECK_INT_EQ(cairn__site_state(c, s, now), CAIRN__ST_FAILED);
    free_ctrl(c);
}

static void test_seqs(void)
{
    struct cairn__ctrl *c = new_ctrl();
    struct cairn__site *s = cairn__site_get_or_add(c, "a");
    char sha[65];

    for (int i = 1; i <= 12; i++) {
        snprintf(sha, sizeof(sha), "%064d", i);
        cairn__site_add_seq(s, i, sha);
    }
    CHECK_INT_EQ(s->high_seq, 12);
    CHECK(cairn__site_seq_sha(s, 4) == NULL); /* out of the window of 8 */
    CHECK(cairn__site_seq_sha(s, 5) != NULL);
    snprintf(sha, sizeof(sha), "%064d", 9);
    CHECK_STR_EQ(cairn__site_seq_sha(s, 9), sha);
    free_ctrl(c);
}

static void test_sorted(void)
{
    struct cairn__ctrl *c = new_ctrl();
    struct cairn__site **v;
    size_t n;

    cairn__site_get_or_add(c, "zeta")->has_key = 1;
    cairn__site_get_or_add(c, "alpha")->has_key = 1;
    cairn__site_get_or_add(c,
                           "ghost"); /* neither key nor document: not listed */
    cairn__site_set_env(c, cairn__site_get_or_add(c, "mid"),
                        cairn__env_new(1, 1, "{}", 2), "c", "");
    v = cairn__sites_sorted(c, &n);
    REQUIRE(n == 3);
    CHECK_STR_EQ(v[0]->name, "alpha");
    CHECK_STR_EQ(v[1]->name, "mid");
    CHECK_STR_EQ(v[2]->name, "zeta");
    cairn__site_set_env(c, cairn__site_get(c, "mid"), NULL, NULL, NULL);
    v = cairn__sites_sorted(c, &n);
    CHECK_INT_EQ(n, 2);
    free_ctrl(c);
}

int main(void)
{
    RUN(test_env);
    RUN(test_states);
    RUN(test_failure_records);
    RUN(test_rollback_states);
    RUN(test_seqs);
    RUN(test_sorted);
    return test_done();
}
