#include "publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn/dsse.h"
#include "cairn/json.h"
#include "cairn/mem.h"
#include "jptr.h"
#include "render.h"

void cairn_time_format(int64_t t, char out[CAIRN_TIME_LEN + 1])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0) {
        memcpy(out, "1970-01-01T00:00:00Z", CAIRN_TIME_LEN + 1);
        return;
    }
    strftime(out, CAIRN_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cairn_time_parse(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    char back[CAIRN_TIME_LEN + 1];
    time_t t;

    if (strlen(s) != CAIRN_TIME_LEN || s[4] != '-' || s[7] != '-' ||
        s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' ||
        digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &se))
        return CAIRN_EPARSE;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    /* timegm normalises 2024-02-30: formatting back rejects such dates */
    cairn_time_format((int64_t)t, back);
    if (strcmp(back, s) != 0)
        return CAIRN_EPARSE;
    *out = (int64_t)t;
    return 0;
}

json_t *cairn_publish_payload(json_t *content, int64_t generation,
                              int64_t issued, int64_t expires,
                              const struct cairn_source *src)
{
    char is[CAIRN_TIME_LEN + 1], ex[CAIRN_TIME_LEN + 1];
    json_t *p = json_object();

    if (json_object_update(p, content) != 0)
        abort();
    cairn_time_format(issued, is);
    cairn_time_format(expires, ex);
    json_object_set_new(p, "generation", json_integer(generation));
    json_object_set_new(p, "issued", json_string(is));
    json_object_set_new(p, "expires", json_string(ex));
    json_object_set_new(
        p, "source",
        json_pack("{s:s, s:s, s:o}", "repo", src->repo ? src->repo : "",
                  "commit", src->commit, "signer",
                  src->signer && *src->signer ? json_string(src->signer)
                                              : json_null()));
    return p;
}

void cairn_signed_free(struct cairn_signed *s)
{
    if (!s)
        return;
    free(s->envelope);
    memset(s, 0, sizeof(*s));
}

static void sign_bytes(const char *bytes, size_t len,
                       const struct cairn_seckey *key,
                       struct cairn_signed *out);

void cairn_publish_sign(json_t *payload, const struct cairn_seckey *key,
                        struct cairn_signed *out)
{
    size_t len;
    char *bytes = cairn__json_canon(payload, &len);

    sign_bytes(bytes, len, key, out);
    free(bytes);
}

static void sign_bytes(const char *bytes, size_t len,
                       const struct cairn_seckey *key, struct cairn_signed *out)
{
    const struct cairn_seckey *keys[1] = {key};
    uint8_t md[CAIRN_SHA256_LEN];

    cairn_sha256(bytes, len, md);
    cairn_hex_encode(md, sizeof(md), out->payload_sha256);
    out->envelope = cairn_dsse_sign(CAIRN_DSSE_DESIRED, (const uint8_t *)bytes,
                                    len, keys, 1);
    out->envelope_len = strlen(out->envelope);
}

static void put(struct cairn_buf *b, const char *s, size_t n)
{
    if (cairn_buf_append(b, s, n) != 0)
        abort(); /* uncapped buffers only */
}

static void put_str(struct cairn_buf *b, const char *s)
{
    if (cairn_json_append_string(b, s, strlen(s)) != 0)
        abort();
}

/* `{"kind":"cairn.desired/v1","site":<site>` and `,"workloads":`: the
 * head render.c's content starts with. */
static void content_head(struct cairn_buf *b, const char *site)
{
    static const char kind[] = "{\"kind\":\"" CAIRN_DESIRED_KIND "\",\"site\":";

    put(b, kind, sizeof(kind) - 1);
    put_str(b, site);
    put(b, ",\"workloads\":", 13);
}

/* `{"expires":..,"generation":..,"issued":..,` */
static void payload_times(struct cairn_buf *b, int64_t generation,
                          int64_t issued, int64_t expires)
{
    char is[CAIRN_TIME_LEN + 1], ex[CAIRN_TIME_LEN + 1];

    cairn_time_format(issued, is);
    cairn_time_format(expires, ex);
    if (cairn_buf_appendf(b,
                          "{\"expires\":\"%s\",\"generation\":%lld,"
                          "\"issued\":\"%s\",",
                          ex, (long long)generation, is) != 0)
        abort();
}

/* `,"source":{"commit":..,"repo":..,"signer":..|null}` */
static void payload_source(struct cairn_buf *b, const struct cairn_source *src)
{
    put(b, ",\"source\":{\"commit\":", 20);
    put_str(b, src->commit);
    put(b, ",\"repo\":", 8);
    put_str(b, src->repo ? src->repo : "");
    put(b, ",\"signer\":", 10);
    if (src->signer && *src->signer)
        put_str(b, src->signer);
    else
        put(b, "null", 4);
}

void cairn_publish_sign_content(const char *canon, size_t len, const char *site,
                                int64_t generation, int64_t issued,
                                int64_t expires, const struct cairn_source *src,
                                const struct cairn_seckey *key,
                                struct cairn_signed *out)
{
    struct cairn_buf head, b;
    size_t plen;
    json_t *payload, *content;

    cairn_buf_init(&head, 0);
    content_head(&head, site);
    plen = head.len;
    if (len < plen || memcmp(canon, head.data, plen) != 0) {
        /* not the shape render.c writes: take the slow, general way */
        content = json_loadb(canon, len, 0, NULL);
        payload =
            cairn_publish_payload(content, generation, issued, expires, src);
        cairn_publish_sign(payload, key, out);
        json_decref(payload);
        json_decref(content);
        cairn_buf_free(&head);
        return;
    }
    /* the payload is the head's fields in key order around content's
     * kind and site; its workloads text is copied once, into place */
    cairn_buf_init(&b, 0);
    payload_times(&b, generation, issued, expires);
    put(&b, head.data + 1, plen - 14); /* "kind":..,"site":.. */
    payload_source(&b, src);
    put(&b, "}", 1);
    put(&b, canon + plen - 13, len - plen + 13); /* ,"workloads":... */
    sign_bytes(b.data, b.len, key, out);
    cairn_buf_free(&b);
    cairn_buf_free(&head);
}

int64_t cairn_publish_refresh_at(const char *site, int64_t issued,
                                 int64_t expires)
{
    int64_t life = expires > issued ? expires - issued : 0, spread = life / 4;
    uint8_t md[CAIRN_SHA256_LEN];
    uint64_t h = 0;

    cairn_sha256(site, strlen(site), md);
    for (int i = 0; i < 8; i++)
        h = h << 8 | md[i];
    return issued + life / 2 +
           (spread > 0 ? (int64_t)(h % (uint64_t)spread) : 0);
}

static int time_at(json_t *p, const char *key, int64_t *out)
{
    const char *s = json_string_value(json_object_get(p, key));

    return s ? cairn_time_parse(s, out) : CAIRN_EPARSE;
}

int cairn_publish_reissue(const char *envelope, size_t len, int64_t now,
                          const struct cairn_seckey *key,
                          struct cairn_signed *out, json_t **payload_out,
                          struct cairn_diag *d)
{
    struct cairn_dsse *env = NULL;
    json_t *p = NULL;
    int64_t issued, expires;
    char is[CAIRN_TIME_LEN + 1], ex[CAIRN_TIME_LEN + 1];
    int rc =
        cairn_dsse_parse(envelope, len, len + 1, CAIRN_DSSE_DESIRED, &env, d);

    if (rc)
        return rc;
    p = json_loadb((const char *)env->payload, env->payload_len, 0, NULL);
    if (!json_is_object(p) || time_at(p, "issued", &issued) ||
        time_at(p, "expires", &expires)) {
        rc = cairn_diag_set(d, CAIRN_EPARSE,
                            "stored desired state has no issued/expires");
        goto out;
    }
    cairn_time_format(now, is);
    cairn_time_format(now + (expires - issued), ex);
    json_object_set_new(p, "issued", json_string(is));
    json_object_set_new(p, "expires", json_string(ex));
    cairn_publish_sign(p, key, out);
    if (payload_out) {
        *payload_out = p;
        p = NULL;
    }
out:
    json_decref(p);
    cairn_dsse_free(env);
    return rc;
}
