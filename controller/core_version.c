#include "ctl.h"

const char *cairn__version(void)
{
    return CAIRN_VERSION;
}
