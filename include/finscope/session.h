/* finscope/session.h - one capture being analyzed: frames in, flow rows out, in one transaction. */
#ifndef FINSCOPE_SESSION_H
#define FINSCOPE_SESSION_H

#include "finscope/capture.h"
#include "finscope/census.h"
#include "finscope/flow.h"
#include "finscope/ipfrag.h"
#include "finscope/store.h"

struct fsc_writer;

/* Shared by `analyze` (a file) and `live` (an interface): everything between libpcap and SQLite. */
struct fsc_session {
    struct fsc_store *store;
    int64_t capture_id;
    struct fsc_capture_info ci; /* counters grow as frames arrive */
    struct fsc_flow_table *ft;
    struct fsc_writer *writer; /* writes the finished flows (writer.h), on a thread of its own */
    struct fsc_ipfrag *frag;   /* IP fragments waiting for the rest of their datagram */
    fsc_time frag_deadline;    /* when the oldest of them times out (INT64_MAX: none held) */
    bool failed;               /* a store or memory error: err says which; abort the capture */
    bool said_full;            /* the first eviction was announced on stderr */
    uint32_t max_flows;
    /* live: TIME_WAIT of written connections, for the census of now (fsc_session_snapshot):
     * a min-heap of the times they end, kept only when track_time_wait is set. */
    bool track_time_wait;
    fsc_time *tw_heap;
    size_t tw_n, tw_cap;
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

/*
 * live: replace the capture's held_flows rows with the connections held now (so `states` and
 * the state_intervals view count them while the capture runs), and count into counts[] (by
 * census state index, census.h) the sockets of every endpoint now: each held connection's
 * endpoints in their current states, and written connections' TIME_WAIT for
 * FSC_TIME_WAIT_DEFAULT_S after it began (track_time_wait).  0, or -1 with s->err.
 */
int fsc_session_snapshot(struct fsc_session *s, fsc_time now, uint64_t counts[FSC_CENSUS_NSTATES]);

/*
 * The finished flows are written by a second thread (writer.h) while the analysis goes on; the
 * environment variable FINSCOPE_WRITER_THREAD=0 writes them on the calling thread instead (for
 * tests, which compare the two).  Any other use of the store while the session is open comes
 * after fsc_session_sync (every flow handed over so far written; the store is the caller's until
 * the next frame, expire or end) or between fsc_session_lock_store and fsc_session_unlock_store
 * (the store is the caller's between two flows, without waiting for the rest).  Sync returns 0,
 * or -1 with s->err (a write failed: abort the capture).  The session's own functions sync
 * where they need to.
 */
int fsc_session_sync(struct fsc_session *s);
void fsc_session_lock_store(struct fsc_session *s);
void fsc_session_unlock_store(struct fsc_session *s);

/* Abandon fragments still held (ip_fragment_incomplete), write out every flow still held,
 * update the captures row and COMMIT.  0 or -1. */
int fsc_session_end(struct fsc_session *s, fsc_time end_ts);

/* ROLLBACK what this capture wrote (nothing of it stays) and free the session's memory. */
void fsc_session_abort(struct fsc_session *s);

/* Stop the writer and free the flow table and the reassembler (after end or abort). */
void fsc_session_free(struct fsc_session *s);

#endif
