/*
 * Uploads: files a workload hands to the central lab (the x-ray worker's
 * anonymized "unsure" images). Each workload with `uploads: {dir: D}` drops
 * finished files into STATE/workloads/NAME/work/D (apply.h); the agent
 * sends each to POST /v1/sites/SITE/uploads?name=&sha256= with
 * X-Cairn-Model-Version and deletes it only after a 200 or 201.
 *
 * One file at a time; a scan is started by the owner (every report
 * interval) and drains the directories while the controller answers.
 * Hidden files (".name", the worker's files in progress) and files younger
 * than 2 s are skipped; names must be [A-Za-z0-9._-] (others are skipped
 * with a warning); a file over uploadMaxBytes is renamed ".NAME.too-big"
 * and left for a person.
 *
 * Loop context: loop thread only; embedded in the agent, outlives the loop.
 */
#ifndef CAIRN_AGENT_UPLOADS_H
#define CAIRN_AGENT_UPLOADS_H

#include <jansson.h>
#include <stdint.h>

#include "cairn/httpc.h"
#include "config.h"
#include "sync.h"

/* Fields private to uploads.c. */
struct cairn_uploader {
    const struct cairn_agent_config *cfg;
    char *state_dir; /* absolute */
    struct cairn_httpc *http;
    struct cairn_sync *sync;
    struct cairn_httpc_req *req;
    json_t *doc; /* the applied document the scan walks */
    char *path;  /* file being sent */
    char token_used[CAIRN_TOKEN_MAX];
    int stopped;
    uint64_t sent;
    char last_error[256];
};

void cairn_uploader_init(struct cairn_uploader *u,
                         const struct cairn_agent_config *cfg,
                         const char *state_dir, struct cairn_httpc *http,
                         struct cairn_sync *sync);
/* Send what the upload directories of doc's workloads hold (doc borrowed
 * for the scan; NULL: nothing). No-op while a file is in flight. */
void cairn_uploader_scan(struct cairn_uploader *u, json_t *doc);
void cairn_uploader_stop(struct cairn_uploader *u);
void cairn_uploader_free(struct cairn_uploader *u);

/* 1 when name may be sent as is: 1..255 of [A-Za-z0-9._-], not starting
 * with '.'. */
int cairn_upload_name_ok(const char *name);

#endif
