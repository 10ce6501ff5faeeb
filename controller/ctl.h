/*
 * cairnctl verbs. Each verb is one function taking the arguments after the
 * verb name (argv[0] is the verb) and returning the process exit code:
 * 0 success, 1 the check failed (verification, validation), 2 usage or
 * input error. Verbs print results to stdout and errors to stderr.
 */
#ifndef CAIRN_CTL_H
#define CAIRN_CTL_H

const char *cairn__version(void);

typedef int (*cairn__ctl_fn)(int argc, char **argv);

struct cairn__ctl_verb {
    const char *name;
    const char *summary;
    cairn__ctl_fn run;
};

#endif
