/*
 * Logging: one line per event on stderr, with level, source file and line.
 * Under systemd (JOURNAL_STREAM set and matching stderr) each line starts
 * with the journald "<N>" priority prefix instead of a timestamp.
 * Never pass secrets (keys, tokens, sealed contents) to these macros.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

enum cairn_log_level {
    CAIRN_LOG_ERROR = 3,
    CAIRN_LOG_WARN = 4,
    CAIRN_LOG_INFO = 6,
    CAIRN_LOG_DEBUG = 7,
};

/* Set the most verbose level printed (default INFO; CAIRN_LOG_LEVEL env
 * var "debug|info|warn|error" read by cairn_log_init). Loop thread only. */
void cairn_log_init(const char *progname);
void cairn_log_set_level(enum cairn_log_level lvl);
enum cairn_log_level cairn_log_get_level(void);
/* Parse "debug" ... "error"; returns 0 or CAIRN_EINVAL. */
int cairn_log_parse_level(const char *s, enum cairn_log_level *out);

void cairn_log_write(enum cairn_log_level lvl, const char *file, int line,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define CAIRN_LOG(lvl, ...)                                                    \
    do {                                                                       \
        if ((lvl) <= cairn_log_get_level())                                    \
            cairn_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);           \
    } while (0)
#define LOG_ERROR(...) CAIRN_LOG(CAIRN_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) CAIRN_LOG(CAIRN_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) CAIRN_LOG(CAIRN_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) CAIRN_LOG(CAIRN_LOG_DEBUG, __VA_ARGS__)

#endif
