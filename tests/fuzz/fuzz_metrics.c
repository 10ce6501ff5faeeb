/*
 * Fuzz target: arbitrary bytes through cairn_metrics_parse (the worker's
 * /metrics is hostile input). On success, the result must hold at most the
 * cap of finite numbers under keys within the key cap, and rendering it
 * back as exposition text must parse to the same object (the keys are
 * canonical series names).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(json_t *m)
{
    struct cairn_buf b;
    json_t *again = NULL, *v;
    const char *k;

    cairn_buf_init(&b, 0);
    json_object_foreach(m, k, v)
    {
        if (!json_is_real(v) || strlen(k) > CAIRN_METRICS_KEY_MAX)
            abort();
        if (cairn_buf_appendf(&b, "%s %.17g\n", k, json_real_value(v)) != 0)
            abort();
    }
    if (cairn_metrics_parse(b.data ? b.data : "", b.len,
                            CAIRN_METRICS_MAX_SAMPLES, &again, NULL,
                            NULL) != 0 ||
        !json_equal(m, again))
        abort();
    json_decref(again);
    cairn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t dropped = 0;
    json_t *m = NULL;

    if (cairn_metrics_parse((const char *)data, size, 8, &m, &dropped, NULL) !=
        0)
        return 0;
    if (json_object_size(m) > 8 || (dropped && json_object_size(m) != 8))
        abort();
    round_trip(m);
    json_decref(m);
    return 0;
}
