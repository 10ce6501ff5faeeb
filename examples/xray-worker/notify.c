#include "notify.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/mem.h"

#define RESPONSE_CAP (64u << 10)

void xray_webhook_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The receiver's answer is not used; read and drop it, up to a cap. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    size_t *total = arg;

    (void)p;
    *total += size * n;
    return *total > RESPONSE_CAP ? 0 : size * n;
}

static struct curl_slist *headers(const struct xray_webhook *w, const char *key)
{
    struct curl_slist *h =
        curl_slist_append(NULL, "Content-Type: application/json");
    char *line;

    h = curl_slist_append(h, "Expect:");
    if (key) {
        line = cairn_xasprintf("Idempotency-Key: %s", key);
        h = curl_slist_append(h, line);
        free(line);
    }
    if (w->token) {
        line = cairn_xasprintf("Authorization: Bearer %s", w->token);
        h = curl_slist_append(h, line);
        memset(line, 0, strlen(line));
        free(line);
    }
    return h;
}

int xray_webhook_post(const struct xray_webhook *w, const char *body,
                      const char *idempotency_key, long *status,
                      struct cairn_diag *d)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    size_t got = 0;
    long code = 0;
    CURLcode rc;

    if (!c)
        return cairn_diag_set(d, CAIRN_ENOMEM,
                              "webhook: curl_easy_init failed");
    h = headers(w, idempotency_key);
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "xray-worker/" CAIRN_VERSION);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (status)
        *status = code;
    if (rc != CURLE_OK)
        return cairn_diag_set(d, CAIRN_ENET, "webhook: %s",
                              errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (code < 200 || code > 299)
        return cairn_diag_set(d, CAIRN_EHTTP, "webhook: HTTP %ld", code);
    return 0;
}

char *xray_webhook_body(const char *site, const char *image, const char *label,
                        double p, const char *model_version,
                        const char *time_rfc3339, const char *event_id,
                        const char *band, const char *cls)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:s, s:s}",
                          "site", site, "image", image, "label", label, "p", p,
                          "model_version", model_version, "time", time_rfc3339,
                          "event_id", event_id, "band", band, "class", cls);
    char *s;

    if (!o)
        return NULL;
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}
