/* Supervise: real processes (tests/tools/testworker) on a real loop. */
#include "test.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <uv.h>

#include "apply.h"
#include "cairn/fs.h"
#include "cairn/mem.h"
#include "supervise.h"

#define TESTWORKER CAIRN_BINARY_DIR "/tests/testworker"
#define MAX_EV 64
#define MAX_LINES 256

struct ctx {
    uv_loop_t loop;
    uv_timer_t tick;
    char *state;
    struct cairn_worker *w;
    struct cairn_worker_event ev[MAX_EV];
    char ev_reason[MAX_EV][128];
    uint64_t ev_at[MAX_EV];
    int nev;
    char *lines[MAX_LINES];
    int streams[MAX_LINES];
    int nlines;
    int stopped, closed;
    uint64_t stopped_at;
};

static void on_event(struct cairn_worker *w,
                     const struct cairn_worker_event *ev, void *arg)
{
    struct ctx *c = arg;

    (void)w;
    if (c->nev == MAX_EV)
        return;
    c->ev[c->nev] = *ev;
    snprintf(c->ev_reason[c->nev], sizeof(c->ev_reason[0]), "%s", ev->reason);
    c->ev[c->nev].reason = c->ev_reason[c->nev];
    c->ev_at[c->nev] = uv_now(&c->loop);
    c->nev++;
}

static void on_line(void *arg, const char *name, int stream, const char *line)
{
    struct ctx *c = arg;

    CHECK_STR_EQ(name, "tw");
    if (c->nlines == MAX_LINES)
        return;
    c->streams[c->nlines] = stream;
    c->lines[c->nlines++] = cairn_xstrdup(line);
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static void ctx_init(struct ctx *c, struct cairn_worker_opts *o)
{
    memset(c, 0, sizeof(*c));
    REQUIRE(uv_loop_init(&c->loop) == 0);
    uv_timer_init(&c->loop, &c->tick);
    uv_timer_start(&c->tick, tick_cb, 10, 10);
    uv_unref((uv_handle_t *)&c->tick);
    c->state = test_tmpdir();
    o->state_dir = c->state;
    o->name = "tw";
    o->log_cb = on_line;
    o->log_arg = c;
    REQUIRE(cairn_worker_new(&c->loop, o, on_event, c, &c->w, NULL) == 0);
}

/* Run the loop until pred(c) or timeout; returns pred(c). */
static int run_until(struct ctx *c, int (*pred)(struct ctx *),
                     uint64_t timeout_ms)
{
    uint64_t end;

    uv_update_time(&c->loop);
    end = uv_now(&c->loop) + timeout_ms;
    uv_ref((uv_handle_t *)&c->tick);
    while (!pred(c) && uv_now(&c->loop) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
    uv_unref((uv_handle_t *)&c->tick);
    return pred(c);
}

static void close_cb(void *arg)
{
    ((struct ctx *)arg)->closed = 1;
}

static int is_closed(struct ctx *c)
{
    return c->closed;
}

static void ctx_free(struct ctx *c)
{
    if (c->w) {
        cairn_worker_close(c->w, close_cb, c);
        CHECK(run_until(c, is_closed, 15000));
    }
    uv_close((uv_handle_t *)&c->tick, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&c->loop), 0);
    for (int i = 0; i < c->nlines; i++)
        free(c->lines[i]);
    test_rm_rf(c->state);
    free(c->state);
}

static int count_ev(struct ctx *c, enum cairn_worker_event_type t)
{
    int n = 0;

    for (int i = 0; i < c->nev; i++)
        n += c->ev[i].type == t;
    return n;
}

static int has_started(struct ctx *c)
{
    return count_ev(c, CAIRN_WORKER_EV_STARTED) > 0;
}

static int is_stopped(struct ctx *c)
{
    return c->stopped;
}

static void on_stop(struct cairn_worker *w, void *arg)
{
    struct ctx *c = arg;

    (void)w;
    c->stopped++;
    c->stopped_at = uv_now(&c->loop);
}

/* A spec running testworker with extra TW_* settings (NULL-terminated). */
static void spec_init(struct cairn_worker_spec *s,
                      enum cairn_restart_policy policy, uint64_t backoff_max_ms,
                      const char *const *env)
{
    size_t n = 0;

    while (env && env[n])
        n++;
    memset(s, 0, sizeof(*s));
    s->argv = cairn_xcalloc(2, sizeof(char *));
    s->argv[0] = cairn_xstrdup(TESTWORKER);
    s->env = cairn_xcalloc(n + 2, sizeof(char *));
    s->env[0] = cairn_xstrdup("PATH=/usr/bin:/bin");
    for (size_t i = 0; i < n; i++)
        s->env[i + 1] = cairn_xstrdup(env[i]);
    s->policy = policy;
    s->backoff_max_ms = backoff_max_ms;
}

static void start(struct ctx *c, enum cairn_restart_policy policy,
                  uint64_t max_ms, const char *const *env)
{
    struct cairn_worker_spec s;
    struct cairn_diag d;

    spec_init(&s, policy, max_ms, env);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_worker_start(c->w, &s, &d), 0);
    cairn_worker_spec_free(&s);
}

/* Gone: no such process, or a zombie nobody reaped yet. */
static int proc_gone(int pid)
{
    char path[64], *buf = NULL, *p;
    int gone = 1;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (cairn_fs_read(path, 4096, &buf, NULL, NULL) == 0) {
        p = strrchr(buf, ')');
        gone = p && (p[2] == 'Z' || p[2] == 'X');
        free(buf);
    }
    return gone;
}

static int read_pid(const char *path)
{
    char *buf = NULL;
    int pid = 0;

    if (cairn_fs_read(path, 64, &buf, NULL, NULL) == 0) {
        pid = (int)strtol(buf, NULL, 10);
        free(buf);
    }
    return pid;
}

static char *pidfile_of(struct ctx *c)
{
    return cairn_xasprintf("%s/workloads/tw/worker.pid", c->state);
}

static void test_start_stop_grace(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;
    char *pf, *buf = NULL;
    uint64_t t0;
    int pid;

    o.grace_ms = 5000;
    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_ALWAYS, 1000, NULL);
    CHECK_INT_EQ(c.nev, 0); /* STARTED comes from the loop, not from start() */
    REQUIRE(run_until(&c, has_started, 5000));
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_RUNNING);
    CHECK(st.pid > 0);
    CHECK_INT_EQ(c.ev[0].pid, st.pid);
    pid = st.pid;
    /* The pid file names it with its start time; its group is its own. */
    pf = pidfile_of(&c);
    REQUIRE(cairn_fs_read(pf, 64, &buf, NULL, NULL) == 0);
    CHECK_INT_EQ(strtol(buf, NULL, 10), pid);
    CHECK(strchr(buf, ' ') != NULL);
    free(buf);
    CHECK_INT_EQ(getpgid(pid), pid);
    CHECK_INT_EQ(cairn_worker_start(c.w, NULL, NULL), CAIRN_ESTATE);

    t0 = uv_now(&c.loop);
    REQUIRE(cairn_worker_stop(c.w, on_stop, &c) == 0);
    CHECK_INT_EQ(cairn_worker_stop(c.w, on_stop, &c), CAIRN_ESTATE);
    REQUIRE(run_until(&c, is_stopped, 5000));
    CHECK(c.stopped_at - t0 < 2000); /* SIGTERM was enough */
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_STOPPED);
    CHECK_STR_EQ(st.last_exit, "signal 15");
    CHECK_INT_EQ(st.pid, 0);
    CHECK(proc_gone(pid));
    CHECK(access(pf, F_OK) != 0);
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_EXITED), 0); /* asked for */
    free(pf);
    ctx_free(&c);
}

static void test_sigkill_fallback(void)
{
    static const char *const env[] = {"TW_IGNORE_TERM=1", NULL, NULL};
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;
    char *child_pf, *envv[3];
    uint64_t t0;
    int child;

    o.grace_ms = 300;
    ctx_init(&c, &o);
    child_pf = cairn_xasprintf("%s/child.pid", c.state);
    envv[0] = (char *)env[0];
    envv[1] = cairn_xasprintf("TW_CHILD_PIDFILE=%s", child_pf);
    envv[2] = NULL;
    start(&c, CAIRN_RESTART_ALWAYS, 1000, (const char *const *)envv);
    REQUIRE(run_until(&c, has_started, 5000));
    for (int i = 0; i < 200 && !read_pid(child_pf); i++)
        usleep(10000);
    child = read_pid(child_pf);
    REQUIRE(child > 0);
    CHECK(!proc_gone(child));
    t0 = uv_now(&c.loop);
    REQUIRE(cairn_worker_stop(c.w, on_stop, &c) == 0);
    REQUIRE(run_until(&c, is_stopped, 5000));
    CHECK(c.stopped_at - t0 >= 290);
    cairn_worker_status(c.w, &st);
    CHECK_STR_EQ(st.last_exit, "signal 9");
    /* The whole group went, the grandchild too. */
    for (int i = 0; i < 100 && !proc_gone(child); i++)
        usleep(10000);
    CHECK(proc_gone(child));
    free(envv[1]);
    free(child_pf);
    ctx_free(&c);
}

static int exits_at_least_6(struct ctx *c)
{
    return count_ev(c, CAIRN_WORKER_EV_EXITED) >= 6;
}

static void exited_delays(struct ctx *c, int64_t *out, int max)
{
    int k = 0;

    for (int i = 0; i < c->nev && k < max; i++)
        if (c->ev[i].type == CAIRN_WORKER_EV_EXITED)
            out[k++] = c->ev[i].restart_in_ms;
}

static void test_backoff_sequence(void)
{
    static const char *const env[] = {"TW_EXIT_AFTER_MS=0", "TW_EXIT_CODE=3",
                                      NULL};
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    int64_t delays[6];
    uint64_t starts[8];
    int ns = 0;
    struct ctx c;

    o.backoff_initial_ms = 50;
    o.stable_ms = 5000;
    o.crashloop_exits = 100;
    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_ALWAYS, 400, env);
    REQUIRE(run_until(&c, exits_at_least_6, 10000));
    exited_delays(&c, delays, 6);
    CHECK_INT_EQ(delays[0], 50);
    CHECK_INT_EQ(delays[1], 100);
    CHECK_INT_EQ(delays[2], 200);
    CHECK_INT_EQ(delays[3], 400);
    CHECK_INT_EQ(delays[4], 400); /* capped */
    CHECK_INT_EQ(delays[5], 400);
    /* The restarts really waited. */
    for (int i = 0; i < c.nev && ns < 8; i++)
        if (c.ev[i].type == CAIRN_WORKER_EV_STARTED)
            starts[ns++] = c.ev_at[i];
    REQUIRE(ns >= 5);
    CHECK(starts[3] - starts[2] >= 190);
    CHECK(starts[4] - starts[3] >= 390);
    CHECK_STR_EQ(c.ev[1].reason, "exit 3");
    cairn_worker_status(c.w, &st);
    CHECK(st.restarts >= 5);
    CHECK(st.short_runs >= 6);
    CHECK_STR_EQ(st.last_exit, "exit 3");
    ctx_free(&c);
}

static void test_backoff_reset_after_stable(void)
{
    struct cairn_worker_opts o = {0};
    char *seq, *envv[4];
    int64_t delays[6];
    struct ctx c;

    o.backoff_initial_ms = 50;
    o.stable_ms = 300;
    o.crashloop_exits = 100;
    ctx_init(&c, &o);
    seq = cairn_xasprintf("TW_SEQ_FILE=%s/seq", c.state);
    envv[0] = seq;
    envv[1] = (char *)"TW_EXIT_AFTER_SEQ=0,0,0,600,0,0";
    envv[2] = (char *)"TW_EXIT_CODE=1";
    envv[3] = NULL;
    start(&c, CAIRN_RESTART_ALWAYS, 1000, (const char *const *)envv);
    REQUIRE(run_until(&c, exits_at_least_6, 10000));
    exited_delays(&c, delays, 6);
    CHECK_INT_EQ(delays[0], 50);
    CHECK_INT_EQ(delays[1], 100);
    CHECK_INT_EQ(delays[2], 200);
    CHECK_INT_EQ(delays[3], 50); /* after the stable run: back to the start */
    CHECK_INT_EQ(delays[4], 50);
    CHECK_INT_EQ(delays[5], 100);
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_STABLE), 1);
    free(seq);
    ctx_free(&c);
}

static int crashloop_then_stable(struct ctx *c)
{
    return count_ev(c, CAIRN_WORKER_EV_STABLE) > 0;
}

static void test_crashloop(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    char *seq, *envv[3];
    struct ctx c;
    int first_cl = -1, exits_after = 0;

    o.backoff_initial_ms = 20;
    o.stable_ms = 300;
    o.crashloop_exits = 3;
    ctx_init(&c, &o);
    seq = cairn_xasprintf("TW_SEQ_FILE=%s/seq", c.state);
    envv[0] = seq;
    envv[1] = (char *)"TW_EXIT_AFTER_SEQ=0,0,0,0,0,5000";
    envv[2] = NULL;
    start(&c, CAIRN_RESTART_ALWAYS, 40, (const char *const *)envv);
    REQUIRE(run_until(&c, crashloop_then_stable, 10000));
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_CRASHLOOP), 1);
    for (int i = 0; i < c.nev; i++) {
        if (c.ev[i].type == CAIRN_WORKER_EV_CRASHLOOP && first_cl < 0) {
            first_cl = i;
            CHECK_INT_EQ(c.ev[i].short_runs, 3);
            CHECK_STR_EQ(c.ev[i].reason, "exit 1");
        }
        if (first_cl >= 0 && c.ev[i].type == CAIRN_WORKER_EV_EXITED) {
            exits_after++;
            CHECK_INT_EQ(c.ev[i].restart_in_ms,
                         40); /* kept trying at the cap */
        }
    }
    CHECK(first_cl > 0);
    CHECK_INT_EQ(exits_after, 2); /* runs 4 and 5, then run 6 is stable */
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_RUNNING);
    CHECK_INT_EQ(st.short_runs, 0);
    free(seq);
    ctx_free(&c);
}

static int exited_once(struct ctx *c)
{
    return count_ev(c, CAIRN_WORKER_EV_EXITED) >= 1;
}

/* One policy/exit combination: is it restarted, what state is left. */
static void policy_case(enum cairn_restart_policy policy, const char *code,
                        int restarts, enum cairn_worker_state want)
{
    const char *env[] = {"TW_EXIT_AFTER_MS=0", code, NULL};
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;

    o.backoff_initial_ms = 2000;
    ctx_init(&c, &o);
    start(&c, policy, 5000, env);
    REQUIRE(run_until(&c, exited_once, 5000));
    CHECK_INT_EQ(c.ev[c.nev - 1].restart_in_ms, restarts ? 2000 : -1);
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, want);
    ctx_free(&c);
}

static void test_policies(void)
{
    policy_case(CAIRN_RESTART_NEVER, "TW_EXIT_CODE=2", 0, CAIRN_WORKER_FAILED);
    policy_case(CAIRN_RESTART_NEVER, "TW_EXIT_CODE=0", 0, CAIRN_WORKER_STOPPED);
    policy_case(CAIRN_RESTART_ON_FAILURE, "TW_EXIT_CODE=0", 0,
                CAIRN_WORKER_STOPPED);
    policy_case(CAIRN_RESTART_ON_FAILURE, "TW_EXIT_CODE=1", 1,
                CAIRN_WORKER_STARTING);
    policy_case(CAIRN_RESTART_ON_FAILURE, "TW_EXIT_SIGNAL=11", 1,
                CAIRN_WORKER_STARTING);
    policy_case(CAIRN_RESTART_ALWAYS, "TW_EXIT_CODE=0", 1,
                CAIRN_WORKER_STARTING);
}

static void test_never_stays_down(void)
{
    static const char *const env[] = {"TW_EXIT_AFTER_MS=0", "TW_EXIT_SIGNAL=9",
                                      NULL};
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;

    o.backoff_initial_ms = 10;
    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_NEVER, 100, env);
    REQUIRE(run_until(&c, exited_once, 5000));
    run_until(&c, exits_at_least_6, 500); /* nothing more happens */
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_STARTED), 1);
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_FAILED);
    CHECK_STR_EQ(st.last_exit, "signal 9");
    CHECK_INT_EQ(st.restarts, 0);
    /* A stop now has nothing to do and still calls back, later. */
    REQUIRE(cairn_worker_stop(c.w, on_stop, &c) == 0);
    CHECK_INT_EQ(c.stopped, 0);
    REQUIRE(run_until(&c, is_stopped, 1000));
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_STOPPED);
    ctx_free(&c);
}

static void test_program_found_on_path(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_spec s;
    struct ctx c;

    ctx_init(&c, &o);
    spec_init(&s, CAIRN_RESTART_NEVER, 1000, NULL);
    free(s.argv[0]);
    s.argv[0] = cairn_xstrdup("testworker");
    free(s.env[0]);
    s.env[0] = cairn_xstrdup("PATH=/nonexistent:" CAIRN_BINARY_DIR "/tests");
    CHECK_INT_EQ(cairn_worker_start(c.w, &s, NULL), 0);
    REQUIRE(run_until(&c, has_started, 5000));
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_EXITED), 0);
    cairn_worker_spec_free(&s);
    ctx_free(&c);
}

static void test_spawn_failure(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct cairn_worker_spec s;
    struct ctx c;

    ctx_init(&c, &o);
    spec_init(&s, CAIRN_RESTART_NEVER, 1000, NULL);
    free(s.argv[0]);
    s.argv[0] = cairn_xstrdup("/nonexistent/xray-worker");
    CHECK_INT_EQ(cairn_worker_start(c.w, &s, NULL), 0);
    CHECK_INT_EQ(c.nev, 0);
    REQUIRE(run_until(&c, exited_once, 5000));
    CHECK_INT_EQ(c.ev[0].type, CAIRN_WORKER_EV_EXITED);
    CHECK_STR_HAS(c.ev[0].reason, "spawn failed");
    CHECK_STR_HAS(c.ev[0].reason, "no such file");
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_FAILED);
    CHECK_INT_EQ(count_ev(&c, CAIRN_WORKER_EV_STARTED), 0);
    /* Incomplete specs are refused outright. */
    free(s.argv[0]);
    s.argv[0] = NULL;
    CHECK_INT_EQ(cairn_worker_start(c.w, &s, NULL), CAIRN_EINVAL);
    s.argv[0] = cairn_xstrdup(TESTWORKER);
    s.backoff_max_ms = 0;
    CHECK_INT_EQ(cairn_worker_start(c.w, &s, NULL), CAIRN_EINVAL);
    cairn_worker_spec_free(&s);
    ctx_free(&c);
}

/* The "previous agent": a forked process with its own loop that starts a
 * worker and then waits to be SIGKILLed. */
static void previous_agent(const char *state, const char *pidfile, int ready_fd)
{
    const char *env[] = {"TW_IGNORE_TERM=1", NULL, NULL};
    struct cairn_worker_opts o = {0};
    struct cairn_worker_spec s;
    struct cairn_worker *w;
    char *e = cairn_xasprintf("TW_PIDFILE=%s", pidfile);
    uv_loop_t loop;

    env[1] = e;
    uv_loop_init(&loop);
    o.state_dir = state;
    o.name = "tw";
    if (cairn_worker_new(&loop, &o, NULL, NULL, &w, NULL) != 0)
        _exit(2);
    spec_init(&s, CAIRN_RESTART_ALWAYS, 1000, env);
    if (cairn_worker_start(w, &s, NULL) != 0)
        _exit(3);
    if (write(ready_fd, "r", 1) != 1)
        _exit(4);
    for (;;)
        uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_leftover_killed(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;
    char *agent_pf, *pf, ch;
    int fds[2], old, status;
    uint64_t t0;
    pid_t agent;

    o.grace_ms = 300;
    ctx_init(&c, &o);
    agent_pf = cairn_xasprintf("%s/old-worker.pid", c.state);
    pf = pidfile_of(&c);
    REQUIRE(pipe(fds) == 0);
    agent = fork();
    REQUIRE(agent >= 0);
    if (agent == 0)
        previous_agent(c.state, agent_pf, fds[1]);
    REQUIRE(read(fds[0], &ch, 1) == 1);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < 300 && (!read_pid(agent_pf) || access(pf, F_OK) != 0);
         i++)
        usleep(10000);
    old = read_pid(agent_pf);
    REQUIRE(old > 0);
    kill(agent, SIGKILL); /* the agent dies, its worker lives on */
    waitpid(agent, &status, 0);
    usleep(50000);
    CHECK(!proc_gone(old));

    /* The new agent: the leftover goes (it ignores SIGTERM: SIGKILL after
     * the grace period) before the new worker starts. */
    t0 = uv_now(&c.loop);
    start(&c, CAIRN_RESTART_ALWAYS, 1000, NULL);
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_STARTING);
    CHECK_INT_EQ(st.pid, 0);
    REQUIRE(run_until(&c, has_started, 5000));
    CHECK(proc_gone(old));
    CHECK(uv_now(&c.loop) - t0 >= 290);
    cairn_worker_status(c.w, &st);
    CHECK(st.pid > 0 && st.pid != old);
    CHECK_INT_EQ(read_pid(pf), st.pid);
    free(pf);
    free(agent_pf);
    ctx_free(&c);
}

static void test_stale_pidfile_spared(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    char *pf, *dir, line[64];
    struct ctx c;

    ctx_init(&c, &o);
    dir = cairn_xasprintf("%s/workloads/tw", c.state);
    REQUIRE(cairn_fs_mkdir_p(dir, 0755, NULL) == 0);
    pf = pidfile_of(&c);
    /* Our own pid with another start time: a reused pid, not a leftover. */
    snprintf(line, sizeof(line), "%d 12345\n", (int)getpid());
    test_write_file(pf, line, strlen(line));
    start(&c, CAIRN_RESTART_ALWAYS, 1000, NULL);
    cairn_worker_status(c.w, &st);
    CHECK_INT_EQ(st.state, CAIRN_WORKER_RUNNING); /* spawned at once */
    REQUIRE(run_until(&c, has_started, 5000));
    CHECK_INT_EQ(read_pid(pf), st.pid);
    /* Garbage in the pid file is ignored too. */
    REQUIRE(cairn_worker_stop(c.w, on_stop, &c) == 0);
    REQUIRE(run_until(&c, is_stopped, 5000));
    test_write_file(pf, "1 x\n", 4);
    c.nev = 0;
    start(&c, CAIRN_RESTART_ALWAYS, 1000, NULL);
    REQUIRE(run_until(&c, has_started, 5000));
    free(pf);
    free(dir);
    ctx_free(&c);
}

static void test_stop_clears_leftover(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx a, b;
    int pid;

    /* Worker started by supervisor a, which is then forgotten (as if its
     * agent died): b's stop finds and ends it via worker.pid. */
    o.grace_ms = 2000;
    ctx_init(&a, &o);
    start(&a, CAIRN_RESTART_ALWAYS, 1000, NULL);
    REQUIRE(run_until(&a, has_started, 5000));
    cairn_worker_status(a.w, &st);
    pid = st.pid;
    o.state_dir = NULL;
    memset(&b, 0, sizeof(b));
    REQUIRE(uv_loop_init(&b.loop) == 0);
    uv_timer_init(&b.loop, &b.tick);
    uv_timer_start(&b.tick, tick_cb, 10, 10);
    uv_unref((uv_handle_t *)&b.tick);
    b.state = cairn_xstrdup(a.state);
    o.state_dir = b.state;
    o.name = "tw";
    REQUIRE(cairn_worker_new(&b.loop, &o, on_event, &b, &b.w, NULL) == 0);
    REQUIRE(cairn_worker_stop(b.w, on_stop, &b) == 0);
    REQUIRE(run_until(&b, is_stopped, 5000));
    /* a's loop reaps its child. */
    REQUIRE(run_until(&a, exited_once, 5000));
    CHECK(proc_gone(pid));
    cairn_worker_close(b.w, close_cb, &b);
    CHECK(run_until(&b, is_closed, 5000));
    b.w = NULL;
    uv_close((uv_handle_t *)&b.tick, NULL);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&b.loop), 0);
    free(b.state);
    ctx_free(&a);
}

static int has_notice(struct ctx *c)
{
    for (int i = 0; i < c->nlines; i++)
        if (c->streams[i] == 0)
            return 1;
    return 0;
}

static void test_log_rate_limit(void)
{
    static const char *const env[] = {"TW_LINES=50", "TW_STDERR=on stderr",
                                      NULL};
    struct cairn_worker_opts o = {0};
    struct ctx c;
    int out = 0, err = 0;

    o.log_burst = 10;
    o.log_interval_ms = 300;
    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_ALWAYS, 1000, env);
    REQUIRE(run_until(&c, has_notice, 5000));
    for (int i = 0; i < c.nlines; i++) {
        out += c.streams[i] == 1;
        err += c.streams[i] == 2;
    }
    CHECK_INT_EQ(out + err, 10);
    CHECK_STR_EQ(c.lines[0], "line 0");
    CHECK_STR_EQ(c.lines[9], "line 9");
    /* 50 stdout lines + 1 stderr line, 10 logged. */
    CHECK_STR_EQ(c.lines[10], "41 lines suppressed (rate limit)");
    CHECK_INT_EQ(c.streams[10], 0);
    ctx_free(&c);
}

static int lines_at_least_3(struct ctx *c)
{
    return c->nlines >= 3;
}

static void test_log_lines_sanitized_and_cut(void)
{
    static const char *const env[] = {"TW_LINES=2", "TW_LINE_LEN=5000",
                                      "TW_CTRL=1", NULL};
    struct cairn_worker_opts o = {0};
    struct ctx c;

    o.log_line_max = 100;
    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_ALWAYS, 1000, env);
    REQUIRE(run_until(&c, lines_at_least_3, 5000));
    CHECK_INT_EQ(strlen(c.lines[0]), 100);
    CHECK(strncmp(c.lines[0], "line 0xxx", 9) == 0);
    CHECK_INT_EQ(strlen(c.lines[1]), 100);
    CHECK(strncmp(c.lines[1], "line 1xxx", 9) == 0);
    CHECK_STR_EQ(c.lines[2], "evil ?[31mred?[0m?carriage");
    ctx_free(&c);
}

static void test_close_while_running(void)
{
    struct cairn_worker_opts o = {0};
    struct cairn_worker_status st;
    struct ctx c;
    int pid;

    ctx_init(&c, &o);
    start(&c, CAIRN_RESTART_ALWAYS, 1000, NULL);
    REQUIRE(run_until(&c, has_started, 5000));
    cairn_worker_status(c.w, &st);
    pid = st.pid;
    ctx_free(&c); /* closes the worker: the process must be gone */
    CHECK(proc_gone(pid));
}

/* ---- specs from desired entries ---- */

static int has_line(struct ctx *c, const char *want)
{
    for (int i = 0; i < c->nlines; i++)
        if (strcmp(c->lines[i], want) == 0)
            return 1;
    return 0;
}

static int has_cwd_line(struct ctx *c)
{
    for (int i = 0; i < c->nlines; i++)
        if (strncmp(c->lines[i], "cwd ", 4) == 0)
            return 1;
    return 0;
}

static void test_spec_from_entry(void)
{
    static const char *hex =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    struct cairn_worker_opts o = {0};
    struct cairn_worker_spec s;
    struct cairn_diag d;
    struct ctx c;
    char *real, *want;
    json_t *wl;

    ctx_init(&c, &o);
    real = realpath(c.state, NULL);
    wl = json_pack("{s:s, s:{s:[s], s:{s:s, s:s}}, s:{s:s, s:s, s:s}, s:{s:s}, "
                   "s:{s:s, s:i}, s:[]}",
                   "name", "tw", "exec", "command", TESTWORKER, "env",
                   "TW_PRINT_ENV", "1", "XRAY_INBOX", "/srv/inbox", "model",
                   "name", "pneumonia", "version", "v2", "sha256", hex,
                   "uploads", "dir", "outbox", "restart", "policy",
                   "on-failure", "backoffMaxSeconds", 7, "files");
    cairn_diag_init(&d);
    REQUIRE(cairn_worker_spec_build(c.state, "st-olaf", wl, 4, &s, &d) == 0);
    CHECK_INT_EQ(s.policy, CAIRN_RESTART_ON_FAILURE);
    CHECK_INT_EQ(s.backoff_max_ms, 7000);
    REQUIRE(cairn_apply_prepare(c.state, wl, 4, NULL, NULL) == 0);
    CHECK_INT_EQ(cairn_worker_start(c.w, &s, NULL), 0);
    cairn_worker_spec_free(&s);
    REQUIRE(run_until(&c, has_cwd_line, 5000));
    want =
        cairn_xasprintf("env CAIRN_MODEL_PATH=%s/blobs/sha256/%s", real, hex);
    CHECK(has_line(&c, want));
    free(want);
    want =
        cairn_xasprintf("env CAIRN_CONFIG_DIR=%s/workloads/tw/config.4", real);
    CHECK(has_line(&c, want));
    free(want);
    want = cairn_xasprintf("env CAIRN_SECRETS_DIR=%s/workloads/tw/secrets.4",
                           real);
    CHECK(has_line(&c, want));
    free(want);
    want = cairn_xasprintf("env CAIRN_UPLOAD_DIR=%s/workloads/tw/work/outbox",
                           real);
    CHECK(has_line(&c, want));
    free(want);
    want = cairn_xasprintf("cwd %s/workloads/tw/work", real);
    CHECK(has_line(&c, want));
    free(want);
    want = cairn_xasprintf("env CAIRN_MODEL_SHA256=%s", hex);
    CHECK(has_line(&c, want));
    free(want);
    CHECK(has_line(&c, "env CAIRN_MODEL_VERSION=v2"));
    CHECK(has_line(&c, "env CAIRN_WORKLOAD=tw"));
    CHECK(has_line(&c, "env CAIRN_SITE=st-olaf"));
    CHECK(has_line(&c, "env CAIRN_GENERATION=4"));
    CHECK(has_line(&c, "env XRAY_INBOX=/srv/inbox"));
    {
        char *path = cairn_xasprintf("env PATH=%s", getenv("PATH"));

        CHECK(has_line(&c, path));
        free(path);
    }
    /* Nothing else leaks in from the agent's environment. */
    for (int i = 0; i < c.nlines; i++)
        if (strncmp(c.lines[i], "env ", 4) == 0)
            CHECK(strncmp(c.lines[i], "env CAIRN_", 10) == 0 ||
                  strncmp(c.lines[i], "env PATH=", 9) == 0 ||
                  strncmp(c.lines[i], "env XRAY_", 9) == 0 ||
                  strncmp(c.lines[i], "env TW_", 7) == 0);
    json_decref(wl);
    free(real);
    ctx_free(&c);
}

static void spec_refused(const char *json, const char *why)
{
    char *state = test_tmpdir();
    struct cairn_worker_spec s;
    struct cairn_diag d;
    json_t *wl = json_loads(json, 0, NULL);

    REQUIRE(wl != NULL);
    cairn_diag_init(&d);
    CHECK_INT_EQ(cairn_worker_spec_build(state, NULL, wl, 1, &s, &d),
                 CAIRN_EINVAL);
    CHECK_STR_HAS(d.msg, why);
    json_decref(wl);
    test_rm_rf(state);
    free(state);
}

static void test_spec_refused(void)
{
    spec_refused("{\"name\":\"a\",\"exec\":{\"command\":[],\"env\":{}}}",
                 "exec.command");
    spec_refused("{\"name\":\"a\",\"exec\":{\"command\":[\"\"],\"env\":{}}}",
                 "exec.command[0]");
    spec_refused("{\"name\":\"a\",\"exec\":{\"command\":[\"x\",1],\"env\":{}}}",
                 "exec.command[1]");
    spec_refused("{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{"
                 "\"CAIRN_MODEL_PATH\":"
                 "\"/etc/shadow\"}}}",
                 "reserved");
    spec_refused("{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{\"A="
                 "B\":\"c\"}}}",
                 "not a variable name");
    spec_refused(
        "{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{\"A\":1}}}",
        "exec.env.A");
    spec_refused(
        "{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{}},\"restart\":"
        "{\"policy\":\"sometimes\",\"backoffMaxSeconds\":1}}",
        "restart.policy");
    spec_refused(
        "{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{}},\"restart\":"
        "{\"policy\":\"never\",\"backoffMaxSeconds\":0}}",
        "backoffMaxSeconds");
    spec_refused(
        "{\"name\":\"a\",\"exec\":{\"command\":[\"x\"],\"env\":{}},\"model\":"
        "{\"name\":\"m\",\"version\":\"v\",\"sha256\":\"../../x\"}}",
        "model");
    spec_refused(
        "{\"name\":\"../a\",\"exec\":{\"command\":[\"x\"],\"env\":{}}}",
        "name");
}

int main(void)
{
    /* Orphans (the "previous agent"'s worker) are reparented to us. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    RUN(test_start_stop_grace);
    RUN(test_sigkill_fallback);
    RUN(test_backoff_sequence);
    RUN(test_backoff_reset_after_stable);
    RUN(test_crashloop);
    RUN(test_policies);
    RUN(test_never_stays_down);
    RUN(test_program_found_on_path);
    RUN(test_spawn_failure);
    RUN(test_leftover_killed);
    RUN(test_stale_pidfile_spared);
    RUN(test_stop_clears_leftover);
    RUN(test_log_rate_limit);
    RUN(test_log_lines_sanitized_and_cut);
    RUN(test_close_while_running);
    RUN(test_spec_from_entry);
    RUN(test_spec_refused);
    return test_done();
}
