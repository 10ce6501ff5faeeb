/*
 * cairnctl verbs. Each verb is one function taking the arguments after the
 * verb name (argv[0] is the verb) and returning the process exit code:
 * 0 success, 1 the check failed (verification, validation), 2 usage or
 * input error. Verbs print results to stdout and errors to stderr.
 */
#ifndef CAIRN_CTL_H
#define CAIRN_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "cairn/diag.h"

const char *cairn__version(void);

typedef int (*cairn__ctl_fn)(int argc, char **argv);

struct cairn__ctl_verb {
    const char *name;
    const char *summary;
    cairn__ctl_fn run;
};

/* Keys, model attestations and sealed secrets (docs/cairnctl.md). */
int cairn__ctl_keygen(int argc, char **argv);       /* ctl_keygen.c */
int cairn__ctl_sign_model(int argc, char **argv);   /* ctl_model.c */
int cairn__ctl_verify_model(int argc, char **argv); /* ctl_model.c */
int cairn__ctl_seal(int argc, char **argv);         /* ctl_seal.c */
int cairn__ctl_unseal(int argc, char **argv);       /* ctl_seal.c */
/* The controller's HTTP API (docs/controller-daemon.md). */
int cairn__ctl_status(int argc, char **argv);  /* ctl_status.c */
int cairn__ctl_token(int argc, char **argv);   /* ctl_token.c */
int cairn__ctl_commits(int argc, char **argv); /* ctl_commits.c */
/* Audit trail: models, site, export, verify (docs/audit.md). */
int cairn__ctl_audit(int argc, char **argv); /* ctl_audit.c */

/* The fleet repository as the controller sees it (docs/cairnctl.md). */
int cairn__ctl_validate(int argc, char **argv); /* ctl_validate.c */
int cairn__ctl_render(int argc, char **argv);   /* ctl_render.c */
int cairn__ctl_diff(int argc, char **argv);     /* ctl_diff.c */

/* Helpers for verbs (ctl_files.c). */

/* "cairnctl <verb>: <message>" and a newline on stderr. */
void cairn__ctl_err(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Report the option getopt_long just refused ('?' or ':'); returns 2. */
int cairn__ctl_bad_option(const char *verb, char **argv, int optind_now,
                          int optopt_now);
/* Whole regular file of at most cap bytes into a fresh NUL-terminated
 * buffer (free()). CAIRN_ENOENT / CAIRN_EIO / CAIRN_ETOOBIG, "path: why". */
CAIRN_WUR int cairn__ctl_read(const char *path, size_t cap, char **out,
                              size_t *out_len, struct cairn_diag *d);
/* Write an output file durably (temp file, fsync, rename) with mode. Without
 * force an existing path is never replaced: CAIRN_EEXIST "path exists (use
 * --force to replace it)". CAIRN_ENOENT / CAIRN_EIO otherwise. */
CAIRN_WUR int cairn__ctl_write(const char *path, const void *data, size_t n,
                               mode_t mode, int force, struct cairn_diag *d);

/* One HTTP request run to completion (ctl_http.c): *status and the body (a
 * fresh NUL-terminated buffer, free()) of any answer; an error only when
 * no answer came (CAIRN_ENET, CAIRN_ETIMEOUT... with the reason in d). */
CAIRN_WUR int cairn__ctl_http(const char *method, const char *url,
                              const char *const *headers, const void *body,
                              size_t len, long *status, char **out,
                              size_t *out_len, struct cairn_diag *d);
/* GET base+path as JSON into *out (json_decref()), with the operator's
 * Authorization header line auth (NULL: none). Returns the verb's exit
 * code after saying why on stderr: 2 no answer, 1 an error status or a
 * body that is not JSON. */
int cairn__ctl_get_json(const char *verb, const char *base, const char *auth,
                        const char *path, json_t **out);
/* The "Authorization: Bearer TOKEN" line from the operator token file
 * (first line; NULL path: $CAIRN_OPERATOR_TOKEN_FILE, else *auth = NULL).
 * 0, or 2 after saying why. */
int cairn__ctl_operator_auth(const char *verb, const char *path, char **auth);
/* The string member key of o when it is a non-empty string, else def. */
const char *cairn__ctl_str(json_t *o, const char *key, const char *def);
/* Print text line by line, each after indent, at most max lines; then
 * "... N more lines (see HINT)". */
void cairn__ctl_print_lines(const char *text, const char *indent, size_t max,
                            const char *hint);
/* The controller's base URL without a trailing '/': opt, else
 * $CAIRN_CONTROLLER, else http://127.0.0.1:8440. Fresh string (free()). */
char *cairn__ctl_controller_url(const char *opt);

#endif
