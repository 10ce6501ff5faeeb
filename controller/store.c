/* The store's backend-independent front: URL dispatch and thin wrappers. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

int cairn_store_open(const char *url, struct cairn_store **out,
                     struct cairn_diag *d)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return cairn_store_sqlite_open(url + 7, out, d);
    if (strstr(url, "://"))
        return cairn_diag_set(d, CAIRN_EUNSUPPORTED,
                              "store %s: unsupported (sqlite:PATH)", url);
    return cairn_store_sqlite_open(url, out, d);
}

void cairn_store_close(struct cairn_store *s)
{
    if (s)
        s->ops->close(s);
}

int cairn_store_begin(struct cairn_store *s, struct cairn_diag *d)
{
    return s->ops->begin(s, d);
}

int cairn_store_commit(struct cairn_store *s, struct cairn_diag *d)
{
    return s->ops->commit(s, d);
}

void cairn_store_rollback(struct cairn_store *s)
{
    s->ops->rollback(s);
}

int cairn_store_commit_put(struct cairn_store *s,
                           const struct cairn_commit_rec *r,
                           struct cairn_diag *d)
{
    return s->ops->commit_put(s, r, d);
}

int cairn_store_commit_get(struct cairn_store *s, const char *sha,
                           int *accepted, char **error, struct cairn_diag *d)
{
    return s->ops->commit_get(s, sha, accepted, error, d);
}

int cairn_store_head_get(struct cairn_store *s, const char *name, char sha[41],
                         struct cairn_diag *d)
{
    return s->ops->head_get(s, name, sha, d);
}

int cairn_store_head_set(struct cairn_store *s, const char *name,
                         const char *sha, struct cairn_diag *d)
{
    return s->ops->head_set(s, name, sha, d);
}

int cairn_store_render_get(struct cairn_store *s, const char *site,
                           struct cairn_render_rec *out, struct cairn_diag *d)
{
    return s->ops->render_get(s, site, out, d);
}

int cairn_store_render_put(struct cairn_store *s,
                           const struct cairn_render_rec *r, int history,
                           struct cairn_diag *d)
{
    return s->ops->render_put(s, r, history, d);
}

int cairn_store_render_remove(struct cairn_store *s, const char *site,
                              const char *commit, struct cairn_diag *d)
{
    return s->ops->render_remove(s, site, commit, d);
}

int cairn_store_render_scan(struct cairn_store *s, int with_envelope,
                            int64_t due_before, size_t max,
                            cairn_store_render_cb cb, void *arg,
                            struct cairn_diag *d)
{
    return s->ops->render_scan(s, with_envelope, due_before, max, cb, arg, d);
}

int cairn_store_generation_max(struct cairn_store *s, const char *site,
                               int64_t *out, struct cairn_diag *d)
{
    return s->ops->generation_max(s, site, out, d);
}

int cairn_store_generations_scan(struct cairn_store *s, cairn_store_gen_cb cb,
                                 void *arg, struct cairn_diag *d)
{
    return s->ops->generations_scan(s, cb, arg, d);
}

int cairn_store_count(struct cairn_store *s, const char *what, int64_t *out,
                      struct cairn_diag *d)
{
    return s->ops->count(s, what, out, d);
}

void cairn_render_rec_free(struct cairn_render_rec *r)
{
    if (!r)
        return;
    free(r->envelope);
    free((char *)r->models);
    r->envelope = NULL;
    r->models = NULL;
}

int cairn_store_commit_list(struct cairn_store *s, size_t max,
                            cairn_store_commit_cb cb, void *arg,
                            struct cairn_diag *d)
{
    return s->ops->commit_list(s, max, cb, arg, d);
}
