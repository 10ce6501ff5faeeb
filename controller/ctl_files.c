/*
 * Small helpers the cairnctl verbs share: one-line errors, option errors,
 * capped reads and durable, no-clobber writes of output files.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/fs.h"
#include "cairn/mem.h"
#include "ctl.h"

void cairn__ctl_err(const char *verb, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "cairnctl %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cairn__ctl_bad_option(const char *verb, char **argv, int optind_now,
                          int optopt_now)
{
    const char *arg = optind_now > 0 ? argv[optind_now - 1] : "?";

    if (optopt_now && strncmp(arg, "--", 2) != 0)
        cairn__ctl_err(verb,
                       "bad or incomplete option -%c (see cairnctl %s --help)",
                       optopt_now, verb);
    else
        cairn__ctl_err(verb,
                       "bad or incomplete option %s (see cairnctl %s --help)",
                       arg, verb);
    return 2;
}

int cairn__ctl_read(const char *path, size_t cap, char **out, size_t *out_len,
                    struct cairn_diag *d)
{
    return cairn_fs_read_secret(path, cap, 0, out, out_len, d);
}

int cairn__ctl_write(const char *path, const void *data, size_t n, mode_t mode,
                     int force, struct cairn_diag *d)
{
    struct cairn_diag inner;
    int rc;

    if (force)
        return cairn_fs_write_durable(path, data, n, mode, d);
    cairn_diag_init(&inner);
    rc = cairn_fs_write_new(path, data, n, mode, &inner);
    if (rc == CAIRN_EEXIST)
        return cairn_diag_set(d, rc, "%s exists (use --force to replace it)",
                              path);
    if (rc)
        cairn_diag_set(d, rc, "%s", cairn_diag_msg(&inner));
    return rc;
}
