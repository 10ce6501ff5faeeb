#include "cairn/log.h"
#include "cairn/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static enum cairn_log_level max_level = CAIRN_LOG_INFO;
static int journald;
static const char *prog = "cairn";

/* JOURNAL_STREAM is "dev:ino" of the stream systemd connected; only use the
 * journald prefix when stderr really is that stream. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long dev, ino;
    struct stat st;

    if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2)
        return 0;
    if (fstat(2, &st) != 0)
        return 0;
    return st.st_dev == dev && st.st_ino == ino;
}

void cairn_log_init(const char *progname)
{
    const char *env = getenv("CAIRN_LOG_LEVEL");
    enum cairn_log_level lvl;

    if (progname)
        prog = progname;
    journald = stderr_is_journal();
    if (env && cairn_log_parse_level(env, &lvl) == 0)
        max_level = lvl;
}

void cairn_log_set_level(enum cairn_log_level lvl)
{
    max_level = lvl;
}

enum cairn_log_level cairn_log_get_level(void)
{
    return max_level;
}

int cairn_log_parse_level(const char *s, enum cairn_log_level *out)
{
    static const struct {
        const char *name;
        enum cairn_log_level lvl;
    } map[] = {{"error", CAIRN_LOG_ERROR},
               {"warn", CAIRN_LOG_WARN},
               {"info", CAIRN_LOG_INFO},
               {"debug", CAIRN_LOG_DEBUG}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcasecmp(s, map[i].name) == 0) {
            *out = map[i].lvl;
            return 0;
        }
    }
    return CAIRN_EINVAL;
}

static const char *level_name(enum cairn_log_level lvl)
{
    switch (lvl) {
    case CAIRN_LOG_ERROR:
        return "error";
    case CAIRN_LOG_WARN:
        return "warn";
    case CAIRN_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void cairn_log_write(enum cairn_log_level lvl, const char *file, int line,
                     const char *fmt, ...)
{
    char msg[2048];
    char stamp[32] = "";
    const char *base = strrchr(file, '/');
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages quote outside input (paths, names, parse errors): one call
     * is one line, so that input cannot forge entries of its own. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    base = base ? base + 1 : file;
    if (journald) {
        fprintf(stderr, "<%d>%s (%s:%d)\n", (int)lvl, msg, base, line);
        return;
    }
    {
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ldZ %s %s: %s (%s:%d)\n", stamp,
                ts.tv_nsec / 1000000, prog, level_name(lvl), msg, base, line);
    }
}
