/*
 * Supervise: run one workload's worker process on the agent's libuv loop.
 *
 * - The worker is spawned with uv_spawn in its own session and process
 *   group (UV_PROCESS_DETACHED: setsid), so that stopping signals the whole
 *   group: SIGTERM, a grace period, then SIGKILL. When the group leader
 *   exits on its own, stragglers left in its group get SIGKILL.
 * - Its stdout and stderr are read through pipes and logged line by line
 *   with the workload name and pid (control characters replaced, long lines
 *   cut), rate limited: at most log_burst lines per log_interval_ms window,
 *   then one "N lines suppressed" notice when the window ends.
 * - Restart policy always / on-failure / never. Backoff before a restart is
 *   backoff_initial_ms doubled for every consecutive short run (a run that
 *   ended before stable_ms), capped at the spec's backoff_max_ms; a run that
 *   lasts stable_ms resets it. crashloop_exits consecutive short runs enter
 *   the crash loop state (one CRASHLOOP event); restarts go on at the cap,
 *   never given up, until a run is stable again (STABLE event).
 * - Agent crashes: after each spawn the worker's pid and start time
 *   (/proc/PID/stat field 22) are written to STATE/workloads/NAME/worker.pid
 *   (temp file + rename; removed when the worker is gone). Before spawning,
 *   and on a stop with no worker of ours, a process named by that file with
 *   the same pid AND start time (a leftover of a previous agent process) is
 *   stopped like our own (group SIGTERM, grace, SIGKILL, polled every
 *   100 ms), so a SIGKILLed agent never leaves two workers fighting for a
 *   port. The window between spawn and the pid file write is not covered.
 *
 * Loop context: every function is called on the loop thread; every
 * callback runs on it, never from inside the call that caused it. A call
 * that returns an error fires no callback. Status, events and the log never
 * contain the worker's environment (it may carry tokens).
 */
#ifndef CAIRN_AGENT_SUPERVISE_H
#define CAIRN_AGENT_SUPERVISE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/diag.h"
#include "cairn/error.h"

enum cairn_restart_policy {
    CAIRN_RESTART_ALWAYS,     /* restart after every exit */
    CAIRN_RESTART_ON_FAILURE, /* restart unless it exited with status 0 */
    CAIRN_RESTART_NEVER,
};

/* What to run. Owned by whoever built it (cairn_worker_spec_free);
 * cairn_worker_start copies it. */
struct cairn_worker_spec {
    char **argv; /* NULL-terminated, argv[0] is the program (searched in
                    the worker environment's PATH when it has no '/') */
    char **env;  /* NULL-terminated "NAME=value": the whole environment */
    char *cwd;   /* NULL: the agent's working directory */
    enum cairn_restart_policy policy;
    uint64_t backoff_max_ms; /* cap of the restart delay (>= 1) */
};

/* Build the spec of a desired workload entry wl for generation gen:
 *   argv = exec.command; cwd = STATE/workloads/NAME/work;
 *   env  = exec.env, then PATH (the agent's, or a default; exec.env.PATH
 *          wins), then CAIRN_WORKLOAD=NAME, CAIRN_GENERATION=G,
 *          CAIRN_CONFIG_DIR=STATE/workloads/NAME/config.G,
 *          CAIRN_SECRETS_DIR=STATE/workloads/NAME/secrets.G,
 *          CAIRN_UPLOAD_DIR (when the entry has `uploads`),
 *          CAIRN_SITE (when site is not NULL), and with a `model`:
 *          CAIRN_MODEL_PATH=STATE/blobs/sha256/HEX (the resolved blob, not
 *          the `current` link, so a later switch never changes what a
 *          running worker reads), CAIRN_MODEL_SHA256, CAIRN_MODEL_VERSION,
 *          CAIRN_MODEL_NAME;
 *   policy / backoff_max_ms = restart.policy / backoffMaxSeconds (absent:
 *          always, 60 s).
 * STATE is state_dir made absolute (realpath). The directories are not
 * required to exist yet. *out is written only on success (free its members
 * with cairn_worker_spec_free). Errors: CAIRN_EINVAL naming the field
 * (exec.command empty or not strings, a string with NUL, exec.env names
 * that are not [A-Za-z_][A-Za-z0-9_]* or start with the reserved "CAIRN_",
 * bad restart, model.sha256 not hex, bad name or gen 0), CAIRN_EPATH
 * (uploads.dir escapes), CAIRN_ENOENT (state_dir missing). */
CAIRN_WUR int cairn_worker_spec_build(const char *state_dir, const char *site,
                                      const json_t *wl, uint64_t gen,
                                      struct cairn_worker_spec *out,
                                      struct cairn_diag *d);
/* Free the members (not s itself); NULL ok; s is zeroed. */
void cairn_worker_spec_free(struct cairn_worker_spec *s);
/* "always" | "on-failure" | "never" -> policy; CAIRN_EINVAL otherwise. */
CAIRN_WUR int cairn_restart_policy_parse(const char *s,
                                         enum cairn_restart_policy *out);

/* Line sink for worker output (tests, or an agent keeping the last lines).
 * stream: 1 stdout, 2 stderr, 0 a notice of the supervisor ("N lines
 * suppressed"). line is NUL-terminated, sanitized, valid during the call. */
typedef void (*cairn_worker_log_cb)(void *arg, const char *name, int stream,
                                    const char *line);

struct cairn_worker_opts {
    const char *state_dir;       /* required: worker.pid lives under it */
    const char *name;            /* required: the workload name (DNS label) */
    uint64_t grace_ms;           /* SIGTERM -> SIGKILL; 0: 10 s */
    uint64_t stable_ms;          /* uptime that resets backoff; 0: 30 s */
    uint64_t backoff_initial_ms; /* first restart delay; 0: 1 s */
    unsigned crashloop_exits;    /* short runs in a row; 0: 5 */
    unsigned log_burst;          /* lines per window; 0: 200 */
    uint64_t log_interval_ms;    /* window; 0: 10 s */
    size_t log_line_max;         /* longer lines are cut; 0: 2048 */
    cairn_worker_log_cb log_cb;  /* NULL: the agent's log (LOG_INFO) */
    void *log_arg;
};

enum cairn_worker_state {
    CAIRN_WORKER_STOPPED,   /* no process and none planned: never started,
                               stopped on request, or a clean exit the
                               policy does not restart */
    CAIRN_WORKER_STARTING,  /* no process yet: waiting out the backoff or
                               for a leftover to die */
    CAIRN_WORKER_RUNNING,   /* the process lives */
    CAIRN_WORKER_CRASHLOOP, /* in a crash loop (process alive or not) */
    CAIRN_WORKER_FAILED,    /* exited with a failure the policy does not
                               restart */
};

/* "stopped" "starting" "running" "crashloop" "failed" (report strings). */
const char *cairn_worker_state_name(enum cairn_worker_state s);

struct cairn_worker_status {
    enum cairn_worker_state state;
    int pid;             /* 0 when no process of ours lives */
    unsigned restarts;   /* automatic restarts since cairn_worker_start */
    unsigned short_runs; /* consecutive runs shorter than stable_ms */
    char last_exit[128]; /* "" none yet; "exit 1", "signal 9",
                            "spawn failed: <reason>" */
    int64_t since_ms;    /* wall clock (Unix ms) of the last state change */
    int stopping;        /* a stop is in progress */
};

enum cairn_worker_event_type {
    CAIRN_WORKER_EV_STARTED,   /* a process was spawned (pid) */
    CAIRN_WORKER_EV_EXITED,    /* it ended without a stop request */
    CAIRN_WORKER_EV_CRASHLOOP, /* crashloop_exits short runs in a row */
    CAIRN_WORKER_EV_STABLE,    /* the process ran stable_ms: backoff reset,
                                  crash loop (if any) over */
};

struct cairn_worker_event {
    enum cairn_worker_event_type type;
    int pid;               /* the process concerned (0: spawn failed) */
    const char *reason;    /* EXITED, CRASHLOOP: the exit as in last_exit;
                              "" otherwise; never NULL */
    int64_t restart_in_ms; /* EXITED: delay before the next start, -1 when
                              the policy does not restart */
    unsigned short_runs;   /* consecutive short runs so far */
};

struct cairn_worker; /* one per workload; opaque */

/* The event callback: state changes worth a report (CrashLoop) or a health
 * gate's attention (forward EXITED to cairn_health_gate_worker_exited).
 * w is valid; the callback may call any function here, including
 * cairn_worker_stop / cairn_worker_close. */
typedef void (*cairn_worker_event_cb)(struct cairn_worker *w,
                                      const struct cairn_worker_event *ev,
                                      void *arg);
typedef void (*cairn_worker_stop_cb)(struct cairn_worker *w, void *arg);

/* A supervisor for opts->name on loop, state STOPPED, no process. opts is
 * copied; event_cb may be NULL. CAIRN_EINVAL for a missing state_dir or a
 * bad name. Free it with cairn_worker_close. */
CAIRN_WUR int cairn_worker_new(uv_loop_t *loop,
                               const struct cairn_worker_opts *opts,
                               cairn_worker_event_cb event_cb, void *arg,
                               struct cairn_worker **out, struct cairn_diag *d);

/* Start the worker described by spec (copied; replaces any earlier spec,
 * resets restarts, short runs and the crash loop). Allowed when no process
 * of ours lives and no stop is in progress (states STOPPED, FAILED,
 * STARTING, CRASHLOOP while waiting): a pending backoff is dropped. A
 * leftover from a previous agent (worker.pid) is stopped first (state
 * STARTING meanwhile); otherwise the spawn happens before this returns and
 * STARTED fires from the loop. A spawn failure (missing program, bad cwd)
 * is not an error of this call: it counts as a run that ended at once
 * ("spawn failed: ..."), EXITED fires and the policy applies.
 * CAIRN_ESTATE (a process lives, a stop is in progress, or closing),
 * CAIRN_EINVAL (spec without argv[0], env or backoff_max_ms). */
CAIRN_WUR int cairn_worker_start(struct cairn_worker *w,
                                 const struct cairn_worker_spec *spec,
                                 struct cairn_diag *d);

/* Stop: no more restarts; SIGTERM to the process group, SIGKILL after
 * grace_ms; also stops a leftover recorded in worker.pid when no process of
 * ours lives (so the agent can clear a workload that left the desired
 * state). cb (may be NULL) fires once from the loop when the group leader
 * is gone (at once, on the next loop turn, when nothing ran); state is then
 * STOPPED and last_exit tells how it ended. CAIRN_ESTATE when a stop is
 * already in progress or the worker is closing (no callback). */
CAIRN_WUR int cairn_worker_stop(struct cairn_worker *w, cairn_worker_stop_cb cb,
                                void *arg);

/* Snapshot of the state; never fails. */
void cairn_worker_status(const struct cairn_worker *w,
                         struct cairn_worker_status *out);

const char *cairn_worker_name(const struct cairn_worker *w);

/* Stop whatever runs (as cairn_worker_stop; a pending stop callback still
 * fires), close every handle, free w, then call close_cb(arg) (may be
 * NULL) from the loop. No event fires after this call. NULL w is a no-op;
 * calling it twice is a caller bug. */
void cairn_worker_close(struct cairn_worker *w, void (*close_cb)(void *arg),
                        void *arg);

/* Exit text of a waitpid-style result as the report shows it: "exit N"
 * (term_signal 0) or "signal N". out_size >= 32. */
void cairn_worker_exit_text(int64_t exit_status, int term_signal, char *out,
                            size_t out_size);

#endif
