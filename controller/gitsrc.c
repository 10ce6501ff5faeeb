#include "gitsrc.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/hash.h"
#include "cairn/mem.h"

static const char *const folders[] = {"groups", "models", "secrets", "sites",
                                      "workloads"};

struct gitsrc {
    struct cairn_src src;
    struct cairn_git *g;
    struct cairn_git_oid commit;
    uint8_t **data; /* per file; NULL: read by path when asked */
    size_t alloc;
};

int cairn_gitsrc_is_fleet_path(const char *path)
{
    if (strcmp(path, "fleet.yaml") == 0)
        return 1;
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(folders); i++) {
        size_t n = strlen(folders[i]);

        if (strncmp(path, folders[i], n) == 0 && path[n] == '/')
            return 1;
    }
    return 0;
}

static void content_id(const uint8_t *data, size_t len,
                       char id[CAIRN_OID_HEX + 1])
{
    uint8_t md[CAIRN_SHA256_LEN];
    char hex[CAIRN_SHA256_HEX_LEN + 1];

    cairn_sha256(data, len, md);
    cairn_hex_encode(md, sizeof(md), hex);
    memcpy(id, hex, CAIRN_OID_HEX);
    id[CAIRN_OID_HEX] = '\0';
}

static int gs_read_path(struct cairn_src *src, const char *path, size_t cap,
                        uint8_t **data, size_t *len, char id[CAIRN_OID_HEX + 1],
                        struct cairn_diag *d)
{
    struct gitsrc *s = cairn_container_of(src, struct gitsrc, src);
    int rc = cairn_git_read_file(s->g, &s->commit, path, cap, data, len, d);

    if (rc == 0)
        content_id(*data, *len, id);
    return rc;
}

static int gs_read(struct cairn_src *src, size_t i, size_t cap, uint8_t **data,
                   size_t *len, struct cairn_diag *d)
{
    struct gitsrc *s = cairn_container_of(src, struct gitsrc, src);
    const struct cairn_src_file *f = &src->files[i];

    if (!s->data[i])
        return cairn_git_read_file(s->g, &s->commit, f->path, cap, data, len,
                                   d);
    if (f->size > cap)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s: %zu bytes, over the %zu-byte cap", f->path,
                              f->size, cap);
    *data = cairn_xmalloc(f->size + 1);
    memcpy(*data, s->data[i], f->size + 1);
    *len = f->size;
    return 0;
}

static void gs_free(struct cairn_src *src)
{
    struct gitsrc *s = cairn_container_of(src, struct gitsrc, src);

    for (size_t i = 0; i < src->n; i++) {
        free(src->files[i].path);
        free(s->data[i]);
    }
    free(src->files);
    free(s->data);
    free(s);
}

static struct gitsrc *gs_new(struct cairn_git *g,
                             const struct cairn_git_oid *commit, int64_t time)
{
    struct gitsrc *s = cairn_xcalloc(1, sizeof(*s));

    s->g = g;
    s->commit = *commit;
    memcpy(s->src.commit, commit->hex, sizeof(s->src.commit));
    s->src.time = time;
    s->src.read = gs_read;
    s->src.read_path = gs_read_path;
    s->src.free = gs_free;
    return s;
}

/* Append a file; takes path and data. */
static void gs_add(struct gitsrc *s, char *path, const char *id, size_t size,
                   uint8_t *data)
{
    struct cairn_src_file *f;

    if (s->src.n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 256;
        s->src.files =
            cairn_xrealloc(s->src.files, s->alloc * sizeof(*s->src.files));
        s->data = cairn_xrealloc(s->data, s->alloc * sizeof(*s->data));
    }
    f = &s->src.files[s->src.n];
    f->path = path;
    memcpy(f->blob, id, CAIRN_OID_HEX);
    f->blob[CAIRN_OID_HEX] = '\0';
    f->size = size;
    s->data[s->src.n++] = data;
}

struct order {
    struct cairn_src_file f;
    uint8_t *data;
};

static int cmp_order(const void *a, const void *b)
{
    return strcmp(((const struct order *)a)->f.path,
                  ((const struct order *)b)->f.path);
}

/* The list must be sorted by path for cairn_src_find. */
static void gs_sort(struct gitsrc *s)
{
    struct order *o = cairn_xcalloc(s->src.n ? s->src.n : 1, sizeof(*o));

    for (size_t i = 0; i < s->src.n; i++) {
        o[i].f = s->src.files[i];
        o[i].data = s->data[i];
    }
    if (s->src.n > 1)
        qsort(o, s->src.n, sizeof(*o), cmp_order);
    for (size_t i = 0; i < s->src.n; i++) {
        s->src.files[i] = o[i].f;
        s->data[i] = o[i].data;
    }
    free(o);
}

/* A file read by path into the list (fleet.yaml, patched files). */
static int add_by_path(struct gitsrc *s, const char *path, struct cairn_diag *d)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char id[CAIRN_OID_HEX + 1];
    int rc =
        gs_read_path(&s->src, path, CAIRN_GITSRC_MAX_FILE, &data, &len, id, d);

    if (rc == CAIRN_ENOENT) {
        cairn_diag_init(d);
        return 0; /* not there: the loader says what is missing */
    }
    if (rc == 0)
        gs_add(s, cairn_xstrdup(path), id, len, data);
    return rc;
}

/* One fleet folder, contents included. */
static int walk_folder(struct gitsrc *s, const char *folder,
                       struct cairn_diag *d)
{
    struct cairn_git_limits lim = {CAIRN_GITSRC_MAX_FILE,
                                   CAIRN_GITSRC_MAX_FILES, 0};
    struct cairn_git_tree *t = NULL;
    int rc = cairn_git_tree_read(s->g, &s->commit, folder, &lim,
                                 CAIRN_GIT_CONTENT, &t, d);

    if (rc)
        return rc;
    for (size_t i = 0; i < t->n; i++) {
        gs_add(s, t->files[i].path, t->files[i].blob.hex, t->files[i].size,
               t->files[i].data);
        t->files[i].path = NULL;
        t->files[i].data = NULL;
    }
    cairn_git_tree_free(t);
    if (s->src.n > CAIRN_GITSRC_MAX_FILES)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "commit %.12s: more than %u fleet files",
                              s->commit.hex, CAIRN_GITSRC_MAX_FILES);
    return 0;
}

static int commit_time(struct cairn_git *g, const struct cairn_git_oid *commit,
                       int64_t *t, struct cairn_diag *d)
{
    struct cairn_git_commit *c = NULL;
    int rc = cairn_git_commit_get(g, commit, &c, d);

    if (rc == 0)
        *t = c->committer.time;
    cairn_git_commit_free(c);
    return rc;
}

int cairn_gitsrc_new(struct cairn_git *g, const struct cairn_git_oid *commit,
                     struct cairn_src **out, struct cairn_diag *d)
{
    struct gitsrc *s;
    int64_t t = 0;
    int rc = commit_time(g, commit, &t, d);

    if (rc)
        return rc;
    s = gs_new(g, commit, t);
    rc = add_by_path(s, "fleet.yaml", d);
    for (size_t i = 0; rc == 0 && i < CAIRN_ARRAY_LEN(folders); i++)
        rc = walk_folder(s, folders[i], d);
    if (rc) {
        gs_free(&s->src);
        return rc;
    }
    gs_sort(s);
    /* every file's bytes are in memory: reads touch no git handle */
    s->src.threadsafe = 1;
    *out = &s->src;
    return 0;
}

/* Copy prev's list without the files the diff touches (no contents:
 * those are read by path if ever needed). */
static void copy_unchanged(struct gitsrc *s, const struct cairn_src *prev,
                           const struct cairn_git_diff *df)
{
    size_t j = 0;

    /* both lists are sorted by path: one merge pass */
    for (size_t i = 0; i < prev->n; i++) {
        const char *p = prev->files[i].path;
        int c = 1;

        while (j < df->n && (c = strcmp(df->v[j].path, p)) < 0)
            j++;
        if (j < df->n && c == 0)
            continue;
        gs_add(s, cairn_xstrdup(p), prev->files[i].blob, prev->files[i].size,
               NULL);
    }
}

int cairn_gitsrc_patch(struct cairn_git *g, const struct cairn_src *prev,
                       const struct cairn_git_oid *commit,
                       const struct cairn_git_diff *df, struct cairn_src **out,
                       struct cairn_diag *d)
{
    struct gitsrc *s;
    int64_t t = 0;
    int rc = commit_time(g, commit, &t, d);

    if (rc)
        return rc;
    s = gs_new(g, commit, t);
    copy_unchanged(s, prev, df);
    for (size_t j = 0; rc == 0 && j < df->n; j++)
        if (df->v[j].change != CAIRN_GIT_DELETED &&
            cairn_gitsrc_is_fleet_path(df->v[j].path))
            rc = add_by_path(s, df->v[j].path, d);
    if (rc) {
        gs_free(&s->src);
        return rc;
    }
    gs_sort(s);
    *out = &s->src;
    return 0;
}
