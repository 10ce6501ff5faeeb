#include "offline.h"

#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"
#include "cairn/sshsig.h"
#include "gitsrc.h"
#include "publish.h"

static int check_commit(struct cairn_offline *o, const char *allowed,
                        struct cairn_diag *d)
{
    struct cairn_sshsig_signers *signers = NULL;
    int rc = 0;

    if (allowed)
        rc = cairn_sshsig_signers_load(allowed, &signers, d);
    if (rc == 0)
        rc = cairn_commitpolicy_check(o->g, &o->commit, o->policy, signers,
                                      &o->meta, d);
    cairn_sshsig_signers_free(signers);
    return rc;
}

int cairn_offline_open(const char *path, const char *rev,
                       const char *allowed_signers, struct cairn_offline **out,
                       struct cairn_diag *d)
{
    struct cairn_offline *o = cairn_xcalloc(1, sizeof(*o));
    int rc;

    o->repo = cairn_xstrdup(path);
    o->policy = allowed_signers ? CAIRN_SIGPOLICY_REQUIRE : CAIRN_SIGPOLICY_OFF;
    rc = cairn_keys_init();
    if (rc == 0)
        rc = cairn_git_open(path, NULL, NULL, &o->g, d);
    if (rc == 0)
        rc = cairn_loader_new(&o->ld, d);
    if (rc == 0)
        rc = cairn_git_resolve(o->g, rev ? rev : "HEAD", &o->commit, d);
    if (rc == 0)
        rc = check_commit(o, allowed_signers, d);
    if (rc) {
        cairn_offline_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

int cairn_offline_checkout(struct cairn_offline *o, const char *rev,
                           struct cairn_diag *d)
{
    int rc = cairn_git_resolve(o->g, rev, &o->commit, d);

    if (rc == 0)
        rc = cairn_commitpolicy_check(o->g, &o->commit, o->policy, NULL,
                                      &o->meta, d);
    return rc;
}

void cairn_offline_free(struct cairn_offline *o)
{
    if (!o)
        return;
    cairn_fleet_free(o->fleet);
    cairn_src_free(o->src);
    cairn_loader_free(o->ld);
    cairn_git_free(o->g);
    free(o->repo);
    free(o);
}

int cairn_offline_build(struct cairn_offline *o, cairn_build_select_fn sel,
                        void *sel_arg, cairn_build_site_fn on_site,
                        void *site_arg, struct cairn_errlist *errs,
                        struct cairn_build_stats *st, struct cairn_diag *d)
{
    int rc, refused = 0;

    cairn_fleet_free(o->fleet);
    o->fleet = NULL;
    cairn_src_free(o->src);
    o->src = NULL;
    rc = cairn_gitsrc_new(o->g, &o->commit, &o->src, d);
    if (rc)
        return rc;
    if (o->meta.refused) {
        cairn_errlist_add(errs, CAIRN_EPOLICY, NULL, NULL, 0, 0, NULL,
                          "commit %s: %s", o->meta.sha, o->meta.why);
        refused = CAIRN_EPOLICY;
        on_site = NULL; /* check everything, hand out nothing */
    }
    {
        struct cairn_build_hooks h = {sel,     sel_arg,  NULL, NULL,
                                      on_site, site_arg, 0};

        rc = cairn_build_run(o->ld, o->src, &h, errs, st, &o->fleet);
    }
    if (refused) {
        cairn_fleet_free(o->fleet);
        o->fleet = NULL;
    }
    return refused ? refused : rc;
}

json_t *cairn_offline_payload(const struct cairn_offline *o,
                              const struct cairn_fleet *f, json_t *content)
{
    struct cairn_source src = {o->repo, o->meta.sha, o->meta.signer};
    int64_t issued = o->meta.time;

    return cairn_publish_payload(content, 0, issued,
                                 issued + f->ttl_hours * 3600, &src);
}
