/*
 * The agent's durable memory: STATE/state.json. Everything the agent must
 * not forget across crashes and power cuts lives here: the highest
 * accepted generation (invariant 3), the documents applied and last known
 * good (invariant 4), the failed generations, the half-done update and the
 * report sequence number (invariant 5).
 *
 * Written durably (temp file, fsync, rename, fsync of the directory) by
 * cairn_state_save; loaded strictly: a state file that is not exactly what
 * this module writes is an error that names the problem, never a silent
 * fresh start (a fresh start would forget the highest accepted
 * generation and so re-open the door to rollback attacks).
 *
 * Loop thread only (plain data; saving blocks for one small fsync).
 */
#ifndef CAIRN_AGENT_STATE_H
#define CAIRN_AGENT_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/diag.h"

#define CAIRN_STATE_FILE "state.json"
#define CAIRN_STATE_MAX_FAILED 64
#define CAIRN_STATE_CAP (256u * 1024 * 1024)

/* Where an update stands (state.json "pending.phase"). */
enum cairn_phase {
    CAIRN_PHASE_NONE = 0, /* nothing pending */
    CAIRN_PHASE_FETCH,    /* artifacts downloading; nothing touched yet */
    CAIRN_PHASE_APPLY,    /* files and `current` links being switched */
    CAIRN_PHASE_GATE,     /* switched; workers restarting, health gate */
    CAIRN_PHASE_ROLLBACK, /* going back to last-known-good */
};

struct cairn_state {
    int64_t accepted_gen;    /* highest generation accepted; 0: none */
    int64_t accepted_issued; /* its `issued`, Unix seconds */
    json_t *desired;         /* the accepted payload (target), or NULL */
    json_t *applied;         /* payload the links point at, or NULL */
    json_t *lkg;             /* last-known-good payload, or NULL */
    int64_t failed[CAIRN_STATE_MAX_FAILED]; /* oldest first */
    size_t nfailed;
    enum cairn_phase phase;
    int64_t pending_gen;  /* generation of the pending update */
    int64_t attempts;     /* applies of pending_gen started */
    char reason[512];     /* why the rollback (phase ROLLBACK) */
    int64_t report_seq;   /* last report seq assigned */
    char last_error[512]; /* last error worth showing, "" none */
};

/* Empty state (first start). */
void cairn_state_init(struct cairn_state *s);
/* Drop the documents; NULL ok. */
void cairn_state_free(struct cairn_state *s);

/* Load STATE/state.json into *out (initialised by this call). A missing
 * file gives the empty state (first start). Errors: CAIRN_EPARSE /
 * CAIRN_ESCHEMA "state.json: <where>: <why> (the file is corrupt ...)",
 * CAIRN_ETOOBIG, CAIRN_EIO, CAIRN_EPERM. *out is written only on success. */
CAIRN_WUR int cairn_state_load(const char *state_dir, struct cairn_state *out,
                               struct cairn_diag *d);

/* Durably replace STATE/state.json. CAIRN_EIO / CAIRN_ENOSPC / CAIRN_EPERM;
 * on error the file on disk still holds the previous state. */
CAIRN_WUR int cairn_state_save(const char *state_dir,
                               const struct cairn_state *s,
                               struct cairn_diag *d);

/* The canonical JSON state.json holds (fresh string). */
char *cairn_state_render(const struct cairn_state *s);

/* Failed-generation set (bounded: the oldest entry goes first). */
int cairn_state_is_failed(const struct cairn_state *s, int64_t gen);
void cairn_state_add_failed(struct cairn_state *s, int64_t gen);

/* Replace a document slot (takes a new reference of v; v may be NULL). */
void cairn_state_set_doc(json_t **slot, json_t *v);

/* Generation of a payload (0 for NULL or none). */
int64_t cairn_state_doc_gen(const json_t *doc);

/* "fetch", "apply", "gate", "rollback" or "none". */
const char *cairn_phase_name(enum cairn_phase p);

#endif
