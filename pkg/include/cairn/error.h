/*
 * cairn error codes: one table drives the enum and cairn_strerror().
 * Every fallible function returns 0 or a negative CAIRN_E* code.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#define CAIRN_WUR __attribute__((warn_unused_result))

#define CAIRN_ERRNO_MAP(X)                                                     \
    X(INVAL, "invalid argument")                                               \
    X(NOMEM, "out of memory")                                                  \
    X(IO, "input/output error")                                                \
    X(NOENT, "no such file or object")                                         \
    X(EXIST, "already exists")                                                 \
    X(PERM, "permission denied")                                               \
    X(TOOBIG, "input exceeds its size cap")                                    \
    X(PARSE, "malformed input")                                                \
    X(SCHEMA, "document does not match its schema")                            \
    X(TEMPLATE, "template error")                                              \
    X(SIG, "signature verification failed")                                    \
    X(KEY, "unknown or unusable key")                                          \
    X(DIGEST, "digest mismatch")                                               \
    X(SIZE, "size mismatch")                                                   \
    X(EXPIRED, "document expired")                                             \
    X(STALE, "older than what is already accepted")                            \
    X(POLICY, "refused by policy")                                             \
    X(PATH, "path escapes its root")                                           \
    X(NET, "network error")                                                    \
    X(HTTP, "unexpected HTTP status")                                          \
    X(TIMEOUT, "timed out")                                                    \
    X(AGAIN, "try again later")                                                \
    X(CANCELED, "operation canceled")                                          \
    X(GIT, "git error")                                                        \
    X(DB, "database error")                                                    \
    X(STATE, "invalid state")                                                  \
    X(NOSPC, "not enough free space")                                          \
    X(UNSUPPORTED, "not supported")

enum cairn_errno {
    CAIRN_OK = 0,
    CAIRN__ERRBASE = -1000,
#define CAIRN__ENUM(name, msg) CAIRN_E##name,
    CAIRN_ERRNO_MAP(CAIRN__ENUM)
#undef CAIRN__ENUM
        CAIRN__ERRMAX
};

/* Static message for an error code; never NULL. Unknown codes map to a
 * generic text. Thread-safe. */
const char *cairn_strerror(int err);

/* Symbolic name ("CAIRN_ESIG") for an error code; never NULL. */
const char *cairn_errname(int err);

#endif
