/*
 * Supervise: one worker process per workload on the agent's loop (see
 * supervise.h and docs/internals/supervise.md).
 *
 * A spawned process is a `struct run` (its uv_process_t and two pipes),
 * freed when its last handle is closed; only then is the exit acted on
 * (restart, stop completion), so the next process never overlaps a
 * previous one's handles. The supervisor's timers live in struct
 * cairn_worker and are closed with it.
 */
#include "supervise.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/log.h"
#include "cairn/mem.h"

#define DRAIN_MS 500 /* output read after the leader exits */
#define LEFTOVER_POLL_MS 100
#define READ_BUF 16384

enum stop_kind { STOP_NONE, STOP_USER, STOP_CLOSE };

struct linebuf {
    char *buf;
    size_t len;
    int cut; /* the current line was too long: drop until newline */
};

struct run {
    uv_process_t proc;
    uv_pipe_t pipes[2]; /* stdout, stderr */
    struct linebuf lines[2];
    struct cairn_worker *w;
    int open_handles;
    int pipe_open[2];
    int exited;
    int64_t exit_status;
    int term_signal;
    char reason[128];
    uint64_t started_at; /* uv_now */
    int pid;
};

struct cairn_worker {
    uv_loop_t *loop;
    char *state_dir, *name, *pidfile;
    uint64_t grace_ms, stable_ms, backoff_initial_ms, log_interval_ms;
    unsigned crashloop_exits, log_burst;
    size_t log_line_max;
    cairn_worker_log_cb log_cb;
    void *log_arg;
    cairn_worker_event_cb ev_cb;
    void *ev_arg;

    struct cairn_worker_spec spec;
    int have_spec;
    struct run *run;

    /* state */
    enum cairn_worker_state state;
    int64_t since_ms;
    unsigned restarts, short_runs;
    int crashloop;
    char last_exit[128];
    int pending_started; /* pid whose STARTED event is due */
    int pending_stop_done;

    /* stop */
    enum stop_kind stopping;
    cairn_worker_stop_cb stop_cb;
    void *stop_arg;

    /* leftover of a previous agent */
    int lo_pid;
    unsigned long long lo_start;
    uint64_t lo_deadline;
    int lo_killed;

    /* output rate limit */
    uint64_t log_window_start;
    unsigned log_count;
    uint64_t suppressed;
    char rbuf[READ_BUF];

    /* close */
    int closing;
    int timers_open;
    void (*close_cb)(void *);
    void *close_arg;

    uv_timer_t backoff_timer, grace_timer, stable_timer, log_timer, drain_timer,
        poll_timer, defer_timer;
};

static void spawn_now(struct cairn_worker *w);
static void maybe_finish_close(struct cairn_worker *w);

/* ---- small helpers ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_state(struct cairn_worker *w, enum cairn_worker_state s)
{
    if (w->state != s) {
        w->state = s;
        w->since_ms = wall_ms();
    }
}

const char *cairn_worker_state_name(enum cairn_worker_state s)
{
    switch (s) {
    case CAIRN_WORKER_STOPPED:
        return "stopped";
    case CAIRN_WORKER_STARTING:
        return "starting";
    case CAIRN_WORKER_RUNNING:
        return "running";
    case CAIRN_WORKER_CRASHLOOP:
        return "crashloop";
    case CAIRN_WORKER_FAILED:
        return "failed";
    }
    return "unknown";
}

void cairn_worker_exit_text(int64_t exit_status, int term_signal, char *out,
                            size_t out_size)
{
    if (term_signal)
        snprintf(out, out_size, "signal %d", term_signal);
    else
        snprintf(out, out_size, "exit %" PRId64, exit_status);
}

const char *cairn_worker_name(const struct cairn_worker *w)
{
    return w->name;
}

void cairn_worker_status(const struct cairn_worker *w,
                         struct cairn_worker_status *out)
{
    memset(out, 0, sizeof(*out));
    out->state = w->state;
    out->pid = w->run && !w->run->exited ? w->run->pid : 0;
    out->restarts = w->restarts;
    out->short_runs = w->short_runs;
    memcpy(out->last_exit, w->last_exit, sizeof(out->last_exit));
    out->since_ms = w->since_ms;
    out->stopping = w->stopping != STOP_NONE;
}

static void emit(struct cairn_worker *w, enum cairn_worker_event_type type,
                 int pid, const char *reason, int64_t restart_in_ms)
{
    struct cairn_worker_event ev = {type, pid, reason ? reason : "",
                                    restart_in_ms, w->short_runs};

    if (w->ev_cb && !w->closing)
        w->ev_cb(w, &ev, w->ev_arg);
}

/* ---- /proc and the pid file ---- */

/* Start time (field 22 of /proc/PID/stat, clock ticks since boot) and
 * state letter of pid. 0 when the process exists. */
static int proc_start(int pid, unsigned long long *start, char *state)
{
    char path[64], *buf = NULL, *p, *end;
    size_t len;
    int rc = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (cairn_fs_read(path, 4096, &buf, &len, NULL) != 0)
        return -1;
    /* The command name (field 2) may hold spaces and parentheses: fields
     * are counted after its last ')'. */
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        goto out;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p)
        goto out;
    errno = 0;
    *start = strtoull(p, &end, 10);
    if (errno == 0 && end != p && (*end == ' ' || *end == '\n' || *end == '\0'))
        rc = 0;
out:
    free(buf);
    return rc;
}

/* Is pid still the process that started at start (and not a zombie)? */
static int same_process(int pid, unsigned long long start)
{
    unsigned long long now_start;
    char st;

    return proc_start(pid, &now_start, &st) == 0 && now_start == start &&
           st != 'Z' && st != 'X';
}

/* Written by rename so a reader never sees half a line; not fsync'd: it
 * guards against an agent crash, and a power cut ends the worker too. */
static void pidfile_write(struct cairn_worker *w, int pid)
{
    char line[64], *tmp, *dir;
    unsigned long long start;
    char st;
    FILE *f;

    if (proc_start(pid, &start, &st) != 0) {
        LOG_WARN("worker %s[%d]: cannot read its start time; no pid file",
                 w->name, pid);
        return;
    }
    dir = cairn_apply_workload_dir(w->state_dir, w->name);
    if (cairn_fs_mkdir_p(dir, 0755, NULL) != 0)
        LOG_WARN("worker %s: cannot create %s", w->name, dir);
    tmp = cairn_xasprintf("%s/.worker.pid.tmp", dir);
    snprintf(line, sizeof(line), "%d %llu\n", pid, start);
    f = fopen(tmp, "we");
    if (f) {
        int bad = fputs(line, f) < 0;

        if (fclose(f) != 0 || bad || rename(tmp, w->pidfile) != 0)
            f = NULL;
    }
    if (!f) {
        LOG_WARN("worker %s[%d]: cannot write %s: %s", w->name, pid, w->pidfile,
                 strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    free(dir);
}

/* Parse "PID START\n"; 0 on success. */
static int pidfile_read(const struct cairn_worker *w, int *pid,
                        unsigned long long *start)
{
    char *buf = NULL, *end;
    long p;
    int rc = -1;

    if (cairn_fs_read(w->pidfile, 64, &buf, NULL, NULL) != 0)
        return -1;
    errno = 0;
    p = strtol(buf, &end, 10);
    if (errno || end == buf || *end != ' ' || p <= 1 || p > INT32_MAX)
        goto out;
    *start = strtoull(end + 1, &end, 10);
    if (errno || *end != '\n' || end[1] != '\0')
        goto out;
    *pid = (int)p;
    rc = 0;
out:
    free(buf);
    return rc;
}

static void pidfile_remove(struct cairn_worker *w, int pid)
{
    unsigned long long start;
    int p;

    /* Only our own line: a crashed earlier attempt may have left another. */
    if (pidfile_read(w, &p, &start) == 0 && p != pid)
        return;
    if (unlink(w->pidfile) != 0 && errno != ENOENT)
        LOG_WARN("worker %s: cannot remove %s: %s", w->name, w->pidfile,
                 strerror(errno));
}

/* Signal the process group led by pid. After the leader is gone its
 * group id stays reserved while members live, so when no process has pid
 * any more, the group's members can only be the worker's own descendants. */
static void kill_group(int pid, int sig, int leader_known_alive)
{
    if (leader_known_alive || (kill(pid, 0) != 0 && errno == ESRCH))
        kill(-pid, sig);
    if (leader_known_alive)
        kill(pid, sig); /* in case it left the group */
}

/* ---- output ---- */

static void out_line(struct cairn_worker *w, int pid, int stream,
                     const char *line)
{
    if (w->log_cb)
        w->log_cb(w->log_arg, w->name, stream, line);
    else if (stream == 0)
        LOG_WARN("worker %s: %s", w->name, line);
    else
        LOG_INFO("worker %s[%d]%s: %s", w->name, pid,
                 stream == 2 ? " stderr" : "", line);
}

static void flush_suppressed(struct cairn_worker *w)
{
    char msg[96];

    if (w->suppressed) {
        snprintf(msg, sizeof(msg), "%" PRIu64 " lines suppressed (rate limit)",
                 w->suppressed);
        w->suppressed = 0;
        out_line(w, 0, 0, msg);
    }
    uv_timer_stop(&w->log_timer);
    w->log_window_start = uv_now(w->loop);
    w->log_count = 0;
}

static void log_timer_cb(uv_timer_t *t)
{
    flush_suppressed(cairn_container_of(t, struct cairn_worker, log_timer));
}

/* One complete line: sanitize (a worker must not forge log lines or
 * terminal escapes), rate limit, output. */
static void rate_line(struct cairn_worker *w, int pid, int stream, char *line,
                      size_t n)
{
    uint64_t now = uv_now(w->loop);

    for (size_t i = 0; i < n; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
            line[i] == 0x7f)
            line[i] = '?';
    line[n] = '\0';
    if (now - w->log_window_start >= w->log_interval_ms) {
        if (w->suppressed)
            flush_suppressed(w);
        w->log_window_start = now;
        w->log_count = 0;
    }
    if (w->log_count < w->log_burst) {
        w->log_count++;
        out_line(w, pid, stream, line);
        return;
    }
    if (w->suppressed++ == 0)
        uv_timer_start(&w->log_timer, log_timer_cb,
                       w->log_window_start + w->log_interval_ms - now, 0);
}

static void feed(struct run *r, int idx, const char *p, size_t n)
{
    struct cairn_worker *w = r->w;
    struct linebuf *lb = &r->lines[idx];

    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;

        if (!lb->cut) {
            size_t room = w->log_line_max - lb->len;
            size_t copy = take < room ? take : room;

            memcpy(lb->buf + lb->len, p, copy);
            lb->len += copy;
            if (take > copy || (lb->len == w->log_line_max && !nl)) {
                /* Over the cap: log what we have, drop the rest of it. */
                rate_line(w, r->pid, idx + 1, lb->buf, lb->len);
                lb->len = 0;
                lb->cut = 1;
            }
        }
        if (nl) {
            if (!lb->cut) {
                if (lb->len && lb->buf[lb->len - 1] == '\r')
                    lb->len--;
                rate_line(w, r->pid, idx + 1, lb->buf, lb->len);
            }
            lb->len = 0;
            lb->cut = 0;
            take++;
        }
        p += take;
        n -= take;
    }
}

/* ---- runs ---- */

static void run_finished(struct run *r);

static void run_close_cb(uv_handle_t *h)
{
    struct run *r = h->data;

    if (--r->open_handles == 0)
        run_finished(r);
}

static void close_pipe(struct run *r, int idx)
{
    if (!r->pipe_open[idx])
        return;
    r->pipe_open[idx] = 0;
    if (r->lines[idx].len && !r->lines[idx].cut)
        rate_line(r->w, r->pid, idx + 1, r->lines[idx].buf, r->lines[idx].len);
    r->lines[idx].len = 0;
    uv_close((uv_handle_t *)&r->pipes[idx], run_close_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct run *r = h->data;

    (void)suggested;
    /* One buffer per supervisor: libuv delivers each read before the next
     * allocation. */
    *buf = uv_buf_init(r->w->rbuf, sizeof(r->w->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct run *r = s->data;
    int idx = s == (uv_stream_t *)&r->pipes[0] ? 0 : 1;

    if (nread > 0)
        feed(r, idx, buf->base, (size_t)nread);
    else if (nread < 0)
        close_pipe(r, idx);
}

static void drain_timer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, drain_timer);

    /* A descendant that left the group still holds the pipes open. */
    if (w->run) {
        close_pipe(w->run, 0);
        close_pipe(w->run, 1);
    }
}

static void exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct run *r = p->data;
    struct cairn_worker *w = r->w;

    r->exited = 1;
    r->exit_status = exit_status;
    r->term_signal = term_signal;
    cairn_worker_exit_text(exit_status, term_signal, r->reason,
                           sizeof(r->reason));
    kill_group(r->pid, SIGKILL, 0); /* stragglers of the group */
    uv_close((uv_handle_t *)p, run_close_cb);
    uv_timer_stop(&w->grace_timer);
    uv_timer_stop(&w->stable_timer);
    if (r->pipe_open[0] || r->pipe_open[1])
        uv_timer_start(&w->drain_timer, drain_timer_cb, DRAIN_MS, 0);
}

static struct run *run_new(struct cairn_worker *w)
{
    struct run *r = cairn_xcalloc(1, sizeof(*r));

    r->w = w;
    for (int i = 0; i < 2; i++) {
        r->lines[i].buf = cairn_xmalloc(w->log_line_max + 1);
        uv_pipe_init(w->loop, &r->pipes[i], 0);
        r->pipes[i].data = r;
        r->pipe_open[i] = 1;
    }
    r->proc.data = r;
    r->open_handles = 3;
    r->started_at = uv_now(w->loop);
    return r;
}

static void run_free(struct run *r)
{
    free(r->lines[0].buf);
    free(r->lines[1].buf);
    free(r);
}

static void defer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, defer_timer);
    cairn_worker_stop_cb cb;

    if (w->pending_started) {
        int pid = w->pending_started;

        w->pending_started = 0;
        emit(w, CAIRN_WORKER_EV_STARTED, pid, "", 0);
    }
    if (w->pending_stop_done) {
        w->pending_stop_done = 0;
        w->stopping = STOP_NONE;
        cb = w->stop_cb;
        w->stop_cb = NULL;
        if (cb)
            cb(w, w->stop_arg);
        maybe_finish_close(w);
    }
}

static void defer(struct cairn_worker *w)
{
    uv_timer_start(&w->defer_timer, defer_cb, 0, 0);
}

static void stable_timer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, stable_timer);

    w->short_runs = 0;
    if (w->crashloop) {
        w->crashloop = 0;
        LOG_INFO("worker %s: stable again, crash loop over", w->name);
    }
    if (w->run && !w->run->exited && w->stopping == STOP_NONE)
        set_state(w, CAIRN_WORKER_RUNNING);
    emit(w, CAIRN_WORKER_EV_STABLE, w->run ? w->run->pid : 0, "", 0);
}

static void spawn_failed(struct cairn_worker *w, struct run *r, int err)
{
    r->exited = 1;
    r->exit_status = 127;
    snprintf(r->reason, sizeof(r->reason), "spawn failed: %s",
             uv_strerror(err));
    uv_close((uv_handle_t *)&r->proc, run_close_cb);
    r->pipe_open[0] = r->pipe_open[1] = 0;
    uv_close((uv_handle_t *)&r->pipes[0], run_close_cb);
    uv_close((uv_handle_t *)&r->pipes[1], run_close_cb);
    (void)w;
}

static void spawn_now(struct cairn_worker *w)
{
    struct run *r = run_new(w);
    uv_stdio_container_t stdio[3];
    uv_process_options_t o;
    int err;

    memset(&o, 0, sizeof(o));
    memset(stdio, 0, sizeof(stdio));
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        stdio[i + 1].flags =
            (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
        stdio[i + 1].data.stream = (uv_stream_t *)&r->pipes[i];
    }
    o.exit_cb = exit_cb;
    o.file = w->spec.argv[0];
    o.args = w->spec.argv;
    o.env = w->spec.env;
    o.cwd = w->spec.cwd;
    o.flags = UV_PROCESS_DETACHED; /* setsid: its own process group */
    o.stdio_count = 3;
    o.stdio = stdio;
    w->run = r;
    err = uv_spawn(w->loop, &r->proc, &o);
    if (err) {
        LOG_WARN("worker %s: cannot start %s: %s", w->name, w->spec.argv[0],
                 uv_strerror(err));
        spawn_failed(w, r, err);
        return;
    }
    r->pid = r->proc.pid;
    for (int i = 0; i < 2; i++)
        uv_read_start((uv_stream_t *)&r->pipes[i], alloc_cb, read_cb);
    pidfile_write(w, r->pid);
    set_state(w, w->crashloop ? CAIRN_WORKER_CRASHLOOP : CAIRN_WORKER_RUNNING);
    uv_timer_start(&w->stable_timer, stable_timer_cb, w->stable_ms, 0);
    LOG_INFO("worker %s[%d]: started %s", w->name, r->pid, w->spec.argv[0]);
    w->pending_started = r->pid;
    defer(w);
}

static void backoff_timer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, backoff_timer);

    w->restarts++;
    spawn_now(w);
}

static uint64_t backoff_delay(const struct cairn_worker *w)
{
    uint64_t delay = w->backoff_initial_ms;

    for (unsigned i = 1; i < w->short_runs && delay < w->spec.backoff_max_ms;
         i++)
        delay *= 2;
    return delay < w->spec.backoff_max_ms ? delay : w->spec.backoff_max_ms;
}

static int wants_restart(const struct cairn_worker *w, const struct run *r)
{
    int clean = r->term_signal == 0 && r->exit_status == 0;

    switch (w->spec.policy) {
    case CAIRN_RESTART_ALWAYS:
        return 1;
    case CAIRN_RESTART_ON_FAILURE:
        return !clean;
    case CAIRN_RESTART_NEVER:
        return 0;
    }
    return 0;
}

static void finish_stop(struct cairn_worker *w)
{
    set_state(w, CAIRN_WORKER_STOPPED);
    w->pending_stop_done = 1;
    defer(w);
}

/* An exit nobody asked for: apply the restart policy, then tell. */
static void unexpected_exit(struct cairn_worker *w, struct run *r,
                            uint64_t uptime)
{
    int clean = r->term_signal == 0 && r->exit_status == 0;
    int64_t delay = -1;
    int entered = 0;

    if (uptime < w->stable_ms)
        w->short_runs++;
    else
        w->short_runs = 0;
    if (!w->crashloop && w->short_runs >= w->crashloop_exits) {
        w->crashloop = entered = 1;
    }
    if (wants_restart(w, r)) {
        delay = (int64_t)backoff_delay(w);
        uv_timer_start(&w->backoff_timer, backoff_timer_cb, (uint64_t)delay, 0);
        set_state(w, w->crashloop ? CAIRN_WORKER_CRASHLOOP
                                  : CAIRN_WORKER_STARTING);
    } else {
        set_state(w, clean ? CAIRN_WORKER_STOPPED : CAIRN_WORKER_FAILED);
    }
    LOG_WARN("worker %s[%d]: %s after %.1f s; %s", w->name, r->pid, r->reason,
             (double)uptime / 1000.0,
             delay >= 0 ? "restarting" : "not restarting");
    if (delay >= 0)
        LOG_INFO("worker %s: restart in %.1f s", w->name,
                 (double)delay / 1000.0);
    if (entered)
        LOG_WARN("worker %s: crash loop (%u short runs in a row); retrying "
                 "every %.0f s",
                 w->name, w->short_runs,
                 (double)w->spec.backoff_max_ms / 1000.0);
    emit(w, CAIRN_WORKER_EV_EXITED, r->pid, r->reason, delay);
    if (entered)
        emit(w, CAIRN_WORKER_EV_CRASHLOOP, r->pid, r->reason, delay);
}

static void run_finished(struct run *r)
{
    struct cairn_worker *w = r->w;
    uint64_t uptime = uv_now(w->loop) - r->started_at;

    uv_timer_stop(&w->drain_timer);
    if (r->pid)
        pidfile_remove(w, r->pid);
    memcpy(w->last_exit, r->reason, sizeof(w->last_exit));
    w->run = NULL;
    if (w->stopping != STOP_NONE) {
        LOG_INFO("worker %s[%d]: stopped (%s)", w->name, r->pid, r->reason);
        finish_stop(w);
    } else if (!w->closing) {
        unexpected_exit(w, r, uptime);
    }
    run_free(r);
    maybe_finish_close(w);
}

/* ---- leftovers of a previous agent ---- */

static void leftover_done(struct cairn_worker *w)
{
    uv_timer_stop(&w->poll_timer);
    w->lo_pid = 0;
    if (unlink(w->pidfile) != 0 && errno != ENOENT)
        LOG_WARN("worker %s: cannot remove %s: %s", w->name, w->pidfile,
                 strerror(errno));
    if (w->stopping != STOP_NONE)
        finish_stop(w);
    else if (!w->closing && w->have_spec)
        spawn_now(w);
    maybe_finish_close(w);
}

static void poll_timer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, poll_timer);

    if (!same_process(w->lo_pid, w->lo_start)) {
        kill_group(w->lo_pid, SIGKILL, 0); /* its group's stragglers */
        LOG_INFO("worker %s: leftover process %d is gone", w->name, w->lo_pid);
        leftover_done(w);
        return;
    }
    if (!w->lo_killed && uv_now(w->loop) >= w->lo_deadline) {
        LOG_WARN("worker %s: leftover process %d ignored SIGTERM; SIGKILL",
                 w->name, w->lo_pid);
        kill_group(w->lo_pid, SIGKILL, getpgid(w->lo_pid) == w->lo_pid);
        kill(w->lo_pid, SIGKILL);
        w->lo_killed = 1;
    }
}

/* Begin stopping a process recorded in worker.pid by an earlier agent;
 * 0 when there is none. */
static int leftover_begin(struct cairn_worker *w)
{
    unsigned long long start;
    int pid;

    if (pidfile_read(w, &pid, &start) != 0)
        return 0;
    if (!same_process(pid, start)) {
        /* Stale: the process is gone (or its pid now names another). Its
         * group is not signalled: the pid may since have been reused by a
         * process that made a group of its own. */
        unlink(w->pidfile);
        return 0;
    }
    LOG_WARN("worker %s: stopping leftover worker %d of a previous agent",
             w->name, pid);
    w->lo_pid = pid;
    w->lo_start = start;
    w->lo_killed = 0;
    w->lo_deadline = uv_now(w->loop) + w->grace_ms;
    kill_group(pid, SIGTERM, getpgid(pid) == pid);
    kill(pid, SIGTERM);
    uv_timer_start(&w->poll_timer, poll_timer_cb, LEFTOVER_POLL_MS,
                   LEFTOVER_POLL_MS);
    return 1;
}

/* ---- public: lifecycle ---- */

static void timer_close_cb(uv_handle_t *h)
{
    struct cairn_worker *w = h->data;
    void (*cb)(void *) = w->close_cb;
    void *arg = w->close_arg;

    if (--w->timers_open > 0)
        return;
    cairn_worker_spec_free(&w->spec);
    free(w->state_dir);
    free(w->name);
    free(w->pidfile);
    free(w);
    if (cb)
        cb(arg);
}

static uv_timer_t *timer_at(struct cairn_worker *w, int i)
{
    uv_timer_t *all[] = {&w->backoff_timer, &w->grace_timer, &w->stable_timer,
                         &w->log_timer,     &w->drain_timer, &w->poll_timer,
                         &w->defer_timer};

    return i < (int)CAIRN_ARRAY_LEN(all) ? all[i] : NULL;
}

/* Free once closing and nothing is left to wait for. */
static void maybe_finish_close(struct cairn_worker *w)
{
    uv_timer_t *t;

    if (!w->closing || w->run || w->lo_pid || w->pending_stop_done ||
        w->timers_open)
        return;
    for (int i = 0; (t = timer_at(w, i)) != NULL; i++)
        w->timers_open++;
    for (int i = 0; (t = timer_at(w, i)) != NULL; i++)
        uv_close((uv_handle_t *)t, timer_close_cb);
}

static uint64_t or_default(uint64_t v, uint64_t def)
{
    return v ? v : def;
}

int cairn_worker_new(uv_loop_t *loop, const struct cairn_worker_opts *opts,
                     cairn_worker_event_cb event_cb, void *arg,
                     struct cairn_worker **out, struct cairn_diag *d)
{
    struct cairn_worker *w;
    uv_timer_t *t;

    if (!loop || !opts || !opts->state_dir || !out)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "worker: missing loop, options or state dir");
    if (!cairn_apply_name_ok(opts->name))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "worker: name \"%s\" is not a DNS label",
                              opts->name ? opts->name : "(null)");
    w = cairn_xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->state_dir = cairn_xstrdup(opts->state_dir);
    w->name = cairn_xstrdup(opts->name);
    w->pidfile = cairn_xasprintf("%s/workloads/%s/worker.pid", opts->state_dir,
                                 opts->name);
    w->grace_ms = or_default(opts->grace_ms, 10000);
    w->stable_ms = or_default(opts->stable_ms, 30000);
    w->backoff_initial_ms = or_default(opts->backoff_initial_ms, 1000);
    w->crashloop_exits = opts->crashloop_exits ? opts->crashloop_exits : 5;
    w->log_burst = opts->log_burst ? opts->log_burst : 200;
    w->log_interval_ms = or_default(opts->log_interval_ms, 10000);
    w->log_line_max = opts->log_line_max ? opts->log_line_max : 2048;
    w->log_cb = opts->log_cb;
    w->log_arg = opts->log_arg;
    w->ev_cb = event_cb;
    w->ev_arg = arg;
    w->state = CAIRN_WORKER_STOPPED;
    w->since_ms = wall_ms();
    for (int i = 0; (t = timer_at(w, i)) != NULL; i++) {
        uv_timer_init(loop, t);
        t->data = w;
    }
    w->log_window_start = uv_now(loop);
    *out = w;
    return 0;
}

static char **copy_strv(char *const *v)
{
    size_t n = 0;
    char **c;

    while (v[n])
        n++;
    c = cairn_xcalloc(n + 1, sizeof(*c));
    for (size_t i = 0; i < n; i++)
        c[i] = cairn_xstrdup(v[i]);
    return c;
}

int cairn_worker_start(struct cairn_worker *w,
                       const struct cairn_worker_spec *spec,
                       struct cairn_diag *d)
{
    if (w->closing || w->stopping != STOP_NONE || w->run)
        return cairn_diag_set(d, CAIRN_ESTATE, "worker %s: %s", w->name,
                              w->closing ? "closing"
                              : w->run   ? "already running"
                                         : "stopping");
    if (!spec || !spec->argv || !spec->argv[0] || !spec->env ||
        !spec->backoff_max_ms)
        return cairn_diag_set(d, CAIRN_EINVAL, "worker %s: incomplete spec",
                              w->name);
    cairn_worker_spec_free(&w->spec);
    w->spec.argv = copy_strv(spec->argv);
    w->spec.env = copy_strv(spec->env);
    w->spec.cwd = spec->cwd ? cairn_xstrdup(spec->cwd) : NULL;
    w->spec.policy = spec->policy;
    w->spec.backoff_max_ms = spec->backoff_max_ms;
    w->have_spec = 1;
    w->restarts = 0;
    w->short_runs = 0;
    w->crashloop = 0;
    uv_timer_stop(&w->backoff_timer);
    if (w->lo_pid) /* a leftover is being stopped: spawn when it is gone */
        return 0;
    if (leftover_begin(w)) {
        set_state(w, CAIRN_WORKER_STARTING);
        return 0;
    }
    spawn_now(w);
    return 0;
}

static void grace_timer_cb(uv_timer_t *t)
{
    struct cairn_worker *w =
        cairn_container_of(t, struct cairn_worker, grace_timer);

    if (w->run && !w->run->exited) {
        LOG_WARN("worker %s[%d]: still running %.1f s after SIGTERM; SIGKILL",
                 w->name, w->run->pid, (double)w->grace_ms / 1000.0);
        kill_group(w->run->pid, SIGKILL, 1);
    }
}

static void begin_stop(struct cairn_worker *w, enum stop_kind kind)
{
    w->stopping = kind;
    uv_timer_stop(&w->backoff_timer);
    if (w->run && !w->run->exited) {
        LOG_INFO("worker %s[%d]: stopping (SIGTERM, %.1f s grace)", w->name,
                 w->run->pid, (double)w->grace_ms / 1000.0);
        kill_group(w->run->pid, SIGTERM, 1);
        uv_timer_start(&w->grace_timer, grace_timer_cb, w->grace_ms, 0);
    } else if (w->run || w->lo_pid) {
        /* exit or leftover in progress: completion follows from there */
    } else if (kind == STOP_USER && leftover_begin(w)) {
        /* done in leftover_done */
    } else {
        finish_stop(w);
    }
}

int cairn_worker_stop(struct cairn_worker *w, cairn_worker_stop_cb cb,
                      void *arg)
{
    if (w->closing || w->stopping != STOP_NONE)
        return CAIRN_ESTATE;
    w->stop_cb = cb;
    w->stop_arg = arg;
    begin_stop(w, STOP_USER);
    return 0;
}

void cairn_worker_close(struct cairn_worker *w, void (*close_cb)(void *arg),
                        void *arg)
{
    if (!w)
        return;
    w->close_cb = close_cb;
    w->close_arg = arg;
    w->pending_started = 0;
    if (w->stopping == STOP_NONE)
        begin_stop(w, STOP_CLOSE);
    w->closing = 1;
    maybe_finish_close(w);
}

/* ---- specs ---- */

void cairn_worker_spec_free(struct cairn_worker_spec *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->argv && s->argv[i]; i++)
        free(s->argv[i]);
    for (size_t i = 0; s->env && s->env[i]; i++)
        free(s->env[i]);
    free(s->argv);
    free(s->env);
    free(s->cwd);
    memset(s, 0, sizeof(*s));
}

int cairn_restart_policy_parse(const char *s, enum cairn_restart_policy *out)
{
    static const char *const names[] = {"always", "on-failure", "never"};

    for (size_t i = 0; s && i < CAIRN_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum cairn_restart_policy)i;
            return 0;
        }
    return CAIRN_EINVAL;
}

struct envb {
    char **v;
    size_t n, alloc;
};

static void env_add(struct envb *e, char *kv)
{
    if (e->n + 2 > e->alloc) {
        e->alloc = e->alloc ? e->alloc * 2 : 16;
        e->v = cairn_xrealloc(e->v, e->alloc * sizeof(*e->v));
    }
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static int env_name_ok(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return 0;
    for (const char *p = k + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              *p == '_' || (*p >= '0' && *p <= '9')))
            return 0;
    return strlen(k) <= 255;
}

static int str_ok(const json_t *v)
{
    return json_is_string(v) &&
           strlen(json_string_value(v)) == json_string_length(v);
}

static int build_argv(const json_t *exec, struct cairn_worker_spec *s,
                      struct cairn_diag *d)
{
    const json_t *cmd = json_object_get(exec, "command");
    size_t n = json_array_size(cmd);

    if (!json_is_array(cmd) || n == 0 || n > 1024)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "exec.command: not a list of 1 to 1024 "
                              "strings");
    s->argv = cairn_xcalloc(n + 1, sizeof(*s->argv));
    for (size_t i = 0; i < n; i++) {
        if (!str_ok(json_array_get(cmd, i)) ||
            (i == 0 && !*json_string_value(json_array_get(cmd, 0))))
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "exec.command[%zu]: not a string "
                                  "(or empty program, or a NUL byte)",
                                  i);
        s->argv[i] = cairn_xstrdup(json_string_value(json_array_get(cmd, i)));
    }
    return 0;
}

static int build_user_env(const json_t *exec, struct envb *e, int *has_path,
                          struct cairn_diag *d)
{
    const json_t *env = json_object_get(exec, "env"), *v;
    const char *k;

    if (!env)
        return 0;
    if (!json_is_object(env))
        return cairn_diag_set(d, CAIRN_EINVAL, "exec.env: not an object");
    json_object_foreach((json_t *)env, k, v)
    {
        if (!env_name_ok(k))
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "exec.env: \"%s\" is not a variable "
                                  "name ([A-Za-z_][A-Za-z0-9_]*)",
                                  k);
        if (strncmp(k, "CAIRN_", 6) == 0)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "exec.env.%s: CAIRN_ names are "
                                  "reserved for the agent",
                                  k);
        if (!str_ok(v))
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "exec.env.%s: not a string (or a NUL "
                                  "byte)",
                                  k);
        if (strcmp(k, "PATH") == 0)
            *has_path = 1;
        env_add(e, cairn_xasprintf("%s=%s", k, json_string_value(v)));
    }
    return 0;
}

static int model_env(const json_t *wl, const char *state, struct envb *e,
                     struct cairn_diag *d)
{
    const json_t *m = json_object_get(wl, "model");
    const char *sha, *ver, *name;
    char *blob;

    if (!m)
        return 0;
    sha = json_string_value(json_object_get(m, "sha256"));
    ver = json_string_value(json_object_get(m, "version"));
    name = json_string_value(json_object_get(m, "name"));
    if (!json_is_object(m) || !sha || !cairn_is_sha256_hex(sha) || !ver ||
        !name || !str_ok(json_object_get(m, "version")) ||
        !str_ok(json_object_get(m, "name")))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "model: needs name, version and a sha256 "
                              "of 64 lower-case hex digits");
    blob = cairn_apply_blob_path(state, sha);
    env_add(e, cairn_xasprintf("CAIRN_MODEL_PATH=%s", blob));
    env_add(e, cairn_xasprintf("CAIRN_MODEL_SHA256=%s", sha));
    env_add(e, cairn_xasprintf("CAIRN_MODEL_VERSION=%s", ver));
    env_add(e, cairn_xasprintf("CAIRN_MODEL_NAME=%s", name));
    free(blob);
    return 0;
}

static int restart_of(const json_t *wl, struct cairn_worker_spec *s,
                      struct cairn_diag *d)
{
    const json_t *r = json_object_get(wl, "restart");
    const json_t *max = json_object_get(r, "backoffMaxSeconds");

    s->policy = CAIRN_RESTART_ALWAYS;
    s->backoff_max_ms = 60000;
    if (!r)
        return 0;
    if (!json_is_object(r) ||
        cairn_restart_policy_parse(
            json_string_value(json_object_get(r, "policy")), &s->policy))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "restart.policy: not always, on-failure "
                              "or never");
    if (!json_is_integer(max) || json_integer_value(max) < 1 ||
        json_integer_value(max) > 86400)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "restart.backoffMaxSeconds: not an "
                              "integer in 1..86400");
    s->backoff_max_ms = (uint64_t)json_integer_value(max) * 1000;
    return 0;
}

static int cairn_env(const char *state, const char *site, const json_t *wl,
                     const char *name, uint64_t gen, struct envb *e,
                     struct cairn_diag *d)
{
    char *cfg = cairn_apply_config_dir(state, name, gen);
    char *sec = cairn_apply_secrets_dir(state, name, gen);
    char *up = NULL;
    int rc;

    env_add(e, cairn_xasprintf("CAIRN_WORKLOAD=%s", name));
    env_add(e, cairn_xasprintf("CAIRN_GENERATION=%" PRIu64, gen));
    env_add(e, cairn_xasprintf("CAIRN_CONFIG_DIR=%s", cfg));
    env_add(e, cairn_xasprintf("CAIRN_SECRETS_DIR=%s", sec));
    if (site)
        env_add(e, cairn_xasprintf("CAIRN_SITE=%s", site));
    rc = cairn_apply_upload_dir(state, wl, &up, d);
    if (!rc && up)
        env_add(e, cairn_xasprintf("CAIRN_UPLOAD_DIR=%s", up));
    if (!rc)
        rc = model_env(wl, state, e, d);
    free(up);
    free(sec);
    free(cfg);
    return rc;
}

int cairn_worker_spec_build(const char *state_dir, const char *site,
                            const json_t *wl, uint64_t gen,
                            struct cairn_worker_spec *out, struct cairn_diag *d)
{
    struct cairn_worker_spec s;
    struct envb e = {0};
    const char *name = json_string_value(json_object_get(wl, "name"));
    const json_t *exec = json_object_get(wl, "exec");
    const char *path = getenv("PATH");
    char *state = NULL;
    int rc, has_path = 0;

    memset(&s, 0, sizeof(s));
    if (!state_dir || !json_is_object(wl) || !cairn_apply_name_ok(name) ||
        gen == 0)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "worker spec: bad state dir, entry name "
                              "or generation");
    if (!json_is_object(exec)) {
        rc = cairn_diag_set(d, CAIRN_EINVAL, "exec: missing or not an object");
        goto out;
    }
    state = realpath(state_dir, NULL);
    if (!state) {
        rc = cairn_diag_set(d, CAIRN_ENOENT, "%s: %s", state_dir,
                            strerror(errno));
        goto out;
    }
    if ((rc = build_argv(exec, &s, d)) ||
        (rc = build_user_env(exec, &e, &has_path, d)))
        goto out;
    if (!has_path)
        env_add(&e,
                cairn_xasprintf(
                    "PATH=%s", path && *path
                                   ? path
                                   : "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                     "/usr/bin:/sbin:/bin"));
    if ((rc = cairn_env(state, site, wl, name, gen, &e, d)) ||
        (rc = restart_of(wl, &s, d)))
        goto out;
    s.env = e.v;
    e.v = NULL;
    e.n = 0;
    s.cwd = cairn_apply_work_dir(state, name);
    *out = s;
    memset(&s, 0, sizeof(s));
out:
    if (rc)
        cairn_diag_prefix(d, "workload %s", name ? name : "?");
    for (size_t i = 0; i < e.n; i++)
        free(e.v[i]);
    free(e.v);
    cairn_worker_spec_free(&s);
    free(state);
    return rc;
}
