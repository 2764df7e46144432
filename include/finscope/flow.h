/* finscope/flow.h - one TCP connection instance, its classification, and the flow table. */
#ifndef FINSCOPE_FLOW_H
#define FINSCOPE_FLOW_H

/* The flow table feeds each segment to two observers, the TCP model (tcpstate.h: facts;
 * lifecycle.h: states; classify.h: tokens) and the Zeek model (zeek.h), neither inside the
 * other.  Their functions take a flow, so this header brings their headers along. */
#include "finscope/classify.h"
#include "finscope/common.h"
#include "finscope/decode.h"
#include "finscope/lifecycle.h"
#include "finscope/tcpstate.h"
#include "finscope/zeek.h"

/* Bounds of a flow's transitions (derived: at most this many) and kept control segments. */
#define FSC_FLOW_MAX_TRANSITIONS 32
#define FSC_FLOW_MAX_SEGMENTS 96

/* A place in one of the flow table's lists (flow.c). */
struct fsc_flow_node {
    struct fsc_flow_node *prev, *next;
};

struct fsc_flow {
    uint64_t id; /* assigned by the store when written; 0 before */
    uint8_t ip_version;
    bool self_connect; /* client and server address:port are identical */
    bool midstream;    /* first packet was not a SYN */
    bool closed;       /* both sides done (RST, or both FINs acked): lingers, then written */
    bool finalized;    /* classification below is valid */
    bool one_sided;    /* valid once finalized: one endpoint sent nothing the tap saw */
    struct fsc_endpoint ep[2]; /* FSC_CLIENT, FSC_SERVER */

    fsc_time first_ts, last_ts;
    uint64_t first_packet, last_packet; /* frame numbers of its first and last packet */

    /* Handshake facts. */
    fsc_time syn_ts;       /* last client SYN before the SYN+ACK (0: none seen) */
    fsc_time hs_done_ts;   /* first client segment that acks the server SYN */
    bool both_syn_unacked; /* both sent a bare SYN before either SYN was acked */

    /* Teardown facts, captured at the moment they happen (indices are endpoints). */
    int first_fin_by; /* -1, FSC_CLIENT or FSC_SERVER */
    uint64_t first_fin_packet;
    int first_rst_by;      /* -1 or endpoint: the RST that ended the flow before both FINs */
    bool rst_crossed;      /* the other endpoint reset too, before it had received that RST */
    bool rst_cause_proven; /* valid once finalized: the packets prove rst_cause */
    /* A RST that fits no sequence number the receiver can have expected exactly (it lies
     * beyond what the sender was seen to send): it ended the flow only if nothing but RSTs
     * follow.  packet 0: none. */
    struct {
        fsc_time ts;
        uint64_t packet;
        uint32_t seq, ack, len;
        uint8_t flags, by;
    } rst_pending;
    bool rst_answered_fin;     /* a RST after both FINs answered the peer's FIN
                                  from FIN_WAIT_2 (see FSC_AN_FW2_TIMEOUT) */
    uint64_t half_close_bytes; /* payload the passive side sent after receiving the first FIN */
    uint32_t rst_after_close;  /* RSTs after both FINs or after the endpoint closed */
    uint32_t anomalies;        /* FSC_AN_* */

    /* Dwell times in microseconds, -1 when the state was never entered (valid once finalized;
     * of the first endpoint to enter the state; a dwell still running ends at end_ts). */
    int64_t close_wait_us, fin_wait_2_us, last_ack_us;

    /* Classification (valid once finalized). */
    enum fsc_handshake handshake;
    enum fsc_close_kind close_kind;
    enum fsc_rst_cause rst_cause;
    enum fsc_closer closer;
    enum fsc_closer_call closer_call;

    /* Kept control segments.  In a flow table the array belongs to the table's pool (flow.c):
     * read or copy it, never keep, free or realloc it; it grows by fsc_flow_seg_grow. */
    struct fsc_segment *seg;
    uint32_t n_seg, cap_seg, dropped_seg;

    /* Flow-table bookkeeping (flow.c only). */
    struct fsc_flow *hnext;        /* hash chain */
    struct fsc_flow_node lru;      /* active or closed list, oldest first */
    struct fsc_seg_pool *seg_pool; /* where seg comes from; NULL: the heap (no table) */
    uint32_t hash;
    bool continued; /* started by a packet of an evicted tuple (flow table, "Eviction") */

    /* Zeek's view of the same segments (zeek.c), independent of everything above; last, so
     * the fields every packet touches stay together. */
    struct fsc_zeek_conn zeek;
};

/* The endpoint that receives what endpoint e sends: the other one, or for a self-connected
 * socket the same one. */
static inline int fsc_flow_peer(const struct fsc_flow *f, int e)
{
    return f->self_connect ? e : !e;
}

/* Room for at least one more kept segment (flow.c): the next size class from the flow table's
 * pool, or the heap for a flow outside a table.  0, or -1 (out of memory, or at the bound). */
int fsc_flow_seg_grow(struct fsc_flow *f);

/* ---- flow table (flow.c) ---- */

struct fsc_flow_table;

/*
 * Eviction, when max_flows are held and a packet needs a new flow:
 *  1. A closed flow lingering for late segments goes first, oldest first, without an anomaly:
 *     it is done.
 *  2. Otherwise the open flow idle longest is written early, with the "evicted" anomaly, and
 *     its tuple is remembered (a marker).
 *  A later packet of an evicted tuple continues it as one midstream flow (a continuation).
 *  When more connections than max_flows are active in turn, plain least-recently-used would
 *  evict each flow just before its next packet, one row per packet.  So a continuation is not
 *  evicted to make room for another continuation, and a continuation once evicted is not
 *  started again: while the table stays full of open flows, the tuple's packets collect in a
 *  tail outside the table (first and last packet, per-side packet and byte counts, ~220 bytes),
 *  written as one midstream row marked "evicted" when it has been idle idle_us, at the end of
 *  input, or when the tuple needs a flow again (a bare SYN, or room in the table: a lingering
 *  closed flow does not make room for it).  The row's states are what its first packet shows
 *  (only that one is analyzed, so no unanalyzed byte reads as capture loss), its counts and
 *  times cover every packet, and its Zeek columns are NULL.  A tuple that gets a flow again
 *  stays remembered, so a second eviction sends it straight back to a tail: through one spell
 *  of pressure a tuple gives at most three rows (the flow, one continuation, one tail), however
 *  many packets it sends.  Tuples are remembered for idle_us, at most 4 per flow held (so under
 *  pressure memory can reach ~4 x 220 bytes per flow more); beyond,
 *  the least recently active is forgotten (its tail written).  No order comes from the hash key.
 */
struct fsc_flow_limits {
    uint32_t max_flows; /* concurrent flows held; beyond, one is evicted (see above) */
    fsc_time linger_us; /* closed flows stay this long (capture time) for late segments */
    fsc_time idle_us;   /* open flows idle this long are written as they are */
};

/* Called for every flow leaving the table (closed and lingered, idle, evicted, or flushed).
 * The flow is finalized before the call and recycled, segment array and all, after it returns:
 * a sink that keeps anything copies it. */
typedef void (*fsc_flow_sink)(struct fsc_flow *f, void *user);

struct fsc_flow_stats {
    uint64_t created, written, evicted, idled, port_reuse;
    uint64_t active, peak_active;
    /* Memory the table holds: flows carved from its slabs (at least peak_active), and bytes of
     * segment-array slabs.  They follow the flows held at once, not the flows written. */
    uint64_t flows_pooled, seg_pool_bytes;
    /* Packets of thrashing tuples collected in tails, and the rows written for them. */
    uint64_t tail_packets, tail_rows;
};

/* Returns NULL on allocation failure. */
struct fsc_flow_table *fsc_flow_table_new(const struct fsc_flow_limits *lim, fsc_flow_sink sink,
                                          void *user);

/*
 * Route one decoded segment: find or create its flow (a new SYN on a closed or lingering flow
 * starts a new instance), apply it, and expire flows whose linger or idle time has passed
 * (capture time from p->ts).  Returns 0, or -1 when memory ran out (the packet is lost).
 */
int fsc_flow_table_packet(struct fsc_flow_table *t, const struct fsc_pkt *p);

/* Write out the flows whose linger or idle time has passed by capture time now (a live capture
 * calls this when no packets arrive, so quiet connections are still written). */
void fsc_flow_table_expire(struct fsc_flow_table *t, fsc_time now);

/* Write out every flow still held (end of input), oldest first. */
void fsc_flow_table_flush(struct fsc_flow_table *t, fsc_time end_ts);

/* Call fn for every flow still held (closed and lingering ones first, then the open ones), in
 * no particular order within each; fn must not change the table. */
typedef void (*fsc_flow_visit)(const struct fsc_flow *f, void *user);
void fsc_flow_table_foreach(const struct fsc_flow_table *t, fsc_flow_visit fn, void *user);

const struct fsc_flow_stats *fsc_flow_table_stats(const struct fsc_flow_table *t);

void fsc_flow_table_free(struct fsc_flow_table *t);

#endif
