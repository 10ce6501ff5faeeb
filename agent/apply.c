/*
 * Apply: a workload generation's files and secrets on disk, and the symlink
 * switch (see apply.h and docs/internals/apply.md).
 */
#include "apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/encoding.h"
#include "cairn/fs.h"
#include "cairn/hash.h"
#include "cairn/mem.h"

#define BLOB_LINK_PREFIX "../../blobs/sha256/"

/* One decoded `files` entry. */
struct item {
    const char *path; /* borrowed from the JSON entry */
    mode_t mode;
    uint8_t *data;
    size_t len;
};

/* One opened secret; data is wiped before it is freed. */
struct secret {
    const char *name; /* borrowed */
    uint8_t *data;
    size_t len;
};

struct entry {
    const char *name;
    struct item *items;
    size_t nitems;
    const json_t *secrets; /* array or NULL */
    const char *uploads;   /* uploads.dir or NULL */
};

int cairn_apply_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

char *cairn_apply_workload_dir(const char *state_dir, const char *name)
{
    return cairn_xasprintf("%s/workloads/%s", state_dir, name);
}

char *cairn_apply_config_dir(const char *state_dir, const char *name,
                             uint64_t gen)
{
    return cairn_xasprintf("%s/workloads/%s/config.%" PRIu64, state_dir, name,
                           gen);
}

char *cairn_apply_secrets_dir(const char *state_dir, const char *name,
                              uint64_t gen)
{
    return cairn_xasprintf("%s/workloads/%s/secrets.%" PRIu64, state_dir, name,
                           gen);
}

char *cairn_apply_work_dir(const char *state_dir, const char *name)
{
    return cairn_xasprintf("%s/workloads/%s/work", state_dir, name);
}

char *cairn_apply_blob_path(const char *state_dir, const char *hex)
{
    return cairn_xasprintf("%s/blobs/sha256/%s", state_dir, hex);
}

/* ---- checking the entry ---- */

/* The lexical confinement rules (join_safe checks them again, with the
 * symlinks, when writing): relative, no empty, "." or ".." component, no
 * NUL, bounded. Messages say what was refused and why. */
static int check_relpath(const char *s, size_t n, const char *field,
                         struct cairn_diag *d)
{
    size_t start = 0;

    if (n == 0)
        return cairn_diag_set(d, CAIRN_EPATH, "%s: empty path", field);
    if (memchr(s, '\0', n))
        return cairn_diag_set(d, CAIRN_EPATH, "%s: path contains a NUL byte",
                              field);
    if (n >= PATH_MAX)
        return cairn_diag_set(d, CAIRN_EPATH, "%s: path longer than %d bytes",
                              field, PATH_MAX - 1);
    if (s[0] == '/')
        return cairn_diag_set(d, CAIRN_EPATH,
                              "%s \"%s\": absolute path refused (paths stay "
                              "inside the workload's directory)",
                              field, s);
    for (size_t i = 0; i <= n; i++) {
        size_t len = i - start;

        if (i < n && s[i] != '/')
            continue;
        if (len == 2 && s[start] == '.' && s[start + 1] == '.')
            return cairn_diag_set(d, CAIRN_EPATH,
                                  "%s \"%s\": \"..\" component refused (paths "
                                  "stay inside the workload's directory)",
                                  field, s);
        if (len == 0 || (len == 1 && s[start] == '.'))
            return cairn_diag_set(d, CAIRN_EPATH,
                                  "%s \"%s\": empty or \".\" component", field,
                                  s);
        if (len > NAME_MAX)
            return cairn_diag_set(d, CAIRN_EPATH, "%s: component over %d bytes",
                                  field, NAME_MAX);
        start = i + 1;
    }
    return 0;
}

static int get_string(const json_t *obj, const char *key, int required,
                      const char *where, const char **out, struct cairn_diag *d)
{
    const json_t *v = json_object_get(obj, key);

    if (!v && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return cairn_diag_set(d, CAIRN_EINVAL, "%s.%s: %s", where, key,
                              v ? "not a string" : "missing");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return cairn_diag_set(d, CAIRN_EINVAL, "%s.%s: contains a NUL byte",
                              where, key);
    *out = json_string_value(v);
    return 0;
}

static int parse_mode(const char *s, mode_t *out)
{
    mode_t m = 0;

    if (strlen(s) != 4 || s[0] != '0')
        return CAIRN_EPARSE;
    for (int i = 1; i < 4; i++) {
        if (s[i] < '0' || s[i] > '7')
            return CAIRN_EPARSE;
        m = (mode_t)(m * 8 + (mode_t)(s[i] - '0'));
    }
    *out = m;
    return 0;
}

static int decode_content(const json_t *f, const char *where, uint8_t **out,
                          size_t *out_len, struct cairn_diag *d)
{
    const char *enc, *content;
    size_t n = json_string_length(json_object_get(f, "content"));
    int rc;

    if ((rc = get_string(f, "encoding", 0, where, &enc, d)))
        return rc;
    content = json_string_value(json_object_get(f, "content"));
    if (!enc || strcmp(enc, "utf-8") == 0) {
        if (n > CAIRN_APPLY_FILE_MAX)
            return cairn_diag_set(d, CAIRN_ETOOBIG, "%s.content: over %u bytes",
                                  where, CAIRN_APPLY_FILE_MAX);
        *out = (uint8_t *)cairn_xstrndup(content, n);
        *out_len = n;
        return 0;
    }
    if (strcmp(enc, "base64") != 0)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "%s.encoding: \"%s\" is not utf-8 or base64",
                              where, enc);
    if (n / 4 * 3 > CAIRN_APPLY_FILE_MAX + 2)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s.content: over %u bytes decoded", where,
                              CAIRN_APPLY_FILE_MAX);
    if (cairn_base64_decode(content, n, out, out_len))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s.content: not canonical base64", where);
    if (*out_len > CAIRN_APPLY_FILE_MAX) {
        free(*out);
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s.content: over %u bytes decoded", where,
                              CAIRN_APPLY_FILE_MAX);
    }
    return 0;
}

/* Decode files[i] into it, checking path, mode and digest. */
static int load_item(const json_t *f, size_t i, struct item *it,
                     struct cairn_diag *d)
{
    char where[32], field[48], hex[CAIRN_SHA256_HEX_LEN + 1];
    uint8_t sum[CAIRN_SHA256_LEN];
    const char *mode, *sha, *content;
    int rc;

    snprintf(where, sizeof(where), "files[%zu]", i);
    snprintf(field, sizeof(field), "%s.path", where);
    if (!json_is_object(f))
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: not an object", where);
    if ((rc = get_string(f, "path", 1, where, &it->path, d)) ||
        (rc = get_string(f, "mode", 1, where, &mode, d)) ||
        (rc = get_string(f, "sha256", 1, where, &sha, d)) ||
        (rc = get_string(f, "content", 1, where, &content, d)))
        return rc;
    if ((rc = check_relpath(it->path, strlen(it->path), field, d)))
        return rc;
    if (parse_mode(mode, &it->mode))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s.mode \"%s\": not an octal mode 0NNN", where,
                              mode);
    if (!cairn_is_sha256_hex(sha))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "%s.sha256: not 64 lower-case hex digits", where);
    if ((rc = decode_content(f, where, &it->data, &it->len, d)))
        return rc;
    cairn_sha256(it->data, it->len, sum);
    cairn_hex_encode(sum, sizeof(sum), hex);
    if (strcmp(hex, sha) != 0) {
        free(it->data);
        it->data = NULL;
        return cairn_diag_set(
            d, CAIRN_EDIGEST,
            "%s (%s): content has sha256 %s, the entry says %s", where,
            it->path, hex, sha);
    }
    return 0;
}

/* Two entries for one path, or a file where another needs a directory. */
static int check_overlap(const struct item *items, size_t n,
                         struct cairn_diag *d)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            const char *a = items[i].path, *b = items[j].path;
            size_t la = strlen(a);

            if (i == j)
                continue;
            if (i < j && strcmp(a, b) == 0)
                return cairn_diag_set(
                    d, CAIRN_EINVAL,
                    "files[%zu].path \"%s\": duplicate of files[%zu]", j, b, i);
            if (strncmp(a, b, la) == 0 && b[la] == '/')
                return cairn_diag_set(
                    d, CAIRN_EINVAL,
                    "files[%zu].path \"%s\": files[%zu] \"%s\" is a "
                    "file, not a directory",
                    j, b, i, a);
        }
    return 0;
}

static void free_items(struct item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        free(items[i].data);
    free(items);
}

static int load_files(const json_t *wl, struct entry *e, struct cairn_diag *d)
{
    const json_t *files = json_object_get(wl, "files");
    size_t n;
    int rc = 0;

    if (!files)
        return 0;
    if (!json_is_array(files))
        return cairn_diag_set(d, CAIRN_EINVAL, "files: not an array");
    n = json_array_size(files);
    if (n > CAIRN_APPLY_FILES_MAX)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "files: %zu entries, at most %d", n,
                              CAIRN_APPLY_FILES_MAX);
    e->items = cairn_xcalloc(n ? n : 1, sizeof(*e->items));
    for (size_t i = 0; i < n && !rc; i++) {
        rc = load_item(json_array_get(files, i), i, &e->items[i], d);
        if (!rc)
            e->nitems = i + 1;
    }
    if (!rc)
        rc = check_overlap(e->items, e->nitems, d);
    return rc;
}

static int secret_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > NAME_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Decode secrets[i]'s sealed box (fresh buffer) after checking its name. */
static int load_box(const json_t *secrets, size_t i, const char **name,
                    uint8_t **box, size_t *box_len, struct cairn_diag *d)
{
    const json_t *s = json_array_get(secrets, i);
    const char *sealed;
    char where[32];
    int rc;

    snprintf(where, sizeof(where), "secrets[%zu]", i);
    if (!json_is_object(s))
        return cairn_diag_set(d, CAIRN_EINVAL, "%s: not an object", where);
    if ((rc = get_string(s, "name", 1, where, name, d)) ||
        (rc = get_string(s, "sealed", 1, where, &sealed, d)))
        return rc;
    if (!secret_name_ok(*name))
        return cairn_diag_set(
            d, CAIRN_EPATH,
            "%s.name \"%s\": not a plain file name ([A-Za-z0-9._-], "
            "not starting with '.')",
            where, *name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(json_string_value(
                       json_object_get(json_array_get(secrets, j), "name")),
                   *name) == 0)
            return cairn_diag_set(d, CAIRN_EINVAL,
                                  "%s.name \"%s\": duplicate of "
                                  "secrets[%zu]",
                                  where, *name, j);
    if (strlen(sealed) / 4 * 3 > CAIRN_APPLY_SECRET_MAX + 64)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s (%s): sealed box over %u bytes", where, *name,
                              CAIRN_APPLY_SECRET_MAX);
    if (cairn_base64_decode(sealed, strlen(sealed), box, box_len))
        return cairn_diag_set(d, CAIRN_EPARSE,
                              "%s (%s).sealed: not canonical base64", where,
                              *name);
    return 0;
}

static int check_secrets(const json_t *wl, struct entry *e,
                         struct cairn_diag *d)
{
    const json_t *secrets = json_object_get(wl, "secrets");
    int rc = 0;

    if (!secrets)
        return 0;
    if (!json_is_array(secrets))
        return cairn_diag_set(d, CAIRN_EINVAL, "secrets: not an array");
    if (json_array_size(secrets) > CAIRN_APPLY_SECRETS_MAX)
        return cairn_diag_set(
            d, CAIRN_ETOOBIG, "secrets: %zu entries, at most %d",
            json_array_size(secrets), CAIRN_APPLY_SECRETS_MAX);
    for (size_t i = 0; i < json_array_size(secrets) && !rc; i++) {
        const char *name;
        uint8_t *box = NULL;
        size_t n;

        rc = load_box(secrets, i, &name, &box, &n, d);
        free(box);
    }
    e->secrets = secrets;
    return rc;
}

static int check_uploads(const json_t *wl, struct entry *e,
                         struct cairn_diag *d)
{
    const json_t *up = json_object_get(wl, "uploads");
    int rc;

    if (!up)
        return 0;
    if (!json_is_object(up))
        return cairn_diag_set(d, CAIRN_EINVAL, "uploads: not an object");
    if ((rc = get_string(up, "dir", 1, "uploads", &e->uploads, d)))
        return rc;
    return check_relpath(e->uploads, strlen(e->uploads), "uploads.dir", d);
}

static void entry_free(struct entry *e)
{
    free_items(e->items, e->nitems);
    memset(e, 0, sizeof(*e));
}

/* Everything cairn_apply_check promises, keeping the decoded files. */
static int load_entry(const json_t *wl, struct entry *e, struct cairn_diag *d)
{
    int rc;

    memset(e, 0, sizeof(*e));
    if (!json_is_object(wl))
        return cairn_diag_set(d, CAIRN_EINVAL, "workload entry: not an object");
    if ((rc = get_string(wl, "name", 1, "workload", &e->name, d)))
        return rc;
    if (!cairn_apply_name_ok(e->name))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "workload name \"%s\": not a DNS label", e->name);
    rc = load_files(wl, e, d);
    if (!rc)
        rc = check_secrets(wl, e, d);
    if (!rc)
        rc = check_uploads(wl, e, d);
    if (rc) {
        cairn_diag_prefix(d, "workload %s", e->name);
        entry_free(e);
    }
    return rc;
}

int cairn_apply_check(const json_t *wl, struct cairn_diag *d)
{
    struct entry e;
    int rc = load_entry(wl, &e, d);

    if (!rc)
        entry_free(&e);
    return rc;
}

/* ---- building generation directories ---- */

static int is_dir(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir with exactly mode (umask does not apply); an existing directory is
 * fine and gets the mode too. */
static int mkdir_mode(const char *path, mode_t mode, struct cairn_diag *d)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return cairn_diag_set(d, errno == ENOENT ? CAIRN_ENOENT : CAIRN_EIO,
                              "%s: mkdir: %s", path, strerror(errno));
    if (!is_dir(path))
        return cairn_diag_set(d, CAIRN_EEXIST,
                              "%s: exists and is not a directory", path);
    if (chmod(path, mode) != 0)
        return cairn_diag_set(d, CAIRN_EIO, "%s: chmod: %s", path,
                              strerror(errno));
    return 0;
}

/* Move the complete tmp directory to final, atomically when the file
 * system can exchange (a reader never sees final missing), then remove
 * what was there before. */
static int install_dir(const char *wdir, const char *tmp, const char *final,
                       struct cairn_diag *d)
{
    char *old = NULL;
    int rc = 0;

    if (is_dir(final)) {
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
            rc = cairn_fs_rm_rf(tmp, d);
            goto sync;
        }
        old = cairn_xasprintf("%s.old", tmp);
        if ((rc = cairn_fs_rm_rf(old, d)))
            goto out;
        if (rename(final, old) != 0) {
            rc = cairn_diag_set(d, CAIRN_EIO, "%s: rename aside: %s", final,
                                strerror(errno));
            goto out;
        }
    }
    if (rename(tmp, final) != 0) {
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: rename into place: %s", final,
                            strerror(errno));
        goto out;
    }
    if (old)
        rc = cairn_fs_rm_rf(old, d);
sync:
    if (!rc)
        rc = cairn_fs_fsync_dir(wdir, d);
out:
    free(old);
    return rc;
}

/* Does dir/rel hold exactly this content with this mode? */
static int file_matches(const char *dir, const char *rel, mode_t mode,
                        const uint8_t *data, size_t len)
{
    uint8_t want[CAIRN_SHA256_LEN], got[CAIRN_SHA256_LEN];
    char *path = NULL;
    struct stat st;
    uint64_t size;
    int ok = 0;

    if (cairn_fs_join_safe(dir, rel, &path, NULL))
        return 0;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_mode & 07777) != mode || (uint64_t)st.st_size != len)
        goto out;
    cairn_sha256(data, len, want);
    ok = cairn_sha256_file(path, got, &size) == 0 && size == len &&
         memcmp(want, got, sizeof(want)) == 0;
out:
    free(path);
    return ok;
}

static int config_matches(const char *dir, const struct entry *e)
{
    struct stat st;

    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    for (size_t i = 0; i < e->nitems; i++)
        if (!file_matches(dir, e->items[i].path, e->items[i].mode,
                          e->items[i].data, e->items[i].len))
            return 0;
    return 1;
}

/* fsync every directory between the file's parent (synced by
 * write_durable) and root (synced by the caller): mkdir_p may have created
 * them, and their entries must be durable before the rename of root. */
static int sync_parents(char *path, size_t root_len, struct cairn_diag *d)
{
    char *slash = strrchr(path, '/');
    int rc = 0;

    while (!rc && slash && (size_t)(slash - path) > root_len) {
        *slash = '\0';
        slash = strrchr(path, '/');
        if ((size_t)(slash - path) > root_len) {
            *slash = '\0';
            rc = cairn_fs_fsync_dir(path, d);
            *slash = '/';
        }
    }
    return rc;
}

static int write_item(const char *root, const struct item *it,
                      struct cairn_diag *d)
{
    char *path = NULL, *slash;
    int rc;

    if ((rc = cairn_fs_join_safe(root, it->path, &path, d)))
        return rc;
    slash = strrchr(path, '/');
    if (slash > path + strlen(root)) {
        *slash = '\0';
        rc = cairn_fs_mkdir_p(path, 0755, d);
        *slash = '/';
    }
    if (!rc)
        rc = cairn_fs_write_durable(path, it->data, it->len, it->mode, d);
    if (!rc)
        rc = sync_parents(path, strlen(root), d);
    free(path);
    return rc;
}

static int build_config(const char *state_dir, const struct entry *e,
                        uint64_t gen, struct cairn_diag *d)
{
    char *wdir = cairn_apply_workload_dir(state_dir, e->name);
    char *final = cairn_apply_config_dir(state_dir, e->name, gen);
    char *tmp = cairn_xasprintf("%s/.config.%" PRIu64 ".tmp", wdir, gen);
    int rc = 0;

    if (config_matches(final, e))
        goto out;
    if ((rc = cairn_fs_rm_rf(tmp, d)) || (rc = mkdir_mode(tmp, 0755, d)))
        goto out;
    for (size_t i = 0; i < e->nitems && !rc; i++) {
        rc = write_item(tmp, &e->items[i], d);
        if (rc)
            cairn_diag_prefix(d, "files[%zu] (%s)", i, e->items[i].path);
    }
    if (!rc)
        rc = cairn_fs_fsync_dir(tmp, d);
    if (!rc)
        rc = install_dir(wdir, tmp, final, d);
out:
    free(tmp);
    free(final);
    free(wdir);
    return rc;
}

static void wipe_secrets(struct secret *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        if (s[i].data)
            explicit_bzero(s[i].data, s[i].len);
        free(s[i].data);
    }
    free(s);
}

/* Open every sealed box with the site key. Never puts content in d. */
static int open_secrets(const struct entry *e, const struct cairn_seckey *key,
                        struct secret **out, size_t *nout, struct cairn_diag *d)
{
    size_t n = e->secrets ? json_array_size(e->secrets) : 0;
    struct secret *s;
    int rc = 0;

    if (n && !key)
        return cairn_diag_set(d, CAIRN_EKEY,
                              "secrets: no site key to open them with");
    s = cairn_xcalloc(n ? n : 1, sizeof(*s));
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t *box = NULL;
        size_t box_len;

        rc = load_box(e->secrets, i, &s[i].name, &box, &box_len, d);
        if (!rc && cairn_unseal(key, box, box_len, &s[i].data, &s[i].len))
            rc = cairn_diag_set(
                d, CAIRN_ESIG,
                "secrets[%zu] (%s): the sealed box does not open with "
                "this site's key (sealed to another site, or altered)",
                i, s[i].name);
        if (!rc && s[i].len > CAIRN_APPLY_SECRET_MAX)
            rc = cairn_diag_set(d, CAIRN_ETOOBIG,
                                "secrets[%zu] (%s): over %u bytes", i,
                                s[i].name, CAIRN_APPLY_SECRET_MAX);
        free(box);
    }
    if (rc) {
        wipe_secrets(s, n);
        return rc;
    }
    *out = s;
    *nout = n;
    return 0;
}

static int secret_matches(const char *dir, const struct secret *s)
{
    char *path = cairn_xasprintf("%s/%s", dir, s->name), *buf = NULL;
    struct stat st;
    size_t len = 0;
    int ok = 0;

    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 07777) == 0600 && (uint64_t)st.st_size == s->len &&
        cairn_fs_read(path, CAIRN_APPLY_SECRET_MAX, &buf, &len, NULL) == 0)
        ok = len == s->len && cairn_memeq_ct(buf, s->data, len) == 0;
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    free(path);
    return ok;
}

static int secrets_match(const char *dir, const struct secret *s, size_t n)
{
    struct stat st;

    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (st.st_mode & 07777) != 0700)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!secret_matches(dir, &s[i]))
            return 0;
    return 1;
}

static int build_secrets(const char *state_dir, const struct entry *e,
                         uint64_t gen, const struct cairn_seckey *key,
                         struct cairn_diag *d)
{
    char *wdir = cairn_apply_workload_dir(state_dir, e->name);
    char *final = cairn_apply_secrets_dir(state_dir, e->name, gen);
    char *tmp = cairn_xasprintf("%s/.secrets.%" PRIu64 ".tmp", wdir, gen);
    struct secret *s = NULL;
    size_t n = 0;
    int rc;

    if ((rc = open_secrets(e, key, &s, &n, d)) || secrets_match(final, s, n))
        goto out;
    if ((rc = cairn_fs_rm_rf(tmp, d)) || (rc = mkdir_mode(tmp, 0700, d)))
        goto out;
    for (size_t i = 0; i < n && !rc; i++) {
        char *path = cairn_xasprintf("%s/%s", tmp, s[i].name);

        rc = cairn_fs_write_durable(path, s[i].data, s[i].len, 0600, d);
        free(path);
    }
    if (!rc)
        rc = cairn_fs_fsync_dir(tmp, d);
    if (!rc)
        rc = install_dir(wdir, tmp, final, d);
out:
    wipe_secrets(s, n);
    free(tmp);
    free(final);
    free(wdir);
    return rc;
}

static int make_dirs(const char *state_dir, const struct entry *e,
                     struct cairn_diag *d)
{
    char *wdir = cairn_apply_workload_dir(state_dir, e->name);
    char *work = cairn_apply_work_dir(state_dir, e->name);
    char *up = NULL;
    int rc;

    if (!is_dir(state_dir)) {
        rc = cairn_diag_set(d, CAIRN_ENOENT, "%s: state directory missing",
                            state_dir);
        goto out;
    }
    if ((rc = cairn_fs_mkdir_p(wdir, 0755, d)) ||
        (rc = cairn_fs_mkdir_p(work, 0750, d)))
        goto out;
    if (e->uploads && !(rc = cairn_fs_join_safe(work, e->uploads, &up, d)))
        rc = cairn_fs_mkdir_p(up, 0750, d);
out:
    free(up);
    free(work);
    free(wdir);
    return rc;
}

int cairn_apply_prepare(const char *state_dir, const json_t *wl, uint64_t gen,
                        const struct cairn_seckey *site_key,
                        struct cairn_diag *d)
{
    struct entry e;
    int rc;

    if (!state_dir || gen == 0)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "apply: no state directory or generation 0");
    if ((rc = load_entry(wl, &e, d)))
        return rc;
    rc = make_dirs(state_dir, &e, d);
    if (!rc)
        rc = build_config(state_dir, &e, gen, d);
    if (!rc)
        rc = build_secrets(state_dir, &e, gen, site_key, d);
    if (rc)
        cairn_diag_prefix(d, "workload %s: generation %" PRIu64, e.name, gen);
    entry_free(&e);
    return rc;
}

/* ---- switching ---- */

/* Point wdir/link at target by a temp symlink renamed over it; a link that
 * already says target is left alone. */
static int set_link(const char *wdir, const char *link, const char *target,
                    struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/%s", wdir, link);
    char *tmp = cairn_xasprintf("%s/.%s.tmp", wdir, link);
    char cur[PATH_MAX];
    ssize_t n = readlink(path, cur, sizeof(cur) - 1);
    int rc = 0;

    if (n >= 0 && (size_t)n == strlen(target) &&
        memcmp(cur, target, (size_t)n) == 0)
        goto out;
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: unlink: %s", tmp,
                            strerror(errno));
        goto out;
    }
    if (symlink(target, tmp) != 0)
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: symlink: %s", tmp,
                            strerror(errno));
    else if (rename(tmp, path) != 0)
        rc = cairn_diag_set(d, CAIRN_EIO, "%s: rename into place: %s", path,
                            strerror(errno));
    if (rc)
        unlink(tmp);
out:
    free(tmp);
    free(path);
    return rc;
}

static int need_dir(const char *path, struct cairn_diag *d)
{
    if (!is_dir(path))
        return cairn_diag_set(d, CAIRN_ENOENT,
                              "%s: missing (generation not prepared)", path);
    return 0;
}

static int need_blob(const char *state_dir, const char *hex,
                     struct cairn_diag *d)
{
    char *blob = cairn_apply_blob_path(state_dir, hex);
    struct stat st;
    int rc = 0;

    if (lstat(blob, &st) != 0 || !S_ISREG(st.st_mode))
        rc = cairn_diag_set(d, CAIRN_ENOENT, "%s: blob missing (not installed)",
                            blob);
    free(blob);
    return rc;
}

int cairn_apply_switch(const char *state_dir, const char *name, uint64_t gen,
                       const char *hex, struct cairn_diag *d)
{
    char *wdir, *cfg, *sec, *target = NULL, *cfg_target;
    int rc;

    if (!state_dir || !cairn_apply_name_ok(name) || gen == 0 ||
        (hex && !cairn_is_sha256_hex(hex)))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "apply switch: bad name, generation or "
                              "blob id");
    wdir = cairn_apply_workload_dir(state_dir, name);
    cfg = cairn_apply_config_dir(state_dir, name, gen);
    sec = cairn_apply_secrets_dir(state_dir, name, gen);
    cfg_target = cairn_xasprintf("config.%" PRIu64, gen);
    if ((rc = need_dir(cfg, d)) || (rc = need_dir(sec, d)) ||
        (hex && (rc = need_blob(state_dir, hex, d))))
        goto out;
    if ((rc = set_link(wdir, "config", cfg_target, d)))
        goto out;
    if (hex) {
        target = cairn_xasprintf(BLOB_LINK_PREFIX "%s", hex);
        rc = set_link(wdir, "current", target, d);
    } else {
        char *cur = cairn_xasprintf("%s/current", wdir);

        if (unlink(cur) != 0 && errno != ENOENT)
            rc = cairn_diag_set(d, CAIRN_EIO, "%s: unlink: %s", cur,
                                strerror(errno));
        free(cur);
    }
    if (!rc)
        rc = cairn_fs_fsync_dir(wdir, d);
out:
    if (rc)
        cairn_diag_prefix(d, "workload %s: switch to generation %" PRIu64, name,
                          gen);
    free(cfg_target);
    free(target);
    free(sec);
    free(cfg);
    free(wdir);
    return rc;
}

/* "<digits>" with no sign, no leading zero, > 0, within uint64. */
static int parse_gen(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (!*s || *s == '0')
        return CAIRN_EPARSE;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return CAIRN_EPARSE;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

/* readlink into buf; 1 when the link exists, 0 when it does not. */
static int read_link(const char *wdir, const char *link, char *buf, size_t size,
                     struct cairn_diag *d)
{
    char *path = cairn_xasprintf("%s/%s", wdir, link);
    ssize_t n = readlink(path, buf, size - 1);
    int rc = 1;

    if (n < 0)
        rc = errno == ENOENT
                 ? 0
                 : cairn_diag_set(d, errno == EINVAL ? CAIRN_EPARSE : CAIRN_EIO,
                                  "%s: readlink: %s", path, strerror(errno));
    else
        buf[n] = '\0';
    free(path);
    return rc;
}

int cairn_apply_read(const char *state_dir, const char *name, uint64_t *gen,
                     char hex_out[65], struct cairn_diag *d)
{
    char *wdir, buf[PATH_MAX];
    const char *hex = "";
    uint64_t g = 0;
    int rc;

    if (!state_dir || !cairn_apply_name_ok(name) || !gen || !hex_out)
        return cairn_diag_set(d, CAIRN_EINVAL, "apply read: bad argument");
    wdir = cairn_apply_workload_dir(state_dir, name);
    rc = read_link(wdir, "config", buf, sizeof(buf), d);
    if (rc == 0)
        rc = cairn_diag_set(d, CAIRN_ENOENT,
                            "%s/config: no generation in effect", wdir);
    if (rc < 0)
        goto out;
    if (strncmp(buf, "config.", 7) != 0 || parse_gen(buf + 7, &g)) {
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "%s/config -> %s: not config.<generation>", wdir,
                            buf);
        goto out;
    }
    rc = read_link(wdir, "current", buf, sizeof(buf), d);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        hex = buf + strlen(BLOB_LINK_PREFIX);
        if (strncmp(buf, BLOB_LINK_PREFIX, strlen(BLOB_LINK_PREFIX)) != 0 ||
            !cairn_is_sha256_hex(hex)) {
            rc = cairn_diag_set(d, CAIRN_EPARSE,
                                "%s/current -> %s: not a blob link", wdir, buf);
            goto out;
        }
    }
    rc = 0;
    *gen = g;
    memcpy(hex_out, hex, strlen(hex) + 1);
out:
    free(wdir);
    return rc;
}

/* ---- cleanup ---- */

/* Generation of a "config.N" / "secrets.N" entry, or 0. */
static uint64_t entry_gen(const char *name)
{
    uint64_t g = 0;

    if (strncmp(name, "config.", 7) == 0 && parse_gen(name + 7, &g) == 0)
        return g;
    if (strncmp(name, "secrets.", 8) == 0 && parse_gen(name + 8, &g) == 0)
        return g;
    return 0;
}

/* Our own temp names: ".config.N.tmp", ".secrets.N.tmp(.old)", ".config.tmp",
 * ".current.tmp"; write_durable leftovers of those (".x.tmp.XXXXXX"). The
 * supervisor's ".worker.pid.tmp" is its own. */
static int is_leftover(const char *name)
{
    if (name[0] != '.' || strncmp(name, ".worker.pid", 11) == 0)
        return 0;
    return strncmp(name, ".config.", 8) == 0 ||
           strncmp(name, ".secrets.", 9) == 0 ||
           strncmp(name, ".current.", 9) == 0;
}

static int keep_gen(uint64_t g, const uint64_t *keep, size_t nkeep,
                    uint64_t in_effect)
{
    if (g == in_effect)
        return 1;
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] == g)
            return 1;
    return 0;
}

int cairn_apply_cleanup(const char *state_dir, const char *name,
                        const uint64_t *keep, size_t nkeep,
                        struct cairn_diag *d)
{
    char hex[65], *wdir;
    uint64_t in_effect = 0;
    struct dirent *de;
    DIR *dir;
    int rc = 0;

    if (!state_dir || !cairn_apply_name_ok(name) || (nkeep && !keep))
        return cairn_diag_set(d, CAIRN_EINVAL, "apply cleanup: bad argument");
    wdir = cairn_apply_workload_dir(state_dir, name);
    dir = opendir(wdir);
    if (!dir) {
        if (errno != ENOENT)
            rc = cairn_diag_set(d, CAIRN_EIO, "%s: opendir: %s", wdir,
                                strerror(errno));
        goto out;
    }
    if (cairn_apply_read(state_dir, name, &in_effect, hex, NULL) != 0)
        in_effect = 0;
    while (!rc && (de = readdir(dir)) != NULL) {
        uint64_t g = entry_gen(de->d_name);
        char *path;

        if (!(g && !keep_gen(g, keep, nkeep, in_effect)) &&
            !is_leftover(de->d_name))
            continue;
        path = cairn_xasprintf("%s/%s", wdir, de->d_name);
        rc = cairn_fs_rm_rf(path, d);
        free(path);
    }
    closedir(dir);
    if (!rc)
        rc = cairn_fs_fsync_dir(wdir, d);
out:
    free(wdir);
    return rc;
}

int cairn_apply_remove(const char *state_dir, const char *name,
                       struct cairn_diag *d)
{
    char *wdir;
    struct dirent *de;
    DIR *dir;
    int rc = 0;

    if (!state_dir || !cairn_apply_name_ok(name))
        return cairn_diag_set(d, CAIRN_EINVAL, "apply remove: bad argument");
    wdir = cairn_apply_workload_dir(state_dir, name);
    dir = opendir(wdir);
    if (!dir) {
        if (errno != ENOENT)
            rc = cairn_diag_set(d, CAIRN_EIO, "%s: opendir: %s", wdir,
                                strerror(errno));
        goto out;
    }
    while (!rc && (de = readdir(dir)) != NULL) {
        char *path;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            !strcmp(de->d_name, "work"))
            continue;
        path = cairn_xasprintf("%s/%s", wdir, de->d_name);
        rc = cairn_fs_rm_rf(path, d);
        free(path);
    }
    closedir(dir);
    if (!rc)
        rc = cairn_fs_fsync_dir(wdir, d);
out:
    free(wdir);
    return rc;
}

int cairn_apply_upload_dir(const char *state_dir, const json_t *wl, char **out,
                           struct cairn_diag *d)
{
    struct entry e;
    char *work;
    int rc;

    memset(&e, 0, sizeof(e));
    if (!state_dir || !json_is_object(wl) || !out)
        return cairn_diag_set(d, CAIRN_EINVAL, "upload dir: bad argument");
    if ((rc = get_string(wl, "name", 1, "workload", &e.name, d)))
        return rc;
    if (!cairn_apply_name_ok(e.name))
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "workload name \"%s\": not a DNS label", e.name);
    if ((rc = check_uploads(wl, &e, d)))
        return rc;
    if (!e.uploads) {
        *out = NULL;
        return 0;
    }
    work = cairn_apply_work_dir(state_dir, e.name);
    *out = cairn_xasprintf("%s/%s", work, e.uploads);
    free(work);
    return 0;
}
