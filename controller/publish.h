/*
 * Publishing a site's desired state: the payload around the rendered
 * content (generation, issued, expires, source), its canonical bytes, the
 * controller's DSSE signature, and when to re-issue it.
 *
 * `generation` rises for a site only when its content hash changes;
 * re-issuing (a refresh before the document expires) keeps the generation
 * and content and moves issued/expires forward. Refreshes happen at half
 * the document's lifetime plus a per-site offset of up to a quarter of it
 * (a hash of the site name), so a fleet rendered at one instant does not
 * come back all at once.
 */
#ifndef CAIRN_PUBLISH_H
#define CAIRN_PUBLISH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"
#include "cairn/hash.h"
#include "cairn/keys.h"

#define CAIRN_TIME_LEN 20 /* "2006-01-02T15:04:05Z" */

struct cairn_source {
    const char *repo;   /* repository URL as configured */
    const char *commit; /* 40 hex */
    const char *signer; /* key id of the commit's signer, NULL when none */
};

/* RFC 3339 UTC with a Z and whole seconds; out holds CAIRN_TIME_LEN+1. */
void cairn_time_format(int64_t t, char out[CAIRN_TIME_LEN + 1]);
/* Parse exactly that form. CAIRN_EPARSE otherwise. */
CAIRN_WUR int cairn_time_parse(const char *s, int64_t *out);

/* The payload: content's members plus generation, issued, expires, source.
 * A new object (content is not modified). */
json_t *cairn_publish_payload(json_t *content, int64_t generation,
                              int64_t issued, int64_t expires,
                              const struct cairn_source *src);

struct cairn_signed {
    char *envelope; /* DSSE JSON, canonical */
    size_t envelope_len;
    char payload_sha256[CAIRN_SHA256_HEX_LEN + 1]; /* of the payload bytes */
};

void cairn_signed_free(struct cairn_signed *s); /* contents; NULL ok */

/* Canonical bytes of payload signed with key (payloadType
 * application/vnd.cairn.desired+json). Never fails (aborts on OOM). */
void cairn_publish_sign(json_t *payload, const struct cairn_seckey *key,
                        struct cairn_signed *out);

/*
 * The same as cairn_publish_sign(cairn_publish_payload(content, ...)),
 * from content's canonical text (struct cairn_rendered's canon) without
 * serialising the workloads again: canonical key order puts expires,
 * generation and issued before content's kind and site, and source
 * between site and workloads, so the payload is spliced around them.
 */
void cairn_publish_sign_content(const char *canon, size_t len, const char *site,
                                int64_t generation, int64_t issued,
                                int64_t expires, const struct cairn_source *src,
                                const struct cairn_seckey *key,
                                struct cairn_signed *out);

/* When a document issued at `issued` and expiring at `expires` should be
 * re-issued: issued + life/2 + hash(site) mod life/4. */
int64_t cairn_publish_refresh_at(const char *site, int64_t issued,
                                 int64_t expires);

/*
 * Re-issue a signed desired state: same content and generation, issued =
 * now, expires = now + (old expires - old issued). envelope is the current
 * one (trusted: the controller's own). *payload_out (may be NULL) gets the
 * new payload. CAIRN_EPARSE when the envelope or payload is not ours.
 */
CAIRN_WUR int cairn_publish_reissue(const char *envelope, size_t len,
                                    int64_t now, const struct cairn_seckey *key,
                                    struct cairn_signed *out,
                                    json_t **payload_out, struct cairn_diag *d);

#endif
