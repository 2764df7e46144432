/* finscope/session.h - one capture being analyzed: frames in, flow rows out, in one transaction. */
#ifndef FINSCOPE_SESSION_H
#define FINSCOPE_SESSION_H

#include "finscope/capture.h"
#include "finscope/flow.h"
#include "finscope/ipfrag.h"
#include "finscope/store.h"

/* Shared by `analyze` (a file) and `live` (an interface): everything between libpcap and SQLite. */
struct fsc_session {
    struct fsc_store *store;
    int64_t capture_id;
    struct fsc_capture_info ci; /* counters grow as frames arrive */
    struct fsc_flow_table *ft;
    struct fsc_ipfrag *frag; /* IP fragments waiting for the rest of their datagram */
    fsc_time frag_deadline;  /* when the oldest of them times out (INT64_MAX: none held) */
    bool failed;             /* a store or memory error: err says which; abort the capture */
    bool said_full;          /* the first eviction was announced on stderr */
    uint32_t max_flows;
    char err[512];
};

/*
 * Begin the capture's transaction (replacing capture replace_id when > 0) and make the flow
 * table.  s->ci must be filled in (source, link type, filter, ...).  0, or -1 with s->err.
 */
int fsc_session_begin(struct fsc_session *s, struct fsc_store *store, int64_t replace_id,
                      const struct fsc_flow_limits *lim);

/*
 * Count, decode (with the frame's own link type, fr->dlt) and route one frame.  An IP fragment goes
 * to the reassembler; the frame that completes a datagram carries it, and every frame is counted
 * once, in packets_tcp or in one skip reason, when its fate is known (a frame held in a reassembly
 * is counted when its datagram completes, times out, or the capture ends).  0, or -1 with s->err
 * (abort the capture).
 */
int fsc_session_frame(struct fsc_session *s, const struct fsc_frame *fr);

/* Write out flows whose linger or idle time has passed by capture time now (live: the clock
 * moves on without packets).  0 or -1. */
int fsc_session_expire(struct fsc_session *s, fsc_time now);

/* Abandon fragments still held (ip_fragment_incomplete), write out every flow still held,
 * update the captures row and COMMIT.  0 or -1. */
int fsc_session_end(struct fsc_session *s, fsc_time end_ts);

/* ROLLBACK what this capture wrote (nothing of it stays) and free the session's memory. */
void fsc_session_abort(struct fsc_session *s);

/* Free the flow table and the reassembler (after end or abort). */
void fsc_session_free(struct fsc_session *s);

#endif
