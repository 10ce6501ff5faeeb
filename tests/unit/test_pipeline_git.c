/* The pipeline over a real git repository: signed commits checked
 * against an allowed_signers file (ssh-keygen keys, git commit -S), tree
 * diffs driving incremental renders. */
#include "test.h"

#include <sys/stat.h>

#include "cairn/json.h"
#include "cairn/sshsig.h"
#include "fleet_fixture.h"
#include "gitutil.h"
#include "pipeline.h"

static char *dir, repo[4200], keys[4200];
static struct cairn_seckey ctl_key;

static void write_repo(struct fx_repo *r)
{
    for (size_t i = 0; i < r->n; i++) {
        char path[8192], *slash;

        snprintf(path, sizeof(path), "%s/%s", repo, r->f[i].path);
        for (slash = strchr(path + strlen(repo) + 1, '/'); slash;
             slash = strchr(slash + 1, '/')) {
            *slash = '\0';
            mkdir(path, 0755);
            *slash = '/';
        }
        test_write_file(path, r->f[i].data, r->f[i].len);
    }
}

/* Commit everything, signed with key (NULL: unsigned). */
static struct cairn_git_oid commit_as(const char *key, const char *msg)
{
    if (key)
        SH_OK("cd '%s' && git add -A && git -c gpg.format=ssh -c "
              "user.signingkey='%s/%s' "
              "commit -q --allow-empty -S -m '%s'",
              repo, keys, key, msg);
    else
        SH_OK("cd '%s' && git add -A && git commit -q --allow-empty "
              "--no-gpg-sign -m '%s'",
              repo, msg);
    return rev_parse(repo, "HEAD");
}

static char *signer_of(struct cairn_store *s, const char *site)
{
    static char out[64];
    struct cairn_render_rec r;
    struct cairn_dsse *env = NULL;
    json_t *p = NULL;

    snprintf(out, sizeof(out), "(none)");
    if (cairn_store_render_get(s, site, &r, NULL) != 0)
        return out;
    if (cairn_dsse_parse(r.envelope, r.envelope_len, 1 << 22, NULL, &env,
                         NULL) == 0 &&
        cairn_json_parse((const char *)env->payload, env->payload_len, 1 << 22,
                         &p, NULL) == 0)
        snprintf(out, sizeof(out), "%s",
                 json_string_value(
                     json_object_get(json_object_get(p, "source"), "signer")));
    json_decref(p);
    cairn_dsse_free(env);
    cairn_render_rec_free(&r);
    return out;
}

static void test_signed_commits_drive_the_pipeline(void)
{
    struct cairn_store *s = NULL;
    struct cairn_pipeline *p = NULL;
    struct cairn_pipeline_opts o = {
        "file:///fleet", NULL, &ctl_key, NULL, NULL, 0, 0, 0};
    struct cairn_sshsig_signers *signers = NULL;
    struct cairn_pipeline_result res;
    struct cairn_git *g = NULL;
    struct cairn_git_oid c1, c2, c3, c4, c5;
    struct cairn_diag d;
    struct fx_repo r;
    char db[4300], alice[32], *err = NULL, *site;
    int acc;

    fx_init(&r);
    write_repo(&r);
    c1 = commit_as("alice", "first");
    cairn_diag_init(&d);
    snprintf(db, sizeof(db), "%s/ctl.db", dir);
    REQUIRE(cairn_store_open(db, &s, &d) == 0);
    o.store = s;
    REQUIRE(cairn_pipeline_new(&o, &p, &d) == 0);
    REQUIRE(cairn_git_open(repo, NULL, NULL, &g, &d) == 0);
    snprintf(db, sizeof(db), "%s/allowed_signers", keys);
    REQUIRE(cairn_sshsig_signers_load(db, &signers, &d) == 0);
    SH_OK("ssh-keygen -l -f '%s/alice.pub' >/dev/null", keys);

    REQUIRE(cairn_pipeline_process_commit(p, g, &c1, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.changed, 2);
    cairn_pipeline_result_free(&res);
    snprintf(alice, sizeof(alice), "%s", signer_of(s, "mercy"));
    CHECK_INT_EQ(strlen(alice), 16);

    /* one site file: the tree diff limits the render to that site */
    site = cairn_xasprintf(
        "kind: Site\nname: mercy\nlabels: {region: west}\npublicKey: %s\n"
        "values: {xraylab: {inbox: /mnt/in}}\n",
        r.mercy_pub);
    fx_put(&r, "sites/west/mercy.yaml", site);
    free(site);
    write_repo(&r);
    c2 = commit_as("alice", "mercy inbox");
    REQUIRE(cairn_pipeline_process_commit(p, g, &c2, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.rendered, 1);
    CHECK_INT_EQ(res.changed, 1);
    cairn_pipeline_result_free(&res);

    /* unsigned, then signed by a key nobody allowed: refused, nothing moves */
    SH_OK("cd '%s' && sed -i 's/v2}/v1}/' groups/east.yaml", repo);
    c3 = commit_as(NULL, "unsigned");
    REQUIRE(cairn_pipeline_process_commit(p, g, &c3, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(!res.accepted);
    cairn_pipeline_result_free(&res);
    REQUIRE(cairn_store_commit_get(s, c3.hex, &acc, &err, &d) == 0);
    CHECK_STR_HAS(err,
                  "refused by signature policy require: unsigned (not signed)");
    free(err);
    c4 = commit_as("mallory", "mallory");
    REQUIRE(cairn_pipeline_process_commit(p, g, &c4, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(!res.accepted);
    cairn_pipeline_result_free(&res);
    REQUIRE(cairn_store_commit_get(s, c4.hex, &acc, &err, &d) == 0);
    CHECK_STR_HAS(err, "refused by signature policy require: unknown-key");
    free(err);
    CHECK_STR_EQ(cairn_pipeline_last(p), c2.hex);

    /* alice signs on top: diffed against c2, the last accepted commit,
     * so the group change of c3 is seen and st-olaf moves back to v1 */
    c5 = commit_as("alice", "alice again");
    REQUIRE(cairn_pipeline_process_commit(p, g, &c5, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.rendered, 1);
    CHECK_INT_EQ(res.changed, 1);
    cairn_pipeline_result_free(&res);
    CHECK_STR_EQ(signer_of(s, "st-olaf"), alice);
    /* the same commit again is a no-op */
    REQUIRE(cairn_pipeline_process_commit(p, g, &c5, CAIRN_SIGPOLICY_REQUIRE,
                                          signers, &res, &d) == 0);
    CHECK(res.accepted);
    CHECK_INT_EQ(res.rendered, 0);
    cairn_pipeline_result_free(&res);
    /* off: mallory's commit renders, and names mallory as the signer */
    SH_OK("cd '%s' && sed -i 's/v1}/v2}/' groups/east.yaml", repo);
    c4 = commit_as("mallory", "mallory under off");
    REQUIRE(cairn_pipeline_process_commit(p, g, &c4, CAIRN_SIGPOLICY_OFF,
                                          signers, &res, &d) == 0);
    CHECK(res.accepted);
    cairn_pipeline_result_free(&res);
    CHECK(strcmp(signer_of(s, "st-olaf"), alice) != 0);
    CHECK_INT_EQ(strlen(signer_of(s, "st-olaf")), 16);

    cairn_sshsig_signers_free(signers);
    cairn_pipeline_free(p);
    cairn_git_free(g);
    cairn_store_close(s);
    fx_free(&r);
}

int main(void)
{
    dir = test_tmpdir();
    snprintf(repo, sizeof(repo), "%s/repo", dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    git_env(dir);
    if (cairn_keys_init() != 0 ||
        cairn_seckey_generate("controller", &ctl_key) != 0)
        abort();
    SH_OK("mkdir -p '%s' && git init -q -b main '%s'", keys, repo);
    SH_OK("ssh-keygen -q -t ed25519 -N '' -C alice -f '%s/alice'", keys);
    SH_OK("ssh-keygen -q -t ed25519 -N '' -C mallory -f '%s/mallory'", keys);
    SH_OK("echo \"alice@example.com namespaces=\\\"git\\\" $(cat "
          "'%s/alice.pub')\" > "
          "'%s/allowed_signers'",
          keys, keys);
    RUN(test_signed_commits_drive_the_pipeline);
    test_rm_rf(dir);
    free(dir);
    return test_done();
}
