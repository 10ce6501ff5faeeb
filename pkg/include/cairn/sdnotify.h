/*
 * systemd service notifications without libsystemd: one datagram per call
 * to the unix socket named by $NOTIFY_SOCKET (a path, or "@name" for an
 * abstract socket). Outside systemd (no NOTIFY_SOCKET) every call is a
 * successful no-op, so daemons call them unconditionally.
 * See docs/internals/sdnotify.md. Blocking-free (a datagram send), any thread.
 */
#ifndef CAIRN_SDNOTIFY_H
#define CAIRN_SDNOTIFY_H

#include "cairn/diag.h"
#include <stdint.h>

/* Largest message sent (systemd reads notifications with a larger buffer). */
#define CAIRN_SDNOTIFY_MAX 4096

/* Send msg ("READY=1", "STATUS=...\nERRNO=0", newline-separated
 * assignments). 0 when sent or when NOTIFY_SOCKET is unset;
 * CAIRN_EINVAL for a NULL/empty message or an unusable NOTIFY_SOCKET value,
 * CAIRN_ETOOBIG past CAIRN_SDNOTIFY_MAX, CAIRN_EAGAIN when the receiver
 * queue is full (the socket is non-blocking: a stuck manager never blocks
 * the loop), CAIRN_EIO when the send fails otherwise. */
CAIRN_WUR int cairn_sdnotify_send(const char *msg, struct cairn_diag *d);

/* The usual messages. */
CAIRN_WUR int cairn_sdnotify_ready(struct cairn_diag *d);
CAIRN_WUR int cairn_sdnotify_stopping(struct cairn_diag *d);
CAIRN_WUR int cairn_sdnotify_watchdog(struct cairn_diag *d);
/* "STATUS=<printf>"; newlines in the text are replaced by spaces so that it
 * cannot inject other assignments. */
CAIRN_WUR int cairn_sdnotify_status(struct cairn_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when NOTIFY_SOCKET is set. */
int cairn_sdnotify_enabled(void);

/* Watchdog interval in microseconds from WATCHDOG_USEC, or 0 when no
 * watchdog is configured for this process (unset, or WATCHDOG_PID names
 * another process). Ping at half the interval. CAIRN_EPARSE when either
 * variable is not a positive decimal number. *usec written on success. */
CAIRN_WUR int cairn_sdnotify_watchdog_usec(uint64_t *usec,
                                           struct cairn_diag *d);

#endif
