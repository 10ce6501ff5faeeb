/*
 * cairn-agent's daemon: one libuv loop that ties together the controller
 * sync (sync.h), the acceptance rules (accept.h), the reconcile state
 * machine (reconcile.h), reports (report.h) and uploads (uploads.h).
 *
 * Timers while idle: the long poll (one request parked at the controller),
 * the report interval, and the systemd watchdog when one is configured
 * (at half its interval); nothing ticks every second.
 *
 * Signals: SIGTERM / SIGINT stop cleanly (workers get SIGTERM and the grace
 * period; the state on disk stays as it is, so the next start resumes);
 * SIGHUP re-reads the trusted key files and the log level, polls the
 * controller now and sends queued reports.
 */
#ifndef CAIRN_AGENT_AGENT_H
#define CAIRN_AGENT_AGENT_H

#include "config.h"

/* Run until SIGTERM/SIGINT. Returns the process exit code: 0 after a clean
 * stop, 1 when the start failed (the reason is logged: unreadable key,
 * corrupt state.json, unusable state directory). */
int cairn_agent_run(const struct cairn_agent_config *cfg);

/* Process-wide settings the daemon runs with (the libuv thread pool size,
 * malloc tuning; see docs/agent.md, "Footprint"), applied before any loop
 * or thread exists. cairn_agent_run calls it; a tool that drives agent
 * modules on its own calls it first to run them as the agent does.
 * Idempotent. */
void cairn_agent_process_init(void);

/* Subcommands (main.c dispatches): each returns an exit code. */
int cairn_agent_init_main(int argc, char **argv);
int cairn_agent_status_main(int argc, char **argv);

#endif
