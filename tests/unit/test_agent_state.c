/* agent/state.c: durable state.json, strict loading, corrupt files. */
#include <dirent.h>
#include <sys/stat.h>

#include "cairn/json.h"
#include "state.h"
#include "test.h"
#include "util.h"

static json_t *doc(int64_t gen)
{
    return json_pack("{s:s,s:I,s:s,s:s,s:[]}", "kind", "cairn.desired/v1",
                     "generation", (json_int_t)gen, "site", "st-olaf", "issued",
                     "2026-11-27T00:00:00Z", "workloads");
}

static void write_state(const char *dir, const char *text)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/state.json", dir);
    test_write_file(path, text, strlen(text));
}

static void test_fresh_start(void)
{
    char *dir = test_tmpdir();
    struct cairn_state st;
    struct cairn_diag d;

    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_state_load(dir, &st, &d), 0);
    CHECK_INT_EQ(st.accepted_gen, 0);
    CHECK(st.applied == NULL && st.lkg == NULL && st.desired == NULL);
    CHECK_INT_EQ(st.phase, CAIRN_PHASE_NONE);
    CHECK_INT_EQ(st.report_seq, 0);
    cairn_state_free(&st);
    test_rm_rf(dir);
    free(dir);
}

static void fill(struct cairn_state *st)
{
    cairn_state_init(st);
    st->accepted_gen = 7;
    st->accepted_issued = 1795651200; /* 2026-11-26T00:00:00Z */
    st->desired = doc(7);
    st->applied = doc(6);
    st->lkg = doc(5);
    cairn_state_add_failed(st, 6);
    st->phase = CAIRN_PHASE_GATE;
    st->pending_gen = 7;
    st->attempts = 2;
    snprintf(st->reason, sizeof(st->reason), "why \"quoted\"");
    st->report_seq = 41;
    snprintf(st->last_error, sizeof(st->last_error), "oops");
}

static void test_roundtrip_and_durability(void)
{
    char *dir = test_tmpdir(), *a, *b, path[4200];
    struct cairn_state st, back;
    struct cairn_diag d;
    struct stat sb;
    struct dirent *de;
    DIR *dh;
    int files = 0;

    fill(&st);
    cairn_diag_init(&d);
    REQUIRE(cairn_state_save(dir, &st, &d) == 0);
    REQUIRE(cairn_state_load(dir, &back, &d) == 0);
    a = cairn_state_render(&st);
    b = cairn_state_render(&back);
    CHECK_STR_EQ(b, a);
    CHECK_INT_EQ(back.phase, CAIRN_PHASE_GATE);
    CHECK_INT_EQ(back.attempts, 2);
    CHECK_INT_EQ(back.report_seq, 41);
    CHECK(cairn_state_is_failed(&back, 6));
    CHECK(!cairn_state_is_failed(&back, 5));
    CHECK_INT_EQ(back.accepted_issued, 1795651200);
    /* mode 0600 and no temp file left behind */
    snprintf(path, sizeof(path), "%s/state.json", dir);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    dh = opendir(dir);
    while ((de = readdir(dh)) != NULL)
        files += de->d_name[0] != '.';
    closedir(dh);
    CHECK_INT_EQ(files, 1);
    free(a);
    free(b);
    cairn_state_free(&st);
    cairn_state_free(&back);
    test_rm_rf(dir);
    free(dir);
}

/* A crash mid-save leaves a hidden temp file: the load reads the last
 * complete state and ignores it. */
static void test_crash_leftover_ignored(void)
{
    char *dir = test_tmpdir(), path[4200];
    struct cairn_state st, back;
    struct cairn_diag d;

    fill(&st);
    cairn_diag_init(&d);
    REQUIRE(cairn_state_save(dir, &st, &d) == 0);
    snprintf(path, sizeof(path), "%s/.state.json.tmp.AbCdEf", dir);
    test_write_file(path, "{\"kind\":", 8);
    REQUIRE(cairn_state_load(dir, &back, &d) == 0);
    CHECK_INT_EQ(back.accepted_gen, 7);
    cairn_state_free(&st);
    cairn_state_free(&back);
    test_rm_rf(dir);
    free(dir);
}

static void test_save_error_keeps_old(void)
{
    char *dir = test_tmpdir(), missing[4200];
    struct cairn_state st;
    struct cairn_diag d;

    fill(&st);
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    cairn_diag_init(&d);
    CHECK(cairn_state_save(missing, &st, &d) != 0);
    CHECK(d.code != 0);
    cairn_state_free(&st);
    test_rm_rf(dir);
    free(dir);
}

/* Each corrupt file is refused with a message naming the problem. */
static void expect_corrupt(const char *text, const char *why)
{
    char *dir = test_tmpdir();
    struct cairn_state st;
    struct cairn_diag d;

    write_state(dir, text);
    cairn_diag_init(&d);
    st.accepted_gen = -42;
    CHECK(cairn_state_load(dir, &st, &d) != 0);
    CHECK_INT_EQ(st.accepted_gen, -42); /* untouched */
    CHECK_STR_HAS(cairn_diag_msg(&d), "state.json is corrupt");
    CHECK_STR_HAS(cairn_diag_msg(&d), why);
    test_rm_rf(dir);
    free(dir);
}

#define GOOD_HEAD                                                              \
    "{\"kind\":\"cairn.agent-state/"                                           \
    "v1\",\"accepted\":{\"generation\":0,\"issued\":\"1970-01-01T00:00:00Z\"}" \
    ","
#define GOOD_DOCS "\"desired\":null,\"applied\":null,\"lastKnownGood\":null,"
#define GOOD_TAIL                                                              \
    "\"failed\":[],\"pending\":null,\"reportSeq\":0,\"lastError\":\"\"}"

static void test_strict_load(void)
{
    char *dir = test_tmpdir();
    struct cairn_state st;
    struct cairn_diag d;

    write_state(dir, GOOD_HEAD GOOD_DOCS GOOD_TAIL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_state_load(dir, &st, &d), 0);
    cairn_state_free(&st);
    test_rm_rf(dir);
    free(dir);

    expect_corrupt("", "line");
    expect_corrupt("{\"kind\":\"cairn.agent-state/v1\",", "line");
    expect_corrupt("[]", "top level: expected an object");
    expect_corrupt(GOOD_HEAD GOOD_DOCS GOOD_TAIL "x", "line");
    expect_corrupt(
        "{\"kind\":\"other\",\"accepted\":{\"generation\":0,\"issued\":"
        "\"1970-01-01T00:00:00Z\"}," GOOD_DOCS GOOD_TAIL,
        "kind");
    expect_corrupt(GOOD_HEAD GOOD_DOCS "\"extra\":1," GOOD_TAIL,
                   "unknown field \"extra\"");
    expect_corrupt(GOOD_HEAD GOOD_DOCS
                   "\"failed\":[],\"pending\":null,\"lastError\":\"\"}",
                   "missing field \"reportSeq\"");
    expect_corrupt(
        GOOD_HEAD GOOD_DOCS
        "\"failed\":[],\"pending\":null,\"reportSeq\":-1,\"lastError\":\"\"}",
        "reportSeq");
    expect_corrupt(
        GOOD_HEAD GOOD_DOCS
        "\"failed\":[0],\"pending\":null,\"reportSeq\":0,\"lastError\":\"\"}",
        "failed[0]");
    expect_corrupt(
        GOOD_HEAD GOOD_DOCS
        "\"failed\":[],\"pending\":{\"generation\":1,"
        "\"phase\":\"dance\",\"attempts\":0,\"reason\":\"\"},\"reportSeq\":0,"
        "\"lastError\":\"\"}",
        "pending.phase");
    expect_corrupt(
        GOOD_HEAD GOOD_DOCS
        "\"failed\":[],\"pending\":{\"generation\":3,"
        "\"phase\":\"fetch\",\"attempts\":0,\"reason\":\"\"},\"reportSeq\":0,"
        "\"lastError\":\"\"}",
        "is not the desired document's");
    expect_corrupt(GOOD_HEAD "\"desired\":{\"generation\":2},\"applied\":null,"
                             "\"lastKnownGood\":null," GOOD_TAIL,
                   "accepted.generation 0");
    expect_corrupt(
        GOOD_HEAD
        "\"desired\":null,\"applied\":[1],\"lastKnownGood\":null," GOOD_TAIL,
        "applied: expected");
    expect_corrupt(
        "{\"kind\":\"cairn.agent-state/v1\",\"kind\":\"cairn.agent-state/v1\"}",
        "duplicate");
    expect_corrupt(GOOD_HEAD GOOD_DOCS
                   "\"failed\":[],\"pending\":null,\"reportSeq\":0,"
                   "\"lastError\":7}",
                   "lastError");
}

static void test_failed_set_bounded(void)
{
    struct cairn_state st;

    cairn_state_init(&st);
    for (int64_t g = 1; g <= CAIRN_STATE_MAX_FAILED + 10; g++)
        cairn_state_add_failed(&st, g);
    cairn_state_add_failed(&st, 20); /* already there: not twice */
    CHECK_INT_EQ(st.nfailed, CAIRN_STATE_MAX_FAILED);
    CHECK(!cairn_state_is_failed(&st, 10));
    CHECK(cairn_state_is_failed(&st, 11));
    CHECK(cairn_state_is_failed(&st, CAIRN_STATE_MAX_FAILED + 10));
}

static void test_time(void)
{
    int64_t t = 0;
    char buf[CAIRN_TIME_LEN];

    CHECK(cairn__time_parse("2026-11-27T01:00:00Z", &t) == 0 &&
          t == 1795741200);
    CHECK(cairn__time_parse("2026-11-27T02:30:00+01:30", &t) == 0 &&
          t == 1795741200);
    CHECK(cairn__time_parse("2026-11-27T01:00:00.123456Z", &t) == 0 &&
          t == 1795741200);
    CHECK(cairn__time_parse("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
    CHECK(cairn__time_parse("2024-02-29T00:00:00Z", &t) == 0);
    CHECK(cairn__time_parse("2026-02-29T00:00:00Z", &t) != 0);
    CHECK(cairn__time_parse("2026-11-27 01:00:00Z", &t) != 0);
    CHECK(cairn__time_parse("2026-11-27T01:00:00", &t) != 0);
    CHECK(cairn__time_parse("2026-13-01T00:00:00Z", &t) != 0);
    CHECK(cairn__time_parse("2026-11-27T01:00:00.Z", &t) != 0);
    CHECK(cairn__time_parse(NULL, &t) != 0);
    cairn__time_format(1795741200, buf);
    CHECK_STR_EQ(buf, "2026-11-27T01:00:00Z");
}

int main(void)
{
    RUN(test_fresh_start);
    RUN(test_roundtrip_and_durability);
    RUN(test_crash_leftover_ignored);
    RUN(test_save_error_keeps_old);
    RUN(test_strict_load);
    RUN(test_failed_set_bounded);
    RUN(test_time);
    return test_done();
}
