/*
 * Helpers for tests that drive the real git and ssh-keygen in a temporary
 * directory: run a shell command and capture its output.
 */
#ifndef CAIRN_TEST_GITUTIL_H
#define CAIRN_TEST_GITUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cairn/git.h"

/* Output of the last sh() call, trailing newlines removed. */
static char sh_out[1 << 16];

/* Run a shell command (stderr joined to stdout); returns its exit code. */
__attribute__((format(printf, 1, 2))) static inline int sh(const char *fmt, ...)
{
    char cmd[16384], full[16500];
    va_list ap;
    FILE *p;
    size_t n;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "{ %s ; } 2>&1", cmd);
    p = popen(full, "r");
    if (!p) {
        perror("popen");
        abort();
    }
    n = fread(sh_out, 1, sizeof(sh_out) - 1, p);
    sh_out[n] = '\0';
    while (n > 0 && sh_out[n - 1] == '\n')
        sh_out[--n] = '\0';
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Like sh() but aborts the test program when the command fails: for
 * set-up steps, whose failure would make every later check meaningless. */
#define SH_OK(...)                                                             \
    do {                                                                       \
        if (sh(__VA_ARGS__) != 0) {                                            \
            fprintf(stderr, "%s:%d: set-up command failed:\n%s\n", __FILE__,   \
                    __LINE__, sh_out);                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A stable environment for the git CLI: no user or system config, fixed
 * identities. home becomes $HOME. */
static inline void git_env(const char *home)
{
    setenv("HOME", home, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_AUTHOR_NAME", "Alice Engineer", 1);
    setenv("GIT_AUTHOR_EMAIL", "alice@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Carol Committer", 1);
    setenv("GIT_COMMITTER_EMAIL", "carol@example.com", 1);
    unsetenv("GIT_DIR");
    unsetenv("GIT_WORK_TREE");
}

/* The sha of rev in repo dir. */
static inline struct cairn_git_oid rev_parse(const char *dir, const char *rev)
{
    struct cairn_git_oid o;

    SH_OK("git -C '%s' rev-parse '%s'", dir, rev);
    snprintf(o.hex, sizeof(o.hex), "%.40s", sh_out);
    return o;
}

/* Stage everything and commit; returns the new HEAD. */
static inline struct cairn_git_oid commit_all(const char *dir, const char *msg)
{
    SH_OK("git -C '%s' add -A && git -C '%s' commit -q --allow-empty -m '%s'",
          dir, dir, msg);
    return rev_parse(dir, "HEAD");
}

#endif
