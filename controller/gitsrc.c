#include "gitsrc.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

struct gitsrc {
    struct cairn_src src;
    struct cairn_git *g;
    struct cairn_git_oid commit;
};

static int gs_read(struct cairn_src *src, size_t i, size_t cap, uint8_t **data, size_t *len,
                   struct cairn_diag *d)
{
    struct gitsrc *s = cairn_container_of(src, struct gitsrc, src);

    return cairn_git_read_file(s->g, &s->commit, src->files[i].path, cap, data, len, d);
}

static void gs_free(struct cairn_src *src)
{
    struct gitsrc *s = cairn_container_of(src, struct gitsrc, src);

    for (size_t i = 0; i < src->n; i++)
        free(src->files[i].path);
    free(src->files);
    free(s);
}

int cairn_gitsrc_new(struct cairn_git *g, const struct cairn_git_oid *commit,
                     struct cairn_src **out, struct cairn_diag *d)
{
    /* listing only: sizes are not read here, the loader caps each read */
    struct cairn_git_limits lim = {(size_t)1 << 40, CAIRN_GITSRC_MAX_FILES, UINT64_MAX / 2};
    struct cairn_git_commit *c = NULL;
    struct cairn_git_tree *t = NULL;
    struct gitsrc *s;
    int rc;

    rc = cairn_git_commit_get(g, commit, &c, d);
    if (rc == 0)
        rc = cairn_git_tree_read(g, commit, NULL, &lim, 0, &t, d);
    if (rc) {
        cairn_git_commit_free(c);
        return rc;
    }
    s = cairn_xcalloc(1, sizeof(*s));
    s->g = g;
    s->commit = *commit;
    memcpy(s->src.commit, commit->hex, sizeof(s->src.commit));
    s->src.time = c->committer.time;
    s->src.files = cairn_xcalloc(t->n ? t->n : 1, sizeof(*s->src.files));
    for (size_t i = 0; i < t->n; i++) {
        /* the walk's list is sorted by path already, as cairn_src wants */
        s->src.files[i].path = t->files[i].path;
        t->files[i].path = NULL;
        memcpy(s->src.files[i].blob, t->files[i].blob.hex, sizeof(s->src.files[i].blob));
        s->src.files[i].size = t->files[i].size;
    }
    s->src.n = t->n;
    s->src.read = gs_read;
    s->src.free = gs_free;
    cairn_git_tree_free(t);
    cairn_git_commit_free(c);
    *out = &s->src;
    return 0;
}
