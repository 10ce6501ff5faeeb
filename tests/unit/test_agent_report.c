/* agent/report.c: the outbox (ordering, coalescing, cap, crash between write
 * and send, exactly-once seq) and the signed payload. */
#include <dirent.h>

#include "cairn/dsse.h"
#include "cairn/json.h"
#include "report.h"
#include "test.h"

static char *outdir(const char *base)
{
    char *p = malloc(4200);

    snprintf(p, 4200, "%s/outbox", base);
    return p;
}

static void put(struct cairn_outbox *ob, int64_t seq, int event)
{
    char body[64];
    struct cairn_diag d;

    snprintf(body, sizeof(body), "report %lld %s", (long long)seq,
             event ? "event" : "status");
    cairn_diag_init(&d);
    if (cairn_outbox_put(ob, seq, event, body, strlen(body), &d) != 0) {
        fprintf(stderr, "put %lld: %s\n", (long long)seq, cairn_diag_msg(&d));
        abort();
    }
}

/* The seqs in the outbox, oldest first, as "1,2,3". */
static void seqs(const struct cairn_outbox *ob, char *out, size_t n)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < ob->n && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%lld", i ? "," : "",
                              (long long)ob->e[i].seq);
}

static size_t files_in(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (dh && (de = readdir(dh)) != NULL)
        n += de->d_name[0] != '.';
    if (dh)
        closedir(dh);
    return n;
}

static void test_order(void)
{
    char *base = test_tmpdir(), *dir = outdir(base), *env = NULL, s[256];
    struct cairn_outbox ob;
    int64_t seq = 0;
    size_t len = 0;

    REQUIRE(cairn_outbox_open(&ob, dir, 16, NULL) == 0);
    CHECK_INT_EQ(cairn_outbox_head(&ob, &seq, &env, &len, NULL), CAIRN_ENOENT);
    put(&ob, 1, 1);
    put(&ob, 2, 1);
    put(&ob, 10, 1);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "1,2,10");
    REQUIRE(cairn_outbox_head(&ob, &seq, &env, &len, NULL) == 0);
    CHECK_INT_EQ(seq, 1);
    CHECK_STR_EQ(env, "report 1 event");
    free(env);
    CHECK_INT_EQ(cairn_outbox_remove(&ob, 1, NULL), 0);
    REQUIRE(cairn_outbox_head(&ob, &seq, &env, &len, NULL) == 0);
    CHECK_INT_EQ(seq, 2);
    free(env);
    /* a seq not above the newest is refused: seqs only rise */
    CHECK_INT_EQ(cairn_outbox_put(&ob, 10, 1, "x", 1, NULL), CAIRN_EINVAL);
    CHECK_INT_EQ(cairn_outbox_put(&ob, 3, 1, "x", 1, NULL), CAIRN_EINVAL);
    CHECK_INT_EQ(files_in(dir), 2);
    cairn_outbox_close(&ob);
    test_rm_rf(base);
    free(dir);
    free(base);
}

static void test_coalesce(void)
{
    char *base = test_tmpdir(), *dir = outdir(base), s[256];
    struct cairn_outbox ob;

    REQUIRE(cairn_outbox_open(&ob, dir, 16, NULL) == 0);
    put(&ob, 1, 0);
    put(&ob, 2, 0);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "2");
    put(&ob, 3, 1);
    put(&ob, 4, 0);
    put(&ob, 5, 1);
    put(&ob, 6, 0);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "3,5,6"); /* events kept, only the newest status */
    /* the report being sent is never coalesced away */
    ob.busy_seq = 6;
    put(&ob, 7, 0);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "3,5,6,7");
    CHECK_INT_EQ(files_in(dir), 4);
    cairn_outbox_close(&ob);
    test_rm_rf(base);
    free(dir);
    free(base);
}

static void test_cap(void)
{
    char *base = test_tmpdir(), *dir = outdir(base), s[256];
    struct cairn_outbox ob;

    REQUIRE(cairn_outbox_open(&ob, dir, 4, NULL) == 0);
    for (int64_t i = 1; i <= 6; i++)
        put(&ob, i, 1);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "3,4,5,6"); /* the oldest events go */
    CHECK_INT_EQ(ob.dropped, 2);
    ob.busy_seq = 3; /* ... but never the one in flight */
    put(&ob, 7, 1);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "3,5,6,7");
    ob.busy_seq = 0;
    put(&ob, 8, 0); /* a status beyond the cap: the oldest event goes */
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "5,6,7,8");
    put(&ob, 9, 1); /* an event beyond the cap: the status goes first */
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "5,6,7,9");
    CHECK_INT_EQ(files_in(dir), 4);
    cairn_outbox_close(&ob);
    test_rm_rf(base);
    free(dir);
    free(base);
}

/* A crash after the durable write and before (or during) the send: the
 * report is still there, byte for byte, under its seq; a temp file of an
 * interrupted write is removed. */
static void test_crash_between_write_and_send(void)
{
    char *base = test_tmpdir(), *dir = outdir(base), *env = NULL, tmp[4300],
         s[64];
    struct cairn_outbox ob;
    int64_t seq = 0;
    size_t len = 0;

    REQUIRE(cairn_outbox_open(&ob, dir, 16, NULL) == 0);
    put(&ob, 41, 1);
    put(&ob, 42, 0);
    cairn_outbox_close(&ob); /* "crash" */
    snprintf(tmp, sizeof(tmp), "%s/.00000000000000000043.e.dsse.tmp.x1y2z3",
             dir);
    test_write_file(tmp, "partial", 7);
    test_write_file(tmp, "partial", 7);
    REQUIRE(cairn_outbox_open(&ob, dir, 16, NULL) == 0);
    seqs(&ob, s, sizeof(s));
    CHECK_STR_EQ(s, "41,42");
    CHECK_INT_EQ(cairn_outbox_max_seq(&ob), 42);
    CHECK(access(tmp, F_OK) != 0);
    REQUIRE(cairn_outbox_head(&ob, &seq, &env, &len, NULL) == 0);
    CHECK_INT_EQ(seq, 41);
    CHECK_STR_EQ(env, "report 41 event"); /* resent as it was: a duplicate */
    free(env);
    /* the next report continues above what the outbox holds */
    CHECK_INT_EQ(cairn_outbox_put(&ob, 42, 1, "x", 1, NULL), CAIRN_EINVAL);
    put(&ob, 43, 1);
    cairn_outbox_close(&ob);
    test_rm_rf(base);
    free(dir);
    free(base);
}

static void test_payload_and_signature(void)
{
    struct cairn_seckey key;
    struct cairn_keyset ks;
    struct cairn_report_input in;
    struct cairn_report_event ev = {"RolledBack", 7,
                                    "workload risk: worker exited"};
    struct cairn_dsse *env = NULL;
    struct cairn_diag d;
    json_t *wl, *p, *back = NULL;
    char *text;

    REQUIRE(cairn_keys_init() == 0 &&
            cairn_seckey_generate("st-olaf", &key) == 0);
    wl = json_pack("[{s:s,s:s,s:I,s:n,s:s,s:{s:f}}]", "name", "risk", "state",
                   "running", "restarts", (json_int_t)2, "lastExit", "health",
                   "healthy", "metrics",
                   "xray_images_total{band=\"Pneumonia\"}", 3.0);
    memset(&in, 0, sizeof(in));
    in.site = "st-olaf";
    in.seq = 9;
    in.time = 1795741200;
    in.applied = 6;
    in.served = 7;
    in.lkg = 6;
    in.event = &ev;
    in.workloads = wl;
    in.free_bytes = 12345;
    cairn_diag_init(&d);
    p = cairn_report_payload(&in, &d);
    REQUIRE(p != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(p, "seq")), 9);
    CHECK_STR_EQ(json_string_value(json_object_get(p, "time")),
                 "2026-11-27T01:00:00Z");
    CHECK_STR_EQ(
        json_string_value(json_object_get(json_object_get(p, "event"), "type")),
        "RolledBack");
    text = cairn_report_sign(p, &key);
    cairn_keyset_init(&ks);
    cairn_keyset_add(&ks, &key.pub);
    REQUIRE(cairn_dsse_parse(text, strlen(text), CAIRN_REPORT_CAP,
                             CAIRN_DSSE_REPORT, &env, &d) == 0);
    CHECK_INT_EQ(cairn_dsse_verify(env, &ks, 1, NULL, &d), 0);
    REQUIRE(cairn_json_parse((const char *)env->payload, env->payload_len,
                             1 << 20, &back, NULL) == 0);
    CHECK(json_equal(back, p));
    /* an event type outside the schema is a bug caught before signing */
    ev.type = "Exploded";
    cairn_diag_init(&d);
    CHECK(cairn_report_payload(&in, &d) == NULL);
    CHECK_STR_HAS(cairn_diag_msg(&d), "report.schema.json");
    json_decref(back);
    cairn_dsse_free(env);
    free(text);
    json_decref(p);
    json_decref(wl);
    cairn_keyset_free(&ks);
    cairn_seckey_wipe(&key);
}

int main(void)
{
    RUN(test_order);
    RUN(test_coalesce);
    RUN(test_cap);
    RUN(test_crash_between_write_and_send);
    RUN(test_payload_and_signature);
    return test_done();
}
