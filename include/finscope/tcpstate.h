/* finscope/tcpstate.h - what the segments of one flow show about each endpoint, and the RFC 9293
 * states that follows from it. */
#ifndef FINSCOPE_TCPSTATE_H
#define FINSCOPE_TCPSTATE_H

#include "finscope/common.h"
#include "finscope/decode.h"
#include "finscope/seqset.h"

/* RFC 9293 section 3.3.2 connection states.  Tokens (fsc_tcp_state_name) are stored; stable. */
enum fsc_tcp_state {
    FSC_TCP_CLOSED = 0,
    FSC_TCP_LISTEN,
    FSC_TCP_SYN_SENT,
    FSC_TCP_SYN_RCVD,
    FSC_TCP_ESTABLISHED,
    FSC_TCP_FIN_WAIT_1,
    FSC_TCP_FIN_WAIT_2,
    FSC_TCP_CLOSE_WAIT,
    FSC_TCP_CLOSING,
    FSC_TCP_LAST_ACK,
    FSC_TCP_TIME_WAIT,
    FSC_TCP__COUNT
};

const char *fsc_tcp_state_name(enum fsc_tcp_state s);

/* Endpoint index inside a flow: the client sent the first SYN (or, midstream, is the side that
 * does not look like a server: see flow.c). */
enum { FSC_CLIENT = 0, FSC_SERVER = 1 };

/* Why a transition happened; stored as text (fsc_evidence_name).  Append only. */
enum fsc_evidence {
    FSC_EV_INITIAL = 0,        /* "initial": state at the first packet of the flow */
    FSC_EV_MIDSTREAM,          /* "midstream": capture began after the handshake */
    FSC_EV_SENT_SYN,           /* "sent SYN" */
    FSC_EV_SENT_SYNACK,        /* "sent SYN+ACK (ack covers peer SYN)" */
    FSC_EV_ACK_PEER_SYN,       /* "ack covers peer SYN" */
    FSC_EV_PEER_ACK_SYN,       /* "peer ack covers SYN" */
    FSC_EV_SENT_AFTER_SYN,     /* "sent after its SYN was acked" */
    FSC_EV_SENT_FIN,           /* "sent FIN" */
    FSC_EV_ACK_PEER_FIN,       /* "ack covers peer FIN" */
    FSC_EV_PEER_ACK_FIN,       /* "peer ack covers FIN" */
    FSC_EV_PEER_FIN_BEFORE,    /* "peer FIN precedes this segment in sequence" */
    FSC_EV_SENT_RST,           /* "sent RST" */
    FSC_EV_PEER_RST,           /* "peer RST" */
    FSC_EV_EARLY_ACK_FIN,      /* "ack covers peer FIN (ack captured before the FIN)" */
    FSC_EV_FIN_ACKED_PEER,     /* "its FIN's ack covers peer FIN (captured in the other order)" */
    FSC_EV_EARLY_PEER_ACK,     /* "peer ack covers it (ack captured before it)" */
    FSC_EV_ACK_CROSSED,        /* "peer ack covers it (crossed its retransmission)" */
    FSC_EV_UNSEEN_SYNACK,      /* "sent SYN+ACK (not captured: peer ack covers it)" */
    FSC_EV_UNSEEN_DATA,        /* "sent data (not captured: peer ack covers it)" */
    FSC_EV_UNSEEN_FIN,         /* "sent FIN (not captured: peer ack covers it)" */
    FSC_EV_EARLY_ACK_SYN,      /* "ack covers peer SYN (ack captured before the SYN)" */
    FSC_EV_FIN_WAIT_2_TIMEOUT, /* "FIN_WAIT_2 timed out (RST answers the peer FIN)" */
    FSC_EV_UNSEEN_SYN,         /* "sent SYN (not captured: peer's SYN+ACK answers it)" */
    FSC_EV_UNSEEN_ACK_SYN,     /* "acked peer SYN (not captured: peer's segments show it)" */
    FSC_EV_ACK_FIN_REORDERED,  /* "ack covers peer FIN (captured before its own FIN)" */
    FSC_EV_GOT_PEER_FIN_ACK,   /* "peer FIN segment acks it (its ack of that FIN shows it
                                  arrived)" */
    FSC_EV__COUNT
};

const char *fsc_evidence_name(enum fsc_evidence e);

/* One state change of one endpoint. */
struct fsc_transition {
    fsc_time ts;
    uint64_t packet; /* frame number that caused or proved it */
    uint8_t endpoint;
    uint8_t from, to; /* enum fsc_tcp_state */
    uint8_t evidence; /* enum fsc_evidence */
};

/* Why a segment was kept for the ladder diagram (bit set; fsc_segment_why_str joins the tokens). */
enum {
    FSC_SEG_SYN = 0x01,        /* "syn" */
    FSC_SEG_FIN = 0x02,        /* "fin" */
    FSC_SEG_RST = 0x04,        /* "rst" */
    FSC_SEG_ACK_SYN = 0x08,    /* "ack_syn": first ack covering the peer SYN */
    FSC_SEG_ACK_FIN = 0x10,    /* "ack_fin": first ack covering the peer FIN */
    FSC_SEG_AFTER_FIN = 0x20,  /* "after_fin": data after the first FIN of the flow */
    FSC_SEG_FIRST_DATA = 0x40, /* "first_data": first payload in this direction */
    FSC_SEG_FIRST = 0x80,      /* "first": first packet of a midstream flow */
};

/* Comma-separated tokens of a FSC_SEG_* set into buf. */
const char *fsc_segment_why_str(unsigned why, char *buf, size_t len);

/* A control segment, with seq/ack relative to each side's ISN (ISN itself = 0). */
struct fsc_segment {
    fsc_time ts;
    uint64_t packet;
    uint32_t rel_seq, rel_ack;
    uint32_t len;
    uint8_t from; /* endpoint that sent it */
    uint8_t flags;
    uint8_t why; /* FSC_SEG_* */
};

/* Per-flow anomalies (bit set; tokens are stored comma-separated, stable; append only). */
enum {
    FSC_AN_DATA_AFTER_RST = 0x0001, /* "data_after_rst": payload sent after a RST of the flow */
    FSC_AN_FIN_RST = 0x0002,        /* "fin_rst": FIN and RST in one segment */
    FSC_AN_ACK_UNSEEN = 0x0004,     /* "ack_unseen_data": ack beyond anything the peer sent */
    FSC_AN_DATA_AFTER_FIN = 0x0008, /* "data_after_own_fin": new payload after the sender's FIN */
    FSC_AN_FIN_MOVED = 0x0010,      /* "fin_seq_changed": second FIN at another sequence number */
    FSC_AN_SYN_FIN = 0x0020,        /* "syn_fin": SYN and FIN together */
    FSC_AN_HS_INCOMPLETE = 0x0040,  /* "handshake_incomplete": SYN+ACK never acknowledged */
    FSC_AN_RST_NO_STATE = 0x0080,   /* "rst_after_close": RST on an already closed endpoint */
    FSC_AN_SYN_RETRANS = 0x0100,    /* "syn_retransmitted" */
    FSC_AN_SYNACK_NO_SYN = 0x0200,  /* "synack_without_syn": handshake seen from SYN+ACK on */
    FSC_AN_SYN_CHANGED = 0x0400,    /* "syn_isn_changed": SYN with another ISN mid-handshake */
    FSC_AN_FIN_NO_ACK = 0x0800,     /* "fin_never_acked": a FIN was never acknowledged */
    FSC_AN_EVICTED = 0x1000,        /* "evicted": written early because the flow table was full */
    FSC_AN_IDLE = 0x2000,           /* "idle_timeout": written after the idle timeout */
    FSC_AN_RST_DATA = 0x4000,       /* "rst_with_data": RST carrying payload */
    FSC_AN_RST_INVALID = 0x8000,    /* "rst_not_acceptable": RST outside the window, or in
                                       SYN-SENT without an ACK of the SYN: ignored */
    FSC_AN_TS_JUMP = 0x10000,       /* "timestamp_jump": capture time jumped far ahead for a
                                       few frames; expiry did not follow it */
    FSC_AN_ONE_SIDED = 0x20000,     /* "one_sided": only one endpoint's packets were captured;
                                       the other's states are inferred from its acks */
    FSC_AN_FW2_TIMEOUT = 0x40000,   /* "fin_wait_2_timeout": the closer's orphaned FIN_WAIT_2
                                       socket was gone: a RST answered the peer's FIN */
    FSC_AN_FIN_NO_ACKBIT = 0x80000, /* "fin_without_ack": FIN without the ACK bit after the
                                       handshake: dropped by the receiver, changes no state */
    FSC_AN_TAP_REORDER = 0x100000,  /* "tap_reordered": a segment was captured before the one
                                       it answers (SYN+ACK before its SYN, ACK before the FIN) */
    FSC_AN_HOLES_CAPPED = 0x200000, /* "holes_capped": more sequence holes than tracked:
                                       gap and retransmitted bytes are approximate */
    FSC_AN_TS_BACK = 0x400000,      /* "timestamp_backwards": a segment stamped before the
                                       flow's previous one; taken at that one's time */
};

/* Comma-separated anomaly tokens into buf ("" when none). */
const char *fsc_anomaly_str(unsigned anomalies, char *buf, size_t len);

/*
 * A moment in a flow: the frame that showed something and its capture time.  packet 0 means
 * "not (yet) shown".  how says what kind of proof it is (FSC_MK_*).
 */
enum {
    FSC_MK_SEEN = 0, /* the frame itself shows it */
    FSC_MK_EARLY,    /* an ack captured before the thing it covers: shown when that was seen */
    FSC_MK_CROSSED,  /* the ack crossed a retransmission: shown at the retransmission */
    FSC_MK_UNSEEN,   /* the endpoint's own segment was not captured: the peer's ack shows it */
    FSC_MK_IMPLIED,  /* the client's SYN, implied by the SYN+ACK that starts the capture */
    FSC_MK_VIA_FIN,  /* the peer's FIN segment carried the ack; the endpoint's own ack of that
                        FIN shows the segment arrived */
};

struct fsc_mark {
    fsc_time ts;
    uint64_t packet : 56;
    uint64_t how : 8;
};

static inline bool fsc_mark_set(const struct fsc_mark *m)
{
    return m->packet != 0;
}

/*
 * When an endpoint's SYN or FIN was acknowledged: the first peer ack covering it since the
 * endpoint last (re)sent it.  Sending it again after an ack was captured shows the ack had not
 * arrived then (lost after the tap, or still in flight): that ack is set aside as `crossed`
 * (placed at the retransmission) and a later ack, if any, is the one that counts.
 */
struct fsc_ack_proof {
    struct fsc_mark ack;     /* first ack since the last (re)transmission */
    struct fsc_mark crossed; /* an earlier ack that crossed a retransmission */
};

/* The proof that holds at the end: the latest ack, else one that crossed a retransmission. */
const struct fsc_mark *fsc_ack_proof_final(const struct fsc_ack_proof *a);

/*
 * What the capture shows about one endpoint.  These are facts, gathered segment by segment
 * (tcpstate.c); the RFC 9293 states follow from them (lifecycle.c).  Sequence fields are
 * meaningful only when their flag is set.
 */
struct fsc_endpoint {
    struct fsc_addr addr;
    uint16_t port;
    uint8_t state;    /* enum fsc_tcp_state: current, derived from the facts */
    bool seq_known;   /* isn is valid */
    bool syn_sent;    /* sent (or, from a SYN+ACK's ack, implied) a SYN; isn = its seq */
    bool synack_sent; /* sent a SYN+ACK */
    bool fin_sent;
    bool ack_seen; /* ack_hi is valid */
    bool rst_sent;
    bool data_sent;
    bool answered_set;        /* answered is valid */
    bool data_after_peer_fin; /* sent new payload after the peer's FIN was captured */
    bool fin_seg_has_ack;     /* fin_seg_ack is valid */
    bool ack_pre_fin_seen;    /* ack_pre_fin is valid */
    bool ack_ahead_seen;      /* ack_ahead is valid */
    bool base_soft;           /* midstream base taken from a bare ACK: maybe a keep-alive probe
                                 at SND.NXT-1, settled by the first payload */
    uint8_t rst_flags;        /* its first accepted RST (mark rst): flags, seq and ack */
    uint32_t rst_seq, rst_ack;
    /* Why it reset (enum fsc_rst_cause, fsc_rst_judge in classify.c), judged at that RST,
     * reading the endpoint as the client [0] and as the server [1]: roles settled later
     * (flow.c) pick one. */
    struct {
        uint8_t cause;
        bool proven;
    } rst_reading[2];
    uint32_t isn;
    uint32_t snd_max;     /* highest seq + len (+SYN/FIN) sent */
    uint32_t fin_seq;     /* sequence number the FIN occupies */
    uint32_t ack_hi;      /* highest ack sent */
    uint32_t ack_first;   /* ack field of its first segment with the ACK bit */
    uint32_t ack_prev;    /* ack_hi before its latest rise (valid when ack_rises >= 1) */
    uint8_t ack_rises;    /* times ack_hi rose above ack_first (saturates at 255) */
    uint32_t fin_seg_ack; /* ack field of the first FIN segment: what it had received then */
    uint32_t ack_pre_fin; /* highest ack sent before its FIN, by sequence number */
    uint32_t ack_ahead;   /* ack of a bare ACK whose seq lay beyond everything sent so far:
                             sent after its FIN if the FIN turns out to lie below it */
    uint32_t ack_ahead_seq;
    uint32_t data_hi;   /* end of the highest payload byte sent (valid when data_sent) */
    uint64_t snd_max64; /* snd_max - isn without wrapping: sequence space used so far */
    uint64_t answered;  /* peer's stream offset (see seq64) that it had received when it
                           last sent new payload */
    uint64_t after_fin; /* its stream offset (seq64) at the first segment whose ack covers
                           the peer's FIN: every byte from there on was sent after receiving
                           that FIN (0: not known) */

    /* What it did, at the first frame that shows it. */
    struct fsc_mark syn;       /* sent a bare SYN (or INITIAL: implied by the peer's SYN+ACK) */
    struct fsc_mark synack;    /* sent a SYN+ACK */
    struct fsc_mark est;       /* sent a non-SYN segment with ACK: it was synchronized */
    struct fsc_mark fin;       /* sent its FIN */
    struct fsc_mark rcvd_syn;  /* its ack covers the peer's SYN */
    struct fsc_mark rcvd_fin;  /* its ack covers the peer's FIN */
    struct fsc_mark rst;       /* sent an acceptable RST */
    struct fsc_mark first_ack; /* its first segment with the ACK bit */
    struct fsc_mark ack_moved; /* its first ack above ack_first */
    struct fsc_mark ack_rise;  /* where ack_hi last rose */
    struct fsc_ack_proof syn_acked, fin_acked; /* the peer acknowledged its SYN / FIN */

    struct fsc_seqset holes; /* ranges skipped over by later data, not yet filled */
    uint64_t pkts, bytes, retrans_bytes, gap_bytes;
    uint32_t fin_retrans;
};

/*
 * x's sequence number seq as a 64-bit offset from x's ISN, unwrapped around snd_max: lets
 * distances beyond 2^31 (a 3 GiB upload) compare correctly.  seq must lie within 2^31 of
 * snd_max, which holds for anything x has sent or had acked.  0 for anything before the ISN.
 */
static inline uint64_t fsc_seq64(const struct fsc_endpoint *x, uint32_t seq)
{
    int64_t v = (int64_t)x->snd_max64 + FSC_SEQ_DIFF(x->snd_max, seq);
    return v > 0 ? (uint64_t)v : 0;
}

/* ---- tcpstate.c: the facts of one flow, segment by segment ---- */

struct fsc_flow; /* finscope/flow.h */

/* Start a flow from its first packet: decides client/server and initial states.  server_hint
 * (flow.c): for a flow picked up midstream, which of p's endpoints is the server (0: p's
 * source, 1: p's destination, -1: no idea: the port numbers decide).  f must be zeroed. */
void fsc_tcp_flow_init(struct fsc_flow *f, const struct fsc_pkt *p, int server_hint);

/* Which endpoint sent p (FSC_CLIENT or FSC_SERVER), for a flow started with fsc_tcp_flow_init;
 * always FSC_CLIENT for a self-connected flow. */
int fsc_flow_dir(const struct fsc_flow *f, const struct fsc_pkt *p);

/*
 * Feed one segment to a flow.  dir is the sending endpoint (fsc_flow_dir).  Records the facts
 * it shows (marks, sequence accounting, anomalies, kept control segments) and refreshes the
 * endpoints' states and the flow's closed flag (lifecycle.c) when a fact they read changed.
 * Never fails: odd segments become anomalies.  p->ts must not be before f->last_ts (the flow
 * table clamps it).
 */
void fsc_tcp_segment(struct fsc_flow *f, int dir, const struct fsc_pkt *p);

/* The input for a flow has ended: a RST held as tentative (rst_pending) that nothing but RSTs
 * followed counts now, at its own frame.  fsc_classify calls it first; idempotent. */
void fsc_tcp_flow_end(struct fsc_flow *f);

/*
 * Swap the client and server roles of a flow (flow.c, when the capture's handshakes show the
 * port guessed as the client's is a server port, or a simultaneous open): every per-endpoint
 * fact and the kept segments follow, and the states are refreshed; the RST causes were judged
 * for both roles when they were seen.  The Zeek view is swapped by its own function.
 */
void fsc_flow_swap_roles(struct fsc_flow *f);

#endif
