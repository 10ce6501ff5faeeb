#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn/mem.h"

/* n decimal digits at s into *out; 0 or -1. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01. */
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 ? 28 + leap : dm[m - 1];
}

/* The zone suffix at p: seconds east of UTC. */
static int zone(const char *p, int *off)
{
    int hh, mm;

    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *off = 0;
        return 0;
    }
    if ((p[0] != '+' && p[0] != '-') || digits(p + 1, 2, &hh) || p[3] != ':' ||
        digits(p + 4, 2, &mm) || p[6] != '\0' || hh > 23 || mm > 59)
        return -1;
    *off = (hh * 3600 + mm * 60) * (p[0] == '-' ? -1 : 1);
    return 0;
}

int cairn__time_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se, off;
    const char *p;

    if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
        digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &se))
        return CAIRN_EPARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 ||
        mi > 59 || se > 60)
        return CAIRN_EPARSE;
    p = s + 19;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return CAIRN_EPARSE;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if (zone(p, &off))
        return CAIRN_EPARSE;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    return 0;
}

void cairn__time_format(int64_t t, char out[CAIRN_TIME_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0) {
        memcpy(out, "1970-01-01T00:00:00Z", CAIRN_TIME_LEN);
        return;
    }
    strftime(out, CAIRN_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t cairn__time_now(void)
{
    return (int64_t)time(NULL);
}

int cairn__write_replace(const char *path, const void *data, size_t n)
{
    char *tmp = cairn_xasprintf("%s.tmp", path);
    int fd, rc = CAIRN_EIO;
    ssize_t w = -1;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        w = write(fd, data, n);
        if (close(fd) == 0 && w == (ssize_t)n && rename(tmp, path) == 0)
            rc = 0;
    }
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}
