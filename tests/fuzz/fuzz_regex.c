/*
 * Fuzz target: the input is a pattern, a NUL byte, and a subject
 * (cairn_regex_compile and cairn_regex_search; a schema's patterns are ours
 * but the strings they check come from the network). A pattern that
 * compiles must give the same answer inside a group, and an alternation
 * with it must match wherever it does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int search(const char *pat, size_t plen, const char *s, size_t len,
                  int *m)
{
    struct cairn_regex *re;

    if (cairn_regex_compile(pat, plen, &re, NULL) != 0)
        return -1;
    *m = cairn_regex_search(re, s, len);
    cairn_regex_free(re);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t plen = nul ? (size_t)(nul - p) : size;
    const char *s = nul ? nul + 1 : "";
    size_t slen = nul ? size - plen - 1 : 0;
    char *wrapped;
    int m, m2;

    if (search(p, plen, s, slen, &m) != 0)
        return 0;
    if (m != 0 && m != 1)
        abort();
    wrapped = cairn_xmalloc(plen + 16);
    memcpy(wrapped, "(?:", 3);
    memcpy(wrapped + 3, p, plen);
    memcpy(wrapped + 3 + plen, ")", 1);
    /* one more group level may pass a limit; otherwise the same answer */
    if (search(wrapped, plen + 4, s, slen, &m2) == 0 && m2 != m)
        abort();
    memcpy(wrapped + 3 + plen, ")|\\x00", 6);
    if (search(wrapped, plen + 9, s, slen, &m2) == 0 && m && !m2)
        abort();
    free(wrapped);
    return 0;
}
