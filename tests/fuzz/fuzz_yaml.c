/*
 * Fuzz target: arbitrary bytes through cairn_yaml_parse with small caps,
 * then cairn_yaml_locate on fixed pointers and on a path walked down the
 * parsed tree (so that alias copies and escaped keys are followed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct cairn_yaml_doc *doc, const char *ptr)
{
    struct cairn_loc l = cairn_yaml_locate(doc, ptr);
    struct cairn_loc k = cairn_yaml_locate_key(doc, ptr);

    if (!l.file || l.line < 1 || l.col < 1 || !k.file || k.line < 1 ||
        k.col < 1)
        abort();
}

/* Append "/" + escaped segment to the pointer in b. */
static void push(struct cairn_buf *b, const char *seg)
{
    int rc = cairn_buf_append(b, "/", 1);

    for (; *seg && rc == 0; seg++)
        rc = *seg == '~'   ? cairn_buf_append(b, "~0", 2)
             : *seg == '/' ? cairn_buf_append(b, "~1", 2)
                           : cairn_buf_append(b, seg, 1);
}

/* Locate every member of object v under the pointer in b; returns the
 * last member, with b extended to it. */
static json_t *members(const struct cairn_yaml_doc *doc, json_t *v,
                       struct cairn_buf *b)
{
    size_t base = b->len;
    const char *key;
    json_t *child, *last = NULL;

    json_object_foreach(v, key, child)
    {
        b->len = base;
        b->data[base] = '\0';
        push(b, key);
        check(doc, b->data);
        last = child;
    }
    return last;
}

/* Walk down the tree (last member / element each time), locating. */
static void walk(const struct cairn_yaml_doc *doc, json_t *v)
{
    struct cairn_buf b;
    char idx[24];

    cairn_buf_init(&b, 1 << 16);
    if (cairn_buf_append(&b, "", 0) != 0)
        abort();
    for (int depth = 0; depth < 40 && v; depth++) {
        if (json_is_object(v) && json_object_size(v) > 0) {
            v = members(doc, v, &b);
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            snprintf(idx, sizeof(idx), "%zu", json_array_size(v) - 1);
            push(&b, idx);
            check(doc, b.data);
            v = json_array_get(v, json_array_size(v) - 1);
        } else {
            v = NULL;
        }
    }
    cairn_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ptrs[] = {"",      "/",     "/0",  "/a/0/b",
                                       "/~0~1", "/a~",   "x",   "/-",
                                       "/00",   "/a//b", "/1/1"};
    struct cairn_yaml_limits lim = {1 << 16, 2000, 24};
    struct cairn_yaml_doc *doc = NULL;
    struct cairn_diag d;

    cairn_diag_init(&d);
    if (cairn_yaml_parse("fuzz.yaml", (const char *)data, size, &lim, &doc,
                         &d) != 0) {
        if (d.code == 0 || d.msg[0] == '\0')
            abort(); /* every refusal carries a message */
        return 0;
    }
    for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
        check(doc, ptrs[i]);
    walk(doc, cairn_yaml_root(doc));
    cairn_yaml_free(doc);
    return 0;
}
