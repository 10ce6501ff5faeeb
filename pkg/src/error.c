#include "cairn/error.h"

#define CAIRN__MSG(name, msg) msg,
#define CAIRN__NAME(name, msg) "CAIRN_E" #name,
static const char *const messages[] = {CAIRN_ERRNO_MAP(CAIRN__MSG)};
static const char *const names[] = {CAIRN_ERRNO_MAP(CAIRN__NAME)};

static int index_of(int err)
{
    if (err <= CAIRN__ERRBASE || err >= CAIRN__ERRMAX)
        return -1;
    return err - CAIRN__ERRBASE - 1;
}

const char *cairn_strerror(int err)
{
    int i;

    if (err == 0)
        return "success";
    i = index_of(err);
    return i < 0 ? "unknown error" : messages[i];
}

const char *cairn_errname(int err)
{
    int i;

    if (err == 0)
        return "CAIRN_OK";
    i = index_of(err);
    return i < 0 ? "CAIRN_EUNKNOWN" : names[i];
}
