/*
 * cairn-controller: the daemon around the controller core. One libuv loop
 * serves the HTTP API (docs/protocol.md); git fetch, rendering, re-issuing
 * and the records' disk writes run off the loop (uv_queue_work), so that
 * serving never waits for them. See docs/controller-daemon.md.
 */
#ifndef CAIRN_DAEMON_H
#define CAIRN_DAEMON_H

#include <stddef.h>

#include "ctrlconfig.h"

struct cairn_controller_opts {
    const char *config_path;              /* YAML config, NULL: none */
    const struct cairn_ctrl_setting *set; /* command-line settings, in order */
    size_t nset;
    const char *port_file; /* NULL, or write "PORT\n" there once
                              listening (tests, port 0) */
};

/*
 * Load the configuration, open (or create) the state, listen, and serve
 * until SIGTERM or SIGINT, then drain and return. SIGHUP reloads the
 * configuration. Under systemd it sends READY=1, WATCHDOG=1 and
 * STOPPING=1. Returns the process exit code: 0 after a clean stop, 2 for a
 * configuration error, 1 for any other failure to start. Call once per
 * process, from main (it installs signal handlers on its own loop).
 */
int cairn_controller_run(const struct cairn_controller_opts *o);

#endif
