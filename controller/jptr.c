#include "jptr.h"

#include "cairn/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cairn__ptr_push(struct cairn_buf *b, const char *token)
{
    int rc = cairn_buf_append(b, "/", 1);

    for (const char *p = token; *p && rc == 0; p++) {
        if (*p == '~')
            rc = cairn_buf_append(b, "~0", 2);
        else if (*p == '/')
            rc = cairn_buf_append(b, "~1", 2);
        else
            rc = cairn_buf_append(b, p, 1);
    }
    if (rc)
        abort(); /* only an uncapped buffer is used for pointers */
}

void cairn__ptr_push_index(struct cairn_buf *b, size_t i)
{
    if (cairn_buf_appendf(b, "/%zu", i) != 0)
        abort();
}

const char *cairn__ptr_next(const char *ptr, char *tok, size_t cap)
{
    size_t n = 0;
    const char *p;

    if (!ptr || *ptr != '/')
        return NULL;
    for (p = ptr + 1; *p && *p != '/'; p++) {
        char c = *p;

        if (c == '~') {
            if (p[1] == '0')
                c = '~';
            else if (p[1] == '1')
                c = '/';
            else
                return NULL;
            p++;
        }
        if (n + 1 >= cap)
            return NULL;
        tok[n++] = c;
    }
    tok[n] = '\0';
    return p;
}

static int parse_index(const char *tok, size_t *out)
{
    size_t v = 0;

    if (!*tok || (tok[0] == '0' && tok[1]))
        return -1;
    for (const char *p = tok; *p; p++) {
        if (*p < '0' || *p > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

json_t *cairn__json_child(json_t *v, const char *tok)
{
    size_t idx;

    if (json_is_object(v))
        return json_object_get(v, tok);
    if (json_is_array(v) && parse_index(tok, &idx) == 0)
        return json_array_get(v, idx);
    return NULL;
}

json_t *cairn__ptr_get(json_t *root, const char *ptr)
{
    char tok[1024];
    json_t *cur = root;

    while (cur && ptr && *ptr) {
        ptr = cairn__ptr_next(ptr, tok, sizeof(tok));
        if (!ptr)
            return NULL;
        cur = cairn__json_child(cur, tok);
    }
    return cur;
}

char *cairn__json_canon(const json_t *v, size_t *len)
{
    char *s = cairn_json_canonical(v);

    if (!s)
        abort(); /* only for a NULL value, which callers never pass */
    if (len)
        *len = strlen(s);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void leaves(json_t *v, struct cairn_buf *ptr, cairn__leaf_fn fn,
                   void *arg)
{
    size_t mark = ptr->len, n, i = 0;

    if (json_is_object(v) && json_object_size(v) > 0) {
        const char **keys = cairn_xmalloc(json_object_size(v) * sizeof(*keys));
        const char *k;
        json_t *c;

        json_object_foreach(v, k, c) keys[i++] = k;
        n = i;
        qsort(keys, n, sizeof(*keys), cmp_str);
        for (i = 0; i < n; i++) {
            cairn__ptr_push(ptr, keys[i]);
            leaves(json_object_get(v, keys[i]), ptr, fn, arg);
            ptr->len = mark;
            ptr->data[mark] = '\0';
        }
        free(keys);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        for (i = 0; i < json_array_size(v); i++) {
            cairn__ptr_push_index(ptr, i);
            leaves(json_array_get(v, i), ptr, fn, arg);
            ptr->len = mark;
            ptr->data[mark] = '\0';
        }
    } else {
        fn(ptr->data ? ptr->data : "", v, arg);
    }
}

void cairn__json_leaves(json_t *v, cairn__leaf_fn fn, void *arg)
{
    struct cairn_buf ptr;

    cairn_buf_init(&ptr, 0);
    if (cairn_buf_append(&ptr, "", 0) != 0)
        abort();
    leaves(v, &ptr, fn, arg);
    cairn_buf_free(&ptr);
}
