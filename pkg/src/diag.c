#include "cairn/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cairn_diag_init(struct cairn_diag *d)
{
    if (!d)
        return;
    d->code = 0;
    d->msg[0] = '\0';
}

int cairn_diag_set(struct cairn_diag *d, int code, const char *fmt, ...)
{
    va_list ap;

    if (!d || d->code != 0)
        return code;
    d->code = code;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    return code;
}

void cairn_diag_prefix(struct cairn_diag *d, const char *fmt, ...)
{
    char head[CAIRN_DIAG_MAX];
    const char *msg;
    size_t hlen, mlen;
    va_list ap;
    int n;

    if (!d || d->code == 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(head, sizeof(head) / 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    hlen = strlen(head);
    memcpy(head + hlen, ": ", 3);
    hlen += 2;
    msg = cairn_diag_msg(d);
    mlen = strlen(msg);
    if (hlen + mlen >= sizeof(d->msg))
        mlen = sizeof(d->msg) - 1 - hlen;
    /* msg may point into d->msg: move it first, then put the head in. */
    memmove(d->msg + hlen, msg, mlen);
    d->msg[hlen + mlen] = '\0';
    memcpy(d->msg, head, hlen);
}

const char *cairn_diag_msg(const struct cairn_diag *d)
{
    if (!d)
        return "";
    if (d->msg[0] == '\0')
        return cairn_strerror(d->code);
    return d->msg;
}
