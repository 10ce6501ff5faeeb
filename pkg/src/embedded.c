#include "cairn/embedded.h"

#include <string.h>

struct cairn__embedded_file {
    const char *name;
    const char *text;
    size_t len;
};

/* Generated from schemas/ at build time (cmake/embed.cmake). */
extern const struct cairn__embedded_file cairn__embedded[];

const char *cairn_embedded_get(const char *name, size_t *len_out)
{
    for (size_t i = 0; cairn__embedded[i].name; i++) {
        if (strcmp(cairn__embedded[i].name, name) == 0) {
            if (len_out)
                *len_out = cairn__embedded[i].len;
            return cairn__embedded[i].text;
        }
    }
    return NULL;
}
