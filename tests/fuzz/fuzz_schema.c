/*
 * Fuzz target for the schema compiler and validator. The input is
 * "<schema JSON> NUL <instance JSON>" (no NUL: the whole input is the
 * schema, validated against itself). Checks, beyond the sanitizers: a
 * refusal always comes with a message, and validating with and without a
 * callback agree.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/schema.h"

#define MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(const struct cairn_schema_error *e, void *arg)
{
    if (strlen(e->message) == 0 || strlen(e->keyword) == 0)
        abort();
    (*(int *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t slen = nul ? (size_t)(nul - text) : size;
    struct cairn_schema *s = NULL;
    struct cairn_diag d;
    json_t *schema, *inst;
    int errors = 0, rc1, rc2;

    if (size > MAX_INPUT)
        return 0;
    schema = json_loadb(text, slen, JSON_DECODE_ANY, NULL);
    inst = nul ? json_loadb(nul + 1, size - slen - 1,
                            JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
               : json_incref(schema);
    if (!schema || !inst)
        goto out;
    cairn_diag_init(&d);
    if (cairn_schema_compile(schema, &s, &d) != 0) {
        if (d.code == 0 || d.msg[0] == '\0' || s != NULL)
            abort();
        goto out;
    }
    cairn_diag_init(&d);
    rc1 = cairn_schema_validate(s, inst, NULL, count, &errors, &d);
    rc2 = cairn_schema_validate(s, inst, NULL, NULL, NULL, NULL);
    if (rc1 != rc2 || (rc1 == 0) != (errors == 0) ||
        (rc1 != 0 && d.msg[0] == '\0'))
        abort();
out:
    cairn_schema_free(s);
    json_decref(schema);
    json_decref(inst);
    return 0;
}
