/*
 * The official JSON-Schema-Test-Suite (Debian package json-schema-test-suite)
 * for draft-07, run through cairn's validator: every file under
 * tests/draft7/ (optional/ and optional/format/ included) runs unless the
 * table below skips it, and every case must pass. A file the table does not
 * know (a newer suite) runs too, so that a gap shows up as a failure.
 *
 * Skipped files and cases, and why (also in docs/internals/schema.md):
 *
 * | file / case                     | why                                  |
 * |---------------------------------|--------------------------------------|
 * | refRemote.json                  | remote $ref (localhost:1234): only   |
 * |                                 | references within one document      |
 * | definitions.json                | $ref to the draft-07 metaschema URL  |
 * | ref.json, group "remote ref,    | $ref to the draft-07 metaschema URL  |
 * |   containing refs itself"       |                                      |
 * | optional/content.json           | contentMediaType/contentEncoding:    |
 * |                                 | annotations, not implemented         |
 * | optional/ecmascript-regex.json  | format "regex": not implemented      |
 * | optional/format/<f>.json,       | those formats are annotations only   |
 * |   every f except date-time      |                                      |
 *
 * optional/bignum.json is loaded with JSON_DECODE_INT_AS_REAL: jansson's
 * integers are 64-bit, so its 50-digit integers only parse as reals.
 *
 * CAIRN_SCHEMA_SUITE overrides the suite's directory.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "cairn/schema.h"
#include "test.h"

#define SUITE_DEFAULT "/usr/share/json-schema-test-suite/tests/draft7"

static const struct {
    const char *file;
    const char *why;
} skipped_files[] = {
    {"refRemote.json", "remote $ref: only references within one document"},
    {"definitions.json", "$ref to the draft-07 metaschema by URL"},
    {"optional/content.json", "contentMediaType/contentEncoding: annotations"},
    {"optional/ecmascript-regex.json", "format \"regex\" not implemented"},
    {"optional/format/date.json", "format not implemented (annotation)"},
    {"optional/format/email.json", "format not implemented (annotation)"},
    {"optional/format/hostname.json", "format not implemented (annotation)"},
    {"optional/format/idn-email.json", "format not implemented (annotation)"},
    {"optional/format/idn-hostname.json",
     "format not implemented (annotation)"},
    {"optional/format/ipv4.json", "format not implemented (annotation)"},
    {"optional/format/ipv6.json", "format not implemented (annotation)"},
    {"optional/format/iri-reference.json",
     "format not implemented (annotation)"},
    {"optional/format/iri.json", "format not implemented (annotation)"},
    {"optional/format/json-pointer.json",
     "format not implemented (annotation)"},
    {"optional/format/regex.json", "format not implemented (annotation)"},
    {"optional/format/relative-json-pointer.json",
     "format not implemented (annotation)"},
    {"optional/format/time.json", "format not implemented (annotation)"},
    {"optional/format/uri-reference.json",
     "format not implemented (annotation)"},
    {"optional/format/uri-template.json",
     "format not implemented (annotation)"},
    {"optional/format/uri.json", "format not implemented (annotation)"},
};

/* Single groups (all their cases) skipped inside files that run. */
static const struct {
    const char *file;
    const char *group;
    const char *why;
} skipped_groups[] = {
    {"ref.json", "remote ref, containing refs itself",
     "$ref to the draft-07 metaschema by URL"},
};

struct tally {
    int files, files_skipped, cases, passed, skipped;
};

static const char *skip_file_reason(const char *rel)
{
    for (size_t i = 0; i < sizeof(skipped_files) / sizeof(skipped_files[0]);
         i++)
        if (strcmp(skipped_files[i].file, rel) == 0)
            return skipped_files[i].why;
    return NULL;
}

static const char *skip_group_reason(const char *rel, const char *group)
{
    for (size_t i = 0; i < sizeof(skipped_groups) / sizeof(skipped_groups[0]);
         i++)
        if (strcmp(skipped_groups[i].file, rel) == 0 &&
            strcmp(skipped_groups[i].group, group) == 0)
            return skipped_groups[i].why;
    return NULL;
}

static void run_group(const char *rel, json_t *group, struct tally *t)
{
    const char *desc = json_string_value(json_object_get(group, "description"));
    json_t *tests = json_object_get(group, "tests"), *tc;
    struct cairn_schema *s = NULL;
    struct cairn_diag d;
    size_t i;
    int rc;

    if (skip_group_reason(rel, desc)) {
        t->skipped += (int)json_array_size(tests);
        return;
    }
    cairn_diag_init(&d);
    rc = cairn_schema_compile(json_object_get(group, "schema"), &s, &d);
    if (rc != 0) {
        fprintf(stderr, "%s: \"%s\": compile failed: %s\n", rel, desc,
                cairn_diag_msg(&d));
        test__cur_failed = 1;
        t->cases += (int)json_array_size(tests);
        return;
    }
    json_array_foreach(tests, i, tc)
    {
        bool want = json_is_true(json_object_get(tc, "valid"));
        cairn_diag_init(&d);
        rc = cairn_schema_validate(s, json_object_get(tc, "data"), NULL, NULL,
                                   NULL, &d);
        t->cases++;
        if ((rc == 0) == want && (want || d.code == CAIRN_ESCHEMA)) {
            t->passed++;
            continue;
        }
        fprintf(stderr, "%s: \"%s\" / \"%s\": expected %s, got %s (%s)\n", rel,
                desc, json_string_value(json_object_get(tc, "description")),
                want ? "valid" : "invalid", rc == 0 ? "valid" : "invalid",
                rc == 0 ? "-" : cairn_diag_msg(&d));
        test__cur_failed = 1;
    }
    cairn_schema_free(s);
}

static void run_file(const char *dir, const char *rel, struct tally *t)
{
    char path[8192];
    json_error_t err;
    json_t *doc, *group;
    size_t flags = 0, i;

    if (skip_file_reason(rel)) {
        fprintf(stderr, "skip %s: %s\n", rel, skip_file_reason(rel));
        t->files_skipped++;
        return;
    }
    if (strcmp(rel, "optional/bignum.json") == 0)
        flags |= JSON_DECODE_INT_AS_REAL;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    doc = json_load_file(path, flags, &err);
    if (!doc) {
        fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
        test__cur_failed = 1;
        return;
    }
    t->files++;
    json_array_foreach(doc, i, group) run_group(rel, group, t);
    json_decref(doc);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json under dir/sub, in a stable order, recursing. */
static void walk(const char *dir, const char *sub, struct tally *t)
{
    char path[8192], rel[2048];
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    struct stat st;
    DIR *dp;

    snprintf(path, sizeof(path), "%s%s%s", dir, *sub ? "/" : "", sub);
    if (!(dp = opendir(path))) {
        perror(path);
        test__cur_failed = 1;
        return;
    }
    while ((e = readdir(dp)) != NULL && n < 256)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(dp);
    qsort(names, n, sizeof(names[0]), name_cmp);
    for (size_t i = 0; i < n; i++) {
        snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", names[i]);
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            walk(dir, rel, t);
        else if (strlen(rel) > 5 && strcmp(rel + strlen(rel) - 5, ".json") == 0)
            run_file(dir, rel, t);
        free(names[i]);
    }
}

static void test_suite(void)
{
    const char *dir = getenv("CAIRN_SCHEMA_SUITE");
    struct tally t = {0};

    walk(dir ? dir : SUITE_DEFAULT, "", &t);
    fprintf(stderr,
            "JSON-Schema-Test-Suite draft7: %d files run, %d skipped; "
            "%d/%d cases passed, %d cases skipped\n",
            t.files, t.files_skipped, t.passed, t.cases, t.skipped);
    CHECK_INT_EQ(t.passed, t.cases);
    /* The suite must really have run: draft7 2.0.0 has 36 files to run. */
    CHECK(t.files >= 30);
    CHECK(t.cases >= 400);
}

int main(void)
{
    RUN(test_suite);
    return test_done();
}
