/*
 * Artifact download against tests/tools/fakeserver.py over loopback: plain
 * install, resume after cuts and crashes, oversize and slow servers, wrong
 * digests and bad URLs, Range quirks, free-space check, cancel, locking.
 * Digests are computed with sha256sum, independently of libcairn.
 */
#include "test.h"
#include "tools/fakeserver.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "cairn/httpc.h"
#include "cairn/mem.h"
#include "download.h"

static struct fakeserver srv;
static char *root, *www, *state;

struct blob {
    const char *name;
    size_t len;
    uint8_t *data;
    char hex[65];
};
static struct blob big = {"big", 5 * 1024 * 1024 + 12345, NULL, ""};
static struct blob small = {"small", 3000, NULL, ""};

struct dlres {
    int fired;
    int err;
    char msg[2048];
    char blob_path[4096];
    uint64_t fetched, resumed_from;
    unsigned attempts;
    uint32_t bad;
    int present;
    uint64_t direct;
};

static void dl_cb(struct cairn_download *dl,
                  const struct cairn_download_result *r, void *arg)
{
    struct dlres *out = arg;

    (void)dl;
    out->fired++;
    out->err = r->err;
    snprintf(out->msg, sizeof(out->msg), "%s", r->msg);
    snprintf(out->blob_path, sizeof(out->blob_path), "%s",
             r->blob_path ? r->blob_path : "");
    out->fetched = r->bytes_fetched;
    out->resumed_from = r->resumed_from;
    out->attempts = r->attempts;
    out->bad = r->bad_urls;
    out->present = r->already_present;
    out->direct = r->direct_bytes;
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

static void cancel_cb(uv_timer_t *t)
{
    cairn_download_cancel(t->data);
}

/* Run one download on a fresh loop; cancel_after_ms > 0 cancels it. */
static int run_dl_cancel(struct cairn_download_opts *o, struct dlres *r,
                         uint64_t cancel_after_ms)
{
    uv_loop_t loop;
    uv_timer_t t;
    struct cairn_httpc *c;
    struct cairn_download *dl = NULL;
    struct cairn_diag d;
    int rc, closed = 0;

    memset(r, 0, sizeof(*r));
    uv_loop_init(&loop);
    uv_timer_init(&loop, &t);
    cairn_diag_init(&d);
    if (cairn_httpc_new(&loop, NULL, &c, NULL) != 0)
        abort();
    rc = cairn_download_start(c, o, dl_cb, r, &dl, &d);
    if (rc == 0 && cancel_after_ms) {
        t.data = dl;
        uv_timer_start(&t, cancel_cb, cancel_after_ms, 0);
    }
    if (rc)
        snprintf(r->msg, sizeof(r->msg), "%s", cairn_diag_msg(&d));
    uv_run(&loop, UV_RUN_DEFAULT);
    cairn_httpc_close(c, closed_cb, &closed);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(closed, 1);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    CHECK_INT_EQ(r->fired, rc == 0 ? 1 : 0);
    if (r->err)
        fprintf(stderr, "  (download said: %s)\n", r->msg);
    return rc;
}

static int run_dl(struct cairn_download_opts *o, struct dlres *r)
{
    return run_dl_cancel(o, r, 0);
}

static char *u(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *u(const char *fmt, ...)
{
    char path[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return cairn_xasprintf("%s%s", srv.base, path);
}

static void opts_for(struct cairn_download_opts *o, const struct blob *b,
                     const char **urls, size_t n)
{
    memset(o, 0, sizeof(*o));
    o->state_dir = state;
    o->sha256 = b->hex;
    o->size = b->len;
    o->urls = urls;
    o->n_urls = n;
    o->retry_delay_ms = 10;
}

static char *partial_of(const struct blob *b)
{
    return cairn_download_partial_path(state, b->hex);
}

static char *blobpath_of(const struct blob *b)
{
    return cairn_download_blob_path(state, b->hex);
}

static int exists(const char *p)
{
    struct stat st;

    return lstat(p, &st) == 0;
}

/* The installed blob: same bytes, mode 0444, no partial left. */
static void check_installed(const struct blob *b)
{
    char *bp = blobpath_of(b), *pp = partial_of(b);
    struct stat st;
    uint8_t *got = malloc(b->len + 1);
    FILE *f = fopen(bp, "rb");

    CHECK(f != NULL);
    if (f) {
        CHECK_INT_EQ(fread(got, 1, b->len + 1, f), b->len);
        fclose(f);
        CHECK(memcmp(got, b->data, b->len) == 0);
    }
    CHECK(stat(bp, &st) == 0 && (st.st_mode & 07777) == 0444);
    CHECK(!exists(pp));
    free(got);
    free(bp);
    free(pp);
}

static void clean_state(void)
{
    char *p = cairn_xasprintf("%s/blobs/sha256", state);
    char *q = cairn_xasprintf("%s/downloads", state);
    char cmd[8192];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", p, q);
    if (strstr(cmd, "cairn-test-")) {
        FILE *x = popen(cmd, "r");
        if (x)
            pclose(x);
    }
    free(p);
    free(q);
    fakeserver_reset(&srv);
}

static void write_partial(const struct blob *b, const void *data, size_t n)
{
    char *dir = cairn_xasprintf("%s/downloads", state), *pp = partial_of(b);

    mkdir(state, 0700);
    mkdir(dir, 0700);
    test_write_file(pp, data, n);
    free(dir);
    free(pp);
}

/* Does the state directory's file system take O_DIRECT writes? Then
 * aligned buffers must be written that way. */
static int direct_io_here(void)
{
    char *p = cairn_xasprintf("%s/direct-probe", state);
    void *buf = NULL;
    int fd, ok = 0;

    mkdir(state, 0700);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    if (fd >= 0 && posix_memalign(&buf, 4096, 4096) == 0) {
        memset(buf, 0, 4096);
        ok = pwrite(fd, buf, 4096, 0) == 4096;
    }
    if (fd >= 0)
        close(fd);
    unlink(p);
    free(buf);
    free(p);
    return ok;
}

/* ---- tests ----------------------------------------------------------------
 */

static void test_plain_install(void)
{
    char *url = u("/f/big");
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;

    clean_state();
    opts_for(&o, &big, urls, 1);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_STR_EQ(r.msg, "");
    CHECK_INT_EQ(r.attempts, 1);
    CHECK_INT_EQ(r.fetched, big.len);
    CHECK_INT_EQ(r.resumed_from, 0);
    CHECK_INT_EQ(r.bad, 0);
    /* every whole MiB with O_DIRECT, the 12345-byte tail through the cache */
    CHECK_INT_EQ(r.direct, direct_io_here() ? 5u << 20 : 0);
    check_installed(&big);
    CHECK_INT_EQ(fakeserver_count(&srv, "GET /f/big -"), 1);

    /* Already there: no request at all. */
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.present, 1);
    CHECK_INT_EQ(r.attempts, 0);
    CHECK_INT_EQ(fakeserver_count(&srv, "GET /f/big"), 1);
    free(url);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_cuts_resumed(void)
{
    uint64_t cuts[5];
    char spec[256], needle[64], *url;
    const char *urls[1];
    struct cairn_download_opts o;
    struct dlres r;
    unsigned seed = (unsigned)time(NULL);
    size_t i, n = 0;
    int k;

    clean_state();
    srand(seed);
    fprintf(stderr, "  cut seed %u\n", seed);
    /* Random points, one in each seventh of the blob, so that every
     * attempt brings enough to count as progress. */
    for (i = 0; i < 5; i++)
        cuts[i] = (i + 1) * (big.len / 7) + (uint64_t)rand() % (big.len / 14);
    qsort(cuts, 5, sizeof(cuts[0]), cmp_u64);
    for (i = 0; i < 5; i++) {
        k = snprintf(spec + n, sizeof(spec) - n, "%s%" PRIu64, i ? "," : "",
                     cuts[i]);
        n += (size_t)k;
    }
    url = u("/f/big?cuts=%s", spec);
    urls[0] = url;
    opts_for(&o, &big, urls, 1);
    o.max_tries = 2; /* cuts after progress must not use these up */
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.attempts, 6);
    CHECK_INT_EQ(r.fetched, big.len);
    CHECK_INT_EQ(r.direct % (1u << 20), 0); /* whole, aligned MiBs only */
    check_installed(&big);
    /* Each resumed request asked for exactly the next byte. */
    for (i = 0; i < 5; i++) {
        if (i && cuts[i] == cuts[i - 1])
            continue;
        snprintf(needle, sizeof(needle), " bytes=%" PRIu64 "-\n", cuts[i]);
        CHECK_INT_EQ(fakeserver_count(&srv, needle), 1);
    }
    free(url);
}

static void test_sends_more(void)
{
    char *more = u("/f/big?extra=100"),
         *more_nolen = u("/f/big?extra=100&nolen=1");
    char *good = u("/f/big"), *pp = partial_of(&big), *bp = blobpath_of(&big);
    const char *urls[2];
    struct cairn_download_opts o;
    struct dlres r;

    /* Content-Length over the size: cut before the body. */
    clean_state();
    urls[0] = more;
    opts_for(&o, &big, urls, 1);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ETOOBIG);
    CHECK_STR_HAS(r.msg, "Content-Length");
    CHECK_INT_EQ(r.bad, 1);
    CHECK(!exists(pp));
    CHECK(!exists(bp));

    /* No Content-Length: the extra bytes arrive, the stream is cut. */
    clean_state();
    urls[0] = more_nolen;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ETOOBIG);
    CHECK_STR_HAS(r.msg, "more than");
    CHECK_INT_EQ(r.bad, 1);
    CHECK_INT_EQ(r.attempts, 1);
    CHECK(!exists(pp));
    CHECK(!exists(bp));

    /* Exactly the right bytes first, then more after a pause: still cut,
     * still deleted, never installed. */
    clean_state();
    char *gap = u("/f/big?extra=10&nolen=1&extra_gap=0.3");
    urls[0] = gap;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ETOOBIG);
    CHECK_INT_EQ(r.fetched, big.len); /* all good bytes had arrived */
    CHECK_INT_EQ(r.bad, 1);
    CHECK(!exists(pp));
    CHECK(!exists(bp));
    free(gap);
    urls[0] = more_nolen;

    /* With a good second URL the download completes from it. */
    clean_state();
    urls[1] = good;
    o.n_urls = 2;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.bad, 1);
    CHECK_INT_EQ(r.attempts, 2);
    check_installed(&big);
    free(more);
    free(more_nolen);
    free(good);
    free(pp);
    free(bp);
}

static void test_slow_server(void)
{
    char *url = u("/f/small?rate=1"), *bp = blobpath_of(&small);
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    uint64_t t0 = uv_hrtime();

    clean_state();
    opts_for(&o, &small, urls, 1);
    o.low_speed_limit = 100;
    o.low_speed_time = 1;
    o.max_tries = 1;
    o.max_attempts = 2;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ETIMEOUT);
    CHECK((uv_hrtime() - t0) / 1000000 < 8000);
    CHECK(r.fetched < 20);
    CHECK_INT_EQ(r.attempts, 1); /* a trickle is no progress: the try counts */
    CHECK(!exists(bp));
    free(url);
    free(bp);
}

static void test_wrong_digest_next_url(void)
{
    char *bad = u("/f/big?corrupt=1"), *good = u("/f/big");
    const char *urls[] = {bad, good};
    struct cairn_download_opts o;
    struct dlres r;

    clean_state();
    opts_for(&o, &big, urls, 2);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.bad, 1); /* urls[0] marked bad */
    CHECK_INT_EQ(r.attempts, 2);
    check_installed(&big);
    /* The partial was deleted: the second URL started from byte 0. */
    CHECK_INT_EQ(fakeserver_count(&srv, "GET /f/big -"), 1);
    CHECK_INT_EQ(fakeserver_count(&srv, "bytes="), 0);
    free(bad);
    free(good);
}

static void test_all_urls_bad(void)
{
    char *b1 = u("/f/big?corrupt=1"), *b2 = u("/f/big?corrupt=1&mirror=2");
    char *e1 = u("/f/big?status=503"), *e2 = u("/f/big?status=500");
    char *pp = partial_of(&big), *bp = blobpath_of(&big);
    const char *urls[2] = {b1, b2};
    struct cairn_download_opts o;
    struct dlres r;

    clean_state();
    opts_for(&o, &big, urls, 2);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_EDIGEST);
    CHECK_INT_EQ(r.bad, 3);
    CHECK_INT_EQ(r.attempts, 2); /* bad URLs are not tried again */
    CHECK_STR_HAS(r.msg, "sha256");
    CHECK(!exists(pp));
    CHECK(!exists(bp));

    /* Server errors: bounded tries, alternating URLs, then failure. */
    clean_state();
    urls[0] = e1;
    urls[1] = e2;
    o.max_tries = 4;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_EHTTP);
    CHECK_INT_EQ(r.attempts, 4);
    CHECK_INT_EQ(r.bad, 0);
    CHECK_STR_HAS(r.msg, "gave up after 4 attempts");
    CHECK_INT_EQ(fakeserver_count(&srv, "status=503"), 2);
    CHECK_INT_EQ(fakeserver_count(&srv, "status=500"), 2);
    CHECK(!exists(bp));
    free(b1);
    free(b2);
    free(e1);
    free(e2);
    free(pp);
    free(bp);
}

static void test_crash_resume(void)
{
    char *url = u("/f/big"), needle[64];
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    size_t k = 1234567;
    uint8_t *junk;

    /* A partial left by an earlier run: continued with Range. */
    clean_state();
    write_partial(&big, big.data, k);
    opts_for(&o, &big, urls, 1);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.resumed_from, k);
    CHECK_INT_EQ(r.fetched, big.len - k);
    CHECK_INT_EQ(r.attempts, 1);
    snprintf(needle, sizeof(needle), " bytes=%zu-\n", k);
    CHECK_INT_EQ(fakeserver_count(&srv, needle), 1);
    /* the first buffer fills up to the 2 MiB boundary (through the page
     * cache), then MiBs 2..4 are aligned and go direct */
    CHECK_INT_EQ(r.direct, direct_io_here() ? 3u << 20 : 0);
    check_installed(&big);

    /* A damaged partial: the digest fails, the partial goes, the URL is not
     * blamed (it sent only the tail), and a fresh download succeeds. */
    clean_state();
    junk = malloc(k);
    memcpy(junk, big.data, k);
    junk[k / 3] ^= 0x55;
    write_partial(&big, junk, k);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.bad, 0);
    CHECK_INT_EQ(r.attempts, 2);
    CHECK_INT_EQ(fakeserver_count(&srv, "GET /f/big -"), 1);
    check_installed(&big);
    /* A partial longer than the blob cannot be a prefix: start over. */
    clean_state();
    junk = realloc(junk, big.len + 10);
    memset(junk, 0x11, big.len + 10);
    write_partial(&big, junk, big.len + 10);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.resumed_from, 0);
    CHECK_INT_EQ(r.fetched, big.len);
    check_installed(&big);
    free(junk);
    free(url);
}

/* buffered_only: the same install, every byte through the page cache. */
static void test_buffered_only(void)
{
    char *url = u("/f/big");
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;

    clean_state();
    opts_for(&o, &big, urls, 1);
    o.buffered_only = 1;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.direct, 0);
    CHECK_INT_EQ(r.fetched, big.len);
    check_installed(&big);
    free(url);
}

static void test_range_ignored_restarts(void)
{
    char *url = u("/f/big?ignore_range=1");
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    uint8_t junk[70000];

    clean_state();
    memset(junk, 0xAB, sizeof(junk));
    write_partial(&big, junk, sizeof(junk));
    opts_for(&o, &big, urls, 1);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.attempts, 1);
    CHECK_INT_EQ(r.fetched, big.len);
    CHECK_INT_EQ(fakeserver_count(&srv, " bytes=70000-"), 1);
    check_installed(&big);
    free(url);
}

static void test_bad_content_range(void)
{
    char *url = u("/f/big?bad_cr=1"), *pp = partial_of(&big);
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    struct stat st;

    clean_state();
    write_partial(&big, big.data, 4096);
    opts_for(&o, &big, urls, 1);
    o.max_tries = 1;
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_EHTTP);
    CHECK_STR_HAS(r.msg, "Content-Range \"bytes 4097-");
    /* Nothing was written; the partial waits for a later resume. */
    CHECK(stat(pp, &st) == 0 && st.st_size == 4096);
    CHECK((st.st_mode & 0111) == 0);
    free(url);
    free(pp);
}

static void test_no_space(void)
{
    char *url = u("/f/big");
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;

    clean_state();
    opts_for(&o, &big, urls, 1);
    o.space_margin = UINT64_MAX / 2; /* more than any disk has */
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ENOSPC);
    CHECK_STR_HAS(r.msg, "bytes free");
    CHECK_INT_EQ(r.attempts, 0);
    CHECK_INT_EQ(fakeserver_count(&srv, "/f/big"), 0);
    free(url);
}

static void test_cancel(void)
{
    char *url = u("/f/big?rate=200000"), *pp = partial_of(&big),
         *bp = blobpath_of(&big);
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    struct stat st;

    clean_state();
    opts_for(&o, &big, urls, 1);
    REQUIRE(run_dl_cancel(&o, &r, 700) == 0);
    CHECK_INT_EQ(r.err, CAIRN_ECANCELED);
    CHECK(!exists(bp));
    /* What arrived is kept for a resume. */
    CHECK(stat(pp, &st) == 0 && (uint64_t)st.st_size == r.fetched);
    CHECK(r.fetched > 0 && r.fetched < big.len);
    free(url);
    free(pp);
    free(bp);
}

static void test_partial_is_symlink(void)
{
    char *url = u("/f/small"), *pp = partial_of(&small);
    char *target = cairn_xasprintf("%s/victim", root);
    const char *urls[] = {url};
    struct cairn_download_opts o;
    struct dlres r;
    char *dir = cairn_xasprintf("%s/downloads", state);
    struct stat st;

    clean_state();
    test_write_file(target, "keep", 4);
    mkdir(state, 0700);
    mkdir(dir, 0700);
    REQUIRE(symlink(target, pp) == 0);
    opts_for(&o, &small, urls, 1);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    check_installed(&small);
    CHECK(stat(target, &st) == 0 && st.st_size == 4); /* never followed */
    free(url);
    free(pp);
    free(target);
    free(dir);
}

static void test_locked(void)
{
    char *slow = u("/f/big?delay=1"), *fast = u("/f/big");
    const char *u1[] = {slow}, *u2[] = {fast};
    struct cairn_download_opts o1, o2;
    struct dlres r1, r2;
    uv_loop_t loop;
    struct cairn_httpc *c;
    int closed = 0;

    clean_state();
    opts_for(&o1, &big, u1, 1);
    opts_for(&o2, &big, u2, 1);
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    uv_loop_init(&loop);
    REQUIRE(cairn_httpc_new(&loop, NULL, &c, NULL) == 0);
    REQUIRE(cairn_download_start(c, &o1, dl_cb, &r1, NULL, NULL) == 0);
    /* Let the first take the lock before the second starts. */
    for (int i = 0; i < 1000 && fakeserver_count(&srv, "delay=1") < 1; i++)
        uv_run(&loop, UV_RUN_ONCE);
    REQUIRE(cairn_download_start(c, &o2, dl_cb, &r2, NULL, NULL) == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(r1.fired, 1);
    CHECK_INT_EQ(r2.fired, 1);
    CHECK_INT_EQ(r1.err, 0);
    CHECK_INT_EQ(r2.err, CAIRN_EAGAIN);
    check_installed(&big);
    cairn_httpc_close(c, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
    free(slow);
    free(fast);
}

static void test_bad_options(void)
{
    const char *urls[] = {"http://127.0.0.1:1/x"};
    struct cairn_download_opts o;
    struct dlres r;

    opts_for(&o, &small, urls, 1);
    o.sha256 = "ABCD";
    CHECK_INT_EQ(run_dl(&o, &r), CAIRN_EINVAL);
    o.sha256 = small.hex;
    o.size = 0;
    CHECK_INT_EQ(run_dl(&o, &r), CAIRN_EINVAL);
    o.size = small.len;
    o.n_urls = 0;
    CHECK_INT_EQ(run_dl(&o, &r), CAIRN_EINVAL);
    o.n_urls = 33;
    CHECK_INT_EQ(run_dl(&o, &r), CAIRN_EINVAL);
    o.n_urls = 1;
    o.state_dir = NULL;
    CHECK_INT_EQ(run_dl(&o, &r), CAIRN_EINVAL);

    /* A malformed URL is marked bad and the next one is used. */
    char *good = u("/f/small");
    const char *two[] = {"gopher://127.0.0.1/x", good};
    clean_state();
    opts_for(&o, &small, two, 2);
    REQUIRE(run_dl(&o, &r) == 0);
    CHECK_INT_EQ(r.err, 0);
    CHECK_INT_EQ(r.bad, 1);
    check_installed(&small);
    free(good);
}

/* ---- setup ------------------------------------------------------------------
 */

static void make_blob(struct blob *b, unsigned seed)
{
    char *path = cairn_xasprintf("%s/%s", www, b->name), cmd[8192], line[256];
    FILE *p;
    size_t i;
    uint32_t x = seed;

    b->data = malloc(b->len);
    for (i = 0; i < b->len; i++) {
        x = x * 1664525u + 1013904223u;
        b->data[i] = (uint8_t)(x >> 24);
    }
    test_write_file(path, b->data, b->len);
    snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
    p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof(line), p) || strlen(line) < 64)
        abort();
    pclose(p);
    memcpy(b->hex, line, 64);
    b->hex[64] = '\0';
    free(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    root = test_tmpdir();
    www = cairn_xasprintf("%s/www", root);
    state = cairn_xasprintf("%s/state", root);
    mkdir(www, 0755);
    make_blob(&big, 1);
    make_blob(&small, 2);
    if (fakeserver_start(&srv, www, NULL, NULL) != 0) {
        fprintf(stderr, "cannot start the fake server\n");
        return 1;
    }
    RUN(test_plain_install);
    RUN(test_cuts_resumed);
    RUN(test_sends_more);
    RUN(test_slow_server);
    RUN(test_wrong_digest_next_url);
    RUN(test_all_urls_bad);
    RUN(test_crash_resume);
    RUN(test_buffered_only);
    RUN(test_range_ignored_restarts);
    RUN(test_bad_content_range);
    RUN(test_no_space);
    RUN(test_cancel);
    RUN(test_partial_is_symlink);
    RUN(test_locked);
    RUN(test_bad_options);
    fakeserver_stop(&srv);
    test_rm_rf(root);
    free(root);
    free(www);
    free(state);
    free(big.data);
    free(small.data);
    return test_done();
}
